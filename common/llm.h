/* llm.h: the decoder LLMs (Qwen2ForCausalLM, LlamaForCausalLM) for inference:
 * config.json, (sharded) safetensors, bf16 / fp32 / NF4 base weights, PEFT
 * LoRA adapters, batched forward with a KV cache, input-embedding rows
 * (soft-prompt prefix) before the prompt, and the source embedding src_emb.
 *
 *	llm *m = llm_load("models/qwen", &opt, dev, &e);      // config + weights
 *	llm_lora_load(m, "models/lora", &e);                   // optional
 *	llm_ctx *c = llm_ctx_new(m, 8, 512, 0, &e);            // 8 rows, 512 positions
 *	llm_seq s[2] = {{prefix, 32, ids, n}, ...};
 *	llm_prefill(c, s, 2, 0, logits, &e);                   // logits [2, V]
 *	llm_step(c, next, logits, &e);                         // one token a row
 *
 * The maths is transformers' (reference/decoder-stack.md §1): pre-norm
 * blocks h = x + o(attn(rmsnorm(x))), out = h + down(silu(gate(n)) * up(n)),
 * n = rmsnorm(h); rotate-half RoPE with theta from the config and Llama-3's
 * frequency rescaling (rope_type "llama3"); grouped-query attention (q head h
 * reads kv head h / (Hq/Hkv)), scale 1/sqrt(head_dim); final RMSNorm, then
 * the LM head (tied: the embedding matrix).  All activations are fp32; every
 * op goes through dev.h, so the same code runs on the CPU and on CUDA.
 *
 * Batches are LEFT-padded, as transformers pads for generation: row b of a
 * batch of B sequences with lengths n_b (prefix rows + ids) occupies cache
 * slots [L - n_b, L) where L = max n_b; padding slots are masked out of
 * attention, and the positions given to RoPE are slot - pad_b, so every row
 * sees positions 0 .. n_b - 1 exactly as it would alone.  Prefix rows take
 * positions 0 .. P-1 and the prompt P, P+1, ... (PEFT soft prompts).
 *
 * Weights: linear weights of the decoder layers are stored as LLM_Q_F32
 * (fp32), LLM_Q_BF16 (bf16, fp32 accumulation) or LLM_Q_NF4 (bitsandbytes
 * NF4 quantized at load from the checkpoint's values, blocks of 64, with or
 * without double quantization; nf4.h).  As bitsandbytes does, the embedding
 * table, the LM head, the norms and the biases are never quantized: they
 * stay fp32 (LLM_Q_F32) or in the checkpoint's dtype (bf16 or fp32).
 *
 * Memory: weights once at load; a context allocates its KV cache and
 * activations once, from its declared maxima; no allocation per token. */
#ifndef ASMNAME_LLM_H
#define ASMNAME_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "dev.h"
#include "err.h"
#include "nf4.h"
#include "ops.h"

#define LLM_MAX_EOS 8

typedef enum llm_arch { LLM_QWEN2 = 0, LLM_LLAMA = 1 } llm_arch;

typedef enum llm_quant {
	LLM_Q_F32 = 0,    /* everything fp32 */
	LLM_Q_BF16,       /* decoder linears bf16 (an fp32 checkpoint is rounded) */
	LLM_Q_NF4,        /* decoder linears NF4, absmax fp32 */
	LLM_Q_NF4_DQ,     /* NF4 with double-quantized absmax (QLoRA) */
} llm_quant;

typedef struct llm_config {
	llm_arch arch;
	int      vocab;          /* vocab_size: rows of the embedding and the LM head */
	int      d_model;        /* hidden_size */
	int      n_layers;       /* num_hidden_layers */
	int      n_heads;        /* num_attention_heads */
	int      n_kv_heads;     /* num_key_value_heads (default n_heads) */
	int      head_dim;       /* head_dim (default d_model / n_heads) */
	int      d_ff;           /* intermediate_size */
	float    rms_eps;        /* rms_norm_eps */
	int      max_pos;        /* max_position_embeddings */
	int      qkv_bias;       /* Qwen2: always; Llama: attention_bias */
	int      o_bias;         /* Llama attention_bias only */
	int      mlp_bias;       /* Llama mlp_bias */
	int      tied;           /* tie_word_embeddings */
	rope_cfg rope;           /* dim = head_dim, theta, llama3 factors (factor 0: none) */
	int      bos;            /* bos_token_id, -1 if null */
	int      eos[LLM_MAX_EOS];  /* eos_token_id (int or list) */
	int      n_eos;
	char     dtype[16];      /* torch_dtype / dtype as written ("bfloat16"), informational */
} llm_config;

/* Parse a config.json (path of the file or of its directory).  Accepts the
 * published layout (rope_theta + rope_scaling, torch_dtype) and
 * transformers 5's (rope_parameters, dtype).  Errors name the key; unsupported
 * features (another architecture, hidden_act other than silu, sliding-window
 * attention in use, rope types other than default/llama3, partial rotary)
 * are errors, never silently ignored. */
int llm_config_load(llm_config *c, const char *path, an_err *e);
/* The same from a JSON text (name is used in messages). */
int llm_config_parse(llm_config *c, const char *json, size_t len, const char *name, an_err *e);

/* One linear of the decoder (torch layout W[N, K]) with its optional bias
 * and LoRA pair.  Pointers are device pointers (host on the CPU device). */
