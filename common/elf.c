#include "elf.h"

#include <stdlib.h>
#include <string.h>

/* Little-endian loads from possibly unaligned bytes; callers check bounds. */
static uint16_t ld16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t ld32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t ld64(const unsigned char *p) { return ld32(p) | (uint64_t)ld32(p + 4) << 32; }

/* 1 when [off, off+size) lies inside a buffer of len bytes (no overflow). */
static int in_range(uint64_t off, uint64_t size, size_t len)
{
	return off <= len && size <= len - off;
}

int elf_is_elf(const void *buf, size_t len)
{
	return len >= 4 && memcmp(buf, "\177ELF", 4) == 0;
}

/* A NUL-terminated string at offset off of the string table section, or "". */
static const char *str_at(const elf_file *f, size_t strsec, uint64_t off)
{
	const unsigned char *s;
	size_t n;

	if (strsec == 0 || strsec >= f->nsec || f->sec[strsec].type == ELF_SHT_NOBITS)
		return "";
	if (!(s = elf_sec_data(f, strsec, &n)) || off >= n)
		return "";
	if (!memchr(s + off, 0, n - off))
		return "";
	return (const char *)s + off;
}

const unsigned char *elf_sec_data(const elf_file *f, size_t i, size_t *n)
{
	const elf_sec *s;

	*n = 0;
	if (i == 0 || i >= f->nsec)
		return NULL;
	s = &f->sec[i];
	if (s->type == ELF_SHT_NOBITS || !in_range(s->off, s->size, f->len))
		return NULL;
	*n = s->size;
	return f->buf + s->off;
}

size_t elf_sec_find(const elf_file *f, const char *name)
{
	for (size_t i = 1; i < f->nsec; i++)
		if (strcmp(f->sec[i].name, name) == 0)
			return i;
	return 0;
}

size_t elf_sec_at(const elf_file *f, uint64_t addr)
{
	for (size_t i = 1; i < f->nsec; i++) {
		const elf_sec *s = &f->sec[i];

		if ((s->flags & ELF_SHF_ALLOC) && addr >= s->addr && addr - s->addr < s->size)
			return i;
	}
	return 0;
}

static int read_syms(elf_file *f, size_t si, elf_sym **out, size_t *nout, an_err *e)
{
	const elf_sec *s = &f->sec[si];
	const unsigned char *d;
	size_t n, cnt;
	elf_sym *t;

	*out = NULL;
	*nout = 0;
	if (s->type == ELF_SHT_NOBITS)
		return 0;      /* a debug file's .dynsym may be NOBITS */
	if (!(d = elf_sec_data(f, si, &n))) {
		an_err_set(e, "section %zu (%s): symbol table at 0x%llx size 0x%llx is outside the file",
			   si, s->name, (unsigned long long)s->off, (unsigned long long)s->size);
		return -1;
	}
	if (s->entsize != 24) {
		an_err_set(e, "section %zu (%s): symbol entry size %llu, expected 24", si, s->name,
			   (unsigned long long)s->entsize);
		return -1;
	}
	cnt = n / 24;
	if (cnt == 0)
		return 0;
	if (!(t = calloc(cnt, sizeof *t))) {
		an_err_set(e, "out of memory for %zu symbols", cnt);
		return -1;
	}
	for (size_t i = 0; i < cnt; i++) {
		const unsigned char *p = d + i * 24;

		t[i].name = str_at(f, s->link, ld32(p));
		t[i].type = p[4] & 0xf;
		t[i].bind = p[4] >> 4;
		t[i].shndx = ld16(p + 6);
		t[i].value = ld64(p + 8);
		t[i].size = ld64(p + 16);
	}
	*out = t;
	*nout = cnt;
	return 0;
}

