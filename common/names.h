/* names.h: function names as the labels a model predicts and as words.
 *
 * Two jobs, shared by name-score and the data pipelines:
 *  - names_base_len: the label of a symbol, i.e. the name without what the
 *    toolchain appends to it: a symbol version or PLT tag ("@GLIBC_2.2.5",
 *    "@@LIBFOO_1", "@plt") and GCC/LLVM clone suffixes (".cold", ".part.N",
 *    ".isra.N", ".constprop.N", ".lto_priv.N", ".localalias", ".clone.N",
 *    ".llvm.N", in any combination: "foo.isra.0.cold" -> "foo").
 *  - names_split: the words of an identifier, lower-cased, split at
 *    everything that is not a letter or digit (so "_", "." and leading
 *    underscores go), at lower->upper case changes ("getConfig"), before the
 *    last capital of a capital run that goes on in lower case ("HTTPServer"
 *    -> http server; a lone plural "s" stays: "URLs" -> urls), and between
 *    letters and digits ("sha256" -> sha 256).  Bytes >= 0x80 count as
 *    lower-case letters, so UTF-8 words stay whole.
 *
 * No allocation: a names_words holds up to NAMES_MAX_WORDS words of at most
 * NAMES_MAX_BYTES bytes in all; what does not fit is dropped and `truncated`
 * says so (C++ mangled names are the usual cause). */
#ifndef ASMNAME_NAMES_H
#define ASMNAME_NAMES_H

#include <stddef.h>

#define NAMES_MAX_WORDS 64
#define NAMES_MAX_BYTES 1024

enum {
	NAMES_DIGITS = 1,   /* keep digit runs as words (else they are dropped, as SymLM does) */
};

typedef struct names_words {
	size_t n;                        /* words */
	int    truncated;                /* 1 when words or bytes were dropped */
	const char *w[NAMES_MAX_WORDS];  /* NUL-terminated, lower case, into buf */
	size_t len[NAMES_MAX_WORDS];     /* bytes of w[i] */
	char   buf[NAMES_MAX_BYTES + NAMES_MAX_WORDS];
} names_words;

/* Length of the label part of name[0..len): the name without a version or
 * PLT tag and without clone suffixes.  A name that is nothing but a suffix
 * (".cold") is kept whole. */
size_t names_base_len(const char *name, size_t len);

/* Split name[0..len) (taken whole: call names_base_len first to drop
 * suffixes) into words; flags are NAMES_* bits. */
void names_split(const char *name, size_t len, int flags, names_words *out);

/* Write the words joined by sep (0: no separator) into out (cap bytes,
 * NUL-terminated, cut short if too small); returns the full length. */
size_t names_join(const names_words *w, char sep, char *out, size_t cap);

#endif
