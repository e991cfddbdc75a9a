/* nf4.cu: the linear over NF4 weights (nf4.h) without a dequantized copy of
 * the whole matrix.
 *
 * Decode (M <= 8 inputs, K % 64 == 0): a warp per weight row; each lane
 * reads 16 bytes of codes (32 weights, half a block) with one 128-bit
 * streaming load, four chunks in flight, decodes the nibbles through a
 * 16-entry table in shared memory (16 banks: conflict-free), multiplies with
 * the inputs (read through L1: every row uses them) and applies the block
 * scale once per chunk.  This kernel is bound by the bytes of codes and
 * scales it reads: 4.5 bits a weight, 4.127 with double quantization.
 *
 * Prefill / training (more rows of x, or odd shapes): rows of W are
 * dequantized tile by tile into a workspace and cuBLAS multiplies; the
 * backward (dx = dy · W) always goes that way.
 *
 * Double-quantized scales are dequantized as bitsandbytes does, two fp32
 * roundings without FMA (__fmul_rn, __fadd_rn), so they match the CPU. */
#include "cuda_common.cuh"

#define NF4_ROWS_PER_BLOCK 8           /* warps of 32 */
#define NF4_MAXM 8

__constant__ float nf4_code_c[16];
__constant__ float nf4_dynmap_c[256];

/* The nf4_tensor fields the kernels need, by value. */
struct nf4_dev {
	const uint8_t *q;
	const float   *absmax;
	const uint8_t *qabsmax;
	const float   *absmax2;
	float          offset;
	int            dq;
	int64_t        rows, cols;
};

static nf4_dev nf4_dev_of(const nf4_tensor *w)
{
	nf4_dev d;

	d.q = w->q;
	d.absmax = w->absmax;
	d.qabsmax = w->qabsmax;
	d.absmax2 = w->absmax2;
	d.offset = w->offset;
	d.dq = w->dq;
	d.rows = w->rows;
	d.cols = w->cols;
	return d;
}

static __device__ __forceinline__ float nf4_scale(const nf4_dev &w, const float *dyn, int64_t blk)
{
	if (!w.dq)
		return __ldg(w.absmax + blk);
	return __fadd_rn(__fmul_rn(dyn[__ldg(w.qabsmax + blk)], __ldg(w.absmax2 + blk / NF4_DQ_BLOCK)),
			w.offset);
}

/* Shared tables: the 16 codes and (double quantization) the 256 map values. */
static __device__ __forceinline__ void load_tables(float *lut, float *dyn, int dq)
{
	for (int i = threadIdx.x; i < 16; i += blockDim.x)
		lut[i] = nf4_code_c[i];
	if (dq)
		for (int i = threadIdx.x; i < 256; i += blockDim.x)
			dyn[i] = nf4_dynmap_c[i];
	__syncthreads();
}

/* out[m, n] = Σ_k x[m, k] W[n, k] + bias[n] for MT rows of x.  A warp owns
 * R consecutive weight rows, so every input chunk it loads serves R rows
 * (the inputs are re-read from L1 once per R rows instead of once per row);
 * U chunks of each row are loaded before any is used. */
