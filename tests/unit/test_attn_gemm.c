/* test_attn_gemm.c: the BLAS inference attention (attn_gemm.h) against the
 * CPU reference attention of ops.h, and its exp against libm. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn_gemm.h"
#include "ops.h"
#include "test.h"

static uint64_t rs = 88172645463325252ull;

static float urand(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (float)((rs >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static void one(const char *name, int B, int T, int H, int D, const int *len, float amp)
{
	size_t n = (size_t)B * T * H * D;
	float *q = malloc(n * sizeof *q), *k = malloc(n * sizeof *k), *v = malloc(n * sizeof *v);
	float *ref = calloc(n, sizeof *ref), *got = calloc(n, sizeof *got);
	int *mask = calloc((size_t)B * T, sizeof *mask);
	an_err e = { 0 };

	for (size_t i = 0; i < n; i++) {
		q[i] = amp * urand();
		k[i] = amp * urand();
		v[i] = urand();
	}
	for (int b = 0; b < B; b++)
		for (int t = 0; t < len[b]; t++)
			mask[(size_t)b * T + t] = 1;
	attn_dims a = { .B = B, .Tq = T, .Tk = T, .Tkmax = T, .Hq = H, .Hkv = H, .D = D,
			.scale = 1.0f / sqrtf((float)D) };
	attention_forward_cpu(ref, NULL, q, k, v, mask, &a);
	for (size_t i = 0; i < n; i++)
		got[i] = NAN;
	int rc = attn_gemm_forward_cpu(got, q, k, v, len, B, T, H, D, a.scale, NULL, &e);
	/* real query rows must match; padded ones must be 0 */
	double worst = 0;
	int zeros = 1;
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++) {
			size_t o = ((size_t)b * T + t) * H * D;

			if (t < len[b]) {
				double r = t_relerr(got + o, ref + o, (size_t)H * D);
				if (!(r <= worst))
					worst = r;
			} else
				for (int i = 0; i < H * D; i++)
					zeros &= got[o + i] == 0.0f;
		}
	CHECK(rc == 0 && worst <= 1e-5 && zeros, name, "rc %d, relative error %.3g, padded rows zero %d",
	      rc, worst, zeros);
	free(q); free(k); free(v); free(ref); free(got); free(mask);
}

int main(void)
{
	int l1[] = { 300, 1, 129, 0 };
	one("attn_gemm 4 items, 300 tokens, several query blocks", 4, 300, 3, 16, l1, 1.0f);
	int l2[] = { 64, 17 };
	one("attn_gemm large scores", 2, 64, 2, 64, l2, 4.0f);
	int l3[] = { 1024 };
	one("attn_gemm 1024 tokens, 12 heads of 64", 1, 1024, 12, 64, l3, 1.0f);

	/* exp over the softmax range */
	float x[2001], y[2001];
	for (int i = 0; i <= 2000; i++)
		x[i] = y[i] = -100.0f + 0.094f * (float)i;   /* -100 .. 88 */
	attn_exp_inplace(y, 2001);
	double w = 0;
	for (int i = 0; i <= 2000; i++) {
		double ref = exp((double)x[i]);
		double r = x[i] < -87.0f ? (y[i] <= 1e-37 ? 0 : 1) : fabs(y[i] - ref) / ref;
		if (!(r <= w))
			w = r;
	}
	CHECK(w < 3e-7, "attn_exp_inplace vs exp", "worst relative error %.3g", w);
	return t_done();
}
