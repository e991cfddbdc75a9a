/* disasm.h: x86-64 decoding through capstone 4, Intel syntax, details off.
 *
 * disasm_run decodes a byte range into a reusable dis_buf: one entry per
 * instruction with its address, its text ("mnemonic op_str", as capstone
 * prints it) and, for direct and RIP-relative calls and jumps, the target.
 * A byte capstone cannot decode (data in .text, a jump table, truncated
 * code) becomes one ".byte 0xNN" entry of kind DIS_BAD and decoding goes on
 * at the next byte: it never stops early and never stops silently. */
#ifndef ASMNAME_DISASM_H
#define ASMNAME_DISASM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum dis_kind {
	DIS_OTHER = 0,
	DIS_CALL,      /* call rel32: target is the callee's address */
	DIS_JMP,       /* jmp rel32/rel8: target is the destination */
	DIS_CALL_MEM,  /* call [rip+disp32]: target is the slot's address */
	DIS_JMP_MEM,   /* jmp [rip+disp32]: target is the slot's address */
	DIS_JCC,       /* conditional jump, loop, jrcxz: target is the destination */
	DIS_RET,       /* ret, ud2, hlt: no fall-through */
	DIS_PAD,       /* nop of any form, int3 */
	DIS_BAD,       /* an undecodable byte */
};

typedef struct dis_insn {
	uint64_t addr;
	uint64_t target;   /* see dis_kind; 0 for the others */
	uint32_t text;     /* offset of its text in dis_buf.text */
	uint16_t tlen;     /* text length */
	uint8_t  size;     /* bytes */
	uint8_t  kind;     /* enum dis_kind */
} dis_insn;

typedef struct dis_buf {
	dis_insn *ins;
	size_t    n, cap;
	char     *text;     /* texts, not NUL-terminated */
	size_t    tlen, tcap;
	uint64_t  bad;      /* DIS_BAD entries in this buffer */
} dis_buf;

typedef struct disasm {
	size_t handle;     /* capstone's csh */
	void  *insn;       /* one cs_insn, reused */
} disasm;

int  disasm_init(disasm *d, an_err *e);
void disasm_free(disasm *d);

void dis_buf_init(dis_buf *b);
void dis_buf_clear(dis_buf *b);
void dis_buf_free(dis_buf *b);

/* Append src's entries [first, first+n) (with their texts) to dst; dst's
 * bad count grows by the DIS_BAD entries copied.  -1 when memory runs out. */
int dis_buf_append(dis_buf *dst, const dis_buf *src, size_t first, size_t n, an_err *e);

/* Decode n bytes at code, which sit at address addr, appending to b.
 * text_too 0 skips storing texts (scanning for call targets only).
 * -1 only when memory runs out. */
int disasm_run(disasm *d, const unsigned char *code, size_t n, uint64_t addr,
	       dis_buf *b, int text_too, an_err *e);

#endif
