#!/usr/bin/env python3
"""gen_clap.py: tiny random CLAP-ASM models and their golden embeddings.

Builds small models with the exact architecture of hustcw/clap-asm
(../shared/reference/clap-asm.md §4): the reference module's classes are
rebuilt on top of transformers' RoFormer classes the way clap_modeling.py
does it (token_type_embeddings IS word_embeddings, Q/K/V without bias,
rotary_value false, masked mean pooling, projection, F.normalize).  A second,
independent float64 implementation written out in plain torch checks the
first.  Each model is saved in the real file layout (config.json +
model.safetensors with jroformer.* / projection.* names) together with
golden.safetensors:

    tok, ttype   i32 [N, Lmax]   padded with 1 on the right
    len          i32 [N]
    emb          f32 [N, d]      AsmEncoder output for the padded batch
    dbg.*        f32             intermediates of function 0 (unpadded)

inputs.msgpack: the same N functions as asmname records (id, tok, ttype),
and emb.jsonl: their golden embeddings as JSON Lines (id, emb), for the
command-line tests.

    python3 tests/gen/gen_clap.py [OUTDIR]     (default tests/golden/clap)

Models:
  tiny   hidden 32, 4 heads, 2 layers, ffn 64, vocab 1100, f32; the file has
         jroformer.encoder.embed_positions.weight and no token_type table
         (as save_pretrained writes a shared table).
  tiny2  hidden 48, 3 heads, 3 layers, ffn 80, embedding_size 24 (so
         jroformer.embeddings_project exists), vocab 1300, layer_norm_eps 1e-5,
         stored in bf16, token_type_embeddings present, no embed_positions.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn
from transformers import RoFormerConfig
from transformers.models.roformer.modeling_roformer import (
    RoFormerEmbeddings, RoFormerModel, RoFormerPreTrainedModel, RoFormerSelfAttention)

# --- the reference module, as clap_modeling.py builds it ---------------------


class JRoFormerEmbeddings(RoFormerEmbeddings):
    def __init__(self, config):
        super().__init__(config)
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embedding_size,
                                            padding_idx=config.pad_token_id)
        self.token_type_embeddings = self.word_embeddings


class JRoFormerSelfAttention(RoFormerSelfAttention):
    def __init__(self, config, layer_idx=None):
        super().__init__(config, layer_idx=layer_idx)
        self.query = nn.Linear(config.hidden_size, self.all_head_size, bias=config.use_bias)
        self.key = nn.Linear(config.hidden_size, self.all_head_size, bias=config.use_bias)
        self.value = nn.Linear(config.hidden_size, self.all_head_size, bias=config.use_bias)


class JRoFormerModel(RoFormerModel):
    def __init__(self, config):
        super().__init__(config)
        self.embeddings = JRoFormerEmbeddings(config)
        for i, layer in enumerate(self.encoder.layer):
            layer.attention.self = JRoFormerSelfAttention(config, layer_idx=i)
        self.post_init()


class AsmEncoder(RoFormerPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.jroformer = JRoFormerModel(config)
        self.projection = nn.Linear(config.hidden_size, config.hidden_size)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None):
        outputs = self.jroformer(input_ids, attention_mask=attention_mask,
                                 token_type_ids=token_type_ids)
        token_embeddings = outputs[0]
        m = attention_mask.unsqueeze(-1).expand(token_embeddings.size()).to(token_embeddings.dtype)
        asm_embedding = torch.sum(token_embeddings * m, 1) / torch.clamp(m.sum(1), min=1e-9)
        asm_embedding = self.projection(asm_embedding)
        return F.normalize(asm_embedding, p=2, dim=1)


# --- an independent float64 implementation (the check of the above) ---------


def rope_table(n_pos, dim):
    pe = np.array([[p / np.power(10000, 2 * (j // 2) / dim) for j in range(dim)]
                   for p in range(n_pos)])
    out = np.empty((n_pos, dim))
    out[:, :dim // 2] = np.sin(pe[:, 0::2])
    out[:, dim // 2:] = np.cos(pe[:, 1::2])
    return torch.tensor(out, dtype=torch.float32).double()


def ref_forward(sd, cfg, tok, tt, n, dbg=None):
    """One unpadded sequence of n tokens -> unit-norm embedding (float64)."""
    g = {k: v.double() for k, v in sd.items()}
    eps = cfg["layer_norm_eps"]
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = H // nh
    W = g["jroformer.embeddings.word_embeddings.weight"]

    def ln(x, p):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + eps) * g[p + ".weight"] + g[p + ".bias"]

    def lin(x, p, bias=True):
        y = x @ g[p + ".weight"].T
        return y + g[p + ".bias"] if bias else y

    x = W[tok[:n]] + W[tt[:n]]
    x = ln(x, "jroformer.embeddings.LayerNorm")
    if dbg is not None:
        dbg["dbg.emb_ln"] = x
    if "jroformer.embeddings_project.weight" in g:
        x = lin(x, "jroformer.embeddings_project")
    tab = rope_table(cfg["max_position_embeddings"], hd)[:n]
    s, c = tab[:, :hd // 2], tab[:, hd // 2:]

    def rope(q):  # q [nh, n, hd], pairs (2i, 2i+1)
        q0, q1 = q[..., 0::2], q[..., 1::2]
        out = torch.empty_like(q)
        out[..., 0::2] = q0 * c - q1 * s
        out[..., 1::2] = q1 * c + q0 * s
        return out

    for i in range(cfg["num_hidden_layers"]):
        p = f"jroformer.encoder.layer.{i}."
        q = lin(x, p + "attention.self.query", False).view(n, nh, hd).transpose(0, 1)
        k = lin(x, p + "attention.self.key", False).view(n, nh, hd).transpose(0, 1)
        v = lin(x, p + "attention.self.value", False).view(n, nh, hd).transpose(0, 1)
        q, k = rope(q), rope(k)
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd), -1) @ v
        a = a.transpose(0, 1).reshape(n, H)
        a = ln(lin(a, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        f = lin(F.gelu(lin(a, p + "intermediate.dense")), p + "output.dense")
        x = ln(f + a, p + "output.LayerNorm")
        if dbg is not None and i == 0:
            dbg["dbg.layer0"] = x
    if dbg is not None:
        dbg["dbg.last"] = x
    pooled = x.mean(0)
    z = lin(pooled, "projection")
    if dbg is not None:
        dbg["dbg.pooled"] = pooled
        dbg["dbg.proj"] = z
    return z / max(z.norm().item(), 1e-12)


# --- inputs --------------------------------------------------------------------


def make_function(rng, vocab, ntok):
    """Token ids and token types of one function with about ntok tokens,
    shaped like asm-tok's output: instructions of 1..9 tokens, types
    INSTR<k> = 5 + k, some operands that are INSTR<j> jump targets."""
    tok, tt, k = [], [], 0
    while len(tok) < ntok:
        k += 1
        m = int(rng.integers(1, 10))
        for j in range(m):
            if j == m - 1 and rng.random() < 0.15:
                tok.append(5 + int(rng.integers(1, min(k + 20, 1024) + 1)))
            else:
                tok.append(int(rng.integers(1030, vocab)))
            tt.append(5 + k if k <= 1024 else 4)
    return tok[:ntok], tt[:ntok]


def pack_records(path, recs):
    """asmname records: msgpack maps; tok/ttype as bin of little-endian i32."""
    def mstr(s):
        b = s.encode()
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b

    def mbin(b):
        return b"\xc6" + struct.pack(">I", len(b)) + b

    with open(path, "wb") as f:
        for r in recs:
            f.write(bytes([0x80 | len(r)]))
            for key, v in r.items():
                f.write(mstr(key))
                f.write(mstr(v) if isinstance(v, str) else mbin(np.asarray(v, "<i4").tobytes()))


# --- models --------------------------------------------------------------------


def randomize(model, cfg, gen):
    """Weights large enough that every part of the network matters."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "embed_positions" in name:
                continue
            if name.endswith("LayerNorm.weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif "word_embeddings" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
                p[cfg.pad_token_id].zero_()      # padding_idx row stays zero
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1]))


