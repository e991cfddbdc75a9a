/* Record layer: round trips, gzip, truncated / hostile / wrong-typed input. */
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include "rec.h"
#include "test.h"

/* Read every record of buf; returns records read, or -(n+1) on an error
 * after n records (message in e). */
static long read_all(const void *buf, size_t len, an_err *e)
{
	rec_reader *rd = rec_reader_mem(buf, len, "mem", e);
	rec r;
	long n = 0;
	int rc;

	rec_init(&r);
	while ((rc = rec_reader_next(rd, &r, e)) == 1)
		n++;
	rec_free(&r);
	rec_reader_close(rd);
	return rc < 0 ? -(n + 1) : n;
}

static void test_roundtrip(void)
{
	rec a, b;
	an_err e;
	rec_writer *w = rec_writer_mem(&e);
	rec_reader *rd;
	const void *buf;
	size_t len, n = 0;
	float emb[5] = { 1.5f, -2.0f, 0.0f, 3.25e-20f, 7.0f }, got[8];
	int32_t tok[3] = { 2, -7, 2147483647 }, tgot[3];
	uint64_t dims[2] = { 1, 5 }, gd[4];
	const char *asmv[2] = { "mov eax, 1", "ret" };
	const msgpack_object *sv;
	const char *s;
	uint64_t u;
	int64_t i64;
	double d;
	int nd;

	rec_init(&a);
	rec_init(&b);
	rec_set_str(&a, F_ID, "x.o:0x10", 8);
	rec_set_u64(&a, F_ADDR, 0x10);
	rec_set_i64(&a, "neg", -5);
	rec_set_f64(&a, "f", 0.25);
	rec_set_f32(&a, F_EMB, emb, 5);
	rec_set_shape(&a, F_EMB, dims, 2);
	rec_set_i32(&a, F_TOK, tok, 3);
	rec_set_strv(&a, F_ASM, asmv, NULL, 2);
	rec_set_str(&a, F_NAME, "old", 3);
	rec_set_str(&a, F_NAME, "main", 4);     /* replaces in place */
	rec_set_bool(&a, "gone", 1);
	rec_del(&a, "gone");
	CHECK(a.n == 9, "rec.set.count", "have %zu fields", a.n);
	for (int k = 0; k < 3; k++)
		CHECK(rec_write(w, &a, &e) == 0, "rec.write", "%s", e.msg);
	buf = rec_writer_membuf(w, &len);
	rd = rec_reader_mem(buf, len, "mem", &e);
	for (int k = 0; k < 3; k++) {
		int rc = rec_reader_next(rd, &b, &e);

		n += rc == 1;
		CHECK(rc == 1 && b.index == n, "rec.read.index", "rc %d index %llu", rc,
		      (unsigned long long)b.index);
	}
	CHECK(n == 3, "rec.read.count", "read %zu", n);
	CHECK(b.n == 9 && !strncmp(b.f[0].key, F_ID, 2) && !strncmp(b.f[8].key, F_NAME, 4),
	      "rec.read.order", "fields out of order");
	CHECK(rec_get_str(&b, F_NAME, &s, &len, &e) == 0 && len == 4 && !memcmp(s, "main", 4),
	      "rec.get.str", "%s", e.msg);
	CHECK(rec_get_u64(&b, F_ADDR, &u, &e) == 0 && u == 0x10, "rec.get.u64", "%s", e.msg);
	CHECK(rec_get_i64(&b, "neg", &i64, &e) == 0 && i64 == -5, "rec.get.i64", "%s", e.msg);
	CHECK(rec_get_f64(&b, "f", &d, &e) == 0 && d == 0.25, "rec.get.f64", "%s", e.msg);
	CHECK(rec_copy_f32(&b, F_EMB, got, 8, &n, &e) == 0 && n == 5 && !memcmp(got, emb, sizeof emb),
	      "rec.get.f32", "%s", e.msg);
	CHECK(rec_copy_i32(&b, F_TOK, tgot, 3, &n, &e) == 0 && !memcmp(tgot, tok, sizeof tok),
	      "rec.get.i32", "%s", e.msg);
	CHECK(rec_copy_f32(&b, F_EMB, got, 4, &n, &e) < 0 && strstr(e.msg, "at most 4"),
	      "rec.get.f32.cap", "no error for too many values");
	CHECK(rec_get_shape(&b, F_EMB, gd, 4, &nd, &e) == 0 && nd == 2 && gd[0] == 1 && gd[1] == 5,
	      "rec.get.shape", "%s", e.msg);
	CHECK(rec_get_strv(&b, F_ASM, &sv, &n, &e) == 0 && n == 2 && sv[1].via.str.size == 3,
	      "rec.get.strv", "%s", e.msg);
	/* wrong types and missing fields name the field */
	CHECK(rec_get_u64(&b, F_NAME, &u, &e) < 0 && strstr(e.msg, "\"name\": expected uint, got str"),
	      "rec.get.wrongtype", "message: %s", e.msg);
	CHECK(rec_get_str(&b, "nope", &s, &len, &e) < 0 && strstr(e.msg, "missing field \"nope\""),
	      "rec.get.missing", "message: %s", e.msg);
	CHECK(rec_get_u64(&b, "neg", &u, &e) < 0, "rec.get.neg_as_u64", "accepted");
	CHECK(rec_copy_f32(&b, F_NAME, got, 8, &n, &e) < 0 && strstr(e.msg, "expected bin"),
	      "rec.get.str_as_f32", "message: %s", e.msg);
	/* copies are independent of the source's buffers */
	rec_copy(&a, &b, &e);
	CHECK(rec_reader_next(rd, &b, &e) == 0 && b.n == 0, "rec.read.eof", "no clean end");
	CHECK(rec_get_str(&a, F_ID, &s, &len, &e) == 0 && len == 8 && !memcmp(s, "x.o:0x10", 8),
	      "rec.copy", "%s", e.msg);
	{
		char wb[128];

		a.index = 412;
		CHECK(!strcmp(rec_where(&a, wb, sizeof wb), "record 412 (id x.o:0x10)"), "rec.where",
		      "got %s", wb);
	}
	rec_reader_close(rd);
	rec_writer_close(w, &e);
	rec_free(&a);
	rec_free(&b);
}

