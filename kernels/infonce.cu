/* infonce.cu: InfoNCE with in-batch negatives (ops.h infonce_*_cpu):
 * logits = a b^T / tau on cuBLAS, the row (and column) log-sum-exps by
 * small kernels, the gradients as two products with dL/dlogits. */
#include "cuda_common.cuh"

/* rl[i] = lse of row i, cl[j] = lse of column j: a warp per row / column. */
static __global__ void infonce_lse_kernel(float *rl, float *cl, const float *L, int B)
{
	int lane = threadIdx.x & 31, w = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
	int nw = (gridDim.x * blockDim.x) >> 5;

	for (int r = w; r < 2 * B; r += nw) {
		int col = r >= B, i = col ? r - B : r;
		float mx = -INFINITY;
		double s = 0;

		for (int j = lane; j < B; j += 32)
			mx = fmaxf(mx, col ? L[(size_t)j * B + i] : L[(size_t)i * B + j]);
		mx = cu_warp_max(mx);
		for (int j = lane; j < B; j += 32)
			s += exp((double)(col ? L[(size_t)j * B + i] : L[(size_t)i * B + j]) - mx);
		s = cu_warp_sum_d(s);
		if (lane == 0)
			(col ? cl : rl)[i] = (float)(mx + log(s));
	}
}

static __global__ void infonce_loss_kernel(float *loss, const float *rl, const float *cl,
		const float *L, int B, int symmetric)
{
	__shared__ double sh[32];
	double rows = 0, cols = 0;

	for (int i = threadIdx.x; i < B; i += blockDim.x) {
		rows += (double)rl[i] - L[(size_t)i * B + i];
		cols += (double)cl[i] - L[(size_t)i * B + i];
	}
	rows = cu_block_sum_d(rows, sh);
	cols = cu_block_sum_d(cols, sh);
	if (threadIdx.x == 0)
		*loss = symmetric ? (float)((rows / B + cols / B) / 2) : (float)(rows / B);
}

static __device__ __forceinline__ float dl(const float *L, const float *rl, const float *cl,
		float wr, float wc, int B, int i, int j)
{
	float x = L[(size_t)i * B + j], dg = i == j ? 1.0f : 0.0f;

	return wr * (expf(x - rl[i]) - dg) + wc * (expf(x - cl[j]) - dg);
}

/* G[i,j] = dL/dlogits[i,j] / tau */
static __global__ void infonce_grad_kernel(float *G, const float *L, const float *rl, const float *cl,
		float wr, float wc, float tau, int B)
{
	size_t n = (size_t)B * B;

	for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n;
	     k += (size_t)gridDim.x * blockDim.x)
		G[k] = dl(L, rl, cl, wr, wc, B, (int)(k / B), (int)(k % B)) / tau;
}

static __global__ void infonce_dtau_kernel(float *dtau, const float *L, const float *rl,
		const float *cl, float wr, float wc, float tau, int B)
{
	__shared__ double sh[32];
	double s = 0;

	for (size_t k = threadIdx.x; k < (size_t)B * B; k += blockDim.x)
		s += (double)dl(L, rl, cl, wr, wc, B, (int)(k / B), (int)(k % B)) * L[k];
	s = cu_block_sum_d(s, sh);
	if (threadIdx.x == 0)
		*dtau += (float)(-s / tau);
}

extern "C" int cu_infonce_forward(cu_blas *b, cudaStream_t s, float *loss, float *logits,
		const float *a, const float *bb, float tau, int symmetric, int B, int C, float *ws,
		an_err *e)
{
	if (B <= 0) {
		CU_CHECK(cudaMemsetAsync(loss, 0, sizeof(float), s), e);
		return 0;
	}
	if (C > 0) {
		if (cu_blas_linear_f32(b, logits, B, a, bb, B, C, B, 1.0f / tau, 0.0f, e) < 0)
			return -1;
	} else {
		CU_CHECK(cudaMemsetAsync(logits, 0, (size_t)B * B * sizeof(float), s), e);
	}
	infonce_lse_kernel<<<(2 * B + 7) / 8, 256, 0, s>>>(ws, ws + B, logits, B);
	CU_LAUNCHED(e, "infonce_lse");
	infonce_loss_kernel<<<1, 256, 0, s>>>(loss, ws, ws + B, logits, B, symmetric);
	CU_LAUNCHED(e, "infonce_loss");
	return 0;
}

extern "C" int cu_infonce_backward(cu_blas *b, cudaStream_t s, float *da, float *db, float *dtau,
		const float *logits, const float *a, const float *bb, float tau, int symmetric,
		float dloss, int B, int C, float *ws, an_err *e)
{
	float *rl = ws, *cl = ws + B, *G = ws + 2 * (size_t)B;
	float wr = symmetric ? 0.5f * dloss / B : dloss / B;
	float wc = symmetric ? 0.5f * dloss / B : 0.0f;

	if (B <= 0)
		return 0;
	infonce_lse_kernel<<<(2 * B + 7) / 8, 256, 0, s>>>(rl, cl, logits, B);
	CU_LAUNCHED(e, "infonce_lse");
	infonce_grad_kernel<<<cu_blocks((size_t)B * B, 256), 256, 0, s>>>(G, logits, rl, cl, wr, wc,
			tau, B);
	CU_LAUNCHED(e, "infonce_grad");
	/* da = G b;  db = G^T a */
	if (da && C > 0 && cu_blas_nn_f32(b, da, G, B, bb, B, B, C, 1.0f, 0.0f, e) < 0)
		return -1;
	if (db && C > 0 && cu_blas_tn_f32(b, db, G, a, B, B, C, 1.0f, 0.0f, e) < 0)
		return -1;
	if (dtau) {
		infonce_dtau_kernel<<<1, 256, 0, s>>>(dtau, logits, rl, cl, wr, wc, tau, B);
		CU_LAUNCHED(e, "infonce_dtau");
	}
	return 0;
}
