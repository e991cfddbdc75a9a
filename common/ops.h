/* ops.h: the CPU reference ops, one forward and one backward per layer.
 *
 * Plain C11 over fp32 host pointers (llm.c style), threaded with OpenMP
 * where it pays, matrix products through OpenBLAS.  These are the oracle:
 * every CUDA kernel is tested against them, every backward here is tested
 * against finite differences, every forward against PyTorch golden files.
 *
 * Conventions (the same in dev.h, which dispatches these per device):
 *   - Shapes are written beside every pointer, row-major, last index fastest.
 *     Letters: M rows (= batch × tokens), K inputs, N outputs, C channels,
 *     B batch, T tokens, H heads, D head dim, V vocabulary.
 *   - BACKWARD RULE: gradients of PARAMETERS are ACCUMULATED (+=), so that
 *     micro-batches accumulate; gradients of ACTIVATIONS (inputs) are
 *     ASSIGNED (=).  Exceptions are named in the function comment (the
 *     `acc` flag of matmul_backward_cpu, add_inplace_cpu).
 *   - Any gradient pointer may be NULL: that gradient is not computed.
 *   - out may alias inp only where the comment says so.
 *   - Reductions accumulate in double or with care; results are fp32.
 *   - Sizes are int (each dimension < 2^31); products are done in size_t.
 *   - The bf16 matmuls and attention keep per-thread scratch between calls
 *     (bf16: ~4 MiB; attention: 128 x Tk floats per thread, 2x backward),
 *     never freed, so that per-token loops do not allocate.
 *   - These functions do not validate shapes (the model does that once at
 *     load time); those that read ids or targets check them and return -1
 *     with a message naming the row, because those come from input data.
 */
#ifndef ASMNAME_OPS_H
#define ASMNAME_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define AN_IGNORE_INDEX (-100)   /* cross-entropy target to skip, as PyTorch */

/* --- matrix product ---------------------------------------------------------
 * C[M,N] = alpha op(A) op(B) + beta C, row-major, as cblas_sgemm (ta, tb: 1 =
 * transposed).  OpenBLAS is set to one thread per call and the product is
 * split across OpenMP threads here (inside a parallel region: one call), so
 * that two thread pools never spin against each other on the same cores.
 * Every product in the ops goes through this; use it for others too. */
void sgemm_cpu(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
		const float *B, int ldb, float beta, float *C, int ldc);

/* --- linear -------------------------------------------------------------
 * out[M,N] = inp[M,K] · w[N,K]^T + bias[N]   (torch.nn.Linear layout)
 * bias may be NULL.  sgemm through OpenBLAS. */
void matmul_forward_cpu(float *out /*[M,N]*/, const float *inp /*[M,K]*/,
		const float *w /*[N,K]*/, const float *bias /*[N] or NULL*/,
		int M, int K, int N);
/* The same with bf16 weights (raw bf16 bit patterns), fp32 accumulation:
 * w is widened tile by tile (no full fp32 copy).  Returns -1 only when the
 * tile buffer cannot be allocated. */
int matmul_forward_bf16_cpu(float *out /*[M,N]*/, const float *inp /*[M,K]*/,
		const uint16_t *w /*[N,K] bf16*/, const float *bias /*[N] or NULL*/,
		int M, int K, int N, an_err *e);
/* dinp[M,K] = dout · w       (ASSIGNED, or += when acc != 0: several
 *                             linears reading one input sum into its grad)
 * dw[N,K]  += dout^T · inp
 * dbias[N] += Σ_m dout[m,:] */
void matmul_backward_cpu(float *dinp /*[M,K] or NULL*/, float *dw /*[N,K] or NULL*/,
		float *dbias /*[N] or NULL*/, const float *dout /*[M,N]*/,
		const float *inp /*[M,K]*/, const float *w /*[N,K]*/,
		int M, int K, int N, int acc);
/* dinp only, bf16 weights (frozen base weights). dinp ASSIGNED or += (acc). */
int matmul_backward_bf16_cpu(float *dinp /*[M,K]*/, const float *dout /*[M,N]*/,
		const uint16_t *w /*[N,K] bf16*/, int M, int K, int N, int acc, an_err *e);

/* --- normalization -------------------------------------------------------
 * LayerNorm over the last dim, biased variance:
 * out = (x - mean) * rstd * weight + bias,  rstd = 1/sqrt(var + eps).
 * mean and rstd are saved for the backward (may be NULL at inference). */
void layernorm_forward_cpu(float *out /*[M,C]*/, float *mean /*[M] or NULL*/,
		float *rstd /*[M] or NULL*/, const float *inp /*[M,C]*/,
		const float *weight /*[C]*/, const float *bias /*[C] or NULL*/,
		float eps, int M, int C);
