/* nf4.c: NF4 quantization as bitsandbytes does it, dequantization, and the
 * linear that reads NF4 codes directly.  See nf4.h for the exact rules. */
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cblas.h>

#include "err.h"
#include "half.h"
#include "nf4.h"

const float nf4_code[16] = {
	-1.0f,
	-0.6961928009986877f,
	-0.5250730514526367f,
	-0.39491748809814453f,
	-0.28444138169288635f,
	-0.18477343022823334f,
	-0.09105003625154495f,
	0.0f,
	0.07958029955625534f,
	0.16093020141124725f,
	0.24611230194568634f,
	0.33791524171829224f,
	0.44070982933044434f,
	0.5626170039176941f,
	0.7229568362236023f,
	1.0f,
};

/* Written by tests/gen/gen_nf4.py --c-table from bitsandbytes'
 * create_dynamic_map(); tests/unit/test_nf4.c checks it against the golden copy. */
const float nf4_dynmap[256] = {
	-0x1.fc6666p-1f, -0x1.f53334p-1f, -0x1.eep-1f, -0x1.e6ccccp-1f,
	-0x1.df999ap-1f, -0x1.d86666p-1f, -0x1.d13334p-1f, -0x1.cap-1f,
	-0x1.c2ccccp-1f, -0x1.bb999ap-1f, -0x1.b46666p-1f, -0x1.ad3334p-1f,
	-0x1.a6p-1f, -0x1.9eccccp-1f, -0x1.97999ap-1f, -0x1.906666p-1f,
	-0x1.893334p-1f, -0x1.82p-1f, -0x1.7accccp-1f, -0x1.73999ap-1f,
	-0x1.6c6668p-1f, -0x1.653334p-1f, -0x1.5ep-1f, -0x1.56ccccp-1f,
	-0x1.4f999ap-1f, -0x1.486668p-1f, -0x1.413334p-1f, -0x1.3ap-1f,
	-0x1.32ccccp-1f, -0x1.2b999ap-1f, -0x1.246668p-1f, -0x1.1d3334p-1f,
	-0x1.16p-1f, -0x1.0eccccp-1f, -0x1.079998p-1f, -0x1.006666p-1f,
	-0x1.f26664p-2f, -0x1.e4p-2f, -0x1.d59998p-2f, -0x1.c73334p-2f,
	-0x1.b8ccccp-2f, -0x1.aa6666p-2f, -0x1.9cp-2f, -0x1.8d9998p-2f,
	-0x1.7f3334p-2f, -0x1.70ccccp-2f, -0x1.626666p-2f, -0x1.54p-2f,
	-0x1.459998p-2f, -0x1.373334p-2f, -0x1.28ccccp-2f, -0x1.1a6668p-2f,
	-0x1.0cp-2f, -0x1.fb3332p-3f, -0x1.de6666p-3f, -0x1.c1999ap-3f,
	-0x1.a4ccccp-3f, -0x1.88p-3f, -0x1.6b3334p-3f, -0x1.4e6666p-3f,
	-0x1.31999ap-3f, -0x1.14ccccp-3f, -0x1.fp-4f, -0x1.b66668p-4f,
	-0x1.93d70ap-4f, -0x1.8851eep-4f, -0x1.7ccccep-4f, -0x1.7147aep-4f,
	-0x1.65c29p-4f, -0x1.5a3d7p-4f, -0x1.4eb854p-4f, -0x1.433334p-4f,
	-0x1.37ae14p-4f, -0x1.2c28f6p-4f, -0x1.20a3d6p-4f, -0x1.151ebap-4f,
	-0x1.09999ap-4f, -0x1.fc28f6p-5f, -0x1.e51ebap-5f, -0x1.ce147ap-5f,
	-0x1.b70a3ep-5f, -0x1.ap-5f, -0x1.88f5c2p-5f, -0x1.71eb86p-5f,
	-0x1.5ae146p-5f, -0x1.43d70ap-5f, -0x1.2ccccep-5f, -0x1.15c29p-5f,
	-0x1.fd70a4p-6f, -0x1.cf5c2ap-6f, -0x1.a147aep-6f, -0x1.733334p-6f,
	-0x1.451ebap-6f, -0x1.170a3ep-6f, -0x1.d1eb86p-7f, -0x1.75c29p-7f,
	-0x1.3e76c8p-7f, -0x1.2c083p-7f, -0x1.19999ap-7f, -0x1.072b02p-7f,
	-0x1.e978d4p-8f, -0x1.c49ba6p-8f, -0x1.9fbe76p-8f, -0x1.7ae148p-8f,
	-0x1.56041ap-8f, -0x1.3126e8p-8f, -0x1.0c49bap-8f, -0x1.ced914p-9f,
	-0x1.851eb8p-9f, -0x1.3b645ap-9f, -0x1.e353f8p-10f, -0x1.4fdf3ap-10f,
	-0x1.eecbfep-11f, -0x1.b3d07cp-11f, -0x1.78d5p-11f, -0x1.3dd982p-11f,
	-0x1.02de02p-11f, -0x1.8fc506p-12f, -0x1.19ce0ap-12f, -0x1.47ae16p-13f,
	-0x1.743e96p-14f, -0x1.15df66p-14f, -0x1.6f0068p-15f, -0x1.64840cp-16f,
	-0x1.040bfep-17f, -0x1.b43528p-19f, -0x1.27476ep-21f, 0x0p+0f,
	0x1.27476ep-21f, 0x1.b43528p-19f, 0x1.040bfep-17f, 0x1.64840cp-16f,
	0x1.6f0068p-15f, 0x1.15df66p-14f, 0x1.743e96p-14f, 0x1.47ae16p-13f,
	0x1.19ce0ap-12f, 0x1.8fc506p-12f, 0x1.02de02p-11f, 0x1.3dd982p-11f,
	0x1.78d5p-11f, 0x1.b3d07cp-11f, 0x1.eecbfep-11f, 0x1.4fdf3ap-10f,
	0x1.e353f8p-10f, 0x1.3b645ap-9f, 0x1.851eb8p-9f, 0x1.ced914p-9f,
	0x1.0c49bap-8f, 0x1.3126e8p-8f, 0x1.56041ap-8f, 0x1.7ae148p-8f,
	0x1.9fbe76p-8f, 0x1.c49ba6p-8f, 0x1.e978d4p-8f, 0x1.072b02p-7f,
	0x1.19999ap-7f, 0x1.2c083p-7f, 0x1.3e76c8p-7f, 0x1.75c29p-7f,
	0x1.d1eb86p-7f, 0x1.170a3ep-6f, 0x1.451ebap-6f, 0x1.733334p-6f,
	0x1.a147aep-6f, 0x1.cf5c2ap-6f, 0x1.fd70a4p-6f, 0x1.15c29p-5f,
	0x1.2ccccep-5f, 0x1.43d70ap-5f, 0x1.5ae146p-5f, 0x1.71eb86p-5f,
	0x1.88f5c2p-5f, 0x1.ap-5f, 0x1.b70a3ep-5f, 0x1.ce147ap-5f,
	0x1.e51ebap-5f, 0x1.fc28f6p-5f, 0x1.09999ap-4f, 0x1.151ebap-4f,
	0x1.20a3d6p-4f, 0x1.2c28f6p-4f, 0x1.37ae14p-4f, 0x1.433334p-4f,
	0x1.4eb854p-4f, 0x1.5a3d7p-4f, 0x1.65c29p-4f, 0x1.7147aep-4f,
	0x1.7ccccep-4f, 0x1.8851eep-4f, 0x1.93d70ap-4f, 0x1.b66668p-4f,
	0x1.fp-4f, 0x1.14ccccp-3f, 0x1.31999ap-3f, 0x1.4e6666p-3f,
	0x1.6b3334p-3f, 0x1.88p-3f, 0x1.a4ccccp-3f, 0x1.c1999ap-3f,
	0x1.de6666p-3f, 0x1.fb3332p-3f, 0x1.0cp-2f, 0x1.1a6668p-2f,
	0x1.28ccccp-2f, 0x1.373334p-2f, 0x1.459998p-2f, 0x1.54p-2f,
	0x1.626666p-2f, 0x1.70ccccp-2f, 0x1.7f3334p-2f, 0x1.8d9998p-2f,
	0x1.9cp-2f, 0x1.aa6666p-2f, 0x1.b8ccccp-2f, 0x1.c73334p-2f,
	0x1.d59998p-2f, 0x1.e4p-2f, 0x1.f26664p-2f, 0x1.006666p-1f,
	0x1.079998p-1f, 0x1.0eccccp-1f, 0x1.16p-1f, 0x1.1d3334p-1f,
	0x1.246668p-1f, 0x1.2b999ap-1f, 0x1.32ccccp-1f, 0x1.3ap-1f,
	0x1.413334p-1f, 0x1.486668p-1f, 0x1.4f999ap-1f, 0x1.56ccccp-1f,
	0x1.5ep-1f, 0x1.653334p-1f, 0x1.6c6668p-1f, 0x1.73999ap-1f,
	0x1.7accccp-1f, 0x1.82p-1f, 0x1.893334p-1f, 0x1.906666p-1f,
	0x1.97999ap-1f, 0x1.9eccccp-1f, 0x1.a6p-1f, 0x1.ad3334p-1f,
	0x1.b46666p-1f, 0x1.bb999ap-1f, 0x1.c2ccccp-1f, 0x1.cap-1f,
	0x1.d13334p-1f, 0x1.d86666p-1f, 0x1.df999ap-1f, 0x1.e6ccccp-1f,
	0x1.eep-1f, 0x1.f53334p-1f, 0x1.fc6666p-1f, 0x1p+0f,
};

