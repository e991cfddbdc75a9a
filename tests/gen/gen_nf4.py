#!/usr/bin/env python3
"""Golden files for tests/unit/test_nf4.c: NF4 (and double-quantized NF4) as
bitsandbytes computes it.

The reference here is bitsandbytes' algorithm re-implemented in numpy/torch
(../shared/reference/decoder-stack.md section 4):
  * NF4 codes: x * (1/absmax) in fp32, torch.bucketize against the fp32
    midpoints of the 16 codes (ties go to the lower code), element 2i in the
    high nibble -- bitsandbytes' reference op (backends/default/ops.py), which
    is also what the pip package runs on a CPU.
  * double quantization: offset = mean(absmax), blocks of 256, the 8-bit code
    found with the binary search of bitsandbytes' CUDA kernel dQuantize<0>
    (emulated literally below, ties included).

When bitsandbytes is importable (pip install bitsandbytes; version printed)
the script cross-checks against it and stops on a difference:
  * quantize_4bit / dequantize_4bit (nf4, no DQ): bytes, absmax and values
    must be identical;
  * with compress_statistics=True its CPU build quantizes the absmax with a
    65536-entry lookup table (csrc/cpu_ops.cpp), an approximation of the
    CUDA search; the count of 8-bit codes that differ is printed, and the
    dequantized weights must agree to 1e-2 relative (one code step).
Outputs: tests/golden/nf4/*.bin, raw little-endian arrays in the order the
comments below give (test_nf4.c reads them in the same order).
Run: python3 tests/gen/gen_nf4.py [--c-table]
"""
import os
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "nf4")

NF4 = np.array([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0], dtype=np.float32)


