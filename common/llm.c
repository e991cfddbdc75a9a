/* llm.c: Qwen2 / Llama decoders for inference (llm.h). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "half.h"
#include "llm.h"
#include "lora.h"
#include "st.h"

const char *const llm_lin_names[LLM_NLIN] = {
	"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"
};
static const char *const lin_parent[LLM_NLIN] = {
	"self_attn", "self_attn", "self_attn", "self_attn", "mlp", "mlp", "mlp"
};

/* ------------------------------------------------------------------ config */

static int jint(json_t *root, const char *key, int def, int need, int *out, const char *name,
		an_err *e)
{
	json_t *v = json_object_get(root, key);

	if (!v || json_is_null(v)) {
		if (need) {
			an_err_set(e, "%s: key \"%s\" missing", name, key);
			return -1;
		}
		*out = def;
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= (1 << 30)) {
		*out = (int)json_integer_value(v);
		return 0;
	}
	an_err_set(e, "%s: key \"%s\": expected a non-negative integer", name, key);
	return -1;
}

static int jnum(json_t *root, const char *key, double def, double *out, const char *name,
		an_err *e)
{
	json_t *v = json_object_get(root, key);

	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_number(v)) {
		an_err_set(e, "%s: key \"%s\": expected a number", name, key);
		return -1;
	}
	*out = json_number_value(v);
	return 0;
}

