/* cuda_common.cuh: what every kernel file in kernels/ shares: the checked-call macros,
 * launch geometry and warp/block reductions.  Device helpers are static
 * inline so that each translation unit has its own copy. */
#ifndef ASMNAME_CUDA_COMMON_CUH
#define ASMNAME_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>

#include "cuda_kernels.h"

/* Every CUDA call: on failure, "file:line: call: error" in e and return -1. */
#define CU_CHECK(call, e) do { \
	cudaError_t cu_err_ = (call); \
	if (cu_err_ != cudaSuccess) { \
		an_err_set((e), "%s:%d: %s: %s", __FILE__, __LINE__, #call, \
				cudaGetErrorString(cu_err_)); \
		return -1; \
	} \
} while (0)

/* After every <<<...>>>: configuration and launch errors. */
#define CU_LAUNCHED(e, name) do { \
	cudaError_t cu_err_ = cudaGetLastError(); \
	if (cu_err_ != cudaSuccess) { \
		an_err_set((e), "%s:%d: kernel %s: %s", __FILE__, __LINE__, (name), \
				cudaGetErrorString(cu_err_)); \
		return -1; \
	} \
} while (0)

/* Blocks for n elements at t threads each, grid-stride beyond the cap. */
static inline unsigned cu_blocks(size_t n, unsigned t)
{
	size_t b = (n + t - 1) / t;

	if (b < 1)
		b = 1;
	return b > 65535u * 16u ? 65535u * 16u : (unsigned)b;
}

static __device__ __forceinline__ float cu_warp_sum(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

static __device__ __forceinline__ float cu_warp_max(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	return v;
}

static __device__ __forceinline__ double cu_warp_sum_d(double v)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

/* Sum over the block (blockDim.x a multiple of 32, <= 1024); every thread
 * gets the result.  sh: 32 floats of shared memory. */
static __device__ __forceinline__ float cu_block_sum(float v, float *sh)
{
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;

	v = cu_warp_sum(v);
	__syncthreads();          /* sh may still be read from a previous call */
	if (lane == 0)
		sh[w] = v;
	__syncthreads();
	v = lane < nw ? sh[lane] : 0.0f;
	return cu_warp_sum(v);
}

static __device__ __forceinline__ double cu_block_sum_d(double v, double *sh)
{
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;

	v = cu_warp_sum_d(v);
	__syncthreads();
	if (lane == 0)
		sh[w] = v;
	__syncthreads();
	v = lane < nw ? sh[lane] : 0.0;
	return cu_warp_sum_d(v);
}

static __device__ __forceinline__ float cu_block_max(float v, float *sh)
{
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;

	v = cu_warp_max(v);
	__syncthreads();
	if (lane == 0)
		sh[w] = v;
	__syncthreads();
	v = lane < nw ? sh[lane] : -INFINITY;
	return cu_warp_max(v);
}

/* Record the first in-kernel error (see cuda_kernels.h). */
static __device__ __forceinline__ void cu_raise(int *flag, int code, int row, int value, int limit)
{
	if (flag && atomicCAS(flag, 0, code) == 0) {
		flag[1] = row;
		flag[2] = value;
		flag[3] = limit;
	}
}

#endif
