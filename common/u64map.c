#include "u64map.h"

#include <stdlib.h>

static size_t probe(const u64map *m, uint64_t h)
{
	size_t i = (size_t)h & (m->cap - 1);

	while (m->key[i] && m->key[i] != h)
		i = (i + 1) & (m->cap - 1);
	return i;
}

uint32_t *u64map_find(const u64map *m, uint64_t h)
{
	size_t i;

	h = h ? h : 1;
	if (!m->cap)
		return NULL;
	i = probe(m, h);
	return m->key[i] ? &m->val[i] : NULL;
}

static int grow(u64map *m)
{
	u64map o = *m;
	size_t cap = o.cap ? 2 * o.cap : (size_t)1 << 16;

	m->key = calloc(cap, sizeof *m->key);
	m->val = malloc(cap * sizeof *m->val);
	if (!m->key || !m->val) {
		free(m->key);
		free(m->val);
		*m = o;
		return -1;
	}
	m->cap = cap;
	for (size_t k = 0; k < o.cap; k++)
		if (o.key[k]) {
			size_t i = probe(m, o.key[k]);

			m->key[i] = o.key[k];
			m->val[i] = o.val[k];
		}
	free(o.key);
	free(o.val);
	return 0;
}

uint32_t *u64map_get(u64map *m, uint64_t h, uint32_t init, int *added)
{
	size_t i;

	h = h ? h : 1;
	if (added)
		*added = 0;
	if (2 * (m->n + 1) > m->cap && grow(m))
		return NULL;
	i = probe(m, h);
	if (!m->key[i]) {
		m->key[i] = h;
		m->val[i] = init;
		m->n++;
		if (added)
			*added = 1;
	}
	return &m->val[i];
}

void u64map_free(u64map *m)
{
	free(m->key);
	free(m->val);
	m->key = NULL;
	m->val = NULL;
	m->n = m->cap = 0;
}
