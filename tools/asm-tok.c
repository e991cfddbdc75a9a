/* asm-tok: functions' assembly -> CLAP-ASM token ids (tok) and token types
 * (ttype).  Reads asm-extract records, objdump -d -M intel text, CLAP JSON
 * function dicts or (source, asm, name) CSV; renders the instructions in
 * IDA's style unless --raw; writes one record per function. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include <unistd.h>

#include "asmin.h"
#include "clap_tok.h"
#include "cli.h"
#include "ida.h"
#include "rec.h"
#include "wordpiece.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [-m DIR] [--format F] [--max-len N] [--raw] [--dict] [-j N] [-fzv] [FILE...]\n"
		"Tokenize functions' assembly for CLAP-ASM: adds tok and ttype to each record.\n"
		"  -m, --model DIR    CLAP-ASM directory with tokenizer.json or vocab.txt\n"
		"                     (default: $ASMNAME_CLAP, else $ASMNAME_BUNDLE/clap)\n"
		"  -F, --format F     auto (default), rec, objdump, json or csv\n"
		"  -n, --max-len N    tokens kept per function (default 1024)\n"
		"  -r, --raw          tokenize the text as given, without IDA-style rendering\n"
		"  -d, --dict         write CLAP JSON dicts (JSON Lines) of the rendered text instead of records\n"
		"  -f, --force        write records to a terminal\n"
		"  -z, --gzip         gzip the output\n"
		"  -j, --threads N    threads for records (default: OpenMP's, e.g. OMP_NUM_THREADS)\n"
		"  -v, --verbose      progress and statistics ([UNK], ## sub-words, tokens/s) on stderr\n"
		"  -h, --help         this help\n", cli_prog);
}

typedef struct stats {
	uint64_t funcs, instrs, toks, unk, cont, words, split, instr_cut, func_cut;
} stats;

/* What one thread needs to render and tokenize a function. */
typedef struct worker {
	const wp_vocab *v;
	clap_tok   ct;
	ida_ctx    ida;
	int        raw, dict;
	stats      st;
	int32_t   *ids, *types;
	ida_insn  *ii;
	const char **txt;
	size_t    *tlen;
	size_t     tcap;
	const char **cal;
	size_t    *call;
	size_t     calcap;
} worker;

#define BATCH 256

typedef struct ctx {
	wp_vocab   v;
	int        raw, dict, nthreads;
	size_t     max_len;
	rec        r;                /* text inputs */
	rec        batch[BATCH];     /* record inputs */
	int        bad_at[BATCH];
	an_err     err_at[BATCH];
	rec_writer *w;
	worker    *wk;               /* [nthreads] */
	cli_progress prog;
	uint64_t   done;
} ctx;

static void count(worker *c, const int32_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int32_t id = ids[i];
		int cont = id >= 0 && (size_t)id < c->v->n && c->v->is_cont[id];
		c->st.unk += id == c->v->unk;
		c->st.cont += cont;
		if (!cont) {
			c->st.words++;
			if (i + 1 < n && ids[i + 1] >= 0 && (size_t)ids[i + 1] < c->v->n && c->v->is_cont[ids[i + 1]])
				c->st.split++;
		}
	}
	c->st.toks += n;
}

static int grow_txt(worker *c, size_t n)
{
	if (n <= c->tcap)
		return 0;
	size_t nc = c->tcap ? c->tcap : 256;
	while (nc < n)
		nc *= 2;
	const char **t = realloc(c->txt, nc * sizeof *t);
	if (t)
		c->txt = t;
	size_t *l = realloc(c->tlen, nc * sizeof *l);
	if (l)
		c->tlen = l;
	ida_insn *ii = realloc(c->ii, nc * sizeof *ii);
	if (ii)
		c->ii = ii;
	if (!t || !l || !ii)
		return -1;
	c->tcap = nc;
	return 0;
}

