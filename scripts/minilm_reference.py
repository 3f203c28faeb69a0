#!/usr/bin/env python3
"""Golden token ids and embeddings for the Swift MiniLM port (fixtures/minilm/golden.json).

A reference forward pass of all-MiniLM-L6-v2 in numpy, reading the model files directly; tokens come
from Hugging Face `tokenizers` with the sentence-transformers settings (max 256 tokens, no padding).
    pip install numpy safetensors tokenizers
    python3 scripts/minilm_reference.py MODEL_DIR > fixtures/minilm/golden.json
MODEL_DIR holds model.safetensors, tokenizer.json and vocab.txt (`engram model install` puts them in
$ENGRAM_MODELS/all-MiniLM-L6-v2).
"""
import json
import math
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

SENTENCES = [
    "The weather is lovely today.",
    "It's so sunny outside!",
    "He drove to the stadium.",
    "Customer says checkout is slow",
    "Database connection pool exhausted in the payment service",
    "What fixed the flaky deploy?",
    "Café déjà vu: naïve résumé über Ångström façade",
    "ÉCOLE NORMALE SUPÉRIEURE",
    "Hello, world!!! (really?) -- yes; no: maybe... \"quoted\" 'single' [brackets] {braces}",
    "e-mail user@example.com or visit https://example.com/path?x=1&y=2",
    "The price is $1,234.56 (about €1.100) — 15% off!",
    "東京は日本の首都です。",
    "我喜欢机器学习和自然语言处理",
    "한국어 문장도 테스트합니다",
    "Emoji test 🚀🔥 with rockets and fire 👍🏽",
    "Mixed 日本語 and English words together",
    "unbelievably antidisestablishmentarianism supercalifragilisticexpialidocious",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa end",
    "tabs\tand\nnewlines\r\nand   multiple   spaces",
    "control\u0000chars\u0007here\u200bzero width",
    "",
    " ",
    "?",
    "a",
    "I",
    "COVID-19 vaccines were approved in 2020.",
    "The quick brown fox jumps over the lazy dog. " * 40,
    "Rollback the release, the migration added a NOT NULL column without a default.",
    "User prefers email over phone calls",
    "straße Ελληνικά русский язык العربية עברית",
]


def layer_norm(x, w, b, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def embed(weights, ids):
    t = lambda name: weights[name].astype(np.float64)
    n = len(ids)
    x = t("embeddings.word_embeddings.weight")[ids] + t("embeddings.position_embeddings.weight")[:n] \
        + t("embeddings.token_type_embeddings.weight")[0]
    x = layer_norm(x, t("embeddings.LayerNorm.weight"), t("embeddings.LayerNorm.bias"))
    heads, width = 12, 32
    for layer in range(6):
        p = f"encoder.layer.{layer}."
        q = x @ t(p + "attention.self.query.weight").T + t(p + "attention.self.query.bias")
        k = x @ t(p + "attention.self.key.weight").T + t(p + "attention.self.key.bias")
        v = x @ t(p + "attention.self.value.weight").T + t(p + "attention.self.value.bias")
        out = np.zeros_like(x)
        for h in range(heads):
            s = slice(h * width, (h + 1) * width)
            scores = q[:, s] @ k[:, s].T / math.sqrt(width)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            out[:, s] = scores @ v[:, s]
        attn = out @ t(p + "attention.output.dense.weight").T + t(p + "attention.output.dense.bias")
        x = layer_norm(attn + x, t(p + "attention.output.LayerNorm.weight"), t(p + "attention.output.LayerNorm.bias"))
        hidden = gelu(x @ t(p + "intermediate.dense.weight").T + t(p + "intermediate.dense.bias"))
        ffn = hidden @ t(p + "output.dense.weight").T + t(p + "output.dense.bias")
        x = layer_norm(ffn + x, t(p + "output.LayerNorm.weight"), t(p + "output.LayerNorm.bias"))
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


def main():
    model = sys.argv[1]
    tokenizer = Tokenizer.from_file(f"{model}/tokenizer.json")
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=256)
    weights = load_file(f"{model}/model.safetensors")
    out = {"model": "all-MiniLM-L6-v2", "sentences": [], "token_ids": [], "embeddings": []}
    for sentence in SENTENCES:
        ids = tokenizer.encode(sentence).ids
        out["sentences"].append(sentence)
        out["token_ids"].append(ids)
        out["embeddings"].append([round(float(v), 7) for v in embed(weights, ids)])
    json.dump(out, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
