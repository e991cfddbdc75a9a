/* data-split: split cleaned records into train / valid / test by package
 * and deduplicate them by the hash of their normalized assembly across the
 * whole set.  A function that occurs in several splits is kept in the first
 * of train, valid, test (so nothing of the training data is in the test
 * split), and once within it. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dataset.h"
#include "rec.h"
#include "u64map.h"

static const char usage_text[] =
	"usage: data-split -o DIR [options] FILE...\n"
	"Split records by package into DIR/{train,valid,test}.msgpack, deduplicated.\n"
	"  -o, --out DIR         output directory (must exist)\n"
	"  -t, --test LIST       comma-separated packages for the test split\n"
	"  -v, --valid LIST      comma-separated packages for the validation split\n"
	"  -T, --test-pct N      other packages: N%% to test by hash of the name (default 0)\n"
	"  -V, --valid-pct N     and N%% to valid (default 0)\n"
	"  -S, --seed S          seed of that hash (default 0)\n"
	"  -R, --report FILE     counts (TSV; default stderr)\n"
	"  -z, --gzip            gzip the outputs\n"
	"  -h, --help            this text\n";

static _Noreturn void usage(int status)
{
	fputs(usage_text, status ? stderr : stdout);
	exit(status);
}

enum { TRAIN, VALID, TEST, NSPLIT };
static const char *const split_name[NSPLIT] = { "train", "valid", "test" };

/* hash -> its best split (low byte) and whether it was written (DONE). */
#define DONE 0x100u

static int in_list(const char *list, const char *s, size_t n)
{
	const char *p = list;

	while (p && *p) {
		const char *q = strchr(p, ',');
		size_t k = q ? (size_t)(q - p) : strlen(p);

		if (k == n && !memcmp(p, s, n))
			return 1;
		p = q ? q + 1 : NULL;
	}
	return 0;
}

static const char *test_list, *valid_list;
static uint64_t test_pct, valid_pct, seed;

static int split_of(const char *pkg, size_t n)
{
	uint64_t h;

	if (in_list(test_list, pkg, n))
		return TEST;
	if (in_list(valid_list, pkg, n))
		return VALID;
	h = dataset_fnv(pkg, n, dataset_fnv(&seed, sizeof seed, DATASET_FNV_INIT)) % 100;
	return h < test_pct ? TEST : h < test_pct + valid_pct ? VALID : TRAIN;
}

