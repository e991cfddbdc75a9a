/* test_proj.c: the projection (mlp and transformer variants) against
 * PyTorch golden outputs (tests/gen/gen_proj.py), on the CPU; metadata and
 * size errors; proj_init_random round trip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev.h"
#include "proj.h"
#include "st.h"
#include "test.h"

#define GOLD "tests/golden/proj"

static void parity(an_dev *d, const char *variant, const st *g)
{
	char path[256], name[128];
	proj_model p;
	an_err e = { 0 };
	const st_tensor *te = st_find(g, "emb"), *ty = st_find(g, variant);
	int N = (int)te->shape[0], Din = (int)te->shape[1];
	int P = (int)ty->shape[1], Dm = (int)ty->shape[2];
	float *emb = malloc(te->numel * sizeof *emb), *want = malloc(ty->numel * sizeof *want);
	float *got = calloc(ty->numel, sizeof *got);

	st_read_f32(g, te, emb, te->numel, &e);
	st_read_f32(g, ty, want, ty->numel, &e);
	snprintf(path, sizeof path, GOLD "/%s.safetensors", variant);
	snprintf(name, sizeof name, "%s load", variant);
	int rc = proj_load(&p, path, d, &e);
	CHECK(rc == 0, name, "%s", e.msg);
	if (rc < 0)
		goto out;
	snprintf(name, sizeof name, "%s sizes from metadata", variant);
	CHECK(p.c.d_in == Din && p.c.P == P && p.c.d_model == Dm &&
	      p.c.variant == proj_variant_parse(variant), name, "d_in %d P %d d_model %d", p.c.d_in,
	      p.c.P, p.c.d_model);

	rc = proj_forward(&p, emb, N, got, &e);
	double r = rc < 0 ? INFINITY : t_relerr(got, want, ty->numel);
	snprintf(name, sizeof name, "%s batch of %d vs PyTorch", variant, N);
	CHECK(r <= 1e-5, name, "relative error %.3g %s", r, rc < 0 ? e.msg : "");

	double w = 0;
	for (int i = 0; i < N; i++) {
		size_t o = (size_t)i * P * Dm;

		rc = proj_forward(&p, emb + (size_t)i * Din, 1, got, &e);
		double ri = rc < 0 ? INFINITY : t_relerr(got, want + o, (size_t)P * Dm);
		if (!(ri <= w))
			w = ri;
	}
	snprintf(name, sizeof name, "%s one at a time", variant);
	CHECK(w <= 1e-5, name, "relative error %.3g", w);

	snprintf(name, sizeof name, "%s d_model check", variant);
	rc = proj_check_d_model(&p, Dm + 1, "the LLM", &e);
	CHECK(rc < 0 && strstr(e.msg, "hidden_size") && proj_check_d_model(&p, Dm, "x", &e) == 0,
	      name, "rc %d: %s", rc, e.msg);
	proj_free(&p);
out:
	free(emb);
	free(want);
	free(got);
}

static char tmpdir[] = "/tmp/test_proj.XXXXXX";

/* Rewrite the mlp file with changed metadata (key=val, val NULL: drop) or
 * without tensor drop. */
static int rewrite(const char *out, const char *key, const char *val, const char *drop)
{
	st s;
	an_err e = { 0 };
	st_wtensor w[16];
	const char *meta[32];
	size_t n = 0, nm = 0;

	if (st_open(&s, GOLD "/mlp.safetensors", &e) < 0)
		return -1;
	for (size_t i = 0; i < s.n; i++) {
		if (drop && !strcmp(s.t[i].name, drop))
			continue;
		w[n].name = s.t[i].name;
		w[n].dtype = s.t[i].dtype;
		w[n].ndim = s.t[i].ndim;
		memcpy(w[n].shape, s.t[i].shape, sizeof w[n].shape);
		w[n].data = s.t[i].data;
		n++;
	}
	const st_file *f = &s.files[0];
	for (size_t i = 0; i < f->nmeta && nm < 30; i++) {
		if (key && !strcmp(f->meta[2 * i], key))
			continue;
		meta[nm++] = f->meta[2 * i];
		meta[nm++] = f->meta[2 * i + 1];
	}
	if (key && val) {
		meta[nm++] = key;
		meta[nm++] = val;
	}
	int rc = st_write(out, w, n, meta, nm / 2, &e);
	st_close(&s);
	return rc;
}

