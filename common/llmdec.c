/* llmdec.c: batched identifier decoding with the decoder LLM (llmdec.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fields.h"
#include "gen.h"
#include "llmdec.h"

const char llmdec_default_template[] = "Calls: {callees}\nName:";

void llmdec_opts_default(llmdec_opts *o)
{
	o->mode = LLMDEC_GREEDY;
	o->n = 1;
	o->max_new = 24;
	o->temperature = 0.8f;
	o->top_p = 0.95f;
	o->length_penalty = 0.0f;
	o->no_stop = 0;
}

/* ------------------------------------------------------------- templates */

static const char *const placeholders[] = {"callees"};

/* Scan {name} at p (after '{'); returns the index or -1, *end after '}'. */
static int placeholder_at(const char *p, const char **end)
{
	for (size_t i = 0; i < sizeof placeholders / sizeof placeholders[0]; i++) {
		size_t n = strlen(placeholders[i]);
		if (strncmp(p, placeholders[i], n) == 0 && p[n] == '}') {
			*end = p + n + 1;
			return (int)i;
		}
	}
	return -1;
}

int llmdec_template_check(const char *t, an_err *e)
{
	for (const char *p = t; *p; p++) {
		if (p[0] == '{' && p[1] == '{') {
			p++;
			continue;
		}
		if (p[0] == '}' && p[1] == '}') {
			p++;
			continue;
		}
		if (*p == '{') {
			const char *end;
			if (placeholder_at(p + 1, &end) < 0) {
				const char *q = strchr(p, '}');
				an_err_set(e, "template: unknown placeholder \"%.*s\" (known: {callees}; "
						"write {{ for a brace)", q ? (int)(q - p + 1) : 12, p);
				return -1;
			}
			p = end - 1;
		}
	}
	return 0;
}

static int grow(char **out, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap : 256;
	while (nc < need)
		nc *= 2;
	char *n = realloc(*out, nc);
	if (!n)
		return -1;
	*out = n;
	*cap = nc;
	return 0;
}

static int put(char **out, size_t *cap, size_t *len, const char *s, size_t n)
{
	if (grow(out, cap, *len + n + 1) < 0)
		return -1;
	memcpy(*out + *len, s, n);
	*len += n;
	(*out)[*len] = 0;
	return 0;
}

long llmdec_render(const char *tmpl, const rec *r, int max_callees, char **out, size_t *cap,
		an_err *e)
{
	size_t len = 0;
	const char *line = tmpl;

	if (grow(out, cap, 1) < 0)
		goto oom;
	(*out)[0] = 0;
	/* the callees value */
	const msgpack_object *cv = NULL;
	size_t ncall = 0;
	if (rec_has(r, F_CALLEES) && rec_get_strv(r, F_CALLEES, &cv, &ncall, e) < 0)
		return -1;
	if ((int)ncall > max_callees)
		ncall = (size_t)max_callees;
	while (*line) {
		const char *nl = strchr(line, '\n');
		const char *lend = nl ? nl + 1 : line + strlen(line);
		size_t start = len;
		int drop = 0;

		for (const char *p = line; p < lend; p++) {
			if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
				if (put(out, cap, &len, p, 1) < 0)
					goto oom;
				p++;
				continue;
			}
			const char *end;
			int k = *p == '{' ? placeholder_at(p + 1, &end) : -1;
			if (k < 0) {
				if (put(out, cap, &len, p, 1) < 0)
					goto oom;
				continue;
			}
			/* k == 0: callees */
			if (ncall == 0)
				drop = 1;
			for (size_t i = 0; i < ncall; i++) {
				const msgpack_object *o = &cv[i];
				if (o->type != MSGPACK_OBJECT_STR)
					continue;
				if ((i && put(out, cap, &len, ", ", 2) < 0) ||
				    put(out, cap, &len, o->via.str.ptr, o->via.str.size) < 0)
					goto oom;
			}
			p = end - 1;
		}
		if (drop) {
			len = start;
			(*out)[len] = 0;
		}
		line = lend;
	}
	return (long)len;
