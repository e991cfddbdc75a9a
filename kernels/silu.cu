/* silu.cu: SiLU and SwiGLU (silu(gate) * up), forward and backward. */
#include "cuda_common.cuh"

#define FOR_N(i, n) \
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); \
	     i += (size_t)gridDim.x * blockDim.x)

static __device__ __forceinline__ float sigm(float x)
{
	return 1.0f / (1.0f + expf(-x));
}

static __global__ void silu_forward_kernel(float *out, const float *inp, size_t n)
{
	FOR_N(i, n)
		out[i] = inp[i] * sigm(inp[i]);
}

static __global__ void silu_backward_kernel(float *dinp, const float *dout, const float *inp, size_t n)
{
	FOR_N(i, n) {
		float x = inp[i], sg = sigm(x);

		dinp[i] = dout[i] * sg * (1.0f + x * (1.0f - sg));
	}
}

static __global__ void swiglu_forward_kernel(float *out, const float *gate, const float *up, size_t n)
{
	FOR_N(i, n)
		out[i] = gate[i] * sigm(gate[i]) * up[i];
}

static __global__ void swiglu_backward_kernel(float *dgate, float *dup, const float *dout,
		const float *gate, const float *up, size_t n)
{
	FOR_N(i, n) {
		float g = gate[i], sg = sigm(g), u = up[i], dy = dout[i];

		if (dgate)
			dgate[i] = dy * u * sg * (1.0f + g * (1.0f - sg));
		if (dup)
			dup[i] = dy * g * sg;
	}
}

extern "C" int cu_silu_forward(cudaStream_t s, float *out, const float *inp, size_t n, an_err *e)
{
	if (!n)
		return 0;
	silu_forward_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(out, inp, n);
	CU_LAUNCHED(e, "silu_forward");
	return 0;
}

extern "C" int cu_silu_backward(cudaStream_t s, float *dinp, const float *dout, const float *inp,
		size_t n, an_err *e)
{
	if (!n)
		return 0;
	silu_backward_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(dinp, dout, inp, n);
	CU_LAUNCHED(e, "silu_backward");
	return 0;
}

extern "C" int cu_swiglu_forward(cudaStream_t s, float *out, const float *gate, const float *up,
		size_t n, an_err *e)
{
	if (!n)
		return 0;
	swiglu_forward_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(out, gate, up, n);
	CU_LAUNCHED(e, "swiglu_forward");
	return 0;
}

extern "C" int cu_swiglu_backward(cudaStream_t s, float *dgate, float *dup, const float *dout,
		const float *gate, const float *up, size_t n, an_err *e)
{
	if (!n)
		return 0;
	swiglu_backward_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(dgate, dup, dout, gate, up, n);
	CU_LAUNCHED(e, "swiglu_backward");
	return 0;
}
