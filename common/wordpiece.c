/* wordpiece.c: BertNormalizer + BertPreTokenizer + WordPiece (see wordpiece.h). */
#include "wordpiece.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

/* ---- the string table ------------------------------------------------ */

static uint64_t hash_bytes(uint64_t h, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}
#define HASH0 0xcbf29ce484222325ull

/* Find the id of prefix||s (prefix may be empty), -1 if absent. */
static int32_t lookup2(const wp_vocab *v, const char *p, size_t plen, const char *s, size_t len)
{
	uint64_t h = hash_bytes(hash_bytes(HASH0, p, plen), s, len);
	size_t mask = v->cap - 1;

	if (!v->cap)
		return -1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		uint32_t id1 = v->slot[i];
		if (!id1)
			return -1;
		uint32_t id = id1 - 1;
		if (v->len[id] == plen + len && !memcmp(v->pool + v->off[id], p, plen) &&
		    !memcmp(v->pool + v->off[id] + plen, s, len))
			return (int32_t)id;
	}
}

int32_t wp_id(const wp_vocab *v, const char *s, size_t len)
{
	return lookup2(v, "", 0, s, len);
}

const char *wp_str(const wp_vocab *v, int32_t id, size_t *len)
{
	if (id < 0 || (size_t)id >= v->n || v->off[id] == UINT32_MAX)
		return NULL;
	if (len)
		*len = v->len[id];
	return v->pool + v->off[id];
}

/* Builder state while loading: tokens appended to the pool with their ids. */
typedef struct build {
	char    *pool; size_t len, cap;
	struct { uint32_t off, len; int32_t id; } *t;
	size_t   nt, tcap;
} build;

static int build_add(build *b, const char *s, size_t len, int32_t id, an_err *e)
{
	if (id < 0 || len > 4096) {
		an_err_set(e, "token %.40s: bad id %d or length %zu", s, (int)id, len);
		return -1;
	}
	if (b->len + len + 1 > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 1 << 16;
		while (nc < b->len + len + 1)
			nc *= 2;
		char *np = realloc(b->pool, nc);
		if (!np)
			goto oom;
		b->pool = np; b->cap = nc;
	}
	if (b->nt == b->tcap) {
		size_t nc = b->tcap ? b->tcap * 2 : 1024;
		void *np = realloc(b->t, nc * sizeof *b->t);
		if (!np)
			goto oom;
		b->t = np; b->tcap = nc;
	}
	memcpy(b->pool + b->len, s, len);
	b->pool[b->len + len] = 0;
	b->t[b->nt].off = (uint32_t)b->len;
	b->t[b->nt].len = (uint32_t)len;
	b->t[b->nt].id = id;
	b->nt++;
	b->len += len + 1;
	return 0;
oom:
	an_err_set(e, "out of memory");
	return -1;
}

/* Turn the builder into the vocab's arrays and hash table.  Later entries
 * for the same id replace earlier ones (added tokens come last). */
