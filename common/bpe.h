/* bpe.h: byte-level BPE tokenizer, exactly as HuggingFace `tokenizers`
 * encodes and decodes with a tokenizer.json (Qwen2/Qwen2.5, Llama-3, GPT-2
 * style files), or with a vocab.json + merges.txt pair.
 *
 * Encoding, in HF's order:
 *   1. added tokens are split out of the raw text first (leftmost-longest;
 *      their lstrip / rstrip / single_word / normalized / special flags as
 *      the file says; BPE_SPLIT_SPECIAL makes special ones plain text, as
 *      HF's `split_special_tokens=True`);
 *   2. the normalizer on each remaining gap (NFC/NFD/NFKC/NFKD via utf8proc,
 *      Lowercase, Sequence; null);
 *   3. added tokens with normalized=true are split out of the normalized gap;
 *   4. the pre-tokenizer (Sequence of Split{Regex|String, behavior, invert}
 *      through PCRE2 with UTF+UCP and JIT, and ByteLevel{add_prefix_space,
 *      use_regex}) cuts the gap into pieces;
 *   5. each piece goes through the BPE model: ignore_merges (look the whole
 *      piece up first), then rank-ordered merges with a min-heap keyed by
 *      (rank, position), as tokenizers' word.rs; results are cached per piece;
 *   6. with BPE_ADD_SPECIAL, the post-processor's TemplateProcessing "single"
 *      template adds its special tokens (Llama-3: <|begin_of_text|>).
 *
 * Text is UTF-8.  Invalid UTF-8 never fails: each maximal valid run is
 * encoded as above and every byte of an invalid sequence becomes that byte's
 * own byte-level token, so decode(encode(x)) == x for ANY bytes x when the
 * normalizer leaves x unchanged (HF itself only takes valid strings).
 *
 * Decoding maps each token back to its bytes (ByteLevel decoder: a token
 * whose characters all belong to the byte alphabet becomes those bytes,
 * any other token its own UTF-8, as HF does) and concatenates them.  The raw
 * bytes may be invalid UTF-8 (a multi-byte character split across tokens);
 * BPE_UTF8_REPLACE replaces invalid sequences with U+FFFD exactly as HF's
 * String::from_utf8_lossy / Python's errors="replace".
 *
 * Known differences from HF: the regex runs through PCRE2 (Debian 12: 10.42,
 * Unicode 14) where HF runs Oniguruma with a newer Unicode (16), so
 * characters assigned after Unicode 14 (CJK extensions H/I, Egyptian
 * hieroglyphs extension A, ...) may split differently; \s and \S are
 * rewritten to Unicode White_Space as Oniguruma has them (PCRE2 would also
 * take U+180E).  transformers' clean_up_tokenization_spaces (Llama-3's
 * tokenizer_config sets it) is not applied by bpe_decode: it returns what the
 * tokenizers library returns.  Unsupported parts of a tokenizer.json (other
 * models than BPE, byte_fallback, continuing_subword_prefix, normalizers or
 * pre-tokenizers not listed above) make bpe_load fail with their name.
 *
 * Thread safety: after bpe_load (and any bpe_add_token), encode and decode
 * may be called from several threads on one handle (the piece cache has a
 * lock).  Ids are int32_t; every id in [0, bpe_vocab_size) that the file
 * defines has a string, holes have none. */
#ifndef ASMNAME_BPE_H
#define ASMNAME_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct bpe bpe;

/* A growable id array that encode appends to; zero-initialize, then reuse
 * across calls (set n = 0) so the loop does not allocate. */
typedef struct bpe_ids {
	int32_t *v;
	size_t   n, cap;
} bpe_ids;
void bpe_ids_free(bpe_ids *ids);

/* A growable byte buffer that decode appends to (always NUL-terminated). */
typedef struct bpe_buf {
	char  *s;
	size_t n, cap;
} bpe_buf;
void bpe_buf_free(bpe_buf *b);

enum {
	BPE_ADD_SPECIAL   = 1 << 0,  /* encode: apply the post-processor template (BOS) */
	BPE_SPLIT_SPECIAL = 1 << 1,  /* encode: special added tokens are not matched in text */
	BPE_SKIP_SPECIAL  = 1 << 2,  /* decode: drop tokens flagged special */
	BPE_UTF8_REPLACE  = 1 << 3,  /* decode: invalid UTF-8 -> U+FFFD (HF's output) */
};

