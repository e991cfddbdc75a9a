/* test_bpe.c: common/bpe against golden ids from HF tokenizers
 * (tests/gen/gen_bpe.py -> tests/golden/bpe/NAME.tsv): the tiny in-repo
 * tokenizer always, Llama-3.2 and Qwen2.5 from ../shared/vendor when present.
 * Also round trips, invalid UTF-8, threads, and load errors. */
#include "test.h"

#include <stdint.h>
#include <unistd.h>
#include <utf8proc.h>

#include "bpe.h"

static const char *root(void)
{
	const char *r = getenv("ROOT");

	return r && *r ? r : ".";
}

static int unhex(const char *h, char **out, size_t *n)
{
	size_t l = strlen(h);
	char *s = malloc(l / 2 + 1);

	if (!s || l % 2)
		return -1;
	for (size_t i = 0; i < l / 2; i++) {
		unsigned v;

		if (sscanf(h + 2 * i, "%2x", &v) != 1) {
			free(s);
			return -1;
		}
		s[i] = (char)v;
	}
	s[l / 2] = 0;
	*out = s;
	*n = l / 2;
	return 0;
}

static int parse_ids(const char *s, int32_t **ids, size_t *n)
{
	size_t cap = 16, k = 0;
	int32_t *v = malloc(cap * sizeof *v);

	while (v && *s) {
		char *end;
		long x = strtol(s, &end, 10);

		if (end == s)
			break;
		if (k == cap)
			v = realloc(v, (cap *= 2) * sizeof *v);
		if (!v)
			return -1;
		v[k++] = (int32_t)x;
		s = *end == ',' ? end + 1 : end;
	}
	*ids = v;
	*n = k;
	return v ? 0 : -1;
}

typedef struct gcase {
	char    name[64];
	int     flags;
	char   *text, *dec, *decskip;
	size_t  tlen, dlen, dslen;
	int32_t *ids;
	size_t  nids;
} gcase;

static gcase *read_golden(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, k = 0, kcap = 0;
	gcase *v = NULL;

	*n = 0;
	if (!f)
		return NULL;
	while (getline(&line, &cap, f) > 0) {
		char *fld[6], *save = NULL, *p;
		int nf = 0;
		gcase *g;

		if (line[0] == '#')
			continue;
		line[strcspn(line, "\n")] = 0;
		/* strtok would merge empty fields: split by hand */
		p = line;
		while (nf < 6) {
			fld[nf++] = p;
			p = strchr(p, '\t');
			if (!p)
				break;
			*p++ = 0;
		}
		(void)save;
		if (nf != 6)
			continue;
		if (k == kcap)
			v = realloc(v, (kcap = kcap ? kcap * 2 : 64) * sizeof *v);
		g = &v[k];
		memset(g, 0, sizeof *g);
		snprintf(g->name, sizeof g->name, "%s", fld[0]);
		g->flags = (strchr(fld[1], 'a') ? BPE_ADD_SPECIAL : 0) | (strchr(fld[1], 's') ? BPE_SPLIT_SPECIAL : 0);
		if (unhex(fld[2], &g->text, &g->tlen) || parse_ids(fld[3], &g->ids, &g->nids) ||
		    unhex(fld[4], &g->dec, &g->dlen) || unhex(fld[5], &g->decskip, &g->dslen))
			continue;
		k++;
	}
	free(line);
	fclose(f);
	*n = k;
	return v;
}

static void free_golden(gcase *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].text);
		free(v[i].dec);
		free(v[i].decskip);
		free(v[i].ids);
	}
	free(v);
}

/* Encode/decode every golden case; one CHECK per kind, the reference
 * vectors (names "ref_*") each on their own. */
