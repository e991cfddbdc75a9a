/* clap-embed: add the CLAP-ASM embedding "emb" to every record with "tok"
 * and "ttype".
 *
 * Records are read in windows; inside a window the functions are sorted by
 * length and batched so that little padding is computed, and the window is
 * written back in input order.  A record that cannot be embedded (no tok,
 * ids outside the vocabulary, too long) is reported, written on unchanged
 * without emb, and makes the exit status 1. */
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#include "clap.h"
#include "cli.h"
#include "dev.h"
#include "rec.h"

static const char usage_text[] =
	"usage: clap-embed -m DIR [options] [FILE...]\n"
	"Add the CLAP-ASM embedding (emb) to records that have tok and ttype.\n"
	"  -m, --model DIR       CLAP-ASM checkpoint (config.json, model.safetensors)\n"
	"  -d, --device DEV      auto, cpu, cuda or cuda:N (default auto)\n"
	"      --dtype T         fp32 or bf16 matrix weights (default fp32)\n"
	"  -b, --batch N         functions per batch (default 16)\n"
	"      --max-tokens N    padded tokens per batch (default 16384)\n"
	"      --window N        records sorted by length together (default 512)\n"
	"  -j, --threads N       CPU threads (default: all; -t also works)\n"
	"  -z, --gzip            gzip the output\n"
	"  -f, --force           write records even to a terminal\n"
	"  -v, --verbose         device and progress on stderr\n"
	"  -h, --help            this text\n";

typedef struct slot {
	rec      r;
	int32_t *tok, *tt;     /* [max_pos] */
	int      len, ok;
} slot;

typedef struct job {
	clap_model  m;
	slot       *s;
	int         window, batch;
	size_t      max_tokens;
	int        *order;       /* [window] */
	float      *emb;         /* [batch, hidden] */
	const int32_t **tp, **ttp;
	int        *lens;
	uint64_t    bad, done;
} job;

/* Take the ids out of a record; 0 ok, -1 bad record (reported). */
static int take(job *j, slot *sl)
{
	an_err e = { 0 };
	char where[256];
	size_t n = 0, n2 = 0;
	const void *data;
	const int cap = j->m.c.max_pos;

	sl->ok = 0;
	if (rec_get_array(&sl->r, F_TOK, REC_DT_I32, &data, &n, &e) < 0 ||
	    rec_get_array(&sl->r, F_TTYPE, REC_DT_I32, &data, &n2, &e) < 0)
		goto bad;
	if (n != n2) {
		an_err_set(&e, "tok has %zu ids but ttype %zu", n, n2);
		goto bad;
	}
	if (n > (size_t)cap) {
		an_err_set(&e, "%zu tokens; the model takes at most %d", n, cap);
		goto bad;
	}
	if (rec_copy_i32(&sl->r, F_TOK, sl->tok, (size_t)cap, &n, &e) < 0 ||
	    rec_copy_i32(&sl->r, F_TTYPE, sl->tt, (size_t)cap, &n2, &e) < 0 ||
	    clap_check(&j->m, sl->tok, sl->tt, n, &e) < 0)
		goto bad;
	sl->len = (int)n;
	sl->ok = 1;
	return 0;
bad:
	cli_warn("%s: %s: %s", sl->r.src ? sl->r.src : "-", rec_where(&sl->r, where, sizeof where),
		 e.msg);
	j->bad++;
	return -1;
}

static int by_len_desc(const void *a, const void *b, void *arg)
{
	const slot *s = arg;
	int la = s[*(const int *)a].len, lb = s[*(const int *)b].len;

	return la != lb ? (la < lb) - (la > lb) : *(const int *)a - *(const int *)b;
}

