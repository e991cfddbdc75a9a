/* name-baseline: the simple predictors a model has to beat.  Learns from a
 * training split and writes each input record with a `pred`:
 *   most-frequent  the most frequent name of the training split;
 *   hash           the name of a training function with the same normalized
 *                  assembly (dataset.h DATASET_NORM), else the most frequent;
 *   skel           the same with the coarser skeleton hash (DATASET_SKEL);
 *   bag            the name of the nearest training function by cosine of
 *                  TF-IDF-weighted hashed bags of instruction tokens. */
#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dataset.h"
#include "rec.h"

static const char usage_text[] =
	"usage: name-baseline -t TRAIN [-m METHOD] [options] [FILE...]\n"
	"Predict names (field pred) with a baseline learnt from the TRAIN records.\n"
	"  -t, --train FILE      training records (repeatable)\n"
	"  -m, --method M        most-frequent (default), hash, skel or bag\n"
	"  -d, --dim N           bag: hashed feature dimension (default 512)\n"
	"  -z, --gzip            gzip the output\n"
	"  -f, --force           write records even to a terminal\n"
	"  -h, --help            this text\n";

static _Noreturn void usage(int status)
{
	fputs(usage_text, status ? stderr : stdout);
	exit(status);
}

enum { M_FREQ, M_HASH, M_SKEL, M_BAG };

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		cli_die(CLI_DATA, "out of memory");
	return q;
}

/* The training names, interned: name id -> string and count. */
typedef struct names_tab {
	char    **s;
	uint64_t *count;
	size_t    n, cap;
	uint32_t *slot;     /* open addressing over ids + 1 */
	size_t    scap;
} names_tab;

static uint32_t intern(names_tab *t, const char *s, size_t len)
{
	uint64_t h = dataset_fnv(s, len, DATASET_FNV_INIT);
	size_t i;

	if (2 * (t->n + 1) > t->scap) {
		size_t ncap = t->scap ? 2 * t->scap : 1 << 16;

		free(t->slot);
		t->slot = calloc(ncap, sizeof *t->slot);
		if (!t->slot)
			cli_die(CLI_DATA, "out of memory");
		t->scap = ncap;
		for (size_t k = 0; k < t->n; k++) {
			uint64_t hk = dataset_fnv(t->s[k], strlen(t->s[k]), DATASET_FNV_INIT);

			for (i = hk & (ncap - 1); t->slot[i]; i = (i + 1) & (ncap - 1))
				;
			t->slot[i] = (uint32_t)k + 1;
		}
	}
	for (i = h & (t->scap - 1); t->slot[i]; i = (i + 1) & (t->scap - 1)) {
		const char *o = t->s[t->slot[i] - 1];

		if (strlen(o) == len && !memcmp(o, s, len))
			return t->slot[i] - 1;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 1024;
		t->s = xrealloc(t->s, t->cap * sizeof *t->s);
		t->count = xrealloc(t->count, t->cap * sizeof *t->count);
	}
	t->s[t->n] = xrealloc(NULL, len + 1);
	memcpy(t->s[t->n], s, len);
	t->s[t->n][len] = 0;
	t->count[t->n] = 0;
	t->slot[i] = (uint32_t)t->n + 1;
	return (uint32_t)t->n++;
}

/* asm hash -> name id of the first training function with it. */
typedef struct hmap {
	uint64_t *k;
	uint32_t *v;
	size_t    n, cap;
} hmap;

static void hmap_put(hmap *m, uint64_t k, uint32_t v)
{
	size_t i;

	k = k ? k : 1;
	if (2 * (m->n + 1) > m->cap) {
		hmap o = *m;

		m->cap = o.cap ? 2 * o.cap : 1 << 16;
		m->n = 0;
		m->k = calloc(m->cap, sizeof *m->k);
		m->v = calloc(m->cap, sizeof *m->v);
		if (!m->k || !m->v)
			cli_die(CLI_DATA, "out of memory");
		for (size_t j = 0; j < o.cap; j++)
			if (o.k[j])
				hmap_put(m, o.k[j], o.v[j]);
		free(o.k);
		free(o.v);
	}
	for (i = k & (m->cap - 1); m->k[i]; i = (i + 1) & (m->cap - 1))
		if (m->k[i] == k)
			return;   /* first one wins */
	m->k[i] = k;
	m->v[i] = v;
	m->n++;
}