static void dict_write(worker *c, const char *id, const char *name, size_t n, const char *const *keys, const size_t *klen)
{
	json_t *o = json_object(), *a = json_object();
	if (id)
		json_object_set_new(o, "id", json_string_nocheck(id));
	if (name)
		json_object_set_new(o, "name", json_string_nocheck(name));
	for (size_t i = 0; i < n; i++) {
		char kb[24];
		if (keys)
			snprintf(kb, sizeof kb, "%.*s", (int)klen[i], keys[i]);
		else
			snprintf(kb, sizeof kb, "%zu", i + 1);
		json_object_set_new_nocheck(a, kb, json_stringn_nocheck(c->txt[i], c->tlen[i]));
	}
	json_object_set_new(o, "asm", a);
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!s)
		cli_warn("function %s: cannot write it as JSON (not UTF-8?)", id ? id : "?");
	if (s) {
		if (puts(s) == EOF) {
			if (errno == EPIPE)
				exit(0);
			cli_die(1, "stdout: %s", strerror(errno));
		}
		free(s);
	}
	json_decref(o);
}

/* Render (unless raw) and tokenize c->ii[0..n); sets tok/ttype on r. */
static int encode(worker *c, rec *r, size_t n, int has_addr, int is_ida, const char *const *keys, const size_t *klen,
		  const char *id, const char *name, an_err *e)
{
	size_t m = n;
	if (grow_txt(c, n) < 0) {
		an_err_set(e, "out of memory");
		return -1;
	}
	if (!c->raw && !is_ida && n) {
		long k = ida_render(&c->ida, c->ii, n, has_addr, e);
		if (k < 0)
			return -1;
		m = (size_t)k;
		for (size_t i = 0; i < m; i++)
			c->txt[i] = ida_text(&c->ida, i, &c->tlen[i]);
	} else {
		for (size_t i = 0; i < n; i++) {
			c->txt[i] = c->ii[i].text;
			c->tlen[i] = c->ii[i].len;
		}
	}
	if (c->dict) {
		dict_write(c, id, name, m, keys, klen);
		return 0;
	}
	size_t ntok;
	if (clap_tok_function(&c->ct, c->txt, c->tlen, keys, klen, m, c->ids, c->types, &ntok, e) < 0)
		return -1;
	c->st.funcs++;
	c->st.instrs += n;     /* all of the input's, rendered or not, for a common denominator */
	count(c, c->ids, ntok);
	if (rec_set_i32(r, F_TOK, c->ids, ntok) || rec_set_i32(r, F_TTYPE, c->types, ntok)) {
		an_err_set(e, "out of memory");
		return -1;
	}
	return 0;
}

static void emit(ctx *c, const rec *r)
{
	an_err e;
	if (c->dict)
		return;
	if (rec_write(c->w, r, &e) < 0)
		cli_write_failed(&e);
}

/* A record whose asm is one string: its lines are the instructions. */
static int encode_lines(worker *c, rec *r, const char *s, size_t len, an_err *e)
{
	size_t n = 0;
	for (size_t i = 0; i < len; ) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - s) : len;
		size_t a = i, b = end;
		while (a < b && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r'))
			a++;
		while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r'))
			b--;
		if (b > a) {
			if (grow_txt(c, n + 1) < 0) {
				an_err_set(e, "out of memory");
				return -1;
			}
			memset(&c->ii[n], 0, sizeof c->ii[n]);
			c->ii[n].text = s + a;
			c->ii[n].len = b - a;
			n++;
		}
		i = end + 1;
	}
	return encode(c, r, n, 0, 0, NULL, NULL, NULL, NULL, e);
}

