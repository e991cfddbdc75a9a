/* layernorm.cu: LayerNorm over the last dim (ops.h layernorm_*_cpu): one
 * block per row, sums in double as the CPU op; the weight/bias gradients by
 * a column kernel (one thread per channel, rows in order: deterministic). */
#include "cuda_common.cuh"

#define LN_THREADS 256

static __global__ void layernorm_forward_kernel(float *out, float *mean, float *rstd,
		const float *inp, const float *weight, const float *bias, float eps, int C)
{
	__shared__ double sh[32];
	const float *x = inp + (size_t)blockIdx.x * C;
	float *y = out + (size_t)blockIdx.x * C;
	double s = 0, v = 0;

	for (int c = threadIdx.x; c < C; c += blockDim.x)
		s += x[c];
	s = cu_block_sum_d(s, sh);
	double mu = s / C;
	for (int c = threadIdx.x; c < C; c += blockDim.x) {
		double d = x[c] - mu;

		v += d * d;
	}
	v = cu_block_sum_d(v, sh);
	float rs = (float)(1.0 / sqrt(v / C + eps));
	float fmu = (float)mu;
	for (int c = threadIdx.x; c < C; c += blockDim.x)
		y[c] = (x[c] - fmu) * rs * weight[c] + (bias ? bias[c] : 0.0f);
	if (threadIdx.x == 0) {
		if (mean)
			mean[blockIdx.x] = fmu;
		if (rstd)
			rstd[blockIdx.x] = rs;
	}
}

static __global__ void layernorm_dinp_kernel(float *dinp, const float *dout, const float *inp,
		const float *weight, const float *mean, const float *rstd, int C)
{
	__shared__ double sh[32];
	size_t off = (size_t)blockIdx.x * C;
	const float *x = inp + off, *dy = dout + off;
	float *dx = dinp + off;
	float mu = mean[blockIdx.x], rs = rstd[blockIdx.x];
	double s1 = 0, s2 = 0;

	for (int c = threadIdx.x; c < C; c += blockDim.x) {
		float dn = dy[c] * weight[c];

		s1 += dn;
		s2 += (double)dn * ((x[c] - mu) * rs);
	}
	s1 = cu_block_sum_d(s1, sh);
	s2 = cu_block_sum_d(s2, sh);
	float m1 = (float)(s1 / C), m2 = (float)(s2 / C);
	for (int c = threadIdx.x; c < C; c += blockDim.x) {
		float xh = (x[c] - mu) * rs;

		dx[c] = rs * (dy[c] * weight[c] - m1 - xh * m2);
	}
}

static __global__ void layernorm_dparam_kernel(float *dweight, float *dbias, const float *dout,
		const float *inp, const float *mean, const float *rstd, int M, int C)
{
	int c = blockIdx.x * blockDim.x + threadIdx.x;
	double sw = 0, sb = 0;

	if (c >= C)
		return;
	for (int m = 0; m < M; m++) {
		float dy = dout[(size_t)m * C + c];

		sw += (double)dy * ((inp[(size_t)m * C + c] - mean[m]) * rstd[m]);
		sb += dy;
	}
	if (dweight)
		dweight[c] += (float)sw;
	if (dbias)
		dbias[c] += (float)sb;
}

extern "C" int cu_layernorm_forward(cudaStream_t s, float *out, float *mean, float *rstd,
		const float *inp, const float *weight, const float *bias, float eps, int M, int C,
		an_err *e)
{
	if (M <= 0 || C <= 0)
		return 0;
	layernorm_forward_kernel<<<M, LN_THREADS, 0, s>>>(out, mean, rstd, inp, weight, bias, eps, C);
	CU_LAUNCHED(e, "layernorm_forward");
	return 0;
}

extern "C" int cu_layernorm_backward(cudaStream_t s, float *dinp, float *dweight, float *dbias,
		const float *dout, const float *inp, const float *weight, const float *mean,
		const float *rstd, int M, int C, an_err *e)
{
	if (M <= 0 || C <= 0)
		return 0;
	if (dinp) {
		layernorm_dinp_kernel<<<M, LN_THREADS, 0, s>>>(dinp, dout, inp, weight, mean, rstd, C);
		CU_LAUNCHED(e, "layernorm_backward");
	}
	if (dweight || dbias) {
		layernorm_dparam_kernel<<<(C + 127) / 128, 128, 0, s>>>(dweight, dbias, dout, inp,
				mean, rstd, M, C);
		CU_LAUNCHED(e, "layernorm_backward_params");
	}
	return 0;
}
