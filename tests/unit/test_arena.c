/* test_arena: the parameter arena (common/arena.h): layout, load/save
 * through safetensors, per-group AdamW, frozen tensors, gradient clipping. */
#include <unistd.h>

#include "arena.h"
#include "test.h"

static void fill(float *p, size_t n, float base)
{
	for (size_t i = 0; i < n; i++)
		p[i] = base + 0.01f * (float)i;
}

static void run(an_dev *d, const char *tag)
{
	arena a;
	an_err e = {0};
	char name[128], path[] = "/tmp/test_arena.XXXXXX";
	int fd = mkstemp(path);

	if (fd >= 0)
		close(fd);
	arena_init(&a);
	int w = arena_add(&a, "enc.w", 2, (int64_t[]){3, 5}, 0, &e);
	int b = arena_add(&a, "enc.b", 1, (int64_t[]){3}, 1, &e);
	int f = arena_add(&a, "frozen", 1, (int64_t[]){4}, 0, &e);
	snprintf(name, sizeof name, "%s arena_add", tag);
	CHECK(w == 0 && b == 1 && f == 2, name, "%s", e.msg);
	snprintf(name, sizeof name, "%s arena duplicate name rejected", tag);
	CHECK(arena_add(&a, "enc.w", 1, (int64_t[]){1}, 0, &e) < 0 && strstr(e.msg, "enc.w"), name,
			"%s", e.msg);
	snprintf(name, sizeof name, "%s arena bad group rejected", tag);
	CHECK(arena_add(&a, "x", 1, (int64_t[]){1}, 99, &e) < 0, name, "accepted");
	a.t[f].frozen = 1;
	a.groups[1].lr_scale = 0.1f;
	a.groups[0].weight_decay = 0.01f;
	snprintf(name, sizeof name, "%s arena_alloc", tag);
	CHECK(arena_alloc(&a, d, ARENA_PARAMS | ARENA_GRADS | ARENA_ADAM, &e) == 0, name, "%s",
			e.msg);
	snprintf(name, sizeof name, "%s arena offsets 64-byte aligned", tag);
	CHECK(a.t[b].off % 16 == 0 && a.t[f].off % 16 == 0 && a.t[b].off >= 15 &&
			((uintptr_t)arena_param(&a, b) & 63) == 0, name, "off %zu", a.t[b].off);
	snprintf(name, sizeof name, "%s arena add after alloc rejected", tag);
	CHECK(arena_add(&a, "late", 1, (int64_t[]){1}, 0, &e) < 0, name, "accepted");

	/* save, clobber, load back */
	fill(arena_param(&a, w), 15, 1.0f);
	fill(arena_param(&a, b), 3, -1.0f);
	fill(arena_param(&a, f), 4, 5.0f);
	const char *meta[] = {"kind", "test"};
	snprintf(name, sizeof name, "%s arena_save", tag);
	CHECK(arena_save(&a, path, "m.", meta, 1, &e) == 0, name, "%s", e.msg);
	memset(a.params, 0, a.numel * sizeof(float));
	st s;
	int rc = st_open(&s, path, &e);
	snprintf(name, sizeof name, "%s arena_load round trip", tag);
	CHECK(rc == 0 && arena_load(&a, &s, "m.", ARENA_STRICT, &e) == 3 &&
			arena_param(&a, w)[14] == 1.0f + 0.01f * 14 && arena_param(&a, b)[0] == -1.0f &&
			st_meta(&s, NULL, "kind"), name, "%s", e.msg);
	snprintf(name, sizeof name, "%s arena_load strict missing prefix", tag);
	CHECK(arena_load(&a, &s, "x.", ARENA_STRICT, &e) < 0 && strstr(e.msg, "x.enc.w"), name, "%s",
			e.msg);
	snprintf(name, sizeof name, "%s arena_load partial", tag);
	CHECK(arena_load(&a, &s, "x.", ARENA_PARTIAL, &e) == 0, name, "%s", e.msg);
	st_close(&s);
	/* a file whose shape differs */
	float tmp[15] = {0};
	st_wtensor t[] = {{"enc.w", ST_F32, 2, {5, 3}, tmp}};
	st_write(path, t, 1, NULL, 0, &e);
	st_open(&s, path, &e);
	snprintf(name, sizeof name, "%s arena_load shape mismatch", tag);
	CHECK(arena_load(&a, &s, "", ARENA_PARTIAL, &e) < 0 && strstr(e.msg, "[5,3], expected [3,5]"),
			name, "%s", e.msg);
	st_close(&s);
	unlink(path);

	/* one AdamW step: per-group lr and weight decay, frozen untouched */
	float p0[15], pb0[3], pf0[4];
	memcpy(p0, arena_param(&a, w), sizeof p0);
	memcpy(pb0, arena_param(&a, b), sizeof pb0);
	memcpy(pf0, arena_param(&a, f), sizeof pf0);
	fill(arena_grad(&a, w), 15, 0.5f);
	fill(arena_grad(&a, b), 3, -0.2f);
	fill(arena_grad(&a, f), 4, 1.0f);
	adamw_hp hp = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
		.weight_decay = 123.0f /* ignored: groups decide */, .t = 1};
	snprintf(name, sizeof name, "%s arena_adamw", tag);
	CHECK(arena_adamw(&a, &hp, &e) == 0, name, "%s", e.msg);
	float m[15] = {0}, v[15] = {0}, g[15];
	fill(g, 15, 0.5f);
	adamw_hp h0 = hp;
	h0.weight_decay = 0.01f;
	adamw_update_cpu(p0, g, m, v, 15, &h0);
	adamw_hp h1 = hp;
	h1.lr = 1e-3f;
	h1.weight_decay = 0;
	fill(g, 3, -0.2f);
	memset(m, 0, sizeof m);
	memset(v, 0, sizeof v);
	adamw_update_cpu(pb0, g, m, v, 3, &h1);
	snprintf(name, sizeof name, "%s arena_adamw groups and frozen", tag);
	CHECK(memcmp(p0, arena_param(&a, w), sizeof p0) == 0 &&
			memcmp(pb0, arena_param(&a, b), sizeof pb0) == 0 &&
			memcmp(pf0, arena_param(&a, f), sizeof pf0) == 0, name, "differs");

	/* clip: grads of every tensor (padding stays zero) */
	float norm;
	double ss = 0;
	for (int i = 0; i < 3; i++)
		for (size_t k = 0; k < a.t[i].numel; k++)
			ss += (double)arena_grad(&a, i)[k] * arena_grad(&a, i)[k];
	snprintf(name, sizeof name, "%s arena_clip_grad", tag);
	CHECK(arena_clip_grad(&a, 1.0f, &norm, &e) == 0 && fabs(norm - sqrt(ss)) < 1e-4 &&
			fabs(sqrt(sumsq_cpu(a.grads, a.numel)) - 1.0) < 1e-4, name, "norm %g vs %g",
			norm, sqrt(ss));
	arena_zero_grad(&a, &e);
	snprintf(name, sizeof name, "%s arena_zero_grad", tag);
	CHECK(sumsq_cpu(a.grads, a.numel) == 0, name, "not zero");
	arena_free(&a);
}

int main(void)
{
	an_err e = {0};
	an_dev *d = dev_open("cpu", 0, &e);

	run(NULL, "host");
	if (d)
		run(d, "cpu-dev");
	else
		CHECK(0, "dev_open cpu", "%s", e.msg);
	dev_close(d);
	return t_done();
}
