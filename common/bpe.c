/* bpe.c: byte-level BPE as HuggingFace tokenizers does it (see bpe.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "bpe.h"

#include <errno.h>
#include <jansson.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

/* ---------------------------------------------------------------------- */
/* small helpers */

static uint64_t hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0xff51afd7ed558ccdull);

	while (n >= 8) {
		uint64_t w;

		memcpy(&w, s, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 29;
		s += 8;
		n -= 8;
	}
	if (n) {
		uint64_t w = 0;

		memcpy(&w, s, n);
		h = (h ^ w) * 0x94d049bb133111ebull;
	}
	h ^= h >> 31;
	h *= 0xd6e8feb86659fd93ull;
	h ^= h >> 32;
	return h;
}

static uint64_t hash_u64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t c = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	q = realloc(*p, c * elem);
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

void bpe_ids_free(bpe_ids *ids)
{
	free(ids->v);
	ids->v = NULL;
	ids->n = ids->cap = 0;
}

void bpe_buf_free(bpe_buf *b)
{
	free(b->s);
	b->s = NULL;
	b->n = b->cap = 0;
}

static int ids_push(bpe_ids *o, int32_t id)
{
	if (o->n == o->cap && grow((void **)&o->v, &o->cap, o->n + 1, sizeof *o->v))
		return -1;
	o->v[o->n++] = id;
	return 0;
}

static int buf_add(bpe_buf *b, const void *s, size_t n)
{
	if (grow((void **)&b->s, &b->cap, b->n + n + 1, 1))
		return -1;
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = 0;
	return 0;
}

/* Length of the valid UTF-8 character at s (n bytes left), or, when the
 * bytes there are not one, minus the length of the maximal subpart of an
 * ill-formed sequence (Unicode's "substitution of maximal subparts", which
 * Rust's from_utf8_lossy and Python's errors="replace" follow). */
static int utf8_step(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	int need;
	unsigned lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return -1;
	for (int i = 1; i <= need; i++) {
		if ((size_t)i >= n)
			return -i;
		if (s[i] < lo || s[i] > hi)
			return -i;
		lo = 0x80;
		hi = 0xbf;
	}
	return need + 1;
}

/* Decode one character of valid UTF-8. */
static int32_t utf8_cp(const unsigned char *s, int *len)
{
	unsigned c = s[0];

	if (c < 0x80) {
		*len = 1;
		return c;
	}
	if (c < 0xe0) {
		*len = 2;
		return ((c & 0x1f) << 6) | (s[1] & 0x3f);
	}
	if (c < 0xf0) {
		*len = 3;
		return ((c & 0x0f) << 12) | ((s[1] & 0x3f) << 6) | (s[2] & 0x3f);
	}
	*len = 4;
	return ((c & 0x07) << 18) | ((s[1] & 0x3f) << 12) | ((s[2] & 0x3f) << 6) | (s[3] & 0x3f);
}

/* Rust's char::is_whitespace (Unicode White_Space). */
static int is_ws(int32_t c)
{
	return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
	       c == 0x205f || c == 0x3000;
}

/* Rust regex's Unicode \w, near enough: letters, marks, Nd, Nl, Pc, ZWJ/ZWNJ. */
static int is_word(int32_t c)
{
	if (c < 0x80)
		return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
	if (c == 0x200c || c == 0x200d)
		return 1;
	switch (utf8proc_category(c)) {
	case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
	case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
	case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
	case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
		return 1;
	default:
		return 0;
	}
}

/* The last character of valid UTF-8 s[0..n), n > 0. */
static int32_t utf8_last(const unsigned char *s, size_t n, int *len)
{
	size_t i = n - 1;

	while (i > 0 && (s[i] & 0xc0) == 0x80)
		i--;
	return utf8_cp(s + i, len);
}

/* ---------------------------------------------------------------------- */
/* string -> int32 map (open addressing), keys copied into an arena */

typedef struct smap_slot {
	uint64_t h;
	uint32_t off, len;
	int32_t  val;     /* -1: empty */
} smap_slot;

typedef struct smap {
	smap_slot *slot;
	size_t     mask, n;
	char      *keys;
	size_t     klen, kcap;
} smap;

static int smap_init(smap *m, size_t expect)
{
	size_t c = 64;

	while (c < expect * 2)
		c *= 2;
	m->slot = malloc(c * sizeof *m->slot);
	if (!m->slot)
		return -1;
	for (size_t i = 0; i < c; i++)
		m->slot[i].val = -1;
	m->mask = c - 1;
	m->n = 0;
	m->keys = NULL;
	m->klen = m->kcap = 0;
	return 0;
}

static void smap_free(smap *m)
{
	free(m->slot);
	free(m->keys);
	memset(m, 0, sizeof *m);
}

static smap_slot *smap_find(const smap *m, const char *k, size_t n, uint64_t h)
{
	size_t i = h & m->mask;

	if (!m->slot)
		return NULL;
	for (;;) {
		smap_slot *s = &m->slot[i];

		if (s->val < 0)
			return s;
		if (s->h == h && s->len == n && memcmp(m->keys + s->off, k, n) == 0)
			return s;
		i = (i + 1) & m->mask;
	}
}

static int32_t smap_get(const smap *m, const char *k, size_t n)
{
	smap_slot *s;

	if (!m->slot)
		return -1;
	s = smap_find(m, k, n, hash_bytes(k, n));
	return s->val;
}

