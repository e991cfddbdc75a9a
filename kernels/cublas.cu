/* cublas.cu: the one file that owns cuBLAS.  Row-major (torch) products are
 * mapped onto cuBLAS's column-major calls: a row-major X[r,c] is a
 * column-major X^T[c,r] with the same leading dimension c. */
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>

#include "cuda_common.cuh"

struct cu_blas {
	cublasHandle_t h;
	int            tf32;
};

#define BLAS_CHECK(call, e) do { \
	cublasStatus_t st_ = (call); \
	if (st_ != CUBLAS_STATUS_SUCCESS) { \
		an_err_set((e), "%s:%d: %s: %s", __FILE__, __LINE__, #call, \
				cublasGetStatusString(st_)); \
		return -1; \
	} \
} while (0)

extern "C" int cu_blas_init(cu_blas **out, cudaStream_t s, an_err *e)
{
	cu_blas *b = (cu_blas *)calloc(1, sizeof *b);
	const char *t = getenv("ASMNAME_TF32");

	*out = NULL;
	if (!b) {
		an_err_set(e, "cublas: out of memory");
		return -1;
	}
	cublasStatus_t st = cublasCreate(&b->h);
	if (st != CUBLAS_STATUS_SUCCESS) {
		an_err_set(e, "%s:%d: cublasCreate: %s", __FILE__, __LINE__, cublasGetStatusString(st));
		free(b);
		return -1;
	}
	b->tf32 = t && *t == '1';
	if ((st = cublasSetStream(b->h, s)) != CUBLAS_STATUS_SUCCESS ||
	    (st = cublasSetMathMode(b->h, b->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH))
			!= CUBLAS_STATUS_SUCCESS) {
		an_err_set(e, "%s:%d: cublas set-up: %s", __FILE__, __LINE__, cublasGetStatusString(st));
		cublasDestroy(b->h);
		free(b);
		return -1;
	}
	*out = b;
	return 0;
}

extern "C" void cu_blas_free(cu_blas *b)
{
	if (!b)
		return;
	cublasDestroy(b->h);
	free(b);
}

extern "C" int cu_blas_tf32(const cu_blas *b)
{
	return b ? b->tf32 : 0;
}

/* out[M,N] = alpha a[M,K] w[N,K]^T + beta out:  out^T = w^T... in column-major:
 * C(N x M, ld N) = op_T(W: K x N, ld K) · A(K x M, ld K). */
extern "C" int cu_blas_linear_f32(cu_blas *b, float *out, int ldo, const float *a,
		const float *w, int M, int K, int N, float alpha, float beta, an_err *e)
{
	if (M <= 0 || N <= 0 || K <= 0)
		return 0;
	BLAS_CHECK(cublasSgemm(b->h, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &alpha, w, K, a, K,
			&beta, out, ldo), e);
	return 0;
}

extern "C" int cu_blas_linear_bf16(cu_blas *b, float *out, const uint16_t *a, const uint16_t *w,
		int M, int K, int N, float alpha, float beta, an_err *e)
{
	if (M <= 0 || N <= 0 || K <= 0)
		return 0;
	BLAS_CHECK(cublasGemmEx(b->h, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &alpha,
			w, CUDA_R_16BF, K, a, CUDA_R_16BF, K, &beta, out, CUDA_R_32F, N,
			CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), e);
	return 0;
}

/* out[M,K] = alpha a[M,N](row stride lda) w[N,K] + beta out:
 * C(K x M, ld K) = W(K x N, ld K) · A(N x M, ld lda). */
extern "C" int cu_blas_nn_f32(cu_blas *b, float *out, const float *a, int lda, const float *w,
		int M, int N, int K, float alpha, float beta, an_err *e)
{
	if (M <= 0 || K <= 0 || N <= 0)
		return 0;
	BLAS_CHECK(cublasSgemm(b->h, CUBLAS_OP_N, CUBLAS_OP_N, K, M, N, &alpha, w, K, a, lda,
			&beta, out, K), e);
	return 0;
}

extern "C" int cu_blas_nn_bf16(cu_blas *b, float *out, const uint16_t *a, int lda,
		const uint16_t *w, int M, int N, int K, float alpha, float beta, an_err *e)
{
	if (M <= 0 || K <= 0 || N <= 0)
		return 0;
	BLAS_CHECK(cublasGemmEx(b->h, CUBLAS_OP_N, CUBLAS_OP_N, K, M, N, &alpha,
			w, CUDA_R_16BF, K, a, CUDA_R_16BF, lda, &beta, out, CUDA_R_32F, K,
			CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), e);
	return 0;
}

/* dw[N,K] = alpha dout[M,N]^T inp[M,K] + beta dw:
 * C(K x N, ld K) = INP(K x M, ld K) · op_T(DOUT: N x M, ld N). */
extern "C" int cu_blas_tn_f32(cu_blas *b, float *dw, const float *dout, const float *inp,
		int M, int N, int K, float alpha, float beta, an_err *e)
{
	if (M <= 0 || K <= 0 || N <= 0)
		return 0;
	BLAS_CHECK(cublasSgemm(b->h, CUBLAS_OP_N, CUBLAS_OP_T, K, N, M, &alpha, inp, K, dout, N,
			&beta, dw, K), e);
	return 0;
}

/* s[bh] (Tq x Tk row-major) = alpha q[bh] (Tq x D) k[bh]^T:
 * column-major S^T(Tk x Tq, ld Tk) = op_T(K: D x Tk, ld D) · Q(D x Tq, ld D). */
extern "C" int cu_blas_scores_batched(cu_blas *b, float *s, const float *q, const float *k,
		int BH, int Tq, int Tk, int D, float alpha, an_err *e)
{
	float beta = 0.0f;

	if (BH <= 0 || Tq <= 0 || Tk <= 0 || D <= 0)
		return 0;
	BLAS_CHECK(cublasSgemmStridedBatched(b->h, CUBLAS_OP_T, CUBLAS_OP_N, Tk, Tq, D, &alpha,
			k, D, (long long)Tk * D, q, D, (long long)Tq * D, &beta,
			s, Tk, (long long)Tq * Tk, BH), e);
	return 0;
}

/* o[bh] (Tq x D) = p[bh] (Tq x Tk) v[bh] (Tk x D):
 * column-major O^T(D x Tq, ld D) = V^T(D x Tk, ld D) · P^T(Tk x Tq, ld Tk). */
extern "C" int cu_blas_pv_batched(cu_blas *b, float *o, const float *p, const float *v,
		int BH, int Tq, int Tk, int D, an_err *e)
{
	float alpha = 1.0f, beta = 0.0f;

	if (BH <= 0 || Tq <= 0 || Tk <= 0 || D <= 0)
		return 0;
	BLAS_CHECK(cublasSgemmStridedBatched(b->h, CUBLAS_OP_N, CUBLAS_OP_N, D, Tq, Tk, &alpha,
			v, D, (long long)Tk * D, p, Tk, (long long)Tq * Tk, &beta,
			o, D, (long long)Tq * D, BH), e);
	return 0;
}
