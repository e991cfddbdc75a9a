/* st.h: safetensors files, read (single or sharded, memory-mapped) and written.
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON
 * {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
 * {str: str}}, then the data; offsets are relative to byte 8+N.
 *
 * Every header field is validated before use: N <= ST_MAX_HEADER and inside
 * the file, well-formed JSON (jansson) holding an object, known dtype, shape
 * of non-negative integers (<= ST_MAX_DIM dims), offsets in order and inside
 * the data, end-begin == prod(shape) * dtype size computed without overflow,
 * no two tensors overlapping, names unique, metadata values strings.  Gaps
 * between tensors are accepted (the reference library rejects them; files
 * written by it never have them).  Errors name the file and the tensor.
 *
 * A sharded checkpoint is read through its model.safetensors.index.json:
 * every shard its weight_map names is opened, and each tensor must be in
 * the shard the map says. */
#ifndef ASMNAME_ST_H
#define ASMNAME_ST_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ST_MAX_HEADER ((uint64_t)100000000)   /* as the reference library */
#define ST_MAX_DIM    8

typedef enum st_dtype {
	ST_BOOL, ST_U8, ST_I8, ST_F8_E5M2, ST_F8_E4M3, ST_I16, ST_U16, ST_F16, ST_BF16,
	ST_I32, ST_U32, ST_F32, ST_F64, ST_I64, ST_U64,
	ST_NDTYPE
} st_dtype;

typedef struct st_tensor {
	char        *name;
	st_dtype     dtype;
	int          ndim;
	int64_t      shape[ST_MAX_DIM];
	uint64_t     numel;       /* prod(shape); 1 for a scalar */
	uint64_t     nbytes;
	const void  *data;        /* into the mapping; little-endian, maybe unaligned */
	int          file;        /* index into st.files */
} st_tensor;

typedef struct st_file {
	char          *path;
	void          *map;       /* whole file (mmap, or the caller's buffer) */
	size_t         size;
	int            mapped;    /* 1: munmap at close */
	char         **meta;      /* __metadata__ as key, value, key, value, ..., NULL */
	size_t         nmeta;
} st_file;

typedef struct st {
	st_file   *files;
	int        nfiles;
	st_tensor *t;             /* sorted by name */
	size_t     n;
} st;

/* Open path: a .safetensors file, a model.safetensors.index.json, or a
 * directory holding model.safetensors or model.safetensors.index.json.
 * On error s is left empty (st_close is still safe). */
int  st_open(st *s, const char *path, an_err *e);
/* Parse a safetensors image already in memory (not copied: buf must outlive
 * s); name is used in messages.  For tests and the fuzzer. */
int  st_open_mem(st *s, const void *buf, size_t size, const char *name, an_err *e);
void st_close(st *s);

/* NULL if absent. */
const st_tensor *st_find(const st *s, const char *name);
/* A __metadata__ value of the tensor's file (or the first file when t is
 * NULL); NULL if absent. */
const char *st_meta(const st *s, const st_tensor *t, const char *key);

const char *st_dtype_name(st_dtype t);
size_t      st_dtype_size(st_dtype t);
/* -1 if unknown (the name is not a safetensors dtype). */
int         st_dtype_parse(const char *name);

/* Copy the tensor out as fp32 (F32, F16, BF16, F64, I64, I32, I16, I8, U8,
 * BOOL; others are an error naming the dtype).  n must equal numel. */
int st_read_f32(const st *s, const st_tensor *t, float *dst, size_t n, an_err *e);
/* The same, also checking the shape: ndim dims equal to shape[]. */
int st_get_f32(const st *s, const char *name, int ndim, const int64_t *shape, float *dst,
		an_err *e);
/* Integer tensors (I64, I32, I16, I8, U8, BOOL) as int64; values kept exactly. */
int st_read_i64(const st *s, const st_tensor *t, int64_t *dst, size_t n, an_err *e);
/* Raw bf16 bits: BF16 copied, F32 rounded to nearest even, F16 via fp32. */
int st_read_bf16(const st *s, const st_tensor *t, uint16_t *dst, size_t n, an_err *e);

/* --- writing -------------------------------------------------------------- */
typedef struct st_wtensor {
	const char  *name;
	st_dtype     dtype;
	int          ndim;
	int64_t      shape[ST_MAX_DIM];
	const void  *data;        /* prod(shape) * st_dtype_size(dtype) bytes, little-endian */
} st_wtensor;

/* Write n tensors (in the given order, data 8-byte aligned, header padded
 * with spaces to a multiple of 8) and metadata meta[0..2*nmeta) as key,
 * value pairs (may be NULL), to path atomically: a temporary file in the
 * same directory, fsync, rename.  Names must be unique and not
 * "__metadata__". */
int st_write(const char *path, const st_wtensor *t, size_t n,
		const char *const *meta, size_t nmeta, an_err *e);

#endif
