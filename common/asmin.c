/* asmin.c: objdump text, CLAP JSON and CSV readers (see asmin.h). */
#include "asmin.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- one function under construction ---------------------------------- */

typedef struct fin {
	size_t   t, tl, r, rl, k, kl;
	uint64_t addr, roff;
	uint32_t size;
	int      has_rel;
} fin;

typedef struct fbuild {
	char  *s;
	size_t len, cap;
	fin   *in;
	size_t n, cap_in;
	size_t id, name, bin, src, section;    /* offsets in s, SIZE_MAX: none */
	int    oom, has_keys, has_addr;
	/* what asm_func points at */
	ida_insn    *ii;
	const char **keys;
	size_t      *klen;
	size_t       cap_out;
} fbuild;

#define NONE SIZE_MAX

static void fb_reset(fbuild *b)
{
	b->len = 0;
	b->n = 0;
	b->id = b->name = b->bin = b->src = b->section = NONE;
	b->oom = 0;
	b->has_keys = 0;
	b->has_addr = 1;
}

static size_t fb_str(fbuild *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 1 << 16;
		while (nc < b->len + n + 1)
			nc *= 2;
		char *ns = realloc(b->s, nc);
		if (!ns) {
			b->oom = 1;
			return NONE;
		}
		b->s = ns;
		b->cap = nc;
	}
	size_t o = b->len;
	memcpy(b->s + o, s, n);
	b->s[o + n] = 0;
	b->len += n + 1;
	return o;
}

static fin *fb_add(fbuild *b, const char *t, size_t tl)
{
	if (b->n == b->cap_in) {
		size_t nc = b->cap_in ? b->cap_in * 2 : 256;
		fin *ni = realloc(b->in, nc * sizeof *ni);
		if (!ni) {
			b->oom = 1;
			return NULL;
		}
		b->in = ni;
		b->cap_in = nc;
	}
	fin *f = &b->in[b->n++];
	memset(f, 0, sizeof *f);
	f->t = fb_str(b, t, tl);
	f->tl = tl;
	f->r = NONE;
	f->k = NONE;
	return f;
}

static int fb_finish(fbuild *b, asm_func *f, an_err *e)
{
	if (b->oom) {
		an_err_set(e, "out of memory");
		return -1;
	}
	if (b->n > b->cap_out) {
		size_t nc = b->cap_out ? b->cap_out : 256;
		while (nc < b->n)
			nc *= 2;
		ida_insn *ii = realloc(b->ii, nc * sizeof *ii);
		if (ii)
			b->ii = ii;
		const char **k = realloc(b->keys, nc * sizeof *k);
		if (k)
			b->keys = k;
		size_t *kl = realloc(b->klen, nc * sizeof *kl);
		if (kl)
			b->klen = kl;
		if (!ii || !k || !kl) {
			an_err_set(e, "out of memory");
			return -1;
		}
		b->cap_out = nc;
	}
	for (size_t i = 0; i < b->n; i++) {
		fin *x = &b->in[i];
		ida_insn *y = &b->ii[i];
		y->text = b->s + x->t;
		y->len = x->tl;
		y->addr = x->addr;
		y->size = x->size;
		y->rel = x->r != NONE ? b->s + x->r : NULL;
		y->rel_len = x->rl;
		y->rel_off = x->roff;
		b->keys[i] = x->k != NONE ? b->s + x->k : "";
		b->klen[i] = x->k != NONE ? x->kl : 0;
	}
	f->n = b->n;
	f->ii = b->ii;
	f->keys = b->has_keys ? b->keys : NULL;
	f->klen = b->has_keys ? b->klen : NULL;
	f->id = b->id != NONE ? b->s + b->id : NULL;
	f->name = b->name != NONE ? b->s + b->name : NULL;
	f->bin = b->bin != NONE ? b->s + b->bin : NULL;
	f->src = b->src != NONE ? b->s + b->src : NULL;
	f->section = b->section != NONE ? b->s + b->section : NULL;
	f->has_addr = b->has_addr && b->n > 0;
	return 0;
}

/* ---- the reader ------------------------------------------------------ */

struct asmin {
	int      fd, own_fd, eof;
	char    *name;
	enum asmin_fmt fmt;
	char    *buf;           /* input bytes not yet consumed: buf[pos..len) */
	size_t   pos, len, cap;
	uint64_t line;          /* lines consumed so far */
	uint64_t nfunc;
	fbuild   b;
	/* objdump */
	char    *pend;          /* a header line read ahead */
	size_t   pendlen, pendcap;
	char    *file, *archive, *section;
	int      att_warned;
	/* json */
	int      json_loaded;
	json_t  *jarr;
	size_t   jidx;
	uint64_t jline;
	/* csv */
	int      csv_started;
	int      col_src, col_asm, col_name, ncols;
	char    *fld;           /* fields of one row, NUL-separated */
	size_t   fldlen, fldcap;
	size_t   fo[64];
	size_t   nf;
};

