/* rec.c: record streams.  See rec.h.
 *
 * Reading finds the end of each msgpack map with a resumable scan that
 * allocates nothing (mp_scan), before msgpack-c unpacks it: a hostile count
 * ("array of 4 billion") can then never allocate more than the bytes that
 * actually arrived, and a record bigger than rec_max_bytes is refused before
 * it is buffered whole. */
#include "rec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

size_t rec_max_bytes = (size_t)256 << 20;

#define MP_MAX_DEPTH 32   /* msgpack-c's own unpack stack limit */

/* ------------------------------------------------------------------ */
/* records */

void rec_init(rec *r)
{
	memset(r, 0, sizeof *r);
}

void rec_free(rec *r)
{
	if (r->zone)
		msgpack_zone_free(r->zone);
	free(r->srcbuf);
	free(r->f);
	free(r->raw);
	memset(r, 0, sizeof *r);
}

static int rec_zone(rec *r)
{
	if (!r->zone && !(r->zone = msgpack_zone_new(8192)))
		return -1;
	return 0;
}

void rec_clear(rec *r)
{
	r->n = 0;
	r->rawlen = 0;
	r->index = 0;
	if (r->zone)
		msgpack_zone_clear(r->zone);
}

void *rec_alloc(rec *r, size_t n)
{
	if (rec_zone(r))
		return NULL;
	return msgpack_zone_malloc(r->zone, n ? n : 1);
}

/* Point r->src at the record's own copy of name, so that a record kept
 * in a batch still names its input after the reader has been closed. */
static void set_src(rec *r, const char *name)
{
	size_t n;

	if (!name) {
		r->src = NULL;
		return;
	}
	if (r->srcbuf && !strcmp(r->srcbuf, name)) {
		r->src = r->srcbuf;
		return;
	}
	n = strlen(name) + 1;
	if (n > r->srccap) {
		char *nb = realloc(r->srcbuf, n);

		if (!nb) {
			r->src = "?";
			return;
		}
		r->srcbuf = nb;
		r->srccap = n;
	}
	memcpy(r->srcbuf, name, n);
	r->src = r->srcbuf;
}

static int keyeq(const rec_field *f, const char *key, size_t klen)
{
	return f->klen == klen && (klen == 0 || !memcmp(f->key, key, klen));
}

static rec_field *rec_find(const rec *r, const char *key)
{
	size_t klen = strlen(key);

	for (size_t i = 0; i < r->n; i++)
		if (keyeq(&r->f[i], key, klen))
			return &r->f[i];
	return NULL;
}

const msgpack_object *rec_get(const rec *r, const char *key)
{
	rec_field *f = rec_find(r, key);

	return f ? &f->val : NULL;
}

int rec_has(const rec *r, const char *key)
{
	return rec_find(r, key) != NULL;
}

const char *rec_where(const rec *r, char *buf, size_t len)
{
	const msgpack_object *id = rec_get(r, F_ID);

	if (id && id->type == MSGPACK_OBJECT_STR)
		snprintf(buf, len, "record %llu (id %.*s)", (unsigned long long)r->index,
			 (int)(id->via.str.size > 200 ? 200 : id->via.str.size), id->via.str.ptr);
	else
		snprintf(buf, len, "record %llu", (unsigned long long)r->index);
	return buf;
}

static const char *type_name(msgpack_object_type t)
{
	switch (t) {
	case MSGPACK_OBJECT_NIL:              return "nil";
	case MSGPACK_OBJECT_BOOLEAN:          return "bool";
	case MSGPACK_OBJECT_POSITIVE_INTEGER: return "uint";
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "int";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:          return "float";
	case MSGPACK_OBJECT_STR:              return "str";
	case MSGPACK_OBJECT_ARRAY:            return "array";
	case MSGPACK_OBJECT_MAP:              return "map";
	case MSGPACK_OBJECT_BIN:              return "bin";
	case MSGPACK_OBJECT_EXT:              return "ext";
	}
	return "?";
}

static const msgpack_object *need(const rec *r, const char *key, msgpack_object_type t,
				  const char *want, an_err *e)
{
	const msgpack_object *o = rec_get(r, key);

	if (!o) {
		an_err_set(e, "missing field \"%s\"", key);
		return NULL;
	}
	if (o->type != t) {
		an_err_set(e, "field \"%s\": expected %s, got %s", key, want, type_name(o->type));
		return NULL;
	}
	return o;
}

