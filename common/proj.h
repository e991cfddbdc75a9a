/* proj.h: the projection from a CLAP embedding to P prefix vectors in the
 * embedding space of the decoder LLM (DESIGN §1), inference.
 *
 * File: safetensors (written by the trainers, by `proj --init`, or by
 * tests/gen/gen_proj.py) whose __metadata__ names the variant and sizes:
 *   format "asmname-proj", variant "mlp" | "transformer",
 *   d_in (the CLAP width, 768), prefix_len (P, 32), d_model (the LLM's
 *   hidden_size), and
 *   mlp:          hidden
 *                 fc1.weight [hidden, d_in], fc1.bias [hidden],
 *                 fc2.weight [P*d_model, hidden], fc2.bias [P*d_model]
 *                 prefix = fc2(GELU(fc1(emb))) read as [P, d_model]
 *   transformer:  width, layers, heads, ffn, ln_eps (default 1e-5)
 *                 in.weight [P*width, d_in], in.bias; pos [P, width];
 *                 layer.<i>.ln1.{weight,bias}, layer.<i>.attn.{q,k,v,o}.{weight,bias}
 *                 [width, width]/[width], layer.<i>.ln2.{weight,bias},
 *                 layer.<i>.ffn.up.{weight,bias} [ffn, width]/[ffn],
 *                 layer.<i>.ffn.down.{weight,bias} [width, ffn]/[width];
 *                 ln_f.{weight,bias}; out.weight [d_model, width], out.bias
 *                 x = in(emb) as [P, width] + pos; each layer pre-LN:
 *                 x += o(attn(LN1 x)) (bidirectional over the P tokens,
 *                 softmax(q k^T/sqrt(width/heads)) v per head);
 *                 x += down(GELU(up(LN2 x))); prefix = out(LN_f x)
 *                 (torch.nn.TransformerEncoderLayer, norm_first, gelu).
 * GELU is the erf form.  Tensor names are those above, no prefix.
 *
 * The stage-1 vector ("aligned", [d_model]) is the L2-normalized mean of the
 * P prefix vectors, the one vector of the LLM's space that stage 1 compares
 * with the LLM's embedding of the source (src_emb). */
#ifndef ASMNAME_PROJ_H
#define ASMNAME_PROJ_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "dev.h"
#include "err.h"

enum { PROJ_MLP = 0, PROJ_TRANSFORMER = 1 };

typedef struct proj_config {
	int   variant;      /* PROJ_MLP or PROJ_TRANSFORMER */
	int   d_in;         /* input width (the CLAP embedding) */
	int   P;            /* prefix vectors per function */
	int   d_model;      /* width of each prefix vector */
	int   hidden;       /* mlp: hidden width */
	int   width, layers, heads, ffn;   /* transformer */
	float ln_eps;       /* transformer */
} proj_config;

typedef struct proj_layer {
	int ln1_w, ln1_b, wq, bq, wk, bk, wv, bv, wo, bo, ln2_w, ln2_b, up_w, up_b, down_w, down_b;
} proj_layer;

typedef struct proj_model {
	proj_config  c;
	an_dev      *dev;          /* borrowed */
	arena        a;            /* parameters, fp32, on dev */
	int          fc1_w, fc1_b, fc2_w, fc2_b;            /* mlp */
	int          in_w, in_b, pos, lnf_w, lnf_b, out_w, out_b;   /* transformer */
	proj_layer  *layer;
	/* activations on dev, sized by proj_reserve */
	int          max_b;
	float       *in, *h, *x, *t, *q, *k, *v, *ctx, *f, *out, *posb;
} proj_model;

/* "mlp" -> PROJ_MLP ...; -1 if unknown. */
int  proj_variant_parse(const char *s);
const char *proj_variant_name(int v);

/* Check a config for sense (positive sizes, heads dividing width). */
int  proj_config_check(const proj_config *c, an_err *e);

/* Load a projection file (or DIR/proj.safetensors when path is a directory)
 * onto d: sizes from the metadata, every tensor checked against them (the
 * error names missing, unexpected or misshapen tensors). */
int  proj_load(proj_model *p, const char *path, an_dev *d, an_err *e);
void proj_free(proj_model *p);

/* The hidden_size of the LLM whose directory (or config.json) is path. */
int  proj_llm_d_model(const char *path, int *d_model, an_err *e);
/* -1 with a clear message when the prefix width is not d_model. */
int  proj_check_d_model(const proj_model *p, int d_model, const char *what, an_err *e);

int  proj_reserve(proj_model *p, int max_b, an_err *e);
/* emb [B, d_in] (host) -> prefix [B, P, d_model] (host). */
int  proj_forward(proj_model *p, const float *emb, int B, float *prefix, an_err *e);
/* aligned[d] = normalize(mean over P of prefix[P, d]). */
void proj_aligned(float *aligned, const float *prefix, int P, int d);

/* Write a projection with random weights (normal, std 1/sqrt(fan_in) for
 * matrices, LayerNorms at 1 and 0, biases 0) from a seed: a starting point
 * for training, and the test models. */
int  proj_init_random(const proj_config *c, uint64_t seed, const char *path, an_err *e);

#endif
