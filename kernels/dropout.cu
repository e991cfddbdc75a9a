/* dropout.cu: LoRA's dropout with the counter-based mask of lora.h, so the
 * GPU drops exactly the elements the CPU drops for the same seed. */
#include "cuda_common.cuh"
#include "lora.h"

static __global__ void dropout_forward_kernel(float *out, uint8_t *mask, const float *inp,
		float p, float sc, uint64_t seed, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x) {
		int k = lora_keep(seed, i, p);

		if (mask)
			mask[i] = (uint8_t)k;
		out[i] = k ? inp[i] * sc : 0.0f;
	}
}

static __global__ void dropout_backward_kernel(float *dinp, const float *dout, const uint8_t *mask,
		float sc, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		dinp[i] = mask[i] ? dout[i] * sc : 0.0f;
}

extern "C" int cu_dropout_forward(cudaStream_t s, float *out, uint8_t *mask, const float *inp,
		float p, uint64_t seed, size_t n, an_err *e)
{
	if (!n)
		return 0;
	dropout_forward_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(out, mask, inp, p,
			1.0f / (1.0f - p), seed, n);
	CU_LAUNCHED(e, "dropout_forward");
	return 0;
}

extern "C" int cu_dropout_backward(cudaStream_t s, float *dinp, const float *dout,
		const uint8_t *mask, float p, size_t n, an_err *e)
{
	if (!n)
		return 0;
	dropout_backward_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(dinp, dout, mask,
			1.0f / (1.0f - p), n);
	CU_LAUNCHED(e, "dropout_backward");
	return 0;
}