int rec_get_str(const rec *r, const char *key, const char **s, size_t *len, an_err *e)
{
	const msgpack_object *o = need(r, key, MSGPACK_OBJECT_STR, "str", e);

	if (!o)
		return -1;
	*s = o->via.str.ptr;
	*len = o->via.str.size;
	return 0;
}

int rec_get_u64(const rec *r, const char *key, uint64_t *v, an_err *e)
{
	const msgpack_object *o = rec_get(r, key);

	if (!o) {
		an_err_set(e, "missing field \"%s\"", key);
		return -1;
	}
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		an_err_set(e, "field \"%s\": expected uint, got %s", key, type_name(o->type));
		return -1;
	}
	*v = o->via.u64;
	return 0;
}

int rec_get_i64(const rec *r, const char *key, int64_t *v, an_err *e)
{
	const msgpack_object *o = rec_get(r, key);

	if (!o) {
		an_err_set(e, "missing field \"%s\"", key);
		return -1;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*v = o->via.i64;
		return 0;
	}
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
		*v = (int64_t)o->via.u64;
		return 0;
	}
	an_err_set(e, "field \"%s\": expected int, got %s", key,
		   o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? "uint beyond int64" : type_name(o->type));
	return -1;
}

int rec_get_f64(const rec *r, const char *key, double *v, an_err *e)
{
	const msgpack_object *o = rec_get(r, key);

	if (!o) {
		an_err_set(e, "missing field \"%s\"", key);
		return -1;
	}
	switch (o->type) {
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:          *v = o->via.f64; return 0;
	case MSGPACK_OBJECT_POSITIVE_INTEGER: *v = (double)o->via.u64; return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: *v = (double)o->via.i64; return 0;
	default:
		an_err_set(e, "field \"%s\": expected number, got %s", key, type_name(o->type));
		return -1;
	}
}

int rec_get_bin(const rec *r, const char *key, const void **data, size_t *nbytes, an_err *e)
{
	const msgpack_object *o = need(r, key, MSGPACK_OBJECT_BIN, "bin", e);

	if (!o)
		return -1;
	*data = o->via.bin.ptr;
	*nbytes = o->via.bin.size;
	return 0;
}

static const char *dt_name(enum rec_dtype dt)
{
	switch (dt) {
	case REC_DT_F32: return "f32";
	case REC_DT_I32: return "i32";
	case REC_DT_U64: return "u64";
	default:         return "?";
	}
}

int rec_get_array(const rec *r, const char *key, enum rec_dtype dt,
		  const void **data, size_t *n, an_err *e)
{
	size_t nb, es = rec_dtype_size(dt);

	if (!es) {
		an_err_set(e, "field \"%s\": not a typed array", key);
		return -1;
	}
	if (rec_get_bin(r, key, data, &nb, e))
		return -1;
	if (nb % es) {
		an_err_set(e, "field \"%s\": %zu bytes is not a whole number of %s values",
			   key, nb, dt_name(dt));
		return -1;
	}
	*n = nb / es;
	return 0;
}

/* Little-endian bytes to host values; x86-64 and arm64 are both
 * little-endian, but the conversion keeps the format honest elsewhere. */
static int copy_le(const rec *r, const char *key, enum rec_dtype dt, void *dst,
		   size_t cap, size_t *n, an_err *e)
{
	const unsigned char *p;
	const void *d;
	size_t cnt, es = rec_dtype_size(dt);

	if (rec_get_array(r, key, dt, &d, &cnt, e))
		return -1;
	if (cnt > cap) {
		an_err_set(e, "field \"%s\": %zu values, at most %zu allowed", key, cnt, cap);
		return -1;
	}
	p = d;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(dst, p, cnt * es);
#else
	for (size_t i = 0; i < cnt; i++)
		for (size_t b = 0; b < es; b++)
			((unsigned char *)dst)[i * es + b] = p[i * es + es - 1 - b];
#endif
	*n = cnt;
	return 0;
}

int rec_copy_f32(const rec *r, const char *key, float *dst, size_t cap, size_t *n, an_err *e)
{
	return copy_le(r, key, REC_DT_F32, dst, cap, n, e);
}

int rec_copy_i32(const rec *r, const char *key, int32_t *dst, size_t cap, size_t *n, an_err *e)
{
	return copy_le(r, key, REC_DT_I32, dst, cap, n, e);
}

