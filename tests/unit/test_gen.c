/* test_gen.c: common/gen on hand-computed cases. */
#include "test.h"

#include <stdint.h>

#include "gen.h"

static void test_rng(void)
{
	gen_rng r = { { 1, 2, 3, 4 } }, a, b;
	uint64_t want[4] = { 11520ull, 0ull, 1509978240ull, 1215971899390074240ull };
	int ok = 1;
	double mean = 0;

	/* the reference xoshiro256** outputs for state {1, 2, 3, 4} */
	for (int i = 0; i < 4; i++)
		if (gen_rng_next(&r) != want[i])
			ok = 0;
	CHECK(ok, "gen rng xoshiro256** reference values", "sequence differs");
	/* splitmix64 seeding: seed 42 gives this first output (computed by hand in Python) */
	gen_rng_seed(&a, 42);
	CHECK(gen_rng_next(&a) == 1546998764402558742ull, "gen rng seed 42", "first output differs");
	gen_rng_seed(&a, 7);
	gen_rng_seed(&b, 7);
	ok = 1;
	for (int i = 0; i < 100; i++)
		if (gen_rng_next(&a) != gen_rng_next(&b))
			ok = 0;
	CHECK(ok, "gen rng same seed same stream", "streams differ");
	for (int i = 0; i < 100000; i++) {
		double u = gen_rng_uniform(&a);

		if (u < 0 || u >= 1)
			ok = 0;
		mean += u;
	}
	mean /= 100000;
	CHECK(ok && fabs(mean - 0.5) < 0.005, "gen rng uniform in [0,1)", "mean %g", mean);
}

static void test_softmax_greedy(void)
{
	float x[3] = { 1, 2, 3 }, y[3];
	float lse = gen_log_softmax(x, y, 3);
	/* logsumexp(1,2,3) = 3 + log(1 + e^-1 + e^-2) = 3.4076059644 */
	float big[2] = { 1000, 1000 }, yb[2];
	float m[3] = { -INFINITY, 0, -INFINITY }, ym[3];
	float g[5] = { 1, 3, NAN, 3, 2 }, allnan[2] = { NAN, NAN };

	CHECK(fabsf(lse - 3.4076059644f) < 1e-5 && fabsf(y[0] + 2.4076059644f) < 1e-5 &&
	      fabsf(y[2] + 0.4076059644f) < 1e-5, "gen log_softmax values", "lse %g y %g %g %g", lse, y[0], y[1], y[2]);
	gen_log_softmax(big, yb, 2);
	CHECK(fabsf(yb[0] + 0.6931472f) < 1e-5, "gen log_softmax large logits", "%g", yb[0]);
	gen_log_softmax(m, ym, 3);
	CHECK(ym[1] == 0 && ym[0] == -INFINITY, "gen log_softmax masked", "%g %g", ym[0], ym[1]);
	gen_log_softmax(x, x, 3);
	CHECK(fabsf(x[1] + 1.4076059644f) < 1e-5, "gen log_softmax in place", "%g", x[1]);
	CHECK(gen_greedy(g, 5) == 1, "gen greedy first max, NaN skipped", "%d", gen_greedy(g, 5));
	CHECK(gen_greedy(allnan, 2) == -1 && gen_greedy(g, 0) == -1, "gen greedy nothing", "failed");
	{
		/* ids 0 (twice), 1 and an out-of-range one; penalty 2: 2 -> 1, -2 -> -4 */
		float r[12] = { 2, -2, 1, 0.5f, 0, 0, 0, 0, 0, 0, 0, 3 };
		int32_t prev[5] = { 0, 1, 0, 99, 11 };
		unsigned char seen[2] = { 0, 0 };

		gen_repetition_penalty(r, 12, prev, 5, 2.0f, seen);
		CHECK(r[0] == 1 && r[1] == -4 && r[2] == 1 && r[3] == 0.5f && r[11] == 1.5f && seen[0] == 0 &&
		      seen[1] == 0, "gen repetition penalty", "%g %g %g %g", r[0], r[1], r[2], r[11]);
	}
}