/* One asm-extract record: its asm, asm_addr and callees -> tok, ttype. */
static int encode_rec(worker *c, rec *r, an_err *e)
{
	const msgpack_object *v;
	size_t n, na = 0;
	const void *addrs = NULL;
	const char *id = NULL, *fname = NULL;
	size_t idl, nl;

	const char *one;
	size_t onelen;
	if (rec_get_strv(r, F_ASM, &v, &n, e) < 0) {
		/* one string, an instruction a line */
		an_err e2;
		if (rec_get_str(r, F_ASM, &one, &onelen, &e2) < 0)
			return -1;
		return encode_lines(c, r, one, onelen, e);
	}
	if (grow_txt(c, n) < 0) {
		an_err_set(e, "out of memory");
		return -1;
	}
	int has_addr = rec_has(r, F_ASM_ADDR) &&
		       rec_get_array(r, F_ASM_ADDR, REC_DT_U64, &addrs, &na, e) == 0 && na == n;
	for (size_t i = 0; i < n; i++) {
		memset(&c->ii[i], 0, sizeof c->ii[i]);
		if (v[i].type == MSGPACK_OBJECT_STR) {
			c->ii[i].text = v[i].via.str.ptr;
			c->ii[i].len = v[i].via.str.size;
		} else {
			c->ii[i].text = "";
		}
		if (has_addr) {
			const unsigned char *b = (const unsigned char *)addrs + 8 * i;
			uint64_t a = 0;
			for (int k = 7; k >= 0; k--)
				a = a << 8 | b[k];
			c->ii[i].addr = a;
		}
	}
	const msgpack_object *cv;
	size_t nc;
	if (!c->raw && rec_has(r, F_CALLEES) && rec_get_strv(r, F_CALLEES, &cv, &nc, e) == 0 && nc) {
		if (nc > c->calcap) {
			const char **a = realloc(c->cal, nc * sizeof *a);
			if (a)
				c->cal = a;
			size_t *l = realloc(c->call, nc * sizeof *l);
			if (l)
				c->call = l;
			if (!a || !l) {
				an_err_set(e, "out of memory");
				return -1;
			}
			c->calcap = nc;
		}
		for (size_t i = 0; i < nc; i++) {
			c->cal[i] = cv[i].type == MSGPACK_OBJECT_STR ? cv[i].via.str.ptr : "";
			c->call[i] = cv[i].type == MSGPACK_OBJECT_STR ? cv[i].via.str.size : 0;
		}
		ida_set_callees(&c->ida, c->cal, c->call, nc);
	}
	char idb[512], nb[512];
	if (rec_get_str(r, F_ID, &id, &idl, e) == 0)
		snprintf(idb, sizeof idb, "%.*s", (int)idl, id);
	else
		id = NULL;
	if (rec_get_str(r, F_NAME, &fname, &nl, e) == 0)
		snprintf(nb, sizeof nb, "%.*s", (int)nl, fname);
	else
		fname = NULL;
	/* text that is IDA's already (records made from CLAP JSON or CSV) is not rendered again */
	int is_ida = 0;
	for (size_t i = 0; i < n && !is_ida; i++)
		is_ida = (c->ii[i].len == 4 && !memcmp(c->ii[i].text, "retn", 4)) ||
			 memmem(c->ii[i].text, c->ii[i].len, "INSTR", 5) || memmem(c->ii[i].text, c->ii[i].len, "+var_", 5);
	return encode(c, r, n, has_addr, is_ida, NULL, NULL, id ? idb : NULL, fname ? nb : NULL, e);
}

/* asm-extract records, in batches over the threads, written in order */
static int do_rec(ctx *c, rec_reader *rd, const char *name)
{
	an_err e;
	int bad = 0, rc = 1;
	char where[256];

	while (rc == 1) {
		size_t nb = 0;
		while (nb < BATCH && (rc = rec_reader_next(rd, &c->batch[nb], &e)) == 1)
			nb++;
		if (c->dict || c->nthreads <= 1) {
			for (size_t i = 0; i < nb; i++)
				c->bad_at[i] = encode_rec(&c->wk[0], &c->batch[i], &c->err_at[i]) < 0;
		} else {
			#pragma omp parallel for schedule(dynamic, 4) num_threads(c->nthreads)
			for (size_t i = 0; i < nb; i++) {
				int t = omp_get_thread_num();
				c->bad_at[i] = encode_rec(&c->wk[t], &c->batch[i], &c->err_at[i]) < 0;
			}
		}
		for (size_t i = 0; i < nb; i++) {
			if (c->bad_at[i]) {
				cli_warn("%s: %s: %s", name, rec_where(&c->batch[i], where, sizeof where), c->err_at[i].msg);
				bad++;
				continue;
			}
			emit(c, &c->batch[i]);
			c->done++;
		}
		cli_progress_tick(&c->prog, c->done, "functions");
	}
	if (rc < 0) {
		cli_warn("%s", e.msg);
		bad++;
	}
	return bad;
}

