/* asm-extract: x86-64 ELF files and ar archives -> one record per function.
 * See man/man1/asm-extract.1; the discovery rules are in common/extract.h. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "elf.h"
#include "extract.h"

static void usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: %s [options] FILE...\n"
		"Disassemble every function of x86-64 ELF files (executables, shared objects,\n"
		"relocatable objects, .a archives) into records on stdout.\n"
		"  -s, --section NAME    only functions in this section (repeatable)\n"
		"      --min-size N      leave out functions smaller than N bytes\n"
		"      --named           only functions with a name\n"
		"      --unnamed         only functions without a name\n"
		"  -F, --function F      only the function named F, or at address 0xF\n"
		"      --debug FILE|DIR  take names from this separate debug file, or from\n"
		"                        DIR/.build-id/xx/yyyy.debug by each file's build-id\n"
		"  -z, --gzip            gzip the output\n"
		"  -f, --force           write records even to a terminal\n"
		"  -v, --verbose         report skipped bytes, odd tables, totals\n"
		"  -h, --help            this help\n", cli_prog);
	exit(status);
}

/* A file's bytes: mapped when it is a regular file, else read. */
typedef struct blob {
	void  *p;
	size_t n;
	int    mapped;
} blob;

static int blob_load(blob *b, const char *path, an_err *e)
{
	struct stat st;
	int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY);
	size_t cap = 0;

	memset(b, 0, sizeof *b);
	if (fd < 0) {
		an_err_sys(e, "cannot open");
		return -1;
	}
	if (fstat(fd, &st)) {
		an_err_sys(e, "cannot stat");
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		an_err_set(e, "is a directory");
		goto fail;
	}
	if (S_ISREG(st.st_mode)) {
		if (st.st_size == 0) {
			an_err_set(e, "empty file");
			goto fail;
		}
		b->p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (b->p != MAP_FAILED) {
			b->n = (size_t)st.st_size;
			b->mapped = 1;
			if (fd)
				close(fd);
			return 0;
		}
		b->p = NULL;
	}
	for (;;) {
		ssize_t got;

		if (b->n == cap) {
			void *np;

			cap = cap ? cap * 2 : 1 << 20;
			if (!(np = realloc(b->p, cap))) {
				an_err_set(e, "out of memory reading it");
				goto fail;
			}
			b->p = np;
		}
		got = read(fd, (char *)b->p + b->n, cap - b->n);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			an_err_sys(e, "read error");
			goto fail;
		}
		if (got == 0)
			break;
		b->n += (size_t)got;
	}
	if (fd)
		close(fd);
	if (b->n == 0) {
		free(b->p);
		b->p = NULL;
		an_err_set(e, "empty file");
		return -1;
	}
	return 0;
fail:
	if (fd > 0)
		close(fd);
	free(b->p);
	b->p = NULL;
	return -1;
}

static void blob_free(blob *b)
{
	if (b->mapped)
		munmap(b->p, b->n);
	else
		free(b->p);
	memset(b, 0, sizeof *b);
}

typedef struct run {
	rec_writer  *w;
	cli_progress prog;
	int          errors;
} run;

static int emit(void *ctx, const rec *r, an_err *e)
{
	run *u = ctx;

	if (rec_write(u->w, r, e))
		return -1;
	cli_progress_tick(&u->prog, u->prog.n + 1, "functions");
	return 0;
}

static void msg(void *ctx, int is_error, const char *where, const char *m)
{
	run *u = ctx;

	if (u->prog.shown)
		fputc('\n', stderr);
	u->prog.shown = 0;
	cli_warn("%s: %s%s", where, is_error ? "" : "warning: ", m);
}

/* --debug DIR: load DIR/.build-id/xx/rest.debug for the ELF file in b
 * (nothing for archives or files without a build-id).  1: loaded into
 * x (dbg holds its bytes); 0: none; a missing or bad one is a warning. */
