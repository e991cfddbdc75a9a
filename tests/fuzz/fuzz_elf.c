/* fuzz_elf.c: libFuzzer harness for the ELF/archive reader and the whole
 * extraction path (common/elf.c, ar.c, disasm.c, extract.c): any input must
 * give records or an error, never a crash, a hang or a leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "elf.h"
#include "extract.h"

static int emit(void *ctx, const rec *r, an_err *e)
{
	(void)ctx; (void)r; (void)e;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static extractor *x, *xd;
	ext_opts o;
	an_err e;
	elf_file f;

	memset(&o, 0, sizeof o);
	if (!x && !(x = ext_new(&o, emit, NULL, NULL, &e)))
		return 0;
	ext_buffer(x, "fuzz", data, size, &e);
	/* the same bytes as a --debug file, and the raw tables on their own */
	if ((xd = ext_new(&o, emit, NULL, NULL, &e))) {
		ext_set_debug(xd, data, size, "fuzz.debug", &e);
		ext_free(xd);
	}
	if (elf_parse(&f, data, size, &e) == 0) {
		elf_fde *fde;
		elf_addrname *p, *g;
		elf_rel *r;
		size_t n, m, bad, st;

		if (elf_fdes(&f, &fde, &n, &bad, &e) == 0)
			free(fde);
		if (elf_plt(&f, &p, &n, &g, &m, &e) == 0) {
			free(p);
			free(g);
		}
		for (size_t i = 1; i < f.nsec && i < 64; i++)
			if (elf_relocs(&f, i, &r, &n, &st, &e) == 0)
				free(r);
		elf_build_id(&f, &n);
		elf_free(&f);
	}
	return 0;
}
