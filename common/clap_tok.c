/* clap_tok.c: CLAP-ASM's function encoding (see clap_tok.h). */
#include "clap_tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void clap_tok_init(clap_tok *t, const wp_vocab *v, size_t max_len)
{
	memset(t, 0, sizeof *t);
	t->v = v;
	t->max_len = max_len ? max_len : CLAP_MAX_LEN;
}

void clap_tok_free(clap_tok *t)
{
	wp_scratch_free(&t->s);
	free(t->buf);
	memset(t, 0, sizeof *t);
}

int32_t clap_tok_type(clap_tok *t, const char *key, size_t klen)
{
	char b[64];
	int32_t id;

	/* the common case: a plain decimal key 1..1024 (no sign, no leading 0) */
	if (klen && klen <= 4 && key[0] >= '1' && key[0] <= '9') {
		size_t k = 0, i;
		for (i = 0; i < klen && key[i] >= '0' && key[i] <= '9'; i++)
			k = k * 10 + (size_t)(key[i] - '0');
		if (i == klen && k <= CLAP_MAX_LEN) {
			if (!t->type_cache[k]) {
				int l = snprintf(b, sizeof b, "INSTR%zu", k);
				id = wp_id(t->v, b, (size_t)l);
				t->type_cache[k] = id >= 0 ? id + 1 : t->v->unk + 1;
			}
			return t->type_cache[k] - 1;
		}
	}
	if (klen > sizeof b - 6)
		return t->v->unk;
	memcpy(b, "INSTR", 5);
	memcpy(b + 5, key, klen);
	id = wp_id(t->v, b, klen + 5);
	return id >= 0 ? id : t->v->unk;
}

long clap_tok_instr(clap_tok *t, const char *s, size_t len, int32_t *ids, an_err *e)
{
	size_t o = 0, n = 0;

	if (len + 1 > t->cap) {
		size_t nc = t->cap ? t->cap : 256;
		while (nc < len + 1)
			nc *= 2;
		char *nb = realloc(t->buf, nc);
		if (!nb) {
			an_err_set(e, "out of memory");
			return -1;
		}
		t->buf = nb;
		t->cap = nc;
	}
	for (size_t i = 0; i < len; i++)
		if (s[i] != ',')
			t->buf[o++] = s[i];
	long total = wp_encode(t->v, &t->s, t->buf, o, ids, CLAP_INSTR_MAX_TOK, &n, e);
	if (total < 0)
		return -1;
	t->n_instr++;
	if (total > CLAP_INSTR_MAX_TOK)
		t->n_instr_cut++;
	return (long)n;
}

int clap_tok_function(clap_tok *t, const char *const *ins, const size_t *len,
		      const char *const *keys, const size_t *klen, size_t n,
		      int32_t *ids, int32_t *types, size_t *ntok, an_err *e)
{
	int32_t tmp[CLAP_INSTR_MAX_TOK];
	size_t o = 0;

	t->n_func++;
	for (size_t i = 0; i < n; i++) {
		const char *s = ins[i] ? ins[i] : "";
		long k = clap_tok_instr(t, s, len ? len[i] : strlen(s), tmp, e);
		if (k < 0) {
			an_err_prefix(e, "instruction %zu", i + 1);
			return -1;
		}
		int32_t ty;
		if (keys) {
			ty = clap_tok_type(t, keys[i], klen ? klen[i] : strlen(keys[i]));
		} else if (i + 1 <= CLAP_MAX_LEN && t->type_cache[i + 1]) {
			ty = t->type_cache[i + 1] - 1;
		} else {
			char kb[24];
			int kl = snprintf(kb, sizeof kb, "%zu", i + 1);
			ty = clap_tok_type(t, kb, (size_t)kl);
		}
		for (long j = 0; j < k; j++) {
			if (o == t->max_len) {
				t->n_func_cut++;
				*ntok = o;
				return 0;
			}
			ids[o] = tmp[j];
			types[o] = ty;
			o++;
		}
	}
	*ntok = o;
	return 0;
}

size_t clap_tok_padded_len(size_t n, size_t multiple)
{
	if (multiple <= 1)
		return n;
	return (n + multiple - 1) / multiple * multiple;
}

void clap_tok_pad(int32_t *ids, int32_t *types, size_t n, size_t to)
{
	for (size_t i = n; i < to; i++) {
		ids[i] = CLAP_PAD_ID;
		types[i] = CLAP_PAD_ID;
	}
}
