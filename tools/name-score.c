/* name-score: how good predicted names are (name vs pred) and how well asm
 * embeddings retrieve their source (emb vs src_emb).  The definitions live
 * in common/metrics.h and man/man1/name-score.1. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "metrics.h"
#include "names.h"
#include "rec.h"

static const char usage_text[] =
	"usage: name-score [options] [FILE...]\n"
	"Score predicted names (fields name, pred) and asm->source retrieval\n"
	"(fields emb, src_emb) of a record stream.\n"
	"  -j, --json            the report as one JSON object\n"
	"  -p, --per-function    one line per function instead of the summary\n"
	"                        (TSV with a header; JSON Lines with --json)\n"
	"  -t, --skip-trivial    leave out main, _start, frame_dummy, ... (see the man page)\n"
	"  -b, --by FIELD        also a line of scores per value of FIELD (e.g. opt, pkg)\n"
	"  -s, --synonyms FILE   synonym/abbreviation table (default: the shipped one)\n"
	"  -S, --no-synonyms     no synonym table\n"
	"      --no-digits       drop digit runs from the words (as SymLM does)\n"
	"      --query FIELD     asm embedding field (default emb)\n"
	"      --target FIELD    source embedding field (default src_emb)\n"
	"  -h, --help            this text\n";

static _Noreturn void usage(int status)
{
	fputs(usage_text, status ? stderr : stdout);
	exit(status);
}

/* Functions whose names a disassembler knows without any model: the C
 * runtime's start-up and tear-down code.  Compared with the label (clone
 * suffixes dropped); entries ending in '.' match as prefixes. */
static const char *const trivial[] = {
	"main", "_start", "_start_c", "_init", "_fini", "frame_dummy",
	"register_tm_clones", "deregister_tm_clones", "__do_global_dtors_aux",
	"__do_global_ctors_aux", "__libc_csu_init", "__libc_csu_fini",
	"__libc_start_main", "_dl_relocate_static_pie", "__stack_chk_fail_local",
	"__x86.get_pc_thunk.",
};

static int is_trivial(const char *name, size_t len)
{
	len = names_base_len(name, len);
	for (size_t i = 0; i < sizeof trivial / sizeof trivial[0]; i++) {
		size_t n = strlen(trivial[i]);

		if (trivial[i][n - 1] == '.' ? len > n && !memcmp(name, trivial[i], n)
					      : len == n && !memcmp(name, trivial[i], n))
			return 1;
	}
	return 0;
}

/* The shipped table: $ASMNAME_DATA/synonyms.tsv, else next to the program
 * in <bin>/../data/ or <bin>/../share/asmname/.  NULL when none exists. */
static char *find_table(void)
{
	static char path[PATH_MAX + 64];
	char exe[PATH_MAX];
	const char *env = getenv("ASMNAME_DATA");
	ssize_t n;

	if (env && *env) {
		snprintf(path, sizeof path, "%s/synonyms.tsv", env);
		return access(path, R_OK) ? NULL : path;
	}
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return NULL;
	exe[n] = 0;
	for (int up = 0; up < 2; up++) {   /* strip "/name-score", then "/bin" */
		char *s = strrchr(exe, '/');

		if (!s)
			return NULL;
		*s = 0;
	}
	snprintf(path, sizeof path, "%s/data/synonyms.tsv", exe);
	if (!access(path, R_OK))
		return path;
	snprintf(path, sizeof path, "%s/share/asmname/synonyms.tsv", exe);
	return access(path, R_OK) ? NULL : path;
}

/* One function kept for --per-function (printed at the end, when the
 * retrieval ranks are known). */
typedef struct row {
	char       *id, *name, *pred;
	int         scored;     /* name metrics present */
	metrics_one m;
	size_t      ret;        /* index into the retrieval pairs, or SIZE_MAX */
} row;

/* The scores of the records with one value of --by's field. */
typedef struct group {
	char       *key;
	metrics_acc acc;
	uint64_t    nopred;
	size_t     *ret, nret, capret;   /* their retrieval pairs */
} group;

