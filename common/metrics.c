#include "metrics.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- synonym table ----------------------------------------------------- */

typedef struct syn_ent {
	const char *word, *canon;
	size_t      line;
} syn_ent;

struct metrics_syn {
	char    *text;    /* the table's words, NUL-separated */
	syn_ent *ent;     /* sorted by word */
	size_t   n;
};

static int ent_cmp(const void *a, const void *b)
{
	return strcmp(((const syn_ent *)a)->word, ((const syn_ent *)b)->word);
}

void metrics_syn_free(metrics_syn *s)
{
	if (!s)
		return;
	free(s->text);
	free(s->ent);
	free(s);
}

metrics_syn *metrics_syn_parse(const char *text, size_t len, const char *name, an_err *e)
{
	metrics_syn *s = calloc(1, sizeof *s);
	size_t cap = 0, line = 1;
	char *p, *end;

	if (!s || !(s->text = malloc(len + 1))) {
		an_err_set(e, "%s: out of memory", name);
		goto fail;
	}
	memcpy(s->text, text, len);
	s->text[len] = 0;
	for (p = s->text, end = s->text + len; p < end; line++) {
		char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *canon = NULL;

		if (!eol)
			eol = end;
		*eol = 0;
		for (char *c = p; c < eol; c++) {
			if (*c == '#') {   /* comment to the end of the line */
				*c = 0;
				break;
			}
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		}
		for (char *w = strtok(p, " \t\r"); w; w = strtok(NULL, " \t\r")) {
			if (!canon)
				canon = w;
			if (s->n == cap) {
				syn_ent *ne = realloc(s->ent, (cap = cap ? 2 * cap : 256) * sizeof *ne);

				if (!ne) {
					an_err_set(e, "%s: out of memory", name);
					goto fail;
				}
				s->ent = ne;
			}
			s->ent[s->n++] = (syn_ent){ w, canon, line };
		}
		p = eol + 1;
	}
	if (s->n)
		qsort(s->ent, s->n, sizeof *s->ent, ent_cmp);
	for (size_t i = 1; i < s->n; i++)
		if (!strcmp(s->ent[i].word, s->ent[i - 1].word)) {
			size_t a = s->ent[i - 1].line, b = s->ent[i].line;

			an_err_set(e, "%s: line %zu: \"%s\" is already in the group of line %zu",
				   name, a > b ? a : b, s->ent[i].word, a < b ? a : b);
			goto fail;
		}
	return s;
fail:
	metrics_syn_free(s);
	return NULL;
}

metrics_syn *metrics_syn_load(const char *path, an_err *e)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, got;
	metrics_syn *s = NULL;

	if (!f) {
		an_err_sys(e, "%s", path);
		return NULL;
	}
	do {
		if (len == cap) {
			char *nb = realloc(buf, cap = cap ? 2 * cap : 65536);

			if (!nb) {
				an_err_set(e, "%s: out of memory", path);
				goto out;
			}
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
	} while (got);
	if (ferror(f)) {
		an_err_sys(e, "%s: read", path);
		goto out;
	}
	s = metrics_syn_parse(buf, len, path, e);
out:
	free(buf);
	fclose(f);
	return s;
}

const char *metrics_syn_canon(const metrics_syn *s, const char *word)
{
	syn_ent key = { word, NULL, 0 };
	const syn_ent *hit;

	if (!s || !s->n)
		return word;
	hit = bsearch(&key, s->ent, s->n, sizeof *s->ent, ent_cmp);
	return hit ? hit->canon : word;
}

size_t metrics_syn_size(const metrics_syn *s)
{
	return s ? s->n : 0;
}

/* ---- one function ------------------------------------------------------ */