oom:
	an_err_set(e, "template: out of memory");
	return -1;
}

/* ------------------------------------------------------------- decoding */

#define TEXT_MAX 512      /* bytes of generated text kept a row */

typedef struct row {
	int      alive;        /* greedy / sampling: still generating */
	double   logp;
	int      ntok;
	int32_t  last;         /* last token fed */
	size_t   tlen;
	char     text[TEXT_MAX];
	gen_rng  rng;
} row;

struct llmdec {
	llm         *m;
	const bpe   *tok;
	llmdec_opts  o;
	int          max_jobs, max_rows;
	llm_ctx     *ctx;
	int32_t      eos[64];
	int          neos;
	float       *logits;       /* [max_rows, V] */
	float       *plog;         /* [max_jobs, V] prefill logits */
	float       *lp;           /* [n, V] log-probabilities of a job's live beams */
	void        *work;         /* gen_sample scratch */
	row         *rows, *rows2; /* [max_rows] */
	int32_t     *next;         /* [max_rows] */
	int         *src;          /* [max_rows] */
	int         *parent;       /* [n] */
	llm_seq     *seqs;         /* [max_jobs] */
	gen_beam    *beams;        /* [max_jobs] (beam mode) */
	int          nbeams;       /* initialized ones */
	const char **names;        /* [n] vote scratch */
	size_t      *lens;
	double      *vlogp;
	gen_vote    *votes;
	char        *namebuf;      /* [n, LLMDEC_NAME_MAX] */
};

void llmdec_free(llmdec *g)
{
	if (!g)
		return;
	llm_ctx_free(g->ctx);
	for (int i = 0; i < g->nbeams; i++)
		gen_beam_free(&g->beams[i]);
	free(g->beams);
	free(g->logits);
	free(g->plog);
	free(g->lp);
	free(g->work);
	free(g->rows);
	free(g->rows2);
	free(g->next);
	free(g->src);
	free(g->parent);
	free(g->seqs);
	free(g->names);
	free(g->lens);
	free(g->vlogp);
	free(g->votes);
	free(g->namebuf);
	free(g);
}

llmdec *llmdec_new(llm *m, const bpe *tok, const llmdec_opts *o, int max_jobs, int max_prompt,
		an_err *e)
{
	llmdec *g = calloc(1, sizeof *g);
	int V = m->cfg.vocab;

	if (!g)
		goto oom;
	g->m = m;
	g->tok = tok;
	g->o = *o;
	if (g->o.mode == LLMDEC_GREEDY)
		g->o.n = 1;
	if (g->o.n < 1 || g->o.n > LLMDEC_MAX_CANDS || g->o.max_new < 1 || max_jobs < 1) {
		an_err_set(e, "llmdec: %d beams/samples (1..%d), %d new tokens, %d jobs", g->o.n,
				LLMDEC_MAX_CANDS, g->o.max_new, max_jobs);
		free(g);
		return NULL;
	}
	g->max_jobs = max_jobs;
	g->max_rows = max_jobs * g->o.n;
	/* the stop set: config.json, then the tokenizer's */
	for (int i = 0; i < m->cfg.n_eos && g->neos < 64; i++)
		g->eos[g->neos++] = m->cfg.eos[i];
	if (tok) {
		const int32_t *te;
		int n = bpe_eos(tok, &te);
		for (int i = 0; i < n && g->neos < 64; i++) {
			int dup = 0;
			for (int j = 0; j < g->neos; j++)
				dup |= g->eos[j] == te[i];
			if (!dup)
				g->eos[g->neos++] = te[i];
		}
	}
	g->ctx = llm_ctx_new(m, g->max_rows, max_prompt + g->o.max_new + 1, 0, e);
	if (!g->ctx) {
		llmdec_free(g);
		return NULL;
	}
	size_t R = (size_t)g->max_rows, J = (size_t)max_jobs, n = (size_t)g->o.n;
	g->logits = malloc(R * V * sizeof *g->logits);
	g->plog = malloc(J * V * sizeof *g->plog);
	g->lp = malloc(n * V * sizeof *g->lp);
	g->work = malloc(gen_sample_work(V));
	g->rows = calloc(R, sizeof *g->rows);
	g->rows2 = calloc(R, sizeof *g->rows2);
	g->next = calloc(R, sizeof *g->next);
	g->src = calloc(R, sizeof *g->src);
	g->parent = calloc(n, sizeof *g->parent);
	g->seqs = calloc(J, sizeof *g->seqs);
	g->names = calloc(n, sizeof *g->names);
	g->lens = calloc(n, sizeof *g->lens);
	g->vlogp = calloc(n, sizeof *g->vlogp);
	g->votes = calloc(n, sizeof *g->votes);
	g->namebuf = calloc(n, LLMDEC_NAME_MAX);
	if (!g->logits || !g->plog || !g->lp || !g->work || !g->rows || !g->rows2 || !g->next ||
	    !g->src || !g->parent || !g->seqs || !g->names || !g->lens || !g->vlogp || !g->votes ||
	    !g->namebuf)
		goto oom2;
	if (g->o.mode == LLMDEC_BEAM) {
		if (!(g->beams = calloc(J, sizeof *g->beams)))
			goto oom2;
		for (; g->nbeams < max_jobs; g->nbeams++)
			if (gen_beam_init(&g->beams[g->nbeams], g->o.n, g->o.max_new,
					  g->o.length_penalty, 0) < 0)
				goto oom2;
	}
	return g;
oom2:
	llmdec_free(g);
oom:
	an_err_set(e, "llmdec: out of memory");
	return NULL;
}

