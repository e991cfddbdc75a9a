/* test_llm.c: the Qwen2 / Llama decoders against transformers' golden
 * outputs on the tiny checkpoints of tests/gen/gen_llm.py (logits, greedy
 * tokens, prefix rows, PEFT LoRA, NF4, sharded bf16, untied head, src_emb),
 * plus batching, chunked prefill, row selection and config/adapter errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"
#include "llm.h"
#include "llmdec.h"
#include "rec.h"
#include "nf4.h"
#include "st.h"
#include "test.h"

#define GD "tests/golden/llm"
#define TOL 1e-4

static st G;
static an_dev *dev;

/* A golden tensor as fp32 / int32 (malloc'd), with its element count. */
static float *gf(const char *name, size_t *n)
{
	const st_tensor *t = st_find(&G, name);
	an_err e = {0};

	if (!t) {
		printf("FAIL golden %s: missing\n", name);
		exit(1);
	}
	float *v = malloc(t->numel * sizeof *v);
	if (st_read_f32(&G, t, v, t->numel, &e) < 0) {
		printf("FAIL golden %s: %s\n", name, e.msg);
		exit(1);
	}
	if (n)
		*n = t->numel;
	return v;
}

static int32_t *gi(const char *name, int *n)
{
	size_t k;
	float *f = gf(name, &k);
	int32_t *v = malloc(k * sizeof *v);

	for (size_t i = 0; i < k; i++)
		v[i] = (int32_t)f[i];
	free(f);
	*n = (int)k;
	return v;
}

static llm *load(const char *dir, llm_quant q, an_err *e)
{
	llm_opts o = {.quant = q};

	return llm_load(dir, &o, dev, e);
}

/* Logits of every position of one sequence, [n, V]. */
static float *logits_of(llm *m, const llm_seq *s, int chunk, an_err *e)
{
	llm_ctx *c = llm_ctx_new(m, 1, 64, chunk, e);
	int n = s->npre + s->nids;
	float *out = malloc((size_t)n * m->cfg.vocab * sizeof *out);

	if (!c || llm_prefill(c, s, 1, 1, out, NULL, e) < 0) {
		free(out);
		out = NULL;
	}
	llm_ctx_free(c);
	return out;
}

static int argmax(const float *x, int n)
{
	int b = 0;

	for (int i = 1; i < n; i++)
		if (x[i] > x[b])
			b = i;
	return b;
}

/* Greedy continuation of n tokens; returns the number matching want. */
static int greedy(llm *m, const llm_seq *s, const int32_t *want, int n, an_err *e)
{
	llm_ctx *c = llm_ctx_new(m, 1, 64, 0, e);
	float *lg = malloc((size_t)m->cfg.vocab * sizeof *lg);
	int ok = 0;

	if (c && llm_prefill(c, s, 1, 0, lg, NULL, e) == 0)
		for (int i = 0; i < n; i++) {
			int32_t t = argmax(lg, m->cfg.vocab);
			if (t != want[i])
				break;
			ok++;
			if (llm_step(c, &t, lg, e) < 0)
				break;
		}
	free(lg);
	llm_ctx_free(c);
	return ok;
}

static void check_logits(const char *name, llm *m, const llm_seq *s, const char *gname, int chunk)
{
	an_err e = {0};
	size_t n;
	float *want = gf(gname, &n);
	float *got = logits_of(m, s, chunk, &e);

	if (!got)
		CHECK(0, name, "%s", e.msg);
	else if (n != (size_t)(s->npre + s->nids) * m->cfg.vocab)
		CHECK(0, name, "golden has %zu values, model gives %zu", n,
				(size_t)(s->npre + s->nids) * m->cfg.vocab);
	else {
		double r = t_relerr(got, want, n);
		fprintf(stderr, "%s: relative error %.3g\n", name, r);
		CHECK(r <= TOL, name, "relative error %.3g > %g", r, TOL);
	}
	free(want);
	free(got);
}

