/* test_st: safetensors (common/st.h): write/read round trip, a sharded
 * checkpoint through its index, reading PyTorch-written files, and corrupted
 * files each rejected with a message naming the file and the tensor. */
#include <stdint.h>
#include <unistd.h>

#include "half.h"
#include "st.h"
#include "test.h"

static char dir[256];

static void path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", dir, name);
}

/* A safetensors image: 8-byte length, the header text, datalen bytes 0..255. */
static unsigned char *img(const char *hdr, size_t datalen, size_t *size)
{
	size_t hl = strlen(hdr);
	unsigned char *b = malloc(8 + hl + datalen + 1);

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
	memcpy(b + 8, hdr, hl);
	for (size_t i = 0; i < datalen; i++)
		b[8 + hl + i] = (unsigned char)i;
	*size = 8 + hl + datalen;
	return b;
}

/* Expect st_open_mem to reject; the message must contain each of want[]. */
static void reject(const char *name, const char *hdr, size_t datalen, const char *w1,
		const char *w2)
{
	size_t size;
	unsigned char *b = img(hdr, datalen, &size);
	st s;
	an_err e = {0};
	int rc = st_open_mem(&s, b, size, "bad.safetensors", &e);

	CHECK(rc < 0 && strstr(e.msg, "bad.safetensors") && (!w1 || strstr(e.msg, w1)) &&
			(!w2 || strstr(e.msg, w2)), name, "rc %d, message \"%s\"", rc, e.msg);
	if (rc == 0)
		st_close(&s);
	free(b);
}