int rec_copy_u64(const rec *r, const char *key, uint64_t *dst, size_t cap, size_t *n, an_err *e)
{
	return copy_le(r, key, REC_DT_U64, dst, cap, n, e);
}

int rec_get_shape(const rec *r, const char *key, uint64_t *dims, int maxdim, int *ndim, an_err *e)
{
	char sk[128];
	const msgpack_object *o;

	snprintf(sk, sizeof sk, "%s_shape", key);
	*ndim = 0;
	if (!(o = rec_get(r, sk)))
		return 0;
	if (o->type != MSGPACK_OBJECT_ARRAY) {
		an_err_set(e, "field \"%s\": expected array of uint, got %s", sk, type_name(o->type));
		return -1;
	}
	if (o->via.array.size > (uint32_t)maxdim) {
		an_err_set(e, "field \"%s\": %u dimensions, at most %d allowed", sk,
			   o->via.array.size, maxdim);
		return -1;
	}
	for (uint32_t i = 0; i < o->via.array.size; i++) {
		if (o->via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
			an_err_set(e, "field \"%s\": element %u is not a uint", sk, i);
			return -1;
		}
		dims[i] = o->via.array.ptr[i].via.u64;
	}
	*ndim = (int)o->via.array.size;
	return 0;
}

int rec_get_strv(const rec *r, const char *key, const msgpack_object **v, size_t *n, an_err *e)
{
	const msgpack_object *o = need(r, key, MSGPACK_OBJECT_ARRAY, "array of str", e);

	if (!o)
		return -1;
	for (uint32_t i = 0; i < o->via.array.size; i++)
		if (o->via.array.ptr[i].type != MSGPACK_OBJECT_STR) {
			an_err_set(e, "field \"%s\": element %u: expected str, got %s", key, i,
				   type_name(o->via.array.ptr[i].type));
			return -1;
		}
	*v = o->via.array.ptr;
	*n = o->via.array.size;
	return 0;
}

/* ------------------------------------------------------------------ */
/* setting */

static msgpack_object *slot(rec *r, const char *key)
{
	rec_field *f = rec_find(r, key);
	size_t klen = strlen(key);
	char *k;

	if (f)
		return &f->val;
	if (r->n == r->cap) {
		size_t nc = r->cap ? 2 * r->cap : 16;
		rec_field *nf = realloc(r->f, nc * sizeof *nf);

		if (!nf)
			return NULL;
		r->f = nf;
		r->cap = nc;
	}
	if (!(k = rec_alloc(r, klen)))
		return NULL;
	memcpy(k, key, klen);
	f = &r->f[r->n++];
	f->key = k;
	f->klen = (uint32_t)klen;
	return &f->val;
}

static void *dup_bytes(rec *r, const void *p, size_t n)
{
	void *d = rec_alloc(r, n);

	if (d && n)
		memcpy(d, p, n);
	return d;
}

int rec_set_str(rec *r, const char *key, const char *s, size_t len)
{
	msgpack_object *o;
	char *d;

	if (len > UINT32_MAX || !(d = dup_bytes(r, s, len)) || !(o = slot(r, key)))
		return -1;
	o->type = MSGPACK_OBJECT_STR;
	o->via.str.ptr = d;
	o->via.str.size = (uint32_t)len;
	return 0;
}

int rec_set_u64(rec *r, const char *key, uint64_t v)
{
	msgpack_object *o = slot(r, key);

	if (!o)
		return -1;
	o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
	o->via.u64 = v;
	return 0;
}

int rec_set_i64(rec *r, const char *key, int64_t v)
{
	msgpack_object *o;

	if (v >= 0)
		return rec_set_u64(r, key, (uint64_t)v);
	if (!(o = slot(r, key)))
		return -1;
	o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
	o->via.i64 = v;
	return 0;
}

int rec_set_f64(rec *r, const char *key, double v)
{
	msgpack_object *o = slot(r, key);

	if (!o)
		return -1;
	o->type = MSGPACK_OBJECT_FLOAT64;
	o->via.f64 = v;
	return 0;
}

int rec_set_bool(rec *r, const char *key, int v)
{
	msgpack_object *o = slot(r, key);

	if (!o)
		return -1;
	o->type = MSGPACK_OBJECT_BOOLEAN;
	o->via.boolean = v != 0;
	return 0;
}