/* The cases every model runs: prompts alone, batched, chunked, prefix, greedy, emb. */
static void model_cases(const char *tag, llm *m, const char *qname)
{
	char name[256], g[256];
	int n[3];
	int32_t *ids[3];
	an_err e = {0};
	int V = m->cfg.vocab, d = m->cfg.d_model;

	for (int k = 0; k < 3; k++) {
		snprintf(g, sizeof g, "%s.p%d.ids", tag, k);
		ids[k] = gi(g, &n[k]);
		llm_seq s = {NULL, 0, ids[k], n[k]};
		snprintf(name, sizeof name, "%s %s logits p%d", tag, qname, k);
		snprintf(g, sizeof g, "%s.p%d.logits", tag, k);
		check_logits(name, m, &s, g, 0);
	}
	/* chunked prefill: 3 slots a pass */
	{
		llm_seq s = {NULL, 0, ids[0], n[0]};
		snprintf(name, sizeof name, "%s %s logits p0 chunked", tag, qname);
		snprintf(g, sizeof g, "%s.p0.logits", tag);
		check_logits(name, m, &s, g, 3);
	}
	/* the three prompts as one left-padded batch */
	{
		llm_seq s[3];
		int L = 0;
		for (int k = 0; k < 3; k++) {
			s[k] = (llm_seq){NULL, 0, ids[k], n[k]};
			if (n[k] > L)
				L = n[k];
		}
		llm_ctx *c = llm_ctx_new(m, 3, 64, 0, &e);
		float *all = malloc((size_t)3 * L * V * sizeof *all);
		float *last = malloc((size_t)3 * V * sizeof *last);
		double worst = 0, worst_last = 0;
		int rc = c ? llm_prefill(c, s, 3, 1, all, NULL, &e) : -1;
		if (rc == 0)
			rc = llm_prefill(c, s, 3, 0, last, NULL, &e);
		for (int k = 0; rc == 0 && k < 3; k++) {
			snprintf(g, sizeof g, "%s.p%d.logits", tag, k);
			float *want = gf(g, NULL);
			double r = t_relerr(all + ((size_t)k * L + L - n[k]) * V, want, (size_t)n[k] * V);
			double rl = t_relerr(last + (size_t)k * V, want + (size_t)(n[k] - 1) * V, V);
			worst = r > worst ? r : worst;
			worst_last = rl > worst_last ? rl : worst_last;
			free(want);
		}
		snprintf(name, sizeof name, "%s %s batch of 3 left-padded", tag, qname);
		if (rc < 0)
			CHECK(0, name, "%s", e.msg);
		else
			CHECK(worst <= TOL && worst_last <= TOL, name, "relative error %.3g / last %.3g",
					worst, worst_last);
		/* fork rows: new rows {2, 0, 2}, then one step each must equal the
		 * same step taken alone */
		if (rc == 0) {
			int src[3] = {2, 0, 2};
			int32_t nxt[3] = {5, 7, 9};
			float *lg = malloc((size_t)3 * V * sizeof *lg);
			rc = llm_ctx_select(c, src, 3, &e);
			if (rc == 0)
				rc = llm_step(c, nxt, lg, &e);
			double w = 0;
			for (int r = 0; rc == 0 && r < 3; r++) {
				int32_t *x = malloc((size_t)(n[src[r]] + 1) * sizeof *x);
				memcpy(x, ids[src[r]], (size_t)n[src[r]] * sizeof *x);
				x[n[src[r]]] = nxt[r];
				llm_seq one = {NULL, 0, x, n[src[r]] + 1};
				float *ref = logits_of(m, &one, 0, &e);
				if (!ref)
					rc = -1;
				else {
					double rr = t_relerr(lg + (size_t)r * V, ref + (size_t)n[src[r]] * V, V);
					w = rr > w ? rr : w;
				}
				free(ref);
				free(x);
			}
			snprintf(name, sizeof name, "%s %s select rows then step", tag, qname);
			if (rc < 0)
				CHECK(0, name, "%s", e.msg);
			else
				CHECK(w <= TOL, name, "relative error %.3g", w);
			free(lg);
		}
		free(all);
		free(last);
		llm_ctx_free(c);
	}
	/* prefix rows before the prompt */
	float *pre = NULL;
	int npre = 0, nid;
	int32_t *pid;
	{
		size_t np;
		snprintf(g, sizeof g, "%s.pre.prefix", tag);
		pre = gf(g, &np);
		npre = (int)(np / d);
		snprintf(g, sizeof g, "%s.pre.ids", tag);
		pid = gi(g, &nid);
		llm_seq s = {pre, npre, pid, nid};
		snprintf(name, sizeof name, "%s %s logits with %d prefix rows", tag, qname, npre);
		snprintf(g, sizeof g, "%s.pre.logits", tag);
		check_logits(name, m, &s, g, 0);
	}
	/* greedy */
	{
		int ng, np2;
		snprintf(g, sizeof g, "%s.greedy.out", tag);
		int32_t *want = gi(g, &ng);
		llm_seq s = {NULL, 0, ids[0], n[0]};
		int ok = greedy(m, &s, want, ng, &e);
		snprintf(name, sizeof name, "%s %s greedy tokens", tag, qname);
		CHECK(ok == ng, name, "first %d of %d tokens match %s", ok, ng, e.msg);
		snprintf(g, sizeof g, "%s.pre.greedy", tag);
		int32_t *want2 = gi(g, &np2);
		llm_seq s2 = {pre, npre, pid, nid};
		ok = greedy(m, &s2, want2, np2, &e);
		snprintf(name, sizeof name, "%s %s greedy tokens after prefix", tag, qname);
		CHECK(ok == np2, name, "first %d of %d tokens match %s", ok, np2, e.msg);
		free(want);
		free(want2);
	}
	/* src_emb: mean of the final-norm hidden states */
	{
		size_t ne;
		snprintf(g, sizeof g, "%s.emb", tag);
		float *want = gf(g, &ne);
		float *got = malloc((size_t)d * sizeof *got);
		llm_ctx *c = llm_ctx_new(m, 2, 64, 4, &e);
		llm_seq s[2] = {{NULL, 0, ids[1], n[1]}, {NULL, 0, ids[0], n[0]}};
		float *two = malloc((size_t)2 * d * sizeof *two);
		int rc = c ? llm_embed(c, s, 2, two, &e) : -1;
		snprintf(name, sizeof name, "%s %s src_emb (batched, chunked)", tag, qname);
		if (rc < 0)
			CHECK(0, name, "%s", e.msg);
		else {
			double r = t_relerr(two, want, (size_t)d);
			CHECK(ne == (size_t)d && r <= TOL, name, "relative error %.3g", r);
		}
		llm_ctx_free(c);
		free(got);
		free(two);
		free(want);
	}
	free(pre);
	free(pid);
	for (int k = 0; k < 3; k++)
		free(ids[k]);
}

