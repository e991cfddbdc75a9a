#!/usr/bin/env python3
"""PyTorch on the shapes of tests/bench/ops_cpu.c: "case milliseconds" lines,
best of REPS.  Usage: ops_cpu_peer.py REPS THREADS [cpu]  (cpu: process CPU time)"""
import sys
import time

import torch
import torch.nn.functional as F

reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
torch.manual_seed(0)
clock = time.process_time if len(sys.argv) > 3 and sys.argv[3] == "cpu" else time.perf_counter


def timeit(name, fn):
    best = 1e30
    for _ in range(reps):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    print(f"{name} {best * 1e3:.3f}", flush=True)


M, K, N = 256, 2048, 2048
x = torch.randn(M, K, requires_grad=True)
w = torch.randn(N, K, requires_grad=True)
b = torch.randn(N, requires_grad=True)
with torch.no_grad():
    timeit("matmul_fwd_256x2048x2048", lambda: F.linear(x, w, b))
y = F.linear(x, w, b)
g = torch.randn(M, N)
timeit("matmul_bwd_256x2048x2048", lambda: torch.autograd.grad(y, (x, w, b), g, retain_graph=True))


def attn(B, T, Hq, Hkv, D, causal, tag):
    q = torch.randn(B, Hq, T, D, requires_grad=True)
    k = torch.randn(B, Hkv, T, D, requires_grad=True)
    v = torch.randn(B, Hkv, T, D, requires_grad=True)
    gqa = Hq != Hkv
    with torch.no_grad():
        timeit(f"attn_fwd_{tag}", lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal,
                                                                          enable_gqa=gqa))
    o = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=gqa)
    go = torch.randn_like(o)
    timeit(f"attn_bwd_{tag}", lambda: torch.autograd.grad(o, (q, k, v), go, retain_graph=True))


attn(1, 512, 16, 2, 128, True, "gqa_causal_T512")
attn(2, 512, 12, 12, 64, False, "mha_T512")
R, C = 2048, 768
xin = torch.randn(R, C)
gw = torch.randn(C)
with torch.no_grad():
    timeit("layernorm_fwd_2048x768", lambda: F.layer_norm(xin, (C,), gw, gw, 1e-12))
    timeit("rmsnorm_fwd_2048x768", lambda: F.rms_norm(xin, (C,), gw, 1e-6))
    timeit("gelu_fwd_2048x768", lambda: F.gelu(xin))
R, V = 32, 151936
lg = torch.randn(R, V, requires_grad=True)
tg = torch.tensor([(i * 7919) % V for i in range(R)])


def ce():
    loss = F.cross_entropy(lg, tg, ignore_index=-100)
    torch.autograd.grad(loss, lg)


timeit("crossentropy_fwdbwd_32x151936", ce)
with torch.no_grad():
    timeit("softmax_fwd_32x151936", lambda: torch.softmax(lg, -1))
