#include "extract.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ar.h"
#include "disasm.h"
#include "elf.h"

/* A function's code is cut at this many bytes (a record stays bounded). */
#define EXT_MAX_FUNC (8u << 20)
/* Discovery passes over new starts in a stripped file. */
#define EXT_MAX_PASSES 16
/* Instruction texts kept from discovery for reuse when the records are
 * written (stripped files), at most this many bytes of text. */
#define EXT_CACHE_TEXT (192u << 20)
/* Callees kept per function (a power of two). */
#define EXT_MAX_CALLEES 4096

typedef struct fn {
	uint64_t addr, size;
	uint64_t hint;        /* stripped: end from an FDE or .dynsym size, 0 if none */
	uint32_t sec;
	uint32_t names, nnames;  /* into x->names; names[names] is the chosen one */
	uint8_t  scanned, trim;  /* stripped: decoded for call targets; drop trailing padding */
	size_t   cfirst, cn;     /* stripped: its decoded instructions in x->cache (cn 0: none) */
} fn;

/* one FUNC symbol candidate */
typedef struct cand {
	uint64_t addr, size;
	uint32_t sec;
	const char *name;
	uint8_t bind;
} cand;

struct extractor {
	ext_opts    o;
	ext_emit_fn emit;
	ext_msg_fn  msg;
	void       *ctx;
	ext_stats   st;
	disasm      dis;
	dis_buf     db;
	dis_buf     cache;      /* stripped: what discovery decoded, see fn.cfirst */
	rec         r;
	/* per file */
	fn         *fns;
	size_t      nfns, capfns;
	const char **names;
	size_t      nnames, capnames;
	cand       *cands;
	size_t      ncands, capcands;
	struct crange *cr;          /* code sections by address */
	size_t      ncr, capcr;
	uint64_t   *tg;             /* jump targets (split_after_pad) */
	size_t      ntg, captg;
	unsigned char *hasfn;       /* [nsec] sections with a start */
	size_t      caphasfn;
	/* per record */
	const char **sv;
	size_t     *sl;
	uint64_t   *av;
	size_t      capsv, capsl, capav;
	const char **cn;            /* [insn] callee name of a call/jmp, or NULL */
	size_t      capcn;
	char       *ann;            /* annotated texts "call 0x4090 <abort>" */
	size_t      capann;
	const char **callees;
	size_t      ncallees, capcallees;
	uint32_t    gen, cgen[2 * EXT_MAX_CALLEES], cidx[2 * EXT_MAX_CALLEES];
	/* debug names */
	elf_file    dbg;
	int         have_dbg;
	fn         *dfns;
	size_t      ndfns, capdfns;
	const char **dnames;
	size_t      ndnames, capdnames;
	const unsigned char *dbg_id;
	size_t      dbg_idlen;
	char        dbg_name[512];
	uint64_t    budget;     /* bytes left to decode in this file */
};

extractor *ext_new(const ext_opts *o, ext_emit_fn emit, ext_msg_fn msg, void *ctx, an_err *e)
{
	extractor *x = calloc(1, sizeof *x);

	if (!x) {
		an_err_set(e, "out of memory");
		return NULL;
	}
	x->o = *o;
	x->emit = emit;
	x->msg = msg;
	x->ctx = ctx;
	if (disasm_init(&x->dis, e)) {
		free(x);
		return NULL;
	}
	dis_buf_init(&x->db);
	rec_init(&x->r);
	return x;
}

void ext_free(extractor *x)
{
	if (!x)
		return;
	disasm_free(&x->dis);
	dis_buf_free(&x->db);
	dis_buf_free(&x->cache);
	rec_free(&x->r);
	free(x->fns);
	free(x->names);
	free(x->cands);
	free(x->cr);
	free(x->tg);
	free(x->hasfn);
	free(x->sv);
	free(x->cn);
	free(x->ann);
	free(x->sl);
	free(x->av);
	free(x->callees);
	free(x->dfns);
	free(x->dnames);
	if (x->have_dbg)
		elf_free(&x->dbg);
	free(x);
}

const ext_stats *ext_get_stats(const extractor *x) { return &x->st; }

