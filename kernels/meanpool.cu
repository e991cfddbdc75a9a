/* meanpool.cu: masked mean over tokens (sentence-transformers pooling). */
#include "cuda_common.cuh"

#define MP_THREADS 256

/* Σ_t mask[b,t] != 0 over the block, as a float (den of the CPU op). */
static __device__ float mp_den(const int *mask, int b, int T, float *sh)
{
	float cnt = 0;

	for (int t = threadIdx.x; t < T; t += blockDim.x)
		cnt += !mask || mask[(size_t)b * T + t] != 0;
	cnt = cu_block_sum(cnt, sh);
	return cnt > 1e-9f ? cnt : 1e-9f;
}

static __global__ void meanpool_forward_kernel(float *out, const float *inp, const int *mask, int T, int C)
{
	__shared__ float sh[32];
	int b = blockIdx.x;
	float den = mp_den(mask, b, T, sh);

	for (int c = threadIdx.x; c < C; c += blockDim.x) {
		double s = 0;

		for (int t = 0; t < T; t++)
			if (!mask || mask[(size_t)b * T + t])
				s += inp[((size_t)b * T + t) * C + c];
		out[(size_t)b * C + c] = (float)s / den;
	}
}

static __global__ void meanpool_backward_kernel(float *dinp, const float *dout, const int *mask,
		int T, int C)
{
	__shared__ float sh[32];
	int b = blockIdx.x;
	float den = mp_den(mask, b, T, sh);

	for (int t = 0; t < T; t++) {
		int on = !mask || mask[(size_t)b * T + t];
		float *dx = dinp + ((size_t)b * T + t) * C;

		for (int c = threadIdx.x; c < C; c += blockDim.x)
			dx[c] = on ? dout[(size_t)b * C + c] / den : 0.0f;
	}
}

extern "C" int cu_meanpool_forward(cudaStream_t s, float *out, const float *inp, const int *mask,
		int B, int T, int C, an_err *e)
{
	if (B <= 0 || C <= 0)
		return 0;
	meanpool_forward_kernel<<<B, MP_THREADS, 0, s>>>(out, inp, mask, T, C);
	CU_LAUNCHED(e, "meanpool_forward");
	return 0;
}

extern "C" int cu_meanpool_backward(cudaStream_t s, float *dinp, const float *dout, const int *mask,
		int B, int T, int C, an_err *e)
{
	if (B <= 0 || C <= 0 || T <= 0)
		return 0;
	meanpool_backward_kernel<<<B, MP_THREADS, 0, s>>>(dinp, dout, mask, T, C);
	CU_LAUNCHED(e, "meanpool_backward");
	return 0;
}
