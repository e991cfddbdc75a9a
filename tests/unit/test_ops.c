/* test_ops: every CPU op of common/ops.h against PyTorch golden files
 * (tests/gen/gen_ops.py writes tests/golden/ops/NAME.safetensors, read with our
 * own st.c), every backward also against central finite differences, the
 * backward rule (parameter grads +=, activation grads =), and the device
 * dispatch of dev.h on the CPU. */
#include <float.h>
#include <stddef.h>
#include <stdint.h>

#include "dev.h"
#include "half.h"
#include "ops.h"
#include "st.h"
#include "test.h"
#include "vexp.h"

#define TOL   1e-5     /* fp32 forward/backward vs a float64 reference */
#define FDTOL 5e-3     /* fp32 central differences */

static st g;            /* the golden file being checked */
static char gname[64];
static int gok;

static int golden(const char *name)
{
	char path[4096];
	const char *root = getenv("ROOT");
	an_err e = {0};

	st_close(&g);
	snprintf(gname, sizeof gname, "%s", name);
	snprintf(path, sizeof path, "%s/tests/golden/ops/%s.safetensors", root ? root : ".", name);
	gok = st_open(&g, path, &e) == 0;
	CHECK(gok, name, "cannot read golden file: %s", e.msg);
	return gok;
}

/* A golden tensor as fp32 (malloc'd, freed by the caller); n = numel. */
static float *gf(const char *name, size_t *n)
{
	const st_tensor *t = st_find(&g, name);
	an_err e = {0};

	if (!t) {
		fprintf(stderr, "golden %s: no tensor %s\n", gname, name);
		exit(2);
	}
	float *p = malloc((t->numel ? t->numel : 1) * sizeof *p);
	if (!p || st_read_f32(&g, t, p, t->numel, &e) < 0) {
		fprintf(stderr, "golden %s: %s\n", gname, e.msg);
		exit(2);
	}
	if (n)
		*n = t->numel;
	return p;
}

static int *gi(const char *name, size_t *n)
{
	const st_tensor *t = st_find(&g, name);
	an_err e = {0};

	if (!t) {
		fprintf(stderr, "golden %s: no tensor %s\n", gname, name);
		exit(2);
	}
	int64_t *q = malloc((t->numel ? t->numel : 1) * sizeof *q);
	int *p = malloc((t->numel ? t->numel : 1) * sizeof *p);
	if (!q || !p || st_read_i64(&g, t, q, t->numel, &e) < 0) {
		fprintf(stderr, "golden %s: %s\n", gname, e.msg);
		exit(2);
	}
	for (size_t i = 0; i < t->numel; i++)
		p[i] = (int)q[i];
	free(q);
	if (n)
		*n = t->numel;
	return p;
}

static float gs(const char *name)
{
	float *p = gf(name, NULL), v = p[0];

	free(p);
	return v;
}

static void cmp(const char *what, const float *got, const char *ref, size_t n, double tol)
{
	size_t rn;
	float *r = gf(ref, &rn);
	char name[160];

	snprintf(name, sizeof name, "%s %s", gname, what);
	if (rn != n)
		CHECK(0, name, "size %zu, golden %zu", n, rn);
	else {
		double err = t_relerr(got, r, n);

		CHECK(err <= tol, name, "relative error %.3g > %.1g", err, tol);
	}
	free(r);
}

/* Central differences of f (a scalar, in double) w.r.t. x[0..n). */
static void fd(const char *what, float *x, size_t n, const float *analytic,
		double (*f)(void))
{
	float *num = malloc(n * sizeof *num);
	char name[160];

	for (size_t i = 0; i < n; i++) {
		float x0 = x[i];
		float h = 1e-2f * (fabsf(x0) > 1 ? fabsf(x0) : 1);

		x[i] = x0 + h;
		double fp = f();
		x[i] = x0 - h;
		double fm = f();
		x[i] = x0;
		num[i] = (float)((fp - fm) / (2.0 * h));
	}
	snprintf(name, sizeof name, "%s fd %s", gname, what);
	double err = t_relerr(analytic, num, n);
	CHECK(err <= FDTOL, name, "relative error vs finite differences %.3g > %.1g", err, FDTOL);
	free(num);
}

static double dotd(const float *a, const float *b, size_t n)
{
	double s = 0;

	for (size_t i = 0; i < n; i++)
		s += (double)a[i] * b[i];
	return s;
}

static float *fill(size_t n, float v)
{
	float *p = malloc((n ? n : 1) * sizeof *p);

	for (size_t i = 0; i < n; i++)
		p[i] = v;
	return p;
}

static float *dup_add(const char *ref, float add, size_t *n)
{
	float *p = gf(ref, n);

	for (size_t i = 0; i < *n; i++)
		p[i] += add;
	return p;
}

/* ------------------------------------------------------------------ half */

static void test_half(void)
{
	size_t n;

	if (!golden("half"))
		return;
	float *x = gf("x", &n);
	int *bf = gi("bf16", NULL), *hf = gi("f16", NULL);
	size_t bad_b = 0, bad_h = 0, bad_rb = 0, bad_rh = 0;
	for (size_t i = 0; i < n; i++) {
		uint16_t b = f32_to_bf16(x[i]), h = f32_to_f16(x[i]);

		if (b != (uint16_t)bf[i]) {
			if (!bad_b++)
				printf("# bf16(%.9g) = %04x, torch %04x\n", x[i], b, bf[i]);
		}
		if (h != (uint16_t)hf[i]) {
			if (!bad_h++)
				printf("# f16(%.9g) = %04x, torch %04x\n", x[i], h, hf[i]);
		}
		/* widening back: torch's value of the 16-bit number */
		float wb = bf16_to_f32((uint16_t)bf[i]), wh = f16_to_f32((uint16_t)hf[i]);
		if (!(wb == (float)x[i] || isnan(x[i]) ||
				fabsf(wb - x[i]) <= fabsf(x[i]) * (1.0f / 256) || isinf(wb)))
			bad_rb++;
		if (!(isinf(wh) || fabsf(wh - x[i]) <= fabsf(x[i]) * (1.0f / 1024) + 6e-8f))
			bad_rh++;
	}
	CHECK(bad_b == 0, "half f32_to_bf16 vs torch", "%zu of %zu differ", bad_b, n);
	CHECK(bad_h == 0, "half f32_to_f16 vs torch", "%zu of %zu differ", bad_h, n);
	CHECK(bad_rb == 0 && bad_rh == 0, "half widening", "%zu bf16, %zu f16 off", bad_rb, bad_rh);
	/* every fp16 pattern survives f16 -> f32 -> f16 (NaNs stay NaN) */
	size_t bad = 0;
	for (uint32_t h = 0; h < 65536; h++) {
		float f = f16_to_f32((uint16_t)h);
		uint16_t back = f32_to_f16(f);

		if (isnan(f) ? (back & 0x7c00) != 0x7c00 || !(back & 0x3ff) : back != h)
			bad++;
	}
	CHECK(bad == 0, "half f16 round trip of all 65536 patterns", "%zu differ", bad);
	bad = 0;
	for (uint32_t h = 0; h < 65536; h++) {
		float f = bf16_to_f32((uint16_t)h);

		if (!isnan(f) && f32_to_bf16(f) != h)
			bad++;
	}
	CHECK(bad == 0, "half bf16 round trip of all 65536 patterns", "%zu differ", bad);
	free(x); free(bf); free(hf);
}