int elf_parse(elf_file *f, const void *buf, size_t len, an_err *e)
{
	const unsigned char *b = buf;
	uint64_t shoff;
	size_t shnum, shstrndx, shentsize;

	memset(f, 0, sizeof *f);
	f->buf = b;
	f->len = len;
	if (len == 0) {
		an_err_set(e, "empty file");
		return -1;
	}
	if (!elf_is_elf(b, len)) {
		an_err_set(e, "not an ELF file or ar archive");
		return -1;
	}
	if (len < 64) {
		an_err_set(e, "truncated ELF header (%zu bytes of 64)", len);
		return -1;
	}
	if (b[4] != 2) {
		an_err_set(e, "not a 64-bit ELF file (class %u)", b[4]);
		return -1;
	}
	if (b[5] != 1) {
		an_err_set(e, "not a little-endian ELF file (data encoding %u)", b[5]);
		return -1;
	}
	f->type = ld16(b + 16);
	f->machine = ld16(b + 18);
	f->entry = ld64(b + 24);
	shoff = ld64(b + 40);
	shentsize = ld16(b + 58);
	shnum = ld16(b + 60);
	shstrndx = ld16(b + 62);
	if (shoff == 0) {
		an_err_set(e, "no section header table");
		return -1;
	}
	if (shentsize != 64) {
		an_err_set(e, "section header size %zu, expected 64", shentsize);
		return -1;
	}
	if (!in_range(shoff, 64, len)) {
		an_err_set(e, "section header table at 0x%llx is past the end of the file (size 0x%zx)",
			   (unsigned long long)shoff, len);
		return -1;
	}
	if (shnum == 0)           /* extended numbering: the count is in section 0 */
		shnum = ld64(b + shoff + 32);
	if (shstrndx == 0xffff)   /* SHN_XINDEX */
		shstrndx = ld32(b + shoff + 40);
	if (shnum == 0 || shnum > (len - shoff) / 64) {
		an_err_set(e, "section header table at 0x%llx with %zu entries runs past the end of the file (size 0x%zx)",
			   (unsigned long long)shoff, shnum, len);
		return -1;
	}
	if (!(f->sec = calloc(shnum, sizeof *f->sec))) {
		an_err_set(e, "out of memory for %zu sections", shnum);
		return -1;
	}
	f->nsec = shnum;
	for (size_t i = 0; i < shnum; i++) {
		const unsigned char *p = b + shoff + i * 64;
		elf_sec *s = &f->sec[i];

		s->name = "";
		s->type = ld32(p + 4);
		s->flags = ld64(p + 8);
		s->addr = ld64(p + 16);
		s->off = ld64(p + 24);
		s->size = ld64(p + 32);
		s->link = ld32(p + 40);
		s->info = ld32(p + 44);
		s->entsize = ld64(p + 56);
	}
	if (shstrndx >= shnum)
		shstrndx = 0;     /* names stay "" */
	for (size_t i = 0; i < shnum; i++)
		f->sec[i].name = str_at(f, shstrndx, ld32(b + shoff + i * 64));
	if (!(f->rel_head = calloc(shnum, sizeof *f->rel_head)) ||
	    !(f->rel_next = calloc(shnum, sizeof *f->rel_next))) {
		an_err_set(e, "out of memory for %zu sections", shnum);
		goto fail;
	}
	for (size_t i = shnum - 1; i >= 1; i--) {   /* lists in section order */
		const elf_sec *s = &f->sec[i];

		if ((s->type == ELF_SHT_RELA || s->type == ELF_SHT_REL) && s->info < shnum && s->info > 0) {
			f->rel_next[i] = f->rel_head[s->info];
			f->rel_head[s->info] = (uint32_t)i;
		}
	}
	for (size_t i = 1; i < shnum; i++) {
		elf_sec *s = &f->sec[i];

		if (s->type != ELF_SHT_NOBITS && !in_range(s->off, s->size, len)) {
			if (s->flags & ELF_SHF_EXECINSTR || s->type == ELF_SHT_SYMTAB || s->type == ELF_SHT_DYNSYM) {
				an_err_set(e, "section %zu (%s) at 0x%llx size 0x%llx runs past the end of the file (size 0x%zx)",
					   i, s->name, (unsigned long long)s->off,
					   (unsigned long long)s->size, len);
				goto fail;
			}
		}
		if (s->type == ELF_SHT_SYMTAB && !f->symtab_sec) {
			if (read_syms(f, i, &f->symtab, &f->nsymtab, e))
				goto fail;
			f->symtab_sec = i;
		} else if (s->type == ELF_SHT_DYNSYM && !f->dynsym_sec) {
			if (read_syms(f, i, &f->dynsym, &f->ndynsym, e))
				goto fail;
			f->dynsym_sec = i;
		}
	}
	return 0;
fail:
	elf_free(f);
	return -1;
}

