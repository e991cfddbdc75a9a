/* attention.cu: scaled dot-product attention with grouped-query heads,
 * causal and key-padding masks and a KV-cache offset (ops.h attention_*).
 *
 * One warp per query row: lane l holds head dims l, l+32, ... (up to 256),
 * an online softmax runs over the keys, so memory is O(1) per query; the
 * backward recomputes the probabilities from lse in two passes as the CPU
 * op does (dq per query; dk/dv per key over the queries that see it), so
 * every output row has one writer and no atomics are needed.  With few
 * query rows (decoding one token) the keys of a row are split among warps
 * and the partial softmaxes merged (flash-decoding).  Simple and
 * exact rather than fast: no tensor cores (see tests/bench for its speed
 * against the cuBLAS batched-scores path). */
#include "cuda_common.cuh"

#define ATT_WARPS 4

static __device__ __forceinline__ int key_limit(const attn_dims &a, int i)
{
	if (!a.causal)
		return a.Tk;
	long lim = (long)a.p0 + i + 1;
	return lim < a.Tk ? (int)lim : a.Tk;
}

/* Σ_d x[d] y[d] over the warp; x in registers (DPL per lane), y in memory. */
template <int DPL>
static __device__ __forceinline__ float wdot(const float *x, const float *y, int D, int lane)
{
	float s = 0;

#pragma unroll
	for (int t = 0; t < DPL; t++) {
		int d = lane + 32 * t;

		if (d < D)
			s += x[t] * y[d];
	}
	return cu_warp_sum(s);
}

template <int DPL>
static __device__ __forceinline__ void wload(float *x, const float *src, int D, int lane)
{
#pragma unroll
	for (int t = 0; t < DPL; t++) {
		int d = lane + 32 * t;

		x[t] = d < D ? src[d] : 0.0f;
	}
}

template <int DPL>
static __global__ void attn_forward_kernel(float *out, float *lse, const float *q, const float *k,
		const float *v, const int *kmask, attn_dims a)
{
	int lane = threadIdx.x & 31;
	long w = (long)blockIdx.x * ATT_WARPS + (threadIdx.x >> 5);
	int D = a.D, grp = a.Hq / a.Hkv;
	size_t qs = (size_t)a.Hq * D, ks = (size_t)a.Hkv * D;

	if (w >= (long)a.B * a.Hq * a.Tq)
		return;
	int i = (int)(w % a.Tq), h = (int)(w / a.Tq % a.Hq), b = (int)(w / a.Tq / a.Hq);
	const float *qi = q + ((size_t)b * a.Tq + i) * qs + (size_t)h * D;
	const float *kb = k + (size_t)b * a.Tkmax * ks + (size_t)(h / grp) * D;
	const float *vb = v + (size_t)b * a.Tkmax * ks + (size_t)(h / grp) * D;
	const int *mb = kmask ? kmask + (size_t)b * a.Tkmax : NULL;
	float *oi = out + ((size_t)b * a.Tq + i) * qs + (size_t)h * D;
	float qr[DPL], acc[DPL];
	float mx = -INFINITY, sum = 0;
	int lim = key_limit(a, i);

	wload<DPL>(qr, qi, D, lane);
#pragma unroll
	for (int t = 0; t < DPL; t++)
		acc[t] = 0;
	for (int j = 0; j < lim; j++) {
		if (mb && !mb[j])
			continue;
		const float *vj = vb + (size_t)j * ks;
		float sc = a.scale * wdot<DPL>(qr, kb + (size_t)j * ks, D, lane);
		float r = 1.0f, p = 1.0f;

		if (sc > mx) {           /* new maximum: rescale what we have */
			r = expf(mx - sc);
			mx = sc;
		} else {
			p = expf(sc - mx);
		}
		sum = sum * r + p;
#pragma unroll
		for (int t = 0; t < DPL; t++) {
			int d = lane + 32 * t;

			acc[t] = acc[t] * r + (d < D ? p * vj[d] : 0.0f);
		}
	}
	float inv = sum > 0 ? 1.0f / sum : 0.0f;
#pragma unroll
	for (int t = 0; t < DPL; t++) {
		int d = lane + 32 * t;

		if (d < D)
			oi[d] = acc[t] * inv;
	}
	if (lse && lane == 0)
		lse[((size_t)b * a.Hq + h) * a.Tq + i] = sum > 0 ? mx + logf(sum) : -INFINITY;
}