static int jbool(json_t *root, const char *key, int def, int *out, const char *name, an_err *e)
{
	json_t *v = json_object_get(root, key);

	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v)) {
		an_err_set(e, "%s: key \"%s\": expected true or false", name, key);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

/* rope_scaling (published layout) or rope_parameters (transformers 5). */
static int parse_rope(llm_config *c, json_t *root, const char *name, an_err *e)
{
	json_t *rp = json_object_get(root, "rope_parameters");
	json_t *rs = json_object_get(root, "rope_scaling");
	double theta;

	if (jnum(root, "rope_theta", 10000.0, &theta, name, e) < 0)
		return -1;
	if (rp && json_is_object(rp) && json_object_get(rp, "rope_theta")) {
		if (jnum(rp, "rope_theta", theta, &theta, name, e) < 0)
			return -1;
		if (!rs || json_is_null(rs))
			rs = rp;
	}
	memset(&c->rope, 0, sizeof c->rope);
	c->rope.dim = c->head_dim;
	c->rope.theta = theta;
	c->rope.f64 = 0;
	if (!rs || json_is_null(rs))
		return 0;
	if (!json_is_object(rs)) {
		an_err_set(e, "%s: key \"rope_scaling\": expected an object or null", name);
		return -1;
	}
	json_t *t = json_object_get(rs, "rope_type");
	if (!t)
		t = json_object_get(rs, "type");
	const char *type = t && json_is_string(t) ? json_string_value(t) : "default";
	if (strcmp(type, "default") == 0)
		return 0;
	if (strcmp(type, "llama3") != 0) {
		an_err_set(e, "%s: rope type \"%s\" is not supported (default and llama3 are)", name, type);
		return -1;
	}
	double omax;
	if (jnum(rs, "factor", 0, &c->rope.factor, name, e) < 0 ||
	    jnum(rs, "low_freq_factor", 1.0, &c->rope.low_freq_factor, name, e) < 0 ||
	    jnum(rs, "high_freq_factor", 4.0, &c->rope.high_freq_factor, name, e) < 0 ||
	    jnum(rs, "original_max_position_embeddings", 8192, &omax, name, e) < 0)
		return -1;
	c->rope.original_max_pos = omax;
	if (!(c->rope.factor > 0) || !(c->rope.high_freq_factor > c->rope.low_freq_factor) ||
	    !(omax > 0)) {
		an_err_set(e, "%s: llama3 rope scaling: need factor > 0, high_freq_factor > "
				"low_freq_factor, original_max_position_embeddings > 0", name);
		return -1;
	}
	return 0;
}

int llm_config_parse(llm_config *c, const char *json, size_t len, const char *name, an_err *e)
{
	json_error_t je;
	json_t *root = json_loadb(json, len, 0, &je);
	int rc = -1;

	memset(c, 0, sizeof *c);
	if (!root) {
		an_err_set(e, "%s: line %d: %s", name, je.line, je.text);
		return -1;
	}
	if (!json_is_object(root)) {
		an_err_set(e, "%s: expected a JSON object", name);
		goto out;
	}
	const char *arch = NULL;
	json_t *a = json_object_get(root, "architectures");
	if (a && json_is_array(a) && json_array_size(a) > 0 && json_is_string(json_array_get(a, 0)))
		arch = json_string_value(json_array_get(a, 0));
	json_t *mt = json_object_get(root, "model_type");
	const char *mtype = mt && json_is_string(mt) ? json_string_value(mt) : "";
	if ((arch && strcmp(arch, "Qwen2ForCausalLM") == 0) || (!arch && strcmp(mtype, "qwen2") == 0))
		c->arch = LLM_QWEN2;
	else if ((arch && strcmp(arch, "LlamaForCausalLM") == 0) || (!arch && strcmp(mtype, "llama") == 0))
		c->arch = LLM_LLAMA;
	else {
		an_err_set(e, "%s: architecture \"%s\" (model_type \"%s\") is not supported "
				"(Qwen2ForCausalLM, LlamaForCausalLM are)", name, arch ? arch : "?", mtype);
		goto out;
	}
	if (jint(root, "vocab_size", 0, 1, &c->vocab, name, e) < 0 ||
	    jint(root, "hidden_size", 0, 1, &c->d_model, name, e) < 0 ||
	    jint(root, "num_hidden_layers", 0, 1, &c->n_layers, name, e) < 0 ||
	    jint(root, "num_attention_heads", 0, 1, &c->n_heads, name, e) < 0 ||
	    jint(root, "intermediate_size", 0, 1, &c->d_ff, name, e) < 0 ||
	    jint(root, "max_position_embeddings", 4096, 0, &c->max_pos, name, e) < 0)
		goto out;
	if (c->vocab < 1 || c->d_model < 1 || c->n_layers < 1 || c->n_heads < 1 || c->d_ff < 1) {
		an_err_set(e, "%s: vocab_size, hidden_size, num_hidden_layers, num_attention_heads "
				"and intermediate_size must be positive", name);
		goto out;
	}
	if (jint(root, "num_key_value_heads", c->n_heads, 0, &c->n_kv_heads, name, e) < 0 ||
	    jint(root, "head_dim", c->d_model / c->n_heads, 0, &c->head_dim, name, e) < 0)
		goto out;
	if (c->n_kv_heads < 1 || c->n_heads % c->n_kv_heads) {
		an_err_set(e, "%s: num_key_value_heads %d must divide num_attention_heads %d",
				name, c->n_kv_heads, c->n_heads);
		goto out;
	}
	if (c->head_dim < 2 || c->head_dim % 2) {
		an_err_set(e, "%s: head_dim %d must be even and positive", name, c->head_dim);
		goto out;
	}
	double eps;
	if (jnum(root, "rms_norm_eps", 1e-6, &eps, name, e) < 0)
		goto out;
	c->rms_eps = (float)eps;
	json_t *act = json_object_get(root, "hidden_act");
	if (act && !(json_is_string(act) && strcmp(json_string_value(act), "silu") == 0)) {
		an_err_set(e, "%s: hidden_act must be \"silu\"", name);
		goto out;
	}
	double prf;
	if (jnum(root, "partial_rotary_factor", 1.0, &prf, name, e) < 0)
		goto out;
	if (prf != 1.0) {
		an_err_set(e, "%s: partial_rotary_factor %g is not supported", name, prf);
		goto out;
	}
	if (c->arch == LLM_QWEN2) {
		int sw;
		if (jbool(root, "use_sliding_window", 0, &sw, name, e) < 0)
			goto out;
		if (sw) {
			an_err_set(e, "%s: use_sliding_window true is not supported", name);
			goto out;
		}
		c->qkv_bias = 1;
	} else {
		int ab, mb;
		if (jbool(root, "attention_bias", 0, &ab, name, e) < 0 ||
		    jbool(root, "mlp_bias", 0, &mb, name, e) < 0)
			goto out;
		c->qkv_bias = c->o_bias = ab;
		c->mlp_bias = mb;
		int tp;
		if (jint(root, "pretraining_tp", 1, 0, &tp, name, e) < 0)
			goto out;   /* tp > 1 only splits the matmuls: same maths */
	}
	if (jbool(root, "tie_word_embeddings", 0, &c->tied, name, e) < 0)
		goto out;
	if (parse_rope(c, root, name, e) < 0)
		goto out;
	json_t *b = json_object_get(root, "bos_token_id");
	c->bos = b && json_is_integer(b) ? (int)json_integer_value(b) : -1;
	json_t *eo = json_object_get(root, "eos_token_id");
	if (eo && json_is_integer(eo))
		c->eos[c->n_eos++] = (int)json_integer_value(eo);
	else if (eo && json_is_array(eo)) {
		size_t i;
		json_t *v;
		json_array_foreach(eo, i, v)
			if (json_is_integer(v) && c->n_eos < LLM_MAX_EOS)
				c->eos[c->n_eos++] = (int)json_integer_value(v);
	}
	json_t *dt = json_object_get(root, "torch_dtype");
	if (!dt || !json_is_string(dt))
		dt = json_object_get(root, "dtype");
	snprintf(c->dtype, sizeof c->dtype, "%s", dt && json_is_string(dt) ? json_string_value(dt) : "");
	rc = 0;
out:
	json_decref(root);
	return rc;
}

static char *slurp(const char *path, size_t *len, an_err *e)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f) {
		an_err_sys(e, "%s", path);
		return NULL;
	}
	for (;;) {
		if (n + 4096 > cap) {
			cap = cap ? cap * 2 : 65536;
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				fclose(f);
				an_err_set(e, "%s: out of memory", path);
				return NULL;
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		an_err_sys(e, "%s", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
}

/* path or path/name when path is a directory. */
static void in_dir(char *out, size_t len, const char *path, const char *name)
{
	size_t n = strlen(path);

	if (n > 5 && strcmp(path + n - 5, ".json") == 0)
		snprintf(out, len, "%s", path);
	else
		snprintf(out, len, "%s/%s", path, name);
}

int llm_config_load(llm_config *c, const char *path, an_err *e)
{
	char p[4096];
	size_t len;

	in_dir(p, sizeof p, path, "config.json");
	char *buf = slurp(p, &len, e);
	if (!buf)
		return -1;
	int rc = llm_config_parse(c, buf, len, p, e);
	free(buf);
	return rc;
}

const char *llm_quant_name(llm_quant q)
{
	switch (q) {
	case LLM_Q_F32: return "f32";
	case LLM_Q_BF16: return "bf16";
	case LLM_Q_NF4: return "nf4";
	case LLM_Q_NF4_DQ: return "nf4-dq";
	}
	return "?";
}

int llm_quant_parse(const char *s)
{
	for (int q = LLM_Q_F32; q <= LLM_Q_NF4_DQ; q++)
		if (strcmp(s, llm_quant_name(q)) == 0)
			return q;
	return -1;
}

const char *llm_describe(const llm *m, char *buf, size_t len)
{
	const llm_config *c = &m->cfg;

	snprintf(buf, len, "%s %d layers d %d heads %d/%d x %d ff %d vocab %d%s %s%s, %.1f MiB of weights",
			c->arch == LLM_QWEN2 ? "qwen2" : "llama", c->n_layers, c->d_model, c->n_heads,
			c->n_kv_heads, c->head_dim, c->d_ff, c->vocab, c->tied ? " tied" : "",
			llm_quant_name(m->quant), m->lora_n ? " + lora" : "",
			m->weight_bytes / 1048576.0);
	return buf;
}

/* ------------------------------------------------------------------ loading */

/* Device allocations of a model, freed together. */
typedef struct llm_priv {
	void   **p;
	size_t   n, cap;
	void   **lora;        /* the LoRA allocations (replaced by a new adapter) */
	size_t   nlora, caplora;
	int      head_is_emb; /* CPU: the LM head points at the host table */
} llm_priv;

static llm_priv *priv_of(const llm *m);

static int track(void ***v, size_t *n, size_t *cap, void *p)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		void **nv = realloc(*v, nc * sizeof *nv);
		if (!nv)
			return -1;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = p;
	return 0;
}

/* The model struct is followed by its private part. */
typedef struct llm_full {
	llm      m;
	llm_priv p;
} llm_full;

static llm_priv *priv_of(const llm *m)
{
	return &((llm_full *)m)->p;
}

static void *dalloc(llm *m, size_t bytes, int lora, an_err *e)
{
	llm_priv *p = priv_of(m);
	void *x = dev_malloc(m->dev, bytes ? bytes : 1, e);

	if (!x)
		return NULL;
	if (lora ? track(&p->lora, &p->nlora, &p->caplora, x) : track(&p->p, &p->n, &p->cap, x)) {
		dev_free(m->dev, x);
		an_err_set(e, "out of memory");
		return NULL;
	}
	return x;
}

/* Upload host bytes into a new device buffer. */
static void *dput(llm *m, const void *host, size_t bytes, int lora, an_err *e)
{
	void *x = dalloc(m, bytes, lora, e);

	if (x && dev_upload(m->dev, x, host, bytes, e) < 0)
		return NULL;
	if (x && !lora)
		m->weight_bytes += bytes;
	return x;
}

static const st_tensor *need(const st *s, const char *name, int64_t d0, int64_t d1,
		const char *dir, an_err *e)
{
	const st_tensor *t = st_find(s, name);

	if (!t) {
		an_err_set(e, "%s: tensor \"%s\" missing", dir, name);
		return NULL;
	}
	int ok = d1 < 0 ? (t->ndim == 1 && t->shape[0] == d0)
			: (t->ndim == 2 && t->shape[0] == d0 && t->shape[1] == d1);
	if (!ok) {
		char got[128] = "";
		for (int i = 0; i < t->ndim && strlen(got) < 100; i++)
			snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "",
					(long long)t->shape[i]);
		if (d1 < 0)
			an_err_set(e, "%s: tensor \"%s\": shape [%s], config wants [%lld]", dir, name, got,
					(long long)d0);
		else
			an_err_set(e, "%s: tensor \"%s\": shape [%s], config wants [%lld, %lld]", dir,
					name, got, (long long)d0, (long long)d1);
		return NULL;
	}
	if (t->dtype != ST_F32 && t->dtype != ST_BF16 && t->dtype != ST_F16) {
		an_err_set(e, "%s: tensor \"%s\": dtype %s (F32, BF16 or F16 expected)", dir, name,
				st_dtype_name(t->dtype));
		return NULL;
	}
	return t;
}

