/* test_dataset: normalized assembly, its hashes, the bag of tokens, and
 * ctags lookup (dataset.c). */
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "test.h"

static void t_insn(const char *in, uint64_t start, uint64_t size, enum dataset_level lv,
		   const char *want)
{
	char out[256], name[160];

	dataset_insn(in, strlen(in), start, size, lv, out, sizeof out);
	snprintf(name, sizeof name, "insn %s \"%s\"", lv == DATASET_SKEL ? "skel" : "norm", in);
	CHECK(!strcmp(out, want), name, "got \"%s\", want \"%s\"", out, want);
}

/* A record of a function at addr with these instructions. */
static void mkrec(rec *r, uint64_t addr, uint64_t size, const char *const *ins, size_t n)
{
	rec_clear(r);
	rec_set_u64(r, F_ADDR, addr);
	rec_set_u64(r, F_SIZE, size);
	rec_set_strv(r, F_ASM, ins, NULL, n);
}

int main(void)
{
	/* Function at 0x100, 0x40 bytes. */
	t_insn("je 0x11a", 0x100, 0x40, DATASET_NORM, "je +0x1a");
	t_insn("jmp 0x200", 0x100, 0x40, DATASET_NORM, "jmp EXT");
	t_insn("call 0x140", 0x100, 0x40, DATASET_NORM, "call EXT");     /* one past the end */
	t_insn("call 0x13f", 0x100, 0x40, DATASET_NORM, "call +0x3f");
	t_insn("call rax", 0x100, 0x40, DATASET_NORM, "call rax");
	t_insn("lea rax, [rip + 0xe76]", 0x100, 0x40, DATASET_NORM, "lea rax, [rip + X]");
	t_insn("mov qword ptr [rip - 0x20], 5", 0x100, 0x40, DATASET_NORM, "mov qword ptr [rip + X], 5");
	t_insn("mov eax, 0x1234", 0x100, 0x40, DATASET_NORM, "mov eax, 0x1234");  /* constants stay */
	t_insn("ret", 0x100, 0x40, DATASET_NORM, "ret");
	t_insn("mov qword ptr [rsp - 0x20], rax", 0, 0, DATASET_SKEL, "mov m, r");
	t_insn("add rax, 0x10", 0, 0, DATASET_SKEL, "add r, i");
	t_insn("cmp rdx, 1", 0, 0, DATASET_SKEL, "cmp r, i");
	t_insn("ret", 0, 0, DATASET_SKEL, "ret");
	{
		char small[6];
		size_t n = dataset_insn("mov eax, ebx", 12, 0, 0, DATASET_NORM, small, sizeof small);

		CHECK(n == 12 && !strcmp(small, "mov e"), "insn truncates", "n %zu \"%s\"", n, small);
	}

	{
		/* The same function at two addresses hashes the same; a different
		 * constant does not; the skeleton does not see the constant. */
		static const char *a[] = { "push rbp", "je 0x108", "call 0x500", "lea rdi, [rip + 0x10]",
					   "mov eax, 7", "ret" };
		static const char *b[] = { "push rbp", "je 0x1008", "call 0x9999", "lea rdi, [rip + 0x7770]",
					   "mov eax, 7", "ret" };
		static const char *c[] = { "push rbp", "je 0x108", "call 0x500", "lea rdi, [rip + 0x10]",
					   "mov eax, 8", "ret" };
		rec r;
		uint64_t ha, hb, hc, sa, sc;
		size_t n = 0;
		an_err e = { 0 };
		int rc = 0;

		rec_init(&r);
		mkrec(&r, 0x100, 0x20, a, 6);
		rc |= dataset_hash(&r, DATASET_NORM, &ha, &n, &e);
		rc |= dataset_hash(&r, DATASET_SKEL, &sa, NULL, &e);
		mkrec(&r, 0x1000, 0x20, b, 6);
		rc |= dataset_hash(&r, DATASET_NORM, &hb, NULL, &e);
		mkrec(&r, 0x100, 0x20, c, 6);
		rc |= dataset_hash(&r, DATASET_NORM, &hc, NULL, &e);
		rc |= dataset_hash(&r, DATASET_SKEL, &sc, NULL, &e);
		CHECK(!rc && n == 6, "hash ok", "rc %d n %zu %s", rc, n, e.msg);
		CHECK(ha == hb, "hash ignores addresses", "%llx vs %llx", (unsigned long long)ha,
		      (unsigned long long)hb);
		CHECK(ha != hc, "hash sees constants", "equal");
		CHECK(sa == sc, "skeleton ignores constants", "differ");

		/* bag: 6 instructions -> 3 features each = 18 counts in all */
		{
			float v[64] = { 0 }, sum = 0;

			rc = dataset_bag(&r, v, 64, &e);
			for (int i = 0; i < 64; i++)
				sum += v[i];
			CHECK(rc == 0 && sum == 18, "bag counts", "rc %d sum %g", rc, sum);
		}
		rec_clear(&r);
		CHECK(dataset_hash(&r, DATASET_NORM, &ha, NULL, &e) == -1 && strstr(e.msg, "asm"),
		      "hash needs asm", "%s", e.msg);
		rec_free(&r);
	}

	{
		char dir[] = "/tmp/test_dataset.XXXXXX", path[256];
		FILE *f;
		dataset_tags *t;
		an_err e = { 0 };
		const char *file;
		uint64_t l0, l1;
		char *src;
		size_t len;

		if (!mkdtemp(dir)) {
			printf("FAIL tags: mkdtemp\n");
			return 1;
		}
		snprintf(path, sizeof path, "%s/a.c", dir);
		f = fopen(path, "w");
		fputs("static int add(int a, int b)\n{\n\treturn a + b;\n}\n", f);
		fclose(f);
		snprintf(path, sizeof path, "%s/tags", dir);
		f = fopen(path, "w");
		fputs("!_TAG_FILE_FORMAT\t2\t/extended format/\n"
		      "add\ta.c\t1;\"\tf\tline:1\ttyperef:typename:int\tfile:\tend:4\n"
		      "add\tsub/b.c\t1;\"\tf\tline:1\tfile:\tend:1\n"
		      "addx\ta.c\t9;\"\tf\tline:9\tend:9\n"
		      "main\ta.c\t6;\"\tf\tline:6\tend:6\n", f);
		fclose(f);
		t = dataset_tags_load(path, &e);
		CHECK(t != NULL, "tags load", "%s", e.msg);
		if (t) {
			CHECK(dataset_tags_find(t, "add", 3, "a.c", &file, &l0, &l1) == 0 &&
			      !strcmp(file, "a.c") && l0 == 1 && l1 == 4, "tags find in file", "not found");
			CHECK(dataset_tags_find(t, "add", 3, NULL, &file, &l0, &l1) == -1,
			      "tags ambiguous", "found one of two");
			CHECK(dataset_tags_find(t, "main", 4, NULL, &file, &l0, &l1) == 0 && l0 == 6,
			      "tags unique anywhere", "not found");
			CHECK(dataset_tags_find(t, "addxyz", 3, "a.c", &file, &l0, &l1) == 0 && l1 == 4,
			      "tags length-limited name", "wrong");
			CHECK(dataset_tags_find(t, "ad", 2, NULL, &file, &l0, &l1) == -1,
			      "tags no prefix match", "matched");
			src = dataset_lines(dir, "a.c", 1, 4, &len, &e);
			CHECK(src && !strcmp(src, "static int add(int a, int b)\n{\n\treturn a + b;\n}\n") &&
			      len == strlen(src), "source lines", "%s", src ? src : e.msg);
			free(src);
			src = dataset_lines(dir, "a.c", 3, 9, &len, &e);
			CHECK(!src && strstr(e.msg, "no lines"), "source lines past the end", "%s",
			      src ? src : e.msg);
			free(src);
			dataset_tags_free(t);
		}
		CHECK(!dataset_tags_load("/nonexistent/tags", &e), "tags missing file", "loaded");
		unlink(path);
		snprintf(path, sizeof path, "%s/a.c", dir);
		unlink(path);
		rmdir(dir);
	}
	return t_done();
}
