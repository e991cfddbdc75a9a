/* data-clean: the per-package hygiene of the data pipelines.  Reads
 * asm-extract records, sets pkg/opt, turns names into labels (clone and
 * version suffixes dropped), attaches the function's source from a ctags
 * index, and drops what cannot be a training example, counting every rule. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dataset.h"
#include "names.h"
#include "rec.h"
#include "u64map.h"

static const char usage_text[] =
	"usage: data-clean [options] [FILE...]\n"
	"Clean asm-extract records for a data set; counts go to --report or stderr.\n"
	"  -p, --pkg NAME        set the pkg field\n"
	"  -O, --opt LEVEL       set the opt field (O0..O3)\n"
	"  -m, --min-insns N     drop functions of fewer than N instructions (default 1)\n"
	"  -c, --ctags TAGS      attach src from this ctags index; drop functions not in it\n"
	"  -r, --src-root DIR    the directory the ctags paths are relative to (default .)\n"
	"  -s, --src-file PATH   only definitions in this file (as ctags names it)\n"
	"  -d, --dedup           drop a function whose normalized asm was seen before\n"
	"  -x, --exclude FILE    drop functions whose normalized asm is in FILE (records)\n"
	"  -R, --report FILE     write the counts per rule to FILE (TSV)\n"
	"      --keep-cxx        keep C++ mangled names (_Z...)\n"
	"  -z, --gzip            gzip the output\n"
	"  -f, --force           write records even to a terminal\n"
	"  -h, --help            this text\n";

static _Noreturn void usage(int status)
{
	fputs(usage_text, status ? stderr : stdout);
	exit(status);
}

/* Add h to the set; 1 if it was not there. */
static int hset_add(u64map *s, uint64_t h)
{
	int added;

	if (!u64map_get(s, h, 0, &added))
		cli_die(CLI_DATA, "out of memory");
	return added;
}

