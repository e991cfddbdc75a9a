/* dev_cuda.c: the CUDA device (dev.h): device memory on one stream, cuBLAS,
 * and the kernels of kernels/ behind the dev_ops table dev_cuda_ops.
 * Compiled only with ASMNAME_CUDA (make CUDA=1).
 *
 * Every call is asynchronous on the device's stream except upload (which
 * returns when the host buffer may be reused), download, sync and sumsq;
 * those also report an error a kernel recorded in the device flag (an
 * embedding id or a cross-entropy target out of range). */
#ifdef ASMNAME_CUDA

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "cuda_kernels.h"
#include "dev.h"

typedef struct cuda_impl {
	cudaStream_t s;
	cu_blas     *blas;
	void        *ws;         /* workspace: bf16 inputs, NF4 tiles, InfoNCE scratch */
	size_t       ws_bytes;
	int         *flag;       /* device int[4], see cuda_kernels.h */
	double      *dscratch;   /* device double for sumsq */
} cuda_impl;

#define IMPL(d) ((cuda_impl *)(d)->impl)
#define STREAM(d) (IMPL(d)->s)

#define CK(call, e) do { \
	cudaError_t ck_ = (call); \
	if (ck_ != cudaSuccess) { \
		an_err_set((e), "cuda: %s: %s", #call, cudaGetErrorString(ck_)); \
		return -1; \
	} \
} while (0)

void cu_flag_message(const int f[4], an_err *e)
{
	switch (f[0]) {
	case CU_FLAG_EMBEDDING:
		an_err_set(e, "embedding: token %d: id %d outside the vocabulary [0,%d)", f[1], f[2], f[3]);
		break;
	case CU_FLAG_TARGET:
		an_err_set(e, "cross-entropy: position %d: target %d outside [0,%d)", f[1], f[2], f[3]);
		break;
	default:
		an_err_set(e, "cuda kernel reported error %d (%d, %d, %d)", f[0], f[1], f[2], f[3]);
	}
}

/* Synchronize, then report (and clear) a flag a kernel raised. */
static int cuda_finish(an_dev *d, an_err *e)
{
	int f[4];

	CK(cudaMemcpyAsync(f, IMPL(d)->flag, sizeof f, cudaMemcpyDeviceToHost, STREAM(d)), e);
	CK(cudaStreamSynchronize(STREAM(d)), e);
	if (f[0]) {
		cudaMemsetAsync(IMPL(d)->flag, 0, sizeof f, STREAM(d));
		cu_flag_message(f, e);
		return -1;
	}
	return 0;
}

/* The workspace, grown to at least bytes (growing waits for the stream). */
static void *ws_get(an_dev *d, size_t bytes, an_err *e)
{
	cuda_impl *c = IMPL(d);
	cudaError_t err;

	if (bytes <= c->ws_bytes)
		return c->ws;
	if ((err = cudaStreamSynchronize(c->s)) != cudaSuccess) {
		an_err_set(e, "cuda: workspace: %s", cudaGetErrorString(err));
		return NULL;
	}
	cudaFree(c->ws);
	c->ws = NULL;
	c->ws_bytes = 0;
	if ((err = cudaMalloc(&c->ws, bytes)) != cudaSuccess) {
		c->ws = NULL;
		an_err_set(e, "cuda: workspace of %zu bytes: %s", bytes, cudaGetErrorString(err));
		return NULL;
	}
	c->ws_bytes = bytes;
	return c->ws;
}

static void cuda_close(an_dev *d)
{
	cuda_impl *c = IMPL(d);

	if (!c)
		return;
	if (c->s)
		cudaStreamSynchronize(c->s);
	cu_blas_free(c->blas);
	cudaFree(c->ws);
	cudaFree(c->flag);
	cudaFree(c->dscratch);
	if (c->s)
		cudaStreamDestroy(c->s);
	free(c);
	d->impl = NULL;
}