void elf_free(elf_file *f)
{
	free(f->sec);
	free(f->symtab);
	free(f->dynsym);
	free(f->rel_head);
	free(f->rel_next);
	memset(f, 0, sizeof *f);
}

static int rel_cmp(const void *a, const void *b)
{
	const elf_rel *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

int elf_relocs(const elf_file *f, size_t target, elf_rel **out, size_t *n,
	       size_t *symtab, an_err *e)
{
	size_t total = 0, k = 0;
	elf_rel *t;

	*out = NULL;
	*n = 0;
	*symtab = 0;
	if (target == 0 || target >= f->nsec || !f->rel_head)
		return 0;
	for (size_t i = f->rel_head[target]; i; i = f->rel_next[i]) {
		const elf_sec *s = &f->sec[i];
		size_t len, es = s->type == ELF_SHT_RELA ? 24 : 16;

		if (!elf_sec_data(f, i, &len)) {
			an_err_set(e, "section %zu (%s): relocations outside the file", i, s->name);
			return -1;
		}
		total += len / es;
	}
	if (total == 0)
		return 0;
	if (!(t = malloc(total * sizeof *t))) {
		an_err_set(e, "out of memory for %zu relocations", total);
		return -1;
	}
	for (size_t i = f->rel_head[target]; i; i = f->rel_next[i]) {
		const elf_sec *s = &f->sec[i];
		const unsigned char *d;
		size_t len, es = s->type == ELF_SHT_RELA ? 24 : 16;

		d = elf_sec_data(f, i, &len);
		if (!*symtab)
			*symtab = s->link;
		else if (*symtab != s->link)
			continue;  /* one symbol table per target; others are ignored */
		for (size_t j = 0; j + es <= len && k < total; j += es) {
			uint64_t info = ld64(d + j + 8);

			t[k].off = ld64(d + j);
			t[k].sym = (uint32_t)(info >> 32);
			t[k].type = (uint32_t)info;
			t[k].addend = es == 24 ? (int64_t)ld64(d + j + 16) : 0;
			k++;
		}
	}
	if (k > 1)
		qsort(t, k, sizeof *t, rel_cmp);
	*out = t;
	*n = k;
	return 0;
}

/* --- .eh_frame ------------------------------------------------------- */

/* A cursor over [p, end); every read checks and sets bad on overrun. */
typedef struct cur {
	const unsigned char *p, *end;
	int bad;
} cur;

static uint64_t cur_uleb(cur *c)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (c->p < c->end) {
		unsigned char b = *c->p++;

		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			return v;
	}
	c->bad = 1;
	return 0;
}

static int64_t cur_sleb(cur *c)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (c->p < c->end) {
		unsigned char b = *c->p++;

		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80)) {
			if (shift < 64 && (b & 0x40))
				v |= ~(uint64_t)0 << shift;
			return (int64_t)v;
		}
	}
	c->bad = 1;
	return 0;
}

static uint64_t cur_fixed(cur *c, size_t n)
{
	uint64_t v = 0;

	if ((size_t)(c->end - c->p) < n) {
		c->bad = 1;
		c->p = c->end;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)c->p[i] << (8 * i);
	c->p += n;
	return v;
}

/* Read a pointer in DW_EH_PE encoding enc; base is the address of the
 * section's first byte (for pcrel).  *ok 0 for encodings we cannot resolve
 * (indirect, datarel, textrel, funcrel, aligned); the bytes are still
 * consumed where their size is known. */
