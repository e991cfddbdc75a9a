# pipelines/data.mk end to end, offline: fixture "packages" compiled here
# stand in for Debian's (LOCAL=), so nothing is downloaded.
. "$(dirname "$0")/lib.sh"
for p in gcc ar ctags readelf objcopy strip jq make; do
	command -v $p >/dev/null || { skip data-pipeline "$p is not installed"; exit 0; }
done
ctags --version 2>/dev/null | grep -q Universal || { skip data-pipeline "ctags is not universal-ctags"; exit 0; }
L=$T/local
mkdir -p "$L/dev/liba/root/usr/lib" "$L/dev/libb/root/usr/lib" "$L/dev/libc/root/usr/lib" \
	"$L/src/proja/tree/sub" "$L/dbg/prog/root/usr/bin" "$T/build"

# liba and libb share one function (same code): it must stay in train only.
cat > "$T/build/shared.c" <<'C'
int shared_checksum(const unsigned char *p, int n) { int s = 0; for (int i = 0; i < n; i++) s = s * 31 + p[i]; return s; }
C
cat > "$T/build/a1.c" <<'C'
#include <string.h>
static int count_words(const char *s) { int n = 0, in = 0; for (; *s; s++) { if (*s == ' ') in = 0; else if (!in) { in = 1; n++; } } return n; }
int liba_words(const char *s) { return count_words(s) + (int)strlen(s) % 3; }
int liba_tiny(void) { return 1; }
void *buffer_alloc_zero(unsigned long n) { char *p = (char *)memset(__builtin_alloca(n), 0, n); return p[0] ? 0 : (void *)0; }
C
cat > "$T/build/b1.c" <<'C'
int libb_max(const int *v, int n) { int m = v[0]; for (int i = 1; i < n; i++) if (v[i] > m) m = v[i]; return m; }
long libb_sum_squares(const int *v, int n) { long s = 0; for (int i = 0; i < n; i++) s += (long)v[i] * v[i]; return s; }
C
cat > "$T/build/c1.c" <<'C'
unsigned libc_hash_string(const char *s) { unsigned h = 5381; while (*s) h = h * 33 ^ (unsigned char)*s++; return h; }
int cxx_thing(int x) __asm__("_ZN5thing6methodEi");
int cxx_thing(int x) { return x * 3 + 1; }
C
(cd "$T/build" && gcc -O2 -c shared.c a1.c b1.c c1.c) || { fail fixture "gcc failed"; exit 0; }
ar rcs "$L/dev/liba/root/usr/lib/liba.a" "$T/build/shared.o" "$T/build/a1.o"
ar rcs "$L/dev/libb/root/usr/lib/libb.a" "$T/build/shared.o" "$T/build/b1.o"
ar rcs "$L/dev/libc/root/usr/lib/libc.a" "$T/build/c1.o"
echo liba > "$L/dev/liba/source"   # the Debian source package of each
echo libb > "$L/dev/libb/source"
echo libc > "$L/dev/libc/source"

# A source package: two files that build, one that does not.
cat > "$L/src/proja/tree/util.h" <<'C'
int parse_number(const char *s);
C
cat > "$L/src/proja/tree/parse.c" <<'C'
#include "util.h"
int parse_number(const char *s)
{
	int v = 0;
	while (*s >= '0' && *s <= '9')
		v = v * 10 + (*s++ - '0');
	return v;
}
static int skip_spaces(const char **s) { int n = 0; while (**s == ' ') { (*s)++; n++; } return n; }
int parse_pair(const char *s, int *a, int *b) { *a = parse_number(s); while (*s && *s != ',') s++; if (*s) s++; skip_spaces(&s); *b = parse_number(s); return *a + *b; }
C
cat > "$L/src/proja/tree/sub/render.c" <<'C'
#include "util.h"
int render_digits(char *out, int v) { int n = 0; char tmp[16]; do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v); for (int i = 0; i < n; i++) out[i] = tmp[n - 1 - i]; out[n] = 0; return n; }
C
cat > "$L/src/proja/tree/broken.c" <<'C'
#include "does_not_exist.h"
int broken(void) { return NOT_DEFINED; }
C

# A stripped program with its debug file at the build-id path.
cat > "$T/build/prog.c" <<'C'
#include <stdio.h>
static int fib_iterative(int n) { int a = 0, b = 1; while (n-- > 0) { int t = a + b; a = b; b = t; } return a; }
int print_table(int n) { int s = 0; for (int i = 0; i < n; i++) { s += fib_iterative(i); printf("%d\n", fib_iterative(i)); } return s; }
int main(int argc, char **argv) { return print_table(argc + 5) & 1; }
C
(cd "$T/build" && gcc -O1 -g -Wl,--build-id -o prog prog.c && objcopy --only-keep-debug prog prog.debug && strip prog) \
	|| { fail fixture "program build failed"; exit 0; }