enum { C_IN, C_NONAME, C_CXX, C_WORDLESS, C_RELABEL, C_TINY, C_NOSRC, C_DUP, C_KNOWN, C_BAD, C_OUT, C_N };
static const char *const cname[C_N] = {
	"in", "no_name", "cxx", "wordless_name", "relabelled", "tiny", "no_src", "duplicate", "known",
	"bad", "out",
};

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "pkg", required_argument, NULL, 'p' },
		{ "opt", required_argument, NULL, 'O' },
		{ "min-insns", required_argument, NULL, 'm' },
		{ "ctags", required_argument, NULL, 'c' },
		{ "src-root", required_argument, NULL, 'r' },
		{ "src-file", required_argument, NULL, 's' },
		{ "dedup", no_argument, NULL, 'd' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "report", required_argument, NULL, 'R' },
		{ "keep-cxx", no_argument, NULL, 'K' },
		{ "gzip", no_argument, NULL, 'z' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *pkg = NULL, *opt = NULL, *tags_path = NULL, *root = ".", *src_file = NULL,
		   *report = NULL;
	char **excl = NULL;
	int nexcl = 0, dedup = 0, gz = 0, force = 0, keep_cxx = 0, c, status = 0;
	uint64_t min_insns = 1, cnt[C_N] = { 0 };
	dataset_tags *tags = NULL;
	u64map seen = { 0 }, known = { 0 };
	rec_writer *w;
	cli_in in;
	rec r;
	an_err e = { 0 };
	int rc;

	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "p:O:m:c:r:s:dx:R:zfh", lo, NULL)) != -1) {
		switch (c) {
		case 'p': pkg = optarg; break;
		case 'O': opt = optarg; break;
		case 'm': min_insns = cli_opt_u64("--min-insns", optarg, 0, 1 << 20); break;
		case 'c': tags_path = optarg; break;
		case 'r': root = optarg; break;
		case 's': src_file = optarg; break;
		case 'd': dedup = 1; break;
		case 'x':
			excl = realloc(excl, (size_t)(nexcl + 1) * sizeof *excl);
			if (!excl)
				cli_die(CLI_DATA, "out of memory");
			excl[nexcl++] = optarg;
			break;
		case 'R': report = optarg; break;
		case 'K': keep_cxx = 1; break;
		case 'z': gz = 1; break;
		case 'f': force = 1; break;
		case 'h': usage(CLI_OK);
		default:  usage(CLI_USAGE);
		}
	}
	cli_check_stdout(force);
	if (tags_path && !(tags = dataset_tags_load(tags_path, &e)))
		cli_die(CLI_DATA, "%s", e.msg);
	rec_init(&r);
	if (nexcl) {   /* the hashes of the functions to keep out */
		cli_in_init(&in, excl, nexcl);
		while ((rc = cli_in_next(&in, &r, &e)) != 0) {
			uint64_t h;

			if (rc < 0)
				cli_die(CLI_DATA, "%s", e.msg);
			if (!dataset_hash(&r, DATASET_NORM, &h, NULL, &e))
				hset_add(&known, h);
		}
		cli_in_free(&in);
	}
	if (!(w = rec_writer_fd(1, gz ? 6 : 0, &e)))
		cli_die(CLI_DATA, "%s", e.msg);
	cli_in_init(&in, argv + optind, argc - optind);
	while ((rc = cli_in_next(&in, &r, &e)) != 0) {
		const char *name;
		size_t nlen, base, ninsn;
		uint64_t h;
		names_words words;
		char where[256];

		if (rc < 0) {
			cli_warn("%s", e.msg);
			status = CLI_DATA;
			continue;
		}
		cnt[C_IN]++;
		rec_where(&r, where, sizeof where);
		if (!rec_has(&r, F_NAME)) {
			cnt[C_NONAME]++;
			continue;
		}
		if (rec_get_str(&r, F_NAME, &name, &nlen, &e) ||
		    dataset_hash(&r, DATASET_NORM, &h, &ninsn, &e)) {
			cli_warn("%s: %s: %s", r.src, where, e.msg);
			cnt[C_BAD]++;
			continue;
		}
		/* Itanium-mangled C++ names ("_ZN3foo3barEv") are not
		 * identifiers a C function could have: their words are noise. */
		if (!keep_cxx && nlen > 2 && name[0] == '_' && name[1] == 'Z') {
			cnt[C_CXX]++;
			continue;
		}
		base = names_base_len(name, nlen);
		names_split(name, base, NAMES_DIGITS, &words);
		if (!words.n) {
			cnt[C_WORDLESS]++;
			continue;
		}
		if (ninsn < min_insns) {
			cnt[C_TINY]++;
			continue;
		}
		if (u64map_find(&known, h)) {
			cnt[C_KNOWN]++;
			continue;
		}
		if (tags) {
			const char *path;
			uint64_t first, last;
			size_t slen;
			char *src;

			if (dataset_tags_find(tags, name, base, src_file, &path, &first, &last)) {
				cnt[C_NOSRC]++;
				continue;
			}
			if (!(src = dataset_lines(root, path, first, last, &slen, &e))) {
				cli_warn("%s: %s: %s", r.src, where, e.msg);
				cnt[C_NOSRC]++;
				continue;
			}
			if (rec_set_str(&r, F_SRC, src, slen))
				cli_die(CLI_DATA, "out of memory");
			free(src);
		}
		if (dedup && !hset_add(&seen, h)) {
			cnt[C_DUP]++;
			continue;
		}
		if (base != nlen) {
			cnt[C_RELABEL]++;
			if (rec_set_str(&r, F_NAME, name, base))
				cli_die(CLI_DATA, "out of memory");
		}
		if ((pkg && rec_set_str(&r, F_PKG, pkg, strlen(pkg))) ||
		    (opt && rec_set_str(&r, F_OPT, opt, strlen(opt))))
			cli_die(CLI_DATA, "out of memory");
		if (rec_write(w, &r, &e))
			cli_write_failed(&e);
		cnt[C_OUT]++;
	}
	if (rec_writer_close(w, &e))
		cli_write_failed(&e);
	cli_in_free(&in);
	rec_free(&r);
	dataset_tags_free(tags);
	u64map_free(&seen);
	u64map_free(&known);
	free(excl);
	{
		FILE *f = report ? fopen(report, "w") : stderr;

		if (!f)
			cli_die(CLI_DATA, "%s: %s", report, strerror(errno));
		for (int i = 0; i < C_N; i++)
			fprintf(f, report ? "%s\t%llu\n" : "data-clean: %s %llu\n", cname[i],
				(unsigned long long)cnt[i]);
		if (report && fclose(f))
			cli_die(CLI_DATA, "%s: %s", report, strerror(errno));
	}
	if (cnt[C_BAD])
		status = CLI_DATA;
	return status;
}
