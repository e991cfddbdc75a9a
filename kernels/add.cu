/* add.cu: residual add, add in place, scale. */
#include "cuda_common.cuh"

#define FOR_N(i, n) \
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); \
	     i += (size_t)gridDim.x * blockDim.x)

static __global__ void add_kernel(float *out, const float *a, const float *b, size_t n)
{
	FOR_N(i, n)
		out[i] = a[i] + b[i];
}

static __global__ void add_inplace_kernel(float *dst, const float *src, size_t n)
{
	FOR_N(i, n)
		dst[i] += src[i];
}

static __global__ void scale_kernel(float *x, float f, size_t n)
{
	FOR_N(i, n)
		x[i] *= f;
}

extern "C" int cu_add_forward(cudaStream_t s, float *out, const float *a, const float *b, size_t n,
		an_err *e)
{
	if (!n)
		return 0;
	add_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(out, a, b, n);
	CU_LAUNCHED(e, "add");
	return 0;
}

extern "C" int cu_add_inplace(cudaStream_t s, float *dst, const float *src, size_t n, an_err *e)
{
	if (!n)
		return 0;
	add_inplace_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(dst, src, n);
	CU_LAUNCHED(e, "add_inplace");
	return 0;
}

extern "C" int cu_scale(cudaStream_t s, float *x, float f, size_t n, an_err *e)
{
	if (!n)
		return 0;
	scale_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(x, f, n);
	CU_LAUNCHED(e, "scale");
	return 0;
}
