/* st.c: safetensors reading (validated, memory-mapped, sharded) and writing. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "half.h"
#include "st.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "st.c reads little-endian data in place: port the copy-outs first"
#endif

static const struct { const char *name; size_t size; } dtypes[ST_NDTYPE] = {
	[ST_BOOL] = {"BOOL", 1}, [ST_U8] = {"U8", 1}, [ST_I8] = {"I8", 1},
	[ST_F8_E5M2] = {"F8_E5M2", 1}, [ST_F8_E4M3] = {"F8_E4M3", 1},
	[ST_I16] = {"I16", 2}, [ST_U16] = {"U16", 2}, [ST_F16] = {"F16", 2},
	[ST_BF16] = {"BF16", 2}, [ST_I32] = {"I32", 4}, [ST_U32] = {"U32", 4},
	[ST_F32] = {"F32", 4}, [ST_F64] = {"F64", 8}, [ST_I64] = {"I64", 8},
	[ST_U64] = {"U64", 8},
};

const char *st_dtype_name(st_dtype t)
{
	return (unsigned)t < ST_NDTYPE ? dtypes[t].name : "?";
}

size_t st_dtype_size(st_dtype t)
{
	return (unsigned)t < ST_NDTYPE ? dtypes[t].size : 0;
}

int st_dtype_parse(const char *name)
{
	for (int i = 0; i < ST_NDTYPE; i++)
		if (strcmp(name, dtypes[i].name) == 0)
			return i;
	return -1;
}

/* ------------------------------------------------------------- reading */

static void st_reset(st *s)
{
	memset(s, 0, sizeof *s);
}

void st_close(st *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nfiles; i++) {
		st_file *f = &s->files[i];

		if (f->mapped && f->map)
			munmap(f->map, f->size);
		for (size_t k = 0; k < 2 * f->nmeta; k++)
			free(f->meta[k]);
		free(f->meta);
		free(f->path);
	}
	for (size_t i = 0; i < s->n; i++)
		free(s->t[i].name);
	free(s->files);
	free(s->t);
	st_reset(s);
}

static st_file *add_file(st *s, const char *path, an_err *e)
{
	st_file *nf = realloc(s->files, (s->nfiles + 1) * sizeof *nf);

	if (!nf) {
		an_err_sys(e, "%s", path);
		return NULL;
	}
	s->files = nf;
	st_file *f = &s->files[s->nfiles];
	memset(f, 0, sizeof *f);
	if (!(f->path = strdup(path))) {
		an_err_sys(e, "%s", path);
		return NULL;
	}
	s->nfiles++;
	return f;
}

/* A non-negative JSON integer, or -1. */
static int64_t json_nonneg(const json_t *v)
{
	if (!json_is_integer(v))
		return -1;
	json_int_t x = json_integer_value(v);
	return x < 0 ? -1 : (int64_t)x;
}

