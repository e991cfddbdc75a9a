/* ops_cpu.c: times the CPU ops of common/ops.h (tests/bench/ops_cpu.sh
 * builds it and runs PyTorch on the same shapes for the ratio).  Prints
 * "case milliseconds" lines, the best of REPS runs.  Usage: ops_cpu REPS [cpu]
 * (cpu: process CPU time instead of wall time, for a loaded machine). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ops.h"

static clockid_t clk = CLOCK_MONOTONIC;

static double now(void)
{
	struct timespec t;

	clock_gettime(clk, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *rnd(size_t n, unsigned seed)
{
	float *p = malloc(n * sizeof *p);

	if (!p) {
		perror("ops_cpu");
		exit(1);
	}
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		p[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
	}
	return p;
}

static int reps = 3;
#define TIME(name, stmt) do { \
	double best = 1e30; \
	for (int r_ = 0; r_ < reps; r_++) { \
		double t0_ = now(); \
		stmt; \
		double t_ = now() - t0_; \
		if (t_ < best) \
			best = t_; \
	} \
	printf("%s %.3f\n", name, best * 1e3); \
	fflush(stdout); \
} while (0)

int main(int argc, char **argv)
{
	if (argc > 1)
		reps = atoi(argv[1]) > 0 ? atoi(argv[1]) : 3;
	if (argc > 2 && argv[2][0] == 'c')
		clk = CLOCK_PROCESS_CPUTIME_ID;

	int M = 256, K = 2048, N = 2048;
	float *x = rnd((size_t)M * K, 1), *w = rnd((size_t)N * K, 2), *b = rnd(N, 3);
	float *y = rnd((size_t)M * N, 4), *dx = rnd((size_t)M * K, 5), *dw = rnd((size_t)N * K, 6);
	float *db = rnd(N, 7);
	TIME("matmul_fwd_256x2048x2048", matmul_forward_cpu(y, x, w, b, M, K, N));
	TIME("matmul_bwd_256x2048x2048", matmul_backward_cpu(dx, dw, db, y, x, w, M, K, N, 0));

	{
		attn_dims a = {.B = 1, .Tq = 512, .Tk = 512, .Tkmax = 512, .Hq = 16, .Hkv = 2,
			.D = 128, .causal = 1, .scale = 0.0883883f};
		size_t nq = (size_t)512 * 16 * 128, nk = (size_t)512 * 2 * 128;
		float *q = rnd(nq, 8), *k = rnd(nk, 9), *v = rnd(nk, 10), *o = rnd(nq, 11);
		float *l = rnd(16 * 512, 12), *dq = rnd(nq, 13), *dk = rnd(nk, 14), *dv = rnd(nk, 15);
		TIME("attn_fwd_gqa_causal_T512", attention_forward_cpu(o, l, q, k, v, NULL, &a));
		TIME("attn_bwd_gqa_causal_T512",
				attention_backward_cpu(dq, dk, dv, o, q, k, v, o, l, NULL, &a));
		free(q); free(k); free(v); free(o); free(l); free(dq); free(dk); free(dv);
	}
	{
		attn_dims a = {.B = 2, .Tq = 512, .Tk = 512, .Tkmax = 512, .Hq = 12, .Hkv = 12,
			.D = 64, .causal = 0, .scale = 0.125f};
		size_t n = (size_t)2 * 512 * 12 * 64;
		float *q = rnd(n, 16), *k = rnd(n, 17), *v = rnd(n, 18), *o = rnd(n, 19);
		float *l = rnd(2 * 12 * 512, 20), *dq = rnd(n, 21), *dk = rnd(n, 22), *dv = rnd(n, 23);
		TIME("attn_fwd_mha_T512", attention_forward_cpu(o, l, q, k, v, NULL, &a));
		TIME("attn_bwd_mha_T512", attention_backward_cpu(dq, dk, dv, o, q, k, v, o, l, NULL, &a));
		free(q); free(k); free(v); free(o); free(l); free(dq); free(dk); free(dv);
	}
	{
		int R = 2048, C = 768;
		float *in = rnd((size_t)R * C, 24), *out = rnd((size_t)R * C, 25), *g = rnd(C, 26);
		float *mean = rnd(R, 27), *rstd = rnd(R, 28);
		TIME("layernorm_fwd_2048x768",
				layernorm_forward_cpu(out, mean, rstd, in, g, g, 1e-12f, R, C));
		TIME("rmsnorm_fwd_2048x768", rmsnorm_forward_cpu(out, rstd, in, g, 1e-6f, R, C));
		TIME("gelu_fwd_2048x768", gelu_forward_cpu(out, in, (size_t)R * C));
		free(in); free(out); free(g); free(mean); free(rstd);
	}
	{
		int R = 32, V = 151936;
		float *lg = rnd((size_t)R * V, 29), *dl = rnd((size_t)R * V, 30), *lse = rnd(R, 31), loss;
		int tg[32];
		an_err e;
		for (int i = 0; i < R; i++)
			tg[i] = (i * 7919) % V;
		TIME("crossentropy_fwdbwd_32x151936", {
			crossentropy_forward_cpu(&loss, lse, lg, tg, R, V, &e);
			crossentropy_backward_cpu(dl, lg, lse, tg, 1.0f, R, V);
		});
		TIME("softmax_fwd_32x151936", softmax_forward_cpu(dl, lg, R, V));
		free(lg); free(dl); free(lse);
	}
	free(x); free(w); free(b); free(y); free(dx); free(dw); free(db);
	return 0;
}
