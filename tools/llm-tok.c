/* llm-tok: tokenize text with an LLM's byte-level BPE tokenizer
 * (tokenizer.json, or vocab.json + merges.txt), or decode ids back.
 *
 * Text lines -> one line of ids each; -d: lines of ids -> text; -k FIELD:
 * the string field FIELD of each record -> a line of ids, or with -w the
 * records with the ids added as "llm_tok".  All the work is common/bpe.c. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "cli.h"
#include "fields.h"
#include "rec.h"

static const char usage_text[] =
	"usage: llm-tok -t TOKENIZER [-aSsc] [-W] [FILE...]\n"
	"       llm-tok -t TOKENIZER -d [-x] [FILE...]\n"
	"       llm-tok -t TOKENIZER -k FIELD [-w [-f]] [-aS] [FILE...]\n"
	"Tokenize each line (or each record's FIELD) with an LLM BPE tokenizer, or decode ids.\n"
	"  -t, --tokenizer PATH   tokenizer.json, or a directory with it or with vocab.json + merges.txt\n"
	"  -A, --added TOKEN      add TOKEN as a special token first (repeatable)\n"
	"  -a, --add-special      add the post-processor's tokens (Llama: <|begin_of_text|>)\n"
	"  -S, --split-special    special-token text in the input is plain text\n"
	"  -W, --whole            each input file is one text, not one text per line\n"
	"  -s, --strings          print token strings instead of ids\n"
	"  -c, --count            print only the number of tokens\n"
	"  -d, --decode           input lines are ids (space or comma separated): print the text\n"
	"  -x, --skip-special     with -d: leave out special tokens\n"
	"  -k, --field FIELD      read records and tokenize their string field FIELD\n"
	"  -w, --write            with -k: write the records with the ids in field \"" F_LLM_TOK "\"\n"
	"  -f, --force            with -w: write records even to a terminal\n"
	"  -T, --time             print encoding speed on stderr at the end\n"
	"  -h, --help             this text\n";

static void usage(int status)
{
	fputs(usage_text, status ? stderr : stdout);
	exit(status);
}

typedef struct opts {
	int flags, strings, count, decode, skip, whole, write, force, timing;
	const char *field;
} opts;

static bpe *tok;
static bpe_ids ids;
static bpe_buf buf;
static double enc_seconds;
static uint64_t enc_tokens, enc_bytes;

static int encode(const opts *o, const char *s, size_t n, an_err *e)
{
	double t0 = o->timing ? cli_now() : 0;
	int rc;

	ids.n = 0;
	rc = bpe_encode(tok, s, n, o->flags, &ids, e);
	if (o->timing) {
		enc_seconds += cli_now() - t0;
		enc_tokens += ids.n;
		enc_bytes += n;
	}
	return rc;
}

static void print_ids(const opts *o)
{
	if (o->count) {
		printf("%zu\n", ids.n);
		return;
	}
	for (size_t i = 0; i < ids.n; i++) {
		if (i)
			putchar(' ');
		if (o->strings) {
			const char *s = bpe_token_str(tok, ids.v[i]);

			fputs(s ? s : "?", stdout);
		} else
			printf("%d", ids.v[i]);
	}
	putchar('\n');
}

/* One text: encode and print. */
static int do_text(const opts *o, const char *s, size_t n)
{
	an_err e;

	if (encode(o, s, n, &e)) {
		cli_warn("%s", e.msg);
		return -1;
	}
	print_ids(o);
	return 0;
}

