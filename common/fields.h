/* fields.h: the record contract, the one header that names every field.
 *
 * A record is a msgpack map with string keys.  Programs add the fields they
 * own and pass every other field through untouched.  Numeric arrays travel
 * as msgpack bin holding little-endian values of the dtype given here; a
 * multi-dimensional array carries its shape as an array of unsigned ints in
 * the sibling key "<field>_shape".  man/man5/asmname-records.5 documents the
 * same list for users; change a field in both places or in neither. */
#ifndef ASMNAME_FIELDS_H
#define ASMNAME_FIELDS_H

#include <stddef.h>

/* asm-extract */
#define F_ID       "id"       /* str   "file:0xaddr" or "archive(member):0xaddr" */
#define F_BIN      "bin"      /* str   path of the file given on the command line */
#define F_ADDR     "addr"     /* uint  start address (section offset in a .o) */
#define F_SIZE     "size"     /* uint  bytes */
#define F_NAME     "name"     /* str   true name, absent when unknown */
#define F_ALIASES  "aliases"  /* [str] other names of the same function */
#define F_SECTION  "section"  /* str   ".text" ... */
#define F_ASM      "asm"      /* [str] one Intel-syntax instruction each, address order */
#define F_ASM_ADDR "asm_addr" /* bin u64, one address per element of asm */
#define F_CALLEES  "callees"  /* [str] names of called functions where known */
/* asm-tok */
#define F_TOK      "tok"      /* bin i32 CLAP token ids */
#define F_TTYPE    "ttype"    /* bin i32 CLAP token-type ids, same length as tok */
#define F_SRC      "src"      /* str   source code of the function */
/* clap-embed */
#define F_EMB      "emb"      /* bin f32 [768] unit norm */
/* proj */
#define F_PREFIX   "prefix"   /* bin f32 [P, d_model], shape in prefix_shape */
#define F_ALIGNED  "aligned"  /* bin f32 [d] stage-1 aligned vector */
/* llm-decode */
#define F_PRED     "pred"     /* str   predicted name */
#define F_CANDS    "cands"    /* [{name: str, logp: float}] best first */
#define F_SRC_EMB  "src_emb"  /* bin f32 [d] LLM embedding of src (--embed) */
#define F_LLM_TOK  "llm_tok"  /* bin i32 LLM (BPE) token ids of a text field (llm-tok -w) */
/* data pipelines */
#define F_PKG      "pkg"      /* str   Debian package the function came from */
#define F_OPT      "opt"      /* str   optimization level, "O0".."O3" */

enum rec_dtype {
	REC_DT_NONE = 0,   /* not a typed array */
	REC_DT_F32,
	REC_DT_I32,
	REC_DT_U64,
};

/* The dtype of a bin field by name, REC_DT_NONE for fields that are not
 * typed arrays (and for unknown fields). */
enum rec_dtype rec_field_dtype(const char *key, size_t klen);
size_t rec_dtype_size(enum rec_dtype dt);

#endif