/* ---- single values ---------------------------------------------------- */

/* The fp32 midpoints (code[i] + code[i+1]) / 2 that bitsandbytes' reference
 * op bucketizes against.  Its CUDA kernel writes them as decimal literals, and
 * four of those (i = 0, 8, 12, 14) round to the fp32 value one ulp below:
 * only a scaled weight exactly on one of these four points codes differently
 * there.  We follow the reference op, which the CPU build also runs. */
static const float nf4_mid[15] = {
	-0x1.b239bp-1f, -0x1.38a4ep-1f, -0x1.d709p-2f, -0x1.5bd4ecp-2f, -0x1.e079d8p-3f,
	-0x1.1a7178p-3f, -0x1.74f0e2p-5f, 0x1.45f5fep-5f, 0x1.ec90c4p-4f, 0x1.a0cfcp-3f,
	0x1.2b05a8p-2f, 0x1.8ea7f2p-2f, 0x1.00da08p-1f, 0x1.491b5ep-1f, 0x1.b913b4p-1f,
};

unsigned nf4_quantize_value(float x)
{
	/* dQuantizeNF4's tree: strict ">", so a midpoint takes the lower code.
	 * NaN compares false everywhere and lands on code 0, as on CUDA. */
	if (x > nf4_mid[7]) {
		if (x > nf4_mid[11]) {
			if (x > nf4_mid[13])
				return x > nf4_mid[14] ? 15 : 14;
			return x > nf4_mid[12] ? 13 : 12;
		}
		if (x > nf4_mid[9])
			return x > nf4_mid[10] ? 11 : 10;
		return x > nf4_mid[8] ? 9 : 8;
	}
	if (x > nf4_mid[3]) {
		if (x > nf4_mid[5])
			return x > nf4_mid[6] ? 7 : 6;
		return x > nf4_mid[4] ? 5 : 4;
	}
	if (x > nf4_mid[1])
		return x > nf4_mid[2] ? 3 : 2;
	return x > nf4_mid[0] ? 1 : 0;
}

