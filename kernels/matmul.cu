/* matmul.cu: the linear of ops.h (out = inp · w^T + bias) and its backward
 * on cuBLAS (cublas.cu), with the bias broadcast / column-sum kernels. */
#include "cuda_common.cuh"

/* out[m, :] = bias */
static __global__ void bias_fill_kernel(float *out, const float *bias, int M, int N)
{
	size_t n = (size_t)M * N;

	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		out[i] = bias[i % N];
}

/* dbias[n] += Σ_m dout[m, n]: one thread per column (coalesced over n),
 * accumulated in double as the CPU does. */
static __global__ void bias_grad_kernel(float *dbias, const float *dout, int M, int N)
{
	int n = blockIdx.x * blockDim.x + threadIdx.x;
	double s = 0;

	if (n >= N)
		return;
	for (int m = 0; m < M; m++)
		s += dout[(size_t)m * N + n];
	dbias[n] += (float)s;
}

static __global__ void to_bf16_kernel(__nv_bfloat16 *dst, const float *src, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		dst[i] = __float2bfloat16_rn(src[i]);
}

static int bias_fill(cudaStream_t s, float *out, const float *bias, int M, int N, an_err *e)
{
	size_t n = (size_t)M * N;

	if (bias)
		bias_fill_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(out, bias, M, N);
	else
		CU_CHECK(cudaMemsetAsync(out, 0, n * sizeof(float), s), e);
	CU_LAUNCHED(e, "bias_fill");
	return 0;
}

static int to_bf16(cudaStream_t s, void *ws, size_t ws_bytes, const float *src, size_t n,
		an_err *e)
{
	if (n * 2 > ws_bytes) {
		an_err_set(e, "matmul: workspace of %zu bytes, %zu needed", ws_bytes, n * 2);
		return -1;
	}
	to_bf16_kernel<<<cu_blocks(n, 256), 256, 0, s>>>((__nv_bfloat16 *)ws, src, n);
	CU_LAUNCHED(e, "to_bf16");
	return 0;
}

extern "C" int cu_matmul_forward(cu_blas *b, cudaStream_t s, float *out, const float *inp,
		const void *w, int wtype, const float *bias, int M, int K, int N, void *ws,
		size_t ws_bytes, an_err *e)
{
	if (M <= 0 || N <= 0)
		return 0;
	if (bias_fill(s, out, bias, M, N, e) < 0)
		return -1;
	if (K <= 0)
		return 0;
	if (wtype == 0)
		return cu_blas_linear_f32(b, out, N, inp, (const float *)w, M, K, N, 1.0f, 1.0f, e);
	if (wtype != 1) {
		an_err_set(e, "matmul: weight type %d not supported on cuda", wtype);
		return -1;
	}
	if (to_bf16(s, ws, ws_bytes, inp, (size_t)M * K, e) < 0)
		return -1;
	return cu_blas_linear_bf16(b, out, (const uint16_t *)ws, (const uint16_t *)w, M, K, N,
			1.0f, 1.0f, e);
}

extern "C" int cu_matmul_backward(cu_blas *b, cudaStream_t s, float *dinp, float *dw,
		float *dbias, const float *dout, const float *inp, const void *w, int wtype,
		int M, int K, int N, int acc, void *ws, size_t ws_bytes, an_err *e)
{
	if (M <= 0 || K <= 0)
		return 0;
	if (wtype != 0 && (dw || dbias)) {
		an_err_set(e, "matmul backward: weight gradients need fp32 weights");
		return -1;
	}
	if (dinp) {
		if (N <= 0) {
			if (!acc)
				CU_CHECK(cudaMemsetAsync(dinp, 0, (size_t)M * K * sizeof(float), s), e);
		} else if (wtype == 0) {
			if (cu_blas_nn_f32(b, dinp, dout, N, (const float *)w, M, N, K, 1.0f,
					acc ? 1.0f : 0.0f, e) < 0)
				return -1;
		} else {
			if (to_bf16(s, ws, ws_bytes, dout, (size_t)M * N, e) < 0 ||
			    cu_blas_nn_bf16(b, dinp, (const uint16_t *)ws, N, (const uint16_t *)w,
					M, N, K, 1.0f, acc ? 1.0f : 0.0f, e) < 0)
				return -1;
		}
	}
	if (dw && N > 0 && cu_blas_tn_f32(b, dw, dout, inp, M, N, K, 1.0f, 1.0f, e) < 0)
		return -1;
	if (dbias && N > 0) {
		bias_grad_kernel<<<(N + 255) / 256, 256, 0, s>>>(dbias, dout, M, N);
		CU_LAUNCHED(e, "bias_grad");
	}
	return 0;
}