/* vexpf (vexp.h) against libm expf: within 2 ulp over its range. */
static void test_vexp(void)
{
	double worst = 0;
	float at = 0;

	for (float x = -87.3f; x < 88.7f; x += 0.00731f) {
		float a = vexpf(x), b = expf(x);
		double ulp = nextafterf(b, INFINITY) - b;
		double u = fabs((double)a - b) / ulp;

		if (u > worst) {
			worst = u;
			at = x;
		}
	}
	CHECK(worst <= 2.0, "vexpf within 2 ulp of expf", "%.1f ulp at %g", worst, at);
	worst = 0;
	for (float x = -6.0f; x < 6.0f; x += 0.0000917f) {
		float a = verff(x), b = erff(x);
		double ulp = nextafterf(fabsf(b), INFINITY) - fabsf(b);
		double u = fabs((double)a - b) / ulp;

		if (u > worst) {
			worst = u;
			at = x;
		}
	}
	CHECK(worst <= 3.0, "verff within 3 ulp of erff", "%.1f ulp at %g", worst, at);
	CHECK(verff(0) == 0 && verff(10) == 1 && verff(-10) == -1 && isnan(verff(NAN)),
			"verff special values", "%g %g", verff(10), verff(NAN));
	CHECK(vexpf(-INFINITY) == 0 && vexpf(-200) == 0 && isinf(vexpf(100)) && isnan(vexpf(NAN)) &&
			vexpf(0) == 1.0f && vexpf(88.5f) == expf(88.5f), "vexpf special values",
			"%g %g %g %g", vexpf(-INFINITY), vexpf(100), vexpf(NAN), vexpf(0));
}

/* ---------------------------------------------------------------- matmul */

static float *mm_inp, *mm_w, *mm_b, *mm_dout;
static int mM, mK, mN;

static double f_matmul(void)
{
	float *out = malloc((size_t)mM * mN * sizeof *out);
	matmul_forward_cpu(out, mm_inp, mm_w, mm_b, mM, mK, mN);
	double s = dotd(out, mm_dout, (size_t)mM * mN);
	free(out);
	return s;
}

static void test_matmul(void)
{
	size_t n;

	if (!golden("matmul"))
		return;
	mm_inp = gf("inp", &n);
	mm_w = gf("w", &n);
	mm_b = gf("b", &n);
	mm_dout = gf("dout", &n);
	mN = (int)n;
	mM = 5; mK = 7; mN = 6;
	float *out = fill((size_t)mM * mN, NAN);
	matmul_forward_cpu(out, mm_inp, mm_w, mm_b, mM, mK, mN);
	cmp("forward", out, "out", (size_t)mM * mN, TOL);

	/* backward: dinp assigned over garbage, dw/db accumulated onto 1.0 */
	float *dinp = fill((size_t)mM * mK, NAN), *dw = fill((size_t)mN * mK, 1.0f);
	float *db = fill((size_t)mN, 1.0f);
	matmul_backward_cpu(dinp, dw, db, mm_dout, mm_inp, mm_w, mM, mK, mN, 0);
	cmp("dinp", dinp, "dinp", (size_t)mM * mK, TOL);
	float *rdw = dup_add("dw", 1.0f, &n), *rdb = dup_add("db", 1.0f, &n);
	CHECK(t_relerr(dw, rdw, (size_t)mN * mK) <= TOL, "matmul dw accumulates (+=)", "%.3g",
			t_relerr(dw, rdw, (size_t)mN * mK));
	CHECK(t_relerr(db, rdb, (size_t)mN) <= TOL, "matmul dbias accumulates (+=)", "%.3g",
			t_relerr(db, rdb, (size_t)mN));
	/* acc = 1 adds into dinp */
	float *d2 = gf("dinp", &n);
	matmul_backward_cpu(d2, NULL, NULL, mm_dout, mm_inp, mm_w, mM, mK, mN, 1);
	for (size_t i = 0; i < n; i++)
		d2[i] *= 0.5f;
	cmp("dinp acc=1 adds", d2, "dinp", n, TOL);

	/* finite differences */
	float *dw0 = fill((size_t)mN * mK, 0), *db0 = fill((size_t)mN, 0);
	matmul_backward_cpu(dinp, dw0, db0, mm_dout, mm_inp, mm_w, mM, mK, mN, 0);
	fd("dinp", mm_inp, (size_t)mM * mK, dinp, f_matmul);
	fd("dw", mm_w, (size_t)mN * mK, dw0, f_matmul);
	fd("db", mm_b, (size_t)mN, db0, f_matmul);

	/* bf16 weights: same as fp32 weights rounded to bf16 */
	uint16_t *wb = malloc((size_t)mN * mK * 2);
	float *wr = malloc((size_t)mN * mK * 4), *o1 = fill((size_t)mM * mN, 0),
	      *o2 = fill((size_t)mM * mN, NAN);
	for (int i = 0; i < mN * mK; i++) {
		wb[i] = f32_to_bf16(mm_w[i]);
		wr[i] = bf16_to_f32(wb[i]);
	}
	an_err e = {0};
	matmul_forward_cpu(o1, mm_inp, wr, mm_b, mM, mK, mN);
	CHECK(matmul_forward_bf16_cpu(o2, mm_inp, wb, mm_b, mM, mK, mN, &e) == 0 &&
			t_relerr(o2, o1, (size_t)mM * mN) <= TOL, "matmul bf16 forward", "%s %.3g",
			e.msg, t_relerr(o2, o1, (size_t)mM * mN));
	float *g1 = fill((size_t)mM * mK, 0), *g2 = fill((size_t)mM * mK, NAN);
	matmul_backward_cpu(g1, NULL, NULL, mm_dout, mm_inp, wr, mM, mK, mN, 0);
	CHECK(matmul_backward_bf16_cpu(g2, mm_dout, wb, mM, mK, mN, 0, &e) == 0 &&
			t_relerr(g2, g1, (size_t)mM * mK) <= TOL, "matmul bf16 backward dinp", "%.3g",
			t_relerr(g2, g1, (size_t)mM * mK));
	free(wb); free(wr); free(o1); free(o2); free(g1); free(g2);
	free(out); free(dinp); free(dw); free(db); free(rdw); free(rdb); free(d2); free(dw0); free(db0);
	free(mm_inp); free(mm_w); free(mm_b); free(mm_dout);
}