static int src_fill(asmin *r, an_err *e)
{
	if (r->eof)
		return 0;
	if (r->pos > 0 && r->pos == r->len) {
		r->pos = r->len = 0;
	} else if (r->pos > r->cap / 2) {
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->len -= r->pos;
		r->pos = 0;
	}
	if (r->len == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 1 << 16;
		char *nb = realloc(r->buf, nc);
		if (!nb) {
			an_err_set(e, "%s: out of memory", r->name);
			return -1;
		}
		r->buf = nb;
		r->cap = nc;
	}
	ssize_t got;
	do
		got = read(r->fd, r->buf + r->len, r->cap - r->len);
	while (got < 0 && errno == EINTR);
	if (got < 0) {
		an_err_sys(e, "%s", r->name);
		return -1;
	}
	if (got == 0)
		r->eof = 1;
	r->len += (size_t)got;
	return got > 0;
}

/* The next line without its newline (and a trailing \r); 1, 0 at end, -1 error. */
static int src_line(asmin *r, const char **l, size_t *n, an_err *e)
{
	for (;;) {
		char *nl = r->len > r->pos ? memchr(r->buf + r->pos, '\n', r->len - r->pos) : NULL;
		if (nl || (r->eof && r->pos < r->len)) {
			size_t end = nl ? (size_t)(nl - r->buf) : r->len;
			*l = r->buf + r->pos;
			*n = end - r->pos;
			if (*n && (*l)[*n - 1] == '\r')
				(*n)--;
			r->pos = nl ? end + 1 : end;
			r->line++;
			return 1;
		}
		if (r->eof)
			return 0;
		int rc = src_fill(r, e);
		if (rc < 0)
			return -1;
	}
}

asmin *asmin_open_fd(int fd, int own_fd, const char *name, enum asmin_fmt fmt,
		     const void *pre, size_t npre, an_err *e)
{
	asmin *r = calloc(1, sizeof *r);
	if (!r || !(r->name = strdup(name))) {
		free(r);
		an_err_set(e, "out of memory");
		return NULL;
	}
	r->fd = fd;
	r->own_fd = own_fd;
	r->fmt = fmt;
	if (npre) {
		r->cap = npre > (1 << 16) ? npre : 1 << 16;
		if (!(r->buf = malloc(r->cap))) {
			asmin_close(r);
			an_err_set(e, "out of memory");
			return NULL;
		}
		memcpy(r->buf, pre, npre);
		r->len = npre;
	}
	if (fmt == ASMIN_AUTO) {
		while (r->len < 4096 && !r->eof)
			if (src_fill(r, e) < 0) {
				asmin_close(r);
				return NULL;
			}
		r->fmt = asmin_detect((const unsigned char *)r->buf, r->len);
		if (r->fmt == ASMIN_REC) {
			an_err_set(e, "%s: records need the record reader", name);
			asmin_close(r);
			return NULL;
		}
	}
	/* a UTF-8 byte order mark (spreadsheets write one before CSV) */
	while (r->len < 3 && !r->eof)
		if (src_fill(r, e) < 0) {
			asmin_close(r);
			return NULL;
		}
	if (r->len >= 3 && !memcmp(r->buf, "\xef\xbb\xbf", 3))
		r->pos = 3;
	r->col_src = 0;
	r->col_asm = 1;
	r->col_name = 2;
	return r;
}

void asmin_close(asmin *r)
{
	if (!r)
		return;
	if (r->own_fd && r->fd >= 0)
		close(r->fd);
	free(r->name);
	free(r->buf);
	free(r->pend);
	free(r->file);
	free(r->archive);
	free(r->section);
	free(r->b.s);
	free(r->b.in);
	free(r->b.ii);
	free(r->b.keys);
	free(r->b.klen);
	free(r->fld);
	json_decref(r->jarr);
	free(r);
}

const char *asmin_fmt_name(enum asmin_fmt f)
{
	static const char *const n[] = { "auto", "rec", "objdump", "json", "csv" };
	return (unsigned)f < 5 ? n[f] : "?";
}

int asmin_fmt_parse(const char *s)
{
	for (int i = 0; i < 5; i++)
		if (!strcmp(s, asmin_fmt_name((enum asmin_fmt)i)))
			return i;
	return -1;
}

enum asmin_fmt asmin_detect(const unsigned char *b, size_t n)
{
	size_t i = 0;

