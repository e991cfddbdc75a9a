/* proj.c: the projection CLAP embedding -> prefix vectors (see proj.h). */
#include "proj.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clap.h"
#include "st.h"

int proj_variant_parse(const char *s)
{
	if (!strcmp(s, "mlp"))
		return PROJ_MLP;
	if (!strcmp(s, "transformer"))
		return PROJ_TRANSFORMER;
	return -1;
}

const char *proj_variant_name(int v)
{
	return v == PROJ_TRANSFORMER ? "transformer" : "mlp";
}

int proj_config_check(const proj_config *c, an_err *e)
{
	const int big = 1 << 24;

	if (c->variant != PROJ_MLP && c->variant != PROJ_TRANSFORMER) {
		an_err_set(e, "unknown projection variant %d", c->variant);
		return -1;
	}
	if (c->d_in < 1 || c->d_in > big || c->P < 1 || c->P > 4096 || c->d_model < 1 ||
	    c->d_model > big || (size_t)c->P * c->d_model > (size_t)big * 4) {
		an_err_set(e, "projection sizes d_in %d, prefix_len %d, d_model %d: out of range",
			   c->d_in, c->P, c->d_model);
		return -1;
	}
	if (c->variant == PROJ_MLP && (c->hidden < 1 || c->hidden > big)) {
		an_err_set(e, "mlp projection: hidden %d out of range", c->hidden);
		return -1;
	}
	if (c->variant == PROJ_TRANSFORMER) {
		if (c->width < 1 || c->width > big || c->layers < 0 || c->layers > 256 ||
		    c->heads < 1 || c->ffn < 1 || c->ffn > big || !(c->ln_eps >= 0)) {
			an_err_set(e, "transformer projection: width %d, layers %d, heads %d, ffn %d, "
				   "ln_eps %g: out of range", c->width, c->layers, c->heads, c->ffn,
				   (double)c->ln_eps);
			return -1;
		}
		if (c->width % c->heads != 0) {
			an_err_set(e, "transformer projection: width %d is not a multiple of heads %d",
				   c->width, c->heads);
			return -1;
		}
	}
	return 0;
}

static int add(arena *a, const char *name, int n0, int n1, an_err *e)
{
	int64_t shape[2] = { n0, n1 };

	return arena_add(a, name, n1 > 0 ? 2 : 1, shape, 0, e);
}

/* Declare the tensors of config c in p->a. */
static int declare(proj_model *p, an_err *e)
{
	const proj_config *c = &p->c;
	arena *a = &p->a;
	char n[96];

	p->fc1_w = p->fc1_b = p->fc2_w = p->fc2_b = -1;
	p->in_w = p->in_b = p->pos = p->lnf_w = p->lnf_b = p->out_w = p->out_b = -1;
	if (c->variant == PROJ_MLP)
		return (p->fc1_w = add(a, "fc1.weight", c->hidden, c->d_in, e)) < 0 ||
		       (p->fc1_b = add(a, "fc1.bias", c->hidden, 0, e)) < 0 ||
		       (p->fc2_w = add(a, "fc2.weight", c->P * c->d_model, c->hidden, e)) < 0 ||
		       (p->fc2_b = add(a, "fc2.bias", c->P * c->d_model, 0, e)) < 0 ? -1 : 0;
	const int w = c->width;
	if ((p->in_w = add(a, "in.weight", c->P * w, c->d_in, e)) < 0 ||
	    (p->in_b = add(a, "in.bias", c->P * w, 0, e)) < 0 ||
	    (p->pos = add(a, "pos", c->P, w, e)) < 0)
		return -1;
	if (!(p->layer = calloc((size_t)c->layers + 1, sizeof *p->layer))) {
		an_err_set(e, "out of memory");
		return -1;
	}
	for (int i = 0; i < c->layers; i++) {
		proj_layer *L = &p->layer[i];
#define T2(field, suffix, d0, d1) do { \
		snprintf(n, sizeof n, "layer.%d.%s", i, suffix); \
		if ((L->field = add(a, n, d0, d1, e)) < 0) \
			return -1; \
	} while (0)
		T2(ln1_w, "ln1.weight", w, 0);
		T2(ln1_b, "ln1.bias", w, 0);
		T2(wq, "attn.q.weight", w, w);
		T2(bq, "attn.q.bias", w, 0);
		T2(wk, "attn.k.weight", w, w);
		T2(bk, "attn.k.bias", w, 0);
		T2(wv, "attn.v.weight", w, w);
		T2(bv, "attn.v.bias", w, 0);
		T2(wo, "attn.o.weight", w, w);
		T2(bo, "attn.o.bias", w, 0);
		T2(ln2_w, "ln2.weight", w, 0);
		T2(ln2_b, "ln2.bias", w, 0);
		T2(up_w, "ffn.up.weight", c->ffn, w);
		T2(up_b, "ffn.up.bias", c->ffn, 0);
		T2(down_w, "ffn.down.weight", w, c->ffn);
		T2(down_b, "ffn.down.bias", w, 0);
#undef T2
	}
	return (p->lnf_w = add(a, "ln_f.weight", w, 0, e)) < 0 ||
	       (p->lnf_b = add(a, "ln_f.bias", w, 0, e)) < 0 ||
	       (p->out_w = add(a, "out.weight", c->d_model, w, e)) < 0 ||
	       (p->out_b = add(a, "out.bias", c->d_model, 0, e)) < 0 ? -1 : 0;
}

