#include "disasm.h"

#include <capstone/capstone.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int disasm_init(disasm *d, an_err *e)
{
	csh h;

	memset(d, 0, sizeof *d);
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK) {
		an_err_set(e, "capstone: cannot open an x86-64 handle");
		return -1;
	}
	cs_option(h, CS_OPT_SYNTAX, CS_OPT_SYNTAX_INTEL);
	cs_option(h, CS_OPT_DETAIL, CS_OPT_OFF);
	if (!(d->insn = cs_malloc(h))) {
		cs_close(&h);
		an_err_set(e, "capstone: out of memory");
		return -1;
	}
	d->handle = h;
	return 0;
}

void disasm_free(disasm *d)
{
	csh h = d->handle;

	if (d->insn)
		cs_free(d->insn, 1);
	if (h)
		cs_close(&h);
	memset(d, 0, sizeof *d);
}

void dis_buf_init(dis_buf *b) { memset(b, 0, sizeof *b); }
void dis_buf_clear(dis_buf *b) { b->n = b->tlen = 0; b->bad = 0; }
void dis_buf_free(dis_buf *b)
{
	free(b->ins);
	free(b->text);
	memset(b, 0, sizeof *b);
}

static int grow(dis_buf *b, size_t tneed, an_err *e)
{
	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 1024;
		dis_insn *ni = realloc(b->ins, nc * sizeof *ni);

		if (!ni)
			goto oom;
		b->ins = ni;
		b->cap = nc;
	}
	if (b->tcap - b->tlen < tneed) {
		size_t nc = b->tcap ? b->tcap : 65536;
		char *nt;

		while (nc - b->tlen < tneed)
			nc *= 2;
		if (!(nt = realloc(b->text, nc)))
			goto oom;
		b->text = nt;
		b->tcap = nc;
	}
	return 0;
oom:
	an_err_set(e, "out of memory decoding instructions");
	return -1;
}

int dis_buf_append(dis_buf *dst, const dis_buf *src, size_t first, size_t n, an_err *e)
{
	size_t tbeg, tend, need;

	if (n == 0)
		return 0;
	tbeg = src->ins[first].text;
	tend = src->ins[first + n - 1].text + src->ins[first + n - 1].tlen;
	need = dst->n + n;
	if (need > dst->cap) {
		size_t nc = dst->cap ? dst->cap : 1024;
		dis_insn *ni;

		while (nc < need)
			nc *= 2;
		if (!(ni = realloc(dst->ins, nc * sizeof *ni)))
			goto oom;
		dst->ins = ni;
		dst->cap = nc;
	}
	if (dst->tcap - dst->tlen < tend - tbeg) {
		size_t nc = dst->tcap ? dst->tcap : 65536;
		char *nt;

		while (nc - dst->tlen < tend - tbeg)
			nc *= 2;
		if (!(nt = realloc(dst->text, nc)))
			goto oom;
		dst->text = nt;
		dst->tcap = nc;
	}
	memcpy(dst->text + dst->tlen, src->text + tbeg, tend - tbeg);
	for (size_t i = 0; i < n; i++) {
		dis_insn *d = &dst->ins[dst->n + i];

		*d = src->ins[first + i];
		d->text = (uint32_t)(d->text - tbeg + dst->tlen);
		dst->bad += d->kind == DIS_BAD;
	}
	dst->n += n;
	dst->tlen += tend - tbeg;
	return 0;
oom:
	an_err_set(e, "out of memory copying instructions");
	return -1;
}

static int32_t ld32s(const unsigned char *p)
{
	return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

/* Classify from the raw bytes (details are off, so no operand info). */
static void classify(dis_insn *in, const unsigned char *p, unsigned id)
{
	size_t i = 0, n = in->size;
	uint64_t end = in->addr + in->size;

	while (i < n && (p[i] == 0x66 || p[i] == 0x67 || p[i] == 0xf2 || p[i] == 0xf3 ||
			 p[i] == 0x2e || p[i] == 0x3e || p[i] == 0x26 || p[i] == 0x36 ||
			 p[i] == 0x64 || p[i] == 0x65 || (p[i] & 0xf0) == 0x40))
		i++;
	if (id == X86_INS_NOP || id == X86_INS_INT3) {
		in->kind = DIS_PAD;
		return;
	}
	if (id == X86_INS_RET || id == X86_INS_UD2 || id == X86_INS_HLT) {
		in->kind = DIS_RET;
		return;
	}
	if (i >= n)
		return;
	if (p[i] == 0xe8 && n - i == 5) {
		in->kind = DIS_CALL;
		in->target = end + (uint64_t)(int64_t)ld32s(p + i + 1);
	} else if (p[i] == 0xe9 && n - i == 5) {
		in->kind = DIS_JMP;
		in->target = end + (uint64_t)(int64_t)ld32s(p + i + 1);
	} else if (p[i] == 0xeb && n - i == 2) {
		in->kind = DIS_JMP;
		in->target = end + (uint64_t)(int64_t)(int8_t)p[i + 1];
	} else if (((p[i] >= 0x70 && p[i] <= 0x7f) || (p[i] >= 0xe0 && p[i] <= 0xe3)) && n - i == 2) {
		in->kind = DIS_JCC;
		in->target = end + (uint64_t)(int64_t)(int8_t)p[i + 1];
	} else if (p[i] == 0x0f && n - i == 6 && p[i + 1] >= 0x80 && p[i + 1] <= 0x8f) {
		in->kind = DIS_JCC;
		in->target = end + (uint64_t)(int64_t)ld32s(p + i + 2);
	} else if (p[i] == 0xff && n - i == 6 && (p[i + 1] == 0x15 || p[i + 1] == 0x25)) {
		in->kind = p[i + 1] == 0x15 ? DIS_CALL_MEM : DIS_JMP_MEM;
		in->target = end + (uint64_t)(int64_t)ld32s(p + i + 2);
	}
}

int disasm_run(disasm *d, const unsigned char *code, size_t n, uint64_t addr,
	       dis_buf *b, int text_too, an_err *e)
{
	csh h = d->handle;
	cs_insn *ci = d->insn;

	while (n > 0) {
		const unsigned char *p = code;
		dis_insn *in;

		if (grow(b, 200, e))
			return -1;
		in = &b->ins[b->n++];
		in->text = (uint32_t)b->tlen;
		in->target = 0;
		in->kind = DIS_OTHER;
		in->addr = addr;
		if (cs_disasm_iter(h, &code, &n, &addr, ci)) {
			in->size = (uint8_t)ci->size;
			if (text_too) {
				size_t ml = strlen(ci->mnemonic), ol = strlen(ci->op_str);

				memcpy(b->text + b->tlen, ci->mnemonic, ml);
				b->tlen += ml;
				if (ol) {
					b->text[b->tlen++] = ' ';
					memcpy(b->text + b->tlen, ci->op_str, ol);
					b->tlen += ol;
				}
			}
			classify(in, p, ci->id);
		} else {
			in->size = 1;
			in->kind = DIS_BAD;
			b->bad++;
			if (text_too)
				b->tlen += (size_t)snprintf(b->text + b->tlen, 16, ".byte 0x%02x", *code);
			code++;
			n--;
			addr++;
		}
		in->tlen = (uint16_t)(b->tlen - in->text);
	}
	return 0;
}