static uint64_t cur_ptr(cur *c, unsigned enc, uint64_t secaddr, const unsigned char *secbeg,
			int apply, int *ok)
{
	uint64_t here = secaddr + (uint64_t)(c->p - secbeg), v;

	*ok = 1;
	if (enc == 0xff) {
		*ok = 0;
		return 0;
	}
	switch (enc & 0x0f) {
	case 0x00: v = cur_fixed(c, 8); break;
	case 0x01: v = cur_uleb(c); break;
	case 0x02: v = cur_fixed(c, 2); break;
	case 0x03: v = cur_fixed(c, 4); break;
	case 0x04: v = cur_fixed(c, 8); break;
	case 0x09: v = (uint64_t)cur_sleb(c); break;
	case 0x0a: v = (uint64_t)(int64_t)(int16_t)cur_fixed(c, 2); break;
	case 0x0b: v = (uint64_t)(int64_t)(int32_t)cur_fixed(c, 4); break;
	case 0x0c: v = cur_fixed(c, 8); break;
	default:
		c->bad = 1;
		*ok = 0;
		return 0;
	}
	if (!apply)
		return v;
	switch (enc & 0x70) {
	case 0x00: break;
	case 0x10: v += here; break;
	default: *ok = 0; break;
	}
	if (enc & 0x80)
		*ok = 0;
	return v;
}

/* Parse the CIE at [p, end) (after its id): its FDE pointer encoding. */
static int cie_enc(const unsigned char *p, const unsigned char *end, uint64_t secaddr,
		   const unsigned char *secbeg, unsigned *fde_enc, int *has_z)
{
	cur c = { p, end, 0 };
	const char *aug;
	size_t alen;
	unsigned ver;

	*fde_enc = 0;  /* DW_EH_PE_absptr */
	*has_z = 0;
	ver = (unsigned)cur_fixed(&c, 1);
	if (c.bad || (ver != 1 && ver != 3 && ver != 4))
		return -1;
	aug = (const char *)c.p;
	if (!memchr(c.p, 0, (size_t)(c.end - c.p)))
		return -1;
	alen = strlen(aug);
	c.p += alen + 1;
	if (ver == 4)
		cur_fixed(&c, 2);   /* address size, segment size */
	if (strstr(aug, "eh"))
		cur_fixed(&c, 8);
	cur_uleb(&c);            /* code alignment */
	cur_sleb(&c);            /* data alignment */
	if (ver == 1)
		cur_fixed(&c, 1);
	else
		cur_uleb(&c);    /* return address register */
	if (c.bad)
		return -1;
	if (aug[0] != 'z')
		return 0;
	*has_z = 1;
	{
		uint64_t zlen = cur_uleb(&c);
		cur z;

		if (c.bad || zlen > (uint64_t)(c.end - c.p))
			return -1;
		z.p = c.p;
		z.end = c.p + zlen;
		z.bad = 0;
		for (size_t i = 1; i < alen && !z.bad; i++) {
			int ok;

			switch (aug[i]) {
			case 'R':
				*fde_enc = (unsigned)cur_fixed(&z, 1);
				break;
			case 'L':
				cur_fixed(&z, 1);
				break;
			case 'P': {
				unsigned penc = (unsigned)cur_fixed(&z, 1);

				cur_ptr(&z, penc & 0x7f, secaddr, secbeg, 0, &ok);
				break;
			}
			case 'S': case 'B': case 'G':
				break;
			default:
				return 0;  /* unknown letter: the rest cannot be read, R may be set */
			}
		}
		if (z.bad)
			return -1;
	}
	return 0;
}

