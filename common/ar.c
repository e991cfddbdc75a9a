#include "ar.h"

#include <string.h>

int ar_is_ar(const void *buf, size_t len, int *thin)
{
	int t = len >= 8 && memcmp(buf, "!<thin>\n", 8) == 0;

	if (thin)
		*thin = t;
	return len >= 8 && (t || memcmp(buf, "!<arch>\n", 8) == 0);
}

int ar_open(ar_iter *it, const void *buf, size_t len, an_err *e)
{
	int thin;

	memset(it, 0, sizeof *it);
	if (!ar_is_ar(buf, len, &thin)) {
		an_err_set(e, "not an ar archive");
		return -1;
	}
	if (thin) {
		an_err_set(e, "thin archives are not supported (extract the member files instead)");
		return -1;
	}
	it->buf = buf;
	it->len = len;
	it->off = 8;
	return 0;
}

/* A decimal field of n bytes padded with spaces; -1 on anything else. */
static int dec_field(const unsigned char *p, size_t n, uint64_t *v)
{
	size_t i = 0;
	int any = 0;

	*v = 0;
	while (i < n && p[i] >= '0' && p[i] <= '9') {
		if (*v > (UINT64_MAX - 9) / 10)
			return -1;
		*v = *v * 10 + (uint64_t)(p[i] - '0');
		i++;
		any = 1;
	}
	for (; i < n; i++)
		if (p[i] != ' ')
			return -1;
	return any ? 0 : -1;
}

static void set_name(ar_member *m, const unsigned char *s, size_t n)
{
	if (n >= sizeof m->name)
		n = sizeof m->name - 1;
	for (size_t i = 0; i < n; i++)   /* keep ids printable */
		m->name[i] = (s[i] < 0x20 || s[i] == 0x7f) ? '?' : (char)s[i];
	m->name[n] = 0;
}

int ar_next(ar_iter *it, ar_member *m, an_err *e)
{
	for (;;) {
		const unsigned char *h;
		uint64_t size;
		size_t data;

		if (it->off & 1)
			it->off++;                   /* members are 2-byte aligned */
		if (it->off >= it->len)
			return 0;
		if (it->len - it->off < 60) {
			if (it->off + 1 == it->len && it->buf[it->off] == '\n')
				return 0;
			an_err_set(e, "truncated member header at offset 0x%zx", it->off);
			return -1;
		}
		h = it->buf + it->off;
		if (h[58] != '`' || h[59] != '\n') {
			an_err_set(e, "bad member header at offset 0x%zx (no end marker)", it->off);
			return -1;
		}
		if (dec_field(h + 48, 10, &size)) {
			an_err_set(e, "bad member size at offset 0x%zx", it->off);
			return -1;
		}
		data = it->off + 60;
		if (size > it->len - data) {
			an_err_set(e, "member at offset 0x%zx (size %llu) runs past the end of the archive",
				   it->off, (unsigned long long)size);
			return -1;
		}
		m->hdr_off = it->off;
		m->data = it->buf + data;
		m->size = (size_t)size;
		it->off = data + (size_t)size;
		if (h[0] == '/' && (h[1] == ' ' || memcmp(h, "/SYM64/ ", 8) == 0))
			continue;                    /* symbol table */
		if (h[0] == '/' && h[1] == '/' && h[2] == ' ') {
			it->names = m->data;         /* long-name table */
			it->nameslen = m->size;
			continue;
		}
		if (memcmp(h, "__.SYMDEF", 9) == 0)
			continue;                    /* BSD symbol table */
		if (h[0] == '/' && h[1] >= '0' && h[1] <= '9') {
			uint64_t no;
			size_t end;

			if (dec_field(h + 1, 15, &no) || !it->names || no >= it->nameslen) {
				an_err_set(e, "member at offset 0x%zx: long name /%llu not in the name table",
					   m->hdr_off, (unsigned long long)no);
				return -1;
			}
			for (end = (size_t)no; end < it->nameslen && it->names[end] != '\n'; end++)
				;
			if (end > no && it->names[end - 1] == '/')
				end--;
			set_name(m, it->names + no, end - (size_t)no);
		} else if (memcmp(h, "#1/", 3) == 0) {
			uint64_t nl;

			if (dec_field(h + 3, 13, &nl) || nl > m->size) {
				an_err_set(e, "member at offset 0x%zx: bad BSD name length", m->hdr_off);
				return -1;
			}
			{
				size_t k = (size_t)nl;

				while (k > 0 && m->data[k - 1] == 0)
					k--;   /* BSD names are NUL-padded */
				set_name(m, m->data, k);
			}
			m->data += nl;
			m->size -= (size_t)nl;
		} else {
			size_t n = 16;

			while (n > 0 && h[n - 1] == ' ')
				n--;
			if (n > 0 && h[n - 1] == '/')
				n--;
			set_name(m, h, n);
		}
		it->index++;
		return 1;
	}
}