static int build_finish(wp_vocab *v, build *b, an_err *e)
{
	int32_t maxid = -1;

	for (size_t i = 0; i < b->nt; i++)
		if (b->t[i].id > maxid)
			maxid = b->t[i].id;
	v->n = (size_t)maxid + 1;
	v->off = malloc((v->n ? v->n : 1) * sizeof *v->off);
	v->len = calloc(v->n ? v->n : 1, sizeof *v->len);
	v->is_cont = calloc(v->n ? v->n : 1, 1);
	v->cap = 16;
	while (v->cap < v->n * 2)
		v->cap *= 2;
	v->slot = calloc(v->cap, sizeof *v->slot);
	if (!v->off || !v->len || !v->is_cont || !v->slot) {
		an_err_set(e, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < v->n; i++)
		v->off[i] = UINT32_MAX;
	for (size_t i = 0; i < b->nt; i++) {
		v->off[b->t[i].id] = b->t[i].off;
		v->len[b->t[i].id] = b->t[i].len;
	}
	v->pool = b->pool; v->pool_len = b->len;
	b->pool = NULL;
	v->max_tok = 0;
	for (size_t id = 0; id < v->n; id++) {
		if (v->off[id] == UINT32_MAX)
			continue;
		const char *s = v->pool + v->off[id];
		size_t len = v->len[id];
		if (wp_id(v, s, len) >= 0)
			continue;   /* a duplicate string: the first id wins, as in HF's map */
		uint64_t h = hash_bytes(HASH0, s, len);
		size_t i = h & (v->cap - 1);
		while (v->slot[i])
			i = (i + 1) & (v->cap - 1);
		v->slot[i] = (uint32_t)id + 1;
		if (len > v->max_tok)
			v->max_tok = len;
		v->is_cont[id] = v->prefix_len && len > v->prefix_len &&
				 !memcmp(s, v->prefix, v->prefix_len);
	}
	return 0;
}

static int added_index(wp_vocab *v, an_err *e)
{
	v->added_idx = malloc((v->n ? v->n : 1) * sizeof *v->added_idx);
	if (!v->added_idx) {
		an_err_set(e, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < v->n; i++)
		v->added_idx[i] = -1;
	for (size_t i = 0; i < v->n_added; i++)
		if (v->added[i].id >= 0 && (size_t)v->added[i].id < v->n)
			v->added_idx[v->added[i].id] = (int32_t)i;
	memset(v->added_first, 0, sizeof v->added_first);
	memset(v->added_pair, 0, sizeof v->added_pair);
	v->added_max = 0;
	v->added_min = SIZE_MAX;
	for (size_t i = 0; i < v->n_added; i++) {
		wp_added *a = &v->added[i];
		if (!a->len)
			continue;
		v->added_first[(unsigned char)v->pool[a->off]] |= a->normalized ? 2 : 1;
		if (a->len >= 2) {
			unsigned pr = (unsigned)(unsigned char)v->pool[a->off] << 8 | (unsigned char)v->pool[a->off + 1];
			v->added_pair[a->normalized][pr >> 3] |= (uint8_t)(1u << (pr & 7));
		}
		if (a->len > v->added_max)
			v->added_max = a->len;
		if (a->len < v->added_min)
			v->added_min = a->len;
	}
	if (v->added_min == SIZE_MAX)
		v->added_min = 1;
	return 0;
}

static int added_push(wp_vocab *v, build *b, const char *s, size_t len, int32_t id,
		      int normalized, int lstrip, int rstrip, int single_word, int special, an_err *e)
{
	void *np = realloc(v->added, (v->n_added + 1) * sizeof *v->added);
	if (!np) {
		an_err_set(e, "out of memory");
		return -1;
	}
	v->added = np;
	if (build_add(b, s, len, id, e) < 0)
		return -1;
	wp_added *a = &v->added[v->n_added++];
	a->off = b->t[b->nt - 1].off;
	a->len = (uint32_t)len;
	a->id = id;
	a->normalized = (uint8_t)normalized;
	a->lstrip = (uint8_t)lstrip;
	a->rstrip = (uint8_t)rstrip;
	a->single_word = (uint8_t)single_word;
	a->special = (uint8_t)special;
	return 0;
}

/* After build_finish the added tokens' offsets must point at the pool's
 * copy of the string; they already do (same pool). */

static int jbool(json_t *o, const char *k, int dflt)
{
	json_t *x = json_object_get(o, k);
	return json_is_boolean(x) ? json_is_true(x) : dflt;
}

static int load_tokenizer_json(wp_vocab *v, const char *path, an_err *e)
{
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je);
	build b = {0};
	int rc = -1;

	if (!root) {
		an_err_set(e, "%s: line %d, column %d: %s", path, je.line, je.column, je.text);
		return -1;
	}
	json_t *model = json_object_get(root, "model");
	const char *type = json_string_value(json_object_get(model, "type"));
	if (!type || strcmp(type, "WordPiece")) {
		an_err_set(e, "%s: model type %s is not WordPiece", path, type ? type : "(none)");
		goto out;
	}
	json_t *vocab = json_object_get(model, "vocab");
	if (!json_is_object(vocab)) {
		an_err_set(e, "%s: model.vocab is not an object", path);
		goto out;
	}
	const char *pre = json_string_value(json_object_get(model, "continuing_subword_prefix"));
	if (!pre)
		pre = "##";
	if (strlen(pre) >= sizeof v->prefix) {
		an_err_set(e, "%s: continuing_subword_prefix too long", path);
		goto out;
	}
	strcpy(v->prefix, pre);
	v->prefix_len = strlen(pre);
	json_t *mc = json_object_get(model, "max_input_chars_per_word");
	v->max_chars = json_is_integer(mc) ? (size_t)json_integer_value(mc) : 100;

	json_t *norm = json_object_get(root, "normalizer");
	v->lowercase = v->strip_accents = v->clean_text = v->chinese = 0;
	if (norm && !json_is_null(norm)) {
		const char *nt = json_string_value(json_object_get(norm, "type"));
		if (!nt || strcmp(nt, "BertNormalizer")) {
			an_err_set(e, "%s: normalizer %s is not supported (BertNormalizer only)", path, nt ? nt : "(none)");
			goto out;
		}
		v->clean_text = jbool(norm, "clean_text", 1);
		v->chinese = jbool(norm, "handle_chinese_chars", 1);
		v->lowercase = jbool(norm, "lowercase", 1);
		json_t *sa = json_object_get(norm, "strip_accents");
		v->strip_accents = json_is_boolean(sa) ? json_is_true(sa) : v->lowercase;
	}
	json_t *pt = json_object_get(root, "pre_tokenizer");
	const char *ptt = json_string_value(json_object_get(pt, "type"));
	if (!ptt || strcmp(ptt, "BertPreTokenizer")) {
		an_err_set(e, "%s: pre_tokenizer %s is not supported (BertPreTokenizer only)", path, ptt ? ptt : "(none)");
		goto out;
	}

	const char *key;
	json_t *val;
	json_object_foreach(vocab, key, val) {
		if (!json_is_integer(val)) {
			an_err_set(e, "%s: model.vocab[\"%.40s\"] is not an integer", path, key);
			goto out;
		}
		if (build_add(&b, key, strlen(key), (int32_t)json_integer_value(val), e) < 0) {
			an_err_prefix(e, "%s", path);
			goto out;
		}
	}
	json_t *added = json_object_get(root, "added_tokens");
	size_t i;
	json_array_foreach(added, i, val) {
		json_t *c = json_object_get(val, "content"), *id = json_object_get(val, "id");
		if (!json_is_string(c) || !json_is_integer(id)) {
			an_err_set(e, "%s: added_tokens[%zu]: needs content and id", path, i);
			goto out;
		}
		if (added_push(v, &b, json_string_value(c), json_string_length(c), (int32_t)json_integer_value(id),
			       jbool(val, "normalized", 1), jbool(val, "lstrip", 0), jbool(val, "rstrip", 0),
			       jbool(val, "single_word", 0), jbool(val, "special", 0), e) < 0) {
			an_err_prefix(e, "%s", path);
			goto out;
		}
	}
	const char *unk = json_string_value(json_object_get(model, "unk_token"));
	if (build_finish(v, &b, e) < 0)
		goto out;
	v->unk = unk ? wp_id(v, unk, strlen(unk)) : -1;
	if (v->unk < 0) {
		an_err_set(e, "%s: unk_token %s is not in the vocabulary", path, unk ? unk : "(none)");
		goto out;
	}
	rc = 0;
out:
	free(b.pool);
	free(b.t);
	json_decref(root);
	return rc;
}

/* One special token of special_tokens_map.json (a string or {"content", ...}). */
static int special_one(wp_vocab *v, json_t *t, an_err *e)
{
	json_t *c = json_is_string(t) ? t : json_object_get(t, "content");
	if (!json_is_string(c))
		return 0;
	int32_t id = wp_id(v, json_string_value(c), json_string_length(c));
	if (id < 0)
		return 0;
	for (size_t i = 0; i < v->n_added; i++)
		if (v->added[i].id == id)
			return 0;
	void *np = realloc(v->added, (v->n_added + 1) * sizeof *v->added);
	if (!np) {
		an_err_set(e, "out of memory");
		return -1;
	}
	v->added = np;
	wp_added *a = &v->added[v->n_added++];
	a->off = v->off[id];
	a->len = v->len[id];
	a->id = id;
	a->normalized = json_is_object(t) ? (uint8_t)jbool(t, "normalized", 0) : 0;
	a->lstrip = json_is_object(t) ? (uint8_t)jbool(t, "lstrip", 0) : 0;
	a->rstrip = json_is_object(t) ? (uint8_t)jbool(t, "rstrip", 0) : 0;
	a->single_word = json_is_object(t) ? (uint8_t)jbool(t, "single_word", 0) : 0;
	a->special = 1;
	return 0;
}

static int special_map(wp_vocab *v, const char *path, an_err *e)
{
	char mpath[4096];
	const char *slash = strrchr(path, '/');
	struct stat st;
	json_error_t je;

	snprintf(mpath, sizeof mpath, "%.*sspecial_tokens_map.json", slash ? (int)(slash - path + 1) : 0, path);
	if (stat(mpath, &st) < 0)
		return 0;
	json_t *m = json_load_file(mpath, 0, &je);
	if (!m) {
		an_err_set(e, "%s: line %d, column %d: %s", mpath, je.line, je.column, je.text);
		return -1;
	}
	const char *k;
	json_t *t;
	int rc = 0;
	json_object_foreach(m, k, t) {
		if (json_is_array(t)) {
			size_t i;
			json_t *x;
			json_array_foreach(t, i, x)
				if ((rc = special_one(v, x, e)) < 0)
					break;
		} else {
			rc = special_one(v, t, e);
		}
		if (rc < 0)
			break;
	}
	json_decref(m);
	return rc;
}

static int load_vocab_txt(wp_vocab *v, const char *path, an_err *e)
{
	FILE *f = fopen(path, "r");
	build b = {0};
	char *line = NULL;
	size_t lcap = 0;
	ssize_t got;
	int32_t id = 0;
	int rc = -1;
	json_t *cfg = NULL;

	if (!f) {
		an_err_sys(e, "%s", path);
		return -1;
	}
	strcpy(v->prefix, "##");
	v->prefix_len = 2;
	v->max_chars = 100;
	v->lowercase = v->clean_text = v->chinese = 1;
	while ((got = getline(&line, &lcap, f)) >= 0) {
		while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
			got--;
		if (build_add(&b, line, (size_t)got, id++, e) < 0) {
			an_err_prefix(e, "%s: line %d", path, (int)id);
			goto out;
		}
	}
	if (ferror(f)) {
		an_err_sys(e, "%s", path);
		goto out;
	}
	/* tokenizer_config.json beside it: case, accents, unk and added tokens. */
	char cpath[4096];
	const char *slash = strrchr(path, '/');
	snprintf(cpath, sizeof cpath, "%.*stokenizer_config.json", slash ? (int)(slash - path + 1) : 0, path);
	const char *unk = "[UNK]";
	struct stat st;
	if (stat(cpath, &st) == 0) {
		json_error_t je;
		/* model_max_length is often 1e30, too big for jansson's integers;
		 * no integer is read from this file, so fall back to reals */
		cfg = json_load_file(cpath, 0, &je);
		if (!cfg)
			cfg = json_load_file(cpath, JSON_DECODE_INT_AS_REAL, &je);
		if (!cfg) {
			an_err_set(e, "%s: line %d, column %d: %s", cpath, je.line, je.column, je.text);
			goto out;
		}
		v->lowercase = jbool(cfg, "do_lower_case", 1);
		v->chinese = jbool(cfg, "tokenize_chinese_chars", 1);
		json_t *sa = json_object_get(cfg, "strip_accents");
		v->strip_accents = json_is_boolean(sa) ? json_is_true(sa) : v->lowercase;
		if (json_is_string(json_object_get(cfg, "unk_token")))
			unk = json_string_value(json_object_get(cfg, "unk_token"));
		json_t *dec = json_object_get(cfg, "added_tokens_decoder");
		const char *k;
		json_t *t;
		json_object_foreach(dec, k, t) {
			json_t *c = json_object_get(t, "content");
			char *end;
			long tid = strtol(k, &end, 10);
			if (!json_is_string(c) || *end || tid < 0) {
				an_err_set(e, "%s: added_tokens_decoder[\"%.20s\"]: bad entry", cpath, k);
				goto out;
			}
			if (added_push(v, &b, json_string_value(c), json_string_length(c), (int32_t)tid,
				       jbool(t, "normalized", 1), jbool(t, "lstrip", 0), jbool(t, "rstrip", 0),
				       jbool(t, "single_word", 0), jbool(t, "special", 0), e) < 0)
				goto out;
		}
	} else {
		v->strip_accents = v->lowercase;
	}
	if (build_finish(v, &b, e) < 0)
		goto out;
	v->unk = wp_id(v, unk, strlen(unk));
	if (v->unk < 0) {
		an_err_set(e, "%s: unk token %s is not in the vocabulary", path, unk);
		goto out;
	}
	/* no added tokens in tokenizer_config.json: the special tokens of
	 * special_tokens_map.json (CLAP's INSTR1..INSTR1024 are there) are
	 * added tokens, as transformers makes them */
	if (!v->n_added && special_map(v, path, e) < 0)
		goto out;
	rc = 0;
out:
	json_decref(cfg);
	free(line);
	free(b.pool);
	free(b.t);
	fclose(f);
	return rc;
}

int wp_load(wp_vocab *v, const char *path, an_err *e)
{
	struct stat st;
	char buf[4096];
	int rc;

	memset(v, 0, sizeof *v);
	if (stat(path, &st) < 0) {
		an_err_sys(e, "%s", path);
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(buf, sizeof buf, "%s/tokenizer.json", path);
		if (stat(buf, &st) == 0) {
			rc = load_tokenizer_json(v, buf, e);
		} else {
			snprintf(buf, sizeof buf, "%s/vocab.txt", path);
			if (stat(buf, &st) < 0) {
				an_err_set(e, "%s: neither tokenizer.json nor vocab.txt", path);
				return -1;
			}
			rc = load_vocab_txt(v, buf, e);
		}
	} else {
		size_t l = strlen(path);
		if (l >= 5 && !strcmp(path + l - 5, ".json"))
			rc = load_tokenizer_json(v, path, e);
		else
			rc = load_vocab_txt(v, path, e);
	}
	if (rc < 0) {
		wp_free(v);
		return -1;
	}
	if (added_index(v, e) < 0) {
		wp_free(v);
		return -1;
	}
	return 0;
}

void wp_free(wp_vocab *v)
{
	free(v->pool);
	free(v->off);
	free(v->len);
	free(v->slot);
	free(v->is_cont);
	free(v->added);
	free(v->added_idx);
	memset(v, 0, sizeof *v);
}

void wp_scratch_free(wp_scratch *s)
{
	free(s->norm);
	free(s->cp);
	memset(s, 0, sizeof *s);
}

/* ---- character classes (as HF tokenizers' bert normalizer and pre-tokenizer) */

static int is_ws(int32_t c)   /* Rust char::is_whitespace */
{
	return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
	       c == 0x205f || c == 0x3000;
}

static int is_control(int32_t c)  /* category C* except Cn, and not \t \n \r */
{
	if (c == '\t' || c == '\n' || c == '\r')
		return 0;
	switch (utf8proc_category(c)) {
	case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF:
	case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CS:
		return 1;
	default:
		return 0;
	}
}

static int is_punct(int32_t c)
{
	if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
		return 1;
	if (c < 128)
		return 0;
	switch (utf8proc_category(c)) {
	case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
	case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
	case UTF8PROC_CATEGORY_PO:
		return 1;
	default:
		return 0;
	}
}

static int is_cjk(int32_t c)
{
	return (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) ||
	       (c >= 0x20000 && c <= 0x2a6df) || (c >= 0x2a700 && c <= 0x2b73f) ||
	       (c >= 0x2b740 && c <= 0x2b81f) || (c >= 0x2b920 && c <= 0x2ceaf) ||
	       (c >= 0xf900 && c <= 0xfaff) || (c >= 0x2f800 && c <= 0x2fa1f);
}

static const uint8_t ascii_punct[128] = {
	['!'] = 1, ['"'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1,
	[')'] = 1, ['*'] = 1, ['+'] = 1, [','] = 1, ['-'] = 1, ['.'] = 1, ['/'] = 1, [':'] = 1,
	[';'] = 1, ['<'] = 1, ['='] = 1, ['>'] = 1, ['?'] = 1, ['@'] = 1, ['['] = 1, ['\\'] = 1,
	[']'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['{'] = 1, ['|'] = 1, ['}'] = 1, ['~'] = 1,
};

/* ---- encoding ---------------------------------------------------------- */

typedef struct enc {
	const wp_vocab *v;
	int32_t *ids;
	size_t   cap, n;
	long     total;
} enc;

static inline void emit(enc *c, int32_t id)
{
	if (c->n < c->cap)
		c->ids[c->n++] = id;
	c->total++;
}

/* WordPiece on one word of w[0..len), nchars characters. */
static void wordpiece(enc *c, const char *w, size_t len, size_t nchars)
{
	const wp_vocab *v = c->v;
	size_t n0 = c->n;
	long t0 = c->total;

	if (nchars > v->max_chars) {
		emit(c, v->unk);
		return;
	}
	for (size_t start = 0; start < len;) {
		size_t plen = start ? v->prefix_len : 0;
		size_t end = len;
		int32_t id = -1;

		if (end - start + plen > v->max_tok)
			end = start + (v->max_tok > plen ? v->max_tok - plen : 0);
		for (; end > start; end--) {
			if (end < len && ((unsigned char)w[end] & 0xc0) == 0x80)
				continue;   /* not a character boundary */
			id = lookup2(v, v->prefix, plen, w + start, end - start);
			if (id >= 0)
				break;
		}
		if (id < 0) {
			c->n = n0;
			c->total = t0;
			emit(c, v->unk);
			return;
		}
		emit(c, id);
		start = end;
	}
}

/* Pre-tokenize normalized UTF-8 text t[0..len) and run WordPiece on each word. */
static void pretok(enc *c, const char *t, size_t len)
{
	size_t ws = 0, wchars = 0;   /* current word start, its length in chars */
	size_t i = 0;

	while (i < len) {
		unsigned char b = (unsigned char)t[i];
		int32_t cp;
		size_t clen;

		if (b < 0x80) {
			cp = b;
			clen = 1;
		} else {
			utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *)t + i, (utf8proc_ssize_t)(len - i), &cp);
			if (r <= 0) {
				cp = 0xfffd;
				r = 1;
			}
			clen = (size_t)r;
		}
		int sp = cp < 128 ? (cp == ' ' || (cp >= 9 && cp <= 13)) : is_ws(cp);
		int pu = !sp && (cp < 128 ? ascii_punct[cp] : is_punct(cp));
		if (sp || pu) {
			if (wchars)
				wordpiece(c, t + ws, i - ws, wchars);
			if (pu)
				wordpiece(c, t + i, clen, 1);
			wchars = 0;
			ws = i + clen;
		} else {
			if (!wchars)
				ws = i;
			wchars++;
		}
		i += clen;
	}
	if (wchars)
		wordpiece(c, t + ws, len - ws, wchars);
}

/* The longest added token of kind (1 raw, 2 normalized) at t[pos..len), or -1. */
static int32_t added_at(const wp_vocab *v, int kind, const char *t, size_t pos, size_t len, size_t *alen)
{
	size_t maxl = v->added_max;

	if (!(v->added_first[(unsigned char)t[pos]] & kind))
		return -1;
	if (v->added_min >= 2) {
		if (pos + 1 >= len)
			return -1;
		unsigned pr = (unsigned)(unsigned char)t[pos] << 8 | (unsigned char)t[pos + 1];
		if (!(v->added_pair[kind - 1][pr >> 3] & (1u << (pr & 7))))
			return -1;
	}
	if (maxl > len - pos)
		maxl = len - pos;
	for (size_t l = maxl; l >= v->added_min && l > 0; l--) {
		int32_t id = wp_id(v, t + pos, l);
		if (id < 0)
			continue;
		int32_t k = v->added_idx[id];
		if (k >= 0) {
			const wp_added *a = &v->added[k];
			if ((a->normalized ? 2 : 1) == kind && a->len == l &&
			    !memcmp(v->pool + a->off, t + pos, l)) {
				if (a->single_word) {
					int before = pos > 0 && (isalnum((unsigned char)t[pos - 1]) || t[pos - 1] == '_');
					int after = pos + l < len && (isalnum((unsigned char)t[pos + l]) || t[pos + l] == '_');
					if (before || after)
						return -1;
				}
				*alen = l;
				return (int32_t)k;
			}
		}
	}
	return -1;
}

/* Split added tokens of `kind` out of t[0..len); the text between goes to
 * pretok (kind 2) or to normalization (kind 1). */
static int normalize_and_go(enc *c, wp_scratch *s, const char *t, size_t len, an_err *e);

static int split_added(enc *c, wp_scratch *s, int kind, const char *t, size_t len, an_err *e)
{
	const wp_vocab *v = c->v;
	size_t seg = 0, pos = 0;

	if (!v->n_added) {
		if (kind == 1)
			return normalize_and_go(c, s, t, len, e);
		pretok(c, t, len);
		return 0;
	}
	while (pos < len) {
		size_t alen;
		int32_t k = added_at(v, kind, t, pos, len, &alen);
		if (k < 0) {
			pos++;
			continue;
		}
		const wp_added *a = &v->added[k];
		size_t end = pos;
		if (a->lstrip)
			while (end > seg && isspace((unsigned char)t[end - 1]))
				end--;
		if (end > seg) {
			if (kind == 1) {
				if (normalize_and_go(c, s, t + seg, end - seg, e) < 0)
					return -1;
			} else {
				pretok(c, t + seg, end - seg);
			}
		}
		emit(c, a->id);
		pos += alen;
		if (a->rstrip)
			while (pos < len && isspace((unsigned char)t[pos]))
				pos++;
		seg = pos;
	}
	if (len > seg) {
		if (kind == 1)
			return normalize_and_go(c, s, t + seg, len - seg, e);
		pretok(c, t + seg, len - seg);
	}
	return 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem, an_err *e)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap : 256;
	while (nc < need)
		nc *= 2;
	void *np = realloc(*p, nc * elem);
	if (!np) {
		an_err_set(e, "out of memory");
		return -1;
	}
	*p = np;
	*cap = nc;
	return 0;
}

