/* test_elf.c: the ELF/archive readers and the capstone wrapper on
 * hand-made bytes, on this test's own executable, and on every prefix of
 * both (truncated input must give an error, never a crash). */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ar.h"
#include "disasm.h"
#include "elf.h"
#include "extract.h"
#include "test.h"

static void test_ar(void)
{
	/* symbol table, long-name table, a long-named member, an odd-sized one */
	static const char a[] =
		"!<arch>\n"
		"/               0           0     0     0       4         `\n"
		"\0\0\0\0"
		"//                                              22        `\n"
		"a_long_member_name.o/\n"
		"/0              0           0     0     644     4         `\n"
		"ABCD"
		"short.o/        0           0     0     644     3         `\n"
		"xyz\n"
		"#1/6            0           0     0     644     8         `\n"
		"bsd.o\0hi";
	size_t len = sizeof a - 1;
	ar_iter it;
	ar_member m;
	an_err e;
	int n = 0, ok = 1, rc;

	CHECK(ar_open(&it, a, len, &e) == 0, "ar-open", "%s", e.msg);
	while ((rc = ar_next(&it, &m, &e)) == 1) {
		n++;
		if (n == 1)
			ok &= strcmp(m.name, "a_long_member_name.o") == 0 && m.size == 4 && !memcmp(m.data, "ABCD", 4);
		if (n == 2)
			ok &= strcmp(m.name, "short.o") == 0 && m.size == 3 && !memcmp(m.data, "xyz", 3);
		if (n == 3)
			ok &= strcmp(m.name, "bsd.o") == 0 && m.size == 2 && !memcmp(m.data, "hi", 2);
	}
	CHECK(rc == 0 && n == 3 && ok, "ar-members", "rc %d, %d members, ok %d (%s)", rc, n, ok, rc ? e.msg : "");
	/* every truncation: an error or fewer members, never a crash */
	ok = 1;
	for (size_t l = 8; l < len; l++) {
		int k = 0;

		if (ar_open(&it, a, l, &e))
			continue;
		while ((rc = ar_next(&it, &m, &e)) == 1)
			ok &= m.data >= (const unsigned char *)a && m.data + m.size <= (const unsigned char *)a + l, k++;
		ok &= k <= 3;
	}
	CHECK(ok, "ar-truncated", "a member outside a truncated archive");
	CHECK(ar_open(&it, "!<thin>\n", 8, &e) == -1 && strstr(e.msg, "thin"), "ar-thin", "%s", e.msg);
}

static void test_disasm(void)
{
	/* push rbp; mov rbp, rsp; call +0; (bad) 0x06 (invalid in 64-bit); jmp back; ret */
	static const unsigned char code[] = { 0x55, 0x48, 0x89, 0xe5, 0xe8, 0, 0, 0, 0, 0x06, 0xeb, 0xf4, 0xc3 };
	disasm d;
	dis_buf b;
	an_err e;

	if (disasm_init(&d, &e)) {
		CHECK(0, "disasm-init", "%s", e.msg);
		return;
	}
	dis_buf_init(&b);
	CHECK(disasm_run(&d, code, sizeof code, 0x1000, &b, 1, &e) == 0 && b.n == 6, "disasm-count",
	      "%zu instructions", b.n);
	if (b.n == 6) {
		CHECK(b.ins[0].tlen == 8 && !memcmp(b.text + b.ins[0].text, "push rbp", 8), "disasm-text",
		      "'%.*s'", b.ins[0].tlen, b.text + b.ins[0].text);
		CHECK(b.ins[2].kind == DIS_CALL && b.ins[2].target == 0x1009, "disasm-call-target",
		      "kind %d target %#llx", b.ins[2].kind, (unsigned long long)b.ins[2].target);
		CHECK(b.ins[3].kind == DIS_BAD && b.bad == 1 && !memcmp(b.text + b.ins[3].text, ".byte 0x06", 10),
		      "disasm-bad-byte", "kind %d bad %llu", b.ins[3].kind, (unsigned long long)b.bad);
		CHECK(b.ins[4].kind == DIS_JMP && b.ins[4].target == 0x1000 && b.ins[5].kind == DIS_RET,
		      "disasm-jmp-ret", "kinds %d %d", b.ins[4].kind, b.ins[5].kind);
		CHECK(b.ins[5].addr == 0x100c, "disasm-addr", "%#llx", (unsigned long long)b.ins[5].addr);
	}
	dis_buf_free(&b);
	disasm_free(&d);
}

