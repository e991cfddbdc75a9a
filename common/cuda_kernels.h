/* cuda_kernels.h: the C launchers of the CUDA kernels in kernels/ (CUDA=1 only).
 *
 * Each launcher enqueues its kernels on stream s and returns 0, or -1 with a
 * message naming the file, line and CUDA/cuBLAS error in e (every CUDA and
 * cuBLAS call is checked, and every launch with cudaGetLastError).  The
 * semantics, shapes and backward rule of cu_<op> are those of <op>_cpu in
 * ops.h (or nf4.h, lora.h); pointers are device pointers unless named _host.
 * The dispatch table that calls these is dev_cuda_ops (common/dev_cuda.c).
 *
 * Errors found inside a kernel (an embedding id or a cross-entropy target
 * out of range) cannot be returned at launch: the kernel records the first
 * one in the device flag `flag` (int[4]: op code, row, value, limit) and
 * dev_cuda.c reports it at the next synchronizing call (cu_flag_message). */
#ifndef ASMNAME_CUDA_KERNELS_H
#define ASMNAME_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {   /* err.h and ops.h have no guards of their own */
#endif

#include "err.h"
#include "nf4.h"
#include "ops.h"

enum { CU_FLAG_NONE = 0, CU_FLAG_EMBEDDING = 1, CU_FLAG_TARGET = 2 };
/* The message of a raised flag (host copy of the int[4]). */
void cu_flag_message(const int flag_host[4], an_err *e);

/* ---- cublas.cu: the one owner of cuBLAS / cuBLASLt ------------------------
 * Row-major products with fp32 accumulation:
 *   C[M,N] = alpha · op(A) · op(B) + beta · C   (torch layouts, see each call) */
typedef struct cu_blas cu_blas;
int  cu_blas_init(cu_blas **b, cudaStream_t s, an_err *e);
void cu_blas_free(cu_blas *b);
/* ASMNAME_TF32=1 in the environment at init lets fp32 products use TF32
 * tensor cores (tolerance 1e-3 instead of 1e-5). */
int  cu_blas_tf32(const cu_blas *b);
/* out[M,N] = alpha · a[M,K] · w[N,K]^T + beta · out  (nn.Linear); ldo is
 * out's row stride (>= N, for a column slice of a wider output). */
int cu_blas_linear_f32(cu_blas *b, float *out, int ldo, const float *a, const float *w,
		int M, int K, int N, float alpha, float beta, an_err *e);
/* the same with a and w in bf16 (raw bits), out fp32 */
int cu_blas_linear_bf16(cu_blas *b, float *out, const uint16_t *a, const uint16_t *w,
		int M, int K, int N, float alpha, float beta, an_err *e);
/* out[M,K] = alpha · a[M,N] · w[N,K] + beta · out  (the input gradient);
 * lda is a's row stride (>= N, for a column slice of a wider matrix). */
int cu_blas_nn_f32(cu_blas *b, float *out, const float *a, int lda, const float *w,
		int M, int N, int K, float alpha, float beta, an_err *e);
int cu_blas_nn_bf16(cu_blas *b, float *out, const uint16_t *a, int lda, const uint16_t *w,
		int M, int N, int K, float alpha, float beta, an_err *e);
/* dw[N,K] = alpha · dout[M,N]^T · inp[M,K] + beta · dw  (the weight gradient) */
int cu_blas_tn_f32(cu_blas *b, float *dw, const float *dout, const float *inp,
		int M, int N, int K, float alpha, float beta, an_err *e);
/* Batched attention scores, for the benchmark's cuBLAS reference:
 * s[bh][Tq,Tk] = alpha · q[bh][Tq,D] · k[bh][Tk,D]^T, contiguous per bh. */
int cu_blas_scores_batched(cu_blas *b, float *s, const float *q, const float *k,
		int BH, int Tq, int Tk, int D, float alpha, an_err *e);
/* o[bh][Tq,D] = p[bh][Tq,Tk] · v[bh][Tk,D], contiguous per bh. */
int cu_blas_pv_batched(cu_blas *b, float *o, const float *p, const float *v,
		int BH, int Tq, int Tk, int D, an_err *e);

