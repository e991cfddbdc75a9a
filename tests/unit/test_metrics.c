/* test_metrics: names.c and metrics.c against values worked out by hand
 * (the arithmetic is in the comments beside each expected value). */
#include <math.h>
#include <string.h>

#include "metrics.h"
#include "names.h"
#include "test.h"

static int near(double a, double b)
{
	return fabs(a - b) < 1e-12;
}

static void t_base(const char *in, const char *want)
{
	size_t n = names_base_len(in, strlen(in));
	char name[128];

	snprintf(name, sizeof name, "base %s", in);
	CHECK(n == strlen(want) && !memcmp(in, want, n), name, "got \"%.*s\", want \"%s\"",
	      (int)n, in, want);
}

/* want: words joined by spaces */
static void t_split(const char *in, int flags, const char *want)
{
	names_words w;
	char got[256], name[128];

	names_split(in, strlen(in), flags, &w);
	names_join(&w, ' ', got, sizeof got);
	snprintf(name, sizeof name, "split %s%s", in, flags & NAMES_DIGITS ? "" : " (no digits)");
	CHECK(!strcmp(got, want), name, "got \"%s\", want \"%s\"", got, want);
}

static void t_prf(const char *name, const metrics_prf *m, unsigned tp, unsigned fp, unsigned fn,
		  double p, double r, double f1)
{
	CHECK(m->tp == tp && m->fp == fp && m->fn == fn && near(m->p, p) && near(m->r, r) &&
	      near(m->f1, f1), name, "got tp %u fp %u fn %u P %.6f R %.6f F1 %.6f, "
	      "want %u %u %u %.6f %.6f %.6f", m->tp, m->fp, m->fn, m->p, m->r, m->f1,
	      tp, fp, fn, p, r, f1);
}

static int score(const char *n, const char *p, const metrics_syn *syn, metrics_one *m)
{
	return metrics_score(n, strlen(n), p, strlen(p), syn, NAMES_DIGITS, m);
}

static void test_names(void)
{
	t_base("foo", "foo");
	t_base("foo.isra.0.cold", "foo");
	t_base("foo.part.3", "foo");
	t_base("foo.constprop.0.isra.0", "foo");
	t_base("foo.cold.1", "foo");
	t_base("foo.lto_priv.0", "foo");
	t_base("memcpy@GLIBC_2.14", "memcpy");
	t_base("foo@@LIBFOO_1.0", "foo");
	t_base("puts@plt", "puts");
	t_base("__x86.get_pc_thunk.bx", "__x86.get_pc_thunk.bx");   /* a dot that is part of the name */
	t_base("foo.1", "foo.1");              /* a bare number is not a clone suffix */
	t_base(".cold", ".cold");              /* nothing but a suffix: kept */
	t_base("", "");

	t_split("getConfigValue", NAMES_DIGITS, "get config value");
	t_split("__libc_csu_init", NAMES_DIGITS, "libc csu init");
	t_split("HTTPServer_start", NAMES_DIGITS, "http server start");
	t_split("XMLHttpRequest2", NAMES_DIGITS, "xml http request 2");
	t_split("parseURLs", NAMES_DIGITS, "parse urls");
	t_split("sha256_update", NAMES_DIGITS, "sha 256 update");
	t_split("sha256_update", 0, "sha update");
	t_split("x86_64", NAMES_DIGITS, "x 86 64");
	t_split("ABC", NAMES_DIGITS, "abc");
	t_split("a", NAMES_DIGITS, "a");
	t_split("___", NAMES_DIGITS, "");
	t_split("", NAMES_DIGITS, "");
	t_split("a..b__c", NAMES_DIGITS, "a b c");

	/* 200 one-letter words: only NAMES_MAX_WORDS fit, and it says so. */
	{
		char big[400];
		names_words w;

		for (int i = 0; i < 200; i++) {
			big[2 * i] = 'a';
			big[2 * i + 1] = '_';
		}
		names_split(big, 400, NAMES_DIGITS, &w);
		CHECK(w.n == NAMES_MAX_WORDS && w.truncated, "split truncates", "n %zu truncated %d",
		      w.n, w.truncated);
	}
}

