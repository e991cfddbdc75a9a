/* elf.h: a careful reader of 64-bit little-endian ELF files held in memory.
 *
 * Everything in the file is untrusted: every offset, size and count is
 * checked against the buffer before it is used, tables are sized from the
 * file's own length (no allocation larger than a small multiple of it), and
 * every loop is bounded by the bytes it walks.  Names point into the buffer
 * (NUL-terminated inside their string table, else ""), so the buffer must
 * outlive the elf_file.
 *
 * Only what asm-extract needs: headers, sections, .symtab/.dynsym,
 * relocations, .eh_frame FDEs (CIE augmentation and pointer encodings), PLT
 * stubs resolved to names through .rela.plt/.rela.dyn, and the GNU build-id. */
#ifndef ASMNAME_ELF_H
#define ASMNAME_ELF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum {
	ELF_ET_REL = 1, ELF_ET_EXEC = 2, ELF_ET_DYN = 3,
	ELF_SHT_PROGBITS = 1, ELF_SHT_SYMTAB = 2, ELF_SHT_STRTAB = 3, ELF_SHT_RELA = 4,
	ELF_SHT_NOTE = 7, ELF_SHT_NOBITS = 8, ELF_SHT_REL = 9, ELF_SHT_DYNSYM = 11,
	ELF_SHT_X86_64_UNWIND = 0x70000001,
	ELF_SHF_ALLOC = 0x2, ELF_SHF_EXECINSTR = 0x4,
	ELF_STT_FUNC = 2, ELF_STT_SECTION = 3, ELF_STT_GNU_IFUNC = 10,
	ELF_STB_LOCAL = 0, ELF_STB_GLOBAL = 1, ELF_STB_WEAK = 2,
	ELF_SHN_UNDEF = 0, ELF_SHN_LORESERVE = 0xff00,
	ELF_R_X86_64_PC32 = 2, ELF_R_X86_64_PLT32 = 4, ELF_R_X86_64_GLOB_DAT = 6,
	ELF_R_X86_64_JUMP_SLOT = 7, ELF_R_X86_64_GOTPCREL = 9,
	ELF_R_X86_64_GOTPCRELX = 41, ELF_R_X86_64_REX_GOTPCRELX = 42,
};

typedef struct elf_sec {
	const char *name;            /* "" when absent or out of bounds */
	uint32_t    type, link, info;
	uint64_t    flags, addr, off, size, entsize;
} elf_sec;

typedef struct elf_sym {
	const char *name;            /* "" when absent */
	uint64_t    value, size;
	uint32_t    shndx;           /* section index (SHN_* specials kept as is) */
	uint8_t     type, bind;
} elf_sym;

typedef struct elf_rel {
	uint64_t off;                /* r_offset: section offset (REL) or address */
	uint32_t sym, type;
	int64_t  addend;             /* 0 for SHT_REL */
} elf_rel;

typedef struct elf_fde {
	uint64_t start, size;        /* addresses covered, [start, start+size) */
} elf_fde;

typedef struct elf_addrname {
	uint64_t    addr;
	const char *name;
} elf_addrname;

typedef struct elf_file {
	const unsigned char *buf;
	size_t   len;
	uint16_t type, machine;
	uint64_t entry;
	elf_sec *sec;                /* [nsec]; sec[0] is the null section */
	size_t   nsec;
	elf_sym *symtab;             /* [nsymtab] from SHT_SYMTAB, NULL if none */
	size_t   nsymtab;
	size_t   symtab_sec;         /* its section index, 0 if none */
	elf_sym *dynsym;             /* [ndynsym] from SHT_DYNSYM, NULL if none */
	size_t   ndynsym;
	size_t   dynsym_sec;
	uint32_t *rel_head, *rel_next;  /* [nsec] relocation sections by target: a list */
} elf_file;

/* 1 when buf starts with the ELF magic. */
int elf_is_elf(const void *buf, size_t len);

/* Parse headers, sections and symbol tables.  0, or -1 with e set ("section
 * header table at 0x... runs past the end of the file (size 0x...)").
 * Only ELFCLASS64, little-endian files are accepted; the machine is kept for
 * the caller to check. */
int  elf_parse(elf_file *f, const void *buf, size_t len, an_err *e);
void elf_free(elf_file *f);

/* Section i's bytes, or NULL (with *n = 0) for NOBITS, a bad index, or a
 * range outside the file. */
const unsigned char *elf_sec_data(const elf_file *f, size_t i, size_t *n);
/* The first section with this name, or 0. */
size_t elf_sec_find(const elf_file *f, const char *name);
/* The section (with SHF_ALLOC) holding addr, or 0. */
size_t elf_sec_at(const elf_file *f, uint64_t addr);

/* The relocations applying to section `target` (every SHT_RELA/SHT_REL
 * section whose sh_info is target), sorted by offset.  *out is malloc'd
 * (NULL when there are none); -1 with e set on a malformed table.
 * Symbol indices refer to the table in the relocation section's sh_link;
 * *symtab is set to that section's index (0 if none). */
int  elf_relocs(const elf_file *f, size_t target, elf_rel **out, size_t *n,
		size_t *symtab, an_err *e);

/* The FDEs of .eh_frame (linked files: pc_begin is resolved with the CIE's
 * pointer encoding, pcrel/absolute; indirect or unknown encodings are
 * skipped).  Parsing stops at the terminator or at the first malformed
 * entry; *bad counts entries that could not be read.  *out malloc'd. */
int  elf_fdes(const elf_file *f, elf_fde **out, size_t *n, size_t *bad, an_err *e);

/* PLT stubs resolved to symbol names: *plt gets (stub address, name) for
 * every stub in .plt/.plt.sec/.plt.got whose `jmp [rip+X]` reads a GOT slot
 * that a JUMP_SLOT or GLOB_DAT relocation ties to a dynamic symbol; *got
 * gets (GOT slot address, name) for those slots (for `call [rip+X]` in
 * -fno-plt code).  Both sorted by address, malloc'd. */
int  elf_plt(const elf_file *f, elf_addrname **plt, size_t *nplt,
	     elf_addrname **got, size_t *ngot, an_err *e);

/* The NT_GNU_BUILD_ID note's bytes, or NULL. */
const unsigned char *elf_build_id(const elf_file *f, size_t *n);

/* Binary search in a sorted elf_addrname table; NULL when absent. */
const char *elf_addrname_find(const elf_addrname *t, size_t n, uint64_t addr);

#endif