/* A larger odd-sized product against a naive triple loop (OpenBLAS paths). */
static void test_matmul_big(void)
{
	int M = 37, K = 131, N = 67;
	float *x = malloc((size_t)M * K * 4), *w = malloc((size_t)N * K * 4), *b = malloc(N * 4);
	float *o = malloc((size_t)M * N * 4), *r = malloc((size_t)M * N * 4);
	uint32_t s = 12345;

#define RND() ((s = s * 1664525u + 1013904223u), (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f)
	for (int i = 0; i < M * K; i++) x[i] = RND();
	for (int i = 0; i < N * K; i++) w[i] = RND();
	for (int i = 0; i < N; i++) b[i] = RND();
	for (int m = 0; m < M; m++)
		for (int n = 0; n < N; n++) {
			double a = b[n];

			for (int k = 0; k < K; k++)
				a += (double)x[m * K + k] * w[n * K + k];
			r[m * N + n] = (float)a;
		}
	matmul_forward_cpu(o, x, w, b, M, K, N);
	CHECK(t_relerr(o, r, (size_t)M * N) <= TOL, "matmul 37x131x67 vs naive", "%.3g",
			t_relerr(o, r, (size_t)M * N));
	free(x); free(w); free(b); free(o); free(r);
}

/* --------------------------------------------------------- normalization */

static float *ln_x, *ln_w, *ln_b, *ln_dout;
static int lM, lC;
static float ln_eps;
static int ln_rms;

static double f_norm(void)
{
	float *out = malloc((size_t)lM * lC * sizeof *out);
	if (ln_rms)
		rmsnorm_forward_cpu(out, NULL, ln_x, ln_w, ln_eps, lM, lC);
	else
		layernorm_forward_cpu(out, NULL, NULL, ln_x, ln_w, ln_b, ln_eps, lM, lC);
	double s = dotd(out, ln_dout, (size_t)lM * lC);
	free(out);
	return s;
}

static void test_layernorm(void)
{
	size_t n;

	if (!golden("layernorm"))
		return;
	ln_rms = 0; lM = 4; lC = 10;
	ln_x = gf("inp", &n); ln_w = gf("w", &n); ln_b = gf("b", &n); ln_dout = gf("dout", &n);
	ln_eps = gs("eps");
	float *out = fill(40, NAN), *mean = fill(4, NAN), *rstd = fill(4, NAN);
	layernorm_forward_cpu(out, mean, rstd, ln_x, ln_w, ln_b, ln_eps, lM, lC);
	cmp("forward", out, "out", 40, TOL);
	cmp("mean", mean, "mean", 4, TOL);
	cmp("rstd", rstd, "rstd", 4, TOL);
	float *dx = fill(40, NAN), *dw = fill(10, 1), *db = fill(10, 1);
	layernorm_backward_cpu(dx, dw, db, ln_dout, ln_x, ln_w, mean, rstd, lM, lC);
	cmp("dinp", dx, "dinp", 40, TOL);
	float *rw = dup_add("dw", 1, &n), *rb = dup_add("db", 1, &n);
	CHECK(t_relerr(dw, rw, 10) <= TOL && t_relerr(db, rb, 10) <= TOL,
			"layernorm dweight dbias accumulate (+=)", "%.3g %.3g",
			t_relerr(dw, rw, 10), t_relerr(db, rb, 10));
	for (int i = 0; i < 10; i++) { dw[i] -= 1; db[i] -= 1; }
	fd("dinp", ln_x, 40, dx, f_norm);
	fd("dweight", ln_w, 10, dw, f_norm);
	fd("dbias", ln_b, 10, db, f_norm);
	free(out); free(mean); free(rstd); free(dx); free(dw); free(db); free(rw); free(rb);
	free(ln_x); free(ln_w); free(ln_b); free(ln_dout);
}

static void test_rmsnorm(void)
{
	size_t n;

	if (!golden("rmsnorm"))
		return;
	ln_rms = 1; lM = 4; lC = 10;
	ln_x = gf("inp", &n); ln_w = gf("w", &n); ln_b = NULL; ln_dout = gf("dout", &n);
	ln_eps = gs("eps");
	float *out = fill(40, NAN), *rstd = fill(4, NAN);
	rmsnorm_forward_cpu(out, rstd, ln_x, ln_w, ln_eps, lM, lC);
	cmp("forward", out, "out", 40, TOL);
	cmp("rstd", rstd, "rstd", 4, TOL);
	float *dx = fill(40, NAN), *dw = fill(10, 1);
	rmsnorm_backward_cpu(dx, dw, ln_dout, ln_x, ln_w, rstd, lM, lC);
	cmp("dinp", dx, "dinp", 40, TOL);
	float *rw = dup_add("dw", 1, &n);
	CHECK(t_relerr(dw, rw, 10) <= TOL, "rmsnorm dweight accumulates (+=)", "%.3g",
			t_relerr(dw, rw, 10));
	for (int i = 0; i < 10; i++) dw[i] -= 1;
	fd("dinp", ln_x, 40, dx, f_norm);
	fd("dweight", ln_w, 10, dw, f_norm);
	free(out); free(rstd); free(dx); free(dw); free(rw); free(ln_x); free(ln_w); free(ln_dout);
}

/* ------------------------------------------------------------- pointwise */

static float *pw_x, *pw_x2, *pw_dout;
static size_t pw_n;
static int pw_kind;   /* 0 gelu, 1 silu, 2 swiglu */

static double f_pw(void)
{
	float *out = malloc(pw_n * sizeof *out);
	if (pw_kind == 0)
		gelu_forward_cpu(out, pw_x, pw_n);
	else if (pw_kind == 1)
		silu_forward_cpu(out, pw_x, pw_n);
	else
		swiglu_forward_cpu(out, pw_x, pw_x2, pw_n);
	double s = dotd(out, pw_dout, pw_n);
	free(out);
	return s;
}

