/* crossentropy.cu: cross-entropy with ignored targets (ops.h): a block per
 * row for the log-sum-exp, one block for the mean over the valid rows. */
#include "cuda_common.cuh"

#define CE_THREADS 256

static __global__ void ce_lse_kernel(float *lse, const float *logits, const int *targets,
		int V, int *flag)
{
	__shared__ float shf[32];
	__shared__ double shd[32];
	const float *x = logits + (size_t)blockIdx.x * V;
	int t = targets[blockIdx.x];
	float mx = -INFINITY;
	double s = 0;

	if (threadIdx.x == 0 && t != AN_IGNORE_INDEX && (t < 0 || t >= V))
		cu_raise(flag, CU_FLAG_TARGET, blockIdx.x, t, V);
	for (int j = threadIdx.x; j < V; j += blockDim.x)
		mx = fmaxf(mx, x[j]);
	mx = cu_block_max(mx, shf);
	if (mx == -INFINITY) {
		if (threadIdx.x == 0)
			lse[blockIdx.x] = -INFINITY;
		return;
	}
	for (int j = threadIdx.x; j < V; j += blockDim.x)
		s += expf(x[j] - mx);      /* fp32 exp, double sum */
	s = cu_block_sum_d(s, shd);
	if (threadIdx.x == 0)
		lse[blockIdx.x] = (float)(mx + log(s));
}

/* loss = mean over valid rows of lse - x[target]; 0 when none. */
static __global__ void ce_mean_kernel(float *loss, const float *lse, const float *logits,
		const int *targets, int M, int V)
{
	__shared__ double shd[32];
	__shared__ float shf[32];
	double tot = 0;
	float cnt = 0;

	for (int m = threadIdx.x; m < M; m += blockDim.x) {
		int t = targets[m];

		if (t == AN_IGNORE_INDEX || t < 0 || t >= V)
			continue;
		tot += (double)lse[m] - logits[(size_t)m * V + t];
		cnt += 1;
	}
	tot = cu_block_sum_d(tot, shd);
	cnt = cu_block_sum(cnt, shf);
	if (threadIdx.x == 0)
		*loss = cnt > 0 ? (float)(tot / cnt) : 0.0f;
}

static __global__ void ce_backward_kernel(float *dlogits, const float *logits, const float *lse,
		const int *targets, float dloss, int M, int V)
{
	__shared__ float shf[32];
	int m = blockIdx.x, t = targets[m];
	float cnt = 0;
	const float *x = logits + (size_t)m * V;
	float *dx = dlogits + (size_t)m * V;

	for (int i = threadIdx.x; i < M; i += blockDim.x)
		cnt += targets[i] != AN_IGNORE_INDEX;
	cnt = cu_block_sum(cnt, shf);
	if (t == AN_IGNORE_INDEX) {
		for (int j = threadIdx.x; j < V; j += blockDim.x)
			dx[j] = 0.0f;
		return;
	}
	float k = cnt > 0 ? dloss / (int)cnt : 0.0f, l = lse[m];
	for (int j = threadIdx.x; j < V; j += blockDim.x)
		dx[j] = k * (expf(x[j] - l) - (j == t ? 1.0f : 0.0f));
}

extern "C" int cu_crossentropy_forward(cudaStream_t s, float *loss, float *lse, const float *logits,
		const int *targets, int M, int V, int *flag, an_err *e)
{
	if (M <= 0) {
		CU_CHECK(cudaMemsetAsync(loss, 0, sizeof(float), s), e);
		return 0;
	}
	ce_lse_kernel<<<M, CE_THREADS, 0, s>>>(lse, logits, targets, V, flag);
	CU_LAUNCHED(e, "crossentropy_lse");
	ce_mean_kernel<<<1, 1024, 0, s>>>(loss, lse, logits, targets, M, V);
	CU_LAUNCHED(e, "crossentropy_mean");
	return 0;
}

extern "C" int cu_crossentropy_backward(cudaStream_t s, float *dlogits, const float *logits,
		const float *lse, const int *targets, float dloss, int M, int V, an_err *e)
{
	if (M <= 0 || V <= 0)
		return 0;
	ce_backward_kernel<<<M, CE_THREADS, 0, s>>>(dlogits, logits, lse, targets, dloss, M, V);
	CU_LAUNCHED(e, "crossentropy_backward");
	return 0;
}