static int is_eos(const llmdec *g, int32_t t)
{
	for (int i = 0; i < g->neos; i++)
		if (g->eos[i] == t)
			return 1;
	return 0;
}

/* 1 when token t ends a row whose text is r's: EOS, the identifier's end,
 * or a text too long to keep. */
static int ends_with(const llmdec *g, const row *r, int32_t t, const char **b, size_t *n)
{
	*n = 0;
	*b = NULL;
	if (is_eos(g, t))
		return !g->o.no_stop;
	*b = bpe_token_bytes(g->tok, t, n);
	if (!*b)
		*n = 0;
	if (g->o.no_stop)
		return 0;
	return gen_ident_ends(r->text, r->tlen, *b ? *b : "", *n) || r->tlen + *n >= TEXT_MAX;
}

static void append(row *r, const char *b, size_t n)
{
	if (r->tlen + n > TEXT_MAX)
		n = TEXT_MAX - r->tlen;
	memcpy(r->text + r->tlen, b, n);
	r->tlen += n;
}

/* Take token t into r; 1 when the row ends with it. */
static int row_take(llmdec *g, row *r, int32_t t, double lp)
{
	const char *b;
	size_t n;
	int end = ends_with(g, r, t, &b, &n);

	r->logp += lp;
	r->ntok++;
	r->last = t;
	if (b)
		append(r, b, n);
	return end || r->ntok >= g->o.max_new;
}

static void add_cand(llmdec_result *res, const char *name, double logp, int votes, int maxc)
{
	for (int i = 0; i < res->ncand; i++)
		if (strcmp(res->cand[i].name, name) == 0)
			return;      /* candidates come best first: keep the first */
	if (res->ncand >= maxc)
		return;
	llmdec_cand *c = &res->cand[res->ncand++];
	snprintf(c->name, sizeof c->name, "%s", name);
	c->logp = (float)logp;
	c->votes = votes;
}

/* gen_beam's final-token callback. */
typedef struct beam_cb {
	llmdec *g;
	int     base;       /* first row of the job */
} beam_cb;

static int beam_final(void *ctx, const gen_beam *b, int beam, int32_t tok)
{
	beam_cb *c = ctx;
	const char *bytes;
	size_t n;

	(void)b;
	return ends_with(c->g, &c->g->rows[c->base + beam], tok, &bytes, &n);
}

