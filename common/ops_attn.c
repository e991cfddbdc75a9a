/* ops_attn.c: rotary position embedding and scaled dot-product attention,
 * the CPU reference of ops.h.
 *
 * Attention keeps O(block) memory per query: an online softmax over key
 * blocks in the forward (running max and sum, rescaling the accumulator),
 * and in the backward the probabilities are recomputed from the saved
 * log-sum-exp.  The backward runs in two passes so that every output row is
 * owned by one thread: dq over (b, h, i), then dk/dv over (b, kv head, j). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#else
#define omp_in_parallel() 0
#endif

#include "ops.h"
#include "ops_int.h"
#include "vexp.h"

/* ------------------------------------------------------------------ rope */

int rope_inv_freq(float *inv_freq, const rope_cfg *c, an_err *e)
{
	int D = c->dim;

	if (D <= 0 || D % 2) {
		an_err_set(e, "rope: dimension %d is not a positive even number", D);
		return -1;
	}
	if (!(c->theta > 0)) {
		an_err_set(e, "rope: theta %g is not positive", c->theta);
		return -1;
	}
	if (c->factor != 0 && !(c->factor > 0 && c->low_freq_factor > 0 &&
			c->high_freq_factor > c->low_freq_factor && c->original_max_pos > 0)) {
		an_err_set(e, "rope: llama3 scaling needs factor > 0, 0 < low_freq_factor < "
				"high_freq_factor and original_max_position_embeddings > 0 "
				"(got %g, %g, %g, %g)", c->factor, c->low_freq_factor,
				c->high_freq_factor, c->original_max_pos);
		return -1;
	}
	for (int i = 0; i < D / 2; i++) {
		if (c->f64) {
			inv_freq[i] = (float)(1.0 / pow(c->theta, (double)(2 * i) / D));
			continue;
		}
		/* transformers: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), fp32 */
		float ex = (float)(2 * i) / (float)D;
		inv_freq[i] = 1.0f / powf((float)c->theta, ex);
	}
	if (c->factor == 0)
		return 0;
	/* transformers' _compute_llama3_parameters, op by op in fp32
	 * (`scalar / tensor` is reciprocal(tensor) * scalar there). */
	float factor = (float)c->factor, lo = (float)c->low_freq_factor;
	float hi = (float)c->high_freq_factor, old = (float)c->original_max_pos;
	float lo_wl = (float)(c->original_max_pos / c->low_freq_factor);
	float hi_wl = (float)(c->original_max_pos / c->high_freq_factor);
	float twopi = (float)(2 * M_PI);
	float span = (float)(c->high_freq_factor - c->low_freq_factor);
	for (int i = 0; i < D / 2; i++) {
		float f = inv_freq[i];
		float wl = (1.0f / f) * twopi;
		float fl = wl > lo_wl ? f / factor : f;
		float sm = ((1.0f / wl) * old - lo) / span;
		float smoothed = (1.0f - sm) * fl / factor + sm * fl;
		int medium = !(wl < hi_wl) && !(wl > lo_wl);

		inv_freq[i] = medium ? smoothed : fl;
	}
	(void)hi;
	return 0;
}

int rope_table_init(float *cos_tab, float *sin_tab, int P, const rope_cfg *c, an_err *e)
{
	int H = c->dim / 2;
	float inv[H > 0 ? H : 1];

	if (rope_inv_freq(inv, c, e) < 0)
		return -1;
	if (P < 0) {
		an_err_set(e, "rope: negative table length %d", P);
		return -1;
	}
	#pragma omp parallel for if ((size_t)P * H > 65536)
	for (int p = 0; p < P; p++) {
		for (int i = 0; i < H; i++) {
			size_t k = (size_t)p * H + i;

			if (c->f64) {
				double ang = (double)p / pow(c->theta, (double)(2 * i) / c->dim);

				cos_tab[k] = (float)cos(ang);
				sin_tab[k] = (float)sin(ang);
			} else {
				float ang = (float)p * inv[i];

				cos_tab[k] = cosf(ang);
				sin_tab[k] = sinf(ang);
			}
		}
	}
	return 0;
}

