/* kernels.c: GPU kernel benchmark (not part of `make test`; scripts/gpu-check.sh
 * builds and runs it).  Times, with CUDA events on one stream:
 *   - device copy bandwidth (cudaMemcpy device to device, read + write bytes),
 *   - fp32 / bf16 linears: our path (cu_matmul_forward: input cast, bias,
 *     cuBLAS) against the bare cuBLAS call, as TFLOP/s and fraction of peak,
 *   - attention: our kernel against cuBLAS batched QK^T + softmax + PV,
 *   - NF4 matrix-vector products: bytes of codes + scales read per second,
 *     as a fraction of the measured copy bandwidth (goal >= 70 %), against
 *     the bf16 matrix-vector product on cuBLAS (twice... four times the bytes).
 * Weights are rotated among copies larger than the L2 cache, so the
 * bandwidth figures are from HBM.  Prints one table; exit 1 on a CUDA error
 * or a non-finite result.  Usage: kernels [-q]   (-q: fewer, smaller runs) */
#ifndef ASMNAME_CUDA
#include <stdio.h>
int main(void)
{
	fprintf(stderr, "kernels: built without CUDA\n");
	return 1;
}
#else
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "cuda_kernels.h"
#include "half.h"
#include "nf4.h"

static cudaStream_t S;
static cu_blas *BL;
static cudaEvent_t E0, E1;
static int quick;
static double copy_bw;          /* bytes/s, read + write */
static double peak_bf16, peak_f32;   /* TFLOP/s from the device name, 0 unknown */

#define CK(call) do { \
	cudaError_t ck_ = (call); \
	if (ck_ != cudaSuccess) { \
		fprintf(stderr, "kernels: %s:%d: %s: %s\n", __FILE__, __LINE__, #call, \
				cudaGetErrorString(ck_)); \
		exit(1); \
	} \
} while (0)
#define OK(call) do { \
	an_err e_ = {0}; \
	if ((call) < 0) { \
		fprintf(stderr, "kernels: %s:%d: %s\n", __FILE__, __LINE__, e_.msg); \
		exit(1); \
	} \
} while (0)
/* launchers report into e */
#define RUN(expr) do { \
	an_err e = {0}; \
	if ((expr) < 0) { \
		fprintf(stderr, "kernels: %s:%d: %s\n", __FILE__, __LINE__, e.msg); \
		exit(1); \
	} \
} while (0)

static void *dmalloc(size_t bytes)
{
	void *p;

	CK(cudaMalloc(&p, bytes));
	return p;
}