	if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
		return ASMIN_REC;
	if (n && ((b[0] >= 0x80 && b[0] <= 0x8f) || b[0] == 0xde || b[0] == 0xdf))
		return ASMIN_REC;
	if (n >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf)
		i = 3;   /* UTF-8 byte order mark */
	while (i < n && isspace(b[i]))
		i++;
	if (i < n && (b[i] == '{' || b[i] == '['))
		return ASMIN_JSON;
	/* objdump: a "file format" banner, "In archive", "Disassembly of section" or "<name>:" headers */
	size_t m = n < 4096 ? n : 4096;
	for (size_t k = 0; k + 12 < m; k++)
		if (!memcmp(b + k, "file format ", 12) || (k + 22 < m && !memcmp(b + k, "Disassembly of section", 22)) ||
		    (k + 11 < m && !memcmp(b + k, "In archive ", 11)))
			return ASMIN_OBJDUMP;
	/* "   1139:\t" instruction lines */
	for (size_t k = i; k < m;) {
		size_t j = k;
		while (j < m && b[j] == ' ')
			j++;
		size_t h = j;
		while (j < m && isxdigit(b[j]))
			j++;
		if (j > h && j + 1 < m && b[j] == ':' && b[j + 1] == '\t')
			return ASMIN_OBJDUMP;
		const unsigned char *nl = memchr(b + k, '\n', m - k);
		if (!nl)
			break;
		k = (size_t)(nl - b) + 1;
	}
	return ASMIN_CSV;
}

/* ---- objdump ----------------------------------------------------------- */

static size_t hexrun(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && isxdigit((unsigned char)s[i]))
		i++;
	return i;
}

static int all_hex_pairs(const char *s, size_t n, int *count)
{
	int c = 0;
	size_t i = 0;
	while (i < n) {
		while (i < n && s[i] == ' ')
			i++;
		if (i >= n)
			break;
		if (i + 2 > n || !isxdigit((unsigned char)s[i]) || !isxdigit((unsigned char)s[i + 1]) ||
		    (i + 2 < n && s[i + 2] != ' '))
			return 0;
		c++;
		i += 2;
	}
	*count = c;
	return c > 0;
}

enum { OD_OTHER, OD_INSN, OD_CONT, OD_RELOC, OD_HEADER };

/* Classify one objdump line. */
static int od_line(const char *l, size_t n, uint64_t *addr, const char **txt, size_t *tl, int *nbytes)
{
	size_t i = 0;
	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	size_t h = hexrun(l + i, n - i);
	if (!h)
		return OD_OTHER;
	*addr = strtoull(l + i, NULL, 16);
	/* header: "0000000000001139 <main>:" */
	if (i == 0 && i + h + 2 < n && l[h] == ' ' && l[h + 1] == '<' && n >= 2 && l[n - 1] == ':' && l[n - 2] == '>') {
		*txt = l + h + 2;
		*tl = n - h - 4;
		return OD_HEADER;
	}
	size_t j = i + h;
	if (j >= n || l[j] != ':')
		return OD_OTHER;
	j++;
	/* relocation: "\t\t\t5: R_X86_64_PLT32\tmul3-0x4" (llvm-objdump: two spaces) */
	{
		size_t k = j;
		while (k < n && k < j + 4 && l[k] == ' ')
			k++;
		if (k > j && k + 2 < n && l[k] == 'R' && l[k + 1] == '_') {
			*txt = l + k;
			*tl = n - k;
			return OD_RELOC;
		}
	}
	/* GNU objdump: a tab; llvm-objdump: a space, bytes, spaces, then a tab */
	if (j >= n || (l[j] != '\t' && l[j] != ' '))
		return OD_OTHER;
	j++;
	const char *rest = l + j;
	size_t rn = n - j;
	const char *tab = memchr(rest, '\t', rn);
	if (l[j - 1] == ' ' && !tab && !all_hex_pairs(rest, rn, nbytes))
		return OD_OTHER;
	int cnt = 0;
	if (tab) {
		if (!all_hex_pairs(rest, (size_t)(tab - rest), &cnt))
			cnt = 0;
		*nbytes = cnt;
		*txt = tab + 1;
		*tl = (size_t)(rest + rn - tab - 1);
	} else if (all_hex_pairs(rest, rn, &cnt)) {
		*nbytes = cnt;
		return OD_CONT;
	} else {
		*nbytes = 0;
		*txt = rest;
		*tl = rn;
	}
	while (*tl && isspace((unsigned char)(*txt)[*tl - 1]))
		(*tl)--;
	return OD_INSN;
}