/* dir = +1 forward rotation, -1 inverse */
static void rope_apply(float *out, const float *inp, const float *cos_tab, const float *sin_tab,
		const int *pos, int p0, int B, int T, int H, int D, int pairing, float dir)
{
	int half = D / 2;

	#pragma omp parallel for collapse(2) if ((size_t)B * T * H * D > 65536)
	for (int b = 0; b < B; b++) {
		for (int t = 0; t < T; t++) {
			int p = pos ? pos[(size_t)b * T + t] : p0 + t;
			const float *cs = cos_tab + (size_t)p * half, *sn = sin_tab + (size_t)p * half;

			for (int h = 0; h < H; h++) {
				size_t base = (((size_t)b * T + t) * H + h) * D;
				const float *x = inp + base;
				float *y = out + base;

				for (int i = 0; i < half; i++) {
					int ia = pairing == ROPE_INTERLEAVED ? 2 * i : i;
					int ib = pairing == ROPE_INTERLEAVED ? 2 * i + 1 : i + half;
					float c = cs[i], s = dir * sn[i];
					float xa = x[ia], xb = x[ib];

					y[ia] = xa * c - xb * s;
					y[ib] = xb * c + xa * s;
				}
			}
		}
	}
}

void rope_forward_cpu(float *out, const float *inp, const float *cos_tab, const float *sin_tab,
		const int *pos, int p0, int B, int T, int H, int D, int pairing)
{
	rope_apply(out, inp, cos_tab, sin_tab, pos, p0, B, T, H, D, pairing, 1.0f);
}

void rope_backward_cpu(float *dinp, const float *dout, const float *cos_tab, const float *sin_tab,
		const int *pos, int p0, int B, int T, int H, int D, int pairing)
{
	rope_apply(dinp, dout, cos_tab, sin_tab, pos, p0, B, T, H, D, pairing, -1.0f);
}

/* ------------------------------------------------------------- attention */

#define KBLK 64

