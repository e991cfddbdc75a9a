/* attn_gemm.h: bidirectional attention for inference on the CPU through
 * BLAS, for right-padded batches (the encoder's case: CLAP-ASM, the
 * projection).
 *
 * Same result as attention_forward_cpu (ops.h) with causal = 0, p0 = 0,
 * Tq = Tk = Tkmax = T, Hq = Hkv = H and a padding mask that keeps the first
 * len[b] tokens of item b, except that the rows of padded queries
 * (t >= len[b]) are set to 0, which no caller reads.  Per (item, head,
 * block of queries) it computes the scores as one sgemm, the softmax, and
 * the output as a second sgemm, over the real keys only; threads take the
 * blocks (OpenMP), each calling single-threaded BLAS.  No lse: forward only. */
#ifndef ASMNAME_ATTN_GEMM_H
#define ASMNAME_ATTN_GEMM_H

#include <stddef.h>

#include "err.h"

/* Floats of scratch that a call with T tokens needs (threads x 128 x T). */
size_t attn_gemm_scratch(int T);

/* out, q, k, v: [B, T, H, D]; len: [B], each in [0, T].  scratch: at least
 * attn_gemm_scratch(T) floats, or NULL to allocate them here; -1 only when
 * that fails. */
int attn_gemm_forward_cpu(float *out, const float *q, const float *k, const float *v,
		const int *len, int B, int T, int H, int D, float scale, float *scratch, an_err *e);

/* exp(x) for x <= 88 as vectorizable float arithmetic (Cephes' range
 * reduction and polynomial; relative error below 2e-7), for softmax. */
void attn_exp_inplace(float *x, int n);

#endif