unsigned nf4_dynmap_quantize(float x)
{
	/* bitsandbytes' dQuantize<0>: a 7-step binary search from index 127,
	 * then the midpoint with the last bracket on the side x lies. */
	int pivot = 127, upper_pivot = 255, lower_pivot = 0;
	float lower = -1.0f, upper = 1.0f, val = nf4_dynmap[pivot], mid;

	for (int i = 64; i > 0; i >>= 1) {
		if (x > val) {
			lower_pivot = pivot;
			lower = val;
			pivot += i;
		} else {
			upper_pivot = pivot;
			upper = val;
			pivot -= i;
		}
		val = nf4_dynmap[pivot];
	}
	if (upper_pivot == 255)
		upper = nf4_dynmap[255];
	if (lower_pivot == 0)
		lower = nf4_dynmap[0];
	if (x > val) {
		mid = (upper + val) * 0.5f;
		return x > mid ? (unsigned)upper_pivot : (unsigned)pivot;
	}
	mid = (lower + val) * 0.5f;
	return x < mid ? (unsigned)lower_pivot : (unsigned)pivot;
}

/* ---- allocation --------------------------------------------------------- */

/* Offsets of the parts inside mem, each 16-byte aligned. */
struct nf4_layout {
	size_t q, absmax, qabsmax, absmax2, bytes;
};