static inline float dot(const float *a, const float *b, int n)
{
	float s = 0;

	#pragma omp simd reduction(+:s)
	for (int i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

static inline void axpy(float *y, float a, const float *x, int n)
{
	#pragma omp simd
	for (int i = 0; i < n; i++)
		y[i] += a * x[i];
}

/* multiply-adds of QK^T: below ~1e6 threads cost more than they save */
static double attn_work(const attn_dims *a)
{
	return (double)a->B * a->Hq * a->Tq * a->Tk * a->D;
}

/* Number of keys query i may see: keys [0, lim). */
static inline int key_limit(const attn_dims *a, int i)
{
	if (!a->causal)
		return a->Tk;
	long lim = (long)a->p0 + i + 1;
	return lim < a->Tk ? (int)lim : a->Tk;
}

void attention_forward_ref_cpu(float *out, float *lse, const float *q, const float *k,
		const float *v, const int *kmask, const attn_dims *a)
{
	int B = a->B, Tq = a->Tq, Hq = a->Hq, Hkv = a->Hkv, D = a->D;
	int grp = Hq / Hkv;
	size_t qs = (size_t)Hq * D, ks = (size_t)Hkv * D;   /* row strides */

	#pragma omp parallel for collapse(3) schedule(dynamic, 4) if (attn_work(a) >= 1e6)
	for (int b = 0; b < B; b++) {
		for (int h = 0; h < Hq; h++) {
			for (int i = 0; i < Tq; i++) {
				const float *qi = q + ((size_t)b * Tq + i) * qs + (size_t)h * D;
				const float *kb = k + (size_t)b * a->Tkmax * ks + (size_t)(h / grp) * D;
				const float *vb = v + (size_t)b * a->Tkmax * ks + (size_t)(h / grp) * D;
				const int *mb = kmask ? kmask + (size_t)b * a->Tkmax : NULL;
				float *oi = out + ((size_t)b * Tq + i) * qs + (size_t)h * D;
				float acc[D], s[KBLK];
				float mx = -INFINITY, sum = 0;
				int lim = key_limit(a, i);

				memset(acc, 0, sizeof acc);
				for (int j0 = 0; j0 < lim; j0 += KBLK) {
					int n = lim - j0 < KBLK ? lim - j0 : KBLK;
					float bm = -INFINITY;

					for (int jj = 0; jj < n; jj++) {
						int j = j0 + jj;

						if (mb && !mb[j]) {
							s[jj] = -INFINITY;
							continue;
						}
						s[jj] = a->scale * dot(qi, kb + (size_t)j * ks, D);
						if (s[jj] > bm)
							bm = s[jj];
					}
					if (bm == -INFINITY)
						continue;
					if (bm > mx) {        /* rescale what we have */
						float r = expf(mx - bm);

						sum *= r;
						for (int d = 0; d < D; d++)
							acc[d] *= r;
						mx = bm;
					}
					for (int jj = 0; jj < n; jj++) {
						if (s[jj] == -INFINITY)
							continue;
						float p = expf(s[jj] - mx);

						sum += p;
						axpy(acc, p, vb + (size_t)(j0 + jj) * ks, D);
					}
				}
				if (sum > 0) {
					float inv = 1.0f / sum;

					for (int d = 0; d < D; d++)
						oi[d] = acc[d] * inv;
				} else {
					memset(oi, 0, (size_t)D * sizeof *oi);
				}
				if (lse)
					lse[((size_t)b * Hq + h) * Tq + i] = sum > 0 ? mx + logf(sum) : -INFINITY;
			}
		}
	}
}

void attention_backward_ref_cpu(float *dq, float *dk, float *dv, const float *dout,
		const float *q, const float *k, const float *v, const float *out, const float *lse,
		const int *kmask, const attn_dims *a)
{
	int B = a->B, Tq = a->Tq, Hq = a->Hq, Hkv = a->Hkv, D = a->D;
	int grp = Hq / Hkv;
	size_t qs = (size_t)Hq * D, ks = (size_t)Hkv * D;

	/* pass 1: dq_i = scale Σ_j p_ij (dout_i.v_j - dout_i.out_i) k_j */
	if (dq) {
		#pragma omp parallel for collapse(3) schedule(dynamic, 4) if (attn_work(a) >= 1e6)
		for (int b = 0; b < B; b++) {
			for (int h = 0; h < Hq; h++) {
				for (int i = 0; i < Tq; i++) {
					size_t qo = ((size_t)b * Tq + i) * qs + (size_t)h * D;
					const float *qi = q + qo, *doi = dout + qo, *oi = out + qo;
					const float *kb = k + (size_t)b * a->Tkmax * ks + (size_t)(h / grp) * D;
					const float *vb = v + (size_t)b * a->Tkmax * ks + (size_t)(h / grp) * D;
					const int *mb = kmask ? kmask + (size_t)b * a->Tkmax : NULL;
					float l = lse[((size_t)b * Hq + h) * Tq + i];
					float *dqi = dq + qo;
					int lim = key_limit(a, i);

					memset(dqi, 0, (size_t)D * sizeof *dqi);
					if (l == -INFINITY)
						continue;
					float Di = dot(doi, oi, D);
					for (int j = 0; j < lim; j++) {
						if (mb && !mb[j])
							continue;
						const float *kj = kb + (size_t)j * ks;
						float p = expf(a->scale * dot(qi, kj, D) - l);
						float ds = p * (dot(doi, vb + (size_t)j * ks, D) - Di);

						axpy(dqi, a->scale * ds, kj, D);
					}
				}
			}
		}
	}
	if (!dk && !dv)
		return;
	/* pass 2: for key j of kv head g, over the query heads of its group and
	 * the queries that see it: dv_j += p dout_i, dk_j += scale ds q_i */
	#pragma omp parallel for collapse(3) schedule(dynamic, 4) if (attn_work(a) >= 1e6)
	for (int b = 0; b < B; b++) {
		for (int g = 0; g < Hkv; g++) {
			for (int j = 0; j < a->Tk; j++) {
				size_t ko = ((size_t)b * a->Tkmax + j) * ks + (size_t)g * D;
				const float *kj = k + ko, *vj = v + ko;
				float *dkj = dk ? dk + ko : NULL, *dvj = dv ? dv + ko : NULL;
				int masked = kmask && !kmask[(size_t)b * a->Tkmax + j];
				/* first query that sees key j under the causal mask */
				long i0 = a->causal ? (long)j - a->p0 : 0;

				if (dkj)
					memset(dkj, 0, (size_t)D * sizeof *dkj);
				if (dvj)
					memset(dvj, 0, (size_t)D * sizeof *dvj);
				if (masked)
					continue;
				if (i0 < 0)
					i0 = 0;
				for (int h = g * grp; h < (g + 1) * grp; h++) {
					for (int i = (int)i0; i < Tq; i++) {
						size_t qo = ((size_t)b * Tq + i) * qs + (size_t)h * D;
						float l = lse[((size_t)b * Hq + h) * Tq + i];

						if (l == -INFINITY)
							continue;
						const float *qi = q + qo, *doi = dout + qo;
						float p = expf(a->scale * dot(qi, kj, D) - l);

						if (dvj)
							axpy(dvj, p, doi, D);
						if (dkj) {
							float ds = p * (dot(doi, vj, D) - dot(doi, out + qo, D));

							axpy(dkj, a->scale * ds, qi, D);
						}
					}
				}
			}
		}
	}
}

/* --------------------------------------------------- blocked attention
 * The products go through sgemm, QB queries of one head at a time against
 * every key they may see: scratch of QB x Tk floats per thread (twice in
 * the backward), not B x H x Tq x Tk.  Threads take whole (item, head,
 * query block) units in the forward and whole (item, kv head) units in the
 * backward (dk, dv of a kv head are sums over its query heads); with fewer
 * units than threads the units run in turn and the products are split.
 * When the scratch cannot be allocated the row-at-a-time versions above (no
 * scratch at all) do the work. */

#define QB 128

static int nthreads(void)
{
#ifdef _OPENMP
	return omp_get_max_threads();
#else
	return 1;
#endif
}

static int thread_id(void)
{
#ifdef _OPENMP
	return omp_get_thread_num();
#else
	return 0;
#endif
}

/* P[0..lim) = softmax of the scores in P for query i, masked (forward:
 * lse_in == NULL, returns the row's lse), or exp(S - saved lse) (backward). */
static float attn_probs(float *P, int lim, const attn_dims *a, const int *mb, int i,
		const float *lse_in)
{
	int rl = key_limit(a, i);
	float mx = -INFINITY;

	if (rl > lim)
		rl = lim;
	for (int j = rl < 0 ? 0 : rl; j < lim; j++)       /* causal: keys after i */
		P[j] = -INFINITY;
	if (mb) {
		#pragma omp simd
		for (int j = 0; j < rl; j++)
			P[j] = mb[j] ? P[j] : -INFINITY;
	}
	#pragma omp simd reduction(max:mx)
	for (int j = 0; j < rl; j++)
		mx = P[j] > mx ? P[j] : mx;
	if (lse_in) {
		float l = *lse_in;

		if (l == -INFINITY) {
			memset(P, 0, (size_t)lim * sizeof *P);
			return l;
		}
		/* masked entries are -inf: vexpf gives 0 */
		#pragma omp simd
		for (int j = 0; j < lim; j++)
			P[j] = vexpf(P[j] - l);
		return l;
	}
	if (mx == -INFINITY) {
		memset(P, 0, (size_t)lim * sizeof *P);
		return -INFINITY;
	}
	#pragma omp simd
	for (int j = 0; j < lim; j++)
		P[j] = vexpf(P[j] - mx);
	double sum = vsumf(P, lim);
	float inv = (float)(1.0 / sum);
	#pragma omp simd
	for (int j = 0; j < lim; j++)
		P[j] *= inv;
	return mx + (float)log(sum);
}

/* One (b, h, query block) of the forward. */
static void attn_fwd_block(float *out, float *lse, const float *q, const float *k,
		const float *v, const int *kmask, const attn_dims *a, int b, int h, int i0, int nq,
		float *S)
{
	int Tq = a->Tq, Hq = a->Hq, D = a->D, grp = a->Hq / a->Hkv;
	int qs = Hq * D, ks = a->Hkv * D;
	int lim = key_limit(a, i0 + nq - 1);
	const float *Qp = q + ((size_t)b * Tq + i0) * qs + (size_t)h * D;
	const float *Kp = k + (size_t)b * a->Tkmax * ks + (size_t)(h / grp) * D;
	const float *Vp = v + (size_t)b * a->Tkmax * ks + (size_t)(h / grp) * D;
	const int *mb = kmask ? kmask + (size_t)b * a->Tkmax : NULL;
	float *Op = out + ((size_t)b * Tq + i0) * qs + (size_t)h * D;
	float *L = lse ? lse + ((size_t)b * Hq + h) * Tq + i0 : NULL;

	if (lim <= 0) {
		for (int r = 0; r < nq; r++) {
			memset(Op + (size_t)r * qs, 0, (size_t)D * sizeof *Op);
			if (L)
				L[r] = -INFINITY;
		}
		return;
	}
	sgemm_cpu(0, 1, nq, lim, D, a->scale, Qp, qs, Kp, ks, 0.0f, S, lim);
	#pragma omp parallel for if (!omp_in_parallel() && (size_t)nq * lim > 16384)
	for (int r = 0; r < nq; r++) {
		float l = attn_probs(S + (size_t)r * lim, lim, a, mb, i0 + r, NULL);

		if (L)
			L[r] = l;
	}
	sgemm_cpu(0, 0, nq, D, lim, 1.0f, S, lim, Vp, ks, 0.0f, Op, qs);
}

void attention_forward_cpu(float *out, float *lse, const float *q, const float *k,
		const float *v, const int *kmask, const attn_dims *a)
{
	int qb = a->Tq < QB ? a->Tq : QB;
	int nblk = qb > 0 ? (a->Tq + qb - 1) / qb : 0;
	int units = a->B * a->Hq * nblk, nt = nthreads();
	int outer = units >= nt && attn_work(a) >= 1e6 ? nt : 1;
	float *S = units > 0 && a->Tk > 0 ? ops_scratch(1, (size_t)outer * qb * a->Tk) : NULL;

	if (!S) {
		attention_forward_ref_cpu(out, lse, q, k, v, kmask, a);
		return;
	}
	#pragma omp parallel for schedule(dynamic, 1) num_threads(outer) if (outer > 1)
	for (int u = 0; u < units; u++) {
		int blk = u % nblk, h = (u / nblk) % a->Hq, b = u / nblk / a->Hq;
		int i0 = blk * qb, nq = a->Tq - i0 < qb ? a->Tq - i0 : qb;

		attn_fwd_block(out, lse, q, k, v, kmask, a, b, h, i0, nq,
				S + (size_t)(outer > 1 ? thread_id() : 0) * qb * a->Tk);
	}
}

/* dq of rows [i0, i0+nq) of head h, and dk, dv of its kv head += . */
static void attn_bwd_block(float *dq, float *dk, float *dv, const float *dout, const float *q,
		const float *k, const float *v, const float *out, const float *lse,
		const int *kmask, const attn_dims *a, int b, int h, int i0, int nq, float *P, float *dS)
{
	int Tq = a->Tq, Hq = a->Hq, D = a->D, grp = a->Hq / a->Hkv;
	int qs = Hq * D, ks = a->Hkv * D;
	int lim = key_limit(a, i0 + nq - 1);
	size_t qo = ((size_t)b * Tq + i0) * qs + (size_t)h * D;
	size_t ko = (size_t)b * a->Tkmax * ks + (size_t)(h / grp) * D;
	const int *mb = kmask ? kmask + (size_t)b * a->Tkmax : NULL;
	const float *ls = lse + ((size_t)b * Hq + h) * Tq + i0;

	if (lim <= 0) {
		if (dq)
			for (int r = 0; r < nq; r++)
				memset(dq + qo + (size_t)r * qs, 0, (size_t)D * sizeof *dq);
		return;
	}
	sgemm_cpu(0, 1, nq, lim, D, a->scale, q + qo, qs, k + ko, ks, 0.0f, P, lim);
	sgemm_cpu(0, 1, nq, lim, D, 1.0f, dout + qo, qs, v + ko, ks, 0.0f, dS, lim);
	#pragma omp parallel for if (!omp_in_parallel() && (size_t)nq * lim > 16384)
	for (int r = 0; r < nq; r++) {
		float *p = P + (size_t)r * lim, *ds = dS + (size_t)r * lim;
		const float *doi = dout + qo + (size_t)r * qs, *oi = out + qo + (size_t)r * qs;

		attn_probs(p, lim, a, mb, i0 + r, ls + r);
		float Di = dot(doi, oi, D);
		for (int j = 0; j < lim; j++)
			ds[j] = p[j] * (ds[j] - Di);
	}
	if (dq)
		sgemm_cpu(0, 0, nq, D, lim, a->scale, dS, lim, k + ko, ks, 0.0f, dq + qo, qs);
	if (dk)
		sgemm_cpu(1, 0, lim, D, nq, a->scale, dS, lim, q + qo, qs, 1.0f, dk + ko, ks);
	if (dv)
		sgemm_cpu(1, 0, lim, D, nq, 1.0f, P, lim, dout + qo, qs, 1.0f, dv + ko, ks);
}

void attention_backward_cpu(float *dq, float *dk, float *dv, const float *dout,
		const float *q, const float *k, const float *v, const float *out, const float *lse,
		const int *kmask, const attn_dims *a)
{
	int qb = a->Tq < QB ? a->Tq : QB, grp = a->Hq / a->Hkv, ks = a->Hkv * a->D;
	int nblk = qb > 0 ? (a->Tq + qb - 1) / qb : 0;
	int units = a->B * a->Hkv, nt = nthreads();
	int outer = units >= nt && attn_work(a) >= 1e6 ? nt : 1;
	float *P = units > 0 && nblk > 0 && a->Tk > 0 ?
		ops_scratch(1, 2 * (size_t)outer * qb * a->Tk) : NULL;

	if (!P) {
		attention_backward_ref_cpu(dq, dk, dv, dout, q, k, v, out, lse, kmask, a);
		return;
	}
	/* dk, dv are sums over queries: zero the visible rows, then accumulate */
	for (int b = 0; b < a->B; b++)
		for (int j = 0; j < a->Tk; j++) {
			size_t o = ((size_t)b * a->Tkmax + j) * ks;

			if (dk)
				memset(dk + o, 0, (size_t)ks * sizeof *dk);
			if (dv)
				memset(dv + o, 0, (size_t)ks * sizeof *dv);
		}
	#pragma omp parallel for schedule(dynamic, 1) num_threads(outer) if (outer > 1)
	for (int u = 0; u < units; u++) {
		int g = u % a->Hkv, b = u / a->Hkv;
		float *Pt = P + 2 * (size_t)(outer > 1 ? thread_id() : 0) * qb * a->Tk;

		for (int h = g * grp; h < (g + 1) * grp; h++)
			for (int i0 = 0; i0 < a->Tq; i0 += qb)
				attn_bwd_block(dq, dk, dv, dout, q, k, v, out, lse, kmask, a, b, h, i0,
						a->Tq - i0 < qb ? a->Tq - i0 : qb, Pt,
						Pt + (size_t)qb * a->Tk);
	}
}
