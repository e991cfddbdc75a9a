/* test_nf4: NF4 quantization against bitsandbytes' algorithm (golden files
 * from tests/gen/gen_nf4.py, cross-checked there with bitsandbytes itself),
 * the fast paths against the _ref oracles, and the NF4 linear. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "half.h"
#include "nf4.h"
#include "test.h"

#define GOLD "tests/golden/nf4/"

/* Reads the next `bytes` of the open golden file into a fresh buffer. */
static void *rd(FILE *f, size_t bytes)
{
	void *p = malloc(bytes ? bytes : 1);

	if (!p || fread(p, 1, bytes, f) != bytes) {
		free(p);
		return NULL;
	}
	return p;
}

static FILE *gold(const char *name)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof path, GOLD "%s", name);
	f = fopen(path, "rb");
	if (!f)
		CHECK(0, name, "cannot open %s (run from the project root)", path);
	return f;
}

static int bytes_eq(const void *a, const void *b, size_t n, size_t *first)
{
	const uint8_t *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i]) {
			*first = i;
			return 0;
		}
	return 1;
}

static void test_dynmap(void)
{
	FILE *f = gold("dynmap.bin");
	float *g;
	size_t at = 0;

	if (!f)
		return;
	g = rd(f, 256 * sizeof(float));
	fclose(f);
	int same = g && bytes_eq(g, nf4_dynmap, sizeof nf4_dynmap, &at);
	CHECK(same, "nf4_dynmap_table", "entry %zu differs from bitsandbytes' create_dynamic_map", at / 4);
	free(g);
	CHECK(nf4_dynmap_quantize(0.0f) == 127 && nf4_dynmap_quantize(1.0f) == 255 &&
			nf4_dynmap_quantize(-1.0f) == 0, "nf4_dynmap_quantize_ends", "0 -> %u, 1 -> %u, -1 -> %u",
			nf4_dynmap_quantize(0.0f), nf4_dynmap_quantize(1.0f), nf4_dynmap_quantize(-1.0f));
	int ok = 1;
	for (int i = 0; i < 16; i++)
		ok &= nf4_quantize_value(nf4_code[i]) == (unsigned)i;
	CHECK(ok, "nf4_quantize_value_codes", "a code value does not map to itself");
	/* a value exactly on a midpoint takes the lower code */
	ok = 1;
	for (int i = 0; i < 15; i++)
		ok &= nf4_quantize_value((nf4_code[i] + nf4_code[i + 1]) / 2) == (unsigned)i;
	CHECK(ok, "nf4_quantize_value_ties", "a midpoint does not map to the lower code");
}

/* One golden case: weight (f32 or bf16), packed codes, absmax. */
static void test_case(const char *file, int rows, int cols, int bf16)
{
	int64_t n = (int64_t)rows * cols, nb = (n + 63) / 64;
	FILE *f = gold(file);
	void *w;
	uint8_t *q;
	float *am, *wf;
	nf4_tensor t, t2;
	an_err e;
	char name[128];
	size_t at = 0;
	int ok;

	if (!f)
		return;
	w = rd(f, (size_t)n * (bf16 ? 2 : 4));
	q = rd(f, (size_t)(n + 1) / 2);
	am = rd(f, (size_t)nb * 4);
	fclose(f);
	if (!w || !q || !am) {
		CHECK(0, file, "short golden file");
		return;
	}
	wf = malloc((size_t)n * sizeof *wf);
	if (bf16)
		bf16_to_f32_n(wf, w, (size_t)n);
	else
		memcpy(wf, w, (size_t)n * 4);

	if (nf4_init(&t, rows, cols, 0, &e) < 0 || nf4_init(&t2, rows, cols, 0, &e) < 0) {
		CHECK(0, file, "%s", e.msg);
		return;
	}
	nf4_quantize_ref(&t, wf, &e);
	snprintf(name, sizeof name, "%s_ref_codes", file);
	ok = bytes_eq(t.q, q, (size_t)(n + 1) / 2, &at);
	CHECK(ok, name, "byte %zu: 0x%02x, bitsandbytes 0x%02x", at, t.q[at], q[at]);
	snprintf(name, sizeof name, "%s_ref_absmax", file);
	ok = bytes_eq(t.absmax, am, (size_t)nb * 4, &at);
	CHECK(ok, name, "block %zu: %.9g vs %.9g", at / 4, t.absmax[at / 4], am[at / 4]);
	if (bf16)
		nf4_quantize_bf16(&t2, w, &e);
	else
		nf4_quantize_f32(&t2, wf, &e);
	snprintf(name, sizeof name, "%s_fast_codes", file);
	ok = bytes_eq(t2.q, q, (size_t)(n + 1) / 2, &at) && bytes_eq(t2.absmax, am, (size_t)nb * 4, &at);
	CHECK(ok, name, "the parallel quantizer differs at byte %zu", at);

	/* dequantize = code * absmax, by rows and whole */
	float *d = malloc((size_t)n * sizeof *d), *d1 = malloc((size_t)cols * sizeof *d1);
	ok = 1;
	nf4_dequantize(&t, d);
	for (int64_t i = 0; i < n; i++) {
		uint8_t b = q[i / 2];
		float v = nf4_code[(i & 1) ? (b & 15) : (b >> 4)] * am[i / 64];

		ok &= d[i] == v;
	}
	nf4_dequantize_rows(&t, rows - 1, 1, d1);
	ok &= memcmp(d1, d + (size_t)(rows - 1) * cols, (size_t)cols * 4) == 0;
	snprintf(name, sizeof name, "%s_dequant", file);
	CHECK(ok, name, "dequantized values differ from code * absmax");
	free(d);
	free(d1);
	nf4_free(&t);
	nf4_free(&t2);
	free(w);
	free(q);
	free(am);
	free(wf);
}