/* ---- matmul.cu: the linear of ops.h on cuBLAS --------------------------- */
/* wtype 0 = fp32, 1 = bf16 (an_dtype values).  bf16 weights: the input is
 * rounded to bf16 into ws (M*K*2 bytes needed) and the product runs on bf16
 * tensor cores with fp32 accumulation. */
int cu_matmul_forward(cu_blas *b, cudaStream_t s, float *out, const float *inp, const void *w,
		int wtype, const float *bias, int M, int K, int N, void *ws, size_t ws_bytes,
		an_err *e);
int cu_matmul_backward(cu_blas *b, cudaStream_t s, float *dinp, float *dw, float *dbias,
		const float *dout, const float *inp, const void *w, int wtype, int M, int K, int N,
		int acc, void *ws, size_t ws_bytes, an_err *e);

/* ---- nf4.cu ---------------------------------------------------------------
 * w: host struct, pointers on the device.  M <= 8 with K % 64 == 0: the
 * fused matrix-vector kernel (warp per row, 128-bit loads of the codes);
 * otherwise rows are dequantized into ws by tiles and cuBLAS does the product. */
int cu_nf4_matmul_forward(cu_blas *b, cudaStream_t s, float *out, const float *inp,
		const nf4_tensor *w, const float *bias, int M, void *ws, size_t ws_bytes, an_err *e);
int cu_nf4_matmul_backward(cu_blas *b, cudaStream_t s, float *dinp, const float *dout,
		const nf4_tensor *w, int M, int acc, void *ws, size_t ws_bytes, an_err *e);
/* out[nrows, cols] = rows [r0, r0+nrows) of w dequantized (fp32). */
int cu_nf4_dequantize_rows(cudaStream_t s, float *out, const nf4_tensor *w, int64_t r0,
		int64_t nrows, an_err *e);
/* The workspace bytes cu_nf4_* would like (one tile of at most 64 MiB). */
size_t cu_nf4_ws_bytes(const nf4_tensor *w);

/* ---- pointwise: gelu.cu, silu.cu, add.cu, cast.cu, dropout.cu, adamw.cu -- */
int cu_gelu_forward(cudaStream_t s, float *out, const float *inp, size_t n, an_err *e);
int cu_gelu_backward(cudaStream_t s, float *dinp, const float *dout, const float *inp, size_t n,
		an_err *e);
int cu_silu_forward(cudaStream_t s, float *out, const float *inp, size_t n, an_err *e);
int cu_silu_backward(cudaStream_t s, float *dinp, const float *dout, const float *inp, size_t n,
		an_err *e);
int cu_swiglu_forward(cudaStream_t s, float *out, const float *gate, const float *up, size_t n,
		an_err *e);
int cu_swiglu_backward(cudaStream_t s, float *dgate, float *dup, const float *dout,
		const float *gate, const float *up, size_t n, an_err *e);
int cu_add_forward(cudaStream_t s, float *out, const float *a, const float *b, size_t n, an_err *e);
int cu_add_inplace(cudaStream_t s, float *dst, const float *src, size_t n, an_err *e);
int cu_scale(cudaStream_t s, float *x, float f, size_t n, an_err *e);
/* dtype codes as an_dtype: 0 fp32, 1 bf16, 2 fp16 */
int cu_cast(cudaStream_t s, void *dst, int dst_type, const void *src, int src_type, size_t n,
		an_err *e);
int cu_dropout_forward(cudaStream_t s, float *out, uint8_t *mask, const float *inp, float p,
		uint64_t seed, size_t n, an_err *e);
int cu_dropout_backward(cudaStream_t s, float *dinp, const float *dout, const uint8_t *mask,
		float p, size_t n, an_err *e);
int cu_adamw_update(cudaStream_t s, float *param, const float *grad, float *m, float *v,
		size_t n, const adamw_hp *hp, an_err *e);
/* *acc_host += Σ x^2 (double; synchronizes s).  scratch: 1 device double. */
int cu_sumsq(cudaStream_t s, const float *x, size_t n, double *scratch, double *acc_host,
		an_err *e);