int rec_set_bin(rec *r, const char *key, const void *data, size_t nbytes)
{
	msgpack_object *o;
	void *d;

	if (nbytes > UINT32_MAX || !(d = dup_bytes(r, data, nbytes)) || !(o = slot(r, key)))
		return -1;
	o->type = MSGPACK_OBJECT_BIN;
	o->via.bin.ptr = d;
	o->via.bin.size = (uint32_t)nbytes;
	return 0;
}

static int set_le(rec *r, const char *key, const void *v, size_t n, size_t es)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return rec_set_bin(r, key, v, n * es);
#else
	unsigned char *d;
	msgpack_object *o;

	if (n * es > UINT32_MAX || !(d = rec_alloc(r, n * es)) || !(o = slot(r, key)))
		return -1;
	for (size_t i = 0; i < n; i++)
		for (size_t b = 0; b < es; b++)
			d[i * es + b] = ((const unsigned char *)v)[i * es + es - 1 - b];
	o->type = MSGPACK_OBJECT_BIN;
	o->via.bin.ptr = (const char *)d;
	o->via.bin.size = (uint32_t)(n * es);
	return 0;
#endif
}

int rec_set_f32(rec *r, const char *key, const float *v, size_t n)    { return set_le(r, key, v, n, 4); }
int rec_set_i32(rec *r, const char *key, const int32_t *v, size_t n)  { return set_le(r, key, v, n, 4); }
int rec_set_u64v(rec *r, const char *key, const uint64_t *v, size_t n) { return set_le(r, key, v, n, 8); }

int rec_set_shape(rec *r, const char *key, const uint64_t *dims, int ndim)
{
	char sk[128];
	msgpack_object *o, *a;

	if (ndim < 0 || !(a = rec_alloc(r, (size_t)ndim * sizeof *a)))
		return -1;
	for (int i = 0; i < ndim; i++) {
		a[i].type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		a[i].via.u64 = dims[i];
	}
	snprintf(sk, sizeof sk, "%s_shape", key);
	if (!(o = slot(r, sk)))
		return -1;
	o->type = MSGPACK_OBJECT_ARRAY;
	o->via.array.ptr = a;
	o->via.array.size = (uint32_t)ndim;
	return 0;
}

int rec_set_strv(rec *r, const char *key, const char *const *s, const size_t *len, size_t n)
{
	msgpack_object *o, *a;

	if (n > UINT32_MAX || !(a = rec_alloc(r, n * sizeof *a)))
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t l = len ? len[i] : strlen(s[i]);
		char *d = dup_bytes(r, s[i], l);

		if (!d || l > UINT32_MAX)
			return -1;
		a[i].type = MSGPACK_OBJECT_STR;
		a[i].via.str.ptr = d;
		a[i].via.str.size = (uint32_t)l;
	}
	if (!(o = slot(r, key)))
		return -1;
	o->type = MSGPACK_OBJECT_ARRAY;
	o->via.array.ptr = a;
	o->via.array.size = (uint32_t)n;
	return 0;
}

static int deep_copy(rec *r, msgpack_object *dst, const msgpack_object *src)
{
	*dst = *src;
	switch (src->type) {
	case MSGPACK_OBJECT_STR:
		if (!(dst->via.str.ptr = dup_bytes(r, src->via.str.ptr, src->via.str.size)))
			return -1;
		break;
	case MSGPACK_OBJECT_BIN:
		if (!(dst->via.bin.ptr = dup_bytes(r, src->via.bin.ptr, src->via.bin.size)))
			return -1;
		break;
	case MSGPACK_OBJECT_EXT:
		if (!(dst->via.ext.ptr = dup_bytes(r, src->via.ext.ptr, src->via.ext.size)))
			return -1;
		break;
	case MSGPACK_OBJECT_ARRAY: {
		msgpack_object *a = rec_alloc(r, src->via.array.size * sizeof *a);

		if (!a)
			return -1;
		for (uint32_t i = 0; i < src->via.array.size; i++)
			if (deep_copy(r, &a[i], &src->via.array.ptr[i]))
				return -1;
		dst->via.array.ptr = a;
		break;
	}
	case MSGPACK_OBJECT_MAP: {
		msgpack_object_kv *kv = rec_alloc(r, src->via.map.size * sizeof *kv);

		if (!kv)
			return -1;
		for (uint32_t i = 0; i < src->via.map.size; i++)
			if (deep_copy(r, &kv[i].key, &src->via.map.ptr[i].key) ||
			    deep_copy(r, &kv[i].val, &src->via.map.ptr[i].val))
				return -1;
		dst->via.map.ptr = kv;
		break;
	}
	default:
		break;
	}
	return 0;
}