static int group_cmp(const void *a, const void *b)
{
	return strcmp(((const group *)a)->key, ((const group *)b)->key);
}

static group *group_of(group **gs, size_t *ng, const char *key, size_t len)
{
	group *g;

	for (size_t i = 0; i < *ng; i++)
		if (strlen((*gs)[i].key) == len && !memcmp((*gs)[i].key, key, len))
			return &(*gs)[i];
	if (!(g = realloc(*gs, (*ng + 1) * sizeof *g)))
		cli_die(CLI_DATA, "out of memory");
	*gs = g;
	g = &g[(*ng)++];
	memset(g, 0, sizeof *g);
	if (!(g->key = malloc(len + 1)))
		cli_die(CLI_DATA, "out of memory");
	memcpy(g->key, key, len);
	g->key[len] = 0;
	metrics_acc_init(&g->acc);
	return g;
}

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (!d)
		cli_die(CLI_DATA, "out of memory");
	for (size_t i = 0; i < n; i++)   /* one line per function in TSV */
		d[i] = s[i] == '\t' || s[i] == '\n' || s[i] == '\r' ? ' ' : s[i];
	d[n] = 0;
	return d;
}

static json_t *prf_json(double p, double r, double f1)
{
	return json_pack("{s:f, s:f, s:f}", "p", p, "r", r, "f1", f1);
}

static json_t *words_json(const metrics_summary_prf *s, const metrics_agg_prf *a)
{
	json_t *micro = prf_json(s->micro_p, s->micro_r, s->micro_f1);

	json_object_set_new(micro, "tp", json_integer((json_int_t)a->tp));
	json_object_set_new(micro, "fp", json_integer((json_int_t)a->fp));
	json_object_set_new(micro, "fn", json_integer((json_int_t)a->fn));
	return json_pack("{s:o, s:o}", "micro", micro,
			 "macro", prf_json(s->macro_p, s->macro_r, s->macro_f1));
}

/* --by: one object per group, in key order. */
static json_t *groups_json(const char *by, const group *gs, size_t ng, const uint64_t *rank,
			   int syn, const unsigned *ks)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < ng; i++) {
		const group *g = &gs[i];
		metrics_summary s;
		json_t *o = json_pack("{s:s}", "key", g->key);

		metrics_acc_summary(&g->acc, &s);
		json_object_set_new(o, "n", json_integer((json_int_t)s.n));
		if (g->acc.n > g->nopred) {
			json_object_set_new(o, "exact", json_real(s.exact));
			json_object_set_new(o, "exact_norm", json_real(s.exact_norm));
			json_object_set_new(o, "prefix", json_real(s.prefix));
			json_object_set_new(o, "char_f1", json_real(s.char_f1));
			json_object_set_new(o, "word_micro_f1", json_real(s.word.micro_f1));
			json_object_set_new(o, "word_macro_f1", json_real(s.word.macro_f1));
			json_object_set_new(o, "word_syn_micro_f1", syn ? json_real(s.word_syn.micro_f1) : json_null());
		}
		if (rank && g->nret) {
			double mrr, rc[4];
			json_t *rj = json_object();

			metrics_rank_summary(rank, g->ret, g->nret, ks, 4, &mrr, rc);
			json_object_set_new(o, "retrieval_n", json_integer((json_int_t)g->nret));
			json_object_set_new(o, "mrr", json_real(mrr));
			for (int k = 0; k < 4; k++) {
				char key[16];

				snprintf(key, sizeof key, "%u", ks[k]);
				json_object_set_new(rj, key, json_real(rc[k]));
			}
			json_object_set_new(o, "recall", rj);
		}
		json_array_append_new(arr, o);
	}
	return json_pack("{s:s, s:o}", "field", by, "groups", arr);
}

