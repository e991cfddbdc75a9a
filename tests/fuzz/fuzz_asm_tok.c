/* fuzz_asm_tok.c: libFuzzer harness for asm-tok's text readers, the IDA-style
 * renderer and the tokenizer (common/asmin.c, ida.c, wordpiece.c,
 * clap_tok.c): any input, read as objdump text, CLAP JSON or CSV (the first
 * byte picks), must give functions or errors with a place, never a crash, a
 * hang or a leak.  The vocabulary comes from ../shared/vendor/clap-asm
 * (ASMNAME_SHARED overrides); without it only reading and rendering run.
 *   clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Icommon \
 *     tests/fuzz/fuzz_asm_tok.c common/asmin.c common/ida.c common/wordpiece.c \
 *     common/clap_tok.c common/err.c -ljansson -lutf8proc -lpthread -o fuzz_asm_tok */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "asmin.h"
#include "clap_tok.h"
#include "ida.h"
#include "wordpiece.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static wp_vocab v;
	static int loaded = -1;
	static ida_ctx ida;
	static int32_t ids[CLAP_MAX_LEN], types[CLAP_MAX_LEN];
	an_err e;

	if (loaded < 0) {
		char p[4096];
		const char *sh = getenv("ASMNAME_SHARED");
		snprintf(p, sizeof p, "%s/vendor/clap-asm", sh && *sh ? sh : "../shared");
		loaded = wp_load(&v, p, &e) == 0;
		ida_init(&ida);
	}
	if (size < 1)
		return 0;
	enum asmin_fmt fmt = data[0] % 3 == 0 ? ASMIN_OBJDUMP : data[0] % 3 == 1 ? ASMIN_JSON : ASMIN_CSV;
	int fd = open("/dev/null", O_RDONLY);
	if (fd < 0)
		return 0;
	asmin *r = asmin_open_fd(fd, 1, "fuzz", fmt, data + 1, size - 1, &e);
	if (!r) {
		close(fd);
		return 0;
	}
	clap_tok ct;
	if (loaded)
		clap_tok_init(&ct, &v, CLAP_MAX_LEN);
	asm_func f;
	int rc, guard = 0;
	while ((rc = asmin_next(r, &f, &e)) != 0 && rc != -2 && guard++ < 100000) {
		if (rc < 0)
			continue;
		long n = ida_render(&ida, f.ii, f.n, f.has_addr, &e);
		if (n < 0 || !loaded)
			continue;
		const char *txt[256];
		size_t len[256], m = (size_t)n < 256 ? (size_t)n : 256, nt;
		for (size_t i = 0; i < m; i++)
			txt[i] = ida_text(&ida, i, &len[i]);
		clap_tok_function(&ct, txt, len, NULL, NULL, m, ids, types, &nt, &e);
		for (size_t i = 0; i < f.n && i < 256; i++) {   /* and the raw text, with its keys */
			txt[i] = f.ii[i].text;
			len[i] = f.ii[i].len;
		}
		clap_tok_function(&ct, txt, len, f.keys, f.klen, f.n < 256 ? f.n : 256, ids, types, &nt, &e);
	}
	if (loaded)
		clap_tok_free(&ct);
	asmin_close(r);
	return 0;
}
