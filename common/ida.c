/* ida.c: objdump/capstone Intel text -> IDA Pro style (see ida.h). */
#include "ida.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OP_NONE, OP_REG, OP_IMM, OP_MEM, OP_TGT, OP_RAW };
enum { RC_GP = 1, RC_VEC, RC_OTHER };

typedef struct opnd {
	int         kind;
	char        reg[16];    /* OP_REG */
	int         rsize, rclass;
	uint64_t    imm;        /* OP_IMM, OP_TGT (the target) */
	int         imm_neg;
	/* OP_MEM */
	char        seg[4], base[8], index[8];
	int         scale, msize, has_disp, has_brackets;
	int64_t     disp;
	/* OP_TGT: objdump's "<sym+0x10>" */
	const char *sym;
	size_t      symlen;
	int64_t     symoff;
	const char *raw;        /* OP_RAW text */
	size_t      rawlen;
} opnd;

typedef struct pinsn {
	char        pre[4][12];
	int         npre;
	char        seg_pre[4];   /* a segment prefix word ("cs nop ...") */
	char        mn[24];
	opnd        op[4];
	int         nop;
	/* objdump's "# 3fe8 <sym+0x4>" comment */
	const char *csym;
	size_t      csymlen;
	int64_t     csymoff;
	uint64_t    caddr;
	int         has_c;
	/* relocation */
	char        rtype[32];
	const char *rsym;
	size_t      rsymlen;
	int64_t     radd;
	int         has_rel;
	uint64_t    roff;
	uint32_t    size;
	int         pad;          /* alignment padding */
	int         S_known;
	int64_t     S;            /* stack pointer delta before it (entry = 0) */
	int         tin_known;    /* a forward jump to it recorded the delta */
	int64_t     tin;
	int         callee;       /* index into ida_ctx.callees, -1 */
	int         mk;           /* MK_* */
} pinsn;

enum { MK_OTHER, MK_PUSH, MK_POP, MK_PUSHF, MK_POPF, MK_SUB, MK_ADD, MK_LEA, MK_MOV, MK_LEAVE, MK_CALL,
       MK_JMP, MK_JCC, MK_RET, MK_STOP, MK_NOP, MK_CMP, MK_ENDBR };

static int mn_kind(const char *mn)
{
	switch (mn[0]) {
	case 'a': return !strcmp(mn, "add") ? MK_ADD : MK_OTHER;
	case 'c': return !strcmp(mn, "call") ? MK_CALL : !strcmp(mn, "cmp") ? MK_CMP : MK_OTHER;
	case 'e': return !strncmp(mn, "endbr", 5) ? MK_ENDBR : MK_OTHER;
	case 'h': return !strcmp(mn, "hlt") ? MK_STOP : MK_OTHER;
	case 'j': return !strcmp(mn, "jmp") ? MK_JMP : MK_JCC;
	case 'l': return !strcmp(mn, "lea") ? MK_LEA : !strcmp(mn, "leave") ? MK_LEAVE : MK_OTHER;
	case 'm': return !strcmp(mn, "mov") ? MK_MOV : MK_OTHER;
	case 'n': return !strcmp(mn, "nop") ? MK_NOP : MK_OTHER;
	case 'p':
		if (!strcmp(mn, "push")) return MK_PUSH;
		if (!strcmp(mn, "pop")) return MK_POP;
		if (!strcmp(mn, "pushf") || !strcmp(mn, "pushfq")) return MK_PUSHF;
		if (!strcmp(mn, "popf") || !strcmp(mn, "popfq")) return MK_POPF;
		return MK_OTHER;
	case 'r': return !strcmp(mn, "retn") || !strcmp(mn, "retf") || !strcmp(mn, "ret") ? MK_RET : MK_OTHER;
	case 's': return !strcmp(mn, "sub") ? MK_SUB : MK_OTHER;
	case 't': return !strcmp(mn, "test") ? MK_CMP : MK_OTHER;
	case 'u': return !strcmp(mn, "ud2") ? MK_STOP : MK_OTHER;
	default: return MK_OTHER;
	}
}

void ida_init(ida_ctx *c)
{
	memset(c, 0, sizeof *c);
}

void ida_free(ida_ctx *c)
{
	free(c->out);
	free(c->off);
	free(c->olen);
	free(c->p);
	memset(c, 0, sizeof *c);
}

void ida_set_callees(ida_ctx *c, const char *const *names, const size_t *lens, size_t n)
{
	c->callees = names;
	c->callee_len = lens;
	c->ncallees = n;
}

const char *ida_text(const ida_ctx *c, size_t i, size_t *len)
{
	if (i >= c->n)
		return NULL;
	if (len)
		*len = c->olen[i];
	return c->out + c->off[i];
}

/* Upper-case hex of v into b (no prefix); returns the length. */
static size_t hex_upper(uint64_t v, char *b)
{
	char t[17];
	size_t n = 0;
	do {
		t[n++] = "0123456789ABCDEF"[v & 15];
		v >>= 4;
	} while (v);
	for (size_t i = 0; i < n; i++)
		b[i] = t[n - 1 - i];
	b[n] = 0;
	return n;
}

const char *ida_num(uint64_t v, char *buf)
{
	if (v < 10) {
		buf[0] = (char)('0' + v);
		buf[1] = 0;
	} else {
		size_t o = 0;
		char h[20];
		size_t n = hex_upper(v, h);
		if (h[0] >= 'A' && h[0] <= 'F')
			buf[o++] = '0';
		memcpy(buf + o, h, n);
		buf[o + n] = 'h';
		buf[o + n + 1] = 0;
	}
	return buf;
}

/* ---- registers ------------------------------------------------------- */

/* Registers by name: a sorted table of (name packed in a u64, size, class),
 * built once, searched by bisection (this is on every operand's path). */
typedef struct regent { uint64_t key; int8_t size, cls; } regent;
static regent regtab[256];
static size_t nregtab;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

static uint64_t reg_key(const char *s, size_t n)
{
	uint64_t k = 0;
	for (size_t i = 0; i < n; i++)
		k = k << 8 | (uint64_t)(unsigned char)tolower((unsigned char)s[i]);
	return k;
}

static void reg_add(const char *name, int size, int cls)
{
	if (nregtab < sizeof regtab / sizeof regtab[0])
		regtab[nregtab++] = (regent){ reg_key(name, strlen(name)), (int8_t)size, (int8_t)cls };
}

static int reg_cmp(const void *a, const void *b)
{
	uint64_t x = ((const regent *)a)->key, y = ((const regent *)b)->key;
	return x < y ? -1 : x > y;
}