/* The adapter cases: logits, prefix logits, greedy after prefix. */
static void lora_cases(const char *tag, llm *m, const char *lname, const char *pfx)
{
	char name[256], g[256];
	an_err e = {0};
	int n, nid, ng;
	size_t np;

	snprintf(g, sizeof g, "%s.p0.ids", tag);
	int32_t *ids = gi(g, &n);
	llm_seq s = {NULL, 0, ids, n};
	snprintf(name, sizeof name, "%s %s logits", tag, lname);
	snprintf(g, sizeof g, "%s.%s.logits", tag, pfx);
	check_logits(name, m, &s, g, 0);
	if (strcmp(pfx, "lora") == 0) {
		snprintf(g, sizeof g, "%s.pre.prefix", tag);
		float *pre = gf(g, &np);
		snprintf(g, sizeof g, "%s.pre.ids", tag);
		int32_t *pid = gi(g, &nid);
		llm_seq s2 = {pre, (int)(np / m->cfg.d_model), pid, nid};
		snprintf(name, sizeof name, "%s %s logits with prefix", tag, lname);
		snprintf(g, sizeof g, "%s.lora.pre.logits", tag);
		check_logits(name, m, &s2, g, 0);
		snprintf(g, sizeof g, "%s.lora.greedy", tag);
		int32_t *want = gi(g, &ng);
		int ok = greedy(m, &s2, want, ng, &e);
		snprintf(name, sizeof name, "%s %s greedy after prefix", tag, lname);
		CHECK(ok == ng, name, "first %d of %d tokens match %s", ok, ng, e.msg);
		free(want);
		free(pre);
		free(pid);
	}
	free(ids);
}