/* A metadata integer; def < 0: required. */
static int meta_int(const st *s, const char *key, int def, int *v, an_err *e)
{
	const char *str = st_meta(s, NULL, key);
	char *end;
	long x;

	if (!str) {
		if (def < 0) {
			an_err_set(e, "metadata \"%s\" is missing", key);
			return -1;
		}
		*v = def;
		return 0;
	}
	errno = 0;
	x = strtol(str, &end, 10);
	if (errno || end == str || *end || x < 0 || x > (1L << 30)) {
		an_err_set(e, "metadata \"%s\": \"%s\" is not a size", key, str);
		return -1;
	}
	*v = (int)x;
	return 0;
}

static int read_config(proj_config *c, const st *s, an_err *e)
{
	const char *fmt = st_meta(s, NULL, "format"), *var = st_meta(s, NULL, "variant");

	memset(c, 0, sizeof *c);
	if (!fmt || strcmp(fmt, "asmname-proj") != 0) {
		an_err_set(e, "not a projection file (metadata \"format\" is %s%s%s, not "
			   "\"asmname-proj\")", fmt ? "\"" : "", fmt ? fmt : "absent", fmt ? "\"" : "");
		return -1;
	}
	if (!var || (c->variant = proj_variant_parse(var)) < 0) {
		an_err_set(e, "metadata \"variant\": %s%s%s (mlp or transformer)", var ? "\"" : "",
			   var ? var : "absent", var ? "\"" : "");
		return -1;
	}
	if (meta_int(s, "d_in", -1, &c->d_in, e) < 0 || meta_int(s, "prefix_len", -1, &c->P, e) < 0 ||
	    meta_int(s, "d_model", -1, &c->d_model, e) < 0)
		return -1;
	if (c->variant == PROJ_MLP) {
		if (meta_int(s, "hidden", -1, &c->hidden, e) < 0)
			return -1;
	} else {
		const char *eps = st_meta(s, NULL, "ln_eps");
		char *end;

		if (meta_int(s, "width", -1, &c->width, e) < 0 ||
		    meta_int(s, "layers", -1, &c->layers, e) < 0 ||
		    meta_int(s, "heads", -1, &c->heads, e) < 0 ||
		    meta_int(s, "ffn", -1, &c->ffn, e) < 0)
			return -1;
		c->ln_eps = 1e-5f;
		if (eps) {
			double x = strtod(eps, &end);

			if (end == eps || *end || !(x >= 0) || x > 1) {
				an_err_set(e, "metadata \"ln_eps\": \"%s\" is not a number", eps);
				return -1;
			}
			c->ln_eps = (float)x;
		}
	}
	return proj_config_check(c, e);
}

