/* test_ida.c: IDA-style rendering of objdump and capstone Intel text.
 * The expected strings are IDA Pro's conventions as CLAP's case studies and
 * vocabulary show them (reference/clap-asm.md §2): written by hand. */
#include "ida.h"
#include "test.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

typedef struct L { uint64_t addr; uint32_t size; const char *text, *rel; uint64_t roff; } L;

/* Render lines[0..n) and compare with want[0..nw). */
static void expect(const char *name, const L *lines, size_t n, int has_addr, const char *const *want, size_t nw,
		   const char *const *callees, size_t ncallees)
{
	ida_ctx c;
	ida_insn in[64];
	an_err e;
	size_t lens[16];

	ida_init(&c);
	for (size_t i = 0; i < n; i++) {
		in[i].text = lines[i].text;
		in[i].len = strlen(lines[i].text);
		in[i].addr = lines[i].addr;
		in[i].size = lines[i].size;
		in[i].rel = lines[i].rel;
		in[i].rel_len = lines[i].rel ? strlen(lines[i].rel) : 0;
		in[i].rel_off = lines[i].roff;
	}
	for (size_t i = 0; i < ncallees; i++)
		lens[i] = strlen(callees[i]);
	if (ncallees)
		ida_set_callees(&c, callees, lens, ncallees);
	long k = ida_render(&c, in, n, has_addr, &e);
	if (k != (long)nw) {
		CHECK(0, name, "%ld instructions, want %zu", k, nw);
		for (long i = 0; i < k; i++)
			printf("#   %s\n", ida_text(&c, (size_t)i, NULL));
		ida_free(&c);
		return;
	}
	for (size_t i = 0; i < nw; i++) {
		size_t l;
		const char *t = ida_text(&c, i, &l);
		if (strlen(want[i]) != l || memcmp(t, want[i], l)) {
			CHECK(0, name, "instruction %zu: \"%.*s\", want \"%s\"", i + 1, (int)l, t, want[i]);
			ida_free(&c);
			return;
		}
	}
	CHECK(1, name, "ok");
	ida_free(&c);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

int main(void)
{
	char b[24];
	CHECK(!strcmp(ida_num(6, b), "6") && !strcmp(ida_num(0x18, b), "18h") && !strcmp(ida_num(0xcc, b), "0CCh") &&
	      !strcmp(ida_num(10, b), "0Ah") && !strcmp(ida_num(0xffffffff, b), "0FFFFFFFFh") &&
	      !strcmp(ida_num(0, b), "0"), "ida_num", "%s", b);

	/* gcc -O0 frame, objdump syntax with raw-byte sizes */
	static const L o0[] = {
		{0x1139, 4, "endbr64"},
		{0x113d, 1, "push   rbp"},
		{0x113e, 3, "mov    rbp,rsp"},
		{0x1141, 4, "sub    rsp,0x30"},
		{0x1145, 4, "mov    QWORD PTR [rbp-0x18],rdi"},
		{0x1149, 7, "mov    DWORD PTR [rbp-0x8],0x0"},
		{0x1150, 2, "jmp    1160 <f+0x27>"},
		{0x1152, 4, "mov    rax,QWORD PTR [rbp-0x18]"},
		{0x1156, 6, "mov    eax,DWORD PTR [rax+0xcc]"},
		{0x115c, 4, "movzx  esi,BYTE PTR [rcx+rdx*1]"},
		{0x1160, 4, "add    DWORD PTR [rbp-0x8],0x1"},
		{0x1164, 4, "cmp    eax,DWORD PTR [rbp+0x10]"},
		{0x1168, 6, "jne    1152 <f+0x19>"},
		{0x116e, 5, "call   1030 <printf@plt>"},
		{0x1173, 5, "call   1200 <keccakf>"},
		{0x1178, 2, "je     1150 <f+0x17>"},
		{0x117a, 9, "mov    rax,QWORD PTR fs:0x28"},
		{0x1183, 7, "mov    rax,QWORD PTR [rip+0x2edb]        # 4068 <stdout@GLIBC_2.2.5>"},
		{0x118a, 7, "lea    rdi,[rip+0xe73]        # 2004 <_IO_stdin_used+0x4>"},
		{0x1191, 1, "leave"},
		{0x1192, 1, "ret"},
		{0x1193, 10, "cs nop WORD PTR [rax+rax*1+0x0]"},
		{0x119d, 3, "nop    DWORD PTR [rax]"},
	};
	static const char *const o0w[] = {
		"endbr64", "push    rbp", "mov     rbp, rsp", "sub     rsp, 30h", "mov     [rbp+var_18], rdi",
		"mov     [rbp+var_8], 0", "jmp     short INSTR11", "mov     rax, [rbp+var_18]",
		"mov     eax, [rax+0CCh]", "movzx   esi, byte ptr [rcx+rdx]", "add     [rbp+var_8], 1",
		"cmp     eax, [rbp+arg_0]", "jnz     INSTR8", "call    _printf", "call    keccakf",
		"jz      short INSTR7", "mov     rax, fs:28h", "mov     rax, cs:stdout_ptr", "lea     rdi, unk_2004",
		"leave", "retn",
	};
	expect("objdump_O0", o0, N(o0), 1, o0w, N(o0w), NULL, 0);

	/* the same function as capstone prints it (asm-extract), sizes from addresses */
	static const L cs[] = {
		{0x1139, 0, "endbr64"},
		{0x113d, 0, "push rbp"},
		{0x113e, 0, "mov rbp, rsp"},
		{0x1141, 0, "sub rsp, 0x30"},
		{0x1145, 0, "mov qword ptr [rbp - 0x18], rdi"},
		{0x1149, 0, "mov dword ptr [rbp - 8], 0"},
		{0x1150, 0, "jmp 0x1160"},
		{0x1152, 0, "mov rax, qword ptr [rbp - 0x18]"},
		{0x1156, 0, "mov eax, dword ptr [rax + 0xcc]"},
		{0x115c, 0, "movzx esi, byte ptr [rcx + rdx]"},
		{0x1160, 0, "add dword ptr [rbp - 8], 1"},
		{0x1164, 0, "cmp eax, dword ptr [rbp + 0x10]"},
		{0x1168, 0, "jne 0x1152"},
		{0x116e, 0, "call 0x1030"},
		{0x1173, 0, "call 0x1200"},
		{0x1178, 0, "je 0x1150"},
		{0x117a, 0, "mov rax, qword ptr fs:[0x28]"},
		{0x1183, 0, "mov rax, qword ptr [rip + 0x2ede]"},
		{0x118a, 0, "lea rdi, [rip + 0xe73]"},
		{0x1191, 0, "leave"},
		{0x1192, 0, "ret"},
		{0x1193, 0, "nop word ptr cs:[rax + rax]"},
		{0x119d, 0, "nop dword ptr [rax]"},
	};
	static const char *const csw[] = {
		"endbr64", "push    rbp", "mov     rbp, rsp", "sub     rsp, 30h", "mov     [rbp+var_18], rdi",
		"mov     [rbp+var_8], 0", "jmp     short INSTR11", "mov     rax, [rbp+var_18]",
		"mov     eax, [rax+0CCh]", "movzx   esi, byte ptr [rcx+rdx]", "add     [rbp+var_8], 1",
		"cmp     eax, [rbp+arg_0]", "jnz     INSTR8", "call    printf", "call    keccakf",
		"jz      short INSTR7", "mov     rax, fs:28h", "mov     rax, cs:qword_4068", "lea     rdi, unk_2004",
		"leave", "retn",
	};
	static const char *const callees[] = { "printf", "keccakf", "stdout" };
	expect("capstone_O0_callees", cs, N(cs), 1, csw, N(csw), callees, 2);
	/* a callee count that does not match: targets stay unnamed */
	static const char *const csw2[] = { "call    sub_1030", "call    sub_1200" };
	expect("capstone_callee_mismatch", cs + 13, 2, 1, csw2, 2, callees, 3);

	/* rsp-based frame with saved registers, string ops, prefixes, immediates */
	static const L o2[] = {
		{0x0, 2, "push   r15"},
		{0x2, 3, "movsxd rax,esi"},
		{0x5, 1, "push   rbx"},
		{0x6, 7, "sub    rsp,0xc8"},
		{0xd, 5, "mov    QWORD PTR [rsp+0x48],rdi"},
		{0x12, 8, "mov    rax,QWORD PTR [rsp+0xe0]"},
		{0x1a, 3, "rep stos QWORD PTR es:[rdi],rax"},
		{0x1d, 2, "repz cmps BYTE PTR ds:[rsi],BYTE PTR es:[rdi]"},
		{0x1f, 4, "lock cmpxchg DWORD PTR [rdx],ecx"},
		{0x23, 4, "add    rsp,0xffffffffffffff80"},
		{0x27, 4, "sub    rsp,0xffffffffffffff80"},
		{0x2b, 5, "mov    eax,0xffffffff"},
		{0x30, 4, "and    rsp,0xfffffffffffffff0"},
		{0x34, 3, "sete   al"},
		{0x37, 4, "cmovae eax,edx"},
		{0x3b, 4, "movss  xmm0,DWORD PTR [rax+0x4]"},
		{0x3f, 4, "cmp    BYTE PTR [rax],0x0"},
		{0x43, 6, "call   QWORD PTR [rax+0x18]"},
		{0x49, 7, "lea    eax,[rcx*4+0x0]"},
		{0x50, 4, "mov    rcx,QWORD PTR [rbp+0x0]"},
		{0x54, 10, "movabs rax,0x123456789abcdef"},
		{0x5e, 1, "int3"},
		{0x5f, 2, "repz ret"},
		{0x61, 1, "int3"},
		{0x62, 2, "xchg   ax,ax"},
	};
	static const char *const o2w[] = {
		"push    r15", "movsxd  rax, esi", "push    rbx", "sub     rsp, 0C8h", "mov     [rsp+0C8h+var_80], rdi",
		"mov     rax, [rsp+0C8h+arg_0]", "rep stosq", "repe cmpsb", "lock cmpxchg [rdx], ecx",
		"add     rsp, 0FFFFFFFFFFFFFF80h", "sub     rsp, 0FFFFFFFFFFFFFF80h", "mov     eax, 0FFFFFFFFh",
		"and     rsp, 0FFFFFFFFFFFFFFF0h", "setz    al", "cmovnb  eax, edx", "movss   xmm0, dword ptr [rax+4]",
		"cmp     byte ptr [rax], 0", "call    qword ptr [rax+18h]", "lea     eax, ds:0[rcx*4]",
		"mov     rcx, [rbp+0]", "mov     rax, 123456789ABCDEFh", "int     3", "rep retn",
	};
	expect("objdump_O2_frame", o2, N(o2), 1, o2w, N(o2w), NULL, 0);

	/* relocatable object with objdump -r: callee and data names from relocations */
	static const L rel[] = {
		{0x0, 7, "lea    rdi,[rip+0x0]        # 7 <main+0x7>", "R_X86_64_PC32\t.LC0-0x4", 0x3},
		{0x7, 5, "call   c <main+0xc>", "R_X86_64_PLT32\tputs-0x4", 0x8},
		{0xc, 7, "mov    rax,QWORD PTR [rip+0x0]        # 13 <main+0x13>", "R_X86_64_REX_GOTPCRELX\tstdin-0x4", 0xf},
		{0x13, 5, "mov    edi,0x0", "R_X86_64_32\tbuf", 0x14},
		{0x18, 2, "jmp    1a <main+0x1a>"},
		{0x1a, 5, "jmp    1f <main+0x1f>", "R_X86_64_PLT32\tabort-0x4", 0x1b},
	};
	static const char *const relw[] = {
		"lea     rdi, unk_0", "call    puts", "mov     rax, cs:stdin", "mov     edi, offset buf",
		"jmp     short INSTR6", "jmp     abort",
	};
	expect("objdump_relocations", rel, N(rel), 1, relw, N(relw), NULL, 0);

	/* 32-bit ebp frame (the malware case study's style) */
	static const L x86[] = {
		{0x401000, 1, "push   ebp"},
		{0x401001, 2, "mov    ebp,esp"},
		{0x401003, 6, "sub    esp,0xb8"},
		{0x401009, 3, "mov    DWORD PTR [ebp-0x8],eax"},
		{0x40100c, 3, "mov    eax,DWORD PTR [ebp+0x8]"},
		{0x40100f, 7, "mov    DWORD PTR [ebp-0x84],0xb35ddd9c"},
		{0x401016, 6, "call   DWORD PTR ds:0x402000"},
		{0x40101c, 1, "leave"},
		{0x40101d, 3, "ret    0x8"},
	};
	static const char *const x86w[] = {
		"push    ebp", "mov     ebp, esp", "sub     esp, 0B8h", "mov     [ebp+var_8], eax", "mov     eax, [ebp+arg_0]",
		"mov     [ebp+var_84], 0B35DDD9Ch", "call    dword ptr ds:402000h", "leave", "retn    8",
	};
	expect("objdump_x86_32", x86, N(x86), 1, x86w, N(x86w), NULL, 0);

	/* no addresses: nothing rewritten, text still rendered; odd text passes through */
	static const L na[] = {
		{0, 0, "jne    0x10"}, {0, 0, "mov    eax, DWORD PTR [rbx+0x10]"}, {0, 0, "vfmadd231ps zmm1{k1}, zmm2, zmm3"},
		{0, 0, "(bad)"}, {0, 0, ""},
	};
	static const char *const naw[] = { "jnz     loc_10", "mov     eax, [rbx+10h]", "vfmadd231ps zmm1{k1}, zmm2, zmm3",
		"(bad)", "" };
	expect("no_addresses", na, N(na), 0, naw, N(naw), NULL, 0);

	/* llvm-objdump: scale before the index, decimal immediates, tabs */
	static const L llvm[] = {
		{0x0, 4, "mov\tecx, dword ptr [rdi + 4*rax + 4]"}, {0x4, 4, "sub\trsp, 72"},
		{0x8, 4, "mov\trcx, qword ptr [rbp]"}, {0xc, 2, "jmp\t0x0 <f>"},
	};
	static const char *const llvmw[] = { "mov     ecx, [rdi+rax*4+4]", "sub     rsp, 48h", "mov     rcx, [rbp+0]",
		"jmp     short INSTR1" };
	expect("llvm_objdump", llvm, N(llvm), 1, llvmw, N(llvmw), NULL, 0);

	/* relocatable code from asm-extract: calls to the next instruction, named from callees */
	static const L obj[] = {
		{0x0, 0, "push rbx"}, {0x1, 0, "call 6"}, {0x6, 0, "mov edi, eax"}, {0x8, 0, "call 0xd"},
		{0xd, 0, "pop rbx"}, {0xe, 0, "jmp 0x13"}, {0x13, 0, "ret"},
	};
	static const char *const objw[] = { "push    rbx", "call    getpid", "mov     edi, eax", "call    srand",
		"pop     rbx", "jmp     INSTR7", "retn" };
	static const char *const objc[] = { "getpid", "srand" };
	expect("object_callees", obj, N(obj), 1, objw, N(objw), objc, 2);

	/* IDA's names for float and double constants */
	static const L fp[] = {
		{0x10, 8, "movsd  xmm0,QWORD PTR [rip+0xff0]        # 1008 <c+0x8>"},
		{0x18, 8, "mulss  xmm1,DWORD PTR [rip+0xfe8]        # 1010 <c+0x10>"},
		{0x20, 8, "movaps xmm2,XMMWORD PTR [rip+0xfe0]        # 1020 <c+0x20>"},
	};
	static const char *const fpw[] = { "movsd   xmm0, cs:dbl_1008", "mulss   xmm1, cs:flt_1010",
		"movaps  xmm2, cs:xmmword_1020" };
	expect("float_constants", fp, N(fp), 1, fpw, N(fpw), NULL, 0);

	/* a function of padding only keeps one instruction */
	static const L pad[] = { {0, 1, "nop"}, {1, 1, "nop"} };
	static const char *const padw[] = { "nop" };
	expect("all_padding", pad, N(pad), 1, padw, 1, NULL, 0);
	return t_done();
}