double metrics_f1(double p, double r)
{
	return p + r > 0 ? 2 * p * r / (p + r) : 0;
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

/* The distinct (canonical) words of w into set; returns how many. */
static size_t word_set(const names_words *w, const metrics_syn *syn, const char **set)
{
	size_t n = 0;

	for (size_t i = 0; i < w->n; i++) {
		const char *c = syn ? metrics_syn_canon(syn, w->w[i]) : w->w[i];
		size_t k;

		for (k = 0; k < n && strcmp(set[k], c); k++)
			;
		if (k == n)
			set[n++] = c;
	}
	return n;
}

void metrics_words(const names_words *truth, const names_words *pred,
		   const metrics_syn *syn, metrics_prf *out)
{
	const char *t[NAMES_MAX_WORDS], *p[NAMES_MAX_WORDS];
	size_t nt = word_set(truth, syn, t), np = word_set(pred, syn, p), tp = 0;

	for (size_t i = 0; i < np; i++)
		for (size_t k = 0; k < nt; k++)
			if (!strcmp(p[i], t[k])) {
				tp++;
				break;
			}
	out->tp = (uint32_t)tp;
	out->fp = (uint32_t)(np - tp);
	out->fn = (uint32_t)(nt - tp);
	out->p = ratio((double)tp, (double)np);
	out->r = ratio((double)tp, (double)nt);
	out->f1 = metrics_f1(out->p, out->r);
}

static size_t char_counts(const names_words *w, unsigned *cnt)
{
	size_t n = 0;

	memset(cnt, 0, 256 * sizeof *cnt);
	for (size_t i = 0; i < w->n; i++)
		for (size_t k = 0; k < w->len[i]; k++, n++)
			cnt[(unsigned char)w->w[i][k]]++;
	return n;
}

void metrics_chars(const names_words *truth, const names_words *pred,
		   double *p, double *r, double *f1)
{
	unsigned ct[256], cp[256];
	size_t nt = char_counts(truth, ct), np = char_counts(pred, cp), common = 0;

	for (int c = 0; c < 256; c++)
		common += ct[c] < cp[c] ? ct[c] : cp[c];
	*p = ratio((double)common, (double)np);
	*r = ratio((double)common, (double)nt);
	*f1 = metrics_f1(*p, *r);
}

/* a's words are a prefix of b's (a non-empty). */
static int word_prefix(const names_words *a, const names_words *b)
{
	if (!a->n || a->n > b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->w[i], b->w[i]))
			return 0;
	return 1;
}

int metrics_score(const char *name, size_t nlen, const char *pred, size_t plen,
		  const metrics_syn *syn, int flags, metrics_one *out)
{
	/* Two names_words are ~2.6 KB each; static would not be reentrant. */
	names_words t, p;
	size_t bn = names_base_len(name, nlen), bp = names_base_len(pred, plen);

	memset(out, 0, sizeof *out);
	names_split(name, bn, flags, &t);
	if (!t.n)
		return -1;
	names_split(pred, bp, flags, &p);
	out->exact = bn == bp && !memcmp(name, pred, bn);
	out->prefix = word_prefix(&p, &t) || word_prefix(&t, &p);
	out->exact_norm = out->prefix && p.n == t.n;
	metrics_chars(&t, &p, &out->char_p, &out->char_r, &out->char_f1);
	metrics_words(&t, &p, NULL, &out->word);
	if (syn)
		metrics_words(&t, &p, syn, &out->word_syn);
	return 0;
}

/* ---- aggregates -------------------------------------------------------- */

void metrics_acc_init(metrics_acc *a)
{
	memset(a, 0, sizeof *a);
}

static void agg_add(metrics_agg_prf *a, const metrics_prf *m)
{
	a->tp += m->tp;
	a->fp += m->fp;
	a->fn += m->fn;
	a->sum_p += m->p;
	a->sum_r += m->r;
	a->sum_f1 += m->f1;
}

void metrics_acc_add(metrics_acc *a, const metrics_one *m)
{
	a->n++;
	a->exact += (unsigned)m->exact;
	a->exact_norm += (unsigned)m->exact_norm;
	a->prefix += (unsigned)m->prefix;
	a->sum_char_p += m->char_p;
	a->sum_char_r += m->char_r;
	a->sum_char_f1 += m->char_f1;
	agg_add(&a->word, &m->word);
	agg_add(&a->word_syn, &m->word_syn);
}

static void agg_summary(const metrics_agg_prf *a, uint64_t n, metrics_summary_prf *s)
{
	s->micro_p = ratio((double)a->tp, (double)(a->tp + a->fp));
	s->micro_r = ratio((double)a->tp, (double)(a->tp + a->fn));
	s->micro_f1 = metrics_f1(s->micro_p, s->micro_r);
	s->macro_p = ratio(a->sum_p, (double)n);
	s->macro_r = ratio(a->sum_r, (double)n);
	s->macro_f1 = ratio(a->sum_f1, (double)n);
}

void metrics_acc_summary(const metrics_acc *a, metrics_summary *s)
{
	double n = (double)a->n;

	memset(s, 0, sizeof *s);
	s->n = a->n;
	s->exact = ratio((double)a->exact, n);
	s->exact_norm = ratio((double)a->exact_norm, n);
	s->prefix = ratio((double)a->prefix, n);
	s->char_p = ratio(a->sum_char_p, n);
	s->char_r = ratio(a->sum_char_r, n);
	s->char_f1 = ratio(a->sum_char_f1, n);
	agg_summary(&a->word, a->n, &s->word);
	agg_summary(&a->word_syn, a->n, &s->word_syn);
}