static void test_pairs(const metrics_syn *syn)
{
	metrics_one m;
	int rc;

	/* get_config_value / getConfig: words T={get,config,value} P={get,config}:
	 * tp 2 fp 0 fn 1, P 1, R 2/3, F1 2(2/3)/(5/3) = 0.8.  P's words are a prefix
	 * of T's.  Characters "getconfigvalue" (14) vs "getconfig" (9): all 9 of P's
	 * are in T (g twice in both), so P 1, R 9/14, F1 (18/14)/(23/14) = 18/23. */
	rc = score("get_config_value", "getConfig", syn, &m);
	CHECK(rc == 0 && !m.exact && !m.exact_norm && m.prefix, "pair1 exact/prefix",
	      "rc %d exact %d norm %d prefix %d", rc, m.exact, m.exact_norm, m.prefix);
	CHECK(near(m.char_p, 1) && near(m.char_r, 9.0 / 14) && near(m.char_f1, 18.0 / 23),
	      "pair1 char", "P %.6f R %.6f F1 %.6f", m.char_p, m.char_r, m.char_f1);
	t_prf("pair1 word", &m.word, 2, 0, 1, 1, 2.0 / 3, 0.8);

	/* open_file / close_file: T={open,file} P={close,file}: tp 1 fp 1 fn 1,
	 * 1/2 each.  Our table does NOT make open and close one word.
	 * Characters: "openfile" o p e e n f i l (8), "closefile" c l l o s e e f i (9);
	 * common o1 e2 f1 i1 l1 = 6; P 6/9, R 6/8, F1 2(2/3)(3/4)/(17/12) = 12/17. */
	score("open_file", "close_file", syn, &m);
	t_prf("pair2 word", &m.word, 1, 1, 1, 0.5, 0.5, 0.5);
	t_prf("pair2 word syn (no antonyms)", &m.word_syn, 1, 1, 1, 0.5, 0.5, 0.5);
	CHECK(near(m.char_p, 6.0 / 9) && near(m.char_r, 6.0 / 8) && near(m.char_f1, 12.0 / 17),
	      "pair2 char", "P %.6f R %.6f F1 %.6f", m.char_p, m.char_r, m.char_f1);

	/* read_buffer / rd_buf: nothing in common as words; with the table rd->read
	 * and buf->buffer, so both words match. */
	score("read_buffer", "rd_buf", syn, &m);
	t_prf("pair3 word", &m.word, 0, 2, 2, 0, 0, 0);
	t_prf("pair3 word syn", &m.word_syn, 2, 0, 0, 1, 1, 1);
	CHECK(!m.exact_norm && !m.prefix, "pair3 not exact", "norm %d prefix %d",
	      m.exact_norm, m.prefix);

	/* Empty prediction: every score 0, the truth's word a false negative. */
	score("foo", "", syn, &m);
	t_prf("empty pred word", &m.word, 0, 0, 1, 0, 0, 0);
	CHECK(!m.exact && !m.exact_norm && !m.prefix && m.char_f1 == 0 && m.char_p == 0,
	      "empty pred", "exact %d norm %d prefix %d char F1 %f", m.exact, m.exact_norm,
	      m.prefix, m.char_f1);

	/* A truth without words cannot be scored. */
	CHECK(score("___", "foo", syn, &m) == -1, "wordless truth", "scored");
	CHECK(score("", "", syn, &m) == -1, "empty truth", "scored");

	/* Duplicates collapse: T=list_list_add -> {list,add}, P=add_list -> {add,list}:
	 * P = R = 1, but the order differs: not exact, no prefix. */
	score("list_list_add", "add_list", syn, &m);
	t_prf("duplicates", &m.word, 2, 0, 0, 1, 1, 1);
	CHECK(!m.exact_norm && !m.prefix, "order matters for exact", "norm %d prefix %d",
	      m.exact_norm, m.prefix);

	/* Case and decoration: exact is byte equality of the labels, exact_norm
	 * compares words. */
	score("Foo", "foo", syn, &m);
	CHECK(!m.exact && m.exact_norm && m.prefix && near(m.char_f1, 1), "case",
	      "exact %d norm %d", m.exact, m.exact_norm);
	score("foo.isra.0", "foo", syn, &m);
	CHECK(m.exact && m.exact_norm, "clone suffix", "exact %d norm %d", m.exact, m.exact_norm);
	score("__get_config", "getConfig", syn, &m);
	CHECK(!m.exact && m.exact_norm, "underscores and camelCase", "exact %d norm %d",
	      m.exact, m.exact_norm);

	/* init / init_list_head: T's words are a prefix of P's; P 1/3, R 1, F1 0.5. */
	score("init", "init_list_head", syn, &m);
	CHECK(m.prefix && !m.exact_norm, "prefix other way", "prefix %d norm %d", m.prefix,
	      m.exact_norm);
	t_prf("longer pred", &m.word, 1, 2, 0, 1.0 / 3, 1, 0.5);

	/* Prefix is by whole words: "g" is not a prefix match of "get_config". */
	score("get_config", "g", syn, &m);
	CHECK(!m.prefix, "prefix by words", "prefix %d", m.prefix);

	/* Without a table word_syn stays zero. */
	score("read_buffer", "rd_buf", NULL, &m);
	t_prf("no table", &m.word_syn, 0, 0, 0, 0, 0, 0);
}

