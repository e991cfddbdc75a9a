#!/usr/bin/env python3
"""Golden files for the CPU ops (common/ops.h), read by tests/unit/test_ops.c.

One safetensors file per op in tests/golden/ops/ (written by the safetensors
library, read back by our own common/st.c).  Inputs are random fp32; the
reference is computed by PyTorch (and transformers where the op comes from a
model) in float64 from those fp32 inputs, then stored as fp32.  Integer
tensors are I32.  Scalars are shape [1].  Gradients come from autograd with a
random upstream gradient `dout`.

    python3 tests/gen/gen_ops.py            # rewrites tests/golden/ops/
"""
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "ops")
torch.manual_seed(1234)
D64 = torch.float64


def rnd(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).float()


def leaf(x):
    return x.to(D64).clone().requires_grad_(True)


def save(name, tensors, meta=None):
    out = {}
    for k, v in tensors.items():
        v = torch.as_tensor(v)
        if v.dtype in (torch.int64, torch.int32, torch.bool):
            v = v.to(torch.int32)
        else:
            v = v.detach().to(torch.float32)
        if v.dim() == 0:
            v = v.reshape(1)
        out[k] = v.contiguous()
    os.makedirs(OUT, exist_ok=True)
    save_file(out, os.path.join(OUT, name + ".safetensors"), metadata=meta or {"format": "pt"})


def grads(y, dout, *xs):
    y.backward(dout.to(D64))
    return [x.grad for x in xs]


def gen_matmul():
    M, K, N = 5, 7, 6
    inp, w, b, dout = rnd(M, K), rnd(N, K), rnd(N), rnd(M, N)
    ti, tw, tb = leaf(inp), leaf(w), leaf(b)
    out = F.linear(ti, tw, tb)
    di, dw, db = grads(out, dout, ti, tw, tb)
    save("matmul", dict(inp=inp, w=w, b=b, dout=dout, out=out, dinp=di, dw=dw, db=db))


def gen_layernorm():
    M, C, eps = 4, 10, 1e-5
    inp, w, b, dout = rnd(M, C, scale=2) + 0.5, rnd(C), rnd(C), rnd(M, C)
    ti, tw, tb = leaf(inp), leaf(w), leaf(b)
    out = F.layer_norm(ti, (C,), tw, tb, eps)
    di, dw, db = grads(out, dout, ti, tw, tb)
    x = inp.to(D64)
    mean = x.mean(-1)
    rstd = 1 / torch.sqrt(x.var(-1, unbiased=False) + eps)
    save("layernorm", dict(inp=inp, w=w, b=b, dout=dout, eps=torch.tensor(eps), out=out,
                           mean=mean, rstd=rstd, dinp=di, dw=dw, db=db))


def gen_rmsnorm():
    M, C, eps = 4, 10, 1e-6
    inp, w, dout = rnd(M, C), rnd(C), rnd(M, C)
    ti, tw = leaf(inp), leaf(w)
    # Qwen2RMSNorm / LlamaRMSNorm in float64
    rs = torch.rsqrt(ti.pow(2).mean(-1, keepdim=True) + eps)
    out = tw * (ti * rs)
    di, dw = grads(out, dout, ti, tw)
    save("rmsnorm", dict(inp=inp, w=w, dout=dout, eps=torch.tensor(eps), out=out,
                         rstd=rs.squeeze(-1), dinp=di, dw=dw))


def gen_pointwise():
    n = 64
    x = torch.linspace(-6, 6, n).float() + rnd(n, scale=0.05)
    dout = rnd(n)
    t = leaf(x)
    y = F.gelu(t)  # exact erf form
    (dg,) = grads(y, dout, t)
    t2 = leaf(x)
    y2 = F.silu(t2)
    (ds,) = grads(y2, dout, t2)
    save("pointwise", dict(x=x, dout=dout, gelu=y, dgelu=dg, silu=y2, dsilu=ds))
    g, u, dout = rnd(n, scale=3), rnd(n), rnd(n)
    tg, tu = leaf(g), leaf(u)
    out = F.silu(tg) * tu
    dg, du = grads(out, dout, tg, tu)
    save("swiglu", dict(gate=g, up=u, dout=dout, out=out, dgate=dg, dup=du))


