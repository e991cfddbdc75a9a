/* dev.c: opening a device and dispatching ops through its table (dev.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include "dev.h"

#ifdef _OPENMP
#include <omp.h>
#endif

void openblas_set_num_threads(int);

#ifdef ASMNAME_CUDA
/* Weak, so that the library links while the CUDA table is being written. */
extern const struct dev_ops dev_cuda_ops __attribute__((weak));
#define CUDA_TABLE (&dev_cuda_ops)
#else
#define CUDA_TABLE ((const struct dev_ops *)NULL)
#endif

int dev_have_cuda(void)
{
	return CUDA_TABLE != NULL;
}

static an_dev *dev_try(const struct dev_ops *ops, int kind, int index, int verbose, an_err *e)
{
	an_dev *d = calloc(1, sizeof *d);

	if (!d) {
		an_err_sys(e, "device %s", ops->name);
		return NULL;
	}
	d->kind = kind;
	d->ops = ops;
	d->verbose = verbose;
	d->index = index;
	snprintf(d->name, sizeof d->name, "%s", ops->name);
	if (ops->open && ops->open(d, e) < 0) {
		free(d);
		return NULL;
	}
	return d;
}

void dev_set_threads(int n)
{
	if (n <= 0)
		return;
#ifdef _OPENMP
	omp_set_num_threads(n);
#endif
	openblas_set_num_threads(1);
}

an_dev *dev_open(const char *spec, int verbose, an_err *e)
{
	int index = 0;

	if (!spec || !*spec)
		spec = "auto";
	if (strcmp(spec, "cpu") == 0)
		return dev_try(&dev_cpu_ops, AN_DEV_CPU, 0, verbose, e);
	if (strncmp(spec, "cuda", 4) == 0 && (spec[4] == '\0' || spec[4] == ':')) {
		if (spec[4] == ':') {
			char *end;
			long v = strtol(spec + 5, &end, 10);

			if (end == spec + 5 || *end || v < 0 || v > 1024) {
				an_err_set(e, "device \"%s\": expected cuda:N", spec);
				return NULL;
			}
			index = (int)v;
		}
		if (!CUDA_TABLE) {
			an_err_set(e, "device \"%s\": this build has no CUDA support (make CUDA=1)",
					spec);
			return NULL;
		}
		an_dev *d = dev_try(CUDA_TABLE, AN_DEV_CUDA, index, verbose, e);
		if (!d)
			an_err_prefix(e, "device \"%s\"", spec);
		return d;
	}
	if (strcmp(spec, "auto") != 0) {
		an_err_set(e, "device \"%s\": expected auto, cpu, cuda or cuda:N", spec);
		return NULL;
	}
	if (CUDA_TABLE) {
		an_err ce = {0};
		an_dev *d = dev_try(CUDA_TABLE, AN_DEV_CUDA, 0, verbose, &ce);

		if (d) {
			if (verbose)
				fprintf(stderr, "device: %s\n", d->name);
			return d;
		}
		if (verbose)
			fprintf(stderr, "device: no usable GPU (%s); using the CPU\n", ce.msg);
	} else if (verbose) {
		fprintf(stderr, "device: built without CUDA; using the CPU\n");
	}
	an_dev *d = dev_try(&dev_cpu_ops, AN_DEV_CPU, 0, verbose, e);
	if (d && verbose)
		fprintf(stderr, "device: %s\n", d->name);
	return d;
}

void dev_close(an_dev *d)
{
	if (!d)
		return;
	if (d->ops->close)
		d->ops->close(d);
	free(d);
}

/* An op the table lacks is an error, never a crash. */
#define OP(op) do { \
	if (!d->ops->op) { \
		an_err_set(e, "op %s: no kernel on %s", #op, d->ops->name); \
		return -1; \
	} \
} while (0)

void *dev_malloc(an_dev *d, size_t bytes, an_err *e)
{
	if (!d->ops->malloc) {
		an_err_set(e, "op malloc: no kernel on %s", d->ops->name);
		return NULL;
	}
	return d->ops->malloc(d, bytes, e);
}

void dev_free(an_dev *d, void *p)
{
	if (p && d->ops->free)
		d->ops->free(d, p);
}

int dev_upload(an_dev *d, void *dst, const void *src_host, size_t bytes, an_err *e)
{
	OP(upload);
	return d->ops->upload(d, dst, src_host, bytes, e);
}

int dev_download(an_dev *d, void *dst_host, const void *src, size_t bytes, an_err *e)
{
	OP(download);
	return d->ops->download(d, dst_host, src, bytes, e);
}

int dev_copy(an_dev *d, void *dst, const void *src, size_t bytes, an_err *e)
{
	OP(copy);
	return d->ops->copy(d, dst, src, bytes, e);
}

int dev_memset(an_dev *d, void *p, int byte, size_t bytes, an_err *e)
{
	OP(memset);
	return d->ops->memset(d, p, byte, bytes, e);
}

int dev_sync(an_dev *d, an_err *e)
{
	OP(sync);
	return d->ops->sync(d, e);
}