/* One line of ids: decode and print.  -1 on a bad number. */
static int do_decode(const opts *o, char *line, const char *where, long lineno)
{
	an_err e;
	char *p = line;

	ids.n = 0;
	for (;;) {
		char *end;
		long v;

		while (*p == ' ' || *p == ',' || *p == '\t' || *p == '[' || *p == ']')
			p++;
		if (!*p)
			break;
		errno = 0;
		v = strtol(p, &end, 10);
		if (end == p || errno || v < 0 || v > INT32_MAX) {
			cli_warn("%s: line %ld: \"%.20s\" is not a token id", where, lineno, p);
			return -1;
		}
		if (ids.n == ids.cap) {
			size_t c = ids.cap ? ids.cap * 2 : 64;
			int32_t *nv = realloc(ids.v, c * sizeof *nv);

			if (!nv)
				cli_die(CLI_DATA, "out of memory");
			ids.v = nv;
			ids.cap = c;
		}
		ids.v[ids.n++] = (int32_t)v;
		p = end;
	}
	buf.n = 0;
	if (bpe_decode(tok, ids.v, ids.n, o->skip ? BPE_SKIP_SPECIAL : 0, &buf, &e))
		cli_die(CLI_DATA, "%s", e.msg);
	fwrite(buf.s, 1, buf.n, stdout);
	putchar('\n');
	return 0;
}

static int run_lines(const opts *o, char **paths, int n)
{
	static char *stdin_only[] = { "-" };
	int status = CLI_OK;

	if (n == 0) {
		paths = stdin_only;
		n = 1;
	}
	for (int i = 0; i < n; i++) {
		FILE *f = strcmp(paths[i], "-") == 0 ? stdin : fopen(paths[i], "rb");
		char *line = NULL;
		size_t cap = 0;
		ssize_t len;
		long lineno = 0;

		if (!f) {
			cli_warn("%s: %s", paths[i], strerror(errno));
			status = CLI_DATA;
			continue;
		}
		if (o->whole && !o->decode) {
			bpe_buf all = { 0 };
			char tmp[1 << 16];
			size_t r;

			while ((r = fread(tmp, 1, sizeof tmp, f)) > 0) {
				char *ns = realloc(all.s, all.n + r + 1);

				if (!ns)
					cli_die(CLI_DATA, "out of memory");
				all.s = ns;
				memcpy(all.s + all.n, tmp, r);
				all.n += r;
			}
			if (ferror(f)) {
				cli_warn("%s: %s", paths[i], strerror(errno));
				status = CLI_DATA;
			} else if (do_text(o, all.s ? all.s : "", all.n))
				status = CLI_DATA;
			free(all.s);
		} else {
			while ((len = getline(&line, &cap, f)) >= 0) {
				lineno++;
				if (len > 0 && line[len - 1] == '\n')
					line[--len] = 0;
				if ((o->decode ? do_decode(o, line, paths[i], lineno) : do_text(o, line, (size_t)len)))
					status = CLI_DATA;
				if (ferror(stdout))
					break;
			}
			if (ferror(f)) {
				cli_warn("%s: %s", paths[i], strerror(errno));
				status = CLI_DATA;
			}
		}
		free(line);
		if (f != stdin)
			fclose(f);
		if (ferror(stdout))
			break;
	}
	return status;
}

