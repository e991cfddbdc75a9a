/* rmsnorm.cu: RMSNorm (Llama/Qwen2), ops.h rmsnorm_*_cpu; sums in double. */
#include "cuda_common.cuh"

#define RMS_THREADS 256

static __global__ void rmsnorm_forward_kernel(float *out, float *rstd, const float *inp,
		const float *weight, float eps, int C)
{
	__shared__ double sh[32];
	const float *x = inp + (size_t)blockIdx.x * C;
	float *y = out + (size_t)blockIdx.x * C;
	double ss = 0;

	for (int c = threadIdx.x; c < C; c += blockDim.x)
		ss += (double)x[c] * x[c];
	ss = cu_block_sum_d(ss, sh);
	float rs = (float)(1.0 / sqrt(ss / C + eps));
	for (int c = threadIdx.x; c < C; c += blockDim.x)
		y[c] = x[c] * rs * weight[c];
	if (rstd && threadIdx.x == 0)
		rstd[blockIdx.x] = rs;
}

static __global__ void rmsnorm_dinp_kernel(float *dinp, const float *dout, const float *inp,
		const float *weight, const float *rstd, int C)
{
	__shared__ double sh[32];
	size_t off = (size_t)blockIdx.x * C;
	const float *x = inp + off, *dy = dout + off;
	float *dx = dinp + off;
	float rs = rstd[blockIdx.x];
	double s = 0;

	for (int c = threadIdx.x; c < C; c += blockDim.x)
		s += (double)dy[c] * weight[c] * (x[c] * rs);
	s = cu_block_sum_d(s, sh);
	float m2 = (float)(s / C);
	for (int c = threadIdx.x; c < C; c += blockDim.x)
		dx[c] = rs * (dy[c] * weight[c] - x[c] * rs * m2);
}

static __global__ void rmsnorm_dweight_kernel(float *dweight, const float *dout, const float *inp,
		const float *rstd, int M, int C)
{
	int c = blockIdx.x * blockDim.x + threadIdx.x;
	double sw = 0;

	if (c >= C)
		return;
	for (int m = 0; m < M; m++)
		sw += (double)dout[(size_t)m * C + c] * (inp[(size_t)m * C + c] * rstd[m]);
	dweight[c] += (float)sw;
}

extern "C" int cu_rmsnorm_forward(cudaStream_t s, float *out, float *rstd, const float *inp,
		const float *weight, float eps, int M, int C, an_err *e)
{
	if (M <= 0 || C <= 0)
		return 0;
	rmsnorm_forward_kernel<<<M, RMS_THREADS, 0, s>>>(out, rstd, inp, weight, eps, C);
	CU_LAUNCHED(e, "rmsnorm_forward");
	return 0;
}

extern "C" int cu_rmsnorm_backward(cudaStream_t s, float *dinp, float *dweight, const float *dout,
		const float *inp, const float *weight, const float *rstd, int M, int C, an_err *e)
{
	if (M <= 0 || C <= 0)
		return 0;
	if (dinp) {
		rmsnorm_dinp_kernel<<<M, RMS_THREADS, 0, s>>>(dinp, dout, inp, weight, rstd, C);
		CU_LAUNCHED(e, "rmsnorm_backward");
	}
	if (dweight) {
		rmsnorm_dweight_kernel<<<(C + 127) / 128, 128, 0, s>>>(dweight, dout, inp, rstd, M, C);
		CU_LAUNCHED(e, "rmsnorm_backward_weight");
	}
	return 0;
}