int rec_set_obj(rec *r, const char *key, const msgpack_object *v)
{
	msgpack_object tmp, *o;

	if (deep_copy(r, &tmp, v) || !(o = slot(r, key)))
		return -1;
	*o = tmp;
	return 0;
}

void rec_del(rec *r, const char *key)
{
	rec_field *f = rec_find(r, key);

	if (!f)
		return;
	memmove(f, f + 1, (size_t)(r->f + r->n - (f + 1)) * sizeof *f);
	r->n--;
}

/* ------------------------------------------------------------------ */
/* scanning msgpack without allocating */

typedef struct mp_scan {
	size_t   pos;                   /* bytes consumed so far */
	int      depth;                 /* -1 when idle */
	uint64_t left[MP_MAX_DEPTH + 1];
} mp_scan;

static uint64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Advance over complete values in p[0..len).  1: one whole value ends at
 * s->pos; 0: needs more bytes; -1: not msgpack (*why says so). */
static int mp_scan_step(mp_scan *s, const unsigned char *p, size_t len, const char **why)
{
	if (s->depth < 0) {
		s->depth = 0;
		s->left[0] = 1;
		s->pos = 0;
	}
	for (;;) {
		uint64_t body = 0, kids = 0;
		size_t hdr = 1;
		unsigned b;

		while (s->depth >= 0 && s->left[s->depth] == 0)
			s->depth--;
		if (s->depth < 0)
			return 1;
		if (s->pos >= len)
			return 0;
		b = p[s->pos];
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
			/* fixint, nil, bool */
		} else if (b <= 0x8f) {
			kids = 2 * (uint64_t)(b & 0x0f);
		} else if (b <= 0x9f) {
			kids = b & 0x0f;
		} else if (b <= 0xbf) {
			body = b & 0x1f;
		} else if (b == 0xc1) {
			*why = "byte 0xc1 is never used in msgpack";
			return -1;
		} else {
			/* 0xc4..0xdf: the size field follows the type byte */
			static const signed char szlen[32] = {
				/* c4 c5 c6 bin */ 1, 2, 4, /* c7 c8 c9 ext */ 1, 2, 4,
				/* ca cb float */ 0, 0, /* cc..cf uint */ 0, 0, 0, 0,
				/* d0..d3 int */ 0, 0, 0, 0, /* d4..d8 fixext */ 0, 0, 0, 0, 0,
				/* d9 da db str */ 1, 2, 4, /* dc dd array */ 2, 4, /* de df map */ 2, 4,
			};
			static const unsigned char fixed[32] = {
				0, 0, 0, 0, 0, 0, 4, 8, 1, 2, 4, 8, 1, 2, 4, 8, 2, 3, 5, 9, 17,
				0, 0, 0, 0, 0, 0, 0,
			};
			unsigned t = b - 0xc4;
			int sl = szlen[t];

			if (sl) {
				uint64_t n;

				if (len - s->pos < 1 + (size_t)sl)
					return 0;
				n = be(p + s->pos + 1, sl);
				hdr = 1 + (size_t)sl;
				if (b >= 0xc7 && b <= 0xc9)
					body = n + 1;           /* ext type byte */
				else if (b == 0xdc || b == 0xdd)
					kids = n;
				else if (b == 0xde || b == 0xdf)
					kids = 2 * n;
				else
					body = n;
			} else {
				body = fixed[t];
			}
		}
		if (len - s->pos < hdr || body > len - s->pos - hdr) {
			/* not all here yet; the caller bounds the total size */
			if (body > (uint64_t)rec_max_bytes) {
				*why = "value larger than the record size limit";
				return -1;
			}
			return 0;
		}
		s->left[s->depth]--;
		s->pos += hdr + (size_t)body;
		if (kids) {
			if (s->depth == MP_MAX_DEPTH) {
				*why = "nested deeper than 32 levels";
				return -1;
			}
			s->left[++s->depth] = kids;
		}
	}
}

/* ------------------------------------------------------------------ */
/* reader */

struct rec_reader {
	char          *name;
	gzFile         gz;          /* NULL for memory */
	const unsigned char *mem;
	size_t         memlen, memoff;
	unsigned char *buf;
	size_t         beg, end, cap;
	int            eof;
	uint64_t       count;       /* records returned */
	uint64_t       offset;      /* stream offset of buf[beg] */
	mp_scan        scan;
};