/* objdump, JSON, CSV */
static int do_text(ctx *c, asmin *in, const char *name)
{
	an_err e;
	asm_func f;
	int bad = 0, rc, warned = 0;
	uint64_t unreloc0 = c->wk[0].ida.unreloc_calls;

	while ((rc = asmin_next(in, &f, &e)) != 0) {
		if (rc == -2) {
			cli_warn("%s", e.msg);
			return bad + 1;
		}
		if (rc < 0) {
			cli_warn("%s", e.msg);
			bad++;
			continue;
		}
		rec_clear(&c->r);
		c->r.index = f.index;
		int ok = 1;
		if (f.id)
			ok &= !rec_set_str(&c->r, F_ID, f.id, strlen(f.id));
		if (f.bin)
			ok &= !rec_set_str(&c->r, F_BIN, f.bin, strlen(f.bin));
		if (f.has_addr)
			ok &= !rec_set_u64(&c->r, F_ADDR, f.addr);
		if (f.name)
			ok &= !rec_set_str(&c->r, F_NAME, f.name, strlen(f.name));
		if (f.section)
			ok &= !rec_set_str(&c->r, F_SECTION, f.section, strlen(f.section));
		if (f.src)
			ok &= !rec_set_str(&c->r, F_SRC, f.src, strlen(f.src));
		worker *w = &c->wk[0];
		if (grow_txt(w, f.n) < 0)
			cli_die(1, "out of memory");
		for (size_t i = 0; i < f.n; i++) {
			w->txt[i] = f.ii[i].text;
			w->tlen[i] = f.ii[i].len;
			w->ii[i] = f.ii[i];
		}
		ok &= !rec_set_strv(&c->r, F_ASM, w->txt, w->tlen, f.n);
		if (f.has_addr) {
			uint64_t *a = rec_alloc(&c->r, (f.n ? f.n : 1) * sizeof *a);
			if (!a)
				cli_die(1, "out of memory");
			for (size_t i = 0; i < f.n; i++)
				a[i] = f.ii[i].addr;
			ok &= !rec_set_u64v(&c->r, F_ASM_ADDR, a, f.n);
		}
		if (!ok)
			cli_die(1, "out of memory");
		if (encode(w, &c->r, f.n, f.has_addr, f.is_ida, f.keys, f.klen, f.id, f.name, &e) < 0) {
			cli_warn("%s: line %llu: function %llu (id %s): %s", name, (unsigned long long)f.line,
				 (unsigned long long)f.index, f.id ? f.id : "?", e.msg);
			bad++;
			continue;
		}
		emit(c, &c->r);
		c->done++;
		cli_progress_tick(&c->prog, c->done, "functions");
		if (!warned && c->wk[0].ida.unreloc_calls > unreloc0) {
			cli_warn("%s: calls without relocations (objdump of a .o without -r?): callees stay unnamed; "
				 "use objdump -dr", name);
			warned = 1;
		}
	}
	return bad;
}

/* stdin was peeked for detection: feed the peeked bytes and the rest of it
 * through a pipe to the record reader. */
typedef struct feeder {
	int         in, out;
	const char *pre;
	size_t      npre;
} feeder;

static void *feed(void *arg)
{
	feeder *f = arg;
	char buf[1 << 16];
	size_t o = 0;
	while (o < f->npre) {
		ssize_t w = write(f->out, f->pre + o, f->npre - o);
		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			goto out;
		}
		o += (size_t)w;
	}
	for (;;) {
		ssize_t r = read(f->in, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		for (ssize_t p = 0; p < r;) {
			ssize_t w = write(f->out, buf + p, (size_t)(r - p));
			if (w <= 0) {
				if (w < 0 && errno == EINTR)
					continue;
				goto out;
			}
			p += w;
		}
	}
out:
	close(f->out);
	return NULL;
}