static void nf4_cases(const char *tag, llm *m, const char *q)
{
	char name[256], g[256];
	an_err e = {0};
	int n, nid, ng;
	size_t np;

	snprintf(g, sizeof g, "%s.p0.ids", tag);
	int32_t *ids = gi(g, &n);
	llm_seq s = {NULL, 0, ids, n};
	snprintf(name, sizeof name, "%s %s logits vs torch NF4 reference", tag, q);
	snprintf(g, sizeof g, "%s.nf4.logits", tag);
	check_logits(name, m, &s, g, 0);
	snprintf(g, sizeof g, "%s.pre.prefix", tag);
	float *pre = gf(g, &np);
	snprintf(g, sizeof g, "%s.pre.ids", tag);
	int32_t *pid = gi(g, &nid);
	llm_seq s2 = {pre, (int)(np / m->cfg.d_model), pid, nid};
	snprintf(name, sizeof name, "%s %s logits with prefix", tag, q);
	snprintf(g, sizeof g, "%s.nf4.pre.logits", tag);
	check_logits(name, m, &s2, g, 0);
	snprintf(g, sizeof g, "%s.nf4.greedy", tag);
	int32_t *want = gi(g, &ng);
	int ok = greedy(m, &s2, want, ng, &e);
	snprintf(name, sizeof name, "%s %s greedy after prefix", tag, q);
	CHECK(ok == ng, name, "first %d of %d tokens match %s", ok, ng, e.msg);
	free(want);
	free(pre);
	free(pid);
	free(ids);
}

