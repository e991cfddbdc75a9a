#!/usr/bin/env python3
"""gen_proj.py: tiny random projections (CLAP embedding -> prefix vectors)
and their golden outputs, computed with PyTorch's own modules.

The projection file (common/proj.h) is safetensors with __metadata__:
  format "asmname-proj", variant "mlp" | "transformer", d_in, prefix_len,
  d_model, and per variant:
  mlp:          hidden;  fc1.{weight,bias} [hidden, d_in], fc2.{weight,bias}
                [P*d_model, hidden];  prefix = fc2(GELU(fc1(emb))) as [P, d_model]
  transformer:  width, layers, heads, ffn, ln_eps;  in.{weight,bias}
                [P*width, d_in]; pos [P, width]; layer.<i>.{ln1,ln2}.{weight,bias};
                layer.<i>.attn.{q,k,v,o}.{weight,bias} [width, width];
                layer.<i>.ffn.up.{weight,bias} [ffn, width]; layer.<i>.ffn.down.{weight,bias}
                [width, ffn]; ln_f.{weight,bias}; out.{weight,bias} [d_model, width].
                x = in(emb) as [P, width] + pos; pre-LN encoder layers
                (x += attn(LN1 x); x += down(GELU(up(LN2 x)))); prefix = out(LN_f x)

The reference for the transformer variant is torch.nn.TransformerEncoderLayer
(norm_first=True, activation gelu, dropout 0), whose stacked in_proj is split
into q/k/v for the file.

    python3 tests/gen/gen_proj.py [OUTDIR]      (default tests/golden/proj)

Writes mlp.safetensors, transformer.safetensors and golden.safetensors
(emb [N, d_in], mlp [N, P, d_model], transformer [N, P, d_model]).
"""
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

D_IN, P, D_MODEL = 32, 4, 16          # d_in = the tiny CLAP model's hidden size
MLP_HIDDEN = 24
WIDTH, LAYERS, HEADS, FFN, EPS = 16, 2, 2, 40, 1e-5


def rnd(g, *shape, scale=1.0):
    return torch.randn(*shape, generator=g) * scale


def mlp(g, outdir, emb):
    fc1 = nn.Linear(D_IN, MLP_HIDDEN)
    fc2 = nn.Linear(MLP_HIDDEN, P * D_MODEL)
    with torch.no_grad():
        for lin in (fc1, fc2):
            lin.weight.copy_(rnd(g, *lin.weight.shape, scale=lin.weight.shape[1] ** -0.5 * 2))
            lin.bias.copy_(rnd(g, *lin.bias.shape, scale=0.1))
        out = fc2(F.gelu(fc1(emb))).view(-1, P, D_MODEL)
    save_file({"fc1.weight": fc1.weight.contiguous(), "fc1.bias": fc1.bias.contiguous(),
               "fc2.weight": fc2.weight.contiguous(), "fc2.bias": fc2.bias.contiguous()},
              os.path.join(outdir, "mlp.safetensors"),
              metadata={"format": "asmname-proj", "variant": "mlp", "d_in": str(D_IN),
                        "prefix_len": str(P), "d_model": str(D_MODEL), "hidden": str(MLP_HIDDEN)})
    return out