static void groups_print(const char *by, const group *gs, size_t ng, const uint64_t *rank,
			 int syn, const unsigned *ks)
{
	printf("\nby %-16s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n", by, "n", "exact", "exact_w",
	       "prefix", "char_f1", "word_f1", "syn_f1", "MRR", "R@1");
	for (size_t i = 0; i < ng; i++) {
		const group *g = &gs[i];
		metrics_summary s;

		metrics_acc_summary(&g->acc, &s);
		printf("   %-16.16s %8llu", g->key, (unsigned long long)s.n);
		if (g->acc.n > g->nopred) {
			printf(" %8.4f %8.4f %8.4f %8.4f %8.4f", s.exact, s.exact_norm, s.prefix,
			       s.char_f1, s.word.micro_f1);
			if (syn)
				printf(" %8.4f", s.word_syn.micro_f1);
			else
				printf(" %8s", "-");
		} else {
			printf(" %8s %8s %8s %8s %8s %8s", "-", "-", "-", "-", "-", "-");
		}
		if (rank && g->nret) {
			double mrr, rc[4];

			metrics_rank_summary(rank, g->ret, g->nret, ks, 4, &mrr, rc);
			printf(" %8.4f %8.4f\n", mrr, rc[0]);
		} else {
			printf(" %8s %8s\n", "-", "-");
		}
	}
}