static rec_reader *reader_new(const char *name, an_err *e)
{
	rec_reader *rd = calloc(1, sizeof *rd);

	if (!rd || !(rd->name = strdup(name)) || !(rd->buf = malloc(rd->cap = 1 << 16))) {
		if (rd)
			free(rd->name);
		free(rd);
		an_err_set(e, "%s: out of memory", name);
		return NULL;
	}
	rd->scan.depth = -1;
	return rd;
}

rec_reader *rec_reader_open(const char *path, an_err *e)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : dup(0);
	rec_reader *rd;
	const char *env = getenv("ASMNAME_MAX_RECORD");

	if (env && *env) {
		char *end;
		unsigned long long v = strtoull(env, &end, 10);

		if (*end == 0 && v >= 1024)
			rec_max_bytes = (size_t)v;
	}
	if (fd < 0) {
		an_err_sys(e, "%s", path);
		return NULL;
	}
	if (!(rd = reader_new(strcmp(path, "-") ? path : "<stdin>", e))) {
		close(fd);
		return NULL;
	}
	if (!(rd->gz = gzdopen(fd, "rb"))) {
		close(fd);
		an_err_set(e, "%s: cannot open stream", path);
		rec_reader_close(rd);
		return NULL;
	}
	gzbuffer(rd->gz, 1 << 17);
	return rd;
}

rec_reader *rec_reader_mem(const void *buf, size_t len, const char *name, an_err *e)
{
	rec_reader *rd = reader_new(name, e);

	if (rd) {
		rd->mem = buf;
		rd->memlen = len;
	}
	return rd;
}

void rec_reader_close(rec_reader *rd)
{
	if (!rd)
		return;
	if (rd->gz)
		gzclose(rd->gz);
	free(rd->buf);
	free(rd->name);
	free(rd);
}

uint64_t rec_reader_count(const rec_reader *rd) { return rd->count; }
const char *rec_reader_name(const rec_reader *rd) { return rd->name; }

/* Read more bytes after buf[end]; 0 ok (maybe eof set), -1 error. */
static int fill(rec_reader *rd, an_err *e)
{
	size_t room;

	if (rd->beg > 0) {
		memmove(rd->buf, rd->buf + rd->beg, rd->end - rd->beg);
		rd->end -= rd->beg;
		rd->offset += rd->beg;
		rd->beg = 0;
	}
	if (rd->end == rd->cap) {
		size_t nc = rd->cap * 2;
		unsigned char *nb;

		if (nc > rec_max_bytes + (1 << 16))
			nc = rec_max_bytes + (1 << 16);
		if (nc <= rd->cap || !(nb = realloc(rd->buf, nc))) {
			an_err_set(e, "out of memory for a record of %zu bytes", rd->cap);
			return -1;
		}
		rd->buf = nb;
		rd->cap = nc;
	}
	room = rd->cap - rd->end;
	if (rd->gz) {
		int got = gzread(rd->gz, rd->buf + rd->end, room > INT_MAX ? INT_MAX : (unsigned)room);

		if (got < 0) {
			int zerr;
			const char *m = gzerror(rd->gz, &zerr);

			if (zerr == Z_ERRNO)
				an_err_sys(e, "read error");
			else
				an_err_set(e, "gzip stream: %s", m);
			return -1;
		}
		if (got == 0) {
			/* gzread also returns 0 for a gzip stream cut short */
			int zerr;
			const char *m = gzerror(rd->gz, &zerr);

			if (zerr != Z_OK && zerr != Z_BUF_ERROR) {
				an_err_set(e, "gzip stream: %s", m);
				return -1;
			}
			if (zerr == Z_BUF_ERROR) {
				an_err_set(e, "gzip stream: unexpected end of file");
				return -1;
			}
			rd->eof = 1;
		}
		rd->end += (size_t)got;
	} else {
		size_t n = rd->memlen - rd->memoff;

		if (n > room)
			n = room;
		if (n)
			memcpy(rd->buf + rd->end, rd->mem + rd->memoff, n);
		rd->memoff += n;
		rd->end += n;
		if (n == 0)
			rd->eof = 1;
	}
	return 0;
}