/* Draw many tokens and count them. */
static void draw(const float *l, int n, gen_sample_opts o, uint64_t seed, int times, int *count)
{
	gen_rng r;
	void *w = malloc(gen_sample_work(n));

	gen_rng_seed(&r, seed);
	memset(count, 0, n * sizeof *count);
	for (int i = 0; i < times; i++) {
		int32_t t = gen_sample(l, n, &o, &r, w);

		if (t >= 0 && t < n)
			count[t]++;
	}
	free(w);
}

static void test_sample(void)
{
	/* p = 0.5, 0.3, 0.15, 0.05 */
	float l[4] = { logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f) };
	float ties[5] = { 1, 3, 3, 3, 0 };
	int c[5], N = 40000;
	gen_sample_opts o;

	o = (gen_sample_opts){ 0, 0, 1 };
	draw(l, 4, o, 1, 100, c);
	CHECK(c[0] == 100, "gen sample temperature 0 is greedy", "%d", c[0]);
	o = (gen_sample_opts){ 1, 1, 1 };
	draw(l, 4, o, 2, 100, c);
	CHECK(c[0] == 100, "gen sample top_k 1 is greedy", "%d", c[0]);
	o = (gen_sample_opts){ 1, 0, 0.01f };
	draw(l, 4, o, 3, 100, c);
	CHECK(c[0] == 100, "gen sample tiny top_p keeps the best", "%d", c[0]);
	/* plain: frequencies follow p */
	o = (gen_sample_opts){ 1, 0, 1 };
	draw(l, 4, o, 4, N, c);
	CHECK(fabs(c[0] / (double)N - 0.5) < 0.01 && fabs(c[1] / (double)N - 0.3) < 0.01 &&
	      fabs(c[3] / (double)N - 0.05) < 0.005, "gen sample plain frequencies", "%d %d %d %d", c[0], c[1], c[2], c[3]);
	/* top_p 0.75: mass before token 2 is 0.8 >= 0.75 -> keep {0, 1}: 0.625 / 0.375 */
	o = (gen_sample_opts){ 1, 0, 0.75f };
	draw(l, 4, o, 5, N, c);
	CHECK(c[2] == 0 && c[3] == 0 && fabs(c[0] / (double)N - 0.625) < 0.01, "gen sample top_p 0.75",
	      "%d %d %d %d", c[0], c[1], c[2], c[3]);
	/* top_p 0.85: mass before token 2 is 0.8 < 0.85 -> keep {0,1,2}: .5/.95 .3/.95 .15/.95 */
	o = (gen_sample_opts){ 1, 0, 0.85f };
	draw(l, 4, o, 6, N, c);
	CHECK(c[3] == 0 && c[2] > 0 && fabs(c[2] / (double)N - 0.15 / 0.95) < 0.01, "gen sample top_p 0.85",
	      "%d %d %d %d", c[0], c[1], c[2], c[3]);
	/* temperature 2: p ~ sqrt(p): .7071 .5477 .3873 .2236 / 1.8657 = .3790 .2936 .2076 .1199 */
	o = (gen_sample_opts){ 2, 0, 1 };
	draw(l, 4, o, 7, N, c);
	CHECK(fabs(c[0] / (double)N - 0.3790) < 0.01 && fabs(c[3] / (double)N - 0.1199) < 0.01,
	      "gen sample temperature 2", "%d %d %d %d", c[0], c[1], c[2], c[3]);
	/* top_k 2 keeps every token tied with the 2nd: ids 1, 2, 3 equally */
	o = (gen_sample_opts){ 1, 2, 1 };
	draw(ties, 5, o, 8, 30000, c);
	CHECK(c[0] == 0 && c[4] == 0 && c[1] > 9000 && c[2] > 9000 && c[3] > 9000, "gen sample top_k keeps ties",
	      "%d %d %d %d %d", c[0], c[1], c[2], c[3], c[4]);
	/* top_k 2 then top_p 0.5 over {0.5, 0.3}/0.8 = .625, .375: mass before token 1 is .625 >= .5 */
	o = (gen_sample_opts){ 1, 2, 0.5f };
	draw(l, 4, o, 9, 1000, c);
	CHECK(c[0] == 1000, "gen sample top_k then top_p", "%d %d", c[0], c[1]);
	/* the same seed gives the same draws */
	{
		int c2[4];

		o = (gen_sample_opts){ 0.7f, 3, 0.9f };
		draw(l, 4, o, 11, 500, c);
		draw(l, 4, o, 11, 500, c2);
		CHECK(memcmp(c, c2, sizeof c2) == 0, "gen sample reproducible", "failed");
	}
}

