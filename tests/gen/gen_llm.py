#!/usr/bin/env python3
"""gen_llm.py: tiny random Qwen2 / Llama checkpoints in the real HF layout and
golden outputs computed by PyTorch + transformers (+ PEFT), for tests/unit/test_llm.c
and tests/cli/llm-decode.sh.

    python3 tests/gen/gen_llm.py [OUTDIR]        # default tests/golden/llm

Writes (all small):
  qwen2-tiny/        Qwen2ForCausalLM: q/k/v biases, tied embeddings, rope theta 1e6,
                     F32 model.safetensors, byte-level BPE tokenizer.json (Qwen2 regex, NFC)
  llama-tiny/        LlamaForCausalLM: GQA, explicit head_dim, llama3 rope scaling exactly as
                     Llama-3.2 has it, tied, BF16, SHARDED (model.safetensors.index.json),
                     tokenizer.json (Llama-3 regex, ignore_merges, BOS post-processor)
  llama-tiny-untied/ LlamaForCausalLM, no head_dim key, no rope_scaling, lm_head.weight, BF16
  lora-qwen2/        PEFT adapter (r 4, alpha 8, q/k/v/o), saved by peft
  lora-llama/        PEFT adapter (r 8, alpha 16, all seven linears), saved by peft
  golden.safetensors the golden tensors, named "<model>.<case>.<what>" (see below)

config.json files are written in the layout of the published checkpoints (rope_theta +
rope_scaling, torch_dtype), not the transformers-5 one (rope_parameters, dtype); transformers
reads both, and the C loader must read both too.

Every golden is computed in fp32 (eager attention) from the stored weights (the BF16 ones
upcast exactly).  NF4 goldens: each decoder linear weight quantized and dequantized with
bitsandbytes' blockwise NF4 algorithm written here in torch (blocks of 64 over the row-major
flattened weight, fp32 absmax, x * (1/absmax) then the codebook's midpoint decision with ties
to the lower code, dequant = code * absmax in fp32, not rounded back to bf16); embeddings,
norms, biases and the LM head are left as they are (as bitsandbytes leaves them).

Golden names (T = prompt length, P = prefix rows, V = vocab, N = new tokens):
  M.pK.ids [T] i32, M.pK.logits [T,V]            prompt K = 0, 1, 2 without prefix
  M.pre.prefix [P,d], M.pre.ids [T], M.pre.logits [P+T,V]   prefix rows before the prompt
  M.greedy.ids [T], M.greedy.out [N]             greedy continuation of prompt 0
  M.pre.greedy [N]                               greedy continuation after prefix + prompt
  M.lora.logits [T,V], M.lora.pre.logits, M.lora.greedy [N]  with the adapter (p0 / pre)
  M.nf4.logits, M.nf4.pre.logits, M.nf4.greedy, M.nf4.lora.logits
  M.emb [d]                                      mean of final-norm hidden states of p1
  M.margin [1]                                   smallest top1-top2 logit gap seen by greedy
  untied.p0.ids, untied.p0.logits
  nf4.q.<name>.packed [numel/2] u8, nf4.q.<name>.absmax f32: one weight's packed NF4 bytes
  (first element in the high nibble) and absmax, for a bit-exact test of quantization.
"""
import json
import math
import os
import shutil
import sys

import torch
from safetensors.torch import save_file

import transformers
from transformers import (LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast,
                          Qwen2Config, Qwen2ForCausalLM)

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
	os.path.dirname(os.path.abspath(__file__)), "..", "golden", "llm")
OUT = os.path.abspath(OUT)
VOCAB = 512
NEW = 8          # greedy tokens
P = 4            # prefix rows
torch.manual_seed(1234)

