/* u64map: insert, find, growth across rehashes, key 0 as key 1. */
#include "test.h"
#include "u64map.h"

int main(void)
{
	u64map m = { 0 };
	int added, ok = 1;
	uint32_t *v;
	const uint32_t n = 200000;   /* several rehashes past the first 65536 slots */

	CHECK(u64map_find(&m, 42) == NULL, "u64map.empty", "found a key in an empty map");
	for (uint32_t i = 2; i < n; i++) {
		uint64_t k = (uint64_t)i * 0x9e3779b97f4a7c15ULL;

		v = u64map_get(&m, k, 7, &added);
		ok &= v && added && *v == 7;
		*v = i;
	}
	CHECK(ok && m.n == n - 2, "u64map.insert", "n %zu", m.n);
	ok = 1;
	for (uint32_t i = 2; i < n; i++) {
		uint64_t k = (uint64_t)i * 0x9e3779b97f4a7c15ULL;

		v = u64map_find(&m, k);
		ok &= v && *v == i;
		v = u64map_get(&m, k, 9, &added);
		ok &= v && !added && *v == i;
	}
	CHECK(ok && m.n == n - 2, "u64map.find", "a value was lost or re-added");
	CHECK(u64map_find(&m, 12345) == NULL, "u64map.absent", "found a key never added");
	v = u64map_get(&m, 0, 3, &added);
	CHECK(v && added && u64map_find(&m, 1) == v, "u64map.zero", "key 0 is not key 1");
	u64map_free(&m);
	CHECK(m.n == 0 && u64map_find(&m, 0) == NULL, "u64map.free", "not empty after free");
	return t_done();
}
