/* l2norm.cu: x / max(||x||, eps) per row (F.normalize) and its backward. */
#include "cuda_common.cuh"

#define L2_THREADS 256

static __global__ void l2norm_forward_kernel(float *out, float *norm, const float *inp, float eps, int C)
{
	__shared__ double sh[32];
	const float *x = inp + (size_t)blockIdx.x * C;
	float *y = out + (size_t)blockIdx.x * C;
	double ss = 0;

	for (int c = threadIdx.x; c < C; c += blockDim.x)
		ss += (double)x[c] * x[c];
	ss = cu_block_sum_d(ss, sh);
	float nr = (float)sqrt(ss);
	float den = nr > eps ? nr : eps;
	for (int c = threadIdx.x; c < C; c += blockDim.x)
		y[c] = x[c] / den;
	if (norm && threadIdx.x == 0)
		norm[blockIdx.x] = nr;
}

static __global__ void l2norm_backward_kernel(float *dinp, const float *dout, const float *inp,
		float eps, int C)
{
	__shared__ double sh[32];
	size_t off = (size_t)blockIdx.x * C;
	const float *x = inp + off, *dy = dout + off;
	float *dx = dinp + off;
	double ss = 0, dot = 0;

	for (int c = threadIdx.x; c < C; c += blockDim.x) {
		ss += (double)x[c] * x[c];
		dot += (double)x[c] * dy[c];
	}
	ss = cu_block_sum_d(ss, sh);
	dot = cu_block_sum_d(dot, sh);
	double nr = sqrt(ss);
	if (nr > eps) {
		float k = (float)(dot / (nr * nr)), inv = (float)(1.0 / nr);

		for (int c = threadIdx.x; c < C; c += blockDim.x)
			dx[c] = (dy[c] - x[c] * k) * inv;
	} else {
		for (int c = threadIdx.x; c < C; c += blockDim.x)
			dx[c] = dy[c] / eps;
	}
}

extern "C" int cu_l2norm_forward(cudaStream_t s, float *out, float *norm, const float *inp,
		float eps, int M, int C, an_err *e)
{
	if (M <= 0 || C <= 0)
		return 0;
	l2norm_forward_kernel<<<M, L2_THREADS, 0, s>>>(out, norm, inp, eps, C);
	CU_LAUNCHED(e, "l2norm_forward");
	return 0;
}

extern "C" int cu_l2norm_backward(cudaStream_t s, float *dinp, const float *dout, const float *inp,
		float eps, int M, int C, an_err *e)
{
	if (M <= 0 || C <= 0)
		return 0;
	l2norm_backward_kernel<<<M, L2_THREADS, 0, s>>>(dinp, dout, inp, eps, C);
	CU_LAUNCHED(e, "l2norm_backward");
	return 0;
}