static void test_acc(const metrics_syn *syn)
{
	metrics_acc a;
	metrics_summary s;
	metrics_one m;

	/* pair1 (tp2 fp0 fn1, P1 R2/3 F1 .8), pair2 (1 1 1, .5 .5 .5), empty pred
	 * (0 0 1, 0 0 0).  Micro: tp 3 fp 1 fn 3 -> P 3/4, R 1/2, F1 .75/1.25 = .6.
	 * Macro: P (1+.5+0)/3 = .5, R (2/3+.5)/3 = 7/18, F1 1.3/3.  Exact 0,
	 * prefix 1/3, char F1 (18/23 + 12/17 + 0)/3. */
	metrics_acc_init(&a);
	score("get_config_value", "getConfig", syn, &m);
	metrics_acc_add(&a, &m);
	score("open_file", "close_file", syn, &m);
	metrics_acc_add(&a, &m);
	score("foo", "", syn, &m);
	metrics_acc_add(&a, &m);
	metrics_acc_summary(&a, &s);
	CHECK(s.n == 3 && near(s.exact, 0) && near(s.prefix, 1.0 / 3) &&
	      near(s.char_f1, (18.0 / 23 + 12.0 / 17) / 3), "summary seed metrics",
	      "n %llu exact %f prefix %f char %f", (unsigned long long)s.n, s.exact, s.prefix,
	      s.char_f1);
	CHECK(near(s.word.micro_p, 0.75) && near(s.word.micro_r, 0.5) && near(s.word.micro_f1, 0.6),
	      "summary micro", "P %f R %f F1 %f", s.word.micro_p, s.word.micro_r, s.word.micro_f1);
	CHECK(near(s.word.macro_p, 0.5) && near(s.word.macro_r, 7.0 / 18) &&
	      near(s.word.macro_f1, 1.3 / 3), "summary macro", "P %f R %f F1 %f",
	      s.word.macro_p, s.word.macro_r, s.word.macro_f1);

	/* Nothing added: all zero, no division by zero. */
	metrics_acc_init(&a);
	metrics_acc_summary(&a, &s);
	CHECK(s.n == 0 && s.exact == 0 && s.word.micro_f1 == 0 && s.word.macro_f1 == 0,
	      "summary empty", "n %llu", (unsigned long long)s.n);
}

static void test_syn(void)
{
	const char good[] = "# comment\nbuffer\tbuf buff\n\nRead rd # read\ninitialize\tinit\tinitialise\n";
	const char dup[] = "buffer buf\nbuf buffr\n";
	an_err e = { 0 };
	metrics_syn *s = metrics_syn_parse(good, sizeof good - 1, "good", &e);

	CHECK(s && metrics_syn_size(s) == 8, "syn parse", "%s size %zu", s ? "" : e.msg,
	      metrics_syn_size(s));
	if (s) {
		CHECK(!strcmp(metrics_syn_canon(s, "buff"), "buffer") &&
		      !strcmp(metrics_syn_canon(s, "rd"), "read") &&
		      !strcmp(metrics_syn_canon(s, "initialise"), "initialize") &&
		      !strcmp(metrics_syn_canon(s, "zzz"), "zzz"), "syn canon", "wrong canonical form");
		metrics_syn_free(s);
	}
	s = metrics_syn_parse(dup, sizeof dup - 1, "dup", &e);
	CHECK(!s && strstr(e.msg, "line 2") && strstr(e.msg, "\"buf\""), "syn duplicate word",
	      "%s", s ? "accepted" : e.msg);
	metrics_syn_free(s);
	s = metrics_syn_parse("", 0, "empty", &e);
	CHECK(s && metrics_syn_size(s) == 0 && !strcmp(metrics_syn_canon(s, "a"), "a"),
	      "syn empty table", "%s", s ? "" : e.msg);
	metrics_syn_free(s);
	CHECK(!metrics_syn_load("/nonexistent/syn.tsv", &e) && strstr(e.msg, "/nonexistent"),
	      "syn missing file", "%s", e.msg);

	/* The shipped table: loads, knows the usual abbreviations, and keeps the
	 * opposites that SymLM's clusters merge apart. */
	s = metrics_syn_load("data/synonyms.tsv", &e);
	CHECK(s != NULL, "shipped table loads", "%s", e.msg);
	if (s) {
		static const char *same[][2] = {
			{ "buf", "buffer" }, { "init", "initialize" }, { "str", "string" },
			{ "msg", "message" }, { "cmp", "compare" }, { "ctx", "context" },
		};
		static const char *apart[][2] = {
			{ "get", "set" }, { "open", "close" }, { "read", "write" },
			{ "alloc", "free" }, { "lock", "unlock" }, { "push", "pop" },
			{ "min", "max" }, { "encode", "decode" }, { "begin", "end" },
			{ "inc", "dec" }, { "enable", "disable" }, { "start", "stop" },
		};
		int ok = 1;

		for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
			ok &= !strcmp(metrics_syn_canon(s, same[i][0]), metrics_syn_canon(s, same[i][1]));
		CHECK(ok, "shipped table abbreviations", "an abbreviation is not grouped");
		ok = 1;
		for (size_t i = 0; i < sizeof apart / sizeof apart[0]; i++)
			if (!strcmp(metrics_syn_canon(s, apart[i][0]), metrics_syn_canon(s, apart[i][1]))) {
				ok = 0;
				printf("# %s and %s are grouped\n", apart[i][0], apart[i][1]);
			}
		CHECK(ok, "shipped table keeps opposites apart", "see above");
		metrics_syn_free(s);
	}
}