/* token 2 is EOS */
static int eos_final(void *ctx, const gen_beam *b, int beam, int32_t tok)
{
	(void)ctx;
	(void)b;
	(void)beam;
	return tok == 2;
}

static void fill(float *row, double a, double b, double c)
{
	row[0] = (float)log(a);
	row[1] = (float)log(b);
	row[2] = (float)log(c);
}

static const char *root(void)
{
	const char *r = getenv("ROOT");

	return r && *r ? r : ".";
}

static int parse_list(char *s, double *v, int cap)
{
	int n = 0;

	for (char *t = strtok(s, ","); t && n < cap; t = strtok(NULL, ","))
		v[n++] = strtod(t, NULL);
	return n;
}

/* gen_sample_filter against transformers' warpers (tests/gen/gen_gen.py). */
static void test_sample_golden(void)
{
	char path[4096], *line = NULL;
	size_t cap = 0;
	FILE *f;
	int ncase = 0, bad_set = 0, bad_p = 0;
	char why[256] = "";

	snprintf(path, sizeof path, "%s/tests/golden/gen/sample.tsv", root());
	f = fopen(path, "r");
	CHECK(f != NULL, "gen sample golden file", "%s missing", path);
	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		char *fld[7], *p = line;
		int nf = 0, V, nk, m;
		static double lg[1024], kept[1024], prob[1024], p2[1024];
		static float l32[1024];
		static int32_t ids[1024];
		static unsigned char work[1024 * 32];
		gen_sample_opts o;

		if (line[0] == '#')
			continue;
		line[strcspn(line, "\n")] = 0;
		while (nf < 7) {
			fld[nf++] = p;
			p = strchr(p, '\t');
			if (!p)
				break;
			*p++ = 0;
		}
		if (nf != 7)
			continue;
		o.temperature = strtof(fld[1], NULL);
		o.top_k = atoi(fld[2]);
		o.top_p = strtof(fld[3], NULL);
		V = parse_list(fld[4], lg, 1024);
		nk = parse_list(fld[5], kept, 1024);
		parse_list(fld[6], prob, 1024);
		for (int i = 0; i < V; i++)
			l32[i] = (float)lg[i];
		m = gen_sample_filter(l32, V, &o, work, ids, p2);
		ncase++;
		if (m != nk) {
			if (!bad_set)
				snprintf(why, sizeof why, "%s: %d kept, want %d", fld[0], m, nk);
			bad_set++;
			continue;
		}
		for (int i = 0; i < m; i++) {
			if (ids[i] != (int32_t)kept[i]) {
				if (!bad_set)
					snprintf(why, sizeof why, "%s: token %d is %d, want %d", fld[0], i, ids[i], (int)kept[i]);
				bad_set++;
				break;
			}
			if (fabs(p2[i] - prob[i]) > 1e-5 * prob[i] + 1e-7)
				bad_p++;
		}
	}
	free(line);
	fclose(f);
	CHECK(ncase > 30 && bad_set == 0, "gen sample filter = transformers' kept tokens", "%d of %d cases differ; %s",
	      bad_set, ncase, why);
	CHECK(ncase > 30 && bad_p == 0, "gen sample filter = transformers' probabilities", "%d probabilities differ", bad_p);
}