/* Embed the n records of the window, then write them in input order. */
static int flush(job *j, int n, rec_writer *w, cli_progress *pg)
{
	an_err e = { 0 };
	int k = 0, H = j->m.c.hidden;

	for (int i = 0; i < n; i++)
		if (j->s[i].ok)
			j->order[k++] = i;
	qsort_r(j->order, (size_t)k, sizeof *j->order, by_len_desc, j->s);
	for (int i = 0; i < k;) {
		int B = 0, T = j->s[j->order[i]].len > 0 ? j->s[j->order[i]].len : 1;

		while (i + B < k && B < j->batch &&
		       (B == 0 || (size_t)(B + 1) * T <= j->max_tokens)) {
			slot *sl = &j->s[j->order[i + B]];

			j->tp[B] = sl->tok;
			j->ttp[B] = sl->tt;
			j->lens[B] = sl->len;
			B++;
		}
		if (clap_embed(&j->m, j->tp, j->ttp, j->lens, B, j->emb, &e) < 0)
			cli_die(CLI_DATA, "%s", e.msg);
		for (int b = 0; b < B; b++)
			if (rec_set_f32(&j->s[j->order[i + b]].r, F_EMB, j->emb + (size_t)b * H,
					(size_t)H) < 0)
				cli_die(CLI_DATA, "out of memory");
		i += B;
		j->done += (uint64_t)B;
		cli_progress_tick(pg, j->done, "functions");
	}
	for (int i = 0; i < n; i++)
		if (rec_write(w, &j->s[i].r, &e) < 0)
			cli_write_failed(&e);
	return 0;
}

/* OpenMP threads that busy-wait after each parallel region (libgomp's
 * default) take the cores from OpenBLAS's own threads in the matrix products
 * that follow: measured 20-30% slower on 2 cores.  The policy is read when
 * libgomp loads, so it is set here for a second start of this program. */