static void set_str(char **dst, const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (!d)
		return;
	memcpy(d, s, n);
	d[n] = 0;
	free(*dst);
	*dst = d;
}

/* Start a function from its header. */
static void od_begin(asmin *r, uint64_t addr, const char *name, size_t nl)
{
	fbuild *b = &r->b;
	char idb[4096];
	const char *file = r->file ? r->file : r->name;
	int k;

	fb_reset(b);
	b->name = fb_str(b, name, nl);
	if (r->archive) {
		b->bin = fb_str(b, r->archive, strlen(r->archive));
		k = snprintf(idb, sizeof idb, "%s(%s):", r->archive, file);
	} else {
		b->bin = fb_str(b, file, strlen(file));
		k = snprintf(idb, sizeof idb, "%s:", file);
	}
	if (r->section && strcmp(r->section, ".text"))
		k += snprintf(idb + k, sizeof idb - (size_t)(k < (int)sizeof idb ? k : (int)sizeof idb - 1), "%s:", r->section);
	snprintf(idb + (k < (int)sizeof idb ? k : (int)sizeof idb - 1), sizeof idb - (size_t)(k < (int)sizeof idb ? k : (int)sizeof idb - 1),
		 "0x%llx", (unsigned long long)addr);
	b->id = fb_str(b, idb, strlen(idb));
	if (r->section)
		b->section = fb_str(b, r->section, strlen(r->section));
}

static int od_next(asmin *r, asm_func *f, an_err *e)
{
	fbuild *b = &r->b;
	int in_func = 0;
	const char *l;
	size_t n;

	for (;;) {
		int rc;
		if (r->pend && r->pendlen != NONE) {
			l = r->pend;
			n = r->pendlen;
			r->pendlen = NONE;
			rc = 1;
		} else {
			rc = src_line(r, &l, &n, e);
		}
		if (rc < 0)
			return -2;
		if (rc == 0) {
			if (in_func)
				break;
			return 0;
		}
		uint64_t addr;
		const char *t;
		size_t tl;
		int nb = 0;
		int k = od_line(l, n, &addr, &t, &tl, &nb);
		if (k == OD_HEADER) {
			if (in_func) {   /* keep it for the next call */
				if (n + 1 > r->pendcap) {
					char *np = realloc(r->pend, n + 1);
					if (!np) {
						an_err_set(e, "out of memory");
						return -2;
					}
					r->pend = np;
					r->pendcap = n + 1;
				}
				memcpy(r->pend, l, n);
				r->pendlen = n;
				break;
			}
			od_begin(r, addr, t, tl);
			b->has_addr = 1;
			f->line = r->line;
			in_func = 1;
			continue;
		}
		if (k == OD_INSN) {
			if (!in_func)
				continue;     /* instructions before any header */
			if (!r->att_warned && memchr(t, '%', tl)) {
				r->att_warned = 1;
				an_err_set(e, "%s: line %llu: AT&T syntax; run objdump with -M intel", r->name,
					   (unsigned long long)r->line);
				return -2;
			}
			fin *x = fb_add(b, t, tl);
			if (x) {
				x->addr = addr;
				x->size = (uint32_t)nb;
			}
			continue;
		}
		if (k == OD_CONT) {
			if (in_func && b->n && b->in[b->n - 1].size)
				b->in[b->n - 1].size += (uint32_t)nb;
			continue;
		}
		if (k == OD_RELOC) {
			if (in_func && b->n) {
				fin *x = &b->in[b->n - 1];
				if (x->r == NONE) {
					x->r = fb_str(b, t, tl);
					x->rl = tl;
					x->roff = addr;
					x->has_rel = 1;
				}
			}
			continue;
		}
		/* banners */
		if (n > 11 && !memcmp(l, "In archive ", 11)) {
			size_t m = n - 11;
			if (m && l[n - 1] == ':')
				m--;
			set_str(&r->archive, l + 11, m);
			if (in_func)
				break;
			continue;
		}
		const char *ff = n > 14 ? memmem(l, n, ":     file format ", 18) : NULL;
		if (!ff && n > 14)
			ff = memmem(l, n, ":\tfile format ", 14);   /* llvm-objdump */
		if (ff) {
			set_str(&r->file, l, (size_t)(ff - l));
			free(r->section);
			r->section = NULL;
			if (in_func)
				break;
			continue;
		}
		if (n > 23 && !memcmp(l, "Disassembly of section ", 23)) {
			size_t m = n - 23;
			if (m && l[n - 1] == ':')
				m--;
			set_str(&r->section, l + 23, m);
			if (in_func)
				break;
			continue;
		}
	}
	/* sizes from raw bytes: keep them only when every instruction has some */
	for (size_t i = 0; i < b->n; i++)
		if (!b->in[i].size) {
			for (size_t j = 0; j < b->n; j++)
				b->in[j].size = 0;
			break;
		}
	if (fb_finish(b, f, e) < 0)
		return -2;
	f->addr = b->n ? b->in[0].addr : 0;
	f->is_ida = 0;
	return 1;
}

