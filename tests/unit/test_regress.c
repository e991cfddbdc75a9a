/* test_regress.c: replay every input under tests/regress/ (found by the
 * fuzzers, tests/fuzz/run.sh) through both fuzz harnesses, built here
 * without libFuzzer: the exact calls that crashed once must now return.
 * (tests/cli/regress.sh replays the same files through the programs.) */
#include <dirent.h>
#include <stdint.h>

#include "test.h"

#define LLVMFuzzerTestOneInput fuzz_elf_one
#include "../fuzz/fuzz_elf.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_rec_one
#include "../fuzz/fuzz_rec.c"
#undef LLVMFuzzerTestOneInput

int main(void)
{
	const char *root = getenv("ROOT");
	char dir[4096], path[8192];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof dir, "%s/tests/regress", root && *root ? root : ".");
	if (!(d = opendir(dir))) {
		t_skip("regress-replay", "no tests/regress directory");
		return t_done();
	}
	while ((de = readdir(d))) {
		FILE *f;
		static unsigned char buf[1 << 20];
		size_t len;
		char name[300];

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (!(f = fopen(path, "rb")))
			continue;
		len = fread(buf, 1, sizeof buf, f);
		fclose(f);
		fuzz_elf_one(buf, len);
		fuzz_rec_one(buf, len);
		snprintf(name, sizeof name, "replay-%.200s", de->d_name);
		CHECK(1, name, "returned");   /* reaching here is the test: a crash fails the run */
		n++;
	}
	closedir(d);
	if (n == 0)
		t_skip("regress-replay", "no inputs");
	return t_done();
}