static int cmp_begin(const void *a, const void *b)
{
	const st_tensor *x = *(st_tensor *const *)a, *y = *(st_tensor *const *)b;
	const char *px = x->data, *py = y->data;

	if (px != py)
		return px < py ? -1 : 1;
	/* same start: the empty one first, so that it cannot hide an overlap */
	return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static int parse_meta(st_file *f, json_t *m, an_err *e)
{
	const char *k;
	json_t *v;

	if (!json_is_object(m)) {
		an_err_set(e, "%s: __metadata__ is not an object", f->path);
		return -1;
	}
	size_t n = json_object_size(m);
	if (!(f->meta = calloc(2 * n + 1, sizeof *f->meta))) {
		an_err_sys(e, "%s", f->path);
		return -1;
	}
	json_object_foreach(m, k, v) {
		if (!json_is_string(v)) {
			an_err_set(e, "%s: __metadata__ \"%s\": value is not a string", f->path, k);
			return -1;
		}
		f->meta[2 * f->nmeta] = strdup(k);
		f->meta[2 * f->nmeta + 1] = strdup(json_string_value(v));
		f->nmeta++;
		if (!f->meta[2 * f->nmeta - 2] || !f->meta[2 * f->nmeta - 1]) {
			an_err_sys(e, "%s", f->path);
			return -1;
		}
	}
	return 0;
}

/* Validate one tensor entry; fill t (its name is set by the caller). */
static int parse_entry(const st_file *f, const char *name, json_t *v, const unsigned char *data,
		uint64_t datalen, st_tensor *t, an_err *e)
{
	if (!json_is_object(v)) {
		an_err_set(e, "%s: tensor \"%s\": entry is not an object", f->path, name);
		return -1;
	}
	json_t *dt = json_object_get(v, "dtype");
	json_t *sh = json_object_get(v, "shape");
	json_t *off = json_object_get(v, "data_offsets");
	if (!json_is_string(dt)) {
		an_err_set(e, "%s: tensor \"%s\": missing or non-string \"dtype\"", f->path, name);
		return -1;
	}
	int d = st_dtype_parse(json_string_value(dt));
	if (d < 0) {
		an_err_set(e, "%s: tensor \"%s\": unknown dtype \"%.32s\"", f->path, name,
				json_string_value(dt));
		return -1;
	}
	t->dtype = (st_dtype)d;
	if (!json_is_array(sh)) {
		an_err_set(e, "%s: tensor \"%s\": missing or non-array \"shape\"", f->path, name);
		return -1;
	}
	size_t nd = json_array_size(sh);
	if (nd > ST_MAX_DIM) {
		an_err_set(e, "%s: tensor \"%s\": %zu dimensions (at most %d)", f->path, name, nd,
				ST_MAX_DIM);
		return -1;
	}
	t->ndim = (int)nd;
	uint64_t numel = 1;
	for (size_t i = 0; i < nd; i++) {
		int64_t x = json_nonneg(json_array_get(sh, i));

		if (x < 0) {
			an_err_set(e, "%s: tensor \"%s\": shape[%zu] is not a non-negative integer",
					f->path, name, i);
			return -1;
		}
		t->shape[i] = x;
		if (__builtin_mul_overflow(numel, (uint64_t)x, &numel)) {
			an_err_set(e, "%s: tensor \"%s\": shape product overflows", f->path, name);
			return -1;
		}
	}
	t->numel = numel;
	if (__builtin_mul_overflow(numel, (uint64_t)st_dtype_size(t->dtype), &t->nbytes)) {
		an_err_set(e, "%s: tensor \"%s\": byte size overflows", f->path, name);
		return -1;
	}
	if (!json_is_array(off) || json_array_size(off) != 2) {
		an_err_set(e, "%s: tensor \"%s\": \"data_offsets\" is not a pair", f->path, name);
		return -1;
	}
	int64_t b = json_nonneg(json_array_get(off, 0)), en = json_nonneg(json_array_get(off, 1));
	if (b < 0 || en < 0) {
		an_err_set(e, "%s: tensor \"%s\": data_offsets are not non-negative integers",
				f->path, name);
		return -1;
	}
	if (b > en || (uint64_t)en > datalen) {
		an_err_set(e, "%s: tensor \"%s\": data_offsets [%lld, %lld] outside the data "
				"(%llu bytes)", f->path, name, (long long)b, (long long)en,
				(unsigned long long)datalen);
		return -1;
	}
	if ((uint64_t)(en - b) != t->nbytes) {
		an_err_set(e, "%s: tensor \"%s\": %lld bytes for shape of %llu %s elements "
				"(%llu bytes)", f->path, name, (long long)(en - b),
				(unsigned long long)numel, st_dtype_name(t->dtype),
				(unsigned long long)t->nbytes);
		return -1;
	}
	t->data = data + b;
	return 0;
}

/* Parse the image in f->map / f->size; append its tensors to s. */
static int parse_file(st *s, int fi, an_err *e)
{
	st_file *f = &s->files[fi];
	const unsigned char *buf = f->map;
	uint64_t n = 0;
	json_error_t jerr;
	int rc = -1;

	if (f->size < 8) {
		an_err_set(e, "%s: %zu bytes, too short for a safetensors header", f->path, f->size);
		return -1;
	}
	for (int i = 7; i >= 0; i--)
		n = n << 8 | buf[i];
	if (n > ST_MAX_HEADER) {
		an_err_set(e, "%s: header size %llu exceeds the limit of %llu bytes", f->path,
				(unsigned long long)n, (unsigned long long)ST_MAX_HEADER);
		return -1;
	}
	if (n > f->size - 8) {
		an_err_set(e, "%s: header size %llu runs past the end of the file (%zu bytes)",
				f->path, (unsigned long long)n, f->size);
		return -1;
	}
	const unsigned char *data = buf + 8 + n;
	uint64_t datalen = f->size - 8 - n;
	json_t *root = json_loadb((const char *)buf + 8, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		an_err_set(e, "%s: header is not valid JSON: %s (at byte %d)", f->path, jerr.text,
				jerr.position + 8);
		return -1;
	}
	if (!json_is_object(root)) {
		an_err_set(e, "%s: header is not a JSON object", f->path);
		goto out;
	}
	size_t cnt = json_object_size(root);
	st_tensor *nt = realloc(s->t, (s->n + cnt + 1) * sizeof *nt);
	st_tensor **byoff = calloc(cnt + 1, sizeof *byoff);
	if (!nt || !byoff) {
		if (nt)
			s->t = nt;
		free(byoff);
		an_err_sys(e, "%s", f->path);
		goto out;
	}
	s->t = nt;
	size_t first = s->n, k = 0;
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v) {
		if (strcmp(key, "__metadata__") == 0) {
			if (parse_meta(f, v, e) < 0)
				goto free_byoff;
			continue;
		}
		st_tensor *t = &s->t[s->n];
		memset(t, 0, sizeof *t);
		if (parse_entry(f, key, v, data, datalen, t, e) < 0)
			goto free_byoff;
		if (!(t->name = strdup(key))) {
			an_err_sys(e, "%s", f->path);
			goto free_byoff;
		}
		t->file = fi;
		s->n++;
		byoff[k++] = t;
	}
	/* no two tensors may share a byte */
	qsort(byoff, k, sizeof *byoff, cmp_begin);
	for (size_t i = 1; i < k; i++) {
		const char *prev_end = (const char *)byoff[i - 1]->data + byoff[i - 1]->nbytes;

		if ((const char *)byoff[i]->data < prev_end) {
			an_err_set(e, "%s: tensors \"%s\" and \"%s\" overlap", f->path,
					byoff[i - 1]->name, byoff[i]->name);
			goto free_byoff;
		}
	}
	(void)first;
	rc = 0;
free_byoff:
	free(byoff);
out:
	json_decref(root);
	return rc;
}