/* One beam step of job j: rows [j*n, j*n + nlive) are its live beams. */
static int beam_job(llmdec *g, int j, int V)
{
	int n = g->o.n, base = j * n;
	gen_beam *b = &g->beams[j];
	int nlive = b->nlive;
	beam_cb cb = {g, base};

	for (int i = 0; i < nlive; i++)
		gen_log_softmax(g->logits + (size_t)(base + i) * V, g->lp + (size_t)i * V, V);
	int step = b->step;
	int now = gen_beam_step(b, g->lp, V, beam_final, &cb, g->parent);
	/* the new live beams extend their parents by one token (also when the
	 * search just ended: harmless) */
	int live = now ? now : 0;
	for (int i = 0; i < live; i++) {
		row nr = g->rows[base + g->parent[i]];
		int32_t t = b->live[(size_t)i * b->maxlen + step];
		size_t tn = 0;
		const char *bytes = bpe_token_bytes(g->tok, t, &tn);
		if (bytes)
			append(&nr, bytes, tn);
		nr.ntok++;
		nr.last = t;
		g->rows2[base + i] = nr;
		g->src[base + i] = base + g->parent[i];
		g->next[base + i] = t;
	}
	for (int i = live; i < n; i++) {       /* idle rows: anything valid */
		g->rows2[base + i] = g->rows[base];
		g->src[base + i] = base;
		g->next[base + i] = 0;
	}
	return live;
}

/* The text of a beam hypothesis (its tokens' bytes, EOS left out). */
static size_t hyp_text(const llmdec *g, const gen_hyp *h, char *out, size_t cap)
{
	size_t len = 0;

	for (int k = 0; k < h->len; k++) {
		size_t n = 0;
		const char *b = is_eos(g, h->tok[k]) ? NULL : bpe_token_bytes(g->tok, h->tok[k], &n);
		if (!b)
			continue;
		if (len + n > cap)
			n = cap - len;
		memcpy(out + len, b, n);
		len += n;
	}
	return len;
}

static void finish_beam(llmdec *g, int j, llmdec_result *res)
{
	gen_beam *b = &g->beams[j];
	char text[TEXT_MAX], name[LLMDEC_NAME_MAX];
	int nonempty = 0;

	if (!b->done)
		gen_beam_finish(b);
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < b->nfin; i++) {
			size_t tl = hyp_text(g, &b->fin[i], text, sizeof text);
			gen_clean_name(text, tl, name, sizeof name);
			if (pass == 0)
				nonempty |= name[0] != 0;
			else if (name[0] || !nonempty)
				add_cand(res, name, b->fin[i].logp, 1, g->o.n);
		}
}

static void finish_samples(llmdec *g, int j, llmdec_result *res)
{
	int n = g->o.n, base = j * n;

	for (int i = 0; i < n; i++) {
		row *r = &g->rows[base + i];
		char *nm = g->namebuf + (size_t)i * LLMDEC_NAME_MAX;
		g->lens[i] = gen_clean_name(r->text, r->tlen, nm, LLMDEC_NAME_MAX);
		g->names[i] = nm;
		g->vlogp[i] = r->logp;
	}
	int ng = gen_vote_names(g->names, g->lens, g->vlogp, n, g->votes, n);
	for (int k = 0; k < ng && k < n; k++)
		add_cand(res, g->names[g->votes[k].first], g->votes[k].max_logp, g->votes[k].count, n);
	if (ng == 0)     /* every name empty: the best sample's logp */
		for (int i = 0; i < n; i++)
			if (res->ncand == 0 || g->vlogp[i] > res->cand[0].logp) {
				res->ncand = 1;
				res->cand[0].name[0] = 0;
				res->cand[0].logp = (float)g->vlogp[i];
				res->cand[0].votes = n;
			}
}

