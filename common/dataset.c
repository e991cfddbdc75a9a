#include "dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t dataset_fnv(const void *p, size_t n, uint64_t h)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 1099511628211ULL;
	return h;
}

/* Append s[0..n) to out at *o (cap bytes, always NUL-terminated). */
static void put(char *out, size_t cap, size_t *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++, (*o)++)
		if (*o + 1 < cap)
			out[*o] = s[i];
	if (cap)
		out[*o + 1 < cap ? *o : cap - 1] = 0;
}

static int is_branch(const char *m, size_t n)
{
	return (n >= 2 && m[0] == 'j') || (n == 4 && !memcmp(m, "call", 4)) ||
	       (n >= 4 && !memcmp(m, "loop", 4)) || (n >= 6 && !memcmp(m, "xbegin", 6));
}

/* A number as capstone prints one: 0x1f, 12, -0x8.  *v gets it. */
static int parse_num(const char *s, size_t n, uint64_t *v)
{
	char buf[32], *end;

	if (!n || n >= sizeof buf || !((s[0] >= '0' && s[0] <= '9') || s[0] == '-'))
		return 0;
	memcpy(buf, s, n);
	buf[n] = 0;
	errno = 0;
	*v = (uint64_t)strtoll(buf, &end, 0);
	if (errno == ERANGE)
		*v = strtoull(buf, &end, 0);
	return *end == 0 && end != buf;
}

static char op_class(const char *s, size_t n)
{
	uint64_t v;

	if (memchr(s, '[', n))
		return 'm';
	return parse_num(s, n, &v) ? 'i' : 'r';
}

size_t dataset_insn(const char *ins, size_t len, uint64_t fstart, uint64_t fsize,
		    enum dataset_level level, char *out, size_t cap)
{
	size_t o = 0, m = 0, p;

	if (cap)
		out[0] = 0;
	while (m < len && ins[m] != ' ')
		m++;
	put(out, cap, &o, ins, m);
	p = m < len ? m + 1 : len;    /* operands start here */
	if (p >= len)
		return o;
	if (level == DATASET_SKEL) {
		while (p < len) {
			size_t q = p;

			while (q < len && !(ins[q] == ',' && q + 1 < len && ins[q + 1] == ' '))
				q++;
			put(out, cap, &o, o > m ? ", " : " ", o > m ? 2 : 1);
			put(out, cap, &o, &(char){ op_class(ins + p, q - p) }, 1);
			p = q < len ? q + 2 : len;
		}
		return o;
	}
	put(out, cap, &o, " ", 1);
	{
		uint64_t t;

		if (is_branch(ins, m) && parse_num(ins + p, len - p, &t)) {
			char buf[32];
			int n = t >= fstart && t < fstart + fsize
				? snprintf(buf, sizeof buf, "+0x%llx", (unsigned long long)(t - fstart))
				: snprintf(buf, sizeof buf, "EXT");

			put(out, cap, &o, buf, (size_t)n);
			return o;
		}
	}
	/* Copy the operands, turning the number after "rip + " / "rip - " into X. */
	while (p < len) {
		if (len - p >= 6 && !memcmp(ins + p, "rip ", 4) &&
		    (ins[p + 4] == '+' || ins[p + 4] == '-') && ins[p + 5] == ' ') {
			size_t q = p + 6;

			while (q < len && ins[q] != ']')
				q++;
			put(out, cap, &o, "rip + X", 7);
			p = q;
			continue;
		}
		put(out, cap, &o, ins + p, 1);
		p++;
	}
	return o;
}

/* The record's asm strings, addr and size. */
static int get_asm(const rec *r, const msgpack_object **v, size_t *n, uint64_t *addr,
		   uint64_t *size, an_err *e)
{
	if (rec_get_strv(r, F_ASM, v, n, e))
		return -1;
	if (rec_get_u64(r, F_ADDR, addr, e))
		*addr = 0;
	if (rec_get_u64(r, F_SIZE, size, e))
		*size = 0;
	return 0;
}

