/* ops.c: the CPU reference ops of ops.h, except rotary embedding and
 * attention (ops_attn.c).  Plain loops, OpenMP over rows, sgemm for the
 * matrix products; sums that feed a division or a log are kept in double. */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "half.h"
#include "ops.h"
#include "ops_int.h"
#include "vexp.h"

/* ------------------------------------------------------------------ sgemm */

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_single(void)
{
	openblas_set_num_threads(1);
}

void sgemm_cpu(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
		const float *B, int ldb, float beta, float *C, int ldc)
{
	int nt = 1;

	if (M <= 0 || N <= 0)
		return;
	pthread_once(&blas_once, blas_single);
	if (K <= 0) {     /* C = beta C */
		for (int m = 0; m < M; m++)
			for (int n = 0; n < N; n++)
				C[(size_t)m * ldc + n] = beta == 0 ? 0.0f : beta * C[(size_t)m * ldc + n];
		return;
	}
#ifdef _OPENMP
	if (!omp_in_parallel() && (double)M * N * K >= 262144.0)
		nt = omp_get_max_threads();
#endif
	enum CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
	if (M <= 2) {
		/* One or two rows (decoding one token): a matrix-vector product per
		 * row, which OpenBLAS does several times faster than a thin sgemm;
		 * the threads split N. */
		int incx = ta ? lda : 1, cn = nt > 1 ? (N + nt - 1) / nt : N;

		if (cn < 64)
			cn = 64;
		#pragma omp parallel for num_threads(nt) collapse(2) if (nt > 1)
		for (int m = 0; m < M; m++)
			for (int lo = 0; lo < N; lo += cn) {
				int cnt = N - lo < cn ? N - lo : cn;
				const float *x = A + (ta ? (size_t)m : (size_t)m * lda);

				if (tb)   /* B is [N, K]: C[m, lo:] = B[lo:] . x */
					cblas_sgemv(CblasRowMajor, CblasNoTrans, cnt, K, alpha,
						    B + (size_t)lo * ldb, ldb, x, incx, beta,
						    C + (size_t)m * ldc + lo, 1);
				else      /* B is [K, N]: C[m, lo:] = B[:, lo:]^T . x */
					cblas_sgemv(CblasRowMajor, CblasTrans, K, cnt, alpha,
						    B + lo, ldb, x, incx, beta, C + (size_t)m * ldc + lo, 1);
			}
		return;
	}
	if (nt <= 1) {
		cblas_sgemm(CblasRowMajor, TA, TB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
		return;
	}
	/* split the longer of M and N into one slab per thread */
	int by_m = M >= N, len = by_m ? M : N;
	int chunk = (len + nt - 1) / nt;
	if (chunk < 8)
		chunk = 8;
	int nchunks = (len + chunk - 1) / chunk;
	#pragma omp parallel for num_threads(nt)
	for (int c = 0; c < nchunks; c++) {
		int lo = c * chunk, cnt = len - lo < chunk ? len - lo : chunk;

		if (by_m)
			cblas_sgemm(CblasRowMajor, TA, TB, cnt, N, K, alpha,
					A + (ta ? (size_t)lo : (size_t)lo * lda), lda, B, ldb,
					beta, C + (size_t)lo * ldc, ldc);
		else
			cblas_sgemm(CblasRowMajor, TA, TB, M, cnt, K, alpha, A, lda,
					B + (tb ? (size_t)lo * ldb : (size_t)lo), ldb,
					beta, C + lo, ldc);
	}
}

float *ops_scratch(int slot, size_t n)
{
	static _Thread_local float *buf[4];
	static _Thread_local size_t cap[4];

	if (slot < 0 || slot > 3)
		return NULL;
	if (n > cap[slot]) {
		float *p = realloc(buf[slot], n * sizeof *p);

		if (!p)
			return NULL;
		buf[slot] = p;
		cap[slot] = n;
	}
	return buf[slot];
}

/* ---------------------------------------------------------------- linear */

static void bias_fill(float *out, const float *bias, int M, int N)
{
	#pragma omp parallel for if ((size_t)M * N > 65536)
	for (int m = 0; m < M; m++)
		memcpy(out + (size_t)m * N, bias, (size_t)N * sizeof *out);
}

void matmul_forward_cpu(float *out, const float *inp, const float *w, const float *bias,
		int M, int K, int N)
{
	if (M <= 0 || N <= 0)
		return;
	if (K <= 0) {
		if (bias)
			bias_fill(out, bias, M, N);
		else
			memset(out, 0, (size_t)M * N * sizeof *out);
		return;
	}
	if (bias)
		bias_fill(out, bias, M, N);
	sgemm_cpu(0, 1, M, N, K,
			1.0f, inp, K, w, K, bias ? 1.0f : 0.0f, out, N);
}

/* Rows of a bf16 weight widened per tile: about 4 MiB of fp32 at a time. */
static int bf16_tile_rows(int K)
{
	int r = (1 << 20) / (K > 0 ? K : 1);

	return r < 1 ? 1 : r;
}

/* The scratch tile for a bf16 weight W[N, K]: *nb rows of K floats. */
static float *bf16_tile(int N, int K, int *nb, const char *what, an_err *e)
{
	float *tile;

	*nb = bf16_tile_rows(K);
	if (*nb > N)
		*nb = N;
	if (!(tile = ops_scratch(0, (size_t)*nb * K)))
		an_err_set(e, "%s: out of memory for a %d x %d tile", what, *nb, K);
	return tile;
}

/* Rows [n0, n0 + rows) of W[N, K] in bf16, as fp32 rows of the tile. */
static void bf16_rows(float *tile, const uint16_t *w, int n0, int rows, int K)
{
	#pragma omp parallel for if ((size_t)rows * K > 65536)
	for (int r = 0; r < rows; r++)
		bf16_to_f32_n(tile + (size_t)r * K, w + (size_t)(n0 + r) * K, (size_t)K);
}

int matmul_forward_bf16_cpu(float *out, const float *inp, const uint16_t *w, const float *bias,
		int M, int K, int N, an_err *e)
{
	if (M <= 0 || N <= 0)
		return 0;
	if (bias)
		bias_fill(out, bias, M, N);
	else
		memset(out, 0, (size_t)M * N * sizeof *out);
	if (K <= 0)
		return 0;
	int nb;
	float *tile = bf16_tile(N, K, &nb, "matmul bf16", e);
	if (!tile)
		return -1;
	for (int n0 = 0; n0 < N; n0 += nb) {
		int rows = N - n0 < nb ? N - n0 : nb;

		bf16_rows(tile, w, n0, rows, K);
		sgemm_cpu(0, 1, M, rows, K,
				1.0f, inp, K, tile, K, 1.0f, out + n0, N);
	}
	return 0;
}

void matmul_backward_cpu(float *dinp, float *dw, float *dbias, const float *dout,
		const float *inp, const float *w, int M, int K, int N, int acc)
{
	if (M <= 0 || K <= 0)
		return;
	if (dinp) {
		if (N > 0)
			sgemm_cpu(0, 0, M, K, N,
					1.0f, dout, N, w, K, acc ? 1.0f : 0.0f, dinp, K);
		else if (!acc)
			memset(dinp, 0, (size_t)M * K * sizeof *dinp);
	}
	if (dw && N > 0)
		sgemm_cpu(1, 0, N, K, M,
				1.0f, dout, N, inp, K, 1.0f, dw, K);
	if (dbias) {
		#pragma omp parallel for if ((size_t)M * N > 65536)
		for (int n = 0; n < N; n++) {
			double s = 0;

			for (int m = 0; m < M; m++)
				s += dout[(size_t)m * N + n];
			dbias[n] += (float)s;
		}
	}
}

int matmul_backward_bf16_cpu(float *dinp, const float *dout, const uint16_t *w,
		int M, int K, int N, int acc, an_err *e)
{
	if (M <= 0 || K <= 0)
		return 0;
	if (!acc)
		memset(dinp, 0, (size_t)M * K * sizeof *dinp);
	if (N <= 0)
		return 0;
	int nb;
	float *tile = bf16_tile(N, K, &nb, "matmul bf16 backward", e);
	if (!tile)
		return -1;
	for (int n0 = 0; n0 < N; n0 += nb) {
		int rows = N - n0 < nb ? N - n0 : nb;

		bf16_rows(tile, w, n0, rows, K);
		sgemm_cpu(0, 0, M, K, rows,
				1.0f, dout + n0, N, tile, K, 1.0f, dinp, K);
	}
	return 0;
}

/* --------------------------------------------------------- normalization */

#define VBLK 256

/* Σ (x - mu)^2 */
static double vsumsq(const float *x, int n, float mu)
{
	double s = 0;

	for (int c0 = 0; c0 < n; c0 += VBLK) {
		int e = n - c0 < VBLK ? n : c0 + VBLK;
		float f = 0;

		#pragma omp simd reduction(+:f)
		for (int c = c0; c < e; c++)
			f += (x[c] - mu) * (x[c] - mu);
		s += f;
	}
	return s;
}

/* Σ a*b*w and Σ a*b*w*((x - mu) * rs): the two sums of the norm backwards */
static void vnorm_sums(const float *dy, const float *w, const float *x, float mu, float rs,
		int n, double *s1, double *s2)
{
	double a = 0, b = 0;

	for (int c0 = 0; c0 < n; c0 += VBLK) {
		int e = n - c0 < VBLK ? n : c0 + VBLK;
		float f1 = 0, f2 = 0;

		#pragma omp simd reduction(+:f1, f2)
		for (int c = c0; c < e; c++) {
			float dn = dy[c] * w[c];

			f1 += dn;
			f2 += dn * ((x[c] - mu) * rs);
		}
		a += f1;
		b += f2;
	}
	*s1 = a;
	*s2 = b;
}

void layernorm_forward_cpu(float *out, float *mean, float *rstd, const float *inp,
		const float *weight, const float *bias, float eps, int M, int C)
{
	#pragma omp parallel for if ((size_t)M * C > 16384)
	for (int m = 0; m < M; m++) {
		const float *x = inp + (size_t)m * C;
		float *y = out + (size_t)m * C;
		double mu = C > 0 ? vsumf(x, C) / C : 0;
		float fmu = (float)mu;
		/* the small difference between mu and fmu is ignored: (x - fmu) is
		 * what the output uses, so the variance is taken about it too */
		double var = C > 0 ? vsumsq(x, C, fmu) / C : 0;
		float rs = (float)(1.0 / sqrt(var + eps));
		if (bias) {
			#pragma omp simd
			for (int c = 0; c < C; c++)
				y[c] = (x[c] - fmu) * rs * weight[c] + bias[c];
		} else {
			#pragma omp simd
			for (int c = 0; c < C; c++)
				y[c] = (x[c] - fmu) * rs * weight[c];
		}
		if (mean)
			mean[m] = fmu;
		if (rstd)
			rstd[m] = rs;
	}
}

void layernorm_backward_cpu(float *dinp, float *dweight, float *dbias, const float *dout,
		const float *inp, const float *weight, const float *mean, const float *rstd,
		int M, int C)
{
	if (dinp) {
		#pragma omp parallel for if ((size_t)M * C > 16384)
		for (int m = 0; m < M; m++) {
			const float *x = inp + (size_t)m * C, *dy = dout + (size_t)m * C;
			float *dx = dinp + (size_t)m * C;
			float mu = mean[m], rs = rstd[m];
			double s1, s2;

			vnorm_sums(dy, weight, x, mu, rs, C, &s1, &s2);
			float m1 = (float)(s1 / C), m2 = (float)(s2 / C);
			#pragma omp simd
			for (int c = 0; c < C; c++) {
				float xh = (x[c] - mu) * rs;

				dx[c] = rs * (dy[c] * weight[c] - m1 - xh * m2);
			}
		}
	}
	if (dweight || dbias) {
		/* column blocks per thread: no race on the += */
		#pragma omp parallel for if ((size_t)M * C > 16384)
		for (int c0 = 0; c0 < C; c0 += 64) {
			int c1 = c0 + 64 < C ? c0 + 64 : C;
			double sw[64] = {0}, sb[64] = {0};

			for (int m = 0; m < M; m++) {
				const float *x = inp + (size_t)m * C, *dy = dout + (size_t)m * C;
				float mu = mean[m], rs = rstd[m];

				for (int c = c0; c < c1; c++) {
					sw[c - c0] += (double)dy[c] * ((x[c] - mu) * rs);
					sb[c - c0] += dy[c];
				}
			}
			for (int c = c0; c < c1; c++) {
				if (dweight)
					dweight[c] += (float)sw[c - c0];
				if (dbias)
					dbias[c] += (float)sb[c - c0];
			}
		}
	}
}

void rmsnorm_forward_cpu(float *out, float *rstd, const float *inp, const float *weight,
		float eps, int M, int C)
{
	#pragma omp parallel for if ((size_t)M * C > 16384)
	for (int m = 0; m < M; m++) {
		const float *x = inp + (size_t)m * C;
		float *y = out + (size_t)m * C;
		double ss = vsumsq(x, C, 0.0f);
		float rs = (float)(1.0 / sqrt((C > 0 ? ss / C : 0) + eps));
		#pragma omp simd
		for (int c = 0; c < C; c++)
			y[c] = x[c] * rs * weight[c];
		if (rstd)
			rstd[m] = rs;
	}
}

void rmsnorm_backward_cpu(float *dinp, float *dweight, const float *dout, const float *inp,
		const float *weight, const float *rstd, int M, int C)
{
	if (dinp) {
		#pragma omp parallel for if ((size_t)M * C > 16384)
		for (int m = 0; m < M; m++) {
			const float *x = inp + (size_t)m * C, *dy = dout + (size_t)m * C;
			float *dx = dinp + (size_t)m * C;
			float rs = rstd[m];
			double s1, s;

			vnorm_sums(dy, weight, x, 0.0f, rs, C, &s1, &s);
			float m2 = (float)(s / C);
			#pragma omp simd
			for (int c = 0; c < C; c++)
				dx[c] = rs * (dy[c] * weight[c] - x[c] * rs * m2);
		}
	}
	if (dweight) {
		#pragma omp parallel for if ((size_t)M * C > 16384)
		for (int c0 = 0; c0 < C; c0 += 64) {
			int c1 = c0 + 64 < C ? c0 + 64 : C;
			double sw[64] = {0};

			for (int m = 0; m < M; m++) {
				const float *x = inp + (size_t)m * C, *dy = dout + (size_t)m * C;

				for (int c = c0; c < c1; c++)
					sw[c - c0] += (double)dy[c] * (x[c] * rstd[m]);
			}
			for (int c = c0; c < c1; c++)
				dweight[c] += (float)sw[c - c0];
		}
	}
}

/* ------------------------------------------------------------- pointwise */

#define PAR_N(n) if ((n) > 32768)

void gelu_forward_cpu(float *out, const float *inp, size_t n)
{
	#pragma omp parallel for simd PAR_N(n)
	for (size_t i = 0; i < n; i++) {
		float x = inp[i];

		out[i] = 0.5f * x * (1.0f + verff(x * (float)M_SQRT1_2));
	}
}

void gelu_backward_cpu(float *dinp, const float *dout, const float *inp, size_t n)
{
	const float inv_sqrt_2pi = 0.3989422804014327f;

	#pragma omp parallel for simd PAR_N(n)
	for (size_t i = 0; i < n; i++) {
		float x = inp[i];
		float cdf = 0.5f * (1.0f + verff(x * (float)M_SQRT1_2));
		float pdf = inv_sqrt_2pi * vexpf(-0.5f * x * x);

		dinp[i] = dout[i] * (cdf + x * pdf);
	}
}

static inline float sigmoidf(float x)
{
	return 1.0f / (1.0f + expf(-x));
}

void silu_forward_cpu(float *out, const float *inp, size_t n)
{
	#pragma omp parallel for PAR_N(n)
	for (size_t i = 0; i < n; i++)
		out[i] = inp[i] * sigmoidf(inp[i]);
}

void silu_backward_cpu(float *dinp, const float *dout, const float *inp, size_t n)
{
	#pragma omp parallel for PAR_N(n)
	for (size_t i = 0; i < n; i++) {
		float x = inp[i], s = sigmoidf(x);

		dinp[i] = dout[i] * s * (1.0f + x * (1.0f - s));
	}
}

void swiglu_forward_cpu(float *out, const float *gate, const float *up, size_t n)
{
	#pragma omp parallel for PAR_N(n)
	for (size_t i = 0; i < n; i++)
		out[i] = gate[i] * sigmoidf(gate[i]) * up[i];
}

void swiglu_backward_cpu(float *dgate, float *dup, const float *dout, const float *gate,
		const float *up, size_t n)
{
	#pragma omp parallel for PAR_N(n)
	for (size_t i = 0; i < n; i++) {
		float g = gate[i], s = sigmoidf(g), u = up[i], dy = dout[i];

		if (dgate)
			dgate[i] = dy * u * s * (1.0f + g * (1.0f - s));
		if (dup)
			dup[i] = dy * g * s;
	}
}

void add_forward_cpu(float *out, const float *a, const float *b, size_t n)
{
	#pragma omp parallel for PAR_N(n)
	for (size_t i = 0; i < n; i++)
		out[i] = a[i] + b[i];
}

void add_inplace_cpu(float *dst, const float *src, size_t n)
{
	#pragma omp parallel for PAR_N(n)
	for (size_t i = 0; i < n; i++)
		dst[i] += src[i];
}

void scale_cpu(float *x, float s, size_t n)
{
	#pragma omp parallel for PAR_N(n)
	for (size_t i = 0; i < n; i++)
		x[i] *= s;
}

/* --------------------------------------------------------------- softmax */


void softmax_forward_cpu(float *out, const float *inp, int M, int N)
{
	#pragma omp parallel for if ((size_t)M * N > 16384)
	for (int m = 0; m < M; m++) {
		const float *x = inp + (size_t)m * N;
		float *y = out + (size_t)m * N;
		float mx = -INFINITY;
		double s = 0;

		#pragma omp simd reduction(max:mx)
		for (int j = 0; j < N; j++)
			mx = x[j] > mx ? x[j] : mx;
		if (mx == -INFINITY) {        /* every entry -inf: no mass anywhere */
			memset(y, 0, (size_t)N * sizeof *y);
			continue;
		}
		#pragma omp simd
		for (int j = 0; j < N; j++)
			y[j] = vexpf(x[j] - mx);
		s = vsumf(y, N);
		float inv = (float)(1.0 / s);
		#pragma omp simd
		for (int j = 0; j < N; j++)
			y[j] *= inv;
	}
}

void softmax_backward_cpu(float *dinp, const float *dout, const float *out, int M, int N)
{
	#pragma omp parallel for if ((size_t)M * N > 16384)
	for (int m = 0; m < M; m++) {
		const float *dy = dout + (size_t)m * N, *y = out + (size_t)m * N;
		float *dx = dinp + (size_t)m * N;
		double s = 0;

		for (int j = 0; j < N; j++)
			s += (double)dy[j] * y[j];
		float fs = (float)s;
		for (int j = 0; j < N; j++)
			dx[j] = y[j] * (dy[j] - fs);
	}
}

/* ------------------------------------------------------------- embedding */

int embedding_forward_cpu(float *out, const int *ids, const float *table, int M, int C, int V,
		an_err *e)
{
	for (int m = 0; m < M; m++)
		if (ids[m] < 0 || ids[m] >= V) {
			an_err_set(e, "embedding: token %d: id %d outside the vocabulary [0,%d)",
					m, ids[m], V);
			return -1;
		}
	#pragma omp parallel for if ((size_t)M * C > 65536)
	for (int m = 0; m < M; m++)
		memcpy(out + (size_t)m * C, table + (size_t)ids[m] * C, (size_t)C * sizeof *out);
	return 0;
}

void embedding_backward_cpu(float *dtable, const float *dout, const int *ids, int pad_id,
		int M, int C, int V)
{
	/* columns split across threads: each row of dtable may be hit many times */
	#pragma omp parallel for if ((size_t)M * C > 65536)
	for (int c0 = 0; c0 < C; c0 += 64) {
		int c1 = c0 + 64 < C ? c0 + 64 : C;

		for (int m = 0; m < M; m++) {
			int id = ids[m];

			if (id == pad_id || id < 0 || id >= V)
				continue;
			float *dt = dtable + (size_t)id * C;
			const float *dy = dout + (size_t)m * C;
			for (int c = c0; c < c1; c++)
				dt[c] += dy[c];
		}
	}
}

/* --------------------------------------------------- pooling, L2 normalize */

void meanpool_forward_cpu(float *out, const float *inp, const int *mask, int B, int T, int C)
{
	#pragma omp parallel for if ((size_t)B * T * C > 65536)
	for (int b = 0; b < B; b++) {
		float *y = out + (size_t)b * C;
		double cnt = 0;

		for (int t = 0; t < T; t++)
			cnt += !mask || mask[(size_t)b * T + t] != 0;
		float den = (float)(cnt > 1e-9 ? cnt : 1e-9);
		for (int c = 0; c < C; c++) {
			double s = 0;

			for (int t = 0; t < T; t++)
				if (!mask || mask[(size_t)b * T + t])
					s += inp[((size_t)b * T + t) * C + c];
			y[c] = (float)s / den;
		}
	}
}

void meanpool_backward_cpu(float *dinp, const float *dout, const int *mask, int B, int T, int C)
{
	#pragma omp parallel for if ((size_t)B * T * C > 65536)
	for (int b = 0; b < B; b++) {
		double cnt = 0;

		for (int t = 0; t < T; t++)
			cnt += !mask || mask[(size_t)b * T + t] != 0;
		float den = (float)(cnt > 1e-9 ? cnt : 1e-9);
		for (int t = 0; t < T; t++) {
			float *dx = dinp + ((size_t)b * T + t) * C;
			int on = !mask || mask[(size_t)b * T + t];

			for (int c = 0; c < C; c++)
				dx[c] = on ? dout[(size_t)b * C + c] / den : 0.0f;
		}
	}
}

void l2norm_forward_cpu(float *out, float *norm, const float *inp, float eps, int M, int C)
{
	#pragma omp parallel for if ((size_t)M * C > 16384)
	for (int m = 0; m < M; m++) {
		const float *x = inp + (size_t)m * C;
		float *y = out + (size_t)m * C;
		double ss = 0;

		for (int c = 0; c < C; c++)
			ss += (double)x[c] * x[c];
		float nr = (float)sqrt(ss);
		float den = nr > eps ? nr : eps;
		for (int c = 0; c < C; c++)
			y[c] = x[c] / den;
		if (norm)
			norm[m] = nr;
	}
}

void l2norm_backward_cpu(float *dinp, const float *dout, const float *inp, float eps, int M, int C)
{
	#pragma omp parallel for if ((size_t)M * C > 16384)
	for (int m = 0; m < M; m++) {
		const float *x = inp + (size_t)m * C, *dy = dout + (size_t)m * C;
		float *dx = dinp + (size_t)m * C;
		double ss = 0, dot = 0;

		for (int c = 0; c < C; c++) {
			ss += (double)x[c] * x[c];
			dot += (double)x[c] * dy[c];
		}
		double nr = sqrt(ss);
		if (nr > eps) {
			/* d(x/|x|) = (dy - y (y.dy)) / |x| */
			float k = (float)(dot / (nr * nr));
			float inv = (float)(1.0 / nr);
			for (int c = 0; c < C; c++)
				dx[c] = (dy[c] - x[c] * k) * inv;
		} else {
			for (int c = 0; c < C; c++)
				dx[c] = dy[c] / eps;
		}
	}
}

/* ---------------------------------------------------------------- losses */

static double row_lse(const float *x, int N)
{
	float mx = -INFINITY;
	double s = 0;

	#pragma omp simd reduction(max:mx)
	for (int j = 0; j < N; j++)
		mx = x[j] > mx ? x[j] : mx;
	if (mx == -INFINITY)
		return -INFINITY;
	for (int j0 = 0; j0 < N; j0 += 256) {
		float t[256];
		int n = N - j0 < 256 ? N - j0 : 256;

		#pragma omp simd
		for (int j = 0; j < n; j++)
			t[j] = vexpf(x[j0 + j] - mx);
		s += vsumf(t, n);
	}
	return mx + log(s);
}

int crossentropy_forward_cpu(float *loss, float *lse, const float *logits, const int *targets,
		int M, int V, an_err *e)
{
	for (int m = 0; m < M; m++)
		if (targets[m] != AN_IGNORE_INDEX && (targets[m] < 0 || targets[m] >= V)) {
			an_err_set(e, "cross-entropy: position %d: target %d outside [0,%d)",
					m, targets[m], V);
			return -1;
		}
	double total = 0;
	int nvalid = 0;
	#pragma omp parallel for reduction(+:total, nvalid) if ((size_t)M * V > 16384)
	for (int m = 0; m < M; m++) {
		const float *x = logits + (size_t)m * V;
		double l = row_lse(x, V);

		lse[m] = (float)l;
		if (targets[m] == AN_IGNORE_INDEX)
			continue;
		total += l - x[targets[m]];
		nvalid++;
	}
	*loss = nvalid ? (float)(total / nvalid) : 0.0f;
	return 0;
}

void crossentropy_backward_cpu(float *dlogits, const float *logits, const float *lse,
		const int *targets, float dloss, int M, int V)
{
	int nvalid = 0;

	for (int m = 0; m < M; m++)
		nvalid += targets[m] != AN_IGNORE_INDEX;
	float k = nvalid ? dloss / nvalid : 0.0f;
	#pragma omp parallel for if ((size_t)M * V > 16384)
	for (int m = 0; m < M; m++) {
		const float *x = logits + (size_t)m * V;
		float *dx = dlogits + (size_t)m * V;
		int t = targets[m];

		if (t == AN_IGNORE_INDEX) {
			memset(dx, 0, (size_t)V * sizeof *dx);
			continue;
		}
		float l = lse[m], xt = x[t];
		#pragma omp simd
		for (int j = 0; j < V; j++)
			dx[j] = k * vexpf(x[j] - l);
		dx[t] = k * (vexpf(xt - l) - 1.0f);     /* x[t] read first: dx may be x */
	}
}

/* logits[i,j] = a_i . b_j / tau */
void infonce_forward_cpu(float *loss, float *logits, const float *a, const float *b,
		float tau, int symmetric, int B, int C)
{
	if (B <= 0) {
		*loss = 0;
		return;
	}
	if (C > 0)
		sgemm_cpu(0, 1, B, B, C,
				1.0f / tau, a, C, b, C, 0.0f, logits, B);
	else
		memset(logits, 0, (size_t)B * B * sizeof *logits);
	double rows = 0, cols = 0;
	for (int i = 0; i < B; i++)
		rows += row_lse(logits + (size_t)i * B, B) - logits[(size_t)i * B + i];
	if (symmetric) {
		for (int j = 0; j < B; j++) {
			float mx = -INFINITY;
			double s = 0;

			for (int i = 0; i < B; i++)
				if (logits[(size_t)i * B + j] > mx)
					mx = logits[(size_t)i * B + j];
			for (int i = 0; i < B; i++)
				s += exp((double)logits[(size_t)i * B + j] - mx);
			cols += mx + log(s) - logits[(size_t)j * B + j];
		}
		*loss = (float)((rows / B + cols / B) / 2);
	} else {
		*loss = (float)(rows / B);
	}
}

void infonce_backward_cpu(float *da, float *db, float *dtau, const float *logits,
		const float *a, const float *b, float tau, int symmetric, float dloss, int B, int C)
{
	if (B <= 0)
		return;
	float rl[B], cl[B];
	for (int i = 0; i < B; i++)
		rl[i] = (float)row_lse(logits + (size_t)i * B, B);
	for (int j = 0; j < B; j++) {
		float mx = -INFINITY;
		double s = 0;

		for (int i = 0; i < B; i++)
			if (logits[(size_t)i * B + j] > mx)
				mx = logits[(size_t)i * B + j];
		for (int i = 0; i < B; i++)
			s += exp((double)logits[(size_t)i * B + j] - mx);
		cl[j] = (float)(mx + log(s));
	}
	float wr = symmetric ? 0.5f * dloss / B : dloss / B;
	float wc = symmetric ? 0.5f * dloss / B : 0.0f;
	/* dL/dlogits[i,j] = wr (p_row[i,j] - [i==j]) + wc (p_col[i,j] - [i==j]) */
	#define DL(i, j) (wr * (expf(logits[(size_t)(i) * B + (j)] - rl[i]) - ((i) == (j))) + \
			  wc * (expf(logits[(size_t)(i) * B + (j)] - cl[j]) - ((i) == (j))))
	if (da) {
		#pragma omp parallel for if ((size_t)B * B * C > 65536)
		for (int i = 0; i < B; i++) {
			float *d = da + (size_t)i * C;

			memset(d, 0, (size_t)C * sizeof *d);
			for (int j = 0; j < B; j++) {
				float g = DL(i, j) / tau;
				const float *bj = b + (size_t)j * C;

				for (int c = 0; c < C; c++)
					d[c] += g * bj[c];
			}
		}
	}
	if (db) {
		#pragma omp parallel for if ((size_t)B * B * C > 65536)
		for (int j = 0; j < B; j++) {
			float *d = db + (size_t)j * C;

			memset(d, 0, (size_t)C * sizeof *d);
			for (int i = 0; i < B; i++) {
				float g = DL(i, j) / tau;
				const float *ai = a + (size_t)i * C;

				for (int c = 0; c < C; c++)
					d[c] += g * ai[c];
			}
		}
	}
	if (dtau) {
		double s = 0;

		for (int i = 0; i < B; i++)
			for (int j = 0; j < B; j++)
				s += (double)DL(i, j) * logits[(size_t)i * B + j];
		*dtau += (float)(-s / tau);
	}
	#undef DL
}