id=$(readelf -n "$T/build/prog" | awk '/Build ID:/ { print $3 }')
id2=$(echo "$id" | cut -c1-2); idr=$(echo "$id" | cut -c3-)
mkdir -p "$L/dbg/prog/root/usr/lib/debug/.build-id/$id2"
cp "$T/build/prog" "$L/dbg/prog/root/usr/bin/prog"
cp "$T/build/prog.debug" "$L/dbg/prog/root/usr/lib/debug/.build-id/$id2/$idr.debug"

D=$T/data
run() {
	make -s -f "$ROOT/pipelines/data.mk" DATA="$D" LOCAL="$L" BIN="$BIN" DEV_PKGS="liba libb libc" \
		SRC_PKGS=proja DBG_PKGS=prog TEST_PKGS=libb VALID_PKGS=libc OPTS="O0 O2" MIN_INSNS=3 \
		BASELINES="most-frequent hash bag" "$@"
}
if run -j2 > "$T/make.out" 2>&1; then pass make; else fail make "$(tail -20 "$T/make.out")"; exit 0; fi
names() { "$BIN/rec-dump" "$1" | jq -r .name | sort | tr '\n' ' '; }

tr_names=$(names "$D/sets/train.msgpack")
te_names=$(names "$D/sets/test.msgpack")
va_names=$(names "$D/sets/valid.msgpack")
case "$tr_names" in *" shared_checksum "*|"shared_checksum "*) pass split.shared-in-train ;; *) fail split.shared-in-train "train: $tr_names" ;; esac
case "$te_names" in *shared_checksum*) fail split.no-leak "test has shared_checksum: $te_names" ;; *) pass split.no-leak ;; esac
[ "$te_names" = "libb_max libb_sum_squares " ] && pass split.test || fail split.test "test: $te_names"
[ "$va_names" = "libc_hash_string " ] && pass split.valid || fail split.valid "valid: $va_names"
case "$tr_names" in *liba_tiny*) fail tiny "liba_tiny (2 instructions) kept" ;; *) pass tiny ;; esac
grep -q '^test	3	0	1	2$' "$D/sets/split.report" && pass split.report || fail split.report "$(cat "$D/sets/split.report")"

# triples: O0 and O2 of proja, source attached, broken.c counted
n=$("$BIN/rec-dump" "$D/sets/train.msgpack" | jq -r 'select(.src) | .opt + " " + .name' | sort | tr '\n' ' ')
case "$n" in *"O0 parse_number "*"O0 skip_spaces "*"O2 parse_number "*) pass triples "$n" ;; *) fail triples "$n" ;; esac
src=$("$BIN/rec-dump" "$D/sets/train.msgpack" | jq -r 'select(.name == "parse_number" and .opt == "O0") | .src')
[ "$src" = "$(sed -n 2,8p "$L/src/proja/tree/parse.c")" ] && pass triples.src || fail triples.src "$src"
grep -q '^files_failed	1$' "$D/triples/proja-O0.msgpack.report" && pass triples.failed-counted \
	|| fail triples.failed-counted "$(cat "$D/triples/proja-O0.msgpack.report")"
pk=$("$BIN/rec-dump" "$D/sets/train.msgpack" | jq -r .pkg | sort -u | tr '\n' ' ')
[ "$pk" = "liba proja " ] && pass pkg-field || fail pkg-field "$pk"

# eval: names from the debug file, main and print_table present
ev=$(names "$D/sets/eval.msgpack")
case "$ev" in *"main "*"print_table "*) pass eval "$ev" ;; *) fail eval "$ev" ;; esac
grep -q '^binaries	1$' "$D/eval/prog.msgpack.report" && pass eval.report || fail eval.report "$(cat "$D/eval/prog.msgpack.report")"

# CSV: header, one row per record with source, proper quoting
rows=$(jq -rn --rawfile c "$D/sets/train.csv" '$c' | head -1)
[ "$rows" = "source,asm,name" ] && pass csv.header || fail csv.header "$rows"
nsrc=$("$BIN/rec-dump" "$D/sets/train.msgpack" | jq -c 'select(.src)' | wc -l)
nrec=$(grep -c '","[A-Za-z_0-9]*"$' "$D/sets/train.csv" || true)
[ "$nsrc" -gt 0 ] && [ "$nrec" -eq "$nsrc" ] && pass csv.rows || fail csv.rows "csv rows $nrec, records with src $nsrc"

