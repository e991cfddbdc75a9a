/* dev.h: the backend dispatch every model calls.
 *
 *	an_dev *d = dev_open("auto", verbose, &e);   // "auto" | "cpu" | "cuda"
 *	float *x = dev_malloc(d, n * sizeof *x, &e);
 *	dev_upload(d, x, host, n * sizeof *x, &e);
 *	if (dev_matmul_forward(d, y, x, w, AN_F32, b, M, K, N, &e) < 0) ...
 *	dev_download(d, host, y, ..., &e); dev_close(d);
 *
 * "auto" is CUDA when the library was built with it (ASMNAME_CUDA) and
 * cudaGetDeviceCount finds at least one device; any CUDA error counts as
 * "no GPU", and then it is the CPU (said on stderr when verbose).  "cuda"
 * without a GPU is an error.
 *
 * Every dev_<op>_forward/backward has the semantics, shapes and backward rule
 * (parameter grads +=, activation grads =) of <op>_forward_cpu/backward_cpu in
 * ops.h, with every pointer living on the device (on the CPU device, host
 * memory).  Scalars that ops.h returns (a loss) are written to a float on the
 * device.  Calls are asynchronous on CUDA (one stream per an_dev): dev_sync
 * or a download waits.  Every call returns 0, or -1 with a message in e;
 * an op the device lacks (NULL in its table) gives "op X: no kernel on
 * cuda" and never crashes.  Errors reported by a kernel (an id out of
 * range) may surface at the next synchronizing call on CUDA.
 *
 * Backends: struct dev_ops is a table of function pointers.  The CPU table
 * (dev_cpu_ops, common/dev_cpu.c) calls ops.h.  The CUDA table (dev_cuda_ops)
 * is defined in a file compiled only with ASMNAME_CUDA.  Adding an op: a
 * field here, a dispatcher in dev.c, entries in the tables (NULL allowed). */
#ifndef ASMNAME_DEV_H
#define ASMNAME_DEV_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "nf4.h"
#include "ops.h"

/* Element types of weights handed to matmul (and of dev_cast). */
typedef enum an_dtype {
	AN_F32  = 0,
	AN_BF16 = 1,   /* raw bf16 bit patterns, uint16_t */
	AN_F16  = 2    /* raw fp16 bit patterns, uint16_t */
} an_dtype;

enum { AN_DEV_CPU = 0, AN_DEV_CUDA = 1 };

typedef struct an_dev an_dev;

struct dev_ops {
	const char *name;                                   /* "cpu", "cuda" */
	/* Set up d->impl; -1 (with a message) when the device is not usable. */
	int  (*open)(an_dev *d, an_err *e);
	void (*close)(an_dev *d);

	/* memory (bytes) */
	void *(*malloc)(an_dev *d, size_t bytes, an_err *e);
	void  (*free)(an_dev *d, void *p);
	int   (*upload)(an_dev *d, void *dst, const void *src_host, size_t bytes, an_err *e);
	int   (*download)(an_dev *d, void *dst_host, const void *src, size_t bytes, an_err *e);
	int   (*copy)(an_dev *d, void *dst, const void *src, size_t bytes, an_err *e);
	int   (*memset)(an_dev *d, void *p, int byte, size_t bytes, an_err *e);
	int   (*sync)(an_dev *d, an_err *e);

	/* dtype conversion: dst[n] (dst_type) = src[n] (src_type) */
	int (*cast)(an_dev *d, void *dst, an_dtype dst_type, const void *src, an_dtype src_type,
			size_t n, an_err *e);

	/* linear; w is [N,K] of wtype (AN_F32 or AN_BF16); fp32 accumulation.
	 * backward: dw/dbias only for AN_F32 weights (pass NULL otherwise). */
	int (*matmul_forward)(an_dev *d, float *out, const float *inp, const void *w, an_dtype wtype,
			const float *bias, int M, int K, int N, an_err *e);
	int (*matmul_backward)(an_dev *d, float *dinp, float *dw, float *dbias, const float *dout,
			const float *inp, const void *w, an_dtype wtype, int M, int K, int N, int acc,
			an_err *e);

	int (*layernorm_forward)(an_dev *d, float *out, float *mean, float *rstd, const float *inp,
			const float *weight, const float *bias, float eps, int M, int C, an_err *e);
	int (*layernorm_backward)(an_dev *d, float *dinp, float *dweight, float *dbias,
			const float *dout, const float *inp, const float *weight, const float *mean,
			const float *rstd, int M, int C, an_err *e);
	int (*rmsnorm_forward)(an_dev *d, float *out, float *rstd, const float *inp,
			const float *weight, float eps, int M, int C, an_err *e);
	int (*rmsnorm_backward)(an_dev *d, float *dinp, float *dweight, const float *dout,
			const float *inp, const float *weight, const float *rstd, int M, int C, an_err *e);

