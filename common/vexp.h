/* vexp.h: expf that the compiler can vectorize (static inline, internal to
 * the CPU ops).  glibc's vector expf needs -ffast-math; this one is plain
 * C: x = n ln2 + r, |r| <= ln2/2, e^r by a degree-7 Taylor polynomial
 * (truncation < 6e-9 relative), times 2^n built in the exponent bits
 * (in two halves, so that n = 128 near the top does not overflow).
 * Within 2 ulp of expf over [-87.3, 88.7]; below that 0 (no subnormals),
 * above +inf; NaN stays NaN. */
#ifndef ASMNAME_VEXP_H
#define ASMNAME_VEXP_H

#include <stdint.h>
#include <string.h>

/* Without traps a float compare can become a vector select, which is what
 * lets loops over vexpf vectorize at -O2.  This applies to the rest of the
 * including file: include vexp.h only from files that rely on no
 * floating-point trap (the CPU ops). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize ("no-trapping-math")
#endif

static inline float vexpf(float x)
{
	const float lo = -87.33654f, hi = 88.72283f;
	float xc = x < lo ? lo : x > hi ? hi : x;       /* NaN passes through */
	/* round to nearest by the 1.5 * 2^23 trick (vectorizes without SSE4.1) */
	float fn = (xc * 1.44269504f + 12582912.0f) - 12582912.0f;
	float r = xc - fn * 0.693145752f;               /* ln2 split: hi part exact */
	r = r - fn * 1.42860677e-6f;
	float p = 1.0f / 5040;
	p = p * r + 1.0f / 720;
	p = p * r + 1.0f / 120;
	p = p * r + 1.0f / 24;
	p = p * r + 1.0f / 6;
	p = p * r + 0.5f;
	p = p * r + 1.0f;
	p = p * r + 1.0f;
	int32_t n = (int32_t)fn, n1 = n / 2, n2 = n - n1;  /* 2^n in two halves: n may be 128 */
	uint32_t b1 = (uint32_t)(n1 + 127) << 23, b2 = (uint32_t)(n2 + 127) << 23;
	float s1, s2;
	memcpy(&s1, &b1, 4);
	memcpy(&s2, &b2, 4);
	float y = p * s1 * s2;
	y = x < lo ? 0.0f : y;
	return x > hi ? __builtin_inff() : y;
}

#endif