/* 0 ok, -1 skip this record (counted) */
static int classify(const rec *r, int *split, uint64_t *h, an_err *e)
{
	const char *pkg = "";
	size_t n = 0;

	if (rec_has(r, F_PKG) && rec_get_str(r, F_PKG, &pkg, &n, e))
		return -1;
	*split = split_of(pkg, n);
	return dataset_hash(r, DATASET_NORM, h, NULL, e);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "test", required_argument, NULL, 't' },
		{ "valid", required_argument, NULL, 'v' },
		{ "test-pct", required_argument, NULL, 'T' },
		{ "valid-pct", required_argument, NULL, 'V' },
		{ "seed", required_argument, NULL, 'S' },
		{ "report", required_argument, NULL, 'R' },
		{ "gzip", no_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dir = NULL, *report = NULL;
	int gz = 0, c, status = 0;
	uint64_t in[NSPLIT] = { 0 }, out[NSPLIT] = { 0 }, dup[NSPLIT] = { 0 }, cross[NSPLIT] = { 0 },
		 bad = 0;
	u64map t = { 0 };
	rec_writer *w[NSPLIT];
	int fd[NSPLIT];
	char tmp[NSPLIT][4096], fin[NSPLIT][4096];
	cli_in ci;
	rec r;
	an_err e = { 0 };
	int rc;

	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "o:t:v:T:V:S:R:zh", lo, NULL)) != -1) {
		switch (c) {
		case 'o': dir = optarg; break;
		case 't': test_list = optarg; break;
		case 'v': valid_list = optarg; break;
		case 'T': test_pct = cli_opt_u64("--test-pct", optarg, 0, 100); break;
		case 'V': valid_pct = cli_opt_u64("--valid-pct", optarg, 0, 100); break;
		case 'S': seed = cli_opt_u64("--seed", optarg, 0, UINT64_MAX); break;
		case 'R': report = optarg; break;
		case 'z': gz = 1; break;
		case 'h': usage(CLI_OK);
		default:  usage(CLI_USAGE);
		}
	}
	if (!dir || optind == argc)
		usage(CLI_USAGE);
	if (test_pct + valid_pct > 100)
		cli_die(CLI_USAGE, "--test-pct and --valid-pct add up to more than 100");
	for (int i = optind; i < argc; i++)
		if (!strcmp(argv[i], "-"))
			cli_die(CLI_USAGE, "inputs are read twice: give files, not stdin");
	rec_init(&r);

	/* Pass 1: the best split of every hash. */
	cli_in_init(&ci, argv + optind, argc - optind);
	while ((rc = cli_in_next(&ci, &r, &e)) != 0) {
		int s;
		uint64_t h;
		uint32_t *best;

		if (rc < 0)
			cli_die(CLI_DATA, "%s", e.msg);
		if (classify(&r, &s, &h, &e))
			continue;   /* reported in pass 2 */
		if (!(best = u64map_get(&t, h, NSPLIT, NULL)))
			cli_die(CLI_DATA, "out of memory");
		if ((uint32_t)s < *best)
			*best = (uint32_t)s;
	}
	cli_in_free(&ci);

	/* Pass 2: write each hash once, in its best split. */
	for (int s = 0; s < NSPLIT; s++) {
		snprintf(fin[s], sizeof fin[s], "%s/%s.msgpack", dir, split_name[s]);
		snprintf(tmp[s], sizeof tmp[s], "%s/.%s.msgpack.tmp", dir, split_name[s]);
		if ((fd[s] = open(tmp[s], O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
			cli_die(CLI_DATA, "%s: %s", tmp[s], strerror(errno));
		if (!(w[s] = rec_writer_fd(fd[s], gz ? 6 : 0, &e)))
			cli_die(CLI_DATA, "%s", e.msg);
	}
	cli_in_init(&ci, argv + optind, argc - optind);
	while ((rc = cli_in_next(&ci, &r, &e)) != 0) {
		int s;
		uint64_t h;
		uint32_t *sl;
		char where[256];

		if (rc < 0)
			cli_die(CLI_DATA, "%s", e.msg);
		if (classify(&r, &s, &h, &e)) {
			cli_warn("%s: %s: %s", r.src, rec_where(&r, where, sizeof where), e.msg);
			bad++;
			continue;
		}
		in[s]++;
		sl = u64map_find(&t, h);
		if (!sl || (*sl & 0xff) != (uint32_t)s) {
			cross[s]++;
			continue;
		}
		if (*sl & DONE) {
			dup[s]++;
			continue;
		}
		*sl |= DONE;
		if (rec_write(w[s], &r, &e))
			cli_die(CLI_DATA, "%s: %s", tmp[s], e.msg);
		out[s]++;
	}
	cli_in_free(&ci);
	rec_free(&r);
	u64map_free(&t);
	for (int s = 0; s < NSPLIT; s++) {
		if (rec_writer_close(w[s], &e))
			cli_die(CLI_DATA, "%s: %s", tmp[s], e.msg);
		if (fsync(fd[s]) || close(fd[s]) || rename(tmp[s], fin[s]))
			cli_die(CLI_DATA, "%s: %s", fin[s], strerror(errno));
	}
	{
		FILE *f = report ? fopen(report, "w") : stderr;

		if (!f)
			cli_die(CLI_DATA, "%s: %s", report, strerror(errno));
		fprintf(f, "split\tin\tduplicate\tin_earlier_split\tout\n");
		for (int s = 0; s < NSPLIT; s++)
			fprintf(f, "%s\t%llu\t%llu\t%llu\t%llu\n", split_name[s],
				(unsigned long long)in[s], (unsigned long long)dup[s],
				(unsigned long long)cross[s], (unsigned long long)out[s]);
		fprintf(f, "bad\t%llu\t-\t-\t-\n", (unsigned long long)bad);
		if (report && fclose(f))
			cli_die(CLI_DATA, "%s: %s", report, strerror(errno));
	}
	if (bad)
		status = CLI_DATA;
	return status;
}