/* Flash-decoding: split S of query row qi walks keys [s*chunk, (s+1)*chunk)
 * and leaves its unnormalized accumulator, running max and sum in
 * part[(qi*S + s)*(D+2) + ...] (acc[D], max, sum). */
template <int DPL>
static __global__ void attn_split_kernel(float *part, const float *q, const float *k,
		const float *v, const int *kmask, attn_dims a, int S, int chunk)
{
	int lane = threadIdx.x & 31;
	long w = (long)blockIdx.x * ATT_WARPS + (threadIdx.x >> 5);
	int D = a.D, grp = a.Hq / a.Hkv;
	size_t qs = (size_t)a.Hq * D, ks = (size_t)a.Hkv * D;

	if (w >= (long)a.B * a.Hq * a.Tq * S)
		return;
	int sp = (int)(w % S);
	long qi = w / S;
	int i = (int)(qi % a.Tq), h = (int)(qi / a.Tq % a.Hq), b = (int)(qi / a.Tq / a.Hq);
	const float *kb = k + (size_t)b * a.Tkmax * ks + (size_t)(h / grp) * D;
	const float *vb = v + (size_t)b * a.Tkmax * ks + (size_t)(h / grp) * D;
	const int *mb = kmask ? kmask + (size_t)b * a.Tkmax : NULL;
	float qr[DPL], acc[DPL];
	float mx = -INFINITY, sum = 0;
	int lim = key_limit(a, i), j1 = (sp + 1) * chunk;

	if (j1 > lim)
		j1 = lim;
	wload<DPL>(qr, q + ((size_t)b * a.Tq + i) * qs + (size_t)h * D, D, lane);
#pragma unroll
	for (int t = 0; t < DPL; t++)
		acc[t] = 0;
	for (int j = sp * chunk; j < j1; j++) {
		if (mb && !mb[j])
			continue;
		const float *vj = vb + (size_t)j * ks;
		float sc = a.scale * wdot<DPL>(qr, kb + (size_t)j * ks, D, lane);
		float r = 1.0f, p = 1.0f;

		if (sc > mx) {
			r = expf(mx - sc);
			mx = sc;
		} else {
			p = expf(sc - mx);
		}
		sum = sum * r + p;
#pragma unroll
		for (int t = 0; t < DPL; t++) {
			int d = lane + 32 * t;

			acc[t] = acc[t] * r + (d < D ? p * vj[d] : 0.0f);
		}
	}
	float *pp = part + ((size_t)qi * S + sp) * (D + 2);
#pragma unroll
	for (int t = 0; t < DPL; t++) {
		int d = lane + 32 * t;

		if (d < D)
			pp[d] = acc[t];
	}
	if (lane == 0) {
		pp[D] = mx;
		pp[D + 1] = sum;
	}
}