static int unpack_into(rec *r, an_err *e)
{
	msgpack_object top;
	size_t off = 0;
	int rc;

	if (rec_zone(r)) {
		an_err_set(e, "out of memory");
		return -1;
	}
	rc = msgpack_unpack((const char *)r->raw, r->rawlen, &off, r->zone, &top);
	if (rc != MSGPACK_UNPACK_SUCCESS || off != r->rawlen) {
		an_err_set(e, rc == MSGPACK_UNPACK_NOMEM_ERROR ? "out of memory" : "malformed msgpack");
		return -1;
	}
	if (top.type != MSGPACK_OBJECT_MAP) {
		an_err_set(e, "expected a map, got %s", type_name(top.type));
		return -1;
	}
	if (top.via.map.size > r->cap) {
		rec_field *nf = realloc(r->f, top.via.map.size * sizeof *nf);

		if (!nf) {
			an_err_set(e, "out of memory");
			return -1;
		}
		r->f = nf;
		r->cap = top.via.map.size;
	}
	for (uint32_t i = 0; i < top.via.map.size; i++) {
		const msgpack_object_kv *kv = &top.via.map.ptr[i];

		if (kv->key.type != MSGPACK_OBJECT_STR) {
			an_err_set(e, "key %u is a %s, not a str", i, type_name(kv->key.type));
			return -1;
		}
		for (size_t j = 0; j < r->n; j++)
			if (keyeq(&r->f[j], kv->key.via.str.ptr, kv->key.via.str.size)) {
				an_err_set(e, "field \"%.*s\" given twice",
					   (int)(kv->key.via.str.size > 100 ? 100 : kv->key.via.str.size),
					   kv->key.via.str.ptr);
				return -1;
			}
		r->f[r->n].key = kv->key.via.str.ptr;
		r->f[r->n].klen = kv->key.via.str.size;
		r->f[r->n].val = kv->val;
		r->n++;
	}
	return 0;
}

int rec_reader_next(rec_reader *rd, rec *r, an_err *e)
{
	const char *why = NULL;

	rec_clear(r);
	for (;;) {
		int rc = mp_scan_step(&rd->scan, rd->buf + rd->beg, rd->end - rd->beg, &why);

		if (rc == 1)
			break;
		if (rc < 0) {
			an_err_set(e, "%s: record %llu: not msgpack at byte %llu: %s", rd->name,
				   (unsigned long long)rd->count + 1,
				   (unsigned long long)(rd->offset + rd->beg + rd->scan.pos), why);
			return -1;
		}
		if (rd->end - rd->beg > rec_max_bytes) {
			an_err_set(e, "%s: record %llu: larger than %zu bytes (ASMNAME_MAX_RECORD)",
				   rd->name, (unsigned long long)rd->count + 1, rec_max_bytes);
			return -1;
		}
		if (rd->eof) {
			if (rd->end == rd->beg)
				return 0;
			an_err_set(e, "%s: record %llu: truncated: stream ends %zu bytes into it",
				   rd->name, (unsigned long long)rd->count + 1, rd->end - rd->beg);
			return -1;
		}
		if (fill(rd, e)) {
			an_err_prefix(e, "%s: record %llu", rd->name, (unsigned long long)rd->count + 1);
			return -1;
		}
	}
	if (rd->scan.pos > r->rawcap) {
		unsigned char *nr = realloc(r->raw, rd->scan.pos);

		if (!nr) {
			an_err_set(e, "%s: out of memory", rd->name);
			return -1;
		}
		r->raw = nr;
		r->rawcap = rd->scan.pos;
	}
	memcpy(r->raw, rd->buf + rd->beg, rd->scan.pos);
	r->rawlen = rd->scan.pos;
	rd->beg += rd->scan.pos;
	rd->scan.depth = -1;
	rd->count++;
	r->index = rd->count;
	set_src(r, rd->name);
	if (unpack_into(r, e)) {
		an_err_prefix(e, "%s: record %llu", rd->name, (unsigned long long)rd->count);
		rec_clear(r);
		return -1;
	}
	return 1;
}