static int finish(st *s, an_err *e)
{
	qsort(s->t, s->n, sizeof *s->t, cmp_name);
	for (size_t i = 1; i < s->n; i++)
		if (strcmp(s->t[i - 1].name, s->t[i].name) == 0) {
			an_err_set(e, "%s: tensor \"%s\" also in %s", s->files[s->t[i].file].path,
					s->t[i].name, s->files[s->t[i - 1].file].path);
			return -1;
		}
	return 0;
}

static int open_one(st *s, const char *path, an_err *e)
{
	st_file *f = add_file(s, path, e);
	struct stat sb;
	int fd;

	if (!f)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		an_err_sys(e, "%s", path);
		return -1;
	}
	if (fstat(fd, &sb) < 0) {
		an_err_sys(e, "%s", path);
		close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		an_err_set(e, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	f->size = (size_t)sb.st_size;
	if (f->size >= 8) {
		f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (f->map == MAP_FAILED) {
			f->map = NULL;
			an_err_sys(e, "%s: mmap", path);
			close(fd);
			return -1;
		}
		f->mapped = 1;
	}
	close(fd);
	return parse_file(s, s->nfiles - 1, e);
}

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && strcmp(s + a - b, suf) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int open_index(st *s, const char *path, an_err *e)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	char **shards = NULL;
	size_t nshards = 0;
	int rc = -1;

	if (!root) {
		an_err_set(e, "%s: %s (line %d)", path, jerr.text, jerr.line);
		return -1;
	}
	json_t *wm = json_object_get(root, "weight_map");
	if (!json_is_object(root) || !json_is_object(wm)) {
		an_err_set(e, "%s: no \"weight_map\" object", path);
		goto out;
	}
	/* directory of the index */
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (slash)
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	else
		snprintf(dir, sizeof dir, ".");
	if (!(shards = calloc(json_object_size(wm) + 1, sizeof *shards))) {
		an_err_sys(e, "%s", path);
		goto out;
	}
	const char *key;
	json_t *v;
	json_object_foreach(wm, key, v) {
		if (!json_is_string(v)) {
			an_err_set(e, "%s: weight_map \"%s\": shard is not a string", path, key);
			goto out;
		}
		const char *sh = json_string_value(v);
		if (!*sh || strchr(sh, '/') || strcmp(sh, ".") == 0 || strcmp(sh, "..") == 0) {
			an_err_set(e, "%s: weight_map \"%s\": shard \"%s\" is not a file name in the "
					"index's directory", path, key, sh);
			goto out;
		}
		shards[nshards++] = (char *)sh;
	}
	qsort(shards, nshards, sizeof *shards, cmp_str);
	for (size_t i = 0; i < nshards; i++) {
		char p[PATH_MAX + 256];

		if (i > 0 && strcmp(shards[i], shards[i - 1]) == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, shards[i]);
		if (open_one(s, p, e) < 0)
			goto out;
	}
	if (finish(s, e) < 0)
		goto out;
	json_object_foreach(wm, key, v) {
		const st_tensor *t = st_find(s, key);
		const char *sh = json_string_value(v);

		if (!t) {
			an_err_set(e, "%s: tensor \"%s\" is not in its shard %s", path, key, sh);
			goto out;
		}
		const char *fp = s->files[t->file].path, *base = strrchr(fp, '/');
		if (strcmp(base ? base + 1 : fp, sh) != 0) {
			an_err_set(e, "%s: tensor \"%s\" is in %s, not in %s as the index says",
					path, key, fp, sh);
			goto out;
		}
	}
	rc = 0;
out:
	free(shards);
	json_decref(root);
	return rc;
}