/* ---- JSON -------------------------------------------------------------- */

static int json_func(asmin *r, json_t *o, asm_func *f, uint64_t line, size_t idx, an_err *e)
{
	fbuild *b = &r->b;
	char idb[4200];

	fb_reset(b);
	b->has_addr = 0;
	json_t *a = json_object_get(o, "asm");
	if (a && (json_is_object(a) || json_is_array(a))) {
		json_t *x;
		if ((x = json_object_get(o, "name")) && json_is_string(x))
			b->name = fb_str(b, json_string_value(x), json_string_length(x));
		if ((x = json_object_get(o, "src")) && json_is_string(x))
			b->src = fb_str(b, json_string_value(x), json_string_length(x));
		if ((x = json_object_get(o, "id")) && json_is_string(x))
			b->id = fb_str(b, json_string_value(x), json_string_length(x));
		o = a;
	}
	if (json_is_object(o)) {
		const char *k;
		json_t *v;
		b->has_keys = 1;
		json_object_foreach(o, k, v) {
			if (!json_is_string(v)) {
				an_err_set(e, "%s: line %llu: function %zu: key \"%.40s\": not a string", r->name,
					   (unsigned long long)line, idx, k);
				return -1;
			}
			fin *x = fb_add(b, json_string_value(v), json_string_length(v));
			if (x) {
				x->k = fb_str(b, k, strlen(k));
				x->kl = strlen(k);
			}
		}
	} else if (json_is_array(o)) {
		size_t i;
		json_t *v;
		json_array_foreach(o, i, v) {
			if (!json_is_string(v)) {
				an_err_set(e, "%s: line %llu: function %zu: element %zu: not a string", r->name,
					   (unsigned long long)line, idx, i);
				return -1;
			}
			fb_add(b, json_string_value(v), json_string_length(v));
		}
	} else {
		an_err_set(e, "%s: line %llu: function %zu: not an object", r->name, (unsigned long long)line, idx);
		return -1;
	}
	if (b->id == NONE) {
		snprintf(idb, sizeof idb, "%s:%zu", r->name, idx);
		b->id = fb_str(b, idb, strlen(idb));
	}
	if (fb_finish(b, f, e) < 0)
		return -2;
	f->line = line;
	f->is_ida = 1;
	return 1;
}

static int json_next(asmin *r, asm_func *f, an_err *e)
{
	if (!r->json_loaded) {
		while (!r->eof)
			if (src_fill(r, e) < 0)
				return -2;
		r->json_loaded = 1;
		r->jline = 1;
	}
	for (;;) {
		if (r->jarr) {
			if (r->jidx < json_array_size(r->jarr)) {
				json_t *o = json_array_get(r->jarr, r->jidx++);
				r->nfunc++;
				return json_func(r, o, f, r->jline, r->nfunc, e);
			}
			json_decref(r->jarr);
			r->jarr = NULL;
		}
		while (r->pos < r->len && isspace((unsigned char)r->buf[r->pos])) {
			if (r->buf[r->pos] == '\n')
				r->jline++;
			r->pos++;
		}
		if (r->pos >= r->len)
			return 0;
		json_error_t je;
		json_t *v = json_loadb(r->buf + r->pos, r->len - r->pos, JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, &je);
		if (!v) {
			an_err_set(e, "%s: line %llu, column %d: %s", r->name, (unsigned long long)(r->jline + (uint64_t)je.line - 1),
				   je.column, je.text);
			r->pos = r->len;
			return -2;
		}
		uint64_t start = r->jline;
		for (size_t i = 0; i < (size_t)je.position && r->pos + i < r->len; i++)
			if (r->buf[r->pos + i] == '\n')
				r->jline++;
		r->pos += je.position;
		if (json_is_array(v)) {
			r->jarr = v;
			r->jidx = 0;
			(void)start;
			continue;
		}
		r->nfunc++;
		int rc = json_func(r, v, f, start, r->nfunc, e);
		json_decref(v);
		return rc;
	}
}

/* ---- CSV --------------------------------------------------------------- */

static int fld_put(asmin *r, char c)
{
	if (r->fldlen + 1 >= r->fldcap) {
		size_t nc = r->fldcap ? r->fldcap * 2 : 4096;
		char *nb = realloc(r->fld, nc);
		if (!nb)
			return -1;
		r->fld = nb;
		r->fldcap = nc;
	}
	r->fld[r->fldlen++] = c;
	return 0;
}