static int hmap_get(const hmap *m, uint64_t k, uint32_t *v)
{
	k = k ? k : 1;
	if (!m->cap)
		return 0;
	for (size_t i = k & (m->cap - 1); m->k[i]; i = (i + 1) & (m->cap - 1))
		if (m->k[i] == k) {
			*v = m->v[i];
			return 1;
		}
	return 0;
}

/* counts -> (1 + ln tf) * idf, then unit length */
static void weigh(float *v, const float *idf, size_t d)
{
	double ss = 0;

	for (size_t k = 0; k < d; k++) {
		v[k] = v[k] > 0 ? (float)((1 + log(v[k])) * idf[k]) : 0;
		ss += (double)v[k] * v[k];
	}
	if (ss > 0)
		for (size_t k = 0; k < d; k++)
			v[k] = (float)(v[k] / sqrt(ss));
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "train", required_argument, NULL, 't' },
		{ "method", required_argument, NULL, 'm' },
		{ "dim", required_argument, NULL, 'd' },
		{ "gzip", no_argument, NULL, 'z' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	enum { BLOCK = 256 };
	char **train = NULL;
	int ntrain_files = 0, method = M_FREQ, gz = 0, force = 0, c, status = 0;
	size_t d = 512, ntr = 0, captr = 0, nblock = 0;
	uint64_t matched = 0, total = 0, bad = 0, ntrained = 0;
	names_tab nt = { 0 };
	hmap hm = { 0 };
	uint32_t *tr_name = NULL, best = 0;
	float *tr_vec = NULL, *idf = NULL, *qv = NULL, *sim = NULL;
	rec blk[BLOCK];
	rec_writer *w;
	cli_in in;
	rec r;
	an_err e = { 0 };
	int rc;

	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "t:m:d:zfh", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			train = xrealloc(train, (size_t)(ntrain_files + 1) * sizeof *train);
			train[ntrain_files++] = optarg;
			break;
		case 'm':
			if (!strcmp(optarg, "most-frequent"))
				method = M_FREQ;
			else if (!strcmp(optarg, "hash"))
				method = M_HASH;
			else if (!strcmp(optarg, "skel"))
				method = M_SKEL;
			else if (!strcmp(optarg, "bag"))
				method = M_BAG;
			else
				cli_die(CLI_USAGE, "--method: unknown method \"%s\"", optarg);
			break;
		case 'd': d = cli_opt_u64("--dim", optarg, 1, 1 << 16); break;
		case 'z': gz = 1; break;
		case 'f': force = 1; break;
		case 'h': usage(CLI_OK);
		default:  usage(CLI_USAGE);
		}
	}
	if (!ntrain_files)
		usage(CLI_USAGE);
	cli_check_stdout(force);

	/* Learn. */
	rec_init(&r);
	cli_in_init(&in, train, ntrain_files);
	while ((rc = cli_in_next(&in, &r, &e)) != 0) {
		const char *name;
		size_t len;
		uint32_t id;
		uint64_t h;

		if (rc < 0)
			cli_die(CLI_DATA, "%s", e.msg);
		if (!rec_has(&r, F_NAME) || rec_get_str(&r, F_NAME, &name, &len, &e) || !len)
			continue;
		id = intern(&nt, name, len);
		nt.count[id]++;
		ntrained++;
		if ((method == M_HASH || method == M_SKEL) &&
		    !dataset_hash(&r, method == M_HASH ? DATASET_NORM : DATASET_SKEL, &h, NULL, &e))
			hmap_put(&hm, h, id);
		if (method == M_BAG) {
			if (ntr == captr) {
				captr = captr ? 2 * captr : 4096;
				tr_vec = xrealloc(tr_vec, captr * d * sizeof *tr_vec);
				tr_name = xrealloc(tr_name, captr * sizeof *tr_name);
			}
			memset(tr_vec + ntr * d, 0, d * sizeof *tr_vec);
			if (dataset_bag(&r, tr_vec + ntr * d, d, &e))
				continue;
			tr_name[ntr++] = id;
		}
	}
	cli_in_free(&in);
	if (!nt.n)
		cli_die(CLI_DATA, "no named functions in the training records");
	for (size_t i = 1; i < nt.n; i++)   /* ties: the first seen */
		if (nt.count[i] > nt.count[best])
			best = (uint32_t)i;
	if (method == M_BAG) {
		idf = xrealloc(NULL, d * sizeof *idf);
		for (size_t k = 0; k < d; k++) {
			size_t df = 0;

			for (size_t i = 0; i < ntr; i++)
				df += tr_vec[i * d + k] > 0;
			idf[k] = (float)(log((1.0 + (double)ntr) / (1.0 + (double)df)) + 1);
		}
		for (size_t i = 0; i < ntr; i++)
			weigh(tr_vec + i * d, idf, d);
		qv = xrealloc(NULL, (size_t)BLOCK * d * sizeof *qv);
		sim = xrealloc(NULL, (size_t)BLOCK * (ntr ? ntr : 1) * sizeof *sim);
		for (int i = 0; i < BLOCK; i++)
			rec_init(&blk[i]);
	}

	/* Predict. */
	if (!(w = rec_writer_fd(1, gz ? 6 : 0, &e)))
		cli_die(CLI_DATA, "%s", e.msg);
	cli_in_init(&in, argv + optind, argc - optind);
	for (;;) {
		int end;

		rc = cli_in_next(&in, &r, &e);
		if (rc < 0) {
			cli_warn("%s", e.msg);
			status = CLI_DATA;
			continue;
		}
		end = rc == 0;
		if (!end) {
			uint32_t id = best;
			uint64_t h;

			total++;
			if (method == M_HASH || method == M_SKEL) {
				if (!dataset_hash(&r, method == M_HASH ? DATASET_NORM : DATASET_SKEL, &h, NULL, &e) &&
				    hmap_get(&hm, h, &id))
					matched++;
			}
			if (method != M_BAG) {
				if (rec_set_str(&r, F_PRED, nt.s[id], strlen(nt.s[id])))
					cli_die(CLI_DATA, "out of memory");
				if (rec_write(w, &r, &e))
					cli_write_failed(&e);
				continue;
			}
			if (rec_copy(&blk[nblock], &r, &e))
				cli_die(CLI_DATA, "%s", e.msg);
			nblock++;
		}
		if (method == M_BAG && nblock && (end || nblock == BLOCK)) {
			memset(qv, 0, nblock * d * sizeof *qv);
			for (size_t i = 0; i < nblock; i++) {
				char where[256];

				if (dataset_bag(&blk[i], qv + i * d, d, &e)) {
					cli_warn("%s: %s: %s", blk[i].src, rec_where(&blk[i], where, sizeof where), e.msg);
					bad++;
				}
				weigh(qv + i * d, idf, d);
			}
			if (ntr)
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nblock, (int)ntr,
					    (int)d, 1.0f, qv, (int)d, tr_vec, (int)d, 0.0f, sim, (int)ntr);
			for (size_t i = 0; i < nblock; i++) {
				uint32_t id = best;

				if (ntr) {
					const float *row = sim + i * ntr;
					size_t arg = 0;

					for (size_t j = 1; j < ntr; j++)
						if (row[j] > row[arg])
							arg = j;
					id = tr_name[arg];
					matched += row[arg] > 0;
				}
				if (rec_set_str(&blk[i], F_PRED, nt.s[id], strlen(nt.s[id])))
					cli_die(CLI_DATA, "out of memory");
				if (rec_write(w, &blk[i], &e))
					cli_write_failed(&e);
			}
			nblock = 0;
		}
		if (end)
			break;
	}
	cli_in_free(&in);
	if (rec_writer_close(w, &e))
		cli_write_failed(&e);
	fprintf(stderr, "%s: %llu training functions, %zu names, most frequent \"%s\" (%llu); "
		"%llu of %llu predictions from a %s\n", cli_prog,
		(unsigned long long)ntrained, nt.n, nt.s[best],
		(unsigned long long)nt.count[best], (unsigned long long)matched,
		(unsigned long long)total, method == M_BAG ? "neighbour" : "hash match");
	rec_free(&r);
	if (method == M_BAG)
		for (int i = 0; i < BLOCK; i++)
			rec_free(&blk[i]);
	for (size_t i = 0; i < nt.n; i++)
		free(nt.s[i]);
	free(nt.s);
	free(nt.count);
	free(nt.slot);
	free(hm.k);
	free(hm.v);
	free(tr_vec);
	free(tr_name);
	free(idf);
	free(qv);
	free(sim);
	free(train);
	return bad ? CLI_DATA : status;
}
