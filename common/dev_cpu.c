/* dev_cpu.c: the CPU device: host memory, and ops.h behind the dev_ops table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "dev.h"
#include "half.h"

static int cpu_open(an_dev *d, an_err *e)
{
	int n = 1;

#ifdef _OPENMP
	n = omp_get_max_threads();
#endif
	snprintf(d->name, sizeof d->name, "cpu (%d thread%s)", n, n == 1 ? "" : "s");
	return 0;
}

static void *cpu_malloc(an_dev *d, size_t bytes, an_err *e)
{
	void *p = NULL;

	/* 64-byte alignment for vector loads; never a NULL for 0 bytes */
	if (posix_memalign(&p, 64, bytes ? bytes : 1) != 0) {
		errno = ENOMEM;
		an_err_sys(e, "cpu: allocating %zu bytes", bytes);
		return NULL;
	}
	return p;
}

static void cpu_free(an_dev *d, void *p)
{
	free(p);
}

static int cpu_memcpy(an_dev *d, void *dst, const void *src, size_t bytes, an_err *e)
{
	if (bytes)
		memmove(dst, src, bytes);
	return 0;
}

static int cpu_memset(an_dev *d, void *p, int byte, size_t bytes, an_err *e)
{
	if (bytes)
		memset(p, byte, bytes);
	return 0;
}

static int cpu_sync(an_dev *d, an_err *e)
{
	return 0;
}

static int cpu_cast(an_dev *d, void *dst, an_dtype dt, const void *src, an_dtype st, size_t n,
		an_err *e)
{
	if (dt == st) {
		size_t sz = dt == AN_F32 ? 4 : 2;

		memmove(dst, src, n * sz);
		return 0;
	}
	if (dt == AN_F32 && st == AN_BF16)
		bf16_to_f32_n(dst, src, n);
	else if (dt == AN_F32 && st == AN_F16)
		f16_to_f32_n(dst, src, n);
	else if (dt == AN_BF16 && st == AN_F32)
		f32_to_bf16_n(dst, src, n);
	else if (dt == AN_F16 && st == AN_F32)
		f32_to_f16_n(dst, src, n);
	else {
		an_err_set(e, "cast: from dtype %d to %d not supported", st, dt);
		return -1;
	}
	return 0;
}

static int cpu_matmul_forward(an_dev *d, float *out, const float *inp, const void *w,
		an_dtype wtype, const float *bias, int M, int K, int N, an_err *e)
{
	if (wtype == AN_F32) {
		matmul_forward_cpu(out, inp, w, bias, M, K, N);
		return 0;
	}
	if (wtype == AN_BF16)
		return matmul_forward_bf16_cpu(out, inp, w, bias, M, K, N, e);
	an_err_set(e, "matmul: weight dtype %d not supported on cpu", wtype);
	return -1;
}

static int cpu_matmul_backward(an_dev *d, float *dinp, float *dw, float *dbias,
		const float *dout, const float *inp, const void *w, an_dtype wtype,
		int M, int K, int N, int acc, an_err *e)
{
	if (wtype == AN_F32) {
		matmul_backward_cpu(dinp, dw, dbias, dout, inp, w, M, K, N, acc);
		return 0;
	}
	if (wtype != AN_BF16) {
		an_err_set(e, "matmul backward: weight dtype %d not supported on cpu", wtype);
		return -1;
	}
	if (dw || dbias) {
		an_err_set(e, "matmul backward: no weight gradient for bf16 weights (frozen)");
		return -1;
	}
	return dinp ? matmul_backward_bf16_cpu(dinp, dout, w, M, K, N, acc, e) : 0;
}

static int cpu_embedding_forward(an_dev *d, float *out, const int *ids, const float *table,
		int M, int C, int V, an_err *e)
{
	return embedding_forward_cpu(out, ids, table, M, C, V, e);
}

static int cpu_crossentropy_forward(an_dev *d, float *loss, float *lse, const float *logits,
		const int *targets, int M, int V, an_err *e)
{
	return crossentropy_forward_cpu(loss, lse, logits, targets, M, V, e);
}

static int cpu_sumsq(an_dev *d, const float *x, size_t n, double *acc_host, an_err *e)
{
	*acc_host += sumsq_cpu(x, n);
	return 0;
}

static int cpu_layernorm_forward(an_dev *d, float *out, float *mean, float *rstd,
		const float *inp, const float *weight, const float *bias, float eps, int M,
		int C, an_err *e)
{
	layernorm_forward_cpu(out, mean, rstd, inp, weight, bias, eps, M, C);
	return 0;
}