static void test_pointwise(void)
{
	if (!golden("pointwise"))
		return;
	pw_x = gf("x", &pw_n);
	pw_dout = gf("dout", NULL);
	float *y = fill(pw_n, NAN), *dx = fill(pw_n, NAN);
	gelu_forward_cpu(y, pw_x, pw_n);
	cmp("gelu", y, "gelu", pw_n, TOL);
	gelu_backward_cpu(dx, pw_dout, pw_x, pw_n);
	cmp("dgelu", dx, "dgelu", pw_n, TOL);
	pw_kind = 0;
	fd("gelu", pw_x, pw_n, dx, f_pw);
	silu_forward_cpu(y, pw_x, pw_n);
	cmp("silu", y, "silu", pw_n, TOL);
	silu_backward_cpu(dx, pw_dout, pw_x, pw_n);
	cmp("dsilu", dx, "dsilu", pw_n, TOL);
	pw_kind = 1;
	fd("silu", pw_x, pw_n, dx, f_pw);
	/* in place */
	memcpy(y, pw_x, pw_n * 4);
	gelu_forward_cpu(y, y, pw_n);
	cmp("gelu in place", y, "gelu", pw_n, TOL);
	free(pw_x); free(pw_dout); free(y); free(dx);

	if (!golden("swiglu"))
		return;
	pw_x = gf("gate", &pw_n);
	pw_x2 = gf("up", NULL);
	pw_dout = gf("dout", NULL);
	y = fill(pw_n, NAN);
	float *dg = fill(pw_n, NAN), *du = fill(pw_n, NAN);
	swiglu_forward_cpu(y, pw_x, pw_x2, pw_n);
	cmp("forward", y, "out", pw_n, TOL);
	swiglu_backward_cpu(dg, du, pw_dout, pw_x, pw_x2, pw_n);
	cmp("dgate", dg, "dgate", pw_n, TOL);
	cmp("dup", du, "dup", pw_n, TOL);
	pw_kind = 2;
	fd("dgate", pw_x, pw_n, dg, f_pw);
	fd("dup", pw_x2, pw_n, du, f_pw);
	free(pw_x); free(pw_x2); free(pw_dout); free(y); free(dg); free(du);

	/* residual helpers */
	float a[5] = {1, 2, 3, 4, 5}, b[5] = {.5f, -1, 0, 2, 1}, o[5];
	add_forward_cpu(o, a, b, 5);
	add_inplace_cpu(a, b, 5);
	scale_cpu(a, 2, 5);
	CHECK(o[1] == 1 && o[4] == 6 && a[0] == 3 && a[3] == 12, "add, add_inplace, scale",
			"%g %g %g %g", o[1], o[4], a[0], a[3]);
}

/* --------------------------------------------------------------- softmax */

static float *sm_x, *sm_dout;

static double f_softmax(void)
{
	float out[21];
	softmax_forward_cpu(out, sm_x, 3, 7);
	return dotd(out, sm_dout, 21);
}

static void test_softmax(void)
{
	if (!golden("softmax"))
		return;
	sm_x = gf("inp", NULL); sm_dout = gf("dout", NULL);
	float y[21], dx[21];
	softmax_forward_cpu(y, sm_x, 3, 7);
	cmp("forward", y, "out", 21, TOL);
	softmax_backward_cpu(dx, sm_dout, y, 3, 7);
	cmp("dinp", dx, "dinp", 21, TOL);
	fd("dinp", sm_x, 21, dx, f_softmax);
	free(sm_x); free(sm_dout);
}

/* ------------------------------------------------------------------ rope */

static void test_rope_tables(void)
{
	an_err e = {0};
	size_t np, n;

	if (golden("rope_llama3")) {
		rope_cfg c = {.dim = 128, .theta = 500000, .factor = 32, .low_freq_factor = 1,
			.high_freq_factor = 4, .original_max_pos = 8192};
		float inv[64];
		CHECK(rope_inv_freq(inv, &c, &e) == 0, "rope_llama3 config", "%s", e.msg);
		cmp("inv_freq", inv, "inv_freq", 64, 1e-6);
		int *pos = gi("pos", &np);
		int P = 131072;
		float *ct = malloc((size_t)P * 64 * 4), *stb = malloc((size_t)P * 64 * 4);
		CHECK(rope_table_init(ct, stb, P, &c, &e) == 0, "rope_llama3 table", "%s", e.msg);
		float *gc = malloc(np * 64 * 4), *gsn = malloc(np * 64 * 4);
		for (size_t i = 0; i < np; i++) {
			memcpy(gc + i * 64, ct + (size_t)pos[i] * 64, 64 * 4);
			memcpy(gsn + i * 64, stb + (size_t)pos[i] * 64, 64 * 4);
		}
		cmp("cos", gc, "cos", np * 64, TOL);
		cmp("sin", gsn, "sin", np * 64, TOL);
		free(pos); free(ct); free(stb); free(gc); free(gsn);
	}
	if (golden("rope_qwen2")) {
		rope_cfg c = {.dim = 16, .theta = 1e6};
		float inv[8];
		rope_inv_freq(inv, &c, &e);
		cmp("inv_freq", inv, "inv_freq", 8, 1e-6);
		int *pos = gi("pos", &np);
		int P = 131072;
		float *ct = malloc((size_t)P * 8 * 4), *stb = malloc((size_t)P * 8 * 4);
		rope_table_init(ct, stb, P, &c, &e);
		float *gc = malloc(np * 8 * 4), *gsn = malloc(np * 8 * 4);
		for (size_t i = 0; i < np; i++) {
			memcpy(gc + i * 8, ct + (size_t)pos[i] * 8, 8 * 4);
			memcpy(gsn + i * 8, stb + (size_t)pos[i] * 8, 8 * 4);
		}
		cmp("cos", gc, "cos", np * 8, TOL);
		cmp("sin", gsn, "sin", np * 8, TOL);
		free(pos); free(ct); free(stb); free(gc); free(gsn);
	}
	if (golden("rope_roformer")) {
		rope_cfg c = {.dim = 16, .theta = 10000, .f64 = 1};
		float ct[64 * 8], stb[64 * 8];
		rope_table_init(ct, stb, 64, &c, &e);
		float *ref = gf("cos", &n);
		CHECK(n == 64 * 8 && memcmp(ref, ct, sizeof ct) == 0, "rope_roformer cos bit-exact",
				"relative error %.3g", t_relerr(ct, ref, 64 * 8));
		free(ref);
		ref = gf("sin", &n);
		CHECK(n == 64 * 8 && memcmp(ref, stb, sizeof stb) == 0, "rope_roformer sin bit-exact",
				"relative error %.3g", t_relerr(stb, ref, 64 * 8));
		free(ref);
	}
	rope_cfg bad = {.dim = 7, .theta = 10000};
	float tmp[8];
	CHECK(rope_table_init(tmp, tmp, 1, &bad, &e) < 0 && strstr(e.msg, "even"),
			"rope odd dim rejected", "%s", e.msg);
	rope_cfg bad2 = {.dim = 8, .theta = 10000, .factor = 8, .low_freq_factor = 4,
		.high_freq_factor = 1, .original_max_pos = 8192};
	CHECK(rope_table_init(tmp, tmp, 1, &bad2, &e) < 0, "rope bad llama3 factors rejected",
			"accepted");
}