static void test_dq(void)
{
	const int rows = 24, cols = 1024;
	const int64_t n = rows * cols, nb = n / 64;
	FILE *f = gold("case_dq.bin");
	uint16_t *w;
	uint8_t *q, *qa;
	float *a2, *off, *sc, *deq;
	nf4_tensor t;
	an_err e;
	size_t at = 0;

	if (!f)
		return;
	w = rd(f, (size_t)n * 2);
	q = rd(f, (size_t)n / 2);
	qa = rd(f, (size_t)nb);
	a2 = rd(f, 2 * 4);
	off = rd(f, 4);
	sc = rd(f, (size_t)nb * 4);
	deq = rd(f, 2048 * 4);
	fclose(f);
	if (!deq) {
		CHECK(0, "nf4_dq", "short golden file");
		return;
	}
	if (nf4_init(&t, rows, cols, 1, &e) < 0) {
		CHECK(0, "nf4_dq", "%s", e.msg);
		return;
	}
	CHECK(t.nblocks == nb && t.nblocks2 == 2 && t.absmax == NULL && t.qabsmax && t.absmax2,
			"nf4_dq_layout", "nblocks %lld nblocks2 %lld", (long long)t.nblocks, (long long)t.nblocks2);
	nf4_quantize_bf16(&t, w, &e);
	int ok = bytes_eq(t.q, q, (size_t)n / 2, &at);
	CHECK(ok, "nf4_dq_codes", "byte %zu differs", at);
	CHECK(t.offset == off[0], "nf4_dq_offset", "%.9g vs %.9g", t.offset, off[0]);
	CHECK(bytes_eq(t.absmax2, a2, 8, &at), "nf4_dq_absmax2", "%.9g %.9g vs %.9g %.9g",
			t.absmax2[0], t.absmax2[1], a2[0], a2[1]);
	ok = bytes_eq(t.qabsmax, qa, (size_t)nb, &at);
	CHECK(ok, "nf4_dq_qabsmax", "block %zu: %u vs %u", at, t.qabsmax[at], qa[at]);
	ok = 1;
	for (int64_t k = 0; k < nb; k++)
		ok &= nf4_block_scale(&t, k) == sc[k];
	CHECK(ok, "nf4_dq_scales", "dequantized scales differ");
	float *d = malloc(2048 * sizeof *d);
	nf4_dequantize_rows(&t, 0, 2, d);
	ok = bytes_eq(d, deq, 2048 * 4, &at);
	CHECK(ok, "nf4_dq_dequant", "element %zu: %.9g vs %.9g", at / 4, d[at / 4], deq[at / 4]);

	/* the same with the golden offset given, through the lower-level call */
	float *am = malloc((size_t)nb * sizeof *am), *wf = malloc((size_t)n * sizeof *wf);
	uint8_t *qa2 = malloc((size_t)nb);
	float a22[2];
	nf4_tensor p;
	bf16_to_f32_n(wf, w, (size_t)n);
	nf4_init(&p, rows, cols, 0, &e);
	nf4_quantize_f32(&p, wf, &e);
	nf4_dq_quantize(qa2, a22, p.absmax, nb, off[0]);
	CHECK(memcmp(qa2, qa, (size_t)nb) == 0 && memcmp(a22, a2, 8) == 0, "nf4_dq_quantize_given_offset",
			"codes differ");
	nf4_free(&p);

	/* a device-style copy: same bytes elsewhere, rebased */
	void *copy = malloc(t.bytes);
	nf4_tensor r;
	memcpy(copy, t.mem, t.bytes);
	nf4_rebase(&r, &t, copy);
	nf4_dequantize_rows(&r, 0, 2, d);
	CHECK(r.bytes == nf4_bytes(rows, cols, 1) && memcmp(d, deq, 2048 * 4) == 0, "nf4_rebase",
			"rebased copy dequantizes differently");
	nf4_free(&r);   /* not the owner: must not free copy */
	free(copy);
	free(am);
	free(wf);
	free(qa2);
	free(d);
	nf4_free(&t);
	free(w); free(q); free(qa); free(a2); free(off); free(sc); free(deq);
}

