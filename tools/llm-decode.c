/* llm-decode: name functions with a decoder LLM conditioned on prefix
 * vectors (records with "prefix" -> "pred", "cands"), or with --embed write
 * the LLM's embedding of source code (records with "src" -> "src_emb").
 *
 * Records are read in batches of --batch, decoded together and written in
 * input order.  A bad record (no prefix, wrong shape, prompt too long) is
 * reported, passed through unchanged, and makes the exit status 1.  The
 * model, decoding and templates are common/llm.c and common/llmdec.c. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#ifdef _OPENMP
#endif

#include "bpe.h"
#include "cli.h"
#include "dev.h"
#include "fields.h"
#include "llm.h"
#include "llmdec.h"
#include "rec.h"

static const char usage_text[] =
	"usage: llm-decode -m MODEL [options] [FILE...]\n"
	"       llm-decode -m MODEL --embed [options] [FILE...]\n"
	"Name functions from their prefix vectors, or embed their source code.\n"
	"  -m, --model DIR        Qwen2/Llama checkpoint directory (config.json, safetensors)\n"
	"  -l, --lora DIR         PEFT LoRA adapter to apply\n"
	"  -t, --tokenizer PATH   tokenizer.json or its directory (default: the model's)\n"
	"  -q, --quant Q          nf4 (default), nf4-dq, bf16 or f32 base weights\n"
	"  -d, --device D         auto (default), cpu, cuda, cuda:N\n"
	"  -j, --threads N        CPU threads\n"
	"  -b, --batch N          records decoded together (default 8)\n"
	"  -p, --template FILE    prompt template (default \"Calls: {callees}\\nName:\")\n"
	"      --max-callees N    callees named in the prompt (default 16)\n"
	"      --max-prompt N     prefix rows + prompt tokens at most (default 512)\n"
	"  -n, --max-tokens N     generated tokens at most (default 24)\n"
	"      --no-stop          always generate --max-tokens tokens (benchmarks)\n"
	"  -B, --beam N           beam search with N beams\n"
	"  -s, --samples N        N samples at --temperature / --top-p, then a vote\n"
	"      --temperature T    default 0.8\n"
	"      --top-p P          default 0.95\n"
	"      --seed N           sampling seed (default 0)\n"
	"      --length-penalty X beam ranking: logp / len^X (default 0)\n"
	"  -e, --embed            write src_emb for records with src instead of naming\n"
	"      --max-src N        source tokens embedded at most (default 512)\n"
	"  -v, --verbose          model and progress on stderr\n"
	"  -f, --force            write records even to a terminal\n"
	"  -z, --gzip             gzip the output\n"
	"  -h, --help             this text\n";

static void usage(int status)
{
	fputs(usage_text, status ? stderr : stdout);
	exit(status);
}

typedef struct opts {
	const char *model, *lora, *tokenizer, *device, *template_path;
	int quant, threads, batch, max_callees, max_prompt, max_src, embed, verbose, force, gzip;
	uint64_t seed;
	llmdec_opts dec;
} opts;

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0, r;

	if (!f)
		cli_die(CLI_USAGE, "%s: %s", path, strerror(errno));
	do {
		if (n + 4096 > cap && !(buf = realloc(buf, cap = cap ? cap * 2 : 8192)))
			cli_die(CLI_DATA, "%s: out of memory", path);
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
	} while (r > 0);
	if (ferror(f))
		cli_die(CLI_USAGE, "%s: %s", path, strerror(errno));
	fclose(f);
	buf[n] = 0;
	return buf;
}

/* Per batch slot: the record and what its job needs. */
typedef struct slot {
	rec      r;
	int      ok;          /* 1: decode it; 0: pass through (bad, or nothing to do) */
	float   *pre;         /* [P, d] */
	size_t   precap;
	bpe_ids  ids;
} slot;