void layernorm_backward_cpu(float *dinp /*[M,C]*/, float *dweight /*[C]*/, float *dbias /*[C]*/,
		const float *dout /*[M,C]*/, const float *inp /*[M,C]*/,
		const float *weight /*[C]*/, const float *mean /*[M]*/, const float *rstd /*[M]*/,
		int M, int C);

/* RMSNorm (Llama/Qwen2): out = x * rstd * weight, rstd = 1/sqrt(mean(x^2) + eps). */
void rmsnorm_forward_cpu(float *out /*[M,C]*/, float *rstd /*[M] or NULL*/,
		const float *inp /*[M,C]*/, const float *weight /*[C]*/,
		float eps, int M, int C);
void rmsnorm_backward_cpu(float *dinp /*[M,C]*/, float *dweight /*[C]*/,
		const float *dout /*[M,C]*/, const float *inp /*[M,C]*/,
		const float *weight /*[C]*/, const float *rstd /*[M]*/, int M, int C);

/* --- pointwise (n elements; out may alias inp, dinp may alias dout) ------ */
/* GELU, exact erf form: 0.5 x (1 + erf(x / sqrt 2)) (torch default, BERT "gelu");
 * erf and exp here and in softmax, cross-entropy and attention are vexp.h's
 * vectorizable versions, within 3 and 2 ulp of libm's erff and expf. */
void gelu_forward_cpu(float *out, const float *inp, size_t n);
void gelu_backward_cpu(float *dinp, const float *dout, const float *inp, size_t n);
/* SiLU: x * sigmoid(x). */
void silu_forward_cpu(float *out, const float *inp, size_t n);
void silu_backward_cpu(float *dinp, const float *dout, const float *inp, size_t n);
/* SwiGLU: out = silu(gate) * up, elementwise over n (e.g. M × intermediate). */
void swiglu_forward_cpu(float *out /*[n]*/, const float *gate /*[n]*/, const float *up /*[n]*/, size_t n);
void swiglu_backward_cpu(float *dgate /*[n]*/, float *dup /*[n]*/, const float *dout /*[n]*/,
		const float *gate /*[n]*/, const float *up /*[n]*/, size_t n);
/* Residual: out = a + b (out may alias a or b).  Its backward is dout for
 * both inputs: use add_inplace_cpu to sum it into a residual stream grad. */
void add_forward_cpu(float *out, const float *a, const float *b, size_t n);
/* dst += src (the one accumulate-into-activation helper). */
void add_inplace_cpu(float *dst, const float *src, size_t n);
/* x *= s. */
void scale_cpu(float *x, float s, size_t n);

/* --- rotary position embedding -------------------------------------------
 * Tables: cos[P, D/2], sin[P, D/2] for positions 0..P-1 and frequency index
 * i = 0..D/2-1 (angle = pos * inv_freq[i]).  D is the rotary (head) dim.
 * Two pairings of the D dims of a head, both using frequency i for pair i:
 *   ROPE_INTERLEAVED (RoFormer, CLAP): pairs (2i, 2i+1)
 *   ROPE_HALF        (Llama, Qwen2, "rotate_half"): pairs (i, i + D/2)
 * x'[a] = x[a] cos - x[b] sin;  x'[b] = x[b] cos + x[a] sin. */
enum { ROPE_HALF = 0, ROPE_INTERLEAVED = 1 };

typedef struct rope_cfg {
	int    dim;          /* D, even */
	double theta;        /* base: 10000 (RoFormer), 1e6 (Qwen2.5), 500000 (Llama-3) */
	/* llama3 frequency scaling (config rope_scaling.rope_type == "llama3");
	 * factor 0 = none.  Exactly transformers' _compute_llama3_parameters. */
	double factor, low_freq_factor, high_freq_factor;
	double original_max_pos;   /* original_max_position_embeddings */
	/* 1: angles in double then cast (RoFormer's numpy-built table);
	 * 0: inv_freq and pos*inv_freq in fp32 as transformers' Llama/Qwen2. */
	int    f64;
} rope_cfg;

/* Fill the tables for positions [0, P).  -1 on a bad config (odd dim, theta
 * <= 0, inconsistent scaling factors). */
int rope_table_init(float *cos_tab /*[P, D/2]*/, float *sin_tab /*[P, D/2]*/,
		int P, const rope_cfg *c, an_err *e);
/* inv_freq[D/2] as the table uses it (for tests and for kernels). */
int rope_inv_freq(float *inv_freq /*[D/2]*/, const rope_cfg *c, an_err *e);