template <int MT, int R, int U>
static __global__ void __launch_bounds__(32 * NF4_ROWS_PER_BLOCK)
nf4_matvec_kernel(float *out, const float *__restrict__ x, nf4_dev w, const float *bias)
{
	__shared__ float lut[16];
	__shared__ float dyn[256];
	const int lane = threadIdx.x & 31;
	const int64_t N = w.rows, K = w.cols, nch = K / 32, bpr = K / NF4_BLOCK;

	load_tables(lut, dyn, w.dq);
	for (int64_t n0 = ((int64_t)blockIdx.x * NF4_ROWS_PER_BLOCK + (threadIdx.x >> 5)) * R; n0 < N;
	     n0 += (int64_t)gridDim.x * NF4_ROWS_PER_BLOCK * R) {
		float acc[R][MT];

#pragma unroll
		for (int r = 0; r < R; r++)
#pragma unroll
			for (int m = 0; m < MT; m++)
				acc[r][m] = 0.0f;
		for (int64_t c0 = lane; c0 < nch; c0 += 32 * U) {
			uint4 qv[U][R];
			float sc[U][R];

			/* issue every load of this round before using any */
#pragma unroll
			for (int u = 0; u < U; u++)
#pragma unroll
				for (int r = 0; r < R; r++) {
					int64_t c = c0 + (int64_t)u * 32, n = n0 + r;

					if (c < nch && n < N) {
						qv[u][r] = __ldcs(reinterpret_cast<const uint4 *>(w.q + n * (K / 2)) + c);
						sc[u][r] = nf4_scale(w, dyn, n * bpr + c / 2);
					} else {
						qv[u][r] = make_uint4(0, 0, 0, 0);
						sc[u][r] = 0.0f;
					}
				}
#pragma unroll
			for (int u = 0; u < U; u++) {
				int64_t c = c0 + (int64_t)u * 32;
				float part[R][MT];

				if (c >= nch)
					break;
#pragma unroll
				for (int r = 0; r < R; r++)
#pragma unroll
					for (int m = 0; m < MT; m++)
						part[r][m] = 0.0f;
#pragma unroll
				for (int wi = 0; wi < 4; wi++) {
					float wv[R][8];

#pragma unroll
					for (int r = 0; r < R; r++) {
						uint32_t wd = wi == 0 ? qv[u][r].x : wi == 1 ? qv[u][r].y :
							      wi == 2 ? qv[u][r].z : qv[u][r].w;

#pragma unroll
						for (int bi = 0; bi < 4; bi++) {
							uint32_t byte = (wd >> (8 * bi)) & 0xffu;

							wv[r][2 * bi] = lut[byte >> 4];     /* element 2i: high nibble */
							wv[r][2 * bi + 1] = lut[byte & 15u];
						}
					}
#pragma unroll
					for (int m = 0; m < MT; m++) {
						const float4 *xp = reinterpret_cast<const float4 *>(
								x + (size_t)m * K + c * 32 + wi * 8);
						float4 a = __ldg(xp), b = __ldg(xp + 1);

#pragma unroll
						for (int r = 0; r < R; r++)
							part[r][m] += wv[r][0] * a.x + wv[r][1] * a.y +
								      wv[r][2] * a.z + wv[r][3] * a.w +
								      wv[r][4] * b.x + wv[r][5] * b.y +
								      wv[r][6] * b.z + wv[r][7] * b.w;
					}
				}
#pragma unroll
				for (int r = 0; r < R; r++)
#pragma unroll
					for (int m = 0; m < MT; m++)
						acc[r][m] += sc[u][r] * part[r][m];
			}
		}
#pragma unroll
		for (int r = 0; r < R; r++)
#pragma unroll
			for (int m = 0; m < MT; m++) {
				float v = cu_warp_sum(acc[r][m]);

				if (lane == 0 && n0 + r < N)
					out[(size_t)m * N + n0 + r] = v + (bias ? bias[n0 + r] : 0.0f);
			}
	}
}

/* Any shape (blocks may straddle rows, rows unaligned): a warp per row,
 * element by element.  Correct, not fast; M <= NF4_MAXM. */
static __global__ void nf4_matvec_generic_kernel(float *out, const float *x, nf4_dev w,
		const float *bias, int M)
{
	__shared__ float lut[16];
	__shared__ float dyn[256];
	const int lane = threadIdx.x & 31;
	const int64_t N = w.rows, K = w.cols;

	load_tables(lut, dyn, w.dq);
	for (int64_t n = (int64_t)blockIdx.x * NF4_ROWS_PER_BLOCK + (threadIdx.x >> 5); n < N;
	     n += (int64_t)gridDim.x * NF4_ROWS_PER_BLOCK) {
		float acc[NF4_MAXM];

		for (int m = 0; m < NF4_MAXM; m++)
			acc[m] = 0.0f;
		for (int64_t j = lane; j < K; j += 32) {
			int64_t i = n * K + j;
			uint8_t byte = w.q[i >> 1];
			float v = lut[(i & 1) ? (byte & 15) : (byte >> 4)] * nf4_scale(w, dyn, i / NF4_BLOCK);

			for (int m = 0; m < M; m++)
				acc[m] += v * x[(size_t)m * K + j];
		}
		for (int m = 0; m < M; m++) {
			float v = cu_warp_sum(acc[m]);

			if (lane == 0)
				out[(size_t)m * N + n] = v + (bias ? bias[n] : 0.0f);
		}
	}
}

