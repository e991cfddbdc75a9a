/* lora.h: LoRA beside a frozen linear, as PEFT computes it, on any device.
 *
 *   y[M,N] = x[M,K] · W[N,K]^T (+ bias[N])  +  scale · (drop(x) · A[r,K]^T) · B[N,r]^T
 *
 * scale = alpha / r (PEFT; alpha / sqrt(r) with use_rslora, the caller's
 * choice).  W is fp32, bf16 or NF4 (nf4.h) and gets no gradient (QLoRA);
 * A and B are fp32 and get theirs ACCUMULATED (+=, ops.h's rule); dx is
 * ASSIGNED, or += with acc.  Dropout (nn.Dropout, inverted: kept inputs are
 * multiplied by 1/(1-p)) is applied to the LoRA branch's input only; p = 0
 * (inference, eval) skips it.
 *
 * Everything is a composition of dev.h ops (matmul, scale, add, the NF4
 * linear and the dropout kernel), so the same code runs on the CPU and on
 * CUDA; all pointers are device pointers.
 *
 * The dropout mask is a function of (seed, element index) only, a splitmix64
 * hash (lora_keep below), so the CPU and the GPU drop the same elements and a
 * step can be replayed; the mask and the dropped input are kept in the cache
 * for the backward.  (torch's own dropout RNG cannot be reproduced; the
 * PyTorch golden in tests/gen/gen_lora.py uses this mask.) */
#ifndef ASMNAME_LORA_H
#define ASMNAME_LORA_H

#include <stddef.h>
#include <stdint.h>

#include "dev.h"
#include "err.h"
#include "nf4.h"

#ifdef __CUDACC__
#define LORA_HD __host__ __device__
#else
#define LORA_HD
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* splitmix64 of (seed, i): the uniform [0,1) with 24 bits, exact in fp32. */
static inline LORA_HD float lora_uniform(uint64_t seed, uint64_t i)
{
	uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	z ^= z >> 31;
	return (float)(z >> 40) * (1.0f / 16777216.0f);
}

/* 1 when element i survives dropout with probability p. */
static inline LORA_HD int lora_keep(uint64_t seed, uint64_t i, float p)
{
	return lora_uniform(seed, i) >= p;
}

/* The frozen base linear.  Pointers on the device of the call. */
enum { LORA_BASE_F32 = 0, LORA_BASE_BF16 = 1, LORA_BASE_NF4 = 2 };
typedef struct lora_base {
	int               kind;   /* LORA_BASE_* */
	const void       *w;      /* F32 / BF16 (raw bits): [N,K] */
	const nf4_tensor *nf4;    /* NF4: a host struct whose pointers are on the device */
	const float      *bias;   /* [N] or NULL */
	int               N, K;
} lora_base;

/* What the backward needs from the forward, plus scratch; sized once for up
 * to Mmax rows (no allocation per call). */
typedef struct lora_cache {
	int      Mmax, K, N, r;
	int      dropout;   /* 1: xd and mask exist */
	float   *xd;        /* [Mmax,K] drop(x) */
	uint8_t *mask;      /* [Mmax,K] 1 kept, 0 dropped */
	float   *h;         /* [Mmax,r] scale · drop(x)·A^T */
	float   *t;         /* [Mmax,max(N,r)] scratch */
	float   *g;         /* [Mmax,K] scratch (the branch's dx) */
} lora_cache;

/* dropout != 0 reserves the mask and xd (training with p > 0). */
int  lora_cache_init(lora_cache *c, an_dev *d, int Mmax, int K, int N, int r, int dropout,
		an_err *e);
void lora_cache_free(lora_cache *c, an_dev *d);

/* y = base(x) + scale · (drop(x) A^T) B^T.  r = 0 (or A NULL) is the base
 * alone.  p > 0 needs a cache made with dropout; seed picks the mask (element
 * i of x[M,K] is kept when lora_keep(seed, i, p)): give every linear and every
 * step its own seed (a hash of step, layer and module), or they share masks. */
int lora_forward(an_dev *d, float *y /*[M,N]*/, const float *x /*[M,K]*/,
		const lora_base *base, const float *A /*[r,K]*/, const float *B /*[N,r]*/,
		int r, float scale, float p, uint64_t seed, lora_cache *c, int M, an_err *e);

/* After lora_forward with the same x, cache and p:
 *   dA[r,K] += dh^T · drop(x),  dB[N,r] += dy^T · h,   (dh = scale · dy · B)
 *   dx[M,K]  = dy · W + drop'(dh · A)   (+= when acc)
 * dA, dB or dx may be NULL. */
int lora_backward(an_dev *d, float *dx /*[M,K]*/, float *dA /*[r,K]*/, float *dB /*[N,r]*/,
		const float *dy /*[M,N]*/, const float *x /*[M,K]*/, const lora_base *base,
		const float *A, const float *B, int r, float scale, float p,
		lora_cache *c, int M, int acc, an_err *e);

/* Host oracle of the dropout op (what dev_dropout_forward computes):
 * mask[i] = lora_keep(seed, i, p), out[i] = mask ? inp[i] / (1 - p) : 0
 * (as inp[i] * (1.0f / (1.0f - p))).  out may alias inp; mask may be NULL. */
void lora_dropout_cpu(float *out, uint8_t *mask, const float *inp, float p, uint64_t seed,
		size_t n);
/* dinp[i] = mask[i] ? dout[i] * (1/(1-p)) : 0 (dinp may alias dout). */
void lora_dropout_backward_cpu(float *dinp, const float *dout, const uint8_t *mask, float p,
		size_t n);

#ifdef __cplusplus
}
#endif

#endif