static float *rp_x, *rp_dout, *rp_cos, *rp_sin;
static int rp_pair, rp_p0;

static double f_rope(void)
{
	float out[2 * 3 * 2 * 8];
	rope_forward_cpu(out, rp_x, rp_cos, rp_sin, NULL, rp_p0, 2, 3, 2, 8, rp_pair);
	return dotd(out, rp_dout, 96);
}

static void test_rope_apply(void)
{
	if (!golden("rope_apply"))
		return;
	rp_x = gf("x", NULL); rp_dout = gf("dout", NULL);
	rp_cos = gf("cos", NULL); rp_sin = gf("sin", NULL);
	int *p0 = gi("p0", NULL);
	rp_p0 = p0[0];
	float y[96], dx[96];
	for (rp_pair = 0; rp_pair < 2; rp_pair++) {
		const char *nm = rp_pair == ROPE_HALF ? "half" : "inter";
		char w[32];

		rope_forward_cpu(y, rp_x, rp_cos, rp_sin, NULL, rp_p0, 2, 3, 2, 8, rp_pair);
		snprintf(w, sizeof w, "%s forward", nm);
		cmp(w, y, nm, 96, TOL);
		rope_backward_cpu(dx, rp_dout, rp_cos, rp_sin, NULL, rp_p0, 2, 3, 2, 8, rp_pair);
		snprintf(w, sizeof w, "d%s", nm);
		cmp(w, dx, rp_pair == ROPE_HALF ? "dhalf" : "dinter", 96, TOL);
		fd(w, rp_x, 96, dx, f_rope);
		/* explicit positions equal p0 + t; in place */
		int pos[6];
		for (int i = 0; i < 6; i++)
			pos[i] = rp_p0 + i % 3;
		memcpy(y, rp_x, sizeof y);
		rope_forward_cpu(y, y, rp_cos, rp_sin, pos, 0, 2, 3, 2, 8, rp_pair);
		snprintf(w, sizeof w, "%s pos[] in place", nm);
		cmp(w, y, nm, 96, TOL);
	}
	free(rp_x); free(rp_dout); free(rp_cos); free(rp_sin); free(p0);
}

/* ------------------------------------------------------------- attention */

static float *at_q, *at_k, *at_v, *at_dout;
static int *at_mask;
static attn_dims at_d;

static double f_attn(void)
{
	size_t n = (size_t)at_d.B * at_d.Tq * at_d.Hq * at_d.D;
	float *out = malloc(n * sizeof *out);
	attention_forward_cpu(out, NULL, at_q, at_k, at_v, at_mask, &at_d);
	double s = dotd(out, at_dout, n);
	free(out);
	return s;
}

static void test_attention_case(const char *name)
{
	size_t nq, nk;

	if (!golden(name))
		return;
	int *dims = gi("dims", NULL);
	attn_dims a = {.B = dims[0], .Tq = dims[1], .Tk = dims[2], .Tkmax = dims[3],
		.Hq = dims[4], .Hkv = dims[5], .D = dims[6], .p0 = dims[7], .causal = dims[8]};
	int usemask = dims[9];
	a.scale = gs("scale");
	at_d = a;
	at_q = gf("q", &nq); at_k = gf("k", &nk); at_v = gf("v", NULL); at_dout = gf("dout", NULL);
	at_mask = usemask ? gi("kmask", NULL) : NULL;
	size_t nl = (size_t)a.B * a.Hq * a.Tq;
	float *out = fill(nq, NAN), *lse = fill(nl, NAN);
	attention_forward_cpu(out, lse, at_q, at_k, at_v, at_mask, &a);
	cmp("forward", out, "out", nq, TOL);
	cmp("lse", lse, "lse", nl, TOL);
	float *dq = fill(nq, NAN), *dk = fill(nk, 7.0f), *dv = fill(nk, 7.0f);
	attention_backward_cpu(dq, dk, dv, at_dout, at_q, at_k, at_v, out, lse, at_mask, &a);
	cmp("dq", dq, "dq", nq, TOL);
	/* rows >= Tk of the cache are untouched; compare rows < Tk */
	float *rk = gf("dk", NULL), *rv = gf("dv", NULL);
	size_t row = (size_t)a.Hkv * a.D;
	int untouched = 1;
	for (int b = 0; b < a.B; b++)
		for (int j = a.Tk; j < a.Tkmax; j++)
			for (size_t c = 0; c < row; c++) {
				size_t i = ((size_t)b * a.Tkmax + j) * row + c;

				untouched &= dk[i] == 7.0f && dv[i] == 7.0f;
				dk[i] = rk[i];
				dv[i] = rv[i];
			}
	if (a.Tk < a.Tkmax)
		CHECK(untouched, "attention cache rows >= Tk untouched", "written");
	cmp("dk", dk, "dk", nk, TOL);
	cmp("dv", dv, "dv", nk, TOL);
	fd("dq", at_q, nq, dq, f_attn);
	/* fd over the visible rows only: take the whole buffer, the rest have 0 grads */
	for (int b = 0; b < a.B; b++)
		for (int j = a.Tk; j < a.Tkmax; j++)
			for (size_t c = 0; c < row; c++) {
				size_t i = ((size_t)b * a.Tkmax + j) * row + c;
				dk[i] = dv[i] = 0;
			}
	fd("dk", at_k, nk, dk, f_attn);
	fd("dv", at_v, nk, dv, f_attn);
	free(rk); free(rv); free(out); free(lse); free(dq); free(dk); free(dv); free(dims);
	free(at_q); free(at_k); free(at_v); free(at_dout); free(at_mask);
}

/* GQA equals MHA with every kv head repeated; decoding token by token
 * against a cache equals one causal pass. */