	int (*gelu_forward)(an_dev *d, float *out, const float *inp, size_t n, an_err *e);
	int (*gelu_backward)(an_dev *d, float *dinp, const float *dout, const float *inp, size_t n,
			an_err *e);
	int (*silu_forward)(an_dev *d, float *out, const float *inp, size_t n, an_err *e);
	int (*silu_backward)(an_dev *d, float *dinp, const float *dout, const float *inp, size_t n,
			an_err *e);
	int (*swiglu_forward)(an_dev *d, float *out, const float *gate, const float *up, size_t n,
			an_err *e);
	int (*swiglu_backward)(an_dev *d, float *dgate, float *dup, const float *dout,
			const float *gate, const float *up, size_t n, an_err *e);
	int (*add_forward)(an_dev *d, float *out, const float *a, const float *b, size_t n, an_err *e);
	int (*add_inplace)(an_dev *d, float *dst, const float *src, size_t n, an_err *e);
	int (*scale)(an_dev *d, float *x, float s, size_t n, an_err *e);

	/* cos/sin tables live on the device ([P, D/2] each, from rope_table_init) */
	int (*rope_forward)(an_dev *d, float *out, const float *inp, const float *cos_tab,
			const float *sin_tab, const int *pos, int p0, int B, int T, int H, int D,
			int pairing, an_err *e);
	int (*rope_backward)(an_dev *d, float *dinp, const float *dout, const float *cos_tab,
			const float *sin_tab, const int *pos, int p0, int B, int T, int H, int D,
			int pairing, an_err *e);

	int (*attention_forward)(an_dev *d, float *out, float *lse, const float *q, const float *k,
			const float *v, const int *kmask, const attn_dims *a, an_err *e);
	int (*attention_backward)(an_dev *d, float *dq, float *dk, float *dv, const float *dout,
			const float *q, const float *k, const float *v, const float *out,
			const float *lse, const int *kmask, const attn_dims *a, an_err *e);

	int (*softmax_forward)(an_dev *d, float *out, const float *inp, int M, int N, an_err *e);
	int (*softmax_backward)(an_dev *d, float *dinp, const float *dout, const float *out,
			int M, int N, an_err *e);

	int (*embedding_forward)(an_dev *d, float *out, const int *ids, const float *table,
			int M, int C, int V, an_err *e);
	int (*embedding_backward)(an_dev *d, float *dtable, const float *dout, const int *ids,
			int pad_id, int M, int C, int V, an_err *e);

	int (*meanpool_forward)(an_dev *d, float *out, const float *inp, const int *mask,
			int B, int T, int C, an_err *e);
	int (*meanpool_backward)(an_dev *d, float *dinp, const float *dout, const int *mask,
			int B, int T, int C, an_err *e);
	int (*l2norm_forward)(an_dev *d, float *out, float *norm, const float *inp, float eps,
			int M, int C, an_err *e);
	int (*l2norm_backward)(an_dev *d, float *dinp, const float *dout, const float *inp,
			float eps, int M, int C, an_err *e);

	int (*crossentropy_forward)(an_dev *d, float *loss, float *lse, const float *logits,
			const int *targets, int M, int V, an_err *e);
	int (*crossentropy_backward)(an_dev *d, float *dlogits, const float *logits,
			const float *lse, const int *targets, float dloss, int M, int V, an_err *e);
	int (*infonce_forward)(an_dev *d, float *loss, float *logits, const float *a,
			const float *b, float tau, int symmetric, int B, int C, an_err *e);
	int (*infonce_backward)(an_dev *d, float *da, float *db, float *dtau, const float *logits,
			const float *a, const float *b, float tau, int symmetric, float dloss,
			int B, int C, an_err *e);

	int (*adamw_update)(an_dev *d, float *param, const float *grad, float *m, float *v,
			size_t n, const adamw_hp *hp, an_err *e);
	/* *acc_host += Σ x^2 (synchronizes) */
	int (*sumsq)(an_dev *d, const float *x, size_t n, double *acc_host, an_err *e);