static int cuda_open(an_dev *d, an_err *e)
{
	struct cudaDeviceProp prop;
	cudaError_t err;
	cuda_impl *c;
	int n = 0;

	/* any error here means "no GPU" (no driver, no device, container without one) */
	err = cudaGetDeviceCount(&n);
	if (err != cudaSuccess || n <= 0) {
		an_err_set(e, "no CUDA device (%s)", err != cudaSuccess ? cudaGetErrorString(err) : "none found");
		return -1;
	}
	if (d->index >= n) {
		an_err_set(e, "cuda:%d: only %d device%s", d->index, n, n == 1 ? "" : "s");
		return -1;
	}
	CK(cudaSetDevice(d->index), e);
	CK(cudaGetDeviceProperties(&prop, d->index), e);
	snprintf(d->name, sizeof d->name, "cuda:%d %s", d->index, prop.name);
	if (!(c = calloc(1, sizeof *c))) {
		an_err_set(e, "cuda: out of memory");
		return -1;
	}
	d->impl = c;
	if ((err = cudaStreamCreateWithFlags(&c->s, cudaStreamNonBlocking)) != cudaSuccess ||
	    (err = cudaMalloc((void **)&c->flag, 4 * sizeof(int))) != cudaSuccess ||
	    (err = cudaMalloc((void **)&c->dscratch, sizeof(double))) != cudaSuccess ||
	    (err = cudaMemsetAsync(c->flag, 0, 4 * sizeof(int), c->s)) != cudaSuccess) {
		an_err_set(e, "cuda: set-up: %s", cudaGetErrorString(err));
		cuda_close(d);
		return -1;
	}
	if (cu_blas_init(&c->blas, c->s, e) < 0) {
		cuda_close(d);
		return -1;
	}
	return 0;
}

static void *cuda_malloc(an_dev *d, size_t bytes, an_err *e)
{
	void *p = NULL;
	cudaError_t err = cudaMalloc(&p, bytes ? bytes : 1);

	if (err != cudaSuccess) {
		an_err_set(e, "cuda: allocating %zu bytes: %s", bytes, cudaGetErrorString(err));
		return NULL;
	}
	return p;
}

static void cuda_free(an_dev *d, void *p)
{
	cudaFree(p);   /* waits for the device; an error here has nowhere to go */
}

static int cuda_upload(an_dev *d, void *dst, const void *src, size_t bytes, an_err *e)
{
	if (!bytes)
		return 0;
	CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, STREAM(d)), e);
	CK(cudaStreamSynchronize(STREAM(d)), e);
	return 0;
}

static int cuda_download(an_dev *d, void *dst, const void *src, size_t bytes, an_err *e)
{
	if (bytes)
		CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, STREAM(d)), e);
	return cuda_finish(d, e);
}

static int cuda_copy(an_dev *d, void *dst, const void *src, size_t bytes, an_err *e)
{
	if (bytes)
		CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, STREAM(d)), e);
	return 0;
}

static int cuda_memset(an_dev *d, void *p, int byte, size_t bytes, an_err *e)
{
	if (bytes)
		CK(cudaMemsetAsync(p, byte, bytes, STREAM(d)), e);
	return 0;
}

static int cuda_sync(an_dev *d, an_err *e)
{
	return cuda_finish(d, e);
}

static int cuda_cast(an_dev *d, void *dst, an_dtype dt, const void *src, an_dtype st, size_t n,
		an_err *e)
{
	return cu_cast(STREAM(d), dst, (int)dt, src, (int)st, n, e);
}

static int cuda_matmul_forward(an_dev *d, float *out, const float *inp, const void *w,
		an_dtype wtype, const float *bias, int M, int K, int N, an_err *e)
{
	size_t need = wtype == AN_BF16 ? (size_t)M * K * 2 : 0;
	void *ws = need ? ws_get(d, need, e) : NULL;

	if (need && !ws)
		return -1;
	return cu_matmul_forward(IMPL(d)->blas, STREAM(d), out, inp, w, (int)wtype, bias, M, K, N,
			ws, need, e);
}

static int cuda_matmul_backward(an_dev *d, float *dinp, float *dw, float *dbias,
		const float *dout, const float *inp, const void *w, an_dtype wtype, int M, int K,
		int N, int acc, an_err *e)
{
	size_t need = wtype == AN_BF16 && dinp ? (size_t)M * N * 2 : 0;
	void *ws = need ? ws_get(d, need, e) : NULL;

	if (need && !ws)
		return -1;
	return cu_matmul_backward(IMPL(d)->blas, STREAM(d), dinp, dw, dbias, dout, inp, w,
			(int)wtype, M, K, N, acc, ws, need, e);
}