/* Insert or overwrite; -1 on out of memory. */
static int smap_put(smap *m, const char *k, size_t n, int32_t val)
{
	uint64_t h = hash_bytes(k, n);
	smap_slot *s;

	if ((m->n + 1) * 2 > m->mask + 1) {
		smap big;
		size_t c = (m->mask + 1) * 2;

		big.slot = malloc(c * sizeof *big.slot);
		if (!big.slot)
			return -1;
		for (size_t i = 0; i < c; i++)
			big.slot[i].val = -1;
		big.mask = c - 1;
		for (size_t i = 0; i <= m->mask; i++) {
			if (m->slot[i].val >= 0) {
				size_t j = m->slot[i].h & big.mask;

				while (big.slot[j].val >= 0)
					j = (j + 1) & big.mask;
				big.slot[j] = m->slot[i];
			}
		}
		free(m->slot);
		m->slot = big.slot;
		m->mask = big.mask;
	}
	s = smap_find(m, k, n, h);
	if (s->val >= 0) {
		s->val = val;
		return 0;
	}
	if (grow((void **)&m->keys, &m->kcap, m->klen + n + 1, 1))
		return -1;
	memcpy(m->keys + m->klen, k, n);
	m->keys[m->klen + n] = 0;
	s->h = h;
	s->off = m->klen;
	s->len = n;
	s->val = val;
	m->klen += n + 1;
	m->n++;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* the tokenizer */

enum { PT_SPLIT = 1, PT_BYTELEVEL };
enum { SB_REMOVED, SB_ISOLATED, SB_PREV, SB_NEXT, SB_CONTIG };
enum { NM_NFC = 1, NM_NFD, NM_NFKC, NM_NFKD, NM_LOWER };

typedef struct pt_step {
	int         type;
	pcre2_code *re;
	int         jit;
	int         behavior, invert;
	int         prefix_space;   /* ByteLevel add_prefix_space */
} pt_step;

typedef struct added_tok {
	char   *content;           /* as in the file */
	char   *match;             /* what is matched (content, normalized if normalized) */
	size_t  mlen;
	int32_t id;
	unsigned special:1, lstrip:1, rstrip:1, single_word:1, normalized:1;
} added_tok;

typedef struct trie_node {
	int32_t child, sibling;   /* -1: none */
	int32_t tok;              /* index into added[], or -1 */
	unsigned char byte;
} trie_node;

typedef struct trie {
	trie_node *node;
	size_t     n, cap;
	unsigned char first[32];  /* bitmap of first bytes */
} trie;

typedef struct cache_slot {
	uint64_t h;
	uint32_t koff, klen, voff, vn;
	int      used;
} cache_slot;

#define CACHE_SLOTS (1u << 16)
#define CACHE_MAX_ENTRIES (CACHE_SLOTS / 2)
#define CACHE_MAX_KEY 128

struct bpe {
	/* model vocabulary */
	smap      vocab;                 /* model token string -> id */
	int32_t   nid;                   /* one past the largest id */
	char    **str;                   /* [nid] file string of each id, or NULL */
	uint32_t *dec_off, *dec_len;     /* [nid] decoded bytes in dec */
	char     *dec;
	size_t    declen, deccap;
	unsigned char *flags;            /* [nid] 1: added, 2: special */
	int32_t   byte_tok[256];         /* model id of each single byte, or -1 */
	char      byte_utf8[256][3];     /* byte-level char of each byte: len, bytes */
	int16_t   cp_byte[324];          /* inverse byte map, -1 */
	int       bytelevel;             /* model works on byte-level chars */
	int       bytelevel_decoder;     /* decoder is ByteLevel (else join with ' ') */
	int       ignore_merges;
	int32_t   unk;                   /* -1 */
	/* merges: (a,b) -> rank, new id */
	struct merge_slot { uint64_t key; int32_t rank, nid; } *merge;
	size_t    merge_mask;
	/* added tokens */
	added_tok *added;
	size_t    nadded, addcap;
	smap      added_map;             /* content -> id */
	trie      trie_raw, trie_norm;
	/* normalizer, pre-tokenizer, post-processor */
	int       norm[8], nnorm;
	pt_step   pt[8];
	int       npt;
	pcre2_code *gpt2_re;
	int        gpt2_jit;
	int32_t   tpl_pre[8], tpl_post[8];
	int       ntpl_pre, ntpl_post;
	/* bos / eos */
	int32_t   bos;
	int32_t   eos[8];
	int       neos;
	/* piece cache */
	pthread_mutex_t lock;
	cache_slot *cache;
	size_t    ncache;
	char     *ckeys;
	size_t    cklen, ckcap;
	int32_t  *cvals;
	size_t    cvlen, cvcap;
};

static const char QWEN2_REGEX[] =
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
	"|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char GPT2_REGEX[] =
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* ---------------------------------------------------------------------- */
/* merges table */

static int merges_alloc(bpe *b, size_t n)
{
	size_t c = 64;

	while (c < n * 2)
		c *= 2;
	b->merge = malloc(c * sizeof *b->merge);
	if (!b->merge)
		return -1;
	for (size_t i = 0; i < c; i++)
		b->merge[i].key = UINT64_MAX;
	b->merge_mask = c - 1;
	return 0;
}

static inline const struct merge_slot *merge_get(const bpe *b, int32_t l, int32_t r)
{
	uint64_t key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
	size_t i = hash_u64(key) & b->merge_mask;

	for (;;) {
		const struct merge_slot *s = &b->merge[i];

		if (s->key == key)
			return s;
		if (s->key == UINT64_MAX)
			return NULL;
		i = (i + 1) & b->merge_mask;
	}
}

/* Keeps the first (lowest) rank of a pair listed twice, as HF does. */
static void merge_put(bpe *b, int32_t l, int32_t r, int32_t rank, int32_t nid)
{
	uint64_t key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
	size_t i = hash_u64(key) & b->merge_mask;

	for (;;) {
		struct merge_slot *s = &b->merge[i];

		if (s->key == key)
			return;
		if (s->key == UINT64_MAX) {
			s->key = key;
			s->rank = rank;
			s->nid = nid;
			return;
		}
		i = (i + 1) & b->merge_mask;
	}
}

/* ---------------------------------------------------------------------- */
/* id table */

static int ids_reserve(bpe *b, int32_t nid)
{
	int32_t old = b->nid;
	char **s;
	unsigned char *f;

	if (nid <= old)
		return 0;
	s = realloc(b->str, nid * sizeof *s);
	if (!s)
		return -1;
	b->str = s;
	f = realloc(b->flags, nid);
	if (!f)
		return -1;
	b->flags = f;
	for (int32_t i = old; i < nid; i++) {
		b->str[i] = NULL;
		b->flags[i] = 0;
	}
	b->nid = nid;
	return 0;
}

static int set_str(bpe *b, int32_t id, const char *s, size_t n)
{
	char *c = malloc(n + 1);

	if (!c)
		return -1;
	memcpy(c, s, n);
	c[n] = 0;
	free(b->str[id]);
	b->str[id] = c;
	return 0;
}

/* Decoded bytes of every id (ByteLevel decoder rule: all characters in the
 * byte alphabet -> those bytes, else the token's own UTF-8). */
static int build_decoded(bpe *b)
{
	free(b->dec_off);
	free(b->dec_len);
	b->dec_off = malloc(b->nid * sizeof *b->dec_off);
	b->dec_len = malloc(b->nid * sizeof *b->dec_len);
	if (!b->dec_off || !b->dec_len)
		return -1;
	b->declen = 0;
	for (int32_t id = 0; id < b->nid; id++) {
		const unsigned char *s = (const unsigned char *)b->str[id];
		size_t n, i = 0, start;
		int ok = 1;

		b->dec_off[id] = b->declen;
		b->dec_len[id] = 0;
		if (!s)
			continue;
		n = strlen((const char *)s);
		if (grow((void **)&b->dec, &b->deccap, b->declen + n + 1, 1))
			return -1;
		start = b->declen;
		if (b->bytelevel_decoder) {
			while (i < n) {
				int l = utf8_step(s + i, n - i), cl;
				int32_t cp;

				if (l < 0 || (cp = utf8_cp(s + i, &cl)) >= 324 || b->cp_byte[cp] < 0) {
					ok = 0;
					break;
				}
				b->dec[b->declen++] = (char)b->cp_byte[cp];
				i += l;
			}
		} else
			ok = 0;
		if (!ok) {
			b->declen = start;
			memcpy(b->dec + b->declen, s, n);
			b->declen += n;
		}
		b->dec_len[id] = b->declen - start;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* added tokens and their tries */

static int trie_add(trie *t, const char *s, size_t n, int32_t tok)
{
	int32_t cur = 0;

	if (t->n == 0) {
		if (grow((void **)&t->node, &t->cap, 1, sizeof *t->node))
			return -1;
		t->node[0] = (trie_node){ -1, -1, -1, 0 };
		t->n = 1;
	}
	if (n == 0)
		return 0;
	t->first[(unsigned char)s[0] >> 3] |= 1u << ((unsigned char)s[0] & 7);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		int32_t ch = t->node[cur].child;

		while (ch >= 0 && t->node[ch].byte != c)
			ch = t->node[ch].sibling;
		if (ch < 0) {
			if (grow((void **)&t->node, &t->cap, t->n + 1, sizeof *t->node))
				return -1;
			ch = (int32_t)t->n++;
			t->node[ch] = (trie_node){ -1, t->node[cur].child, -1, c };
			t->node[cur].child = ch;
		}
		cur = ch;
	}
	if (t->node[cur].tok < 0)
		t->node[cur].tok = tok;
	return 0;
}

/* Longest added token starting at s[0..n): its index, *len set; or -1. */
static int32_t trie_longest(const trie *t, const unsigned char *s, size_t n, size_t *len)
{
	int32_t cur = 0, best = -1;

	for (size_t i = 0; i < n; i++) {
		int32_t ch = t->node[cur].child;

		while (ch >= 0 && t->node[ch].byte != s[i])
			ch = t->node[ch].sibling;
		if (ch < 0)
			break;
		cur = ch;
		if (t->node[cur].tok >= 0) {
			best = t->node[cur].tok;
			*len = i + 1;
		}
	}
	return best;
}

static char *normalize(const bpe *b, const char *s, size_t n, size_t *outn);

static int rebuild_tries(bpe *b)
{
	free(b->trie_raw.node);
	free(b->trie_norm.node);
	memset(&b->trie_raw, 0, sizeof b->trie_raw);
	memset(&b->trie_norm, 0, sizeof b->trie_norm);
	for (size_t i = 0; i < b->nadded; i++) {
		added_tok *a = &b->added[i];

		free(a->match);
		a->match = NULL;
		if (a->normalized && b->nnorm) {
			a->match = normalize(b, a->content, strlen(a->content), &a->mlen);
			if (!a->match)
				return -1;
		} else {
			a->mlen = strlen(a->content);
			a->match = malloc(a->mlen + 1);
			if (!a->match)
				return -1;
			memcpy(a->match, a->content, a->mlen + 1);
		}
		if (trie_add(a->normalized ? &b->trie_norm : &b->trie_raw, a->match, a->mlen, (int32_t)i))
			return -1;
		/* HF gives a normalized token's id the normalized content as its
		 * string (id_to_token, decode); token_to_id keeps the original */
		if (a->normalized && b->nnorm && set_str(b, a->id, a->match, a->mlen))
			return -1;
	}
	return 0;
}

static int added_push(bpe *b, const char *content, int32_t id, int special, int lstrip,
		      int rstrip, int single_word, int normalized)
{
	added_tok *a;

	if (grow((void **)&b->added, &b->addcap, b->nadded + 1, sizeof *b->added))
		return -1;
	a = &b->added[b->nadded];
	memset(a, 0, sizeof *a);
	a->content = strdup(content);
	if (!a->content)
		return -1;
	a->id = id;
	a->special = !!special;
	a->lstrip = !!lstrip;
	a->rstrip = !!rstrip;
	a->single_word = !!single_word;
	a->normalized = !!normalized;
	b->nadded++;
	if (ids_reserve(b, id + 1) || set_str(b, id, content, strlen(content)))
		return -1;
	b->flags[id] = 1 | (special ? 2 : 0);
	return smap_put(&b->added_map, content, strlen(content), id);
}

/* ---------------------------------------------------------------------- */
/* normalizer */

/* Unicode normalization of s[0..n) with utf8proc options opt, run only
 * over the stretches that hold non-ASCII characters: ASCII characters are
 * starters that no normalization form changes and that never compose with
 * what precedes them, so the text can be cut before each of them, keeping
 * the one ASCII character before a non-ASCII stretch with it (it may be the
 * base of a combining mark).  Long code-heavy texts then skip utf8proc
 * almost entirely.  NULL on error. */
static char *nf_map(const char *s, size_t n, int opt, size_t *outn)
{
	size_t cap = n + 16, k = 0, i = 0;
	char *o = malloc(cap);

	if (!o)
		return NULL;
	while (i < n) {
		size_t j = i, start, end;
		utf8proc_uint8_t *m = NULL;
		utf8proc_ssize_t r;

		while (j < n && (unsigned char)s[j] < 0x80)
			j++;
		start = j > i && j < n ? j - 1 : j;
		if (grow((void **)&o, &cap, k + (start - i) + 1, 1))
			goto fail;
		memcpy(o + k, s + i, start - i);
		k += start - i;
		if (j == n)
			break;
		end = j;
		while (end < n && (unsigned char)s[end] >= 0x80)
			end++;
		r = utf8proc_map((const utf8proc_uint8_t *)s + start, (utf8proc_ssize_t)(end - start), &m, opt);
		if (r < 0)
			goto fail;
		if (grow((void **)&o, &cap, k + (size_t)r + 1, 1)) {
			free(m);
			goto fail;
		}
		memcpy(o + k, m, (size_t)r);
		k += (size_t)r;
		free(m);
		i = end;
	}
	o[k] = 0;
	*outn = k;
	return o;
fail:
	free(o);
	return NULL;
}

static char *normalize(const bpe *b, const char *s, size_t n, size_t *outn)
{
	char *cur = malloc(n + 1);

	if (!cur)
		return NULL;
	memcpy(cur, s, n);
	cur[n] = 0;
	*outn = n;
	for (int i = 0; i < b->nnorm; i++) {
		int opt = UTF8PROC_STABLE;

		switch (b->norm[i]) {
		case NM_NFC: opt |= UTF8PROC_COMPOSE; break;
		case NM_NFD: opt |= UTF8PROC_DECOMPOSE; break;
		case NM_NFKC: opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
		case NM_NFKD: opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
		case NM_LOWER: {
			size_t j = 0, k = 0;
			char *lo = malloc(*outn * 4 + 1);

			if (!lo) {
				free(cur);
				return NULL;
			}
			while (j < *outn) {
				int l;
				int32_t cp = utf8_cp((const unsigned char *)cur + j, &l);

				k += utf8proc_encode_char(utf8proc_tolower(cp), (utf8proc_uint8_t *)lo + k);
				j += l;
			}
			lo[k] = 0;
			free(cur);
			cur = lo;
			*outn = k;
			continue;
		}
		}
		{
			char *o = nf_map(cur, *outn, opt, outn);

			free(cur);
			if (!o)
				return NULL;
			cur = o;
		}
	}
	return cur;
}

/* ---------------------------------------------------------------------- */
/* encoding */

typedef struct heap_ent {
	int32_t rank, pos, nid;
} heap_ent;

typedef struct enc {
	bpe              *b;
	bpe_ids          *out;
	int               flags;
	pcre2_match_data *md;
	int32_t          *sym, *prev, *next;
	size_t            symcap;
	heap_ent         *heap;
	size_t            hn, hcap;
	char             *map;
	size_t            mapcap;
	size_t           *seg;             /* scratch for splits: triples */
	size_t            segn, segcap;
} enc;

static inline int heap_less(const heap_ent *a, const heap_ent *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static int heap_push(enc *c, heap_ent e)
{
	size_t i;

	if (c->hn == c->hcap && grow((void **)&c->heap, &c->hcap, c->hn + 1, sizeof *c->heap))
		return -1;
	i = c->hn++;
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!heap_less(&e, &c->heap[p]))
			break;
		c->heap[i] = c->heap[p];
		i = p;
	}
	c->heap[i] = e;
	return 0;
}

static heap_ent heap_pop(enc *c)
{
	heap_ent top = c->heap[0], last = c->heap[--c->hn];
	size_t i = 0, n = c->hn;

	for (;;) {
		size_t l = 2 * i + 1, m;

		if (l >= n)
			break;
		m = (l + 1 < n && heap_less(&c->heap[l + 1], &c->heap[l])) ? l + 1 : l;
		if (!heap_less(&c->heap[m], &last))
			break;
		c->heap[i] = c->heap[m];
		i = m;
	}
	if (n)
		c->heap[i] = last;
	return top;
}

static int cache_get(bpe *b, const char *s, size_t n, uint64_t h, bpe_ids *out)
{
	int found = 0;

	pthread_mutex_lock(&b->lock);
	if (b->cache) {
		size_t i = h & (CACHE_SLOTS - 1);

		while (b->cache[i].used) {
			cache_slot *cs = &b->cache[i];

			if (cs->h == h && cs->klen == n && memcmp(b->ckeys + cs->koff, s, n) == 0) {
				found = 1;
				for (uint32_t j = 0; j < cs->vn; j++)
					if (ids_push(out, b->cvals[cs->voff + j])) {
						found = -1;
						break;
					}
				break;
			}
			i = (i + 1) & (CACHE_SLOTS - 1);
		}
	}
	pthread_mutex_unlock(&b->lock);
	return found;
}

static void cache_put(bpe *b, const char *s, size_t n, uint64_t h, const int32_t *v, size_t vn)
{
	size_t i;

	pthread_mutex_lock(&b->lock);
	if (!b->cache) {
		b->cache = calloc(CACHE_SLOTS, sizeof *b->cache);
		if (!b->cache)
			goto out;
	}
	if (b->ncache >= CACHE_MAX_ENTRIES) {
		memset(b->cache, 0, CACHE_SLOTS * sizeof *b->cache);
		b->ncache = 0;
		b->cklen = b->cvlen = 0;
	}
	if (grow((void **)&b->ckeys, &b->ckcap, b->cklen + n, 1) ||
	    grow((void **)&b->cvals, &b->cvcap, b->cvlen + vn, sizeof *b->cvals))
		goto out;
	i = h & (CACHE_SLOTS - 1);
	while (b->cache[i].used) {
		cache_slot *cs = &b->cache[i];

		if (cs->h == h && cs->klen == n && memcmp(b->ckeys + cs->koff, s, n) == 0)
			goto out;
		i = (i + 1) & (CACHE_SLOTS - 1);
	}
	memcpy(b->ckeys + b->cklen, s, n);
	memcpy(b->cvals + b->cvlen, v, vn * sizeof *v);
	b->cache[i] = (cache_slot){ h, (uint32_t)b->cklen, (uint32_t)n, (uint32_t)b->cvlen, (uint32_t)vn, 1 };
	b->cklen += n;
	b->cvlen += vn;
	b->ncache++;
out:
	pthread_mutex_unlock(&b->lock);
}

/* One pre-token through the BPE model. */
static int bpe_piece(enc *c, const char *s, size_t n)
{
	bpe *b = c->b;
	size_t m = 0, start = c->out->n;
	uint64_t h = 0;
	int cacheable = n <= CACHE_MAX_KEY;

	if (cacheable) {
		int r;

		h = hash_bytes(s, n);
		r = cache_get(b, s, n, h, c->out);
		if (r)
			return r < 0 ? -1 : 0;
	}
	/* the piece in the model's alphabet (for ignore_merges and char mode) */
	if (b->bytelevel) {
		if (grow((void **)&c->map, &c->mapcap, n * 2 + 1, 1))
			return -1;
		for (size_t i = 0; i < n; i++) {
			const char *u = b->byte_utf8[(unsigned char)s[i]];

			memcpy(c->map + m, u + 1, (size_t)u[0]);
			m += (size_t)u[0];
		}
	} else {
		if (grow((void **)&c->map, &c->mapcap, n + 1, 1))
			return -1;
		memcpy(c->map, s, n);
		m = n;
	}
	if (b->ignore_merges) {
		int32_t id = smap_get(&b->vocab, c->map, m);

		if (id >= 0) {
			if (ids_push(c->out, id))
				return -1;
			goto done;
		}
	}
	/* initial symbols */
	if (n + 1 > c->symcap) {
		size_t cap = c->symcap;

		if (grow((void **)&c->sym, &cap, n + 1, sizeof *c->sym) ||
		    !(c->prev = realloc(c->prev, cap * sizeof *c->prev)) ||
		    !(c->next = realloc(c->next, cap * sizeof *c->next)))
			return -1;
		c->symcap = cap;
	}
	{
		size_t k = 0, i = 0;

		while (i < n) {
			int32_t id;
			int l = 1;

			if (b->bytelevel)
				id = b->byte_tok[(unsigned char)s[i]];
			else {
				l = utf8_step((const unsigned char *)s + i, n - i);
				if (l < 0)
					l = -l;
				id = smap_get(&b->vocab, s + i, (size_t)l);
			}
			i += (size_t)l;
			if (id < 0) {
				/* not in the vocabulary: unk when the model has one, else dropped */
				if (b->unk >= 0)
					c->sym[k++] = b->unk;
				continue;
			}
			c->sym[k++] = id;
		}
		m = k;
	}
	c->hn = 0;
	for (size_t i = 0; i < m; i++) {
		c->prev[i] = (int32_t)i - 1;
		c->next[i] = i + 1 < m ? (int32_t)i + 1 : -1;
		if (i + 1 < m) {
			const struct merge_slot *ms = merge_get(b, c->sym[i], c->sym[i + 1]);

			if (ms && heap_push(c, (heap_ent){ ms->rank, (int32_t)i, ms->nid }))
				return -1;
		}
	}
	while (c->hn) {
		heap_ent t = heap_pop(c);
		int32_t p = t.pos, nx;
		const struct merge_slot *ms;

		if (c->sym[p] < 0 || (nx = c->next[p]) < 0)
			continue;
		ms = merge_get(b, c->sym[p], c->sym[nx]);
		if (!ms || ms->nid != t.nid)
			continue;
		c->sym[p] = t.nid;
		c->sym[nx] = -1;
		c->next[p] = c->next[nx];
		if (c->next[nx] >= 0)
			c->prev[c->next[nx]] = p;
		if (c->prev[p] >= 0) {
			int32_t q = c->prev[p];

			ms = merge_get(b, c->sym[q], c->sym[p]);
			if (ms && heap_push(c, (heap_ent){ ms->rank, q, ms->nid }))
				return -1;
		}
		if (c->next[p] >= 0) {
			ms = merge_get(b, c->sym[p], c->sym[c->next[p]]);
			if (ms && heap_push(c, (heap_ent){ ms->rank, p, ms->nid }))
				return -1;
		}
	}
	for (int32_t i = m ? 0 : -1; i >= 0; i = c->next[i])
		if (ids_push(c->out, c->sym[i]))
			return -1;
done:
	if (cacheable)
		cache_put(b, s, n, h, c->out->v + start, c->out->n - start);
	return 0;
}

/* Matches of re in s[0..n) as (start, end) pairs appended to c->seg. */
static int regex_matches(enc *c, pcre2_code *re, int jit, const char *s, size_t n, size_t base)
{
	size_t off = 0;

	if (!c->md && !(c->md = pcre2_match_data_create(8, NULL)))
		return -1;
	while (off < n) {
		int rc = jit ? pcre2_jit_match(re, (PCRE2_SPTR)s, n, off, 0, c->md, NULL)
			     : pcre2_match(re, (PCRE2_SPTR)s, n, off, PCRE2_NO_UTF_CHECK, c->md, NULL);
		PCRE2_SIZE *ov;

		/* the JIT's 32 KiB stack can run out on a huge piece: the
		 * interpreter keeps its frames on the heap */
		if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
			rc = pcre2_match(re, (PCRE2_SPTR)s, n, off, PCRE2_NO_UTF_CHECK, c->md, NULL);

		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		if (rc < 0)
			return -1;
		ov = pcre2_get_ovector_pointer(c->md);
		if (ov[1] == ov[0]) {
			/* empty match: skip one character */
			int l = ov[0] < n ? utf8_step((const unsigned char *)s + ov[0], n - ov[0]) : 1;

			off = ov[0] + (size_t)(l < 0 ? -l : l);
			continue;
		}
		if (grow((void **)&c->seg, &c->segcap, c->segn + 2, sizeof *c->seg))
			return -1;
		c->seg[c->segn++] = base + ov[0];
		c->seg[c->segn++] = base + ov[1];
		off = ov[1];
	}
	return 0;
}

static int pretok(enc *c, int step, const char *s, size_t n);

/* Split s by the matches in c->seg[mark..], HF's SplitDelimiterBehavior,
 * then run the next step on each piece. */
static int split_apply(enc *c, int step, const char *s, size_t n, size_t mark, int behavior,
		       int invert)
{
	/* build (start, end, is_match) list over the whole string */
	size_t nm = (c->segn - mark) / 2, np = 0, prev = 0;
	size_t *piece;
	int rc = 0;

	piece = malloc((nm * 2 + 1) * 3 * sizeof *piece);
	if (!piece)
		return -1;
	for (size_t i = 0; i < nm; i++) {
		size_t ms = c->seg[mark + 2 * i], me = c->seg[mark + 2 * i + 1];

		if (prev != ms) {
			piece[3 * np] = prev; piece[3 * np + 1] = ms; piece[3 * np + 2] = 0; np++;
		}
		piece[3 * np] = ms; piece[3 * np + 1] = me; piece[3 * np + 2] = 1; np++;
		prev = me;
	}
	if (prev != n) {
		piece[3 * np] = prev; piece[3 * np + 1] = n; piece[3 * np + 2] = 0; np++;
	}
	c->segn = mark;
	if (invert)
		for (size_t i = 0; i < np; i++)
			piece[3 * i + 2] = !piece[3 * i + 2];
	/* merge as the behavior says; result: (start, end, remove) */
	{
		size_t k = 0;
		int prevm = 0;

		switch (behavior) {
		case SB_REMOVED:
			k = np;
			break;
		case SB_ISOLATED:
			for (size_t i = 0; i < np; i++)
				piece[3 * i + 2] = 0;
			k = np;
			break;
		case SB_PREV:
			for (size_t i = 0; i < np; i++) {
				int im = (int)piece[3 * i + 2];

				if (im && !prevm && k > 0)
					piece[3 * (k - 1) + 1] = piece[3 * i + 1];
				else {
					piece[3 * k] = piece[3 * i];
					piece[3 * k + 1] = piece[3 * i + 1];
					piece[3 * k + 2] = 0;
					k++;
				}
				prevm = im;
			}
			break;
		case SB_NEXT: {
			/* walk from the end, then reverse */
			size_t *tmp = malloc((np + 1) * 3 * sizeof *tmp);

			if (!tmp) {
				free(piece);
				return -1;
			}
			for (size_t ii = np; ii-- > 0;) {
				int im = (int)piece[3 * ii + 2];

				if (im && !prevm && k > 0)
					tmp[3 * (k - 1)] = piece[3 * ii];
				else {
					tmp[3 * k] = piece[3 * ii];
					tmp[3 * k + 1] = piece[3 * ii + 1];
					tmp[3 * k + 2] = 0;
					k++;
				}
				prevm = im;
			}
			for (size_t i = 0; i < k; i++)
				memcpy(piece + 3 * i, tmp + 3 * (k - 1 - i), 3 * sizeof *tmp);
			free(tmp);
			break;
		}
		case SB_CONTIG:
			for (size_t i = 0; i < np; i++) {
				int im = (int)piece[3 * i + 2];

				if (im == prevm && k > 0)
					piece[3 * (k - 1) + 1] = piece[3 * i + 1];
				else {
					piece[3 * k] = piece[3 * i];
					piece[3 * k + 1] = piece[3 * i + 1];
					piece[3 * k + 2] = 0;
					k++;
				}
				prevm = im;
			}
			break;
		}
		for (size_t i = 0; i < k && rc == 0; i++)
			if (!piece[3 * i + 2])
				rc = pretok(c, step + 1, s + piece[3 * i], piece[3 * i + 1] - piece[3 * i]);
	}
	free(piece);
	return rc;
}

static int pretok(enc *c, int step, const char *s, size_t n)
{
	const bpe *b = c->b;
	const pt_step *st;

	if (n == 0)
		return 0;
	if (step == b->npt)
		return bpe_piece(c, s, n);
	st = &b->pt[step];
	if (st->type == PT_SPLIT) {
		size_t mark = c->segn;

		if (regex_matches(c, st->re, st->jit, s, n, 0))
			return -1;
		return split_apply(c, step, s, n, mark, st->behavior, st->invert);
	}
	/* ByteLevel */
	{
		char *tmp = NULL;
		int rc;

		if (st->prefix_space && s[0] != ' ') {
			tmp = malloc(n + 1);
			if (!tmp)
				return -1;
			tmp[0] = ' ';
			memcpy(tmp + 1, s, n);
			s = tmp;
			n++;
		}
		if (st->re) {
			size_t mark = c->segn;

			rc = regex_matches(c, st->re, st->jit, s, n, 0);
			if (rc == 0)
				rc = split_apply(c, step, s, n, mark, SB_ISOLATED, 0);
		} else
			rc = pretok(c, step + 1, s, n);
		free(tmp);
		return rc;
	}
}

typedef struct aseg {
	size_t  start, end;
	int32_t id;   /* -1: text */
} aseg;

/* HF's AddedVocabulary::find_matches over valid UTF-8 s[0..n). */
static int added_split(enc *c, const trie *t, const char *s, size_t n, aseg **out, size_t *nout)
{
	const bpe *b = c->b;
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, start_off = 0, k = 0, cap = 0;
	aseg *v = NULL;

	*out = NULL;
	*nout = 0;
	if (t->n > 1) {
		while (i < n) {
			size_t mlen = 0, start, stop;
			int32_t a;
			const added_tok *at;

			if (!(t->first[u[i] >> 3] & (1u << (u[i] & 7))) ||
			    (a = trie_longest(t, u + i, n - i, &mlen)) < 0) {
				i++;
				continue;
			}
			start = i;
			stop = i + mlen;
			i = stop;
			at = &b->added[a];
			if ((c->flags & BPE_SPLIT_SPECIAL) && at->special)
				continue;
			if (at->single_word) {
				int l;
				int sp = start == 0 || !is_word(utf8_last(u, start, &l));
				int ep = stop == n || !is_word(utf8_cp(u + stop, &l));

				if (!sp || !ep)
					continue;
			}
			if (at->lstrip) {
				size_t ns = start;

				while (ns > 0) {
					int l;
					int32_t cp = utf8_last(u, ns, &l);

					if (!is_ws(cp))
						break;
					ns -= (size_t)l;
				}
				start = ns > start_off ? ns : start_off;
			}
			if (at->rstrip) {
				while (stop < n) {
					int l;
					int32_t cp = utf8_cp(u + stop, &l);

					if (!is_ws(cp))
						break;
					stop += (size_t)l;
				}
				i = stop;
			}
			if (grow((void **)&v, &cap, k + 2, sizeof *v)) {
				free(v);
				return -1;
			}
			if (start_off < start)
				v[k++] = (aseg){ start_off, start, -1 };
			v[k++] = (aseg){ start, stop, at->id };
			start_off = stop;
		}
	}
	if (start_off < n) {
		if (grow((void **)&v, &cap, k + 1, sizeof *v)) {
			free(v);
			return -1;
		}
		v[k++] = (aseg){ start_off, n, -1 };
	}
	*out = v;
	*nout = k;
	return 0;
}

/* A gap between raw added tokens: normalize, split normalized added tokens,
 * pre-tokenize, BPE. */
static int encode_gap(enc *c, const char *s, size_t n)
{
	bpe *b = c->b;
	char *norm = NULL;
	aseg *v;
	size_t nv;
	int rc = 0;

	if (b->nnorm) {
		norm = normalize(b, s, n, &n);
		if (!norm)
			return -1;
		s = norm;
	}
	if (added_split(c, &b->trie_norm, s, n, &v, &nv)) {
		free(norm);
		return -1;
	}
	for (size_t i = 0; i < nv && rc == 0; i++)
		rc = v[i].id >= 0 ? ids_push(c->out, v[i].id) : pretok(c, 0, s + v[i].start, v[i].end - v[i].start);
	free(v);
	free(norm);
	return rc;
}

static int encode_valid(enc *c, const char *s, size_t n)
{
	aseg *v;
	size_t nv;
	int rc = 0;

	if (added_split(c, &c->b->trie_raw, s, n, &v, &nv))
		return -1;
	for (size_t i = 0; i < nv && rc == 0; i++)
		rc = v[i].id >= 0 ? ids_push(c->out, v[i].id) : encode_gap(c, s + v[i].start, v[i].end - v[i].start);
	free(v);
	return rc;
}

int bpe_encode(bpe *b, const char *text, size_t len, int flags, bpe_ids *out, an_err *e)
{
	enc c;
	const unsigned char *u = (const unsigned char *)text;
	size_t i = 0, run = 0;
	int rc = 0;

	memset(&c, 0, sizeof c);
	c.b = b;
	c.out = out;
	c.flags = flags;
	if (flags & BPE_ADD_SPECIAL)
		for (int k = 0; k < b->ntpl_pre && rc == 0; k++)
			rc = ids_push(out, b->tpl_pre[k]);
	while (rc == 0 && i < len) {
		int l = utf8_step(u + i, len - i);

		if (l > 0) {
			i += (size_t)l;
			continue;
		}
		/* an ill-formed sequence: encode the valid run, then its bytes */
		if (i > run)
			rc = encode_valid(&c, text + run, i - run);
		for (int k = 0; k < -l && rc == 0; k++)
			if (b->byte_tok[u[i + k]] >= 0)
				rc = ids_push(out, b->byte_tok[u[i + k]]);
		i += (size_t)-l;
		run = i;
	}
	if (rc == 0 && len > run)
		rc = encode_valid(&c, text + run, len - run);
	if (flags & BPE_ADD_SPECIAL)
		for (int k = 0; k < b->ntpl_post && rc == 0; k++)
			rc = ids_push(out, b->tpl_post[k]);
	if (c.md)
		pcre2_match_data_free(c.md);
	free(c.sym);
	free(c.prev);
	free(c.next);
	free(c.heap);
	free(c.map);
	free(c.seg);
	if (rc)
		an_err_set(e, "bpe: encode: out of memory, or the pre-tokenizer regex gave up (match limit)");
	return rc;
}

int bpe_encode_batch(bpe *b, const char *const *texts, const size_t *lens, size_t n, int flags,
		     bpe_ids *outs, an_err *e)
{
	int failed = 0;

#pragma omp parallel for schedule(dynamic, 16)
	for (size_t i = 0; i < n; i++) {
		an_err e1;
		int bad;

#pragma omp atomic read
		bad = failed;
		if (bad)
			continue;
		if (bpe_encode(b, texts[i], lens[i], flags, &outs[i], &e1)) {
#pragma omp critical(bpe_batch_err)
			{
				if (!failed && e)
					*e = e1;
				failed = 1;
			}
		}
	}
	return failed ? -1 : 0;
}

/* ---------------------------------------------------------------------- */
/* decoding */

int bpe_decode(const bpe *b, const int32_t *ids, size_t n, int flags, bpe_buf *out, an_err *e)
{
	size_t start = out->n;

	if (grow((void **)&out->s, &out->cap, out->n + 1, 1))
		goto oom;
	out->s[out->n] = 0;
	for (size_t i = 0; i < n; i++) {
		int32_t id = ids[i];

		if (id < 0 || id >= b->nid || !b->str[id])
			continue;
		if ((flags & BPE_SKIP_SPECIAL) && (b->flags[id] & 2))
			continue;
		if (!b->bytelevel_decoder && out->n > start && buf_add(out, " ", 1))
			goto oom;
		if (buf_add(out, b->dec + b->dec_off[id], b->dec_len[id]))
			goto oom;
	}
	if (flags & BPE_UTF8_REPLACE) {
		/* rewrite the new bytes in place into a copy with U+FFFD */
		size_t m = out->n - start, k = 0;
		char *tmp = malloc(m * 3 + 1);
		const unsigned char *u;

		if (!tmp)
			goto oom;
		u = (const unsigned char *)out->s + start;
		for (size_t i = 0; i < m;) {
			int l = utf8_step(u + i, m - i);

			if (l > 0) {
				memcpy(tmp + k, u + i, (size_t)l);
				k += (size_t)l;
				i += (size_t)l;
			} else {
				memcpy(tmp + k, "\xef\xbf\xbd", 3);
				k += 3;
				i += (size_t)-l;
			}
		}
		out->n = start;
		if (buf_add(out, tmp, k)) {
			free(tmp);
			goto oom;
		}
		free(tmp);
	}
	return 0;
oom:
	an_err_set(e, "bpe: decode: out of memory");
	return -1;
}

const char *bpe_token_bytes(const bpe *b, int32_t id, size_t *len)
{
	if (id < 0 || id >= b->nid || !b->str[id])
		return NULL;
	*len = b->dec_len[id];
	return b->dec + b->dec_off[id];
}

const char *bpe_token_str(const bpe *b, int32_t id)
{
	return id >= 0 && id < b->nid ? b->str[id] : NULL;
}

int32_t bpe_token_id(const bpe *b, const char *s)
{
	size_t n = strlen(s);
	int32_t id = smap_get(&b->added_map, s, n);

	return id >= 0 ? id : smap_get(&b->vocab, s, n);
}

int bpe_is_special(const bpe *b, int32_t id)
{
	return id >= 0 && id < b->nid && (b->flags[id] & 2);
}

int32_t bpe_vocab_size(const bpe *b)
{
	return b->nid;
}

int32_t bpe_bos(const bpe *b)
{
	return b->bos;
}

int bpe_eos(const bpe *b, const int32_t **ids)
{
	*ids = b->eos;
	return b->neos;
}

/* ---------------------------------------------------------------------- */
/* loading */

static bpe *bpe_new(void)
{
	bpe *b = calloc(1, sizeof *b);
	int n = 0;

	if (!b)
		return NULL;
	pthread_mutex_init(&b->lock, NULL);
	b->unk = -1;
	b->bos = -1;
	for (int i = 0; i < 324; i++)
		b->cp_byte[i] = -1;
	for (int x = 0; x < 256; x++) {
		int cp = ((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255)) ? x : 256 + n++;

		b->cp_byte[cp] = (int16_t)x;
		if (cp < 0x80) {
			b->byte_utf8[x][0] = 1;
			b->byte_utf8[x][1] = (char)cp;
		} else {
			b->byte_utf8[x][0] = 2;
			b->byte_utf8[x][1] = (char)(0xc0 | (cp >> 6));
			b->byte_utf8[x][2] = (char)(0x80 | (cp & 0x3f));
		}
		b->byte_tok[x] = -1;
	}
	if (smap_init(&b->added_map, 64)) {
		free(b);
		return NULL;
	}
	return b;
}

void bpe_free(bpe *b)
{
	if (!b)
		return;
	smap_free(&b->vocab);
	smap_free(&b->added_map);
	for (int32_t i = 0; i < b->nid; i++)
		free(b->str[i]);
	free(b->str);
	free(b->flags);
	free(b->dec_off);
	free(b->dec_len);
	free(b->dec);
	free(b->merge);
	for (size_t i = 0; i < b->nadded; i++) {
		free(b->added[i].content);
		free(b->added[i].match);
	}
	free(b->added);
	free(b->trie_raw.node);
	free(b->trie_norm.node);
	for (int i = 0; i < b->npt; i++)
		pcre2_code_free(b->pt[i].re);
	pcre2_code_free(b->gpt2_re);
	free(b->cache);
	free(b->ckeys);
	free(b->cvals);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* Oniguruma's \s (what HF tokenizers runs) is Unicode White_Space; PCRE2's
 * \s with UCP also takes U+180E (it is in PCRE2's \h).  Spell \s and \S
 * out as White_Space so that U+180E splits as HF splits it. */
#define WS_CHARS "\\t-\\r\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"

static char *onig_to_pcre2(const char *pat, size_t n, size_t *outn)
{
	size_t cap = n * 8 + 256, k = 0;
	char *o = malloc(cap);
	int in_class = 0;

	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *add = NULL;
		char two[3] = { 0 };

		if (k + 128 > cap) {
			char *no = realloc(o, cap *= 2);

			if (!no) {
				free(o);
				return NULL;
			}
			o = no;
		}
		if (pat[i] == '\\' && i + 1 < n) {
			char c = pat[++i];

			if (c == 's')
				add = in_class ? WS_CHARS : "[" WS_CHARS "]";
			else if (c == 'S' && !in_class)
				add = "[^" WS_CHARS "]";
			else {
				two[0] = '\\';
				two[1] = c;
				add = two;
			}
		} else if (pat[i] == '[' && !in_class) {
			in_class = 1;
			o[k++] = '[';
			/* a ']' right after '[' or '[^' is a literal */
			if (i + 1 < n && pat[i + 1] == '^')
				o[k++] = pat[++i];
			if (i + 1 < n && pat[i + 1] == ']')
				o[k++] = pat[++i];
			continue;
		} else if (pat[i] == '[' && in_class && i + 1 < n && pat[i + 1] == ':') {
			/* POSIX class [:name:] inside a class */
			const char *end = strstr(pat + i, ":]");
			size_t l = end ? (size_t)(end - (pat + i)) + 2 : 1;

			while (k + l + 8 > cap) {
				char *no = realloc(o, cap *= 2);

				if (!no) {
					free(o);
					return NULL;
				}
				o = no;
			}
			memcpy(o + k, pat + i, l);
			k += l;
			i += l - 1;
			continue;
		} else if (pat[i] == ']' && in_class)
			in_class = 0;
		if (add) {
			size_t l = strlen(add);

			memcpy(o + k, add, l);
			k += l;
		} else
			o[k++] = pat[i];
	}
	o[k] = 0;
	*outn = k;
	return o;
}

static pcre2_code *compile_re(const char *pat, size_t n, int literal, int *jit, const char *where, an_err *e)
{
	int ec;
	PCRE2_SIZE eo;
	pcre2_code *re;
	char *conv = NULL;

	if (!literal) {
		if (n == PCRE2_ZERO_TERMINATED)
			n = strlen(pat);
		conv = onig_to_pcre2(pat, n, &n);
		if (!conv) {
			an_err_set(e, "%s: out of memory", where);
			return NULL;
		}
		pat = conv;
	}
	re = pcre2_compile((PCRE2_SPTR)pat, n, PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP), &ec, &eo, NULL);
	free(conv);

	if (!re) {
		PCRE2_UCHAR msg[256];

		pcre2_get_error_message(ec, msg, sizeof msg);
		an_err_set(e, "%s: regex at offset %zu: %s", where, (size_t)eo, (char *)msg);
		return NULL;
	}
	*jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
	return re;
}

static int add_bytelevel(bpe *b, int prefix_space, int use_regex, const char *where, an_err *e)
{
	pt_step *st;

	if (b->npt == 8) {
		an_err_set(e, "%s: too many pre-tokenizers", where);
		return -1;
	}
	st = &b->pt[b->npt++];
	memset(st, 0, sizeof *st);
	st->type = PT_BYTELEVEL;
	st->prefix_space = prefix_space;
	b->bytelevel = 1;
	if (use_regex) {
		st->re = compile_re(GPT2_REGEX, PCRE2_ZERO_TERMINATED, 0, &st->jit, where, e);
		if (!st->re)
			return -1;
	}
	return 0;
}

static int add_split(bpe *b, const char *pat, size_t n, int literal, int behavior, int invert,
		     const char *where, an_err *e)
{
	pt_step *st;

	if (b->npt == 8) {
		an_err_set(e, "%s: too many pre-tokenizers", where);
		return -1;
	}
	st = &b->pt[b->npt];
	memset(st, 0, sizeof *st);
	st->type = PT_SPLIT;
	st->behavior = behavior;
	st->invert = invert;
	st->re = compile_re(pat, n, literal, &st->jit, where, e);
	if (!st->re)
		return -1;
	b->npt++;
	return 0;
}

static int jbool(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return v && json_is_true(v);
}

static int parse_normalizer(bpe *b, json_t *j, const char *where, an_err *e)
{
	const char *t;

	if (!j || json_is_null(j))
		return 0;
	t = json_string_value(json_object_get(j, "type"));
	if (!t) {
		an_err_set(e, "%s: normalizer without type", where);
		return -1;
	}
	if (strcmp(t, "Sequence") == 0) {
		size_t i;
		json_t *x;

		json_array_foreach(json_object_get(j, "normalizers"), i, x)
			if (parse_normalizer(b, x, where, e))
				return -1;
		return 0;
	}
	if (b->nnorm == 8) {
		an_err_set(e, "%s: too many normalizers", where);
		return -1;
	}
	if (strcmp(t, "NFC") == 0)
		b->norm[b->nnorm++] = NM_NFC;
	else if (strcmp(t, "NFD") == 0)
		b->norm[b->nnorm++] = NM_NFD;
	else if (strcmp(t, "NFKC") == 0)
		b->norm[b->nnorm++] = NM_NFKC;
	else if (strcmp(t, "NFKD") == 0)
		b->norm[b->nnorm++] = NM_NFKD;
	else if (strcmp(t, "Lowercase") == 0)
		b->norm[b->nnorm++] = NM_LOWER;
	else {
		an_err_set(e, "%s: normalizer \"%s\" is not supported", where, t);
		return -1;
	}
	return 0;
}

static int parse_pretok(bpe *b, json_t *j, const char *where, an_err *e)
{
	const char *t;

	if (!j || json_is_null(j))
		return 0;
	t = json_string_value(json_object_get(j, "type"));
	if (!t) {
		an_err_set(e, "%s: pre_tokenizer without type", where);
		return -1;
	}
	if (strcmp(t, "Sequence") == 0) {
		size_t i;
		json_t *x;

		json_array_foreach(json_object_get(j, "pretokenizers"), i, x)
			if (parse_pretok(b, x, where, e))
				return -1;
		return 0;
	}
	if (strcmp(t, "ByteLevel") == 0) {
		json_t *ur = json_object_get(j, "use_regex");

		return add_bytelevel(b, jbool(j, "add_prefix_space"), ur ? json_is_true(ur) : 1, where, e);
	}
	if (strcmp(t, "Split") == 0) {
		json_t *pat = json_object_get(j, "pattern"), *s;
		const char *beh = json_string_value(json_object_get(j, "behavior"));
		int bv;
		int literal = 0;

		if ((s = json_object_get(pat, "Regex")) && json_is_string(s))
			literal = 0;
		else if ((s = json_object_get(pat, "String")) && json_is_string(s))
			literal = 1;
		else {
			an_err_set(e, "%s: Split pre_tokenizer without a Regex or String pattern", where);
			return -1;
		}
		if (!beh)
			beh = "Isolated";
		if (strcmp(beh, "Removed") == 0)
			bv = SB_REMOVED;
		else if (strcmp(beh, "Isolated") == 0)
			bv = SB_ISOLATED;
		else if (strcmp(beh, "MergedWithPrevious") == 0)
			bv = SB_PREV;
		else if (strcmp(beh, "MergedWithNext") == 0)
			bv = SB_NEXT;
		else if (strcmp(beh, "Contiguous") == 0)
			bv = SB_CONTIG;
		else {
			an_err_set(e, "%s: Split behavior \"%s\" is not supported", where, beh);
			return -1;
		}
		return add_split(b, json_string_value(s), json_string_length(s), literal, bv,
				 jbool(j, "invert"), where, e);
	}
	an_err_set(e, "%s: pre_tokenizer \"%s\" is not supported", where, t);
	return -1;
}

static int tpl_id(bpe *b, json_t *specials, const char *name, int32_t *dst, int *n, const char *where, an_err *e)
{
	json_t *sp = json_object_get(json_object_get(specials, name), "ids"), *x;
	size_t i;

	if (!json_is_array(sp)) {
		int32_t id = bpe_token_id(b, name);

		if (id < 0) {
			an_err_set(e, "%s: post_processor token \"%s\" is unknown", where, name);
			return -1;
		}
		if (*n < 8)
			dst[(*n)++] = id;
		return 0;
	}
	json_array_foreach(sp, i, x)
		if (*n < 8)
			dst[(*n)++] = (int32_t)json_integer_value(x);
	return 0;
}

static int parse_post(bpe *b, json_t *j, const char *where, an_err *e)
{
	const char *t;

	if (!j || json_is_null(j))
		return 0;
	t = json_string_value(json_object_get(j, "type"));
	if (!t)
		return 0;
	if (strcmp(t, "Sequence") == 0) {
		size_t i;
		json_t *x;

		json_array_foreach(json_object_get(j, "processors"), i, x)
			if (parse_post(b, x, where, e))
				return -1;
		return 0;
	}
	if (strcmp(t, "ByteLevel") == 0)
		return 0;
	if (strcmp(t, "TemplateProcessing") == 0) {
		json_t *single = json_object_get(j, "single"), *specials = json_object_get(j, "special_tokens"), *x;
		size_t i;
		int seen_seq = 0;

		b->ntpl_pre = b->ntpl_post = 0;
		json_array_foreach(single, i, x) {
			json_t *st = json_object_get(x, "SpecialToken");

			if (st) {
				const char *name = json_string_value(json_object_get(st, "id"));

				if (!name) {
					an_err_set(e, "%s: TemplateProcessing SpecialToken without id", where);
					return -1;
				}
				if (tpl_id(b, specials, name, seen_seq ? b->tpl_post : b->tpl_pre,
					   seen_seq ? &b->ntpl_post : &b->ntpl_pre, where, e))
					return -1;
			} else if (json_object_get(x, "Sequence"))
				seen_seq = 1;
		}
		return 0;
	}
	if (strcmp(t, "RobertaProcessing") == 0 || strcmp(t, "BertProcessing") == 0) {
		json_t *cls = json_object_get(j, "cls"), *sep = json_object_get(j, "sep");

		b->ntpl_pre = b->ntpl_post = 0;
		if (json_is_array(cls) && json_array_size(cls) == 2)
			b->tpl_pre[b->ntpl_pre++] = (int32_t)json_integer_value(json_array_get(cls, 1));
		if (json_is_array(sep) && json_array_size(sep) == 2)
			b->tpl_post[b->ntpl_post++] = (int32_t)json_integer_value(json_array_get(sep, 1));
		return 0;
	}
	an_err_set(e, "%s: post_processor \"%s\" is not supported", where, t);
	return -1;
}

static int parse_decoder(bpe *b, json_t *j, const char *where, an_err *e)
{
	const char *t;

	if (!j || json_is_null(j))
		return 0;
	t = json_string_value(json_object_get(j, "type"));
	if (t && strcmp(t, "ByteLevel") == 0) {
		b->bytelevel_decoder = 1;
		return 0;
	}
	if (t && strcmp(t, "Sequence") == 0) {
		size_t i;
		json_t *x;

		json_array_foreach(json_object_get(j, "decoders"), i, x)
			if (parse_decoder(b, x, where, e))
				return -1;
		return 0;
	}
	an_err_set(e, "%s: decoder \"%s\" is not supported", where, t ? t : "?");
	return -1;
}

/* Vocabulary from a JSON object {token: id}. */
static int load_vocab(bpe *b, json_t *v, const char *where, an_err *e)
{
	const char *k;
	json_t *x;
	int32_t maxid = -1;

	if (!json_is_object(v)) {
		an_err_set(e, "%s: vocab is not an object", where);
		return -1;
	}
	if (smap_init(&b->vocab, json_object_size(v)))
		goto oom;
	json_object_foreach(v, k, x) {
		json_int_t id = json_integer_value(x);

		if (!json_is_integer(x) || id < 0 || id >= INT32_MAX / 2) {
			an_err_set(e, "%s: vocab entry \"%s\": bad id", where, k);
			return -1;
		}
		if (id > maxid)
			maxid = (int32_t)id;
	}
	if (ids_reserve(b, maxid + 1))
		goto oom;
	json_object_foreach(v, k, x) {
		int32_t id = (int32_t)json_integer_value(x);
		size_t n = strlen(k);

		if (smap_put(&b->vocab, k, n, id) || set_str(b, id, k, n))
			goto oom;
	}
	return 0;
oom:
	an_err_set(e, "%s: out of memory", where);
	return -1;
}

static int add_merge(bpe *b, const char *l, size_t ln, const char *r, size_t rn, int32_t rank,
		     const char *where, an_err *e)
{
	int32_t a = smap_get(&b->vocab, l, ln), c = smap_get(&b->vocab, r, rn), m;
	char tmp[512];

	if (a < 0 || c < 0) {
		an_err_set(e, "%s: merge %d: \"%.*s %.*s\": token not in the vocabulary", where, rank,
			   (int)ln, l, (int)rn, r);
		return -1;
	}
	if (ln + rn < sizeof tmp) {
		memcpy(tmp, l, ln);
		memcpy(tmp + ln, r, rn);
		m = smap_get(&b->vocab, tmp, ln + rn);
	} else {
		char *t = malloc(ln + rn);

		if (!t)
			return -1;
		memcpy(t, l, ln);
		memcpy(t + ln, r, rn);
		m = smap_get(&b->vocab, t, ln + rn);
		free(t);
	}
	if (m < 0) {
		an_err_set(e, "%s: merge %d: \"%.*s%.*s\" is not in the vocabulary", where, rank,
			   (int)ln, l, (int)rn, r);
		return -1;
	}
	merge_put(b, a, c, rank, m);
	return 0;
}

static int finish(bpe *b, an_err *e)
{
	for (int x = 0; x < 256; x++) {
		const char *u = b->byte_utf8[x];

		b->byte_tok[x] = b->bytelevel ? smap_get(&b->vocab, u + 1, (size_t)u[0])
					      : (x < 0x80 ? smap_get(&b->vocab, (const char *)&(char){ (char)x }, 1) : -1);
	}
	if (rebuild_tries(b) || build_decoded(b)) {
		an_err_set(e, "bpe: out of memory");
		return -1;
	}
	return 0;
}

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static int is_file(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int32_t token_value(bpe *b, json_t *v)
{
	if (json_is_object(v))
		v = json_object_get(v, "content");
	if (json_is_string(v))
		return bpe_token_id(b, json_string_value(v));
	return -1;
}

static void eos_add(bpe *b, json_int_t id)
{
	if (id < 0 || id >= b->nid || !b->str[id])
		return;
	for (int i = 0; i < b->neos; i++)
		if (b->eos[i] == id)
			return;
	if (b->neos < 8)
		b->eos[b->neos++] = id;
}

/* tokenizer_config.json and generation_config.json in dir, when there. */
static int load_configs(bpe *b, const char *dir, int vocab_files, an_err *e)
{
	char *p = path_join(dir, "generation_config.json");
	json_t *g = NULL, *t = NULL;
	json_error_t je;

	if (!p)
		return -1;
	if (is_file(p) && !(g = json_load_file(p, 0, &je))) {
		an_err_set(e, "%s: line %d: %s", p, je.line, je.text);
		free(p);
		return -1;
	}
	free(p);
	p = path_join(dir, "tokenizer_config.json");
	if (!p) {
		json_decref(g);
		return -1;
	}
	/* transformers often writes model_max_length as 1e30, an integer that
	 * jansson refuses; nothing here reads integers from this file, so read
	 * numbers as reals when the plain parse fails */
	if (is_file(p) && !(t = json_load_file(p, 0, &je)) &&
	    !(t = json_load_file(p, JSON_DECODE_INT_AS_REAL, &je))) {
		an_err_set(e, "%s: line %d: %s", p, je.line, je.text);
		free(p);
		json_decref(g);
		return -1;
	}
	free(p);
	if (vocab_files) {
		json_t *dec = json_object_get(t, "added_tokens_decoder"), *x;
		const char *k;
		int any = 0;

		json_object_foreach(dec, k, x) {
			const char *content = json_string_value(json_object_get(x, "content"));
			long id = strtol(k, NULL, 10);

			if (!content || id < 0 || id >= INT32_MAX / 2)
				continue;
			if (added_push(b, content, (int32_t)id, jbool(x, "special"), jbool(x, "lstrip"),
				       jbool(x, "rstrip"), jbool(x, "single_word"), jbool(x, "normalized")))
				goto oom;
			any = 1;
		}
		if (!any && bpe_token_id(b, "<|endoftext|>") < 0)
			if (added_push(b, "<|endoftext|>", b->nid, 1, 0, 0, 0, 0))
				goto oom;
	}
	if (g) {
		json_t *v = json_object_get(g, "eos_token_id"), *x;
		size_t i;

		json_int_t bos = json_integer_value(json_object_get(g, "bos_token_id"));

		if (json_is_integer(json_object_get(g, "bos_token_id")) && bos >= 0 && bos < b->nid && b->str[bos])
			b->bos = (int32_t)bos;
		if (json_is_integer(v))
			eos_add(b, json_integer_value(v));
		json_array_foreach(v, i, x)
			if (json_is_integer(x))
				eos_add(b, json_integer_value(x));
	}
	if (t) {
		if (b->bos < 0)
			b->bos = token_value(b, json_object_get(t, "bos_token"));
		eos_add(b, token_value(b, json_object_get(t, "eos_token")));
	}
	if (vocab_files && b->neos == 0)
		eos_add(b, bpe_token_id(b, "<|endoftext|>"));
	json_decref(g);
	json_decref(t);
	return 0;
oom:
	json_decref(g);
	json_decref(t);
	an_err_set(e, "bpe: out of memory");
	return -1;
}

static bpe *load_tokenizer_json(const char *path, an_err *e)
{
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je), *model, *merges, *x, *added;
	bpe *b = NULL;
	const char *t;
	size_t i;

	if (!root) {
		an_err_set(e, "%s: line %d: %s", path, je.line, je.text);
		return NULL;
	}
	model = json_object_get(root, "model");
	t = json_string_value(json_object_get(model, "type"));
	if (!model || (t && strcmp(t, "BPE") != 0)) {
		an_err_set(e, "%s: model type \"%s\" is not BPE", path, t ? t : "?");
		goto fail;
	}
	if (!(b = bpe_new())) {
		an_err_set(e, "%s: out of memory", path);
		goto fail;
	}
	{
		const char *csp = json_string_value(json_object_get(model, "continuing_subword_prefix"));
		const char *eow = json_string_value(json_object_get(model, "end_of_word_suffix"));

		if ((csp && *csp) || (eow && *eow)) {
			an_err_set(e, "%s: BPE continuing_subword_prefix/end_of_word_suffix are not supported", path);
			goto fail;
		}
		if (jbool(model, "byte_fallback")) {
			an_err_set(e, "%s: BPE byte_fallback is not supported", path);
			goto fail;
		}
	}
	if (load_vocab(b, json_object_get(model, "vocab"), path, e))
		goto fail;
	b->ignore_merges = jbool(model, "ignore_merges");
	merges = json_object_get(model, "merges");
	if (merges_alloc(b, json_array_size(merges) + 1)) {
		an_err_set(e, "%s: out of memory", path);
		goto fail;
	}
	json_array_foreach(merges, i, x) {
		if (json_is_string(x)) {
			const char *s = json_string_value(x), *sp = strchr(s, ' ');

			if (!sp) {
				an_err_set(e, "%s: merge %zu: \"%s\" has no space", path, i, s);
				goto fail;
			}
			if (add_merge(b, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), (int32_t)i, path, e))
				goto fail;
		} else if (json_is_array(x) && json_array_size(x) == 2) {
			json_t *l = json_array_get(x, 0), *r = json_array_get(x, 1);

			if (!json_is_string(l) || !json_is_string(r)) {
				an_err_set(e, "%s: merge %zu: not a pair of strings", path, i);
				goto fail;
			}
			if (add_merge(b, json_string_value(l), json_string_length(l), json_string_value(r),
				      json_string_length(r), (int32_t)i, path, e))
				goto fail;
		} else {
			an_err_set(e, "%s: merge %zu: neither \"a b\" nor [\"a\",\"b\"]", path, i);
			goto fail;
		}
	}
	added = json_object_get(root, "added_tokens");
	json_array_foreach(added, i, x) {
		const char *content = json_string_value(json_object_get(x, "content"));
		json_int_t id = json_integer_value(json_object_get(x, "id"));

		if (!content || id < 0 || id >= INT32_MAX / 2) {
			an_err_set(e, "%s: added_tokens[%zu]: bad content or id", path, i);
			goto fail;
		}
		if (added_push(b, content, (int32_t)id, jbool(x, "special"), jbool(x, "lstrip"),
			       jbool(x, "rstrip"), jbool(x, "single_word"), jbool(x, "normalized"))) {
			an_err_set(e, "%s: out of memory", path);
			goto fail;
		}
	}
	{
		const char *unk = json_string_value(json_object_get(model, "unk_token"));

		if (unk)
			b->unk = smap_get(&b->vocab, unk, strlen(unk));
	}
	if (parse_normalizer(b, json_object_get(root, "normalizer"), path, e) ||
	    parse_pretok(b, json_object_get(root, "pre_tokenizer"), path, e) ||
	    parse_post(b, json_object_get(root, "post_processor"), path, e) ||
	    parse_decoder(b, json_object_get(root, "decoder"), path, e))
		goto fail;
	json_decref(root);
	return b;
fail:
	json_decref(root);
	bpe_free(b);
	return NULL;
}