static uint64_t rs = 88172645463325252ull;
static float frand(void)
{
	rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
	return (float)((rs >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static float *drand(size_t n, float scale)
{
	float *h = malloc(n * sizeof *h), *d = dmalloc(n * sizeof *h);

	for (size_t i = 0; i < n; i++)
		h[i] = frand() * scale;
	CK(cudaMemcpy(d, h, n * sizeof *h, cudaMemcpyHostToDevice));
	free(h);
	return d;
}

static uint16_t *drand_bf16(size_t n, float scale)
{
	uint16_t *h = malloc(n * 2), *d = dmalloc(n * 2);

	for (size_t i = 0; i < n; i++)
		h[i] = f32_to_bf16(frand() * scale);
	CK(cudaMemcpy(d, h, n * 2, cudaMemcpyHostToDevice));
	free(h);
	return d;
}

static int finite_dev(const float *d, size_t n)
{
	float *h = malloc(n * sizeof *h);
	int ok = 1;

	CK(cudaMemcpy(h, d, n * sizeof *h, cudaMemcpyDeviceToHost));
	for (size_t i = 0; i < n; i++)
		ok &= isfinite(h[i]) != 0;
	free(h);
	return ok;
}

/* Seconds per call of fn(arg, i): warm-up, then enough calls for ~100 ms. */
typedef void (*bench_fn)(void *arg, int i);
static double timeit(bench_fn fn, void *arg)
{
	float ms = 0;
	int n = 1;

	for (int i = 0; i < 3; i++)
		fn(arg, i);
	CK(cudaStreamSynchronize(S));
	for (;;) {
		CK(cudaEventRecord(E0, S));
		for (int i = 0; i < n; i++)
			fn(arg, i);
		CK(cudaEventRecord(E1, S));
		CK(cudaEventSynchronize(E1));
		CK(cudaEventElapsedTime(&ms, E0, E1));
		if (ms > (quick ? 20 : 100) || n >= (1 << 16))
			break;
		n *= ms > 1 ? (int)(100 / ms) + 1 : 8;
	}
	CK(cudaGetLastError());
	return ms / 1e3 / n;
}

/* ---- copy bandwidth ------------------------------------------------------ */
struct copy_arg { void *a, *b; size_t bytes; };
static void copy_fn(void *p, int i)
{
	struct copy_arg *c = p;

	CK(cudaMemcpyAsync(c->b, c->a, c->bytes, cudaMemcpyDeviceToDevice, S));
}

static void bench_copy(void)
{
	struct copy_arg c = {.bytes = (size_t)(quick ? 256 : 1024) << 20};

	c.a = dmalloc(c.bytes);
	c.b = dmalloc(c.bytes);
	CK(cudaMemset(c.a, 1, c.bytes));
	double t = timeit(copy_fn, &c);
	copy_bw = 2.0 * c.bytes / t;
	printf("| device copy (D2D), %zu MiB | %.3f ms | %.0f GB/s (read+write) | reference |\n",
			c.bytes >> 20, t * 1e3, copy_bw / 1e9);
	cudaFree(c.a);
	cudaFree(c.b);
}

/* ---- linears ------------------------------------------------------------- */
struct mm_arg {
	int M, K, N, bf16, ours;
	float *x, *w, *y, *bias;
	uint16_t *xb, *wb;
	void *ws;
	size_t ws_bytes;
};
static void mm_fn(void *p, int i)
{
	struct mm_arg *m = p;

	if (m->ours)
		RUN(cu_matmul_forward(BL, S, m->y, m->x, m->bf16 ? (void *)m->wb : (void *)m->w, m->bf16,
				m->bias, m->M, m->K, m->N, m->ws, m->ws_bytes, &e));
	else if (m->bf16)
		RUN(cu_blas_linear_bf16(BL, m->y, m->xb, m->wb, m->M, m->K, m->N, 1.0f, 0.0f, &e));
	else
		RUN(cu_blas_linear_f32(BL, m->y, m->N, m->x, m->w, m->M, m->K, m->N, 1.0f, 0.0f, &e));
}

static int bench_matmul(int M, int K, int N, int bf16)
{
	struct mm_arg m = {.M = M, .K = K, .N = N, .bf16 = bf16};
	double flop = 2.0 * M * K * N, peak = bf16 ? peak_bf16 : peak_f32;
	char pk[64] = "peak unknown";

	m.x = drand((size_t)M * K, 1);
	m.y = dmalloc((size_t)M * N * 4);
	m.bias = drand(N, 1);
	if (bf16) {
		m.wb = drand_bf16((size_t)N * K, 0.05f);
		m.xb = drand_bf16((size_t)M * K, 1);
		m.ws_bytes = (size_t)M * K * 2;
		m.ws = dmalloc(m.ws_bytes);
	} else {
		m.w = drand((size_t)N * K, 0.05f);
	}
	m.ours = 0;
	double tb = timeit(mm_fn, &m);
	m.ours = 1;
	double to = timeit(mm_fn, &m);
	int ok = finite_dev(m.y, (size_t)M * N);
	if (peak > 0)
		snprintf(pk, sizeof pk, "%.0f%% of %.0f TF peak", 100 * flop / to / 1e12 / peak, peak);
	printf("| linear %s %dx%dx%d (ours: cast+bias+cuBLAS) | %.3f ms | %.1f TFLOP/s, %s | %.2fx cuBLAS time (%.1f TFLOP/s)%s |\n",
			bf16 ? "bf16" : (cu_blas_tf32(BL) ? "fp32(TF32)" : "fp32"), M, K, N, to * 1e3,
			flop / to / 1e12, pk, to / tb, flop / tb / 1e12, ok ? "" : " NON-FINITE");
	cudaFree(m.x); cudaFree(m.y); cudaFree(m.bias); cudaFree(m.w); cudaFree(m.wb);
	cudaFree(m.xb); cudaFree(m.ws);
	return ok;
}

/* ---- attention ------------------------------------------------------------ */
struct att_arg {
	attn_dims a;
	float *q, *k, *v, *o, *lse;
	float *sq, *sk, *sv, *sp, *so;    /* cuBLAS reference: [BH, T, D] and scores */
	void *ws;
	size_t ws_bytes;
	int ours;
};
static void att_fn(void *p, int i)
{
	struct att_arg *t = p;
	attn_dims *a = &t->a;
	int BH = a->B * a->Hq;

	if (t->ours) {
		RUN(cu_attention_forward(S, t->o, t->lse, t->q, t->k, t->v, NULL, a, t->ws, t->ws_bytes, &e));
		return;
	}
	RUN(cu_blas_scores_batched(BL, t->sp, t->sq, t->sk, BH, a->Tq, a->Tk, a->D, a->scale, &e));
	RUN(cu_softmax_forward(S, t->sp, t->sp, BH * a->Tq, a->Tk, &e));
	RUN(cu_blas_pv_batched(BL, t->so, t->sp, t->sv, BH, a->Tq, a->Tk, a->D, &e));
}

static int bench_attention(int B, int T, int Hq, int Hkv, int D, int causal)
{
	struct att_arg t = {.a = {.B = B, .Tq = T, .Tk = T, .Tkmax = T, .Hq = Hq, .Hkv = Hkv,
		.D = D, .p0 = 0, .causal = causal, .scale = 1.0f / sqrtf((float)D)}};
	size_t nq = (size_t)B * T * Hq * D, nk = (size_t)B * T * Hkv * D, BH = (size_t)B * Hq;
	double flop = 4.0 * B * Hq * (double)T * T * D * (causal ? 0.5 : 1.0);

	t.q = drand(nq, 1); t.k = drand(nk, 1); t.v = drand(nk, 1);
	t.o = dmalloc(nq * 4); t.lse = dmalloc(BH * T * 4);
	t.sq = drand(BH * T * D, 1); t.sk = drand(BH * T * D, 1); t.sv = drand(BH * T * D, 1);
	t.sp = dmalloc(BH * T * T * 4); t.so = dmalloc(BH * T * D * 4);
	t.ws_bytes = cu_attention_ws_bytes(&t.a);
	t.ws = t.ws_bytes ? dmalloc(t.ws_bytes) : NULL;
	t.ours = 0;
	double tb = timeit(att_fn, &t);
	t.ours = 1;
	double to = timeit(att_fn, &t);
	int ok = finite_dev(t.o, nq);
	printf("| attention fp32 B%d T%d H%d/%d D%d %s (ours: warp/query, online softmax) | %.3f ms | %.2f TFLOP/s | %.2fx the time of cuBLAS QK^T+softmax+PV (non-causal, MHA, %.3f ms)%s |\n",
			B, T, Hq, Hkv, D, causal ? "causal" : "full", to * 1e3, flop / to / 1e12, to / tb,
			tb * 1e3, ok ? "" : " NON-FINITE");
	cudaFree(t.q); cudaFree(t.k); cudaFree(t.v); cudaFree(t.o); cudaFree(t.lse);
	cudaFree(t.sq); cudaFree(t.sk); cudaFree(t.sv); cudaFree(t.sp); cudaFree(t.so);
	cudaFree(t.ws);
	return ok;
}

/* One decoding step over a long KV cache: bytes of K and V read per second. */
static int bench_attention_decode(int B, int Tk, int Hq, int Hkv, int D)
{
	struct att_arg t = {.a = {.B = B, .Tq = 1, .Tk = Tk, .Tkmax = Tk, .Hq = Hq, .Hkv = Hkv,
		.D = D, .p0 = Tk - 1, .causal = 1, .scale = 1.0f / sqrtf((float)D)}, .ours = 1};
	size_t nq = (size_t)B * Hq * D, nk = (size_t)B * Tk * Hkv * D;

	t.q = drand(nq, 1); t.k = drand(nk, 1); t.v = drand(nk, 1);
	t.o = dmalloc(nq * 4); t.lse = dmalloc((size_t)B * Hq * 4);
	t.ws_bytes = cu_attention_ws_bytes(&t.a);
	t.ws = t.ws_bytes ? dmalloc(t.ws_bytes) : NULL;
	double tt = timeit(att_fn, &t), bytes = 2.0 * nk * 4;
	int ok = finite_dev(t.o, nq);
	printf("| attention decode B%d Tq1 Tk%d H%d/%d D%d (split keys: %s) | %.1f us | %.0f GB/s of K+V | %.0f%% of copy bandwidth%s |\n",
			B, Tk, Hq, Hkv, D, t.ws ? "yes" : "no", tt * 1e6, bytes / tt / 1e9,
			100 * bytes / tt / copy_bw, ok ? "" : " NON-FINITE");
	cudaFree(t.q); cudaFree(t.k); cudaFree(t.v); cudaFree(t.o); cudaFree(t.lse); cudaFree(t.ws);
	return ok;
}

/* ---- NF4 matrix-vector ------------------------------------------------------ */
struct nf4_arg {
	int ncopy, M, bf16;
	nf4_tensor *w;          /* ncopy device views */
	uint16_t **wb;          /* ncopy bf16 weights (reference) */
	float *x, *y;
	uint16_t *xb;
	int N, K;
};
static void nf4_fn(void *p, int i)
{
	struct nf4_arg *a = p;
	int c = i % a->ncopy;

	if (a->bf16)
		RUN(cu_blas_linear_bf16(BL, a->y, a->xb, a->wb[c], a->M, a->K, a->N, 1.0f, 0.0f, &e));
	else
		RUN(cu_nf4_matmul_forward(BL, S, a->y, a->x, &a->w[c], NULL, a->M, NULL, 0, &e));
}

static int bench_nf4(int N, int K, int M, int dq)
{
	struct nf4_arg a = {.M = M, .N = N, .K = K};
	nf4_tensor h;
	float *w = malloc((size_t)N * K * 4);
	size_t l2 = 0, per;
	int dev, l2i = 0;

	CK(cudaGetDevice(&dev));
	CK(cudaDeviceGetAttribute(&l2i, cudaDevAttrL2CacheSize, dev));
	l2 = (size_t)l2i;
	for (size_t i = 0; i < (size_t)N * K; i++)
		w[i] = frand() * 0.05f;
	OK(nf4_init(&h, N, K, dq, &e_));
	OK(nf4_quantize_f32(&h, w, &e_));
	per = h.bytes;
	a.ncopy = (int)((4 * l2 + per - 1) / per);
	if (a.ncopy < 2)
		a.ncopy = 2;
	a.w = calloc(a.ncopy, sizeof *a.w);
	a.wb = calloc(a.ncopy, sizeof *a.wb);
	for (int c = 0; c < a.ncopy; c++) {
		void *m = dmalloc(h.bytes);

		CK(cudaMemcpy(m, h.mem, h.bytes, cudaMemcpyHostToDevice));
		nf4_rebase(&a.w[c], &h, m);
	}
	a.x = drand((size_t)M * K, 1);
	a.y = dmalloc((size_t)M * N * 4);
	double t = timeit(nf4_fn, &a);
	int ok = finite_dev(a.y, (size_t)M * N);
	/* bytes that must come from memory: codes and scales (x and y are small) */
	double bytes = (double)(N * (size_t)K / 2) +
		(dq ? (double)h.nblocks + h.nblocks2 * 4.0 : h.nblocks * 4.0);
	double bw = bytes / t;

	/* the bf16 reference: same shape on cuBLAS, 2 bytes a weight */
	int nb = (int)((4 * l2 + (size_t)N * K * 2 - 1) / ((size_t)N * K * 2));
	if (nb < 2)
		nb = 2;
	uint16_t **wb = calloc(nb, sizeof *wb);
	for (int c = 0; c < nb; c++)
		wb[c] = drand_bf16((size_t)N * K, 0.05f);
	a.wb = wb;
	a.xb = drand_bf16((size_t)M * K, 1);
	a.bf16 = 1;
	int keep = a.ncopy;
	a.ncopy = nb;
	double tb = timeit(nf4_fn, &a);
	a.ncopy = keep;
	printf("| NF4%s matvec M=%d, W[%d,%d] (%d copies) | %.1f us | %.0f GB/s = %.0f%% of copy bandwidth | %.2fx faster than bf16 cuBLAS (%.1f us, %.0f GB/s)%s |\n",
			dq ? "+DQ" : "", M, N, K, a.ncopy, t * 1e6, bw / 1e9, 100 * bw / copy_bw, tb / t,
			tb * 1e6, (double)N * K * 2 / tb / 1e9, ok ? "" : " NON-FINITE");
	for (int c = 0; c < a.ncopy; c++)
		cudaFree(a.w[c].mem);
	for (int c = 0; c < nb; c++)
		cudaFree(wb[c]);
	cudaFree(a.x); cudaFree(a.y); cudaFree(a.xb);
	free(a.w); free(wb); free(w);
	nf4_free(&h);
	return ok;
}

/* NF4 prefill: dequantized tiles + cuBLAS fp32, against bf16 cuBLAS. */
static int bench_nf4_prefill(int N, int K, int M)
{
	nf4_tensor h, d;
	float *w = malloc((size_t)N * K * 4);
	struct mm_arg m = {.M = M, .K = K, .N = N, .bf16 = 1};

	for (size_t i = 0; i < (size_t)N * K; i++)
		w[i] = frand() * 0.05f;
	OK(nf4_init(&h, N, K, 0, &e_));
	OK(nf4_quantize_f32(&h, w, &e_));
	void *mem = dmalloc(h.bytes);
	CK(cudaMemcpy(mem, h.mem, h.bytes, cudaMemcpyHostToDevice));
	nf4_rebase(&d, &h, mem);
	float *x = drand((size_t)M * K, 1), *y = dmalloc((size_t)M * N * 4);
	size_t wsb = cu_nf4_ws_bytes(&d);
	void *ws = dmalloc(wsb);
	float ms;

	RUN(cu_nf4_matmul_forward(BL, S, y, x, &d, NULL, M, ws, wsb, &e));
	CK(cudaStreamSynchronize(S));
	CK(cudaEventRecord(E0, S));
	int it = quick ? 3 : 10;
	for (int i = 0; i < it; i++)
		RUN(cu_nf4_matmul_forward(BL, S, y, x, &d, NULL, M, ws, wsb, &e));
	CK(cudaEventRecord(E1, S));
	CK(cudaEventSynchronize(E1));
	CK(cudaEventElapsedTime(&ms, E0, E1));
	double t = ms / 1e3 / it, flop = 2.0 * M * K * N;
	m.x = x;
	m.xb = drand_bf16((size_t)M * K, 1);
	m.wb = drand_bf16((size_t)N * K, 0.05f);
	m.y = y;
	double tb = timeit(mm_fn, &m);
	int ok = finite_dev(y, (size_t)M * N);
	printf("| NF4 prefill M=%d, W[%d,%d] (fp32 tiles + cuBLAS) | %.3f ms | %.1f TFLOP/s | %.2fx bf16 cuBLAS time%s |\n",
			M, N, K, t * 1e3, flop / t / 1e12, t / tb, ok ? "" : " NON-FINITE");
	cudaFree(mem); cudaFree(x); cudaFree(y); cudaFree(ws); cudaFree(m.xb); cudaFree(m.wb);
	nf4_free(&h);
	free(w);
	return ok;
}

int main(int argc, char **argv)
{
	struct cudaDeviceProp p;
	int n = 0, ok = 1;

	quick = argc > 1 && strcmp(argv[1], "-q") == 0;
	if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
		fprintf(stderr, "kernels: no CUDA device\n");
		return 2;
	}
	CK(cudaGetDeviceProperties(&p, 0));
	CK(cudaStreamCreateWithFlags(&S, cudaStreamNonBlocking));
	CK(cudaEventCreate(&E0));
	CK(cudaEventCreate(&E1));
	RUN(cu_blas_init(&BL, S, &e));
	/* dense peaks (no sparsity) by name: reference/decoder-stack.md 6.1 */
	if (strstr(p.name, "H100") && strstr(p.name, "PCIe"))
		peak_bf16 = 756, peak_f32 = 51;
	else if (strstr(p.name, "H100") || strstr(p.name, "H200"))
		peak_bf16 = 989, peak_f32 = 67;
	else if (strstr(p.name, "A100"))
		peak_bf16 = 312, peak_f32 = 19.5;
	if (cu_blas_tf32(BL))
		peak_f32 = peak_bf16 / 2;
	printf("GPU: %s, %d SMs, %.1f GiB, L2 %d MiB, compute %d.%d\n\n", p.name, p.multiProcessorCount,
			p.totalGlobalMem / 1073741824.0, p.l2CacheSize >> 20, p.major, p.minor);
	printf("| kernel | time | rate | against the reference |\n|---|---|---|---|\n");
	bench_copy();
	ok &= bench_matmul(4096, 4096, 4096, 1);
	ok &= bench_matmul(2048, 2048, 11008, 1);
	ok &= bench_matmul(2048, 2048, 2048, 0);
	ok &= bench_attention(4, quick ? 512 : 1024, 16, 2, 128, 1);
	ok &= bench_attention(8, 512, 12, 12, 64, 0);
	ok &= bench_attention_decode(8, 4096, 16, 2, 128);   /* Qwen2.5-3B heads */
	ok &= bench_nf4(11008, 2048, 1, 0);    /* Qwen2.5-3B gate/up */
	ok &= bench_nf4(2048, 11008, 1, 0);    /* down */
	ok &= bench_nf4(2048, 2048, 1, 0);     /* q/o */
	ok &= bench_nf4(11008, 2048, 1, 1);
	ok &= bench_nf4(11008, 2048, 4, 0);
	ok &= bench_nf4(8192, 3072, 1, 0);     /* Llama-3.2-3B gate/up */
	ok &= bench_nf4_prefill(11008, 2048, 512);
	cu_blas_free(BL);
	printf("\n%s\n", ok ? "all results finite" : "NON-FINITE RESULTS: see the rows marked");
	return ok ? 0 : 1;
}
#endif
