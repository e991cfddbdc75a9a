#!/bin/sh
# run.sh SECONDS [elf|rec|st|asm_tok|bpe]...: build the libFuzzer harnesses (clang, ASan +
# UBSan) and run each (or the ones named) for SECONDS on one core.  Seeds are made here (binaries compiled
# from tests/data/extract, records written by the harnessed code itself);
# inputs that crash or hang are written to tests/regress/<harness>-*, where
# tests/cli/regress.sh replays them on every `make test`.
set -eu
secs=${1:-60}
[ $# -gt 0 ] && shift
which=${*:-elf rec st asm_tok bpe}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
command -v clang >/dev/null || { echo "fuzz: clang not found" >&2; exit 1; }
W=${FUZZ_DIR:-/tmp/asmname-fuzz-$(id -u)}
for h in elf rec st asm_tok bpe; do mkdir -p "$W/seed-$h" "$W/corpus-$h"; done
mkdir -p tests/regress
CF="-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Icommon"
LIBS="-lcapstone -lmsgpackc -lz -lm"
REC="common/rec.c common/err.c common/fields.c"
clang $CF tests/fuzz/fuzz_elf.c common/elf.c common/ar.c common/disasm.c common/extract.c $REC $LIBS -o "$W/fuzz_elf"
clang $CF tests/fuzz/fuzz_rec.c $REC $LIBS -o "$W/fuzz_rec"
clang $CF tests/fuzz/fuzz_st.c common/st.c common/err.c -ljansson -lm -o "$W/fuzz_st"
clang $CF tests/fuzz/fuzz_asm_tok.c common/asmin.c common/ida.c common/wordpiece.c \
	common/clap_tok.c common/err.c -ljansson -lutf8proc -lpthread -lm -o "$W/fuzz_asm_tok"
clang $CF tests/fuzz/fuzz_bpe.c common/bpe.c common/err.c -lpcre2-8 -lutf8proc -ljansson \
	-lpthread -lm -o "$W/fuzz_bpe"
cp tests/golden/ops/*.safetensors "$W/seed-st/" 2>/dev/null || true
cp "${ASMNAME_SHARED:-$root/../shared}"/vendor/clap-casestudy/bubblesort.json "$W/seed-asm_tok/" 2>/dev/null || true
printf 'int main(void) { return 0; }\n' >"$W/seed-bpe/c"

# seeds: small ELF files of every kind, and record streams
S=tests/data/extract
gcc -O0 -o "$W/seed-elf/exe" $S/funcs.c
gcc -O2 -fPIE -pie -o "$W/seed-elf/pie" $S/funcs.c
strip --strip-all -o "$W/seed-elf/exe-stripped" "$W/seed-elf/exe"
gcc -O1 -c -o "$W/seed-elf/lib1.o" $S/lib1.c
gcc -O1 -ffunction-sections -c -o "$W/seed-elf/lib2.o" $S/lib2.c
gcc -O2 -shared -fPIC -o "$W/seed-elf/lib.so" $S/lib1.c $S/lib2.c
rm -f "$W/seed-elf/lib.a"
ar rcs "$W/seed-elf/lib.a" "$W/seed-elf/lib1.o" "$W/seed-elf/lib2.o"
if [ -x "${BIN:-bin}/asm-extract" ]; then
	"${BIN:-bin}/asm-extract" -f "$W/seed-elf/lib.a" >"$W/seed-rec/lib.rec"
	"${BIN:-bin}/asm-extract" -f -z "$W/seed-elf/lib1.o" >"$W/seed-rec/lib1.rec.gz"
fi
printf '\201\242id\241x' >"$W/seed-rec/tiny"

for h in $which; do
	echo "== fuzz_$h for $secs s"
	"$W/fuzz_$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=$([ $h = elf ] && echo 40000 || echo 8192) -print_final_stats=1 \
		-artifact_prefix="tests/regress/$h-" "$W/corpus-$h" "$W/seed-$h" 2>&1 |
		grep -E '^(stat::|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Done|INFO: Running|#[0-9]+ *DONE)' || true
done
ls tests/regress