/* A small fp32 vector onto the device. */
static float *load_vec(llm *m, const st *s, const char *name, int64_t n, float *tmp, an_err *e)
{
	const st_tensor *t = need(s, name, n, -1, m->path, e);

	if (!t || st_read_f32(s, t, tmp, (size_t)n, e) < 0)
		return NULL;
	return dput(m, tmp, (size_t)n * sizeof(float), 0, e);
}

/* A weight matrix as fp32 or bf16 in host memory (tmp, big enough). */
static int read_mat(const st *s, const st_tensor *t, an_dtype want, void *tmp, an_err *e)
{
	if (want == AN_BF16)
		return st_read_bf16(s, t, tmp, (size_t)t->numel, e);
	return st_read_f32(s, t, tmp, (size_t)t->numel, e);
}

static int load_linear(llm *m, const st *s, llm_linear *L, const char *base, int N, int K,
		int bias, float *tmp, an_err *e)
{
	char name[256];

	L->N = N;
	L->K = K;
	L->q = m->quant;
	snprintf(name, sizeof name, "%s.weight", base);
	const st_tensor *t = need(s, name, N, K, m->path, e);
	if (!t)
		return -1;
	if (m->quant == LLM_Q_NF4 || m->quant == LLM_Q_NF4_DQ) {
		if (nf4_init(&L->nf4, N, K, m->quant == LLM_Q_NF4_DQ, e) < 0)
			goto err;
		int rc;
		if (t->dtype == ST_BF16) {
			if (st_read_bf16(s, t, (uint16_t *)tmp, t->numel, e) < 0)
				return -1;
			rc = nf4_quantize_bf16(&L->nf4, (const uint16_t *)tmp, e);
		} else {
			if (st_read_f32(s, t, tmp, t->numel, e) < 0)
				return -1;
			rc = nf4_quantize_f32(&L->nf4, tmp, e);
		}
		if (rc < 0)
			goto err;
		if (m->dev->kind == AN_DEV_CPU) {
			m->weight_bytes += L->nf4.bytes;
		} else {
			L->nf4_mem = dput(m, L->nf4.mem, L->nf4.bytes, 0, e);
			if (!L->nf4_mem)
				goto err;
			/* keep only the device copy: the struct's pointers move there */
			nf4_tensor host = L->nf4;
			nf4_rebase(&L->nf4, &host, L->nf4_mem);
			nf4_free(&host);
		}
	} else {
		an_dtype wt = m->quant == LLM_Q_BF16 ? AN_BF16 : AN_F32;
		if (read_mat(s, t, wt, tmp, e) < 0)
			return -1;
		L->w = dput(m, tmp, (size_t)N * K * (wt == AN_BF16 ? 2 : 4), 0, e);
		if (!L->w)
			goto err;
	}
	if (bias) {
		snprintf(name, sizeof name, "%s.bias", base);
		if (!(L->bias = load_vec(m, s, name, N, tmp, e)))
			return -1;
	}
	return 0;
err:
	an_err_prefix(e, "%s: tensor \"%s\"", m->path, name);
	return -1;
}

llm *llm_load(const char *dir, const llm_opts *opt, an_dev *dev, an_err *e)
{
	llm_full *f = calloc(1, sizeof *f);
	llm *m = &f->m;
	st s = {0};
	void *tmp = NULL;

	if (!f) {
		an_err_set(e, "out of memory");
		return NULL;
	}
	m->dev = dev;
	m->quant = opt ? opt->quant : LLM_Q_F32;
	snprintf(m->path, sizeof m->path, "%s", dir);
	if (llm_config_load(&m->cfg, dir, e) < 0)
		goto fail;
	if (st_open(&s, dir, e) < 0)
		goto fail;
	const llm_config *c = &m->cfg;
	int d = c->d_model, hd = c->head_dim;
	int nq = c->n_heads * hd, nkv = c->n_kv_heads * hd;
	size_t big = (size_t)c->vocab * d;
	size_t per[] = {(size_t)nq * d, (size_t)nkv * d, (size_t)c->d_ff * d};
	for (int i = 0; i < 3; i++)
		if (per[i] > big)
			big = per[i];
	tmp = malloc(big * sizeof(float));
	if (!tmp) {
		an_err_set(e, "%s: out of memory (%zu floats)", dir, big);
		goto fail;
	}

	/* embedding table: host, fp32 or the checkpoint's bf16 */
	const st_tensor *te = need(&s, "model.embed_tokens.weight", c->vocab, d, dir, e);
	if (!te)
		goto fail;
	m->emb_type = (te->dtype == ST_BF16 && m->quant != LLM_Q_F32) ? AN_BF16 : AN_F32;
	size_t esz = m->emb_type == AN_BF16 ? 2 : 4;
	m->emb = malloc((size_t)c->vocab * d * esz);
	if (!m->emb) {
		an_err_set(e, "%s: out of memory for the embedding table", dir);
		goto fail;
	}
	if (read_mat(&s, te, m->emb_type, m->emb, e) < 0)
		goto fail;
	if (c->tied) {
		m->head_type = m->emb_type;
		if (dev->kind == AN_DEV_CPU) {
			m->head = m->emb;
			f->p.head_is_emb = 1;
			m->weight_bytes += (size_t)c->vocab * d * esz;
		} else if (!(m->head = dput(m, m->emb, (size_t)c->vocab * d * esz, 0, e)))
			goto fail;
	} else {
		const st_tensor *th = need(&s, "lm_head.weight", c->vocab, d, dir, e);
		if (!th)
			goto fail;
		m->head_type = (th->dtype == ST_BF16 && m->quant != LLM_Q_F32) ? AN_BF16 : AN_F32;
		if (read_mat(&s, th, m->head_type, tmp, e) < 0)
			goto fail;
		if (!(m->head = dput(m, tmp, (size_t)c->vocab * d * (m->head_type == AN_BF16 ? 2 : 4), 0, e)))
			goto fail;
	}
	if (!(m->norm = load_vec(m, &s, "model.norm.weight", d, tmp, e)))
		goto fail;

	m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
	if (!m->layers) {
		an_err_set(e, "out of memory");
		goto fail;
	}
	for (int l = 0; l < c->n_layers; l++) {
		llm_layer *L = &m->layers[l];
		char name[256];

		snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l);
		if (!(L->ln1 = load_vec(m, &s, name, d, tmp, e)))
			goto fail;
		snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", l);
		if (!(L->ln2 = load_vec(m, &s, name, d, tmp, e)))
			goto fail;
		int N[LLM_NLIN] = {nq, nkv, nkv, d, c->d_ff, c->d_ff, d};
		int K[LLM_NLIN] = {d, d, d, nq, d, d, c->d_ff};
		int bias[LLM_NLIN] = {c->qkv_bias, c->qkv_bias, c->qkv_bias, c->o_bias,
				      c->mlp_bias, c->mlp_bias, c->mlp_bias};
		for (int j = 0; j < LLM_NLIN; j++) {
			snprintf(name, sizeof name, "model.layers.%d.%s.%s", l, lin_parent[j], llm_lin_names[j]);
			if (load_linear(m, &s, &L->lin[j], name, N[j], K[j], bias[j], tmp, e) < 0)
				goto fail;
		}
	}
	if (opt && opt->verbose) {
		char buf[256];
		fprintf(stderr, "llm: %s: %s on %s\n", dir, llm_describe(m, buf, sizeof buf), dev->name);
	}
	free(tmp);
	st_close(&s);
	return m;
