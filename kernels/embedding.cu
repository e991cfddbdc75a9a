/* embedding.cu: row gather with id check, and the scatter-add backward. */
#include "cuda_common.cuh"

static __global__ void embedding_forward_kernel(float *out, const int *ids, const float *table,
		int M, int C, int V, int *flag)
{
	size_t n = (size_t)M * C;

	for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n;
	     k += (size_t)gridDim.x * blockDim.x) {
		int m = (int)(k / C), c = (int)(k % C), id = ids[m];

		if (id < 0 || id >= V) {
			if (c == 0)
				cu_raise(flag, CU_FLAG_EMBEDDING, m, id, V);
			out[k] = 0.0f;
			continue;
		}
		out[k] = table[(size_t)id * C + c];
	}
}

/* Atomic scatter-add: rows of dtable hit by several tokens add up in some
 * order (the sum is the same up to rounding). */
static __global__ void embedding_backward_kernel(float *dtable, const float *dout, const int *ids,
		int pad_id, int M, int C, int V)
{
	size_t n = (size_t)M * C;

	for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n;
	     k += (size_t)gridDim.x * blockDim.x) {
		int m = (int)(k / C), c = (int)(k % C), id = ids[m];

		if (id == pad_id || id < 0 || id >= V)
			continue;
		atomicAdd(&dtable[(size_t)id * C + c], dout[k]);
	}
}

extern "C" int cu_embedding_forward(cudaStream_t s, float *out, const int *ids, const float *table,
		int M, int C, int V, int *flag, an_err *e)
{
	size_t n = (size_t)M * C;

	if (M <= 0 || C <= 0)
		return 0;
	embedding_forward_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(out, ids, table, M, C, V, flag);
	CU_LAUNCHED(e, "embedding_forward");
	return 0;
}

extern "C" int cu_embedding_backward(cudaStream_t s, float *dtable, const float *dout, const int *ids,
		int pad_id, int M, int C, int V, an_err *e)
{
	size_t n = (size_t)M * C;

	if (M <= 0 || C <= 0)
		return 0;
	embedding_backward_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(dtable, dout, ids, pad_id, M, C, V);
	CU_LAUNCHED(e, "embedding_backward");
	return 0;
}