static int cuda_layernorm_forward(an_dev *d, float *out, float *mean, float *rstd,
		const float *inp, const float *weight, const float *bias, float eps, int M, int C,
		an_err *e)
{
	return cu_layernorm_forward(STREAM(d), out, mean, rstd, inp, weight, bias, eps, M, C, e);
}

static int cuda_layernorm_backward(an_dev *d, float *dinp, float *dweight, float *dbias,
		const float *dout, const float *inp, const float *weight, const float *mean,
		const float *rstd, int M, int C, an_err *e)
{
	return cu_layernorm_backward(STREAM(d), dinp, dweight, dbias, dout, inp, weight, mean, rstd,
			M, C, e);
}

static int cuda_rmsnorm_forward(an_dev *d, float *out, float *rstd, const float *inp,
		const float *weight, float eps, int M, int C, an_err *e)
{
	return cu_rmsnorm_forward(STREAM(d), out, rstd, inp, weight, eps, M, C, e);
}

static int cuda_rmsnorm_backward(an_dev *d, float *dinp, float *dweight, const float *dout,
		const float *inp, const float *weight, const float *rstd, int M, int C, an_err *e)
{
	return cu_rmsnorm_backward(STREAM(d), dinp, dweight, dout, inp, weight, rstd, M, C, e);
}

static int cuda_gelu_forward(an_dev *d, float *out, const float *inp, size_t n, an_err *e)
{
	return cu_gelu_forward(STREAM(d), out, inp, n, e);
}

static int cuda_gelu_backward(an_dev *d, float *dinp, const float *dout, const float *inp,
		size_t n, an_err *e)
{
	return cu_gelu_backward(STREAM(d), dinp, dout, inp, n, e);
}

static int cuda_silu_forward(an_dev *d, float *out, const float *inp, size_t n, an_err *e)
{
	return cu_silu_forward(STREAM(d), out, inp, n, e);
}

static int cuda_silu_backward(an_dev *d, float *dinp, const float *dout, const float *inp,
		size_t n, an_err *e)
{
	return cu_silu_backward(STREAM(d), dinp, dout, inp, n, e);
}

static int cuda_swiglu_forward(an_dev *d, float *out, const float *gate, const float *up,
		size_t n, an_err *e)
{
	return cu_swiglu_forward(STREAM(d), out, gate, up, n, e);
}

static int cuda_swiglu_backward(an_dev *d, float *dgate, float *dup, const float *dout,
		const float *gate, const float *up, size_t n, an_err *e)
{
	return cu_swiglu_backward(STREAM(d), dgate, dup, dout, gate, up, n, e);
}

static int cuda_add_forward(an_dev *d, float *out, const float *a, const float *b, size_t n,
		an_err *e)
{
	return cu_add_forward(STREAM(d), out, a, b, n, e);
}

static int cuda_add_inplace(an_dev *d, float *dst, const float *src, size_t n, an_err *e)
{
	return cu_add_inplace(STREAM(d), dst, src, n, e);
}

static int cuda_scale(an_dev *d, float *x, float s, size_t n, an_err *e)
{
	return cu_scale(STREAM(d), x, s, n, e);
}

static int cuda_rope_forward(an_dev *d, float *out, const float *inp, const float *cos_tab,
		const float *sin_tab, const int *pos, int p0, int B, int T, int H, int D, int pairing,
		an_err *e)
{
	return cu_rope_forward(STREAM(d), out, inp, cos_tab, sin_tab, pos, p0, B, T, H, D, pairing, e);
}

static int cuda_rope_backward(an_dev *d, float *dinp, const float *dout, const float *cos_tab,
		const float *sin_tab, const int *pos, int p0, int B, int T, int H, int D, int pairing,
		an_err *e)
{
	return cu_rope_backward(STREAM(d), dinp, dout, cos_tab, sin_tab, pos, p0, B, T, H, D,
			pairing, e);
}

static int cuda_attention_forward(an_dev *d, float *out, float *lse, const float *q,
		const float *k, const float *v, const int *kmask, const attn_dims *a, an_err *e)
{
	size_t need = cu_attention_ws_bytes(a);
	void *ws = need ? ws_get(d, need, e) : NULL;

	if (need && !ws)
		return -1;
	return cu_attention_forward(STREAM(d), out, lse, q, k, v, kmask, a, ws, need, e);
}

