/* sgemm_cpu against a naive product, every transpose, with the one- and
 * two-row shapes that take the matrix-vector path and a strided C. */
#include "ops.h"
#include "test.h"

static float rnd(unsigned *s)
{
	*s = *s * 1664525u + 1013904223u;
	return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

int main(void)
{
	static const int Ms[] = { 1, 2, 3, 17 }, Ns[] = { 1, 5, 130, 300, 4099 }, Ks[] = { 1, 7, 64 };
	unsigned seed = 7;

	for (int ta = 0; ta < 2; ta++)
	for (int tb = 0; tb < 2; tb++)
	for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
	for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
	for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++) {
		int M = Ms[mi], N = Ns[ni], K = Ks[ki];
		int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
		float *A = malloc(sizeof(float) * (size_t)lda * (ta ? K : M));
		float *B = malloc(sizeof(float) * (size_t)ldb * (tb ? N : K));
		float *C = malloc(sizeof(float) * (size_t)ldc * M), *R = malloc(sizeof(float) * (size_t)M * N);
		float got[1], want[1];
		double num = 0, den = 0;
		char name[96];

		for (int i = 0; i < lda * (ta ? K : M); i++) A[i] = rnd(&seed);
		for (int i = 0; i < ldb * (tb ? N : K); i++) B[i] = rnd(&seed);
		for (int i = 0; i < ldc * M; i++) C[i] = rnd(&seed);
		for (int m = 0; m < M; m++)
			for (int n = 0; n < N; n++) {
				double acc = 0;

				for (int k = 0; k < K; k++)
					acc += (double)(ta ? A[k * lda + m] : A[m * lda + k]) *
					       (tb ? B[n * ldb + k] : B[k * ldb + n]);
				R[m * N + n] = (float)(0.5 * acc + 0.25 * C[m * ldc + n]);
			}
		sgemm_cpu(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.25f, C, ldc);
		for (int m = 0; m < M; m++)
			for (int n = 0; n < N; n++) {
				double d = (double)C[m * ldc + n] - R[m * N + n];

				num += d * d;
				den += (double)R[m * N + n] * R[m * N + n];
			}
		got[0] = (float)sqrt(num / (den > 0 ? den : 1));
		want[0] = 1e-6f;
		snprintf(name, sizeof name, "sgemm.ta%d.tb%d.M%d.N%d.K%d", ta, tb, M, N, K);
		CHECK(got[0] <= want[0], name, "relative error %g", got[0]);
		free(A); free(B); free(C); free(R);
	}
	return t_done();
}
