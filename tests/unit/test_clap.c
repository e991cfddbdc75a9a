/* test_clap.c: the CLAP-ASM encoder against PyTorch golden embeddings
 * (tests/gen/gen_clap.py), on the CPU, plus the loader's errors. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clap.h"
#include "dev.h"
#include "st.h"
#include "test.h"

#define GOLD "tests/golden/clap"

typedef struct gold {
	st       s;
	int      N, L, H;
	int64_t *tok, *tt, *len;
	float   *emb;
	int32_t **tp, **ttp;
	int      *lens;
} gold;

static int gold_load(gold *g, const char *model, an_err *e)
{
	char path[512];
	const st_tensor *t;

	memset(g, 0, sizeof *g);
	snprintf(path, sizeof path, GOLD "/%s/golden.safetensors", model);
	if (st_open(&g->s, path, e) < 0)
		return -1;
	if (!(t = st_find(&g->s, "tok")) || t->ndim != 2)
		return an_err_set(e, "no tok"), -1;
	g->N = (int)t->shape[0];
	g->L = (int)t->shape[1];
	g->H = (int)st_find(&g->s, "emb")->shape[1];
	size_t nl = (size_t)g->N * g->L;
	g->tok = malloc(nl * sizeof *g->tok);
	g->tt = malloc(nl * sizeof *g->tt);
	g->len = malloc((size_t)g->N * sizeof *g->len);
	g->emb = malloc((size_t)g->N * g->H * sizeof *g->emb);
	g->tp = calloc((size_t)g->N, sizeof *g->tp);
	g->ttp = calloc((size_t)g->N, sizeof *g->ttp);
	g->lens = calloc((size_t)g->N, sizeof *g->lens);
	if (st_read_i64(&g->s, st_find(&g->s, "tok"), g->tok, nl, e) < 0 ||
	    st_read_i64(&g->s, st_find(&g->s, "ttype"), g->tt, nl, e) < 0 ||
	    st_read_i64(&g->s, st_find(&g->s, "len"), g->len, (size_t)g->N, e) < 0 ||
	    st_read_f32(&g->s, st_find(&g->s, "emb"), g->emb, (size_t)g->N * g->H, e) < 0)
		return -1;
	for (int i = 0; i < g->N; i++) {
		g->tp[i] = malloc((size_t)g->L * sizeof(int32_t));
		g->ttp[i] = malloc((size_t)g->L * sizeof(int32_t));
		for (int t2 = 0; t2 < g->L; t2++) {
			g->tp[i][t2] = (int32_t)g->tok[(size_t)i * g->L + t2];
			g->ttp[i][t2] = (int32_t)g->tt[(size_t)i * g->L + t2];
		}
		g->lens[i] = (int)g->len[i];
	}
	return 0;
}

static void gold_free(gold *g)
{
	for (int i = 0; i < g->N; i++) {
		free(g->tp[i]);
		free(g->ttp[i]);
	}
	free(g->tok); free(g->tt); free(g->len); free(g->emb);
	free(g->tp); free(g->ttp); free(g->lens);
	st_close(&g->s);
}

/* Worst relative error of rows [0,n) of out against the golden rows idx[]. */
static double worst(const float *out, const gold *g, const int *idx, int n)
{
	double w = 0;

	for (int i = 0; i < n; i++) {
		double r = t_relerr(out + (size_t)i * g->H, g->emb + (size_t)idx[i] * g->H, (size_t)g->H);

		if (!(r <= w))
			w = r;
	}
	return w;
}

