#include "cli.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *cli_prog = "asmname";

void cli_init(const char *argv0)
{
	const char *s = argv0 ? strrchr(argv0, '/') : NULL;

	cli_prog = s ? s + 1 : (argv0 ? argv0 : "asmname");
	signal(SIGPIPE, SIG_IGN);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cli_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_die(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cli_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

void cli_write_failed(const an_err *e)
{
	if (e->code == EPIPE)
		exit(CLI_OK);
	cli_die(CLI_DATA, "stdout: %s", e->msg);
}

void cli_check_stdout(int force)
{
	if (!force && isatty(1))
		cli_die(CLI_USAGE, "not writing binary records to a terminal; "
			"pipe them (e.g. into rec-dump) or use -f");
}

int cli_parse_u64(const char *s, uint64_t *v)
{
	unsigned long long x;
	uint64_t mul = 1;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	x = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	if (*end) {
		switch (*end) {
		case 'K': case 'k': mul = 1ULL << 10; break;
		case 'M':           mul = 1ULL << 20; break;
		case 'G':           mul = 1ULL << 30; break;
		default:            return -1;
		}
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		if (*end)
			return -1;
	}
	if (x > UINT64_MAX / mul)
		return -1;
	*v = (uint64_t)x * mul;
	return 0;
}

int cli_parse_f64(const char *s, double *v)
{
	char *end;
	double x;

	if (!s || !*s)
		return -1;
	errno = 0;
	x = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(x))
		return -1;
	*v = x;
	return 0;
}

uint64_t cli_opt_u64(const char *opt, const char *arg, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (cli_parse_u64(arg, &v) || v < min || v > max)
		cli_die(CLI_USAGE, "%s: expected a whole number from %llu to %llu, got \"%s\"", opt,
			(unsigned long long)min, (unsigned long long)max, arg ? arg : "");
	return v;
}

double cli_opt_f64(const char *opt, const char *arg, double min, double max)
{
	double v;

	if (cli_parse_f64(arg, &v) || v < min || v > max)
		cli_die(CLI_USAGE, "%s: expected a number from %g to %g, got \"%s\"", opt, min, max,
			arg ? arg : "");
	return v;
}

double cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_progress_init(cli_progress *p, int force)
{
	memset(p, 0, sizeof *p);
	p->on = force || isatty(2);
	p->start = p->last = cli_now();
}

void cli_progress_tick(cli_progress *p, uint64_t n, const char *what)
{
	double t;

	p->n = n;
	if (!p->on)
		return;
	t = cli_now();
	if (t - p->last < 0.5)
		return;
	p->last = t;
	p->shown = 1;
	fprintf(stderr, "\r%s: %llu %s (%.0f/s)   ", cli_prog, (unsigned long long)n, what,
		(double)n / (t - p->start > 1e-9 ? t - p->start : 1e-9));
}

void cli_progress_done(cli_progress *p, const char *what)
{
	double t = cli_now() - p->start;

	if (!p->on)
		return;
	fprintf(stderr, "%s%s: %llu %s in %.2f s\n", p->shown ? "\r" : "", cli_prog,
		(unsigned long long)p->n, what, t);
}

void cli_in_init(cli_in *in, char **paths, int n)
{
	memset(in, 0, sizeof *in);
	if (n > 0) {
		in->paths = paths;
		in->n = n;
	} else {
		in->stdin_only[0] = "-";
		in->paths = in->stdin_only;
		in->n = 1;
	}
}

int cli_in_next(cli_in *in, rec *r, an_err *e)
{
	for (;;) {
		int rc;

		if (!in->rd) {
			if (in->i >= in->n)
				return 0;
			in->rd = rec_reader_open(in->paths[in->i++], e);
			if (!in->rd)
				return -1;
		}
		rc = rec_reader_next(in->rd, r, e);
		if (rc == 1)
			return 1;
		rec_reader_close(in->rd);
		in->rd = NULL;
		if (rc < 0)
			return -1;
	}
}

void cli_in_free(cli_in *in)
{
	rec_reader_close(in->rd);
	in->rd = NULL;
}