# reports
grep -q 'distinct names' "$D/reports/stats.txt" && pass stats || fail stats "$(cat "$D/reports/stats.txt")"
[ "$(grep -c "^\(most-frequent\|hash\|bag\) " "$D/reports/baselines.txt")" -eq 6 ] && pass baselines \
	|| fail baselines "$(cat "$D/reports/baselines.txt")"
jq -e '.names.n == 2' "$D/reports/baseline-bag.json" >/dev/null && pass baselines.scored \
	|| fail baselines.scored "$(cat "$D/reports/baseline-bag.json")"
grep -q '^total:pairs	tiny	' "$D/reports/hygiene.tsv" && pass hygiene || fail hygiene "$(cat "$D/reports/hygiene.tsv")"
grep -q '^pairs/libc.msgpack.report	cxx	1$' "$D/reports/hygiene.tsv" && pass hygiene.cxx || fail hygiene.cxx "$(grep libc "$D/reports/hygiene.tsv")"

# Incremental: nothing to do the second time; a removed product is remade alone.
run -q && pass up-to-date || fail up-to-date "make -q says work is left"
rm "$D/pairs/libc.msgpack"
run > "$T/make2.out" 2>&1
if [ -s "$D/pairs/libc.msgpack" ] && ! grep -q 'data-triples' "$T/make2.out"; then pass resume; else fail resume "$(tail -5 "$T/make2.out")"; fi

# Changing the split's variables remakes the splits (not the per-package files).
make -s -f "$ROOT/pipelines/data.mk" DATA="$D" LOCAL="$L" BIN="$BIN" DEV_PKGS="liba libb libc" \
	SRC_PKGS=proja DBG_PKGS=prog TEST_PKGS=libc VALID_PKGS=libb OPTS="O0 O2" MIN_INSNS=3 sets > "$T/make4.out" 2>&1
te2=$(names "$D/sets/test.msgpack")
[ "$te2" = "libc_hash_string " ] && ! grep -q data-triples "$T/make4.out" && pass vars-remake-split \
	|| fail vars-remake-split "test: $te2 $(tail -3 "$T/make4.out")"

# Tokenized splits (asm-tok with the real CLAP vocabulary) feed the stats.
if [ -n "$SHARED" ] && [ -d "$SHARED/vendor/clap-asm" ] && [ -x "$BIN/asm-tok" ]; then
	if run TOKENIZE=1 CLAP="$SHARED/vendor/clap-asm" stats > "$T/make3.out" 2>&1 &&
	   grep -q 'length in tokens' "$D/reports/stats.txt" && [ -s "$D/sets/test.tok.msgpack" ]; then
		pass tokenize
	else
		fail tokenize "$(tail -5 "$T/make3.out") $(cat "$D/reports/stats.txt")"
	fi
else
	skip tokenize "no ../shared/vendor/clap-asm or no asm-tok"
fi

# An evaluation group whose source package is also trained on is refused.
cat > "$T/build/leak.c" <<'C'
#include <stdio.h>
static long sum_squares(long n) { long s = 0; while (n > 0) { s += n * n; n -= 3; } return s; }
long leak_report(long n) { long s = 0; for (long i = 1; i < n; i += 2) { s ^= sum_squares(i); printf("%ld\n", s); } return s; }
int main(int argc, char **argv) { (void)argv; return (int)(leak_report(argc + 9) & 1); }
C
(cd "$T/build" && gcc -O1 -g -Wl,--build-id -o leak leak.c && objcopy --only-keep-debug leak leak.debug && strip leak)
lid=$(readelf -n "$T/build/leak" | awk '/Build ID:/ { print $3 }')
mkdir -p "$L/dbg/leak/root/usr/bin" "$L/dbg/leak/root/usr/lib/debug/.build-id/$(echo "$lid" | cut -c1-2)"
cp "$T/build/leak" "$L/dbg/leak/root/usr/bin/leak"
cp "$T/build/leak.debug" "$L/dbg/leak/root/usr/lib/debug/.build-id/$(echo "$lid" | cut -c1-2)/$(echo "$lid" | cut -c3-).debug"
echo liba > "$L/dbg/leak/source"
if make -s -f "$ROOT/pipelines/data.mk" DATA="$T/data-leak" LOCAL="$L" BIN="$BIN" DEV_PKGS="liba libb libc" \
	SRC_PKGS=proja DBG_PKGS="prog leak" TEST_PKGS=libb VALID_PKGS=libc OPTS="O0 O2" MIN_INSNS=3 \
	eval > "$T/leak.out" 2>&1; then
	fail eval-overlap "make accepted an evaluation package that is in train"
elif grep -q 'in both the evaluation set and train: liba' "$T/leak.out" && [ ! -e "$T/data-leak/sets/eval.msgpack" ]; then
	pass eval-overlap
else
	fail eval-overlap "$(tail -3 "$T/leak.out")"
fi