static int fde_cmp(const void *a, const void *b)
{
	const elf_fde *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

int elf_fdes(const elf_file *f, elf_fde **out, size_t *n, size_t *bad, an_err *e)
{
	size_t si = elf_sec_find(f, ".eh_frame"), len, cap, k = 0;
	const unsigned char *d;
	uint64_t secaddr;
	size_t off = 0;
	elf_fde *t;
	/* one-entry cache of the last CIE read */
	size_t cie_off = (size_t)-1;
	unsigned cie_fenc = 0;
	int cie_z = 0, cie_ok = 0;

	*out = NULL;
	*n = 0;
	*bad = 0;
	if (!si || !(d = elf_sec_data(f, si, &len)) || len < 8)
		return 0;
	secaddr = f->sec[si].addr;
	cap = len / 16 + 1;   /* the smallest FDE is 16 bytes */
	if (!(t = malloc(cap * sizeof *t))) {
		an_err_set(e, "out of memory for .eh_frame");
		return -1;
	}
	while (off + 4 <= len && k < cap) {
		uint64_t length = ld32(d + off);
		size_t hdr = 4, idpos, end;
		uint32_t id;

		if (length == 0)
			break;   /* terminator */
		if (length == 0xffffffffu) {
			if (off + 12 > len)
				break;
			length = ld64(d + off + 4);
			hdr = 12;
		}
		if (length < 4 || length > len - off - hdr) {
			(*bad)++;
			break;
		}
		idpos = off + hdr;
		end = idpos + (size_t)length;
		id = ld32(d + idpos);
		if (id != 0) {   /* an FDE; id is the distance back to its CIE */
			size_t coff;
			cur c;
			int ok1, ok2;
			uint64_t start, range;

			if (id > idpos) {
				(*bad)++;
				goto next;
			}
			coff = idpos - id;   /* the CIE's length field */
			if (coff != cie_off) {
				uint64_t cl = coff + 4 <= len ? ld32(d + coff) : 0;
				size_t ch = 4;

				cie_off = coff;
				cie_ok = 0;
				if (cl == 0xffffffffu && coff + 12 <= len) {
					cl = ld64(d + coff + 4);
					ch = 12;
				}
				if (cl >= 4 && cl <= len - coff - ch && ld32(d + coff + ch) == 0 &&
				    cie_enc(d + coff + ch + 4, d + coff + ch + cl, secaddr, d,
					    &cie_fenc, &cie_z) == 0)
					cie_ok = 1;
			}
			if (!cie_ok) {
				(*bad)++;
				goto next;
			}
			c.p = d + idpos + 4;
			c.end = d + end;
			c.bad = 0;
			start = cur_ptr(&c, cie_fenc, secaddr, d, 1, &ok1);
			range = cur_ptr(&c, cie_fenc & 0x0f, secaddr, d, 0, &ok2);
			if (c.bad) {
				(*bad)++;
				goto next;
			}
			if (ok1 && ok2 && range > 0) {
				t[k].start = start;
				t[k].size = range;
				k++;
			}
		}
next:
		off = end;
	}
	if (k > 1)
		qsort(t, k, sizeof *t, fde_cmp);
	*out = t;
	*n = k;
	return 0;
}

/* --- PLT ------------------------------------------------------------- */

static int an_cmp(const void *a, const void *b)
{
	const elf_addrname *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

const char *elf_addrname_find(const elf_addrname *t, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t[mid].addr < addr)
			lo = mid + 1;
		else if (t[mid].addr > addr)
			hi = mid;
		else
			return t[mid].name;
	}
	return NULL;
}