/* Load a tokenizer.  `path` is a tokenizer.json file, or a directory holding
 * tokenizer.json, or (without it) vocab.json + merges.txt.  Beside the file,
 * tokenizer_config.json and generation_config.json are read when present for
 * BOS/EOS (and, for vocab.json + merges.txt, the added tokens of
 * tokenizer_config.json's added_tokens_decoder).
 *
 * vocab.json + merges.txt is loaded as transformers' Qwen2Tokenizer does:
 * NFC, the Qwen2 pre-tokenizer regex, ByteLevel, ByteLevel decoder; when no
 * tokenizer_config.json names added tokens, "<|endoftext|>" is added as a
 * special token (id = vocabulary size) and is BOS-less EOS.  Use
 * bpe_add_token for more (e.g. the rest of Qwen2.5's 22 added tokens).
 * NULL on error with the file and place named in e. */
bpe *bpe_load(const char *path, an_err *e);
void bpe_free(bpe *b);

/* Flags of an added token, as tokenizers' AddedToken has them. */
enum {
	BPE_TOK_SPECIAL     = 1 << 0,
	BPE_TOK_NORMALIZED  = 1 << 1,  /* matched in the normalized text */
	BPE_TOK_LSTRIP      = 1 << 2,  /* the match takes the whitespace on its left */
	BPE_TOK_RSTRIP      = 1 << 3,  /* ... on its right */
	BPE_TOK_SINGLE_WORD = 1 << 4,  /* only where no word character touches it */
};

/* Add an added token (tokenizers' add_tokens / add_special_tokens).  tflags
 * are BPE_TOK_* bits.  id < 0 takes the token's vocabulary id when the
 * content is a vocabulary token, else the next free id.  Returns the id, or
 * -1 (e: the id is taken by another string). */
int32_t bpe_add_token(bpe *b, const char *content, int32_t id, int tflags, an_err *e);

/* Encode len bytes of text, appending ids to out.  flags: BPE_ADD_SPECIAL,
 * BPE_SPLIT_SPECIAL.  0, or -1 with e (only on out of memory). */
int bpe_encode(bpe *b, const char *text, size_t len, int flags, bpe_ids *out, an_err *e);

/* Encode n texts on all OpenMP threads: outs[i] gets (appended) the ids of
 * texts[i][0..lens[i]), exactly as n calls of bpe_encode would.  0, or -1
 * with e (the first failure). */
int bpe_encode_batch(bpe *b, const char *const *texts, const size_t *lens, size_t n, int flags,
		     bpe_ids *outs, an_err *e);

/* Decode n ids, appending bytes to out.  flags: BPE_SKIP_SPECIAL,
 * BPE_UTF8_REPLACE.  Ids the tokenizer does not define are skipped (as HF
 * does).  0, or -1 on out of memory. */
int bpe_decode(const bpe *b, const int32_t *ids, size_t n, int flags, bpe_buf *out, an_err *e);

/* The bytes one token decodes to (not NUL-terminated; may be a fragment of a
 * UTF-8 character), or NULL for an undefined id. */
const char *bpe_token_bytes(const bpe *b, int32_t id, size_t *len);
/* The token's string as the file writes it (byte-level alphabet for vocab
 * tokens, content for added tokens; for an added token with normalized=true,
 * its normalized content, as HF's id_to_token), NUL-terminated, or NULL. */
const char *bpe_token_str(const bpe *b, int32_t id);
/* The id of a vocabulary or added token given by its file string
 * ("<|endoftext|>", "Ġthe"), or -1. */
int32_t bpe_token_id(const bpe *b, const char *s);
/* 1 when id is an added token flagged special. */
int bpe_is_special(const bpe *b, int32_t id);

/* One past the largest defined id (vocabulary and added tokens). */
int32_t bpe_vocab_size(const bpe *b);
/* BOS id or -1 when the model has none (Qwen2). */
int32_t bpe_bos(const bpe *b);
/* The stop set: generation_config.json eos_token_id (int or list), then
 * tokenizer_config.json eos_token, without repeats.  Returns the count and
 * points *ids at them (owned by b). */
int bpe_eos(const bpe *b, const int32_t **ids);

#endif