static void test_attention_props(void)
{
	int B = 2, T = 9, Hq = 6, Hkv = 2, D = 16, g = Hq / Hkv;
	size_t nq = (size_t)B * T * Hq * D, nk = (size_t)B * T * Hkv * D;
	float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4);
	float *k2 = malloc(nq * 4), *v2 = malloc(nq * 4), *o1 = malloc(nq * 4), *o2 = malloc(nq * 4);
	uint32_t s = 99;

	for (size_t i = 0; i < nq; i++) q[i] = RND();
	for (size_t i = 0; i < nk; i++) { k[i] = RND(); v[i] = RND(); }
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++)
			for (int h = 0; h < Hq; h++)
				for (int d = 0; d < D; d++) {
					size_t src = (((size_t)b * T + t) * Hkv + h / g) * D + d;
					size_t dst = (((size_t)b * T + t) * Hq + h) * D + d;
					k2[dst] = k[src];
					v2[dst] = v[src];
				}
	attn_dims a = {.B = B, .Tq = T, .Tk = T, .Tkmax = T, .Hq = Hq, .Hkv = Hkv, .D = D,
		.causal = 1, .scale = 0.25f};
	attention_forward_cpu(o1, NULL, q, k, v, NULL, &a);
	attn_dims m = a;
	m.Hkv = Hq;
	attention_forward_cpu(o2, NULL, q, k2, v2, NULL, &m);
	CHECK(t_relerr(o1, o2, nq) <= TOL, "attention GQA = MHA with repeated kv", "%.3g",
			t_relerr(o1, o2, nq));
	/* token by token: query t at p0 = t against keys [0, t+1) */
	float *o3 = malloc(nq * 4);
	for (int t = 0; t < T; t++) {
		for (int b = 0; b < B; b++) {
			attn_dims c = {.B = 1, .Tq = 1, .Tk = t + 1, .Tkmax = T, .Hq = Hq, .Hkv = Hkv,
				.D = D, .p0 = t, .causal = 1, .scale = 0.25f};
			attention_forward_cpu(o3 + (((size_t)b * T + t) * Hq) * D, NULL,
					q + (((size_t)b * T + t) * Hq) * D,
					k + (size_t)b * T * Hkv * D, v + (size_t)b * T * Hkv * D, NULL, &c);
		}
	}
	CHECK(t_relerr(o3, o1, nq) <= TOL, "attention KV-cache decode = causal prefill", "%.3g",
			t_relerr(o3, o1, nq));
	/* all keys masked: zeros, not NaN */
	int *mask = calloc((size_t)B * T, sizeof *mask);
	float lse[2 * 6 * 9];
	attn_dims nm = a;
	nm.causal = 0;
	attention_forward_cpu(o2, lse, q, k, v, mask, &nm);
	int zeros = 1;
	for (size_t i = 0; i < nq; i++)
		zeros &= o2[i] == 0.0f;
	CHECK(zeros && isinf(lse[0]) && lse[0] < 0, "attention fully masked row gives 0",
			"not zero");
	float *dq = malloc(nq * 4), *dk = malloc(nk * 4), *dv = malloc(nk * 4);
	attention_backward_cpu(dq, dk, dv, q, q, k, v, o2, lse, mask, &nm);
	int fin = 1;
	for (size_t i = 0; i < nk; i++)
		fin &= dk[i] == 0.0f && dv[i] == 0.0f;
	for (size_t i = 0; i < nq; i++)
		fin &= dq[i] == 0.0f;
	CHECK(fin, "attention fully masked backward gives 0", "non-zero or NaN");
	free(q); free(k); free(v); free(k2); free(v2); free(o1); free(o2); free(o3); free(mask);
	free(dq); free(dk); free(dv);
}

/* The blocked (sgemm) attention against the row-at-a-time one on shapes
 * with several query blocks, threads, GQA, masks and a cache. */
static void test_attention_blocked(void)
{
	struct { const char *name; attn_dims a; int mask; } cs[] = {
		{"attention blocked = ref, causal GQA masked",
			{.B = 2, .Tq = 150, .Tk = 150, .Tkmax = 150, .Hq = 4, .Hkv = 2, .D = 16,
			 .causal = 1, .scale = 0.25f}, 1},
		{"attention blocked = ref, cache p0=20",
			{.B = 2, .Tq = 130, .Tk = 150, .Tkmax = 161, .Hq = 3, .Hkv = 1, .D = 8,
			 .p0 = 20, .causal = 1, .scale = 0.3f}, 0},
		{"attention blocked = ref, bidirectional padded",
			{.B = 3, .Tq = 129, .Tk = 129, .Tkmax = 129, .Hq = 2, .Hkv = 2, .D = 32,
			 .scale = 0.17f}, 1},
		{"attention blocked = ref, one query (decode)",
			{.B = 2, .Tq = 1, .Tk = 77, .Tkmax = 80, .Hq = 8, .Hkv = 2, .D = 16,
			 .p0 = 76, .causal = 1, .scale = 0.25f}, 1},
	};
	uint32_t s = 4242;

	for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
		attn_dims a = cs[c].a;
		size_t nq = (size_t)a.B * a.Tq * a.Hq * a.D, nk = (size_t)a.B * a.Tkmax * a.Hkv * a.D;
		size_t nl = (size_t)a.B * a.Hq * a.Tq;
		float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *go = malloc(nq * 4);
		float *o1 = malloc(nq * 4), *o2 = malloc(nq * 4), *l1 = malloc(nl * 4), *l2 = malloc(nl * 4);
		float *q1 = malloc(nq * 4), *q2 = malloc(nq * 4), *k1 = fill(nk, 0), *k2 = fill(nk, 0);
		float *v1 = fill(nk, 0), *v2 = fill(nk, 0);
		int *m = NULL;

		for (size_t i = 0; i < nq; i++) { q[i] = 2 * RND(); go[i] = RND(); }
		for (size_t i = 0; i < nk; i++) { k[i] = 2 * RND(); v[i] = RND(); }
		if (cs[c].mask) {
			m = malloc((size_t)a.B * a.Tkmax * sizeof *m);
			for (int i = 0; i < a.B * a.Tkmax; i++)
				m[i] = (i * 7) % 11 != 3;
		}
		attention_forward_cpu(o1, l1, q, k, v, m, &a);
		attention_forward_ref_cpu(o2, l2, q, k, v, m, &a);
		attention_backward_cpu(q1, k1, v1, go, q, k, v, o1, l1, m, &a);
		attention_backward_ref_cpu(q2, k2, v2, go, q, k, v, o2, l2, m, &a);
		double e = t_relerr(o1, o2, nq), el = t_relerr(l1, l2, nl);
		double eq = t_relerr(q1, q2, nq), ek = t_relerr(k1, k2, nk), ev = t_relerr(v1, v2, nk);
		CHECK(e <= TOL && el <= TOL && eq <= TOL && ek <= TOL && ev <= TOL, cs[c].name,
				"out %.3g lse %.3g dq %.3g dk %.3g dv %.3g", e, el, eq, ek, ev);
		free(q); free(k); free(v); free(go); free(o1); free(o2); free(l1); free(l2);
		free(q1); free(q2); free(k1); free(k2); free(v1); free(v2); free(m);
	}
}

/* ------------------------------------------------------------- embedding */