static void warnf(extractor *x, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void warnf(extractor *x, const char *where, const char *fmt, ...)
{
	char m[AN_ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	if (x->msg)
		x->msg(x->ctx, 0, where, m);
}

/* Grow *p (elements of es bytes) to hold need; 0 or -1. */
static int grow(void *pp, size_t *cap, size_t need, size_t es)
{
	void **p = pp;
	size_t nc = *cap ? *cap : 256;
	void *np;

	if (need <= *cap)
		return 0;
	while (nc < need)
		nc *= 2;
	if (!(np = realloc(*p, nc * es)))
		return -1;
	*p = np;
	*cap = nc;
	return 0;
}

/* --- names ---------------------------------------------------------- */

static int name_rank_cmp(const cand *a, const cand *b)
{
	int aat = strchr(a->name, '@') != NULL, bat = strchr(b->name, '@') != NULL;
	size_t au = strspn(a->name, "_"), bu = strspn(b->name, "_");
	int ab = a->bind == ELF_STB_GLOBAL ? 0 : a->bind == ELF_STB_WEAK ? 1 : a->bind == ELF_STB_LOCAL ? 2 : 3;
	int bb = b->bind == ELF_STB_GLOBAL ? 0 : b->bind == ELF_STB_WEAK ? 1 : b->bind == ELF_STB_LOCAL ? 2 : 3;
	size_t al = strlen(a->name), bl = strlen(b->name);

	if (aat != bat)
		return aat - bat;
	if (au != bu)
		return au < bu ? -1 : 1;
	if (ab != bb)
		return ab - bb;
	if (al != bl)
		return al < bl ? -1 : 1;
	return strcmp(a->name, b->name);
}

static int cand_cmp(const void *pa, const void *pb)
{
	const cand *a = pa, *b = pb;

	if (a->sec != b->sec)
		return a->sec < b->sec ? -1 : 1;
	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	return name_rank_cmp(a, b);
}

/* 1 when section i can hold functions: executable, with bytes (or a debug
 * file's NOBITS copy when nobits_ok), and not a PLT. */
static int code_sec(const elf_file *f, size_t i, int nobits_ok)
{
	const elf_sec *s;
	size_t n;

	if (i == 0 || i >= f->nsec)
		return 0;
	s = &f->sec[i];
	if (!(s->flags & ELF_SHF_EXECINSTR) || strncmp(s->name, ".plt", 4) == 0)
		return 0;
	if (s->type == ELF_SHT_NOBITS)
		return nobits_ok;
	return elf_sec_data(f, i, &n) != NULL;
}

/* Turn FUNC symbols of table t into candidates; returns how many. */
static int collect_syms(extractor *x, const elf_file *f, const elf_sym *t, size_t n, int nobits_ok)
{
	x->ncands = 0;
	for (size_t i = 0; i < n; i++) {
		const elf_sym *s = &t[i];
		const elf_sec *sec;
		uint64_t off;
		cand *c;

		if ((s->type != ELF_STT_FUNC && s->type != ELF_STT_GNU_IFUNC) || !s->name[0] ||
		    !code_sec(f, s->shndx, nobits_ok))
			continue;
		sec = &f->sec[s->shndx];
		off = f->type == ELF_ET_REL ? s->value : s->value - sec->addr;
		if (f->type != ELF_ET_REL && s->value < sec->addr)
			continue;
		if (off >= sec->size)
			continue;
		if (grow(&x->cands, &x->capcands, x->ncands + 1, sizeof *x->cands))
			return -1;
		c = &x->cands[x->ncands++];
		c->addr = s->value;
		c->size = s->size;
		c->sec = s->shndx;
		c->name = s->name;
		c->bind = s->bind;
	}
	return 0;
}

/* Group the candidates by (section, address) into fns/names. */
static int group_cands(extractor *x, fn **fns, size_t *nfns, size_t *capfns,
		       const char ***names, size_t *nnames, size_t *capnames)
{
	if (x->ncands > 1)
		qsort(x->cands, x->ncands, sizeof *x->cands, cand_cmp);
	*nfns = *nnames = 0;
	for (size_t i = 0; i < x->ncands;) {
		size_t j = i;
		fn *g;

		if (grow(fns, capfns, *nfns + 1, sizeof **fns))
			return -1;
		g = &(*fns)[(*nfns)++];
		memset(g, 0, sizeof *g);
		g->addr = x->cands[i].addr;
		g->sec = x->cands[i].sec;
		g->names = (uint32_t)*nnames;
		for (; j < x->ncands && x->cands[j].sec == g->sec && x->cands[j].addr == g->addr; j++) {
			int dup = 0;

			if (x->cands[j].size > g->size)
				g->size = x->cands[j].size;
			for (size_t k = g->names; k < *nnames && !dup; k++)
				dup = strcmp((*names)[k], x->cands[j].name) == 0;
			if (dup || g->nnames >= 1024)
				continue;
			if (grow(names, capnames, *nnames + 1, sizeof **names))
				return -1;
			(*names)[(*nnames)++] = x->cands[j].name;
			g->nnames++;
		}
		i = j;
	}
	return 0;
}

/* Size 0 -> up to the next function in the section or the section end;
 * every size clamped to the section. */
static void fix_sizes(const elf_file *f, fn *fns, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const elf_sec *s = &f->sec[fns[i].sec];
		uint64_t base = f->type == ELF_ET_REL ? 0 : s->addr;
		uint64_t end = base + s->size;

		if (fns[i].size == 0) {
			fns[i].size = end - fns[i].addr;
			if (i + 1 < n && fns[i + 1].sec == fns[i].sec)
				fns[i].size = fns[i + 1].addr - fns[i].addr;
			fns[i].trim = 1;
		}
		if (fns[i].size > end - fns[i].addr)
			fns[i].size = end - fns[i].addr;
	}
}

/* --- lookup tables ---------------------------------------------------- */

static const fn *fn_at(const fn *t, size_t n, uint32_t sec, uint64_t addr, int by_sec)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c;

		if (by_sec && t[mid].sec != sec)
			c = t[mid].sec < sec ? -1 : 1;
		else
			c = t[mid].addr < addr ? -1 : t[mid].addr > addr;
		if (c < 0)
			lo = mid + 1;
		else if (c > 0)
			hi = mid;
		else
			return &t[mid];
	}
	return NULL;
}

static int fn_addr_cmp(const void *pa, const void *pb)
{
	const fn *a = pa, *b = pb;

	return a->addr < b->addr ? -1 : a->addr > b->addr;
}

static int fn_secaddr_cmp(const void *pa, const void *pb)
{
	const fn *a = pa, *b = pb;

	if (a->sec != b->sec)
		return a->sec < b->sec ? -1 : 1;
	return a->addr < b->addr ? -1 : a->addr > b->addr;
}

void ext_clear_debug(extractor *x)
{
	if (x->have_dbg)
		elf_free(&x->dbg);
	x->have_dbg = 0;
	x->ndfns = x->ndnames = 0;
	x->dbg_id = NULL;
	x->dbg_idlen = 0;
}

