#!/usr/bin/env python3
"""MiniLM embedding throughput: ONNX Runtime (the runtime under Chroma's and fastembed's local embedders)
beside `engram bench embed`, on the same all-MiniLM-L6-v2 weights, texts and thread count.

The ONNX graph is built here from the installed model.safetensors with the `onnx` package (embeddings,
six encoder layers, mean pooling, L2 normalisation: what sentence-transformers computes), and checked
against the golden vectors Engram's own tests use (cosine >= 0.9999 for every sentence). Tokenisation
(the model's tokenizer.json) is inside ORT's timing. Each text set is sorted by length, and both engines
get that order: batches of 32 then pad little. Rounds alternate between the engines; the table shows
medians and the median of the per-round ratios. ORT runs in this script's process, warm after its first
round; Engram runs as a new `engram bench embed` process each round, which reports the median of three
passes (a single pass there is a cold start: on 2 threads the short-query batch, one call of ~30 ms,
measured 410-780 sentences/s against a steady 800).

    Benchmarks/compare/.venv/bin/pip install onnx onnxruntime
    Benchmarks/compare/.venv/bin/python Benchmarks/compare/ort_compare.py \
        --model ~/.cache/engram/models/all-MiniLM-L6-v2 --engram .build/release/engram [--threads 1] [--rounds 7]
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_graph(weights):
    """BERT encoder + mean pooling + L2 normalisation as one ONNX graph (opset 17)."""
    nodes, inits = [], []
    counter = [0]

    def const(array, name=None):
        counter[0] += 1
        name = name or f"c{counter[0]}"
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(kind, inputs, **attrs):
        counter[0] += 1
        out = f"t{counter[0]}"
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    w = {k: v.astype(np.float32) for k, v in weights.items()}

    def linear(x, name):
        return op("Add", [op("MatMul", [x, const(w[name + ".weight"].T.copy())]), const(w[name + ".bias"])])

    def layer_norm(x, name):
        return op("LayerNormalization", [x, const(w[name + ".weight"]), const(w[name + ".bias"])], axis=-1, epsilon=1e-12)

    n = op("Gather", [op("Shape", ["input_ids"]), const(np.array(1, dtype=np.int64))])
    n1 = op("Unsqueeze", [n, const(np.array([0], dtype=np.int64))])
    positions = op("Slice", [const(w["embeddings.position_embeddings.weight"]), const(np.array([0], dtype=np.int64)), n1,
                             const(np.array([0], dtype=np.int64))])
    x = op("Add", [op("Gather", [const(w["embeddings.word_embeddings.weight"]), "input_ids"]), positions])
    x = op("Add", [x, const(w["embeddings.token_type_embeddings.weight"][0])])
    x = layer_norm(x, "embeddings.LayerNorm")
    # Padding keys get -1e9 before the softmax: [B, 1, 1, N].
    bias = op("Mul", [op("Sub", [const(np.float32(1.0)), "attention_mask"]), const(np.float32(-1e9))])
    bias = op("Unsqueeze", [bias, const(np.array([1, 2], dtype=np.int64))])
    heads = const(np.array([0, 0, 12, 32], dtype=np.int64))
    merged = const(np.array([0, 0, 384], dtype=np.int64))
    for i in range(6):
        p = f"encoder.layer.{i}."
        q = op("Transpose", [op("Reshape", [linear(x, p + "attention.self.query"), heads])], perm=[0, 2, 1, 3])
        k = op("Transpose", [op("Reshape", [linear(x, p + "attention.self.key"), heads])], perm=[0, 2, 3, 1])
        v = op("Transpose", [op("Reshape", [linear(x, p + "attention.self.value"), heads])], perm=[0, 2, 1, 3])
        s = op("Add", [op("Mul", [op("MatMul", [q, k]), const(np.float32(1 / np.sqrt(32)))]), bias])
        ctx = op("MatMul", [op("Softmax", [s], axis=-1), v])
        ctx = op("Reshape", [op("Transpose", [ctx], perm=[0, 2, 1, 3]), merged])
        x = layer_norm(op("Add", [linear(ctx, p + "attention.output.dense"), x]), p + "attention.output.LayerNorm")
        h = linear(x, p + "intermediate.dense")
        erf = op("Erf", [op("Mul", [h, const(np.float32(1 / np.sqrt(2)))])])
        h = op("Mul", [op("Mul", [h, const(np.float32(0.5))]), op("Add", [erf, const(np.float32(1.0))])])
        x = layer_norm(op("Add", [linear(h, p + "output.dense"), x]), p + "output.LayerNorm")
    mask3 = op("Unsqueeze", ["attention_mask", const(np.array([2], dtype=np.int64))])
    summed = op("ReduceSum", [op("Mul", [x, mask3]), const(np.array([1], dtype=np.int64))], keepdims=0)
    count = op("ReduceSum", ["attention_mask", const(np.array([1], dtype=np.int64))], keepdims=1)
    pooled = op("Div", [summed, count])
    norm = op("ReduceL2", [pooled], axes=[1], keepdims=1)  # axes an attribute until opset 18
    nodes.append(helper.make_node("Div", [pooled, norm], ["embedding"]))
    graph = helper.make_graph(
        nodes, "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.FLOAT, ["batch", "tokens"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", 384])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


class OrtEmbedder:
    def __init__(self, model_dir, threads):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        graph = build_graph(load_file(f"{model_dir}/model.safetensors"))
        self.session = ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
        self.tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
        self.tok.enable_truncation(max_length=256)
        self.tok.enable_padding()

    def embed(self, texts):
        enc = self.tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.float32)
        return self.session.run(["embedding"], {"input_ids": ids, "attention_mask": mask})[0]


def text_sets(tok):
    """Short queries, whole fixture memories (what, why, outcome) and ~250-token texts, each by length."""
    queries = [json.loads(l)["query"] for l in open(os.path.join(ROOT, "fixtures/queries.jsonl")) if l.strip()]
    records = [json.loads(l) for l in open(os.path.join(ROOT, "fixtures/memories.jsonl")) if l.strip()]
    whole = [" ".join(r[f] for f in ("what", "why", "outcome") if r.get(f)) for r in records]
    long, current = [], []
    for text in whole * 3:
        current.append(text)
        if len(tok.encode(" ".join(current)).ids) >= 250:
            long.append(" ".join(current))
            current = []
        if len(long) == 64:
            break
    length = lambda t: len(tok.encode(t).ids)
    # Short queries: the fixture's judged queries.
    return {"short queries": sorted(queries, key=length), "whole memories": sorted(whole, key=length),
            "~250-token texts": sorted(long, key=length)}


def rates_ort(embedder, texts, single):
    start = time.perf_counter()
    for i in range(0, len(texts), 32):
        embedder.embed(texts[i:i + 32])
    batch = len(texts) / (time.perf_counter() - start)
    start = time.perf_counter()
    for text in texts[:single]:
        embedder.embed([text])
    return batch, min(single, len(texts)) / (time.perf_counter() - start)


def rates_engram(engram, path, threads, weights):
    # A fresh process per round, where ORT's session stays warm in this one: three passes, their median.
    run = subprocess.run([engram, "bench", "embed", "--sentences", path, "--json", "--rounds", "3", "--threads", str(threads),
                          ] + (["--weights", weights] if weights else []), check=True, capture_output=True, text=True)
    out = json.loads(run.stdout)
    return out["batch_sentences_per_s"], out["single_sentences_per_s"], out["weights"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--engram", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--single", type=int, default=64, help="texts embedded one at a time per round (as `bench embed`)")
    ap.add_argument("--weights", default=None, choices=["bfloat16", "float16", "float32"],
                    help="Engram's weights in memory (default: Engram's own choice for this CPU)")
    args = ap.parse_args()
    embedder = OrtEmbedder(args.model, args.threads)

    golden = json.load(open(os.path.join(ROOT, "fixtures/minilm/golden.json")))
    got = embedder.embed(golden["sentences"])
    expected = np.array(golden["embeddings"], dtype=np.float64)
    cosines = (got * expected).sum(1) / np.linalg.norm(expected, axis=1) / np.linalg.norm(got, axis=1)
    print(f"ONNX Runtime {ort.__version__} against the golden vectors: lowest cosine {cosines.min():.6f}")
    if cosines.min() < 0.9999:
        raise SystemExit("the ONNX graph does not reproduce the model")

    sets = text_sets(embedder.tok)
    threads = "1 thread" if args.threads == 1 else f"{args.threads} threads"
    print(f"\n| {threads}, sentences/s (medians of {args.rounds} rounds) | ORT batches of 32 "
          f"| Engram batches of 32 | ratio "
          f"| ORT one at a time | Engram one at a time | ratio |")
    print("|---|---|---|---|---|---|---|")
    used = set()
    for name, texts in sets.items():
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("\n".join(texts) + "\n")
        embedder.embed(texts[:8])
        ort_b, ort_s, eng_b, eng_s = [], [], [], []
        for _ in range(args.rounds):
            b, s = rates_ort(embedder, texts, args.single)
            ort_b.append(b)
            ort_s.append(s)
            b, s, weights = rates_engram(args.engram, f.name, args.threads, args.weights)
            used.add(weights)
            eng_b.append(b)
            eng_s.append(s)
        os.unlink(f.name)
        med = lambda v: float(np.median(v))
        ratio = lambda ours, theirs: med([a / b for a, b in zip(ours, theirs)])
        print(f"| {name} ({len(texts)}) | {med(ort_b):.0f} | {med(eng_b):.0f} | {ratio(eng_b, ort_b):.2f}x "
              f"| {med(ort_s):.0f} | {med(eng_s):.0f} | {ratio(eng_s, ort_s):.2f}x |")
    print(f"\nEngram's weights: {', '.join(sorted(used))}")


if __name__ == "__main__":
    main()
