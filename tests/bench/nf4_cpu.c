/* nf4_cpu.c: CPU NF4 numbers (tests/bench/nf4-cpu.sh builds and runs it):
 * quantization speed, and the NF4 linear at decode (M = 1) and prefill
 * (M = 64) against the fp32 and bf16 linears of ops.h on the same shape.
 * Prints a table with the ratios. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "half.h"
#include "nf4.h"
#include "ops.h"

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/* seconds per call: repeat for at least 0.5 s */
#define TIME(res, stmt) do { \
	int n_ = 0; double t0_ = now(), t_; \
	stmt; /* warm-up */ \
	t0_ = now(); \
	do { stmt; n_++; } while ((t_ = now() - t0_) < 0.5); \
	res = t_ / n_; \
} while (0)

int main(void)
{
	const int N = 11008, K = 2048;     /* Qwen2.5-3B gate/up */
	size_t nk = (size_t)N * K;
	float *w = malloc(nk * 4), *x = malloc((size_t)64 * K * 4), *y = malloc((size_t)64 * N * 4);
	uint16_t *wb = malloc(nk * 2);
	nf4_tensor t, td;
	an_err e;
	double tq, tqd, t1, t1d, t1f, t1b, t64, t64f, t64b;
	int threads = 1;

#ifdef _OPENMP
	threads = omp_get_max_threads();
#endif
	srand(1);
	for (size_t i = 0; i < nk; i++)
		w[i] = (rand() / (float)RAND_MAX - 0.5f) * 0.05f;
	for (int i = 0; i < 64 * K; i++)
		x[i] = rand() / (float)RAND_MAX - 0.5f;
	f32_to_bf16_n(wb, w, nk);
	if (nf4_init(&t, N, K, 0, &e) < 0 || nf4_init(&td, N, K, 1, &e) < 0) {
		fprintf(stderr, "nf4_cpu: %s\n", e.msg);
		return 1;
	}
	TIME(tq, nf4_quantize_bf16(&t, wb, &e));
	TIME(tqd, nf4_quantize_bf16(&td, wb, &e));
	TIME(t1, nf4_matmul_forward(y, x, &t, NULL, 1, &e));
	TIME(t1d, nf4_matmul_forward(y, x, &td, NULL, 1, &e));
	TIME(t1f, matmul_forward_cpu(y, x, w, NULL, 1, K, N));
	TIME(t1b, matmul_forward_bf16_cpu(y, x, wb, NULL, 1, K, N, &e));
	TIME(t64, nf4_matmul_forward(y, x, &t, NULL, 64, &e));
	TIME(t64f, matmul_forward_cpu(y, x, w, NULL, 64, K, N));
	TIME(t64b, matmul_forward_bf16_cpu(y, x, wb, NULL, 64, K, N, &e));
	printf("CPU, %d threads, W[%d,%d] (Qwen2.5-3B gate_proj)\n\n", threads, N, K);
	printf("| op | time | rate | ratio |\n|---|---|---|---|\n");
	printf("| nf4_quantize_bf16 | %.1f ms | %.0f M weights/s | DQ variant %.1f ms |\n",
			tq * 1e3, nk / tq / 1e6, tqd * 1e3);
	printf("| NF4 matvec (M=1) | %.2f ms | %.2f GB/s of codes+scales | %.2fx the fp32 sgemv time (%.2f ms, %.2f GB/s) |\n",
			t1 * 1e3, t.bytes / t1 / 1e9, t1 / t1f, t1f * 1e3, nk * 4 / t1f / 1e9);
	printf("| NF4+DQ matvec (M=1) | %.2f ms | %.2f GB/s | %.2fx the bf16 linear time (%.2f ms) |\n",
			t1d * 1e3, td.bytes / t1d / 1e9, t1d / t1b, t1b * 1e3);
	printf("| NF4 prefill (M=64, tiles + sgemm) | %.1f ms | %.1f GFLOP/s | %.2fx fp32 sgemm (%.1f ms), %.2fx bf16 (%.1f ms) |\n",
			t64 * 1e3, 2.0 * 64 * nk / t64 / 1e9, t64 / t64f, t64f * 1e3, t64 / t64b, t64b * 1e3);
	/* for nf4-cpu.sh's comparison with bitsandbytes */
	printf("\nours quantize %.6g\nours quantize_dq %.6g\nours matvec %.6g\nours prefill %.6g\n"
			"ours sgemv_openblas %.6g\n", tq, tqd, t1, t64, t1f);
	nf4_free(&t);
	nf4_free(&td);
	free(w); free(x); free(y); free(wb);
	return 0;
}