static size_t up16(size_t x)
{
	return (x + 15) & ~(size_t)15;
}

static struct nf4_layout nf4_layout_of(int64_t n, int dq)
{
	struct nf4_layout l = {0};
	size_t nb = (size_t)((n + NF4_BLOCK - 1) / NF4_BLOCK);
	size_t nb2 = (nb + NF4_DQ_BLOCK - 1) / NF4_DQ_BLOCK;
	size_t at;

	l.q = 0;
	at = up16((size_t)(n + 1) / 2);
	if (dq) {
		l.qabsmax = at;
		at = up16(at + nb);
		l.absmax2 = at;
		at = up16(at + nb2 * sizeof(float));
	} else {
		l.absmax = at;
		at = up16(at + nb * sizeof(float));
	}
	l.bytes = at;
	return l;
}

size_t nf4_bytes(int64_t rows, int64_t cols, int dq)
{
	return nf4_layout_of(rows * cols, dq).bytes;
}

static void nf4_point(nf4_tensor *t, void *mem)
{
	struct nf4_layout l = nf4_layout_of(t->n, t->dq);
	char *m = mem;

	t->mem = mem;
	t->bytes = l.bytes;
	t->q = (uint8_t *)m;
	t->absmax = t->dq ? NULL : (float *)(m + l.absmax);
	t->qabsmax = t->dq ? (uint8_t *)(m + l.qabsmax) : NULL;
	t->absmax2 = t->dq ? (float *)(m + l.absmax2) : NULL;
}

int nf4_init(nf4_tensor *t, int64_t rows, int64_t cols, int dq, an_err *e)
{
	void *mem;

	memset(t, 0, sizeof *t);
	if (rows <= 0 || cols <= 0 || rows > INT32_MAX || cols > INT32_MAX) {
		an_err_set(e, "nf4: bad weight shape [%lld, %lld]", (long long)rows, (long long)cols);
		return -1;
	}
	t->rows = rows;
	t->cols = cols;
	t->n = rows * cols;
	t->nblocks = (t->n + NF4_BLOCK - 1) / NF4_BLOCK;
	t->nblocks2 = dq ? (t->nblocks + NF4_DQ_BLOCK - 1) / NF4_DQ_BLOCK : 0;
	t->dq = dq ? 1 : 0;
	mem = calloc(1, nf4_layout_of(t->n, t->dq).bytes);
	if (!mem) {
		an_err_sys(e, "nf4: [%lld, %lld] weight", (long long)rows, (long long)cols);
		return -1;
	}
	nf4_point(t, mem);
	t->owner = 1;
	return 0;
}

void nf4_free(nf4_tensor *t)
{
	if (t->owner)
		free(t->mem);
	memset(t, 0, sizeof *t);
}

void nf4_rebase(nf4_tensor *dst, const nf4_tensor *src, void *mem)
{
	*dst = *src;
	nf4_point(dst, mem);
	dst->owner = 0;
}

/* ---- quantization ------------------------------------------------------- */

/* Block k of the flattened weight: nk elements of v (fp32) starting at
 * element `first` (a multiple of 64).  Writes the codes into q and returns
 * the absmax.  bitsandbytes' reference op: scaled = clamp(x * (1 / max(absmax,
 * 1e-38)), -1, 1), the short last block divided instead (the clamp cannot
 * change a code).  The oracle (fast == 0) walks dQuantizeNF4's tree per
 * element; the fast path counts the midpoints below x, which is the same
 * code (strict ">" both ways, NaN gives 0 both ways) and vectorizes. */