static void check_golden(bpe *b, const char *label, const char *tsv, int roundtrip)
{
	char path[4096], name[256], why[512];
	size_t n, bad_enc = 0, bad_dec = 0, bad_skip = 0, bad_rt = 0, nrt = 0;
	gcase *g;
	bpe_ids ids = { 0 };
	bpe_buf buf = { 0 };
	an_err e;

	snprintf(path, sizeof path, "%s/tests/golden/bpe/%s", root(), tsv);
	g = read_golden(path, &n);
	snprintf(name, sizeof name, "bpe %s golden file", label);
	CHECK(g && n > 20, name, "%s: missing or too few cases (%zu)", path, n);
	if (!g)
		return;
	why[0] = 0;
	for (size_t i = 0; i < n; i++) {
		int ok;

		ids.n = 0;
		if (bpe_encode(b, g[i].text, g[i].tlen, g[i].flags, &ids, &e)) {
			bad_enc++;
			continue;
		}
		ok = ids.n == g[i].nids && memcmp(ids.v, g[i].ids, ids.n * sizeof *ids.v) == 0;
		if (!ok) {
			if (!bad_enc) {
				size_t j = 0;

				while (j < ids.n && j < g[i].nids && ids.v[j] == g[i].ids[j])
					j++;
				snprintf(why, sizeof why, "first bad case %s: at %zu got %d want %d (len %zu vs %zu)",
					 g[i].name, j, j < ids.n ? ids.v[j] : -1, j < g[i].nids ? g[i].ids[j] : -1,
					 ids.n, g[i].nids);
			}
			bad_enc++;
		}
		/* decode(encode(text)) == text: valid UTF-8 text (HF's decode gives
		 * it back), no normalizer, no template tokens */
		if (roundtrip && !(g[i].flags & BPE_ADD_SPECIAL) && g[i].dlen == g[i].tlen &&
		    memcmp(g[i].dec, g[i].text, g[i].tlen) == 0) {
			nrt++;
			buf.n = 0;
			if (bpe_decode(b, ids.v, ids.n, 0, &buf, &e) || buf.n != g[i].tlen ||
			    memcmp(buf.s, g[i].text, buf.n) != 0)
				bad_rt++;
		}
		if (strncmp(g[i].name, "ref_", 4) == 0) {
			snprintf(name, sizeof name, "bpe %s %s", label, g[i].name);
			CHECK(ok, name, "ids differ from the reference");
		}
		buf.n = 0;
		if (bpe_decode(b, g[i].ids, g[i].nids, BPE_UTF8_REPLACE, &buf, &e) || buf.n != g[i].dlen ||
		    memcmp(buf.s, g[i].dec, buf.n) != 0)
			bad_dec++;
		buf.n = 0;
		if (bpe_decode(b, g[i].ids, g[i].nids, BPE_UTF8_REPLACE | BPE_SKIP_SPECIAL, &buf, &e) ||
		    buf.n != g[i].dslen || memcmp(buf.s, g[i].decskip, buf.n) != 0)
			bad_skip++;
	}
	snprintf(name, sizeof name, "bpe %s encode %zu cases", label, n);
	CHECK(bad_enc == 0, name, "%zu differ; %s", bad_enc, why);
	snprintf(name, sizeof name, "bpe %s decode %zu cases", label, n);
	CHECK(bad_dec == 0, name, "%zu differ from HF decode", bad_dec);
	snprintf(name, sizeof name, "bpe %s decode skip_special %zu cases", label, n);
	CHECK(bad_skip == 0, name, "%zu differ from HF decode(skip_special_tokens=True)", bad_skip);
	if (roundtrip) {
		snprintf(name, sizeof name, "bpe %s round trip %zu cases", label, nrt);
		CHECK(bad_rt == 0 && nrt > n / 2, name, "%zu of %zu do not come back", bad_rt, nrt);
	}
	free_golden(g, n);
	bpe_ids_free(&ids);
	bpe_buf_free(&buf);
}

static uint64_t rng_state = 0x853c49e6748fea9bull;

static uint32_t rnd(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_state >> 33);
}

/* Whether each valid run of s is unchanged by NFC (so that a tokenizer with
 * an NFC normalizer must give the bytes back). */
static int nfc_stable(const char *s, size_t n)
{
	size_t i = 0, run = 0;

	while (i <= n) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t l = i < n ? utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp) : -1;

		if (l > 0) {
			i += (size_t)l;
			continue;
		}
		if (i > run) {
			utf8proc_uint8_t *o = NULL;
			utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s + run, (utf8proc_ssize_t)(i - run), &o,
							  UTF8PROC_STABLE | UTF8PROC_COMPOSE);
			int same = r >= 0 && (size_t)r == i - run && memcmp(o, s + run, i - run) == 0;

			free(o);
			if (!same)
				return 0;
		}
		i++;
		run = i;
	}
	return 1;
}

