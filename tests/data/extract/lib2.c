/* lib2.c: see lib1.c. */
#include <string.h>

int lib2_twice(int x)
{
	return 2 * x;
}

unsigned long lib2_len(const char *s)
{
	return strlen(s) + (unsigned long)lib2_twice(3);
}
