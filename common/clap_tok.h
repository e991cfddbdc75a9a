/* clap_tok.h: CLAP-ASM's function-level encoding (reference/clap-asm.md
 * §3.1, §3.3): a function is a sequence of instruction texts, each with a key
 * (the 1-based index "1", "2", ... as in CLAP's JSON dicts).
 *
 *   for each instruction, in order:
 *       delete every ',' ; WordPiece without special tokens ; keep the first 20
 *       token type of each of its tokens = id of "INSTR" + key (the unknown id
 *       when that is not a token, e.g. key "0" or "1025")
 *   keep the first max_len (1024) tokens of the concatenation.
 *
 * No <s> or </s>.  Padding (for batches; records carry the unpadded
 * sequence) is on the right with id 1 (<pad>) and token type 1. */
#ifndef ASMNAME_CLAP_TOK_H
#define ASMNAME_CLAP_TOK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "wordpiece.h"

#define CLAP_INSTR_MAX_TOK 20     /* tokens kept per instruction */
#define CLAP_MAX_LEN       1024   /* tokens kept per function (model_max_length) */
#define CLAP_PAD_ID        1      /* <pad>, also the pad token type */

typedef struct clap_tok {
	const wp_vocab *v;       /* borrowed */
	wp_scratch      s;
	char           *buf;     /* one instruction without commas */
	size_t          cap;
	size_t          max_len; /* CLAP_MAX_LEN unless changed */
	int32_t         type_cache[CLAP_MAX_LEN + 1]; /* id of INSTR<k>, k = 1..1024; 0 = not looked up */
	/* counters since init */
	uint64_t        n_instr, n_instr_cut, n_func, n_func_cut;
} clap_tok;

void clap_tok_init(clap_tok *t, const wp_vocab *v, size_t max_len);
void clap_tok_free(clap_tok *t);

/* Token type of an instruction key: id of "INSTR" + key, else the unknown id. */
int32_t clap_tok_type(clap_tok *t, const char *key, size_t klen);

/* Encode one function of n instructions.  ins[i] has length len[i] (len
 * NULL: NUL-terminated); keys[i]/klen[i] are its keys (keys NULL: "1".."n").
 * ids and types hold t->max_len each; *ntok gets the length.  Returns 0, or
 * -1 with e set ("instruction 7: ..."). */
int clap_tok_function(clap_tok *t, const char *const *ins, const size_t *len,
		      const char *const *keys, const size_t *klen, size_t n,
		      int32_t *ids, int32_t *types, size_t *ntok, an_err *e);

/* Tokenize one instruction text as CLAP does (commas deleted, first 20
 * kept) into ids[CLAP_INSTR_MAX_TOK]; returns the count or -1. */
long clap_tok_instr(clap_tok *t, const char *s, size_t len, int32_t *ids, an_err *e);

/* Padded length: n rounded up to a multiple of `multiple` (0 or 1: n). */
size_t clap_tok_padded_len(size_t n, size_t multiple);
/* Fill ids[n..to) and types[n..to) with CLAP_PAD_ID. */
void clap_tok_pad(int32_t *ids, int32_t *types, size_t n, size_t to);

#endif
