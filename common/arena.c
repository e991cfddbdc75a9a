/* arena.c: parameters in one allocation with a descriptor table (arena.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#define ALIGN_FLOATS 16   /* 64 bytes */

void arena_init(arena *a)
{
	memset(a, 0, sizeof *a);
	for (int g = 0; g < ARENA_MAX_GROUPS; g++)
		a->groups[g].lr_scale = 1.0f;
}

static void buf_free(arena *a, float **p)
{
	if (!*p)
		return;
	if (a->dev)
		dev_free(a->dev, *p);
	else
		free(*p);
	*p = NULL;
}

void arena_free(arena *a)
{
	buf_free(a, &a->params);
	buf_free(a, &a->grads);
	buf_free(a, &a->m);
	buf_free(a, &a->v);
	for (int i = 0; i < a->n; i++)
		free(a->t[i].name);
	free(a->t);
	arena_init(a);
}

int arena_find(const arena *a, const char *name)
{
	for (int i = 0; i < a->n; i++)
		if (strcmp(a->t[i].name, name) == 0)
			return i;
	return -1;
}

int arena_add(arena *a, const char *name, int ndim, const int64_t *shape, int group, an_err *e)
{
	if (a->params || a->grads) {
		an_err_set(e, "arena: tensor \"%s\" added after allocation", name);
		return -1;
	}
	if (ndim < 0 || ndim > ARENA_MAX_DIM) {
		an_err_set(e, "arena: tensor \"%s\": %d dimensions (at most %d)", name, ndim,
				ARENA_MAX_DIM);
		return -1;
	}
	if (group < 0 || group >= ARENA_MAX_GROUPS) {
		an_err_set(e, "arena: tensor \"%s\": group %d outside [0,%d)", name, group,
				ARENA_MAX_GROUPS);
		return -1;
	}
	if (arena_find(a, name) >= 0) {
		an_err_set(e, "arena: tensor \"%s\" declared twice", name);
		return -1;
	}
	size_t numel = 1;
	for (int i = 0; i < ndim; i++) {
		if (shape[i] < 0 || __builtin_mul_overflow(numel, (size_t)shape[i], &numel)) {
			an_err_set(e, "arena: tensor \"%s\": bad shape", name);
			return -1;
		}
	}
	if (a->n == a->cap) {
		int nc = a->cap ? 2 * a->cap : 64;
		arena_tensor *nt = realloc(a->t, (size_t)nc * sizeof *nt);

		if (!nt) {
			an_err_sys(e, "arena: tensor \"%s\"", name);
			return -1;
		}
		a->t = nt;
		a->cap = nc;
	}
	arena_tensor *t = &a->t[a->n];
	memset(t, 0, sizeof *t);
	if (!(t->name = strdup(name))) {
		an_err_sys(e, "arena: tensor \"%s\"", name);
		return -1;
	}
	t->ndim = ndim;
	for (int i = 0; i < ndim; i++)
		t->shape[i] = shape[i];
	t->numel = numel;
	t->group = group;
	t->off = a->numel;
	a->numel += (numel + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
	return a->n++;
}

static int buf_alloc(arena *a, float **p, an_err *e)
{
	size_t bytes = (a->numel ? a->numel : 1) * sizeof(float);

	if (*p)
		return 0;
	if (a->dev) {
		if (!(*p = dev_malloc(a->dev, bytes, e)))
			return -1;
		return dev_memset(a->dev, *p, 0, bytes, e);
	}
	void *q = NULL;
	if (posix_memalign(&q, 64, bytes) != 0) {
		errno = ENOMEM;
		an_err_sys(e, "arena: %zu bytes", bytes);
		return -1;
	}
	memset(q, 0, bytes);
	*p = q;
	return 0;
}

int arena_alloc(arena *a, an_dev *d, unsigned what, an_err *e)
{
	if ((a->params || a->grads || a->m) && a->dev != d) {
		an_err_set(e, "arena: already allocated on another device");
		return -1;
	}
	a->dev = d;
	if ((what & ARENA_PARAMS) && buf_alloc(a, &a->params, e) < 0)
		return -1;
	if ((what & ARENA_GRADS) && buf_alloc(a, &a->grads, e) < 0)
		return -1;
	if ((what & ARENA_ADAM) && (buf_alloc(a, &a->m, e) < 0 || buf_alloc(a, &a->v, e) < 0))
		return -1;
	return 0;
}

int arena_zero_grad(arena *a, an_err *e)
{
	if (!a->grads)
		return 0;
	if (a->dev)
		return dev_memset(a->dev, a->grads, 0, a->numel * sizeof(float), e);
	memset(a->grads, 0, a->numel * sizeof(float));
	return 0;
}

int arena_adamw(arena *a, const adamw_hp *hp, an_err *e)
{
	if (!a->params || !a->grads || !a->m || !a->v) {
		an_err_set(e, "arena: adamw needs params, grads and moments allocated");
		return -1;
	}
	for (int i = 0; i < a->n; i++) {
		const arena_tensor *t = &a->t[i];
		adamw_hp h = *hp;

		if (t->frozen || t->numel == 0)
			continue;
		h.lr = hp->lr * a->groups[t->group].lr_scale;
		h.weight_decay = a->groups[t->group].weight_decay;
		if (a->dev) {
			if (dev_adamw_update(a->dev, a->params + t->off, a->grads + t->off,
					a->m + t->off, a->v + t->off, t->numel, &h, e) < 0)
				return -1;
		} else {
			adamw_update_cpu(a->params + t->off, a->grads + t->off, a->m + t->off,
					a->v + t->off, t->numel, &h);
		}
	}
	return 0;
}

int arena_clip_grad(arena *a, float max_norm, float *norm_out, an_err *e)
{
	double ss = 0;

	if (!a->grads) {
		an_err_set(e, "arena: no gradients allocated");
		return -1;
	}
	/* padding between tensors stays zero, so the whole buffer can be summed */
	if (a->dev) {
		if (dev_sumsq(a->dev, a->grads, a->numel, &ss, e) < 0)
			return -1;
	} else {
		ss = sumsq_cpu(a->grads, a->numel);
	}
	double norm = sqrt(ss);
	if (norm_out)
		*norm_out = (float)norm;
	if (max_norm > 0) {
		float c = clip_coef(norm, max_norm);

		if (c < 1.0f) {
			if (a->dev)
				return dev_scale(a->dev, a->grads, c, a->numel, e);
			scale_cpu(a->grads, c, a->numel);
		}
	}
	return 0;
}

int arena_load(arena *a, const st *s, const char *prefix, int flags, an_err *e)
{
	char name[1024];
	float *host = NULL;
	size_t hostcap = 0;
	int copied = 0;

	if (!a->params) {
		an_err_set(e, "arena: load before allocation");
		return -1;
	}
	for (int i = 0; i < a->n; i++) {
		const arena_tensor *t = &a->t[i];

		snprintf(name, sizeof name, "%s%s", prefix ? prefix : "", t->name);
		const st_tensor *st = st_find(s, name);
		if (!st) {
			if (flags & ARENA_STRICT) {
				an_err_set(e, "%s: no tensor \"%s\"",
						s->nfiles ? s->files[0].path : "?", name);
				goto fail;
			}
			continue;
		}
		float *dst = a->params + t->off;
		if (a->dev && a->dev->kind != AN_DEV_CPU) {
			if (t->numel > hostcap) {
				float *nh = realloc(host, t->numel * sizeof *nh);

				if (!nh) {
					an_err_sys(e, "arena: loading \"%s\"", name);
					goto fail;
				}
				host = nh;
				hostcap = t->numel;
			}
			dst = host;
		}
		if (st_get_f32(s, name, t->ndim, t->shape, dst, e) < 0)
			goto fail;
		if (dst == host && dev_upload(a->dev, a->params + t->off, host,
					t->numel * sizeof(float), e) < 0)
			goto fail;
		copied++;
	}
	free(host);
	return copied;
fail:
	free(host);
	return -1;
}

int arena_save(const arena *a, const char *path, const char *prefix,
		const char *const *meta, size_t nmeta, an_err *e)
{
	st_wtensor *w = calloc((size_t)a->n + 1, sizeof *w);
	char **names = calloc((size_t)a->n + 1, sizeof *names);
	float *host = NULL;
	int rc = -1;

	if (!w || !names) {
		an_err_sys(e, "%s", path);
		goto out;
	}
	const float *src = a->params;
	if (a->dev && a->dev->kind != AN_DEV_CPU) {
		if (!(host = malloc(a->numel * sizeof *host))) {
			an_err_sys(e, "%s", path);
			goto out;
		}
		if (dev_download(a->dev, host, a->params, a->numel * sizeof *host, e) < 0)
			goto out;
		src = host;
	}
	for (int i = 0; i < a->n; i++) {
		size_t len = strlen(prefix ? prefix : "") + strlen(a->t[i].name) + 1;

		if (!(names[i] = malloc(len))) {
			an_err_sys(e, "%s", path);
			goto out;
		}
		snprintf(names[i], len, "%s%s", prefix ? prefix : "", a->t[i].name);
		w[i].name = names[i];
		w[i].dtype = ST_F32;
		w[i].ndim = a->t[i].ndim;
		for (int d = 0; d < a->t[i].ndim; d++)
			w[i].shape[d] = a->t[i].shape[d];
		w[i].data = src + a->t[i].off;
	}
	rc = st_write(path, w, (size_t)a->n, meta, nmeta, e);
out:
	if (names)
		for (int i = 0; i < a->n; i++)
			free(names[i]);
	free(names);
	free(w);
	free(host);
	return rc;
}
