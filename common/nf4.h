/* nf4.h: 4-bit NormalFloat weights, stored exactly as bitsandbytes stores them.
 *
 * Layout (bitsandbytes quantize_4bit, quant_type "nf4", blocksize 64), for a
 * weight W[rows, cols] (torch nn.Linear [out, in]) flattened row-major to n
 * elements:
 *   - blocks of NF4_BLOCK = 64 consecutive elements (the last one may be
 *     short); absmax[k] = max |W[64k .. 64k+63]| in fp32;
 *   - each element x becomes the 4-bit index c of the nearest nf4_code[] value
 *     to x * (1/absmax[k]) (fp32), by the decision tree of bitsandbytes' CUDA
 *     dQuantizeNF4: strict ">" against the fp32 midpoints, so a value exactly
 *     on a midpoint takes the LOWER code (the midpoints as bitsandbytes'
 *     reference op computes them in fp32; four of the CUDA kernel's decimal
 *     literals round one ulp lower, see nf4.c);
 *   - two codes a byte: element 2i in the HIGH nibble, 2i+1 in the low one;
 *     q has (n+1)/2 bytes (an odd n pads the last low nibble with code 7, 0.0);
 *   - dequant: W'[i] = nf4_code[c_i] * absmax[i / 64] (fp32).
 * Corner cases follow bitsandbytes' reference op (backends/default/ops.py,
 * which the CPU build of bitsandbytes runs): an all-zero block stores absmax
 * 0 and codes 7 (the CUDA kernel would store code 0; both dequantize to 0);
 * a short last block divides by its absmax instead of multiplying by the
 * reciprocal.  Neither occurs for the models' weights (cols % 64 == 0).
 *
 * Double quantization ("nested", bnb_4bit_use_double_quant, QLoRA): the fp32
 * absmax[] is replaced by
 *   offset     = mean(absmax)                         (fp32; summed in double)
 *   absmax2[b] = max |absmax[k] - offset| over blocks of NF4_DQ_BLOCK = 256
 *   qabsmax[k] = index of the nearest nf4_dynmap[] value to
 *                (absmax[k] - offset) * (1/absmax2[k/256]), found with the
 *                binary search of bitsandbytes' CUDA dQuantize<0> (its tie
 *                rule included); absmax2 == 0 gives index 127 (0.0)
 *   absmax'[k] = nf4_dynmap[qabsmax[k]] * absmax2[k/256] + offset
 *                (fp32, two roundings, no FMA: as bitsandbytes).
 * 4 + 8/64 + 32/(64*256) = 4.127 bits a weight instead of 4.5.
 *
 * All memory of a tensor is one block (t->mem, t->bytes), so a device copy is
 * one upload; nf4_rebase points a second struct at such a copy. */
#ifndef ASMNAME_NF4_H
#define ASMNAME_NF4_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define NF4_BLOCK     64
#define NF4_DQ_BLOCK  256