int elf_plt(const elf_file *f, elf_addrname **plt, size_t *nplt,
	    elf_addrname **got, size_t *ngot, an_err *e)
{
	size_t cg = 0, ng = 0, cp = 0, np = 0;
	elf_addrname *g = NULL, *p = NULL;

	*plt = *got = NULL;
	*nplt = *ngot = 0;
	if (!f->dynsym || f->type == ELF_ET_REL)
		return 0;
	/* GOT slots named by JUMP_SLOT / GLOB_DAT relocations against .dynsym */
	for (size_t i = 1; i < f->nsec; i++) {
		const elf_sec *s = &f->sec[i];
		size_t len;

		if (s->type == ELF_SHT_RELA && s->link == f->dynsym_sec && elf_sec_data(f, i, &len))
			cg += len / 24;
	}
	if (cg == 0)
		return 0;
	if (!(g = malloc(cg * sizeof *g))) {
		an_err_set(e, "out of memory for %zu GOT slots", cg);
		return -1;
	}
	for (size_t i = 1; i < f->nsec; i++) {
		const elf_sec *s = &f->sec[i];
		const unsigned char *d;
		size_t len;

		if (s->type != ELF_SHT_RELA || s->link != f->dynsym_sec || !(d = elf_sec_data(f, i, &len)))
			continue;
		for (size_t j = 0; j + 24 <= len && ng < cg; j += 24) {
			uint64_t info = ld64(d + j + 8);
			uint32_t type = (uint32_t)info, sym = (uint32_t)(info >> 32);

			if ((type != ELF_R_X86_64_JUMP_SLOT && type != ELF_R_X86_64_GLOB_DAT) ||
			    sym == 0 || sym >= f->ndynsym || !f->dynsym[sym].name[0])
				continue;
			g[ng].addr = ld64(d + j);
			g[ng].name = f->dynsym[sym].name;
			ng++;
		}
	}
	if (ng > 1)
		qsort(g, ng, sizeof *g, an_cmp);
	/* stubs: find `jmp [rip+disp32]` (ff 25) in every PLT section */
	for (size_t i = 1; i < f->nsec; i++) {
		size_t len;

		if ((f->sec[i].flags & ELF_SHF_EXECINSTR) && strncmp(f->sec[i].name, ".plt", 4) == 0 &&
		    elf_sec_data(f, i, &len))
			cp += len / 6;
	}
	if (cp && !(p = malloc(cp * sizeof *p))) {
		free(g);
		an_err_set(e, "out of memory for PLT");
		return -1;
	}
	for (size_t i = 1; i < f->nsec; i++) {
		const elf_sec *s = &f->sec[i];
		const unsigned char *d;
		size_t len;

		if (!(s->flags & ELF_SHF_EXECINSTR) || strncmp(s->name, ".plt", 4) != 0 ||
		    !(d = elf_sec_data(f, i, &len)))
			continue;
		for (size_t j = 0; j + 6 <= len && np < cp; j++) {
			uint64_t slot;
			const char *name;
			size_t st = j;

			if (d[j] != 0xff || d[j + 1] != 0x25)
				continue;
			slot = s->addr + j + 6 + (uint64_t)(int64_t)(int32_t)ld32(d + j + 2);
			if (!(name = elf_addrname_find(g, ng, slot)))
				continue;
			if (st >= 1 && d[st - 1] == 0xf2)      /* bnd prefix */
				st--;
			if (st >= 4 && memcmp(d + st - 4, "\xf3\x0f\x1e\xfa", 4) == 0)
				st -= 4;                        /* endbr64 */
			p[np].addr = s->addr + st;
			p[np].name = name;
			np++;
			j += 5;
		}
	}
	if (np > 1)
		qsort(p, np, sizeof *p, an_cmp);
	*plt = p;
	*nplt = np;
	*got = g;
	*ngot = ng;
	return 0;
}

const unsigned char *elf_build_id(const elf_file *f, size_t *n)
{
	*n = 0;
	for (size_t i = 1; i < f->nsec; i++) {
		const unsigned char *d;
		size_t len, off = 0;

		if (f->sec[i].type != ELF_SHT_NOTE || !(d = elf_sec_data(f, i, &len)))
			continue;
		while (off + 12 <= len) {
			uint64_t nsz = ld32(d + off), dsz = ld32(d + off + 4);
			uint32_t type = ld32(d + off + 8);
			uint64_t na = (nsz + 3) & ~(uint64_t)3, da = (dsz + 3) & ~(uint64_t)3;

			off += 12;
			if (na > len - off || da > len - off - na)
				break;
			if (type == 3 && nsz == 4 && memcmp(d + off, "GNU", 4) == 0 && dsz > 0) {
				*n = (size_t)dsz;
				return d + off + na;
			}
			off += (size_t)(na + da);
		}
	}
	return NULL;
}
