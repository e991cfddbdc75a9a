/* fuzz_bpe.c: libFuzzer harness for common/bpe.c.  The first byte picks:
 *  0-191: encode the rest with the Llama-3.2 tokenizer (../shared, or
 *         ASMNAME_SHARED) or, without it, tests/golden/bpe/tiny_split.json
 *         and tiny.json (added tokens with every flag, NFKC/NFD+Lowercase,
 *         every Split behavior), flags from the byte; decode must give the
 *         input back for Llama (no normalizer) and ids must be defined;
 *  192-255: the rest is a tokenizer.json: loading must fail with a message
 *         or succeed and then encode a fixed text, never crash.
 * Never a crash, a hang, a leak or a broken round trip.
 *   clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Icommon \
 *     tests/fuzz/fuzz_bpe.c common/bpe.c common/err.c -lpcre2-8 -lutf8proc -ljansson -lpthread \
 *     -o fuzz_bpe   (run from the project root) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe.h"

static bpe *load(const char *fmt, const char *arg)
{
	char p[4096];
	an_err e;

	snprintf(p, sizeof p, fmt, arg);
	return bpe_load(p, &e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bpe *llama, *tiny, *split;
	static int init;
	static bpe_ids ids;
	static bpe_buf buf;
	an_err e;

	if (!init) {
		const char *sh = getenv("ASMNAME_SHARED");

		init = 1;
		llama = load("%s/vendor/llama-3.2-3b-instruct/tokenizer.json", sh && *sh ? sh : "../shared");
		tiny = load("%s/tests/golden/bpe/tiny.json", ".");
		split = load("%s/tests/golden/bpe/tiny_split.json", ".");
	}
	if (size < 1)
		return 0;
	if (data[0] < 192) {
		bpe *b = (data[0] & 3) == 0 && llama ? llama : (data[0] & 3) == 1 ? split : tiny;
		int flags = (data[0] >> 2) & (BPE_ADD_SPECIAL | BPE_SPLIT_SPECIAL);

		if (!b)
			return 0;
		ids.n = 0;
		buf.n = 0;
		if (bpe_encode(b, (const char *)data + 1, size - 1, flags, &ids, &e))
			abort();
		for (size_t i = 0; i < ids.n; i++)
			if (!bpe_token_str(b, ids.v[i]))
				abort();
		if (bpe_decode(b, ids.v, ids.n, (data[0] & 64) ? BPE_UTF8_REPLACE : 0, &buf, &e))
			abort();
		if (b == llama && !(flags & BPE_ADD_SPECIAL) && !(data[0] & 64) &&
		    (buf.n != size - 1 || memcmp(buf.s, data + 1, size - 1) != 0))
			abort();
		return 0;
	}
	{
		char path[] = "/tmp/fuzz_bpe_XXXXXX";
		int fd = mkstemp(path);
		bpe *b;

		if (fd < 0)
			return 0;
		if (write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) {
			close(fd);
			unlink(path);
			return 0;
		}
		close(fd);
		b = bpe_load(path, &e);
		unlink(path);
		if (b) {
			static const char t[] = "int main(void) { return 0; } <s> caf\xc3\xa9 \xff";

			ids.n = 0;
			bpe_encode(b, t, sizeof t - 1, BPE_ADD_SPECIAL, &ids, &e);
			buf.n = 0;
			bpe_decode(b, ids.v, ids.n, BPE_SKIP_SPECIAL, &buf, &e);
			bpe_free(b);
		}
	}
	return 0;
}