static void test_roundtrip(void)
{
	char p[512];
	an_err e = {0};
	float f[6] = {1.5f, -2, 3.25f, 0, 1e-3f, 65504};
	uint16_t bf[3], h[3];
	int64_t i64[4] = {-1, 0, 1LL << 40, 7};
	int32_t i32[2] = {-5, 6};
	uint8_t u8[3] = {0, 128, 255};
	float fb[3] = {1.0f, -0.5f, 3.140625f};

	for (int i = 0; i < 3; i++) {
		bf[i] = f32_to_bf16(fb[i]);
		h[i] = f32_to_f16(fb[i]);
	}
	st_wtensor t[] = {
		{"u8", ST_U8, 1, {3}, u8},
		{"a.weight", ST_F32, 2, {2, 3}, f},
		{"b.bf16", ST_BF16, 1, {3}, bf},
		{"c.f16", ST_F16, 2, {3, 1}, h},
		{"ids", ST_I64, 1, {4}, i64},
		{"i32", ST_I32, 1, {2}, i32},
		{"scalar", ST_F32, 0, {0}, f},
		{"empty", ST_F32, 2, {0, 5}, f},
	};
	const char *meta[] = {"format", "pt", "step", "12"};
	path(p, sizeof p, "rt.safetensors");
	CHECK(st_write(p, t, 8, meta, 2, &e) == 0, "st_write", "%s", e.msg);
	st s;
	if (st_open(&s, p, &e) < 0) {
		CHECK(0, "st_open written file", "%s", e.msg);
		return;
	}
	CHECK(s.n == 8, "st round trip tensor count", "%zu", s.n);
	const st_tensor *a = st_find(&s, "a.weight");
	float out[6];
	CHECK(a && a->dtype == ST_F32 && a->ndim == 2 && a->shape[0] == 2 && a->shape[1] == 3 &&
			st_read_f32(&s, a, out, 6, &e) == 0 && memcmp(out, f, sizeof f) == 0,
			"st round trip F32", "%s", e.msg);
	const st_tensor *b = st_find(&s, "b.bf16"), *c = st_find(&s, "c.f16");
	float ob[3], oc[3];
	CHECK(b && c && st_read_f32(&s, b, ob, 3, &e) == 0 && st_read_f32(&s, c, oc, 3, &e) == 0 &&
			memcmp(ob, fb, sizeof fb) == 0 && memcmp(oc, fb, sizeof fb) == 0,
			"st round trip BF16 and F16 to F32", "%s", e.msg);
	uint16_t rb[3];
	CHECK(st_read_bf16(&s, b, rb, 3, &e) == 0 && memcmp(rb, bf, sizeof bf) == 0,
			"st read BF16 raw", "%s", e.msg);
	int64_t oi[4], o32[2], o8[3];
	CHECK(st_read_i64(&s, st_find(&s, "ids"), oi, 4, &e) == 0 && memcmp(oi, i64, sizeof oi) == 0 &&
			st_read_i64(&s, st_find(&s, "i32"), o32, 2, &e) == 0 && o32[0] == -5 &&
			o32[1] == 6 && st_read_i64(&s, st_find(&s, "u8"), o8, 3, &e) == 0 &&
			o8[2] == 255, "st round trip I64, I32, U8", "%s", e.msg);
	const st_tensor *sc = st_find(&s, "scalar"), *em = st_find(&s, "empty");
	CHECK(sc && sc->ndim == 0 && sc->numel == 1 && em && em->numel == 0 && em->nbytes == 0,
			"st scalar and empty tensors", "bad");
	CHECK(st_meta(&s, NULL, "step") && strcmp(st_meta(&s, NULL, "step"), "12") == 0 &&
			!st_meta(&s, NULL, "nope"), "st metadata", "bad");
	CHECK(st_find(&s, "nope") == NULL, "st_find absent", "found");
	float wrong[5];
	CHECK(st_read_f32(&s, a, wrong, 5, &e) < 0 && strstr(e.msg, "a.weight"),
			"st_read_f32 wrong count", "%s", e.msg);
	CHECK(st_get_f32(&s, "a.weight", 2, (int64_t[]){3, 2}, out, &e) < 0 &&
			strstr(e.msg, "[2,3], expected [3,2]"), "st_get_f32 shape mismatch", "%s", e.msg);
	CHECK(st_get_f32(&s, "a.weight", 2, (int64_t[]){2, 3}, out, &e) == 0,
			"st_get_f32 right shape", "%s", e.msg);
	CHECK(st_read_i64(&s, a, oi, 6, &e) < 0, "st_read_i64 of F32 refused", "accepted");
	/* layout: header length a multiple of 8, largest dtype first, no gaps */
	const unsigned char *m = s.files[0].map;
	uint64_t hl = 0;
	for (int i = 7; i >= 0; i--)
		hl = hl << 8 | m[i];
	const st_tensor *ids = st_find(&s, "ids");
	CHECK(hl % 8 == 0 && (const unsigned char *)ids->data == m + 8 + hl,
			"st_write header padded to 8, I64 first", "header %llu", (unsigned long long)hl);
	size_t total = 0;
	for (size_t i = 0; i < s.n; i++)
		total += s.t[i].nbytes;
	CHECK(s.files[0].size == 8 + hl + total, "st_write leaves no gaps", "size %zu",
			s.files[0].size);
	st_close(&s);

	/* overwrite atomically; no temporary file left behind */
	CHECK(st_write(p, t, 1, NULL, 0, &e) == 0 && st_open(&s, p, &e) == 0 && s.n == 1,
			"st_write replaces a file", "%s", e.msg);
	st_close(&s);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp >/dev/null", dir);
	CHECK(system(cmd) != 0, "st_write leaves no temporary file", "found one");
	st_wtensor dupl[2] = {{"x", ST_F32, 1, {1}, f}, {"x", ST_F32, 1, {1}, f}};
	CHECK(st_write(p, dupl, 2, NULL, 0, &e) < 0 && strstr(e.msg, "\"x\""),
			"st_write duplicate name refused", "%s", e.msg);
	st_wtensor res[1] = {{"__metadata__", ST_F32, 1, {1}, f}};
	CHECK(st_write(p, res, 1, NULL, 0, &e) < 0, "st_write reserved name refused", "accepted");
	CHECK(st_write("/nonexistent-dir/x.safetensors", t, 1, NULL, 0, &e) < 0 &&
			strstr(e.msg, "/nonexistent-dir/x.safetensors"), "st_write bad directory",
			"%s", e.msg);
	CHECK(st_open(&s, "/nonexistent-dir/x.safetensors", &e) < 0 && strstr(e.msg, "nonexistent"),
			"st_open missing file", "%s", e.msg);
}