static void expect_error(const char *name, const void *buf, size_t len, long after, const char *msg)
{
	an_err e = { 0 };
	long rc = read_all(buf, len, &e);

	CHECK(rc == -(after + 1) && strstr(e.msg, msg), name, "rc %ld, message \"%s\"", rc, e.msg);
}

static void test_bad_input(void)
{
	rec r;
	an_err e;
	rec_writer *w = rec_writer_mem(&e);
	const unsigned char *good;
	size_t glen;
	unsigned char buf[256];

	rec_init(&r);
	rec_set_str(&r, F_ID, "f:0x1", 5);
	rec_set_str(&r, F_NAME, "foo", 3);
	rec_write(w, &r, &e);
	rec_write(w, &r, &e);
	good = rec_writer_membuf(w, &glen);

	CHECK(read_all(good, 0, &e) == 0, "rec.empty", "empty stream is not zero records");
	/* a record kept in a batch names its input after the reader is gone */
	{
		rec_reader *rd = rec_reader_mem(good, glen, "first-input", &e);
		rec kept;

		rec_init(&kept);
		rec_reader_next(rd, &kept, &e);
		rec_reader_close(rd);
		rd = rec_reader_mem(good, glen, "other-input", &e);
		rec_reader_next(rd, &r, &e);
		CHECK(kept.src && !strcmp(kept.src, "first-input") && kept.src == kept.srcbuf &&
		      !strcmp(r.src, "other-input"), "rec.src.outlives_reader", "src \"%s\"",
		      kept.src ? kept.src : "(null)");
		rec_reader_close(rd);
		rec_free(&kept);
	}
	/* every cut inside the second record is reported as truncated, after one */
	{
		int ok = 1;

		for (size_t cut = glen / 2 + 1; cut < glen; cut++) {
			long rc = read_all(good, cut, &e);

			ok &= rc == -2 && strstr(e.msg, "record 2: truncated") != NULL;
		}
		CHECK(ok, "rec.truncated", "a cut record was not reported as truncated: %s", e.msg);
	}
	{
		static const unsigned char arr[] = { 0x92, 0x01, 0x02 };
		static const unsigned char intkey[] = { 0x81, 0x01, 0x02 };
		static const unsigned char dup[] = { 0x82, 0xa1, 'a', 0x01, 0xa1, 'a', 0x02 };
		static const unsigned char c1[] = { 0x81, 0xa1, 'a', 0xc1 };
		/* array32 claiming 4 billion elements, with 2 bytes behind it */
		static const unsigned char huge[] = { 0x81, 0xa1, 'a', 0xdd, 0xff, 0xff, 0xff, 0xff, 1, 2 };
		/* bin32 claiming 4 GiB */
		static const unsigned char bigbin[] = { 0x81, 0xa1, 'a', 0xc6, 0xff, 0xff, 0xff, 0xff, 0 };

		expect_error("rec.not_map", arr, sizeof arr, 0, "expected a map, got array");
		expect_error("rec.int_key", intkey, sizeof intkey, 0, "not a str");
		expect_error("rec.dup_key", dup, sizeof dup, 0, "given twice");
		expect_error("rec.byte_c1", c1, sizeof c1, 0, "0xc1");
		expect_error("rec.huge_count", huge, sizeof huge, 0, "truncated");
		expect_error("rec.huge_bin", bigbin, sizeof bigbin, 0, "record size limit");
	}
	/* 40 nested arrays exceed the depth limit */
	memset(buf, 0x91, 41);
	buf[0] = 0x81; buf[1] = 0xa1; buf[2] = 'a';
	buf[43] = 0x01;
	expect_error("rec.deep", buf, 44, 0, "nested deeper");
	/* a record larger than the limit is refused before it is buffered */
	{
		size_t saved = rec_max_bytes;
		unsigned char *big = calloc(1, 70000);

		big[0] = 0x81; big[1] = 0xa1; big[2] = 'a';
		big[3] = 0xc6; big[4] = 0; big[5] = 1; big[6] = 0x10; big[7] = 0;   /* bin32 of 69632 */
		rec_max_bytes = 4096;
		expect_error("rec.too_large", big, 70000, 0, "record size limit");
		rec_max_bytes = saved;
		free(big);
	}
	rec_writer_close(w, &e);
	rec_free(&r);
}