static void reg_build(void)
{
	static const char *const r64[] = { "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "rip", NULL };
	static const char *const r32[] = { "eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", "eiz", "riz", NULL };
	static const char *const r16[] = { "ax", "bx", "cx", "dx", "si", "di", "bp", "sp", "ip", NULL };
	static const char *const r8[] = { "al", "bl", "cl", "dl", "ah", "bh", "ch", "dh", "sil", "dil", "bpl", "spl", NULL };
	static const char *const seg[] = { "cs", "ds", "es", "fs", "gs", "ss", NULL };
	char b[16];

	for (int i = 0; r64[i]; i++) reg_add(r64[i], 8, RC_GP);
	for (int i = 0; r32[i]; i++) reg_add(r32[i], 4, RC_GP);
	for (int i = 0; r16[i]; i++) reg_add(r16[i], 2, RC_GP);
	for (int i = 0; r8[i]; i++) reg_add(r8[i], 1, RC_GP);
	for (int i = 0; seg[i]; i++) reg_add(seg[i], 2, RC_OTHER);
	for (int k = 8; k <= 15; k++) {
		snprintf(b, sizeof b, "r%d", k); reg_add(b, 8, RC_GP);
		snprintf(b, sizeof b, "r%dd", k); reg_add(b, 4, RC_GP);
		snprintf(b, sizeof b, "r%dw", k); reg_add(b, 2, RC_GP);
		snprintf(b, sizeof b, "r%db", k); reg_add(b, 1, RC_GP);
		snprintf(b, sizeof b, "r%dl", k); reg_add(b, 1, RC_GP);
	}
	for (int k = 0; k < 32; k++) {
		snprintf(b, sizeof b, "xmm%d", k); reg_add(b, 16, RC_VEC);
		snprintf(b, sizeof b, "ymm%d", k); reg_add(b, 32, RC_VEC);
		snprintf(b, sizeof b, "zmm%d", k); reg_add(b, 64, RC_VEC);
	}
	for (int k = 0; k < 8; k++) {
		snprintf(b, sizeof b, "mm%d", k); reg_add(b, 8, RC_VEC);
		snprintf(b, sizeof b, "k%d", k); reg_add(b, 0, RC_OTHER);
		snprintf(b, sizeof b, "st(%d)", k); reg_add(b, 0, RC_OTHER);
		snprintf(b, sizeof b, "dr%d", k); reg_add(b, 0, RC_OTHER);
	}
	for (int k = 0; k < 16; k++) {
		snprintf(b, sizeof b, "cr%d", k); reg_add(b, 0, RC_OTHER);
	}
	for (int k = 0; k < 4; k++) {
		snprintf(b, sizeof b, "bnd%d", k); reg_add(b, 0, RC_OTHER);
	}
	reg_add("st", 0, RC_OTHER);
	qsort(regtab, nregtab, sizeof regtab[0], reg_cmp);
}

static int reg_info(const char *s, size_t n, int *size, int *cls)
{
	if (n == 0 || n > 8)
		return 0;
	pthread_once(&reg_once, reg_build);
	uint64_t k = reg_key(s, n);
	size_t lo = 0, hi = nregtab;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (regtab[mid].key < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < nregtab && regtab[lo].key == k) {
		*size = regtab[lo].size;
		*cls = regtab[lo].cls;
		return 1;
	}
	return 0;
}

static int size_word(const char *s, size_t n)
{
	static const struct { const char *w; int sz; } t[] = {
		{"byte", 1}, {"word", 2}, {"dword", 4}, {"qword", 8}, {"tbyte", 10}, {"fword", 6},
		{"xmmword", 16}, {"ymmword", 32}, {"zmmword", 64}, {"oword", 16}, {"mmword", 8}, {"xword", 10},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (strlen(t[i].w) == n && !strncasecmp(s, t[i].w, n))
			return t[i].sz;
	return 0;
}

static const char *size_name(int sz)
{
	switch (sz) {
	case 1: return "byte";
	case 2: return "word";
	case 4: return "dword";
	case 8: return "qword";
	case 10: return "tbyte";
	case 6: return "fword";
	case 16: return "xmmword";
	case 32: return "ymmword";
	case 64: return "zmmword";
	default: return NULL;
	}
}

/* ---- parsing ----------------------------------------------------------- */

static const char *skip_ws(const char *s, const char *e)
{
	while (s < e && isspace((unsigned char)*s))
		s++;
	return s;
}

static const char *trim_end(const char *s, const char *e)
{
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	return e;
}

/* A number: 0x hex, IDA hex (ends in h), or decimal; hex_default for
 * objdump's branch targets.  Returns chars used, 0 if none. */
static size_t parse_num(const char *s, const char *e, int hex_default, uint64_t *v, int *neg)
{
	const char *p = s;
	uint64_t x = 0;
	*neg = 0;
	if (p < e && (*p == '-' || *p == '+')) {
		*neg = *p == '-';
		p++;
	}
	if (e - p >= 3 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && isxdigit((unsigned char)p[2])) {
		p += 2;
		while (p < e && isxdigit((unsigned char)*p)) {
			int d = isdigit((unsigned char)*p) ? *p - '0' : (tolower((unsigned char)*p) - 'a' + 10);
			x = x * 16 + (uint64_t)d;
			p++;
		}
	} else if (p < e && (isdigit((unsigned char)*p) || (hex_default && isxdigit((unsigned char)*p)))) {
		const char *q = p;
		while (q < e && isxdigit((unsigned char)*q))
			q++;
		int ida_h = q < e && (*q == 'h' || *q == 'H');
		int hex = hex_default || ida_h;
		for (const char *r = p; r < q; r++)
			if (!isdigit((unsigned char)*r) && !hex)
				return 0;
		for (const char *r = p; r < q; r++) {
			int d = isdigit((unsigned char)*r) ? *r - '0' : (tolower((unsigned char)*r) - 'a' + 10);
			x = hex ? x * 16 + (uint64_t)d : x * 10 + (uint64_t)d;
		}
		p = q + (ida_h ? 1 : 0);
	} else {
		return 0;
	}
	if (p < e && (isalnum((unsigned char)*p) || *p == '_'))
		return 0;
	*v = x;
	return (size_t)(p - s);
}

/* "<sym+0x10>" at s: fills sym/len/off; returns chars used or 0. */
static size_t parse_sym(const char *s, const char *e, const char **sym, size_t *symlen, int64_t *off)
{
	if (s >= e || *s != '<')
		return 0;
	const char *q = e;
	while (q > s && q[-1] != '>')
		q--;
	if (q <= s + 1)
		return 0;
	const char *in = s + 1, *ie = q - 1;   /* inside <> */
	*off = 0;
	/* a trailing +0xNN / -0xNN is the offset */
	const char *p = ie;
	while (p > in && isxdigit((unsigned char)p[-1]))
		p--;
	if (p - in >= 3 && p[-1] == 'x' && p[-2] == '0' && (p[-3] == '+' || p[-3] == '-')) {
		uint64_t v = 0;
		for (const char *r = p; r < ie; r++)
			v = v * 16 + (uint64_t)(isdigit((unsigned char)*r) ? *r - '0' : tolower((unsigned char)*r) - 'a' + 10);
		*off = p[-3] == '-' ? -(int64_t)v : (int64_t)v;
		ie = p - 3;
	}
	*sym = in;
	*symlen = (size_t)(ie - in);
	return (size_t)(q - s);
}

static int is_branch(const char *mn)
{
	return mn[0] == 'j' || !strcmp(mn, "call") || !strncmp(mn, "loop", 4) || !strcmp(mn, "xbegin");
}

static void parse_mem(const char *s, const char *e, opnd *o)
{
	int sign = 1;
	o->kind = OP_MEM;
	o->has_brackets = 1;
	while (s < e) {
		s = skip_ws(s, e);
		if (s >= e)
			break;
		if (*s == '+') { sign = 1; s++; continue; }
		if (*s == '-') { sign = -1; s++; continue; }
		const char *t = s;
		while (t < e && !isspace((unsigned char)*t) && *t != '+' && *t != '-' && *t != '*')
			t++;
		int sz, cls;
		uint64_t v;
		int neg;
		if (reg_info(s, (size_t)(t - s), &sz, &cls)) {
			char r[8];
			size_t l = (size_t)(t - s) < sizeof r ? (size_t)(t - s) : sizeof r - 1;
			for (size_t i = 0; i < l; i++)
				r[i] = (char)tolower((unsigned char)s[i]);
			r[l] = 0;
			const char *u = skip_ws(t, e);
			if (u < e && *u == '*') {
				u = skip_ws(u + 1, e);
				uint64_t sc = 1;
				size_t k = parse_num(u, e, 0, &sc, &neg);
				strcpy(o->index, r);
				o->scale = (int)sc;
				t = u + k;
			} else if (!o->base[0] && strcmp(r, "eiz") && strcmp(r, "riz")) {
				strcpy(o->base, r);
			} else if (strcmp(r, "eiz") && strcmp(r, "riz")) {
				strcpy(o->index, r);
				o->scale = 1;
			}
			s = t;
		} else if (parse_num(s, e, 0, &v, &neg)) {
			size_t k = parse_num(s, e, 0, &v, &neg);
			const char *u = skip_ws(s + k, e);
			if (u < e && *u == '*') {      /* llvm-objdump's "4*rax" */
				u = skip_ws(u + 1, e);
				const char *w = u;
				while (w < e && isalnum((unsigned char)*w))
					w++;
				if (reg_info(u, (size_t)(w - u), &sz, &cls) && (size_t)(w - u) < sizeof o->index) {
					for (size_t i = 0; i < (size_t)(w - u); i++)
						o->index[i] = (char)tolower((unsigned char)u[i]);
					o->index[w - u] = 0;
					o->scale = (int)v;
					s = w;
					continue;
				}
			}
			o->disp += sign * (neg ? -(int64_t)v : (int64_t)v);
			o->has_disp = 1;
			s += k;
		} else {
			o->kind = OP_RAW;      /* a name in the brackets (IDA's own text): keep it as it is */
			return;
		}
	}
}

static void parse_opnd(const char *s, const char *e, const char *mn, opnd *o)
{
	memset(o, 0, sizeof *o);
	s = skip_ws(s, e);
	e = trim_end(s, e);
	o->raw = s;
	o->rawlen = (size_t)(e - s);
	o->kind = OP_RAW;
	if (s >= e)
		return;
	/* "dword ptr ..." */
	const char *w = s;
	while (w < e && isalpha((unsigned char)*w))
		w++;
	int ms = size_word(s, (size_t)(w - s));
	if (w - s == 3 && !strncasecmp(s, "ptr", 3)) {   /* capstone's "ptr [rsp + 0x40]" without a size */
		s = skip_ws(w, e);
	} else if (ms) {
		const char *p = skip_ws(w, e);
		if (e - p >= 3 && !strncasecmp(p, "ptr", 3)) {
			o->msize = ms;
			s = skip_ws(p + 3, e);
		}
	}
	/* "fs:..." */
	if (e - s >= 3 && s[2] == ':') {
		int sz, cls;
		if (reg_info(s, 2, &sz, &cls) && cls == RC_OTHER) {
			o->seg[0] = (char)tolower((unsigned char)s[0]);
			o->seg[1] = (char)tolower((unsigned char)s[1]);
			s = skip_ws(s + 3, e);
		}
	}
	if (s < e && *s == '[') {
		const char *q = memchr(s, ']', (size_t)(e - s));
		int msize = o->msize;
		char seg[4];
		memcpy(seg, o->seg, 4);
		parse_mem(s + 1, q ? q : e, o);
		o->msize = msize;
		memcpy(o->seg, seg, 4);
		if (o->kind == OP_RAW || (q && skip_ws(q + 1, e) != e))
			o->kind = OP_RAW;      /* text after ']' too */
		return;
	}
	int sz, cls;
	if (!o->msize && !o->seg[0] && reg_info(s, (size_t)(e - s), &sz, &cls)) {
		o->kind = OP_REG;
		size_t l = (size_t)(e - s) < sizeof o->reg ? (size_t)(e - s) : sizeof o->reg - 1;
		for (size_t i = 0; i < l; i++)
			o->reg[i] = (char)tolower((unsigned char)s[i]);
		o->reg[l] = 0;
		o->rsize = sz;
		o->rclass = cls;
		return;
	}
	uint64_t v;
	int neg;
	size_t k = parse_num(s, e, is_branch(mn), &v, &neg);
	if (k) {
		const char *p = skip_ws(s + k, e);
		if (o->msize || o->seg[0]) {   /* fs:0x28, ds:0x0 */
			o->kind = OP_MEM;
			o->disp = neg ? -(int64_t)v : (int64_t)v;
			o->has_disp = 1;
			return;
		}
		if (is_branch(mn) && !neg) {
			o->kind = OP_TGT;
			o->imm = v;
			if (p < e)
				parse_sym(p, e, &o->sym, &o->symlen, &o->symoff);
			return;
		}
		if (p == e) {
			o->kind = OP_IMM;
			o->imm = v;
			o->imm_neg = neg;
			return;
		}
	}
}

/* Split "mnemonic operands  # comment" into p. */
static void parse_insn(const char *t, size_t len, pinsn *p)
{
	static const struct { const char *s; size_t n; } prefixes[] = {
		{"rep", 3}, {"repz", 4}, {"repe", 4}, {"repnz", 5}, {"repne", 5}, {"lock", 4}, {"bnd", 3},
		{"notrack", 7}, {"data16", 6}, {"data32", 6}, {"addr32", 6}, {"addr16", 6}, {"cs", 2}, {"ds", 2},
		{"ss", 2}, {"es", 2}, {"fs", 2}, {"gs", 2}, {"xacquire", 8}, {"xrelease", 8}, {NULL, 0} };
	const char *s = t, *e = t + len;
	const char *hash = memchr(t, '#', len);

	memset(p, 0, offsetof(pinsn, size));
	if (hash) {
		const char *c = skip_ws(hash + 1, e);
		uint64_t v;
		int neg;
		size_t k = parse_num(c, e, 1, &v, &neg);
		if (k) {
			p->caddr = v;
			p->has_c = 1;
			c = skip_ws(c + k, e);
			parse_sym(c, e, &p->csym, &p->csymlen, &p->csymoff);
		}
		e = trim_end(s, hash);
	}
	s = skip_ws(s, e);
	for (;;) {
		const char *w = s;
		while (w < e && !isspace((unsigned char)*w))
			w++;
		size_t wl = (size_t)(w - s);
		const char *nx = skip_ws(w, e);
		int isp = 0;
		if (nx < e && wl >= 2 && wl < 12) {
			char c0 = (char)tolower((unsigned char)s[0]);
			for (int i = 0; prefixes[i].s && !isp; i++)
				if (prefixes[i].s[0] == c0 && prefixes[i].n == wl && !strncasecmp(s, prefixes[i].s, wl))
					isp = 1;
			if (c0 == 'r' && !strncasecmp(s, "rex", 3))
				isp = 1;
		}
		if (!isp) {
			size_t l = wl < sizeof p->mn ? wl : sizeof p->mn - 1;
			for (size_t i = 0; i < l; i++)
				p->mn[i] = (char)tolower((unsigned char)s[i]);
			p->mn[l] = 0;
			s = nx;
			break;
		}
		if (wl == 2 && s[1] == 's') {
			p->seg_pre[0] = (char)tolower((unsigned char)s[0]);
			p->seg_pre[1] = 's';
		} else if (p->npre < 4) {
			for (size_t i = 0; i < wl; i++)
				p->pre[p->npre][i] = (char)tolower((unsigned char)s[i]);
			p->pre[p->npre][wl] = 0;
			p->npre++;
		}
		s = nx;
	}
	/* operands, split on commas outside brackets */
	int depth = 0;
	const char *os = s;
	for (const char *q = s; q <= e && p->nop < 4; q++) {
		if (q < e && (*q == '[' || *q == '(' || *q == '<'))
			depth++;
		else if (q < e && (*q == ']' || *q == ')' || *q == '>'))
			depth--;
		if (q == e || (*q == ',' && depth <= 0)) {
			if (q > os || q < e)
				parse_opnd(os, q, p->mn, &p->op[p->nop++]);
			os = q + 1;
		}
	}
	if (p->nop == 1 && p->op[0].kind == OP_RAW && p->op[0].rawlen == 0)
		p->nop = 0;
}

static void parse_rel(const ida_insn *in, pinsn *p)
{
	if (!in->rel || !in->rel_len)
		return;
	const char *s = in->rel, *e = in->rel + in->rel_len;
	s = skip_ws(s, e);
	const char *w = s;
	while (w < e && !isspace((unsigned char)*w))
		w++;
	size_t l = (size_t)(w - s) < sizeof p->rtype ? (size_t)(w - s) : sizeof p->rtype - 1;
	memcpy(p->rtype, s, l);
	p->rtype[l] = 0;
	s = skip_ws(w, e);
	e = trim_end(s, e);
	/* symbol, then +0x.. / -0x.. addend */
	const char *q = e;
	while (q > s && isxdigit((unsigned char)q[-1]))
		q--;
	p->radd = 0;
	if (q - s >= 3 && q[-1] == 'x' && q[-2] == '0' && (q[-3] == '+' || q[-3] == '-')) {
		uint64_t v = strtoull(q, NULL, 16);
		p->radd = q[-3] == '-' ? -(int64_t)v : (int64_t)v;
		e = q - 3;
	}
	p->rsym = s;
	p->rsymlen = (size_t)(e - s);
	p->roff = in->rel_off;
	p->has_rel = 1;
}

/* ---- output ------------------------------------------------------------ */

typedef struct obuf {
	char  *b;
	size_t len, cap;
	int    oom;
} obuf;

static void put(obuf *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		size_t nc = o->cap ? o->cap * 2 : 4096;
		while (nc < o->len + n + 1)
			nc *= 2;
		char *nb = realloc(o->b, nc);
		if (!nb) {
			o->oom = 1;
			return;
		}
		o->b = nb;
		o->cap = nc;
	}
	memcpy(o->b + o->len, s, n);
	o->len += n;
}

static void puts_(obuf *o, const char *s)
{
	put(o, s, strlen(s));
}

#define PUTL(o, lit) put((o), (lit), sizeof(lit) - 1)

static void putnum(obuf *o, uint64_t v)
{
	char b[24];
	puts_(o, ida_num(v, b));
}

static void puthex(obuf *o, uint64_t v)   /* IDA address in names: upper-case hex, no h */
{
	char b[24];
	put(o, b, hex_upper(v, b));
}

/* A symbol as IDA names it: name@plt -> _name, version suffix dropped,
 * characters IDA does not allow in names -> '_'. */
static void putsym(obuf *o, const char *s, size_t n)
{
	const char *at = memchr(s, '@', n);
	int plt = 0;
	if (at) {
		plt = (size_t)(s + n - at) == 4 && !strncmp(at, "@plt", 4);
		n = (size_t)(at - s);
	}
	if (plt)
		PUTL(o, "_");
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.' || c == '-' || c == '+')
			c = '_';
		put(o, &c, 1);
	}
}