int proj_load(proj_model *p, const char *path, an_dev *d, an_err *e)
{
	char file[4096];
	struct stat sb;
	st s;
	int rc = -1;

	memset(p, 0, sizeof *p);
	memset(&s, 0, sizeof s);
	arena_init(&p->a);
	p->dev = d;
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		snprintf(file, sizeof file, "%s/proj.safetensors", path);
	else
		snprintf(file, sizeof file, "%s", path);
	if (st_open(&s, file, e) < 0)
		return -1;
	if (read_config(&p->c, &s, e) < 0 || declare(p, e) < 0 ||
	    clap_check_tensors(&p->a, &s, NULL, "projection", e) < 0 ||
	    arena_alloc(&p->a, d, ARENA_PARAMS, e) < 0 ||
	    arena_load(&p->a, &s, "", ARENA_STRICT, e) < 0)
		goto out;
	rc = 0;
out:
	st_close(&s);
	if (rc < 0) {
		an_err_prefix(e, "%s", file);
		proj_free(p);
	}
	return rc;
}

static void free_acts(proj_model *p)
{
	float **b[] = { &p->in, &p->h, &p->x, &p->t, &p->q, &p->k, &p->v, &p->ctx, &p->f, &p->out,
			&p->posb };

	for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
		if (*b[i] && p->dev)
			dev_free(p->dev, *b[i]);
		*b[i] = NULL;
	}
	p->max_b = 0;
}

void proj_free(proj_model *p)
{
	free_acts(p);
	arena_free(&p->a);
	free(p->layer);
	memset(p, 0, sizeof *p);
}

int proj_llm_d_model(const char *path, int *d_model, an_err *e)
{
	char file[4096];
	struct stat sb;
	json_error_t je;
	json_t *root, *j;
	int rc = -1;

	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		snprintf(file, sizeof file, "%s/config.json", path);
	else
		snprintf(file, sizeof file, "%s", path);
	if (!(root = json_load_file(file, 0, &je))) {
		an_err_set(e, "%s: %s (line %d)", file, je.text, je.line);
		return -1;
	}
	j = json_is_object(root) ? json_object_get(root, "hidden_size") : NULL;
	if (!json_is_integer(j) || json_integer_value(j) < 1 || json_integer_value(j) > (1 << 24))
		an_err_set(e, "%s: no integer \"hidden_size\"", file);
	else {
		*d_model = (int)json_integer_value(j);
		rc = 0;
	}
	json_decref(root);
	return rc;
}

int proj_check_d_model(const proj_model *p, int d_model, const char *what, an_err *e)
{
	if (p->c.d_model == d_model)
		return 0;
	an_err_set(e, "the projection makes %d-d prefix vectors (d_model %d) but %s has "
		   "hidden_size %d: it was trained for another LLM", p->c.d_model, p->c.d_model,
		   what, d_model);
	return -1;
}

int proj_reserve(proj_model *p, int max_b, an_err *e)
{
	const proj_config *c = &p->c;
	an_dev *d = p->dev;
	size_t B = (size_t)max_b, fl = sizeof(float);

	if (max_b <= p->max_b)
		return 0;
	free_acts(p);
	if (!(p->in = dev_malloc(d, B * c->d_in * fl, e)) ||
	    !(p->out = dev_malloc(d, B * c->P * c->d_model * fl, e)))
		goto fail;
	if (c->variant == PROJ_MLP) {
		if (!(p->h = dev_malloc(d, B * c->hidden * fl, e)))
			goto fail;
	} else {
		size_t bw = B * c->P * c->width * fl;

		if (!(p->h = dev_malloc(d, bw, e)) || !(p->x = dev_malloc(d, bw, e)) ||
		    !(p->t = dev_malloc(d, bw, e)) || !(p->q = dev_malloc(d, bw, e)) ||
		    !(p->k = dev_malloc(d, bw, e)) || !(p->v = dev_malloc(d, bw, e)) ||
		    !(p->ctx = dev_malloc(d, bw, e)) || !(p->posb = dev_malloc(d, bw, e)) ||
		    !(p->f = dev_malloc(d, B * c->P * c->ffn * fl, e)))
			goto fail;
		/* pos repeated for every function of a batch: one add per layer stack */
		size_t pw = (size_t)c->P * c->width * fl;
		for (size_t b = 0; b < B; b++)
			if (dev_copy(d, (char *)p->posb + b * pw, arena_param(&p->a, p->pos), pw, e) < 0)
				goto fail;
	}
	p->max_b = max_b;
	return 0;
fail:
	an_err_prefix(e, "projection: activations for %d functions", max_b);
	free_acts(p);
	return -1;
}

