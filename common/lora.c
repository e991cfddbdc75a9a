/* lora.c: LoRA forward and backward as a composition of dev.h ops (lora.h). */
#include <string.h>

#include "dev.h"
#include "lora.h"

void lora_dropout_cpu(float *out, uint8_t *mask, const float *inp, float p, uint64_t seed,
		size_t n)
{
	float s = 1.0f / (1.0f - p);

#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < n; i++) {
		int k = lora_keep(seed, i, p);

		if (mask)
			mask[i] = (uint8_t)k;
		out[i] = k ? inp[i] * s : 0.0f;
	}
}

void lora_dropout_backward_cpu(float *dinp, const float *dout, const uint8_t *mask, float p,
		size_t n)
{
	float s = 1.0f / (1.0f - p);

#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < n; i++)
		dinp[i] = mask[i] ? dout[i] * s : 0.0f;
}

int lora_cache_init(lora_cache *c, an_dev *d, int Mmax, int K, int N, int r, int dropout,
		an_err *e)
{
	size_t mk = (size_t)Mmax * K, tn = (size_t)Mmax * (N > r ? N : r);

	memset(c, 0, sizeof *c);
	if (Mmax <= 0 || K <= 0 || N <= 0 || r < 0) {
		an_err_set(e, "lora: bad cache shape Mmax %d K %d N %d r %d", Mmax, K, N, r);
		return -1;
	}
	c->Mmax = Mmax;
	c->K = K;
	c->N = N;
	c->r = r;
	c->dropout = dropout ? 1 : 0;
	if (r == 0)
		return 0;
	if (!(c->h = dev_malloc(d, (size_t)Mmax * r * sizeof(float), e)) ||
	    !(c->t = dev_malloc(d, tn * sizeof(float), e)) ||
	    !(c->g = dev_malloc(d, mk * sizeof(float), e)) ||
	    (dropout && (!(c->xd = dev_malloc(d, mk * sizeof(float), e)) ||
			 !(c->mask = dev_malloc(d, mk, e))))) {
		an_err_prefix(e, "lora cache");
		lora_cache_free(c, d);
		return -1;
	}
	return 0;
}

void lora_cache_free(lora_cache *c, an_dev *d)
{
	dev_free(d, c->xd);
	dev_free(d, c->mask);
	dev_free(d, c->h);
	dev_free(d, c->t);
	dev_free(d, c->g);
	memset(c, 0, sizeof *c);
}

static int check(const lora_base *b, int r, float p, const lora_cache *c, int M, an_err *e)
{
	if (r > 0 && (!c || M > c->Mmax || c->K != b->K || c->N != b->N || c->r != r)) {
		an_err_set(e, "lora: cache made for Mmax %d K %d N %d r %d, called with M %d K %d N %d r %d",
				c ? c->Mmax : 0, c ? c->K : 0, c ? c->N : 0, c ? c->r : 0, M, b->K, b->N, r);
		return -1;
	}
	if (r > 0 && p > 0 && !c->dropout) {
		an_err_set(e, "lora: dropout %g needs a cache made with dropout", p);
		return -1;
	}
	if (b->kind == LORA_BASE_NF4 ? !b->nf4 || b->nf4->rows != b->N || b->nf4->cols != b->K
	    : (b->kind != LORA_BASE_F32 && b->kind != LORA_BASE_BF16) || !b->w) {
		an_err_set(e, "lora: bad base linear (kind %d, [%d, %d])", b->kind, b->N, b->K);
		return -1;
	}
	return 0;
}

static int base_forward(an_dev *d, float *y, const float *x, const lora_base *b, int M, an_err *e)
{
	if (b->kind == LORA_BASE_NF4)
		return dev_nf4_matmul_forward(d, y, x, b->nf4, b->bias, M, e);
	return dev_matmul_forward(d, y, x, b->w, b->kind == LORA_BASE_BF16 ? AN_BF16 : AN_F32,
			b->bias, M, b->K, b->N, e);
}

static int base_backward(an_dev *d, float *dx, const float *dy, const float *x,
		const lora_base *b, int M, int acc, an_err *e)
{
	if (b->kind == LORA_BASE_NF4)
		return dev_nf4_matmul_backward(d, dx, dy, b->nf4, M, acc, e);
	return dev_matmul_backward(d, dx, NULL, NULL, dy, x, b->w,
			b->kind == LORA_BASE_BF16 ? AN_BF16 : AN_F32, M, b->K, b->N, acc, e);
}

int lora_forward(an_dev *d, float *y, const float *x, const lora_base *base,
		const float *A, const float *B, int r, float scale, float p, uint64_t seed,
		lora_cache *c, int M, an_err *e)
{
	const float *xd = x;
	int N = base->N, K = base->K;

	if (!A || !B)
		r = 0;
	if (check(base, r, p, c, M, e) < 0)
		return -1;
	if (base_forward(d, y, x, base, M, e) < 0)
		return -1;
	if (r == 0 || M == 0)
		return 0;
	if (p > 0) {
		if (dev_dropout_forward(d, c->xd, c->mask, x, p, seed, (size_t)M * K, e) < 0)
			return -1;
		xd = c->xd;
	}
	/* h = scale · xd A^T [M,r];  t = h B^T [M,N];  y += t */
	if (dev_matmul_forward(d, c->h, xd, A, AN_F32, NULL, M, K, r, e) < 0 ||
	    dev_scale(d, c->h, scale, (size_t)M * r, e) < 0 ||
	    dev_matmul_forward(d, c->t, c->h, B, AN_F32, NULL, M, r, N, e) < 0 ||
	    dev_add_inplace(d, y, c->t, (size_t)M * N, e) < 0)
		return -1;
	return 0;
}

int lora_backward(an_dev *d, float *dx, float *dA, float *dB, const float *dy, const float *x,
		const lora_base *base, const float *A, const float *B, int r, float scale, float p,
		lora_cache *c, int M, int acc, an_err *e)
{
	int N = base->N, K = base->K;
	const float *xd;

	if (!A || !B)
		r = 0;
	if (check(base, r, p, c, M, e) < 0)
		return -1;
	if (dx && base_backward(d, dx, dy, x, base, M, acc, e) < 0)
		return -1;
	if (r == 0 || M == 0 || (!dx && !dA && !dB))
		return 0;
	xd = p > 0 ? c->xd : x;
	/* dB += dy^T h;  t = dy B = d(h) [M,r];  dh = scale · t */
	if (dev_matmul_backward(d, c->t, dB, NULL, dy, c->h, B, AN_F32, M, r, N, 0, e) < 0 ||
	    dev_scale(d, c->t, scale, (size_t)M * r, e) < 0)
		return -1;
	/* dA += dh^T xd;  g = dh A = d(xd) [M,K] */
	if (dev_matmul_backward(d, dx ? c->g : NULL, dA, NULL, c->t, xd, A, AN_F32, M, K, r, 0, e) < 0)
		return -1;
	if (!dx)
		return 0;
	if (p > 0 && dev_dropout_backward(d, c->g, c->g, c->mask, p, (size_t)M * K, e) < 0)
		return -1;
	return dev_add_inplace(d, dx, c->g, (size_t)M * K, e);
}
