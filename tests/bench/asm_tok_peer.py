#!/usr/bin/env python3
"""Peer for tests/bench/asm-tok.sh: HuggingFace `tokenizers` (Rust, the
library behind transformers' fast tokenizers) encoding the same functions as
asm-tok, the way CLAP's AsmTokenizer.tokenize_function does (commas deleted,
no special tokens, 20 tokens an instruction, 1024 a function, token type =
id of INSTR<key>).

Usage: asm_tok_peer.py TOKENIZER_JSON DICTS_JSONL [OURS_JSONL]
  DICTS_JSONL: asm-tok --dict output ({"id", "asm": {"1": ...}} per line)
  OURS_JSONL:  rec-dump of asm-tok's records of DICTS_JSONL; when given,
               every function's ids and types are compared with ours.
Prints "peer_seconds S" (wall), "peer_cpu_seconds S" (all threads),
"peer_tokens N", "peer_tokens_per_s R" (per CPU second) and, with
OURS_JSONL, "functions_compared N" and "functions_differing N"."""
import json
import sys
import time

from tokenizers import Tokenizer

tok = Tokenizer.from_file(sys.argv[1])
tok.no_padding()
tok.no_truncation()
UNK = tok.token_to_id("[UNK]")
funcs = [json.loads(l) for l in open(sys.argv[2])]

t0 = time.perf_counter()
c0 = time.process_time()
out = []
ntok = 0
for f in funcs:
    keys = list(f["asm"].keys())
    encs = tok.encode_batch([v.replace(",", "") for v in f["asm"].values()], add_special_tokens=False)
    ids, types = [], []
    for k, e in zip(keys, encs):
        t = e.ids[:20]
        ty = tok.token_to_id("INSTR" + k)
        ids += t
        types += [UNK if ty is None else ty] * len(t)
        if len(ids) > 1024:
            ids, types = ids[:1024], types[:1024]
            break
    ntok += len(ids)
    out.append((ids, types))
dt = time.perf_counter() - t0
dc = time.process_time() - c0
print(f"peer_seconds {dt:.3f}")
print(f"peer_cpu_seconds {dc:.3f}")
print(f"peer_tokens {ntok}")
print(f"peer_tokens_per_s {ntok / dc:.0f}")
if len(sys.argv) > 3:
    ours = [json.loads(l) for l in open(sys.argv[3])]
    diff = 0
    for (ids, types), o, f in zip(out, ours, funcs):
        if o.get("tok") != ids or o.get("ttype") != types:
            diff += 1
            if diff <= 3:
                print("differs:", f.get("id"), file=sys.stderr)
    diff += abs(len(ours) - len(out))
    print(f"functions_compared {len(out)}")
    print(f"functions_differing {diff}")
