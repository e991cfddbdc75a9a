/* u64map.h: a hash table from 64-bit keys (already hashes, such as the
 * normalized-assembly hashes of the data sets) to 32-bit values.  Open
 * addressing, linear probing, at most half full; key 0 is stored as 1,
 * so 0 and 1 are the same key. */
#ifndef ASMNAME_U64MAP_H
#define ASMNAME_U64MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct u64map {
	uint64_t *key;   /* [cap], 0 = empty */
	uint32_t *val;   /* [cap] */
	size_t    n, cap;
} u64map;

/* The value of key h, or NULL when it is absent. */
uint32_t *u64map_find(const u64map *m, uint64_t h);
/* The value of key h, inserted with value init when absent (*added = 1,
 * else 0; added may be NULL).  NULL only when out of memory. */
uint32_t *u64map_get(u64map *m, uint64_t h, uint32_t init, int *added);
void u64map_free(u64map *m);

#endif
