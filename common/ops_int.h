/* ops_int.h: what ops.c and ops_attn.c share and nobody else needs. */
#ifndef ASMNAME_OPS_INT_H
#define ASMNAME_OPS_INT_H

#include <stddef.h>

/* A scratch buffer of at least n floats, owned by the calling thread and
 * kept from call to call (slot 0..3: independent buffers), so that the
 * per-token loop of a model does not map and fault in megabytes each call.
 * NULL when it cannot grow.  Never freed: a few MiB per calling thread. */
float *ops_scratch(int slot, size_t n);

#endif