/* Merge the S partial softmaxes of each query row: a warp per row. */
static __global__ void attn_combine_kernel(float *out, float *lse, const float *part, attn_dims a,
		int S)
{
	int lane = threadIdx.x & 31;
	long qi = (long)blockIdx.x * ATT_WARPS + (threadIdx.x >> 5);
	int D = a.D;

	if (qi >= (long)a.B * a.Hq * a.Tq)
		return;
	int i = (int)(qi % a.Tq), h = (int)(qi / a.Tq % a.Hq), b = (int)(qi / a.Tq / a.Hq);
	const float *pq = part + (size_t)qi * S * (D + 2);
	float *oi = out + ((size_t)b * a.Tq + i) * ((size_t)a.Hq * D) + (size_t)h * D;
	float M = -INFINITY, L = 0;

	for (int s = lane; s < S; s += 32)
		M = fmaxf(M, pq[(size_t)s * (D + 2) + D]);
	M = cu_warp_max(M);
	if (M == -INFINITY) {           /* no key visible to this query */
		for (int d = lane; d < D; d += 32)
			oi[d] = 0.0f;
		if (lse && lane == 0)
			lse[((size_t)b * a.Hq + h) * a.Tq + i] = -INFINITY;
		return;
	}
	for (int s = lane; s < S; s += 32) {
		float m = pq[(size_t)s * (D + 2) + D];

		if (m != -INFINITY)
			L += pq[(size_t)s * (D + 2) + D + 1] * expf(m - M);
	}
	L = cu_warp_sum(L);
	for (int d = lane; d < D; d += 32) {
		float o = 0;

		for (int s = 0; s < S; s++) {
			float m = pq[(size_t)s * (D + 2) + D];

			if (m != -INFINITY)
				o += pq[(size_t)s * (D + 2) + d] * expf(m - M);
		}
		oi[d] = o / L;
	}
	if (lse && lane == 0)
		lse[((size_t)b * a.Hq + h) * a.Tq + i] = M + logf(L);
}

/* dq_i = scale Σ_j p_ij (dout_i·v_j - dout_i·out_i) k_j */
template <int DPL>
static __global__ void attn_dq_kernel(float *dq, const float *dout, const float *q, const float *k,
		const float *v, const float *out, const float *lse, const int *kmask, attn_dims a)
{
	int lane = threadIdx.x & 31;
	long w = (long)blockIdx.x * ATT_WARPS + (threadIdx.x >> 5);
	int D = a.D, grp = a.Hq / a.Hkv;
	size_t qs = (size_t)a.Hq * D, ks = (size_t)a.Hkv * D;

	if (w >= (long)a.B * a.Hq * a.Tq)
		return;
	int i = (int)(w % a.Tq), h = (int)(w / a.Tq % a.Hq), b = (int)(w / a.Tq / a.Hq);
	size_t qo = ((size_t)b * a.Tq + i) * qs + (size_t)h * D;
	const float *kb = k + (size_t)b * a.Tkmax * ks + (size_t)(h / grp) * D;
	const float *vb = v + (size_t)b * a.Tkmax * ks + (size_t)(h / grp) * D;
	const int *mb = kmask ? kmask + (size_t)b * a.Tkmax : NULL;
	float l = lse[((size_t)b * a.Hq + h) * a.Tq + i];
	float qr[DPL], dor[DPL], g[DPL];
	int lim = key_limit(a, i);

	wload<DPL>(qr, q + qo, D, lane);
	wload<DPL>(dor, dout + qo, D, lane);
#pragma unroll
	for (int t = 0; t < DPL; t++)
		g[t] = 0;
	if (l != -INFINITY) {
		float Di = wdot<DPL>(dor, out + qo, D, lane);

		for (int j = 0; j < lim; j++) {
			if (mb && !mb[j])
				continue;
			const float *kj = kb + (size_t)j * ks;
			float p = expf(a.scale * wdot<DPL>(qr, kj, D, lane) - l);
			float ds = p * (wdot<DPL>(dor, vb + (size_t)j * ks, D, lane) - Di);

#pragma unroll
			for (int t = 0; t < DPL; t++) {
				int d = lane + 32 * t;

				if (d < D)
					g[t] += a.scale * ds * kj[d];
			}
		}
	}
#pragma unroll
	for (int t = 0; t < DPL; t++) {
		int d = lane + 32 * t;

		if (d < D)
			dq[qo + d] = g[t];
	}
}

/* Σ_d x[d] y[d] over the warp, both in memory. */
static __device__ __forceinline__ float wdot_mm(const float *x, const float *y, int D, int lane)
{
	float s = 0;

	for (int d = lane; d < D; d += 32)
		s += x[d] * y[d];
	return cu_warp_sum(s);
}