static int is_section_sym(const char *s, size_t n)
{
	return n && s[0] == '.';
}

/* ---- the function ------------------------------------------------------ */

static const char *cc_map(const char *cc)
{
	static const char *const m[][2] = {
		{"e", "z"}, {"ne", "nz"}, {"ae", "nb"}, {"nae", "b"}, {"c", "b"}, {"nc", "nb"},
		{"na", "be"}, {"nbe", "a"}, {"pe", "p"}, {"po", "np"}, {"nge", "l"}, {"nl", "ge"},
		{"ng", "le"}, {"nle", "g"},
	};
	for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
		if (!strcmp(cc, m[i][0]))
			return m[i][1];
	return NULL;
}

static int is_cc(const char *cc)
{
	static const char *const ok[] = { "o", "no", "b", "nb", "z", "nz", "be", "a", "s", "ns", "p", "np",
		"l", "ge", "le", "g", "e", "ne", "ae", "nae", "c", "nc", "na", "nbe", "pe", "po", "nge", "nl",
		"ng", "nle", NULL };
	for (int i = 0; ok[i]; i++)
		if (!strcmp(cc, ok[i]))
			return 1;
	return 0;
}

/* IDA's mnemonic for mn (in place). */
static void map_mnemonic(char *mn)
{
	const char *cc = NULL;
	size_t pl = 0;
	if (mn[0] == 'j' && strcmp(mn, "jmp") && is_cc(mn + 1))
		pl = 1;
	else if (!strncmp(mn, "set", 3) && is_cc(mn + 3))
		pl = 3;
	else if (!strncmp(mn, "cmov", 4) && is_cc(mn + 4))
		pl = 4;
	if (pl && (cc = cc_map(mn + pl)))
		strcpy(mn + pl, cc);
	if (!strcmp(mn, "ret") || !strcmp(mn, "retq") || !strcmp(mn, "retn"))
		strcpy(mn, "retn");
	else if (!strcmp(mn, "movabs"))
		strcpy(mn, "mov");
	else if (!strcmp(mn, ".byte"))
		strcpy(mn, "db");
	else if (!strcmp(mn, "retl"))
		strcpy(mn, "retn");
}