# ---------------------------------------------------------------- tokenizers
QWEN_RE = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
LLAMA_RE = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def corpus():
	"""Deterministic text: identifiers, C, assembly, prompts like llm-decode's."""
	words = ("get set init free read write open close parse alloc buf len size str name "
		 "node list hash table find insert remove update create destroy copy move load "
		 "store print format check valid error count index value key data file path "
		 "stream block chunk header entry next prev push pop begin end start stop run "
		 "handle call func main ctx state config option flag mode type info").split()
	regs = "rax rbx rcx rdx rsi rdi rbp rsp r8 r9 r10 r11 eax ebx ecx edx esi edi".split()
	ops = "mov lea add sub cmp test jmp je jne call ret push pop xor and or shl shr imul".split()
	g = torch.Generator().manual_seed(7)
	pick = lambda xs: xs[int(torch.randint(len(xs), (1,), generator=g))]
	lines = []
	for i in range(3000):
		k = i % 4
		if k == 0:
			lines.append("_".join(pick(words) for _ in range(1 + i % 3)))
		elif k == 1:
			lines.append(f"{pick(ops)} {pick(regs)}, {pick(regs)}")
		elif k == 2:
			a, b = pick(words), pick(words)
			lines.append(f"static int {a}_{b}(struct {a} *p, size_t n) {{ return p->{b}[n]; }}")
		else:
			lines.append(f"Function calls: {pick(words)}_{pick(words)}, {pick(words)}. Name: {pick(words)}_{pick(words)}")
	return lines


