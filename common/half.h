/* half.h: bf16 and fp16 <-> fp32 conversions, static inline.
 *
 * Values travel as their raw 16-bit patterns (uint16_t), little-endian in
 * files.  fp32 -> 16-bit rounds to nearest, ties to even, as PyTorch's
 * .to(torch.bfloat16) / .to(torch.float16) do; NaN stays NaN (quiet),
 * infinities stay infinite, fp16 overflow gives infinity and small values
 * become fp16 subnormals or signed zero. */
#ifndef ASMNAME_HALF_H
#define ASMNAME_HALF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t half_f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static inline float half_bits_f32(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

/* bf16 is the top half of an fp32: exact widening. */
static inline float bf16_to_f32(uint16_t h)
{
	return half_bits_f32((uint32_t)h << 16);
}

static inline uint16_t f32_to_bf16(float f)
{
	uint32_t u = half_f32_bits(f);

	if ((u & 0x7fffffffu) > 0x7f800000u)          /* NaN: keep sign, force quiet */
		return (uint16_t)((u >> 16) | 0x0040u);
	u += 0x7fffu + ((u >> 16) & 1u);              /* round to nearest even */
	return (uint16_t)(u >> 16);
}

static inline float f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t exp = (h >> 10) & 0x1fu;
	uint32_t man = h & 0x3ffu;

	if (exp == 0x1f)                              /* inf / NaN */
		return half_bits_f32(sign | 0x7f800000u | (man << 13));
	if (exp == 0) {
		if (man == 0)
			return half_bits_f32(sign);
		/* subnormal: man * 2^-24, exact in fp32 */
		float v = (float)man * (1.0f / 16777216.0f);
		return sign ? -v : v;
	}
	return half_bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

static inline uint16_t f32_to_f16(float f)
{
	uint32_t u = half_f32_bits(f);
	uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
	uint32_t a = u & 0x7fffffffu;

	if (a > 0x7f800000u)                          /* NaN */
		return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
	if (a >= 0x477ff000u)                         /* rounds to >= 65520: inf */
		return (uint16_t)(sign | 0x7c00u);
	if (a < 0x38800000u) {                        /* below 2^-14: subnormal or zero */
		if (a < 0x33000000u)                  /* below 2^-25: rounds to zero */
			return sign;
		uint32_t e = a >> 23;                 /* 102..112 */
		uint32_t m = (a & 0x7fffffu) | 0x800000u;
		uint32_t shift = 126u - e;            /* 14..24 */
		uint32_t r = m >> shift;
		uint32_t rem = m & ((1u << shift) - 1u);
		uint32_t half = 1u << (shift - 1u);

		if (rem > half || (rem == half && (r & 1u)))
			r++;
		return (uint16_t)(sign | r);
	}
	/* normal: rebias 127 -> 15 and round the 13 dropped bits to even */
	a += 0xc8000000u;                             /* -(112 << 23) */
	a += 0xfffu + ((a >> 13) & 1u);
	return (uint16_t)(sign | (a >> 13));
}

/* Array forms: n elements. */
static inline void bf16_to_f32_n(float *dst, const uint16_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = bf16_to_f32(src[i]);
}

static inline void f32_to_bf16_n(uint16_t *dst, const float *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = f32_to_bf16(src[i]);
}

static inline void f16_to_f32_n(float *dst, const uint16_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = f16_to_f32(src[i]);
}

static inline void f32_to_f16_n(uint16_t *dst, const float *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = f32_to_f16(src[i]);
}

#endif