/* CPU seconds of the process, all threads (benchmarks on a loaded machine). */
static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static opts o;
static llm *model;
static bpe *tok;
static const char *tmpl;
static char *text;
static size_t textcap;

static void warn_rec(const rec *r, const char *msg)
{
	char where[256];

	cli_warn("%s: %s: %s", r->src, rec_where(r, where, sizeof where), msg);
}

/* Check a naming record and build its prompt; 0 ok, -1 bad (reported). */
static int prepare_name(slot *s, uint64_t ordinal, llmdec_job *job)
{
	an_err e = {0};
	uint64_t dims[4];
	int ndim;
	size_t n;
	int d = model->cfg.d_model;
	char msg[1200];

	if (!rec_has(&s->r, F_PREFIX)) {
		warn_rec(&s->r, "field \"" F_PREFIX "\" missing");
		return -1;
	}
	if (rec_get_shape(&s->r, F_PREFIX, dims, 4, &ndim, &e) < 0) {
		warn_rec(&s->r, e.msg);
		return -1;
	}
	if (ndim != 2 || dims[1] != (uint64_t)d || dims[0] < 1 || dims[0] > (uint64_t)o.max_prompt) {
		snprintf(msg, sizeof msg, "field \"" F_PREFIX "_shape\": want [P, %d] with 1 <= P <= %d", d,
				o.max_prompt);
		warn_rec(&s->r, msg);
		return -1;
	}
	size_t want = (size_t)dims[0] * d;
	if (want > s->precap) {
		float *p = realloc(s->pre, want * sizeof *p);
		if (!p)
			cli_die(CLI_DATA, "out of memory");
		s->pre = p;
		s->precap = want;
	}
	if (rec_copy_f32(&s->r, F_PREFIX, s->pre, want, &n, &e) < 0 || n != want) {
		if (!e.msg[0] || n != want)
			snprintf(e.msg, sizeof e.msg, "field \"" F_PREFIX "\": %zu floats, shape says %zu", n, want);
		warn_rec(&s->r, e.msg);
		return -1;
	}
	for (size_t i = 0; i < want; i++)
		if (!isfinite(s->pre[i])) {
			warn_rec(&s->r, "field \"" F_PREFIX "\": NaN or infinite value");
			return -1;
		}
	if (llmdec_render(tmpl, &s->r, o.max_callees, &text, &textcap, &e) < 0) {
		warn_rec(&s->r, e.msg);
		return -1;
	}
	s->ids.n = 0;
	if (bpe_encode(tok, text, strlen(text), BPE_ADD_SPECIAL, &s->ids, &e) < 0)
		cli_die(CLI_DATA, "%s", e.msg);
	if (dims[0] + s->ids.n > (uint64_t)o.max_prompt) {
		snprintf(msg, sizeof msg, "prefix %llu rows + prompt %zu tokens > --max-prompt %d",
				(unsigned long long)dims[0], s->ids.n, o.max_prompt);
		warn_rec(&s->r, msg);
		return -1;
	}
	*job = (llmdec_job){s->pre, (int)dims[0], s->ids.v, (int)s->ids.n,
			    o.seed * 0x9E3779B97F4A7C15ull + ordinal};
	return 0;
}

