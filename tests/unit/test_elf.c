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

int main(void)
{
	test_ar();
	test_disasm();
	test_headers();
	test_self();
	return t_done();
}