typedef struct llm_linear {
	int         N, K;
	llm_quant   q;          /* LLM_Q_F32, _BF16 or _NF4(_DQ) */
	void       *w;          /* f32 or bf16 [N, K]; NULL for NF4 */
	nf4_tensor  nf4;        /* NF4: host tensor (CPU) or rebased on the device */
	void       *nf4_mem;    /* NF4 on CUDA: the device copy of nf4.mem */
	float      *bias;       /* [N] or NULL */
	int         r;          /* LoRA rank, 0 = none */
	float      *lora_a;     /* [r, K] */
	float      *lora_b;     /* [N, r] */
	float       lora_scale; /* alpha / r (alpha / sqrt(r) with use_rslora) */
} llm_linear;

enum { LLM_Q, LLM_K, LLM_V, LLM_O, LLM_GATE, LLM_UP, LLM_DOWN, LLM_NLIN };
/* "q_proj", ..., "down_proj" */
extern const char *const llm_lin_names[LLM_NLIN];

typedef struct llm_layer {
	float      *ln1;        /* input_layernorm.weight [d] */
	float      *ln2;        /* post_attention_layernorm.weight [d] */
	llm_linear  lin[LLM_NLIN];
} llm_layer;

typedef struct llm_opts {
	llm_quant quant;        /* storage of the decoder linears */
	int       verbose;      /* load messages on stderr */
} llm_opts;

typedef struct llm {
	llm_config  cfg;
	an_dev     *dev;        /* borrowed */
	llm_quant   quant;
	/* Embedding table on the HOST (rows are gathered there and uploaded):
	 * fp32, or bf16 bits when the checkpoint is bf16 and quant != F32. */
	an_dtype    emb_type;
	void       *emb;        /* [vocab, d] */
	/* LM head on the device: the embedding matrix again when tied. */
	an_dtype    head_type;
	void       *head;       /* [vocab, d] */
	float      *norm;       /* model.norm.weight [d], device */
	llm_layer  *layers;     /* [n_layers] */
	int         lora_r;     /* largest LoRA rank loaded (0: none) */
	int         lora_n;     /* linears carrying LoRA */
	size_t      weight_bytes;   /* device bytes of weights (for bandwidth figures) */
	char        path[1024];
} llm;

/* Load config.json and the weights of a model directory (model.safetensors
 * or model.safetensors.index.json) onto dev.  opt NULL: LLM_Q_F32.  Tensors
 * may be F32, BF16 or F16; shapes are checked against the config; an extra
 * lm_head.weight with a tied config is ignored (as transformers does).
 * NULL with e naming the file and tensor on error. */
llm *llm_load(const char *dir, const llm_opts *opt, an_dev *dev, an_err *e);
void llm_free(llm *m);

/* Apply a PEFT LoRA adapter (directory with adapter_config.json and
 * adapter_model.safetensors).  Every tensor must be
 * base_model.model.<module>.lora_{A,B}[.default].weight for a decoder
 * linear <module> (model.layers.N.self_attn.q_proj ...), A [r, K], B [N, r];
 * scaling = lora_alpha / r (rank_pattern / alpha_pattern honoured,
 * use_rslora: alpha / sqrt(r)).  Refused: use_dora, fan_in_fan_out,
 * bias != "none", modules_to_save, adapters of other modules (embeddings,
 * lm_head), a target module without tensors.  LoRA dropout is an identity at
 * inference.  Replaces an adapter loaded before. */
int llm_lora_load(llm *m, const char *dir, an_err *e);

/* One sequence of a batch: npre input-embedding rows (host fp32 [npre, d])
 * followed by nids token ids (host). */
typedef struct llm_seq {
	const float   *pre;
	int            npre;
	const int32_t *ids;
	int            nids;
} llm_seq;

typedef struct llm_ctx llm_ctx;

/* A context for up to max_rows sequences of up to max_len positions each
 * (prompt + generated).  max_chunk bounds the rows*tokens of one forward
 * pass (0: a default of 4096); longer prefills run in chunks. */
llm_ctx *llm_ctx_new(llm *m, int max_rows, int max_len, int max_chunk, an_err *e);
void     llm_ctx_free(llm_ctx *c);
/* Rows in use and the current length L (slots filled, padding included). */
int      llm_ctx_rows(const llm_ctx *c);
int      llm_ctx_len(const llm_ctx *c);

/* Reset c and run B sequences (left-padded to L = max length) through the
 * model.  logits (host) gets [B, V] for the last position of each row, or,
 * with all != 0, [B, L, V] for every slot (row b's token t is at slot
 * L - n_b + t; padding slots are zero).  logits may be NULL.
 * hidden (host, may be NULL) gets [B, d]: the mean over each row's real
 * slots of the final-norm hidden states (src_emb). */
int llm_prefill(llm_ctx *c, const llm_seq *seqs, int B, int all, float *logits,
		float *hidden, an_err *e);
/* Append one token to every row (ids[rows], host) and give logits [rows, V]
 * of the new position (host). */
int llm_step(llm_ctx *c, const int32_t *ids, float *logits, an_err *e);
/* Keep rows src[0..n): new row i continues old row src[i] (its cache,
 * padding and position); rows may repeat (fork a prompt into beams) or be
 * dropped.  n <= max_rows. */
int llm_ctx_select(llm_ctx *c, const int *src, int n, an_err *e);

/* src_emb for B token sequences: the mean over their tokens of the
 * final-norm hidden states, out[B, d] (host). */
int llm_embed(llm_ctx *c, const llm_seq *seqs, int B, float *out, an_err *e);

/* "qwen2 36 layers d 2048 heads 16/2 ff 11008 vocab 151936 nf4" */
const char *llm_describe(const llm *m, char *buf, size_t len);
const char *llm_quant_name(llm_quant q);
/* "f32", "bf16", "nf4", "nf4-dq"; -1 on anything else. */
int llm_quant_parse(const char *s);

#endif