/* Rotate x[B, T, H, D] in place or into out (may alias inp).  Token t of
 * row b is at position pos[b*T + t] when pos != NULL, else p0 + t; every
 * position must be < P of the table (not checked: the model sizes it). */
void rope_forward_cpu(float *out /*[B,T,H,D]*/, const float *inp /*[B,T,H,D]*/,
		const float *cos_tab /*[P,D/2]*/, const float *sin_tab /*[P,D/2]*/,
		const int *pos /*[B,T] or NULL*/, int p0, int B, int T, int H, int D, int pairing);
/* The inverse rotation: dinp = R^T dout (dinp may alias dout). */
void rope_backward_cpu(float *dinp /*[B,T,H,D]*/, const float *dout /*[B,T,H,D]*/,
		const float *cos_tab, const float *sin_tab,
		const int *pos, int p0, int B, int T, int H, int D, int pairing);

/* --- attention -----------------------------------------------------------
 * Scaled dot-product attention, multi-head with grouped-query heads:
 * query head h reads kv head h / (Hq / Hkv) (Hkv divides Hq; torch repeat_kv).
 * Queries are at positions p0 .. p0+Tq-1 of the key axis (a KV cache: the
 * new tokens' keys are already written at [p0, p0+Tq)); keys [0, Tk).
 * k and v are buffers of Tkmax >= Tk rows per batch item (the cache).
 *   s[j] = scale * q·k_j   (+ masks),   p = softmax_j(s),   out = Σ_j p_j v_j
 * Masks: causal (key j visible to query i iff j <= p0 + i) and/or kmask
 * (key j of item b visible iff kmask[b*Tkmax + j] != 0, the padding mask).
 * A query that sees no key gets out = 0 and lse = -inf.
 * Memory: scratch of 128 x Tk floats per thread (2x in the backward), not
 * B x H x Tq x Tk: sgemm over blocks of 128 queries of one head; the backward
 * recomputes the probabilities from lse (flash-attention style).  Threads
 * split (item, head, block) units in the forward and (item, kv head) units
 * in the backward.  The padding mask of a query row itself is not applied:
 * padded queries get ordinary outputs (as in PyTorch); mask them downstream. */
typedef struct attn_dims {
	int   B, Tq, Tk, Tkmax;  /* batch, queries, keys visible, key rows in k/v */
	int   Hq, Hkv, D;        /* query heads, kv heads, head dim */
	int   p0;                /* position of query 0 on the key axis */
	int   causal;            /* 1: causal mask */
	float scale;             /* usually 1/sqrt(D) */
} attn_dims;

void attention_forward_cpu(float *out /*[B,Tq,Hq,D]*/, float *lse /*[B,Hq,Tq] or NULL*/,
		const float *q /*[B,Tq,Hq,D]*/, const float *k /*[B,Tkmax,Hkv,D]*/,
		const float *v /*[B,Tkmax,Hkv,D]*/, const int *kmask /*[B,Tkmax] or NULL*/,
		const attn_dims *a);
/* dq ASSIGNED [B,Tq,Hq,D]; dk, dv ASSIGNED on rows [0,Tk) of [B,Tkmax,Hkv,D]
 * (rows >= Tk untouched).  Needs out and lse from the forward. */
void attention_backward_cpu(float *dq, float *dk, float *dv, const float *dout /*[B,Tq,Hq,D]*/,
		const float *q, const float *k, const float *v,
		const float *out /*[B,Tq,Hq,D]*/, const float *lse /*[B,Hq,Tq]*/,
		const int *kmask, const attn_dims *a);
/* The same maths a query row at a time with no scratch memory at all (the
 * fallback when the blocked versions above cannot allocate their QB x Tk
 * scratch, and a second oracle in the tests). */
void attention_forward_ref_cpu(float *out, float *lse, const float *q, const float *k,
		const float *v, const int *kmask, const attn_dims *a);
void attention_backward_ref_cpu(float *dq, float *dk, float *dv, const float *dout,
		const float *q, const float *k, const float *v, const float *out, const float *lse,
		const int *kmask, const attn_dims *a);

/* --- softmax over the last dim ------------------------------------------ */
void softmax_forward_cpu(float *out /*[M,N]*/, const float *inp /*[M,N]*/, int M, int N);
/* dinp = p * (dout - Σ dout*p); dinp may alias dout. */
void softmax_backward_cpu(float *dinp /*[M,N]*/, const float *dout /*[M,N]*/,
		const float *out /*[M,N]*/, int M, int N);

/* --- embedding -----------------------------------------------------------
 * out[m,:] = table[ids[m],:].  -1 if an id is outside [0,V). */
int embedding_forward_cpu(float *out /*[M,C]*/, const int *ids /*[M]*/,
		const float *table /*[V,C]*/, int M, int C, int V, an_err *e);