static void write_text(const char *name, const char *text)
{
	char p[512];
	FILE *f;

	path(p, sizeof p, name);
	f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
}

static void test_sharded(void)
{
	char p[512], d2[512];
	an_err e = {0};
	float a[4] = {1, 2, 3, 4}, b[2] = {5, 6};
	st_wtensor s1[] = {{"model.a", ST_F32, 2, {2, 2}, a}};
	st_wtensor s2[] = {{"model.b", ST_F32, 1, {2}, b}, {"model.c", ST_F32, 1, {1}, b}};

	snprintf(d2, sizeof d2, "%s/sharded", dir);
	mkdir(d2, 0755);
	snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", d2);
	st_write(p, s1, 1, NULL, 0, &e);
	snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", d2);
	st_write(p, s2, 2, NULL, 0, &e);
	write_text("sharded/model.safetensors.index.json",
			"{\"metadata\": {\"total_size\": 28}, \"weight_map\": {"
			"\"model.a\": \"model-00001-of-00002.safetensors\","
			"\"model.b\": \"model-00002-of-00002.safetensors\","
			"\"model.c\": \"model-00002-of-00002.safetensors\"}}");
	st s;
	int rc = st_open(&s, d2, &e);
	CHECK(rc == 0 && s.nfiles == 2 && s.n == 3, "st sharded directory", "%s", e.msg);
	if (rc == 0) {
		float o[4];
		const st_tensor *t = st_find(&s, "model.b");
		CHECK(t && st_read_f32(&s, t, o, 2, &e) == 0 && o[0] == 5 && o[1] == 6 &&
				st_find(&s, "model.a"), "st sharded lookup across shards", "%s", e.msg);
		st_close(&s);
	}
	snprintf(p, sizeof p, "%s/model.safetensors.index.json", d2);
	CHECK(st_open(&s, p, &e) == 0, "st sharded via the index path", "%s", e.msg);
	st_close(&s);

	write_text("sharded/model.safetensors.index.json",
			"{\"weight_map\": {\"model.a\": \"model-00002-of-00002.safetensors\","
			"\"model.b\": \"model-00002-of-00002.safetensors\"}}");
	CHECK(st_open(&s, p, &e) < 0 && strstr(e.msg, "model.a"), "st index names the wrong shard",
			"%s", e.msg);
	write_text("sharded/model.safetensors.index.json",
			"{\"weight_map\": {\"model.a\": \"model-00003-of-00002.safetensors\"}}");
	CHECK(st_open(&s, p, &e) < 0 && strstr(e.msg, "model-00003"), "st index missing shard",
			"%s", e.msg);
	write_text("sharded/model.safetensors.index.json",
			"{\"weight_map\": {\"model.a\": \"../../etc/passwd\"}}");
	CHECK(st_open(&s, p, &e) < 0 && strstr(e.msg, "not a file name"),
			"st index shard path refused", "%s", e.msg);
	write_text("sharded/model.safetensors.index.json", "{\"weight_map\": [1, 2]}");
	CHECK(st_open(&s, p, &e) < 0 && strstr(e.msg, "weight_map"), "st index without map",
			"%s", e.msg);
	write_text("sharded/model.safetensors.index.json", "{\"weight_map\": {");
	CHECK(st_open(&s, p, &e) < 0 && strstr(e.msg, "index.json"), "st index bad JSON", "%s",
			e.msg);
	/* the same tensor in two shards */
	snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", d2);
	st_write(p, s2, 1, NULL, 0, &e);
	write_text("sharded/model.safetensors.index.json",
			"{\"weight_map\": {\"model.b\": \"model-00001-of-00002.safetensors\","
			"\"model.c\": \"model-00002-of-00002.safetensors\"}}");
	snprintf(p, sizeof p, "%s/model.safetensors.index.json", d2);
	CHECK(st_open(&s, p, &e) < 0 && strstr(e.msg, "model.b"), "st tensor in two shards",
			"%s", e.msg);
	CHECK(st_open(&s, dir, &e) < 0 && strstr(e.msg, "neither"), "st directory without model",
			"%s", e.msg);
}