fail:
	free(tmp);
	st_close(&s);
	llm_free(m);
	return NULL;
}

static void lora_drop(llm *m)
{
	llm_priv *p = priv_of(m);

	for (size_t i = 0; i < p->nlora; i++)
		dev_free(m->dev, p->lora[i]);
	p->nlora = 0;
	if (m->layers)
		for (int l = 0; l < m->cfg.n_layers; l++)
			for (int j = 0; j < LLM_NLIN; j++) {
				llm_linear *L = &m->layers[l].lin[j];
				L->r = 0;
				L->lora_a = L->lora_b = NULL;
			}
	m->lora_r = m->lora_n = 0;
}

void llm_free(llm *m)
{
	if (!m)
		return;
	llm_priv *p = priv_of(m);

	lora_drop(m);
	free(p->lora);
	for (size_t i = 0; i < p->n; i++)
		dev_free(m->dev, p->p[i]);
	free(p->p);
	if (m->layers)
		for (int l = 0; l < m->cfg.n_layers; l++)
			for (int j = 0; j < LLM_NLIN; j++)
				if (m->layers[l].lin[j].nf4.mem)
					nf4_free(&m->layers[l].lin[j].nf4);
	free(m->layers);
	free(m->emb);
	free(m);
}

/* ------------------------------------------------------------------ LoRA */

/* PEFT's pattern lookup (rank_pattern, alpha_pattern): the first key k with
 * re.match(r"(.*\.)?(k)$", module). */
static json_t *pattern_value(json_t *pat, const char *module)
{
	const char *key;
	json_t *val;

	if (!pat || !json_is_object(pat))
		return NULL;
	json_object_foreach(pat, key, val) {
		char re[1024];
		int err;
		PCRE2_SIZE off;

		snprintf(re, sizeof re, "(.*\\.)?(%s)$", key);
		pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_ANCHORED,
				&err, &off, NULL);
		if (!code)
			continue;
		pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
		int rc = md ? pcre2_match(code, (PCRE2_SPTR)module, strlen(module), 0, 0, md, NULL) : -1;
		pcre2_match_data_free(md);
		pcre2_code_free(code);
		if (rc >= 0)
			return val;
	}
	return NULL;
}

/* "base_model.model.model.layers.3.mlp.up_proj.lora_B.weight" -> layer 3,
 * linear LLM_UP, 'B'.  0 on a match. */
static int lora_name(const char *name, int *layer, int *lin, char *ab, char *module, size_t mlen)
{
	const char *pre = "base_model.model.";
	int l, n = 0;
	char par[32], proj[32], which;

	if (strncmp(name, pre, strlen(pre)) != 0)
		return -1;
	name += strlen(pre);
	if (sscanf(name, "model.layers.%d.%31[a-z_].%31[a-z_].lora_%c%n", &l, par, proj, &which, &n) != 4)
		return -1;
	const char *rest = name + n;
	if (strcmp(rest, ".weight") != 0 && strcmp(rest, ".default.weight") != 0)
		return -1;
	if (which != 'A' && which != 'B')
		return -1;
	for (int j = 0; j < LLM_NLIN; j++)
		if (strcmp(par, lin_parent[j]) == 0 && strcmp(proj, llm_lin_names[j]) == 0) {
			*layer = l;
			*lin = j;
			*ab = which;
			snprintf(module, mlen, "model.layers.%d.%s.%s", l, par, proj);
			return 0;
		}
	return -1;
}

