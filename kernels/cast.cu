/* cast.cu: fp32 / bf16 / fp16 conversions (round to nearest even, as half.h). */
#include "cuda_common.cuh"

static __device__ __forceinline__ float load_as_f32(const void *src, int t, size_t i)
{
	if (t == 0)
		return ((const float *)src)[i];
	if (t == 1)
		return __bfloat162float(((const __nv_bfloat16 *)src)[i]);
	return __half2float(((const __half *)src)[i]);
}

static __global__ void cast_kernel(void *dst, int dt, const void *src, int st, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x) {
		float v = load_as_f32(src, st, i);

		if (dt == 0)
			((float *)dst)[i] = v;
		else if (dt == 1)
			((__nv_bfloat16 *)dst)[i] = __float2bfloat16_rn(v);
		else
			((__half *)dst)[i] = __float2half_rn(v);
	}
}

extern "C" int cu_cast(cudaStream_t s, void *dst, int dst_type, const void *src, int src_type,
		size_t n, an_err *e)
{
	if (dst_type < 0 || dst_type > 2 || src_type < 0 || src_type > 2) {
		an_err_set(e, "cast: unknown type %d -> %d", src_type, dst_type);
		return -1;
	}
	if (!n)
		return 0;
	if (dst_type == src_type) {
		CU_CHECK(cudaMemcpyAsync(dst, src, n * (dst_type == 0 ? 4 : 2),
				cudaMemcpyDeviceToDevice, s), e);
		return 0;
	}
	cast_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(dst, dst_type, src, src_type, n);
	CU_LAUNCHED(e, "cast");
	return 0;
}