static int is_padding(const pinsn *p)
{
	if (!strcmp(p->mn, "nop") || !strcmp(p->mn, "int3") || !strncmp(p->mn, "(bad)", 5))
		return 1;
	if (!strcmp(p->mn, "xchg") && p->nop == 2 && p->op[0].kind == OP_REG && p->op[1].kind == OP_REG &&
	    !strcmp(p->op[0].reg, "ax") && !strcmp(p->op[1].reg, "ax"))
		return 1;
	if (!strcmp(p->mn, "lea") && p->nop == 2 && p->op[0].kind == OP_REG && p->op[1].kind == OP_MEM &&
	    !strcmp(p->op[0].reg, p->op[1].base) && p->op[1].disp == 0 && !p->op[1].index[0])
		return 1;
	return 0;
}

/* The string-instruction form "stosq" of p, or 0. */
static int string_op(const pinsn *p, char *out)
{
	static const char *const base[] = { "movs", "stos", "lods", "scas", "cmps", "ins", "outs", NULL };
	if (!strchr("mslcio", p->mn[0]) || strlen(p->mn) > 5)
		return 0;
	for (int i = 0; base[i]; i++) {
		size_t bl = strlen(base[i]);
		if (strncmp(p->mn, base[i], bl))
			continue;
		const char *suf = p->mn + bl;
		if (*suf && (strchr("bwdq", *suf) == NULL || suf[1]))
			continue;
		int sz = 0;
		for (int k = 0; k < p->nop; k++) {
			if (p->op[k].kind == OP_REG && p->op[k].rclass == RC_VEC)
				return 0;      /* movsd xmm0, ... is SSE */
			if (p->op[k].kind == OP_MEM && p->op[k].msize && !sz)
				sz = p->op[k].msize;
			if (p->op[k].kind == OP_REG && p->op[k].rclass == RC_GP && !sz && strcmp(p->op[k].reg, "dx"))
				sz = p->op[k].rsize;
		}
		char s = *suf ? *suf : sz == 1 ? 'b' : sz == 2 ? 'w' : sz == 4 ? 'd' : sz == 8 ? 'q' : 0;
		if (!s)
			return 0;
		sprintf(out, "%s%c", base[i], s);
		return 1;
	}
	return 0;
}

