#!/usr/bin/env python3
"""The peer of tests/bench/nf4_cpu.c: bitsandbytes (pip, its CPU path) on the
same shape and the same number of threads.  Prints "name seconds" lines that
nf4-cpu.sh turns into ratios.  Usage: nf4_cpu_peer.py THREADS"""
import sys
import time

import torch
import bitsandbytes as bnb
import bitsandbytes.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
torch.set_num_threads(threads)
N, K = 11008, 2048
torch.manual_seed(1)
w = ((torch.rand(N, K) - 0.5) * 0.05).to(torch.bfloat16)
x1 = torch.rand(1, K) - 0.5
x64 = torch.rand(64, K) - 0.5


def timeit(fn):
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        t = time.perf_counter() - t0
        if t >= 0.5:
            return t / n


print("version bitsandbytes %s torch %s threads %d" % (bnb.__version__, torch.__version__, threads))
print("quantize", timeit(lambda: F.quantize_4bit(w, blocksize=64, quant_type="nf4")))
print("quantize_dq", timeit(lambda: F.quantize_4bit(w, blocksize=64, quant_type="nf4",
                                                     compress_statistics=True)))
q, st = F.quantize_4bit(w.float(), blocksize=64, quant_type="nf4")
print("matvec", timeit(lambda: bnb.matmul_4bit(x1, q.t(), quant_state=st)))
print("prefill", timeit(lambda: bnb.matmul_4bit(x64, q.t(), quant_state=st)))
wf = w.float()
print("sgemv_torch", timeit(lambda: x1 @ wf.t()))