static nf4_tensor load_case(const char *file, int rows, int cols, int bf16)
{
	int64_t n = (int64_t)rows * cols;
	FILE *f = gold(file);
	nf4_tensor t;
	an_err e;
	void *w;

	memset(&t, 0, sizeof t);
	if (!f)
		return t;
	w = rd(f, (size_t)n * (bf16 ? 2 : 4));
	fclose(f);
	if (!w || nf4_init(&t, rows, cols, 0, &e) < 0)
		return t;
	if (bf16)
		nf4_quantize_bf16(&t, w, &e);
	else
		nf4_quantize_f32(&t, w, &e);
	free(w);
	return t;
}

static void test_matmul_golden(void)
{
	nf4_tensor wa = load_case("case_a.bin", 6, 128, 0), wb = load_case("case_b.bin", 5, 192, 1);
	FILE *f = gold("matmul.bin");
	float *x3, *y3, *x11, *y11, *dy3, *dx3, *x2, *y2, out[11 * 128];
	an_err e;

	if (!f || !wa.q || !wb.q)
		return;
	x3 = rd(f, 3 * 128 * 4); y3 = rd(f, 3 * 6 * 4);
	x11 = rd(f, 11 * 128 * 4); y11 = rd(f, 11 * 6 * 4);
	dy3 = rd(f, 3 * 6 * 4); dx3 = rd(f, 3 * 128 * 4);
	x2 = rd(f, 2 * 192 * 4); y2 = rd(f, 2 * 5 * 4);
	fclose(f);
	if (!y2) {
		CHECK(0, "nf4_matmul_golden", "short golden file");
		return;
	}
	nf4_matmul_forward_ref(out, x3, &wa, NULL, 3);
	CHECK(t_relerr(out, y3, 18) <= 1e-6, "nf4_matmul_ref_golden", "relerr %g", t_relerr(out, y3, 18));
	nf4_matmul_forward(out, x3, &wa, NULL, 3, &e);
	CHECK(t_relerr(out, y3, 18) <= 1e-5, "nf4_matvec_golden", "relerr %g", t_relerr(out, y3, 18));
	nf4_matmul_forward(out, x11, &wa, NULL, 11, &e);
	CHECK(t_relerr(out, y11, 66) <= 1e-5, "nf4_matmul_tiled_golden", "relerr %g", t_relerr(out, y11, 66));
	nf4_matmul_forward(out, x2, &wb, NULL, 2, &e);
	CHECK(t_relerr(out, y2, 10) <= 1e-5, "nf4_matvec_bf16_golden", "relerr %g", t_relerr(out, y2, 10));
	nf4_matmul_backward_ref(out, dy3, &wa, 3, 0);
	CHECK(t_relerr(out, dx3, 384) <= 1e-6, "nf4_backward_ref_golden", "relerr %g", t_relerr(out, dx3, 384));
	nf4_matmul_backward(out, dy3, &wa, 3, 0, &e);
	CHECK(t_relerr(out, dx3, 384) <= 1e-5, "nf4_backward_golden", "relerr %g", t_relerr(out, dx3, 384));
	/* acc: dx += dy W on top of dx3 gives 2 dx3 */
	nf4_matmul_backward(out, dy3, &wa, 3, 1, &e);
	for (int i = 0; i < 384; i++)
		dx3[i] *= 2;
	CHECK(t_relerr(out, dx3, 384) <= 1e-5, "nf4_backward_acc", "relerr %g", t_relerr(out, dx3, 384));
	nf4_free(&wa);
	nf4_free(&wb);
	free(x3); free(y3); free(x11); free(y11); free(dy3); free(dx3); free(x2); free(y2);
}