/* For key j of kv head g: dv_j = Σ p dout_i, dk_j = scale Σ ds q_i over the
 * query heads of the group and the queries that see j (rows j < Tk only). */
template <int DPL>
static __global__ void attn_dkv_kernel(float *dk, float *dv, const float *dout, const float *q,
		const float *k, const float *v, const float *out, const float *lse, const int *kmask,
		attn_dims a)
{
	int lane = threadIdx.x & 31;
	long w = (long)blockIdx.x * ATT_WARPS + (threadIdx.x >> 5);
	int D = a.D, grp = a.Hq / a.Hkv;
	size_t qs = (size_t)a.Hq * D, ks = (size_t)a.Hkv * D;

	if (w >= (long)a.B * a.Hkv * a.Tk)
		return;
	int j = (int)(w % a.Tk), g = (int)(w / a.Tk % a.Hkv), b = (int)(w / a.Tk / a.Hkv);
	size_t ko = ((size_t)b * a.Tkmax + j) * ks + (size_t)g * D;
	float kr[DPL], vr[DPL], gk[DPL], gv[DPL];
	int masked = kmask && !kmask[(size_t)b * a.Tkmax + j];
	long i0 = a.causal ? (long)j - a.p0 : 0;

	wload<DPL>(kr, k + ko, D, lane);
	wload<DPL>(vr, v + ko, D, lane);
#pragma unroll
	for (int t = 0; t < DPL; t++)
		gk[t] = gv[t] = 0;
	if (i0 < 0)
		i0 = 0;
	for (int h = g * grp; !masked && h < (g + 1) * grp; h++) {
		for (int i = (int)i0; i < a.Tq; i++) {
			size_t qo = ((size_t)b * a.Tq + i) * qs + (size_t)h * D;
			float l = lse[((size_t)b * a.Hq + h) * a.Tq + i];

			if (l == -INFINITY)
				continue;
			const float *qi = q + qo, *doi = dout + qo;
			float p = expf(a.scale * wdot<DPL>(kr, qi, D, lane) - l);
			float ds = p * (wdot<DPL>(vr, doi, D, lane) - wdot_mm(doi, out + qo, D, lane));

#pragma unroll
			for (int t = 0; t < DPL; t++) {
				int d = lane + 32 * t;

				if (d < D) {
					gv[t] += p * doi[d];
					gk[t] += a.scale * ds * qi[d];
				}
			}
		}
	}
#pragma unroll
	for (int t = 0; t < DPL; t++) {
		int d = lane + 32 * t;

		if (d < D) {
			if (dk)
				dk[ko + d] = gk[t];
			if (dv)
				dv[ko + d] = gv[t];
		}
	}
}

static int check_dims(const attn_dims *a, an_err *e)
{
	if (a->D <= 0 || a->D > 256 || a->Hkv <= 0 || a->Hq % a->Hkv || a->Tk > a->Tkmax) {
		an_err_set(e, "attention: unsupported dims (D %d, heads %d/%d, Tk %d of %d); "
				"the cuda kernel takes head dims up to 256", a->D, a->Hq, a->Hkv,
				a->Tk, a->Tkmax);
		return -1;
	}
	return 0;
}

#define DISPATCH_DPL(D, CALL) do { \
	if ((D) <= 32) { const int DPLV = 1; CALL; } \
	else if ((D) <= 64) { const int DPLV = 2; CALL; } \
	else if ((D) <= 128) { const int DPLV = 4; CALL; } \
	else { const int DPLV = 8; CALL; } \
} while (0)