static int cuda_attention_backward(an_dev *d, float *dq, float *dk, float *dv, const float *dout,
		const float *q, const float *k, const float *v, const float *out, const float *lse,
		const int *kmask, const attn_dims *a, an_err *e)
{
	return cu_attention_backward(STREAM(d), dq, dk, dv, dout, q, k, v, out, lse, kmask, a, e);
}

static int cuda_softmax_forward(an_dev *d, float *out, const float *inp, int M, int N, an_err *e)
{
	return cu_softmax_forward(STREAM(d), out, inp, M, N, e);
}

static int cuda_softmax_backward(an_dev *d, float *dinp, const float *dout, const float *out,
		int M, int N, an_err *e)
{
	return cu_softmax_backward(STREAM(d), dinp, dout, out, M, N, e);
}

static int cuda_embedding_forward(an_dev *d, float *out, const int *ids, const float *table,
		int M, int C, int V, an_err *e)
{
	return cu_embedding_forward(STREAM(d), out, ids, table, M, C, V, IMPL(d)->flag, e);
}

static int cuda_embedding_backward(an_dev *d, float *dtable, const float *dout, const int *ids,
		int pad_id, int M, int C, int V, an_err *e)
{
	return cu_embedding_backward(STREAM(d), dtable, dout, ids, pad_id, M, C, V, e);
}

static int cuda_meanpool_forward(an_dev *d, float *out, const float *inp, const int *mask, int B,
		int T, int C, an_err *e)
{
	return cu_meanpool_forward(STREAM(d), out, inp, mask, B, T, C, e);
}

static int cuda_meanpool_backward(an_dev *d, float *dinp, const float *dout, const int *mask,
		int B, int T, int C, an_err *e)
{
	return cu_meanpool_backward(STREAM(d), dinp, dout, mask, B, T, C, e);
}

static int cuda_l2norm_forward(an_dev *d, float *out, float *norm, const float *inp, float eps,
		int M, int C, an_err *e)
{
	return cu_l2norm_forward(STREAM(d), out, norm, inp, eps, M, C, e);
}

static int cuda_l2norm_backward(an_dev *d, float *dinp, const float *dout, const float *inp,
		float eps, int M, int C, an_err *e)
{
	return cu_l2norm_backward(STREAM(d), dinp, dout, inp, eps, M, C, e);
}

static int cuda_crossentropy_forward(an_dev *d, float *loss, float *lse, const float *logits,
		const int *targets, int M, int V, an_err *e)
{
	return cu_crossentropy_forward(STREAM(d), loss, lse, logits, targets, M, V, IMPL(d)->flag, e);
}

static int cuda_crossentropy_backward(an_dev *d, float *dlogits, const float *logits,
		const float *lse, const int *targets, float dloss, int M, int V, an_err *e)
{
	return cu_crossentropy_backward(STREAM(d), dlogits, logits, lse, targets, dloss, M, V, e);
}

static int cuda_infonce_forward(an_dev *d, float *loss, float *logits, const float *a,
		const float *b, float tau, int symmetric, int B, int C, an_err *e)
{
	float *ws = B > 0 ? ws_get(d, ((size_t)B * B + 2 * (size_t)B) * sizeof(float), e) : NULL;

	if (B > 0 && !ws)
		return -1;
	return cu_infonce_forward(IMPL(d)->blas, STREAM(d), loss, logits, a, b, tau, symmetric, B, C,
			ws, e);
}

static int cuda_infonce_backward(an_dev *d, float *da, float *db, float *dtau,
		const float *logits, const float *a, const float *b, float tau, int symmetric,
		float dloss, int B, int C, an_err *e)
{
	float *ws = B > 0 ? ws_get(d, ((size_t)B * B + 2 * (size_t)B) * sizeof(float), e) : NULL;

	if (B > 0 && !ws)
		return -1;
	return cu_infonce_backward(IMPL(d)->blas, STREAM(d), da, db, dtau, logits, a, b, tau,
			symmetric, dloss, B, C, ws, e);
}

static int cuda_adamw_update(an_dev *d, float *param, const float *grad, float *m, float *v,
		size_t n, const adamw_hp *hp, an_err *e)
{
	return cu_adamw_update(STREAM(d), param, grad, m, v, n, hp, e);
}

