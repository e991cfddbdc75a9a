/* clap.c: the CLAP-ASM encoder: config, checkpoint loading, batched forward.
 * See clap.h for the maths and the file layout. */
#include "clap.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn_gemm.h"
#include "st.h"

/* --- config.json ------------------------------------------------------------ */

/* An integer key: *v = its value, def when absent (def < 0: required). */
static int cfg_int(json_t *root, const char *path, const char *key, long long def, long long lo,
		long long hi, int *v, an_err *e)
{
	json_t *j = json_object_get(root, key);
	long long x;

	if (!j || json_is_null(j)) {
		if (def < 0) {
			an_err_set(e, "%s: \"%s\" is missing", path, key);
			return -1;
		}
		*v = (int)def;
		return 0;
	}
	if (json_is_integer(j))
		x = json_integer_value(j);
	else if (json_is_real(j) && json_real_value(j) == floor(json_real_value(j)))
		x = (long long)json_real_value(j);
	else {
		an_err_set(e, "%s: \"%s\" is not an integer", path, key);
		return -1;
	}
	if (x < lo || x > hi) {
		an_err_set(e, "%s: \"%s\" is %lld, outside [%lld, %lld]", path, key, x, lo, hi);
		return -1;
	}
	*v = (int)x;
	return 0;
}

static int cfg_bool(json_t *root, const char *path, const char *key, int def, int *v, an_err *e)
{
	json_t *j = json_object_get(root, key);

	if (!j || json_is_null(j)) {
		*v = def;
		return 0;
	}
	if (!json_is_boolean(j)) {
		an_err_set(e, "%s: \"%s\" is not true or false", path, key);
		return -1;
	}
	*v = json_is_true(j);
	return 0;
}