static void test_beam(void)
{
	gen_beam b;
	float lp[6];
	int parent[2], n;

	/* Worked by hand (gen.h rules, alpha 1, heuristic stop), tokens a=0 b=1 EOS=2:
	 * step 1, one beam, p = .5 .2 .3: candidates a -.693, EOS -1.204, b -1.609;
	 *   EOS (rank 1 < 2) finishes "EOS" with score -1.204/1; live: a, b.
	 * step 2, a: p = .1 .1 .8, b: p = .9 .05 .05:
	 *   a+EOS -0.916 -> finished, score -0.916/2 = -0.458; live b+a -1.715, a+a -2.996
	 *   (tie with a+b -2.996 goes to the lower token).  parents 1, 0.  Not done:
	 *   worst finished -1.204 < -1.715/2.
	 * step 3, ba and aa, both p = .1 .1 .8:
	 *   ba+EOS -1.938 -> score -0.646 (replaces "EOS" -1.204); aa+EOS -3.219 ->
	 *   -1.073, rank 1 but worse than both kept: dropped; live ba+a, ba+b -4.017.
	 *   Done: worst finished -0.646 >= -4.017/3. */
	CHECK(gen_beam_init(&b, 2, 10, 1.0, 0) == 0, "gen beam init", "failed");
	fill(lp, .5, .2, .3);
	n = gen_beam_step(&b, lp, 3, eos_final, NULL, parent);
	CHECK(n == 2 && b.nfin == 1 && fabs(b.fin[0].score - log(.3)) < 1e-6 && b.live[0] == 0 &&
	      b.live[10] == 1, "gen beam step 1", "n %d nfin %d", n, b.nfin);
	fill(lp, .1, .1, .8);
	fill(lp + 3, .9, .05, .05);
	n = gen_beam_step(&b, lp, 3, eos_final, NULL, parent);
	CHECK(n == 2 && parent[0] == 1 && parent[1] == 0 && b.live[0] == 1 && b.live[1] == 0 && b.live[10] == 0 &&
	      b.live[11] == 0 && b.nfin == 2 && fabs(b.fin[0].score - (log(.5) + log(.8)) / 2) < 1e-6 &&
	      fabs(b.live_logp[0] - (log(.2) + log(.9))) < 1e-6, "gen beam step 2",
	      "n %d parents %d %d nfin %d", n, parent[0], parent[1], b.nfin);
	fill(lp, .1, .1, .8);
	fill(lp + 3, .1, .1, .8);
	n = gen_beam_step(&b, lp, 3, eos_final, NULL, parent);
	CHECK(n == 0 && b.done && b.nfin == 2 && b.fin[0].len == 2 && b.fin[0].tok[0] == 0 && b.fin[0].tok[1] == 2 &&
	      b.fin[1].len == 3 && b.fin[1].tok[0] == 1 && b.fin[1].tok[1] == 0 && b.fin[1].tok[2] == 2 &&
	      fabs(b.fin[1].score - (log(.2) + log(.9) + log(.8)) / 3) < 1e-6, "gen beam step 3 and result",
	      "n %d nfin %d", n, b.nfin);
	gen_beam_free(&b);

	/* maxlen 1: live beams become hypotheses, scored by their length */
	gen_beam_init(&b, 2, 1, 1.0, 0);
	fill(lp, .6, .3, .1);
	n = gen_beam_step(&b, lp, 3, eos_final, NULL, parent);
	CHECK(n == 0 && b.nfin == 2 && b.fin[0].tok[0] == 0 && b.fin[1].tok[0] == 1 &&
	      fabs(b.fin[1].logp - log(.3)) < 1e-6, "gen beam maxlen", "n %d nfin %d", n, b.nfin);
	gen_beam_free(&b);

	/* early_stop 1: done as soon as 2 are finished; alpha 0 scores by logp */
	gen_beam_init(&b, 2, 10, 0.0, 1);
	fill(lp, .3, .3, .4);
	gen_beam_step(&b, lp, 3, eos_final, NULL, parent);      /* EOS finished, live a, b */
	fill(lp, .2, .2, .6);
	fill(lp + 3, .2, .2, .6);
	n = gen_beam_step(&b, lp, 3, eos_final, NULL, parent);  /* a+EOS .18 finished, b+EOS rank 1? */
	CHECK(n == 0 && b.done && b.nfin == 2 && fabs(b.fin[0].score - log(.4)) < 1e-6 &&
	      fabs(b.fin[1].score - log(.18)) < 1e-6, "gen beam early stop, alpha 0",
	      "n %d nfin %d %g %g", n, b.nfin, b.fin[0].score, b.nfin > 1 ? b.fin[1].score : 0);
	gen_beam_free(&b);

	/* one beam and no final tokens = greedy */
	{
		float l2[3];
		int32_t want[3] = { 1, 0, 1 };
		int ok = 1;

		gen_beam_init(&b, 1, 3, 1.0, 0);
		for (int s = 0; s < 3; s++) {
			fill(l2, s == 1 ? .7 : .2, s == 1 ? .2 : .7, .1);
			gen_beam_step(&b, l2, 3, NULL, NULL, parent);
		}
		for (int s = 0; s < 3; s++)
			if (b.fin[0].tok[s] != want[s])
				ok = 0;
		CHECK(ok && b.nfin == 1 && b.fin[0].len == 3, "gen beam width 1 is greedy", "failed");
		gen_beam_free(&b);
	}
	CHECK(gen_beam_init(&b, 0, 5, 1.0, 0) == -1, "gen beam bad args", "failed");
}