static void test_embedding(void)
{
	size_t n;
	an_err e = {0};

	if (!golden("embedding"))
		return;
	float *table = gf("table", NULL), *dout = gf("dout", NULL);
	int *ids = gi("ids", &n), *pad = gi("pad", NULL);
	int M = (int)n, C = 6, V = 10;
	float *out = fill((size_t)M * C, NAN);
	CHECK(embedding_forward_cpu(out, ids, table, M, C, V, &e) == 0, "embedding forward runs",
			"%s", e.msg);
	cmp("forward", out, "out", (size_t)M * C, TOL);
	float *dt = fill((size_t)V * C, 1.0f), *rdt = dup_add("dtable", 1.0f, &n);
	embedding_backward_cpu(dt, dout, ids, pad[0], M, C, V);
	CHECK(t_relerr(dt, rdt, n) <= TOL, "embedding dtable scatter-add (+=, padding row 0)",
			"%.3g", t_relerr(dt, rdt, n));
	ids[2] = 10;
	CHECK(embedding_forward_cpu(out, ids, table, M, C, V, &e) < 0 && strstr(e.msg, "token 2"),
			"embedding id out of range rejected", "%s", e.msg);
	ids[2] = -1;
	CHECK(embedding_forward_cpu(out, ids, table, M, C, V, &e) < 0,
			"embedding negative id rejected", "accepted");
	free(table); free(dout); free(ids); free(pad); free(out); free(dt); free(rdt);
}

/* ----------------------------------------------------- meanpool, l2norm */

static float *mp_x, *mp_dout;
static int *mp_mask;
static int mp_l2;

static double f_mp(void)
{
	float out[18];
	if (mp_l2) {
		l2norm_forward_cpu(out, NULL, mp_x, 1e-12f, 3, 6);
		return dotd(out, mp_dout, 18);
	}
	meanpool_forward_cpu(out, mp_x, mp_mask, 2, 5, 4);
	return dotd(out, mp_dout, 8);
}

static void test_pool(void)
{
	if (golden("meanpool")) {
		mp_l2 = 0;
		mp_x = gf("inp", NULL); mp_dout = gf("dout", NULL); mp_mask = gi("mask", NULL);
		float y[8], dx[40];
		meanpool_forward_cpu(y, mp_x, mp_mask, 2, 5, 4);
		cmp("forward", y, "out", 8, TOL);
		meanpool_backward_cpu(dx, mp_dout, mp_mask, 2, 5, 4);
		cmp("dinp", dx, "dinp", 40, TOL);
		fd("dinp", mp_x, 40, dx, f_mp);
		free(mp_x); free(mp_dout); free(mp_mask);
	}
	if (golden("l2norm")) {
		mp_l2 = 1;
		mp_x = gf("inp", NULL); mp_dout = gf("dout", NULL);
		float y[18], dx[18], nr[3];
		l2norm_forward_cpu(y, nr, mp_x, 1e-12f, 3, 6);
		cmp("forward", y, "out", 18, TOL);
		l2norm_backward_cpu(dx, mp_dout, mp_x, 1e-12f, 3, 6);
		cmp("dinp", dx, "dinp", 18, TOL);
		fd("dinp", mp_x, 18, dx, f_mp);
		free(mp_x); free(mp_dout);
	}
}

/* ---------------------------------------------------------------- losses */

static float *ce_x;
static int *ce_t;
static float ce_dloss;

static double f_ce(void)
{
	float loss, lse[6];
	an_err e;
	crossentropy_forward_cpu(&loss, lse, ce_x, ce_t, 6, 11, &e);
	return (double)loss * ce_dloss;
}

static void test_crossentropy(void)
{
	an_err e = {0};

	if (!golden("crossentropy"))
		return;
	ce_x = gf("logits", NULL); ce_t = gi("targets", NULL); ce_dloss = gs("dloss");
	float loss = NAN, lse[6], dx[66];
	CHECK(crossentropy_forward_cpu(&loss, lse, ce_x, ce_t, 6, 11, &e) == 0,
			"crossentropy forward runs", "%s", e.msg);
	cmp("loss", &loss, "loss", 1, TOL);
	cmp("lse", lse, "lse", 6, TOL);
	crossentropy_backward_cpu(dx, ce_x, lse, ce_t, ce_dloss, 6, 11);
	cmp("dlogits", dx, "dlogits", 66, TOL);
	fd("dlogits", ce_x, 66, dx, f_ce);
	/* in place: dlogits aliasing logits */
	float *x2 = gf("logits", NULL);
	crossentropy_backward_cpu(x2, x2, lse, ce_t, ce_dloss, 6, 11);
	cmp("dlogits in place", x2, "dlogits", 66, TOL);
	free(x2);
	ce_t[0] = 11;
	CHECK(crossentropy_forward_cpu(&loss, lse, ce_x, ce_t, 6, 11, &e) < 0 &&
			strstr(e.msg, "position 0"), "crossentropy bad target rejected", "%s", e.msg);
	int all[6] = {-100, -100, -100, -100, -100, -100};
	crossentropy_forward_cpu(&loss, lse, ce_x, all, 6, 11, &e);
	crossentropy_backward_cpu(dx, ce_x, lse, all, 1, 6, 11);
	CHECK(loss == 0 && dx[0] == 0 && dx[65] == 0, "crossentropy all ignored gives 0",
			"loss %g", loss);
	free(ce_x); free(ce_t);
}

static float *nc_a, *nc_b, nc_tau, nc_dloss;
static int nc_sym;

static double f_nce(void)
{
	float loss, logits[25];
	infonce_forward_cpu(&loss, logits, nc_a, nc_b, nc_tau, nc_sym, 5, 8);
	return (double)loss * nc_dloss;
}

static void test_infonce(void)
{
	for (nc_sym = 0; nc_sym < 2; nc_sym++) {
		if (!golden(nc_sym ? "infonce_sym" : "infonce"))
			continue;
		nc_a = gf("a", NULL); nc_b = gf("b", NULL);
		nc_tau = gs("tau"); nc_dloss = gs("dloss");
		float loss, logits[25], da[40], db[40], dtau = 0.5f;
		infonce_forward_cpu(&loss, logits, nc_a, nc_b, nc_tau, nc_sym, 5, 8);
		cmp("loss", &loss, "loss", 1, TOL);
		cmp("logits", logits, "logits", 25, TOL);
		infonce_backward_cpu(da, db, &dtau, logits, nc_a, nc_b, nc_tau, nc_sym, nc_dloss, 5, 8);
		cmp("da", da, "da", 40, TOL);
		cmp("db", db, "db", 40, TOL);
		dtau -= 0.5f;
		cmp("dtau (+=)", &dtau, "dtau", 1, 1e-4);
		fd("da", nc_a, 40, da, f_nce);
		fd("db", nc_b, 40, db, f_nce);
		free(nc_a); free(nc_b);
	}
}

