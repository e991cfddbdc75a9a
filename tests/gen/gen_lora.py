#!/usr/bin/env python3
"""Golden files for tests/unit/test_lora.c: a LoRA linear as PEFT computes it
(peft/tuners/lora: result = base(x) + lora_B(lora_A(dropout(x))) * scaling),
forward and backward with torch autograd in float64.

torch's dropout RNG cannot be reproduced in C, so the dropout mask is the one
lora.h defines (splitmix64 of (seed, element index), kept when the 24-bit
uniform >= p), computed here in numpy and applied as nn.Dropout does
(x * mask / (1 - p)).  The NF4 base uses the weight dequantized by the
bitsandbytes reference algorithm of gen_nf4.py.
Outputs: tests/golden/lora/<case>.bin, raw little-endian arrays in the order
written below.  Run: python3 tests/gen/gen_lora.py
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_nf4  # noqa: E402

OUT = os.path.join(HERE, "..", "golden", "lora")
M64 = (1 << 64) - 1


def lora_uniform(seed, n):
    i = np.arange(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (i + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / 16777216.0)


def case(name, rng, M, K, N, r, scale, p, seed, base, bias):
    x = rng.standard_normal((M, K)).astype(np.float32)
    if base == "f32":
        w = (rng.standard_normal((N, K)) * 0.1).astype(np.float32)
        wq = w
        wsave = w
    else:
        wb = torch.tensor(rng.standard_normal((N, K)) * 0.1, dtype=torch.float32).to(torch.bfloat16)
        wsave = wb.view(torch.int16).numpy().view(np.uint16)
        wf = wb.float().numpy()
        if base == "bf16":
            wq = wf
        else:
            packed, absmax = gen_nf4.nf4_quantize(wf)
            wq = gen_nf4.nf4_dequantize(packed, absmax, N * K).reshape(N, K)
    b = (rng.standard_normal(N) * 0.1).astype(np.float32) if bias else np.zeros(0, np.float32)
    A = (rng.uniform(-1, 1, (r, K)) / np.sqrt(K)).astype(np.float32)   # kaiming_uniform(a=sqrt 5)
    B = (rng.standard_normal((N, r)) * 0.1).astype(np.float32)         # trained B (init is 0)
    dy = rng.standard_normal((M, N)).astype(np.float32)
    if p > 0:
        mask = (lora_uniform(seed, M * K) >= np.float32(p)).astype(np.uint8).reshape(M, K)
    else:
        mask = np.ones((M, K), np.uint8)

    X = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    W = torch.tensor(wq, dtype=torch.float64)
    TA = torch.tensor(A, dtype=torch.float64, requires_grad=True)
    TB = torch.tensor(B, dtype=torch.float64, requires_grad=True)
    y = X @ W.T
    if bias:
        y = y + torch.tensor(b, dtype=torch.float64)
    xd = X * torch.tensor(mask, dtype=torch.float64) / (1.0 - p)
    y = y + (xd @ TA.T) @ TB.T * scale
    y.backward(torch.tensor(dy, dtype=torch.float64))
    f = lambda t: t.detach().numpy().astype(np.float32)
    os.makedirs(OUT, exist_ok=True)
    arrays = [x, wsave, b, A, B, dy, mask, f(y), f(X.grad), f(TA.grad), f(TB.grad)]
    with open(os.path.join(OUT, name + ".bin"), "wb") as fh:
        for a in arrays:
            fh.write(np.ascontiguousarray(a).tobytes())
    print("wrote", name, sum(a.nbytes for a in arrays), "bytes; kept", int(mask.sum()), "of", M * K)


def main():
    rng = np.random.default_rng(7160)
    # name, M, K, N, r, scale, p, seed, base, bias
    # x[M,K] f32, w[N,K] (f32, or bf16 bits for bf16/nf4), bias[N or 0], A[r,K], B[N,r],
    # dy[M,N], mask[M,K] u8, y[M,N], dx[M,K], dA[r,K], dB[N,r]
    case("f32", rng, 5, 48, 24, 4, 2.0, 0.1, 1234, "f32", True)
    case("bf16", rng, 3, 64, 16, 8, 2.0, 0.0, 0, "bf16", False)
    case("nf4", rng, 4, 128, 12, 16, 2.0, 0.05, 7, "nf4", True)


if __name__ == "__main__":
    main()
