/* gen.c: decoding strategies over logits (see gen.h). */
#include "gen.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* xoshiro256** (Blackman & Vigna), seeded through splitmix64 */

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void gen_rng_seed(gen_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++) {
		uint64_t z = (seed += 0x9e3779b97f4a7c15ull);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		r->s[i] = z ^ (z >> 31);
	}
}

uint64_t gen_rng_next(gen_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

double gen_rng_uniform(gen_rng *r)
{
	return (double)(gen_rng_next(r) >> 11) * 0x1.0p-53;
}

/* ---------------------------------------------------------------------- */

float gen_log_softmax(const float *x, float *out, int n)
{
	float mx = -INFINITY;
	double sum = 0;
	float lse;

	for (int i = 0; i < n; i++)
		if (x[i] > mx)
			mx = x[i];
	if (mx == -INFINITY) {
		for (int i = 0; i < n; i++)
			out[i] = -INFINITY;
		return -INFINITY;
	}
	for (int i = 0; i < n; i++)
		sum += exp((double)x[i] - mx);
	{
		double off = mx + log(sum);

		lse = (float)off;
		for (int i = 0; i < n; i++)
			out[i] = (float)((double)x[i] - off);
	}
	return lse;
}

int32_t gen_greedy(const float *logits, int n)
{
	int32_t best = -1;

	for (int i = 0; i < n; i++)
		if (!isnan(logits[i]) && (best < 0 || logits[i] > logits[best]))
			best = i;
	return best;
}

void gen_repetition_penalty(float *logits, int V, const int32_t *prev, int n, float penalty,
			    unsigned char *seen)
{
	for (int i = 0; i < n; i++) {
		int32_t t = prev[i];

		if (t < 0 || t >= V || (seen[t >> 3] & (1u << (t & 7))))
			continue;
		seen[t >> 3] |= (unsigned char)(1u << (t & 7));
		logits[t] = logits[t] < 0 ? logits[t] * penalty : logits[t] / penalty;
	}
	for (int i = 0; i < n; i++)
		if (prev[i] >= 0 && prev[i] < V)
			seen[prev[i] >> 3] = 0;
}

/* ---------------------------------------------------------------------- */
/* sampling: a max-heap of (logit, id) gives tokens in descending order
 * lazily, so top-k and a small nucleus cost O(V + m log V), not a sort */

typedef struct hent {
	float   v;
	int32_t id;
} hent;

static inline int h_before(const hent *a, const hent *b)
{
	return a->v > b->v || (a->v == b->v && a->id < b->id);
}

static void h_down(hent *h, int n, int i)
{
	hent x = h[i];

	for (;;) {
		int l = 2 * i + 1, m;

		if (l >= n)
			break;
		m = (l + 1 < n && h_before(&h[l + 1], &h[l])) ? l + 1 : l;
		if (!h_before(&h[m], &x))
			break;
		h[i] = h[m];
		i = m;
	}
	h[i] = x;
}

static hent h_pop(hent *h, int *n)
{
	hent top = h[0];

	h[0] = h[--*n];
	if (*n)
		h_down(h, *n, 0);
	return top;
}

size_t gen_sample_work(int n)
{
	return n > 0 ? (size_t)n * (sizeof(hent) + sizeof(double) + sizeof(int32_t)) : 0;
}

/* The kept tokens, descending, into ids[] with unnormalized weights w[];
 * returns how many (0 when there is no token at all). */
static int sample_filter(const float *logits, int n, const gen_sample_opts *o, hent *h, int32_t *ids, double *w)
{
	int hn = 0, m = 0;
	float mx;
	double inv_t, total = 0;

	if (n <= 0)
		return 0;
	for (int i = 0; i < n; i++)
		if (!isnan(logits[i]) && logits[i] > -INFINITY)
			h[hn++] = (hent){ logits[i], i };
	if (o->temperature <= 0 || hn == 0) {
		int32_t g = gen_greedy(logits, n);

		if (g < 0)
			return 0;
		ids[0] = g;
		w[0] = 1;
		return 1;
	}
	inv_t = 1.0 / o->temperature;
	for (int i = hn / 2 - 1; i >= 0; i--)
		h_down(h, hn, i);
	mx = h[0].v;
	if (o->top_k > 0) {
		/* the k best, and every token tied with the k-th */
		while (hn && (m < o->top_k || h[0].v == logits[ids[m - 1]])) {
			hent e = h_pop(h, &hn);

			ids[m] = e.id;
			w[m] = exp(((double)e.v - mx) * inv_t);
			total += w[m++];
		}
	} else {
		for (int i = 0; i < n; i++)
			if (!isnan(logits[i]))
				total += exp(((double)logits[i] - mx) * inv_t);
	}
	if (o->top_p < 1) {
		double limit = (double)o->top_p * total, cum = 0;

		if (o->top_k > 0) {
			int k = 0;

			while (k < m && (k == 0 || cum < limit))
				cum += w[k++];
			m = k;
		} else {
			while (hn && (m == 0 || cum < limit)) {
				hent e = h_pop(h, &hn);

				ids[m] = e.id;
				w[m] = exp(((double)e.v - mx) * inv_t);
				cum += w[m++];
			}
		}
	} else if (o->top_k <= 0) {
		/* plain sampling: every token, in descending order */
		while (hn) {
			hent e = h_pop(h, &hn);

			ids[m] = e.id;
			w[m++] = exp(((double)e.v - mx) * inv_t);
		}
	}
	return m;
}

int gen_sample_filter(const float *logits, int n, const gen_sample_opts *o, void *work, int32_t *ids, double *p)
{
	int m = sample_filter(logits, n, o, work, ids, p);
	double total = 0;

	for (int i = 0; i < m; i++)
		total += p[i];
	for (int i = 0; i < m; i++)
		p[i] /= total;
	return m;
}

int32_t gen_sample(const float *logits, int n, const gen_sample_opts *o, gen_rng *r, void *work)
{
	hent *h = work;
	double *w = (double *)(h + (n > 0 ? n : 0));
	int32_t *ids = (int32_t *)(w + (n > 0 ? n : 0));
	int m = sample_filter(logits, n, o, h, ids, w);
	double total = 0, u, acc = 0;

	if (m == 0)
		return -1;
	if (m == 1)
		return ids[0];
	for (int i = 0; i < m; i++)
		total += w[i];
	u = gen_rng_uniform(r) * total;
	for (int i = 0; i < m; i++) {
		acc += w[i];
		if (u < acc)
			return ids[i];
	}
	return ids[m - 1];
}

/* ---------------------------------------------------------------------- */
/* beam search */

typedef struct gen_cand {
	double  s;
	int32_t beam, tok;
} gen_cand;

int gen_beam_init(gen_beam *b, int nbeam, int maxlen, double len_penalty, int early_stop)
{
	memset(b, 0, sizeof *b);
	if (nbeam < 1 || maxlen < 1)
		return -1;
	b->nbeam = nbeam;
	b->maxlen = maxlen;
	b->len_penalty = len_penalty;
	b->early_stop = early_stop;
	b->nlive = 1;
	b->live = calloc((size_t)nbeam * maxlen, sizeof *b->live);
	b->tmp = calloc((size_t)nbeam * maxlen, sizeof *b->tmp);
	b->fin_tok = calloc((size_t)nbeam * maxlen, sizeof *b->fin_tok);
	b->live_logp = calloc((size_t)nbeam, sizeof *b->live_logp);
	b->tmp_logp = calloc((size_t)nbeam, sizeof *b->tmp_logp);
	b->fin = calloc((size_t)nbeam, sizeof *b->fin);
	b->keep = 2 * nbeam;
	b->cand = calloc((size_t)nbeam * 2, sizeof *b->cand);
	if (!b->live || !b->tmp || !b->fin_tok || !b->live_logp || !b->tmp_logp || !b->fin || !b->cand) {
		gen_beam_free(b);
		return -1;
	}
	for (int i = 0; i < nbeam; i++)
		b->fin[i].tok = b->fin_tok + (size_t)i * maxlen;
	return 0;
}

int gen_beam_keep(gen_beam *b, int neos)
{
	int k = (neos + 1 > 2 ? neos + 1 : 2) * b->nbeam;
	gen_cand *c;

	if (k <= b->keep) {
		b->keep = k;
		return 0;
	}
	c = realloc(b->cand, (size_t)k * sizeof *c);
	if (!c)
		return -1;
	b->cand = c;
	b->keep = k;
	return 0;
}

void gen_beam_free(gen_beam *b)
{
	free(b->live);
	free(b->tmp);
	free(b->fin_tok);
	free(b->live_logp);
	free(b->tmp_logp);
	free(b->fin);
	free(b->cand);
	memset(b, 0, sizeof *b);
}

static double hyp_score(const gen_beam *b, double logp, int len)
{
	return logp / pow((double)len, b->len_penalty);
}

/* Add a hypothesis (tokens src[0..len)) if there is room or it beats the
 * worst; the list stays sorted best first. */
static void fin_add(gen_beam *b, const int32_t *src, int len, int32_t last, double logp)
{
	double sc = hyp_score(b, logp, len);
	int pos;
	int32_t *buf;

	if (b->nfin == b->nbeam && !(sc > b->fin[b->nfin - 1].score))
		return;
	/* reuse the worst slot's buffer when full */
	if (b->nfin == b->nbeam)
		b->nfin--;
	buf = b->fin[b->nfin].tok;
	pos = b->nfin;
	while (pos > 0 && b->fin[pos - 1].score < sc) {
		b->fin[pos] = b->fin[pos - 1];
		pos--;
	}
	memcpy(buf, src, (size_t)(len - 1) * sizeof *buf);
	buf[len - 1] = last;
	b->fin[pos] = (gen_hyp){ buf, len, logp, sc };
	b->nfin++;
}

static int cand_worse(const gen_cand *a, const gen_cand *c)
{
	if (a->s != c->s)
		return a->s < c->s;
	if (a->beam != c->beam)
		return a->beam > c->beam;
	return a->tok > c->tok;
}

int gen_beam_step(gen_beam *b, const float *logp, int V, gen_final_fn final, void *ctx, int *parent)
{
	int K = b->keep, nc = 0, nnew = 0, len;
	gen_cand *c = b->cand;
	double best_live = -INFINITY;

	if (b->done || b->nlive == 0)
		return 0;
	/* the K best (beam, token) pairs: insertion into a sorted list of K */
	for (int i = 0; i < b->nlive; i++) {
		const float *row = logp + (size_t)i * V;

		for (int t = 0; t < V; t++) {
			gen_cand x = { b->live_logp[i] + row[t], i, t };
			int p;

			if (isnan(row[t]) || row[t] == -INFINITY)
				continue;
			if (nc == K && !cand_worse(&c[K - 1], &x))
				continue;
			p = nc < K ? nc++ : K - 1;
			while (p > 0 && cand_worse(&c[p - 1], &x)) {
				c[p] = c[p - 1];
				p--;
			}
			c[p] = x;
		}
	}
	len = b->step + 1;
	if (len >= b->maxlen) {
		/* max_length: the best nbeam pairs end here, whatever they are */
		for (int k = 0; k < nc && k < b->nbeam; k++)
			fin_add(b, b->live + (size_t)c[k].beam * b->maxlen, len, c[k].tok, c[k].s);
		b->step = len;
		b->done = 1;
		b->nlive = 0;
		return 0;
	}
	for (int k = 0; k < nc && nnew < b->nbeam; k++) {
		const int32_t *src = b->live + (size_t)c[k].beam * b->maxlen;

		if (final && final(ctx, b, c[k].beam, c[k].tok)) {
			if (k < b->nbeam)
				fin_add(b, src, len, c[k].tok, c[k].s);
			continue;
		}
		memcpy(b->tmp + (size_t)nnew * b->maxlen, src, (size_t)b->step * sizeof *src);
		b->tmp[(size_t)nnew * b->maxlen + b->step] = c[k].tok;
		b->tmp_logp[nnew] = c[k].s;
		if (parent)
			parent[nnew] = c[k].beam;
		if (c[k].s > best_live)
			best_live = c[k].s;
		nnew++;
	}
	{
		int32_t *t = b->live;
		double *l = b->live_logp;

		b->live = b->tmp;
		b->tmp = t;
		b->live_logp = b->tmp_logp;
		b->tmp_logp = l;
	}
	b->nlive = nnew;
	b->step = len;
	if (nnew == 0) {
		b->done = 1;
		return 0;
	}
	if (b->nfin == b->nbeam &&
	    (b->early_stop || b->fin[b->nfin - 1].score >= hyp_score(b, best_live, b->step))) {
		b->done = 1;
		b->nlive = 0;
		return 0;
	}
	return nnew;
}

int gen_beam_finish(gen_beam *b)
{
	if (!b->done && b->step > 0)
		for (int i = 0; i < b->nlive; i++) {
			const int32_t *src = b->live + (size_t)i * b->maxlen;

			fin_add(b, src, b->step, src[b->step - 1], b->live_logp[i]);
		}
	b->done = 1;
	b->nlive = 0;
	return b->nfin;
}

/* ---------------------------------------------------------------------- */
/* names */

static int ident_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* Byte i of text[0..n) followed by tok[0..tn). */
static unsigned char at2(const char *text, size_t n, const char *tok, size_t i)
{
	return (unsigned char)(i < n ? text[i] : tok[i - n]);
}

/* Where the name may start in the concatenation (total bytes): after
 * leading whitespace, and after a Markdown code fence's opening line
 * ("```c\n") when the text opens with one.  -1 while that line is still
 * open (no newline yet). */
static long name_from(const char *text, size_t n, const char *tok, size_t total)
{
	size_t i = 0;

	while (i < total && isspace(at2(text, n, tok, i)))
		i++;
	if (i + 3 <= total && at2(text, n, tok, i) == '`' && at2(text, n, tok, i + 1) == '`' &&
	    at2(text, n, tok, i + 2) == '`') {
		size_t j = i + 3;

		while (j < total && at2(text, n, tok, j) != '\n')
			j++;
		return j < total ? (long)j + 1 : -1;
	}
	return 0;
}

int gen_ident_ends(const char *text, size_t n, const char *tok, size_t tn)
{
	int seen = 0;
	long from = name_from(text, n, tok, n + tn);

	if (from < 0)
		return 0;
	for (size_t i = (size_t)from; i < n + tn; i++) {
		unsigned char c = at2(text, n, tok, i);

		if (ident_char(c))
			seen = 1;
		else if (seen)
			return 1;
	}
	return 0;
}

static const char *const c_keywords[] = {
	"alignas", "alignof", "auto", "bool", "break", "case", "char", "const", "constexpr",
	"continue", "default", "do", "double", "else", "enum", "extern", "false", "float", "for",
	"goto", "if", "inline", "int", "long", "nullptr", "register", "restrict", "return",
	"short", "signed", "sizeof", "static", "static_assert", "struct", "switch",
	"thread_local", "true", "typedef", "typeof", "typeof_unqual", "union", "unsigned",
	"void", "volatile", "while", "_Alignas", "_Alignof", "_Atomic", "_BitInt", "_Bool",
	"_Complex", "_Decimal128", "_Decimal32", "_Decimal64", "_Generic", "_Imaginary",
	"_Noreturn", "_Static_assert", "_Thread_local",
};

size_t gen_clean_name(const char *s, size_t n, char *out, size_t cap)
{
	size_t i = 0, k = 0, start;

	if (cap == 0)
		return 0;
	out[0] = 0;
	if (cap < 2)
		return 0;
	{
		long from = name_from(s, n, "", n);

		i = from > 0 ? (size_t)from : 0;   /* an unclosed fence line: read it all */
	}
	while (i < n && !ident_char((unsigned char)s[i]))
		i++;
	start = i;
	while (i < n && ident_char((unsigned char)s[i]))
		i++;
	if (i == start)
		return 0;
	if (s[start] >= '0' && s[start] <= '9')
		out[k++] = '_';
	for (size_t j = start; j < i && k + 1 < cap; j++)
		out[k++] = s[j];
	out[k] = 0;
	for (size_t j = 0; j < sizeof c_keywords / sizeof *c_keywords; j++)
		if (strcmp(out, c_keywords[j]) == 0) {
			if (k + 1 < cap) {
				out[k++] = '_';
				out[k] = 0;
			}
			break;
		}
	return k;
}

/* ---------------------------------------------------------------------- */
/* vote */

static int vote_cmp(const void *pa, const void *pb)
{
	const gen_vote *a = pa, *b = pb;

	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	if (a->sum_logp != b->sum_logp)
		return a->sum_logp > b->sum_logp ? -1 : 1;
	return a->first < b->first ? -1 : a->first > b->first;
}

int gen_vote_names(const char *const *names, const size_t *lens, const double *logp, int n,
		   gen_vote *out, int cap)
{
	gen_vote *g;
	int ng = 0;

	if (n <= 0)
		return 0;
	g = malloc((size_t)n * sizeof *g);
	if (!g)
		return -1;
	for (int i = 0; i < n; i++) {
		int j;

		if (lens[i] == 0)
			continue;
		for (j = 0; j < ng; j++)
			if (lens[g[j].first] == lens[i] && memcmp(names[g[j].first], names[i], lens[i]) == 0)
				break;
		if (j == ng)
			g[ng++] = (gen_vote){ i, 0, 0, -INFINITY };
		g[j].count++;
		g[j].sum_logp += logp[i];
		if (logp[i] > g[j].max_logp)
			g[j].max_logp = logp[i];
	}
	qsort(g, (size_t)ng, sizeof *g, vote_cmp);
	for (int i = 0; i < ng && i < cap; i++)
		out[i] = g[i];
	free(g);
	return ng;
}