/* ------------------------------------------------------------- optimizer */

static void test_adamw(void)
{
	size_t n;

	if (golden("adamw")) {
		float *p = gf("p0", &n), *m = fill(n, 0), *v = fill(n, 0);
		const char *gn[3] = {"g1", "g2", "g3"};
		for (int t = 1; t <= 3; t++) {
			float *gr = gf(gn[t - 1], NULL);
			adamw_hp hp = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
				.weight_decay = 0.1f, .t = t};
			adamw_update_cpu(p, gr, m, v, n, &hp);
			free(gr);
		}
		cmp("param after 3 steps", p, "p", n, TOL);
		cmp("m", m, "m", n, TOL);
		cmp("v", v, "v", n, TOL);
		free(p); free(m); free(v);
	}
	if (golden("clip")) {
		size_t na, nb;
		float *a = gf("a", &na), *b = gf("b", &nb), mx = gs("max_norm");
		double ss = sumsq_cpu(a, na) + sumsq_cpu(b, nb);
		float norm = (float)sqrt(ss), c = clip_coef(sqrt(ss), mx);
		scale_cpu(a, c, na);
		scale_cpu(b, c, nb);
		cmp("norm", &norm, "norm", 1, TOL);
		cmp("a", a, "ca", na, TOL);
		cmp("b", b, "cb", nb, TOL);
		float one[3] = {0.1f, 0.2f, 0.2f};
		float r = clip_grad_norm_cpu(one, 3, 1.0f);
		CHECK(fabsf(r - 0.3f) < 1e-6f && one[1] == 0.2f, "clip below max_norm is a no-op",
				"%g", r);
		free(a); free(b);
	}
}

/* ------------------------------------------------------- device dispatch */

static void test_dev(void)
{
	an_err e = {0};
	an_dev *d = dev_open("cpu", 0, &e);

	CHECK(d && d->kind == AN_DEV_CPU, "dev_open cpu", "%s", e.msg);
	if (!d)
		return;
	an_dev *bad = dev_open("tpu", 0, &e);
	CHECK(!bad && strstr(e.msg, "tpu"), "dev_open unknown spec rejected", "%s", e.msg);
	bad = dev_open("cuda:x", 0, &e);
	CHECK(!bad, "dev_open cuda:x rejected", "accepted");
	if (!dev_have_cuda()) {
		bad = dev_open("cuda", 0, &e);
		CHECK(!bad && strstr(e.msg, "no CUDA"), "dev_open cuda without CUDA says so", "%s",
				e.msg);
	}
	an_dev *au = dev_open("auto", 0, &e);
	CHECK(au != NULL, "dev_open auto gives a device", "%s", e.msg);
	dev_close(au);

	/* ops through the table equal the direct calls */
	int M = 3, K = 5, N = 4;
	float *x = dev_malloc(d, M * K * 4, &e), *w = dev_malloc(d, N * K * 4, &e);
	float *y = dev_malloc(d, M * N * 4, &e), r[12], hx[15], hw[20];
	uint32_t s = 7;
	for (int i = 0; i < 15; i++) hx[i] = RND();
	for (int i = 0; i < 20; i++) hw[i] = RND();
	dev_upload(d, x, hx, sizeof hx, &e);
	dev_upload(d, w, hw, sizeof hw, &e);
	CHECK(dev_matmul_forward(d, y, x, w, AN_F32, NULL, M, K, N, &e) == 0, "dev matmul runs",
			"%s", e.msg);
	float hy[12];
	dev_download(d, hy, y, sizeof hy, &e);
	matmul_forward_cpu(r, hx, hw, NULL, M, K, N);
	CHECK(memcmp(hy, r, sizeof r) == 0, "dev matmul = matmul_forward_cpu", "differs");
	uint16_t wb[20];
	dev_cast(d, wb, AN_BF16, hw, AN_F32, 20, &e);
	CHECK(dev_matmul_forward(d, y, x, wb, AN_BF16, NULL, M, K, N, &e) == 0,
			"dev matmul bf16 runs", "%s", e.msg);
	CHECK(dev_matmul_backward(d, x, w, NULL, y, x, wb, AN_BF16, M, K, N, 0, &e) < 0 &&
			strstr(e.msg, "bf16"), "dev matmul bf16 dw refused", "%s", e.msg);
	/* the CPU table is complete: every entry after the name is set */
	{
		const struct dev_ops *t = &dev_cpu_ops;
		size_t nslots = (sizeof *t - offsetof(struct dev_ops, open)) / sizeof(void (*)(void));
		size_t missing = 0;

		for (size_t i = 0; i < nslots; i++) {
			void (*fp)(void);

			memcpy(&fp, (const char *)t + offsetof(struct dev_ops, open) + i * sizeof fp,
					sizeof fp);
			missing += fp == NULL;
		}
		/* close is optional on the CPU */
		CHECK(missing == (t->close == NULL), "dev_cpu_ops has every op",
				"%zu of %zu entries NULL", missing, nslots);
	}
	/* a NULL entry is an error, not a crash */
	struct dev_ops ops = dev_cpu_ops;
	ops.gelu_forward = NULL;
	an_dev fake = *d;
	fake.ops = &ops;
	CHECK(dev_gelu_forward(&fake, y, y, 12, &e) < 0 &&
			strcmp(e.msg, "op gelu_forward: no kernel on cpu") == 0,
			"dev NULL op reports no kernel", "%s", e.msg);
	/* clip over two buffers */
	float g1[2] = {3, 0}, g2[1] = {4};
	float *gp[2] = {g1, g2}, norm;
	size_t gn[2] = {2, 1};
	CHECK(dev_clip_grad_norm(d, gp, gn, 2, 1.0f, &norm, &e) == 0 && fabsf(norm - 5) < 1e-6f &&
			fabsf(g1[0] - 0.6f) < 1e-5f && fabsf(g2[0] - 0.8f) < 1e-5f,
			"dev_clip_grad_norm over two buffers", "norm %g g %g %g", norm, g1[0], g2[0]);
	dev_free(d, x); dev_free(d, w); dev_free(d, y);
	dev_close(d);
}

int main(void)
{
	test_half();
	test_vexp();
	test_matmul();
	test_matmul_big();
	test_layernorm();
	test_rmsnorm();
	test_pointwise();
	test_softmax();
	test_rope_tables();
	test_rope_apply();
	test_attention_case("attn_pad");
	test_attention_case("attn_gqa");
	test_attention_case("attn_cache");
	test_attention_case("attn_long");
	test_attention_props();
	test_attention_blocked();
	test_embedding();
	test_pool();
	test_crossentropy();
	test_infonce();
	test_adamw();
	test_dev();
	st_close(&g);
	return t_done();
}