/* out[r, k] = W[r0 + r, k] for r < nrows (fp32), exactly code * scale. */
static __global__ void nf4_dequant_kernel(float *out, nf4_dev w, int64_t r0, int64_t nrows)
{
	__shared__ float lut[16];
	__shared__ float dyn[256];
	const int64_t K = w.cols, n = nrows * K, i0 = r0 * K;

	load_tables(lut, dyn, w.dq);
	for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n;
	     e += (int64_t)gridDim.x * blockDim.x) {
		int64_t i = i0 + e;
		uint8_t byte = w.q[i >> 1];

		out[e] = lut[(i & 1) ? (byte & 15) : (byte >> 4)] * nf4_scale(w, dyn, i / NF4_BLOCK);
	}
}

static __global__ void nf4_bias_kernel(float *out, const float *bias, int M, int64_t N)
{
	size_t n = (size_t)M * N;

	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		out[i] = bias[i % N];
}

/* Streaming multiprocessors of the current device (asked once). */
static int nf4_sms(void)
{
	static int sms = 0;
	int dev;

	if (!sms && cudaGetDevice(&dev) == cudaSuccess &&
	    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
		sms = 0;
	return sms > 0 ? sms : 132;
}

/* The tables go to constant memory once per process (per device in use). */
static int nf4_tables(an_err *e)
{
	static int done = -1;
	int dev;

	CU_CHECK(cudaGetDevice(&dev), e);
	if (done == dev)
		return 0;
	CU_CHECK(cudaMemcpyToSymbol(nf4_code_c, nf4_code, sizeof nf4_code), e);
	CU_CHECK(cudaMemcpyToSymbol(nf4_dynmap_c, nf4_dynmap, sizeof nf4_dynmap), e);
	/* the copies ran on the legacy stream, the kernels run on a non-blocking one */
	CU_CHECK(cudaDeviceSynchronize(), e);
	done = dev;
	return 0;
}

static int check_w(const nf4_tensor *w, an_err *e)
{
	if (!w || !w->q || (w->dq ? !w->qabsmax || !w->absmax2 : !w->absmax) || w->rows <= 0 ||
	    w->cols <= 0 || w->rows > INT32_MAX || w->cols > INT32_MAX) {
		an_err_set(e, "nf4 matmul: bad weight tensor");
		return -1;
	}
	return 0;
}

extern "C" size_t cu_nf4_ws_bytes(const nf4_tensor *w)
{
	size_t full = (size_t)w->rows * w->cols * sizeof(float), cap = (size_t)64 << 20;
	size_t row = (size_t)w->cols * sizeof(float);

	if (full <= cap)
		return full;
	return cap > row ? cap / row * row : row;
}

extern "C" int cu_nf4_dequantize_rows(cudaStream_t s, float *out, const nf4_tensor *w, int64_t r0,
		int64_t nrows, an_err *e)
{
	size_t n = (size_t)nrows * w->cols;

	if (check_w(w, e) < 0 || nf4_tables(e) < 0)
		return -1;
	if (!n)
		return 0;
	nf4_dequant_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(out, nf4_dev_of(w), r0, nrows);
	CU_LAUNCHED(e, "nf4_dequant");
	return 0;
}

/* Rows per tile for a workspace of ws_bytes. */
static int64_t tile_rows(const nf4_tensor *w, size_t ws_bytes)
{
	int64_t r = (int64_t)(ws_bytes / ((size_t)w->cols * sizeof(float)));

	return r < w->rows ? r : w->rows;
}

extern "C" int cu_nf4_matmul_forward(cu_blas *b, cudaStream_t s, float *out, const float *inp,
		const nf4_tensor *w, const float *bias, int M, void *ws, size_t ws_bytes, an_err *e)
{
	int64_t N, K;
	nf4_dev d;

	if (check_w(w, e) < 0 || nf4_tables(e) < 0)
		return -1;
	if (M <= 0)
		return 0;
	N = w->rows;
	K = w->cols;
	d = nf4_dev_of(w);
	if (M <= NF4_MAXM) {
		int fast = K % NF4_BLOCK == 0 && ((uintptr_t)w->q & 15) == 0 &&
			   ((uintptr_t)inp & 15) == 0;
		const unsigned T = 32 * NF4_ROWS_PER_BLOCK;

		if (!fast) {
			unsigned blocks = (unsigned)((N + NF4_ROWS_PER_BLOCK - 1) / NF4_ROWS_PER_BLOCK);

			nf4_matvec_generic_kernel<<<blocks > 524280u ? 524280u : blocks, T, 0, s>>>(out, inp,
					d, bias, M);
			CU_LAUNCHED(e, "nf4_matvec_generic");
			return 0;
		}
		/* rows per warp: more rows share more input loads, fewer rows make
		 * more blocks; keep at least ~3 blocks per SM (the last wave's tail) */
		int sms = nf4_sms(), R = 1;
		while (R < 4 && N / (NF4_ROWS_PER_BLOCK * 2 * R) >= 3 * (int64_t)sms)
			R *= 2;
		if (M > 2 && R > 2)
			R = 2;
		if (M > 4)
			R = 1;
		unsigned blocks = (unsigned)((N + NF4_ROWS_PER_BLOCK * R - 1) / (NF4_ROWS_PER_BLOCK * R));
		if (blocks > 524280u)
			blocks = 524280u;
#define NF4_GO(MV, RV, UV) nf4_matvec_kernel<MV, RV, UV><<<blocks, T, 0, s>>>(out, inp, d, bias)
		switch (M * 10 + R) {
		case 11: NF4_GO(1, 1, 4); break;
		case 12: NF4_GO(1, 2, 2); break;
		case 14: NF4_GO(1, 4, 2); break;
		case 21: NF4_GO(2, 1, 4); break;
		case 22: NF4_GO(2, 2, 2); break;
		case 24: NF4_GO(2, 4, 2); break;
		case 31: NF4_GO(3, 1, 4); break;
		case 32: NF4_GO(3, 2, 2); break;
		case 41: NF4_GO(4, 1, 4); break;
		case 42: NF4_GO(4, 2, 2); break;
		case 51: NF4_GO(5, 1, 4); break;
		case 61: NF4_GO(6, 1, 4); break;
		case 71: NF4_GO(7, 1, 4); break;
		default: NF4_GO(8, 1, 4); break;
		}
#undef NF4_GO
		CU_LAUNCHED(e, "nf4_matvec");
		return 0;
	}
	int64_t R = tile_rows(w, ws_bytes);
	if (R <= 0) {
		an_err_set(e, "nf4 matmul: workspace of %zu bytes holds no row of %lld", ws_bytes,
				(long long)K);
		return -1;
	}
	if (bias) {
		nf4_bias_kernel<<<cu_blocks((size_t)M * N, 256), 256, 0, s>>>(out, bias, M, N);
		CU_LAUNCHED(e, "nf4_bias");
	}
	for (int64_t r0 = 0; r0 < N; r0 += R) {
		int64_t nr = N - r0 < R ? N - r0 : R;

		if (cu_nf4_dequantize_rows(s, (float *)ws, w, r0, nr, e) < 0 ||
		    cu_blas_linear_f32(b, out + r0, (int)N, inp, (const float *)ws, M, (int)K, (int)nr,
				1.0f, bias ? 1.0f : 0.0f, e) < 0)
			return -1;
	}
	return 0;
}

extern "C" int cu_nf4_matmul_backward(cu_blas *b, cudaStream_t s, float *dinp, const float *dout,
		const nf4_tensor *w, int M, int acc, void *ws, size_t ws_bytes, an_err *e)
{
	int64_t N, K, R;

	if (check_w(w, e) < 0 || nf4_tables(e) < 0)
		return -1;
	if (M <= 0)
		return 0;
	N = w->rows;
	K = w->cols;
	R = tile_rows(w, ws_bytes);
	if (R <= 0) {
		an_err_set(e, "nf4 matmul backward: workspace of %zu bytes holds no row of %lld",
				ws_bytes, (long long)K);
		return -1;
	}
	for (int64_t r0 = 0; r0 < N; r0 += R) {
		int64_t nr = N - r0 < R ? N - r0 : R;

		/* dinp[M,K] (+)= dout[:, r0:r0+nr] · tile[nr,K] */
		if (cu_nf4_dequantize_rows(s, (float *)ws, w, r0, nr, e) < 0 ||
		    cu_blas_nn_f32(b, dinp, dout + r0, (int)N, (const float *)ws, M, (int)nr, (int)K,
				1.0f, (r0 == 0 && !acc) ? 0.0f : 1.0f, e) < 0)
			return -1;
	}
	return 0;
}
