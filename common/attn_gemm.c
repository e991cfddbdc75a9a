/* attn_gemm.c: bidirectional inference attention through BLAS (see
 * attn_gemm.h). */
#include "attn_gemm.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Without trapping math the comparisons become vector min/max (IEEE
 * exceptions are not looked at anywhere in this program); AVX2 where the
 * CPU has it, chosen at load time. */
#define VEC_FN __attribute__((optimize("no-trapping-math"), target_clones("avx2", "default")))

#define QBLK 128

/* s[n] = softmax(s[n]). */
VEC_FN static void softmax_row(float *s, int n)
{
	float mx = s[0], sum = 0;

	#pragma omp simd reduction(max:mx)
	for (int j = 0; j < n; j++)
		mx = s[j] > mx ? s[j] : mx;
	#pragma omp simd
	for (int j = 0; j < n; j++)
		s[j] -= mx;
	attn_exp_inplace(s, n);
	#pragma omp simd reduction(+:sum)
	for (int j = 0; j < n; j++)
		sum += s[j];
	float inv = 1.0f / sum;
	#pragma omp simd
	for (int j = 0; j < n; j++)
		s[j] *= inv;
}     /* queries per work item: scores [QBLK, T] stay in L2 */

VEC_FN void attn_exp_inplace(float *x, int n)
{
	const float log2e = 1.44269504088896341f, c1 = 0.693359375f, c2 = -2.12194440e-4f;
	const float magic = 12582912.0f;   /* 1.5 * 2^23: adding it rounds to an integer */

	#pragma omp simd
	for (int i = 0; i < n; i++) {
		float v = x[i];

		v = v < -87.0f ? -87.0f : v;
		v = v > 88.0f ? 88.0f : v;
		float fn = (v * log2e + magic) - magic;
		float r = v - fn * c1 - fn * c2;
		float p = 1.9875691500e-4f;

		p = p * r + 1.3981999507e-3f;
		p = p * r + 8.3334519073e-3f;
		p = p * r + 4.1665795894e-2f;
		p = p * r + 1.6666665459e-1f;
		p = p * r + 5.0000001201e-1f;
		p = p * r * r + r + 1.0f;
		int bits = ((int)fn + 127) << 23;
		float sc;

		memcpy(&sc, &bits, sizeof sc);
		x[i] = p * sc;
	}
}

size_t attn_gemm_scratch(int T)
{
	return (size_t)omp_get_max_threads() * QBLK * (T > 0 ? T : 1);
}

int attn_gemm_forward_cpu(float *out, const float *q, const float *k, const float *v,
		const int *len, int B, int T, int H, int D, float scale, float *scratch, an_err *e)
{
	const size_t ld = (size_t)H * D;
	const int nq = (T + QBLK - 1) / QBLK;
	const int blas_threads = openblas_get_num_threads();
	const size_t per = (size_t)QBLK * (T > 0 ? T : 1);
	float *Sall = scratch ? scratch : malloc(attn_gemm_scratch(T) * sizeof *Sall);

	if (!Sall) {
		an_err_set(e, "attention: out of memory for %d x %d scores", QBLK, T);
		return -1;
	}

	/* each thread runs its own small products: BLAS must not fan out */
	openblas_set_num_threads(1);
	#pragma omp parallel
	{
		float *S = Sall + (size_t)omp_get_thread_num() * per;

		#pragma omp for collapse(3) schedule(dynamic, 1)
		for (int b = 0; b < B; b++) {
			for (int h = 0; h < H; h++) {
				for (int qb = 0; qb < nq; qb++) {
					const int n = len[b], r0 = qb * QBLK;
					const int r1 = r0 + QBLK < T ? r0 + QBLK : T;
					const size_t base = (size_t)b * T * ld + (size_t)h * D;
					const int m = r1 < n ? r1 - r0 : n - r0;   /* real queries here */

					for (int r = (m > 0 ? r0 + m : r0); r < r1; r++)
						memset(out + base + (size_t)r * ld, 0, (size_t)D * sizeof *out);
					if (m <= 0)
						continue;
					float *Sm = S;
					cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, D, scale,
						    q + base + (size_t)r0 * ld, (int)ld, k + base, (int)ld,
						    0.0f, Sm, n);
					for (int i = 0; i < m; i++)
						softmax_row(Sm + (size_t)i * n, n);
					cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, D, n, 1.0f,
						    Sm, n, v + base, (int)ld, 0.0f,
						    out + base + (size_t)r0 * ld, (int)ld);
				}
			}
		}
	}
	openblas_set_num_threads(blas_threads);
	if (Sall != scratch)
		free(Sall);
	return 0;
}