def gen_softmax():
    M, N = 3, 7
    x, dout = rnd(M, N, scale=3), rnd(M, N)
    t = leaf(x)
    y = torch.softmax(t, -1)
    (dx,) = grads(y, dout, t)
    save("softmax", dict(inp=x, dout=dout, out=y, dinp=dx))


def gen_rope_tables():
    from transformers import LlamaConfig, Qwen2Config
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
    from transformers.models.qwen2.modeling_qwen2 import Qwen2RotaryEmbedding
    from transformers.models.roformer.modeling_roformer import RoFormerSinusoidalPositionalEmbedding

    pos = torch.tensor(list(range(32)) + [1000, 8191, 8192, 32767, 131071])
    # Llama-3.2-3B: head_dim 128, theta 500000, llama3 scaling
    cfg = LlamaConfig(hidden_size=3072, num_attention_heads=24, head_dim=128,
                      max_position_embeddings=131072, rope_theta=500000.0,
                      rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                    "high_freq_factor": 4.0,
                                    "original_max_position_embeddings": 8192})
    re = LlamaRotaryEmbedding(cfg)
    x = torch.zeros(1, len(pos), 128)
    cos, sin = re(x, pos[None])
    save("rope_llama3", dict(pos=pos, inv_freq=re.inv_freq, cos=cos[0, :, :64], sin=sin[0, :, :64]),
         meta={"dim": "128", "theta": "500000", "factor": "32", "low_freq_factor": "1",
               "high_freq_factor": "4", "original_max_pos": "8192"})
    # Qwen2.5: theta 1e6, no scaling; a small head to keep the file small
    cfg = Qwen2Config(hidden_size=256, num_attention_heads=16, max_position_embeddings=32768,
                      rope_theta=1000000.0)
    re = Qwen2RotaryEmbedding(cfg)
    x = torch.zeros(1, len(pos), 16)
    cos, sin = re(x, pos[None])
    save("rope_qwen2", dict(pos=pos, inv_freq=re.inv_freq, cos=cos[0, :, :8], sin=sin[0, :, :8]),
         meta={"dim": "16", "theta": "1000000"})
    # RoFormer (CLAP): numpy float64 table, sin half then cos half
    emb = RoFormerSinusoidalPositionalEmbedding(64, 16)
    w = emb.create_weight()
    save("rope_roformer", dict(sin=w[:, :8], cos=w[:, 8:]), meta={"dim": "16", "theta": "10000"})


def gen_rope_apply():
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb
    from transformers.models.roformer.modeling_roformer import RoFormerSelfAttention

    B, T, H, D, P, p0 = 2, 3, 2, 8, 16, 5
    ang = torch.arange(P, dtype=D64)[:, None] * (1.0 / (10000.0 ** (torch.arange(0, D, 2, dtype=D64) / D)))[None]
    cos_t, sin_t = torch.cos(ang).float(), torch.sin(ang).float()
    x, dout = rnd(B, T, H, D), rnd(B, T, H, D)
    pos = torch.arange(p0, p0 + T)
    c = cos_t.to(D64)[pos]
    s = sin_t.to(D64)[pos]
    # half-split (Llama): [B,H,T,D] with cos = cat(freqs, freqs)
    t = leaf(x)
    cc = torch.cat([c, c], -1)[None]  # [1,T,D]; unsqueezed to heads inside
    ss = torch.cat([s, s], -1)[None]
    q, _ = apply_rotary_pos_emb(t.transpose(1, 2), t.transpose(1, 2), cc, ss)
    y_half = q.transpose(1, 2)
    (dh,) = grads(y_half, dout, t)
    # interleaved (RoFormer): sinusoidal_pos = cat(sin, cos) of [T, D]
    t2 = leaf(x)
    sp = torch.cat([s, c], -1)[None, None]
    qi, _ = RoFormerSelfAttention.apply_rotary_position_embeddings(sp, t2.transpose(1, 2), t2.transpose(1, 2))
    y_int = qi.transpose(1, 2)
    (di,) = grads(y_int, dout, t2)
    save("rope_apply", dict(x=x, dout=dout, cos=cos_t, sin=sin_t, p0=torch.tensor([p0], dtype=torch.int32),
                            half=y_half, dhalf=dh, inter=y_int, dinter=di))


