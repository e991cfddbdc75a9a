/* dataset.h: the hygiene rules of the data pipelines (pipelines/data.mk):
 * normalized assembly and its hash (deduplication, the hash baseline), a
 * bag-of-tokens vector (the nearest-neighbour baseline), and function source
 * text found through a ctags index.
 *
 * Instructions are the strings of an asm-extract record's "asm" field
 * (capstone Intel syntax: "je 0x3a5", "lea rax, [rip + 0xe76]"). */
#ifndef ASMNAME_DATASET_H
#define ASMNAME_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "rec.h"

enum dataset_level {
	/* Address-free text: a branch or call target inside the function
	 * becomes its offset from the function's start ("je +0x3a"), one
	 * outside becomes "EXT", a rip-relative displacement becomes "X".
	 * Two copies of one function at different addresses (or in different
	 * objects) normalize to the same text. */
	DATASET_NORM = 0,
	/* The skeleton: the mnemonic and one letter per operand (r register,
	 * i immediate, m memory): "mov r, m".  Much coarser. */
	DATASET_SKEL = 1,
};

/* Normalize one instruction of a function starting at fstart, fsize bytes
 * long, into out (cap bytes, NUL-terminated, cut short when too small).
 * Returns the length written. */
size_t dataset_insn(const char *ins, size_t len, uint64_t fstart, uint64_t fsize,
		    enum dataset_level level, char *out, size_t cap);

/* FNV-1a 64 of the normalized instructions of record r (fields asm, addr,
 * size), each followed by '\n'.  *ninsn (may be NULL) gets the count.
 * -1 when the record has no asm. */
int dataset_hash(const rec *r, enum dataset_level level, uint64_t *h, size_t *ninsn, an_err *e);

/* Add the record's bag of tokens into v[d] (feature hashing; counts):
 * for every instruction its mnemonic, its normalized text with immediates
 * of 0x100 or more folded to IMM, and the pair (previous mnemonic,
 * mnemonic).  v is not cleared first. */
int dataset_bag(const rec *r, float *v, size_t d, an_err *e);

uint64_t dataset_fnv(const void *p, size_t n, uint64_t h);
#define DATASET_FNV_INIT 1469598103934665603ULL

/* --- function source through ctags ---------------------------------------
 * An index written by universal-ctags with
 *   ctags -f TAGS --languages=C --kinds-C=f --fields=+ne --excmd=number -R .
 * run in the source root: one line per function definition, with its file
 * (relative to the root), first line and last line. */
typedef struct dataset_tags dataset_tags;
dataset_tags *dataset_tags_load(const char *path, an_err *e);
void dataset_tags_free(dataset_tags *t);
/* The definition of name in file (file NULL: anywhere, but only when the
 * name is defined once).  0 when found, -1 when not (or ambiguous). */
int dataset_tags_find(const dataset_tags *t, const char *name, size_t nlen, const char *file,
		      const char **path, uint64_t *line, uint64_t *end);
/* Lines first..last (1-based, inclusive) of root/path into a malloc'd
 * string; NULL with e set when the file or the lines are not there. */
char *dataset_lines(const char *root, const char *path, uint64_t first, uint64_t last,
		    size_t *len, an_err *e);

#endif