int dataset_hash(const rec *r, enum dataset_level level, uint64_t *h, size_t *ninsn, an_err *e)
{
	const msgpack_object *v;
	size_t n;
	uint64_t addr, size, x = DATASET_FNV_INIT;
	char buf[512];

	if (get_asm(r, &v, &n, &addr, &size, e))
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t k;

		if (v[i].type != MSGPACK_OBJECT_STR)
			continue;
		k = dataset_insn(v[i].via.str.ptr, v[i].via.str.size, addr, size, level, buf, sizeof buf);
		x = dataset_fnv(buf, k < sizeof buf ? k : sizeof buf - 1, x);
		x = dataset_fnv("\n", 1, x);
	}
	*h = x;
	if (ninsn)
		*ninsn = n;
	return 0;
}

static void bag_add(float *v, size_t d, const char *tag, const char *s, size_t n)
{
	uint64_t h = dataset_fnv(tag, strlen(tag), DATASET_FNV_INIT);

	h = dataset_fnv(s, n, h);
	v[h % d] += 1;
}

int dataset_bag(const rec *r, float *vec, size_t d, an_err *e)
{
	const msgpack_object *v;
	size_t n;
	uint64_t addr, size;
	char buf[512], prev[64] = "^", pair[160];

	if (get_asm(r, &v, &n, &addr, &size, e))
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *s;
		size_t len, k, m = 0, o = 0;
		char folded[512];

		if (v[i].type != MSGPACK_OBJECT_STR)
			continue;
		s = v[i].via.str.ptr;
		len = v[i].via.str.size;
		while (m < len && s[m] != ' ')
			m++;
		bag_add(vec, d, "m", s, m);
		k = dataset_insn(s, len, addr, size, DATASET_NORM, buf, sizeof buf);
		if (k >= sizeof buf)
			k = sizeof buf - 1;
		/* Fold large immediates: constants below 0x100 (shifts, small
		 * offsets, flags) say something, addresses do not. */
		for (size_t j = 0; j < k;) {
			if (buf[j] == '0' && j + 1 < k && buf[j + 1] == 'x' && (j == 0 || buf[j - 1] == ' ' ||
			    buf[j - 1] == '-' || buf[j - 1] == '[')) {
				size_t q = j + 2;

				while (q < k && strchr("0123456789abcdef", buf[q]) && buf[q])
					q++;
				if (q - j - 2 > 2) {
					put(folded, sizeof folded, &o, "IMM", 3);
					j = q;
					continue;
				}
			}
			put(folded, sizeof folded, &o, buf + j, 1);
			j++;
		}
		bag_add(vec, d, "i", folded, o < sizeof folded ? o : sizeof folded - 1);
		snprintf(pair, sizeof pair, "%s %.*s", prev, (int)(m < 63 ? m : 63), s);
		bag_add(vec, d, "b", pair, strlen(pair));
		snprintf(prev, sizeof prev, "%.*s", (int)(m < 63 ? m : 63), s);
	}
	return 0;
}

/* ---- ctags ------------------------------------------------------------- */

typedef struct tag_ent {
	const char *name, *file;
	uint64_t    line, end;
} tag_ent;

struct dataset_tags {
	char    *text;
	tag_ent *ent;    /* sorted by name, then file */
	size_t   n;
};

static int tag_cmp(const void *a, const void *b)
{
	const tag_ent *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->file, y->file);
}

void dataset_tags_free(dataset_tags *t)
{
	if (!t)
		return;
	free(t->text);
	free(t->ent);
	free(t);
}