def attention_ref(q, k, v, kmask, causal, p0, Tk, scale):
    """q [B,Tq,Hq,D], k/v [B,Tkmax,Hkv,D] float64 leaves; keys [0,Tk)."""
    B, Tq, Hq, D = q.shape
    Hkv = k.shape[2]
    g = Hq // Hkv
    kk = k[:, :Tk].repeat_interleave(g, dim=2).transpose(1, 2)  # [B,Hq,Tk,D]
    vv = v[:, :Tk].repeat_interleave(g, dim=2).transpose(1, 2)
    qq = q.transpose(1, 2)
    s = qq @ kk.transpose(-1, -2) * scale  # [B,Hq,Tq,Tk]
    allow = torch.ones(B, 1, Tq, Tk, dtype=torch.bool)
    if kmask is not None:
        allow = allow & (kmask[:, None, None, :Tk] != 0)
    if causal:
        i = torch.arange(Tq)[:, None]
        j = torch.arange(Tk)[None, :]
        allow = allow & (j <= p0 + i)[None, None]
    s = s.masked_fill(~allow, float("-inf"))
    lse = torch.logsumexp(s, -1)  # [B,Hq,Tq]
    p = torch.softmax(s, -1)
    out = (p @ vv).transpose(1, 2)  # [B,Tq,Hq,D]
    return out, lse


def gen_attention():
    cases = [
        # name, B, Tq, Tk, Tkmax, Hq, Hkv, D, p0, causal, mask
        ("attn_pad", 2, 6, 6, 6, 4, 4, 8, 0, 0, True),     # CLAP: padding mask, no causal
        ("attn_gqa", 2, 5, 5, 5, 4, 2, 8, 0, 1, False),    # decoder prefill, GQA
        ("attn_cache", 2, 2, 6, 8, 6, 2, 4, 4, 1, True),   # KV cache: queries at 4,5 of 6 keys
        ("attn_long", 1, 70, 70, 70, 2, 1, 4, 0, 1, False),  # crosses a 64-key block
    ]
    for name, B, Tq, Tk, Tkmax, Hq, Hkv, D, p0, causal, usemask in cases:
        q, k, v = rnd(B, Tq, Hq, D), rnd(B, Tkmax, Hkv, D), rnd(B, Tkmax, Hkv, D)
        dout = rnd(B, Tq, Hq, D)
        kmask = torch.ones(B, Tkmax, dtype=torch.int32)
        if usemask:
            kmask[0, Tk - 2:] = 0
            kmask[1, 1] = 0
        scale = 1.0 / math.sqrt(D)
        tq, tk, tv = leaf(q), leaf(k), leaf(v)
        out, lse = attention_ref(tq, tk, tv, kmask if usemask else None, causal, p0, Tk, scale)
        dq, dk, dv = grads(out, dout, tq, tk, tv)
        dims = torch.tensor([B, Tq, Tk, Tkmax, Hq, Hkv, D, p0, causal, int(usemask)], dtype=torch.int32)
        save(name, dict(dims=dims, scale=torch.tensor(scale), q=q, k=k, v=v, kmask=kmask, dout=dout,
                        out=out, lse=lse, dq=dq, dk=dk, dv=dv))


def gen_embedding():
    V, C, M, pad = 10, 6, 8, 1
    table, dout = rnd(V, C), rnd(M, C)
    ids = torch.tensor([3, 1, 7, 3, 0, 9, 3, 1])
    t = leaf(table)
    out = F.embedding(ids, t, padding_idx=pad)
    (dt,) = grads(out, dout, t)
    save("embedding", dict(table=table, ids=ids, dout=dout, out=out, dtable=dt,
                           pad=torch.tensor([pad], dtype=torch.int32)))


def gen_meanpool_l2():
    B, T, C = 2, 5, 4
    x, dout = rnd(B, T, C), rnd(B, C)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.int32)
    t = leaf(x)
    m = mask[..., None].to(D64)
    out = (t * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)  # CLAP's AsmEncoder pooling
    (dx,) = grads(out, dout, t)
    save("meanpool", dict(inp=x, mask=mask, dout=dout, out=out, dinp=dx))
    M, C = 3, 6
    x, dout = rnd(M, C), rnd(M, C)
    t = leaf(x)
    y = F.normalize(t, p=2, dim=1, eps=1e-12)
    (dx,) = grads(y, dout, t)
    save("l2norm", dict(inp=x, dout=dout, out=y, dinp=dx))