static void parity(an_dev *d, const char *model)
{
	char dir[256], name[128];
	clap_model m;
	gold g;
	an_err e = { 0 };

	snprintf(dir, sizeof dir, GOLD "/%s", model);
	snprintf(name, sizeof name, "%s load", model);
	if (gold_load(&g, model, &e) < 0) {
		CHECK(0, name, "golden: %s", e.msg);
		return;
	}
	int rc = clap_load(&m, dir, d, AN_F32, &e);
	CHECK(rc == 0, name, "%s", e.msg);
	if (rc < 0) {
		gold_free(&g);
		return;
	}
	CHECK(m.c.hidden == g.H, "hidden from config.json", "%d vs %d", m.c.hidden, g.H);

	float *out = calloc((size_t)g.N * g.H, sizeof *out);
	int idx[64];

	/* the whole padded batch at once, as the reference ran it */
	for (int i = 0; i < g.N; i++)
		idx[i] = i;
	rc = clap_embed(&m, (const int32_t *const *)g.tp, (const int32_t *const *)g.ttp, g.lens, g.N,
			out, &e);
	double w = rc < 0 ? INFINITY : worst(out, &g, idx, g.N);
	snprintf(name, sizeof name, "%s padded batch of %d", model, g.N);
	CHECK(w <= 1e-5, name, "relative error %.3g (%s)", w, rc < 0 ? e.msg : "");

	/* each alone (no padding), and the 1024-token one among them */
	double wa = 0;
	for (int i = 0; i < g.N; i++) {
		rc = clap_embed(&m, (const int32_t *const *)&g.tp[i], (const int32_t *const *)&g.ttp[i],
				&g.lens[i], 1, out, &e);
		double r = rc < 0 ? INFINITY : worst(out, &g, &i, 1);
		if (!(r <= wa))
			wa = r;
		if (g.lens[i] == 1024) {
			snprintf(name, sizeof name, "%s 1024 tokens", model);
			CHECK(r <= 1e-5, name, "relative error %.3g", r);
		}
	}
	snprintf(name, sizeof name, "%s one at a time", model);
	CHECK(wa <= 1e-5, name, "relative error %.3g", wa);

	/* other groupings: pairs in reverse order */
	double wp = 0;
	for (int i = g.N - 1; i > 0; i -= 2) {
		const int32_t *tp[2] = { g.tp[i], g.tp[i - 1] }, *ttp[2] = { g.ttp[i], g.ttp[i - 1] };
		int lens[2] = { g.lens[i], g.lens[i - 1] }, ix[2] = { i, i - 1 };

		rc = clap_embed(&m, tp, ttp, lens, 2, out, &e);
		double r = rc < 0 ? INFINITY : worst(out, &g, ix, 2);
		if (!(r <= wp))
			wp = r;
	}
	snprintf(name, sizeof name, "%s pairs", model);
	CHECK(wp <= 1e-5, name, "relative error %.3g", wp);

	/* unit norm */
	double nn = 0;
	for (int k = 0; k < g.H; k++)
		nn += (double)out[k] * out[k];
	snprintf(name, sizeof name, "%s unit norm", model);
	CHECK(fabs(nn - 1) < 1e-5, name, "norm^2 %.8f", nn);

	/* a changed token changes the embedding (the test can fail) */
	int32_t save = g.tp[0][0];
	g.tp[0][0] = save == 1100 - 1 ? 1030 : save + 1;
	rc = clap_embed(&m, (const int32_t *const *)g.tp, (const int32_t *const *)g.ttp, g.lens, 1, out,
			&e);
	g.tp[0][0] = save;
	snprintf(name, sizeof name, "%s sensitive to one token", model);
	CHECK(rc == 0 && worst(out, &g, idx, 1) > 1e-4, name, "embedding did not move");

	/* ids outside the vocabulary are refused by clap_check */
	int32_t badtok[2] = { 5, m.c.vocab }, tt[2] = { 6, 6 };
	rc = clap_check(&m, badtok, tt, 2, &e);
	snprintf(name, sizeof name, "%s id outside vocab", model);
	CHECK(rc < 0 && strstr(e.msg, "tok\"[1]"), name, "rc %d, %s", rc, e.msg);

	free(out);
	clap_free(&m);
	gold_free(&g);
}

/* --- broken checkpoints --------------------------------------------------- */

static char tmpdir[] = "/tmp/test_clap.XXXXXX";

static int copy_file(const char *from, const char *to)
{
	FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
	char buf[65536];
	size_t n;

	if (!a || !b) {
		if (a) fclose(a);
		if (b) fclose(b);
		return -1;
	}
	while ((n = fread(buf, 1, sizeof buf, a)) > 0)
		fwrite(buf, 1, n, b);
	fclose(a);
	return fclose(b);
}

/* Write tmpdir/model.safetensors from the tiny model, dropping tensor `drop`
 * and adding `add` (a copy of the projection bias) when not NULL, and the
 * config given (NULL: the original). */