/* dtable[ids[m],:] += dout[m,:] (scatter-add), skipping rows whose id ==
 * pad_id (nn.Embedding padding_idx; -1 for none).  ids assumed checked. */
void embedding_backward_cpu(float *dtable /*[V,C]*/, const float *dout /*[M,C]*/,
		const int *ids /*[M]*/, int pad_id, int M, int C, int V);

/* --- pooling and normalization of vectors ------------------------------
 * out[b,:] = Σ_t m[b,t] x[b,t,:] / max(Σ_t m[b,t], 1e-9), m = mask != 0
 * (sentence-transformers mean pooling, as CLAP's AsmEncoder). */
void meanpool_forward_cpu(float *out /*[B,C]*/, const float *inp /*[B,T,C]*/,
		const int *mask /*[B,T] or NULL = all*/, int B, int T, int C);
void meanpool_backward_cpu(float *dinp /*[B,T,C]*/, const float *dout /*[B,C]*/,
		const int *mask /*[B,T] or NULL*/, int B, int T, int C);
/* out[m,:] = x / max(||x||_2, eps)  (F.normalize, eps 1e-12).  norm saved. */
void l2norm_forward_cpu(float *out /*[M,C]*/, float *norm /*[M] or NULL*/,
		const float *inp /*[M,C]*/, float eps, int M, int C);
void l2norm_backward_cpu(float *dinp /*[M,C]*/, const float *dout /*[M,C]*/,
		const float *inp /*[M,C]*/, float eps, int M, int C);

/* --- losses ----------------------------------------------------------------
 * Cross-entropy over logits[M,V] with integer targets; rows whose target is
 * AN_IGNORE_INDEX are skipped; loss = mean over the n_valid others (0 when
 * none, where torch would give NaN).  lse[M] is saved for the backward.
 * -1 if a target is outside [0,V) and not ignored. */
int crossentropy_forward_cpu(float *loss /*[1]*/, float *lse /*[M]*/,
		const float *logits /*[M,V]*/, const int *targets /*[M]*/,
		int M, int V, an_err *e);
/* dlogits = dloss * (softmax(logits) - onehot(target)) / n_valid, 0 on
 * ignored rows.  dlogits may alias logits (saves a [M,V] buffer). */
void crossentropy_backward_cpu(float *dlogits /*[M,V]*/, const float *logits /*[M,V]*/,
		const float *lse /*[M]*/, const int *targets /*[M]*/, float dloss, int M, int V);

/* InfoNCE with in-batch negatives: logits[i,j] = a_i·b_j / tau; the positive
 * of row i is column i.  loss = CE(logits rows), or with symmetric = 1
 * (CLIP) (CE(rows) + CE(columns)) / 2.  a and b are usually L2-normalized.
 * logits is written (the caller may mine hard negatives from it). */
void infonce_forward_cpu(float *loss /*[1]*/, float *logits /*[B,B]*/,
		const float *a /*[B,C]*/, const float *b /*[B,C]*/,
		float tau, int symmetric, int B, int C);
/* da, db ASSIGNED; dtau (may be NULL) += dloss/dtau for a learned temperature. */
void infonce_backward_cpu(float *da /*[B,C]*/, float *db /*[B,C]*/, float *dtau /*[1]*/,
		const float *logits /*[B,B]*/, const float *a, const float *b,
		float tau, int symmetric, float dloss, int B, int C);

/* --- optimizer -------------------------------------------------------------
 * AdamW as torch.optim.AdamW: p -= lr*wd*p; m = b1 m + (1-b1) g;
 * v = b2 v + (1-b2) g^2; p -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps).
 * t is the 1-based step.  Per-group learning rates: call once per group's
 * range (arena.h does that from its group table). */
typedef struct adamw_hp {
	float lr, beta1, beta2, eps, weight_decay;
	int   t;
} adamw_hp;
void adamw_update_cpu(float *param, const float *grad, float *m, float *v,
		size_t n, const adamw_hp *hp);

/* Σ x^2 in double (for the global gradient norm over several buffers). */
double sumsq_cpu(const float *x, size_t n);
/* torch.nn.utils.clip_grad_norm_ on one buffer: norm = ||g||; if norm >
 * max_norm, g *= max_norm / (norm + 1e-6).  Returns the norm before clipping.
 * Several buffers: sum sumsq_cpu of each, sqrt, clip_coef as above, scale_cpu. */
float clip_grad_norm_cpu(float *g, size_t n, float max_norm);
/* torch's coefficient for a total norm: min(1, max_norm / (norm + 1e-6)). */
float clip_coef(double norm, float max_norm);

#endif
