/* llmdec.h: naming functions with the decoder LLM: prompt templates, and
 * batched greedy / beam / sampled decoding of identifiers after prefix rows.
 *
 *	llmdec *g = llmdec_new(m, tok, &opt, 16, 256, &e);   // 16 jobs, prompts <= 256 tokens
 *	llmdec_job j = {prefix, 32, ids, n, seed};
 *	llmdec_run(g, &j, 1, &res, &e);   // res.pred, res.cand[0..ncand)
 *
 * A job is one function: npre prefix rows (the projection's output, placed at
 * positions 0..P-1 as PEFT soft prompts) then the prompt's token ids.  Jobs
 * of one call are decoded together (one left-padded batch, llm.h); greedy
 * uses one row a job, --beam N and --samples N use N rows a job, forked from
 * the job's prefill (the prompt is run once).
 *
 * Stopping and cleaning are gen.h's: a row ends at an EOS id (config.json /
 * generation_config.json / tokenizer), when its text holds an identifier
 * ([A-Za-z0-9_]+, anything before it skipped) followed by another byte
 * (gen_ident_ends: " parse_header(" stops at "("), or after max_new
 * tokens; the name is gen_clean_name of the text (the first identifier run,
 * "_" before a leading digit or after a C keyword), so it is always a valid
 * C identifier, or empty when the model wrote none.
 *
 * logp of a candidate: the sum of the natural-log probabilities (softmax at
 * temperature 1, whatever the sampling temperature) of its generated tokens,
 * the token that ended it included (EOS or the one carrying the byte after
 * the identifier); so it scores the name and its end.
 *
 * Candidates, best first:
 *   greedy:  the one name;
 *   beam N:  beam search keeping N rows a job; ended hypotheses ranked by
 *            logp / len^length_penalty (len = generated tokens; penalty 0 is
 *            the plain sum), the same name kept once (its best), up to N;
 *            (gen_beam_*, transformers' bookkeeping and stop heuristic);
 *            empty names are dropped when another candidate is not empty;
 *   samples N: N rows sampled at the temperature with nucleus top_p
 *            (gen_sample); the cleaned names are voted on (gen_vote_names,
 *            ReCopilot's test-time scaling): most votes first, ties by the
 *            larger summed logp; each name's logp is its best sample's.
 *            Empty names take no part in a vote unless all are empty.
 * Sampling is reproducible: row i of a job draws from its own generator
 * seeded by (the job's seed, i), whatever the batch. */
#ifndef ASMNAME_LLMDEC_H
#define ASMNAME_LLMDEC_H

#include <stddef.h>
#include <stdint.h>

#include "bpe.h"
#include "err.h"
#include "llm.h"
#include "rec.h"

#define LLMDEC_NAME_MAX  128
#define LLMDEC_MAX_CANDS 32

enum { LLMDEC_GREEDY = 0, LLMDEC_BEAM, LLMDEC_SAMPLE };

typedef struct llmdec_opts {
	int   mode;            /* LLMDEC_GREEDY, _BEAM, _SAMPLE */
	int   n;               /* beams or samples (1 for greedy) */
	int   max_new;         /* generated tokens at most (default 24) */
	float temperature;     /* sampling (default 0.8) */
	float top_p;           /* sampling nucleus (default 0.95) */
	float length_penalty;  /* beam ranking exponent (default 0) */
	int   no_stop;         /* 1: ignore EOS and identifier ends, generate max_new
				* tokens (benchmarks) */
} llmdec_opts;

void llmdec_opts_default(llmdec_opts *o);

typedef struct llmdec_job {
	const float   *pre;    /* [npre, d_model] host */
	int            npre;
	const int32_t *ids;    /* prompt token ids */
	int            nids;
	uint64_t       seed;   /* sampling seed of this job */
} llmdec_job;

typedef struct llmdec_cand {
	char  name[LLMDEC_NAME_MAX];
	float logp;
	int   votes;           /* samples that gave this name (1 otherwise) */
} llmdec_cand;

typedef struct llmdec_result {
	char        pred[LLMDEC_NAME_MAX];   /* = cand[0].name, "" when none */
	int         ncand;
	llmdec_cand cand[LLMDEC_MAX_CANDS];
	int         tokens;    /* tokens generated for this job (all rows) */
} llmdec_result;

typedef struct llmdec llmdec;

/* For up to max_jobs jobs a call whose prefix + prompt is at most
 * max_prompt positions.  The tokenizer gives the bytes of tokens and the
 * EOS set (added to config.json's). */
llmdec *llmdec_new(llm *m, const bpe *tok, const llmdec_opts *o, int max_jobs, int max_prompt,
		an_err *e);
void    llmdec_free(llmdec *g);

/* Decode n <= max_jobs jobs; res[n].  -1 on a model error (e). */
int llmdec_run(llmdec *g, const llmdec_job *jobs, int n, llmdec_result *res, an_err *e);

/* Prompt templates.  The template is text with placeholders:
 *   {callees}  the record's callees, ", "-joined (at most max_callees)
 *   {{ and }}  literal braces
 * A template line holding a placeholder whose value is empty is left out
 * whole (its newline too), so "Calls: {callees}\n" vanishes for a leaf
 * function.  Special-token text such as <|im_start|> is kept and the
 * tokenizer matches it.  Unknown placeholders are an error (at load). */
extern const char llmdec_default_template[];
/* Check a template; -1 with e naming the bad placeholder. */
int llmdec_template_check(const char *tmpl, an_err *e);
/* Render the template for r into *out (realloc'd, *cap its size), NUL-
 * terminated; returns the length, -1 on a bad callees field (e). */
long llmdec_render(const char *tmpl, const rec *r, int max_callees, char **out, size_t *cap,
		an_err *e);

#endif