/* ---- retrieval --------------------------------------------------------- */

void metrics_ret_init(metrics_ret *r)
{
	memset(r, 0, sizeof *r);
}

void metrics_ret_free(metrics_ret *r)
{
	free(r->q);
	free(r->t);
	free(r->group);
	memset(r, 0, sizeof *r);
}

/* dst = src / |src|; -1 on a NaN or infinity (which would rank anywhere). */
static int unit(float *dst, const float *src, size_t d)
{
	double ss = 0;

	for (size_t i = 0; i < d; i++)
		ss += (double)src[i] * src[i];
	if (!isfinite(ss))
		return -1;
	ss = ss > 0 ? 1 / sqrt(ss) : 0;
	for (size_t i = 0; i < d; i++)
		dst[i] = (float)(src[i] * ss);
	return 0;
}

int metrics_ret_add(metrics_ret *r, const float *q, const float *t, size_t d,
		    uint64_t group, an_err *e)
{
	if (!d || (r->n && d != r->d)) {
		an_err_set(e, "embedding of dimension %zu where the first had %zu", d, r->d);
		return -1;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 1024;
		float *nq = realloc(r->q, cap * d * sizeof *nq);
		float *nt = nq ? realloc(r->t, cap * d * sizeof *nt) : NULL;
		uint64_t *ng = nt ? realloc(r->group, cap * sizeof *ng) : NULL;

		if (nq)
			r->q = nq;
		if (nt)
			r->t = nt;
		if (!ng) {
			an_err_set(e, "out of memory holding %zu embeddings", cap);
			return -1;
		}
		r->group = ng;
		r->cap = cap;
	}
	if (unit(r->q + r->n * d, q, d) || unit(r->t + r->n * d, t, d)) {
		an_err_set(e, "embedding holds a NaN or infinity");
		return -1;
	}
	r->d = d;
	r->group[r->n++] = group;
	return 0;
}

int metrics_ret_eval(const metrics_ret *r, uint64_t *rank, const unsigned *ks, size_t nk,
		     double *mrr, double *recall, an_err *e)
{
	enum { BLOCK = 256 };
	size_t n = r->n, d = r->d;
	uint64_t *hits = calloc(nk ? nk : 1, sizeof *hits);
	float *s = n ? malloc((size_t)BLOCK * n * sizeof *s) : NULL;
	double rr = 0;

	if (!hits || (n && !s)) {
		free(hits);
		free(s);
		an_err_set(e, "out of memory ranking %zu embeddings", n);
		return -1;
	}
	for (size_t b0 = 0; b0 < n; b0 += BLOCK) {
		size_t nb = n - b0 < BLOCK ? n - b0 : BLOCK;

		/* s[nb, n] = q[b0:b0+nb] . t^T; sim(i,i) is read from the same
		 * product so that a tie is a tie whatever the BLAS kernel. */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)n, (int)d,
			    1.0f, r->q + b0 * d, (int)d, r->t, (int)d, 0.0f, s, (int)n);
		#pragma omp parallel for reduction(+:rr) schedule(static)
		for (size_t i = 0; i < nb; i++) {
			const float *row = s + i * n;
			size_t qi = b0 + i;
			float self = row[qi];
			uint64_t g = r->group[qi], k = 1;

			for (size_t j = 0; j < n; j++)
				k += row[j] >= self && r->group[j] != g;
			if (rank)
				rank[qi] = k;
			rr += 1.0 / (double)k;
			for (size_t m = 0; m < nk; m++)
				if (k <= ks[m]) {
					#pragma omp atomic
					hits[m]++;
				}
		}
	}
	*mrr = n ? rr / (double)n : 0;
	for (size_t m = 0; m < nk; m++)
		recall[m] = n ? (double)hits[m] / (double)n : 0;
	free(hits);
	free(s);
	return 0;
}

void metrics_rank_summary(const uint64_t *rank, const size_t *idx, size_t n,
			  const unsigned *ks, size_t nk, double *mrr, double *recall)
{
	double rr = 0;

	for (size_t m = 0; m < nk; m++)
		recall[m] = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t k = rank[idx ? idx[i] : i];

		rr += 1.0 / (double)k;
		for (size_t m = 0; m < nk; m++)
			recall[m] += k <= ks[m];
	}
	*mrr = n ? rr / (double)n : 0;
	for (size_t m = 0; m < nk; m++)
		recall[m] = n ? recall[m] / (double)n : 0;
}