typedef struct frame {
	int     W;           /* word size */
	int     rbp_frame;
	int     body_known;
	int64_t body;        /* stack pointer delta after the prologue */
	int64_t B;           /* frame base (bottom of the saved registers), entry-relative */
	const char *sp, *bp;
} frame;

static int64_t sext_imm(const opnd *o)
{
	return o->imm_neg ? -(int64_t)o->imm : (int64_t)o->imm;
}

static int reg_is(const opnd *o, const char *r)
{
	return o->kind == OP_REG && !strcmp(o->reg, r);
}

/* Name of a data item at address a, as IDA makes them up: by size, and
 * dbl_/flt_ for the operand of a scalar double/float SSE instruction. */
static void data_name(obuf *o, const char *mn, int msize, int is_lea, uint64_t a)
{
	const char *sz = is_lea ? NULL : size_name(msize);
	size_t ml = strlen(mn);
	if (!sz || msize == 6)
		sz = "unk";
	else if (msize == 8 && ml > 2 && !strcmp(mn + ml - 2, "sd"))
		sz = "dbl";
	else if (msize == 4 && ml > 2 && !strcmp(mn + ml - 2, "ss"))
		sz = "flt";
	puts_(o, sz);
	PUTL(o, "_");
	puthex(o, a);
}