	/* NF4 and LoRA entries (engineer "cuda") go below this line. */
	/* NF4 linear (nf4.h): w is a host struct whose pointers are on the
	 * device (nf4_rebase onto the device copy of w->mem).
	 * out[M,N] = inp[M,K] · dequant(w)^T + bias; backward: dinp only
	 * (ASSIGNED, or += with acc). */
	int (*nf4_matmul_forward)(an_dev *d, float *out, const float *inp, const nf4_tensor *w,
			const float *bias, int M, an_err *e);
	int (*nf4_matmul_backward)(an_dev *d, float *dinp, const float *dout, const nf4_tensor *w,
			int M, int acc, an_err *e);
	/* LoRA dropout (lora.h): mask[i] = lora_keep(seed, i, p) (mask may be
	 * NULL), out = mask ? inp / (1-p) : 0; out may alias inp. */
	int (*dropout_forward)(an_dev *d, float *out, uint8_t *mask, const float *inp, float p,
			uint64_t seed, size_t n, an_err *e);
	int (*dropout_backward)(an_dev *d, float *dinp, const float *dout, const uint8_t *mask,
			float p, size_t n, an_err *e);
};

struct an_dev {
	int                    kind;       /* AN_DEV_CPU or AN_DEV_CUDA */
	const struct dev_ops  *ops;
	void                  *impl;       /* backend state: stream, cuBLAS handles, ... */
	int                    verbose;
	int                    index;      /* CUDA device ordinal */
	char                   name[128];  /* "cpu (16 threads)", "cuda:0 NVIDIA H100 ..." */
};

extern const struct dev_ops dev_cpu_ops;
#ifdef ASMNAME_CUDA
extern const struct dev_ops dev_cuda_ops;
#endif

/* spec: "auto", "cpu", "cuda" or "cuda:N".  NULL with a message on error. */
an_dev *dev_open(const char *spec, int verbose, an_err *e);
void    dev_close(an_dev *d);
/* 1 when the library was built with CUDA support. */
int     dev_have_cuda(void);
/* The CPU thread count of a program's --threads (n > 0): OpenMP threads;
 * OpenBLAS stays on one thread per call, the ops split their work over the
 * OpenMP threads themselves (two pools spinning on the same cores is what
 * made one attention forward take 6.7 s instead of 0.2-0.4 s). */
void    dev_set_threads(int n);

void *dev_malloc(an_dev *d, size_t bytes, an_err *e);
void  dev_free(an_dev *d, void *p);
int   dev_upload(an_dev *d, void *dst, const void *src_host, size_t bytes, an_err *e);
int   dev_download(an_dev *d, void *dst_host, const void *src, size_t bytes, an_err *e);
int   dev_copy(an_dev *d, void *dst, const void *src, size_t bytes, an_err *e);
int   dev_memset(an_dev *d, void *p, int byte, size_t bytes, an_err *e);
int   dev_sync(an_dev *d, an_err *e);
int   dev_cast(an_dev *d, void *dst, an_dtype dst_type, const void *src, an_dtype src_type,
		size_t n, an_err *e);

int dev_matmul_forward(an_dev *d, float *out, const float *inp, const void *w, an_dtype wtype,
		const float *bias, int M, int K, int N, an_err *e);
int dev_matmul_backward(an_dev *d, float *dinp, float *dw, float *dbias, const float *dout,
		const float *inp, const void *w, an_dtype wtype, int M, int K, int N, int acc, an_err *e);
int dev_layernorm_forward(an_dev *d, float *out, float *mean, float *rstd, const float *inp,
		const float *weight, const float *bias, float eps, int M, int C, an_err *e);
int dev_layernorm_backward(an_dev *d, float *dinp, float *dweight, float *dbias,
		const float *dout, const float *inp, const float *weight, const float *mean,
		const float *rstd, int M, int C, an_err *e);
int dev_rmsnorm_forward(an_dev *d, float *out, float *rstd, const float *inp,
		const float *weight, float eps, int M, int C, an_err *e);
int dev_rmsnorm_backward(an_dev *d, float *dinp, float *dweight, const float *dout,
		const float *inp, const float *weight, const float *rstd, int M, int C, an_err *e);
int dev_gelu_forward(an_dev *d, float *out, const float *inp, size_t n, an_err *e);
int dev_gelu_backward(an_dev *d, float *dinp, const float *dout, const float *inp, size_t n,
		an_err *e);
int dev_silu_forward(an_dev *d, float *out, const float *inp, size_t n, an_err *e);
int dev_silu_backward(an_dev *d, float *dinp, const float *dout, const float *inp, size_t n,
		an_err *e);
int dev_swiglu_forward(an_dev *d, float *out, const float *gate, const float *up, size_t n,
		an_err *e);
int dev_swiglu_backward(an_dev *d, float *dgate, float *dup, const float *dout,
		const float *gate, const float *up, size_t n, an_err *e);
