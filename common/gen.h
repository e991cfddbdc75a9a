/* gen.h: decoding strategies for llm-decode, as pure functions over logits
 * (no model here, so they test on hand-made numbers).
 *
 *  - gen_log_softmax, gen_greedy, gen_repetition_penalty;
 *  - gen_sample: temperature, top-k, top-p (nucleus) sampling with a seeded
 *    xoshiro256** generator, filters in transformers' order (temperature,
 *    then top-k keeping ties, then top-p keeping each token whose preceding
 *    mass, in descending order, is below p);
 *  - gen_beam_*: beam search bookkeeping in transformers' manner (2B, or
 *    (1 + number of EOS ids) B, candidates a step, finished hypotheses scored sum_logp / len^alpha, the
 *    B best kept, "heuristic" early stop), driven one step at a time;
 *  - gen_ident_ends: the "end of an identifier" stop rule;
 *  - gen_clean_name: generated text -> a valid C identifier;
 *  - gen_vote: ReCopilot's test-time scaling: N sampled, cleaned names, the
 *    most frequent wins, ties by the larger summed log-probability.
 *
 * Shapes: logits and log-probs are float [V] (one row) or [nlive, V]
 * row-major; token ids are int32_t in [0, V). */
#ifndef ASMNAME_GEN_H
#define ASMNAME_GEN_H

#include <stddef.h>
#include <stdint.h>

/* ---- random numbers: xoshiro256**, state seeded by splitmix64 ---------- */
typedef struct gen_rng {
	uint64_t s[4];
} gen_rng;

void     gen_rng_seed(gen_rng *r, uint64_t seed);
uint64_t gen_rng_next(gen_rng *r);
/* Uniform in [0, 1), 53 random bits. */
double   gen_rng_uniform(gen_rng *r);

/* ---- one distribution ---------------------------------------------------- */

/* out[i] = x[i] - logsumexp(x) over n values (out may be x); returns the
 * logsumexp.  Sums in double.  -inf entries stay -inf. */
float gen_log_softmax(const float *x, float *out, int n);

/* Index of the largest value (the first one on ties; NaN never wins);
 * -1 when n <= 0 or all are NaN. */
int32_t gen_greedy(const float *logits, int n);

/* transformers' repetition penalty, in place: every distinct id in
 * prev[0..n) (prompt and generated tokens) has its logit divided by
 * penalty when positive, multiplied when negative.  seen: scratch of
 * (V + 7) / 8 bytes, zero on entry and left zero. */
void gen_repetition_penalty(float *logits, int V, const int32_t *prev, int n, float penalty,
			    unsigned char *seen);

typedef struct gen_sample_opts {
	float temperature;  /* <= 0: greedy */
	int   top_k;        /* <= 0: off */
	float top_p;        /* >= 1: off */
} gen_sample_opts;

/* Draw one token from softmax(logits / temperature) restricted by top-k and
 * top-p.  work: scratch of at least gen_sample_work(n) bytes.  Tokens are
 * visited in descending logit order (ties: lower id first) and the draw
 * walks that order, so a seed gives the same token on every machine.
 * -1 when n <= 0. */
size_t  gen_sample_work(int n);
int32_t gen_sample(const float *logits, int n, const gen_sample_opts *o, gen_rng *r, void *work);
/* The distribution gen_sample draws from: the kept tokens in the order
 * above into ids[], their probabilities (softmax of logits / temperature
 * over the kept set) into p[] (both with room for n); returns how many
 * (1, the greedy token with p 1, when temperature <= 0; 0 when n <= 0 or
 * every logit is NaN). */
int gen_sample_filter(const float *logits, int n, const gen_sample_opts *o, void *work, int32_t *ids, double *p);

/* ---- beam search ------------------------------------------------------- */

typedef struct gen_hyp {
	int32_t *tok;        /* [len], owned by the gen_beam */
	int      len;        /* tokens, the final one (EOS, identifier end) included */
	double   logp;       /* summed log-probability of the tokens */
	double   score;      /* logp / len^len_penalty */
} gen_hyp;

typedef struct gen_beam {
	int      nbeam, maxlen, early_stop;
	double   len_penalty;
	int      step;       /* tokens generated so far by each live beam */
	int      nlive;      /* live beams (1 before the first step) */
	int32_t *live;       /* [nbeam, maxlen] tokens of live beam i in row i */
	double  *live_logp;  /* [nbeam] */
	int      nfin;       /* finished hypotheses, best first, at most nbeam */
	gen_hyp *fin;        /* [nbeam] */
	int      done;
	int      keep;       /* candidates a step: 2 * nbeam, see gen_beam_keep */
	/* scratch */
	int32_t *tmp;        /* [nbeam, maxlen] */
	int32_t *fin_tok;    /* [nbeam, maxlen] */
	double  *tmp_logp;   /* [nbeam] */
	struct gen_cand *cand;
} gen_beam;