static void render_mem(obuf *o, const pinsn *p, const opnd *m, const frame *f, uint32_t size,
		       uint64_t addr, int nopad, int show_ptr, const char *callee)
{
	const char *mn = p->mn;
	int is_lea = !strcmp(mn, "lea");
	char b[24];
	const char *seg = m->seg[0] ? m->seg : p->seg_pre[0] ? p->seg_pre : NULL;

	/* RIP-relative data */
	if (!strcmp(m->base, "rip") || !strcmp(m->base, "eip")) {
		if (!is_lea)
			PUTL(o, "cs:");
		if (callee) {
			putsym(o, callee, strlen(callee));
			PUTL(o, "_ptr");
		} else if (p->has_rel && p->rsymlen) {
			if (is_section_sym(p->rsym, p->rsymlen)) {
				int64_t t = p->radd + (int64_t)(addr + size - p->roff);
				data_name(o, p->mn, m->msize, is_lea, (uint64_t)t);
			} else {
				putsym(o, p->rsym, p->rsymlen);
			}
		} else if (p->has_c && p->csym && !p->csymoff && !is_section_sym(p->csym, p->csymlen)) {
			putsym(o, p->csym, p->csymlen);
			if (memchr(p->csym, '@', p->csymlen) && !is_lea && !memmem(p->csym, p->csymlen, "@plt", 4))
				PUTL(o, "_ptr");
		} else if (p->has_c) {
			data_name(o, p->mn, m->msize, is_lea, p->caddr);
		} else if (size) {
			data_name(o, p->mn, m->msize, is_lea, addr + size + (uint64_t)m->disp);
		} else {
			data_name(o, p->mn, m->msize, is_lea, (uint64_t)m->disp);
		}
		return;
	}
	if (show_ptr && m->msize && size_name(m->msize)) {
		puts_(o, size_name(m->msize));
		PUTL(o, " ptr ");
	}
	if (!m->base[0] && !m->index[0]) {          /* fs:28h, ds:0 */
		puts_(o, seg ? seg : "ds");
		PUTL(o, ":");
		if (p->has_rel && p->rsymlen && !is_section_sym(p->rsym, p->rsymlen))
			putsym(o, p->rsym, p->rsymlen);
		else
			putnum(o, (uint64_t)m->disp);
		return;
	}
	if (!m->base[0]) {                           /* ds:0[rcx*4] */
		puts_(o, seg ? seg : "ds");
		PUTL(o, ":");
		if (p->has_rel && p->rsymlen) {
			if (is_section_sym(p->rsym, p->rsymlen)) {
				PUTL(o, "off_");
				puthex(o, (uint64_t)p->radd);
			} else {
				putsym(o, p->rsym, p->rsymlen);
			}
		} else {
			putnum(o, (uint64_t)m->disp);
		}
		PUTL(o, "[");
		puts_(o, m->index);
		if (m->scale > 1) {
			b[0] = '*';
			b[1] = (char)('0' + (m->scale % 10));
			put(o, b, 2);
		}
		PUTL(o, "]");
		return;
	}
	if (seg) {
		puts_(o, seg);
		PUTL(o, ":");
	}
	PUTL(o, "[");
	puts_(o, m->base);
	if (m->index[0]) {
		PUTL(o, "+");
		puts_(o, m->index);
		if (m->scale > 1) {
			b[0] = '*';
			b[1] = (char)('0' + (m->scale % 10));
			put(o, b, 2);
		}
	}
	/* stack frame members */
	int64_t C = 0;
	int frame_ok = 0;
	if (f->rbp_frame && !strcmp(m->base, f->bp)) {
		C = 0;
		frame_ok = 1;
	} else if (!strcmp(m->base, f->sp) && p->S_known) {
		C = f->B - p->S;
		frame_ok = C >= 0;
	}
	if (frame_ok) {
		int64_t mo = m->disp - C;
		int64_t argbase = -f->B + f->W;
		if (mo < 0 || mo >= argbase) {
			if (C > 0) {
				PUTL(o, "+");
				putnum(o, (uint64_t)C);
			}
			if (mo < 0) {
				PUTL(o, "+var_");
				puthex(o, (uint64_t)-mo);
			} else {
				PUTL(o, "+arg_");
				puthex(o, (uint64_t)(mo - argbase));
			}
			PUTL(o, "]");
			return;
		}
	}
	if (m->disp > 0) {
		PUTL(o, "+");
		putnum(o, (uint64_t)m->disp);
	} else if (m->disp < 0) {
		PUTL(o, "-");
		putnum(o, (uint64_t)-m->disp);
	} else if ((m->has_disp || size >= 4) && nopad) {
		/* nop padding keeps its encoded zero displacement: 00h or 00000000h */
		puts_(o, size >= 7 ? "+00000000h" : "+00h");
	} else if ((m->has_disp && !m->index[0]) || !strcmp(m->base, "rbp") || !strcmp(m->base, "r13") ||
		   !strcmp(m->base, "ebp")) {
		PUTL(o, "+0");      /* [rbp+0], [r13+0]: the encoding needs the displacement */
	}
	PUTL(o, "]");
}

static int is_stack_member(const pinsn *p, const opnd *m, const frame *f)
{
	if (f->rbp_frame && !strcmp(m->base, f->bp))
		return m->disp < 0 || m->disp >= -f->B + f->W;
	if (!strcmp(m->base, f->sp) && p->S_known) {
		int64_t C = f->B - p->S;
		int64_t mo = m->disp - C;
		return C >= 0 && (mo < 0 || mo >= -f->B + f->W);
	}
	return 0;
}

/* Index of the instruction at address a, or -1. */
static long find_addr(const ida_insn *in, size_t n, uint64_t a)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (in[mid].addr < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && in[lo].addr == a ? (long)lo : -1;
}


/* Parse instruction i of in[0..n) into p, with its IDA mnemonic, kind and size. */
static void parse_full(const ida_insn *in, size_t n, size_t i, int has_addr, pinsn *p)
{
	parse_insn(in[i].text, in[i].len, p);
	parse_rel(&in[i], p);
	map_mnemonic(p->mn);
	p->mk = mn_kind(p->mn);
	p->size = in[i].size;
	if (!p->size && has_addr && i + 1 < n && in[i + 1].addr - in[i].addr < 16)
		p->size = (uint32_t)(in[i + 1].addr - in[i].addr);
	p->pad = is_padding(p);
}