static void test_ret(void)
{
	/* Targets t0 (1,0), t1 (0,1), t2 (-1,0).
	 * q0 (1,0.1):  sims .995 .0995 -.995 -> rank 1.
	 * q1 (1,0.5):  sims .894 .447 -.894  -> t0 beats t1: rank 2.
	 * q2 (0,1):    sims 0 1 0 -> t0 ties t2 (ties count against), t1 beats: 3.
	 * MRR (1 + 1/2 + 1/3)/3 = 11/18; R@1 1/3, R@2 2/3, R@5 1. */
	const float t[3][2] = { { 1, 0 }, { 0, 1 }, { -1, 0 } };
	const float q[3][2] = { { 1, 0.1f }, { 1, 0.5f }, { 0, 1 } };
	const unsigned ks[3] = { 1, 2, 5 };
	metrics_ret r;
	uint64_t rank[3];
	double mrr, rec[3];
	an_err e = { 0 };
	int rc = 0;

	metrics_ret_init(&r);
	for (int i = 0; i < 3; i++)
		rc |= metrics_ret_add(&r, q[i], t[i], 2, (uint64_t)i, &e);
	rc |= metrics_ret_eval(&r, rank, ks, 3, &mrr, rec, &e);
	CHECK(!rc && rank[0] == 1 && rank[1] == 2 && rank[2] == 3, "ret ranks",
	      "rc %d ranks %llu %llu %llu", rc, (unsigned long long)rank[0],
	      (unsigned long long)rank[1], (unsigned long long)rank[2]);
	CHECK(near(mrr, 11.0 / 18) && near(rec[0], 1.0 / 3) && near(rec[1], 2.0 / 3) &&
	      near(rec[2], 1), "ret mrr recall", "MRR %f R %f %f %f", mrr, rec[0], rec[1], rec[2]);

	/* Same pairs, 0 and 1 in one group (one source): t0 no longer competes
	 * with q1 (rank 1); q2 keeps rank 3. */
	metrics_ret_free(&r);
	for (int i = 0; i < 3; i++)
		metrics_ret_add(&r, q[i], t[i], 2, i == 2 ? 7 : 5, &e);
	metrics_ret_eval(&r, rank, ks, 3, &mrr, rec, &e);
	CHECK(rank[0] == 1 && rank[1] == 1 && rank[2] == 3 && near(mrr, 7.0 / 9), "ret groups",
	      "ranks %llu %llu %llu MRR %f", (unsigned long long)rank[0],
	      (unsigned long long)rank[1], (unsigned long long)rank[2], mrr);

	/* A zero query ties with every target: last place, not first. */
	metrics_ret_free(&r);
	{
		const float z[2] = { 0, 0 };

		metrics_ret_add(&r, z, t[0], 2, 0, &e);
		metrics_ret_add(&r, q[1], t[1], 2, 1, &e);
		metrics_ret_add(&r, q[2], t[2], 2, 2, &e);
		metrics_ret_eval(&r, rank, ks, 3, &mrr, rec, &e);
		CHECK(rank[0] == 3, "ret zero vector ranks last", "rank %llu",
		      (unsigned long long)rank[0]);
	}

	/* Unnormalised inputs give the same ranks as unit ones (cosine). */
	metrics_ret_free(&r);
	for (int i = 0; i < 3; i++) {
		float qs[2] = { q[i][0] * 7, q[i][1] * 7 }, ts[2] = { t[i][0] * 0.01f, t[i][1] * 0.01f };

		metrics_ret_add(&r, qs, ts, 2, (uint64_t)i, &e);
	}
	metrics_ret_eval(&r, rank, ks, 3, &mrr, rec, &e);
	CHECK(rank[0] == 1 && rank[1] == 2 && rank[2] == 3, "ret cosine scale-free", "ranks %llu %llu %llu",
	      (unsigned long long)rank[0], (unsigned long long)rank[1], (unsigned long long)rank[2]);

	/* Errors: another dimension, NaN. */
	{
		const float three[3] = { 1, 2, 3 }, nan2[2] = { NAN, 0 };

		CHECK(metrics_ret_add(&r, three, three, 3, 9, &e) == -1 && strstr(e.msg, "dimension"),
		      "ret dimension mismatch", "%s", e.msg);
		CHECK(metrics_ret_add(&r, nan2, t[0], 2, 9, &e) == -1 && strstr(e.msg, "NaN"),
		      "ret NaN rejected", "%s", e.msg);
		CHECK(r.n == 3, "ret errors add nothing", "n %zu", r.n);
	}
	metrics_ret_free(&r);

	/* Summaries of subsets of ranks (name-score --by): ranks 1, 2, 3, 120;
	 * the subset {1, 3} (ranks 2, 120): MRR (1/2 + 1/120)/2 = 61/240,
	 * R@1 0, R@5 1/2, R@100 1/2; all four: R@100 3/4. */
	{
		const uint64_t rk[4] = { 1, 2, 3, 120 };
		const size_t sub[2] = { 1, 3 };
		const unsigned k4[4] = { 1, 5, 10, 100 };
		double m, rc[4];

		metrics_rank_summary(rk, sub, 2, k4, 4, &m, rc);
		CHECK(near(m, 61.0 / 240) && rc[0] == 0 && near(rc[1], 0.5) && near(rc[3], 0.5),
		      "rank summary subset", "MRR %f R %f %f %f %f", m, rc[0], rc[1], rc[2], rc[3]);
		metrics_rank_summary(rk, NULL, 4, k4, 4, &m, rc);
		CHECK(near(rc[3], 0.75) && near(rc[0], 0.25), "rank summary all", "R@1 %f R@100 %f", rc[0], rc[3]);
		metrics_rank_summary(rk, NULL, 0, k4, 4, &m, rc);
		CHECK(m == 0 && rc[0] == 0, "rank summary empty", "MRR %f", m);
	}

	/* No pairs: MRR 0, no crash. */
	rc = metrics_ret_eval(&r, NULL, ks, 3, &mrr, rec, &e);
	CHECK(rc == 0 && mrr == 0 && rec[0] == 0, "ret empty", "rc %d", rc);

	/* More than one block of queries (the product is cut in blocks of 256):
	 * q_i = t_i = e_(i mod d) + small distinct offsets would be fiddly, so
	 * use orthogonal-ish targets: target i is a unit vector at angle i*eps on
	 * a circle, query i the same vector; each query's best target is its
	 * own (rank 1) as long as angles are distinct. */
	{
		enum { N = 600 };
		metrics_ret big;
		static uint64_t rk[N];
		int all1 = 1;

		metrics_ret_init(&big);
		for (int i = 0; i < N; i++) {
			double a = 6.0 * i / N;  /* < 2*pi: all distinct directions */
			float v[2] = { (float)cos(a), (float)sin(a) };

			metrics_ret_add(&big, v, v, 2, (uint64_t)i, &e);
		}
		metrics_ret_eval(&big, rk, ks, 3, &mrr, rec, &e);
		for (int i = 0; i < N; i++)
			all1 &= rk[i] == 1;
		CHECK(all1 && near(mrr, 1), "ret blocks", "MRR %f", mrr);
		metrics_ret_free(&big);
	}
}

int main(void)
{
	an_err e = { 0 };
	metrics_syn *syn = metrics_syn_parse("read\trd\nbuffer\tbuf\n", 20, "test", &e);

	if (!syn) {
		printf("FAIL test table: %s\n", e.msg);
		return 1;
	}
	test_names();
	test_pairs(syn);
	test_acc(syn);
	test_syn();
	test_ret();
	metrics_syn_free(syn);
	return t_done();
}