/* gen_beam against transformers' generate(num_beams=...) on a tiny random
 * Llama, through the log-probability rows it computed for every prefix
 * (tests/gen/gen_gen.py -> tests/golden/gen/beam.txt). */
typedef struct beam_golden {
	char     pre[2048][16];   /* prefix as "a,b,c" */
	float    lp[2048][6];
	int      nrow;
	int32_t  eos[4];
	int      neos;
} beam_golden;

static int golden_final(void *ctx, const gen_beam *b, int beam, int32_t tok)
{
	const beam_golden *g = ctx;

	(void)b;
	(void)beam;
	for (int i = 0; i < g->neos; i++)
		if (g->eos[i] == tok)
			return 1;
	return 0;
}

static int run_golden_case(beam_golden *g, int nb, int maxnew, double lenpen, int early, int32_t (*want)[8],
			   int *wantlen, double *wantsc, int nwant, char *why, size_t whylen)
{
	gen_beam b;
	float lp[8 * 6];
	int parent[8];

	if (gen_beam_init(&b, nb, maxnew, lenpen, early) || gen_beam_keep(&b, g->neos)) {
		snprintf(why, whylen, "init failed");
		return 0;
	}
	for (;;) {
		int n;

		for (int i = 0; i < b.nlive; i++) {
			char key[16] = "";
			int r, k = 0;

			for (int t = 0; t < b.step; t++)
				k += snprintf(key + k, sizeof key - k, t ? ",%d" : "%d", b.live[(size_t)i * b.maxlen + t]);
			for (r = 0; r < g->nrow; r++)
				if (strcmp(g->pre[r], key) == 0)
					break;
			if (r == g->nrow) {
				snprintf(why, whylen, "prefix \"%s\" not in the golden rows", key);
				gen_beam_free(&b);
				return 0;
			}
			memcpy(lp + i * 6, g->lp[r], sizeof g->lp[r]);
		}
		n = gen_beam_step(&b, lp, 6, golden_final, g, parent);
		if (n == 0)
			break;
	}
	if (b.nfin != nwant) {
		snprintf(why, whylen, "%d hypotheses, want %d", b.nfin, nwant);
		gen_beam_free(&b);
		return 0;
	}
	for (int h = 0; h < nwant; h++) {
		int ok = b.fin[h].len == wantlen[h] && fabs(b.fin[h].score - wantsc[h]) < 1e-5;

		for (int t = 0; ok && t < wantlen[h]; t++)
			ok = b.fin[h].tok[t] == want[h][t];
		if (!ok) {
			snprintf(why, whylen, "hypothesis %d: len %d score %.6f, want len %d score %.6f", h, b.fin[h].len,
				 b.fin[h].score, wantlen[h], wantsc[h]);
			gen_beam_free(&b);
			return 0;
		}
	}
	gen_beam_free(&b);
	return 1;
}