static void test_corrupt(void)
{
	char p[512];
	an_err e = {0};
	st s;
	const char *ok = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";

	size_t size;
	unsigned char *b = img(ok, 16, &size);
	CHECK(st_open_mem(&s, b, size, "ok", &e) == 0 && s.n == 1, "st valid image accepted", "%s",
			e.msg);
	st_close(&s);
	/* truncated files */
	for (size_t cut = 0; cut < size; cut += (cut < 16 ? 1 : 7)) {
		an_err ce = {0};
		int rc = st_open_mem(&s, b, cut, "cut.safetensors", &ce);

		if (rc == 0) {
			st_close(&s);
			CHECK(0, "st truncated file rejected", "accepted at %zu of %zu bytes", cut, size);
			break;
		}
		if (!strstr(ce.msg, "cut.safetensors")) {
			CHECK(0, "st truncated file rejected", "message \"%s\"", ce.msg);
			break;
		}
		if (cut + 7 >= size)
			CHECK(1, "st truncated file rejected at every length", "%s", "");
	}
	path(p, sizeof p, "trunc.safetensors");
	FILE *f = fopen(p, "w");
	fwrite(b, 1, size - 3, f);
	fclose(f);
	CHECK(st_open(&s, p, &e) < 0 && strstr(e.msg, "trunc.safetensors") && strstr(e.msg, "\"w\""),
			"st truncated file on disk names file and tensor", "%s", e.msg);
	path(p, sizeof p, "tiny.safetensors");
	f = fopen(p, "w");
	fwrite("abc", 1, 3, f);
	fclose(f);
	CHECK(st_open(&s, p, &e) < 0 && strstr(e.msg, "too short"), "st 3-byte file", "%s", e.msg);
	/* header length overflow: 2^64-1, and just over the limit */
	memset(b, 0xff, 8);
	CHECK(st_open_mem(&s, b, size, "bad.safetensors", &e) < 0 && strstr(e.msg, "limit"),
			"st header size 2^64-1", "%s", e.msg);
	uint64_t big = ST_MAX_HEADER + 1;
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(big >> (8 * i));
	CHECK(st_open_mem(&s, b, size, "bad.safetensors", &e) < 0 && strstr(e.msg, "limit"),
			"st header size over 100 MB", "%s", e.msg);
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)(size - 7) >> (8 * i));
	CHECK(st_open_mem(&s, b, size, "bad.safetensors", &e) < 0 && strstr(e.msg, "past the end"),
			"st header size past the end", "%s", e.msg);
	free(b);

	reject("st offsets outside the data",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 12,
			"\"w\"", "outside");
	reject("st begin after end",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 16,
			"\"w\"", "outside");
	reject("st overlapping tensors",
			"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
			"\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 16,
			"overlap", "\"b\"");
	reject("st identical ranges overlap",
			"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
			"\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
			"overlap", NULL);
	reject("st shape x dtype != bytes",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", 16,
			"\"w\"", "24 bytes");
	reject("st bad JSON", "{\"w\":{\"dtype\":\"F32\",", 16, "not valid JSON", NULL);
	reject("st header not an object", "[1,2,3]", 0, "not a JSON object", NULL);
	reject("st unknown dtype",
			"{\"w\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
			"unknown dtype \"F33\"", "\"w\"");
	reject("st negative shape",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
			"shape[0]", "\"w\"");
	reject("st fractional shape",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8,
			"shape[0]", NULL);
	reject("st shape product overflow",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,2],"
			"\"data_offsets\":[0,8]}}", 8, "overflow", "\"w\"");
	reject("st byte size overflow",
			"{\"w\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],"
			"\"data_offsets\":[0,8]}}", 8, "overflow", NULL);
	reject("st too many dims",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
			"\"data_offsets\":[0,4]}}", 4, "dimensions", NULL);
	reject("st missing dtype", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
			"dtype", "\"w\"");
	reject("st missing shape", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
			"shape", NULL);
	reject("st offsets not a pair",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8,
			"pair", NULL);
	reject("st negative offset",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 8,
			"non-negative", NULL);
	reject("st offset beyond 2^63",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],"
			"\"data_offsets\":[0,99999999999999999999]}}", 8, "JSON", NULL);
	reject("st entry not an object", "{\"w\":7}", 0, "not an object", "\"w\"");
	reject("st metadata not strings", "{\"__metadata__\":{\"a\":1}}", 0, "__metadata__", NULL);
	reject("st metadata not an object", "{\"__metadata__\":[]}", 0, "__metadata__", NULL);
	reject("st duplicate keys",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
			"\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
			"JSON", NULL);
	reject("st NUL in a name",
			"{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
			"JSON", NULL);
	reject("st invalid UTF-8 in the header",
			"{\"\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
			"JSON", NULL);
	/* a dtype we know but cannot convert names itself */
	const char *f8 = "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}";
	b = img(f8, 4, &size);
	float o[4];
	CHECK(st_open_mem(&s, b, size, "f8", &e) == 0 &&
			st_read_f32(&s, &s.t[0], o, 4, &e) < 0 && strstr(e.msg, "F8_E4M3"),
			"st F8 tensor read as F32 names the dtype", "%s", e.msg);
	st_close(&s);
	free(b);
	/* gaps between tensors are tolerated (documented) */
	const char *gap = "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
		"\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]}}";
	b = img(gap, 8, &size);
	CHECK(st_open_mem(&s, b, size, "gap", &e) == 0 &&
			((const unsigned char *)st_find(&s, "b")->data)[0] == 4,
			"st gap between tensors tolerated", "%s", e.msg);
	st_close(&s);
	free(b);
}