static int cpu_layernorm_backward(an_dev *d, float *dinp, float *dweight, float *dbias,
		const float *dout, const float *inp, const float *weight, const float *mean,
		const float *rstd, int M, int C, an_err *e)
{
	layernorm_backward_cpu(dinp, dweight, dbias, dout, inp, weight, mean, rstd, M, C);
	return 0;
}

static int cpu_rmsnorm_forward(an_dev *d, float *out, float *rstd, const float *inp,
		const float *weight, float eps, int M, int C, an_err *e)
{
	rmsnorm_forward_cpu(out, rstd, inp, weight, eps, M, C);
	return 0;
}

static int cpu_rmsnorm_backward(an_dev *d, float *dinp, float *dweight, const float *dout,
		const float *inp, const float *weight, const float *rstd, int M, int C,
		an_err *e)
{
	rmsnorm_backward_cpu(dinp, dweight, dout, inp, weight, rstd, M, C);
	return 0;
}

static int cpu_gelu_forward(an_dev *d, float *out, const float *inp, size_t n, an_err *e)
{
	gelu_forward_cpu(out, inp, n);
	return 0;
}

static int cpu_gelu_backward(an_dev *d, float *dinp, const float *dout, const float *inp,
		size_t n, an_err *e)
{
	gelu_backward_cpu(dinp, dout, inp, n);
	return 0;
}

static int cpu_silu_forward(an_dev *d, float *out, const float *inp, size_t n, an_err *e)
{
	silu_forward_cpu(out, inp, n);
	return 0;
}

static int cpu_silu_backward(an_dev *d, float *dinp, const float *dout, const float *inp,
		size_t n, an_err *e)
{
	silu_backward_cpu(dinp, dout, inp, n);
	return 0;
}

static int cpu_swiglu_forward(an_dev *d, float *out, const float *gate, const float *up,
		size_t n, an_err *e)
{
	swiglu_forward_cpu(out, gate, up, n);
	return 0;
}

static int cpu_swiglu_backward(an_dev *d, float *dgate, float *dup, const float *dout,
		const float *gate, const float *up, size_t n, an_err *e)
{
	swiglu_backward_cpu(dgate, dup, dout, gate, up, n);
	return 0;
}

static int cpu_add_forward(an_dev *d, float *out, const float *a, const float *b, size_t n,
		an_err *e)
{
	add_forward_cpu(out, a, b, n);
	return 0;
}

static int cpu_add_inplace(an_dev *d, float *dst, const float *src, size_t n, an_err *e)
{
	add_inplace_cpu(dst, src, n);
	return 0;
}

static int cpu_scale(an_dev *d, float *x, float s, size_t n, an_err *e)
{
	scale_cpu(x, s, n);
	return 0;
}

static int cpu_rope_forward(an_dev *d, float *out, const float *inp, const float *cos_tab,
		const float *sin_tab, const int *pos, int p0, int B, int T, int H, int D,
		int pairing, an_err *e)
{
	rope_forward_cpu(out, inp, cos_tab, sin_tab, pos, p0, B, T, H, D, pairing);
	return 0;
}

static int cpu_rope_backward(an_dev *d, float *dinp, const float *dout, const float *cos_tab,
		const float *sin_tab, const int *pos, int p0, int B, int T, int H, int D,
		int pairing, an_err *e)
{
	rope_backward_cpu(dinp, dout, cos_tab, sin_tab, pos, p0, B, T, H, D, pairing);
	return 0;
}

static int cpu_attention_forward(an_dev *d, float *out, float *lse, const float *q,
		const float *k, const float *v, const int *kmask, const attn_dims *a, an_err *e)
{
	attention_forward_cpu(out, lse, q, k, v, kmask, a);
	return 0;
}

static int cpu_attention_backward(an_dev *d, float *dq, float *dk, float *dv, const float *dout,
		const float *q, const float *k, const float *v, const float *out,
		const float *lse, const int *kmask, const attn_dims *a, an_err *e)
{
	attention_backward_cpu(dq, dk, dv, dout, q, k, v, out, lse, kmask, a);
	return 0;
}

static int cpu_softmax_forward(an_dev *d, float *out, const float *inp, int M, int N, an_err *e)
{
	softmax_forward_cpu(out, inp, M, N);
	return 0;
}

static int cpu_softmax_backward(an_dev *d, float *dinp, const float *dout, const float *out,
		int M, int N, an_err *e)
{
	softmax_backward_cpu(dinp, dout, out, M, N);
	return 0;
}

static int cpu_embedding_backward(an_dev *d, float *dtable, const float *dout, const int *ids,
		int pad_id, int M, int C, int V, an_err *e)
{
	embedding_backward_cpu(dtable, dout, ids, pad_id, M, C, V);
	return 0;
}