static uint64_t rs = 88172645463325252ull;
static float frand(void)   /* xorshift, uniform [-1, 1) */
{
	rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
	return (float)((rs >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

/* Fast paths against the oracles at odd shapes, with and without DQ. */
static void test_matmul_random(void)
{
	static const int shapes[][2] = {{300, 320}, {37, 100}, {65, 64}, {1, 192}};
	static const int Ms[] = {1, 5, 9, 33};
	an_err e;

	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
		for (int dq = 0; dq < 2; dq++) {
			int N = shapes[s][0], K = shapes[s][1];
			nf4_tensor t, t2;
			float *w = malloc((size_t)N * K * sizeof *w), *bias = malloc((size_t)N * sizeof *bias);

			for (int i = 0; i < N * K; i++)
				w[i] = frand() * (1 + i % 7);
			for (int i = 0; i < N; i++)
				bias[i] = frand();
			nf4_init(&t, N, K, dq, &e);
			nf4_init(&t2, N, K, dq, &e);
			nf4_quantize_ref(&t, w, &e);
			nf4_quantize_f32(&t2, w, &e);
			char name[96];
			snprintf(name, sizeof name, "nf4_quantize_parallel_%dx%d_dq%d", N, K, dq);
			CHECK(t.bytes == t2.bytes && memcmp(t.mem, t2.mem, t.bytes) == 0 && t.offset == t2.offset,
					name, "parallel quantizer differs from the oracle");
			for (size_t mi = 0; mi < sizeof Ms / sizeof Ms[0]; mi++) {
				int M = Ms[mi];
				float *x = malloc((size_t)M * K * 4), *y = malloc((size_t)M * N * 4),
				      *yr = malloc((size_t)M * N * 4), *dx = malloc((size_t)M * K * 4),
				      *dxr = malloc((size_t)M * K * 4);

				for (int i = 0; i < M * K; i++)
					x[i] = frand();
				nf4_matmul_forward_ref(yr, x, &t, bias, M);
				if (nf4_matmul_forward(y, x, &t, bias, M, &e) < 0)
					CHECK(0, "nf4_matmul_forward", "%s", e.msg);
				snprintf(name, sizeof name, "nf4_matmul_%dx%d_M%d_dq%d", N, K, M, dq);
				CHECK(t_relerr(y, yr, (size_t)M * N) <= 1e-5, name, "relerr %g",
						t_relerr(y, yr, (size_t)M * N));
				/* dy = y for the backward */
				nf4_matmul_backward_ref(dxr, y, &t, M, 0);
				if (nf4_matmul_backward(dx, y, &t, M, 0, &e) < 0)
					CHECK(0, "nf4_matmul_backward", "%s", e.msg);
				snprintf(name, sizeof name, "nf4_backward_%dx%d_M%d_dq%d", N, K, M, dq);
				CHECK(t_relerr(dx, dxr, (size_t)M * K) <= 1e-5, name, "relerr %g",
						t_relerr(dx, dxr, (size_t)M * K));
				free(x); free(y); free(yr); free(dx); free(dxr);
			}
			nf4_free(&t);
			nf4_free(&t2);
			free(w);
			free(bias);
		}
}

static void test_errors(void)
{
	nf4_tensor t;
	an_err e;

	e.msg[0] = 0;
	CHECK(nf4_init(&t, 0, 64, 0, &e) < 0 && strstr(e.msg, "nf4"), "nf4_init_bad_shape",
			"accepted a [0, 64] weight (msg \"%s\")", e.msg);
	CHECK(nf4_bytes(4096, 4096, 0) == 4096 * 4096 / 2 + 4096 * 4096 / 64 * 4, "nf4_bytes",
			"%zu", nf4_bytes(4096, 4096, 0));
	/* 4.127 bits a weight with DQ */
	CHECK(nf4_bytes(4096, 4096, 1) == 4096 * 4096 / 2 + 4096 * 4096 / 64 + 4096 * 4096 / 64 / 256 * 4,
			"nf4_bytes_dq", "%zu", nf4_bytes(4096, 4096, 1));
}

int main(void)
{
	test_dynmap();
	test_case("case_a.bin", 6, 128, 0);
	test_case("case_b.bin", 5, 192, 1);
	test_case("case_c.bin", 3, 37, 0);
	test_dq();
	test_matmul_golden();
	test_matmul_random();
	test_errors();
	return t_done();
}