int llmdec_run(llmdec *g, const llmdec_job *jobs, int J, llmdec_result *res, an_err *e)
{
	llm *m = g->m;
	int V = m->cfg.vocab, n = g->o.n, R = J * n;

	if (J < 1 || J > g->max_jobs) {
		an_err_set(e, "llmdec: %d jobs, made for 1..%d", J, g->max_jobs);
		return -1;
	}
	for (int j = 0; j < J; j++) {
		g->seqs[j] = (llm_seq){jobs[j].pre, jobs[j].npre, jobs[j].ids, jobs[j].nids};
		memset(&res[j], 0, sizeof res[j]);
		if (g->o.mode == LLMDEC_BEAM) {
			gen_beam *b = &g->beams[j];
			int nb = b->nbeam, ml = b->maxlen, es = b->early_stop;
			double lp = b->len_penalty;
			gen_beam_free(b);
			if (gen_beam_init(b, nb, ml, lp, es) < 0) {
				an_err_set(e, "llmdec: out of memory");
				return -1;
			}
		}
	}
	if (llm_prefill(g->ctx, g->seqs, J, 0, g->plog, NULL, e) < 0)
		return -1;
	/* fork each job into its n rows */
	for (int r = 0; r < R; r++) {
		int j = r / n;
		row *w = &g->rows[r];
		g->src[r] = j;
		w->alive = 1;
		w->logp = 0;
		w->ntok = 0;
		w->last = 0;
		w->tlen = 0;
		gen_rng_seed(&w->rng, jobs[j].seed * 0x9E3779B97F4A7C15ull + (uint64_t)(r % n));
		memcpy(g->logits + (size_t)r * V, g->plog + (size_t)j * V, (size_t)V * sizeof(float));
	}
	if (n > 1 && llm_ctx_select(g->ctx, g->src, R, e) < 0)
		return -1;
	gen_sample_opts so = {g->o.temperature, 0, g->o.top_p};
	for (int step = 0; step < g->o.max_new; step++) {
		int any = 0;
		if (g->o.mode == LLMDEC_BEAM) {
			for (int j = 0; j < J; j++) {
				gen_beam *b = &g->beams[j];
				if (!b->done && b->nlive > 0)
					any |= beam_job(g, j, V) > 0;
				else
					for (int i = 0; i < n; i++) {
						g->rows2[j * n + i] = g->rows[j * n + i];
						g->src[j * n + i] = j * n + i;
						g->next[j * n + i] = 0;
					}
			}
			row *t = g->rows;
			g->rows = g->rows2;
			g->rows2 = t;
			if (!any)
				break;
			if (llm_ctx_select(g->ctx, g->src, R, e) < 0)
				return -1;
		} else {
			for (int r = 0; r < R; r++) {
				row *w = &g->rows[r];
				if (!w->alive) {
					g->next[r] = w->last;
					continue;
				}
				const float *lg = g->logits + (size_t)r * V;
				int32_t t = g->o.mode == LLMDEC_SAMPLE ? gen_sample(lg, V, &so, &w->rng, g->work)
								       : gen_greedy(lg, V);
				gen_log_softmax(lg, g->lp, V);
				if (row_take(g, w, t, g->lp[t]))
					w->alive = 0;
				g->next[r] = t;
				any |= w->alive;
			}
			if (!any)
				break;
		}
		if (step + 1 < g->o.max_new && llm_step(g->ctx, g->next, g->logits, e) < 0)
			return -1;
	}
	for (int j = 0; j < J; j++) {
		llmdec_result *rs = &res[j];
		char name[LLMDEC_NAME_MAX];
		for (int i = 0; i < n; i++)
			rs->tokens += g->rows[j * n + i].ntok;
		if (g->o.mode == LLMDEC_BEAM)
			finish_beam(g, j, rs);
		else if (g->o.mode == LLMDEC_SAMPLE)
			finish_samples(g, j, rs);
		else {
			row *w = &g->rows[j];
			gen_clean_name(w->text, w->tlen, name, sizeof name);
			add_cand(rs, name, w->logp, 1, 1);
		}
		if (rs->ncand)
			snprintf(rs->pred, sizeof rs->pred, "%s", rs->cand[0].name);
	}
	return 0;
}
