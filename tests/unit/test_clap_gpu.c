/* test_clap_gpu.c: a full-size CLAP-ASM (12 layers x 768, vocab 33555) with
 * random weights from a fixed seed, written at test time to a temporary
 * directory, run on the CPU and on CUDA: fp32 within 1e-4 and bf16 weights
 * within 1e-2 (relative L2 error per embedding).  SKIPs without a GPU
 * (before making the model, so that it costs nothing there). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clap.h"
#include "dev.h"
#include "st.h"
#include "test.h"

#define V     33555
#define H     768
#define F     3072
#define L     12
#define POS   2048

static uint64_t seed = 20240229;

static double normal(void)
{
	uint64_t a, b;

	seed += 0x9e3779b97f4a7c15ull;
	a = seed;
	a = (a ^ (a >> 30)) * 0xbf58476d1ce4e5b9ull;
	a = (a ^ (a >> 27)) * 0x94d049bb133111ebull;
	a ^= a >> 31;
	seed += 0x9e3779b97f4a7c15ull;
	b = seed;
	b = (b ^ (b >> 30)) * 0xbf58476d1ce4e5b9ull;
	b = (b ^ (b >> 27)) * 0x94d049bb133111ebull;
	b ^= b >> 31;
	double u1 = ((a >> 11) + 1.0) / 9007199254740993.0, u2 = (b >> 11) / 9007199254740992.0;
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

typedef struct tens {
	char   name[96];
	int    ndim;
	int64_t shape[2];
	float *data;
} tens;

static tens ts[16 * L + 8];
static int nts;

static void add(const char *name, int64_t d0, int64_t d1, int kind)
{
	tens *t = &ts[nts++];
	size_t n = (size_t)d0 * (d1 ? (size_t)d1 : 1);

	snprintf(t->name, sizeof t->name, "%s", name);
	t->ndim = d1 ? 2 : 1;
	t->shape[0] = d0;
	t->shape[1] = d1;
	t->data = malloc(n * sizeof *t->data);
	for (size_t i = 0; i < n; i++)
		t->data[i] = (float)(kind == 0 ? normal() / sqrt((double)d1)   /* matrix */
				     : kind == 1 ? 1 + 0.2 * normal()               /* LN weight */
				     : kind == 2 ? 0.1 * normal()                   /* bias */
				     : 0.5 * normal());                             /* table */
	if (kind == 3)
		memset(t->data + (size_t)1 * d1, 0, (size_t)d1 * sizeof *t->data);   /* pad row */
}

static int make_model(const char *dir, an_err *e)
{
	char n[128];

	add("jroformer.embeddings.word_embeddings.weight", V, H, 3);
	add("jroformer.embeddings.LayerNorm.weight", H, 0, 1);
	add("jroformer.embeddings.LayerNorm.bias", H, 0, 2);
	for (int i = 0; i < L; i++) {
		const char *qkv[3] = { "query", "key", "value" };

		for (int j = 0; j < 3; j++) {
			snprintf(n, sizeof n, "jroformer.encoder.layer.%d.attention.self.%s.weight", i, qkv[j]);
			add(n, H, H, 0);
		}
#define LAYER(suffix, d0, d1, kind) do { \
		snprintf(n, sizeof n, "jroformer.encoder.layer.%d.%s", i, suffix); \
		add(n, d0, d1, kind); \
	} while (0)
		LAYER("attention.output.dense.weight", H, H, 0);
		LAYER("attention.output.dense.bias", H, 0, 2);
		LAYER("attention.output.LayerNorm.weight", H, 0, 1);
		LAYER("attention.output.LayerNorm.bias", H, 0, 2);
		LAYER("intermediate.dense.weight", F, H, 0);
		LAYER("intermediate.dense.bias", F, 0, 2);
		LAYER("output.dense.weight", H, F, 0);
		LAYER("output.dense.bias", H, 0, 2);
		LAYER("output.LayerNorm.weight", H, 0, 1);
		LAYER("output.LayerNorm.bias", H, 0, 2);
#undef LAYER
	}
	add("projection.weight", H, H, 0);
	add("projection.bias", H, 0, 2);

	st_wtensor *w = calloc((size_t)nts, sizeof *w);
	for (int i = 0; i < nts; i++) {
		w[i].name = ts[i].name;
		w[i].dtype = ST_F32;
		w[i].ndim = ts[i].ndim;
		w[i].shape[0] = ts[i].shape[0];
		w[i].shape[1] = ts[i].shape[1];
		w[i].data = ts[i].data;
	}
	snprintf(n, sizeof n, "%s/model.safetensors", dir);
	int rc = st_write(n, w, (size_t)nts, NULL, 0, e);
	free(w);
	for (int i = 0; i < nts; i++)
		free(ts[i].data);
	if (rc < 0)
		return -1;
	snprintf(n, sizeof n, "%s/config.json", dir);
	FILE *f = fopen(n, "w");
	if (!f)
		return an_err_sys(e, "%s", n), -1;
	fprintf(f, "{\"model_type\": \"roformer\", \"architectures\": [\"AsmEncoder\"], "
		"\"vocab_size\": %d, \"hidden_size\": %d, \"embedding_size\": %d, "
		"\"num_hidden_layers\": %d, \"num_attention_heads\": 12, \"intermediate_size\": %d, "
		"\"max_position_embeddings\": %d, \"hidden_act\": \"gelu\", \"layer_norm_eps\": 1e-12, "
		"\"pad_token_id\": 1, \"rotary_value\": false, \"use_bias\": false}\n",
		V, H, H, L, F, POS);
	return fclose(f) == 0 ? 0 : -1;
}

