/* arena.h: one allocation for all parameters of a model, with a descriptor
 * table (name, shape, offset); gradients and AdamW moments mirror the same
 * layout (llm.c), so zero-grad is one memset and the optimizer one loop per
 * parameter group.
 *
 *	arena a; arena_init(&a);
 *	int wq = arena_add(&a, "layer.0.q.weight", 2, (int64_t[]){768, 768}, 0, &e);
 *	...
 *	arena_alloc(&a, dev, ARENA_PARAMS | ARENA_GRADS | ARENA_ADAM, &e);
 *	float *Wq = arena_param(&a, wq);       // device pointer
 *	arena_load(&a, dev, &st, "prefix.", ARENA_STRICT, &e);
 *	... forward/backward ...
 *	arena_adamw(&a, dev, &hp, &e);          // per-group lr scale / weight decay
 *	arena_zero_grad(&a, dev, &e);
 *	arena_free(&a, dev);
 *
 * Buffers live on the device given to arena_alloc (host memory on the CPU
 * device; NULL device = plain host malloc).  Each tensor starts on a
 * 64-byte boundary (offsets are multiples of 16 floats). */
#ifndef ASMNAME_ARENA_H
#define ASMNAME_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "dev.h"
#include "err.h"
#include "st.h"

#define ARENA_MAX_DIM    4
#define ARENA_MAX_GROUPS 8

enum {
	ARENA_PARAMS = 1,
	ARENA_GRADS  = 2,
	ARENA_ADAM   = 4     /* m and v */
};

typedef struct arena_tensor {
	char    *name;
	int      ndim;
	int64_t  shape[ARENA_MAX_DIM];
	size_t   numel;
	size_t   off;        /* in floats from the start of each buffer */
	int      group;      /* optimizer group, 0..ARENA_MAX_GROUPS-1 */
	int      frozen;     /* 1: skipped by arena_adamw */
} arena_tensor;

typedef struct arena_group {
	float lr_scale;      /* lr = hp.lr * lr_scale (default 1) */
	float weight_decay;  /* default 0 */
} arena_group;

typedef struct arena {
	arena_tensor *t;
	int           n, cap;
	size_t        numel;           /* total floats including alignment padding */
	float        *params, *grads, *m, *v;   /* numel each, or NULL */
	an_dev       *dev;             /* where they live (NULL: host malloc) */
	arena_group   groups[ARENA_MAX_GROUPS];
} arena;

void arena_init(arena *a);
/* Free the buffers (through the device they were allocated on) and the table. */
void arena_free(arena *a);
/* Declare a tensor (before arena_alloc).  Returns its index, -1 on error
 * (duplicate name, bad shape, too many dims, already allocated). */
int  arena_add(arena *a, const char *name, int ndim, const int64_t *shape, int group,
		an_err *e);
/* Allocate the buffers named by `what` on d (NULL: host), zero-filled. */
int  arena_alloc(arena *a, an_dev *d, unsigned what, an_err *e);
/* Index of a tensor by name, or -1. */
int  arena_find(const arena *a, const char *name);

static inline float *arena_param(const arena *a, int i) { return a->params + a->t[i].off; }
static inline float *arena_grad(const arena *a, int i)  { return a->grads + a->t[i].off; }

int  arena_zero_grad(arena *a, an_err *e);
/* One AdamW step over every non-frozen tensor, group by group (hp->lr times
 * the group's lr_scale, the group's weight_decay; hp->weight_decay ignored). */
int  arena_adamw(arena *a, const adamw_hp *hp, an_err *e);
/* Global L2 norm of all grads; clip to max_norm when max_norm > 0. */
int  arena_clip_grad(arena *a, float max_norm, float *norm_out, an_err *e);

enum {
	ARENA_STRICT  = 1,   /* every arena tensor must be in the file */
	ARENA_PARTIAL = 0    /* missing ones are left as they are */
};
/* Copy tensors named prefix+name from s into params (converted to fp32,
 * shapes checked).  Returns the number copied, -1 on error. */
int  arena_load(arena *a, const st *s, const char *prefix, int flags, an_err *e);
/* Write params as F32 safetensors (names prefix+name) with metadata pairs. */
int  arena_save(const arena *a, const char *path, const char *prefix,
		const char *const *meta, size_t nmeta, an_err *e);

#endif