def transformer(g, outdir, emb):
    inp = nn.Linear(D_IN, P * WIDTH)
    pos = rnd(g, P, WIDTH, scale=0.5)
    layers = [nn.TransformerEncoderLayer(WIDTH, HEADS, FFN, dropout=0.0, activation="gelu",
                                         layer_norm_eps=EPS, batch_first=True, norm_first=True)
              for _ in range(LAYERS)]
    ln_f = nn.LayerNorm(WIDTH, eps=EPS)
    out = nn.Linear(WIDTH, D_MODEL)
    sd = {}
    with torch.no_grad():
        for name, p in ([("in", inp), ("out", out)]):
            p.weight.copy_(rnd(g, *p.weight.shape, scale=p.weight.shape[1] ** -0.5))
            p.bias.copy_(rnd(g, *p.bias.shape, scale=0.1))
            sd[name + ".weight"], sd[name + ".bias"] = p.weight, p.bias
        sd["pos"] = pos
        for norm, name in [(ln_f, "ln_f")]:
            norm.weight.copy_(1 + rnd(g, WIDTH, scale=0.2))
            norm.bias.copy_(rnd(g, WIDTH, scale=0.1))
            sd[name + ".weight"], sd[name + ".bias"] = norm.weight, norm.bias
        for i, L in enumerate(layers):
            L.eval()
            pre = f"layer.{i}."
            for p in L.parameters():
                if p.dim() == 2:
                    p.copy_(rnd(g, *p.shape, scale=p.shape[1] ** -0.5))
                else:
                    p.copy_(rnd(g, *p.shape, scale=0.1))
            for norm, name in [(L.norm1, "ln1"), (L.norm2, "ln2")]:
                norm.weight.copy_(1 + rnd(g, WIDTH, scale=0.2))
                sd[pre + name + ".weight"], sd[pre + name + ".bias"] = norm.weight, norm.bias
            W, B = L.self_attn.in_proj_weight, L.self_attn.in_proj_bias
            for j, n in enumerate("qkv"):
                sd[pre + f"attn.{n}.weight"] = W[j * WIDTH:(j + 1) * WIDTH]
                sd[pre + f"attn.{n}.bias"] = B[j * WIDTH:(j + 1) * WIDTH]
            sd[pre + "attn.o.weight"] = L.self_attn.out_proj.weight
            sd[pre + "attn.o.bias"] = L.self_attn.out_proj.bias
            sd[pre + "ffn.up.weight"], sd[pre + "ffn.up.bias"] = L.linear1.weight, L.linear1.bias
            sd[pre + "ffn.down.weight"], sd[pre + "ffn.down.bias"] = L.linear2.weight, L.linear2.bias
        x = inp(emb).view(-1, P, WIDTH) + pos
        for L in layers:
            x = L(x)
        y = out(ln_f(x))
        # An explicit re-computation of one layer stack, to pin the semantics.
        xr = inp(emb).view(-1, P, WIDTH) + pos
        hd = WIDTH // HEADS
        for i in range(LAYERS):
            pre = f"layer.{i}."
            h = F.layer_norm(xr, (WIDTH,), sd[pre + "ln1.weight"], sd[pre + "ln1.bias"], EPS)
            q, k, v = (F.linear(h, sd[pre + f"attn.{n}.weight"], sd[pre + f"attn.{n}.bias"])
                       .view(-1, P, HEADS, hd).transpose(1, 2) for n in "qkv")
            a = torch.softmax(q @ k.transpose(-1, -2) / hd ** 0.5, -1) @ v
            a = a.transpose(1, 2).reshape(-1, P, WIDTH)
            xr = xr + F.linear(a, sd[pre + "attn.o.weight"], sd[pre + "attn.o.bias"])
            h = F.layer_norm(xr, (WIDTH,), sd[pre + "ln2.weight"], sd[pre + "ln2.bias"], EPS)
            xr = xr + F.linear(F.gelu(F.linear(h, sd[pre + "ffn.up.weight"], sd[pre + "ffn.up.bias"])),
                               sd[pre + "ffn.down.weight"], sd[pre + "ffn.down.bias"])
        yr = out(ln_f(xr))
        assert (y - yr).norm() / yr.norm() < 1e-5, "TransformerEncoderLayer vs explicit"
    save_file({k: v.detach().contiguous().clone() for k, v in sd.items()},
              os.path.join(outdir, "transformer.safetensors"),
              metadata={"format": "asmname-proj", "variant": "transformer", "d_in": str(D_IN),
                        "prefix_len": str(P), "d_model": str(D_MODEL), "width": str(WIDTH),
                        "layers": str(LAYERS), "heads": str(HEADS), "ffn": str(FFN),
                        "ln_eps": repr(EPS)})
    return y


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "golden", "proj")
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(7)
    emb = F.normalize(torch.randn(5, D_IN, generator=g), dim=1)
    y_mlp = mlp(g, outdir, emb)
    y_tr = transformer(g, outdir, emb)
    save_file({"emb": emb.contiguous(), "mlp": y_mlp.contiguous(), "transformer": y_tr.contiguous()},
              os.path.join(outdir, "golden.safetensors"),
              metadata={"generator": "tests/gen/gen_proj.py", "torch": torch.__version__})
    print(f"proj: mlp {list(y_mlp.shape)}, transformer {list(y_tr.shape)}")


if __name__ == "__main__":
    main()
