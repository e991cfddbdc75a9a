/* asmin.h: text inputs of asm-tok, one function at a time.
 *
 *   objdump  `objdump -d [-r] [-w] [--no-show-raw-insn] -M intel` output of
 *            files or archives: one function per "<name>:" header; raw bytes
 *            (also on continuation lines) give instruction sizes; -r
 *            relocation lines are attached to their instruction; AT&T
 *            syntax is refused with a message.  llvm-objdump's layout
 *            (spaces after the address, tabs around the mnemonic) too.
 *   json     CLAP's function dicts {"1": "push    rbp", ...} (keys kept in
 *            file order), a list of them (process_asm.py), JSON Lines or
 *            concatenated values; an object with an "asm" member (a dict or
 *            a list of strings) may also carry "id", "name", "src".
 *   csv      RFC 4180 (quoted fields with "" escapes, multi-line fields,
 *            CRLF or LF) rows of (source, asm, name), or any order given by
 *            a header row naming the columns (source|src|code, asm|assembly,
 *            name|func_name|function_name).  The asm field is a CLAP JSON
 *            dict, a JSON array of strings (or the same as a Python literal,
 *            as pandas writes them), or one instruction per line (objdump
 *            lines "  401000:\t55\tpush rbp" are understood).
 *
 * Errors name the input and line; a bad function is reported (-1) and the
 * reader goes on with the next one; an input that cannot go on returns -2. */
#ifndef ASMNAME_ASMIN_H
#define ASMNAME_ASMIN_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "ida.h"

enum asmin_fmt { ASMIN_AUTO = 0, ASMIN_REC, ASMIN_OBJDUMP, ASMIN_JSON, ASMIN_CSV };

/* The format of an input that begins with buf[0..n). */
enum asmin_fmt asmin_detect(const unsigned char *buf, size_t n);
const char *asmin_fmt_name(enum asmin_fmt f);
/* "auto", "rec", "objdump", "json", "csv" -> the format; -1 if none. */
int asmin_fmt_parse(const char *s);

/* One function.  Strings point into the reader and stay valid until the
 * next asmin_next.  Lengths are in bytes; strings are also NUL-terminated. */
typedef struct asm_func {
	const char  *id, *name, *bin, *src, *section;   /* NULL when the input does not give one */
	uint64_t     addr;
	int          has_addr;      /* addr and every ii[].addr are real */
	size_t       n;             /* instructions */
	ida_insn    *ii;            /* [n] text, address, size, relocation */
	const char **keys;          /* [n] JSON keys, or NULL: "1".."n" */
	size_t      *klen;
	int          is_ida;        /* the text is IDA's already (JSON dicts): do not render */
	uint64_t     line;          /* input line where the function starts */
	uint64_t     index;         /* 1-based number of the function in its input */
} asm_func;

typedef struct asmin asmin;

/* Read from fd (not closed by asmin_close unless own_fd), named `name` in
 * messages; pre[0..npre) are bytes already read from it (detection). */
asmin *asmin_open_fd(int fd, int own_fd, const char *name, enum asmin_fmt fmt,
		     const void *pre, size_t npre, an_err *e);
/* 1: a function in f; 0: end of input; -1: a bad function (e says why and
 * where), go on; -2: the input cannot go on. */
int  asmin_next(asmin *r, asm_func *f, an_err *e);
void asmin_close(asmin *r);

#endif