def build(outdir, name, seed, cfgkw, store_dtype, with_tt, with_pos, lengths):
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    cfg = RoFormerConfig(pad_token_id=1, rotary_value=False, **cfgkw)
    cfg.use_bias = False
    cfg.architectures = ["AsmEncoder"]
    cfg.auto_map = {"AutoModel": "clap_modeling.AsmEncoder"}
    torch.manual_seed(seed)
    model = AsmEncoder(cfg).eval()
    gen = torch.Generator().manual_seed(seed)
    randomize(model, cfg, gen)
    hd = cfg.hidden_size // cfg.num_attention_heads
    pos = model.jroformer.encoder.embed_positions.weight
    assert torch.equal(pos, rope_table(cfg.max_position_embeddings, hd).float()), "rope table"

    # The file, in the stored dtype; the model then runs on exactly those values.
    sd = {}
    for k, v in model.state_dict().items():
        if "token_type_embeddings" in k and not with_tt:
            continue
        if "embed_positions" in k and not with_pos:
            continue
        sd[k] = v.detach().to(store_dtype).contiguous().clone()
    with torch.no_grad():
        for k, v in model.named_parameters():
            if k in sd:
                v.copy_(sd[k].float())
    save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    cj = cfg.to_dict()
    cj["torch_dtype"] = {torch.float32: "float32", torch.bfloat16: "bfloat16"}[store_dtype]
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cj, f, indent=2, sort_keys=True)
        f.write("\n")

    # Inputs: a padded batch of unequal lengths, one of them 1024 tokens.
    rng = np.random.default_rng(seed)
    V = cfg.vocab_size
    funcs = [make_function(rng, V, n) for n in lengths]
    N, Lmax = len(funcs), max(lengths)
    tok = np.ones((N, Lmax), np.int64)
    tt = np.ones((N, Lmax), np.int64)
    mask = np.zeros((N, Lmax), np.int64)
    for i, (a, b) in enumerate(funcs):
        tok[i, :len(a)], tt[i, :len(b)], mask[i, :len(a)] = a, b, 1
    with torch.no_grad():
        emb = model(torch.tensor(tok), torch.tensor(mask), torch.tensor(tt)).float()
        # Each function alone, unpadded, must give the same embedding.
        for i, n in enumerate(lengths):
            one = model(torch.tensor(tok[i:i + 1, :n]), torch.tensor(mask[i:i + 1, :n]),
                        torch.tensor(tt[i:i + 1, :n]))
            assert (one[0] - emb[i]).norm() < 1e-5, f"{name}: padded vs alone, function {i}"
        # And the independent float64 implementation.
        fsd = {k: v.float() for k, v in model.state_dict().items()}
        worst = 0.0
        dbg = {}
        for i, n in enumerate(lengths):
            r = ref_forward(fsd, cj, torch.tensor(tok[i]), torch.tensor(tt[i]), n,
                            dbg if i == 0 else None)
            worst = max(worst, ((emb[i].double() - r).norm() / r.norm()).item())
        assert worst < 1e-5, f"{name}: reference vs float64 re-implementation {worst}"
    print(f"{name}: {N} functions, lengths {lengths}, f32 vs f64 rel err {worst:.2e}")

    gold = {"tok": torch.tensor(tok, dtype=torch.int32), "ttype": torch.tensor(tt, dtype=torch.int32),
            "len": torch.tensor(lengths, dtype=torch.int32), "emb": emb.contiguous()}
    for k, v in dbg.items():
        gold[k] = v.float().contiguous()
    save_file(gold, os.path.join(d, "golden.safetensors"),
              metadata={"generator": "tests/gen/gen_clap.py", "torch": torch.__version__})
    pack_records(os.path.join(d, "inputs.msgpack"),
                 [{"id": f"f{i}", "tok": a, "ttype": b} for i, (a, b) in enumerate(funcs)])
    with open(os.path.join(d, "emb.jsonl"), "w") as f:
        for i in range(N):
            f.write(json.dumps({"id": f"f{i}", "emb": [float(x) for x in emb[i]]}) + "\n")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "golden", "clap")
    torch.set_num_threads(1)
    build(out, "tiny", 1234,
          dict(vocab_size=1100, hidden_size=32, embedding_size=32, num_hidden_layers=2,
               num_attention_heads=4, intermediate_size=64, max_position_embeddings=2048),
          torch.float32, with_tt=False, with_pos=True,
          lengths=[37, 1, 5, 130, 1024, 64, 17, 300])
    build(out, "tiny2", 99,
          dict(vocab_size=1300, hidden_size=48, embedding_size=24, num_hidden_layers=3,
               num_attention_heads=3, intermediate_size=80, max_position_embeddings=1024,
               layer_norm_eps=1e-5),
          torch.bfloat16, with_tt=True, with_pos=False,
          lengths=[12, 250, 3, 1024, 77])


if __name__ == "__main__":
    main()
