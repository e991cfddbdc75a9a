/* softmax.cu: softmax over the last dim and its backward (ops.h). */
#include "cuda_common.cuh"

#define SM_THREADS 256

static __global__ void softmax_forward_kernel(float *out, const float *inp, int N)
{
	__shared__ float shf[32];
	__shared__ double shd[32];
	const float *x = inp + (size_t)blockIdx.x * N;
	float *y = out + (size_t)blockIdx.x * N;
	float mx = -INFINITY;
	double s = 0;

	for (int j = threadIdx.x; j < N; j += blockDim.x)
		mx = fmaxf(mx, x[j]);
	mx = cu_block_max(mx, shf);
	if (mx == -INFINITY) {            /* every entry -inf: no mass anywhere */
		for (int j = threadIdx.x; j < N; j += blockDim.x)
			y[j] = 0.0f;
		return;
	}
	for (int j = threadIdx.x; j < N; j += blockDim.x) {
		float p = expf(x[j] - mx);

		y[j] = p;
		s += p;
	}
	s = cu_block_sum_d(s, shd);
	float inv = (float)(1.0 / s);
	for (int j = threadIdx.x; j < N; j += blockDim.x)
		y[j] *= inv;
}

static __global__ void softmax_backward_kernel(float *dinp, const float *dout, const float *out, int N)
{
	__shared__ double sh[32];
	size_t off = (size_t)blockIdx.x * N;
	const float *dy = dout + off, *y = out + off;
	float *dx = dinp + off;
	double s = 0;

	for (int j = threadIdx.x; j < N; j += blockDim.x)
		s += (double)dy[j] * y[j];
	s = cu_block_sum_d(s, sh);
	float fs = (float)s;
	for (int j = threadIdx.x; j < N; j += blockDim.x)
		dx[j] = y[j] * (dy[j] - fs);
}

extern "C" int cu_softmax_forward(cudaStream_t s, float *out, const float *inp, int M, int N,
		an_err *e)
{
	if (M <= 0 || N <= 0)
		return 0;
	softmax_forward_kernel<<<M, SM_THREADS, 0, s>>>(out, inp, N);
	CU_LAUNCHED(e, "softmax_forward");
	return 0;
}

extern "C" int cu_softmax_backward(cudaStream_t s, float *dinp, const float *dout, const float *out,
		int M, int N, an_err *e)
{
	if (M <= 0 || N <= 0)
		return 0;
	softmax_backward_kernel<<<M, SM_THREADS, 0, s>>>(dinp, dout, out, N);
	CU_LAUNCHED(e, "softmax_backward");
	return 0;
}