/* nbeam >= 1 beams, at most maxlen >= 1 tokens a hypothesis, length
 * penalty alpha (transformers' default 1.0), early_stop 1 = stop as soon as
 * nbeam hypotheses are finished, 0 = transformers' heuristic (stop when the
 * best live beam, scored at the current length, cannot beat the worst kept
 * hypothesis).  0, or -1 on bad arguments or out of memory. */
int  gen_beam_init(gen_beam *b, int nbeam, int maxlen, double len_penalty, int early_stop);
void gen_beam_free(gen_beam *b);
/* transformers takes max(2, 1 + neos) * nbeam candidates a step, neos the
 * number of EOS ids; call this after init to do the same.  0 or -1. */
int  gen_beam_keep(gen_beam *b, int neos);

/* Callback: 1 when appending tok to live beam `beam` (its row in b->live
 * before this step) finishes the hypothesis (EOS, end of identifier). */
typedef int (*gen_final_fn)(void *ctx, const gen_beam *b, int beam, int32_t tok);

/* One step.  logp: [b->nlive, V] next-token log-probabilities of each live
 * beam (gen_log_softmax of its logits).  Takes the b->keep best
 * (beam, token) pairs by cumulative log-probability (ties: lower beam, then
 * lower token), moves final ones among the first nbeam of them into the
 * finished list, and the others, in order, become the next live beams until
 * there are nbeam.  parent[i] (int [nbeam]) says which previous live beam
 * the new live beam i extends (reorder the KV cache by it).  The step that
 * reaches maxlen ends the search with the first nbeam pairs, final or not,
 * as hypotheses (transformers' max_length); the search also ends when the
 * stop rule holds or no pair can go on.  Returns the number of live beams,
 * 0 when done. */
int gen_beam_step(gen_beam *b, const float *logp, int V, gen_final_fn final, void *ctx, int *parent);

/* End the search now (e.g. the caller's own limit): live beams become
 * hypotheses.  Returns b->nfin. */
int gen_beam_finish(gen_beam *b);

/* ---- names ------------------------------------------------------------- */

/* The stop rule for names.  text[0..n) is what was generated so far, tok
 * the next token's bytes.  Identifier characters are [A-Za-z0-9_].  Returns
 * 1 when text+tok holds an identifier character followed later by a
 * non-identifier one (leading characters before the first identifier
 * character, such as spaces, quotes or backticks, are skipped, and bytes of
 * non-ASCII characters count as non-identifier), i.e. the name is complete:
 * "get_len" + "(" -> 1, "" + " get" -> 0, " get" + "_len\n" -> 1.  A text
 * that opens (after whitespace) with a Markdown fence "```" is read from
 * the line after it ("```c\n" + "foo(" -> 1; "```c" -> 0, the fence line is
 * still open). */
int gen_ident_ends(const char *text, size_t n, const char *tok, size_t tn);

/* Clean generated text into a valid C identifier, written NUL-terminated
 * into out (cap >= 2 bytes).  Rules, in order:
 *  0. a text that opens (after whitespace) with a Markdown fence line
 *     ("```c\n...") is read from the line after it; a fence with no newline
 *     ("```foo```") is read whole;
 *  1. skip leading characters that are not [A-Za-z0-9_];
 *  2. take the longest run of [A-Za-z0-9_] that follows, so "`foo`",
 *     " foo(int)", "foo\n" and "foo bar" all give "foo";
 *  3. a run that starts with a digit gets a '_' in front ("3des" -> "_3des");
 *  4. a C keyword (C11 + C23: "int", "if", "return", "bool", ...) gets a '_'
 *     after it ("if" -> "if_");
 *  5. the result is cut to cap-1 bytes.
 * Returns its length; 0 (out = "") when the text has no identifier
 * character. */
size_t gen_clean_name(const char *s, size_t n, char *out, size_t cap);

/* One group of the vote: the samples that gave the same cleaned name. */
typedef struct gen_vote {
	int    first;      /* index of the first sample with this name */
	int    count;      /* samples that gave it */
	double sum_logp;   /* summed log-probabilities of those samples */
	double max_logp;   /* the best of them */
} gen_vote;

/* Group n samples (names[i], lens[i] bytes, logp[i] the sample's summed
 * log-probability) by name and order the groups best first: more samples
 * first, then larger sum_logp, then earlier first sample.  Empty names are
 * left out.  Writes up to cap groups into out and returns how many there
 * are in all (out[0].first is the winning sample; 0 when every name is
 * empty; -1 when out of memory). */
int gen_vote_names(const char *const *names, const size_t *lens, const double *logp, int n,
		   gen_vote *out, int cap);

#endif
