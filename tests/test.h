/* test.h: the few macros every C test uses.  A test prints one line per
 * check, "PASS name", "FAIL name: why" or "SKIP name: why"; tests/run.sh
 * counts them.  main ends with `return t_done();`, non-zero on any failure. */
#ifndef ASMNAME_TEST_H
#define ASMNAME_TEST_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int t_failed, t_passed;

static void t_report(int ok, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), unused));
static void t_report(int ok, const char *name, const char *fmt, ...)
{
	if (ok) {
		t_passed++;
		printf("PASS %s\n", name);
	} else {
		va_list ap;

		t_failed++;
		printf("FAIL %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		putchar('\n');
	}
	fflush(stdout);
}

/* CHECK(cond, name, why-format, ...) */
#define CHECK(cond, name, ...) t_report(!!(cond), name, __VA_ARGS__)

static void __attribute__((unused)) t_skip(const char *name, const char *why)
{
	printf("SKIP %s: %s\n", name, why);
	fflush(stdout);
}

/* ||a-b|| / ||b||; NaN anywhere gives +inf so that it never passes. */
static double __attribute__((unused)) t_relerr(const float *a, const float *b, size_t n)
{
	double num = 0, den = 0;

	for (size_t i = 0; i < n; i++) {
		double d = (double)a[i] - (double)b[i];

		if (isnan(a[i]) || isnan(b[i]))
			return INFINITY;
		num += d * d;
		den += (double)b[i] * b[i];
	}
	return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* The shared directory (../shared from the project root), or NULL. */
static __attribute__((unused)) const char *t_shared(void)
{
	static char buf[4096];
	const char *env = getenv("ASMNAME_SHARED");
	struct stat st;

	if (env && *env)
		snprintf(buf, sizeof buf, "%s", env);
	else
		snprintf(buf, sizeof buf, "../shared");
	return stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? buf : NULL;
}

static int __attribute__((unused)) t_done(void)
{
	return t_failed ? 1 : 0;
}

#endif
