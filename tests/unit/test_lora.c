/* test_lora: LoRA beside fp32, bf16 and NF4 linears on the CPU device against
 * a PyTorch float64 golden (tests/gen/gen_lora.py), finite differences of the
 * backward, the dropout hash, and the error paths. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"
#include "err.h"
#include "half.h"
#include "lora.h"
#include "nf4.h"
#include "test.h"

typedef struct gcase {
	int M, K, N, r, bias, kind;
	float scale, p;
	uint64_t seed;
	float *x, *w32, *b, *A, *B, *dy, *y, *dx, *dA, *dB;
	uint16_t *w16;
	uint8_t *mask;
} gcase;

static int rd(FILE *f, void **p, size_t bytes)
{
	*p = malloc(bytes ? bytes : 1);
	return *p && fread(*p, 1, bytes, f) == bytes ? 0 : -1;
}

static int load(gcase *g, const char *file)
{
	char path[256];
	FILE *f;
	int rc = 0;
	size_t M = g->M, K = g->K, N = g->N, r = g->r;

	snprintf(path, sizeof path, "tests/golden/lora/%s", file);
	if (!(f = fopen(path, "rb"))) {
		CHECK(0, file, "cannot open %s", path);
		return -1;
	}
	rc |= rd(f, (void **)&g->x, M * K * 4);
	if (g->kind == LORA_BASE_F32)
		rc |= rd(f, (void **)&g->w32, N * K * 4);
	else
		rc |= rd(f, (void **)&g->w16, N * K * 2);
	rc |= rd(f, (void **)&g->b, g->bias ? N * 4 : 0);
	rc |= rd(f, (void **)&g->A, r * K * 4);
	rc |= rd(f, (void **)&g->B, N * r * 4);
	rc |= rd(f, (void **)&g->dy, M * N * 4);
	rc |= rd(f, (void **)&g->mask, M * K);
	rc |= rd(f, (void **)&g->y, M * N * 4);
	rc |= rd(f, (void **)&g->dx, M * K * 4);
	rc |= rd(f, (void **)&g->dA, r * K * 4);
	rc |= rd(f, (void **)&g->dB, N * r * 4);
	fclose(f);
	if (rc)
		CHECK(0, file, "short golden file");
	return rc ? -1 : 0;
}

static void gfree(gcase *g)
{
	free(g->x); free(g->w32); free(g->w16); free(g->b); free(g->A); free(g->B);
	free(g->dy); free(g->mask); free(g->y); free(g->dx); free(g->dA); free(g->dB);
}

static void run_case(an_dev *d, const char *name, gcase g)
{
	char file[64], t[128];
	an_err e = {0};
	nf4_tensor q;
	lora_base base = {0};
	lora_cache c;
	size_t M = g.M, K = g.K, N = g.N, r = g.r;

	snprintf(file, sizeof file, "%s.bin", name);
	if (load(&g, file) < 0)
		return;
	base.kind = g.kind;
	base.N = g.N;
	base.K = g.K;
	base.bias = g.bias ? g.b : NULL;
	memset(&q, 0, sizeof q);
	if (g.kind == LORA_BASE_F32) {
		base.w = g.w32;
	} else if (g.kind == LORA_BASE_BF16) {
		base.w = g.w16;
	} else {
		if (nf4_init(&q, g.N, g.K, 0, &e) < 0 || nf4_quantize_bf16(&q, g.w16, &e) < 0) {
			CHECK(0, name, "%s", e.msg);
			return;
		}
		base.nf4 = &q;
	}
	if (lora_cache_init(&c, d, g.M + 3, g.K, g.N, g.r, g.p > 0, &e) < 0) {
		CHECK(0, name, "%s", e.msg);
		return;
	}
	float *y = calloc(M * N, 4), *dx = calloc(M * K, 4), *dA = calloc(r * K, 4), *dB = calloc(N * r, 4);
	int rc = lora_forward(d, y, g.x, &base, g.A, g.B, g.r, g.scale, g.p, g.seed, &c, g.M, &e);
	snprintf(t, sizeof t, "lora_%s_forward", name);
	CHECK(rc == 0 && t_relerr(y, g.y, M * N) <= 1e-5, t, "rc %d (%s) relerr %g", rc, e.msg,
			t_relerr(y, g.y, M * N));
	if (g.p > 0) {
		snprintf(t, sizeof t, "lora_%s_mask", name);
		CHECK(memcmp(c.mask, g.mask, M * K) == 0, t, "dropout mask differs from lora_keep in numpy");
	}
	rc = lora_backward(d, dx, dA, dB, g.dy, g.x, &base, g.A, g.B, g.r, g.scale, g.p, &c, g.M, 0, &e);
	snprintf(t, sizeof t, "lora_%s_dx", name);
	CHECK(rc == 0 && t_relerr(dx, g.dx, M * K) <= 1e-5, t, "rc %d (%s) relerr %g", rc, e.msg,
			t_relerr(dx, g.dx, M * K));
	snprintf(t, sizeof t, "lora_%s_dA", name);
	CHECK(t_relerr(dA, g.dA, r * K) <= 1e-5, t, "relerr %g", t_relerr(dA, g.dA, r * K));
	snprintf(t, sizeof t, "lora_%s_dB", name);
	CHECK(t_relerr(dB, g.dB, N * r) <= 1e-5, t, "relerr %g", t_relerr(dB, g.dB, N * r));

	/* parameter grads accumulate, dx accumulates only with acc */
	rc = lora_backward(d, dx, dA, dB, g.dy, g.x, &base, g.A, g.B, g.r, g.scale, g.p, &c, g.M, 1, &e);
	for (size_t i = 0; i < r * K; i++)
		g.dA[i] *= 2;
	for (size_t i = 0; i < N * r; i++)
		g.dB[i] *= 2;
	for (size_t i = 0; i < M * K; i++)
		g.dx[i] *= 2;
	snprintf(t, sizeof t, "lora_%s_accumulate", name);
	CHECK(rc == 0 && t_relerr(dA, g.dA, r * K) <= 1e-5 && t_relerr(dB, g.dB, N * r) <= 1e-5 &&
			t_relerr(dx, g.dx, M * K) <= 1e-5, t, "second backward did not add");
	free(y); free(dx); free(dA); free(dB);
	lora_cache_free(&c, d);
	if (g.kind == LORA_BASE_NF4)
		nf4_free(&q);
	gfree(&g);
}

