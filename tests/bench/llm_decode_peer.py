#!/usr/bin/env python3
"""llm_decode_peer.py: the PyTorch/transformers side of tests/bench/llm-decode*.sh.

    llm_decode_peer.py make DIR --size small|qwen3b [--dtype f32|bf16] [--device cpu|cuda]
        A random-weight Qwen2ForCausalLM checkpoint in the published layout (config.json as
        Qwen2.5-Coder-3B writes it, model.safetensors) with the tiny test tokenizer copied in
        (ids beyond its 512 decode to nothing: benchmarks run with --no-stop).
    llm_decode_peer.py records OUT.jsonl --n N --d D [--p P]
        N records with a random [P, D] prefix and callees, for both sides.
    llm_decode_peer.py gen DIR RECS.jsonl --new K --batch B [--dtype f32|bf16] [--device D]
                       [--threads T] [--quant nf4]
        transformers generate (greedy, exactly K new tokens: min_new_tokens = max_new_tokens,
        no EOS), the prefix rows before the prompt's embeddings (inputs_embeds), batches of B
        left-padded records; prints "tokens N seconds S records R cpu C" for the generate calls
        only (model load, tokenization excluded), best wall and best CPU (all threads) seconds
        of --repeat runs.
    llm_decode_peer.py bandwidth [--gib G]
        Device-to-device copy bandwidth on CUDA (bytes read + written per second), best of 5.
"""
import argparse
import json
import os
import shutil
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "..", "golden", "llm", "qwen2-tiny")

SIZES = {
	# d, layers, heads, kv heads, ff, vocab
	"small": (512, 8, 8, 2, 1408, 8192),
	"qwen3b": (2048, 36, 16, 2, 11008, 151936),   # Qwen2.5-Coder-3B
}


def cmd_make(a):
	from safetensors.torch import save_file
	d, L, H, KV, FF, V = SIZES[a.size]
	os.makedirs(a.dir, exist_ok=True)
	cfg = {"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 509,
	       "eos_token_id": 509, "hidden_act": "silu", "hidden_size": d, "initializer_range": 0.02,
	       "intermediate_size": FF, "max_position_embeddings": 32768, "max_window_layers": L,
	       "model_type": "qwen2", "num_attention_heads": H, "num_hidden_layers": L,
	       "num_key_value_heads": KV, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
	       "sliding_window": 32768, "tie_word_embeddings": True,
	       "torch_dtype": "bfloat16" if a.dtype == "bf16" else "float32", "use_cache": True,
	       "use_sliding_window": False, "vocab_size": V}
	with open(os.path.join(a.dir, "config.json"), "w") as f:
		json.dump(cfg, f, indent=2)
	for fn in ("tokenizer.json", "tokenizer_config.json"):
		shutil.copy(os.path.join(TINY, fn), a.dir)
	dt = torch.bfloat16 if a.dtype == "bf16" else torch.float32
	g = torch.Generator(device=a.device).manual_seed(1)
	t = {}

	def rnd(*shape, std=0.02):
		return (torch.randn(*shape, generator=g, device=a.device) * std).to(dt).cpu()
	hd = d // H
	t["model.embed_tokens.weight"] = rnd(V, d, std=0.5)
	t["model.norm.weight"] = torch.ones(d, dtype=dt)
	for i in range(L):
		p = f"model.layers.{i}."
		t[p + "input_layernorm.weight"] = torch.ones(d, dtype=dt)
		t[p + "post_attention_layernorm.weight"] = torch.ones(d, dtype=dt)
		t[p + "self_attn.q_proj.weight"] = rnd(H * hd, d)
		t[p + "self_attn.q_proj.bias"] = rnd(H * hd)
		t[p + "self_attn.k_proj.weight"] = rnd(KV * hd, d)
		t[p + "self_attn.k_proj.bias"] = rnd(KV * hd)
		t[p + "self_attn.v_proj.weight"] = rnd(KV * hd, d)
		t[p + "self_attn.v_proj.bias"] = rnd(KV * hd)
		t[p + "self_attn.o_proj.weight"] = rnd(d, H * hd)
		t[p + "mlp.gate_proj.weight"] = rnd(FF, d)
		t[p + "mlp.up_proj.weight"] = rnd(FF, d)
		t[p + "mlp.down_proj.weight"] = rnd(d, FF)
	save_file(t, os.path.join(a.dir, "model.safetensors"), metadata={"format": "pt"})
	n = sum(x.numel() for x in t.values())
	print(f"made {a.dir}: {a.size}, {n} parameters, {a.dtype}", file=sys.stderr)


def cmd_records(a):
	g = torch.Generator().manual_seed(5)
	words = ["hash_insert", "list_free", "parse_header", "open_file", "read_buffer", "close"]
	with open(a.out, "w") as f:
		for i in range(a.n):
			r = {"id": f"b{i}", "prefix": [round(float(x), 5) for x in torch.randn(a.p * a.d, generator=g) * 0.5],
			     "prefix_shape": [a.p, a.d]}
			if i % 3:
				r["callees"] = words[i % 4: i % 4 + 2]
			f.write(json.dumps(r) + "\n")