static void load_fails(an_dev *d, const char *path, const char *name, const char *want)
{
	proj_model p;
	an_err e = { 0 };
	int rc = proj_load(&p, path, d, &e);

	CHECK(rc < 0 && strstr(e.msg, want), name, "rc %d, \"%s\" lacks \"%s\"", rc, e.msg, want);
	if (rc == 0)
		proj_free(&p);
}

static void errors(an_dev *d)
{
	char path[256];

	if (!mkdtemp(tmpdir)) {
		CHECK(0, "tmpdir", "mkdtemp failed");
		return;
	}
	snprintf(path, sizeof path, "%s/p.safetensors", tmpdir);
	if (rewrite(path, "format", NULL, NULL) == 0)
		load_fails(d, path, "no format metadata", "not a projection file");
	if (rewrite(path, "variant", "lstm", NULL) == 0)
		load_fails(d, path, "unknown variant", "\"lstm\"");
	if (rewrite(path, "d_model", "17", NULL) == 0)
		load_fails(d, path, "metadata vs shapes", "fc2.weight has shape [64, 24]");
	if (rewrite(path, "hidden", "x1", NULL) == 0)
		load_fails(d, path, "bad number in metadata", "\"hidden\"");
	if (rewrite(path, NULL, NULL, "fc1.bias") == 0)
		load_fails(d, path, "missing tensor", "missing fc1.bias");
	unlink(path);

	/* proj_init_random: both variants load back, with the right sizes */
	proj_config c = { .variant = PROJ_TRANSFORMER, .d_in = 12, .P = 3, .d_model = 10,
			  .width = 8, .layers = 1, .heads = 2, .ffn = 16, .ln_eps = 1e-5f };
	an_err e = { 0 };
	proj_model p;
	int rc = proj_init_random(&c, 42, path, &e);
	if (rc == 0)
		rc = proj_load(&p, path, d, &e);
	CHECK(rc == 0 && p.c.variant == PROJ_TRANSFORMER && p.c.P == 3 && p.c.d_model == 10 &&
	      p.c.width == 8, "init transformer round trip", "%s", e.msg);
	if (rc == 0) {
		float emb[12] = { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, out[30], al[10];

		rc = proj_forward(&p, emb, 1, out, &e);
		proj_aligned(al, out, 3, 10);
		double nn = 0;
		for (int i = 0; i < 10; i++)
			nn += (double)al[i] * al[i];
		CHECK(rc == 0 && fabs(nn - 1) < 1e-5, "aligned is unit norm", "%s norm^2 %g", e.msg, nn);
		proj_free(&p);
	}
	c.variant = PROJ_MLP;
	c.hidden = 7;
	rc = proj_init_random(&c, 42, path, &e);
	if (rc == 0)
		rc = proj_load(&p, path, d, &e);
	CHECK(rc == 0 && p.c.variant == PROJ_MLP && p.c.hidden == 7, "init mlp round trip", "%s",
	      e.msg);
	if (rc == 0)
		proj_free(&p);
	c.heads = 3;
	c.variant = PROJ_TRANSFORMER;
	rc = proj_init_random(&c, 1, path, &e);
	CHECK(rc < 0 && strstr(e.msg, "multiple"), "init checks heads", "rc %d %s", rc, e.msg);
	unlink(path);
	rmdir(tmpdir);
}

int main(void)
{
	an_err e = { 0 };
	an_dev *d = dev_open("cpu", 0, &e);
	st g;

	if (!d) {
		CHECK(0, "dev_open cpu", "%s", e.msg);
		return t_done();
	}
	if (st_open(&g, GOLD "/golden.safetensors", &e) < 0) {
		CHECK(0, "golden", "%s", e.msg);
		return t_done();
	}
	parity(d, "mlp", &g);
	parity(d, "transformer", &g);
	st_close(&g);
	errors(d);
	dev_close(d);
	return t_done();
}
