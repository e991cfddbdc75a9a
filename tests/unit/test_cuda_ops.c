/* test_cuda_ops: every op of the CUDA device against the CPU op (ops.h,
 * nf4.h, lora.h) on random inputs at odd sizes, as ggml's test-backend-ops.
 * Relative error ||gpu - cpu|| / ||cpu||: fp32 <= 1e-5 (1e-3 when
 * ASMNAME_TF32=1 lets cuBLAS use TF32), bf16 <= 1e-2; NaN never passes.
 * Without CUDA support in the build, or without a usable GPU, every test
 * is reported as SKIP.  ASMNAME_TEST_DEVICE=cpu runs the same checks on the
 * CPU table (CPU against CPU: a self-check of this harness, not of CUDA). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"
#include "err.h"
#include "half.h"
#include "lora.h"
#include "nf4.h"
#include "ops.h"
#include "test.h"

#define TOL32 1e-5
#define TOLBF 1e-2

static an_dev *g_dev;
static double tol_mm = TOL32;   /* cuBLAS fp32 products (TF32 when asked) */
static uint64_t rs = 0x9E3779B97F4A7C15ull;

static float frand(void)
{
	rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
	return (float)((rs >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static float *rnd(size_t n, float scale)
{
	float *p = malloc((n ? n : 1) * sizeof *p);

	for (size_t i = 0; i < n; i++)
		p[i] = frand() * scale;
	return p;
}

static void *upb(const void *h, size_t bytes)
{
	an_err e;
	void *d = dev_malloc(g_dev, bytes, &e);

	if (!d || dev_upload(g_dev, d, h, bytes, &e) < 0) {
		fprintf(stderr, "test_cuda_ops: upload: %s\n", e.msg);
		exit(1);
	}
	return d;
}

static float *up(const float *h, size_t n)
{
	return upb(h, n * sizeof *h);
}

static float *dzero(size_t n)
{
	an_err e;
	float *d = dev_malloc(g_dev, (n ? n : 1) * sizeof *d, &e);

	if (!d || dev_memset(g_dev, d, 0, n * sizeof *d, &e) < 0) {
		fprintf(stderr, "test_cuda_ops: alloc: %s\n", e.msg);
		exit(1);
	}
	return d;
}

/* Download n floats of d and compare with ref; frees nothing. */
static void cmp(const char *name, const float *d, const float *ref, size_t n, double tol)
{
	an_err e;
	float *h = malloc((n ? n : 1) * sizeof *h);
	double r;

	if (dev_download(g_dev, h, d, n * sizeof *h, &e) < 0) {
		CHECK(0, name, "download: %s", e.msg);
		free(h);
		return;
	}
	r = t_relerr(h, ref, n);
	CHECK(r <= tol, name, "relative error %.3g > %.1g", r, tol);
	free(h);
}

/* As cmp, where -inf entries must match exactly (lse of fully masked rows). */
static void cmp_inf(const char *name, const float *d, const float *ref, size_t n, double tol)
{
	an_err e;
	float *h = malloc(n * sizeof *h), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
	int same = 1;

	if (dev_download(g_dev, h, d, n * sizeof *h, &e) < 0) {
		CHECK(0, name, "download: %s", e.msg);
		free(h); free(a); free(b);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		int ia = isinf(h[i]) && h[i] < 0, ib = isinf(ref[i]) && ref[i] < 0;

		same &= ia == ib;
		a[i] = ia ? 0.0f : h[i];
		b[i] = ib ? 0.0f : ref[i];
	}
	double r = t_relerr(a, b, n);
	CHECK(same && r <= tol, name, "-inf pattern %s, relative error %.3g", same ? "same" : "differs", r);
	free(h); free(a); free(b);
}

static void rc_ok(const char *name, int rc, const an_err *e)
{
	if (rc < 0)
		CHECK(0, name, "%s", e->msg);
}

static void dfree(void *p)
{
	dev_free(g_dev, p);
}

/* ------------------------------------------------------------------------ */

static void test_matmul(int M, int K, int N, int bias)
{
	char nm[96];
	an_err e;
	float *x = rnd((size_t)M * K, 1), *w = rnd((size_t)N * K, 1), *b = rnd(N, 1);
	float *dy = rnd((size_t)M * N, 1), *y = malloc((size_t)M * N * 4);
	float *dx = rnd((size_t)M * K, 1), *dw = rnd((size_t)N * K, 1), *db = rnd(N, 1);
	float *gx = up(x, (size_t)M * K), *gw = up(w, (size_t)N * K), *gb = up(b, N);
	float *gy = dzero((size_t)M * N), *gdy = up(dy, (size_t)M * N);
	float *gdx = up(dx, (size_t)M * K), *gdw = up(dw, (size_t)N * K), *gdb = up(db, N);

	matmul_forward_cpu(y, x, w, bias ? b : NULL, M, K, N);
	rc_ok("matmul_forward", dev_matmul_forward(g_dev, gy, gx, gw, AN_F32, bias ? gb : NULL, M, K, N, &e), &e);
	snprintf(nm, sizeof nm, "cuda_matmul_f32_%dx%dx%d_bias%d", M, K, N, bias);
	cmp(nm, gy, y, (size_t)M * N, tol_mm);

	/* acc = 1 on dx, dw/dbias += on their random contents */
	matmul_backward_cpu(dx, dw, db, dy, x, w, M, K, N, 1);
	rc_ok("matmul_backward", dev_matmul_backward(g_dev, gdx, gdw, gdb, gdy, gx, gw, AN_F32, M, K, N, 1, &e), &e);
	snprintf(nm, sizeof nm, "cuda_matmul_f32_backward_dinp_%dx%dx%d", M, K, N);
	cmp(nm, gdx, dx, (size_t)M * K, tol_mm);
	snprintf(nm, sizeof nm, "cuda_matmul_f32_backward_dw_%dx%dx%d", M, K, N);
	cmp(nm, gdw, dw, (size_t)N * K, tol_mm);
	snprintf(nm, sizeof nm, "cuda_matmul_f32_backward_dbias_%dx%dx%d", M, K, N);
	cmp(nm, gdb, db, N, TOL32);
	matmul_backward_cpu(dx, NULL, NULL, dy, x, w, M, K, N, 0);
	rc_ok("matmul_backward", dev_matmul_backward(g_dev, gdx, NULL, NULL, gdy, gx, gw, AN_F32, M, K, N, 0, &e), &e);
	snprintf(nm, sizeof nm, "cuda_matmul_f32_backward_assign_%dx%dx%d", M, K, N);
	cmp(nm, gdx, dx, (size_t)M * K, tol_mm);

	/* bf16 weights: the GPU also rounds the input to bf16 */
	uint16_t *wb = malloc((size_t)N * K * 2);
	f32_to_bf16_n(wb, w, (size_t)N * K);
	void *gwb = upb(wb, (size_t)N * K * 2);
	matmul_forward_bf16_cpu(y, x, wb, bias ? b : NULL, M, K, N, &e);
	rc_ok("matmul_forward_bf16", dev_matmul_forward(g_dev, gy, gx, gwb, AN_BF16, bias ? gb : NULL, M, K, N, &e), &e);
	snprintf(nm, sizeof nm, "cuda_matmul_bf16_%dx%dx%d_bias%d", M, K, N, bias);
	cmp(nm, gy, y, (size_t)M * N, TOLBF);
	matmul_backward_bf16_cpu(dx, dy, wb, M, K, N, 0, &e);
	rc_ok("matmul_backward_bf16", dev_matmul_backward(g_dev, gdx, NULL, NULL, gdy, gx, gwb, AN_BF16, M, K, N, 0, &e), &e);
	snprintf(nm, sizeof nm, "cuda_matmul_bf16_backward_%dx%dx%d", M, K, N);
	cmp(nm, gdx, dx, (size_t)M * K, TOLBF);

	free(x); free(w); free(b); free(dy); free(y); free(dx); free(dw); free(db); free(wb);
	dfree(gx); dfree(gw); dfree(gb); dfree(gy); dfree(gdy); dfree(gdx); dfree(gdw); dfree(gdb); dfree(gwb);
}

static void test_norms(int M, int C)
{
	char nm[96];
	an_err e;
	size_t n = (size_t)M * C;
	float *x = rnd(n, 2), *w = rnd(C, 1), *b = rnd(C, 1), *dy = rnd(n, 1);
	float *y = malloc(n * 4), *mean = malloc(M * 4), *rstd = malloc(M * 4), *dx = malloc(n * 4);
	float *dw = rnd(C, 1), *db = rnd(C, 1);
	float *gx = up(x, n), *gw = up(w, C), *gb = up(b, C), *gdy = up(dy, n), *gy = dzero(n);
	float *gm = dzero(M), *gr = dzero(M), *gdx = dzero(n), *gdw = up(dw, C), *gdb = up(db, C);

	layernorm_forward_cpu(y, mean, rstd, x, w, b, 1e-5f, M, C);
	rc_ok("layernorm", dev_layernorm_forward(g_dev, gy, gm, gr, gx, gw, gb, 1e-5f, M, C, &e), &e);
	snprintf(nm, sizeof nm, "cuda_layernorm_forward_%dx%d", M, C);
	cmp(nm, gy, y, n, TOL32);
	snprintf(nm, sizeof nm, "cuda_layernorm_mean_rstd_%dx%d", M, C);
	cmp(nm, gm, mean, M, TOL32);
	cmp(nm, gr, rstd, M, TOL32);
	layernorm_backward_cpu(dx, dw, db, dy, x, w, mean, rstd, M, C);
	rc_ok("layernorm_backward", dev_layernorm_backward(g_dev, gdx, gdw, gdb, gdy, gx, gw, gm, gr, M, C, &e), &e);
	snprintf(nm, sizeof nm, "cuda_layernorm_backward_%dx%d", M, C);
	cmp(nm, gdx, dx, n, TOL32);
	cmp(nm, gdw, dw, C, TOL32);
	cmp(nm, gdb, db, C, TOL32);

	rmsnorm_forward_cpu(y, rstd, x, w, 1e-6f, M, C);
	rc_ok("rmsnorm", dev_rmsnorm_forward(g_dev, gy, gr, gx, gw, 1e-6f, M, C, &e), &e);
	snprintf(nm, sizeof nm, "cuda_rmsnorm_forward_%dx%d", M, C);
	cmp(nm, gy, y, n, TOL32);
	cmp(nm, gr, rstd, M, TOL32);
	rmsnorm_backward_cpu(dx, dw, dy, x, w, rstd, M, C);
	rc_ok("rmsnorm_backward", dev_rmsnorm_backward(g_dev, gdx, gdw, gdy, gx, gw, gr, M, C, &e), &e);
	snprintf(nm, sizeof nm, "cuda_rmsnorm_backward_%dx%d", M, C);
	cmp(nm, gdx, dx, n, TOL32);
	cmp(nm, gdw, dw, C, TOL32);

	/* l2norm, with a zero row for the eps branch */
	memset(x, 0, C * sizeof *x);
	dev_upload(g_dev, gx, x, C * sizeof *x, &e);
	l2norm_forward_cpu(y, rstd, x, 1e-12f, M, C);
	rc_ok("l2norm", dev_l2norm_forward(g_dev, gy, gr, gx, 1e-12f, M, C, &e), &e);
	snprintf(nm, sizeof nm, "cuda_l2norm_forward_%dx%d", M, C);
	cmp(nm, gy, y, n, TOL32);
	cmp(nm, gr, rstd, M, TOL32);
	l2norm_backward_cpu(dx, dy, x, 1e-3f, M, C);
	rc_ok("l2norm_backward", dev_l2norm_backward(g_dev, gdx, gdy, gx, 1e-3f, M, C, &e), &e);
	snprintf(nm, sizeof nm, "cuda_l2norm_backward_%dx%d", M, C);
	cmp(nm, gdx, dx, n, TOL32);

	/* softmax, with a row of -inf */
	for (int c = 0; c < C; c++)
		x[c] = -INFINITY;
	dev_upload(g_dev, gx, x, n * sizeof *x, &e);
	softmax_forward_cpu(y, x, M, C);
	rc_ok("softmax", dev_softmax_forward(g_dev, gy, gx, M, C, &e), &e);
	snprintf(nm, sizeof nm, "cuda_softmax_forward_%dx%d", M, C);
	cmp(nm, gy, y, n, TOL32);
	softmax_backward_cpu(dx, dy, y, M, C);
	rc_ok("softmax_backward", dev_softmax_backward(g_dev, gdx, gdy, gy, M, C, &e), &e);
	snprintf(nm, sizeof nm, "cuda_softmax_backward_%dx%d", M, C);
	cmp(nm, gdx, dx, n, TOL32);

	free(x); free(w); free(b); free(dy); free(y); free(mean); free(rstd); free(dx); free(dw); free(db);
	dfree(gx); dfree(gw); dfree(gb); dfree(gdy); dfree(gy); dfree(gm); dfree(gr); dfree(gdx);
	dfree(gdw); dfree(gdb);
}

static void test_pointwise(size_t n)
{
	char nm[96];
	an_err e;
	float *x = rnd(n, 4), *u = rnd(n, 2), *dy = rnd(n, 1), *y = malloc(n * 4), *y2 = malloc(n * 4);
	float *gx = up(x, n), *gu = up(u, n), *gdy = up(dy, n), *gy = dzero(n), *gy2 = dzero(n);

#define PW(label, cpu, gpu) do { \
	cpu; rc_ok(label, gpu, &e); \
	snprintf(nm, sizeof nm, "cuda_%s_%zu", label, n); cmp(nm, gy, y, n, TOL32); \
} while (0)
	PW("gelu_forward", gelu_forward_cpu(y, x, n), dev_gelu_forward(g_dev, gy, gx, n, &e));
	PW("gelu_backward", gelu_backward_cpu(y, dy, x, n), dev_gelu_backward(g_dev, gy, gdy, gx, n, &e));
	PW("silu_forward", silu_forward_cpu(y, x, n), dev_silu_forward(g_dev, gy, gx, n, &e));
	PW("silu_backward", silu_backward_cpu(y, dy, x, n), dev_silu_backward(g_dev, gy, gdy, gx, n, &e));
	PW("swiglu_forward", swiglu_forward_cpu(y, x, u, n), dev_swiglu_forward(g_dev, gy, gx, gu, n, &e));
	PW("add_forward", add_forward_cpu(y, x, u, n), dev_add_forward(g_dev, gy, gx, gu, n, &e));
	swiglu_backward_cpu(y, y2, dy, x, u, n);
	rc_ok("swiglu_backward", dev_swiglu_backward(g_dev, gy, gy2, gdy, gx, gu, n, &e), &e);
	snprintf(nm, sizeof nm, "cuda_swiglu_backward_%zu", n);
	cmp(nm, gy, y, n, TOL32);
	cmp(nm, gy2, y2, n, TOL32);
	/* y = x; y += u; y *= -0.3 */
	memcpy(y, x, n * 4);
	add_inplace_cpu(y, u, n);
	scale_cpu(y, -0.3f, n);
	dev_copy(g_dev, gy, gx, n * 4, &e);
	rc_ok("add_inplace", dev_add_inplace(g_dev, gy, gu, n, &e), &e);
	rc_ok("scale", dev_scale(g_dev, gy, -0.3f, n, &e), &e);
	snprintf(nm, sizeof nm, "cuda_add_inplace_scale_%zu", n);
	cmp(nm, gy, y, n, TOL32);

	/* casts: bit-exact against half.h */
	uint16_t *hb = malloc(n * 2), *hh = malloc(n * 2), *gb16 = malloc(n * 2);
	void *gb = upb(hb, n * 2);
	x[0] = NAN; x[1] = INFINITY; x[2] = 1e-40f; x[3] = 70000.0f; x[4] = -0.0f;
	dev_upload(g_dev, gx, x, n * 4, &e);
	f32_to_bf16_n(hb, x, n);
	f32_to_f16_n(hh, x, n);
	int ok = dev_cast(g_dev, gb, AN_BF16, gx, AN_F32, n, &e) == 0 &&
		 dev_download(g_dev, gb16, gb, n * 2, &e) == 0;
	size_t bad = 0;
	for (size_t i = 0; ok && i < n; i++)
		bad += gb16[i] != hb[i] && !(isnan(bf16_to_f32(gb16[i])) && isnan(bf16_to_f32(hb[i])));
	CHECK(ok && !bad, "cuda_cast_f32_bf16", "%zu of %zu differ (%s)", bad, n, ok ? "" : e.msg);
	ok = dev_cast(g_dev, gb, AN_F16, gx, AN_F32, n, &e) == 0 &&
	     dev_download(g_dev, gb16, gb, n * 2, &e) == 0;
	bad = 0;
	for (size_t i = 0; ok && i < n; i++)
		bad += gb16[i] != hh[i] && !(isnan(f16_to_f32(gb16[i])) && isnan(f16_to_f32(hh[i])));
	CHECK(ok && !bad, "cuda_cast_f32_f16", "%zu of %zu differ (%s)", bad, n, ok ? "" : e.msg);
	dev_upload(g_dev, gb, hb, n * 2, &e);
	bf16_to_f32_n(y, hb, n);
	y[0] = 0; /* NaN */
	ok = dev_cast(g_dev, gy, AN_F32, gb, AN_BF16, n, &e) == 0 && dev_download(g_dev, y2, gy, n * 4, &e) == 0;
	y2[0] = 0;
	CHECK(ok && memcmp(y, y2, n * 4) == 0, "cuda_cast_bf16_f32", "widening differs");

	free(x); free(u); free(dy); free(y); free(y2); free(hb); free(hh); free(gb16);
	dfree(gx); dfree(gu); dfree(gdy); dfree(gy); dfree(gy2); dfree(gb);
#undef PW
}

static void test_rope(int B, int T, int H, int D, int pairing, int with_pos)
{
	char nm[96];
	an_err e;
	int P = 64;
	size_t n = (size_t)B * T * H * D;
	rope_cfg c = {.dim = D, .theta = 10000.0};
	float *ct = malloc((size_t)P * D / 2 * 4), *st = malloc((size_t)P * D / 2 * 4);
	float *x = rnd(n, 1), *y = malloc(n * 4);
	int *pos = malloc((size_t)B * T * sizeof *pos);

	for (int i = 0; i < B * T; i++)
		pos[i] = (i * 7 + 3) % P;
	if (rope_table_init(ct, st, P, &c, &e) < 0) {
		CHECK(0, "cuda_rope", "%s", e.msg);
		return;
	}
	float *gct = up(ct, (size_t)P * D / 2), *gst = up(st, (size_t)P * D / 2), *gx = up(x, n), *gy = dzero(n);
	int *gpos = upb(pos, (size_t)B * T * sizeof *pos);
	rope_forward_cpu(y, x, ct, st, with_pos ? pos : NULL, 5, B, T, H, D, pairing);
	rc_ok("rope", dev_rope_forward(g_dev, gy, gx, gct, gst, with_pos ? gpos : NULL, 5, B, T, H, D, pairing, &e), &e);
	snprintf(nm, sizeof nm, "cuda_rope_forward_%s_pos%d_D%d", pairing ? "interleaved" : "half", with_pos, D);
	cmp(nm, gy, y, n, TOL32);
	rope_backward_cpu(y, x, ct, st, with_pos ? pos : NULL, 5, B, T, H, D, pairing);
	rc_ok("rope_backward", dev_rope_backward(g_dev, gy, gx, gct, gst, with_pos ? gpos : NULL, 5, B, T, H, D, pairing, &e), &e);
	snprintf(nm, sizeof nm, "cuda_rope_backward_%s_pos%d_D%d", pairing ? "interleaved" : "half", with_pos, D);
	cmp(nm, gy, y, n, TOL32);
	free(ct); free(st); free(x); free(y); free(pos);
	dfree(gct); dfree(gst); dfree(gx); dfree(gy); dfree(gpos);
}

static void test_attention(int B, int Tq, int Tk, int Tkmax, int Hq, int Hkv, int D, int p0,
		int causal, int masked)
{
	char nm[128];
	an_err e;
	attn_dims a = {.B = B, .Tq = Tq, .Tk = Tk, .Tkmax = Tkmax, .Hq = Hq, .Hkv = Hkv, .D = D,
		.p0 = p0, .causal = causal, .scale = 1.0f / sqrtf((float)D)};
	size_t nq = (size_t)B * Tq * Hq * D, nk = (size_t)B * Tkmax * Hkv * D, nl = (size_t)B * Hq * Tq;
	float *q = rnd(nq, 1), *k = rnd(nk, 1), *v = rnd(nk, 1), *dout = rnd(nq, 1);
	float *o = malloc(nq * 4), *lse = malloc(nl * 4), *dq = malloc(nq * 4);
	float *dk = rnd(nk, 1), *dv = rnd(nk, 1);     /* rows >= Tk must stay as they are */
	int *km = malloc((size_t)B * Tkmax * sizeof *km);

	for (int i = 0; i < B * Tkmax; i++)
		km[i] = (i % 5) != 3;
	if (masked && B > 1)   /* batch item 1 sees no key at all */
		for (int j = 0; j < Tkmax; j++)
			km[Tkmax + j] = 0;
	float *gq = up(q, nq), *gk = up(k, nk), *gv = up(v, nk), *gdo = up(dout, nq);
	float *go = dzero(nq), *gl = dzero(nl), *gdq = dzero(nq), *gdk = up(dk, nk), *gdv = up(dv, nk);
	int *gkm = upb(km, (size_t)B * Tkmax * sizeof *km);

	attention_forward_cpu(o, lse, q, k, v, masked ? km : NULL, &a);
	rc_ok("attention", dev_attention_forward(g_dev, go, gl, gq, gk, gv, masked ? gkm : NULL, &a, &e), &e);
	snprintf(nm, sizeof nm, "cuda_attention_forward_B%d_Tq%d_Tk%d_H%d/%d_D%d_p0%d_c%d_m%d",
			B, Tq, Tk, Hq, Hkv, D, p0, causal, masked);
	cmp(nm, go, o, nq, TOL32);
	cmp_inf(nm, gl, lse, nl, TOL32);
	attention_backward_cpu(dq, dk, dv, dout, q, k, v, o, lse, masked ? km : NULL, &a);
	rc_ok("attention_backward", dev_attention_backward(g_dev, gdq, gdk, gdv, gdo, gq, gk, gv, go, gl,
			masked ? gkm : NULL, &a, &e), &e);
	snprintf(nm, sizeof nm, "cuda_attention_backward_B%d_Tq%d_Tk%d_H%d/%d_D%d_p0%d_c%d_m%d",
			B, Tq, Tk, Hq, Hkv, D, p0, causal, masked);
	cmp(nm, gdq, dq, nq, TOL32);
	cmp(nm, gdk, dk, nk, TOL32);
	cmp(nm, gdv, dv, nk, TOL32);
	free(q); free(k); free(v); free(dout); free(o); free(lse); free(dq); free(dk); free(dv); free(km);
	dfree(gq); dfree(gk); dfree(gv); dfree(gdo); dfree(go); dfree(gl); dfree(gdq); dfree(gdk);
	dfree(gdv); dfree(gkm);
}

static void test_rows_ids(void)
{
	an_err e;
	int M = 19, C = 37, V = 23, B = 3, T = 11;
	int ids[19];
	float *tab = rnd((size_t)V * C, 1), *dy = rnd((size_t)M * C, 1), *y = malloc((size_t)M * C * 4);
	float *dt = rnd((size_t)V * C, 1);

	for (int i = 0; i < M; i++)
		ids[i] = (i * 5) % V;
	int *gids = upb(ids, sizeof ids);
	float *gtab = up(tab, (size_t)V * C), *gy = dzero((size_t)M * C), *gdy = up(dy, (size_t)M * C);
	float *gdt = up(dt, (size_t)V * C);
	embedding_forward_cpu(y, ids, tab, M, C, V, &e);
	rc_ok("embedding", dev_embedding_forward(g_dev, gy, gids, gtab, M, C, V, &e), &e);
	cmp("cuda_embedding_forward", gy, y, (size_t)M * C, 0);
	embedding_backward_cpu(dt, dy, ids, 5, M, C, V);
	rc_ok("embedding_backward", dev_embedding_backward(g_dev, gdt, gdy, gids, 5, M, C, V, &e), &e);
	cmp("cuda_embedding_backward", gdt, dt, (size_t)V * C, TOL32);
	/* an id out of range surfaces at the next synchronizing call */
	ids[7] = V + 3;
	dev_upload(g_dev, gids, ids, sizeof ids, &e);
	int rc = dev_embedding_forward(g_dev, gy, gids, gtab, M, C, V, &e);
	if (rc == 0)
		rc = dev_sync(g_dev, &e);
	CHECK(rc < 0 && strstr(e.msg, "token 7") && strstr(e.msg, "vocabulary"), "cuda_embedding_bad_id",
			"rc %d msg \"%s\"", rc, e.msg);
	CHECK(dev_sync(g_dev, &e) == 0, "cuda_embedding_flag_cleared", "%s", e.msg);

	/* masked mean pooling, one row with an all-zero mask */
	float *x = rnd((size_t)B * T * C, 1), *p = malloc((size_t)B * C * 4), *dp = rnd((size_t)B * C, 1);
	float *dx = malloc((size_t)B * T * C * 4);
	int mask[3 * 11];
	for (int i = 0; i < B * T; i++)
		mask[i] = i < T ? 0 : (i % 3 != 0);
	float *gx = up(x, (size_t)B * T * C), *gp = dzero((size_t)B * C), *gdp = up(dp, (size_t)B * C);
	float *gdx = dzero((size_t)B * T * C);
	int *gmask = upb(mask, sizeof mask);
	meanpool_forward_cpu(p, x, mask, B, T, C);
	rc_ok("meanpool", dev_meanpool_forward(g_dev, gp, gx, gmask, B, T, C, &e), &e);
	cmp("cuda_meanpool_forward", gp, p, (size_t)B * C, TOL32);
	meanpool_backward_cpu(dx, dp, mask, B, T, C);
	rc_ok("meanpool_backward", dev_meanpool_backward(g_dev, gdx, gdp, gmask, B, T, C, &e), &e);
	cmp("cuda_meanpool_backward", gdx, dx, (size_t)B * T * C, TOL32);
	meanpool_forward_cpu(p, x, NULL, B, T, C);
	rc_ok("meanpool", dev_meanpool_forward(g_dev, gp, gx, NULL, B, T, C, &e), &e);
	cmp("cuda_meanpool_forward_nomask", gp, p, (size_t)B * C, TOL32);

	free(tab); free(dy); free(y); free(dt); free(x); free(p); free(dp); free(dx);
	dfree(gids); dfree(gtab); dfree(gy); dfree(gdy); dfree(gdt); dfree(gx); dfree(gp); dfree(gdp);
	dfree(gdx); dfree(gmask);
}

static void test_losses(void)
{
	an_err e;
	int M = 17, V = 1001, B = 9, C = 33;
	int t[17];
	float *lg = rnd((size_t)M * V, 5), *lse = malloc(M * 4), *dl = malloc((size_t)M * V * 4), loss;

	for (int i = 0; i < M; i++)
		t[i] = i % 4 == 1 ? AN_IGNORE_INDEX : (i * 131) % V;
	int *gt = upb(t, sizeof t);
	float *glg = up(lg, (size_t)M * V), *glse = dzero(M), *gloss = dzero(1), *gdl = dzero((size_t)M * V);
	crossentropy_forward_cpu(&loss, lse, lg, t, M, V, &e);
	rc_ok("crossentropy", dev_crossentropy_forward(g_dev, gloss, glse, glg, gt, M, V, &e), &e);
	cmp("cuda_crossentropy_loss", gloss, &loss, 1, TOL32);
	cmp("cuda_crossentropy_lse", glse, lse, M, TOL32);
	crossentropy_backward_cpu(dl, lg, lse, t, 0.7f, M, V);
	rc_ok("crossentropy_backward", dev_crossentropy_backward(g_dev, gdl, glg, glse, gt, 0.7f, M, V, &e), &e);
	cmp("cuda_crossentropy_backward", gdl, dl, (size_t)M * V, TOL32);
	t[4] = V;
	dev_upload(g_dev, gt, t, sizeof t, &e);
	int rc = dev_crossentropy_forward(g_dev, gloss, glse, glg, gt, M, V, &e);
	if (rc == 0)
		rc = dev_sync(g_dev, &e);
	CHECK(rc < 0 && strstr(e.msg, "position 4"), "cuda_crossentropy_bad_target", "rc %d msg \"%s\"", rc, e.msg);

	/* InfoNCE both ways, with dtau */
	float *a = rnd((size_t)B * C, 1), *b = rnd((size_t)B * C, 1), *L = malloc((size_t)B * B * 4);
	float *da = malloc((size_t)B * C * 4), *db = malloc((size_t)B * C * 4), dtau = 0.25f;
	float *ga = up(a, (size_t)B * C), *gb = up(b, (size_t)B * C), *gL = dzero((size_t)B * B);
	float *gda = dzero((size_t)B * C), *gdb = dzero((size_t)B * C), *gdtau = up(&dtau, 1);
	for (int sym = 0; sym < 2; sym++) {
		char nm[64];

		infonce_forward_cpu(&loss, L, a, b, 0.07f, sym, B, C);
		rc_ok("infonce", dev_infonce_forward(g_dev, gloss, gL, ga, gb, 0.07f, sym, B, C, &e), &e);
		snprintf(nm, sizeof nm, "cuda_infonce_forward_sym%d", sym);
		cmp(nm, gloss, &loss, 1, tol_mm);
		cmp(nm, gL, L, (size_t)B * B, tol_mm);
		infonce_backward_cpu(da, db, &dtau, L, a, b, 0.07f, sym, 1.3f, B, C);
		rc_ok("infonce_backward", dev_infonce_backward(g_dev, gda, gdb, gdtau, gL, ga, gb, 0.07f, sym,
				1.3f, B, C, &e), &e);
		snprintf(nm, sizeof nm, "cuda_infonce_backward_sym%d", sym);
		cmp(nm, gda, da, (size_t)B * C, tol_mm);
		cmp(nm, gdb, db, (size_t)B * C, tol_mm);
		cmp(nm, gdtau, &dtau, 1, tol_mm);
	}
	free(lg); free(lse); free(dl); free(a); free(b); free(L); free(da); free(db);
	dfree(gt); dfree(glg); dfree(glse); dfree(gloss); dfree(gdl); dfree(ga); dfree(gb); dfree(gL);
	dfree(gda); dfree(gdb); dfree(gdtau);
}

static void test_optim(size_t n)
{
	an_err e;
	float *p = rnd(n, 1), *m = rnd(n, 0.1f), *v = rnd(n, 0.1f), *g = rnd(n, 1);
	double ss = 0, gs = 0;

	for (size_t i = 0; i < n; i++)
		v[i] = fabsf(v[i]);
	float *gp = up(p, n), *gm = up(m, n), *gv = up(v, n), *gg = up(g, n);
	for (int t = 1; t <= 3; t++) {
		adamw_hp hp = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
			.weight_decay = 0.01f, .t = t};

		adamw_update_cpu(p, g, m, v, n, &hp);
		rc_ok("adamw", dev_adamw_update(g_dev, gp, gg, gm, gv, n, &hp, &e), &e);
	}
	cmp("cuda_adamw_param", gp, p, n, TOL32);
	cmp("cuda_adamw_m", gm, m, n, TOL32);
	cmp("cuda_adamw_v", gv, v, n, TOL32);
	ss = sumsq_cpu(g, n);
	int rc = dev_sumsq(g_dev, gg, n, &gs, &e);
	CHECK(rc == 0 && fabs(gs - ss) <= 1e-9 * ss, "cuda_sumsq", "%.17g vs %.17g (%s)", gs, ss, rc ? e.msg : "");
	free(p); free(m); free(v); free(g);
	dfree(gp); dfree(gm); dfree(gv); dfree(gg);
}

/* NF4 linear: the CPU oracle against the GPU paths (matvec, generic, tiles). */
static void test_nf4(int N, int K, int dq)
{
	static const int Ms[] = {1, 3, 8, 9, 33};
	char nm[96];
	an_err e;
	nf4_tensor t, gt;
	float *w = rnd((size_t)N * K, 0.05f), *bias = rnd(N, 1);

	if (nf4_init(&t, N, K, dq, &e) < 0 || nf4_quantize_f32(&t, w, &e) < 0) {
		CHECK(0, "cuda_nf4", "%s", e.msg);
		return;
	}
	void *gmem = upb(t.mem, t.bytes);
	nf4_rebase(&gt, &t, gmem);
	float *gb = up(bias, N);
	for (size_t mi = 0; mi < sizeof Ms / sizeof Ms[0]; mi++) {
		int M = Ms[mi];
		double tol = M > 8 ? tol_mm : TOL32;
		float *x = rnd((size_t)M * K, 1), *y = malloc((size_t)M * N * 4), *dx = malloc((size_t)M * K * 4);
		float *dy = rnd((size_t)M * N, 1), *dx0 = rnd((size_t)M * K, 1);
		float *gx = up(x, (size_t)M * K), *gy = dzero((size_t)M * N), *gdy = up(dy, (size_t)M * N);
		float *gdx = up(dx0, (size_t)M * K);

		nf4_matmul_forward_ref(y, x, &t, bias, M);
		rc_ok("nf4_matmul", dev_nf4_matmul_forward(g_dev, gy, gx, &gt, gb, M, &e), &e);
		snprintf(nm, sizeof nm, "cuda_nf4_matmul_%dx%d_M%d_dq%d", N, K, M, dq);
		cmp(nm, gy, y, (size_t)M * N, tol);
		memcpy(dx, dx0, (size_t)M * K * 4);
		nf4_matmul_backward_ref(dx, dy, &t, M, 1);
		rc_ok("nf4_backward", dev_nf4_matmul_backward(g_dev, gdx, gdy, &gt, M, 1, &e), &e);
		snprintf(nm, sizeof nm, "cuda_nf4_backward_acc_%dx%d_M%d_dq%d", N, K, M, dq);
		cmp(nm, gdx, dx, (size_t)M * K, tol_mm);
		nf4_matmul_backward_ref(dx, dy, &t, M, 0);
		rc_ok("nf4_backward", dev_nf4_matmul_backward(g_dev, gdx, gdy, &gt, M, 0, &e), &e);
		snprintf(nm, sizeof nm, "cuda_nf4_backward_%dx%d_M%d_dq%d", N, K, M, dq);
		cmp(nm, gdx, dx, (size_t)M * K, tol_mm);
		free(x); free(y); free(dx); free(dy); free(dx0);
		dfree(gx); dfree(gy); dfree(gdy); dfree(gdx);
	}
	nf4_free(&t);
	free(w); free(bias);
	dfree(gmem); dfree(gb);
}

/* Dropout masks agree bit for bit; LoRA over an NF4 base agrees with the CPU. */
static void test_lora_cuda(void)
{
	an_err e;
	an_dev *cpu = dev_open("cpu", 0, &e);
	int M = 6, K = 128, N = 40, r = 8;
	size_t n = 100003;
	float *x = rnd(n, 1), *y = malloc(n * 4);
	uint8_t *mask = malloc(n), *gm8 = malloc(n);
	float *gx = up(x, n), *gy = dzero(n);
	uint8_t *gmask = upb(mask, n);

	lora_dropout_cpu(y, mask, x, 0.05f, 1234, n);
	rc_ok("dropout", dev_dropout_forward(g_dev, gy, gmask, gx, 0.05f, 1234, n, &e), &e);
	cmp("cuda_dropout_forward", gy, y, n, TOL32);
	int ok = dev_download(g_dev, gm8, gmask, n, &e) == 0 && memcmp(gm8, mask, n) == 0;
	CHECK(ok, "cuda_dropout_mask", "the GPU mask differs from the CPU mask");
	lora_dropout_backward_cpu(y, x, mask, 0.05f, n);
	rc_ok("dropout_backward", dev_dropout_backward(g_dev, gy, gx, gmask, 0.05f, n, &e), &e);
	cmp("cuda_dropout_backward", gy, y, n, TOL32);

	/* LoRA on an NF4 base, CPU device vs CUDA device */
	nf4_tensor t, gt;
	float *w = rnd((size_t)N * K, 0.05f), *A = rnd((size_t)r * K, 0.1f), *B = rnd((size_t)N * r, 0.1f);
	float *xx = rnd((size_t)M * K, 1), *dy = rnd((size_t)M * N, 1);
	float *yc = malloc((size_t)M * N * 4), *dxc = malloc((size_t)M * K * 4);
	float *dAc = calloc((size_t)r * K, 4), *dBc = calloc((size_t)N * r, 4);
	lora_cache cc, gc;
	nf4_init(&t, N, K, 1, &e);
	nf4_quantize_f32(&t, w, &e);
	void *gmem = upb(t.mem, t.bytes);
	nf4_rebase(&gt, &t, gmem);
	lora_base bc = {LORA_BASE_NF4, NULL, &t, NULL, N, K}, bg = {LORA_BASE_NF4, NULL, &gt, NULL, N, K};
	float *gA = up(A, (size_t)r * K), *gB = up(B, (size_t)N * r), *gxx = up(xx, (size_t)M * K);
	float *gdy = up(dy, (size_t)M * N), *gyy = dzero((size_t)M * N), *gdx = dzero((size_t)M * K);
	float *gdA = dzero((size_t)r * K), *gdB = dzero((size_t)N * r);
	if (!cpu || lora_cache_init(&cc, cpu, M, K, N, r, 1, &e) < 0 ||
	    lora_cache_init(&gc, g_dev, M, K, N, r, 1, &e) < 0) {
		CHECK(0, "cuda_lora", "%s", e.msg);
		return;
	}
	rc_ok("lora_forward_cpu", lora_forward(cpu, yc, xx, &bc, A, B, r, 2.0f, 0.1f, 77, &cc, M, &e), &e);
	rc_ok("lora_forward_cuda", lora_forward(g_dev, gyy, gxx, &bg, gA, gB, r, 2.0f, 0.1f, 77, &gc, M, &e), &e);
	cmp("cuda_lora_nf4_forward", gyy, yc, (size_t)M * N, tol_mm);
	rc_ok("lora_backward_cpu", lora_backward(cpu, dxc, dAc, dBc, dy, xx, &bc, A, B, r, 2.0f, 0.1f, &cc, M, 0, &e), &e);
	rc_ok("lora_backward_cuda", lora_backward(g_dev, gdx, gdA, gdB, gdy, gxx, &bg, gA, gB, r, 2.0f, 0.1f, &gc, M, 0, &e), &e);
	cmp("cuda_lora_nf4_dx", gdx, dxc, (size_t)M * K, tol_mm);
	cmp("cuda_lora_nf4_dA", gdA, dAc, (size_t)r * K, tol_mm);
	cmp("cuda_lora_nf4_dB", gdB, dBc, (size_t)N * r, tol_mm);
	lora_cache_free(&cc, cpu);
	lora_cache_free(&gc, g_dev);
	dev_close(cpu);
	nf4_free(&t);
	free(x); free(y); free(mask); free(gm8); free(w); free(A); free(B); free(xx); free(dy);
	free(yc); free(dxc); free(dAc); free(dBc);
	dfree(gx); dfree(gy); dfree(gmask); dfree(gmem); dfree(gA); dfree(gB); dfree(gxx); dfree(gdy);
	dfree(gyy); dfree(gdx); dfree(gdA); dfree(gdB);
}

int main(void)
{
	an_err e = {0};
	const char *tf = getenv("ASMNAME_TF32");

	const char *spec = getenv("ASMNAME_TEST_DEVICE");

	g_dev = dev_open(spec && *spec ? spec : "cuda", 0, &e);
	if (!g_dev) {
		t_skip("cuda_ops", e.msg);
		return t_done();
	}
	if (tf && *tf == '1')
		tol_mm = 1e-3;
	printf("# device: %s%s\n", g_dev->name, tol_mm > TOL32 ? " (TF32)" : "");
	test_matmul(37, 129, 65, 1);
	test_matmul(1, 64, 3, 0);
	test_matmul(130, 300, 257, 1);
	test_norms(33, 769);
	test_norms(5, 31);
	test_norms(2, 4096);
	test_pointwise(100003);
	test_pointwise(7);
	test_rope(2, 7, 3, 10, ROPE_HALF, 0);
	test_rope(2, 7, 3, 10, ROPE_INTERLEAVED, 1);
	test_rope(1, 5, 4, 128, ROPE_HALF, 1);
	test_attention(2, 9, 13, 16, 6, 2, 40, 4, 1, 1);      /* KV cache, GQA, causal, padding */
	test_attention(3, 17, 17, 17, 4, 4, 64, 0, 0, 1);     /* encoder, one item fully masked */
	test_attention(1, 33, 33, 40, 8, 2, 128, 0, 1, 0);    /* decoder prefill */
	test_attention(2, 1, 21, 32, 4, 1, 72, 20, 1, 0);     /* one decode step */
	test_attention(1, 5, 5, 5, 2, 1, 256, 0, 1, 0);
	/* few query rows, many keys: the split-key (flash-decoding) path */
	test_attention(2, 1, 300, 320, 8, 2, 128, 299, 1, 1);
	test_attention(1, 3, 200, 256, 4, 4, 64, 197, 1, 0);
	test_attention(1, 2, 100, 100, 2, 1, 40, 0, 0, 1);
	test_rows_ids();
	test_losses();
	test_optim(100003);
	test_nf4(77, 256, 0);
	test_nf4(77, 256, 1);
	test_nf4(300, 1024, 1);
	test_nf4(13, 100, 0);     /* rows straddle blocks: the generic kernel */
	test_lora_cuda();
	dev_close(g_dev);
	return t_done();
}