/* nfc: 0 none, 1 NFC normalizer, -1 no round trip expected (prefix space) */
static void check_random_bytes(bpe *b, const char *label, int nfc)
{
	bpe_ids ids = { 0 };
	bpe_buf buf = { 0 };
	an_err e;
	char s[96], name[128];
	size_t bad = 0, badid = 0, tried = 0;
	char why[256] = "";

	for (int t = 0; t < 3000; t++) {
		size_t n = rnd() % sizeof s;
		int mode = t % 3;

		for (size_t i = 0; i < n; i++) {
			uint32_t r = rnd();

			/* mode 0: any byte; 1: mostly ASCII; 2: UTF-8 lead/continuation heavy */
			s[i] = (char)(mode == 0 ? r : mode == 1 ? (r % 8 ? 32 + r % 95 : r) : (r % 2 ? 0x80 | (r % 64) : 0xc0 + r % 64));
		}
		if (nfc > 0 && !nfc_stable(s, n))
			continue;
		tried++;
		ids.n = 0;
		buf.n = 0;
		if (bpe_encode(b, s, n, 0, &ids, &e) || bpe_decode(b, ids.v, ids.n, 0, &buf, &e)) {
			bad++;
			continue;
		}
		for (size_t i = 0; i < ids.n; i++)
			if (ids.v[i] < 0 || ids.v[i] >= bpe_vocab_size(b) || !bpe_token_str(b, ids.v[i]))
				badid++;
		if (nfc >= 0 && (buf.n != n || memcmp(buf.s, s, n) != 0)) {
			if (!bad)
				snprintf(why, sizeof why, "case %d (%zu bytes) decodes to %zu bytes", t, n, buf.n);
			bad++;
		}
	}
	snprintf(name, sizeof name, "bpe %s random bytes %s (%zu strings)", label,
		 nfc >= 0 ? "round trip" : "encode and decode", tried);
	CHECK(bad == 0 && badid == 0 && tried > 1000, name, "%zu bad, %zu bad ids; %s", bad, badid, why);
	bpe_ids_free(&ids);
	bpe_buf_free(&buf);
}

/* The same text encoded from several threads gives the same ids. */
static void check_threads(bpe *b, const char *label)
{
	char text[4096], name[128];
	size_t n = 0;
	bpe_ids ref = { 0 };
	an_err e;
	int bad = 0;

	while (n + 40 < sizeof text)
		n += (size_t)snprintf(text + n, sizeof text - n, "static int f%u(void) { return %u; }\n", rnd() % 500, rnd());
	bpe_encode(b, text, n, 0, &ref, &e);
#pragma omp parallel for reduction(+ : bad)
	for (int t = 0; t < 16; t++) {
		bpe_ids ids = { 0 };
		an_err e2;

		for (int r = 0; r < 4; r++) {
			ids.n = 0;
			if (bpe_encode(b, text, n, 0, &ids, &e2) || ids.n != ref.n ||
			    memcmp(ids.v, ref.v, ids.n * sizeof *ids.v) != 0)
				bad++;
		}
		bpe_ids_free(&ids);
	}
	snprintf(name, sizeof name, "bpe %s threads agree", label);
	CHECK(bad == 0 && ref.n > 100, name, "%d runs differ", bad);
	/* the batch call: every line of the text on its own */
	{
		const char *lines[200];
		size_t lens[200], nl = 0, off = 0;
		bpe_ids outs[200], one = { 0 };

		memset(outs, 0, sizeof outs);
		while (off < n && nl < 200) {
			size_t l = strcspn(text + off, "\n") + 1;

			lines[nl] = text + off;
			lens[nl++] = l;
			off += l;
		}
		bad = bpe_encode_batch(b, lines, lens, nl, 0, outs, &e) != 0;
		for (size_t i = 0; i < nl; i++) {
			one.n = 0;
			bpe_encode(b, lines[i], lens[i], 0, &one, &e);
			if (one.n != outs[i].n || memcmp(one.v, outs[i].v, one.n * sizeof *one.v) != 0)
				bad++;
			bpe_ids_free(&outs[i]);
		}
		bpe_ids_free(&one);
		snprintf(name, sizeof name, "bpe %s encode_batch = encode (%zu texts)", label, nl);
		CHECK(bad == 0 && nl > 50, name, "%d differ", bad);
	}
	bpe_ids_free(&ref);
}

static void write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(s, f);
		fclose(f);
	}
}