def dynamic_map(signed=True, max_exponent_bits=7, total_bits=8):
    """bitsandbytes create_dynamic_map, same arithmetic (fp32 linspace/means,
    python-float scale, float32 tensor at the end)."""
    data = []
    non_sign_bits = total_bits - 1
    additional_items = 2 ** (non_sign_bits - max_exponent_bits) - 1
    for i in range(max_exponent_bits):
        fraction_items = int(2 ** (i + non_sign_bits - max_exponent_bits) + 1 if signed
                             else 2 ** (i + non_sign_bits - max_exponent_bits + 1) + 1)
        boundaries = torch.linspace(0.1, 1, fraction_items, dtype=torch.float32)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
        if signed:
            data += (-(10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
    if additional_items > 0:
        boundaries = torch.linspace(0.1, 1, additional_items + 1, dtype=torch.float32)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
        if signed:
            data += (-(10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
    data.append(0)
    data.append(1.0)
    data += [0] * (256 - len(data))
    data.sort()
    return np.array(data, dtype=np.float32)


DYN = dynamic_map()


def nf4_quantize(w):
    """w: float32 array (any shape) -> (packed uint8[(n+1)//2], absmax f32[nb])."""
    a = torch.tensor(np.ascontiguousarray(w, dtype=np.float32).reshape(-1))
    n = a.numel()
    rem = n % 64
    full = n - rem
    blocks = a[:full].reshape(-1, 64)
    absmax = blocks.abs().max(dim=-1)[0] if full else torch.zeros(0)
    scaled = torch.clamp(blocks * (1.0 / absmax.clamp(min=1e-38).view(-1, 1)), -1, 1).reshape(-1)
    if rem:
        am = a[full:].abs().max().clamp(min=1e-38)
        absmax = torch.cat([absmax, a[full:].abs().max().unsqueeze(0)])
        scaled = torch.cat([scaled, torch.clamp(a[full:] / am, -1, 1)])
    if scaled.numel() % 2:
        scaled = torch.nn.functional.pad(scaled, (0, 1))
    code = torch.tensor(NF4)
    mids = (code[:-1] + code[1:]) / 2
    q = torch.bucketize(scaled, mids).to(torch.uint8)
    packed = (q[::2] << 4) | q[1::2]
    return packed.numpy(), absmax.numpy().astype(np.float32)


def dquantize(x):
    """bitsandbytes CUDA dQuantize<0> (non-stochastic), one fp32 value."""
    x = np.float32(x)
    pivot, upper_pivot, lower_pivot = 127, 255, 0
    lower, upper = np.float32(-1.0), np.float32(1.0)
    val = DYN[pivot]
    i = 64
    while i > 0:
        if x > val:
            lower_pivot, lower = pivot, val
            pivot += i
        else:
            upper_pivot, upper = pivot, val
            pivot -= i
        val = DYN[pivot]
        i >>= 1
    if upper_pivot == 255:
        upper = DYN[upper_pivot]
    if lower_pivot == 0:
        lower = DYN[lower_pivot]
    if x > val:
        mid = np.float32((upper + val) * np.float32(0.5))
        return upper_pivot if x > mid else pivot
    mid = np.float32((lower + val) * np.float32(0.5))
    return lower_pivot if x < mid else pivot


def dq_quantize(absmax):
    """-> offset f32, qabsmax u8[nb], absmax2 f32[nb2] (blocks of 256)."""
    offset = np.float32(np.mean(absmax.astype(np.float64)))
    d = (absmax - offset).astype(np.float32)
    nb = len(d)
    q = np.zeros(nb, dtype=np.uint8)
    a2 = []
    for b0 in range(0, nb, 256):
        blk = d[b0:b0 + 256]
        m = np.float32(np.abs(blk).max())
        a2.append(m)
        inv = np.float32(np.float32(1.0) / m) if m > 0 else np.float32(0)
        for j, v in enumerate(blk):
            q[b0 + j] = dquantize(np.float32(v * inv)) if m > 0 else 127
    return offset, q, np.array(a2, dtype=np.float32)


def dq_scales(offset, q, a2):
    s = (DYN[q] * np.repeat(a2, 256)[:len(q)]).astype(np.float32)
    return (s + offset).astype(np.float32)


def nf4_dequantize(packed, scales, n):
    codes = np.empty(2 * len(packed), dtype=np.int64)
    codes[0::2] = packed >> 4
    codes[1::2] = packed & 15
    vals = NF4[codes[:n]]
    return (vals * np.repeat(scales, 64)[:n]).astype(np.float32)


def bf16_round(x):
    return torch.tensor(x, dtype=torch.float32).to(torch.bfloat16)


def bf16_bits(t):
    return t.view(torch.int16).numpy().view(np.uint16)


def write(name, *arrays):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "wb") as f:
        for a in arrays:
            f.write(np.ascontiguousarray(a).tobytes())
    print("wrote", name, sum(np.asarray(a).nbytes for a in arrays), "bytes")


def crosscheck(w, packed, absmax, dq=None):
    try:
        import bitsandbytes as bnb
        import bitsandbytes.functional as F
    except ImportError:
        print("bitsandbytes not importable: no cross-check")
        return
    t = torch.tensor(w) if not isinstance(w, torch.Tensor) else w
    if dq is None:
        p2, st = F.quantize_4bit(t, blocksize=64, quant_type="nf4")
        assert np.array_equal(p2.reshape(-1).numpy(), packed), "nf4 bytes differ from bitsandbytes"
        assert np.array_equal(st.absmax.numpy(), absmax), "absmax differs from bitsandbytes"
        d2 = F.dequantize_4bit(p2, st).float().reshape(-1).numpy()
        mine = nf4_dequantize(packed, absmax, t.numel())
        if t.dtype == torch.bfloat16:   # bitsandbytes returns the input dtype
            mine = torch.tensor(mine).to(torch.bfloat16).float().numpy()
        assert np.array_equal(d2, mine), "dequant differs from bitsandbytes"
        print("  bitsandbytes %s agrees exactly (%d bytes)" % (bnb.__version__, len(packed)))
    else:
        offset, q, a2 = dq
        p2, st = F.quantize_4bit(t, blocksize=64, quant_type="nf4", compress_statistics=True)
        assert np.array_equal(p2.reshape(-1).numpy(), packed), "DQ: nf4 bytes differ"
        ndiff = int((st.absmax.numpy() != q).sum())
        print("  bitsandbytes %s DQ: offset %.9g vs ours %.9g, absmax2 equal: %s, "
              "%d of %d 8-bit codes differ (its CPU LUT vs the CUDA search)"
              % (bnb.__version__, float(st.offset), float(offset),
                 np.array_equal(st.state2.absmax.numpy(), a2), ndiff, len(q)))
        d2 = F.dequantize_4bit(p2, st).float().reshape(-1).numpy()
        mine = nf4_dequantize(packed, dq_scales(offset, q, a2), t.numel())
        rel = np.linalg.norm(d2 - mine) / np.linalg.norm(mine)
        assert rel < 1e-2, rel
        print("  DQ dequant relative difference to bitsandbytes %.3g" % rel)


def main():
    if "--c-table" in sys.argv:
        for i in range(0, 256, 4):
            print("\t" + ", ".join(float(x).hex() + "f" for x in DYN[i:i + 4]) + ",")
        return
    rng = np.random.default_rng(20260419)
    write("dynmap.bin", DYN)

    # case a: f32 [6,128]: random blocks, a block whose absmax is 1 holding
    # every midpoint exactly (ties) and every code value, an all-zero block,
    # a block whose absmax comes from a negative value.
    w = rng.standard_normal((6, 128)).astype(np.float32)
    code = NF4
    mids = ((code[:-1] + code[1:]) / np.float32(2)).astype(np.float32)
    tie = np.concatenate([[1.0], mids, -mids[::-1][:8], code, np.nextafter(mids[:8], 2),
                          np.nextafter(mids[:8], -2), np.linspace(-0.9, 0.9, 8)])[:64].astype(np.float32)
    w.reshape(-1)[64:128] = tie
    w.reshape(-1)[128:192] = 0.0
    w.reshape(-1)[192:256] *= 0.01
    w.reshape(-1)[200] = -3.5
    pa, aa = nf4_quantize(w)
    print("case a"); crosscheck(w, pa, aa)
    write("case_a.bin", w, pa, aa)                       # w f32[768], q u8[384], absmax f32[12]

    # case b: bf16 [5,192], weight-like scale.
    wb = bf16_round(rng.standard_normal((5, 192)) * 0.02)
    pb, ab = nf4_quantize(wb.float().numpy())
    print("case b"); crosscheck(wb, pb, ab)
    write("case_b.bin", bf16_bits(wb), pb, ab)           # w bf16[960], q u8[480], absmax f32[15]

    # case c: f32 [3,37]: odd n, blocks straddling rows, short last block.
    wc = (rng.standard_normal((3, 37)) * 3).astype(np.float32)
    pc, ac = nf4_quantize(wc)
    print("case c"); crosscheck(wc, pc, ac)
    write("case_c.bin", wc, pc, ac)                      # w f32[111], q u8[56], absmax f32[2]

    # case dq: bf16 [24,1024] with per-row scales, double quantization:
    # 384 blocks -> two 256-blocks of absmax, the second short.
    scale = np.exp(rng.uniform(-6, -2, size=(24, 1)))
    wd = bf16_round(rng.standard_normal((24, 1024)) * scale)
    pd, ad = nf4_quantize(wd.float().numpy())
    offset, qd, a2 = dq_quantize(ad)
    sd = dq_scales(offset, qd, a2)
    deq = nf4_dequantize(pd, sd, wd.numel())
    print("case dq"); crosscheck(wd, pd, ad, dq=(offset, qd, a2))
    write("case_dq.bin", bf16_bits(wd), pd, qd, a2, np.array([offset], np.float32), sd,
          deq[:2048])   # w bf16[24576], q u8[12288], qabsmax u8[384], absmax2 f32[2],
                        # offset f32[1], scales f32[384], dequant rows 0-1 f32[2048]

    # matmul: weight of case a, x [3,128] and [11,128]; weight of case b with x [2,192].
    Wa = torch.tensor(nf4_dequantize(pa, aa, 768).reshape(6, 128), dtype=torch.float64)
    x3 = rng.standard_normal((3, 128)).astype(np.float32)
    x11 = rng.standard_normal((11, 128)).astype(np.float32)
    dy3 = rng.standard_normal((3, 6)).astype(np.float32)
    y3 = (torch.tensor(x3, dtype=torch.float64) @ Wa.T).float().numpy()
    y11 = (torch.tensor(x11, dtype=torch.float64) @ Wa.T).float().numpy()
    dx3 = (torch.tensor(dy3, dtype=torch.float64) @ Wa).float().numpy()
    Wb = torch.tensor(nf4_dequantize(pb, ab, 960).reshape(5, 192), dtype=torch.float64)
    x2 = rng.standard_normal((2, 192)).astype(np.float32)
    y2 = (torch.tensor(x2, dtype=torch.float64) @ Wb.T).float().numpy()
    write("matmul.bin", x3, y3, x11, y11, dy3, dx3, x2, y2)
    # x3 f32[3,128], y3 [3,6], x11 [11,128], y11 [11,6], dy3 [3,6], dx3 [3,128],
    # x2 [2,192], y2 [2,5]


if __name__ == "__main__":
    main()
