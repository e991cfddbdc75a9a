/* vexp.h: expf and erff that the compiler can vectorize (static inline,
 * internal to the CPU ops).  glibc's vector expf needs -ffast-math; this one is plain
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

/* erf: |x| < 1: x P(x^2), P of degree 6; 1 <= |x| < 3.92: 1 - exp(Q(|x| - 2.5)),
 * Q of degree 10 (both least-squares fits to erf in float64, made for this
 * file); beyond: +-1 (erfc(3.92) is below half an ulp of 1).  Within 3 ulp
 * (2e-7 absolute) of erff on [-6, 6]; NaN stays NaN. */
static inline float verff(float x)
{
	float a = __builtin_fabsf(x), t = a * a;
	/* Horner written out: inner loops would stop the caller's loop vectorizing */
	float pa = 8.006874430e-05f;
	pa = pa * t - 8.053751212e-04f;
	pa = pa * t + 5.192957879e-03f;
	pa = pa * t - 2.685606958e-02f;
	pa = pa * t + 1.128363463e-01f;
	pa = pa * t - 3.761262977e-01f;
	pa = pa * t + 1.128379166e+00f;
	float u = (a > 4.0f ? 4.0f : a) - 2.5f;         /* NaN passes through */
	float pb = -3.963446877e-08f;
	pb = pb * u - 7.110157721e-08f;
	pb = pb * u + 1.837630669e-06f;
	pb = pb * u - 1.295178387e-05f;
	pb = pb * u + 7.695299989e-05f;
	pb = pb * u - 4.207439162e-04f;
	pb = pb * u + 2.165516090e-03f;
	pb = pb * u - 1.085814510e-02f;
	pb = pb * u - 9.438937406e-01f;
	pb = pb * u - 5.352680743e+00f;
	pb = pb * u - 7.806815273e+00f;
	float r = a < 1.0f ? a * pa : 1.0f - vexpf(pb);
	r = a >= 3.92f ? 1.0f : r;
	return __builtin_copysignf(r, x);
}

/* Σ x[0..n): float lanes (vectorized) inside blocks of 256, the blocks
 * added in double, so that long rows keep double-like accuracy. */
static inline double vsumf(const float *x, int n)
{
	double s = 0;

	for (int c0 = 0; c0 < n; c0 += 256) {
		int e = n - c0 < 256 ? n : c0 + 256;
		float f = 0;

		#pragma omp simd reduction(+:f)
		for (int c = c0; c < e; c++)
			f += x[c];
		s += f;
	}
	return s;
}

#endif