/* Random byte flips of a valid file: never a crash, and every accepted file
 * keeps its tensors inside the image. */
static void test_mutations(void)
{
	const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
		"\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
		"\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[16,22]},"
		"\"c\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[24,32]}}";
	size_t size;
	unsigned char *ref = img(hdr, 32, &size), *b = malloc(size);
	uint32_t r = 42;
	int bad = 0, accepted = 0;

	for (int it = 0; it < 3000; it++) {
		memcpy(b, ref, size);
		int nflip = 1 + it % 4;
		for (int k = 0; k < nflip; k++) {
			r = r * 1664525u + 1013904223u;
			size_t pos = (r >> 8) % size;
			r = r * 1664525u + 1013904223u;
			b[pos] = (unsigned char)(r >> 24);
		}
		r = r * 1664525u + 1013904223u;
		size_t len = it % 5 == 0 ? (r >> 8) % (size + 1) : size;
		st s;
		an_err e = {0};
		if (st_open_mem(&s, b, len, "m", &e) == 0) {
			accepted++;
			for (size_t i = 0; i < s.n; i++) {
				const unsigned char *d = s.t[i].data;

				if (d < b || d + s.t[i].nbytes > b + len)
					bad++;
			}
			st_close(&s);
		} else if (!e.msg[0]) {
			bad++;
		}
	}
	CHECK(bad == 0 && accepted > 0, "st 3000 random mutations: no crash, data in bounds",
			"%d bad, %d accepted", bad, accepted);
	free(ref);
	free(b);
}

/* Files written by the Python safetensors library (tests/golden/ops). */
static void test_python_file(void)
{
	char p[4096];
	const char *root = getenv("ROOT");
	an_err e = {0};
	st s;

	snprintf(p, sizeof p, "%s/tests/golden/ops/rope_llama3.safetensors", root ? root : ".");
	if (st_open(&s, p, &e) < 0) {
		CHECK(0, "st reads a file written by Python safetensors", "%s", e.msg);
		return;
	}
	const st_tensor *t = st_find(&s, "cos");
	CHECK(t && t->dtype == ST_F32 && t->ndim == 2 && t->shape[1] == 64 &&
			st_meta(&s, NULL, "factor") && strcmp(st_meta(&s, NULL, "factor"), "32") == 0,
			"st reads a file written by Python safetensors", "bad");
	st_close(&s);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/test_st.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_roundtrip();
	test_sharded();
	test_corrupt();
	test_mutations();
	test_python_file();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return t_done();
}