/* Streaming multiprocessors of the current device (asked once). */
static int att_sms(void)
{
	static int sms = 0;
	int dev;

	if (!sms && cudaGetDevice(&dev) == cudaSuccess &&
	    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
		sms = 0;
	return sms > 0 ? sms : 132;
}

/* Key splits per query row: enough warps for ~16 per SM, at least 32 keys
 * a split, at most 128 splits; 1 when the query rows alone fill the GPU. */
static int att_splits(const attn_dims *a, int *chunk)
{
	long warps = (long)a->B * a->Hq * a->Tq, want = 16L * att_sms();
	int S = 1;

	if (warps > 0 && warps < want && a->Tk >= 64) {
		long s = (want + warps - 1) / warps, smax = a->Tk / 32;

		if (s > smax)
			s = smax;
		S = (int)(s > 128 ? 128 : s);
	}
	*chunk = S > 1 ? (a->Tk + S - 1) / S : a->Tk;
	return S;
}

extern "C" size_t cu_attention_ws_bytes(const attn_dims *a)
{
	int chunk, S = att_splits(a, &chunk);

	if (S <= 1 || a->D <= 0)
		return 0;
	return (size_t)a->B * a->Hq * a->Tq * S * (a->D + 2) * sizeof(float);
}

extern "C" int cu_attention_forward(cudaStream_t s, float *out, float *lse, const float *q,
		const float *k, const float *v, const int *kmask, const attn_dims *a, void *ws,
		size_t ws_bytes, an_err *e)
{
	long warps = (long)a->B * a->Hq * a->Tq;
	int chunk, S;

	if (check_dims(a, e) < 0)
		return -1;
	if (warps <= 0)
		return 0;
	S = att_splits(a, &chunk);
	if (S > 1 && ws && ws_bytes >= cu_attention_ws_bytes(a)) {
		unsigned blocks = (unsigned)((warps * S + ATT_WARPS - 1) / ATT_WARPS);

		DISPATCH_DPL(a->D, (attn_split_kernel<DPLV><<<blocks, 32 * ATT_WARPS, 0, s>>>(
				(float *)ws, q, k, v, kmask, *a, S, chunk)));
		CU_LAUNCHED(e, "attention_split");
		attn_combine_kernel<<<(unsigned)((warps + ATT_WARPS - 1) / ATT_WARPS), 32 * ATT_WARPS, 0, s>>>(
				out, lse, (const float *)ws, *a, S);
		CU_LAUNCHED(e, "attention_combine");
		return 0;
	}
	unsigned blocks = (unsigned)((warps + ATT_WARPS - 1) / ATT_WARPS);

	DISPATCH_DPL(a->D, (attn_forward_kernel<DPLV><<<blocks, 32 * ATT_WARPS, 0, s>>>(out, lse,
			q, k, v, kmask, *a)));
	CU_LAUNCHED(e, "attention_forward");
	return 0;
}

extern "C" int cu_attention_backward(cudaStream_t s, float *dq, float *dk, float *dv,
		const float *dout, const float *q, const float *k, const float *v, const float *out,
		const float *lse, const int *kmask, const attn_dims *a, an_err *e)
{
	long wq = (long)a->B * a->Hq * a->Tq, wk = (long)a->B * a->Hkv * a->Tk;

	if (check_dims(a, e) < 0)
		return -1;
	if (dq && wq > 0) {
		unsigned blocks = (unsigned)((wq + ATT_WARPS - 1) / ATT_WARPS);

		DISPATCH_DPL(a->D, (attn_dq_kernel<DPLV><<<blocks, 32 * ATT_WARPS, 0, s>>>(dq, dout,
				q, k, v, out, lse, kmask, *a)));
		CU_LAUNCHED(e, "attention_backward_dq");
	}
	if ((dk || dv) && wk > 0) {
		unsigned blocks = (unsigned)((wk + ATT_WARPS - 1) / ATT_WARPS);

		DISPATCH_DPL(a->D, (attn_dkv_kernel<DPLV><<<blocks, 32 * ATT_WARPS, 0, s>>>(dk, dv,
				dout, q, k, v, out, lse, kmask, *a)));
		CU_LAUNCHED(e, "attention_backward_dkv");
	}
	return 0;
}