int st_open(st *s, const char *path, an_err *e)
{
	struct stat sb;
	int rc;

	st_reset(s);
	if (stat(path, &sb) < 0) {
		an_err_sys(e, "%s", path);
		return -1;
	}
	if (S_ISDIR(sb.st_mode)) {
		char p[PATH_MAX + 64];

		snprintf(p, sizeof p, "%s/model.safetensors", path);
		if (stat(p, &sb) == 0) {
			rc = open_one(s, p, e);
			if (rc == 0)
				rc = finish(s, e);
		} else {
			snprintf(p, sizeof p, "%s/model.safetensors.index.json", path);
			if (stat(p, &sb) < 0) {
				an_err_set(e, "%s: neither model.safetensors nor "
						"model.safetensors.index.json", path);
				return -1;
			}
			rc = open_index(s, p, e);
		}
	} else if (has_suffix(path, ".json")) {
		rc = open_index(s, path, e);
	} else {
		rc = open_one(s, path, e);
		if (rc == 0)
			rc = finish(s, e);
	}
	if (rc < 0)
		st_close(s);
	return rc;
}

int st_open_mem(st *s, const void *buf, size_t size, const char *name, an_err *e)
{
	st_reset(s);
	st_file *f = add_file(s, name ? name : "(memory)", e);
	if (!f)
		return -1;
	f->map = (void *)buf;
	f->size = size;
	if (parse_file(s, 0, e) < 0 || finish(s, e) < 0) {
		st_close(s);
		return -1;
	}
	return 0;
}

const st_tensor *st_find(const st *s, const char *name)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, s->t[mid].name);

		if (c == 0)
			return &s->t[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const char *st_meta(const st *s, const st_tensor *t, const char *key)
{
	if (s->nfiles == 0)
		return NULL;
	const st_file *f = &s->files[t ? t->file : 0];
	for (size_t i = 0; i < f->nmeta; i++)
		if (strcmp(f->meta[2 * i], key) == 0)
			return f->meta[2 * i + 1];
	return NULL;
}

/* --------------------------------------------------------- copy-outs */

#define LOAD(type, p, i) ({ type v_; memcpy(&v_, (const char *)(p) + (i) * sizeof(type), \
		sizeof(type)); v_; })

static int check_n(const st *s, const st_tensor *t, size_t n, an_err *e)
{
	if (n != t->numel) {
		an_err_set(e, "%s: tensor \"%s\": %llu elements, caller expects %zu",
				s->files[t->file].path, t->name, (unsigned long long)t->numel, n);
		return -1;
	}
	return 0;
}