static void test_beam_golden(void)
{
	static beam_golden g;
	char path[4096], *line = NULL, name[64] = "", cname[128], why[256];
	size_t cap = 0;
	FILE *f;
	int nb = 0, maxnew = 0, early = 0, nwant = 0, ncase = 0;
	double lenpen = 1, wantsc[8];
	int32_t want[8][8];
	int wantlen[8];

	snprintf(path, sizeof path, "%s/tests/golden/gen/beam.txt", root());
	f = fopen(path, "r");
	CHECK(f != NULL, "gen beam golden file", "%s missing", path);
	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = 0;
		if (strncmp(line, "case ", 5) == 0) {
			char *p;

			memset(&g, 0, sizeof g);
			nwant = 0;
			sscanf(line + 5, "%63s %d %d %lf %d %d", name, &nb, &maxnew, &lenpen, &early, &g.neos);
			p = line + 5;
			for (int k = 0; k < 6; k++)
				p = strchr(p, ' ') + 1;
			for (int k = 0; k < g.neos && k < 4; k++)
				g.eos[k] = (int32_t)strtol(p, &p, 10);
		} else if (strncmp(line, "row ", 4) == 0 && g.nrow < 2048) {
			char *sp = strchr(line + 4, ' '), *q;
			int k = 0;

			if (!sp)
				continue;
			*sp = 0;
			snprintf(g.pre[g.nrow], sizeof g.pre[0], "%s", line + 4);
			for (q = strtok(sp + 1, ","); q && k < 6; q = strtok(NULL, ","))
				g.lp[g.nrow][k++] = strtof(q, NULL);
			g.nrow++;
		} else if (strncmp(line, "hyp ", 4) == 0 && nwant < 8) {
			char *sp = strrchr(line, ' '), *q;
			int k = 0;

			wantsc[nwant] = strtod(sp + 1, NULL);
			*sp = 0;
			for (q = strtok(line + 4, ","); q && k < 8; q = strtok(NULL, ","))
				want[nwant][k++] = (int32_t)strtol(q, NULL, 10);
			wantlen[nwant++] = k;
		} else if (strcmp(line, "end") == 0) {
			int ok = run_golden_case(&g, nb, maxnew, lenpen, early, want, wantlen, wantsc, nwant, why, sizeof why);

			snprintf(cname, sizeof cname, "gen beam = transformers %s", name);
			CHECK(ok, cname, "%s", why);
			ncase++;
		}
	}
	free(line);
	fclose(f);
	CHECK(ncase >= 6, "gen beam golden cases", "%d cases", ncase);
}