static void print_prf(const char *what, double p, double r, double f1)
{
	printf("%-22s %8.4f %8.4f %8.4f\n", what, p, r, f1);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "per-function", no_argument, NULL, 'p' },
		{ "skip-trivial", no_argument, NULL, 't' },
		{ "by", required_argument, NULL, 'b' },
		{ "synonyms", required_argument, NULL, 's' },
		{ "no-synonyms", no_argument, NULL, 'S' },
		{ "no-digits", no_argument, NULL, 'D' },
		{ "query", required_argument, NULL, 'Q' },
		{ "target", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const unsigned ks[] = { 1, 5, 10, 100 };
	int json = 0, per = 0, skip_triv = 0, no_syn = 0, flags = NAMES_DIGITS, c, status = 0;
	const char *syn_path = NULL, *qf = F_EMB, *tf = F_SRC_EMB, *by = NULL;
	group *groups = NULL;
	size_t ngroups = 0;
	uint64_t nrec = 0, n_triv = 0, n_noname = 0, n_unscorable = 0, n_nopred = 0, n_bad = 0,
		 n_noemb = 0;
	metrics_syn *syn = NULL;
	metrics_acc acc;
	metrics_ret ret;
	row *rows = NULL;
	size_t nrows = 0, caprows = 0;
	cli_in in;
	rec r;
	an_err e = { 0 };
	int rc;

	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "jptb:s:Sh", lo, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'p': per = 1; break;
		case 't': skip_triv = 1; break;
		case 'b': by = optarg; break;
		case 's': syn_path = optarg; break;
		case 'S': no_syn = 1; break;
		case 'D': flags &= ~NAMES_DIGITS; break;
		case 'Q': qf = optarg; break;
		case 'T': tf = optarg; break;
		case 'h': usage(CLI_OK);
		default:  usage(CLI_USAGE);
		}
	}
	if (!no_syn) {
		if (!syn_path && !(syn_path = find_table()))
			cli_warn("no synonym table found (set ASMNAME_DATA or use -s FILE); "
				 "scoring without one");
		if (syn_path && !(syn = metrics_syn_load(syn_path, &e)))
			cli_die(CLI_USAGE, "%s", e.msg);
	}
	metrics_acc_init(&acc);
	metrics_ret_init(&ret);
	rec_init(&r);
	cli_in_init(&in, argv + optind, argc - optind);
	while ((rc = cli_in_next(&in, &r, &e)) != 0) {
		const char *name = NULL, *pred = "", *id = "";
		size_t nlen = 0, plen = 0, idlen = 0, ri = SIZE_MAX;
		const void *qv, *tv;
		size_t nq, nt;
		metrics_one m = { 0 };
		int scored = 0;
		char where[256];
		group *g = NULL;

		if (rc < 0) {
			cli_warn("%s", e.msg);
			status = CLI_DATA;
			continue;
		}
		nrec++;
		rec_where(&r, where, sizeof where);
		if (rec_has(&r, F_ID) && rec_get_str(&r, F_ID, &id, &idlen, &e))
			id = "", idlen = 0;
		if (rec_has(&r, F_NAME) && rec_get_str(&r, F_NAME, &name, &nlen, &e)) {
			cli_warn("%s: %s: %s", r.src, where, e.msg);
			n_bad++;
			continue;
		}
		if (name && skip_triv && is_trivial(name, nlen)) {
			n_triv++;
			continue;
		}
		if (rec_has(&r, F_PRED) && rec_get_str(&r, F_PRED, &pred, &plen, &e)) {
			cli_warn("%s: %s: %s", r.src, where, e.msg);
			n_bad++;
			continue;
		}
		if (by) {
			const char *key = "-";
			size_t klen = 1;

			if (rec_has(&r, by) && rec_get_str(&r, by, &key, &klen, &e))
				key = "?", klen = 1;   /* not a string */
			g = group_of(&groups, &ngroups, key, klen);
		}
		if (!name) {
			n_noname++;
		} else if (metrics_score(name, nlen, pred, plen, syn, flags, &m)) {
			n_unscorable++;
		} else {
			scored = 1;
			n_nopred += !rec_has(&r, F_PRED);
			metrics_acc_add(&acc, &m);
			if (g) {
				g->nopred += !rec_has(&r, F_PRED);
				metrics_acc_add(&g->acc, &m);
			}
		}
		if (rec_has(&r, qf) && rec_has(&r, tf)) {
			uint64_t group;

			if (rec_get_array(&r, qf, REC_DT_F32, &qv, &nq, &e) ||
			    rec_get_array(&r, tf, REC_DT_F32, &tv, &nt, &e)) {
				cli_warn("%s: %s: %s", r.src, where, e.msg);
				n_bad++;
			} else if (nq != nt) {
				cli_warn("%s: %s: %s has %zu values, %s has %zu", r.src, where,
					 qf, nq, tf, nt);
				n_bad++;
			} else {
				/* Pairs with the same source text are one group: each
				 * of their targets is a right answer. */
				const char *src;
				size_t slen;
				float *q = malloc(nq * sizeof *q), *t = malloc(nt * sizeof *t);

				if (!q || !t)
					cli_die(CLI_DATA, "out of memory");
				memcpy(q, qv, nq * sizeof *q);   /* the bin may be unaligned */
				memcpy(t, tv, nt * sizeof *t);
				if (rec_has(&r, F_SRC) && !rec_get_str(&r, F_SRC, &src, &slen, &e))
					group = fnv1a(src, slen) & ~(1ULL << 63);
				else
					group = ret.n | 1ULL << 63;
				ri = ret.n;
				if (metrics_ret_add(&ret, q, t, nq, group, &e)) {
					cli_warn("%s: %s: %s", r.src, where, e.msg);
					n_bad++;
					ri = SIZE_MAX;
				} else if (g) {
					if (g->nret == g->capret) {
						g->capret = g->capret ? 2 * g->capret : 64;
						if (!(g->ret = realloc(g->ret, g->capret * sizeof *g->ret)))
							cli_die(CLI_DATA, "out of memory");
					}
					g->ret[g->nret++] = ri;
				}
				free(q);
				free(t);
			}
		} else {
			n_noemb++;
		}
		if (per && (scored || ri != SIZE_MAX)) {
			if (nrows == caprows) {
				row *nr = realloc(rows, (caprows = caprows ? 2 * caprows : 1024) * sizeof *nr);

				if (!nr)
					cli_die(CLI_DATA, "out of memory");
				rows = nr;
			}
			rows[nrows++] = (row){ dupn(id, idlen), dupn(name ? name : "", name ? nlen : 0),
					       dupn(pred, plen), scored, m, ri };
		}
	}
	cli_in_free(&in);
	rec_free(&r);
	if (n_bad)
		status = CLI_DATA;

	{
		metrics_summary s;
		uint64_t *rank = NULL;
		double mrr = 0, recall[4] = { 0 };
		int have_names = acc.n > n_nopred;   /* some record has a pred */
		int have_ret = ret.n > 0;

		metrics_acc_summary(&acc, &s);
		if (ngroups)
			qsort(groups, ngroups, sizeof *groups, group_cmp);
		if (have_ret) {
			rank = calloc(ret.n, sizeof *rank);
			if (!rank || metrics_ret_eval(&ret, rank, ks, 4, &mrr, recall, &e))
				cli_die(CLI_DATA, "%s", rank ? e.msg : "out of memory");
		}
		if (per) {
			if (!json)
				printf("id\tname\tpred\texact\texact_norm\tprefix\tchar_f1\tword_p\tword_r"
				       "\tword_f1\tsyn_f1\trank\n");
			for (size_t i = 0; i < nrows; i++) {
				row *w = &rows[i];
				uint64_t rk = w->ret != SIZE_MAX ? rank[w->ret] : 0;

				if (json) {
					json_t *o = json_pack("{s:s, s:s, s:s}", "id", w->id, "name",
							      w->name, "pred", w->pred);

					if (w->scored) {
						json_object_set_new(o, "exact", json_boolean(w->m.exact));
						json_object_set_new(o, "exact_norm", json_boolean(w->m.exact_norm));
						json_object_set_new(o, "prefix", json_boolean(w->m.prefix));
						json_object_set_new(o, "char_f1", json_real(w->m.char_f1));
						json_object_set_new(o, "word", prf_json(w->m.word.p, w->m.word.r,
											w->m.word.f1));
						if (syn)
							json_object_set_new(o, "word_syn",
									    prf_json(w->m.word_syn.p, w->m.word_syn.r,
										     w->m.word_syn.f1));
					}
					if (rk)
						json_object_set_new(o, "rank", json_integer((json_int_t)rk));
					json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
					putchar('\n');
					json_decref(o);
				} else if (w->scored) {
					printf("%s\t%s\t%s\t%d\t%d\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t", w->id,
					       w->name, w->pred, w->m.exact, w->m.exact_norm, w->m.prefix,
					       w->m.char_f1, w->m.word.p, w->m.word.r, w->m.word.f1);
					if (syn)
						printf("%.4f\t", w->m.word_syn.f1);
					else
						printf("-\t");
					if (rk)
						printf("%llu\n", (unsigned long long)rk);
					else
						printf("-\n");
				} else {
					printf("%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t%llu\n", w->id, w->name,
					       w->pred, (unsigned long long)rk);
				}
				free(w->id);
				free(w->name);
				free(w->pred);
			}
		} else if (json) {
			json_t *o = json_object(), *sk = json_object();

			json_object_set_new(o, "records", json_integer((json_int_t)nrec));
			json_object_set_new(sk, "trivial", json_integer((json_int_t)n_triv));
			json_object_set_new(sk, "no_name", json_integer((json_int_t)n_noname));
			json_object_set_new(sk, "unscorable", json_integer((json_int_t)n_unscorable));
			json_object_set_new(sk, "bad", json_integer((json_int_t)n_bad));
			json_object_set_new(o, "skipped", sk);
			json_object_set_new(o, "synonyms", syn_path && syn ? json_string(syn_path) : json_null());
			if (have_names) {
				json_t *nm = json_object();

				json_object_set_new(nm, "n", json_integer((json_int_t)s.n));
				json_object_set_new(nm, "no_pred", json_integer((json_int_t)n_nopred));
				json_object_set_new(nm, "exact", json_real(s.exact));
				json_object_set_new(nm, "exact_norm", json_real(s.exact_norm));
				json_object_set_new(nm, "prefix", json_real(s.prefix));
				json_object_set_new(nm, "char", prf_json(s.char_p, s.char_r, s.char_f1));
				json_object_set_new(nm, "word", words_json(&s.word, &acc.word));
				json_object_set_new(nm, "word_syn",
						    syn ? words_json(&s.word_syn, &acc.word_syn) : json_null());
				json_object_set_new(o, "names", nm);
			} else {
				json_object_set_new(o, "names", json_null());
			}
			if (have_ret) {
				json_t *rt = json_object(), *rc_ = json_object();

				json_object_set_new(rt, "n", json_integer((json_int_t)ret.n));
				json_object_set_new(rt, "query", json_string(qf));
				json_object_set_new(rt, "target", json_string(tf));
				json_object_set_new(rt, "mrr", json_real(mrr));
				for (int k = 0; k < 4; k++) {
					char key[16];

					snprintf(key, sizeof key, "%u", ks[k]);
					json_object_set_new(rc_, key, json_real(recall[k]));
				}
				json_object_set_new(rt, "recall", rc_);
				json_object_set_new(o, "retrieval", rt);
			} else {
				json_object_set_new(o, "retrieval", json_null());
			}
			if (by)
				json_object_set_new(o, "by", groups_json(by, groups, ngroups, rank, syn != NULL, ks));
			json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
			putchar('\n');
			json_decref(o);
		} else {
			printf("records                %llu (left out: %llu trivial, %llu without name, "
			       "%llu with a wordless name, %llu bad)\n",
			       (unsigned long long)nrec, (unsigned long long)n_triv,
			       (unsigned long long)n_noname, (unsigned long long)n_unscorable,
			       (unsigned long long)n_bad);
			if (have_names) {
				printf("names scored           %llu (%llu without pred, counted as empty)\n",
				       (unsigned long long)s.n, (unsigned long long)n_nopred);
				printf("exact                  %8.4f\n", s.exact);
				printf("exact (words)          %8.4f\n", s.exact_norm);
				printf("prefix (words)         %8.4f\n", s.prefix);
				printf("%-22s %8s %8s %8s\n", "", "P", "R", "F1");
				print_prf("characters", s.char_p, s.char_r, s.char_f1);
				print_prf("words micro", s.word.micro_p, s.word.micro_r, s.word.micro_f1);
				print_prf("words macro", s.word.macro_p, s.word.macro_r, s.word.macro_f1);
				if (syn) {
					print_prf("words+synonyms micro", s.word_syn.micro_p,
						  s.word_syn.micro_r, s.word_syn.micro_f1);
					print_prf("words+synonyms macro", s.word_syn.macro_p,
						  s.word_syn.macro_r, s.word_syn.macro_f1);
				}
			} else {
				printf("names scored           none (no record has both %s and %s)\n",
				       F_NAME, F_PRED);
			}
			if (have_ret) {
				printf("retrieval %s -> %s    %zu pairs\n", qf, tf, ret.n);
				printf("MRR                    %8.4f\n", mrr);
				printf("R@1 R@5 R@10 R@100     %8.4f %8.4f %8.4f %8.4f\n",
				       recall[0], recall[1], recall[2], recall[3]);
			} else {
				printf("retrieval              none (no record has both %s and %s)\n", qf, tf);
			}
			if (by)
				groups_print(by, groups, ngroups, rank, syn != NULL, ks);
		}
		free(rank);
	}
	for (size_t i = 0; i < ngroups; i++) {
		free(groups[i].key);
		free(groups[i].ret);
	}
	free(groups);
	free(rows);
	metrics_ret_free(&ret);
	metrics_syn_free(syn);
	if (fflush(stdout) || ferror(stdout)) {
		if (errno == EPIPE)   /* | head is not an error */
			return status;
		cli_die(CLI_DATA, "stdout: %s", strerror(errno));
	}
	(void)n_noemb;
	return status;
}