static int run_records(const opts *o, char **paths, int n)
{
	cli_in in;
	rec r;
	an_err e;
	rec_writer *w = NULL;
	int status = CLI_OK, rc;
	char where[256];

	if (o->write && !(w = rec_writer_fd(1, 0, &e)))
		cli_die(CLI_DATA, "stdout: %s", e.msg);
	rec_init(&r);
	cli_in_init(&in, paths, n);
	while ((rc = cli_in_next(&in, &r, &e)) != 0) {
		const char *s;
		size_t len;

		if (rc < 0) {
			cli_warn("%s", e.msg);
			status = CLI_DATA;
			continue;
		}
		if (rec_get_str(&r, o->field, &s, &len, &e)) {
			cli_warn("%s: %s: %s", r.src, rec_where(&r, where, sizeof where), e.msg);
			status = CLI_DATA;
			continue;
		}
		if (encode(o, s, len, &e)) {
			cli_warn("%s: %s: %s", r.src, rec_where(&r, where, sizeof where), e.msg);
			status = CLI_DATA;
			continue;
		}
		if (!w) {
			print_ids(o);
			if (ferror(stdout))
				break;
			continue;
		}
		if (rec_set_i32(&r, F_LLM_TOK, ids.v, ids.n)) {
			cli_warn("%s: %s: out of memory", r.src, rec_where(&r, where, sizeof where));
			status = CLI_DATA;
			continue;
		}
		if (rec_write(w, &r, &e))
			cli_write_failed(&e);
	}
	cli_in_free(&in);
	rec_free(&r);
	if (w && rec_writer_close(w, &e))
		cli_write_failed(&e);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "tokenizer", required_argument, 0, 't' }, { "added", required_argument, 0, 'A' },
		{ "add-special", no_argument, 0, 'a' },     { "split-special", no_argument, 0, 'S' },
		{ "whole", no_argument, 0, 'W' },           { "strings", no_argument, 0, 's' },
		{ "count", no_argument, 0, 'c' },           { "decode", no_argument, 0, 'd' },
		{ "skip-special", no_argument, 0, 'x' },    { "field", required_argument, 0, 'k' },
		{ "write", no_argument, 0, 'w' },           { "force", no_argument, 0, 'f' },
		{ "time", no_argument, 0, 'T' },            { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	static char obuf[1 << 16];
	const char *path = NULL;
	const char *added[64];
	int nadded = 0, c, status;
	opts o = { 0 };
	an_err e;

	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "t:A:aSWscdxk:wfTh", lo, NULL)) != -1) {
		switch (c) {
		case 't': path = optarg; break;
		case 'A':
			if (nadded == 64)
				cli_die(CLI_USAGE, "too many -A tokens (64 at most)");
			added[nadded++] = optarg;
			break;
		case 'a': o.flags |= BPE_ADD_SPECIAL; break;
		case 'S': o.flags |= BPE_SPLIT_SPECIAL; break;
		case 'W': o.whole = 1; break;
		case 's': o.strings = 1; break;
		case 'c': o.count = 1; break;
		case 'd': o.decode = 1; break;
		case 'x': o.skip = 1; break;
		case 'k': o.field = optarg; break;
		case 'w': o.write = 1; break;
		case 'f': o.force = 1; break;
		case 'T': o.timing = 1; break;
		case 'h': usage(0); break;
		default: usage(CLI_USAGE);
		}
	}
	if (!path) {
		cli_warn("no tokenizer: give -t PATH");
		usage(CLI_USAGE);
	}
	if (o.write && !o.field)
		cli_die(CLI_USAGE, "-w needs -k FIELD");
	if (o.decode && o.field)
		cli_die(CLI_USAGE, "-d and -k do not go together");
	if (o.skip && !o.decode)
		cli_die(CLI_USAGE, "-x goes with -d");
	if (o.write)
		cli_check_stdout(o.force);
	setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
	if (!(tok = bpe_load(path, &e)))
		cli_die(CLI_DATA, "%s", e.msg);
	for (int i = 0; i < nadded; i++)
		if (bpe_add_token(tok, added[i], -1, BPE_TOK_SPECIAL, &e) < 0)
			cli_die(CLI_DATA, "-A %s: %s", added[i], e.msg);
	status = o.field ? run_records(&o, argv + optind, argc - optind) : run_lines(&o, argv + optind, argc - optind);
	if (o.timing && !o.decode)
		fprintf(stderr, "%s: encoded %llu bytes into %llu tokens in %.3f s: %.0f tokens/s, %.2f MB/s\n", cli_prog,
			(unsigned long long)enc_bytes, (unsigned long long)enc_tokens, enc_seconds,
			enc_seconds > 0 ? enc_tokens / enc_seconds : 0, enc_seconds > 0 ? enc_bytes / enc_seconds / 1e6 : 0);
	bpe_free(tok);
	bpe_ids_free(&ids);
	bpe_buf_free(&buf);
	if (fflush(stdout) || ferror(stdout)) {
		if (errno == EPIPE)
			return status;
		cli_die(CLI_DATA, "stdout: %s", strerror(errno));
	}
	return status;
}
