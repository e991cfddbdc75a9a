#!/usr/bin/env python3
"""Golden sampling distributions for common/gen.c, made by transformers.

    python3 tests/gen/gen_gen.py

For random float32 logits and (temperature, top_k, top_p) settings, applies
transformers' TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper in
generate()'s order and writes the tokens left (descending logit) with their
softmax probabilities to tests/golden/gen/sample.tsv, one case a line:
  name  temperature  top_k  top_p  logits(comma, %.9g)  kept ids  probs(%.9g)
top_k 0 / top_p 1 mean off, as in gen.h.  Cases whose top-p cut lies within
1e-5 of a cumulative sum are skipped (float32 vs double rounding would decide
them, not the rule).
"""
import os

import numpy as np
import torch
import transformers
from transformers.generation.logits_process import (TemperatureLogitsWarper, TopKLogitsWarper,
                                                    TopPLogitsWarper)

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "tests", "golden", "gen", "sample.tsv")

SETTINGS = [(1.0, 0, 1.0), (0.7, 0, 0.9), (1.3, 20, 1.0), (0.6, 0, 0.9), (0.7, 20, 0.8),
            (1.0, 5, 0.5), (2.0, 0, 0.3), (0.5, 3, 1.0), (1.0, 0, 0.99)]


def near_cut(logits, t, k, p):
    """True when some cumulative probability (descending) is within 1e-5 of p."""
    if p >= 1:
        return False
    x = logits.astype(np.float64) / t
    order = np.argsort(-x, kind="stable")
    if k > 0:
        order = order[:k]
    e = np.exp(x[order] - x[order].max())
    c = np.cumsum(e / e.sum())
    return bool(np.any(np.abs(c - p) < 1e-5))


def main():
    rng = np.random.default_rng(20261121)
    lines = []
    for vocab in (8, 50, 200):
        for si, (t, k, p) in enumerate(SETTINGS):
            for rep in range(2):
                logits = (rng.standard_normal(vocab) * 3).astype(np.float32)
                if near_cut(logits, t, k, p):
                    continue
                s = torch.from_numpy(logits.copy())[None, :]
                ids = torch.zeros((1, 1), dtype=torch.long)
                if t != 1.0:
                    s = TemperatureLogitsWarper(t)(ids, s)
                if k > 0:
                    s = TopKLogitsWarper(top_k=k)(ids, s)
                if p < 1.0:
                    s = TopPLogitsWarper(top_p=p)(ids, s)
                prob = torch.softmax(s.double(), dim=-1)[0].numpy()
                kept = [i for i in np.argsort(-logits, kind="stable") if np.isfinite(s[0, i].item())]
                lines.append("\t".join([
                    "v%d_s%d_%d" % (vocab, si, rep), "%g" % t, str(k), "%g" % p,
                    ",".join("%.9g" % v for v in logits), ",".join(str(i) for i in kept),
                    ",".join("%.9g" % prob[i] for i in kept)]))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("# transformers %s warpers (tests/gen/gen_gen.py): name T top_k top_p logits kept probs\n"
                % transformers.__version__)
        f.write("\n".join(lines) + "\n")
    print("wrote %s (%d cases)" % (OUT, len(lines)))


if __name__ == "__main__":
    main()