static size_t put_utf8(char *o, int32_t cp)
{
	return (size_t)utf8proc_encode_char(cp, (utf8proc_uint8_t *)o);
}

static int normalize_and_go(enc *c, wp_scratch *s, const char *t, size_t len, an_err *e)
{
	const wp_vocab *v = c->v;
	int ascii = 1;
	size_t o = 0;

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)t[i] >= 0x80) {
			ascii = 0;
			break;
		}
	if (ascii) {
		if (grow((void **)&s->norm, &s->norm_cap, len + 1, 1, e) < 0)
			return -1;
		for (size_t i = 0; i < len; i++) {
			unsigned char b = (unsigned char)t[i];
			if (v->clean_text) {
				if (b == 0 || b == 0x7f || (b < 0x20 && b != '\t' && b != '\n' && b != '\r'))
					continue;
				if (b == '\t' || b == '\n' || b == '\r')
					b = ' ';
			}
			if (v->lowercase && b >= 'A' && b <= 'Z')
				b += 32;
			s->norm[o++] = (char)b;
		}
	} else {
		/* worst case per input byte: 3 output chars (CJK spacing) of up to
		 * 4 decomposed code points of 4 bytes */
		if (grow((void **)&s->norm, &s->norm_cap, len * 48 + 16, 1, e) < 0)
			return -1;
		size_t i = 0;
		while (i < len) {
			int32_t cp;
			utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *)t + i, (utf8proc_ssize_t)(len - i), &cp);
			if (r <= 0) {
				cp = 0xfffd;
				r = 1;
			}
			i += (size_t)r;
			if (v->clean_text) {
				if (cp == 0 || cp == 0xfffd || is_control(cp))
					continue;
				if (is_ws(cp))
					cp = ' ';
			}
			int cjk = v->chinese && is_cjk(cp);
			if (cjk)
				s->norm[o++] = ' ';
			int32_t dec[8];
			utf8proc_ssize_t nd = 1;
			dec[0] = cp;
			if (v->strip_accents) {
				int last = 0;
				nd = utf8proc_decompose_char(cp, dec, 8, UTF8PROC_DECOMPOSE, &last);
				if (nd < 0 || nd > 8) {
					dec[0] = cp;
					nd = 1;
				}
			}
			for (utf8proc_ssize_t k = 0; k < nd; k++) {
				int32_t d = dec[k];
				if (v->strip_accents && utf8proc_category(d) == UTF8PROC_CATEGORY_MN)
					continue;
				if (v->lowercase) {
					if (d == 0x130) {   /* full lowercase mapping: i + combining dot */
						o += put_utf8(s->norm + o, 'i');
						d = 0x307;
					} else {
						d = utf8proc_tolower(d);
					}
				}
				o += put_utf8(s->norm + o, d);
			}
			if (cjk)
				s->norm[o++] = ' ';
		}
	}
	/* The normalized buffer may be reused by a nested call only after this
	 * segment is done: kind-2 splitting calls pretok, never normalize. */
	return split_added(c, s, 2, s->norm, o, e);
}

long wp_encode(const wp_vocab *v, wp_scratch *s, const char *text, size_t len,
	       int32_t *ids, size_t cap, size_t *n, an_err *e)
{
	enc c = { .v = v, .ids = ids, .cap = cap };

	if (split_added(&c, s, 1, text, len, e) < 0)
		return -1;
	if (n)
		*n = c.n;
	return c.total;
}
