#!/usr/bin/env python3
"""MiniLM throughput: a float32 numpy reference (batched, padded, masked, as sentence-transformers runs
it) beside `engram bench embed`, on the same sentences and the same number of threads (BLAS threads for
numpy, encoder threads for Engram).
    Benchmarks/compare/.venv/bin/python Benchmarks/compare/embed_compare.py --model DIR --engram BIN [--threads N] [--whole]
--whole embeds each fixture memory as Engram stores it (what, why and outcome; 34 tokens on average)
instead of its first sentence (11.5 tokens). (Needs numpy, scipy, tokenizers, safetensors, threadpoolctl in the venv; compare.sh makes the venv).
"""
import argparse
import json
import subprocess
import tempfile
import time

import numpy as np
from safetensors.numpy import load_file
from scipy.special import erf
from threadpoolctl import threadpool_limits
from tokenizers import Tokenizer


def layer_norm(x, w, b):
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * w + b


class Reference:
    def __init__(self, model):
        self.w = load_file(f"{model}/model.safetensors")
        self.tok = Tokenizer.from_file(f"{model}/tokenizer.json")
        self.tok.enable_truncation(max_length=256)
        self.tok.enable_padding()

    def embed(self, texts):
        w = self.w
        enc = self.tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc])
        mask = np.array([e.attention_mask for e in enc], dtype=np.float32)
        b, n = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n] \
            + w["embeddings.token_type_embeddings.weight"][0]
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        bias = (1.0 - mask)[:, None, None, :] * -1e9
        for i in range(6):
            p = f"encoder.layer.{i}."
            lin = lambda t, name: t @ w[p + name + ".weight"].T + w[p + name + ".bias"]
            q = lin(x, "attention.self.query").reshape(b, n, 12, 32).transpose(0, 2, 1, 3)
            k = lin(x, "attention.self.key").reshape(b, n, 12, 32).transpose(0, 2, 1, 3)
            v = lin(x, "attention.self.value").reshape(b, n, 12, 32).transpose(0, 2, 1, 3)
            s = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(32)) + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(0, 2, 1, 3).reshape(b, n, 384)
            x = layer_norm(lin(ctx, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"],
                           w[p + "attention.output.LayerNorm.bias"])
            hdn = lin(x, "intermediate.dense")
            hdn = 0.5 * hdn * (1 + erf(hdn / np.float32(np.sqrt(2))))
            x = layer_norm(lin(hdn, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--engram", required=True)
    ap.add_argument("--sentences", default="fixtures/memories.jsonl")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--weights", default="float16", choices=["float16", "float32"], help="Engram's weights in memory")
    ap.add_argument("--whole", action="store_true", help="what + why + outcome of each memory, as Engram embeds it")
    args = ap.parse_args()
    records = [json.loads(l) for l in open(args.sentences) if l.strip()]
    fields = ["what", "why", "outcome"] if args.whole else ["what"]
    lines = [" ".join(r[f] for f in fields if r.get(f)) for r in records]
    texts = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
    texts.write("\n".join(lines) + "\n")
    texts.close()
    ref = Reference(args.model)
    # Rounds alternate between the two engines, so a noisy neighbour on a shared machine slows both alike;
    # the table shows medians and the median of the per-round ratios.
    numpy_batch, numpy_single, engram_batch, engram_single = [], [], [], []
    with threadpool_limits(limits=args.threads):
        ref.embed(lines[:8])
        for _ in range(args.rounds):
            t = time.perf_counter()
            for i in range(0, len(lines), 32):
                ref.embed(lines[i:i + 32])
            numpy_batch.append(len(lines) / (time.perf_counter() - t))
            t = time.perf_counter()
            for line in lines[:64]:
                ref.embed([line])
            numpy_single.append(min(64, len(lines)) / (time.perf_counter() - t))
            run = subprocess.run([args.engram, "bench", "embed", "--sentences", texts.name, "--json", "--rounds", "1",
                                  "--threads", str(args.threads), "--weights", args.weights], check=True, capture_output=True, text=True)
            engram = json.loads(run.stdout)
            engram_batch.append(engram["batch_sentences_per_s"])
            engram_single.append(engram["single_sentences_per_s"])
    med = lambda values: float(np.median(values))
    ratio = lambda ours, theirs: med([a / b for a, b in zip(ours, theirs)])
    threads = "1 thread" if args.threads == 1 else f"{args.threads} threads"
    what = "whole memories" if args.whole else "sentences"
    print(f"| {what}/s, {len(lines)} {what}, {threads} | numpy reference | Engram ({args.weights} weights) | ratio |")
    print("|---|---|---|---|")
    print(f"| batches of 32 | {med(numpy_batch):.0f} | {med(engram_batch):.0f} | {ratio(engram_batch, numpy_batch):.2f}x |")
    print(f"| single sentences | {med(numpy_single):.0f} | {med(engram_single):.0f} | {ratio(engram_single, numpy_single):.2f}x |")


if __name__ == "__main__":
    main()
