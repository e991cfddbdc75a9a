#!/usr/bin/env python3
"""Peer side of tests/bench/bpe.sh: HF tokenizers on the same text.

    bpe_peer.py TOKENIZER CORPUS IDS_OUT llama|qwen SHARED

Prints "whole SECONDS TOKENS", "lines1 SECONDS TOKENS" (encode_batch over the
lines, 1 thread) and "linesN SECONDS TOKENS" (encode_batch, all threads),
times of encoding only, best of 3; writes the whole-text ids to IDS_OUT."""
import os
import sys
import time

which = sys.argv[4]
shared = sys.argv[5]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gen"))
from tokenizers import Tokenizer  # noqa: E402

if which == "qwen":
    import gen_bpe  # noqa: E402
    gen_bpe.SHARED = shared
    tok = gen_bpe.qwen_tokenizer()
else:
    tok = Tokenizer.from_file(sys.argv[1])
with open(sys.argv[2], "rb") as f:
    data = f.read()
text = data.decode("utf-8", "replace")
lines = text.split("\n")
if lines and lines[-1] == "":
    lines.pop()

best = None
for _ in range(3):
    t0 = time.perf_counter()
    ids = tok.encode(text, add_special_tokens=False).ids
    t1 = time.perf_counter()
    best = t1 - t0 if best is None else min(best, t1 - t0)
print("whole %.6f %d" % (best, len(ids)))
with open(sys.argv[3], "w") as f:
    f.write(" ".join(map(str, ids)) + "\n")
for name, threads in (("lines1", "1"), ("linesN", None)):
    # RAYON_NUM_THREADS is read once per process: run the batch in a child
    import subprocess
    env = dict(os.environ)
    if threads:
        env["RAYON_NUM_THREADS"] = threads
    code = ("import sys,time,os;sys.path.insert(0,%r);from tokenizers import Tokenizer\n"
            "which=%r\n"
            "if which=='qwen':\n import gen_bpe;gen_bpe.SHARED=%r;tok=gen_bpe.qwen_tokenizer()\n"
            "else:\n tok=Tokenizer.from_file(%r)\n"
            "lines=open(%r,'rb').read().decode('utf-8','replace').split('\\n')\n"
            "lines=lines[:-1] if lines and lines[-1]=='' else lines\n"
            "best=None\n"
            "for _ in range(3):\n"
            " t0=time.perf_counter();enc=tok.encode_batch(lines,add_special_tokens=False);t1=time.perf_counter()\n"
            " best=t1-t0 if best is None else min(best,t1-t0)\n"
            "print('%s %%.6f %%d'%%(best,sum(len(e.ids) for e in enc)))\n") % (
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gen"), which,
        shared, sys.argv[1], sys.argv[2], name)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    sys.stdout.write(out.stdout)
