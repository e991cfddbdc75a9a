/* adamw.cu: torch.optim.AdamW step (ops.h adamw_update_cpu), the bias
 * corrections computed on the host exactly as the CPU op does. */
#include "cuda_common.cuh"

static __global__ void adamw_kernel(float *param, const float *grad, float *m, float *v, size_t n,
		float step, float bc2s, float decay, float b1, float b2, float eps)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x) {
		float g = grad[i];
		float p = param[i] * decay;
		float mi = m[i] + (1.0f - b1) * (g - m[i]);
		float vi = b2 * v[i] + (1.0f - b2) * g * g;

		m[i] = mi;
		v[i] = vi;
		param[i] = p - step * (mi / (sqrtf(vi) / bc2s + eps));
	}
}

extern "C" int cu_adamw_update(cudaStream_t s, float *param, const float *grad, float *m,
		float *v, size_t n, const adamw_hp *hp, an_err *e)
{
	double bc1 = 1.0 - pow(hp->beta1, hp->t);
	double bc2 = 1.0 - pow(hp->beta2, hp->t);

	if (!n)
		return 0;
	adamw_kernel<<<cu_blocks(n, 256), 256, 0, s>>>(param, grad, m, v, n,
			(float)(hp->lr / bc1), (float)sqrt(bc2), 1.0f - hp->lr * hp->weight_decay,
			hp->beta1, hp->beta2, hp->eps);
	CU_LAUNCHED(e, "adamw");
	return 0;
}