int dev_cast(an_dev *d, void *dst, an_dtype dst_type, const void *src, an_dtype src_type,
		size_t n, an_err *e)
{
	OP(cast);
	return d->ops->cast(d, dst, dst_type, src, src_type, n, e);
}

int dev_matmul_forward(an_dev *d, float *out, const float *inp, const void *w, an_dtype wtype,
		const float *bias, int M, int K, int N, an_err *e)
{
	OP(matmul_forward);
	return d->ops->matmul_forward(d, out, inp, w, wtype, bias, M, K, N, e);
}

int dev_matmul_backward(an_dev *d, float *dinp, float *dw, float *dbias, const float *dout,
		const float *inp, const void *w, an_dtype wtype, int M, int K, int N, int acc,
		an_err *e)
{
	OP(matmul_backward);
	return d->ops->matmul_backward(d, dinp, dw, dbias, dout, inp, w, wtype, M, K, N, acc, e);
}

int dev_layernorm_forward(an_dev *d, float *out, float *mean, float *rstd, const float *inp,
		const float *weight, const float *bias, float eps, int M, int C, an_err *e)
{
	OP(layernorm_forward);
	return d->ops->layernorm_forward(d, out, mean, rstd, inp, weight, bias, eps, M, C, e);
}

int dev_layernorm_backward(an_dev *d, float *dinp, float *dweight, float *dbias,
		const float *dout, const float *inp, const float *weight, const float *mean,
		const float *rstd, int M, int C, an_err *e)
{
	OP(layernorm_backward);
	return d->ops->layernorm_backward(d, dinp, dweight, dbias, dout, inp, weight, mean,
		rstd, M, C, e);
}

int dev_rmsnorm_forward(an_dev *d, float *out, float *rstd, const float *inp,
		const float *weight, float eps, int M, int C, an_err *e)
{
	OP(rmsnorm_forward);
	return d->ops->rmsnorm_forward(d, out, rstd, inp, weight, eps, M, C, e);
}

int dev_rmsnorm_backward(an_dev *d, float *dinp, float *dweight, const float *dout,
		const float *inp, const float *weight, const float *rstd, int M, int C,
		an_err *e)
{
	OP(rmsnorm_backward);
	return d->ops->rmsnorm_backward(d, dinp, dweight, dout, inp, weight, rstd, M, C, e);
}

int dev_gelu_forward(an_dev *d, float *out, const float *inp, size_t n, an_err *e)
{
	OP(gelu_forward);
	return d->ops->gelu_forward(d, out, inp, n, e);
}

int dev_gelu_backward(an_dev *d, float *dinp, const float *dout, const float *inp, size_t n,
		an_err *e)
{
	OP(gelu_backward);
	return d->ops->gelu_backward(d, dinp, dout, inp, n, e);
}

int dev_silu_forward(an_dev *d, float *out, const float *inp, size_t n, an_err *e)
{
	OP(silu_forward);
	return d->ops->silu_forward(d, out, inp, n, e);
}

int dev_silu_backward(an_dev *d, float *dinp, const float *dout, const float *inp, size_t n,
		an_err *e)
{
	OP(silu_backward);
	return d->ops->silu_backward(d, dinp, dout, inp, n, e);
}

int dev_swiglu_forward(an_dev *d, float *out, const float *gate, const float *up, size_t n,
		an_err *e)
{
	OP(swiglu_forward);
	return d->ops->swiglu_forward(d, out, gate, up, n, e);
}

int dev_swiglu_backward(an_dev *d, float *dgate, float *dup, const float *dout,
		const float *gate, const float *up, size_t n, an_err *e)
{
	OP(swiglu_backward);
	return d->ops->swiglu_backward(d, dgate, dup, dout, gate, up, n, e);
}

int dev_add_forward(an_dev *d, float *out, const float *a, const float *b, size_t n, an_err *e)
{
	OP(add_forward);
	return d->ops->add_forward(d, out, a, b, n, e);
}

int dev_add_inplace(an_dev *d, float *dst, const float *src, size_t n, an_err *e)
{
	OP(add_inplace);
	return d->ops->add_inplace(d, dst, src, n, e);
}

int dev_scale(an_dev *d, float *x, float s, size_t n, an_err *e)
{
	OP(scale);
	return d->ops->scale(d, x, s, n, e);
}

int dev_rope_forward(an_dev *d, float *out, const float *inp, const float *cos_tab,
		const float *sin_tab, const int *pos, int p0, int B, int T, int H, int D,
		int pairing, an_err *e)
{
	OP(rope_forward);
	return d->ops->rope_forward(d, out, inp, cos_tab, sin_tab, pos, p0, B, T, H, D, pairing,
		e);
}

int dev_rope_backward(an_dev *d, float *dinp, const float *dout, const float *cos_tab,
		const float *sin_tab, const int *pos, int p0, int B, int T, int H, int D,
		int pairing, an_err *e)
{
	OP(rope_backward);
	return d->ops->rope_backward(d, dinp, dout, cos_tab, sin_tab, pos, p0, B, T, H, D,
		pairing, e);
}

