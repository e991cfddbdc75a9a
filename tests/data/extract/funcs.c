/* funcs.c: a known set of functions for tests/cli/asm-extract.sh, compiled
 * there at -O0 and -O2.  Keep every function non-trivial enough to survive
 * -O2 (noinline, side effects through a volatile sink). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

volatile int sink;

__attribute__((noinline)) int add3(int a, int b, int c)
{
	sink = a;
	return a + b + c;
}

/* two names for one function */
int add3_alias(int a, int b, int c) __attribute__((alias("add3")));

__attribute__((noinline)) static int fib(int n)
{
	sink++;
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

__attribute__((noinline)) int classify(int x)
{
	switch (x) {   /* a jump table at -O2 */
	case 0: return 10 + sink;
	case 1: return 21 * sink;
	case 2: return 32 - sink;
	case 3: return 43 ^ sink;
	case 4: return 54 | sink;
	case 5: return 65 & sink;
	case 6: return 76 + 2 * sink;
	default: return -1;
	}
}

__attribute__((noinline, cold)) void fail_hard(const char *why)
{
	fprintf(stderr, "fatal: %s\n", why);
	abort();
}

__attribute__((noinline)) size_t count_char(const char *s, char c)
{
	size_t n = 0;

	if (!s)
		fail_hard("null string");
	for (; *s; s++)
		n += *s == c;
	return n;
}

__attribute__((noinline)) void fill(int *a, int n)
{
	for (int i = 0; i < n; i++)
		a[i] = add3(i, i * 2, sink);
}

int main(int argc, char **argv)
{
	int a[16];

	fill(a, 16);
	printf("%d %d %zu\n", fib(argc + 5), classify(argc), count_char(argv[0], '/'));
	puts(strchr(argv[0], '/') ? "path" : "name");
	return a[3] & 1;
}
