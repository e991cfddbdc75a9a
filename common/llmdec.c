/* llmdec.c: batched identifier decoding with the decoder LLM (llmdec.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fields.h"
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
}

/* ------------------------------------------------------------- identifiers */

static int ident_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

void llmdec_ident_init(llmdec_ident *s)
{
	memset(s, 0, sizeof *s);
}

int llmdec_ident_feed(llmdec_ident *s, const char *bytes, size_t n)
{
	for (size_t i = 0; i < n && !s->ended; i++) {
		unsigned char c = (unsigned char)bytes[i];

		if (ident_byte(c)) {
			s->started = 1;
			if (s->len < LLMDEC_NAME_MAX - 1)
				s->name[s->len++] = (char)c;
		} else if (s->started || !(c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
					   c == '"' || c == '\'' || c == '`'))
			s->ended = 1;
	}
	s->name[s->len] = 0;
	return s->ended;
}

void llmdec_ident_clean(const llmdec_ident *s, char *out)
{
	size_t n = s->len;

	if (n && s->name[0] >= '0' && s->name[0] <= '9') {
		out[0] = '_';
		if (n > LLMDEC_NAME_MAX - 2)
			n = LLMDEC_NAME_MAX - 2;
		memcpy(out + 1, s->name, n);
		out[n + 1] = 0;
	} else {
		memcpy(out, s->name, n);
		out[n] = 0;
	}
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

typedef struct row {
	int          job;
	int          alive;        /* still generating */
	double       logp;
	int          ntok;
	int32_t      last;         /* last token fed */
	llmdec_ident id;
	uint64_t     rng;
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
	double      *lp;           /* [V] log-probabilities of one row */
	double      *w;            /* [V] sampling weights */
	int         *order;        /* [V] scratch */
	row         *rows, *rows2; /* [max_rows] */
	int32_t     *next;         /* [max_rows] */
	int         *src;          /* [max_rows] */
	llm_seq     *seqs;         /* [max_jobs] */
	/* beam: per job, finished hypotheses */
	llmdec_cand *fin;          /* [max_jobs, LLMDEC_MAX_CANDS] */
	double      *finscore;     /* same */
	int         *nfin;         /* [max_jobs] */
	int         *jobdone;      /* [max_jobs] */
};

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double uniform01(uint64_t *s)
{
	return (double)(splitmix(s) >> 11) * (1.0 / 9007199254740992.0);
}

void llmdec_free(llmdec *g)
{
	if (!g)
		return;
	llm_ctx_free(g->ctx);
	free(g->logits);
	free(g->plog);
	free(g->lp);
	free(g->w);
	free(g->order);
	free(g->rows);
	free(g->rows2);
	free(g->next);
	free(g->src);
	free(g->seqs);
	free(g->fin);
	free(g->finscore);
	free(g->nfin);
	free(g->jobdone);
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
	size_t R = (size_t)g->max_rows, J = (size_t)max_jobs;
	g->logits = malloc(R * V * sizeof *g->logits);
	g->plog = malloc(J * V * sizeof *g->plog);
	g->lp = malloc((size_t)V * sizeof *g->lp);
	g->w = malloc((size_t)V * sizeof *g->w);
	g->order = malloc((size_t)V * sizeof *g->order);
	g->rows = calloc(R, sizeof *g->rows);
	g->rows2 = calloc(R, sizeof *g->rows2);
	g->next = calloc(R, sizeof *g->next);
	g->src = calloc(R, sizeof *g->src);
	g->seqs = calloc(J, sizeof *g->seqs);
	g->fin = calloc(J * LLMDEC_MAX_CANDS, sizeof *g->fin);
	g->finscore = calloc(J * LLMDEC_MAX_CANDS, sizeof *g->finscore);
	g->nfin = calloc(J, sizeof *g->nfin);
	g->jobdone = calloc(J, sizeof *g->jobdone);
	if (!g->logits || !g->plog || !g->lp || !g->w || !g->order || !g->rows || !g->rows2 || !g->next ||
	    !g->src || !g->seqs || !g->fin || !g->finscore || !g->nfin || !g->jobdone) {
		llmdec_free(g);
		goto oom;
	}
	return g;
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

/* log_softmax of x[V] into lp (double). */
static void log_softmax(const float *x, int V, double *lp)
{
	double mx = -INFINITY, s = 0;

	for (int i = 0; i < V; i++)
		if (x[i] > mx)
			mx = x[i];
	for (int i = 0; i < V; i++)
		s += exp((double)x[i] - mx);
	double lse = mx + log(s);
	for (int i = 0; i < V; i++)
		lp[i] = (double)x[i] - lse;
}

static int argmax_d(const double *x, int V)
{
	int b = 0;

	for (int i = 1; i < V; i++)
		if (x[i] > x[b])
			b = i;
	return b;
}

static const double *sort_key;
static int by_key_desc(const void *a, const void *b)
{
	double x = sort_key[*(const int *)a], y = sort_key[*(const int *)b];

	if (x != y)
		return x > y ? -1 : 1;
	return *(const int *)a - *(const int *)b;
}

/* Temperature + nucleus sampling from log-probabilities lp[V]. */
static int sample(llmdec *g, const double *lp, int V, uint64_t *rng)
{
	double T = g->o.temperature > 0 ? g->o.temperature : 1e-6;
	double *w = g->w;
	int n = 0;
	double mx = lp[argmax_d(lp, V)], tot = 0;

	/* tempered weights; tokens below 1e-12 of the best are left out (their
	 * total mass is below V * 1e-12) */
	for (int i = 0; i < V; i++) {
		w[i] = exp((lp[i] - mx) / T);
		if (w[i] >= 1e-12) {
			g->order[n++] = i;
			tot += w[i];
		}
	}
	sort_key = w;
	qsort(g->order, (size_t)n, sizeof *g->order, by_key_desc);
	/* the smallest prefix whose mass reaches top_p */
	double acc = 0, lim = g->o.top_p > 0 && g->o.top_p < 1 ? g->o.top_p * tot : tot;
	int k = 0;
	while (k < n) {
		acc += w[g->order[k++]];
		if (acc >= lim)
			break;
	}
	double u = uniform01(rng) * acc, c = 0;
	for (int i = 0; i < k; i++) {
		c += w[g->order[i]];
		if (u < c)
			return g->order[i];
	}
	return g->order[k - 1];
}

/* Feed token t to row r: its bytes into the identifier state; returns 1 when
 * the row ends with it. */
static int row_take(llmdec *g, row *r, int32_t t, double lp)
{
	r->logp += lp;
	r->ntok++;
	r->last = t;
	if (is_eos(g, t))
		return 1;
	size_t n;
	const char *b = bpe_token_bytes(g->tok, t, &n);
	if (b && llmdec_ident_feed(&r->id, b, n))
		return 1;
	return r->ntok >= g->o.max_new;
}

static void add_cand(llmdec_result *res, const char *name, double logp, int maxc)
{
	for (int i = 0; i < res->ncand; i++)
		if (strcmp(res->cand[i].name, name) == 0) {
			res->cand[i].votes++;
			if (logp > res->cand[i].logp)
				res->cand[i].logp = (float)logp;
			return;
		}
	if (res->ncand >= maxc)
		return;
	llmdec_cand *c = &res->cand[res->ncand++];
	snprintf(c->name, sizeof c->name, "%s", name);
	c->logp = (float)logp;
	c->votes = 1;
}

static int cand_vote_cmp(const void *a, const void *b)
{
	const llmdec_cand *x = a, *y = b;

	if (x->votes != y->votes)
		return y->votes - x->votes;
	if (x->logp != y->logp)
		return x->logp > y->logp ? -1 : 1;
	return strcmp(x->name, y->name);
}

static double beam_score(const llmdec *g, double logp, int len)
{
	return g->o.length_penalty ? logp / pow((double)(len > 0 ? len : 1), g->o.length_penalty) : logp;
}

/* Beam bookkeeping for job j, rows [j*n, j*n+n): pick the next n rows from
 * the n*V continuations; ended ones go to the finished list. */
static void beam_job(llmdec *g, int j, int V)
{
	int n = g->o.n, want = 2 * n;
	row *rows = g->rows + j * n;
	/* the best 2n (score, row, token) by a small insertion list */
	double bs[2 * LLMDEC_MAX_CANDS];
	int br[2 * LLMDEC_MAX_CANDS], bt[2 * LLMDEC_MAX_CANDS], nb = 0;

	for (int i = 0; i < n; i++) {
		row *r = &rows[i];
		if (!r->alive)
			continue;
		log_softmax(g->logits + (size_t)(j * n + i) * V, V, g->lp);
		for (int t = 0; t < V; t++) {
			double s = r->logp + g->lp[t];
			if (nb == want && s <= bs[nb - 1])
				continue;
			int k = nb < want ? nb++ : nb - 1;
			while (k > 0 && bs[k - 1] < s) {
				bs[k] = bs[k - 1];
				br[k] = br[k - 1];
				bt[k] = bt[k - 1];
				k--;
			}
			bs[k] = s;
			br[k] = i;
			bt[k] = t;
		}
	}
	int kept = 0;
	for (int k = 0; k < nb && kept < n; k++) {
		row nr = rows[br[k]];
		double lp = bs[k] - nr.logp;
		int ended = row_take(g, &nr, bt[k], lp);
		if (ended) {
			/* a finished hypothesis; one that ended before any identifier
			 * (an empty name) is dropped */
			if (nr.id.len && g->nfin[j] < LLMDEC_MAX_CANDS) {
				int f = j * LLMDEC_MAX_CANDS + g->nfin[j]++;
				llmdec_ident_clean(&nr.id, g->fin[f].name);
				g->fin[f].logp = (float)nr.logp;
				g->fin[f].votes = 1;
				g->finscore[f] = beam_score(g, nr.logp, nr.ntok);
			}
			continue;
		}
		g->rows2[j * n + kept] = nr;
		g->src[j * n + kept] = j * n + br[k];
		kept++;
	}
	/* done when nothing is alive, or when n hypotheses have ended and the
	 * best alive one scores no better than the n-th of them (exact for
	 * length_penalty 0: scores only fall as tokens are added) */
	if (kept == 0)
		g->jobdone[j] = 1;
	else if (g->nfin[j] >= n) {
		double sc[LLMDEC_MAX_CANDS];
		int nf = g->nfin[j];
		for (int i = 0; i < nf; i++)
			sc[i] = g->finscore[j * LLMDEC_MAX_CANDS + i];
		for (int i = 0; i < n; i++)           /* partial selection: n-th best at sc[n-1] */
			for (int k2 = i + 1; k2 < nf; k2++)
				if (sc[k2] > sc[i]) {
					double t = sc[i];
					sc[i] = sc[k2];
					sc[k2] = t;
				}
		const row *best = &g->rows2[j * n];
		if (beam_score(g, best->logp, best->ntok) <= sc[n - 1])
			g->jobdone[j] = 1;
	}
	for (int i = kept; i < n; i++) {
		/* filler rows: copies of the best, marked dead */
		g->rows2[j * n + i] = kept ? g->rows2[j * n] : rows[0];
		g->rows2[j * n + i].alive = 0;
		g->src[j * n + i] = kept ? g->src[j * n] : j * n;
	}
	if (g->jobdone[j])
		for (int i = 0; i < n; i++)
			g->rows2[j * n + i].alive = 0;
	for (int i = 0; i < n; i++)
		g->next[j * n + i] = g->rows2[j * n + i].last;
}

static void finish_beam(llmdec *g, int j, llmdec_result *res)
{
	int n = g->o.n;
	/* rows still alive at the end count as ended (not when the job was
	 * already done: those could not beat the ended ones) */
	for (int i = 0; i < n && !g->jobdone[j]; i++) {
		row *r = &g->rows[j * n + i];
		if (r->alive && r->id.len && g->nfin[j] < LLMDEC_MAX_CANDS) {
			int f = j * LLMDEC_MAX_CANDS + g->nfin[j]++;
			llmdec_ident_clean(&r->id, g->fin[f].name);
			g->fin[f].logp = (float)r->logp;
			g->finscore[f] = beam_score(g, r->logp, r->ntok);
		}
	}
	/* rank by score (selection sort: at most 32) */
	int idx[LLMDEC_MAX_CANDS], nf = g->nfin[j];
	for (int i = 0; i < nf; i++)
		idx[i] = j * LLMDEC_MAX_CANDS + i;
	for (int i = 0; i < nf; i++)
		for (int k = i + 1; k < nf; k++)
			if (g->finscore[idx[k]] > g->finscore[idx[i]]) {
				int t = idx[i];
				idx[i] = idx[k];
				idx[k] = t;
			}
	for (int i = 0; i < nf; i++) {
		int before = res->ncand;
		add_cand(res, g->fin[idx[i]].name, g->fin[idx[i]].logp, n);
		if (res->ncand == before) /* a repeat keeps its first (best) logp */
			continue;
	}
	for (int i = 0; i < res->ncand; i++)
		res->cand[i].votes = 1;
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
		g->nfin[j] = 0;
		g->jobdone[j] = 0;
	}
	if (llm_prefill(g->ctx, g->seqs, J, 0, g->plog, NULL, e) < 0)
		return -1;
	/* fork each job into its n rows */
	for (int r = 0; r < R; r++) {
		int j = r / n;
		g->src[r] = j;
		row *w = &g->rows[r];
		memset(w, 0, sizeof *w);
		w->job = j;
		w->alive = 1;
		w->rng = jobs[j].seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(r % n + 1));
		llmdec_ident_init(&w->id);
		memcpy(g->logits + (size_t)r * V, g->plog + (size_t)j * V, (size_t)V * sizeof(float));
	}
	if (n > 1 && llm_ctx_select(g->ctx, g->src, R, e) < 0)
		return -1;
	if (g->o.mode == LLMDEC_BEAM)
		for (int r = 0; r < R; r++)
			if (r % n)   /* beams start as one: the others wait for step 1's split */
				g->rows[r].logp = -INFINITY;
	for (int step = 0; step < g->o.max_new; step++) {
		int any = 0;
		if (g->o.mode == LLMDEC_BEAM) {
			for (int j = 0; j < J; j++)
				if (!g->jobdone[j])
					beam_job(g, j, V);
				else
					for (int i = 0; i < n; i++) {
						g->rows2[j * n + i] = g->rows[j * n + i];
						g->src[j * n + i] = j * n + i;
						g->next[j * n + i] = g->rows[j * n + i].last;
					}
			row *t = g->rows;
			g->rows = g->rows2;
			g->rows2 = t;
			for (int r = 0; r < R; r++)
				any |= g->rows[r].alive;
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
				log_softmax(g->logits + (size_t)r * V, V, g->lp);
				int t = g->o.mode == LLMDEC_SAMPLE ? sample(g, g->lp, V, &w->rng)
								   : argmax_d(g->lp, V);
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
		for (int i = 0; i < n; i++)
			rs->tokens += g->rows[j * n + i].ntok;
		if (g->o.mode == LLMDEC_BEAM)
			finish_beam(g, j, rs);
		else {
			int nonempty = 0;
			for (int i = 0; i < n; i++)
				nonempty |= g->rows[j * n + i].id.len > 0;
			for (int i = 0; i < n; i++) {
				row *w = &g->rows[j * n + i];
				char name[LLMDEC_NAME_MAX];
				llmdec_ident_clean(&w->id, name);
				if (nonempty && !name[0])
					continue;
				add_cand(rs, name, w->logp, LLMDEC_MAX_CANDS);
			}
			if (g->o.mode == LLMDEC_SAMPLE)
				qsort(rs->cand, (size_t)rs->ncand, sizeof rs->cand[0], cand_vote_cmp);
		}
		if (rs->ncand)
			snprintf(rs->pred, sizeof rs->pred, "%s", rs->cand[0].name);
	}
	return 0;
}