/* One RFC 4180 row into r->fld/fo/nf.  1 row, 0 end, -1 bad row (skipped), -2 error. */
static int csv_row(asmin *r, uint64_t *start_line, an_err *e)
{
	int q = 0, any = 0, after_q = 0;
	r->fldlen = 0;
	r->nf = 0;
	r->fo[r->nf++] = 0;
	*start_line = r->line + 1;
	for (;;) {
		if (r->pos >= r->len) {
			int rc = src_fill(r, e);
			if (rc < 0)
				return -2;
			if (rc == 0 && r->pos >= r->len) {
				if (q) {
					an_err_set(e, "%s: line %llu: quoted field not closed at end of input", r->name,
						   (unsigned long long)*start_line);
					return -2;
				}
				if (!any)
					return 0;
				r->line++;
				break;
			}
		}
		char c = r->buf[r->pos++];
		any = 1;
		if (q) {
			if (c == '"') {
				if (r->pos >= r->len && src_fill(r, e) < 0)
					return -2;
				if (r->pos < r->len && r->buf[r->pos] == '"') {
					r->pos++;
					if (fld_put(r, '"'))
						goto oom;
				} else {
					q = 0;
					after_q = 1;
				}
			} else {
				if (c == '\n')
					r->line++;
				if (fld_put(r, c))
					goto oom;
			}
			continue;
		}
		if (c == '"' && !after_q && (r->fldlen == r->fo[r->nf - 1])) {
			q = 1;
			continue;
		}
		if (c == ',') {
			if (fld_put(r, 0))
				goto oom;
			if (r->nf == 64) {
				an_err_set(e, "%s: line %llu: more than 64 fields", r->name, (unsigned long long)*start_line);
				return -2;
			}
			r->fo[r->nf++] = r->fldlen;
			after_q = 0;
			continue;
		}
		if (c == '\n') {
			r->line++;
			if (r->fldlen && r->fld[r->fldlen - 1] == '\r' && !after_q)
				r->fldlen--;
			break;
		}
		if (c == '\r' && after_q)
			continue;
		if (after_q) {
			an_err_set(e, "%s: line %llu: text after a closing quote", r->name, (unsigned long long)r->line + 1);
			/* skip to the end of the line */
			while (1) {
				if (r->pos >= r->len && src_fill(r, e) <= 0)
					return -1;
				if (r->buf[r->pos++] == '\n') {
					r->line++;
					return -1;
				}
			}
		}
		if (fld_put(r, c))
			goto oom;
	}
	if (fld_put(r, 0))
		goto oom;
	return 1;
oom:
	an_err_set(e, "out of memory");
	return -2;
}

static const char *fld(asmin *r, size_t i, size_t *len)
{
	if (i >= r->nf) {
		*len = 0;
		return "";
	}
	size_t end = i + 1 < r->nf ? r->fo[i + 1] - 1 : r->fldlen - 1;
	*len = end - r->fo[i];
	return r->fld + r->fo[i];
}

static int col_is(const char *s, size_t n, const char *const *names)
{
	for (int i = 0; names[i]; i++)
		if (strlen(names[i]) == n && !strncasecmp(s, names[i], n))
			return 1;
	return 0;
}

static int looks_ida(const char *s, size_t n)
{
	return memmem(s, n, "retn", 4) || memmem(s, n, "short ", 6) || memmem(s, n, "var_", 4) ||
	       memmem(s, n, "INSTR", 5) || memmem(s, n, "loc_", 4) || memmem(s, n, "arg_", 4);
}

/* A Python literal (what pandas writes for a dict or list column):
 * {'1': 'push    rbp', 2: "retn"} or ['push    rbp'] -> the JSON value, or
 * NULL.  Strings in single or double quotes with backslash escapes; keys may
 * be integers. */
static void py_ws(const char **p, const char *e)
{
	while (*p < e && isspace((unsigned char)**p))
		(*p)++;
}