/* ---- rows: layernorm.cu, rmsnorm.cu, softmax.cu, l2norm.cu, meanpool.cu -- */
int cu_layernorm_forward(cudaStream_t s, float *out, float *mean, float *rstd, const float *inp,
		const float *weight, const float *bias, float eps, int M, int C, an_err *e);
int cu_layernorm_backward(cudaStream_t s, float *dinp, float *dweight, float *dbias,
		const float *dout, const float *inp, const float *weight, const float *mean,
		const float *rstd, int M, int C, an_err *e);
int cu_rmsnorm_forward(cudaStream_t s, float *out, float *rstd, const float *inp,
		const float *weight, float eps, int M, int C, an_err *e);
int cu_rmsnorm_backward(cudaStream_t s, float *dinp, float *dweight, const float *dout,
		const float *inp, const float *weight, const float *rstd, int M, int C, an_err *e);
int cu_softmax_forward(cudaStream_t s, float *out, const float *inp, int M, int N, an_err *e);
int cu_softmax_backward(cudaStream_t s, float *dinp, const float *dout, const float *out,
		int M, int N, an_err *e);
int cu_l2norm_forward(cudaStream_t s, float *out, float *norm, const float *inp, float eps,
		int M, int C, an_err *e);
int cu_l2norm_backward(cudaStream_t s, float *dinp, const float *dout, const float *inp,
		float eps, int M, int C, an_err *e);
int cu_meanpool_forward(cudaStream_t s, float *out, const float *inp, const int *mask,
		int B, int T, int C, an_err *e);
int cu_meanpool_backward(cudaStream_t s, float *dinp, const float *dout, const int *mask,
		int B, int T, int C, an_err *e);

/* ---- rope.cu, attention.cu ------------------------------------------------ */
int cu_rope_forward(cudaStream_t s, float *out, const float *inp, const float *cos_tab,
		const float *sin_tab, const int *pos, int p0, int B, int T, int H, int D,
		int pairing, an_err *e);
int cu_rope_backward(cudaStream_t s, float *dinp, const float *dout, const float *cos_tab,
		const float *sin_tab, const int *pos, int p0, int B, int T, int H, int D,
		int pairing, an_err *e);
/* Head dims up to 256.  When there are few query rows (decoding) the keys
 * are split among several warps whose partial softmaxes are merged
 * (flash-decoding); that needs cu_attention_ws_bytes(a) bytes of ws (with
 * less, or ws NULL, one warp walks all the keys of a query). */
size_t cu_attention_ws_bytes(const attn_dims *a);
int cu_attention_forward(cudaStream_t s, float *out, float *lse, const float *q, const float *k,
		const float *v, const int *kmask, const attn_dims *a, void *ws, size_t ws_bytes,
		an_err *e);
int cu_attention_backward(cudaStream_t s, float *dq, float *dk, float *dv, const float *dout,
		const float *q, const float *k, const float *v, const float *out, const float *lse,
		const int *kmask, const attn_dims *a, an_err *e);

/* ---- embedding.cu, crossentropy.cu, infonce.cu ----------------------------- */
int cu_embedding_forward(cudaStream_t s, float *out, const int *ids, const float *table,
		int M, int C, int V, int *flag, an_err *e);
int cu_embedding_backward(cudaStream_t s, float *dtable, const float *dout, const int *ids,
		int pad_id, int M, int C, int V, an_err *e);
int cu_crossentropy_forward(cudaStream_t s, float *loss, float *lse, const float *logits,
		const int *targets, int M, int V, int *flag, an_err *e);
int cu_crossentropy_backward(cudaStream_t s, float *dlogits, const float *logits,
		const float *lse, const int *targets, float dloss, int M, int V, an_err *e);
/* ws: B*B + 2*B floats of device scratch (both directions). */
int cu_infonce_forward(cu_blas *b, cudaStream_t s, float *loss, float *logits, const float *a,
		const float *bb, float tau, int symmetric, int B, int C, float *ws, an_err *e);
int cu_infonce_backward(cu_blas *b, cudaStream_t s, float *da, float *db, float *dtau,
		const float *logits, const float *a, const float *bb, float tau, int symmetric,
		float dloss, int B, int C, float *ws, an_err *e);

#ifdef __cplusplus
}
#endif

#endif
