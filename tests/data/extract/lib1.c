/* lib1.c, lib2.c: the members of the archive built by tests/cli/asm-extract.sh. */
extern int lib2_twice(int x);

static int lib1_helper(int x)
{
	return x * 7 + 3;
}

int lib1_entry(int x)
{
	return lib2_twice(lib1_helper(x)) + lib1_helper(x + 1);
}