static int cpu_meanpool_forward(an_dev *d, float *out, const float *inp, const int *mask, int B,
		int T, int C, an_err *e)
{
	meanpool_forward_cpu(out, inp, mask, B, T, C);
	return 0;
}

static int cpu_meanpool_backward(an_dev *d, float *dinp, const float *dout, const int *mask,
		int B, int T, int C, an_err *e)
{
	meanpool_backward_cpu(dinp, dout, mask, B, T, C);
	return 0;
}

static int cpu_l2norm_forward(an_dev *d, float *out, float *norm, const float *inp, float eps,
		int M, int C, an_err *e)
{
	l2norm_forward_cpu(out, norm, inp, eps, M, C);
	return 0;
}

static int cpu_l2norm_backward(an_dev *d, float *dinp, const float *dout, const float *inp,
		float eps, int M, int C, an_err *e)
{
	l2norm_backward_cpu(dinp, dout, inp, eps, M, C);
	return 0;
}

static int cpu_crossentropy_backward(an_dev *d, float *dlogits, const float *logits,
		const float *lse, const int *targets, float dloss, int M, int V, an_err *e)
{
	crossentropy_backward_cpu(dlogits, logits, lse, targets, dloss, M, V);
	return 0;
}

static int cpu_infonce_forward(an_dev *d, float *loss, float *logits, const float *a,
		const float *b, float tau, int symmetric, int B, int C, an_err *e)
{
	infonce_forward_cpu(loss, logits, a, b, tau, symmetric, B, C);
	return 0;
}

static int cpu_infonce_backward(an_dev *d, float *da, float *db, float *dtau,
		const float *logits, const float *a, const float *b, float tau, int symmetric,
		float dloss, int B, int C, an_err *e)
{
	infonce_backward_cpu(da, db, dtau, logits, a, b, tau, symmetric, dloss, B, C);
	return 0;
}

static int cpu_adamw_update(an_dev *d, float *param, const float *grad, float *m, float *v,
		size_t n, const adamw_hp *hp, an_err *e)
{
	adamw_update_cpu(param, grad, m, v, n, hp);
	return 0;
}

const struct dev_ops dev_cpu_ops = {
	.name     = "cpu",
	.open     = cpu_open,
	.malloc   = cpu_malloc,
	.free     = cpu_free,
	.upload   = cpu_memcpy,
	.download = cpu_memcpy,
	.copy     = cpu_memcpy,
	.memset   = cpu_memset,
	.sync     = cpu_sync,
	.cast     = cpu_cast,
	.matmul_forward = cpu_matmul_forward,
	.matmul_backward = cpu_matmul_backward,
	.layernorm_forward = cpu_layernorm_forward,
	.layernorm_backward = cpu_layernorm_backward,
	.rmsnorm_forward = cpu_rmsnorm_forward,
	.rmsnorm_backward = cpu_rmsnorm_backward,
	.gelu_forward = cpu_gelu_forward,
	.gelu_backward = cpu_gelu_backward,
	.silu_forward = cpu_silu_forward,
	.silu_backward = cpu_silu_backward,
	.swiglu_forward = cpu_swiglu_forward,
	.swiglu_backward = cpu_swiglu_backward,
	.add_forward = cpu_add_forward,
	.add_inplace = cpu_add_inplace,
	.scale = cpu_scale,
	.rope_forward = cpu_rope_forward,
	.rope_backward = cpu_rope_backward,
	.attention_forward = cpu_attention_forward,
	.attention_backward = cpu_attention_backward,
	.softmax_forward = cpu_softmax_forward,
	.softmax_backward = cpu_softmax_backward,
	.embedding_forward = cpu_embedding_forward,
	.embedding_backward = cpu_embedding_backward,
	.meanpool_forward = cpu_meanpool_forward,
	.meanpool_backward = cpu_meanpool_backward,
	.l2norm_forward = cpu_l2norm_forward,
	.l2norm_backward = cpu_l2norm_backward,
	.crossentropy_forward = cpu_crossentropy_forward,
	.crossentropy_backward = cpu_crossentropy_backward,
	.infonce_forward = cpu_infonce_forward,
	.infonce_backward = cpu_infonce_backward,
	.adamw_update = cpu_adamw_update,
	.sumsq = cpu_sumsq,
	.nf4_matmul_forward = dev_cpu_nf4_matmul_forward,     /* dev_nf4.c */
	.nf4_matmul_backward = dev_cpu_nf4_matmul_backward,
	.dropout_forward = dev_cpu_dropout_forward,
	.dropout_backward = dev_cpu_dropout_backward,
};