int clap_config_load(clap_config *c, const char *dir, an_err *e)
{
	char path[4096];
	json_error_t je;
	json_t *root, *j;
	int rc = -1;

	memset(c, 0, sizeof *c);
	snprintf(path, sizeof path, "%s/config.json", dir);
	root = json_load_file(path, 0, &je);
	if (!root) {
		an_err_set(e, "%s: %s (line %d)", path, je.text, je.line);
		return -1;
	}
	if (!json_is_object(root)) {
		an_err_set(e, "%s: not a JSON object", path);
		goto out;
	}
	const int big = 1 << 24;
	if (cfg_int(root, path, "vocab_size", -1, 1, 1 << 26, &c->vocab, e) < 0 ||
	    cfg_int(root, path, "hidden_size", -1, 1, big, &c->hidden, e) < 0 ||
	    cfg_int(root, path, "embedding_size", c->hidden, 1, big, &c->emb, e) < 0 ||
	    cfg_int(root, path, "num_hidden_layers", -1, 0, 1024, &c->layers, e) < 0 ||
	    cfg_int(root, path, "num_attention_heads", -1, 1, 4096, &c->heads, e) < 0 ||
	    cfg_int(root, path, "intermediate_size", -1, 1, big, &c->ffn, e) < 0 ||
	    cfg_int(root, path, "max_position_embeddings", -1, 1, 1 << 20, &c->max_pos, e) < 0 ||
	    cfg_int(root, path, "pad_token_id", 0, 0, 1 << 26, &c->pad_id, e) < 0 ||
	    cfg_bool(root, path, "use_bias", 0, &c->qkv_bias, e) < 0 ||
	    cfg_bool(root, path, "rotary_value", 0, &c->rotary_value, e) < 0)
		goto out;
	c->ln_eps = 1e-12f;
	if ((j = json_object_get(root, "layer_norm_eps")) && !json_is_null(j)) {
		if (!json_is_number(j) || json_number_value(j) < 0) {
			an_err_set(e, "%s: \"layer_norm_eps\" is not a non-negative number", path);
			goto out;
		}
		c->ln_eps = (float)json_number_value(j);
	}
	if ((j = json_object_get(root, "model_type")) && json_is_string(j) &&
	    strcmp(json_string_value(j), "roformer") != 0) {
		an_err_set(e, "%s: model_type \"%s\": a CLAP-ASM encoder is \"roformer\"", path,
			   json_string_value(j));
		goto out;
	}
	if ((j = json_object_get(root, "hidden_act")) && !json_is_null(j)) {
		const char *act = json_is_string(j) ? json_string_value(j) : "";

		if (strcmp(act, "gelu") != 0 && strcmp(act, "gelu_python") != 0) {
			an_err_set(e, "%s: hidden_act \"%s\" is not supported (only gelu, the erf form)",
				   path, act);
			goto out;
		}
	}
	if ((j = json_object_get(root, "is_decoder")) && json_is_true(j)) {
		an_err_set(e, "%s: is_decoder is true; CLAP-ASM is a bidirectional encoder", path);
		goto out;
	}
	if (c->hidden % c->heads != 0) {
		an_err_set(e, "%s: hidden_size %d is not a multiple of num_attention_heads %d", path,
			   c->hidden, c->heads);
		goto out;
	}
	c->head_dim = c->hidden / c->heads;
	if (c->head_dim % 2 != 0) {
		an_err_set(e, "%s: head size %d is odd; rotary embeddings need it even", path,
			   c->head_dim);
		goto out;
	}
	if (c->pad_id >= c->vocab) {
		an_err_set(e, "%s: pad_token_id %d outside the vocabulary (%d)", path, c->pad_id,
			   c->vocab);
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* --- loading ------------------------------------------------------------------- */

#define NAME_LEN 160

static int add(arena *a, const char *name, int n0, int n1, an_err *e)
{
	int64_t shape[2] = { n0, n1 };

	return arena_add(a, name, n1 > 0 ? 2 : 1, shape, 0, e);
}

static int declare(clap_model *m, an_err *e)
{
	const clap_config *c = &m->c;
	arena *a = &m->a;
	char n[NAME_LEN];

	if ((m->word = add(a, "jroformer.embeddings.word_embeddings.weight", c->vocab, c->emb, e)) < 0 ||
	    (m->ln_w = add(a, "jroformer.embeddings.LayerNorm.weight", c->emb, 0, e)) < 0 ||
	    (m->ln_b = add(a, "jroformer.embeddings.LayerNorm.bias", c->emb, 0, e)) < 0)
		return -1;
	m->eproj_w = m->eproj_b = -1;
	if (c->emb != c->hidden &&
	    ((m->eproj_w = add(a, "jroformer.embeddings_project.weight", c->hidden, c->emb, e)) < 0 ||
	     (m->eproj_b = add(a, "jroformer.embeddings_project.bias", c->hidden, 0, e)) < 0))
		return -1;
	m->layer = calloc((size_t)c->layers + 1, sizeof *m->layer);
	if (!m->layer) {
		an_err_set(e, "out of memory");
		return -1;
	}
	for (int i = 0; i < c->layers; i++) {
		clap_layer *L = &m->layer[i];
		const int H = c->hidden, F = c->ffn;
#define T2(field, suffix, d0, d1) do { \
		snprintf(n, sizeof n, "jroformer.encoder.layer.%d.%s", i, suffix); \
		if ((L->field = add(a, n, d0, d1, e)) < 0) \
			return -1; \
	} while (0)
		T2(wq, "attention.self.query.weight", H, H);
		T2(wk, "attention.self.key.weight", H, H);
		T2(wv, "attention.self.value.weight", H, H);
		L->bq = L->bk = L->bv = -1;
		if (c->qkv_bias) {
			T2(bq, "attention.self.query.bias", H, 0);
			T2(bk, "attention.self.key.bias", H, 0);
			T2(bv, "attention.self.value.bias", H, 0);
		}
		T2(wo, "attention.output.dense.weight", H, H);
		T2(bo, "attention.output.dense.bias", H, 0);
		T2(ln1_w, "attention.output.LayerNorm.weight", H, 0);
		T2(ln1_b, "attention.output.LayerNorm.bias", H, 0);
		T2(w1, "intermediate.dense.weight", F, H);
		T2(b1, "intermediate.dense.bias", F, 0);
		T2(w2, "output.dense.weight", H, F);
		T2(b2, "output.dense.bias", H, 0);
		T2(ln2_w, "output.LayerNorm.weight", H, 0);
		T2(ln2_b, "output.LayerNorm.bias", H, 0);
#undef T2
	}
	if ((m->proj_w = add(a, "projection.weight", c->hidden, c->hidden, e)) < 0 ||
	    (m->proj_b = add(a, "projection.bias", c->hidden, 0, e)) < 0)
		return -1;
	return 0;
}

static const char *const TT_NAME = "jroformer.embeddings.token_type_embeddings.weight";
static const char *const POS_NAME = "jroformer.encoder.embed_positions.weight";

static void shape_str(char *buf, size_t len, int ndim, const int64_t *shape)
{
	size_t o = 0;

	o += (size_t)snprintf(buf + o, len - o, "[");
	for (int i = 0; i < ndim && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
	if (o < len)
		snprintf(buf + o, len - o, "]");
}

static int shape_is(const st_tensor *t, int ndim, const int64_t *shape)
{
	if (t->ndim != ndim)
		return 0;
	for (int i = 0; i < ndim; i++)
		if (t->shape[i] != shape[i])
			return 0;
	return 1;
}

/* Append name to a "a, b, c" list kept short: past 6 names only count. */
static void list_add(char *buf, size_t len, int *count, const char *name)
{
	size_t o = strlen(buf);

	if (++*count <= 6)
		snprintf(buf + o, len - o, "%s%s", *count > 1 ? ", " : "", name);
}

static void list_end(char *buf, size_t len, int count)
{
	size_t o = strlen(buf);

	if (count > 6)
		snprintf(buf + o, len - o, ", ... (%d in all)", count);
}

static int is_optional(const char *name, const char *const *optional)
{
	for (; optional && *optional; optional++)
		if (!strcmp(name, *optional))
			return 1;
	return 0;
}

int clap_check_tensors(const arena *a, const st *s, const char *const *optional,
		const char *where, an_err *e)
{
	char miss[1024] = "", extra[1024] = "", sa[64], sb[64];
	int nmiss = 0, nextra = 0;

	for (int i = 0; i < a->n; i++) {
		const arena_tensor *at = &a->t[i];
		const st_tensor *t = st_find(s, at->name);

		if (!t) {
			list_add(miss, sizeof miss, &nmiss, at->name);
			continue;
		}
		if (!shape_is(t, at->ndim, at->shape)) {
			shape_str(sa, sizeof sa, t->ndim, t->shape);
			shape_str(sb, sizeof sb, at->ndim, at->shape);
			an_err_set(e, "%s: tensor %s has shape %s; the configuration implies %s", where,
				   at->name, sa, sb);
			return -1;
		}
	}
	for (size_t i = 0; i < s->n; i++) {
		const char *name = s->t[i].name;

		if (arena_find(a, name) >= 0 || is_optional(name, optional))
			continue;
		list_add(extra, sizeof extra, &nextra, name);
	}
	list_end(miss, sizeof miss, nmiss);
	list_end(extra, sizeof extra, nextra);
	if (nmiss || nextra) {
		an_err_set(e, "%s: tensors do not match the configuration:%s%s%s%s%s", where,
			   nmiss ? " missing " : "", miss, nmiss && nextra ? ";" : "",
			   nextra ? " unexpected " : "", extra);
		return -1;
	}
	return 0;
}

/* The token-type table, when the file has it, must be the word table. */
static int check_tt(const clap_model *m, const st *s, an_err *e)
{
	const st_tensor *tt = st_find(s, TT_NAME);
	const st_tensor *w = st_find(s, "jroformer.embeddings.word_embeddings.weight");
	int64_t shape[2] = { m->c.vocab, m->c.emb };
	float *a = NULL, *b = NULL;
	int rc = -1;

	if (!tt)
		return 0;
	if (!shape_is(tt, 2, shape)) {
		an_err_set(e, "tensor %s: shape does not match the word table", TT_NAME);
		return -1;
	}
	if (tt->dtype == w->dtype && tt->nbytes == w->nbytes)
		rc = memcmp(tt->data, w->data, tt->nbytes) == 0 ? 0 : 1;
	else {
		a = malloc(tt->numel * sizeof *a);
		b = malloc(tt->numel * sizeof *b);
		if (!a || !b) {
			an_err_set(e, "out of memory");
			goto out;
		}
		if (st_read_f32(s, tt, a, tt->numel, e) < 0 || st_read_f32(s, w, b, w->numel, e) < 0)
			goto out;
		rc = memcmp(a, b, tt->numel * sizeof *a) == 0 ? 0 : 1;
	}
	if (rc == 1) {
		an_err_set(e, "tensor %s differs from the word table; CLAP-ASM shares one table "
			   "for words and token types", TT_NAME);
		rc = -1;
	}
out:
	free(a);
	free(b);
	return rc;
}

/* The rotary tables [max_pos, head_dim/2]: from the file's embed_positions
 * ([max_pos, head_dim]: sin in the first half, cos in the second) when
 * present, else computed as RoFormer does (angles in double, cast). */
static int load_rope(clap_model *m, const st *s, an_err *e)
{
	const int P = m->c.max_pos, D = m->c.head_dim, h = D / 2;
	const st_tensor *t = st_find(s, POS_NAME);
	float *cs = malloc((size_t)P * h * sizeof *cs), *sn = malloc((size_t)P * h * sizeof *sn);
	float *full = NULL;
	int rc = -1;

	if (!cs || !sn) {
		an_err_set(e, "out of memory");
		goto out;
	}
	if (t) {
		int64_t shape[2] = { P, D };

		if (!shape_is(t, 2, shape)) {
			char a[64], b[64];

			shape_str(a, sizeof a, t->ndim, t->shape);
			shape_str(b, sizeof b, 2, shape);
			an_err_set(e, "tensor %s has shape %s; config.json implies %s", POS_NAME, a, b);
			goto out;
		}
		if (!(full = malloc((size_t)P * D * sizeof *full))) {
			an_err_set(e, "out of memory");
			goto out;
		}
		if (st_read_f32(s, t, full, t->numel, e) < 0)
			goto out;
		for (int p = 0; p < P; p++)
			for (int i = 0; i < h; i++) {
				sn[(size_t)p * h + i] = full[(size_t)p * D + i];
				cs[(size_t)p * h + i] = full[(size_t)p * D + h + i];
			}
	} else {
		rope_cfg rc_ = { .dim = D, .theta = 10000.0, .f64 = 1 };

		if (rope_table_init(cs, sn, P, &rc_, e) < 0)
			goto out;
	}
	size_t bytes = (size_t)P * h * sizeof(float);
	if (!(m->cos_tab = dev_malloc(m->dev, bytes, e)) || !(m->sin_tab = dev_malloc(m->dev, bytes, e)) ||
	    dev_upload(m->dev, m->cos_tab, cs, bytes, e) < 0 ||
	    dev_upload(m->dev, m->sin_tab, sn, bytes, e) < 0)
		goto out;
	rc = 0;
out:
	free(cs);
	free(sn);
	free(full);
	return rc;
}

/* bf16 copies of the matrix weights (the 2-D tensors but the tables). */
static int make_bf16(clap_model *m, an_err *e)
{
	size_t total = 0;

	if (!(m->boff = malloc((size_t)m->a.n * sizeof *m->boff))) {
		an_err_set(e, "out of memory");
		return -1;
	}
	for (int i = 0; i < m->a.n; i++) {
		m->boff[i] = (size_t)-1;
		if (m->a.t[i].ndim == 2 && i != m->word) {
			m->boff[i] = total;
			total += (m->a.t[i].numel + 31) & ~(size_t)31;
		}
	}
	if (!(m->wbf16 = dev_malloc(m->dev, total * sizeof *m->wbf16, e)))
		return -1;
	for (int i = 0; i < m->a.n; i++)
		if (m->boff[i] != (size_t)-1 &&
		    dev_cast(m->dev, m->wbf16 + m->boff[i], AN_BF16, arena_param(&m->a, i), AN_F32,
			     m->a.t[i].numel, e) < 0)
			return -1;
	return dev_sync(m->dev, e);
}

int clap_load(clap_model *m, const char *dir, an_dev *d, an_dtype wtype, an_err *e)
{
	st s;
	int rc = -1;

	memset(m, 0, sizeof *m);
	arena_init(&m->a);
	m->dev = d;
	m->wtype = wtype;
	memset(&s, 0, sizeof s);
	if (wtype != AN_F32 && wtype != AN_BF16) {
		an_err_set(e, "clap: weights can be fp32 or bf16");
		return -1;
	}
	if (clap_config_load(&m->c, dir, e) < 0)
		return -1;
	if (declare(m, e) < 0)
		goto out;
	if (st_open(&s, dir, e) < 0)
		goto out;
	const char *const optional[] = { TT_NAME, POS_NAME, NULL };
	if (clap_check_tensors(&m->a, &s, optional, "model.safetensors", e) < 0 ||
	    check_tt(m, &s, e) < 0)
		goto out;
	if (arena_alloc(&m->a, d, ARENA_PARAMS, e) < 0 || arena_load(&m->a, &s, "", ARENA_STRICT, e) < 0)
		goto out;
	if (load_rope(m, &s, e) < 0)
		goto out;
	if (wtype == AN_BF16 && make_bf16(m, e) < 0)
		goto out;
	rc = 0;
out:
	st_close(&s);
	if (rc < 0) {
		an_err_prefix(e, "%s", dir);
		clap_free(m);
	}
	return rc;
}

static void free_acts(clap_model *m)
{
	void **p[] = { (void **)&m->ids, (void **)&m->tts, (void **)&m->mask, (void **)&m->x,
		       (void **)&m->e, (void **)&m->q, (void **)&m->k, (void **)&m->v,
		       (void **)&m->ctx, (void **)&m->t1, (void **)&m->ff, (void **)&m->pool,
		       (void **)&m->z };

	for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
		if (*p[i] && m->dev)
			dev_free(m->dev, *p[i]);
		*p[i] = NULL;
	}
	free(m->h_ids);
	free(m->h_tts);
	free(m->h_mask);
	free(m->scratch);
	m->h_ids = m->h_tts = m->h_mask = NULL;
	m->scratch = NULL;
	m->nscratch = 0;
	m->max_b = 0;
	m->max_bt = 0;
}

void clap_free(clap_model *m)
{
	free_acts(m);
	if (m->dev) {
		if (m->cos_tab)
			dev_free(m->dev, m->cos_tab);
		if (m->sin_tab)
			dev_free(m->dev, m->sin_tab);
		if (m->wbf16)
			dev_free(m->dev, m->wbf16);
	}
	arena_free(&m->a);
	free(m->layer);
	free(m->boff);
	memset(m, 0, sizeof *m);
}

int clap_reserve(clap_model *m, int max_b, size_t max_bt, an_err *e)
{
	const clap_config *c = &m->c;
	size_t w = (size_t)(c->hidden > c->emb ? c->hidden : c->emb);

	if (max_b <= m->max_b && max_bt <= m->max_bt)
		return 0;
	if (max_b < m->max_b)
		max_b = m->max_b;
	if (max_bt < m->max_bt)
		max_bt = m->max_bt;
	free_acts(m);
	an_dev *d = m->dev;
	size_t bt = max_bt, fb = bt * sizeof(float);
	if (!(m->ids = dev_malloc(d, bt * sizeof(int), e)) ||
	    !(m->tts = dev_malloc(d, bt * sizeof(int), e)) ||
	    !(m->mask = dev_malloc(d, bt * sizeof(int), e)) ||
	    !(m->x = dev_malloc(d, fb * w, e)) || !(m->e = dev_malloc(d, fb * w, e)) ||
	    !(m->q = dev_malloc(d, fb * w, e)) || !(m->k = dev_malloc(d, fb * w, e)) ||
	    !(m->v = dev_malloc(d, fb * w, e)) || !(m->ctx = dev_malloc(d, fb * w, e)) ||
	    !(m->t1 = dev_malloc(d, fb * w, e)) || !(m->ff = dev_malloc(d, fb * (size_t)c->ffn, e)) ||
	    !(m->pool = dev_malloc(d, (size_t)max_b * w * sizeof(float), e)) ||
	    !(m->z = dev_malloc(d, (size_t)max_b * w * sizeof(float), e)))
		goto fail;
	m->h_ids = malloc(bt * sizeof(int));
	m->h_tts = malloc(bt * sizeof(int));
	m->h_mask = malloc(bt * sizeof(int));
	if (d->kind == AN_DEV_CPU) {
		m->nscratch = attn_gemm_scratch(bt < (size_t)c->max_pos ? (int)bt : c->max_pos);
		m->scratch = malloc(m->nscratch * sizeof *m->scratch);
	}
	if (!m->h_ids || !m->h_tts || !m->h_mask || (d->kind == AN_DEV_CPU && !m->scratch)) {
		an_err_set(e, "out of memory");
		goto fail;
	}
	m->max_b = max_b;
	m->max_bt = max_bt;
	return 0;
fail:
	an_err_prefix(e, "clap: activations for %d functions, %zu tokens", max_b, max_bt);
	free_acts(m);
	return -1;
}

int clap_check(const clap_model *m, const int32_t *tok, const int32_t *ttype, size_t len,
		an_err *e)
{
	if (len > (size_t)m->c.max_pos) {
		an_err_set(e, "%zu tokens; the model takes at most %d (max_position_embeddings)", len,
			   m->c.max_pos);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (tok[i] < 0 || tok[i] >= m->c.vocab) {
			an_err_set(e, "field \"tok\"[%zu]: id %d outside the vocabulary (%d)", i,
				   (int)tok[i], m->c.vocab);
			return -1;
		}
		if (ttype[i] < 0 || ttype[i] >= m->c.vocab) {
			an_err_set(e, "field \"ttype\"[%zu]: id %d outside the vocabulary (%d)", i,
				   (int)ttype[i], m->c.vocab);
			return -1;
		}
	}
	return 0;
}

/* --- forward ----------------------------------------------------------------- */

/* The matrix weight i as matmul takes it. */
static const void *W(const clap_model *m, int i)
{
	if (m->wtype == AN_BF16 && m->boff && m->boff[i] != (size_t)-1)
		return m->wbf16 + m->boff[i];
	return arena_param(&m->a, i);
}

static const float *P(const clap_model *m, int i)
{
	return i < 0 ? NULL : arena_param(&m->a, i);
}

static an_dtype WT(const clap_model *m, int i)
{
	return m->wtype == AN_BF16 && m->boff && m->boff[i] != (size_t)-1 ? AN_BF16 : AN_F32;
}

#define LIN(out, inp, w, b, M, K, N) \
	dev_matmul_forward(d, out, inp, W(m, w), WT(m, w), P(m, b), M, K, N, e)

static int layer_forward(clap_model *m, const clap_layer *L, int B, int T, an_err *e)
{
	an_dev *d = m->dev;
	const clap_config *c = &m->c;
	const int M = B * T, H = c->hidden, F = c->ffn, nh = c->heads, hd = c->head_dim;
	attn_dims ad = { .B = B, .Tq = T, .Tk = T, .Tkmax = T, .Hq = nh, .Hkv = nh, .D = hd,
			 .p0 = 0, .causal = 0, .scale = (float)(1.0 / sqrt((double)hd)) };

	if (LIN(m->q, m->x, L->wq, L->bq, M, H, H) < 0 || LIN(m->k, m->x, L->wk, L->bk, M, H, H) < 0 ||
	    LIN(m->v, m->x, L->wv, L->bv, M, H, H) < 0)
		return -1;
	if (dev_rope_forward(d, m->q, m->q, m->cos_tab, m->sin_tab, NULL, 0, B, T, nh, hd,
			     ROPE_INTERLEAVED, e) < 0 ||
	    dev_rope_forward(d, m->k, m->k, m->cos_tab, m->sin_tab, NULL, 0, B, T, nh, hd,
			     ROPE_INTERLEAVED, e) < 0)
		return -1;
	if (c->rotary_value && dev_rope_forward(d, m->v, m->v, m->cos_tab, m->sin_tab, NULL, 0, B, T,
						nh, hd, ROPE_INTERLEAVED, e) < 0)
		return -1;
	if (d->kind == AN_DEV_CPU) {
		/* the CPU reference attention is a per-key loop; inference takes BLAS */
		float *scr = attn_gemm_scratch(T) <= m->nscratch ? m->scratch : NULL;

		if (attn_gemm_forward_cpu(m->ctx, m->q, m->k, m->v, m->h_len, B, T, nh, hd, ad.scale,
					  scr, e) < 0)
			return -1;
	} else if (dev_attention_forward(d, m->ctx, NULL, m->q, m->k, m->v, m->mask, &ad, e) < 0)
		return -1;
	/* a = LN(ctx·Wo^T + bo + x), kept in ctx */
	if (LIN(m->t1, m->ctx, L->wo, L->bo, M, H, H) < 0 ||
	    dev_add_forward(d, m->t1, m->t1, m->x, (size_t)M * H, e) < 0 ||
	    dev_layernorm_forward(d, m->ctx, NULL, NULL, m->t1, P(m, L->ln1_w), P(m, L->ln1_b),
				  c->ln_eps, M, H, e) < 0)
		return -1;
	/* x = LN(GELU(a·W1^T + b1)·W2^T + b2 + a) */
	if (LIN(m->ff, m->ctx, L->w1, L->b1, M, H, F) < 0 ||
	    dev_gelu_forward(d, m->ff, m->ff, (size_t)M * F, e) < 0 ||
	    LIN(m->t1, m->ff, L->w2, L->b2, M, F, H) < 0 ||
	    dev_add_forward(d, m->t1, m->t1, m->ctx, (size_t)M * H, e) < 0 ||
	    dev_layernorm_forward(d, m->x, NULL, NULL, m->t1, P(m, L->ln2_w), P(m, L->ln2_b),
				  c->ln_eps, M, H, e) < 0)
		return -1;
	return 0;
}

int clap_embed(clap_model *m, const int32_t *const *tok, const int32_t *const *ttype,
		const int *len, int B, float *out, an_err *e)
{
	const clap_config *c = &m->c;
	an_dev *d = m->dev;
	int T = 1;

	if (B <= 0)
		return 0;
	for (int b = 0; b < B; b++) {
		if (len[b] < 0 || len[b] > c->max_pos) {
			an_err_set(e, "clap: function %d of the batch has %d tokens (at most %d)", b,
				   len[b], c->max_pos);
			return -1;
		}
		if (len[b] > T)
			T = len[b];
	}
	const size_t M = (size_t)B * T;
	if (clap_reserve(m, B, M, e) < 0)
		return -1;
	m->h_len = len;
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++) {
			size_t i = (size_t)b * T + t;
			int real = t < len[b];

			m->h_ids[i] = real ? tok[b][t] : c->pad_id;
			m->h_tts[i] = real ? ttype[b][t] : c->pad_id;
			m->h_mask[i] = real;
		}
	if (dev_upload(d, m->ids, m->h_ids, M * sizeof(int), e) < 0 ||
	    dev_upload(d, m->tts, m->h_tts, M * sizeof(int), e) < 0 ||
	    dev_upload(d, m->mask, m->h_mask, M * sizeof(int), e) < 0)
		return -1;

	/* embeddings: one table for words and token types */
	const float *word = arena_param(&m->a, m->word);
	const size_t ME = M * (size_t)c->emb;
	if (dev_embedding_forward(d, m->e, m->ids, word, (int)M, c->emb, c->vocab, e) < 0 ||
	    dev_embedding_forward(d, m->t1, m->tts, word, (int)M, c->emb, c->vocab, e) < 0 ||
	    dev_add_forward(d, m->e, m->e, m->t1, ME, e) < 0)
		return -1;
	if (m->eproj_w >= 0) {
		if (dev_layernorm_forward(d, m->t1, NULL, NULL, m->e, P(m, m->ln_w), P(m, m->ln_b),
					  c->ln_eps, (int)M, c->emb, e) < 0 ||
		    LIN(m->x, m->t1, m->eproj_w, m->eproj_b, (int)M, c->emb, c->hidden) < 0)
			return -1;
	} else if (dev_layernorm_forward(d, m->x, NULL, NULL, m->e, P(m, m->ln_w), P(m, m->ln_b),
					 c->ln_eps, (int)M, c->emb, e) < 0)
		return -1;

	for (int i = 0; i < c->layers; i++)
		if (layer_forward(m, &m->layer[i], B, T, e) < 0) {
			an_err_prefix(e, "clap: layer %d", i);
			return -1;
		}

	/* masked mean, projection, L2 normalization */
	if (dev_meanpool_forward(d, m->pool, m->x, m->mask, B, T, c->hidden, e) < 0 ||
	    LIN(m->z, m->pool, m->proj_w, m->proj_b, B, c->hidden, c->hidden) < 0 ||
	    dev_l2norm_forward(d, m->pool, NULL, m->z, 1e-12f, B, c->hidden, e) < 0 ||
	    dev_download(d, out, m->pool, (size_t)B * c->hidden * sizeof(float), e) < 0)
		return -1;
	return 0;
}