/* L = Σ y · dy in double. */
static double loss(an_dev *d, float *y, const float *x, const lora_base *b, const float *A,
		const float *B, int r, float scale, float p, lora_cache *c, int M, const float *dy)
{
	an_err e;
	double s = 0;

	lora_forward(d, y, x, b, A, B, r, scale, p, 99, c, M, &e);
	for (size_t i = 0; i < (size_t)M * b->N; i++)
		s += (double)y[i] * dy[i];
	return s;
}

static uint64_t rs = 0x2545F4914F6CDD1Dull;
static float frand(void)
{
	rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
	return (float)((rs >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

/* Central differences on a random fp32 problem with dropout on. */
static void test_fd(an_dev *d)
{
	enum { M = 3, K = 20, N = 7, R = 3 };
	float x[M * K], w[N * K], bias[N], A[R * K], B[N * R], dy[M * N], y[M * N];
	float dx[M * K], dA[R * K] = {0}, dB[N * R] = {0};
	const float scale = 2.0f, p = 0.3f, h = 1e-2f;
	lora_base b = {LORA_BASE_F32, w, NULL, bias, N, K};
	lora_cache c;
	an_err e;
	float *params[3] = {A, B, x}, *grads[3] = {dA, dB, dx};
	const int sizes[3] = {R * K, N * R, M * K};
	const char *names[3] = {"lora_fd_dA", "lora_fd_dB", "lora_fd_dx"};

	for (int i = 0; i < M * K; i++) x[i] = frand();
	for (int i = 0; i < N * K; i++) w[i] = frand();
	for (int i = 0; i < N; i++) bias[i] = frand();
	for (int i = 0; i < R * K; i++) A[i] = frand();
	for (int i = 0; i < N * R; i++) B[i] = frand();
	for (int i = 0; i < M * N; i++) dy[i] = frand();
	if (lora_cache_init(&c, d, M, K, N, R, 1, &e) < 0) {
		CHECK(0, "lora_fd", "%s", e.msg);
		return;
	}
	loss(d, y, x, &b, A, B, R, scale, p, &c, M, dy);
	lora_backward(d, dx, dA, dB, dy, x, &b, A, B, R, scale, p, &c, M, 0, &e);
	for (int k = 0; k < 3; k++) {
		double worst = 0;

		for (int i = 0; i < sizes[k]; i++) {
			float keep = params[k][i];
			double lp, lm, num;

			params[k][i] = keep + h;
			lp = loss(d, y, x, &b, A, B, R, scale, p, &c, M, dy);
			params[k][i] = keep - h;
			lm = loss(d, y, x, &b, A, B, R, scale, p, &c, M, dy);
			params[k][i] = keep;
			num = (lp - lm) / (2.0 * h);
			double err = fabs(num - grads[k][i]) / (fabs(num) + fabs(grads[k][i]) + 1e-3);
			if (err > worst)
				worst = err;
		}
		CHECK(worst < 1e-3, names[k], "worst relative difference %g", worst);
	}
	lora_cache_free(&c, d);
}

static void test_dropout(void)
{
	enum { N = 1 << 20 };
	uint8_t *m1 = malloc(N), *m2 = malloc(N), *m3 = malloc(N);
	float *x = malloc(N * 4), *o = malloc(N * 4);
	size_t kept = 0, same = 0;
	int ok = 1;

	for (size_t i = 0; i < N; i++)
		x[i] = 1.0f;
	lora_dropout_cpu(o, m1, x, 0.05f, 42, N);
	lora_dropout_cpu(o, m2, x, 0.05f, 42, N);
	lora_dropout_cpu(o, m3, x, 0.05f, 43, N);
	for (size_t i = 0; i < N; i++) {
		kept += m1[i];
		same += m1[i] == m3[i];
		ok &= o[i] == (m3[i] ? 1.0f / 0.95f : 0.0f);
	}
	double frac = (double)kept / N;
	CHECK(frac > 0.948 && frac < 0.952, "lora_dropout_rate", "kept %.4f, expected 0.95", frac);
	CHECK(memcmp(m1, m2, N) == 0, "lora_dropout_seeded", "same seed, different masks");
	CHECK(same < N - 1000, "lora_dropout_seed_changes", "seeds 42 and 43 agree on %zu of %d", same, N);
	CHECK(ok, "lora_dropout_values", "kept values are not x / (1 - p)");
	lora_dropout_cpu(o, m1, x, 0.0f, 42, N);
	kept = 0;
	for (size_t i = 0; i < N; i++)
		kept += m1[i] && o[i] == 1.0f;
	CHECK(kept == N, "lora_dropout_p0", "p = 0 dropped %zu", (size_t)N - kept);
	free(m1); free(m2); free(m3); free(x); free(o);
}

static void test_errors(an_dev *d)
{
	float w[4 * 8] = {0}, x[2 * 8] = {0}, y[2 * 4], A[2 * 8] = {0}, B[4 * 2] = {0};
	lora_base b = {LORA_BASE_F32, w, NULL, NULL, 4, 8};
	lora_cache c;
	an_err e = {0};
	int rc;

	lora_cache_init(&c, d, 1, 8, 4, 2, 0, &e);
	rc = lora_forward(d, y, x, &b, A, B, 2, 2.0f, 0.0f, 0, &c, 2, &e);
	CHECK(rc < 0 && strstr(e.msg, "Mmax"), "lora_cache_too_small", "rc %d msg \"%s\"", rc, e.msg);
	rc = lora_forward(d, y, x, &b, A, B, 2, 2.0f, 0.1f, 0, &c, 1, &e);
	CHECK(rc < 0 && strstr(e.msg, "dropout"), "lora_dropout_needs_cache", "rc %d msg \"%s\"", rc, e.msg);
	b.kind = 7;
	rc = lora_forward(d, y, x, &b, A, B, 2, 2.0f, 0.0f, 0, &c, 1, &e);
	CHECK(rc < 0 && strstr(e.msg, "base"), "lora_bad_base", "rc %d msg \"%s\"", rc, e.msg);
	lora_cache_free(&c, d);
	/* r = 0: the base alone, no cache needed */
	b.kind = LORA_BASE_F32;
	for (int i = 0; i < 8; i++)
		x[i] = 1, w[i] = 0.5f;
	rc = lora_forward(d, y, x, &b, NULL, NULL, 0, 2.0f, 0.0f, 0, NULL, 1, &e);
	CHECK(rc == 0 && y[0] == 4.0f && y[1] == 0.0f, "lora_r0_base_only", "rc %d y %g %g", rc, y[0], y[1]);
}

int main(void)
{
	an_err e;
	an_dev *d = dev_open("cpu", 0, &e);

	if (!d) {
		CHECK(0, "dev_open", "%s", e.msg);
		return t_done();
	}
	run_case(d, "f32", (gcase){.M = 5, .K = 48, .N = 24, .r = 4, .bias = 1, .kind = LORA_BASE_F32,
			.scale = 2.0f, .p = 0.1f, .seed = 1234});
	run_case(d, "bf16", (gcase){.M = 3, .K = 64, .N = 16, .r = 8, .bias = 0, .kind = LORA_BASE_BF16,
			.scale = 2.0f, .p = 0.0f, .seed = 0});
	run_case(d, "nf4", (gcase){.M = 4, .K = 128, .N = 12, .r = 16, .bias = 1, .kind = LORA_BASE_NF4,
			.scale = 2.0f, .p = 0.05f, .seed = 7});
	test_fd(d);
	test_dropout();
	test_errors(d);
	dev_close(d);
	return t_done();
}