static bpe *load_vocab_merges(const char *vpath, const char *mpath, an_err *e)
{
	json_error_t je;
	json_t *v = json_load_file(vpath, 0, &je);
	bpe *b = NULL;
	FILE *f = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int32_t rank = 0;
	long lineno = 0;

	if (!v) {
		an_err_set(e, "%s: line %d: %s", vpath, je.line, je.text);
		return NULL;
	}
	if (!(b = bpe_new())) {
		an_err_set(e, "%s: out of memory", vpath);
		goto fail;
	}
	if (load_vocab(b, v, vpath, e))
		goto fail;
	f = fopen(mpath, "r");
	if (!f) {
		an_err_sys(e, "%s", mpath);
		goto fail;
	}
	if (merges_alloc(b, b->vocab.n + 1)) {
		an_err_set(e, "%s: out of memory", mpath);
		goto fail;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *sp;

		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = 0;
		if (n == 0 || (lineno == 1 && strncmp(line, "#version", 8) == 0))
			continue;
		sp = strchr(line, ' ');
		if (!sp) {
			an_err_set(e, "%s: line %ld: no space in a merge", mpath, lineno);
			goto fail;
		}
		if (add_merge(b, line, (size_t)(sp - line), sp + 1, strlen(sp + 1), rank++, mpath, e)) {
			an_err_prefix(e, "line %ld", lineno);
			goto fail;
		}
	}
	if (ferror(f)) {
		an_err_sys(e, "%s", mpath);
		goto fail;
	}
	fclose(f);
	f = NULL;
	free(line);
	line = NULL;
	b->norm[b->nnorm++] = NM_NFC;
	if (add_split(b, QWEN2_REGEX, PCRE2_ZERO_TERMINATED, 0, SB_ISOLATED, 0, vpath, e) ||
	    add_bytelevel(b, 0, 0, vpath, e))
		goto fail;
	b->bytelevel_decoder = 1;
	json_decref(v);
	return b;
fail:
	if (f)
		fclose(f);
	free(line);
	json_decref(v);
	bpe_free(b);
	return NULL;
}