static json_t *py_str(const char **p, const char *e)
{
	char q = **p;
	char *buf = malloc((size_t)(e - *p) * 4 + 1);
	size_t o = 0;
	if (!buf)
		return NULL;
	for ((*p)++; *p < e && **p != q; (*p)++) {
		char c = **p;
		if (c == '\\' && *p + 1 < e) {
			c = *++(*p);
			unsigned long u = 0;
			int nd = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
			if (nd) {
				for (int k = 0; k < nd && *p + 1 < e && isxdigit((unsigned char)(*p)[1]); k++) {
					(*p)++;
					u = u * 16 + (unsigned long)(isdigit((unsigned char)**p) ? **p - '0' : (tolower((unsigned char)**p) - 'a' + 10));
				}
				if (u < 0x80) {
					buf[o++] = (char)u;
				} else if (u < 0x800) {
					buf[o++] = (char)(0xc0 | (u >> 6));
					buf[o++] = (char)(0x80 | (u & 0x3f));
				} else if (u < 0x10000) {
					buf[o++] = (char)(0xe0 | (u >> 12));
					buf[o++] = (char)(0x80 | ((u >> 6) & 0x3f));
					buf[o++] = (char)(0x80 | (u & 0x3f));
				} else {
					buf[o++] = (char)(0xf0 | ((u >> 18) & 7));
					buf[o++] = (char)(0x80 | ((u >> 12) & 0x3f));
					buf[o++] = (char)(0x80 | ((u >> 6) & 0x3f));
					buf[o++] = (char)(0x80 | (u & 0x3f));
				}
				continue;
			}
			c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == '0' ? '\0' : c;
		}
		buf[o++] = c;
	}
	if (*p >= e) {
		free(buf);
		return NULL;
	}
	(*p)++;
	json_t *v = json_stringn_nocheck(buf, o);
	free(buf);
	return v;
}

static json_t *py_literal(const char *p, const char *e)
{
	py_ws(&p, e);
	if (p >= e || (*p != '{' && *p != '['))
		return NULL;
	int obj = *p++ == '{';
	json_t *v = obj ? json_object() : json_array();
	for (;;) {
		py_ws(&p, e);
		if (p < e && *p == (obj ? '}' : ']')) {
			p++;
			break;
		}
		char key[32];
		if (obj) {
			if (p < e && (*p == '\'' || *p == '"')) {
				json_t *k = py_str(&p, e);
				if (!k || json_string_length(k) >= sizeof key) {
					json_decref(k);
					goto bad;
				}
				memcpy(key, json_string_value(k), json_string_length(k) + 1);
				json_decref(k);
			} else {
				size_t l = 0;
				while (p < e && (isdigit((unsigned char)*p) || *p == '-') && l + 1 < sizeof key)
					key[l++] = *p++;
				key[l] = 0;
				if (!l)
					goto bad;
			}
			py_ws(&p, e);
			if (p >= e || *p++ != ':')
				goto bad;
			py_ws(&p, e);
		}
		if (p >= e || (*p != '\'' && *p != '"'))
			goto bad;
		json_t *x = py_str(&p, e);
		if (!x)
			goto bad;
		if (obj)
			json_object_set_new(v, key, x);
		else
			json_array_append_new(v, x);
		py_ws(&p, e);
		if (p < e && *p == ',')
			p++;
		else if (p >= e || *p != (obj ? '}' : ']'))
			goto bad;
	}
	py_ws(&p, e);
	if (p == e)
		return v;
bad:
	json_decref(v);
	return NULL;
}

static int csv_asm(asmin *r, const char *s, size_t n, uint64_t line, an_err *e)
{
	fbuild *b = &r->b;
	size_t i = 0;
	while (i < n && isspace((unsigned char)s[i]))
		i++;
	if (i < n && (s[i] == '{' || s[i] == '[')) {
		json_error_t je;
		json_t *v = json_loadb(s + i, n - i, JSON_ALLOW_NUL, &je);
		if (!v)
			v = py_literal(s + i, s + n);
		if (!v) {
			an_err_set(e, "%s: line %llu: asm field: %s", r->name, (unsigned long long)line, je.text);
			return -1;
		}
		b->has_addr = 0;
		int isobj = json_is_object(v);
		if (isobj)
			b->has_keys = 1;
		const char *k;
		json_t *x;
		size_t j;
		int bad = 0;
		if (isobj) {
			json_object_foreach(v, k, x) {
				if (!json_is_string(x)) {
					bad = 1;
					break;
				}
				fin *f = fb_add(b, json_string_value(x), json_string_length(x));
				if (f) {
					f->k = fb_str(b, k, strlen(k));
					f->kl = strlen(k);
				}
			}
		} else {
			json_array_foreach(v, j, x) {
				if (!json_is_string(x)) {
					bad = 1;
					break;
				}
				fb_add(b, json_string_value(x), json_string_length(x));
			}
		}
		json_decref(v);
		if (bad) {
			an_err_set(e, "%s: line %llu: asm field: instructions must be strings", r->name, (unsigned long long)line);
			return -1;
		}
		return 1;   /* CLAP's own format: IDA text */
	}
	/* one instruction per line */
	int all_addr = 1, any = 0;
	while (i < n) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t e2 = nl ? (size_t)(nl - s) : n;
		size_t ln = e2 - i;
		const char *l = s + i;
		i = e2 + 1;
		while (ln && isspace((unsigned char)l[ln - 1]))
			ln--;
		while (ln && isspace((unsigned char)*l) && *l != '\t') {
			l++;
			ln--;
		}
		if (!ln)
			continue;
		uint64_t addr;
		const char *t;
		size_t tl;
		int nb = 0;
		int k = od_line(l, ln, &addr, &t, &tl, &nb);
		if (k == OD_INSN) {
			fin *f = fb_add(b, t, tl);
			if (f) {
				f->addr = addr;
				f->size = (uint32_t)nb;
			}
		} else if (k == OD_CONT && b->n) {
			b->in[b->n - 1].size += (uint32_t)nb;
		} else if (k == OD_RELOC && b->n) {
			fin *f = &b->in[b->n - 1];
			f->r = fb_str(b, t, tl);
			f->rl = tl;
			f->roff = addr;
		} else {
			fb_add(b, l, ln);
			all_addr = 0;
		}
		any = 1;
	}
	b->has_addr = all_addr && any;
	return !b->has_addr && looks_ida(s, n);
}

