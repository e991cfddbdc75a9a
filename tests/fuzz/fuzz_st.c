/* fuzz_st: libFuzzer harness for the safetensors header parser (common/st.c).
 * The input is a whole safetensors image; an accepted image must have every
 * tensor inside it (ASan checks the copy-outs).  Build (see tests/fuzz/run.sh):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icommon tests/fuzz/fuzz_st.c \
 *       common/st.c common/err.c -ljansson -lm
 * Seeds: any .safetensors file, e.g. tests/golden/ops/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "st.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a private copy, so that reads past the end are caught exactly */
	uint8_t *buf = malloc(size ? size : 1);
	st s;
	an_err e = {0};

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	if (st_open_mem(&s, buf, size, "fuzz", &e) == 0) {
		for (size_t i = 0; i < s.n; i++) {
			const st_tensor *t = &s.t[i];

			if (st_find(&s, t->name) != t)
				abort();
			if (t->numel <= (1u << 20)) {
				float *f = malloc((t->numel ? t->numel : 1) * sizeof *f);

				if (f) {
					st_read_f32(&s, t, f, t->numel, &e);
					free(f);
				}
			}
		}
		(void)st_meta(&s, NULL, "format");
		st_close(&s);
	} else if (!e.msg[0]) {
		abort();   /* every rejection says why */
	}
	free(buf);
	return 0;
}
