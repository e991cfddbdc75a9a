/* wordpiece.h: a BERT-style WordPiece tokenizer that gives the same ids as
 * HuggingFace `tokenizers` for a tokenizer.json with a BertNormalizer, a
 * BertPreTokenizer and a WordPiece model (CLAP-ASM's, reference/clap-asm.md
 * §3.3), without special tokens added around the text.
 *
 * The steps, for one text:
 *   1. added tokens with normalized=false are split out of the raw text
 *      (leftmost-longest, case-sensitive, anywhere: single_word=false);
 *   2. the rest is normalized: clean_text (drop NUL, U+FFFD and categories
 *      Cc Cf Co Cs except \t \n \r; whitespace -> ' '), spaces around CJK
 *      ideographs, strip accents (NFD, drop Mn) when lowercasing, lowercase;
 *   3. added tokens with normalized=true are split out of the normalized text;
 *   4. BertPreTokenizer: split on whitespace, every punctuation character
 *      (ASCII 33-47 58-64 91-96 123-126 or category P*) its own word;
 *   5. WordPiece per word: greedy longest match, continuations with the
 *      prefix ("##"); a word with no full cover, or longer than
 *      max_input_chars_per_word characters, is one unknown token.
 *
 * The vocabulary is loaded at run time from tokenizer.json (jansson) or from
 * vocab.txt (line i = id i; added tokens then come from tokenizer_config.json
 * beside it when present, else from special_tokens_map.json).  Lookups go through an open-addressing hash
 * table; encoding allocates nothing per token: the caller's wp_scratch holds
 * the buffers and grows only when a longer text comes. */
#ifndef ASMNAME_WORDPIECE_H
#define ASMNAME_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct wp_added {
	uint32_t off, len;     /* content in the vocab's string pool */
	int32_t  id;
	uint8_t  normalized, lstrip, rstrip, single_word, special;
} wp_added;

typedef struct wp_vocab {
	char     *pool;        /* every token string, NUL-separated */
	size_t    pool_len;
	uint32_t *off;         /* [n] offset of token id's string in pool, UINT32_MAX if no token has that id */
	uint32_t *len;         /* [n] its length in bytes */
	size_t    n;           /* ids are 0..n-1 */
	uint32_t *slot;        /* [cap] hash table of id+1, 0 = empty */
	size_t    cap;
	uint8_t  *is_cont;     /* [n] 1 when the token starts with the continuation prefix */
	size_t    max_tok;     /* longest token, bytes */
	wp_added *added;       /* [n_added] */
	size_t    n_added;
	int32_t  *added_idx;   /* [n] index into added of id, -1 if not added */
	uint8_t   added_first[256]; /* bit 1: some raw added token starts with this byte, bit 2: some normalized one */
	uint8_t   added_pair[2][8192]; /* [kind-1] bit b0*256+b1: some added token of that kind starts with b0 b1 */
	size_t    added_max, added_min; /* lengths of the longest / shortest added token, bytes */
	int32_t   unk;         /* id of the unknown token */
	char      prefix[16];  /* continuing-subword prefix, "##" */
	size_t    prefix_len;
	size_t    max_chars;   /* max_input_chars_per_word (100) */
	int       lowercase, strip_accents, clean_text, chinese;
} wp_vocab;

/* Buffers for one thread of encoding; zero-initialize, free with wp_scratch_free. */
typedef struct wp_scratch {
	char    *norm;   size_t norm_cap;   /* normalized text */
	int32_t *cp;     size_t cp_cap;     /* code points (non-ASCII path) */
} wp_scratch;

/* Load from a directory (tokenizer.json, else vocab.txt) or from either
 * file given by path.  Returns 0, or -1 with e naming the file and place. */
int  wp_load(wp_vocab *v, const char *path, an_err *e);
void wp_free(wp_vocab *v);
void wp_scratch_free(wp_scratch *s);

/* The id of an exact token string (vocab or added), -1 if none. */
int32_t wp_id(const wp_vocab *v, const char *s, size_t len);
/* The string of an id (NULL if out of range); *len gets its length. */
const char *wp_str(const wp_vocab *v, int32_t id, size_t *len);

/* Tokenize text[0..len) (UTF-8; invalid bytes count as U+FFFD, which
 * clean_text drops).  Writes at most cap ids; *n gets the number written.
 * Returns the total number of tokens the text has (which may exceed cap:
 * the caller truncates, as HF's truncation keeps the first ones), or -1
 * with e set when memory runs out. */
long wp_encode(const wp_vocab *v, wp_scratch *s, const char *text, size_t len,
	       int32_t *ids, size_t cap, size_t *n, an_err *e);

#endif
