/* ar.h: members of a Unix `!<arch>` archive held in memory.
 *
 * GNU and SysV layout: 60-byte member headers, "name/" short names, the
 * long-name table "//" with "/offset" references, the symbol table "/"
 * (and "/SYM64/") skipped; BSD "#1/len" names are read too.  Thin archives
 * ("!<thin>") are refused.  Every size and offset is checked against the
 * buffer; member data points into it. */
#ifndef ASMNAME_AR_H
#define ASMNAME_AR_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct ar_iter {
	const unsigned char *buf;
	size_t len, off;
	const unsigned char *names;   /* the "//" table, or NULL */
	size_t nameslen;
	uint64_t index;               /* members returned so far */
} ar_iter;

typedef struct ar_member {
	char   name[256];             /* NUL-terminated, cut to fit */
	const unsigned char *data;    /* into the archive's buffer */
	size_t size;
	size_t hdr_off;               /* offset of its header in the archive */
} ar_member;

/* 1 when buf starts with "!<arch>\n" (or "!<thin>\n": *thin set). */
int ar_is_ar(const void *buf, size_t len, int *thin);
int ar_open(ar_iter *it, const void *buf, size_t len, an_err *e);
/* 1: a member in m; 0: no more; -1: a malformed header (e names its offset;
 * the walk cannot go on). */
int ar_next(ar_iter *it, ar_member *m, an_err *e);

#endif
