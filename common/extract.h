/* extract.h: ELF files and ar archives in memory -> one record per function.
 *
 * Function discovery:
 *  - files with FUNC/IFUNC symbols (.symtab, else .dynsym): one function per
 *    distinct (section, address); its size is the largest st_size among the
 *    symbols there (0: up to the next function or the section end).  All the
 *    names at that address are kept: "name" is the preferred one, "aliases"
 *    the others.  Preference: no '@' version suffix, then fewer leading
 *    underscores, then GLOBAL before WEAK before LOCAL, then the shorter,
 *    then the first in byte order.
 *  - files without function symbols (stripped): starts are .eh_frame FDE
 *    starts, the entry point, .dynsym functions, direct call targets found
 *    while decoding, and code found in the gaps between known functions
 *    after skipping padding (nop, int3, zero bytes); a function ends at its
 *    FDE/.dynsym end, else at the next start (trailing padding dropped).
 *  - PLT sections (.plt, .plt.sec, .plt.got) are never functions; calls into
 *    them give the callee's name.
 * Relocatable objects: addr is the offset in its section; the id of a
 * function outside ".text" names its section: "file:.text.foo:0x0", with
 * "[index]" appended to the section name when several executable sections
 * share that name.
 *
 * Everything in the input is untrusted; a malformed file or member is
 * reported with its name and skipped.  Bounds: decoding work per file at
 * most 8 times its executable bytes + 1 MiB; one function's code cut at
 * 8 MiB (with a warning); at most 4096 callees per function; for stripped
 * files, up to 192 MiB of instruction text kept from discovery so that the
 * records need no second decoding. */
#ifndef ASMNAME_EXTRACT_H
#define ASMNAME_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "rec.h"

typedef struct ext_opts {
	const char *const *sections;  /* [nsections] names to extract; NULL: every executable one */
	size_t      nsections;
	uint64_t    min_size;          /* bytes; smaller functions are left out */
	int         named;             /* 0: all, 1: only named, -1: only unnamed */
	const char *func;              /* -F NAME: only this name (or alias) */
	int         func_is_addr;      /* -F 0xADDR */
	uint64_t    func_addr;
	int         verbose;           /* report skipped bytes and odd tables */
} ext_opts;

typedef struct ext_stats {
	uint64_t files, members, funcs, insns, bad_bytes, errors;
} ext_stats;

/* Called with each finished record; return -1 (with e set) to stop. */
typedef int (*ext_emit_fn)(void *ctx, const rec *r, an_err *e);
/* Called with a diagnostic: is_error 1 for a file/member that was skipped
 * (counted in stats.errors), 0 for a warning.  where is "file" or
 * "archive(member)". */
typedef void (*ext_msg_fn)(void *ctx, int is_error, const char *where, const char *msg);

typedef struct extractor extractor;

extractor *ext_new(const ext_opts *o, ext_emit_fn emit, ext_msg_fn msg, void *ctx, an_err *e);
void ext_free(extractor *x);

/* Take names from a separate debug file (its .symtab), matched by address.
 * buf must stay valid until ext_free.  -1 when it has no usable symbols. */
int ext_set_debug(extractor *x, const void *buf, size_t len, const char *name, an_err *e);
/* Forget the debug file (the buffer may then be freed). */
void ext_clear_debug(extractor *x);

/* Extract every function of an ELF file or every member of an archive.
 * bin is the name used in "bin" and "id".  0: done (errors in members went
 * through msg); -1: the file itself is bad (e says why); -2: emit failed (e
 * from emit) and the caller should stop. */
int ext_buffer(extractor *x, const char *bin, const void *buf, size_t len, an_err *e);

const ext_stats *ext_get_stats(const extractor *x);

#endif