static void check_errors(void)
{
	an_err e;
	bpe *b;
	char dir[] = "/tmp/test_bpe_XXXXXX", p[256];

	b = bpe_load("/nonexistent/tokenizer.json", &e);
	CHECK(!b && strstr(e.msg, "/nonexistent"), "bpe load missing file", "got %p: %s", (void *)b, e.msg);
	if (!mkdtemp(dir)) {
		t_skip("bpe load errors", "mkdtemp failed");
		return;
	}
	snprintf(p, sizeof p, "%s/tokenizer.json", dir);
	write_file(p, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a");
	b = bpe_load(p, &e);
	CHECK(!b && strstr(e.msg, "tokenizer.json"), "bpe load truncated json", "%s", e.msg);
	write_file(p, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a c\"]}}");
	b = bpe_load(p, &e);
	CHECK(!b && strstr(e.msg, "merge 0"), "bpe load merge of unknown token", "%s", e.msg);
	write_file(p, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}");
	b = bpe_load(p, &e);
	CHECK(!b && strstr(e.msg, "not BPE"), "bpe load non-BPE model", "%s", e.msg);
	write_file(p, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
		      " \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}}");
	b = bpe_load(p, &e);
	CHECK(!b && strstr(e.msg, "regex"), "bpe load bad regex", "%s", e.msg);
	/* a minimal valid one: chars mode (no ByteLevel), both merge forms */
	write_file(p, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"abb\": 3},"
		      " \"merges\": [[\"a\", \"b\"], \"ab b\"]}}");
	b = bpe_load(p, &e);
	CHECK(b != NULL, "bpe load minimal", "%s", b ? "" : e.msg);
	if (b) {
		bpe_ids ids = { 0 };

		bpe_encode(b, "abbab", 5, 0, &ids, &e);
		CHECK(ids.n == 2 && ids.v[0] == 3 && ids.v[1] == 2, "bpe minimal merges", "got %zu ids", ids.n);
		bpe_ids_free(&ids);
		bpe_free(b);
	}
	remove(p);
	rmdir(dir);
}

static void check_llama(const char *shared)
{
	char path[4096];
	an_err e;
	bpe *b;
	const int32_t *eos;
	int neos;

	snprintf(path, sizeof path, "%s/vendor/llama-3.2-3b-instruct/tokenizer.json", shared);
	b = bpe_load(path, &e);
	CHECK(b != NULL, "bpe llama load", "%s", b ? "" : e.msg);
	if (!b)
		return;
	neos = bpe_eos(b, &eos);
	CHECK(bpe_vocab_size(b) == 128256 && bpe_bos(b) == 128000, "bpe llama vocab and bos",
	      "vocab %d bos %d", bpe_vocab_size(b), bpe_bos(b));
	CHECK(neos == 3 && eos[0] == 128001 && eos[1] == 128008 && eos[2] == 128009, "bpe llama eos",
	      "%d eos", neos);
	CHECK(bpe_token_id(b, "<|eot_id|>") == 128009 && bpe_token_id(b, "Ġthe") == 279 && bpe_is_special(b, 128000) &&
	      !bpe_is_special(b, 279), "bpe llama token ids", "eot %d the %d", bpe_token_id(b, "<|eot_id|>"),
	      bpe_token_id(b, "Ġthe"));
	check_golden(b, "llama", "llama.tsv", 1);
	check_random_bytes(b, "llama", 0);
	check_threads(b, "llama");
	bpe_free(b);
}

static const char *QWEN_ADDED[] = {
	"<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
	"<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
	"<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
	"<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
};

static void check_qwen(const char *shared)
{
	char path[4096];
	an_err e;
	bpe *b;
	int ok = 1;
	const int32_t *eos;

	snprintf(path, sizeof path, "%s/vendor/qwen2.5-coder-3b", shared);
	b = bpe_load(path, &e);
	CHECK(b != NULL, "bpe qwen load (vocab.json + merges.txt)", "%s", b ? "" : e.msg);
	if (!b)
		return;
	CHECK(bpe_token_id(b, "<|endoftext|>") == 151643 && bpe_is_special(b, 151643) && bpe_bos(b) == -1 &&
	      bpe_eos(b, &eos) == 1 && eos[0] == 151643, "bpe qwen default endoftext",
	      "id %d bos %d", bpe_token_id(b, "<|endoftext|>"), bpe_bos(b));
	for (int i = 0; i < (int)(sizeof QWEN_ADDED / sizeof *QWEN_ADDED); i++)
		if (bpe_add_token(b, QWEN_ADDED[i], -1, i < 13 ? BPE_TOK_SPECIAL : 0, &e) != 151644 + i)
			ok = 0;
	CHECK(ok && bpe_vocab_size(b) == 151665, "bpe qwen add tokens", "vocab %d", bpe_vocab_size(b));
	CHECK(bpe_add_token(b, "<|im_end|>", 151645, 0, &e) == 151645 && bpe_add_token(b, "zzz", 151643, 0, &e) < 0,
	      "bpe qwen add token conflicts", "%s", e.msg);
	check_golden(b, "qwen", "qwen.tsv", 1);
	check_random_bytes(b, "qwen", 1);
	check_threads(b, "qwen");
	bpe_free(b);

	/* the same files beside a tokenizer_config.json with added_tokens_decoder
	 * and a generation_config.json, as a Qwen2.5 checkpoint directory has them */
	{
		char dir[] = "/tmp/test_bpe_qwen_XXXXXX", p[4096], src[4096];

		if (!mkdtemp(dir)) {
			t_skip("bpe qwen with tokenizer_config.json", "mkdtemp failed");
			return;
		}
		snprintf(p, sizeof p, "%s/vocab.json", dir);
		snprintf(src, sizeof src, "%s/vendor/qwen2.5-coder-3b/vocab.json", shared);
		if (symlink(src, p))
			t_skip("bpe qwen with tokenizer_config.json", "symlink failed");
		snprintf(p, sizeof p, "%s/merges.txt", dir);
		snprintf(src, sizeof src, "%s/vendor/qwen2.5-coder-3b/merges.txt", shared);
		if (symlink(src, p))
			t_skip("bpe qwen with tokenizer_config.json", "symlink failed");
		snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
		write_file(p, "{\"added_tokens_decoder\": {"
			      "\"151643\": {\"content\": \"<|endoftext|>\", \"special\": true},"
			      "\"151644\": {\"content\": \"<|im_start|>\", \"special\": true},"
			      "\"151645\": {\"content\": \"<|im_end|>\", \"special\": true},"
			      "\"151657\": {\"content\": \"<tool_call>\", \"special\": false}},"
			      " \"eos_token\": \"<|im_end|>\", \"bos_token\": null}");
		snprintf(p, sizeof p, "%s/generation_config.json", dir);
		write_file(p, "{\"bos_token_id\": 151643, \"eos_token_id\": [151645, 151643]}");
		b = bpe_load(dir, &e);
		CHECK(b != NULL, "bpe qwen dir with tokenizer_config.json", "%s", b ? "" : e.msg);
		if (b) {
			bpe_ids ids = { 0 };
			const char t[] = "<|im_start|>user\nhi<tool_call><|im_end|>";
			int n = bpe_eos(b, &eos);

			bpe_encode(b, t, sizeof t - 1, 0, &ids, &e);
			CHECK(n == 2 && eos[0] == 151645 && eos[1] == 151643 && bpe_bos(b) == 151643 &&
			      bpe_vocab_size(b) == 151658 && !bpe_is_special(b, 151657) && bpe_is_special(b, 151645),
			      "bpe qwen configs: eos, bos, added tokens", "eos %d bos %d vocab %d", n, bpe_bos(b),
			      bpe_vocab_size(b));
			/* 151644 user \n hi 151657 151645 (ids of "user", "\n", "hi" from the golden chat) */
			CHECK(ids.n == 6 && ids.v[0] == 151644 && ids.v[1] == 872 && ids.v[2] == 198 && ids.v[4] == 151657 &&
			      ids.v[5] == 151645, "bpe qwen configs: added tokens split", "%zu ids", ids.n);
			bpe_ids_free(&ids);
			bpe_free(b);
		}
		snprintf(p, sizeof p, "%s/vocab.json", dir);
		remove(p);
		snprintf(p, sizeof p, "%s/merges.txt", dir);
		remove(p);
		snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
		remove(p);
		snprintf(p, sizeof p, "%s/generation_config.json", dir);
		remove(p);
		rmdir(dir);
	}
}

static void check_tiny(void)
{
	char path[4096];
	an_err e;
	const char *files[] = { "tiny.json", "tiny_legacy.json" };

	for (int i = 0; i < 2; i++) {
		bpe *b;
		char label[64];

		snprintf(path, sizeof path, "%s/tests/golden/bpe/%s", root(), files[i]);
		snprintf(label, sizeof label, "tiny%s", i ? "-legacy-merges" : "");
		b = bpe_load(path, &e);
		CHECK(b != NULL, i ? "bpe tiny legacy load" : "bpe tiny load", "%s", b ? "" : e.msg);
		if (!b)
			continue;
		check_golden(b, label, "tiny.tsv", 0);
		if (i == 0)
			check_random_bytes(b, label, -1);
		bpe_free(b);
	}
	/* NFD + Lowercase, Split with every behavior, a String pattern */
	{
		bpe *b;

		snprintf(path, sizeof path, "%s/tests/golden/bpe/tiny_split.json", root());
		b = bpe_load(path, &e);
		CHECK(b != NULL, "bpe tiny-split load", "%s", b ? "" : e.msg);
		if (b) {
			check_golden(b, "tiny-split", "tiny_split.tsv", 0);
			check_random_bytes(b, "tiny-split", -1);
			bpe_free(b);
		}
	}
}

int main(void)
{
	const char *shared = t_shared();

	check_errors();
	check_tiny();
	if (!shared) {
		t_skip("bpe llama", "../shared not found");
		t_skip("bpe qwen", "../shared not found");
	} else {
		check_llama(shared);
		check_qwen(shared);
	}
	return t_done();
}