static float nf4_quantize_block(uint8_t *q, int64_t first, const float *v, int64_t nk, int last,
		int fast)
{
	float amax = 0.0f, inv, den, xs[NF4_BLOCK];
	uint8_t c[NF4_BLOCK];

	for (int64_t i = 0; i < nk; i++) {
		float a = fabsf(v[i]);

		if (a > amax)
			amax = a;
	}
	den = amax > 1e-38f ? amax : 1e-38f;
	inv = 1.0f / den;
	if (last && nk < NF4_BLOCK)
		for (int64_t i = 0; i < nk; i++)
			xs[i] = v[i] / den;
	else
		for (int64_t i = 0; i < nk; i++)
			xs[i] = v[i] * inv;
	if (fast) {
#pragma omp simd
		for (int64_t i = 0; i < nk; i++) {
			int k = 0;

			for (int t = 0; t < 15; t++)
				k += xs[i] > nf4_mid[t];
			c[i] = (uint8_t)k;
		}
	} else {
		for (int64_t i = 0; i < nk; i++)
			c[i] = (uint8_t)nf4_quantize_value(xs[i]);
	}
	for (int64_t i = 0; i + 1 < nk; i += 2)
		q[(first + i) >> 1] = (uint8_t)(c[i] << 4 | c[i + 1]);
	if (nk & 1)   /* the odd last element; nf4_finish writes the pad nibble */
		q[(first + nk - 1) >> 1] = (uint8_t)(c[nk - 1] << 4);
	return amax;
}

static void nf4_finish(nf4_tensor *t, float *absmax)
{
	if (t->n & 1)   /* pad nibble: a scaled 0.0 (the reference op pads with 0) */
		t->q[t->n >> 1] = (uint8_t)((t->q[t->n >> 1] & 0xf0) | 7);
	if (t->dq) {
		t->offset = nf4_dq_offset(absmax, t->nblocks);
		nf4_dq_quantize(t->qabsmax, t->absmax2, absmax, t->nblocks, t->offset);
	}
}

int nf4_quantize_ref(nf4_tensor *t, const float *w, an_err *e)
{
	float *absmax = t->dq ? malloc((size_t)t->nblocks * sizeof *absmax) : t->absmax;

	if (!absmax) {
		an_err_sys(e, "nf4: absmax of %lld blocks", (long long)t->nblocks);
		return -1;
	}
	for (int64_t k = 0; k < t->nblocks; k++) {
		int64_t first = k * NF4_BLOCK;
		int64_t nk = t->n - first < NF4_BLOCK ? t->n - first : NF4_BLOCK;

		absmax[k] = nf4_quantize_block(t->q, first, w + first, nk, k == t->nblocks - 1, 0);
	}
	nf4_finish(t, absmax);
	if (t->dq)
		free(absmax);
	return 0;
}

/* src is float (bf16 == 0) or bf16 bit patterns. */
static int nf4_quantize_any(nf4_tensor *t, const void *src, int bf16, an_err *e)
{
	float *absmax = t->absmax, *tmp = NULL;

	if (t->dq) {
		tmp = malloc((size_t)t->nblocks * sizeof *tmp);
		if (!tmp) {
			an_err_sys(e, "nf4: absmax of %lld blocks", (long long)t->nblocks);
			return -1;
		}
		absmax = tmp;
	}
#pragma omp parallel for schedule(static)
	for (int64_t k = 0; k < t->nblocks; k++) {
		float v[NF4_BLOCK];
		int64_t first = k * NF4_BLOCK;
		int64_t nk = t->n - first < NF4_BLOCK ? t->n - first : NF4_BLOCK;

		if (bf16)
			bf16_to_f32_n(v, (const uint16_t *)src + first, (size_t)nk);
		else
			memcpy(v, (const float *)src + first, (size_t)nk * sizeof *v);
		absmax[k] = nf4_quantize_block(t->q, first, v, nk, k == t->nblocks - 1, 1);
	}
	nf4_finish(t, absmax);
	free(tmp);
	return 0;
}

int nf4_quantize_f32(nf4_tensor *t, const float *w, an_err *e)
{
	return nf4_quantize_any(t, w, 0, e);
}

int nf4_quantize_bf16(nf4_tensor *t, const uint16_t *w, an_err *e)
{
	return nf4_quantize_any(t, w, 1, e);
}

float nf4_dq_offset(const float *absmax, int64_t nblocks)
{
	double s = 0;

	for (int64_t k = 0; k < nblocks; k++)
		s += absmax[k];
	return nblocks ? (float)(s / (double)nblocks) : 0.0f;
}