int llm_lora_load(llm *m, const char *dir, an_err *e)
{
	char path[4096];
	size_t len;
	json_error_t je;
	json_t *cfg = NULL;
	st s = {0};
	float *tmp = NULL;
	int rc = -1;

	lora_drop(m);
	in_dir(path, sizeof path, dir, "adapter_config.json");
	char *buf = slurp(path, &len, e);
	if (!buf)
		return -1;
	cfg = json_loadb(buf, len, 0, &je);
	free(buf);
	if (!cfg || !json_is_object(cfg)) {
		an_err_set(e, "%s: %s", path, cfg ? "expected a JSON object" : je.text);
		goto out;
	}
	json_t *pt = json_object_get(cfg, "peft_type");
	if (pt && !(json_is_string(pt) && strcmp(json_string_value(pt), "LORA") == 0)) {
		an_err_set(e, "%s: peft_type must be \"LORA\"", path);
		goto out;
	}
	int dora, fifo, rslora;
	if (jbool(cfg, "use_dora", 0, &dora, path, e) < 0 ||
	    jbool(cfg, "fan_in_fan_out", 0, &fifo, path, e) < 0 ||
	    jbool(cfg, "use_rslora", 0, &rslora, path, e) < 0)
		goto out;
	json_t *bias = json_object_get(cfg, "bias");
	json_t *mts = json_object_get(cfg, "modules_to_save");
	if (dora || fifo || (bias && !(json_is_string(bias) && strcmp(json_string_value(bias), "none") == 0)) ||
	    (mts && !json_is_null(mts) && !(json_is_array(mts) && json_array_size(mts) == 0))) {
		an_err_set(e, "%s: use_dora, fan_in_fan_out, bias other than \"none\" and "
				"modules_to_save are not supported", path);
		goto out;
	}
	double alpha;
	int r0;
	if (jint(cfg, "r", 8, 0, &r0, path, e) < 0 || jnum(cfg, "lora_alpha", 8, &alpha, path, e) < 0)
		goto out;
	json_t *rpat = json_object_get(cfg, "rank_pattern"), *apat = json_object_get(cfg, "alpha_pattern");

	/* the weights */
	char wpath[4096];
	snprintf(wpath, sizeof wpath, "%s/adapter_model.safetensors", dir);
	if (st_open(&s, wpath, e) < 0)
		goto out;
	int seen[LLM_NLIN] = {0};
	for (size_t i = 0; i < s.n; i++) {
		const st_tensor *t = &s.t[i];
		int l, j;
		char ab, module[256];

		if (lora_name(t->name, &l, &j, &ab, module, sizeof module) < 0) {
			an_err_set(e, "%s: tensor \"%s\": not a LoRA weight of a decoder linear "
					"(base_model.model.model.layers.N.<self_attn|mlp>.<proj>.lora_A|B.weight)",
					wpath, t->name);
			goto out;
		}
		if (l < 0 || l >= m->cfg.n_layers) {
			an_err_set(e, "%s: tensor \"%s\": layer %d, the model has %d", wpath, t->name, l,
					m->cfg.n_layers);
			goto out;
		}
		if (ab == 'B')
			continue;     /* taken with its A */
		llm_linear *L = &m->layers[l].lin[j];
		char bname[512];
		snprintf(bname, sizeof bname, "%s", t->name);
		char *p = strstr(bname, ".lora_A");
		p[6] = 'B';
		const st_tensor *tb = st_find(&s, bname);
		if (!tb) {
			an_err_set(e, "%s: tensor \"%s\" has no \"%s\"", wpath, t->name, bname);
			goto out;
		}
		if (t->ndim != 2 || t->shape[1] != L->K || t->shape[0] < 1 ||
		    tb->ndim != 2 || tb->shape[0] != L->N || tb->shape[1] != t->shape[0]) {
			an_err_set(e, "%s: \"%s\": A must be [r, %d] and B [%d, r]", wpath, module, L->K, L->N);
			goto out;
		}
		int r = (int)t->shape[0];
		json_t *rv = pattern_value(rpat, module);
		if (rv && json_is_integer(rv) && json_integer_value(rv) != r) {
			an_err_set(e, "%s: \"%s\": rank_pattern says %lld, tensors have r %d", wpath, module,
					(long long)json_integer_value(rv), r);
			goto out;
		}
		if (!rv && r != r0) {
			an_err_set(e, "%s: \"%s\": config r %d, tensors have r %d", wpath, module, r0, r);
			goto out;
		}
		json_t *av = pattern_value(apat, module);
		double a = av && json_is_number(av) ? json_number_value(av) : alpha;
		size_t na = (size_t)r * L->K, nb = (size_t)L->N * r;
		float *h = malloc((na > nb ? na : nb) * sizeof *h);
		if (!h) {
			an_err_set(e, "out of memory");
			goto out;
		}
		if (st_read_f32(&s, t, h, na, e) < 0 || !(L->lora_a = dput(m, h, na * 4, 1, e)) ||
		    st_read_f32(&s, tb, h, nb, e) < 0 || !(L->lora_b = dput(m, h, nb * 4, 1, e))) {
			free(h);
			goto out;
		}
		free(h);
		L->r = r;
		L->lora_scale = (float)(rslora ? a / sqrt((double)r) : a / r);
		if (r > m->lora_r)
			m->lora_r = r;
		m->lora_n++;
		seen[j] = 1;
	}
	/* every linear named in a target_modules list has an adapter somewhere */
	json_t *tm = json_object_get(cfg, "target_modules");
	if (tm && json_is_array(tm)) {
		size_t i;
		json_t *v;
		json_array_foreach(tm, i, v) {
			const char *name = json_is_string(v) ? json_string_value(v) : "";
			int found = 0, known = 0;
			for (int j = 0; j < LLM_NLIN; j++)
				if (strcmp(name, llm_lin_names[j]) == 0) {
					known = 1;
					found = seen[j];
				}
			if (!known || !found) {
				an_err_set(e, "%s: target module \"%s\": %s", path, name,
						known ? "no tensors in adapter_model.safetensors"
						      : "not a decoder linear of this model");
				goto out;
			}
		}
	}
	if (m->lora_n == 0) {
		an_err_set(e, "%s: no LoRA tensors", wpath);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		lora_drop(m);
	free(tmp);
	st_close(&s);
	json_decref(cfg);
	return rc;
}

/* ------------------------------------------------------------------ context */

#define LLM_MAX_LC 32

struct llm_ctx {
	llm     *m;
	an_dev  *dev;
	int      max_rows, max_len, max_chunk;
	int      rows, len;        /* in use */
	int     *pad, *pad2;       /* [max_rows] host: padding slots of each row (2: scratch) */
	/* device */
	float  **kc, **vc;         /* per layer [max_rows, max_len, Hkv*D] */
	float   *tmpkv;            /* [max_rows, max_len, Hkv*D] for llm_ctx_select */
	float   *cos, *sin;        /* [max_len, D/2] */
	int     *kmask_d;          /* [max_rows, max_len] */
	int     *pos_d;            /* [max_chunk] */
	int     *pmask_d;          /* [max_chunk] pooling mask */
	float   *x, *xn, *q, *k, *v, *att, *t1, *g, *u; /* activations, [max_chunk, *] */
	lora_cache lc[LLM_MAX_LC]; /* LoRA scratch, one per (K, N, r) of the adapter */
	int      nlc;
	float   *last;             /* [max_rows, d] */
	float   *logits;           /* [max_rows, V] */
	float   *pool;             /* [max_rows, d] */
	/* host */
	float   *hx;               /* [max_chunk, d] */
	int     *hkmask, *hkmask2; /* [max_rows, max_len] (2: scratch) */
	int     *hpos, *hpmask;    /* [max_chunk] */
	float   *hpool;            /* [max_rows, d] */
};

int llm_ctx_rows(const llm_ctx *c) { return c->rows; }
int llm_ctx_len(const llm_ctx *c) { return c->len; }

void llm_ctx_free(llm_ctx *c)
{
	if (!c)
		return;
	an_dev *d = c->dev;
	if (c->kc)
		for (int l = 0; l < c->m->cfg.n_layers; l++) {
			dev_free(d, c->kc[l]);
			dev_free(d, c->vc[l]);
		}
	free(c->kc);
	free(c->vc);
	for (int i = 0; i < c->nlc; i++)
		lora_cache_free(&c->lc[i], d);
	void *dv[] = {c->tmpkv, c->cos, c->sin, c->kmask_d, c->pos_d, c->pmask_d, c->x, c->xn, c->q,
		      c->k, c->v, c->att, c->t1, c->g, c->u, c->last, c->logits, c->pool};
	for (size_t i = 0; i < sizeof dv / sizeof dv[0]; i++)
		if (dv[i])
			dev_free(d, dv[i]);
	free(c->pad);
	free(c->pad2);
	free(c->hx);
	free(c->hkmask);
	free(c->hkmask2);
	free(c->hpos);
	free(c->hpmask);
	free(c->hpool);
	free(c);
}

static size_t nz(size_t n)
{
	return n ? n : 1;
}

llm_ctx *llm_ctx_new(llm *m, int max_rows, int max_len, int max_chunk, an_err *e)
{
	const llm_config *cf = &m->cfg;
	llm_ctx *c = calloc(1, sizeof *c);
	an_dev *d = m->dev;

	if (!c) {
		an_err_set(e, "out of memory");
		return NULL;
	}
	if (max_rows < 1 || max_len < 1) {
		an_err_set(e, "llm context: rows %d and length %d must be positive", max_rows, max_len);
		free(c);
		return NULL;
	}
	if (max_chunk <= 0)
		max_chunk = 4096;
	if (max_chunk < max_rows)
		max_chunk = max_rows;         /* a decode step is one token a row */
	c->m = m;
	c->dev = d;
	c->max_rows = max_rows;
	c->max_len = max_len;
	c->max_chunk = max_chunk;
	int dm = cf->d_model, hd = cf->head_dim, nq = cf->n_heads * hd, nkv = cf->n_kv_heads * hd;
	size_t M = (size_t)max_chunk, cache = (size_t)max_rows * max_len * nkv;
#define DA(p, n, sz) do { if (!((p) = dev_malloc(d, nz((size_t)(n) * (sz)), e))) goto fail; } while (0)
	c->kc = calloc((size_t)cf->n_layers, sizeof *c->kc);
	c->vc = calloc((size_t)cf->n_layers, sizeof *c->vc);
	if (!c->kc || !c->vc)
		goto oom;
	for (int l = 0; l < cf->n_layers; l++) {
		DA(c->kc[l], cache, sizeof(float));
		DA(c->vc[l], cache, sizeof(float));
	}
	DA(c->tmpkv, cache, sizeof(float));
	DA(c->cos, (size_t)max_len * hd / 2, sizeof(float));
	DA(c->sin, (size_t)max_len * hd / 2, sizeof(float));
	DA(c->kmask_d, (size_t)max_rows * max_len, sizeof(int));
	DA(c->pos_d, M, sizeof(int));
	DA(c->pmask_d, M, sizeof(int));
	DA(c->x, M * dm, sizeof(float));
	DA(c->xn, M * dm, sizeof(float));
	DA(c->q, M * nq, sizeof(float));
	DA(c->k, M * nkv, sizeof(float));
	DA(c->v, M * nkv, sizeof(float));
	DA(c->att, M * nq, sizeof(float));
	DA(c->t1, M * dm, sizeof(float));
	DA(c->g, M * cf->d_ff, sizeof(float));
	DA(c->u, M * cf->d_ff, sizeof(float));
	DA(c->last, (size_t)max_rows * dm, sizeof(float));
	DA(c->logits, (size_t)max_rows * cf->vocab, sizeof(float));
	DA(c->pool, (size_t)max_rows * dm, sizeof(float));
#undef DA
	c->pad = calloc((size_t)max_rows, sizeof *c->pad);
	c->pad2 = calloc((size_t)max_rows, sizeof *c->pad2);
	c->hx = malloc(M * dm * sizeof *c->hx);
	c->hkmask = calloc((size_t)max_rows * max_len, sizeof *c->hkmask);
	c->hkmask2 = calloc((size_t)max_rows * max_len, sizeof *c->hkmask2);
	c->hpos = malloc(M * sizeof *c->hpos);
	c->hpmask = malloc(M * sizeof *c->hpmask);
	c->hpool = malloc((size_t)max_rows * dm * sizeof *c->hpool);
	if (!c->pad || !c->pad2 || !c->hkmask2 || !c->hx || !c->hkmask || !c->hpos || !c->hpmask || !c->hpool)
		goto oom;
	/* RoPE tables for positions [0, max_len) */
	{
		float *ct = malloc((size_t)max_len * hd / 2 * sizeof *ct);
		float *stb = malloc((size_t)max_len * hd / 2 * sizeof *stb);
		int rc = ct && stb ? rope_table_init(ct, stb, max_len, &cf->rope, e) : -2;
		if (rc == 0)
			rc = dev_upload(d, c->cos, ct, (size_t)max_len * hd / 2 * sizeof *ct, e);
		if (rc == 0)
			rc = dev_upload(d, c->sin, stb, (size_t)max_len * hd / 2 * sizeof *stb, e);
		free(ct);
		free(stb);
		if (rc == -2)
			goto oom;
		if (rc < 0)
			goto fail;
	}
	return c;
oom:
	an_err_set(e, "llm context: out of memory (%d rows x %d positions)", max_rows, max_len);
fail:
	llm_ctx_free(c);
	return NULL;
}

static lora_cache *lc_find(llm_ctx *c, const llm_linear *L)
{
	for (int i = 0; i < c->nlc; i++)
		if (c->lc[i].K == L->K && c->lc[i].N == L->N && c->lc[i].r == L->r)
			return &c->lc[i];
	return NULL;
}

/* A LoRA cache for every (K, N, r) of the loaded adapter, made once. */
static int ctx_lora_fit(llm_ctx *c, an_err *e)
{
	const llm *m = c->m;

	for (int l = 0; l < m->cfg.n_layers; l++)
		for (int j = 0; j < LLM_NLIN; j++) {
			const llm_linear *L = &m->layers[l].lin[j];
			if (!L->r || lc_find(c, L))
				continue;
			if (c->nlc == LLM_MAX_LC) {
				an_err_set(e, "LoRA: more than %d shapes of adapter", LLM_MAX_LC);
				return -1;
			}
			if (lora_cache_init(&c->lc[c->nlc], c->dev, c->max_chunk, L->K, L->N, L->r, 0, e) < 0)
				return -1;
			c->nlc++;
		}
	return 0;
}

/* y[M, N] = x[M, K] W^T + b (+ scale * (x A^T) B^T): lora.h, which also
 * dispatches the NF4 linear per device. */
static int lin_forward(llm_ctx *c, const llm_linear *L, float *y, const float *x, int M, an_err *e)
{
	lora_base b = {
		.kind = L->q == LLM_Q_F32 ? LORA_BASE_F32 : L->q == LLM_Q_BF16 ? LORA_BASE_BF16
									: LORA_BASE_NF4,
		.w = L->w, .nf4 = &L->nf4, .bias = L->bias, .N = L->N, .K = L->K,
	};
	lora_cache *lc = L->r ? lc_find(c, L) : NULL;

	if (L->r && !lc) {
		an_err_set(e, "LoRA adapter loaded after the context was made: prefill first");
		return -1;
	}
	return lora_forward(c->dev, y, x, &b, L->lora_a, L->lora_b, L->r, L->lora_scale, 0.0f, 0,
			lc, M, e);
}

/* Host embedding row of token id into dst[d]. */
static void emb_row(const llm *m, int id, float *dst)
{
	size_t dm = (size_t)m->cfg.d_model;

	if (m->emb_type == AN_BF16)
		bf16_to_f32_n(dst, (const uint16_t *)m->emb + (size_t)id * dm, dm);
	else
		memcpy(dst, (const float *)m->emb + (size_t)id * dm, dm * sizeof *dst);
}

/* The forward pass of T new slots [p0, p0+T) of every row, with hx already
 * holding the input rows [rows*T, d] and hpos their positions.  Writes the
 * final-norm hidden states into c->xn [rows*T, d]. */
static int forward(llm_ctx *c, int T, int p0, an_err *e)
{
	llm *m = c->m;
	const llm_config *cf = &m->cfg;
	an_dev *d = c->dev;
	int B = c->rows, M = B * T, dm = cf->d_model, hd = cf->head_dim;
	int nkv = cf->n_kv_heads * hd;

	if (dev_upload(d, c->x, c->hx, (size_t)M * dm * sizeof(float), e) < 0 ||
	    dev_upload(d, c->pos_d, c->hpos, (size_t)M * sizeof(int), e) < 0 ||
	    dev_upload(d, c->kmask_d, c->hkmask, (size_t)B * c->max_len * sizeof(int), e) < 0)
		return -1;
	attn_dims ad = {
		.B = B, .Tq = T, .Tk = p0 + T, .Tkmax = c->max_len, .Hq = cf->n_heads,
		.Hkv = cf->n_kv_heads, .D = hd, .p0 = p0, .causal = 1,
		.scale = 1.0f / sqrtf((float)hd),
	};
	for (int l = 0; l < cf->n_layers; l++) {
		const llm_layer *L = &m->layers[l];

		/* one row: the new keys and values go straight into the cache
		 * (slots [p0, p0+T) are contiguous); several: through k, v */
		float *kd = B == 1 ? c->kc[l] + (size_t)p0 * nkv : c->k;
		float *vd = B == 1 ? c->vc[l] + (size_t)p0 * nkv : c->v;
		if (dev_rmsnorm_forward(d, c->xn, NULL, c->x, L->ln1, cf->rms_eps, M, dm, e) < 0 ||
		    lin_forward(c, &L->lin[LLM_Q], c->q, c->xn, M, e) < 0 ||
		    lin_forward(c, &L->lin[LLM_K], kd, c->xn, M, e) < 0 ||
		    lin_forward(c, &L->lin[LLM_V], vd, c->xn, M, e) < 0 ||
		    dev_rope_forward(d, c->q, c->q, c->cos, c->sin, c->pos_d, 0, B, T, cf->n_heads, hd,
				     ROPE_HALF, e) < 0 ||
		    dev_rope_forward(d, kd, kd, c->cos, c->sin, c->pos_d, 0, B, T, cf->n_kv_heads, hd,
				     ROPE_HALF, e) < 0)
			return -1;
		/* the new keys and values into the cache, slots [p0, p0+T) of each row */
		for (int b = 0; B > 1 && b < B; b++) {
			size_t off = ((size_t)b * c->max_len + p0) * nkv, n = (size_t)T * nkv * sizeof(float);
			if (dev_copy(d, c->kc[l] + off, c->k + (size_t)b * T * nkv, n, e) < 0 ||
			    dev_copy(d, c->vc[l] + off, c->v + (size_t)b * T * nkv, n, e) < 0)
				return -1;
		}
		if (dev_attention_forward(d, c->att, NULL, c->q, c->kc[l], c->vc[l], c->kmask_d, &ad, e) < 0 ||
		    lin_forward(c, &L->lin[LLM_O], c->t1, c->att, M, e) < 0 ||
		    dev_add_inplace(d, c->x, c->t1, (size_t)M * dm, e) < 0 ||
		    dev_rmsnorm_forward(d, c->xn, NULL, c->x, L->ln2, cf->rms_eps, M, dm, e) < 0 ||
		    lin_forward(c, &L->lin[LLM_GATE], c->g, c->xn, M, e) < 0 ||
		    lin_forward(c, &L->lin[LLM_UP], c->u, c->xn, M, e) < 0 ||
		    dev_swiglu_forward(d, c->g, c->g, c->u, (size_t)M * cf->d_ff, e) < 0 ||
		    lin_forward(c, &L->lin[LLM_DOWN], c->t1, c->g, M, e) < 0 ||
		    dev_add_inplace(d, c->x, c->t1, (size_t)M * dm, e) < 0)
			return -1;
	}
	return dev_rmsnorm_forward(d, c->xn, NULL, c->x, m->norm, cf->rms_eps, M, dm, e);
}

/* Logits [rows, V] of the last slot of the chunk just run (T slots a row). */
static int head_last(llm_ctx *c, int T, float *logits, an_err *e)
{
	llm *m = c->m;
	int B = c->rows, dm = m->cfg.d_model;
	const float *src = c->xn;

	if (T > 1) {
		for (int b = 0; b < B; b++)
			if (dev_copy(c->dev, c->last + (size_t)b * dm, c->xn + ((size_t)b * T + T - 1) * dm,
				     (size_t)dm * sizeof(float), e) < 0)
				return -1;
		src = c->last;
	}
	if (dev_matmul_forward(c->dev, c->logits, src, m->head, m->head_type, NULL, B, dm,
			       m->cfg.vocab, e) < 0)
		return -1;
	return dev_download(c->dev, logits, c->logits, (size_t)B * m->cfg.vocab * sizeof(float), e);
}

/* Fill hx/hpos for slots [p0, p0+T) of every row from the sequences. */
static int fill_chunk(llm_ctx *c, const llm_seq *seqs, int T, int p0, an_err *e)
{
	const llm *m = c->m;
	int dm = m->cfg.d_model;

	for (int b = 0; b < c->rows; b++) {
		const llm_seq *s = &seqs[b];
		for (int t = 0; t < T; t++) {
			int slot = p0 + t, i = slot - c->pad[b];
			float *dst = c->hx + ((size_t)b * T + t) * dm;

			c->hpos[b * T + t] = i < 0 ? 0 : i;
			if (i < 0)
				memset(dst, 0, (size_t)dm * sizeof *dst);
			else if (i < s->npre)
				memcpy(dst, s->pre + (size_t)i * dm, (size_t)dm * sizeof *dst);
			else {
				int id = s->ids[i - s->npre];
				if (id < 0 || id >= m->cfg.vocab) {
					an_err_set(e, "row %d: token %d: id %d outside the vocabulary [0, %d)",
							b, i - s->npre, id, m->cfg.vocab);
					return -1;
				}
				emb_row(m, id, dst);
			}
		}
	}
	return 0;
}

/* Start rows: reset the cache masks for the sequences. */
static int ctx_start(llm_ctx *c, const llm_seq *seqs, int B, int *L, an_err *e)
{
	if (B < 1 || B > c->max_rows) {
		an_err_set(e, "llm: %d sequences, the context holds 1 to %d", B, c->max_rows);
		return -1;
	}
	if (ctx_lora_fit(c, e) < 0)
		return -1;
	int len = 0;
	for (int b = 0; b < B; b++) {
		int n = seqs[b].npre + seqs[b].nids;
		if (seqs[b].npre < 0 || seqs[b].nids < 0 || n < 1) {
			an_err_set(e, "row %d: empty sequence", b);
			return -1;
		}
		if (n > len)
			len = n;
	}
	if (len > c->max_len) {
		an_err_set(e, "llm: a sequence of %d positions, the context holds %d", len, c->max_len);
		return -1;
	}
	c->rows = B;
	c->len = 0;
	for (int b = 0; b < B; b++) {
		c->pad[b] = len - (seqs[b].npre + seqs[b].nids);
		int *km = c->hkmask + (size_t)b * c->max_len;
		memset(km, 0, (size_t)c->max_len * sizeof *km);
		for (int s = c->pad[b]; s < len; s++)
			km[s] = 1;
	}
	*L = len;
	return 0;
}

/* Runs the sequences chunk by chunk; per chunk, calls back with T and p0. */
static int run_prefill(llm_ctx *c, const llm_seq *seqs, int B, int all, float *logits,
		float *hidden, an_err *e)
{
	llm *m = c->m;
	int L, V = m->cfg.vocab, dm = m->cfg.d_model;

	if (ctx_start(c, seqs, B, &L, e) < 0)
		return -1;
	int Tc = c->max_chunk / B;
	if (Tc < 1)
		Tc = 1;
	float *alllog = NULL;
	if (all && logits) {
		alllog = dev_malloc(c->dev, (size_t)B * Tc * V * sizeof(float), e);
		if (!alllog)
			return -1;
		memset(logits, 0, (size_t)B * L * V * sizeof *logits);
	}
	if (hidden)
		memset(hidden, 0, (size_t)B * dm * sizeof *hidden);
	int rc = -1;
	float *row = NULL;
	for (int p0 = 0; p0 < L; p0 += Tc) {
		int T = L - p0 < Tc ? L - p0 : Tc;
		if (fill_chunk(c, seqs, T, p0, e) < 0 || forward(c, T, p0, e) < 0)
			goto out;
		c->len = p0 + T;
		if (alllog) {
			if (dev_matmul_forward(c->dev, alllog, c->xn, m->head, m->head_type, NULL, B * T, dm,
					       V, e) < 0)
				goto out;
			if (!row && !(row = malloc((size_t)T * V * sizeof *row))) {
				an_err_set(e, "out of memory");
				goto out;
			}
			for (int b = 0; b < B; b++) {
				if (dev_download(c->dev, row, alllog + (size_t)b * T * V,
						 (size_t)T * V * sizeof *row, e) < 0)
					goto out;
				for (int t = 0; t < T; t++)
					if (p0 + t >= c->pad[b])
						memcpy(logits + ((size_t)b * L + p0 + t) * V, row + (size_t)t * V,
								(size_t)V * sizeof *row);
			}
		} else if (logits && p0 + T == L) {
			if (head_last(c, T, logits, e) < 0)
				goto out;
		}
		if (hidden) {
			/* mean over this chunk's real slots, then weighted on the host */
			int any = 0;
			for (int b = 0; b < B; b++)
				for (int t = 0; t < T; t++) {
					c->hpmask[b * T + t] = p0 + t >= c->pad[b];
					any |= c->hpmask[b * T + t];
				}
			if (!any)
				continue;
			if (dev_upload(c->dev, c->pmask_d, c->hpmask, (size_t)B * T * sizeof(int), e) < 0 ||
			    dev_meanpool_forward(c->dev, c->pool, c->xn, c->pmask_d, B, T, dm, e) < 0 ||
			    dev_download(c->dev, c->hpool, c->pool, (size_t)B * dm * sizeof(float), e) < 0)
				goto out;
			for (int b = 0; b < B; b++) {
				int cnt = 0;
				for (int t = 0; t < T; t++)
					cnt += c->hpmask[b * T + t];
				for (int j = 0; j < dm; j++)
					hidden[(size_t)b * dm + j] += c->hpool[(size_t)b * dm + j] * cnt;
			}
		}
	}
	if (hidden)
		for (int b = 0; b < B; b++) {
			float n = (float)(L - c->pad[b]);
			for (int j = 0; j < dm; j++)
				hidden[(size_t)b * dm + j] /= n;
		}
	rc = 0;
out:
	free(row);
	if (alllog)
		dev_free(c->dev, alllog);
	return rc;
}

int llm_prefill(llm_ctx *c, const llm_seq *seqs, int B, int all, float *logits, float *hidden,
		an_err *e)
{
	return run_prefill(c, seqs, B, all, logits, hidden, e);
}

int llm_embed(llm_ctx *c, const llm_seq *seqs, int B, float *out, an_err *e)
{
	return run_prefill(c, seqs, B, 0, NULL, out, e);
}

int llm_step(llm_ctx *c, const int32_t *ids, float *logits, an_err *e)
{
	llm *m = c->m;
	int B = c->rows, p0 = c->len;

	if (B < 1) {
		an_err_set(e, "llm_step: no rows (prefill first)");
		return -1;
	}
	if (p0 >= c->max_len) {
		an_err_set(e, "llm_step: the context's %d positions are full", c->max_len);
		return -1;
	}
	for (int b = 0; b < B; b++) {
		if (ids[b] < 0 || ids[b] >= m->cfg.vocab) {
			an_err_set(e, "row %d: id %d outside the vocabulary [0, %d)", b, ids[b], m->cfg.vocab);
			return -1;
		}
		emb_row(m, ids[b], c->hx + (size_t)b * m->cfg.d_model);
		c->hpos[b] = p0 - c->pad[b];
		c->hkmask[(size_t)b * c->max_len + p0] = 1;
	}
	if (forward(c, 1, p0, e) < 0)
		return -1;
	c->len = p0 + 1;
	return logits ? head_last(c, 1, logits, e) : 0;
}

int llm_ctx_select(llm_ctx *c, const int *src, int n, an_err *e)
{
	const llm_config *cf = &c->m->cfg;
	int nkv = cf->n_kv_heads * cf->head_dim;
	size_t rowsz = (size_t)c->max_len * nkv, used = (size_t)c->len * nkv * sizeof(float);

	if (n < 1 || n > c->max_rows) {
		an_err_set(e, "llm_ctx_select: %d rows, the context holds 1 to %d", n, c->max_rows);
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (src[i] < 0 || src[i] >= c->rows) {
			an_err_set(e, "llm_ctx_select: row %d of %d", src[i], c->rows);
			return -1;
		}
	for (int l = 0; l < cf->n_layers; l++)
		for (int kv = 0; kv < 2; kv++) {
			float *cache = kv ? c->vc[l] : c->kc[l];
			for (int i = 0; i < n; i++)
				if (dev_copy(c->dev, c->tmpkv + i * rowsz, cache + src[i] * rowsz, used, e) < 0)
					return -1;
			for (int i = 0; i < n; i++)
				if (dev_copy(c->dev, cache + i * rowsz, c->tmpkv + i * rowsz, used, e) < 0)
					return -1;
		}
	/* host state: padding and masks, through the scratch copies */
	for (int i = 0; i < n; i++) {
		c->pad2[i] = c->pad[src[i]];
		memcpy(c->hkmask2 + (size_t)i * c->max_len, c->hkmask + (size_t)src[i] * c->max_len,
				(size_t)c->max_len * sizeof *c->hkmask);
	}
	int *t = c->pad;
	c->pad = c->pad2;
	c->pad2 = t;
	t = c->hkmask;
	c->hkmask = c->hkmask2;
	c->hkmask2 = t;
	c->rows = n;
	return 0;
}