/* The candidates as [{name, logp}] best first. */
static int set_cands(rec *r, const llmdec_result *res)
{
	msgpack_object arr, items[LLMDEC_MAX_CANDS];
	msgpack_object_kv kv[LLMDEC_MAX_CANDS][2];

	for (int i = 0; i < res->ncand; i++) {
		kv[i][0].key = (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {4, "name"}};
		kv[i][0].val = (msgpack_object){.type = MSGPACK_OBJECT_STR,
			.via.str = {(uint32_t)strlen(res->cand[i].name), res->cand[i].name}};
		kv[i][1].key = (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {4, "logp"}};
		kv[i][1].val = (msgpack_object){.type = MSGPACK_OBJECT_FLOAT64, .via.f64 = res->cand[i].logp};
		items[i] = (msgpack_object){.type = MSGPACK_OBJECT_MAP, .via.map = {2, kv[i]}};
	}
	arr = (msgpack_object){.type = MSGPACK_OBJECT_ARRAY, .via.array = {(uint32_t)res->ncand, items}};
	if (rec_set_str(r, F_PRED, res->pred, strlen(res->pred)) < 0 || rec_set_obj(r, F_CANDS, &arr) < 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_TEMP = 256, O_TOPP, O_SEED, O_LP, O_MAXC, O_MAXP, O_MAXS, O_NOSTOP };
	static const struct option lo[] = {
		{"model", required_argument, 0, 'm'}, {"lora", required_argument, 0, 'l'},
		{"tokenizer", required_argument, 0, 't'}, {"quant", required_argument, 0, 'q'},
		{"device", required_argument, 0, 'd'}, {"threads", required_argument, 0, 'j'},
		{"batch", required_argument, 0, 'b'}, {"template", required_argument, 0, 'p'},
		{"max-callees", required_argument, 0, O_MAXC}, {"max-prompt", required_argument, 0, O_MAXP},
		{"max-tokens", required_argument, 0, 'n'}, {"beam", required_argument, 0, 'B'},
		{"samples", required_argument, 0, 's'}, {"temperature", required_argument, 0, O_TEMP},
		{"top-p", required_argument, 0, O_TOPP}, {"seed", required_argument, 0, O_SEED},
		{"length-penalty", required_argument, 0, O_LP}, {"embed", no_argument, 0, 'e'},
		{"max-src", required_argument, 0, O_MAXS}, {"no-stop", no_argument, 0, O_NOSTOP}, {"verbose", no_argument, 0, 'v'},
		{"force", no_argument, 0, 'f'}, {"gzip", no_argument, 0, 'z'},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
	};
	int c;

	cli_init(argv[0]);
	llmdec_opts_default(&o.dec);
	o.quant = LLM_Q_NF4;
	o.device = "auto";
	o.batch = 8;
	o.max_callees = 16;
	o.max_prompt = 512;
	o.max_src = 512;
	while ((c = getopt_long(argc, argv, "m:l:t:q:d:j:b:p:n:B:s:evfzh", lo, NULL)) != -1) {
		switch (c) {
		case 'm': o.model = optarg; break;
		case 'l': o.lora = optarg; break;
		case 't': o.tokenizer = optarg; break;
		case 'q':
			if ((o.quant = llm_quant_parse(optarg)) < 0) {
				cli_warn("--quant: \"%s\": expected nf4, nf4-dq, bf16 or f32", optarg);
				usage(CLI_USAGE);
			}
			break;
		case 'd': o.device = optarg; break;
		case 'j': o.threads = (int)cli_opt_u64("--threads", optarg, 1, 1024); break;
		case 'b': o.batch = (int)cli_opt_u64("--batch", optarg, 1, 4096); break;
		case 'p': o.template_path = optarg; break;
		case O_MAXC: o.max_callees = (int)cli_opt_u64("--max-callees", optarg, 0, 100000); break;
		case O_MAXP: o.max_prompt = (int)cli_opt_u64("--max-prompt", optarg, 1, 1 << 20); break;
		case O_MAXS: o.max_src = (int)cli_opt_u64("--max-src", optarg, 1, 1 << 20); break;
		case 'n': o.dec.max_new = (int)cli_opt_u64("--max-tokens", optarg, 1, 4096); break;
		case 'B':
			o.dec.mode = LLMDEC_BEAM;
			o.dec.n = (int)cli_opt_u64("--beam", optarg, 1, LLMDEC_MAX_CANDS);
			break;
		case 's':
			o.dec.mode = LLMDEC_SAMPLE;
			o.dec.n = (int)cli_opt_u64("--samples", optarg, 1, LLMDEC_MAX_CANDS);
			break;
		case O_TEMP: o.dec.temperature = (float)cli_opt_f64("--temperature", optarg, 1e-4, 100); break;
		case O_TOPP: o.dec.top_p = (float)cli_opt_f64("--top-p", optarg, 1e-6, 1); break;
		case O_SEED: o.seed = cli_opt_u64("--seed", optarg, 0, UINT64_MAX); break;
		case O_LP: o.dec.length_penalty = (float)cli_opt_f64("--length-penalty", optarg, -10, 10); break;
		case O_NOSTOP: o.dec.no_stop = 1; break;
		case 'e': o.embed = 1; break;
		case 'v': o.verbose = 1; break;
		case 'f': o.force = 1; break;
		case 'z': o.gzip = 1; break;
		case 'h': usage(CLI_OK); break;
		default: usage(CLI_USAGE);
		}
	}
	if (!o.model) {
		cli_warn("no model: give -m DIR");
		usage(CLI_USAGE);
	}
	tmpl = o.template_path ? read_file(o.template_path) : llmdec_default_template;
	an_err e = {0};
	if (llmdec_template_check(tmpl, &e) < 0)
		cli_die(CLI_USAGE, "%s: %s", o.template_path ? o.template_path : "default", e.msg);
	cli_check_stdout(o.force);
	dev_set_threads(o.threads);

	an_dev *dev = dev_open(o.device, o.verbose, &e);
	if (!dev)
		cli_die(CLI_DATA, "device: %s", e.msg);
	llm_opts lopt = {.quant = o.quant, .verbose = o.verbose};
	if (!(model = llm_load(o.model, &lopt, dev, &e)))
		cli_die(CLI_DATA, "%s", e.msg);
	if (o.lora && o.embed)
		cli_warn("--lora is not used with --embed (src_emb is the base model's)");
	if (o.lora && !o.embed && llm_lora_load(model, o.lora, &e) < 0)
		cli_die(CLI_DATA, "%s", e.msg);
	if (!(tok = bpe_load(o.tokenizer ? o.tokenizer : o.model, &e)))
		cli_die(CLI_DATA, "tokenizer: %s", e.msg);
	if (bpe_vocab_size(tok) > model->cfg.vocab)
		cli_die(CLI_DATA, "tokenizer has %d ids, the model %d", bpe_vocab_size(tok), model->cfg.vocab);

	llmdec *g = NULL;
	llm_ctx *ectx = NULL;
	if (o.embed) {
		if (!(ectx = llm_ctx_new(model, o.batch, o.max_src, 0, &e)))
			cli_die(CLI_DATA, "%s", e.msg);
	} else if (!(g = llmdec_new(model, tok, &o.dec, o.batch, o.max_prompt, &e)))
		cli_die(CLI_DATA, "%s", e.msg);

	slot *sl = calloc((size_t)o.batch, sizeof *sl);
	llmdec_job *jobs = calloc((size_t)o.batch, sizeof *jobs);
	llmdec_result *res = calloc((size_t)o.batch, sizeof *res);
	llm_seq *seqs = calloc((size_t)o.batch, sizeof *seqs);
	int *which = calloc((size_t)o.batch, sizeof *which);
	float *emb = malloc((size_t)o.batch * model->cfg.d_model * sizeof *emb);
	if (!sl || !jobs || !res || !seqs || !which || !emb)
		cli_die(CLI_DATA, "out of memory");
	for (int i = 0; i < o.batch; i++)
		rec_init(&sl[i].r);
	rec_writer *w = rec_writer_fd(1, o.gzip ? 6 : 0, &e);
	if (!w)
		cli_die(CLI_DATA, "stdout: %s", e.msg);

	cli_in in;
	cli_in_init(&in, argv + optind, argc - optind);
	cli_progress prog;
	cli_progress_init(&prog, o.verbose);
	int status = CLI_OK, eof = 0, rc;
	uint64_t ordinal = 0, done = 0, bad = 0, tokens = 0;
	double t0 = cli_now(), c0 = cpu_now();
	while (!eof) {
		int nb = 0;
		while (nb < o.batch) {
			rc = cli_in_next(&in, &sl[nb].r, &e);
			if (rc == 0) {
				eof = 1;
				break;
			}
			if (rc < 0) {
				cli_warn("%s", e.msg);
				status = CLI_DATA;
				continue;
			}
			nb++;
		}
		if (nb == 0)
			break;
		int nj = 0;
		for (int i = 0; i < nb; i++) {
			slot *s = &sl[i];
			s->ok = 0;
			ordinal++;
			if (o.embed) {
				const char *src;
				size_t len;
				if (!rec_has(&s->r, F_SRC))
					continue;      /* nothing to embed: passed through */
				if (rec_get_str(&s->r, F_SRC, &src, &len, &e) < 0) {
					warn_rec(&s->r, e.msg);
					bad++;
					continue;
				}
				s->ids.n = 0;
				if (bpe_encode(tok, src, len, BPE_ADD_SPECIAL, &s->ids, &e) < 0)
					cli_die(CLI_DATA, "%s", e.msg);
				if (s->ids.n == 0) {
					warn_rec(&s->r, "field \"" F_SRC "\": no tokens");
					bad++;
					continue;
				}
				int n = s->ids.n > (size_t)o.max_src ? o.max_src : (int)s->ids.n;
				seqs[nj] = (llm_seq){NULL, 0, s->ids.v, n};
			} else if (prepare_name(s, ordinal, &jobs[nj]) < 0) {
				bad++;
				continue;
			}
			s->ok = 1;
			which[nj++] = i;
		}
		if (nj) {
			if (o.embed) {
				if (llm_embed(ectx, seqs, nj, emb, &e) < 0)
					cli_die(CLI_DATA, "%s", e.msg);
			} else if (llmdec_run(g, jobs, nj, res, &e) < 0)
				cli_die(CLI_DATA, "%s", e.msg);
		}
		for (int k = 0; k < nj; k++) {
			slot *s = &sl[which[k]];
			int err = o.embed
				? rec_set_f32(&s->r, F_SRC_EMB, emb + (size_t)k * model->cfg.d_model,
						(size_t)model->cfg.d_model)
				: set_cands(&s->r, &res[k]);
			if (err < 0)
				cli_die(CLI_DATA, "out of memory");
			if (!o.embed)
				tokens += (uint64_t)res[k].tokens;
		}
		for (int i = 0; i < nb; i++)
			if (rec_write(w, &sl[i].r, &e) < 0)
				cli_write_failed(&e);
		done += (uint64_t)nj;
		cli_progress_tick(&prog, done, "functions");
	}
	cli_progress_done(&prog, "functions");
	if (rec_writer_close(w, &e) < 0)
		cli_write_failed(&e);
	if (o.verbose) {
		double dt = cli_now() - t0;
		cli_warn("%llu records, %llu %s, %llu bad, %llu tokens generated, %.2f s, cpu %.2f s "
				"(%.1f records/s)", (unsigned long long)ordinal, (unsigned long long)done,
				o.embed ? "embedded" : "named", (unsigned long long)bad,
				(unsigned long long)tokens, dt, cpu_now() - c0, dt > 0 ? done / dt : 0.0);
	}
	if (bad)
		status = CLI_DATA;
	for (int i = 0; i < o.batch; i++) {
		rec_free(&sl[i].r);
		free(sl[i].pre);
		bpe_ids_free(&sl[i].ids);
	}
	free(sl);
	free(jobs);
	free(res);
	free(seqs);
	free(which);
	free(emb);
	free(text);
	cli_in_free(&in);
	llmdec_free(g);
	llm_ctx_free(ectx);
	bpe_free(tok);
	llm_free(model);
	dev_close(dev);
	if (o.template_path)
		free((char *)tmpl);
	return status;
}