def gen_crossentropy():
    M, V = 6, 11
    logits = rnd(M, V, scale=2)
    targets = torch.tensor([3, -100, 0, 10, -100, 5])
    dloss = 0.7
    t = leaf(logits)
    loss = F.cross_entropy(t, targets, ignore_index=-100)
    loss.backward(torch.tensor(dloss, dtype=D64))
    save("crossentropy", dict(logits=logits, targets=targets, dloss=torch.tensor(dloss), loss=loss,
                              lse=torch.logsumexp(logits.to(D64), -1), dlogits=t.grad))


def gen_infonce():
    B, C, tau, dloss = 5, 8, 0.07, 1.3
    a = F.normalize(rnd(B, C), dim=1)
    b = F.normalize(rnd(B, C), dim=1)
    for sym in (0, 1):
        ta, tb = leaf(a), leaf(b)
        ttau = torch.tensor(tau, dtype=D64, requires_grad=True)
        logits = ta @ tb.T / ttau
        lab = torch.arange(B)
        loss = F.cross_entropy(logits, lab)
        if sym:
            loss = (loss + F.cross_entropy(logits.T, lab)) / 2
        loss.backward(torch.tensor(dloss, dtype=D64))
        save("infonce_sym" if sym else "infonce", dict(
            a=a, b=b, tau=torch.tensor(tau), dloss=torch.tensor(dloss), loss=loss,
            logits=logits, da=ta.grad, db=tb.grad, dtau=ttau.grad))


def gen_adamw():
    n = 20
    p0 = rnd(n)
    gs = [rnd(n) for _ in range(3)]
    p = p0.clone().requires_grad_(True)
    opt = torch.optim.AdamW([p], lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    for g in gs:
        p.grad = g.clone()
        opt.step()
    st = opt.state[p]
    save("adamw", dict(p0=p0, g1=gs[0], g2=gs[1], g3=gs[2], p=p.detach(), m=st["exp_avg"],
                       v=st["exp_avg_sq"]),
         meta={"lr": "1e-2", "beta1": "0.9", "beta2": "0.95", "eps": "1e-8", "weight_decay": "0.1"})
    # clip_grad_norm_ over two tensors
    a, b = rnd(7, scale=3), rnd(5, scale=3)
    pa, pb = torch.zeros(7, requires_grad=True), torch.zeros(5, requires_grad=True)
    pa.grad, pb.grad = a.clone(), b.clone()
    norm = torch.nn.utils.clip_grad_norm_([pa, pb], max_norm=1.5)
    save("clip", dict(a=a, b=b, max_norm=torch.tensor(1.5), norm=norm, ca=pa.grad, cb=pb.grad))


def gen_half():
    specials = [0.0, -0.0, 1.0, -2.5, 65504.0, 65519.0, 65520.0, 1e6, -1e6, 6.1035e-05, 6.0e-08,
                2.98e-08, 2.9802322e-08, 1e-10, 3.4e38, float("inf"), float("-inf"),
                1.00390625, 1.01171875, 1.0000001, 0.333333343]
    x = torch.cat([torch.tensor(specials, dtype=torch.float32), rnd(200, scale=10),
                   rnd(50, scale=1e-5), rnd(50, scale=3e4)])
    bf = x.to(torch.bfloat16).view(torch.int16).to(torch.int32) & 0xFFFF
    hf = x.to(torch.float16).view(torch.int16).to(torch.int32) & 0xFFFF
    save("half", dict(x=x, bf16=bf, f16=hf))


def main():
    gen_half()
    gen_matmul()
    gen_layernorm()
    gen_rmsnorm()
    gen_pointwise()
    gen_softmax()
    gen_rope_tables()
    gen_rope_apply()
    gen_attention()
    gen_embedding()
    gen_meanpool_l2()
    gen_crossentropy()
    gen_infonce()
    gen_adamw()
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
