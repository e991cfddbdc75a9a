/* metrics.h: how good predicted function names are, and how well asm
 * embeddings retrieve their source (name-score; the definitions are in
 * man/man1/name-score.1 and follow reference/naming-peers-and-metrics.md §3).
 *
 * Per function, with truth N and prediction P, both first cut to their label
 * (names_base_len) and split into words (names_split):
 *   exact        N and P equal byte for byte (case-sensitive);
 *   exact_norm   equal word lists (so getConfig = get_config = __get_config);
 *   prefix       one word list is a non-empty prefix of the other
 *                (get_config vs get_config_value; exact_norm implies it);
 *   char P/R/F1  multiset overlap of the characters of the concatenated
 *                words, common = sum over c of min(#c in N, #c in P),
 *                P = common/|P|, R = common/|N| (SQuAD-style F1 on letters);
 *   word P/R/F1  on the SETS of words (duplicates collapse, as in SymLM):
 *                tp = |N ∩ P|, fp = |P - N|, fn = |N - P|; once on the words
 *                as they are ("plain") and once after mapping every word to
 *                its canonical form through a synonym table ("syn").
 * F1 = 2PR/(P+R), 0 when P+R = 0; a ratio with a zero denominator is 0.
 * Aggregates: exact/prefix/char are means over functions; word metrics are
 * micro (from summed tp/fp/fn) and macro (mean of per-function P, R, F1).
 * A truth with no words ("_", "") cannot be scored: the caller skips it. */
#ifndef ASMNAME_METRICS_H
#define ASMNAME_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "names.h"

/* --- synonym / abbreviation table ---------------------------------------
 * Text, one group a line, words separated by tabs (or spaces); the first
 * word is the canonical form: "buffer	buf	buff".  '#' starts a comment,
 * blank lines are ignored, words are lower-cased.  A word in two groups is
 * an error naming both lines. */
typedef struct metrics_syn metrics_syn;
metrics_syn *metrics_syn_parse(const char *text, size_t len, const char *name, an_err *e);
metrics_syn *metrics_syn_load(const char *path, an_err *e);
/* The canonical form of word (NUL-terminated, lower case), or word itself. */
const char *metrics_syn_canon(const metrics_syn *s, const char *word);
size_t metrics_syn_size(const metrics_syn *s);   /* words in the table */
void metrics_syn_free(metrics_syn *s);

/* --- one function -------------------------------------------------------- */
typedef struct metrics_prf {
	uint32_t tp, fp, fn;
	double   p, r, f1;
} metrics_prf;

typedef struct metrics_one {
	int         exact, exact_norm, prefix;
	double      char_p, char_r, char_f1;
	metrics_prf word, word_syn;   /* word_syn is zero without a table */
} metrics_one;

/* Word-set overlap of truth and pred (syn may be NULL: plain words). */
void metrics_words(const names_words *truth, const names_words *pred,
		   const metrics_syn *syn, metrics_prf *out);
/* Character multiset overlap of the concatenated words. */
void metrics_chars(const names_words *truth, const names_words *pred,
		   double *p, double *r, double *f1);
/* Everything for one pair of raw names; flags are NAMES_* for splitting.
 * Returns 0, or -1 when the truth has no words (nothing is scored). */
int metrics_score(const char *name, size_t nlen, const char *pred, size_t plen,
		  const metrics_syn *syn, int flags, metrics_one *out);

/* --- aggregates ---------------------------------------------------------- */
typedef struct metrics_agg_prf {
	uint64_t tp, fp, fn;
	double   sum_p, sum_r, sum_f1;   /* for the macro means */
} metrics_agg_prf;

typedef struct metrics_acc {
	uint64_t        n, exact, exact_norm, prefix;
	double          sum_char_p, sum_char_r, sum_char_f1;
	metrics_agg_prf word, word_syn;
} metrics_acc;

typedef struct metrics_summary_prf {
	double micro_p, micro_r, micro_f1, macro_p, macro_r, macro_f1;
} metrics_summary_prf;

typedef struct metrics_summary {
	uint64_t n;
	double   exact, exact_norm, prefix, char_p, char_r, char_f1;
	metrics_summary_prf word, word_syn;
} metrics_summary;

void metrics_acc_init(metrics_acc *a);
void metrics_acc_add(metrics_acc *a, const metrics_one *m);
void metrics_acc_summary(const metrics_acc *a, metrics_summary *s);
/* F1 from P and R: 2PR/(P+R), 0 when both are 0. */
double metrics_f1(double p, double r);

/* --- retrieval ------------------------------------------------------------
 * Query i (an asm embedding) against all n targets (source embeddings) by
 * cosine similarity: every vector is scaled to unit length when added, so
 * for unit vectors this is the dot product, and a zero vector has similarity
 * 0 with everything.  The rank of query i is 1 + the number of targets j of
 * another group with sim(i,j) >= sim(i,i).  Ties count against the query,
 * so a constant embedding ranks last, not first.  A group is the set of
 * pairs that share one source (the same function compiled at -O0..-O3):
 * their targets are all right answers, so they do not compete.
 * MRR = mean of 1/rank; R@k = fraction of queries with rank <= k. */
typedef struct metrics_ret {
	size_t    d;          /* dimension, fixed by the first pair added */
	size_t    n, cap;     /* pairs held */
	float    *q, *t;      /* [n, d] each, unit length */
	uint64_t *group;      /* [n] */
} metrics_ret;

void metrics_ret_init(metrics_ret *r);
void metrics_ret_free(metrics_ret *r);
/* Add one (query, target) pair, both of dimension d, in group `group`
 * (pass a value unique to the pair when pairs never share a source).
 * -1 when d is 0 or differs from the first pair's, or on allocation failure. */
int metrics_ret_add(metrics_ret *r, const float *q, const float *t, size_t d,
		    uint64_t group, an_err *e);
/* rank[n] (may be NULL) gets each query's rank; *mrr, and recall[i] for
 * ks[i] (nk of them).  0, or -1 on allocation failure.  n = 0 gives 0s. */
int metrics_ret_eval(const metrics_ret *r, uint64_t *rank, const unsigned *ks, size_t nk,
		     double *mrr, double *recall, an_err *e);
/* *mrr and recall[i] (for ks[i]) of the ranks rank[idx[i]], i < n (idx NULL:
 * rank[0..n)); 0s when n is 0.  For a subset of the queries (name-score --by). */
void metrics_rank_summary(const uint64_t *rank, const size_t *idx, size_t n,
			  const unsigned *ks, size_t nk, double *mrr, double *recall);

#endif
