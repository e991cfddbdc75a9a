/* gelu.cu: exact (erf) GELU, forward and backward (ops.h gelu_*_cpu). */
#include "cuda_common.cuh"

#define FOR_N(i, n) \
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); \
	     i += (size_t)gridDim.x * blockDim.x)

static __global__ void gelu_forward_kernel(float *out, const float *inp, size_t n)
{
	FOR_N(i, n) {
		float x = inp[i];

		out[i] = 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
	}
}

static __global__ void gelu_backward_kernel(float *dinp, const float *dout, const float *inp, size_t n)
{
	FOR_N(i, n) {
		float x = inp[i];
		float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
		float pdf = 0.3989422804014327f * expf(-0.5f * x * x);

		dinp[i] = dout[i] * (cdf + x * pdf);
	}
}

extern "C" int cu_gelu_forward(cudaStream_t s, float *out, const float *inp, size_t n, an_err *e)
{
	if (!n)
		return 0;
	gelu_forward_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(out, inp, n);
	CU_LAUNCHED(e, "gelu_forward");
	return 0;
}

extern "C" int cu_gelu_backward(cudaStream_t s, float *dinp, const float *dout, const float *inp,
		size_t n, an_err *e)
{
	if (!n)
		return 0;
	gelu_backward_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(dinp, dout, inp, n);
	CU_LAUNCHED(e, "gelu_backward");
	return 0;
}