int rec_copy(rec *dst, const rec *src, an_err *e)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, src->n);
	for (size_t i = 0; i < src->n; i++) {
		msgpack_pack_str(&pk, src->f[i].klen);
		msgpack_pack_str_body(&pk, src->f[i].key, src->f[i].klen);
		rec_pack_obj(&pk, &src->f[i].val);
	}
	rec_clear(dst);
	if (sb.size > dst->rawcap) {
		unsigned char *nr = realloc(dst->raw, sb.size);

		if (!nr) {
			an_err_set(e, "out of memory");
			rc = -1;
			goto out;
		}
		dst->raw = nr;
		dst->rawcap = sb.size;
	}
	memcpy(dst->raw, sb.data, sb.size);
	dst->rawlen = sb.size;
	dst->index = src->index;
	set_src(dst, src->src);
	rc = unpack_into(dst, e);
out:
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* ------------------------------------------------------------------ */
/* writer */

struct rec_writer {
	int             fd;
	gzFile          gz;
	int             mem;
	msgpack_sbuffer sb;
	msgpack_packer  pk;
	int             failed;
};

int rec_pack_obj(msgpack_packer *pk, const msgpack_object *o)
{
	return msgpack_pack_object(pk, *o);
}

rec_writer *rec_writer_fd(int fd, int gzip_level, an_err *e)
{
	rec_writer *w = calloc(1, sizeof *w);

	if (!w) {
		an_err_set(e, "out of memory");
		return NULL;
	}
	w->fd = fd;
	if (gzip_level > 0) {
		char mode[8];
		int d = dup(fd);

		snprintf(mode, sizeof mode, "wb%d", gzip_level > 9 ? 9 : gzip_level);
		if (d < 0 || !(w->gz = gzdopen(d, mode))) {
			if (d >= 0)
				close(d);
			an_err_set(e, "cannot start gzip output");
			free(w);
			return NULL;
		}
	}
	msgpack_sbuffer_init(&w->sb);
	msgpack_packer_init(&w->pk, &w->sb, msgpack_sbuffer_write);
	return w;
}

rec_writer *rec_writer_mem(an_err *e)
{
	rec_writer *w = rec_writer_fd(-1, 0, e);

	if (w)
		w->mem = 1;
	return w;
}

const void *rec_writer_membuf(const rec_writer *w, size_t *len)
{
	*len = w->sb.size;
	return w->sb.data;
}

int rec_writer_flush(rec_writer *w, an_err *e)
{
	size_t off = 0;

	if (w->mem)
		return 0;
	if (w->failed) {
		an_err_set(e, "earlier write failed");
		return -1;
	}
	if (w->gz) {
		while (off < w->sb.size) {
			size_t n = w->sb.size - off;
			int put = gzwrite(w->gz, w->sb.data + off, n > INT_MAX ? INT_MAX : (unsigned)n);

			if (put <= 0) {
				int zerr;
				const char *m = gzerror(w->gz, &zerr);

				w->failed = 1;
				if (zerr == Z_ERRNO)
					an_err_sys(e, "write error");
				else
					an_err_set(e, "gzip: %s", m);
				return -1;
			}
			off += (size_t)put;
		}
	} else {
		while (off < w->sb.size) {
			ssize_t put = write(w->fd, w->sb.data + off, w->sb.size - off);

			if (put < 0 && errno == EINTR)
				continue;
			if (put <= 0) {
				w->failed = 1;
				an_err_sys(e, "write error");
				return -1;
			}
			off += (size_t)put;
		}
	}
	msgpack_sbuffer_clear(&w->sb);
	return 0;
}

int rec_write(rec_writer *w, const rec *r, an_err *e)
{
	if (msgpack_pack_map(&w->pk, r->n)) {
		an_err_set(e, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < r->n; i++)
		if (msgpack_pack_str(&w->pk, r->f[i].klen) ||
		    msgpack_pack_str_body(&w->pk, r->f[i].key, r->f[i].klen) ||
		    rec_pack_obj(&w->pk, &r->f[i].val)) {
			an_err_set(e, "out of memory");
			return -1;
		}
	if (!w->mem && w->sb.size >= (1 << 16))
		return rec_writer_flush(w, e);
	return 0;
}

int rec_writer_close(rec_writer *w, an_err *e)
{
	int rc = 0;

	if (!w)
		return 0;
	if (rec_writer_flush(w, e))
		rc = -1;
	if (w->gz) {
		int zr = gzclose(w->gz);

		if (zr != Z_OK && rc == 0) {
			if (zr == Z_ERRNO)
				an_err_sys(e, "write error");
			else
				an_err_set(e, "gzip: close failed (%d)", zr);
			rc = -1;
		}
	}
	msgpack_sbuffer_destroy(&w->sb);
	free(w);
	return rc;
}