#define PRM(i) arena_param(&p->a, (i))
#define LIN(out, inp, w, b, M, K, N) \
	dev_matmul_forward(d, out, inp, PRM(w), AN_F32, PRM(b), M, K, N, e)

static int transformer_forward(proj_model *p, int B, an_err *e)
{
	const proj_config *c = &p->c;
	an_dev *d = p->dev;
	const int M = B * c->P, w = c->width, hd = w / c->heads;
	const size_t n = (size_t)M * w;
	attn_dims ad = { .B = B, .Tq = c->P, .Tk = c->P, .Tkmax = c->P, .Hq = c->heads,
			 .Hkv = c->heads, .D = hd, .scale = (float)(1.0 / sqrt((double)hd)) };

	if (LIN(p->x, p->in, p->in_w, p->in_b, B, c->d_in, c->P * w) < 0 ||
	    dev_add_forward(d, p->x, p->x, p->posb, n, e) < 0)
		return -1;
	for (int i = 0; i < c->layers; i++) {
		const proj_layer *L = &p->layer[i];

		if (dev_layernorm_forward(d, p->h, NULL, NULL, p->x, PRM(L->ln1_w), PRM(L->ln1_b),
					  c->ln_eps, M, w, e) < 0 ||
		    LIN(p->q, p->h, L->wq, L->bq, M, w, w) < 0 ||
		    LIN(p->k, p->h, L->wk, L->bk, M, w, w) < 0 ||
		    LIN(p->v, p->h, L->wv, L->bv, M, w, w) < 0 ||
		    dev_attention_forward(d, p->ctx, NULL, p->q, p->k, p->v, NULL, &ad, e) < 0 ||
		    LIN(p->t, p->ctx, L->wo, L->bo, M, w, w) < 0 ||
		    dev_add_forward(d, p->x, p->x, p->t, n, e) < 0 ||
		    dev_layernorm_forward(d, p->h, NULL, NULL, p->x, PRM(L->ln2_w), PRM(L->ln2_b),
					  c->ln_eps, M, w, e) < 0 ||
		    LIN(p->f, p->h, L->up_w, L->up_b, M, w, c->ffn) < 0 ||
		    dev_gelu_forward(d, p->f, p->f, (size_t)M * c->ffn, e) < 0 ||
		    LIN(p->t, p->f, L->down_w, L->down_b, M, c->ffn, w) < 0 ||
		    dev_add_forward(d, p->x, p->x, p->t, n, e) < 0) {
			an_err_prefix(e, "projection layer %d", i);
			return -1;
		}
	}
	return dev_layernorm_forward(d, p->h, NULL, NULL, p->x, PRM(p->lnf_w), PRM(p->lnf_b),
				     c->ln_eps, M, w, e) < 0 ||
	       LIN(p->out, p->h, p->out_w, p->out_b, M, w, c->d_model) < 0 ? -1 : 0;
}

