/* dev_nf4.c: the NF4-linear and dropout entries of the dispatch (dev.h),
 * and their CPU implementations for dev_cpu_ops. */
#include "dev.h"
#include "lora.h"
#include "nf4.h"

#define OPX(op) do { \
	if (!d->ops->op) { \
		an_err_set(e, "op %s: no kernel on %s", #op, d->ops->name); \
		return -1; \
	} \
} while (0)

int dev_nf4_matmul_forward(an_dev *d, float *out, const float *inp, const nf4_tensor *w,
		const float *bias, int M, an_err *e)
{
	OPX(nf4_matmul_forward);
	return d->ops->nf4_matmul_forward(d, out, inp, w, bias, M, e);
}

int dev_nf4_matmul_backward(an_dev *d, float *dinp, const float *dout, const nf4_tensor *w,
		int M, int acc, an_err *e)
{
	OPX(nf4_matmul_backward);
	return d->ops->nf4_matmul_backward(d, dinp, dout, w, M, acc, e);
}

int dev_dropout_forward(an_dev *d, float *out, uint8_t *mask, const float *inp, float p,
		uint64_t seed, size_t n, an_err *e)
{
	OPX(dropout_forward);
	return d->ops->dropout_forward(d, out, mask, inp, p, seed, n, e);
}

int dev_dropout_backward(an_dev *d, float *dinp, const float *dout, const uint8_t *mask,
		float p, size_t n, an_err *e)
{
	OPX(dropout_backward);
	return d->ops->dropout_backward(d, dinp, dout, mask, p, n, e);
}

int dev_cpu_nf4_matmul_forward(an_dev *d, float *out, const float *inp, const nf4_tensor *w,
		const float *bias, int M, an_err *e)
{
	return nf4_matmul_forward(out, inp, w, bias, M, e);
}

int dev_cpu_nf4_matmul_backward(an_dev *d, float *dinp, const float *dout, const nf4_tensor *w,
		int M, int acc, an_err *e)
{
	return nf4_matmul_backward(dinp, dout, w, M, acc, e);
}

int dev_cpu_dropout_forward(an_dev *d, float *out, uint8_t *mask, const float *inp, float p,
		uint64_t seed, size_t n, an_err *e)
{
	lora_dropout_cpu(out, mask, inp, p, seed, n);
	return 0;
}

int dev_cpu_dropout_backward(an_dev *d, float *dinp, const float *dout, const uint8_t *mask,
		float p, size_t n, an_err *e)
{
	lora_dropout_backward_cpu(dinp, dout, mask, p, n);
	return 0;
}

#ifdef ASMNAME_CUDA
/* dev.c refers to dev_cuda_ops weakly, and a weak reference does not pull
 * dev_cuda.o out of the static library; this strong one does (dev_nf4.o is
 * linked whenever dev_cpu_ops is). */
const struct dev_ops *const dev_cuda_ops_link = &dev_cuda_ops;
#endif