int st_read_f32(const st *s, const st_tensor *t, float *dst, size_t n, an_err *e)
{
	const void *p = t->data;

	if (check_n(s, t, n, e) < 0)
		return -1;
	switch (t->dtype) {
	case ST_F32:  memcpy(dst, p, n * 4); break;
	case ST_BF16: for (size_t i = 0; i < n; i++) dst[i] = bf16_to_f32(LOAD(uint16_t, p, i)); break;
	case ST_F16:  for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32(LOAD(uint16_t, p, i)); break;
	case ST_F64:  for (size_t i = 0; i < n; i++) dst[i] = (float)LOAD(double, p, i); break;
	case ST_I64:  for (size_t i = 0; i < n; i++) dst[i] = (float)LOAD(int64_t, p, i); break;
	case ST_I32:  for (size_t i = 0; i < n; i++) dst[i] = (float)LOAD(int32_t, p, i); break;
	case ST_I16:  for (size_t i = 0; i < n; i++) dst[i] = (float)LOAD(int16_t, p, i); break;
	case ST_I8:   for (size_t i = 0; i < n; i++) dst[i] = (float)LOAD(int8_t, p, i); break;
	case ST_U8:
	case ST_BOOL: for (size_t i = 0; i < n; i++) dst[i] = (float)LOAD(uint8_t, p, i); break;
	default:
		an_err_set(e, "%s: tensor \"%s\": dtype %s cannot be read as F32",
				s->files[t->file].path, t->name, st_dtype_name(t->dtype));
		return -1;
	}
	return 0;
}

int st_get_f32(const st *s, const char *name, int ndim, const int64_t *shape, float *dst,
		an_err *e)
{
	const st_tensor *t = st_find(s, name);
	size_t n = 1;

	if (!t) {
		an_err_set(e, "%s: no tensor \"%s\"", s->nfiles ? s->files[0].path : "?", name);
		return -1;
	}
	int ok = t->ndim == ndim;
	for (int i = 0; ok && i < ndim; i++)
		ok = t->shape[i] == shape[i];
	if (!ok) {
		char have[256] = "", want[256] = "";
		size_t hl = 0, wl = 0;

		for (int i = 0; i < t->ndim && hl < sizeof have; i++)
			hl += snprintf(have + hl, sizeof have - hl, "%s%lld", i ? "," : "",
					(long long)t->shape[i]);
		for (int i = 0; i < ndim && wl < sizeof want; i++)
			wl += snprintf(want + wl, sizeof want - wl, "%s%lld", i ? "," : "",
					(long long)shape[i]);
		an_err_set(e, "%s: tensor \"%s\": shape [%s], expected [%s]",
				s->files[t->file].path, name, have, want);
		return -1;
	}
	for (int i = 0; i < ndim; i++)
		n *= (size_t)shape[i];
	return st_read_f32(s, t, dst, n, e);
}

int st_read_i64(const st *s, const st_tensor *t, int64_t *dst, size_t n, an_err *e)
{
	const void *p = t->data;

	if (check_n(s, t, n, e) < 0)
		return -1;
	switch (t->dtype) {
	case ST_I64: memcpy(dst, p, n * 8); break;
	case ST_I32: for (size_t i = 0; i < n; i++) dst[i] = LOAD(int32_t, p, i); break;
	case ST_I16: for (size_t i = 0; i < n; i++) dst[i] = LOAD(int16_t, p, i); break;
	case ST_I8:  for (size_t i = 0; i < n; i++) dst[i] = LOAD(int8_t, p, i); break;
	case ST_U8:
	case ST_BOOL: for (size_t i = 0; i < n; i++) dst[i] = LOAD(uint8_t, p, i); break;
	default:
		an_err_set(e, "%s: tensor \"%s\": dtype %s is not an integer type",
				s->files[t->file].path, t->name, st_dtype_name(t->dtype));
		return -1;
	}
	return 0;
}