int proj_forward(proj_model *p, const float *emb, int B, float *prefix, an_err *e)
{
	const proj_config *c = &p->c;
	an_dev *d = p->dev;

	if (B <= 0)
		return 0;
	if (proj_reserve(p, B, e) < 0 ||
	    dev_upload(d, p->in, emb, (size_t)B * c->d_in * sizeof(float), e) < 0)
		return -1;
	if (c->variant == PROJ_MLP) {
		if (LIN(p->h, p->in, p->fc1_w, p->fc1_b, B, c->d_in, c->hidden) < 0 ||
		    dev_gelu_forward(d, p->h, p->h, (size_t)B * c->hidden, e) < 0 ||
		    LIN(p->out, p->h, p->fc2_w, p->fc2_b, B, c->hidden, c->P * c->d_model) < 0)
			return -1;
	} else if (transformer_forward(p, B, e) < 0)
		return -1;
	return dev_download(d, prefix, p->out, (size_t)B * c->P * c->d_model * sizeof(float), e);
}

void proj_aligned(float *aligned, const float *prefix, int P, int d)
{
	double ss = 0;

	for (int j = 0; j < d; j++) {
		double s = 0;

		for (int i = 0; i < P; i++)
			s += prefix[(size_t)i * d + j];
		aligned[j] = (float)(s / P);
		ss += (double)aligned[j] * aligned[j];
	}
	double n = sqrt(ss);
	if (n < 1e-12)
		n = 1e-12;
	for (int j = 0; j < d; j++)
		aligned[j] = (float)(aligned[j] / n);
}

/* --- random initialization --------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Standard normal (Box-Muller on 53-bit uniforms). */
static double normal(uint64_t *s)
{
	double u1 = ((splitmix(s) >> 11) + 1.0) / 9007199254740993.0;
	double u2 = (splitmix(s) >> 11) / 9007199254740992.0;

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

int proj_init_random(const proj_config *c, uint64_t seed, const char *path, an_err *e)
{
	proj_model p;
	char v[10][32];
	const char *meta[32];
	size_t nm = 0;
	int nv = 0;
	int rc = -1;

	if (proj_config_check(c, e) < 0)
		return -1;
	memset(&p, 0, sizeof p);
	arena_init(&p.a);
	p.c = *c;
	if (declare(&p, e) < 0 || arena_alloc(&p.a, NULL, ARENA_PARAMS, e) < 0)
		goto out;
	for (int i = 0; i < p.a.n; i++) {
		const arena_tensor *t = &p.a.t[i];
		float *x = arena_param(&p.a, i);
		const char *dot = strrchr(t->name, '.');
		int is_ln = strstr(t->name, "ln") != NULL && dot && !strcmp(dot, ".weight");

		if (t->ndim == 2) {
			double sd = i == p.pos ? 0.02 : 1.0 / sqrt((double)t->shape[1]);

			for (size_t j = 0; j < t->numel; j++)
				x[j] = (float)(sd * normal(&seed));
		} else
			for (size_t j = 0; j < t->numel; j++)
				x[j] = is_ln ? 1.0f : 0.0f;
	}
#define META(k, fmt, val) do { \
		snprintf(v[nv], sizeof v[0], fmt, val); \
		meta[nm++] = k; \
		meta[nm++] = v[nv++]; \
	} while (0)
	meta[nm++] = "format";
	meta[nm++] = "asmname-proj";
	meta[nm++] = "variant";
	meta[nm++] = proj_variant_name(c->variant);
	META("d_in", "%d", c->d_in);
	META("prefix_len", "%d", c->P);
	META("d_model", "%d", c->d_model);
	if (c->variant == PROJ_MLP)
		META("hidden", "%d", c->hidden);
	else {
		META("width", "%d", c->width);
		META("layers", "%d", c->layers);
		META("heads", "%d", c->heads);
		META("ffn", "%d", c->ffn);
		META("ln_eps", "%.9g", (double)c->ln_eps);
	}
#undef META
	rc = arena_save(&p.a, path, "", meta, nm / 2, e);
out:
	if (rc < 0)
		an_err_prefix(e, "%s", path);
	proj_free(&p);
	return rc;
}