static int count_emit(void *ctx, const rec *r, an_err *e)
{
	(void)r; (void)e;
	++*(int *)ctx;
	return 0;
}

static void test_self(void)
{
	int fd = open("/proc/self/exe", O_RDONLY), n = 0, ok = 1;
	struct stat st;
	unsigned char *p;
	elf_file f;
	elf_fde *fde;
	size_t nfde, bad, good = 0, text;
	an_err e;
	ext_opts o;
	extractor *x;

	if (fd < 0 || fstat(fd, &st) || (p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
		t_skip("elf-self", "cannot map /proc/self/exe");
		return;
	}
	CHECK(elf_parse(&f, p, (size_t)st.st_size, &e) == 0 && f.nsymtab > 100, "elf-parse-self",
	      "%s", e.msg);
	text = elf_sec_find(&f, ".text");
	CHECK(elf_fdes(&f, &fde, &nfde, &bad, &e) == 0 && nfde > 50, "elf-fdes", "%zu FDEs", nfde);
	for (size_t i = 0; i < nfde; i++)
		good += elf_sec_at(&f, fde[i].start) != 0;
	CHECK(text && good == nfde && bad == 0, "elf-fdes-in-code", "%zu of %zu in sections, %zu bad",
	      good, nfde, bad);
	free(fde);
	elf_free(&f);
	/* every prefix (in steps) parses or fails cleanly; extraction never crashes */
	memset(&o, 0, sizeof o);
	if (!(x = ext_new(&o, count_emit, NULL, &n, &e))) {
		CHECK(0, "ext-new", "%s", e.msg);
		return;
	}
	for (size_t l = 0; l < (size_t)st.st_size; l += (size_t)st.st_size / 97 + 1) {
		int rc = ext_buffer(x, "self", p, l, &e);

		ok &= rc == 0 || rc == -1;
	}
	CHECK(ok, "ext-prefixes", "an unexpected return");
	n = 0;
	CHECK(ext_buffer(x, "self", p, (size_t)st.st_size, &e) == 0 && n > 100, "ext-self",
	      "%d functions (%s)", n, e.msg);
	ext_free(x);
	munmap(p, (size_t)st.st_size);
	close(fd);
}

static void test_headers(void)
{
	unsigned char h[64] = { 0x7f, 'E', 'L', 'F', 2, 1, 1 };
	elf_file f;
	an_err e;

	CHECK(elf_parse(&f, h, 10, &e) == -1 && strstr(e.msg, "truncated"), "elf-short", "%s", e.msg);
	CHECK(elf_parse(&f, h, 64, &e) == -1 && strstr(e.msg, "no section header"), "elf-no-shdr", "%s", e.msg);
	h[40] = 0x40;          /* shoff 64 = end of file */
	h[58] = 64;            /* shentsize */
	h[60] = 1;
	CHECK(elf_parse(&f, h, 64, &e) == -1 && strstr(e.msg, "past the end"), "elf-shdr-past-end", "%s", e.msg);
	h[4] = 1;
	CHECK(elf_parse(&f, h, 64, &e) == -1 && strstr(e.msg, "64-bit"), "elf-class32", "%s", e.msg);
	CHECK(elf_parse(&f, "\x7f" "ELF", 0, &e) == -1 && strstr(e.msg, "empty"), "elf-empty", "%s", e.msg);
}

/* --- a hand-made .eh_frame in a minimal ELF ---------------------------- */

typedef struct buf { unsigned char d[4096]; size_t n; } buf;
static void put(buf *b, const void *p, size_t n) { memcpy(b->d + b->n, p, n); b->n += n; }
static void put8(buf *b, unsigned v) { b->d[b->n++] = (unsigned char)v; }
static void put32(buf *b, uint32_t v) { for (int i = 0; i < 4; i++) put8(b, (v >> (8 * i)) & 0xff); }
static void put64(buf *b, uint64_t v) { for (int i = 0; i < 8; i++) put8(b, (unsigned)(v >> (8 * i)) & 0xff); }
static void set32(buf *b, size_t at, uint32_t v) { for (int i = 0; i < 4; i++) b->d[at + (size_t)i] = (v >> (8 * i)) & 0xff; }

/* An ELF with the null section, .text (16 bytes of ret at 0x1000),
 * .eh_frame (the bytes of eh, at address ehaddr) and .shstrtab. */
static size_t make_elf(unsigned char *out, const buf *eh, uint64_t ehaddr)
{
	static const char names[] = "\0.text\0.eh_frame\0.shstrtab";
	buf b = { .n = 0 };
	size_t text_off, eh_off, str_off, sh_off;
	struct { uint32_t name, type; uint64_t flags, addr, off, size; } sec[4];

	memset(b.d, 0, 64);
	memcpy(b.d, "\177ELF\2\1\1", 7);
	b.d[16] = 2;                  /* ET_EXEC */
	b.d[18] = 62;                 /* x86-64 */
	b.d[58] = 64; b.d[60] = 4; b.d[62] = 3;
	b.n = 64;
	text_off = b.n;
	for (int i = 0; i < 16; i++)
		put8(&b, 0xc3);
	eh_off = b.n;
	put(&b, eh->d, eh->n);
	str_off = b.n;
	put(&b, names, sizeof names);
	while (b.n % 8)
		put8(&b, 0);
	sh_off = b.n;
	memset(sec, 0, sizeof sec);
	sec[1].name = 1; sec[1].type = 1; sec[1].flags = 6; sec[1].addr = 0x1000; sec[1].off = text_off; sec[1].size = 16;
	sec[2].name = 7; sec[2].type = 1; sec[2].flags = 2; sec[2].addr = ehaddr; sec[2].off = eh_off; sec[2].size = eh->n;
	sec[3].name = 17; sec[3].type = 3; sec[3].off = str_off; sec[3].size = sizeof names;
	for (int i = 0; i < 4; i++) {
		put32(&b, sec[i].name); put32(&b, sec[i].type); put64(&b, sec[i].flags);
		put64(&b, sec[i].addr); put64(&b, sec[i].off); put64(&b, sec[i].size);
		put32(&b, 0); put32(&b, 0); put64(&b, 1); put64(&b, 0);
	}
	for (int i = 0; i < 8; i++)
		b.d[40 + i] = (unsigned char)(sh_off >> (8 * i));
	memcpy(out, b.d, b.n);
	return b.n;
}

static void test_eh_frame(void)
{
	const uint64_t ea = 0x5000;   /* .eh_frame's address */
	buf eh = { .n = 0 };
	size_t cie1, cie2, cie3, at, len;
	static unsigned char img[8192];
	elf_file f;
	elf_fde *fde = NULL;
	size_t n = 0, bad = 0;
	an_err e;
	int ok;

	/* CIE 1: "zR", FDE pointers pcrel|sdata4 */
	cie1 = eh.n; put32(&eh, 0); put32(&eh, 0); put8(&eh, 1); put(&eh, "zR", 3);
	put8(&eh, 1); put8(&eh, 0x78); put8(&eh, 16); put8(&eh, 1); put8(&eh, 0x1b);
	while ((eh.n - cie1) % 4) put8(&eh, 0);
	set32(&eh, cie1, (uint32_t)(eh.n - cie1 - 4));
	/* FDE -> CIE 1: [0x1000, 0x1020) */
	at = eh.n; put32(&eh, 0); put32(&eh, (uint32_t)(eh.n - cie1));
	put32(&eh, (uint32_t)(0x1000 - (ea + eh.n))); put32(&eh, 0x20); put8(&eh, 0);
	while ((eh.n - at) % 4) put8(&eh, 0);
	set32(&eh, at, (uint32_t)(eh.n - at - 4));
	/* CIE 2: version 3, "zPLR": personality indirect|pcrel|sdata4, LSDA, FDE udata4 absolute */
	cie2 = eh.n; put32(&eh, 0); put32(&eh, 0); put8(&eh, 3); put(&eh, "zPLR", 5);
	put8(&eh, 1); put8(&eh, 0x78); put8(&eh, 16); put8(&eh, 7);
	put8(&eh, 0x9b); put32(&eh, 0x1234); put8(&eh, 0x1b); put8(&eh, 0x03);
	while ((eh.n - cie2) % 4) put8(&eh, 0);
	set32(&eh, cie2, (uint32_t)(eh.n - cie2 - 4));
	/* FDE -> CIE 2: [0x2000, 0x2040), 4 bytes of LSDA pointer */
	at = eh.n; put32(&eh, 0); put32(&eh, (uint32_t)(eh.n - cie2));
	put32(&eh, 0x2000); put32(&eh, 0x40); put8(&eh, 4); put32(&eh, 0);
	while ((eh.n - at) % 4) put8(&eh, 0);
	set32(&eh, at, (uint32_t)(eh.n - at - 4));
	/* CIE 3: no augmentation: absolute 8-byte pointers */
	cie3 = eh.n; put32(&eh, 0); put32(&eh, 0); put8(&eh, 1); put8(&eh, 0);
	put8(&eh, 1); put8(&eh, 0x78); put8(&eh, 16);
	while ((eh.n - cie3) % 4) put8(&eh, 0);
	set32(&eh, cie3, (uint32_t)(eh.n - cie3 - 4));
	at = eh.n; put32(&eh, 0); put32(&eh, (uint32_t)(eh.n - cie3));
	put64(&eh, 0x3000); put64(&eh, 0x10);
	set32(&eh, at, (uint32_t)(eh.n - at - 4));
	/* a 64-bit length FDE -> CIE 1: [0x4000, 0x4008) */
	at = eh.n; put32(&eh, 0xffffffffu); put64(&eh, 0);
	put32(&eh, (uint32_t)(eh.n - cie1));
	put32(&eh, (uint32_t)(0x4000 - (ea + eh.n))); put32(&eh, 8); put8(&eh, 0);
	while ((eh.n - at) % 4) put8(&eh, 0);
	for (int i = 0; i < 8; i++)
		eh.d[at + 4 + (size_t)i] = (unsigned char)((eh.n - at - 12) >> (8 * i));
	/* an FDE whose CIE pointer points before the section: bad */
	at = eh.n; put32(&eh, 12); put32(&eh, 0x7fffffff); put32(&eh, 0); put32(&eh, 0);
	put32(&eh, 0);   /* terminator */

	len = make_elf(img, &eh, ea);
	if (elf_parse(&f, img, len, &e)) {
		CHECK(0, "eh-frame-elf", "%s", e.msg);
		return;
	}
	CHECK(elf_fdes(&f, &fde, &n, &bad, &e) == 0, "eh-frame-parse", "%s", e.msg);
	ok = n == 4 && fde[0].start == 0x1000 && fde[0].size == 0x20 && fde[1].start == 0x2000 &&
	     fde[1].size == 0x40 && fde[2].start == 0x3000 && fde[2].size == 0x10 &&
	     fde[3].start == 0x4000 && fde[3].size == 8;
	CHECK(ok, "eh-frame-encodings", "%zu FDEs: %#llx+%#llx %#llx+%#llx ...", n,
	      n > 0 ? (unsigned long long)fde[0].start : 0ULL, n > 0 ? (unsigned long long)fde[0].size : 0ULL,
	      n > 1 ? (unsigned long long)fde[1].start : 0ULL, n > 1 ? (unsigned long long)fde[1].size : 0ULL);
	CHECK(bad == 1, "eh-frame-bad-entry", "%zu bad", bad);
	free(fde);
	/* every truncation of the section: no crash, no FDE outside what was read */
	ok = 1;
	for (size_t cut = 0; cut < eh.n; cut++) {
		buf t = eh;
		static unsigned char img2[8192];
		elf_file g;

		t.n = cut;
		len = make_elf(img2, &t, ea);
		if (elf_parse(&g, img2, len, &e) == 0) {
			if (elf_fdes(&g, &fde, &n, &bad, &e) == 0) {
				ok &= n <= 4;
				free(fde);
			}
			elf_free(&g);
		}
	}
	CHECK(ok, "eh-frame-truncated", "more FDEs than written");
	elf_free(&f);
}

int main(void)
{
	test_ar();
	test_disasm();
	test_headers();
	test_eh_frame();
	test_self();
	return t_done();
}