int main(void)
{
	an_err e = { 0 };
	an_dev *gpu = dev_have_cuda() ? dev_open("cuda", 0, &e) : NULL;

	if (!gpu) {
		t_skip("clap full size cpu vs cuda", dev_have_cuda() ? "no GPU" : "built without CUDA");
		return t_done();
	}
	an_dev *cpu = dev_open("cpu", 0, &e);
	char dir[] = "/tmp/test_clap_gpu.XXXXXX";
	if (!cpu || !mkdtemp(dir) || make_model(dir, &e) < 0) {
		CHECK(0, "make full-size model", "%s", e.msg);
		return t_done();
	}

	/* functions of 1, 57, 300 and 1024 tokens */
	enum { NF = 4 };
	int lens[NF] = { 1, 57, 300, 1024 };
	int32_t *tok[NF], *tt[NF];
	for (int b = 0; b < NF; b++) {
		tok[b] = malloc((size_t)lens[b] * sizeof(int32_t));
		tt[b] = malloc((size_t)lens[b] * sizeof(int32_t));
		for (int t = 0; t < lens[b]; t++) {
			tok[b][t] = 1030 + (int32_t)((uint64_t)(normal() * 1e6 + 1e7) % (V - 1030));
			tt[b][t] = 6 + t / 5;
		}
	}
	float *ref = malloc((size_t)NF * H * sizeof *ref), *out = malloc((size_t)NF * H * sizeof *out);
	clap_model m;
	int rc = clap_load(&m, dir, cpu, AN_F32, &e);
	if (rc == 0)
		rc = clap_embed(&m, (const int32_t *const *)tok, (const int32_t *const *)tt, lens, NF,
				ref, &e);
	CHECK(rc == 0, "full size on the cpu", "%s", e.msg);
	if (rc == 0)
		clap_free(&m);

	const char *names[2] = { "full size cuda fp32 vs cpu", "full size cuda bf16 vs cpu" };
	const an_dtype dts[2] = { AN_F32, AN_BF16 };
	const double tol[2] = { 1e-4, 1e-2 };
	for (int k = 0; k < 2 && rc == 0; k++) {
		int r2 = clap_load(&m, dir, gpu, dts[k], &e);
		double w = INFINITY;

		if (r2 == 0) {
			r2 = clap_embed(&m, (const int32_t *const *)tok, (const int32_t *const *)tt, lens,
					NF, out, &e);
			w = 0;
			for (int b = 0; b < NF && r2 == 0; b++) {
				double r = t_relerr(out + (size_t)b * H, ref + (size_t)b * H, H);
				if (!(r <= w))
					w = r;
			}
			clap_free(&m);
		}
		CHECK(r2 == 0 && w <= tol[k], names[k], "rc %d (%s), relative error %.3g", r2,
		      r2 ? e.msg : "", w);
	}

	char path[128];
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/config.json", dir);
	unlink(path);
	rmdir(dir);
	for (int b = 0; b < NF; b++) {
		free(tok[b]);
		free(tt[b]);
	}
	free(ref);
	free(out);
	dev_close(cpu);
	dev_close(gpu);
	return t_done();
}