int ext_set_debug(extractor *x, const void *buf, size_t len, const char *name, an_err *e)
{
	ext_clear_debug(x);
	if (elf_parse(&x->dbg, buf, len, e))
		return -1;
	x->have_dbg = 1;
	snprintf(x->dbg_name, sizeof x->dbg_name, "%s", name);
	if (!x->dbg.symtab) {
		an_err_set(e, "no .symtab to take names from");
		goto fail;
	}
	if (collect_syms(x, &x->dbg, x->dbg.symtab, x->dbg.nsymtab, 1) ||
	    group_cands(x, &x->dfns, &x->ndfns, &x->capdfns, &x->dnames, &x->ndnames, &x->capdnames)) {
		an_err_set(e, "out of memory");
		goto fail;
	}
	if (x->ndfns == 0) {
		an_err_set(e, "no function symbols");
		goto fail;
	}
	if (x->ndfns > 1)
		qsort(x->dfns, x->ndfns, sizeof *x->dfns, fn_addr_cmp);
	x->dbg_id = elf_build_id(&x->dbg, &x->dbg_idlen);
	return 0;
fail:
	ext_clear_debug(x);
	return -1;
}

/* --- one ELF file ----------------------------------------------------- */

typedef struct file_ctx {
	const elf_file *f;
	const char     *bin;    /* for "bin" */
	const char     *where;  /* "file" or "archive(member)", for ids and messages */
	elf_addrname   *plt, *got;
	size_t          nplt, ngot;
	elf_rel        *rel;    /* relocations of relsec (REL files) */
	size_t          nrel, relsec, relsym;
	unsigned char  *dupname; /* [nsec] REL: 1 when another executable section has the same name */
} file_ctx;

static int take_budget(extractor *x, uint64_t n)
{
	if (n > x->budget)
		return -1;
	x->budget -= n;
	return 0;
}

/* The code of [addr, addr+size) in section sec. */
static const unsigned char *code_at(const elf_file *f, uint32_t sec, uint64_t addr, uint64_t *size)
{
	const elf_sec *s = &f->sec[sec];
	size_t n;
	const unsigned char *d = elf_sec_data(f, sec, &n);
	uint64_t off = f->type == ELF_ET_REL ? addr : addr - s->addr;

	if (!d || off > n)
		return NULL;
	if (*size > n - off)
		*size = n - off;
	return d + off;
}

static int is_pad(const elf_file *f, const dis_insn *in, uint32_t sec)
{
	uint64_t sz = in->size;
	const unsigned char *p;

	if (in->kind == DIS_PAD)
		return 1;
	if (!(p = code_at(f, sec, in->addr, &sz)))
		return 0;
	for (uint64_t i = 0; i < sz; i++)
		if (p[i])
			return 0;
	return 1;
}

typedef struct crange {
	uint64_t lo, hi;
	uint32_t sec;
} crange;