def render(callees):
	# common/llmdec.c llmdec_default_template: "Calls: {callees}\nName:"
	return ("Calls: " + ", ".join(callees) + "\n" if callees else "") + "Name:"


def cmd_gen(a):
	from transformers import AutoTokenizer, Qwen2ForCausalLM
	if a.threads:
		torch.set_num_threads(a.threads)
	dt = torch.bfloat16 if a.dtype == "bf16" else torch.float32
	kw = {}
	if a.quant == "nf4":
		from transformers import BitsAndBytesConfig
		kw["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
							       bnb_4bit_compute_dtype=dt)
	m = Qwen2ForCausalLM.from_pretrained(a.dir, dtype=dt, attn_implementation=a.attn, **kw).eval()
	if a.quant != "nf4":
		m = m.to(a.device)
	tok = AutoTokenizer.from_pretrained(a.dir)
	recs = [json.loads(x) for x in open(a.recs)]
	emb = m.get_input_embeddings()
	batches = []
	for i in range(0, len(recs), a.batch):
		rows = []
		for r in recs[i:i + a.batch]:
			P, d = r["prefix_shape"]
			ids = tok(render(r.get("callees", [])), add_special_tokens=True)["input_ids"]
			with torch.no_grad():
				e = torch.cat([torch.tensor(r["prefix"], dtype=torch.float32).view(P, d).to(a.device, dt),
					       emb(torch.tensor(ids, device=a.device))], 0)
			rows.append(e)
		L = max(x.shape[0] for x in rows)
		x = torch.zeros(len(rows), L, rows[0].shape[1], dtype=dt, device=a.device)
		mask = torch.zeros(len(rows), L, dtype=torch.long, device=a.device)
		for j, e in enumerate(rows):      # left padding, as for generation
			x[j, L - e.shape[0]:] = e
			mask[j, L - e.shape[0]:] = 1
		batches.append((x, mask))
	best = bestcpu = None
	for rep in range(a.repeat):
		if a.device.startswith("cuda"):
			torch.cuda.synchronize()
		t0 = time.perf_counter()
		c0 = time.process_time()
		ntok = 0
		with torch.no_grad():
			for x, mask in batches:
				out = m.generate(inputs_embeds=x, attention_mask=mask, max_new_tokens=a.new,
						 min_new_tokens=a.new, do_sample=False, eos_token_id=None,
						 pad_token_id=0)
				ntok += out.shape[0] * a.new
		if a.device.startswith("cuda"):
			torch.cuda.synchronize()
		dt_s = time.perf_counter() - t0
		cpu = time.process_time() - c0
		best = dt_s if best is None or dt_s < best else best
		bestcpu = cpu if bestcpu is None or cpu < bestcpu else bestcpu
	print(f"tokens {ntok} seconds {best:.4f} records {len(recs)} cpu {bestcpu:.4f}")


def cmd_bandwidth(a):
	n = int(a.gib * (1 << 30)) // 4
	x = torch.empty(n, dtype=torch.float32, device="cuda")
	y = torch.empty_like(x)
	y.copy_(x)
	torch.cuda.synchronize()
	best = None
	for _ in range(5):
		t0 = time.perf_counter()
		y.copy_(x)
		torch.cuda.synchronize()
		t = time.perf_counter() - t0
		best = t if best is None or t < best else best
	print(f"bandwidth {2 * n * 4 / best:.4e} bytes/s ({torch.cuda.get_device_name()})")


def main():
	ap = argparse.ArgumentParser()
	sp = ap.add_subparsers(dest="cmd", required=True)
	p = sp.add_parser("make")
	p.add_argument("dir")
	p.add_argument("--size", choices=sorted(SIZES), default="small")
	p.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
	p.add_argument("--device", default="cpu")
	p = sp.add_parser("records")
	p.add_argument("out")
	p.add_argument("--n", type=int, default=16)
	p.add_argument("--d", type=int, required=True)
	p.add_argument("--p", type=int, default=8)
	p = sp.add_parser("gen")
	p.add_argument("dir")
	p.add_argument("recs")
	p.add_argument("--new", type=int, default=32)
	p.add_argument("--batch", type=int, default=1)
	p.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
	p.add_argument("--device", default="cpu")
	p.add_argument("--threads", type=int, default=0)
	p.add_argument("--quant", choices=["none", "nf4"], default="none")
	p.add_argument("--attn", default="sdpa")
	p.add_argument("--repeat", type=int, default=2)
	p = sp.add_parser("bandwidth")
	p.add_argument("--gib", type=float, default=2.0)
	a = ap.parse_args()
	{"make": cmd_make, "records": cmd_records, "gen": cmd_gen, "bandwidth": cmd_bandwidth}[a.cmd](a)


if __name__ == "__main__":
	main()