static int debug_for(extractor *x, const char *dir, const char *path, const blob *b, blob *dbg,
		     void *u)
{
	char hex[2 * 64 + 1], dp[8192];
	const unsigned char *id;
	elf_file f;
	size_t n;
	an_err e;

	if (!elf_is_elf(b->p, b->n) || elf_parse(&f, b->p, b->n, &e))
		return 0;
	id = elf_build_id(&f, &n);
	if (!id || n < 2 || n > 64) {
		elf_free(&f);
		msg(u, 0, path, "no build-id to find its debug file by");
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	elf_free(&f);
	snprintf(dp, sizeof dp, "%s/.build-id/%.2s/%s.debug", dir, hex, hex + 2);
	if (access(dp, R_OK) != 0) {
		char m[8300];

		snprintf(m, sizeof m, "no debug file %s", dp);
		msg(u, 0, path, m);
		return 0;
	}
	if (blob_load(dbg, dp, &e) || ext_set_debug(x, dbg->p, dbg->n, dp, &e)) {
		char m[AN_ERR_LEN + 8300];

		snprintf(m, sizeof m, "debug file %s: %s", dp, e.msg);
		msg(u, 0, path, m);
		blob_free(dbg);
		return 0;
	}
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "section", required_argument, 0, 's' },
		{ "min-size", required_argument, 0, 'm' },
		{ "named", no_argument, 0, 'N' },
		{ "unnamed", no_argument, 0, 'U' },
		{ "function", required_argument, 0, 'F' },
		{ "debug", required_argument, 0, 'D' },
		{ "gzip", no_argument, 0, 'z' },
		{ "force", no_argument, 0, 'f' },
		{ "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	ext_opts o = { 0 };
	const char **secs = NULL, *debug = NULL, *debug_dir = NULL;
	int force = 0, gz = 0, c, status = CLI_OK;
	blob dbg = { 0 };
	extractor *x;
	an_err e;
	run u = { 0 };

	cli_init(argv[0]);
	if (!(secs = calloc((size_t)argc, sizeof *secs)))
		cli_die(CLI_DATA, "out of memory");
	while ((c = getopt_long(argc, argv, "s:F:zfvh", lo, NULL)) != -1) {
		switch (c) {
		case 's': secs[o.nsections++] = optarg; break;
		case 'm': o.min_size = cli_opt_u64("--min-size", optarg, 0, UINT64_MAX); break;
		case 'N': o.named = 1; break;
		case 'U': o.named = -1; break;
		case 'F':
			if (strncmp(optarg, "0x", 2) == 0 || strncmp(optarg, "0X", 2) == 0) {
				if (cli_parse_u64(optarg, &o.func_addr))
					cli_die(CLI_USAGE, "-F: bad address '%s'", optarg);
				o.func_is_addr = 1;
			} else
				o.func = optarg;
			break;
		case 'D': debug = optarg; break;
		case 'z': gz = 1; break;
		case 'f': force = 1; break;
		case 'v': o.verbose = 1; break;
		case 'h': usage(0); break;
		default: usage(CLI_USAGE);
		}
	}
	if (optind >= argc) {
		cli_warn("no input files");
		usage(CLI_USAGE);
	}
	if (o.nsections)
		o.sections = secs;
	cli_check_stdout(force);
	cli_progress_init(&u.prog, o.verbose);
	if (!(u.w = rec_writer_fd(1, gz ? 6 : 0, &e)))
		cli_die(CLI_DATA, "%s", e.msg);
	if (!(x = ext_new(&o, emit, msg, &u, &e)))
		cli_die(CLI_DATA, "%s", e.msg);
	if (debug) {
		struct stat st;

		if (stat(debug, &st) == 0 && S_ISDIR(st.st_mode))
			debug_dir = debug;
		else if (blob_load(&dbg, debug, &e) || ext_set_debug(x, dbg.p, dbg.n, debug, &e))
			cli_die(CLI_DATA, "%s: %s", debug, e.msg);
	}
	for (int i = optind; i < argc; i++) {
		blob b, fdbg = { 0 };
		int rc, have = 0;

		if (blob_load(&b, argv[i], &e)) {
			msg(&u, 1, argv[i], e.msg);
			status = CLI_DATA;
			continue;
		}
		if (debug_dir)
			have = debug_for(x, debug_dir, argv[i], &b, &fdbg, &u);
		rc = ext_buffer(x, argv[i], b.p, b.n, &e);
		if (have) {
			ext_clear_debug(x);
			blob_free(&fdbg);
		}
		blob_free(&b);
		if (rc == -2)
			cli_write_failed(&e);
		if (rc) {
			msg(&u, 1, argv[i], e.msg);
			status = CLI_DATA;
		}
	}
	if (ext_get_stats(x)->errors)
		status = CLI_DATA;
	if (rec_writer_close(u.w, &e))
		cli_write_failed(&e);
	cli_progress_done(&u.prog, "functions");
	if (o.verbose) {
		const ext_stats *s = ext_get_stats(x);

		cli_warn("%llu files, %llu archive members, %llu functions, %llu instructions, "
			 "%llu undecodable bytes skipped, %llu errors",
			 (unsigned long long)s->files, (unsigned long long)s->members,
			 (unsigned long long)s->funcs, (unsigned long long)s->insns,
			 (unsigned long long)s->bad_bytes, (unsigned long long)s->errors);
	}
	ext_free(x);
	blob_free(&dbg);
	free(secs);
	return status;
}