dataset_tags *dataset_tags_load(const char *path, an_err *e)
{
	FILE *f = fopen(path, "rb");
	dataset_tags *t = calloc(1, sizeof *t);
	size_t len = 0, cap = 0, got, ecap = 0;
	char *p;

	if (!f || !t) {
		if (f)
			fclose(f);
		free(t);
		an_err_sys(e, "%s", path);
		return NULL;
	}
	do {
		if (len + 1 >= cap) {
			char *nb = realloc(t->text, cap = cap ? 2 * cap : 1 << 16);

			if (!nb)
				goto oom;
			t->text = nb;
		}
		got = fread(t->text + len, 1, cap - len - 1, f);
		len += got;
	} while (got);
	fclose(f);
	f = NULL;
	t->text[len] = 0;
	for (p = t->text; p < t->text + len;) {
		char *eol = strchr(p, '\n'), *fld[16];
		int nf = 0;
		tag_ent te = { 0 };

		if (!eol)
			eol = t->text + len;
		*eol = 0;
		if (p[0] != '!') {   /* "!_TAG_..." header lines */
			for (char *s = p; nf < 16; ) {
				fld[nf++] = s;
				s = strchr(s, '\t');
				if (!s)
					break;
				*s++ = 0;
			}
			if (nf >= 3) {
				te.name = fld[0];
				te.file = fld[1];
				for (int i = 3; i < nf; i++) {
					if (!strncmp(fld[i], "line:", 5))
						te.line = strtoull(fld[i] + 5, NULL, 10);
					else if (!strncmp(fld[i], "end:", 4))
						te.end = strtoull(fld[i] + 4, NULL, 10);
				}
				if (te.line && te.end >= te.line) {
					if (t->n == ecap) {
						tag_ent *ne = realloc(t->ent, (ecap = ecap ? 2 * ecap : 1024) * sizeof *ne);

						if (!ne)
							goto oom;
						t->ent = ne;
					}
					t->ent[t->n++] = te;
				}
			}
		}
		p = eol + 1;
	}
	if (t->n)
		qsort(t->ent, t->n, sizeof *t->ent, tag_cmp);
	return t;
oom:
	if (f)
		fclose(f);
	dataset_tags_free(t);
	an_err_set(e, "%s: out of memory", path);
	return NULL;
}

/* strcmp of a (NUL-terminated) with b[0..blen). */
static int name_cmp(const char *a, const char *b, size_t blen)
{
	int c = strncmp(a, b, blen);

	return c ? c : a[blen] ? 1 : 0;
}

int dataset_tags_find(const dataset_tags *t, const char *name, size_t nlen, const char *file,
		      const char **path, uint64_t *line, uint64_t *end)
{
	size_t lo = 0, hi = t->n, first, count = 0;
	const tag_ent *hit = NULL;

	while (lo < hi) {   /* the first entry whose name is not below the one sought */
		size_t mid = (lo + hi) / 2;

		if (name_cmp(t->ent[mid].name, name, nlen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (first = lo; first < t->n; first++) {
		const tag_ent *x = &t->ent[first];

		if (name_cmp(x->name, name, nlen))
			break;
		if (file && strcmp(x->file, file))
			continue;
		hit = x;
		count++;
	}
	if (count != 1)
		return -1;
	*path = hit->file;
	*line = hit->line;
	*end = hit->end;
	return 0;
}

char *dataset_lines(const char *root, const char *path, uint64_t first, uint64_t last,
		    size_t *len, an_err *e)
{
	char full[4096];
	FILE *f;
	char *out = NULL;
	size_t n = 0, cap = 0;
	uint64_t line = 1;
	int c;

	snprintf(full, sizeof full, "%s/%s", root, path);
	if (!(f = fopen(full, "rb"))) {
		an_err_sys(e, "%s", full);
		return NULL;
	}
	while (line <= last && (c = getc(f)) != EOF) {
		if (line >= first) {
			if (n + 2 > cap) {
				char *nb = realloc(out, cap = cap ? 2 * cap : 4096);

				if (!nb) {
					free(out);
					fclose(f);
					an_err_set(e, "%s: out of memory", full);
					return NULL;
				}
				out = nb;
			}
			out[n++] = (char)c;
		}
		if (c == '\n')
			line++;
	}
	fclose(f);
	if (line < last || !out) {
		free(out);
		an_err_set(e, "%s: has no lines %llu..%llu", full, (unsigned long long)first,
			   (unsigned long long)last);
		return NULL;
	}
	out[n] = 0;
	*len = n;
	return out;
}