static void config_cases(void)
{
	llm_config c;
	an_err e = {0};
	const char *sh = t_shared();

	int rc = llm_config_load(&c, GD "/llama-tiny", &e);
	CHECK(rc == 0 && c.arch == LLM_LLAMA && c.head_dim == 32 && c.n_kv_heads == 2 && c.tied &&
	      c.rope.factor == 32.0 && c.rope.original_max_pos == 8192 && c.n_eos == 2 &&
	      c.eos[1] == 511 && !c.qkv_bias, "config llama-tiny", "%s", e.msg);
	rc = llm_config_load(&c, GD "/qwen2-tiny/config.json", &e);
	CHECK(rc == 0 && c.arch == LLM_QWEN2 && c.head_dim == 16 && c.qkv_bias && !c.o_bias &&
	      c.rope.theta == 1e6 && c.rope.factor == 0 && c.rms_eps == 1e-6f, "config qwen2-tiny",
	      "%s", e.msg);
	if (sh) {
		char p[4096];
		snprintf(p, sizeof p, "%s/vendor/llama-3.2-3b-instruct/config.json", sh);
		rc = llm_config_load(&c, p, &e);
		CHECK(rc == 0 && c.n_layers == 28 && c.d_model == 3072 && c.head_dim == 128 &&
		      c.n_heads == 24 && c.n_kv_heads == 8 && c.vocab == 128256 && c.n_eos == 3 &&
		      c.eos[2] == 128009 && c.bos == 128000 && c.rope.theta == 500000.0 && c.tied,
		      "config vendor Llama-3.2-3B-Instruct", "%s", e.msg);
	} else
		t_skip("config vendor Llama-3.2-3B-Instruct", "no ../shared");
	/* transformers 5 writes rope_parameters */
	const char *v5 = "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":128,"
		"\"intermediate_size\":256,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
		"\"num_key_value_heads\":2,\"head_dim\":32,\"vocab_size\":512,\"rope_parameters\":"
		"{\"factor\":32.0,\"high_freq_factor\":4.0,\"low_freq_factor\":1.0,"
		"\"original_max_position_embeddings\":8192,\"rope_theta\":500000.0,\"rope_type\":\"llama3\"},"
		"\"tie_word_embeddings\":true,\"dtype\":\"bfloat16\"}";
	rc = llm_config_parse(&c, v5, strlen(v5), "v5", &e);
	CHECK(rc == 0 && c.rope.theta == 500000.0 && c.rope.factor == 32.0 &&
	      strcmp(c.dtype, "bfloat16") == 0, "config transformers-5 rope_parameters", "%s", e.msg);
	/* llama3 inv_freq as transformers computed it */
	if (rc == 0) {
		size_t n;
		float *want = gf("llama.inv_freq", &n);
		float got[64];
		rc = rope_inv_freq(got, &c.rope, &e);
		double r = rc == 0 ? t_relerr(got, want, n) : 1;
		CHECK(rc == 0 && n == 16 && r <= 1e-6, "llama3 rope frequencies vs transformers",
				"relative error %.3g %s", r, e.msg);
		free(want);
	}
	struct { const char *json, *want; } bad[] = {
		{"{\"architectures\":[\"GPT2LMHeadModel\"]}", "not supported"},
		{"{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64}", "missing"},
		{"{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":8,"
		 "\"num_hidden_layers\":1,\"num_attention_heads\":4,\"num_key_value_heads\":3,"
		 "\"vocab_size\":9}", "divide"},
		{"{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":8,"
		 "\"num_hidden_layers\":1,\"num_attention_heads\":4,\"vocab_size\":9,"
		 "\"rope_scaling\":{\"type\":\"yarn\",\"factor\":4}}", "yarn"},
		{"{\"architectures\":[\"Qwen2ForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":8,"
		 "\"num_hidden_layers\":1,\"num_attention_heads\":4,\"vocab_size\":9,"
		 "\"use_sliding_window\":true}", "sliding"},
		{"{\"architectures\":[\"LlamaForCausalLM\"],\"vocab_size\":9,\"hidden_size\":\"x\"}", "hidden_size"},
		{"[1,2", "line"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char name[64];
		snprintf(name, sizeof name, "config rejects bad %zu", i);
		e.msg[0] = 0;
		rc = llm_config_parse(&c, bad[i].json, strlen(bad[i].json), "bad.json", &e);
		CHECK(rc < 0 && strstr(e.msg, bad[i].want) && strstr(e.msg, "bad.json"), name,
				"rc %d, message \"%s\" (want \"%s\")", rc, e.msg, bad[i].want);
	}
}

static void nf4_bytes_case(llm *m)
{
	size_t n, na;
	float *packed = gf("nf4.q.qwen2.layers.0.k_proj.packed", &n);
	float *absmax = gf("nf4.q.qwen2.layers.0.k_proj.absmax", &na);
	const nf4_tensor *t = &m->layers[0].lin[LLM_K].nf4;
	size_t bad = 0;

	for (size_t i = 0; i < n; i++)
		bad += t->q[i] != (uint8_t)packed[i];
	for (size_t i = 0; i < na; i++)
		bad += t->absmax[i] != absmax[i];
	CHECK(t->q && n == (size_t)(t->n + 1) / 2 && na == (size_t)t->nblocks && bad == 0,
	      "nf4 packed bytes and absmax of a weight equal torch's", "%zu differences", bad);
	free(packed);
	free(absmax);
}

static void error_cases(llm *qwen)
{
	an_err e = {0};
	char tmp[] = "/tmp/test_llm.XXXXXX";

	int rc = llm_lora_load(qwen, GD "/lora-llama", &e);
	CHECK(rc < 0 && strstr(e.msg, "lora-llama"), "lora of another model refused", "rc %d: %s",
			rc, e.msg);
	CHECK(qwen->lora_n == 0, "refused lora leaves no adapter", "%d linears", qwen->lora_n);
	llm *m = load(GD "/nonexistent", LLM_Q_F32, &e);
	CHECK(!m && strstr(e.msg, "nonexistent"), "missing model directory", "%s", e.msg);
	/* a config that wants more layers than the tensors have */
	if (mkdtemp(tmp)) {
		char p[256], cmd[600];
		snprintf(cmd, sizeof cmd, "cp " GD "/qwen2-tiny/model.safetensors %s/ && "
			 "sed 's/\"num_hidden_layers\": 2/\"num_hidden_layers\": 3/' " GD
			 "/qwen2-tiny/config.json > %s/config.json", tmp, tmp);
		if (system(cmd) == 0) {
			m = load(tmp, LLM_Q_F32, &e);
			CHECK(!m && strstr(e.msg, "model.layers.2.input_layernorm.weight") &&
			      strstr(e.msg, "missing"), "missing tensor named", "%s", e.msg);
			llm_free(m);
			snprintf(cmd, sizeof cmd, "sed 's/\"hidden_size\": 64/\"hidden_size\": 32/' " GD
				 "/qwen2-tiny/config.json > %s/config.json", tmp);
			if (system(cmd) == 0) {
				m = load(tmp, LLM_Q_F32, &e);
				CHECK(!m && strstr(e.msg, "shape"), "wrong shape named", "%s", e.msg);
				llm_free(m);
			}
		}
		snprintf(p, sizeof p, "rm -rf %s", tmp);
		if (system(p) != 0)
			fprintf(stderr, "could not remove %s\n", tmp);
	}
	/* an id outside the vocabulary */
	llm_ctx *c = llm_ctx_new(qwen, 1, 16, 0, &e);
	int32_t ids[3] = {1, 9999, 2};
	llm_seq s = {NULL, 0, ids, 3};
	rc = c ? llm_prefill(c, &s, 1, 0, NULL, NULL, &e) : -1;
	CHECK(rc < 0 && strstr(e.msg, "9999"), "id outside the vocabulary", "%s", e.msg);
	int32_t many[20] = {0};
	llm_seq s2 = {NULL, 0, many, 20};
	rc = c ? llm_prefill(c, &s2, 1, 0, NULL, NULL, &e) : -1;
	CHECK(rc < 0 && strstr(e.msg, "16"), "sequence longer than the context", "%s", e.msg);
	llm_ctx_free(c);
}

static void template_cases(void)
{
	an_err e = {0};
	rec r;
	char *out = NULL;
	size_t cap = 0;
	const char *calls[3] = {"malloc", "memcpy", "free"};

	rec_init(&r);
	rec_set_str(&r, F_ID, "x", 1);
	long n = llmdec_render(llmdec_default_template, &r, 16, &out, &cap, &e);
	CHECK(n >= 0 && strcmp(out, "Name:") == 0, "template: line with empty callees left out",
			"got \"%s\"", out ? out : "");
	rec_set_strv(&r, F_CALLEES, calls, NULL, 3);
	n = llmdec_render(llmdec_default_template, &r, 16, &out, &cap, &e);
	CHECK(n >= 0 && strcmp(out, "Calls: malloc, memcpy, free\nName:") == 0, "template: callees joined",
			"got \"%s\"", out ? out : "");
	n = llmdec_render("<|im_start|>{{x}} {callees}\nend", &r, 2, &out, &cap, &e);
	CHECK(n >= 0 && strcmp(out, "<|im_start|>{x} malloc, memcpy\nend") == 0,
			"template: braces, --max-callees", "got \"%s\"", out ? out : "");
	int rc = llmdec_template_check("a {calees} b", &e);
	CHECK(rc < 0 && strstr(e.msg, "{calees}"), "template: unknown placeholder named", "%s", e.msg);
	CHECK(llmdec_template_check("a {{x}} {callees}", &e) == 0, "template: good one accepted", "%s",
			e.msg);
	free(out);
	rec_free(&r);
}

int main(void)
{
	an_err e = {0};

	if (st_open(&G, GD "/golden.safetensors", &e) < 0) {
		printf("FAIL golden: %s\n", e.msg);
		return 1;
	}
	dev = dev_open("cpu", 0, &e);
	if (!dev) {
		printf("FAIL device: %s\n", e.msg);
		return 1;
	}
	config_cases();
	template_cases();

	llm *q = load(GD "/qwen2-tiny", LLM_Q_F32, &e);
	CHECK(q != NULL, "load qwen2-tiny (F32, tied)", "%s", e.msg);
	if (q) {
		model_cases("qwen2", q, "f32");
		int rc = llm_lora_load(q, GD "/lora-qwen2", &e);
		CHECK(rc == 0 && q->lora_n == 8 && q->lora_r == 4, "load PEFT adapter q/k/v/o",
				"%s (%d linears)", e.msg, q->lora_n);
		if (rc == 0)
			lora_cases("qwen2", q, "lora q/k/v/o", "lora");
		error_cases(q);
		llm_free(q);
	}
	llm *qn = load(GD "/qwen2-tiny", LLM_Q_NF4, &e);
	CHECK(qn != NULL, "load qwen2-tiny nf4", "%s", e.msg);
	if (qn) {
		nf4_bytes_case(qn);
		nf4_cases("qwen2", qn, "nf4");
		if (llm_lora_load(qn, GD "/lora-qwen2", &e) == 0)
			lora_cases("qwen2", qn, "nf4 + lora", "nf4.lora");
		else
			CHECK(0, "qwen2 nf4 + lora", "%s", e.msg);
		llm_free(qn);
	}
	/* double-quantized absmax: no torch golden; it must stay close to plain NF4
	 * (the absmax error is ~1e-3 relative) without being identical */
	{
		llm *a = load(GD "/qwen2-tiny", LLM_Q_NF4_DQ, &e);
		CHECK(a != NULL, "load qwen2-tiny nf4-dq", "%s", e.msg);
		if (a) {
			size_t n;
			int ni;
			float *want = gf("qwen2.nf4.logits", &n);
			int32_t *ids = gi("qwen2.p0.ids", &ni);
			llm_seq s = {NULL, 0, ids, ni};
			float *got = logits_of(a, &s, 0, &e);
			double r = got ? t_relerr(got, want, n) : 1;
			CHECK(got && r > 1e-7 && r < 2e-2, "nf4-dq logits near nf4's",
					"relative error %.3g %s", r, got ? "" : e.msg);
			free(got);
			free(want);
			free(ids);
			llm_free(a);
		}
	}
	static const llm_quant lq[2] = {LLM_Q_F32, LLM_Q_BF16};
	for (int i = 0; i < 2; i++) {
		llm *l = load(GD "/llama-tiny", lq[i], &e);
		char name[64];
		snprintf(name, sizeof name, "load llama-tiny sharded bf16 as %s", llm_quant_name(lq[i]));
		CHECK(l != NULL, name, "%s", e.msg);
		if (!l)
			continue;
		model_cases("llama", l, llm_quant_name(lq[i]));
		int rc = llm_lora_load(l, GD "/lora-llama", &e);
		CHECK(rc == 0 && l->lora_n == 14 && l->lora_r == 8, "load PEFT adapter, all linears",
				"%s (%d linears)", e.msg, l->lora_n);
		if (rc == 0)
			lora_cases("llama", l, i ? "bf16 lora all-linear" : "lora all-linear", "lora");
		llm_free(l);
	}
	llm *ln = load(GD "/llama-tiny", LLM_Q_NF4, &e);
	CHECK(ln != NULL, "load llama-tiny nf4", "%s", e.msg);
	if (ln) {
		nf4_cases("llama", ln, "nf4");
		if (llm_lora_load(ln, GD "/lora-llama", &e) == 0)
			lora_cases("llama", ln, "nf4 + lora", "nf4.lora");
		else
			CHECK(0, "llama nf4 + lora", "%s", e.msg);
		llm_free(ln);
	}
	llm *u = load(GD "/llama-tiny-untied", LLM_Q_BF16, &e);
	CHECK(u != NULL && !u->cfg.tied && u->cfg.rope.factor == 0, "load llama untied, no head_dim key",
			"%s", e.msg);
	if (u) {
		int n;
		int32_t *ids = gi("untied.p0.ids", &n);
		llm_seq s = {NULL, 0, ids, n};
		check_logits("untied lm_head logits", u, &s, "untied.p0.logits", 0);
		free(ids);
		llm_free(u);
	}
	dev_close(dev);

	/* the same parity on CUDA when there is a GPU */
	dev = dev_have_cuda() ? dev_open("cuda", 0, &e) : NULL;
	if (!dev) {
		t_skip("cuda model parity", dev_have_cuda() ? e.msg : "built without CUDA");
	} else {
		llm *cq = load(GD "/qwen2-tiny", LLM_Q_F32, &e);
		CHECK(cq != NULL, "cuda load qwen2-tiny", "%s", e.msg);
		if (cq) {
			model_cases("qwen2", cq, "cuda f32");
			if (llm_lora_load(cq, GD "/lora-qwen2", &e) == 0)
				lora_cases("qwen2", cq, "cuda lora q/k/v/o", "lora");
			else
				CHECK(0, "cuda lora", "%s", e.msg);
			llm_free(cq);
		}
		llm *cn = load(GD "/qwen2-tiny", LLM_Q_NF4, &e);
		CHECK(cn != NULL, "cuda load qwen2-tiny nf4", "%s", e.msg);
		if (cn) {
			nf4_cases("qwen2", cn, "cuda nf4");
			llm_free(cn);
		}
		llm *cl = load(GD "/llama-tiny", LLM_Q_BF16, &e);
		CHECK(cl != NULL, "cuda load llama-tiny bf16", "%s", e.msg);
		if (cl) {
			model_cases("llama", cl, "cuda bf16");
			if (llm_lora_load(cl, GD "/lora-llama", &e) == 0)
				lora_cases("llama", cl, "cuda bf16 lora all-linear", "lora");
			llm_free(cl);
		}
		dev_close(dev);
	}
	st_close(&G);
	return t_done();
}