int dev_add_forward(an_dev *d, float *out, const float *a, const float *b, size_t n, an_err *e);
int dev_add_inplace(an_dev *d, float *dst, const float *src, size_t n, an_err *e);
int dev_scale(an_dev *d, float *x, float s, size_t n, an_err *e);
int dev_rope_forward(an_dev *d, float *out, const float *inp, const float *cos_tab,
		const float *sin_tab, const int *pos, int p0, int B, int T, int H, int D, int pairing,
		an_err *e);
int dev_rope_backward(an_dev *d, float *dinp, const float *dout, const float *cos_tab,
		const float *sin_tab, const int *pos, int p0, int B, int T, int H, int D, int pairing,
		an_err *e);
int dev_attention_forward(an_dev *d, float *out, float *lse, const float *q, const float *k,
		const float *v, const int *kmask, const attn_dims *a, an_err *e);
int dev_attention_backward(an_dev *d, float *dq, float *dk, float *dv, const float *dout,
		const float *q, const float *k, const float *v, const float *out, const float *lse,
		const int *kmask, const attn_dims *a, an_err *e);
int dev_softmax_forward(an_dev *d, float *out, const float *inp, int M, int N, an_err *e);
int dev_softmax_backward(an_dev *d, float *dinp, const float *dout, const float *out,
		int M, int N, an_err *e);
int dev_embedding_forward(an_dev *d, float *out, const int *ids, const float *table,
		int M, int C, int V, an_err *e);
int dev_embedding_backward(an_dev *d, float *dtable, const float *dout, const int *ids,
		int pad_id, int M, int C, int V, an_err *e);
int dev_meanpool_forward(an_dev *d, float *out, const float *inp, const int *mask,
		int B, int T, int C, an_err *e);
int dev_meanpool_backward(an_dev *d, float *dinp, const float *dout, const int *mask,
		int B, int T, int C, an_err *e);
int dev_l2norm_forward(an_dev *d, float *out, float *norm, const float *inp, float eps,
		int M, int C, an_err *e);
int dev_l2norm_backward(an_dev *d, float *dinp, const float *dout, const float *inp,
		float eps, int M, int C, an_err *e);
int dev_crossentropy_forward(an_dev *d, float *loss, float *lse, const float *logits,
		const int *targets, int M, int V, an_err *e);
int dev_crossentropy_backward(an_dev *d, float *dlogits, const float *logits,
		const float *lse, const int *targets, float dloss, int M, int V, an_err *e);
int dev_infonce_forward(an_dev *d, float *loss, float *logits, const float *a, const float *b,
		float tau, int symmetric, int B, int C, an_err *e);
int dev_infonce_backward(an_dev *d, float *da, float *db, float *dtau, const float *logits,
		const float *a, const float *b, float tau, int symmetric, float dloss, int B, int C,
		an_err *e);
int dev_adamw_update(an_dev *d, float *param, const float *grad, float *m, float *v,
		size_t n, const adamw_hp *hp, an_err *e);
int dev_sumsq(an_dev *d, const float *x, size_t n, double *acc_host, an_err *e);
/* Global-norm clipping over k buffers (torch clip_grad_norm_); *norm_out
 * (may be NULL) gets the norm before clipping. */
int dev_clip_grad_norm(an_dev *d, float *const *g, const size_t *n, int k, float max_norm,
		float *norm_out, an_err *e);

/* NF4 and dropout (common/dev_nf4.c, which also holds the CPU entries). */
int dev_nf4_matmul_forward(an_dev *d, float *out, const float *inp, const nf4_tensor *w,
		const float *bias, int M, an_err *e);
int dev_nf4_matmul_backward(an_dev *d, float *dinp, const float *dout, const nf4_tensor *w,
		int M, int acc, an_err *e);
int dev_dropout_forward(an_dev *d, float *out, uint8_t *mask, const float *inp, float p,
		uint64_t seed, size_t n, an_err *e);
int dev_dropout_backward(an_dev *d, float *dinp, const float *dout, const uint8_t *mask,
		float p, size_t n, an_err *e);
int dev_cpu_nf4_matmul_forward(an_dev *d, float *out, const float *inp, const nf4_tensor *w,
		const float *bias, int M, an_err *e);
int dev_cpu_nf4_matmul_backward(an_dev *d, float *dinp, const float *dout, const nf4_tensor *w,
		int M, int acc, an_err *e);
int dev_cpu_dropout_forward(an_dev *d, float *out, uint8_t *mask, const float *inp, float p,
		uint64_t seed, size_t n, an_err *e);
int dev_cpu_dropout_backward(an_dev *d, float *dinp, const float *dout, const uint8_t *mask,
		float p, size_t n, an_err *e);

#endif