bpe *bpe_load(const char *path, an_err *e)
{
	struct stat st;
	bpe *b = NULL;
	char *dir = NULL, *p = NULL;
	int vocab_files = 0;

	if (stat(path, &st) != 0) {
		an_err_sys(e, "%s", path);
		return NULL;
	}
	if (S_ISDIR(st.st_mode)) {
		dir = strdup(path);
		p = path_join(path, "tokenizer.json");
		if (!dir || !p)
			goto oom;
		if (is_file(p))
			b = load_tokenizer_json(p, e);
		else {
			char *v = path_join(path, "vocab.json"), *m = path_join(path, "merges.txt");

			if (!v || !m) {
				free(v);
				free(m);
				goto oom;
			}
			if (!is_file(v) || !is_file(m)) {
				an_err_set(e, "%s: no tokenizer.json, nor vocab.json and merges.txt", path);
				free(v);
				free(m);
				goto out;
			}
			b = load_vocab_merges(v, m, e);
			vocab_files = 1;
			free(v);
			free(m);
		}
	} else {
		const char *sl = strrchr(path, '/');

		dir = sl ? strndup(path, (size_t)(sl - path)) : strdup(".");
		if (!dir)
			goto oom;
		b = load_tokenizer_json(path, e);
	}
	if (b && (load_configs(b, dir, vocab_files, e) || finish(b, e))) {
		bpe_free(b);
		b = NULL;
	}
	goto out;
oom:
	an_err_set(e, "%s: out of memory", path);
out:
	free(dir);
	free(p);
	return b;
}

