/* sumsq.cu: Σ x^2 in double (the global gradient norm). */
#include "cuda_common.cuh"

static __global__ void sumsq_kernel(const float *x, size_t n, double *acc)
{
	__shared__ double sh[32];
	double s = 0;

	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		s += (double)x[i] * x[i];
	s = cu_block_sum_d(s, sh);
	if (threadIdx.x == 0)
		atomicAdd(acc, s);
}

extern "C" int cu_sumsq(cudaStream_t s, const float *x, size_t n, double *scratch,
		double *acc_host, an_err *e)
{
	double h = 0;
	unsigned blocks = cu_blocks(n, 256);

	if (!n)
		return 0;
	if (blocks > 1024)
		blocks = 1024;
	CU_CHECK(cudaMemsetAsync(scratch, 0, sizeof(double), s), e);
	sumsq_kernel<<<blocks, 256, 0, s>>>(x, n, scratch);
	CU_LAUNCHED(e, "sumsq");
	CU_CHECK(cudaMemcpyAsync(&h, scratch, sizeof h, cudaMemcpyDeviceToHost, s), e);
	CU_CHECK(cudaStreamSynchronize(s), e);
	*acc_host += h;
	return 0;
}