/* ------------------------------------------------------------- optimizer */

void adamw_update_cpu(float *param, const float *grad, float *m, float *v, size_t n,
		const adamw_hp *hp)
{
	double bc1 = 1.0 - pow(hp->beta1, hp->t);
	double bc2 = 1.0 - pow(hp->beta2, hp->t);
	float step = (float)(hp->lr / bc1);
	float bc2s = (float)sqrt(bc2);
	float decay = 1.0f - hp->lr * hp->weight_decay;
	float b1 = hp->beta1, b2 = hp->beta2, eps = hp->eps;

	#pragma omp parallel for PAR_N(n)
	for (size_t i = 0; i < n; i++) {
		float g = grad[i];
		float p = param[i] * decay;
		float mi = m[i] + (1.0f - b1) * (g - m[i]);       /* lerp, as torch */
		float vi = b2 * v[i] + (1.0f - b2) * g * g;

		m[i] = mi;
		v[i] = vi;
		param[i] = p - step * (mi / (sqrtf(vi) / bc2s + eps));
	}
}

double sumsq_cpu(const float *x, size_t n)
{
	double s = 0;

	#pragma omp parallel for reduction(+:s) PAR_N(n)
	for (size_t i = 0; i < n; i++)
		s += (double)x[i] * x[i];
	return s;
}

float clip_coef(double norm, float max_norm)
{
	double c = max_norm / (norm + 1e-6);

	return c < 1.0 ? (float)c : 1.0f;
}

float clip_grad_norm_cpu(float *g, size_t n, float max_norm)
{
	double norm = sqrt(sumsq_cpu(g, n));
	float c = clip_coef(norm, max_norm);

	if (c < 1.0f)
		scale_cpu(g, c, n);
	return (float)norm;
}