static int crange_cmp(const void *a, const void *b)
{
	const crange *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The code sections' address ranges, sorted, for in_code. */
static int code_ranges(extractor *x, const elf_file *f)
{
	x->ncr = 0;
	for (size_t i = 1; i < f->nsec; i++) {
		if (!code_sec(f, i, 0) || !(f->sec[i].flags & ELF_SHF_ALLOC) || !f->sec[i].size ||
		    f->sec[i].addr + f->sec[i].size < f->sec[i].addr)
			continue;
		if (grow(&x->cr, &x->capcr, x->ncr + 1, sizeof *x->cr))
			return -1;
		x->cr[x->ncr].lo = f->sec[i].addr;
		x->cr[x->ncr].hi = f->sec[i].addr + f->sec[i].size;
		x->cr[x->ncr].sec = (uint32_t)i;
		x->ncr++;
	}
	if (x->ncr > 1)
		qsort(x->cr, x->ncr, sizeof *x->cr, crange_cmp);
	return 0;
}

/* 1 with *sec set when a lies in a code section (not a PLT). */
static int in_code(const extractor *x, uint64_t a, uint32_t *sec)
{
	size_t lo = 0, hi = x->ncr;

	while (lo < hi) {   /* the last range starting at or before a */
		size_t mid = lo + (hi - lo) / 2;

		if (x->cr[mid].lo <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || a >= x->cr[lo - 1].hi)
		return 0;
	*sec = x->cr[lo - 1].sec;
	return 1;
}

static int add_start(extractor *x, uint64_t a, uint32_t sec, uint64_t hint)
{
	fn *g;

	if (grow(&x->fns, &x->capfns, x->nfns + 1, sizeof *x->fns))
		return -1;
	g = &x->fns[x->nfns++];
	memset(g, 0, sizeof *g);
	g->addr = a;
	g->sec = sec;
	g->hint = hint;
	return 0;
}

/* Sort and merge duplicate starts: keep the largest hint, the first names. */
static void merge_starts(extractor *x)
{
	size_t k = 0;

	if (x->nfns > 1)
		qsort(x->fns, x->nfns, sizeof *x->fns, fn_addr_cmp);
	for (size_t i = 0; i < x->nfns; i++) {
		if (k && x->fns[k - 1].addr == x->fns[i].addr) {
			fn *p = &x->fns[k - 1];

			if (x->fns[i].hint > p->hint)
				p->hint = x->fns[i].hint;
			if (!p->nnames && x->fns[i].nnames) {
				p->names = x->fns[i].names;
				p->nnames = x->fns[i].nnames;
			}
			p->scanned |= x->fns[i].scanned;
			if (!p->cn && x->fns[i].cn) {
				p->cfirst = x->fns[i].cfirst;
				p->cn = x->fns[i].cn;
			}
			continue;
		}
		x->fns[k++] = x->fns[i];
	}
	x->nfns = k;
}

/* End of stripped function i: its hint, cut at the next start and the section. */
static uint64_t stripped_end(const extractor *x, const elf_file *f, size_t i)
{
	const fn *g = &x->fns[i];
	const elf_sec *s = &f->sec[g->sec];
	uint64_t end = s->addr + s->size;

	if (i + 1 < x->nfns && x->fns[i + 1].sec == g->sec && x->fns[i + 1].addr < end)
		end = x->fns[i + 1].addr;
	if (g->hint && g->hint > g->addr && g->hint < end)
		end = g->hint;
	return end;
}

/* Starts from the pointers in .init_array/.fini_array/.preinit_array:
 * the words themselves, and R_X86_64_RELATIVE addends aimed at them (PIE). */
static int array_starts(extractor *x, const elf_file *f)
{
	uint32_t sec;

	for (size_t i = 1; i < f->nsec; i++) {
		const elf_sec *s = &f->sec[i];
		const unsigned char *d;
		size_t n;

		if (strcmp(s->name, ".init_array") && strcmp(s->name, ".fini_array") &&
		    strcmp(s->name, ".preinit_array"))
			continue;
		if (!(d = elf_sec_data(f, i, &n)))
			continue;
		for (size_t k = 0; k + 8 <= n; k += 8) {
			uint64_t a = 0;

			for (int b = 7; b >= 0; b--)
				a = a << 8 | d[k + (size_t)b];
			if (a && in_code(x, a, &sec) && add_start(x, a, sec, 0))
				return -1;
		}
		for (size_t r = 1; r < f->nsec; r++) {
			const unsigned char *rd;
			size_t rn;

			if (f->sec[r].type != ELF_SHT_RELA || !(rd = elf_sec_data(f, r, &rn)))
				continue;
			for (size_t k = 0; k + 24 <= rn; k += 24) {
				uint64_t off = 0, info = 0, add = 0;

				for (int b = 7; b >= 0; b--) {
					off = off << 8 | rd[k + (size_t)b];
					info = info << 8 | rd[k + 8 + (size_t)b];
					add = add << 8 | rd[k + 16 + (size_t)b];
				}
				if ((uint32_t)info == 8 /* R_X86_64_RELATIVE */ &&
				    off >= s->addr && off - s->addr < s->size &&
				    in_code(x, add, &sec) && add_start(x, add, sec, 0))
					return -1;
			}
		}
	}
	return 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* In code without an FDE (x->db holds it): code that follows padding after
 * an instruction without fall-through (ret, jmp, ud2, hlt) and that no jump
 * of this code reaches is taken to start another function. */
static int split_after_pad(extractor *x, const elf_file *f, uint32_t sec)
{
	const dis_buf *b = &x->db;

	x->ntg = 0;
	for (size_t m = 0; m < b->n; m++)
		if (b->ins[m].kind == DIS_JMP || b->ins[m].kind == DIS_JCC) {
			if (grow(&x->tg, &x->captg, x->ntg + 1, sizeof *x->tg))
				return -1;
			x->tg[x->ntg++] = b->ins[m].target;
		}
	if (x->ntg > 1)
		qsort(x->tg, x->ntg, sizeof *x->tg, u64_cmp);
	for (size_t k = 0; k + 2 < b->n; k++) {
		const dis_insn *in = &b->ins[k];
		size_t j = k + 1;
		uint64_t a;

		if (in->kind != DIS_RET && in->kind != DIS_JMP && in->kind != DIS_JMP_MEM)
			continue;
		while (j < b->n && is_pad(f, &b->ins[j], sec))
			j++;
		if (j == k + 1 || j >= b->n)
			continue;
		a = b->ins[j].addr;
		if (!(x->ntg && bsearch(&a, x->tg, x->ntg, sizeof *x->tg, u64_cmp)) && add_start(x, a, sec, 0))
			return -1;
		k = j - 1;
	}
	return 0;
}

/* Stripped file: find starts (see extract.h). */
static int discover(extractor *x, file_ctx *fc, an_err *e)
{
	const elf_file *f = fc->f;
	elf_fde *fde = NULL;
	size_t nfde = 0, badfde = 0;
	uint32_t sec;
	int pass;

	x->nfns = x->nnames = 0;
	dis_buf_clear(&x->cache);
	if (code_ranges(x, f))
		goto oom;
	if (elf_fdes(f, &fde, &nfde, &badfde, e))
		return -1;
	if (badfde && x->o.verbose)
		warnf(x, fc->where, ".eh_frame: %zu entries could not be read", badfde);
	for (size_t i = 0; i < nfde; i++)
		if (in_code(x, fde[i].start, &sec) && add_start(x, fde[i].start, sec, fde[i].start + fde[i].size))
			goto oom;
	free(fde);
	fde = NULL;
	if (f->entry && in_code(x, f->entry, &sec) && add_start(x, f->entry, sec, 0))
		goto oom;
	/* named exports of a stripped shared object */
	if (f->dynsym) {
		if (collect_syms(x, f, f->dynsym, f->ndynsym, 0))
			goto oom;
		if (x->ncands > 1)
			qsort(x->cands, x->ncands, sizeof *x->cands, cand_cmp);
		for (size_t i = 0; i < x->ncands;) {
			size_t j = i;
			uint64_t sz = 0;

			if (add_start(x, x->cands[i].addr, x->cands[i].sec, 0))
				goto oom;
			x->fns[x->nfns - 1].names = (uint32_t)x->nnames;
			for (; j < x->ncands && x->cands[j].addr == x->cands[i].addr && x->cands[j].sec == x->cands[i].sec; j++) {
				int dup = 0;

				for (size_t k = x->fns[x->nfns - 1].names; k < x->nnames && !dup; k++)
					dup = strcmp(x->names[k], x->cands[j].name) == 0;
				if (x->cands[j].size > sz)
					sz = x->cands[j].size;
				if (dup)
					continue;
				if (grow(&x->names, &x->capnames, x->nnames + 1, sizeof *x->names))
					goto oom;
				x->names[x->nnames++] = x->cands[j].name;
				x->fns[x->nfns - 1].nnames++;
			}
			if (sz)
				x->fns[x->nfns - 1].hint = x->cands[i].addr + sz;
			i = j;
		}
	}
	if (array_starts(x, f))
		goto oom;
	merge_starts(x);
	for (pass = 0; pass < EXT_MAX_PASSES; pass++) {
		size_t before = x->nfns, nstarts = x->nfns;

		/* decode the new starts, collecting direct call targets */
		for (size_t i = 0; i < nstarts; i++) {
			fn *g = &x->fns[i];
			uint64_t end = stripped_end(x, f, i), sz = end - g->addr;
			const unsigned char *p;

			if (g->scanned)
				continue;
			g->scanned = 1;
			if (sz > EXT_MAX_FUNC)
				sz = EXT_MAX_FUNC;
			if (!(p = code_at(f, g->sec, g->addr, &sz)))
				continue;
			if (take_budget(x, sz))
				goto budget;
			dis_buf_clear(&x->db);
			if (disasm_run(&x->dis, p, sz, g->addr, &x->db, 1, e))
				return -1;
			if (x->cache.tlen + x->db.tlen <= EXT_CACHE_TEXT) {
				g->cfirst = x->cache.n;
				g->cn = x->db.n;
				if (dis_buf_append(&x->cache, &x->db, 0, x->db.n, e))
					return -1;
			}
			for (size_t k = 0; k < x->db.n; k++) {
				const dis_insn *in = &x->db.ins[k];

				if (in->kind == DIS_CALL && in_code(x, in->target, &sec) &&
				    add_start(x, in->target, sec, 0))
					goto oom;
			}
			if (!x->fns[i].hint && split_after_pad(x, f, x->fns[i].sec))
				goto oom;
		}
		/* code after padding in the gaps between known functions */
		if (x->nfns == before) {
			merge_starts(x);
			for (size_t i = 0; i <= x->nfns; i++) {
				uint64_t gap, gend, sz;
				const unsigned char *p;
				uint32_t gsec;

				if (i < x->nfns && (i == 0 || x->fns[i - 1].sec != x->fns[i].sec)) {
					gsec = x->fns[i].sec;   /* from the section's start */
					gap = f->sec[gsec].addr;
					gend = x->fns[i].addr;
				} else if (i > 0) {
					gsec = x->fns[i - 1].sec;
					gap = stripped_end(x, f, i - 1);
					gend = i < x->nfns && x->fns[i].sec == gsec ? x->fns[i].addr
						: f->sec[gsec].addr + f->sec[gsec].size;
				} else
					continue;
				if (gap >= gend)
					continue;
				sz = gend - gap;
				if (sz > EXT_MAX_FUNC)
					sz = EXT_MAX_FUNC;
				if (!(p = code_at(f, gsec, gap, &sz)))
					continue;
				if (take_budget(x, sz))
					goto budget;
				dis_buf_clear(&x->db);
				if (disasm_run(&x->dis, p, sz, gap, &x->db, 0, e))
					return -1;
				for (size_t k = 0; k < x->db.n; k++)
					if (!is_pad(f, &x->db.ins[k], gsec)) {
						if (add_start(x, x->db.ins[k].addr, gsec, 0))
							goto oom;
						x->fns[x->nfns - 1].trim = 1;
						break;
					}
			}
			/* code in executable sections without any start at all */
			if (grow(&x->hasfn, &x->caphasfn, f->nsec, 1))
				goto oom;
			memset(x->hasfn, 0, f->nsec);
			for (size_t i = 0; i < x->nfns; i++)
				x->hasfn[x->fns[i].sec] = 1;
			for (size_t s = 1; s < f->nsec; s++) {
				int any = x->hasfn[s];

				if (!code_sec(f, s, 0))
					continue;
				if (!any && f->sec[s].size && add_start(x, f->sec[s].addr, (uint32_t)s, 0))
					goto oom;
				if (!any && f->sec[s].size)
					x->fns[x->nfns - 1].trim = 1;
			}
			if (x->nfns == before)
				break;
		}
		merge_starts(x);
	}
	/* final sizes */
	for (size_t i = 0; i < x->nfns; i++) {
		uint64_t end = stripped_end(x, f, i);

		x->fns[i].size = end - x->fns[i].addr;
		if (!x->fns[i].hint)
			x->fns[i].trim = 1;
	}
	return 0;
budget:
	warnf(x, fc->where, "stopped looking for functions: too much overlapping code");
	merge_starts(x);
	for (size_t i = 0; i < x->nfns; i++) {
		x->fns[i].size = stripped_end(x, f, i) - x->fns[i].addr;
		if (!x->fns[i].hint)
			x->fns[i].trim = 1;
	}
	return 0;
oom:
	free(fde);
	an_err_set(e, "out of memory");
	return -1;
}

/* Names from the debug file replace those found in the file itself. */
static int debug_names(extractor *x)
{
	for (size_t i = 0; i < x->nfns; i++) {
		fn *g = &x->fns[i];
		const fn *d = fn_at(x->dfns, x->ndfns, 0, g->addr, 0);

		if (!d)
			continue;
		if (grow(&x->names, &x->capnames, x->nnames + d->nnames, sizeof *x->names))
			return -1;
		g->names = (uint32_t)x->nnames;
		g->nnames = d->nnames;
		for (size_t k = 0; k < d->nnames; k++)
			x->names[x->nnames++] = x->dnames[d->names + k];
	}
	return 0;
}

/* Callees are kept once each: a hash set of 2*EXT_MAX_CALLEES slots,
 * emptied per function by bumping the generation. */
static int add_callee(extractor *x, const char *name)
{
	uint32_t h = 2166136261u, slot;

	if (!name || !name[0] || x->ncallees >= EXT_MAX_CALLEES)
		return 0;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	for (slot = h & (2 * EXT_MAX_CALLEES - 1);; slot = (slot + 1) & (2 * EXT_MAX_CALLEES - 1)) {
		if (x->cgen[slot] != x->gen)
			break;
		if (strcmp(x->callees[x->cidx[slot]], name) == 0)
			return 0;
	}
	if (grow(&x->callees, &x->capcallees, x->ncallees + 1, sizeof *x->callees))
		return -1;
	x->cgen[slot] = x->gen;
	x->cidx[slot] = (uint32_t)x->ncallees;
	x->callees[x->ncallees++] = name;
	return 0;
}

static const char *fn_name(const extractor *x, const fn *g)
{
	return g->nnames ? x->names[g->names] : NULL;
}

/* A callee of relocatable code: the relocation on the instruction's last 4 bytes. */
static const char *rel_callee(extractor *x, file_ctx *fc, const dis_insn *in, const fn *self)
{
	const elf_file *f = fc->f;
	uint64_t field = in->addr + in->size - 4;
	size_t lo = 0, hi = fc->nrel;
	const elf_rel *r = NULL;
	const elf_sym *s;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (fc->rel[mid].off < field)
			lo = mid + 1;
		else if (fc->rel[mid].off > field)
			hi = mid;
		else {
			r = &fc->rel[mid];
			break;
		}
	}
	if (!r) {   /* resolved by the assembler: a call within the section */
		const fn *t;

		if ((in->kind != DIS_CALL && in->kind != DIS_JMP) ||
		    (in->target >= self->addr && in->target - self->addr < self->size))
			return NULL;
		t = fn_at(x->fns, x->nfns, self->sec, in->target, 1);
		return t ? fn_name(x, t) : NULL;
	}
	if (fc->relsym != f->symtab_sec || r->sym >= f->nsymtab)
		return NULL;
	if (r->type != ELF_R_X86_64_PLT32 && r->type != ELF_R_X86_64_PC32 &&
	    r->type != ELF_R_X86_64_GOTPCREL && r->type != ELF_R_X86_64_GOTPCRELX &&
	    r->type != ELF_R_X86_64_REX_GOTPCRELX)
		return NULL;
	s = &f->symtab[r->sym];
	if (s->type == ELF_STT_SECTION) {
		const fn *t = fn_at(x->fns, x->nfns, s->shndx, s->value + (uint64_t)r->addend + 4, 1);

		return t && t != self ? fn_name(x, t) : NULL;
	}
	return s->name;
}

static const char *linked_callee(extractor *x, file_ctx *fc, const dis_insn *in, const fn *self)
{
	const char *n;
	const fn *t;

	if (in->kind == DIS_CALL_MEM || in->kind == DIS_JMP_MEM)
		return elf_addrname_find(fc->got, fc->ngot, in->target);
	if (in->target >= self->addr && in->target - self->addr < self->size)
		return NULL;
	if ((n = elf_addrname_find(fc->plt, fc->nplt, in->target)))
		return n;
	if ((t = fn_at(x->fns, x->nfns, 0, in->target, 0)))
		return fn_name(x, t);
	return NULL;
}

static int wanted(const extractor *x, const file_ctx *fc, const fn *g, const char *const *names)
{
	const ext_opts *o = &x->o;

	if (o->nsections) {
		int ok = 0;

		for (size_t i = 0; i < o->nsections && !ok; i++)
			ok = strcmp(o->sections[i], fc->f->sec[g->sec].name) == 0;
		if (!ok)
			return 0;
	}
	if (o->named > 0 && !g->nnames)
		return 0;
	if (o->named < 0 && g->nnames)
		return 0;
	if (o->func_is_addr && g->addr != o->func_addr)
		return 0;
	if (o->func) {
		int ok = 0;

		for (size_t i = 0; i < g->nnames && !ok; i++)
			ok = strcmp(names[g->names + i], o->func) == 0;
		if (!ok)
			return 0;
	}
	return 1;
}

static int emit_fn(extractor *x, file_ctx *fc, fn *g, an_err *e)
{
	const elf_file *f = fc->f;
	const char *const *names = x->names;
	const elf_sec *sec = &f->sec[g->sec];
	uint64_t size = g->size, n, done;
	const unsigned char *p;
	char id[1024], secname[300];
	rec *r = &x->r;
	size_t k, annlen;

	if (!wanted(x, fc, g, names))
		return 0;
	if (size > EXT_MAX_FUNC) {
		warnf(x, fc->where, "function at 0x%" PRIx64 ": cut to %u of %" PRIu64 " bytes",
		      g->addr, EXT_MAX_FUNC, size);
		size = EXT_MAX_FUNC;
	}
	n = size;
	if (!(p = code_at(f, g->sec, g->addr, &n)))
		return 0;
	dis_buf_clear(&x->db);
	/* what discovery decoded from the same start, as far as it lies inside;
	 * the rest is decoded now, so the result is that of a fresh decode */
	done = 0;
	if (g->cn) {
		const dis_insn *c = x->cache.ins + g->cfirst;
		size_t m = 0;

		while (m < g->cn && c[m].addr + c[m].size <= g->addr + n)
			m++;
		if (dis_buf_append(&x->db, &x->cache, g->cfirst, m, e))
			return -1;
		if (m)
			done = c[m - 1].addr + c[m - 1].size - g->addr;
	}
	if (take_budget(x, n - done)) {
		an_err_set(e, "too much overlapping code; stopped at the function at 0x%" PRIx64, g->addr);
		return -1;
	}
	if (done < n && disasm_run(&x->dis, p + done, n - done, g->addr + done, &x->db, 1, e))
		return -1;
	if (g->trim) {   /* drop padding after the last real instruction */
		size_t m = x->db.n;

		while (m > 1 && is_pad(f, &x->db.ins[m - 1], g->sec))
			m--;
		if (m < x->db.n && m > 0) {
			x->db.n = m;
			n = x->db.ins[m - 1].addr + x->db.ins[m - 1].size - g->addr;
		}
	}
	if (n < x->o.min_size)
		return 0;
	if (x->db.bad) {
		x->st.bad_bytes += x->db.bad;
		if (x->o.verbose)
			warnf(x, fc->where, "function at 0x%" PRIx64 ": skipped %" PRIu64 " undecodable bytes",
			      g->addr, x->db.bad);
	}
	/* id */
	int dup = fc->dupname && fc->dupname[g->sec];

	if (f->type == ELF_ET_REL && (dup || strcmp(sec->name, ".text") != 0)) {
		if (dup || !sec->name[0])
			snprintf(secname, sizeof secname, "%.256s[%u]", sec->name, g->sec);
		else
			snprintf(secname, sizeof secname, "%.256s", sec->name);
		snprintf(id, sizeof id, "%s:%s:0x%" PRIx64, fc->where, secname, g->addr);
	} else
		snprintf(id, sizeof id, "%s:0x%" PRIx64, fc->where, g->addr);
	/* instructions */
	if (grow(&x->sv, &x->capsv, x->db.n, sizeof *x->sv) ||
	    grow(&x->sl, &x->capsl, x->db.n, sizeof *x->sl) ||
	    grow(&x->av, &x->capav, x->db.n, sizeof *x->av) ||
	    grow(&x->cn, &x->capcn, x->db.n, sizeof *x->cn)) {
oom:
		an_err_set(e, "out of memory");
		return -1;
	}
	x->ncallees = 0;
	if (++x->gen == 0) {   /* wrapped: forget every slot */
		memset(x->cgen, 0, sizeof x->cgen);
		x->gen = 1;
	}
	annlen = 0;
	for (k = 0; k < x->db.n; k++) {
		const dis_insn *in = &x->db.ins[k];
		const char *c = NULL;

		x->sv[k] = x->db.text + in->text;
		x->sl[k] = in->tlen;
		x->av[k] = in->addr;
		if (in->kind >= DIS_CALL && in->kind <= DIS_JMP_MEM) {
			c = f->type == ELF_ET_REL ? rel_callee(x, fc, in, g) : linked_callee(x, fc, in, g);
			if (c && add_callee(x, c))
				goto oom;
			if (c && c[0])
				annlen += in->tlen + strlen(c) + 3;
		}
		x->cn[k] = c && c[0] ? c : NULL;
	}
	/* A call or jump whose target has a name carries it as objdump writes
	 * it, "call 0x4090 <abort>", so that the tokenizer names the call
	 * exactly instead of guessing from the order of callees. */
	if (annlen) {
		size_t o = 0;

		if (grow(&x->ann, &x->capann, annlen, 1))
			goto oom;
		for (k = 0; k < x->db.n; k++) {
			size_t cl;

			if (!x->cn[k])
				continue;
			cl = strlen(x->cn[k]);
			memcpy(x->ann + o, x->sv[k], x->sl[k]);
			x->ann[o + x->sl[k]] = ' ';
			x->ann[o + x->sl[k] + 1] = '<';
			memcpy(x->ann + o + x->sl[k] + 2, x->cn[k], cl);
			x->ann[o + x->sl[k] + 2 + cl] = '>';
			x->sv[k] = x->ann + o;
			x->sl[k] += cl + 3;
			o += x->sl[k];
		}
	}
	rec_clear(r);
	if (rec_set_str(r, F_ID, id, strlen(id)) || rec_set_str(r, F_BIN, fc->bin, strlen(fc->bin)) ||
	    rec_set_u64(r, F_ADDR, g->addr) || rec_set_u64(r, F_SIZE, n))
		goto oom;
	if (g->nnames) {
		const char *nm = names[g->names];

		if (rec_set_str(r, F_NAME, nm, strlen(nm)))
			goto oom;
		if (g->nnames > 1 && rec_set_strv(r, F_ALIASES, names + g->names + 1, NULL, g->nnames - 1))
			goto oom;
	}
	if (rec_set_str(r, F_SECTION, sec->name, strlen(sec->name)) ||
	    rec_set_strv(r, F_ASM, x->sv, x->sl, x->db.n) ||
	    rec_set_u64v(r, F_ASM_ADDR, x->av, x->db.n) ||
	    rec_set_strv(r, F_CALLEES, x->callees, NULL, x->ncallees))
		goto oom;
	x->st.funcs++;
	x->st.insns += x->db.n;
	if (x->emit(x->ctx, r, e))
		return -2;
	return 0;
}

static int secname_cmp(const void *a, const void *b, void *fp)
{
	const elf_file *f = fp;

	return strcmp(f->sec[*(const size_t *)a].name, f->sec[*(const size_t *)b].name);
}

/* Mark the executable sections whose name another one shares. */
static int mark_dup_names(file_ctx *fc)
{
	const elf_file *f = fc->f;
	size_t *ix, n = 0;

	if (!(fc->dupname = calloc(f->nsec, 1)) || !(ix = malloc(f->nsec * sizeof *ix)))
		return -1;
	for (size_t i = 1; i < f->nsec; i++)
		if (f->sec[i].flags & ELF_SHF_EXECINSTR)
			ix[n++] = i;
	if (n > 1)
		qsort_r(ix, n, sizeof *ix, secname_cmp, (void *)f);
	for (size_t i = 1; i < n; i++)
		if (strcmp(f->sec[ix[i]].name, f->sec[ix[i - 1]].name) == 0)
			fc->dupname[ix[i]] = fc->dupname[ix[i - 1]] = 1;
	free(ix);
	return 0;
}

static int ext_elf(extractor *x, const char *bin, const char *where, const void *buf, size_t len, an_err *e)
{
	elf_file f;
	file_ctx fc;
	int rc = -1;
	uint64_t code = 0;

	if (elf_parse(&f, buf, len, e))
		return -1;
	memset(&fc, 0, sizeof fc);
	fc.f = &f;
	fc.bin = bin;
	fc.where = where;
	if (f.machine != 62) {   /* EM_X86_64 */
		an_err_set(e, "not an x86-64 file (machine %u)", f.machine);
		goto out;
	}
	if (f.type != ELF_ET_REL && f.type != ELF_ET_EXEC && f.type != ELF_ET_DYN) {
		an_err_set(e, "ELF type %u is not an executable, shared object or relocatable object", f.type);
		goto out;
	}
	for (size_t i = 1; i < f.nsec; i++)
		if (code_sec(&f, i, 0))
			code += f.sec[i].size;
	x->budget = 8 * code + (1u << 20);
	if (x->have_dbg && f.type != ELF_ET_REL) {
		size_t n;
		const unsigned char *id = elf_build_id(&f, &n);

		if (id && x->dbg_id && (n != x->dbg_idlen || memcmp(id, x->dbg_id, n) != 0))
			warnf(x, where, "build-id differs from that of %s: names may be wrong", x->dbg_name);
	}
	if (elf_plt(&f, &fc.plt, &fc.nplt, &fc.got, &fc.ngot, e))
		goto out;
	if (f.type == ELF_ET_REL && mark_dup_names(&fc))
		goto oom;
	if (f.symtab && collect_syms(x, &f, f.symtab, f.nsymtab, 0))
		goto oom;
	if (f.symtab && x->ncands > 0) {
		if (group_cands(x, &x->fns, &x->nfns, &x->capfns, &x->names, &x->nnames, &x->capnames))
			goto oom;
		fix_sizes(&f, x->fns, x->nfns);
	} else {
		if (f.type == ELF_ET_REL) {
			/* a relocatable object without symbols: one function per section */
			x->nfns = x->nnames = 0;
			for (size_t i = 1; i < f.nsec; i++)
				if (code_sec(&f, i, 0) && f.sec[i].size) {
					if (add_start(x, 0, (uint32_t)i, 0))
						goto oom;
					x->fns[x->nfns - 1].size = f.sec[i].size;
					x->fns[x->nfns - 1].trim = 1;
				}
		} else if (discover(x, &fc, e))
			goto out;
	}
	if (x->nfns > 1)
		qsort(x->fns, x->nfns, sizeof *x->fns, f.type == ELF_ET_REL ? fn_secaddr_cmp : fn_addr_cmp);
	if (x->have_dbg && f.type != ELF_ET_REL && debug_names(x))
		goto oom;
	for (size_t i = 0; i < x->nfns; i++) {
		fn *g = &x->fns[i];
		int r;

		if (f.type == ELF_ET_REL && g->sec != fc.relsec) {
			free(fc.rel);
			fc.rel = NULL;
			fc.relsec = g->sec;
			if (elf_relocs(&f, g->sec, &fc.rel, &fc.nrel, &fc.relsym, e)) {
				an_err_prefix(e, "section %s", f.sec[g->sec].name);
				goto out;
			}
		}
		if ((r = emit_fn(x, &fc, g, e)) == -2) {
			rc = -2;
			goto out;
		}
		if (r)
			goto out;
	}
	rc = 0;
	goto out;
oom:
	an_err_set(e, "out of memory");
out:
	free(fc.plt);
	free(fc.got);
	free(fc.rel);
	free(fc.dupname);
	if (x->cache.tcap > (16u << 20))
		dis_buf_free(&x->cache);   /* do not hold a big file's text for the next one */
	elf_free(&f);
	return rc;
}

int ext_buffer(extractor *x, const char *bin, const void *buf, size_t len, an_err *e)
{
	ar_iter it;
	ar_member m;
	char where[1024];
	int rc;

	x->st.files++;
	if (len == 0) {
		an_err_set(e, "empty file");
		return -1;
	}
	if (!ar_is_ar(buf, len, NULL)) {
		if (!elf_is_elf(buf, len)) {
			an_err_set(e, "not an ELF file or ar archive");
			return -1;
		}
		return ext_elf(x, bin, bin, buf, len, e);
	}
	if (ar_open(&it, buf, len, e))
		return -1;
	while ((rc = ar_next(&it, &m, e)) == 1) {
		an_err me;

		x->st.members++;
		snprintf(where, sizeof where, "%s(%s)", bin, m.name);
		if (!elf_is_elf(m.data, m.size)) {
			x->st.errors++;
			if (x->msg)
				x->msg(x->ctx, 1, where, m.size ? "not an ELF file" : "empty member");
			continue;
		}
		rc = ext_elf(x, bin, where, m.data, m.size, &me);
		if (rc == -2) {
			*e = me;
			return -2;
		}
		if (rc) {
			x->st.errors++;
			if (x->msg)
				x->msg(x->ctx, 1, where, me.msg);
		}
	}
	return rc < 0 ? -1 : 0;
}