int st_read_bf16(const st *s, const st_tensor *t, uint16_t *dst, size_t n, an_err *e)
{
	const void *p = t->data;

	if (check_n(s, t, n, e) < 0)
		return -1;
	switch (t->dtype) {
	case ST_BF16: memcpy(dst, p, n * 2); break;
	case ST_F32: for (size_t i = 0; i < n; i++) dst[i] = f32_to_bf16(LOAD(float, p, i)); break;
	case ST_F16:
		for (size_t i = 0; i < n; i++)
			dst[i] = f32_to_bf16(f16_to_f32(LOAD(uint16_t, p, i)));
		break;
	default:
		an_err_set(e, "%s: tensor \"%s\": dtype %s cannot be read as BF16",
				s->files[t->file].path, t->name, st_dtype_name(t->dtype));
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------- writing */

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int st_write(const char *path, const st_wtensor *t, size_t n, const char *const *meta,
		size_t nmeta, an_err *e)
{
	json_t *root = json_object(), *m = NULL;
	size_t *order = calloc(n + 1, sizeof *order);
	uint64_t *bytes = calloc(n + 1, sizeof *bytes);
	char *hdr = NULL, tmp[PATH_MAX + 32];
	int fd = -1, rc = -1;

	if (!root || !order || !bytes) {
		an_err_sys(e, "%s", path);
		goto out;
	}
	if (nmeta) {
		if (!(m = json_object()) || json_object_set_new(root, "__metadata__", m) < 0) {
			an_err_set(e, "%s: out of memory", path);
			goto out;
		}
		for (size_t i = 0; i < nmeta; i++)
			if (!meta[2 * i] || !meta[2 * i + 1] ||
					json_object_set_new(m, meta[2 * i],
						json_string(meta[2 * i + 1])) < 0) {
				an_err_set(e, "%s: metadata %zu: bad key or value (not UTF-8?)",
						path, i);
				goto out;
			}
	}
	/* largest element size first keeps every tensor aligned without gaps
	 * (the reference reader rejects gaps); stable within a size */
	size_t k = 0;
	for (size_t sz = 8; sz >= 1; sz /= 2)
		for (size_t i = 0; i < n; i++)
			if (st_dtype_size(t[i].dtype) == sz)
				order[k++] = i;
	if (k != n) {
		an_err_set(e, "%s: a tensor has an unknown dtype", path);
		goto out;
	}
	uint64_t off = 0;
	for (size_t j = 0; j < n; j++) {
		const st_wtensor *w = &t[order[j]];
		uint64_t numel = 1;
		json_t *shape = json_array(), *ent = json_object(), *offs = json_array();

		if (!shape || !ent || !offs) {
			json_decref(shape); json_decref(ent); json_decref(offs);
			an_err_set(e, "%s: out of memory", path);
			goto out;
		}
		if (w->ndim < 0 || w->ndim > ST_MAX_DIM) {
			json_decref(shape); json_decref(ent); json_decref(offs);
			an_err_set(e, "%s: tensor \"%s\": %d dimensions", path, w->name, w->ndim);
			goto out;
		}
		for (int d = 0; d < w->ndim; d++) {
			numel *= (uint64_t)w->shape[d];
			json_array_append_new(shape, json_integer(w->shape[d]));
		}
		bytes[order[j]] = numel * st_dtype_size(w->dtype);
		json_array_append_new(offs, json_integer((json_int_t)off));
		json_array_append_new(offs, json_integer((json_int_t)(off + bytes[order[j]])));
		off += bytes[order[j]];
		json_object_set_new(ent, "dtype", json_string(st_dtype_name(w->dtype)));
		json_object_set_new(ent, "shape", shape);
		json_object_set_new(ent, "data_offsets", offs);
		if (!w->name || strcmp(w->name, "__metadata__") == 0 || json_object_get(root, w->name)) {
			json_decref(ent);
			an_err_set(e, "%s: tensor name \"%s\" missing, reserved or repeated", path,
					w->name ? w->name : "(null)");
			goto out;
		}
		if (json_object_set_new(root, w->name, ent) < 0) {
			an_err_set(e, "%s: tensor \"%s\": name is not valid UTF-8", path, w->name);
			goto out;
		}
	}
	if (!(hdr = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
		an_err_set(e, "%s: cannot serialize the header", path);
		goto out;
	}
	size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8;
	char *h2 = realloc(hdr, padded + 1);
	if (!h2) {
		an_err_sys(e, "%s", path);
		goto out;
	}
	hdr = h2;
	memset(hdr + hl, ' ', padded - hl);
	unsigned char len8[8];
	for (int i = 0; i < 8; i++)
		len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));

	snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0) {
		an_err_sys(e, "%s: creating a temporary file", path);
		goto out;
	}
	if (write_all(fd, len8, 8) < 0 || write_all(fd, hdr, padded) < 0)
		goto werr;
	for (size_t j = 0; j < n; j++)
		if (bytes[order[j]] && write_all(fd, t[order[j]].data, bytes[order[j]]) < 0)
			goto werr;
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0)
		goto werr;
	if (close(fd) < 0) {
		fd = -1;
		goto werr;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		an_err_sys(e, "%s: rename from %s", path, tmp);
		unlink(tmp);
		goto out;
	}
	rc = 0;
	goto out;
werr:
	an_err_sys(e, "%s: writing", path);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	free(hdr);
	free(order);
	free(bytes);
	json_decref(root);
	return rc;
}