#ifdef __cplusplus
extern "C" {
#endif

/* The 16 NF4 values (index = 4-bit code), bitsandbytes' table. */
extern const float nf4_code[16];
/* bitsandbytes' create_dynamic_map(signed=True, 7, 8): 256 sorted values,
 * -0.99296875 .. 1.0, 0.0 at index 127 (the DQ code book). */
extern const float nf4_dynmap[256];

typedef struct nf4_tensor {
	int64_t  rows, cols;   /* logical shape [rows, cols] = [N, K] of a linear */
	int64_t  n;            /* rows * cols */
	int64_t  nblocks;      /* ceil(n / 64) */
	int64_t  nblocks2;     /* ceil(nblocks / 256), DQ only (else 0) */
	int      dq;           /* 1: double-quantized absmax */
	uint8_t *q;            /* [(n+1)/2] packed codes, high nibble first */
	float   *absmax;       /* [nblocks] fp32 scales (NULL when dq) */
	uint8_t *qabsmax;      /* [nblocks] 8-bit scale codes (dq) */
	float   *absmax2;      /* [nblocks2] (dq) */
	float    offset;       /* mean of the fp32 absmax (dq) */
	void    *mem;          /* the one allocation all pointers live in */
	size_t   bytes;        /* its size */
	int      owner;        /* 1: nf4_free frees mem */
} nf4_tensor;

/* Allocate t for a [rows, cols] weight (zero-filled).  -1 on a bad shape or
 * no memory. */
int  nf4_init(nf4_tensor *t, int64_t rows, int64_t cols, int dq, an_err *e);
void nf4_free(nf4_tensor *t);
/* Bytes nf4_init allocates for such a tensor (the device copy's size). */
size_t nf4_bytes(int64_t rows, int64_t cols, int dq);
/* dst = src with every pointer moved into mem (a copy of src->mem, e.g. on
 * a GPU); dst does not own mem. */
void nf4_rebase(nf4_tensor *dst, const nf4_tensor *src, void *mem);

/* The 4-bit code of one scaled value (x = w / absmax), dQuantizeNF4's tree. */
unsigned nf4_quantize_value(float x);
/* The 8-bit dynamic-map code of one scaled value, dQuantize<0>'s search. */
unsigned nf4_dynmap_quantize(float x);

/* Quantize w[rows*cols] into t (allocated by nf4_init with the same shape).
 * _ref: the plain serial oracle; the others run blocks in parallel and must
 * give identical bytes.  -1 only when the DQ scratch cannot be allocated. */
int nf4_quantize_ref(nf4_tensor *t, const float *w, an_err *e);
int nf4_quantize_f32(nf4_tensor *t, const float *w, an_err *e);
int nf4_quantize_bf16(nf4_tensor *t, const uint16_t *w /* bf16 bit patterns */, an_err *e);

/* Double quantization of absmax[nblocks] with the given offset (the caller
 * usually passes the mean): qabsmax[nblocks], absmax2[ceil(nblocks/256)]. */
void nf4_dq_quantize(uint8_t *qabsmax, float *absmax2, const float *absmax,
		int64_t nblocks, float offset);
/* Mean of absmax[nblocks] as nf4 uses it for the offset. */
float nf4_dq_offset(const float *absmax, int64_t nblocks);

/* Scale of block k (absmax, or the dequantized DQ value). */
float nf4_block_scale(const nf4_tensor *t, int64_t k);
/* out[nrows, cols] = rows [r0, r0+nrows) dequantized, fp32. */
void nf4_dequantize_rows(const nf4_tensor *t, int64_t r0, int64_t nrows, float *out);
/* out[rows*cols], fp32. */
void nf4_dequantize(const nf4_tensor *t, float *out);

/* Linear with NF4 weights W[N,K] (t->rows = N, t->cols = K):
 *   y[M,N] = x[M,K] · dequant(W)^T (+ bias[N])
 * without a full dequantized copy: M <= 8 streams the codes once per row
 * (matrix-vector); larger M dequantizes tiles of rows and calls sgemm.
 * -1 only when a tile buffer cannot be allocated. */
int  nf4_matmul_forward(float *y /*[M,N]*/, const float *x /*[M,K]*/,
		const nf4_tensor *w, const float *bias /*[N] or NULL*/, int M, an_err *e);
/* The input gradient (the frozen weight has none, as bitsandbytes'
 * MatMul4Bit): dx[M,K] = dy[M,N] · dequant(W), ASSIGNED, or += when acc. */
int  nf4_matmul_backward(float *dx /*[M,K]*/, const float *dy /*[M,N]*/,
		const nf4_tensor *w, int M, int acc, an_err *e);
/* Naive oracles of the two (dequantize each element where it is used, sum
 * in double). */
void nf4_matmul_forward_ref(float *y, const float *x, const nf4_tensor *w,
		const float *bias, int M);
void nf4_matmul_backward_ref(float *dx, const float *dy, const nf4_tensor *w, int M, int acc);

#ifdef __cplusplus
}
#endif

#endif
