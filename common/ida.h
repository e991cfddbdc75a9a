/* ida.h: render one function's Intel-syntax disassembly (objdump -M intel or
 * capstone text) in the style of IDA Pro's GetDisasm, the text CLAP-ASM was
 * trained on (reference/clap-asm.md §2), and rewrite in-function jump
 * targets to INSTR<k> (k = 1-based index of the target instruction).
 *
 * What is rendered (as far as it can be reasoned from CLAP's vocabulary
 * and case studies; IDA's type information is not available here):
 *   - mnemonic padded to 8 columns, operands joined by ", ";
 *   - IDA mnemonics: ret -> retn, je/jne -> jz/jnz (and jae -> jnb, ...,
 *     the same for setcc/cmovcc), movabs -> mov, string instructions as
 *     rep stosq / repe cmpsb, int3 -> int 3, notrack dropped;
 *   - numbers as IDA writes them: below 10 in decimal, else upper-case hex
 *     with an h suffix and a leading 0 before a letter (0CCh); negative
 *     immediates as unsigned in the operand's size (0FFFFFFFFh);
 *   - memory: [base+index*scale+disp] without *1, "size ptr" only where IDA
 *     writes it (no register operand of that size, a vector operand, nop),
 *     stack operands as [rbp+var_18] / [rbp+arg_0] in frames set up by
 *     push rbp; mov rbp, rsp, else [rsp+28h+var_10] from the tracked stack
 *     pointer, RIP-relative data as cs:name (names from objdump's
 *     "# addr <sym>" comments or relocations, else qword_4010-style names),
 *     segment-only operands as fs:28h, index without base as ds:0[rcx*4];
 *   - branch targets: in the function -> [short ]INSTR<k> for j* (short
 *     when the instruction is 2 bytes), loc_<ADDR> for loop*; elsewhere the
 *     symbol (name@plt -> _name, version suffixes dropped, '.' -> '_'),
 *     else sub_<ADDR> for calls and loc_<ADDR> for jumps;
 *   - alignment padding (nop forms, int3) at the end of the function is
 *     dropped, as IDA keeps it out of the function's items.
 * Text that is not understood is passed through with its spacing
 * normalized; rendering never fails on odd input. */
#ifndef ASMNAME_IDA_H
#define ASMNAME_IDA_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct ida_insn {
	const char *text;     /* one instruction, e.g. "mov    DWORD PTR [rbp-0x4],edi" */
	size_t      len;
	uint64_t    addr;     /* its address (section offset in a .o) */
	uint32_t    size;     /* bytes; 0: unknown (taken from the next address) */
	const char *rel;      /* objdump -r relocation on it, "R_X86_64_PLT32\tmemcpy-0x4", or NULL */
	size_t      rel_len;
	uint64_t    rel_off;  /* address of the relocated field */
} ida_insn;

typedef struct ida_ctx {
	char   *out;     size_t out_cap, out_len;
	size_t *off;     size_t *olen;     size_t cap;
	void   *p;       /* per-instruction parse state */
	size_t  pcap;
	size_t  n;       /* rendered instructions */
	/* callee names for the next ida_render (see ida_set_callees) */
	const char *const *callees;
	const size_t *callee_len;
	size_t  ncallees;
	/* calls to the next instruction with no relocation and no callee name
	 * (relocatable code disassembled without -r), counted since init */
	uint64_t unreloc_calls;
	/* render at most this many instructions (0: all); CLAP keeps 1024
	 * tokens, and every instruction gives at least one */
	size_t  max_render;
} ida_ctx;

void ida_init(ida_ctx *c);
void ida_free(ida_ctx *c);

/* Render n instructions of one function in address order (the first
 * c->max_render of them when that is set).  has_addr 0: addresses are
 * unknown (no jump rewriting, no stack tracking across jumps).  Returns the
 * number of rendered instructions (trailing padding dropped; at least 1
 * when n > 0), or -1 when memory runs out. */
long ida_render(ida_ctx *c, const ida_insn *in, size_t n, int has_addr, an_err *e);
/* Names of the function's callees as asm-extract lists them (F_CALLEES:
 * distinct names in the order of the calls, direct jumps and calls/jumps
 * through [rip+X] that leave the function).  When the count of such distinct
 * targets in the next function equals n, targets are named in that order
 * (call foo, call cs:foo_ptr) instead of sub_XXXX; otherwise they are not
 * used.  The arrays are borrowed until ida_render returns; n 0 clears. */
void ida_set_callees(ida_ctx *c, const char *const *names, const size_t *lens, size_t n);

/* The i-th rendered text (valid until the next ida_render). */
const char *ida_text(const ida_ctx *c, size_t i, size_t *len);

/* IDA's number format: "6", "18h", "0CCh"; writes to buf[24], returns it. */
const char *ida_num(uint64_t v, char *buf);

#endif