static void omp_passive(char **argv)
{
	if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT"))
		return;
	if (setenv("OMP_WAIT_POLICY", "passive", 1) == 0)
		execv("/proc/self/exe", argv);
	/* exec failed: go on with busy waits */
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "model",      required_argument, NULL, 'm' },
		{ "device",     required_argument, NULL, 'd' },
		{ "dtype",      required_argument, NULL, 'D' },
		{ "batch",      required_argument, NULL, 'b' },
		{ "max-tokens", required_argument, NULL, 'T' },
		{ "window",     required_argument, NULL, 'W' },
		{ "threads",    required_argument, NULL, 'j' },
		{ "gzip",       no_argument,       NULL, 'z' },
		{ "force",      no_argument,       NULL, 'f' },
		{ "verbose",    no_argument,       NULL, 'v' },
		{ "help",       no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *model = NULL, *device = "auto";
	an_dtype dtype = AN_F32;
	int c, gz = 0, force = 0, verbose = 0, threads = 0;
	job j;
	an_err e = { 0 };

	omp_passive(argv);
	memset(&j, 0, sizeof j);
	j.batch = 16;
	j.max_tokens = 16384;
	j.window = 512;
	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "m:d:b:j:t:zfvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': model = optarg; break;
		case 'd': device = optarg; break;
		case 'D':
			if (!strcmp(optarg, "fp32") || !strcmp(optarg, "f32"))
				dtype = AN_F32;
			else if (!strcmp(optarg, "bf16"))
				dtype = AN_BF16;
			else
				cli_die(CLI_USAGE, "--dtype: fp32 or bf16, not \"%s\"", optarg);
			break;
		case 'b': j.batch = (int)cli_opt_u64("--batch", optarg, 1, 65536); break;
		case 'T': j.max_tokens = cli_opt_u64("--max-tokens", optarg, 1, 1u << 30); break;
		case 'W': j.window = (int)cli_opt_u64("--window", optarg, 1, 1 << 20); break;
		case 'j':
		case 't': threads = (int)cli_opt_u64("--threads", optarg, 1, 4096); break;
		case 'z': gz = 1; break;
		case 'f': force = 1; break;
		case 'v': verbose = 1; break;
		case 'h': fputs(usage_text, stdout); return CLI_OK;
		default:  fputs(usage_text, stderr); return CLI_USAGE;
		}
	}
	if (!model)
		model = getenv("ASMNAME_CLAP");
	if (!model) {
		fputs(usage_text, stderr);
		cli_die(CLI_USAGE, "no model: give -m DIR (or set ASMNAME_CLAP)");
	}
	cli_check_stdout(force);
	dev_set_threads(threads);

	an_dev *d = dev_open(device, verbose, &e);
	if (!d)
		cli_die(CLI_DATA, "%s", e.msg);
	if (verbose)
		cli_warn("device %s", d->name);
	if (clap_load(&j.m, model, d, dtype, &e) < 0)
		cli_die(CLI_DATA, "%s", e.msg);
	if (verbose)
		cli_warn("model %s: %d layers, hidden %d, %d heads, vocab %d", model, j.m.c.layers,
			 j.m.c.hidden, j.m.c.heads, j.m.c.vocab);
	if (j.max_tokens < (size_t)j.m.c.max_pos)
		j.max_tokens = (size_t)j.m.c.max_pos;   /* one longest function must fit */
	int maxb = j.batch;
	if (clap_reserve(&j.m, maxb, j.max_tokens, &e) < 0)
		cli_die(CLI_DATA, "%s", e.msg);

	j.s = calloc((size_t)j.window, sizeof *j.s);
	j.order = calloc((size_t)j.window, sizeof *j.order);
	j.emb = calloc((size_t)j.batch * j.m.c.hidden, sizeof *j.emb);
	j.tp = calloc((size_t)j.batch, sizeof *j.tp);
	j.ttp = calloc((size_t)j.batch, sizeof *j.ttp);
	j.lens = calloc((size_t)j.batch, sizeof *j.lens);
	if (!j.s || !j.order || !j.emb || !j.tp || !j.ttp || !j.lens)
		cli_die(CLI_DATA, "out of memory");
	for (int i = 0; i < j.window; i++) {
		rec_init(&j.s[i].r);
		j.s[i].tok = malloc((size_t)j.m.c.max_pos * sizeof(int32_t));
		j.s[i].tt = malloc((size_t)j.m.c.max_pos * sizeof(int32_t));
		if (!j.s[i].tok || !j.s[i].tt)
			cli_die(CLI_DATA, "out of memory");
	}

	rec_writer *w = rec_writer_fd(1, gz ? 6 : 0, &e);
	if (!w)
		cli_die(CLI_DATA, "%s", e.msg);
	cli_progress pg;
	cli_progress_init(&pg, verbose);
	cli_in in;
	cli_in_init(&in, argv + optind, argc - optind);
	int status = CLI_OK, n = 0, rc;
	for (;;) {
		rc = cli_in_next(&in, &j.s[n].r, &e);
		if (rc < 0) {
			cli_warn("%s", e.msg);
			status = CLI_DATA;
			continue;
		}
		if (rc == 1) {
			take(&j, &j.s[n]);
			n++;
		}
		if (n == j.window || (rc == 0 && n > 0)) {
			flush(&j, n, w, &pg);
			n = 0;
		}
		if (rc == 0)
			break;
	}
	cli_progress_done(&pg, "functions");
	if (rec_writer_close(w, &e) < 0)
		cli_write_failed(&e);
	cli_in_free(&in);
	if (j.bad) {
		cli_warn("%llu record%s without emb", (unsigned long long)j.bad, j.bad == 1 ? "" : "s");
		status = CLI_DATA;
	}
	for (int i = 0; i < j.window; i++) {
		rec_free(&j.s[i].r);
		free(j.s[i].tok);
		free(j.s[i].tt);
	}
	free(j.s);
	free(j.order);
	free(j.emb);
	free(j.tp);
	free(j.ttp);
	free(j.lens);
	clap_free(&j.m);
	dev_close(d);
	return status;
}
