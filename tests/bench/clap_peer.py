#!/usr/bin/env python3
"""clap_peer.py: the PyTorch side of tests/bench/clap-embed.sh.

  clap_peer.py make DIR [--n N] [--seed S]
      A full-size CLAP-ASM model with random weights (768 hidden, 12 layers,
      12 heads, 3072 ffn, vocab 33555, as hustcw/clap-asm) in the real file
      layout under DIR/model, and DIR/inputs.msgpack: N functions whose token
      counts follow a long-tailed distribution (median about 120, capped at
      1024), shaped like asm-tok's output.  Nothing big is committed: DIR is
      under /tmp.
  clap_peer.py run DIR --threads T --batch B [--order sorted|input] [--device cpu|cuda] [--dtype fp32|bf16]
      Runs the reference AsmEncoder (tests/gen/gen_clap.py) in eval mode,
      no_grad, on the same functions, B at a time, padded to the longest of
      each batch; "sorted" groups them by length first (as clap-embed does),
      "input" keeps input order (as a plain script would).  Prints
      "functions N seconds S fps F" and writes the embeddings to
      DIR/peer_emb.npy for the parity check.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gen"))
from gen_clap import AsmEncoder, make_function, pack_records, randomize  # noqa: E402


def full_config():
    from transformers import RoFormerConfig
    cfg = RoFormerConfig(vocab_size=33555, hidden_size=768, embedding_size=768, num_hidden_layers=12,
                         num_attention_heads=12, intermediate_size=3072, max_position_embeddings=2048,
                         pad_token_id=1, rotary_value=False)
    cfg.use_bias = False
    cfg.architectures = ["AsmEncoder"]
    return cfg


def lengths(rng, n):
    x = np.exp(rng.normal(np.log(120), 1.0, n)).astype(int)
    return [int(min(max(v, 4), 1024)) for v in x]


def cmd_make(a):
    import json
    from safetensors.torch import save_file
    mdir = os.path.join(a.dir, "model")
    os.makedirs(mdir, exist_ok=True)
    cfg = full_config()
    torch.manual_seed(a.seed)
    model = AsmEncoder(cfg).eval()
    randomize(model, cfg, torch.Generator().manual_seed(a.seed))
    sd = {k: v.contiguous() for k, v in model.state_dict().items()
          if "token_type_embeddings" not in k}
    save_file(sd, os.path.join(mdir, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(mdir, "config.json"), "w") as f:
        json.dump(cfg.to_dict(), f, indent=2)
    rng = np.random.default_rng(a.seed)
    funcs = [make_function(rng, cfg.vocab_size, n) for n in lengths(rng, a.n)]
    pack_records(os.path.join(a.dir, "inputs.msgpack"),
                 [{"id": f"f{i}", "tok": t, "ttype": tt} for i, (t, tt) in enumerate(funcs)])
    np.save(os.path.join(a.dir, "inputs.npy"), np.array([np.array(t + tt, np.int32) for t, tt in funcs],
                                                          dtype=object), allow_pickle=True)
    print(f"model in {mdir}, {a.n} functions, {sum(len(t) for t, _ in funcs)} tokens")


def cmd_run(a):
    torch.set_num_threads(a.threads)
    from safetensors.torch import load_file
    from transformers import RoFormerConfig
    mdir = os.path.join(a.dir, "model")
    cfg = RoFormerConfig.from_json_file(os.path.join(mdir, "config.json"))
    model = AsmEncoder(cfg).eval()
    sd = load_file(os.path.join(mdir, "model.safetensors"))
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and all("token_type" in k for k in missing), (missing, unexpected)
    dev = torch.device(a.device)
    dt = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    model = model.to(dev, dt)
    funcs = np.load(os.path.join(a.dir, "inputs.npy"), allow_pickle=True)
    funcs = [(f[:len(f) // 2], f[len(f) // 2:]) for f in funcs]
    order = list(range(len(funcs)))
    if a.order == "sorted":
        order.sort(key=lambda i: -len(funcs[i][0]))
    out = np.zeros((len(funcs), cfg.hidden_size), np.float32)

    def batches():
        for s in range(0, len(order), a.batch):
            idx = order[s:s + a.batch]
            L = max(len(funcs[i][0]) for i in idx)
            tok = torch.ones(len(idx), L, dtype=torch.long)
            tt = torch.ones(len(idx), L, dtype=torch.long)
            m = torch.zeros(len(idx), L, dtype=torch.long)
            for r, i in enumerate(idx):
                n = len(funcs[i][0])
                tok[r, :n] = torch.from_numpy(funcs[i][0].astype(np.int64))
                tt[r, :n] = torch.from_numpy(funcs[i][1].astype(np.int64))
                m[r, :n] = 1
            yield idx, tok.to(dev), tt.to(dev), m.to(dev)

    with torch.inference_mode():
        # warm-up on the first batch (allocator, kernels), not timed
        for idx, tok, tt, m in batches():
            model(tok, m, tt)
            break
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for idx, tok, tt, m in batches():
            e = model(tok, m, tt)
            out[idx] = e.float().cpu().numpy()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        dt_s = time.perf_counter() - t0
    np.save(os.path.join(a.dir, "peer_emb.npy"), out)
    print(f"functions {len(funcs)} seconds {dt_s:.3f} fps {len(funcs) / dt_s:.3f}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--n", type=int, default=64)
    m.add_argument("--seed", type=int, default=5)
    r = sub.add_parser("run")
    r.add_argument("dir")
    r.add_argument("--threads", type=int, default=os.cpu_count())
    r.add_argument("--batch", type=int, default=16)
    r.add_argument("--order", choices=["sorted", "input"], default="sorted")
    r.add_argument("--device", default="cpu")
    r.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    a = p.parse_args()
    {"make": cmd_make, "run": cmd_run}[a.cmd](a)


if __name__ == "__main__":
    main()