static int variant(const char *drop, const char *add, const char *config)
{
	st s;
	an_err e = { 0 };
	char path[512];
	st_wtensor w[64];
	size_t n = 0;

	if (st_open(&s, GOLD "/tiny/model.safetensors", &e) < 0)
		return -1;
	for (size_t i = 0; i < s.n && n < 63; i++) {
		const st_tensor *t = &s.t[i];

		if (drop && !strcmp(t->name, drop))
			continue;
		w[n].name = t->name;
		w[n].dtype = t->dtype;
		w[n].ndim = t->ndim;
		memcpy(w[n].shape, t->shape, sizeof w[n].shape);
		w[n].data = t->data;
		n++;
		if (add && !strcmp(t->name, "projection.bias")) {
			w[n] = w[n - 1];
			w[n].name = add;
			n++;
		}
	}
	snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
	int rc = st_write(path, w, n, NULL, 0, &e);
	st_close(&s);
	snprintf(path, sizeof path, "%s/config.json", tmpdir);
	if (config) {
		FILE *f = fopen(path, "w");

		if (!f)
			return -1;
		fputs(config, f);
		fclose(f);
	} else if (copy_file(GOLD "/tiny/config.json", path) < 0)
		return -1;
	return rc;
}

static void load_fails(an_dev *d, const char *name, const char *want)
{
	clap_model m;
	an_err e = { 0 };
	int rc = clap_load(&m, tmpdir, d, AN_F32, &e);

	CHECK(rc < 0 && strstr(e.msg, want), name, "rc %d, message \"%s\" lacks \"%s\"", rc, e.msg,
	      want);
	if (rc == 0)
		clap_free(&m);
}

static const char *cfg_with(const char *key, const char *val)
{
	static char buf[4096];
	char line[256];
	FILE *f = fopen(GOLD "/tiny/config.json", "r");
	size_t o = 0;

	buf[0] = 0;
	if (!f)
		return buf;
	while (fgets(line, sizeof line, f)) {
		char pat[64];

		snprintf(pat, sizeof pat, "\"%s\":", key);
		if (strstr(line, pat))
			o += (size_t)snprintf(buf + o, sizeof buf - o, "  \"%s\": %s,\n", key, val);
		else
			o += (size_t)snprintf(buf + o, sizeof buf - o, "%s", line);
	}
	fclose(f);
	return buf;
}

static void errors(an_dev *d)
{
	if (!mkdtemp(tmpdir)) {
		CHECK(0, "tmpdir", "mkdtemp failed");
		return;
	}
	if (variant("jroformer.encoder.layer.1.output.dense.bias", NULL, NULL) == 0)
		load_fails(d, "missing tensor named", "missing jroformer.encoder.layer.1.output.dense.bias");
	if (variant(NULL, "jroformer.pooler.dense.bias", NULL) == 0)
		load_fails(d, "unexpected tensor named", "unexpected jroformer.pooler.dense.bias");
	if (variant(NULL, NULL, cfg_with("intermediate_size", "65")) == 0)
		load_fails(d, "shape against config", "intermediate.dense.weight has shape [64, 32]");
	if (variant(NULL, NULL, cfg_with("num_hidden_layers", "3")) == 0)
		load_fails(d, "more layers than the file", "missing jroformer.encoder.layer.2.");
	if (variant(NULL, NULL, cfg_with("hidden_act", "\"relu\"")) == 0)
		load_fails(d, "hidden_act checked", "hidden_act \"relu\"");
	if (variant(NULL, NULL, cfg_with("num_attention_heads", "5")) == 0)
		load_fails(d, "heads divide hidden", "not a multiple");
	if (variant(NULL, NULL, "{\"hidden_size\": 32,") == 0)
		load_fails(d, "bad config.json", "config.json");
	if (variant(NULL, NULL, NULL) == 0) {
		clap_model m;
		an_err e = { 0 };
		int rc = clap_load(&m, tmpdir, d, AN_F32, &e);

		CHECK(rc == 0, "rewritten checkpoint loads", "%s", e.msg);
		if (rc == 0)
			clap_free(&m);
	}
	char path[600];
	snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
	unlink(path);
	snprintf(path, sizeof path, "%s/config.json", tmpdir);
	unlink(path);
	rmdir(tmpdir);
}

int main(void)
{
	an_err e = { 0 };
	an_dev *d = dev_open("cpu", 0, &e);

	if (!d) {
		CHECK(0, "dev_open cpu", "%s", e.msg);
		return t_done();
	}
	parity(d, "tiny");
	parity(d, "tiny2");
	errors(d);
	dev_close(d);
	return t_done();
}