static int do_input(ctx *c, const char *path, enum asmin_fmt fmt)
{
	an_err e;
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	char pre[4096];
	size_t npre = 0;
	int bad;

	if (fd < 0) {
		cli_warn("%s: %s", path, strerror(errno));
		return 1;
	}
	if (fmt == ASMIN_AUTO) {
		while (npre < sizeof pre) {
			ssize_t r = read(fd, pre + npre, sizeof pre - npre);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				cli_warn("%s: %s", path, strerror(errno));
				if (fd)
					close(fd);
				return 1;
			}
			if (r == 0)
				break;
			npre += (size_t)r;
		}
		if (npre == 0) {
			if (fd)
				close(fd);
			return 0;
		}
		fmt = asmin_detect((const unsigned char *)pre, npre);
		if (c->prog.on)
			fprintf(stderr, "%s: %s: %s input\n", cli_prog, path, asmin_fmt_name(fmt));
	}
	if (fmt == ASMIN_REC) {
		rec_reader *rd;
		pthread_t th;
		feeder fe;
		int pfd[2] = { -1, -1 }, threaded = 0;
		if (npre && fd == 0) {
			char dev[64];
			if (pipe(pfd) < 0)
				cli_die(1, "pipe: %s", strerror(errno));
			fe = (feeder){ .in = 0, .out = pfd[1], .pre = pre, .npre = npre };
			if (pthread_create(&th, NULL, feed, &fe))
				cli_die(1, "cannot start a thread");
			threaded = 1;
			snprintf(dev, sizeof dev, "/dev/fd/%d", pfd[0]);
			rd = rec_reader_open(dev, &e);
		} else {
			if (fd)
				close(fd);
			rd = rec_reader_open(path, &e);
		}
		if (!rd) {
			cli_warn("%s: %s", path, e.msg);
			bad = 1;
		} else {
			bad = do_rec(c, rd, path);
			rec_reader_close(rd);
		}
		if (threaded) {
			close(pfd[0]);
			pthread_join(th, NULL);
		}
		return bad;
	}
	asmin *in = asmin_open_fd(fd, fd != 0, path, fmt, pre, npre, &e);
	if (!in) {
		cli_warn("%s", e.msg);
		return 1;
	}
	bad = do_text(c, in, path);
	asmin_close(in);
	return bad;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"model", required_argument, 0, 'm'}, {"format", required_argument, 0, 'F'},
		{"max-len", required_argument, 0, 'n'}, {"raw", no_argument, 0, 'r'},
		{"dict", no_argument, 0, 'd'}, {"force", no_argument, 0, 'f'}, {"gzip", no_argument, 0, 'z'},
		{"verbose", no_argument, 0, 'v'}, {"threads", required_argument, 0, 'j'},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
	};
	const char *model = NULL;
	int fmt = ASMIN_AUTO, force = 0, gz = 0, verbose = 0, opt;
	size_t max_len = CLAP_MAX_LEN;
	static ctx c;
	char buf[4096];
	an_err e;

	cli_init(argv[0]);
	while ((opt = getopt_long(argc, argv, "m:F:n:rdfzvj:h", lo, NULL)) != -1) {
		switch (opt) {
		case 'm': model = optarg; break;
		case 'F':
			if ((fmt = asmin_fmt_parse(optarg)) < 0)
				cli_die(2, "--format: %s: want auto, rec, objdump, json or csv", optarg);
			break;
		case 'n': max_len = (size_t)cli_opt_u64("--max-len", optarg, 1, 1 << 20); break;
		case 'r': c.raw = 1; break;
		case 'd': c.dict = 1; break;
		case 'f': force = 1; break;
		case 'z': gz = 1; break;
		case 'v': verbose = 1; break;
		case 'j': c.nthreads = (int)cli_opt_u64("--threads", optarg, 1, 1024); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!model && getenv("ASMNAME_CLAP") && *getenv("ASMNAME_CLAP"))
		model = getenv("ASMNAME_CLAP");
	if (!model && getenv("ASMNAME_BUNDLE") && *getenv("ASMNAME_BUNDLE")) {
		snprintf(buf, sizeof buf, "%s/clap", getenv("ASMNAME_BUNDLE"));
		model = buf;
	}
	if (!model)
		cli_die(2, "no model: give -m DIR (a CLAP-ASM directory with tokenizer.json or vocab.txt) or set ASMNAME_CLAP");
	if (!c.dict)
		cli_check_stdout(force);
	if (wp_load(&c.v, model, &e) < 0)
		cli_die(1, "%s", e.msg);
	if (!c.nthreads)
		c.nthreads = omp_get_max_threads();
	if (c.nthreads < 1)
		c.nthreads = 1;
	c.max_len = max_len;
	if (!(c.wk = calloc((size_t)c.nthreads, sizeof *c.wk)))
		cli_die(1, "out of memory");
	for (int t = 0; t < c.nthreads; t++) {
		worker *w = &c.wk[t];
		w->v = &c.v;
		w->raw = c.raw;
		w->dict = c.dict;
		clap_tok_init(&w->ct, &c.v, max_len);
		ida_init(&w->ida);
		w->ida.max_render = c.dict ? 0 : max_len;   /* --dict writes whole functions */
		w->ids = malloc(max_len * sizeof *w->ids);
		w->types = malloc(max_len * sizeof *w->types);
		if (!w->ids || !w->types)
			cli_die(1, "out of memory");
	}
	rec_init(&c.r);
	for (int i = 0; i < BATCH; i++)
		rec_init(&c.batch[i]);
	if (!c.dict && !(c.w = rec_writer_fd(1, gz ? 6 : 0, &e)))
		cli_die(1, "%s", e.msg);
	cli_progress_init(&c.prog, verbose);

	double t0 = cli_now();
	int bad = 0;
	if (optind >= argc)
		bad += do_input(&c, "-", (enum asmin_fmt)fmt);
	for (int i = optind; i < argc; i++)
		bad += do_input(&c, argv[i], (enum asmin_fmt)fmt);
	double dt = cli_now() - t0;
	cli_progress_done(&c.prog, "functions");

	if (c.w && rec_writer_close(c.w, &e) < 0)
		cli_write_failed(&e);
	if (c.dict && fflush(stdout) == EOF && errno != EPIPE)
		cli_die(1, "stdout: %s", strerror(errno));
	stats s = {0};
	for (int t = 0; t < c.nthreads; t++) {
		worker *w = &c.wk[t];
		s.funcs += w->st.funcs;
		s.instrs += w->st.instrs;
		s.toks += w->st.toks;
		s.unk += w->st.unk;
		s.cont += w->st.cont;
		s.words += w->st.words;
		s.split += w->st.split;
		s.instr_cut += w->ct.n_instr_cut;
		s.func_cut += w->ct.n_func_cut;
	}
	if (verbose) {
		double tk = s.toks ? (double)s.toks : 1, wd = s.words ? (double)s.words : 1;
		fprintf(stderr,
			"%s: %llu functions, %llu instructions, %llu tokens (%.0f tokens/s, %d threads); "
			"[UNK] %.4f%% of tokens; ## sub-words %.4f%% of tokens; split words %.4f%% of words; "
			"instructions cut at %d tokens: %llu; functions cut at %zu: %llu; bad: %d\n",
			cli_prog, (unsigned long long)s.funcs, (unsigned long long)s.instrs, (unsigned long long)s.toks,
			dt > 0 ? (double)s.toks / dt : 0.0, c.nthreads, 100.0 * (double)s.unk / tk, 100.0 * (double)s.cont / tk,
			100.0 * (double)s.split / wd, CLAP_INSTR_MAX_TOK, (unsigned long long)s.instr_cut, max_len,
			(unsigned long long)s.func_cut, bad);
	}
	for (int t = 0; t < c.nthreads; t++) {
		worker *w = &c.wk[t];
		free(w->ids);
		free(w->types);
		free(w->ii);
		free(w->txt);
		free(w->tlen);
		free(w->cal);
		free(w->call);
		ida_free(&w->ida);
		clap_tok_free(&w->ct);
	}
	free(c.wk);
	rec_free(&c.r);
	for (int i = 0; i < BATCH; i++)
		rec_free(&c.batch[i]);
	wp_free(&c.v);
	return bad ? 1 : 0;
}