static int csv_next(asmin *r, asm_func *f, an_err *e)
{
	static const char *const c_src[] = { "source", "src", "code", "source_code", "func_src", "function_source", NULL };
	static const char *const c_asm[] = { "asm", "assembly", "asm_code", "disasm", "disassembly", NULL };
	static const char *const c_name[] = { "name", "func_name", "function_name", "funcname", "label", NULL };
	uint64_t line;
	int rc;

	for (;;) {
		rc = csv_row(r, &line, e);
		if (rc <= 0)
			return rc;
		if (r->nf == 1 && r->fldlen <= 1)
			continue;   /* an empty line */
		if (!r->csv_started) {
			r->csv_started = 1;
			int s = -1, a = -1, nm = -1, named = 0;
			for (size_t i = 0; i < r->nf; i++) {
				size_t l;
				const char *x = fld(r, i, &l);
				if (col_is(x, l, c_src)) s = (int)i, named++;
				else if (col_is(x, l, c_asm)) a = (int)i, named++;
				else if (col_is(x, l, c_name)) nm = (int)i, named++;
			}
			if (named && a >= 0) {
				r->col_src = s;
				r->col_asm = a;
				r->col_name = nm;
				r->ncols = (int)r->nf;
				continue;
			}
			if (named) {
				an_err_set(e, "%s: line %llu: a header without an asm column", r->name, (unsigned long long)line);
				return -2;
			}
			r->ncols = (int)r->nf;
			if (r->nf < 3) {
				an_err_set(e, "%s: line %llu: %zu fields; want (source, asm, name) or a header row", r->name,
					   (unsigned long long)line, r->nf);
				return -2;
			}
		}
		break;
	}
	r->nfunc++;
	if ((int)r->nf != r->ncols) {
		an_err_set(e, "%s: line %llu: %zu fields, the first row has %d", r->name, (unsigned long long)line,
			   r->nf, r->ncols);
		return -1;
	}
	fbuild *b = &r->b;
	fb_reset(b);
	size_t l;
	const char *x;
	char idb[4200];
	if (r->col_src >= 0) {
		x = fld(r, (size_t)r->col_src, &l);
		b->src = fb_str(b, x, l);
	}
	if (r->col_name >= 0) {
		x = fld(r, (size_t)r->col_name, &l);
		if (l)
			b->name = fb_str(b, x, l);
	}
	snprintf(idb, sizeof idb, "%s:%llu", r->name, (unsigned long long)line);
	b->id = fb_str(b, idb, strlen(idb));
	x = fld(r, (size_t)r->col_asm, &l);
	int ida = csv_asm(r, x, l, line, e);
	if (ida < 0)
		return -1;
	if (fb_finish(b, f, e) < 0)
		return -2;
	f->line = line;
	f->is_ida = ida;
	f->addr = f->has_addr ? f->ii[0].addr : 0;
	return 1;
}

int asmin_next(asmin *r, asm_func *f, an_err *e)
{
	int rc;

	memset(f, 0, sizeof *f);
	switch (r->fmt) {
	case ASMIN_OBJDUMP:
		rc = od_next(r, f, e);
		if (rc == 1)
			r->nfunc++;
		break;
	case ASMIN_JSON:
		rc = json_next(r, f, e);
		break;
	case ASMIN_CSV:
		rc = csv_next(r, f, e);
		break;
	default:
		an_err_set(e, "%s: format %s is not text", r->name, asmin_fmt_name(r->fmt));
		return -2;
	}
	f->index = r->nfunc;
	return rc;
}