int32_t bpe_add_token(bpe *b, const char *content, int32_t id, int tflags, an_err *e)
{
	size_t n = strlen(content);
	int32_t have = smap_get(&b->added_map, content, n);

	if (have >= 0) {
		if (id >= 0 && id != have) {
			an_err_set(e, "bpe: added token \"%s\" already has id %d", content, have);
			return -1;
		}
		return have;
	}
	if (id < 0) {
		id = smap_get(&b->vocab, content, n);
		if (id < 0)
			id = b->nid;
	} else if (id < b->nid && b->str[id] && strcmp(b->str[id], content) != 0) {
		an_err_set(e, "bpe: id %d is already \"%s\"", id, b->str[id]);
		return -1;
	}
	if (added_push(b, content, id, tflags & BPE_TOK_SPECIAL, tflags & BPE_TOK_LSTRIP,
		       tflags & BPE_TOK_RSTRIP, tflags & BPE_TOK_SINGLE_WORD, tflags & BPE_TOK_NORMALIZED) ||
	    rebuild_tries(b) || build_decoded(b)) {
		an_err_set(e, "bpe: out of memory");
		return -1;
	}
	/* cached pieces may now contain the new token */
	pthread_mutex_lock(&b->lock);
	if (b->cache)
		memset(b->cache, 0, CACHE_SLOTS * sizeof *b->cache);
	b->ncache = b->cklen = b->cvlen = 0;
	pthread_mutex_unlock(&b->lock);
	return id;
}