long ida_render(ida_ctx *c, const ida_insn *in, size_t n, int has_addr, an_err *e)
{
	obuf o = { c->out, 0, c->out_cap, 0 };
	frame f = { 8, 0, 0, 0, 0, "rsp", "rbp" };

	c->n = 0;
	/* only the first max_render instructions are rendered (each gives at
	 * least one token, so no more can reach a cut sequence); all of them
	 * still serve as jump targets and for the callee count */
	size_t nr = c->max_render && c->max_render < n ? c->max_render : n;
	if (nr > c->pcap) {
		size_t nc = c->pcap ? c->pcap : 256;
		while (nc < nr)
			nc *= 2;
		void *np = realloc(c->p, nc * sizeof(pinsn));
		size_t *no = realloc(c->off, nc * sizeof *c->off);
		if (no)
			c->off = no;
		size_t *nl = realloc(c->olen, nc * sizeof *c->olen);
		if (nl)
			c->olen = nl;
		if (np)
			c->p = np;
		if (!np || !no || !nl) {
			an_err_set(e, "out of memory");
			return -1;
		}
		c->pcap = nc;
	}
	pinsn *P = c->p;
	if (has_addr)   /* address order is needed for the lookups */
		for (size_t i = 1; i < n; i++)
			if (in[i].addr <= in[i - 1].addr) {
				has_addr = 0;
				break;
			}

	int r64 = 0, r32 = 0;
	for (size_t i = 0; i < nr; i++) {
		pinsn *p = &P[i];
		parse_full(in, n, i, has_addr, p);
		for (int k = 0; k < p->nop && !r64; k++) {
			const opnd *q = &p->op[k];
			if (q->kind == OP_REG && q->rclass == RC_GP && q->rsize == 8)
				r64 = 1;
			else if (q->kind == OP_MEM && q->base[0] == 'r')
				r64 = 1;
			else if (q->kind == OP_MEM && q->base[0] == 'e' && (q->base[1] == 's' || q->base[1] == 'b') &&
				 q->base[2] == 'p')
				r32 = 1;
			else if (q->kind == OP_REG && q->reg[0] == 'e' && (q->reg[1] == 's' || q->reg[1] == 'b') &&
				 q->reg[2] == 'p' && !q->reg[3])
				r32 = 1;
		}
	}
	if (r32 && !r64) {
		f.W = 4;
		f.sp = "esp";
		f.bp = "ebp";
	}
	/* prologue: pushes, then maybe mov rbp, rsp */
	{
		size_t i = 0;
		int npush = 0;
		f.body = 0;
		while (i < nr && P[i].mk == MK_ENDBR)
			i++;
		/* pushes of registers before the frame is allocated (compilers
		 * interleave other instructions with them) are saved registers */
		for (size_t lim = i + 24; i < nr && i < lim; i++) {
			const pinsn *q = &P[i];
			if (!strcmp(q->mn, "push") && q->nop == 1 && q->op[0].kind == OP_REG) {
				npush++;
				continue;
			}
			if (!strcmp(q->mn, "mov") && q->nop == 2 && reg_is(&q->op[0], f.bp) &&
			    reg_is(&q->op[1], f.sp) && npush > 0) {
				f.rbp_frame = 1;
				break;
			}
			if (q->mk == MK_SUB && q->nop == 2 && reg_is(&q->op[0], f.sp) && q->op[1].kind == OP_IMM &&
			    !q->op[1].imm_neg && q->op[1].imm < 0x1000000) {
				f.body = -(int64_t)f.W * npush - (int64_t)q->op[1].imm;
				f.body_known = 1;
				break;      /* the frame allocation */
			}
			if (is_branch(q->mn) || q->mn[0] == 'r' || (q->nop >= 1 && reg_is(&q->op[0], f.sp)))
				break;      /* a call, a jump, ret, or another change of the stack pointer */
			int mem_sp = 0;
			for (int k = 0; k < q->nop; k++)
				if (q->op[k].kind == OP_MEM && !strcmp(q->op[k].base, f.sp))
					mem_sp = 1;
			if (mem_sp)
				break;
		}
		f.B = -(int64_t)f.W * npush;
		if (!f.body_known) {
			f.body = f.B;
			f.body_known = !f.rbp_frame;
		}
	}
	/* stack pointer tracking, in address order */
	{
		/* guessed: S came from the frame after the prologue, not from the
		 * flow; a recorded jump to an instruction is then better */
		int known = 1, after_jump = 0, guessed = 0;
		int64_t S = 0;
		for (size_t i = 0; i < nr; i++)
			P[i].tin_known = 0;
		for (size_t i = 0; i < nr; i++) {
			pinsn *p = &P[i];
			if (after_jump) {
				known = 0;
				guessed = 0;
				if (p->tin_known) {
					S = p->tin;
					known = 1;
				} else if (f.body_known) {
					S = f.body;
					known = 1;
					guessed = 1;
				}
				after_jump = 0;
			} else if ((!known || guessed) && p->tin_known) {
				S = p->tin;
				known = 1;
				guessed = 0;
			}
			p->S = S;
			p->S_known = known;
			const int mk = p->mk;
			int ops_sp = p->nop >= 1 && reg_is(&p->op[0], f.sp);
			if (mk == MK_PUSH || mk == MK_PUSHF)
				S -= f.W;
			else if (mk == MK_POP || mk == MK_POPF)
				S += f.W;
			else if (ops_sp && p->nop == 2 && (mk == MK_SUB || mk == MK_ADD) &&
				 p->op[1].kind == OP_IMM) {
				int64_t v = sext_imm(&p->op[1]);
				if (f.W == 8 && !p->op[1].imm_neg && p->op[1].imm > 0x7fffffff)
					v = (int64_t)p->op[1].imm;   /* 0xffffffffffffff80 */
				else if (f.W == 4 && !p->op[1].imm_neg && p->op[1].imm > 0x7fffffff)
					v = (int32_t)(uint32_t)p->op[1].imm;
				S += mk == MK_SUB ? -v : v;
			} else if (ops_sp && mk == MK_LEA && p->nop == 2 && p->op[1].kind == OP_MEM &&
				   !p->op[1].index[0]) {
				if (!strcmp(p->op[1].base, f.sp))
					S += p->op[1].disp;
				else if (f.rbp_frame && !strcmp(p->op[1].base, f.bp))
					S = f.B + p->op[1].disp;
				else
					known = 0;
			} else if (mk == MK_LEAVE) {
				if (f.rbp_frame)
					S = f.B + f.W;
				else
					known = 0;
			} else if (ops_sp && mk == MK_MOV && p->nop == 2 && f.rbp_frame && reg_is(&p->op[1], f.bp)) {
				S = f.B;
			} else if (ops_sp && mk != MK_CMP) {
				known = 0;   /* and rsp, -16 and the like */
			}
			if (has_addr && (mk == MK_JMP || mk == MK_JCC) && p->nop == 1 && p->op[0].kind == OP_TGT) {
				long k = find_addr(in, n, p->op[0].imm);
				if (k > (long)i && (size_t)k < nr && !P[k].tin_known && known) {
					P[k].tin_known = 1;
					P[k].tin = S;
				}
			}
			if (mk == MK_JMP || mk == MK_RET || mk == MK_STOP)
				after_jump = 1;
		}
	}
	/* callee names, by order of first appearance of distinct targets */
	for (size_t i = 0; i < nr; i++)
		P[i].callee = -1;
	if (c->ncallees && has_addr && n) {
		uint64_t lo = in[0].addr, hi = in[n - 1].addr + (in[n - 1].size ? in[n - 1].size : 1);
		uint64_t *keys = malloc((c->ncallees + 1) * sizeof *keys);
		size_t nk = 0;
		int ok = keys != NULL;
		pinsn tmp;
		for (size_t i = 0; i < n && ok && nk <= c->ncallees; i++) {
			pinsn *p = &P[i];
			if (i >= nr) {      /* beyond the rendered ones: parsed for the count only */
				const char *t = in[i].text;
				if (in[i].len < 3 || (t[0] != 'c' && t[0] != 'j' && t[0] != 'C' && t[0] != 'J' && t[0] != 'b' &&
						      t[0] != 'n'))
					continue;
				p = &tmp;
				parse_full(in, n, i, has_addr, p);
			}
			if ((strcmp(p->mn, "call") && strcmp(p->mn, "jmp")) || p->nop != 1)
				continue;
			const opnd *q = &p->op[0];
			uint64_t key;
			if (q->kind == OP_TGT) {
				if (q->imm >= lo && q->imm < hi) {
					/* a call to the next instruction: an unrelocated .o call */
					if (strcmp(p->mn, "call") || !p->size || q->imm != in[i].addr + p->size)
						continue;
					key = (1ull << 63) | i;
				} else {
					key = q->imm;
				}
			} else if (q->kind == OP_MEM && !strcmp(q->base, "rip") && !q->index[0]) {
				key = (1ull << 62) | (in[i].addr + p->size + (uint64_t)q->disp);
			} else {
				continue;
			}
			size_t k;
			for (k = 0; k < nk && keys[k] != key; k++)
				;
			if (k == nk && nk <= c->ncallees)
				keys[nk++] = key;
			if (i < nr)
				p->callee = (int)k;
		}
		if (!ok || nk != c->ncallees)
			for (size_t i = 0; i < nr; i++)
				P[i].callee = -1;
		free(keys);
	}
	c->ncallees = 0;

	/* trailing padding */
	size_t last = nr;
	while (nr == n && last > 1 && P[last - 1].pad)
		last--;

	for (size_t i = 0; i < last; i++) {
		pinsn *p = &P[i];
		size_t start = o.len;
		char mn[32], strop[16];
		int nops = p->nop;
		int is_nop = !strcmp(p->mn, "nop");

		snprintf(mn, sizeof mn, "%s", p->mn);
		if (!strcmp(mn, "int3")) {
			strcpy(mn, "int");
		}
		/* prefixes IDA shows */
		for (int k = 0; k < p->npre; k++) {
			const char *pr = p->pre[k];
			if (!strcmp(pr, "repz") || !strcmp(pr, "repe"))
				pr = !strcmp(mn, "retn") ? "rep" : "repe";
			else if (!strcmp(pr, "repnz") || !strcmp(pr, "repne"))
				pr = "repne";
			else if (strcmp(pr, "rep") && strcmp(pr, "lock") && strcmp(pr, "bnd"))
				continue;
			puts_(&o, pr);
			PUTL(&o, " ");
		}
		if (string_op(p, strop)) {
			puts_(&o, strop);
			nops = 0;
		} else {
			puts_(&o, mn);
		}
		if (!strcmp(p->mn, "int3")) {
			PUTL(&o, "     3");
		}
		/* which register sizes the instruction has, for "ptr" */
		int has_vec = 0, is_lea = !strcmp(mn, "lea");
		int regsz[4] = {0};
		for (int k = 0; k < nops; k++)
			if (p->op[k].kind == OP_REG) {
				if (p->op[k].rclass == RC_VEC)
					has_vec = 1;
				if (p->op[k].rclass == RC_GP)
					regsz[k] = p->op[k].rsize;
			}
		int opsize = 0;
		for (int k = 0; k < nops; k++)
			if (p->op[k].kind == OP_REG && p->op[k].rclass == RC_GP) {
				opsize = p->op[k].rsize;
				break;
			} else if (p->op[k].kind == OP_MEM && p->op[k].msize && !opsize) {
				opsize = p->op[k].msize;
			}
		if (!opsize)
			opsize = f.W;
		for (int k = 0; k < nops; k++) {
			const opnd *q = &p->op[k];
			if (k == 0) {
				size_t col = o.len - start;
				for (size_t s = col; s < 7; s++)
					put(&o, " ", 1);
				put(&o, " ", 1);
			} else {
				PUTL(&o, ", ");
			}
			switch (q->kind) {
			case OP_REG:
				puts_(&o, q->reg);
				break;
			case OP_IMM: {
				uint64_t v = q->imm;
				if (p->has_rel && p->rsymlen && (!strcmp(p->rtype, "R_X86_64_32S") ||
				    !strcmp(p->rtype, "R_X86_64_32") || !strcmp(p->rtype, "R_X86_64_64") ||
				    !strcmp(p->rtype, "R_386_32"))) {
					PUTL(&o, "offset ");
					if (is_section_sym(p->rsym, p->rsymlen))
						data_name(&o, "", 0, 1, (uint64_t)p->radd);
					else
						putsym(&o, p->rsym, p->rsymlen);
					break;
				}
				if (q->imm_neg) {
					int sz = opsize > 8 ? 8 : opsize;
					v = (uint64_t)(-(int64_t)q->imm);
					if (sz < 8)
						v &= (1ull << (sz * 8)) - 1;
				}
				putnum(&o, v);
				break;
			}
			case OP_MEM: {
				int same = 0;
				for (int j = 0; j < nops; j++)
					if (j != k && regsz[j] && regsz[j] == q->msize)
						same = 1;
				int show = !is_lea && (is_nop || has_vec || !same) && !is_stack_member(p, q, &f);
				char cname[256];
				if (p->callee >= 0)
					snprintf(cname, sizeof cname, "%.*s", (int)c->callee_len[p->callee],
						 c->callees[p->callee]);
				render_mem(&o, p, q, &f, p->size, in[i].addr, is_nop, show, p->callee >= 0 ? cname : NULL);
				break;
			}
			case OP_TGT: {
				long t = has_addr ? find_addr(in, n, q->imm) : -1;
				int jcc = p->mn[0] == 'j';
				if (jcc && p->size == 2)
					PUTL(&o, "short ");
				if (p->mk == MK_CALL && p->callee < 0 && !p->has_rel && p->size &&
				    q->imm == in[i].addr + p->size)
					c->unreloc_calls++;
				int rel_here = p->has_rel && p->rsymlen && !is_section_sym(p->rsym, p->rsymlen) &&
					       p->roff > in[i].addr && (!p->size || p->roff < in[i].addr + p->size);
				if (rel_here && (!strcmp(p->mn, "call") || jcc)) {
					putsym(&o, p->rsym, p->rsymlen);
				} else if (p->callee >= 0) {
					putsym(&o, c->callees[p->callee], c->callee_len[p->callee]);
				} else if (t >= 0 && jcc) {
					char b[24];
					snprintf(b, sizeof b, "INSTR%ld", t + 1);
					puts_(&o, b);
				} else if (t >= 0 && p->mk != MK_CALL) {
					puts_(&o, (size_t)t < nr && P[t].mk == MK_RET ? "locret_" : "loc_");
					puthex(&o, q->imm);
				} else if (q->sym && !q->symoff && !is_section_sym(q->sym, q->symlen)) {
					putsym(&o, q->sym, q->symlen);
				} else {
					puts_(&o, !strcmp(p->mn, "call") ? "sub_" : "loc_");
					puthex(&o, q->imm);
				}
				break;
			}
			default:
				/* pass the text through with its spacing */
				for (size_t j = 0; j < q->rawlen; j++)
					if (!isspace((unsigned char)q->raw[j]) || (j && !isspace((unsigned char)q->raw[j - 1])))
						put(&o, isspace((unsigned char)q->raw[j]) ? " " : &q->raw[j], 1);
				break;
			}
		}
		if (!strcmp(mn, "jmp") && nops == 1 && p->op[0].kind == OP_REG) {
			for (int k = 0; k < p->npre; k++)
				if (!strcmp(p->pre[k], "notrack"))
					PUTL(&o, " ; switch jump");
		}
		c->off[i] = start;
		c->olen[i] = o.len - start;
		put(&o, "", 0);
		if (o.oom) {
			an_err_set(e, "out of memory");
			c->out = o.b;
			c->out_cap = o.cap;
			return -1;
		}
	}
	c->out = o.b;
	c->out_cap = o.cap;
	c->out_len = o.len;
	c->n = last;
	return (long)last;
}
