/* rec.h: record streams (DESIGN §3), read and written.
 *
 * A stream is a sequence of msgpack maps with string keys, optionally
 * gzip-compressed (detected by its magic on input).  A `rec` is one map:
 * an ordered list of (key, value) pairs.  Values read from a stream point
 * into the record's own copy of its bytes, so a record stays valid until it
 * is read into again or freed, whatever happens to the reader; programs that
 * batch keep an array of recs.  Setting a field copies the data into the
 * record.  Unknown fields are carried through to the output untouched.
 *
 * Memory is bounded: one record may not exceed rec_max_bytes (256 MiB by
 * default, ASMNAME_MAX_RECORD in the environment), and a record's buffers are
 * reused from one record to the next.  Errors name the input, the record
 * number (1-based) and, where it can be read, the record's id. */
#ifndef ASMNAME_REC_H
#define ASMNAME_REC_H

#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "fields.h"

typedef struct rec_field {
	const char    *key;   /* not NUL-terminated */
	uint32_t       klen;
	msgpack_object val;
} rec_field;

typedef struct rec {
	rec_field     *f;
	size_t         n, cap;
	unsigned char *raw;      /* this record's bytes as read */
	size_t         rawlen, rawcap;
	msgpack_zone  *zone;     /* unpacked objects and values set since */
	uint64_t       index;    /* 1-based number in its input, 0 if built */
	const char    *src;      /* name of its input ("<stdin>"), or NULL if built */
	char          *srcbuf;   /* src's own copy: it outlives the reader */
	size_t         srccap;
} rec;

void rec_init(rec *r);
void rec_free(rec *r);
/* Forget every field; keep the buffers. */
void rec_clear(rec *r);
/* Make dst an independent deep copy of src. */
int  rec_copy(rec *dst, const rec *src, an_err *e);

/* "record 412 (id libc.a(memcpy.o):0x0)": for error messages. */
const char *rec_where(const rec *r, char *buf, size_t len);

/* --- reading fields ------------------------------------------------- */
const msgpack_object *rec_get(const rec *r, const char *key);
int rec_has(const rec *r, const char *key);
/* Each returns 0, or -1 with "field \"key\": ..." in e when the field is
 * missing or has another type. */
int rec_get_str(const rec *r, const char *key, const char **s, size_t *len, an_err *e);
int rec_get_u64(const rec *r, const char *key, uint64_t *v, an_err *e);
int rec_get_i64(const rec *r, const char *key, int64_t *v, an_err *e);
int rec_get_f64(const rec *r, const char *key, double *v, an_err *e);
/* A typed array: *data points at *n little-endian elements of the field's
 * dtype (fields.h), possibly unaligned; use the _copy forms for aligned
 * host values. */
int rec_get_bin(const rec *r, const char *key, const void **data, size_t *nbytes, an_err *e);
int rec_get_array(const rec *r, const char *key, enum rec_dtype dt,
		  const void **data, size_t *n, an_err *e);
/* Copy into dst, which holds cap elements; *n gets the count.  Error if the
 * field holds more than cap. */
int rec_copy_f32(const rec *r, const char *key, float *dst, size_t cap, size_t *n, an_err *e);
int rec_copy_i32(const rec *r, const char *key, int32_t *dst, size_t cap, size_t *n, an_err *e);
int rec_copy_u64(const rec *r, const char *key, uint64_t *dst, size_t cap, size_t *n, an_err *e);
/* The shape in "<key>_shape": up to maxdim dims; *ndim 0 when absent. */
int rec_get_shape(const rec *r, const char *key, uint64_t *dims, int maxdim, int *ndim, an_err *e);
/* An array of strings: *n elements; rec_strv_at gives element i. */
int rec_get_strv(const rec *r, const char *key, const msgpack_object **v, size_t *n, an_err *e);

/* --- setting fields (replace in place, or append) ------------------- */
int rec_set_str(rec *r, const char *key, const char *s, size_t len);
int rec_set_u64(rec *r, const char *key, uint64_t v);
int rec_set_i64(rec *r, const char *key, int64_t v);
int rec_set_f64(rec *r, const char *key, double v);
int rec_set_bool(rec *r, const char *key, int v);
int rec_set_bin(rec *r, const char *key, const void *data, size_t nbytes);
int rec_set_f32(rec *r, const char *key, const float *v, size_t n);
int rec_set_i32(rec *r, const char *key, const int32_t *v, size_t n);
int rec_set_u64v(rec *r, const char *key, const uint64_t *v, size_t n);
int rec_set_shape(rec *r, const char *key, const uint64_t *dims, int ndim);
/* Strings s[i] of length len[i] (len NULL: NUL-terminated). */
int rec_set_strv(rec *r, const char *key, const char *const *s, const size_t *len, size_t n);
/* Any msgpack value, deep-copied into the record. */
int rec_set_obj(rec *r, const char *key, const msgpack_object *v);
void rec_del(rec *r, const char *key);
/* Zone memory that lives as long as the record's current contents. */
void *rec_alloc(rec *r, size_t n);

/* --- streams -------------------------------------------------------- */
extern size_t rec_max_bytes;

typedef struct rec_reader rec_reader;
/* path "-" is stdin.  NULL with e set on failure. */
rec_reader *rec_reader_open(const char *path, an_err *e);
/* Read from bytes in memory (tests, fuzzing); the bytes are borrowed. */
rec_reader *rec_reader_mem(const void *buf, size_t len, const char *name, an_err *e);
/* 1: a record in r; 0: end of stream; -1: error (the stream cannot go on). */
int  rec_reader_next(rec_reader *rd, rec *r, an_err *e);
uint64_t rec_reader_count(const rec_reader *rd);
const char *rec_reader_name(const rec_reader *rd);
void rec_reader_close(rec_reader *rd);

typedef struct rec_writer rec_writer;
/* fd is borrowed (not closed); gzip_level 0 writes plain msgpack. */
rec_writer *rec_writer_fd(int fd, int gzip_level, an_err *e);
/* Append every record to a growing buffer (tests). */
rec_writer *rec_writer_mem(an_err *e);
const void *rec_writer_membuf(const rec_writer *w, size_t *len);
/* -1 on a write error; e->code is EPIPE when the reader went away. */
int  rec_write(rec_writer *w, const rec *r, an_err *e);
int  rec_writer_flush(rec_writer *w, an_err *e);
/* Flushes and frees; -1 if anything written was lost. */
int  rec_writer_close(rec_writer *w, an_err *e);

/* Pack one msgpack value (used by rec-dump's JSON reader).  */
int rec_pack_obj(msgpack_packer *pk, const msgpack_object *o);

#endif
