/* clap.h: the CLAP-ASM encoder (hustcw/clap-asm, a "JRoFormer"), inference.
 *
 * Loads a checkpoint directory as its users download it: config.json (sizes,
 * read with jansson, never hard-coded) and model.safetensors (or a sharded
 * index) with jroformer.* and projection.* tensors in F32, F16 or BF16.
 * The forward is the reference AsmEncoder's (../shared/reference/clap-asm.md
 * §4), eval mode:
 *
 *   x   = LayerNorm(W[tok] + W[ttype])        one table for words and types,
 *                                             no absolute positions
 *   x   = embeddings_project(x)               only when embedding_size != hidden
 *   per layer (post-LN, BERT order):
 *     q, k, v = x·Wq^T, x·Wk^T, x·Wv^T        (biases only if use_bias)
 *     q, k    = rotary, interleaved pairs (2i, 2i+1), positions 0..T-1
 *               (v too when rotary_value)
 *     a   = LayerNorm(softmax(q·k^T/√d + padding mask)·v ·Wo^T + bo + x)
 *     x   = LayerNorm(GELU(a·W1^T + b1)·W2^T + b2 + a)
 *   e   = normalize(projection(mean of x over the real tokens))
 *
 * All parameters live in one arena (arena.h) on the model's device; the ops
 * go through dev.h, so the same code runs on the CPU and on CUDA.  Matrix
 * weights can be used as bf16 (CLAP_BF16) on a device that has the kernels;
 * the CPU default is fp32.
 *
 * Activations are sized once, by clap_reserve, from the largest batch
 * (functions) and the largest padded batch (functions × tokens); nothing is
 * allocated per batch. */
#ifndef ASMNAME_CLAP_H
#define ASMNAME_CLAP_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "dev.h"
#include "err.h"
#include "st.h"

typedef struct clap_config {
	int   vocab;          /* vocab_size: rows of the shared embedding table */
	int   emb;            /* embedding_size (default hidden_size) */
	int   hidden;         /* hidden_size: width of the layers and of the output */
	int   layers;         /* num_hidden_layers */
	int   heads;          /* num_attention_heads */
	int   head_dim;       /* hidden / heads (even) */
	int   ffn;            /* intermediate_size */
	int   max_pos;        /* max_position_embeddings: rows of the rotary table */
	int   pad_id;         /* pad_token_id (used for padding slots only) */
	int   qkv_bias;       /* use_bias */
	int   rotary_value;   /* rotate v too */
	float ln_eps;         /* layer_norm_eps */
} clap_config;

/* Indices into the arena of one layer's tensors (-1 when absent). */
typedef struct clap_layer {
	int wq, wk, wv, bq, bk, bv;
	int wo, bo, ln1_w, ln1_b;
	int w1, b1, w2, b2, ln2_w, ln2_b;
} clap_layer;

typedef struct clap_model {
	clap_config  c;
	an_dev      *dev;          /* borrowed */
	arena        a;            /* parameters, fp32, on dev; names as in the file */
	int          word, ln_w, ln_b, proj_w, proj_b, eproj_w, eproj_b;
	clap_layer  *layer;        /* [layers] */
	an_dtype     wtype;        /* AN_F32 or AN_BF16: the matrix weights handed to matmul */
	uint16_t    *wbf16;        /* bf16 copies of the matrix weights (wtype AN_BF16) */
	size_t      *boff;         /* arena index -> offset into wbf16, (size_t)-1 if none */
	float       *cos_tab, *sin_tab;   /* [max_pos, head_dim/2] on dev */

	/* activations, on dev, sized by clap_reserve */
	int          max_b;        /* functions per batch */
	size_t       max_bt;       /* functions × padded tokens per batch */
	int         *ids, *tts, *mask;    /* [B*T] */
	float       *x, *e, *q, *k, *v, *ctx, *t1, *ff;   /* [B*T, hidden] (e: emb, ff: ffn) */
	float       *pool, *z;     /* [B, hidden] */
	int         *h_ids, *h_tts, *h_mask;   /* host staging [B*T] */
	const int   *h_len;        /* lengths of the batch being run (host) */
	float       *scratch;      /* CPU attention scores (attn_gemm.h) */
	size_t       nscratch;
} clap_model;

/* Read dir/config.json into c, with the checks that do not need the tensors
 * (known model_type, gelu, heads dividing hidden, ...). */
int  clap_config_load(clap_config *c, const char *dir, an_err *e);

/* Load the checkpoint in dir onto d.  Every expected tensor must be in the
 * file with the shape config.json implies, and the file must hold nothing
 * else except jroformer.embeddings.token_type_embeddings.weight (the shared
 * table, which must then equal the word table) and
 * jroformer.encoder.embed_positions.weight (the rotary table, used when
 * present, else computed); the error lists missing and unexpected names.
 * wtype AN_BF16 keeps bf16 copies of the matrix weights for matmul. */
int  clap_load(clap_model *m, const char *dir, an_dev *d, an_dtype wtype, an_err *e);
void clap_free(clap_model *m);

/* Compare the tensors of a checkpoint with the ones declared in an arena:
 * every arena tensor must be in s with its shape, and s may hold nothing else
 * but the names in optional (NULL-terminated, may be NULL).  The error (with
 * where in front) lists the missing and unexpected names, or the first
 * misshapen tensor with both shapes.  Used by proj.c too. */
int  clap_check_tensors(const arena *a, const st *s, const char *const *optional,
		const char *where, an_err *e);

/* Size the activations for batches of at most max_b functions and
 * max_b_t = functions × padded length tokens (called again to grow). */
int  clap_reserve(clap_model *m, int max_b, size_t max_b_t, an_err *e);

/* Check one function's ids before batching it: 0 <= len <= max_pos and every
 * id in [0, vocab).  -1 with "tok[12]: id 40000 outside the vocabulary
 * (33555)"-style messages. */
int  clap_check(const clap_model *m, const int32_t *tok, const int32_t *ttype, size_t len,
		an_err *e);

/* Embed B functions: function b is tok[b][0..len[b]) and ttype[b][..] (host
 * pointers, each checked by clap_check first).  out (host) gets B rows of
 * hidden floats, unit L2 norm.  Padded to the longest of the batch; needs
 * clap_reserve(B, B × longest) first (grown here if needed). */
int  clap_embed(clap_model *m, const int32_t *const *tok, const int32_t *const *ttype,
		const int *len, int B, float *out, an_err *e);

#endif
