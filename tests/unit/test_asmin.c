/* test_asmin.c: asm-tok's text readers: objdump (raw bytes, continuation
 * lines, -w, --no-show-raw-insn, archives, relocations, AT&T refusal), CLAP
 * JSON (dicts, lists, JSON Lines, wrappers, key order, errors with lines) and
 * RFC 4180 CSV (quotes, "" escapes, multi-line fields, CRLF, headers, bad
 * rows). */
#include <unistd.h>

#include "asmin.h"
#include "test.h"

static asmin *open_text(const char *text, enum asmin_fmt fmt, const char *name)
{
	char path[] = "/tmp/test_asmin_XXXXXX";
	int fd = mkstemp(path);
	an_err e;
	if (fd < 0)
		return NULL;
	unlink(path);
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return NULL;
	}
	asmin *r = asmin_open_fd(fd, 1, name, fmt, NULL, 0, &e);
	if (!r)
		printf("# open: %s\n", e.msg);
	return r;
}

static int str_is(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static int text_is(const asm_func *f, size_t i, const char *want)
{
	return i < f->n && f->ii[i].len == strlen(want) && !memcmp(f->ii[i].text, want, f->ii[i].len);
}

int main(void)
{
	asm_func f;
	an_err e;
	asmin *r;
	int rc;

	/* detection */
	CHECK(asmin_detect((const unsigned char *)"\x83\xa2id", 4) == ASMIN_REC &&
	      asmin_detect((const unsigned char *)"\x1f\x8b\x08", 3) == ASMIN_REC &&
	      asmin_detect((const unsigned char *)"  {\"1\": \"nop\"}", 14) == ASMIN_JSON &&
	      asmin_detect((const unsigned char *)"\nx:     file format elf64-x86-64\n", 33) == ASMIN_OBJDUMP &&
	      asmin_detect((const unsigned char *)"    1139:\tpush   rbp\n", 21) == ASMIN_OBJDUMP &&
	      asmin_detect((const unsigned char *)"src,asm,name\n", 13) == ASMIN_CSV, "detect", "formats");

	/* objdump of an archive, raw bytes with a continuation line, relocations */
	static const char od[] =
		"In archive libx.a:\n\n"
		"a.o:     file format elf64-x86-64\n\n\n"
		"Disassembly of section .text:\n\n"
		"0000000000000000 <f>:\n"
		"   0:\t55                   \tpush   rbp\n"
		"   1:\t66 2e 0f 1f 84 00 00 \tcs nop WORD PTR [rax+rax*1+0x0]\n"
		"   8:\t00 00 00 \n"
		"   b:\te8 00 00 00 00       \tcall   10 <f+0x10>\n"
		"\t\t\tc: R_X86_64_PLT32\tputs-0x4\n"
		"  10:\tc3                   \tret\n"
		"\n"
		"0000000000000011 <g>:\n"
		"  11:\tc3                   \tret\n"
		"\n"
		"b.o:     file format elf64-x86-64\n\n\n"
		"Disassembly of section .text.startup:\n\n"
		"0000000000000000 <main>:\n"
		"   0:\t31 c0                \txor    eax,eax\n"
		"   2:\tc3                   \tret\n";
	r = open_text(od, ASMIN_AUTO, "od.txt");
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == 1 && f.n == 4 && str_is(f.name, "f") && str_is(f.id, "libx.a(a.o):0x0") && str_is(f.bin, "libx.a") &&
	      f.has_addr && f.ii[1].size == 10 && f.ii[0].size == 1 && f.ii[2].addr == 0xb && f.ii[2].rel &&
	      f.ii[2].rel_off == 0xc && !strncmp(f.ii[2].rel, "R_X86_64_PLT32\tputs-0x4", f.ii[2].rel_len) &&
	      text_is(&f, 3, "ret") && text_is(&f, 1, "cs nop WORD PTR [rax+rax*1+0x0]") && !f.is_ida,
	      "objdump_archive_f", "rc %d n %zu id %s", rc, f.n, f.id ? f.id : "-");
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == 1 && f.n == 1 && str_is(f.name, "g") && f.addr == 0x11 && str_is(f.id, "libx.a(a.o):0x11"),
	      "objdump_archive_g", "rc %d", rc);
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == 1 && f.n == 2 && str_is(f.id, "libx.a(b.o):.text.startup:0x0") && str_is(f.section, ".text.startup"),
	      "objdump_archive_section", "rc %d id %s", rc, f.id ? f.id : "-");
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == 0, "objdump_end", "rc %d", rc);
	asmin_close(r);

	/* --no-show-raw-insn: no sizes; -w: long lines whole */
	static const char od2[] =
		"t:     file format elf64-x86-64\n\n"
		"0000000000001139 <add>:\n"
		"    1139:\tpush   rbp\n"
		"    113a:\tlea    rax,[rip+0x2ed7]        # 4018 <x>\n"
		"    1141:\tret\n";
	r = open_text(od2, ASMIN_OBJDUMP, "od2");
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == 1 && f.n == 3 && f.ii[0].size == 0 && str_is(f.id, "t:0x1139") &&
	      text_is(&f, 1, "lea    rax,[rip+0x2ed7]        # 4018 <x>"), "objdump_no_raw", "rc %d n %zu", rc, f.n);
	asmin_close(r);
	static const char odw[] =
		"0000000000001139 <w>:\n"
		"    1139:\t66 2e 0f 1f 84 00 00 00 00 00 \tcs nop WORD PTR [rax+rax*1+0x0]\n";
	r = open_text(odw, ASMIN_OBJDUMP, "odw");
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == 1 && f.n == 1 && f.ii[0].size == 10, "objdump_wide", "rc %d", rc);
	asmin_close(r);
	static const char att[] =
		"0000000000001139 <w>:\n"
		"    1139:\t55                   \tpush   %rbp\n";
	r = open_text(att, ASMIN_OBJDUMP, "att");
	rc = r ? asmin_next(r, &f, &e) : 0;
	CHECK(rc == -2 && strstr(e.msg, "AT&T") && strstr(e.msg, "line 2"), "objdump_att", "rc %d %s", rc, e.msg);
	asmin_close(r);

	/* llvm-objdump's layout */
	static const char llvm[] =
		"\nbs.o:\tfile format elf64-x86-64\n\nDisassembly of section .text:\n\n"
		"0000000000000000 <main>:\n"
		"       0: 55                           \tpush\trbp\n"
		"       1: e8 00 00 00 00               \tcall\t0x6 <main+0x6>\n"
		"\t\t0000000000000002:  R_X86_64_PLT32\tputs-0x4\n"
		"       6: 8b 0c 87                     \tmov\tecx, dword ptr [rdi + 4*rax]\n";
	r = open_text(llvm, ASMIN_AUTO, "llvm");
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == 1 && f.n == 3 && str_is(f.id, "bs.o:0x0") && f.ii[1].size == 5 && f.ii[1].rel && f.ii[1].rel_off == 2 &&
	      text_is(&f, 2, "mov\tecx, dword ptr [rdi + 4*rax]"), "llvm_objdump", "rc %d n %zu id %s", rc, f.n, f.id ? f.id : "-");
	asmin_close(r);

	/* JSON: a dict keeps its key order; a list; JSON Lines of wrappers; errors name the line */
	static const char js[] =
		"{\"2\": \"retn\", \"1\": \"push    rbp\"}\n"
		"[{\"1\": \"nop\"}, {\"1\": \"leave\", \"2\": \"retn\"}]\n"
		"{\"id\": \"x:1\", \"name\": \"foo\", \"src\": \"int foo;\", \"asm\": [\"push    rbp\", \"retn\"]}\n"
		"{\"1\": 5}\n"
		"{\"1\": \"nop\"}\n"
		"{\"1\": oops}\n";
	r = open_text(js, ASMIN_AUTO, "f.json");
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == 1 && f.n == 2 && f.keys && f.klen[0] == 1 && f.keys[0][0] == '2' && text_is(&f, 0, "retn") &&
	      f.is_ida && str_is(f.id, "f.json:1") && f.line == 1, "json_dict_order", "rc %d", rc);
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == 1 && f.n == 1 && text_is(&f, 0, "nop") && str_is(f.id, "f.json:2"), "json_list_1", "rc %d", rc);
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == 1 && f.n == 2 && text_is(&f, 0, "leave") && str_is(f.id, "f.json:3"), "json_list_2", "rc %d", rc);
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == 1 && f.n == 2 && !f.keys && str_is(f.name, "foo") && str_is(f.src, "int foo;") && str_is(f.id, "x:1"),
	      "json_wrapper", "rc %d", rc);
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == -1 && strstr(e.msg, "line 4") && strstr(e.msg, "not a string"), "json_bad_value", "rc %d %s", rc, e.msg);
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == 1 && f.n == 1, "json_after_bad", "rc %d", rc);
	rc = r ? asmin_next(r, &f, &e) : 0;
	CHECK(rc == -2 && strstr(e.msg, "line 6"), "json_syntax_line", "rc %d %s", rc, e.msg);
	asmin_close(r);

	/* CSV: header in another order, quoted multi-line fields, "" escapes, CRLF */
	static const char csv[] =
		"name,asm,source\r\n"
		"foo,\"push    rbp\nmov     rbp, rsp\nretn\",\"int foo(void) {\r\n  return \"\"x\"\";\r\n}\"\r\n"
		"bar,\"{\"\"1\"\": \"\"nop\"\", \"\"2\"\": \"\"retn\"\"}\",\"\"\r\n"
		"baz,nop\r\n"
		"qux,\"   1139:\t55\tpush   rbp\n   113a:\tc3\tret\",src\r\n"
		"bad,\"x\"y,z\r\n"
		"last,nop,\"never closed\r\n";
	r = open_text(csv, ASMIN_CSV, "f.csv");
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == 1 && f.n == 3 && str_is(f.name, "foo") && str_is(f.src, "int foo(void) {\r\n  return \"x\";\r\n}") &&
	      text_is(&f, 1, "mov     rbp, rsp") && f.is_ida && f.line == 2 && str_is(f.id, "f.csv:2"),
	      "csv_multiline", "rc %d n %zu src %s", rc, f.n, f.src ? f.src : "-");
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == 1 && f.n == 2 && f.keys && text_is(&f, 1, "retn") && str_is(f.name, "bar") && f.line == 7,
	      "csv_json_asm", "rc %d line %llu", rc, (unsigned long long)f.line);
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == -1 && strstr(e.msg, "line 8") && strstr(e.msg, "2 fields"), "csv_field_count", "rc %d %s", rc, e.msg);
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == 1 && f.n == 2 && f.has_addr && f.ii[1].addr == 0x113a && f.ii[0].size == 1 && !f.is_ida,
	      "csv_objdump_lines", "rc %d", rc);
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == -1 && strstr(e.msg, "line 11") && strstr(e.msg, "after a closing quote"), "csv_bad_quote", "rc %d %s", rc, e.msg);
	rc = r ? asmin_next(r, &f, &e) : 0;
	CHECK(rc == -2 && strstr(e.msg, "line 12") && strstr(e.msg, "not closed"), "csv_unclosed", "rc %d %s", rc, e.msg);
	asmin_close(r);

	/* a byte order mark before a header */
	r = open_text("\xef\xbb\xbfname,asm\nf,nop\n", ASMIN_AUTO, "bom.csv");
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == 1 && str_is(f.name, "f") && f.n == 1 && !f.src, "csv_bom_header", "rc %d %s", rc, rc < 0 ? e.msg : "");
	asmin_close(r);

	/* the asm field as a Python literal (pandas) */
	r = open_text("src,asm,name\nx,\"{'1': 'push    rbp', 2: \"\"mov     [rbp+var_8], 0\"\", '3': 'lea     rdi, aS ; \\'%s\\\\n\\''}\",f\n"
		      "y,\"['nop', 'retn']\",g\n", ASMIN_CSV, "py.csv");
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == 1 && f.n == 3 && f.keys && f.keys[1][0] == '2' && text_is(&f, 1, "mov     [rbp+var_8], 0") &&
	      text_is(&f, 2, "lea     rdi, aS ; '%s\\n'") && f.is_ida, "csv_python_dict", "rc %d %s n %zu", rc, rc < 0 ? e.msg : "", f.n);
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == 1 && f.n == 2 && !f.keys && text_is(&f, 1, "retn"), "csv_python_list", "rc %d", rc);
	asmin_close(r);

	/* CSV without a header: (source, asm, name) */
	r = open_text("\"int f;\",\"nop\",f\n", ASMIN_CSV, "p.csv");
	rc = r ? asmin_next(r, &f, &e) : -2;
	CHECK(rc == 1 && str_is(f.src, "int f;") && str_is(f.name, "f") && f.n == 1, "csv_positional", "rc %d", rc);
	asmin_close(r);
	r = open_text("a,b\n", ASMIN_CSV, "two.csv");
	rc = r ? asmin_next(r, &f, &e) : 0;
	CHECK(rc == -2 && strstr(e.msg, "2 fields"), "csv_too_few", "rc %d %s", rc, e.msg);
	asmin_close(r);
	return t_done();
}