def build_tokenizer(kind, path):
	from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
	specials = (["<|endoftext|>", "<|im_start|>", "<|im_end|>"] if kind == "qwen2"
		    else ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"])
	tok = Tokenizer(models.BPE(ignore_merges=(kind == "llama")))
	if kind == "qwen2":
		tok.normalizer = normalizers.NFC()
	tok.pre_tokenizer = pre_tokenizers.Sequence([
		pre_tokenizers.Split(Regex(QWEN_RE if kind == "qwen2" else LLAMA_RE), behavior="isolated", invert=False),
		pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
	tok.decoder = decoders.ByteLevel()
	trainer = trainers.BpeTrainer(vocab_size=VOCAB - len(specials), show_progress=False,
				      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
	tok.train_from_iterator(corpus(), trainer)
	assert tok.get_vocab_size() == VOCAB - len(specials), tok.get_vocab_size()
	tok.add_special_tokens(specials)
	if kind == "qwen2":
		tok.post_processor = processors.ByteLevel(trim_offsets=False)
		cfg = dict(bos_token=None, eos_token="<|endoftext|>", pad_token="<|endoftext|>", add_bos_token=False)
	else:
		bos = tok.token_to_id("<|begin_of_text|>")
		tok.post_processor = processors.Sequence([
			processors.ByteLevel(trim_offsets=False),
			processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
						       special_tokens=[("<|begin_of_text|>", bos)])])
		cfg = dict(bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")
	fast = PreTrainedTokenizerFast(tokenizer_object=tok, clean_up_tokenization_spaces=False,
				       model_max_length=32768, **cfg)
	fast.save_pretrained(path)
	for extra in ("special_tokens_map.json", "chat_template.jinja"):
		if os.path.exists(os.path.join(path, extra)):
			os.remove(os.path.join(path, extra))
	assert len(fast) == VOCAB
	return fast


# ---------------------------------------------------------------- models
# The published configs' layout (reference decoder-stack.md §1.1, §1.2), shrunk.
QWEN_CFG = {
	"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0,
	"bos_token_id": 509, "eos_token_id": 509, "hidden_act": "silu", "hidden_size": 64,
	"initializer_range": 0.02, "intermediate_size": 128, "max_position_embeddings": 32768,
	"max_window_layers": 2, "model_type": "qwen2", "num_attention_heads": 4,
	"num_hidden_layers": 2, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
	"rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": True,
	"torch_dtype": "float32", "transformers_version": "4.43.1", "use_cache": True,
	"use_sliding_window": False, "vocab_size": VOCAB}
LLAMA_CFG = {
	"architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
	"bos_token_id": 509, "eos_token_id": [510, 511], "head_dim": 32, "hidden_act": "silu",
	"hidden_size": 128, "initializer_range": 0.02, "intermediate_size": 256,
	"max_position_embeddings": 131072, "mlp_bias": False, "model_type": "llama",
	"num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
	"pretraining_tp": 1, "rms_norm_eps": 1e-05,
	"rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
			 "original_max_position_embeddings": 8192, "rope_type": "llama3"},
	"rope_theta": 500000.0, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
	"transformers_version": "4.45.0.dev0", "use_cache": True, "vocab_size": VOCAB}
UNTIED_CFG = {
	"architectures": ["LlamaForCausalLM"], "attention_bias": False, "bos_token_id": 509,
	"eos_token_id": 510, "hidden_act": "silu", "hidden_size": 64, "intermediate_size": 128,
	"max_position_embeddings": 4096, "model_type": "llama", "num_attention_heads": 2,
	"num_hidden_layers": 1, "num_key_value_heads": 1, "rms_norm_eps": 1e-05,
	"rope_scaling": None, "rope_theta": 10000.0, "tie_word_embeddings": False,
	"torch_dtype": "bfloat16", "vocab_size": VOCAB}


def randomize(model, std=0.06):
	"""Weights far from init so that every path matters (norm gains, biases)."""
	g = torch.Generator().manual_seed(99 + model.config.hidden_size)
	with torch.no_grad():
		for name, p in model.named_parameters():
			if "norm" in name:
				p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
			elif name.endswith("bias"):
				p.copy_(0.1 * torch.randn(p.shape, generator=g))
			elif "embed_tokens" in name or "lm_head" in name:
				p.copy_(0.5 * torch.randn(p.shape, generator=g))
			else:
				p.copy_(std * 2.5 * torch.randn(p.shape, generator=g))


def make_model(cfg_dict, cls, path, dtype, shard=None):
	os.makedirs(path, exist_ok=True)
	with open(os.path.join(path, "config.json"), "w") as f:
		json.dump(cfg_dict, f, indent=2)
	config = cls.config_class.from_pretrained(path)
	model = cls(config).eval()
	randomize(model)
	model = model.to(dtype)
	kw = {"max_shard_size": shard} if shard else {}
	model.save_pretrained(path, safe_serialization=True, **kw)
	with open(os.path.join(path, "config.json"), "w") as f:     # the published layout, again
		json.dump(cfg_dict, f, indent=2)
	eos = cfg_dict["eos_token_id"]
	with open(os.path.join(path, "generation_config.json"), "w") as f:
		json.dump({"bos_token_id": cfg_dict["bos_token_id"], "eos_token_id": eos,
			   "do_sample": False}, f, indent=2)
	# reload from disk, exactly as a user would, and compute in fp32
	m = cls.from_pretrained(path, dtype=torch.float32, attn_implementation="eager").eval()
	return m


# ---------------------------------------------------------------- NF4 (bitsandbytes' algorithm)
NF4 = torch.tensor([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
		    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
		    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
		    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0], dtype=torch.float32)
# the decision tree's thresholds of dQuantizeNF4 (csrc/kernels.cu), in code order
NF4_MID = torch.tensor([-0.8480964004993439, -0.6106329262256622, -0.4599952697753906,
			-0.33967943489551544, -0.23460740596055984, -0.13791173323988914,
			-0.045525018125772476, 0.03979014977812767, 0.1202552504837513,
			0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
			0.5016634166240692, 0.6427869200706482, 0.8614784181118011], dtype=torch.float32)


def nf4_quantize(w, blocksize=64):
	flat = w.detach().to(torch.float32).reshape(-1)
	n = flat.numel()
	nb = (n + blocksize - 1) // blocksize
	pad = torch.zeros(nb * blocksize, dtype=torch.float32)
	pad[:n] = flat
	blocks = pad.view(nb, blocksize)
	absmax = blocks.abs().max(dim=1).values
	inv = 1.0 / absmax                     # the kernel multiplies by the reciprocal
	x = blocks * inv[:, None]
	# strict ">" against each threshold: a value on a midpoint takes the lower code
	codes = torch.bucketize(x.reshape(-1), NF4_MID, right=False).to(torch.uint8)[:n]
	if n % 2:
		codes = torch.cat([codes, torch.zeros(1, dtype=torch.uint8)])
	packed = (codes[0::2] << 4) | codes[1::2]
	return packed, absmax


def nf4_dequantize(packed, absmax, shape, blocksize=64):
	n = math.prod(shape)
	codes = torch.stack([packed >> 4, packed & 15], dim=1).reshape(-1)[:n].long()
	idx = torch.arange(n) // blocksize
	return (NF4[codes] * absmax[idx]).view(shape)


LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def nf4_model(model):
	"""A copy of model whose decoder linear weights went through NF4 and back."""
	import copy
	m = copy.deepcopy(model)
	with torch.no_grad():
		for name, mod in m.named_modules():
			if isinstance(mod, torch.nn.Linear) and name.split(".")[-1] in LINEARS:
				packed, absmax = nf4_quantize(mod.weight)
				mod.weight.copy_(nf4_dequantize(packed, absmax, tuple(mod.weight.shape)))
	return m


# ---------------------------------------------------------------- goldens
G = {}


def put(name, t):
	G[name] = t.detach().contiguous().clone()


def logits_ids(model, ids):
	with torch.no_grad():
		return model(input_ids=torch.tensor([ids])).logits[0].float()


def embed_of(model, ids):
	return model.get_input_embeddings()(torch.tensor([ids]))[0]


def logits_pre(model, prefix, ids):
	with torch.no_grad():
		e = torch.cat([prefix, embed_of(model, ids)], 0)[None]
		return model(inputs_embeds=e).logits[0].float()


MARGIN = [float("inf")]


def greedy(model, ids=None, prefix=None, n=NEW):
	"""Greedy by hand with the KV cache (same as generate(do_sample=False), without EOS)."""
	with torch.no_grad():
		if prefix is not None:
			e = torch.cat([prefix, embed_of(model, ids)], 0)[None]
			out = model(inputs_embeds=e, use_cache=True)
		else:
			out = model(input_ids=torch.tensor([ids]), use_cache=True)
		toks = []
		for _ in range(n):
			lg = out.logits[0, -1].float()
			top = torch.topk(lg, 2).values
			MARGIN[0] = min(MARGIN[0], float(top[0] - top[1]))
			t = int(lg.argmax())
			toks.append(t)
			out = model(input_ids=torch.tensor([[t]]), past_key_values=out.past_key_values, use_cache=True)
	return toks


def check_generate(model, ids, prefix, want):
	"""transformers' own generate agrees with the hand loop."""
	with torch.no_grad():
		if prefix is None:
			got = model.generate(input_ids=torch.tensor([ids]), max_new_tokens=NEW, min_new_tokens=NEW,
					     do_sample=False, eos_token_id=None, pad_token_id=0)[0, len(ids):].tolist()
		else:
			e = torch.cat([prefix, embed_of(model, ids)], 0)[None]
			got = model.generate(inputs_embeds=e, max_new_tokens=NEW, min_new_tokens=NEW,
					     do_sample=False, eos_token_id=None, pad_token_id=0)[0].tolist()
			got = got[-NEW:]
	assert got == want, (got, want)


def add_lora(model, path, r, alpha, targets, seed):
	from peft import LoraConfig, get_peft_model
	cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.05, target_modules=list(targets),
			 bias="none", task_type="CAUSAL_LM")
	pm = get_peft_model(model, cfg)
	g = torch.Generator().manual_seed(seed)
	with torch.no_grad():
		for name, p in pm.named_parameters():
			if "lora_B" in name:     # PEFT starts B at zero: give it values so the adapter matters
				p.copy_(0.2 * torch.randn(p.shape, generator=g))
	pm.save_pretrained(path)
	readme = os.path.join(path, "README.md")     # PEFT's model card: not needed
	if os.path.exists(readme):
		os.remove(readme)
	cf = os.path.join(path, "adapter_config.json")
	with open(cf) as f:
		ac = json.load(f)
	ac["base_model_name_or_path"] = os.path.basename(model.config._name_or_path.rstrip("/"))
	ac["target_modules"] = sorted(ac["target_modules"])      # a set: fix its order
	with open(cf, "w") as f:
		json.dump(ac, f, indent=2, sort_keys=True)
	# load it back through PEFT from the files, as a user would
	from peft import PeftModel
	base = pm.unload()
	loaded = PeftModel.from_pretrained(base, path).eval()
	return loaded


def run_model(tag, model, tok, lora_path, lora_args):
	V = model.config.vocab_size
	d = model.config.hidden_size
	texts = ["int main(void) { return parse_header(buf); }",
		 "mov rax, rbx\ncall init_table\nret",
		 "Function calls: hash_insert, list_free. Name:"]
	ids = [tok(t, add_special_tokens=True)["input_ids"] for t in texts]
	for k, t in enumerate(ids):
		put(f"{tag}.p{k}.ids", torch.tensor(t, dtype=torch.int32))
		put(f"{tag}.p{k}.logits", logits_ids(model, t))
	g = torch.Generator().manual_seed(4242 + d)
	prefix = 0.5 * torch.randn(P, d, generator=g)
	put(f"{tag}.pre.prefix", prefix)
	put(f"{tag}.pre.ids", torch.tensor(ids[2], dtype=torch.int32))
	put(f"{tag}.pre.logits", logits_pre(model, prefix, ids[2]))
	put(f"{tag}.greedy.ids", torch.tensor(ids[0], dtype=torch.int32))
	gr = greedy(model, ids[0])
	check_generate(model, ids[0], None, gr)
	put(f"{tag}.greedy.out", torch.tensor(gr, dtype=torch.int32))
	pg = greedy(model, ids[2], prefix)
	check_generate(model, ids[2], prefix, pg)
	put(f"{tag}.pre.greedy", torch.tensor(pg, dtype=torch.int32))
	with torch.no_grad():
		h = model.model(input_ids=torch.tensor([ids[1]])).last_hidden_state[0]
	put(f"{tag}.emb", h.mean(0))
	# NF4
	nm = nf4_model(model)
	put(f"{tag}.nf4.logits", logits_ids(nm, ids[0]))
	put(f"{tag}.nf4.pre.logits", logits_pre(nm, prefix, ids[2]))
	put(f"{tag}.nf4.greedy", torch.tensor(greedy(nm, ids[2], prefix), dtype=torch.int32))
	# LoRA (on the fp32 base, then on the NF4 base)
	lm = add_lora(model, lora_path, *lora_args)
	put(f"{tag}.lora.logits", logits_ids(lm, ids[0]))
	put(f"{tag}.lora.pre.logits", logits_pre(lm, prefix, ids[2]))
	put(f"{tag}.lora.greedy", torch.tensor(greedy(lm, ids[2], prefix), dtype=torch.int32))
	from peft import PeftModel
	nlm = PeftModel.from_pretrained(nf4_model(lm.unload()), lora_path).eval()
	put(f"{tag}.nf4.lora.logits", logits_ids(nlm, ids[0]))
	put(f"{tag}.margin", torch.tensor([MARGIN[0]]))
	print(f"{tag}: V={V} d={d} prompts {[len(t) for t in ids]} greedy {gr} prefix-greedy {pg} "
	      f"min top-2 margin {MARGIN[0]:.4g}", file=sys.stderr)


# ---------------------------------------------------------------- llm-decode end to end
# The rule of common/gen.h (gen_ident_ends, gen_clean_name) that llm-decode uses: skip
# anything before the first [A-Za-z0-9_] byte, take the run, stop at the byte after it
# (non-ASCII bytes are not identifier bytes), or at EOS, or after MAXNEW tokens; a leading
# digit gets "_" in front.  (gen_clean_name also suffixes C keywords with "_": the names
# below are checked not to be keywords.)
MAXNEW = 24
TEMPLATE = "Calls: {callees}\nName:"          # llmdec_default_template


def render(callees):
	return ("Calls: " + ", ".join(callees) + "\n" if callees else "") + "Name:"


def bytes_to_unicode():
	"""GPT-2's byte -> printable character table (reference decoder-stack.md §3.1)."""
	bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
	cs = bs[:]
	n = 0
	for b in range(256):
		if b not in bs:
			bs.append(b)
			cs.append(256 + n)
			n += 1
	return dict(zip(bs, map(chr, cs)))


def token_bytes(tok, t):
	inv = {v: k for k, v in bytes_to_unicode().items()}
	s = tok.convert_ids_to_tokens(t)
	if t in tok.all_special_ids or any(ch not in inv for ch in s):
		return s.encode()
	return bytes(inv[ch] for ch in s)


def ident_greedy(model, tok, prefix, ids, eos):
	"""HF forward, greedy, with llmdec's stopping and cleaning; returns (pred, logp, tokens)."""
	with torch.no_grad():
		e = torch.cat([prefix, embed_of(model, ids)], 0)[None]
		out = model(inputs_embeds=e, use_cache=True)
		name, started, logp, toks = b"", False, 0.0, []
		for _ in range(MAXNEW):
			lp = torch.log_softmax(out.logits[0, -1].double(), -1)
			t = int(lp.argmax())
			toks.append(t)
			logp += float(lp[t])
			if t in eos:
				break
			ended = False
			for c in token_bytes(tok, t):
				ch = chr(c)
				if ch.isascii() and (ch.isalnum() or ch == "_"):
					started = True
					name += bytes([c])
				elif started:
					ended = True
					break
			if ended:
				break
			out = model(input_ids=torch.tensor([[t]]), past_key_values=out.past_key_values, use_cache=True)
	name = name.decode()
	if name and name[0].isdigit():
		name = "_" + name
	return name, logp, toks


C_KEYWORDS = set("auto break case char const continue default do double else enum extern float for "
		 "goto if inline int long register restrict return short signed sizeof static struct "
		 "switch typedef union unsigned void volatile while bool true false nullptr".split())


def cli_records(model, tok, path, n_named=5, eos=(509,)):
	"""Records for tests/cli/llm-decode.sh with HF's expected pred/logp in want_* fields:
	prefixes picked (by seed) so that most give a non-empty name."""
	eos = set(eos)
	recs, g, tries = [], torch.Generator().manual_seed(2024), 0
	callees = [["hash_insert", "list_free"], [], ["parse_header"], [], ["open_file", "read_buffer", "close"]]
	while len(recs) < 5 and tries < 2000:
		tries += 1
		P = 2 + tries % 3
		prefix = (1.5 * torch.randn(P, model.config.hidden_size, generator=g)).to(torch.bfloat16).float()
		cal = callees[len(recs)]
		ids = tok(render(cal), add_special_tokens=True)["input_ids"]
		name, logp, toks = ident_greedy(model, tok, prefix, ids, eos)
		if (len(recs) < n_named) != bool(name) or name in C_KEYWORDS:
			continue
		recs.append({"id": f"t{len(recs)}", "prefix": [float(x) for x in prefix.reshape(-1)],
			     "prefix_shape": [P, model.config.hidden_size], "callees": cal,
			     "want_pred": name, "want_logp": logp, "want_tokens": len(toks)})
	with open(path, "w") as f:
		for r in recs:
			if not r["callees"]:
				del r["callees"]
			f.write(json.dumps(r) + "\n")
	print(f"cli: {[(r['want_pred'], r['want_tokens']) for r in recs]} after {tries} tries", file=sys.stderr)


def main():
	if os.path.isdir(OUT):
		shutil.rmtree(OUT)
	os.makedirs(OUT)
	qdir, ldir, udir = (os.path.join(OUT, n) for n in ("qwen2-tiny", "llama-tiny", "llama-tiny-untied"))

	qtok = build_tokenizer("qwen2", qdir)
	ltok = build_tokenizer("llama", ldir)
	qwen = make_model(QWEN_CFG, Qwen2ForCausalLM, qdir, torch.float32)
	llama = make_model(LLAMA_CFG, LlamaForCausalLM, ldir, torch.bfloat16, shard="200KB")
	untied = make_model(UNTIED_CFG, LlamaForCausalLM, udir, torch.bfloat16)
	assert os.path.exists(os.path.join(ldir, "model.safetensors.index.json")), "llama-tiny not sharded"

	# transformers read the published config layout as intended
	inv = llama.model.rotary_emb.inv_freq
	base = 1.0 / (500000.0 ** (torch.arange(0, 32, 2, dtype=torch.int64).float() / 32))
	assert not torch.equal(inv, base), "llama3 scaling not applied"
	put("llama.inv_freq", inv.float())

	MARGIN[0] = float("inf")
	run_model("qwen2", qwen, qtok, os.path.join(OUT, "lora-qwen2"),
		  (4, 8, ("q_proj", "k_proj", "v_proj", "o_proj"), 11))
	MARGIN[0] = float("inf")
	run_model("llama", llama, ltok, os.path.join(OUT, "lora-llama"),
		  (8, 16, LINEARS, 12))

	ids = ltok("mov rax, rbx", add_special_tokens=True)["input_ids"]
	put("untied.p0.ids", torch.tensor(ids, dtype=torch.int32))
	put("untied.p0.logits", logits_ids(untied, ids))

	fresh = Qwen2ForCausalLM.from_pretrained(qdir, dtype=torch.float32, attn_implementation="eager").eval()
	cli_records(fresh, qtok, os.path.join(OUT, "cli-qwen2.jsonl"))
	freshl = LlamaForCausalLM.from_pretrained(ldir, dtype=torch.float32, attn_implementation="eager").eval()
	cli_records(freshl, ltok, os.path.join(OUT, "cli-llama.jsonl"), n_named=4, eos=(510, 511))

	# one weight's packed NF4 bytes, for a bit-exact test of the quantizer
	w = qwen.model.layers[0].self_attn.k_proj.weight
	packed, absmax = nf4_quantize(w)
	put("nf4.q.qwen2.layers.0.k_proj.packed", packed)
	put("nf4.q.qwen2.layers.0.k_proj.absmax", absmax)

	save_file(G, os.path.join(OUT, "golden.safetensors"),
		  metadata={"generator": "tests/gen/gen_llm.py", "torch": torch.__version__,
			    "transformers": transformers.__version__})
	total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
	print(f"wrote {OUT}: {total} bytes", file=sys.stderr)


if __name__ == "__main__":
	main()
