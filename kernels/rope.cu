/* rope.cu: rotary position embedding, both pairings (ops.h rope_*_cpu). */
#include "cuda_common.cuh"

/* dir = +1 forward, -1 the inverse rotation (the backward). */
static __global__ void rope_kernel(float *out, const float *inp, const float *cos_tab,
		const float *sin_tab, const int *pos, int p0, int B, int T, int H, int D,
		int pairing, float dir)
{
	int half = D / 2;
	size_t n = (size_t)B * T * H * half;

	for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n;
	     k += (size_t)gridDim.x * blockDim.x) {
		int i = (int)(k % half);
		size_t bth = k / half;               /* (b*T + t)*H + h */
		size_t bt = bth / H;
		int t = (int)(bt % T), b = (int)(bt / T);
		int p = pos ? pos[(size_t)b * T + t] : p0 + t;
		int ia = pairing == ROPE_INTERLEAVED ? 2 * i : i;
		int ib = pairing == ROPE_INTERLEAVED ? 2 * i + 1 : i + half;
		float c = cos_tab[(size_t)p * half + i], s = dir * sin_tab[(size_t)p * half + i];
		size_t base = bth * D;
		float xa = inp[base + ia], xb = inp[base + ib];

		out[base + ia] = xa * c - xb * s;
		out[base + ib] = xb * c + xa * s;
	}
}

static int rope_run(cudaStream_t s, float *out, const float *inp, const float *cos_tab,
		const float *sin_tab, const int *pos, int p0, int B, int T, int H, int D,
		int pairing, float dir, an_err *e)
{
	size_t n = (size_t)B * T * H * (D / 2);

	if (B <= 0 || T <= 0 || H <= 0 || D < 2)
		return 0;
	rope_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(out, inp, cos_tab, sin_tab, pos, p0, B, T, H, D,
			pairing, dir);
	CU_LAUNCHED(e, "rope");
	return 0;
}

extern "C" int cu_rope_forward(cudaStream_t s, float *out, const float *inp, const float *cos_tab,
		const float *sin_tab, const int *pos, int p0, int B, int T, int H, int D, int pairing,
		an_err *e)
{
	return rope_run(s, out, inp, cos_tab, sin_tab, pos, p0, B, T, H, D, pairing, 1.0f, e);
}

extern "C" int cu_rope_backward(cudaStream_t s, float *dinp, const float *dout, const float *cos_tab,
		const float *sin_tab, const int *pos, int p0, int B, int T, int H, int D, int pairing,
		an_err *e)
{
	return rope_run(s, dinp, dout, cos_tab, sin_tab, pos, p0, B, T, H, D, pairing, -1.0f, e);
}