static void test_names(void)
{
	char out[16];
	struct { const char *in, *want; } c[] = {
		{ "foo", "foo" }, { " get_len(int n)", "get_len" }, { "`strlen`", "strlen" },
		{ "\"main\"\n", "main" }, { "foo bar", "foo" }, { "3des_encrypt", "_3des_encrypt" },
		{ "if", "if_" }, { "return", "return_" }, { "_Bool", "_Bool_" }, { "iffy", "iffy" },
		{ "  \t\n", "" }, { "", "" }, { "é_x", "_x" }, { "a::b", "a" },
		{ "abcdefghijklmnopqrstuvwxyz", "abcdefghijklmno" }, { "x\xc3\xa9y", "x" },
		{ "```c\nparse_args\n```", "parse_args" }, { " ```\nfoo", "foo" }, { "```foo```", "foo" },
		{ "``x``", "x" },
	};

	for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
		char name[96];
		size_t n = gen_clean_name(c[i].in, strlen(c[i].in), out, sizeof out);

		snprintf(name, sizeof name, "gen clean_name \"%s\"", c[i].want);
		CHECK(strcmp(out, c[i].want) == 0 && n == strlen(c[i].want), name, "\"%s\" -> \"%s\"", c[i].in, out);
	}
	CHECK(gen_clean_name("abc", 3, out, 1) == 0 && out[0] == 0, "gen clean_name cap 1", "failed");

	CHECK(!gen_ident_ends("", 0, " get", 4), "gen ident_ends leading space", "failed");
	CHECK(!gen_ident_ends(" get", 4, "_len", 4), "gen ident_ends inside", "failed");
	CHECK(gen_ident_ends(" get", 4, "_len\n", 5), "gen ident_ends newline", "failed");
	CHECK(gen_ident_ends("get_len", 7, "(", 1), "gen ident_ends paren", "failed");
	CHECK(!gen_ident_ends("`", 1, "`", 1), "gen ident_ends only junk", "failed");
	CHECK(gen_ident_ends("`foo", 4, "`", 1), "gen ident_ends backtick", "failed");
	CHECK(gen_ident_ends("foo", 3, "\xc3\xa9", 2), "gen ident_ends non-ASCII", "failed");
	CHECK(!gen_ident_ends("``", 2, "`c", 2) && !gen_ident_ends("```c", 4, "\n", 1) &&
	      !gen_ident_ends("```c\n", 5, "foo", 3) && gen_ident_ends("```c\nfoo", 8, "(", 1),
	      "gen ident_ends code fence", "failed");
}

static void test_vote(void)
{
	const char *names[] = { "parse_args", "main", "parse_args", "", "main", "init" };
	size_t lens[6];
	double lp[6] = { -2.0, -1.0, -3.0, -0.1, -0.5, -0.2 };
	gen_vote v[8];
	int n;

	for (int i = 0; i < 6; i++)
		lens[i] = strlen(names[i]);
	/* parse_args 2 (sum -5), main 2 (sum -1.5), init 1: main wins the tie */
	n = gen_vote_names(names, lens, lp, 6, v, 8);
	CHECK(n == 3 && v[0].first == 1 && v[0].count == 2 && fabs(v[0].sum_logp + 1.5) < 1e-12 &&
	      fabs(v[0].max_logp + 0.5) < 1e-12 && v[1].first == 0 && v[2].first == 5, "gen vote tie by summed logp",
	      "n %d first %d", n, v[0].first);
	/* a third parse_args makes it the majority despite its log-probs */
	{
		const char *n2[] = { "parse_args", "main", "parse_args", "main", "parse_args" };
		size_t l2[5];
		double p2[5] = { -9, -0.1, -9, -0.1, -9 };

		for (int i = 0; i < 5; i++)
			l2[i] = strlen(n2[i]);
		n = gen_vote_names(n2, l2, p2, 5, v, 1);
		CHECK(n == 2 && v[0].first == 0 && v[0].count == 3, "gen vote majority", "n %d first %d", n, v[0].first);
	}
	{
		const char *n3[] = { "", "" };
		size_t l3[2] = { 0, 0 };
		double p3[2] = { 0, 0 };

		CHECK(gen_vote_names(n3, l3, p3, 2, v, 8) == 0, "gen vote all empty", "failed");
	}
}

int main(void)
{
	test_rng();
	test_softmax_greedy();
	test_sample();
	test_sample_golden();
	test_beam();
	test_beam_golden();
	test_names();
	test_vote();
	return t_done();
}