void nf4_dq_quantize(uint8_t *qabsmax, float *absmax2, const float *absmax,
		int64_t nblocks, float offset)
{
	int64_t nb2 = (nblocks + NF4_DQ_BLOCK - 1) / NF4_DQ_BLOCK;

#pragma omp parallel for schedule(static)
	for (int64_t b = 0; b < nb2; b++) {
		int64_t k0 = b * NF4_DQ_BLOCK;
		int64_t k1 = k0 + NF4_DQ_BLOCK < nblocks ? k0 + NF4_DQ_BLOCK : nblocks;
		float m = 0.0f, inv;

		for (int64_t k = k0; k < k1; k++) {
			float a = fabsf(absmax[k] - offset);

			if (a > m)
				m = a;
		}
		absmax2[b] = m;
		inv = 1.0f / m;
		for (int64_t k = k0; k < k1; k++)
			qabsmax[k] = (uint8_t)(m > 0.0f ? nf4_dynmap_quantize((absmax[k] - offset) * inv) : 127);
	}
}

/* ---- dequantization ----------------------------------------------------- */

float nf4_block_scale(const nf4_tensor *t, int64_t k)
{
	if (!t->dq)
		return t->absmax[k];
	/* two fp32 roundings, as bitsandbytes (dequantize_blockwise, then
	 * += offset); -std=c11 keeps GCC from contracting them into an FMA. */
	float s = nf4_dynmap[t->qabsmax[k]] * t->absmax2[k / NF4_DQ_BLOCK];

	return s + t->offset;
}

static inline float nf4_elem(const nf4_tensor *t, int64_t i, float scale)
{
	uint8_t b = t->q[i >> 1];

	return nf4_code[(i & 1) ? (b & 15) : (b >> 4)] * scale;
}

void nf4_dequantize_rows(const nf4_tensor *t, int64_t r0, int64_t nrows, float *out)
{
	int64_t i0 = r0 * t->cols, i1 = (r0 + nrows) * t->cols;

	for (int64_t i = i0; i < i1;) {
		int64_t k = i / NF4_BLOCK;
		int64_t end = (k + 1) * NF4_BLOCK < i1 ? (k + 1) * NF4_BLOCK : i1;
		float s = nf4_block_scale(t, k);

		for (; i < end; i++)
			out[i - i0] = nf4_elem(t, i, s);
	}
}

void nf4_dequantize(const nf4_tensor *t, float *out)
{
#pragma omp parallel for schedule(static)
	for (int64_t r = 0; r < t->rows; r++)
		nf4_dequantize_rows(t, r, 1, out + r * t->cols);
}

/* ---- linear --------------------------------------------------------------- */

void nf4_matmul_forward_ref(float *y, const float *x, const nf4_tensor *w,
		const float *bias, int M)
{
	int64_t N = w->rows, K = w->cols;

	for (int m = 0; m < M; m++)
		for (int64_t n = 0; n < N; n++) {
			double s = bias ? bias[n] : 0.0;

			for (int64_t j = 0; j < K; j++) {
				int64_t i = n * K + j;

				s += (double)nf4_elem(w, i, nf4_block_scale(w, i / NF4_BLOCK)) * x[(size_t)m * K + j];
			}
			y[(size_t)m * N + n] = (float)s;
		}
}

void nf4_matmul_backward_ref(float *dx, const float *dy, const nf4_tensor *w, int M, int acc)
{
	int64_t N = w->rows, K = w->cols;

	for (int m = 0; m < M; m++)
		for (int64_t j = 0; j < K; j++) {
			double s = acc ? dx[(size_t)m * K + j] : 0.0;

			for (int64_t n = 0; n < N; n++) {
				int64_t i = n * K + j;

				s += (double)nf4_elem(w, i, nf4_block_scale(w, i / NF4_BLOCK)) * dy[(size_t)m * N + n];
			}
			dx[(size_t)m * K + j] = (float)s;
		}
}

#define NF4_SMALL_M 8

/* Row n of y for M <= NF4_SMALL_M, K % 64 == 0: the codes of a row are read
 * once and used for every input row.  pair[b] holds both values of byte b
 * (high nibble first), so a block decodes with 32 lookups; the dot products
 * are vectorizable loops. */