int dev_attention_forward(an_dev *d, float *out, float *lse, const float *q, const float *k,
		const float *v, const int *kmask, const attn_dims *a, an_err *e)
{
	OP(attention_forward);
	return d->ops->attention_forward(d, out, lse, q, k, v, kmask, a, e);
}

int dev_attention_backward(an_dev *d, float *dq, float *dk, float *dv, const float *dout,
		const float *q, const float *k, const float *v, const float *out,
		const float *lse, const int *kmask, const attn_dims *a, an_err *e)
{
	OP(attention_backward);
	return d->ops->attention_backward(d, dq, dk, dv, dout, q, k, v, out, lse, kmask, a, e);
}

int dev_softmax_forward(an_dev *d, float *out, const float *inp, int M, int N, an_err *e)
{
	OP(softmax_forward);
	return d->ops->softmax_forward(d, out, inp, M, N, e);
}

int dev_softmax_backward(an_dev *d, float *dinp, const float *dout, const float *out, int M,
		int N, an_err *e)
{
	OP(softmax_backward);
	return d->ops->softmax_backward(d, dinp, dout, out, M, N, e);
}

int dev_embedding_forward(an_dev *d, float *out, const int *ids, const float *table, int M,
		int C, int V, an_err *e)
{
	OP(embedding_forward);
	return d->ops->embedding_forward(d, out, ids, table, M, C, V, e);
}

int dev_embedding_backward(an_dev *d, float *dtable, const float *dout, const int *ids,
		int pad_id, int M, int C, int V, an_err *e)
{
	OP(embedding_backward);
	return d->ops->embedding_backward(d, dtable, dout, ids, pad_id, M, C, V, e);
}

int dev_meanpool_forward(an_dev *d, float *out, const float *inp, const int *mask, int B, int T,
		int C, an_err *e)
{
	OP(meanpool_forward);
	return d->ops->meanpool_forward(d, out, inp, mask, B, T, C, e);
}

int dev_meanpool_backward(an_dev *d, float *dinp, const float *dout, const int *mask, int B,
		int T, int C, an_err *e)
{
	OP(meanpool_backward);
	return d->ops->meanpool_backward(d, dinp, dout, mask, B, T, C, e);
}

int dev_l2norm_forward(an_dev *d, float *out, float *norm, const float *inp, float eps, int M,
		int C, an_err *e)
{
	OP(l2norm_forward);
	return d->ops->l2norm_forward(d, out, norm, inp, eps, M, C, e);
}

int dev_l2norm_backward(an_dev *d, float *dinp, const float *dout, const float *inp, float eps,
		int M, int C, an_err *e)
{
	OP(l2norm_backward);
	return d->ops->l2norm_backward(d, dinp, dout, inp, eps, M, C, e);
}

int dev_crossentropy_forward(an_dev *d, float *loss, float *lse, const float *logits,
		const int *targets, int M, int V, an_err *e)
{
	OP(crossentropy_forward);
	return d->ops->crossentropy_forward(d, loss, lse, logits, targets, M, V, e);
}

int dev_crossentropy_backward(an_dev *d, float *dlogits, const float *logits, const float *lse,
		const int *targets, float dloss, int M, int V, an_err *e)
{
	OP(crossentropy_backward);
	return d->ops->crossentropy_backward(d, dlogits, logits, lse, targets, dloss, M, V, e);
}

int dev_infonce_forward(an_dev *d, float *loss, float *logits, const float *a, const float *b,
		float tau, int symmetric, int B, int C, an_err *e)
{
	OP(infonce_forward);
	return d->ops->infonce_forward(d, loss, logits, a, b, tau, symmetric, B, C, e);
}

int dev_infonce_backward(an_dev *d, float *da, float *db, float *dtau, const float *logits,
		const float *a, const float *b, float tau, int symmetric, float dloss, int B,
		int C, an_err *e)
{
	OP(infonce_backward);
	return d->ops->infonce_backward(d, da, db, dtau, logits, a, b, tau, symmetric, dloss, B,
		C, e);
}

int dev_adamw_update(an_dev *d, float *param, const float *grad, float *m, float *v, size_t n,
		const adamw_hp *hp, an_err *e)
{
	OP(adamw_update);
	return d->ops->adamw_update(d, param, grad, m, v, n, hp, e);
}

int dev_sumsq(an_dev *d, const float *x, size_t n, double *acc_host, an_err *e)
{
	OP(sumsq);
	return d->ops->sumsq(d, x, n, acc_host, e);
}

int dev_clip_grad_norm(an_dev *d, float *const *g, const size_t *n, int k, float max_norm,
		float *norm_out, an_err *e)
{
	double ss = 0;

	for (int i = 0; i < k; i++)
		if (dev_sumsq(d, g[i], n[i], &ss, e) < 0)
			return -1;
	double norm = sqrt(ss);
	float c = clip_coef(norm, max_norm);
	if (norm_out)
		*norm_out = (float)norm;
	if (c < 1.0f)
		for (int i = 0; i < k; i++)
			if (dev_scale(d, g[i], c, n[i], e) < 0)
				return -1;
	return 0;
}
