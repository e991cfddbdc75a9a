/* fuzz_rec.c: libFuzzer harness for the record reader (rec_reader_mem,
 * common/rec.c): msgpack and gzip streams of any shape must give records
 * or an error naming the record, never a crash, a hang or a leak.  Every
 * record read is also written back and read again. */
#include <stddef.h>
#include <stdint.h>

#include "rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t none[1];
	an_err e;
	rec r, r2;
	rec_reader *rd;
	rec_writer *w = rec_writer_mem(&e);
	int n = 0;

	/* libFuzzer may pass NULL for the empty input: keep the buffer real so
	 * the harness tests the reader, not the NULL case (which rec.c handles) */
	rd = rec_reader_mem(size ? (const void *)data : none, size, "fuzz", &e);
	if (!rd || !w) {
		if (rd)
			rec_reader_close(rd);
		if (w)
			rec_writer_close(w, &e);
		return 0;
	}
	rec_init(&r);
	rec_init(&r2);
	while (n++ < 10000 && rec_reader_next(rd, &r, &e) == 1) {
		const char *s;
		size_t len;
		const void *d;
		char where[256];

		rec_where(&r, where, sizeof where);
		rec_get_str(&r, F_ID, &s, &len, &e);
		rec_get_array(&r, F_ASM_ADDR, REC_DT_U64, &d, &len, &e);
		if (rec_copy(&r2, &r, &e) == 0)
			rec_write(w, &r2, &e);
	}
	rec_reader_close(rd);
	{
		size_t len;
		const void *buf = rec_writer_membuf(w, &len);
		rec_reader *rd2 = rec_reader_mem(buf ? buf : (const void *)none, len, "again", &e);

		if (rd2) {
			while (rec_reader_next(rd2, &r, &e) == 1)
				;
			rec_reader_close(rd2);
		}
	}
	rec_writer_close(w, &e);
	rec_free(&r);
	rec_free(&r2);
	return 0;
}
