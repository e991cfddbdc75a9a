#!/usr/bin/env python3
"""Golden sampling distributions and beam searches for common/gen.c, made by
transformers.

    python3 tests/gen/gen_gen.py

For random float32 logits and (temperature, top_k, top_p) settings, applies
transformers' TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper in
generate()'s order and writes the tokens left (descending logit) with their
softmax probabilities to tests/golden/gen/sample.tsv, one case a line:
  name  temperature  top_k  top_p  logits(comma, %.9g)  kept ids  probs(%.9g)
top_k 0 / top_p 1 mean off, as in gen.h.  Cases whose top-p cut lies within
1e-5 of a cumulative sum are skipped (float32 vs double rounding would decide
them, not the rule).

tests/golden/gen/beam.txt: generate(num_beams=B, ...) of a tiny random
LlamaForCausalLM (vocab 6) after a one-token prompt, and the log-softmax rows
transformers computed for every prefix it ran the model on (a forward hook),
so that the C test drives gen_beam with the same numbers without a model (a
prefix missing from the rows means the C search went elsewhere):
  case NAME B MAXNEW LENPEN EARLY NEOS EOS...        (EARLY: 0 or 1)
  row PREFIX(comma, empty = none) LOGPROBS(comma)    one per prefix
  hyp TOKENS(comma) SCORE                            best first, B of them
  end
"""
import os

import numpy as np
import torch
import transformers
from transformers.generation.logits_process import (TemperatureLogitsWarper, TopKLogitsWarper,
                                                    TopPLogitsWarper)

from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "tests", "golden", "gen", "sample.tsv")
BEAM_OUT = os.path.join(ROOT, "tests", "golden", "gen", "beam.txt")
BEAM_CASES = [  # name, num_beams, max_new_tokens, length_penalty, early_stopping, eos ids, model seed
    ("b2_lp1", 2, 4, 1.0, False, [2], 1),
    ("b3_lp1", 3, 6, 1.0, False, [2], 2),
    ("b2_lp0_early", 2, 4, 0.0, True, [2], 3),
    ("b3_lp2", 3, 6, 2.0, False, [2], 4),
    ("b2_two_eos", 2, 6, 1.0, False, [2, 3], 5),
    ("b3_early", 3, 5, 1.0, True, [1], 6),
    ("b2_lp1_s7", 2, 7, 1.0, False, [2], 7),
    ("b3_lp1_s8", 3, 7, 1.0, False, [4], 8),
    ("b4_lp1_s9", 4, 7, 1.0, False, [1, 2, 3], 9),
    ("b4_lpneg_s10", 4, 6, -1.0, False, [2], 10),
    ("b2_lp1_s11", 2, 8, 1.0, False, [0], 11),
    ("b3_early_s12", 3, 8, 0.5, True, [2, 4], 12),
]


def beam_golden():
    out = []
    for name, nb, maxnew, lp, early, eos, seed in BEAM_CASES:
        torch.manual_seed(seed)
        cfg = LlamaConfig(vocab_size=6, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                          num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=16,
                          bos_token_id=0, eos_token_id=eos, pad_token_id=5, tie_word_embeddings=False)
        model = LlamaForCausalLM(cfg).eval()
        with torch.no_grad():
            model.lm_head.weight.mul_(40.0)   # peaky enough that EOS wins sometimes
        prompt = torch.tensor([[0]])
        seen, keys = [], set()

        def hook(mod, args, kwargs, output):
            ids = kwargs.get("input_ids", args[0] if args else None)
            lps = torch.nn.functional.log_softmax(output.logits[:, -1].float(), dim=-1)
            for row, lp in zip(ids.tolist(), lps.tolist()):
                key = tuple(row[1:])
                if key not in keys:
                    keys.add(key)
                    seen.append((list(key), lp))

        h = model.register_forward_hook(hook, with_kwargs=True)
        with torch.no_grad():
            g = model.generate(prompt, num_beams=nb, num_return_sequences=nb, max_new_tokens=maxnew,
                               min_new_tokens=0, length_penalty=lp, early_stopping=early, eos_token_id=eos,
                               pad_token_id=5, do_sample=False, return_dict_in_generate=True,
                               output_scores=True, use_cache=False)
        h.remove()
        out.append("case %s %d %d %g %d %d %s" % (name, nb, maxnew, lp, int(early), len(eos),
                                                 " ".join(map(str, eos))))
        # the log-probabilities of every prefix generate() ran the model on
        for pre, lps in seen:
            out.append("row %s %s" % (",".join(map(str, pre)), ",".join("%.9g" % v for v in lps)))
        for seq, sc, bi in zip(g.sequences.tolist(), g.sequences_scores.tolist(), g.beam_indices.tolist()):
            n = sum(1 for x in bi if x >= 0)    # beam_indices is -1 past a hypothesis' end
            out.append("hyp %s %.9g" % (",".join(map(str, seq[1:1 + n])), sc))
        out.append("end")
    with open(BEAM_OUT, "w") as f:
        f.write("# transformers %s beam search (tests/gen/gen_gen.py)\n" % transformers.__version__)
        f.write("\n".join(out) + "\n")
    print("wrote %s (%d cases)" % (BEAM_OUT, len(BEAM_CASES)))

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
    beam_golden()


if __name__ == "__main__":
    main()