static int cuda_sumsq(an_dev *d, const float *x, size_t n, double *acc_host, an_err *e)
{
	return cu_sumsq(STREAM(d), x, n, IMPL(d)->dscratch, acc_host, e);
}

static int cuda_nf4_matmul_forward(an_dev *d, float *out, const float *inp, const nf4_tensor *w,
		const float *bias, int M, an_err *e)
{
	size_t need = M > 8 ? cu_nf4_ws_bytes(w) : 0;
	void *ws = need ? ws_get(d, need, e) : NULL;

	if (need && !ws)
		return -1;
	return cu_nf4_matmul_forward(IMPL(d)->blas, STREAM(d), out, inp, w, bias, M, ws, need, e);
}

static int cuda_nf4_matmul_backward(an_dev *d, float *dinp, const float *dout,
		const nf4_tensor *w, int M, int acc, an_err *e)
{
	size_t need = cu_nf4_ws_bytes(w);
	void *ws = ws_get(d, need, e);

	if (!ws)
		return -1;
	return cu_nf4_matmul_backward(IMPL(d)->blas, STREAM(d), dinp, dout, w, M, acc, ws, need, e);
}

static int cuda_dropout_forward(an_dev *d, float *out, uint8_t *mask, const float *inp, float p,
		uint64_t seed, size_t n, an_err *e)
{
	return cu_dropout_forward(STREAM(d), out, mask, inp, p, seed, n, e);
}

static int cuda_dropout_backward(an_dev *d, float *dinp, const float *dout, const uint8_t *mask,
		float p, size_t n, an_err *e)
{
	return cu_dropout_backward(STREAM(d), dinp, dout, mask, p, n, e);
}

const struct dev_ops dev_cuda_ops = {
	.name     = "cuda",
	.open     = cuda_open,
	.close    = cuda_close,
	.malloc   = cuda_malloc,
	.free     = cuda_free,
	.upload   = cuda_upload,
	.download = cuda_download,
	.copy     = cuda_copy,
	.memset   = cuda_memset,
	.sync     = cuda_sync,
	.cast     = cuda_cast,
	.matmul_forward = cuda_matmul_forward,
	.matmul_backward = cuda_matmul_backward,
	.layernorm_forward = cuda_layernorm_forward,
	.layernorm_backward = cuda_layernorm_backward,
	.rmsnorm_forward = cuda_rmsnorm_forward,
	.rmsnorm_backward = cuda_rmsnorm_backward,
	.gelu_forward = cuda_gelu_forward,
	.gelu_backward = cuda_gelu_backward,
	.silu_forward = cuda_silu_forward,
	.silu_backward = cuda_silu_backward,
	.swiglu_forward = cuda_swiglu_forward,
	.swiglu_backward = cuda_swiglu_backward,
	.add_forward = cuda_add_forward,
	.add_inplace = cuda_add_inplace,
	.scale = cuda_scale,
	.rope_forward = cuda_rope_forward,
	.rope_backward = cuda_rope_backward,
	.attention_forward = cuda_attention_forward,
	.attention_backward = cuda_attention_backward,
	.softmax_forward = cuda_softmax_forward,
	.softmax_backward = cuda_softmax_backward,
	.embedding_forward = cuda_embedding_forward,
	.embedding_backward = cuda_embedding_backward,
	.meanpool_forward = cuda_meanpool_forward,
	.meanpool_backward = cuda_meanpool_backward,
	.l2norm_forward = cuda_l2norm_forward,
	.l2norm_backward = cuda_l2norm_backward,
	.crossentropy_forward = cuda_crossentropy_forward,
	.crossentropy_backward = cuda_crossentropy_backward,
	.infonce_forward = cuda_infonce_forward,
	.infonce_backward = cuda_infonce_backward,
	.adamw_update = cuda_adamw_update,
	.sumsq = cuda_sumsq,
	.nf4_matmul_forward = cuda_nf4_matmul_forward,
	.nf4_matmul_backward = cuda_nf4_matmul_backward,
	.dropout_forward = cuda_dropout_forward,
	.dropout_backward = cuda_dropout_backward,
};

#else
/* Built without CUDA: nothing here (ISO C wants a declaration). */
typedef int dev_cuda_unused;
#endif