/* gzip on the wire: write through a gzip writer to a file, read it back. */
static void test_gzip(void)
{
	char path[] = "/tmp/test_rec_XXXXXX";
	int fd = mkstemp(path);
	an_err e;
	rec r;
	rec_writer *w;
	rec_reader *rd;
	long n = 0;
	int rc;
	unsigned char magic[2] = { 0 };

	rec_init(&r);
	w = rec_writer_fd(fd, 6, &e);
	for (int i = 0; i < 1000; i++) {
		rec_clear(&r);
		rec_set_u64(&r, F_ADDR, (uint64_t)i);
		rec_write(w, &r, &e);
	}
	CHECK(rec_writer_close(w, &e) == 0, "rec.gzip.write", "%s", e.msg);
	pread(fd, magic, 2, 0);
	close(fd);
	CHECK(magic[0] == 0x1f && magic[1] == 0x8b, "rec.gzip.magic", "not gzip");
	rd = rec_reader_open(path, &e);
	while ((rc = rec_reader_next(rd, &r, &e)) == 1) {
		uint64_t v;

		if (rec_get_u64(&r, F_ADDR, &v, &e) || v != (uint64_t)n)
			break;
		n++;
	}
	CHECK(rc == 0 && n == 1000, "rec.gzip.read", "read %ld, rc %d %s", n, rc, rc ? e.msg : "");
	rec_reader_close(rd);
	/* cut the gzip file short: an error, not a silent end */
	truncate(path, 40);
	rd = rec_reader_open(path, &e);
	n = 0;
	while ((rc = rec_reader_next(rd, &r, &e)) == 1)
		n++;
	CHECK(rc < 0, "rec.gzip.truncated", "read %ld records and no error", n);
	rec_reader_close(rd);
	unlink(path);
	CHECK(rec_reader_open("/nonexistent/x", &e) == NULL && strstr(e.msg, "No such file"),
	      "rec.open.missing", "message: %s", e.msg);
	rec_free(&r);
}

int main(void)
{
	test_roundtrip();
	test_bad_input();
	test_gzip();
	return t_done();
}