static void nf4_matvec_rows(float *y, const float *x, const nf4_tensor *w,
		const float *bias, int M, int64_t n, const float (*pair)[2])
{
	int64_t K = w->cols, nb = K / NF4_BLOCK;
	double acc[NF4_SMALL_M] = {0};

	for (int64_t kb = 0; kb < nb; kb++) {
		int64_t k = n * nb + kb;
		const uint8_t *q = w->q + k * (NF4_BLOCK / 2);
		float v[NF4_BLOCK], s = nf4_block_scale(w, k);

		for (int j = 0; j < NF4_BLOCK / 2; j++) {
			v[2 * j] = pair[q[j]][0];
			v[2 * j + 1] = pair[q[j]][1];
		}
		for (int m = 0; m < M; m++) {
			const float *xm = x + (size_t)m * K + kb * NF4_BLOCK;
			float part = 0;

#pragma omp simd reduction(+:part)
			for (int j = 0; j < NF4_BLOCK; j++)
				part += v[j] * xm[j];
			acc[m] += (double)s * part;
		}
	}
	for (int m = 0; m < M; m++)
		y[(size_t)m * w->rows + n] = (float)acc[m] + (bias ? bias[n] : 0.0f);
}

/* Rows per dequantized tile: about 4 MiB of fp32, at least 16 rows. */
static int64_t nf4_tile_rows(const nf4_tensor *w)
{
	int64_t r = ((int64_t)1 << 20) / w->cols;

	if (r < 16)
		r = 16;
	return r < w->rows ? r : w->rows;
}

int nf4_matmul_forward(float *y, const float *x, const nf4_tensor *w,
		const float *bias, int M, an_err *e)
{
	int64_t N = w->rows, K = w->cols, R;
	float *tile;

	if (M <= 0)
		return 0;
	if (M <= NF4_SMALL_M && K % NF4_BLOCK == 0) {
		float pair[256][2];

		for (int b = 0; b < 256; b++) {
			pair[b][0] = nf4_code[b >> 4];
			pair[b][1] = nf4_code[b & 15];
		}
#pragma omp parallel for schedule(static)
		for (int64_t n = 0; n < N; n++)
			nf4_matvec_rows(y, x, w, bias, M, n, (const float (*)[2])pair);
		return 0;
	}
	R = nf4_tile_rows(w);
	tile = malloc((size_t)R * (size_t)K * sizeof *tile);
	if (!tile) {
		an_err_sys(e, "nf4 matmul: %lld x %lld tile", (long long)R, (long long)K);
		return -1;
	}
	for (int64_t r0 = 0; r0 < N; r0 += R) {
		int64_t nr = N - r0 < R ? N - r0 : R;

#pragma omp parallel for schedule(static)
		for (int64_t r = 0; r < nr; r++)
			nf4_dequantize_rows(w, r0 + r, 1, tile + r * K);
		/* y[:, r0:r0+nr] = x[M,K] · tile[nr,K]^T */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, (int)nr, (int)K,
				1.0f, x, (int)K, tile, (int)K, 0.0f, y + r0, (int)N);
	}
	free(tile);
	if (bias)
		for (int m = 0; m < M; m++)
			for (int64_t n = 0; n < N; n++)
				y[(size_t)m * N + n] += bias[n];
	return 0;
}

int nf4_matmul_backward(float *dx, const float *dy, const nf4_tensor *w, int M, int acc, an_err *e)
{
	int64_t N = w->rows, K = w->cols, R = nf4_tile_rows(w);
	float *tile;

	if (M <= 0)
		return 0;
	tile = malloc((size_t)R * (size_t)K * sizeof *tile);
	if (!tile) {
		an_err_sys(e, "nf4 matmul backward: %lld x %lld tile", (long long)R, (long long)K);
		return -1;
	}
	for (int64_t r0 = 0; r0 < N; r0 += R) {
		int64_t nr = N - r0 < R ? N - r0 : R;

#pragma omp parallel for schedule(static)
		for (int64_t r = 0; r < nr; r++)
			nf4_dequantize_rows(w, r0 + r, 1, tile + r * K);
		/* dx[M,K] (+)= dy[:, r0:r0+nr] · tile[nr,K] */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, (int)K, (int)nr,
				1.0f, dy + r0, (int)N, tile, (int)K, (r0 == 0 && !acc) ? 0.0f : 1.0f,
				dx, (int)K);
	}
	free(tile);
	return 0;
}
