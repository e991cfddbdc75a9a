#!/bin/sh
# asm-extract on binaries built here from tests/data/extract/*.c, checked
# against readelf -sW (names, addresses, sizes) and objdump -d -M intel
# (instruction counts and mnemonics); archives, stripped copies, --debug
# files, the options, and broken inputs.
. "$(dirname "$0")/lib.sh"
X="$BIN/asm-extract"
D="$BIN/rec-dump"
S="$ROOT/tests/data/extract"
for t in gcc readelf objdump jq ar strip objcopy; do
	command -v $t >/dev/null 2>&1 || { skip asm-extract "no $t"; exit 0; }
done
[ -x "$X" ] && [ -x "$D" ] || { fail asm-extract "bin/asm-extract or bin/rec-dump not built"; exit 0; }

# hex (no 0x) to decimal, in mawk
HEX='function h(s,  i, v) { v = 0; s = tolower(s); sub(/^0x/, "", s)
	for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
	return v }'

# "addr size name" (decimal) of every defined FUNC symbol
syms() {
	readelf -sW "$1" | awk "$HEX"'$4 == "FUNC" && $7 != "UND" && $7 != "ABS" { print h($2), $3, $8 }'
}
# "addr size name count aliases,..." of every record
recs() {
	"$X" "$@" | "$D" | jq -r '"\(.addr) \(.size) \(.name // "-") \(.asm | length) \((.aliases // []) | join(","))"'
}

# -O0, -O2, and -O2 variants: IBT (.plt.sec, endbr64), non-PIE with -fno-plt (calls through the GOT)
for opt in 0 2 cet nopie; do
	case $opt in
	0|2) flags=-O$opt ;;
	cet) flags="-O2 -fcf-protection=full -Wl,-z,ibtplt" ;;
	nopie) flags="-O2 -no-pie -fno-plt" ;;
	esac
	b="$T/f$opt"
	if ! gcc $flags -o "$b" "$S/funcs.c" 2>"$T/gcc.err"; then
		case $opt in
		0|2) fail "build-O$opt" "$(head -c 300 "$T/gcc.err")" ;;
		*) skip "build-$opt" "gcc $flags failed: $(head -c 200 "$T/gcc.err")" ;;
		esac
		continue
	fi
	syms "$b" >"$T/syms$opt"
	recs "$b" >"$T/recs$opt"

	# every symbol is a record's name or alias at its address, with its size
	bad=$(awk 'NR == FNR { n[$1] = $3; sz[$1] = $2; al[$1] = "," $5 ","; next }
		!($1 in n) { print "no record at " $1 " for " $3; next }
		n[$1] != $3 && index(al[$1], "," $3 ",") == 0 { print $3 " not named at " $1 }
		$2 > 0 && sz[$1] != $2 { print $3 " size " sz[$1] " want " $2 }' "$T/recs$opt" "$T/syms$opt")
	[ -z "$bad" ] && pass "O$opt-names-addrs-sizes" || fail "O$opt-names-addrs-sizes" "$(echo $bad | head -c 400)"
	want=$(awk '{ print $1 }' "$T/syms$opt" | sort -u | wc -l)
	got=$(wc -l <"$T/recs$opt")
	[ "$want" -eq "$got" ] && [ "$got" -ge 10 ] && pass "O$opt-one-record-per-address" \
		|| fail "O$opt-one-record-per-address" "$got records for $want symbol addresses"
	awk '$3 == "add3" && $5 == "add3_alias" { f = 1 } END { exit !f }' "$T/recs$opt" \
		&& pass "O$opt-alias" || fail "O$opt-alias" "add3 without alias add3_alias: $(grep add3 "$T/recs$opt")"

	# instruction counts and mnemonics against objdump, function by function
	objdump -d -M intel --no-show-raw-insn -w "$b" |
		awk -F'\t' "$HEX"'/^ +[0-9a-f]+:\t/ { a = $1; sub(/:.*/, "", a); gsub(/ /, "", a)
			m = $2; sub(/ +$/, "", m); if (m ~ /^xchg +ax,ax$/) m = "nop"
			n = split(m, w, / +/); i = 1
			while (i < n && w[i] ~ /^(cs|ds|es|ss|fs|gs|data16|addr32|notrack|bnd|rex(\.[WRXB]+)?)$/) i++
			print h(a), w[i] }' >"$T/od$opt"
	"$X" "$b" | "$D" | jq -r '.addr as $a | .size as $s | [.asm_addr, .asm] | transpose[] |
		"\($a) \($s) \(.[0]) \(.[1] | split(" ")[0])"' >"$T/ours$opt"
	bad=$(awk 'NR == FNR { if ($1 >= 0) { fa[++nf] = $1; fs[nf] = $2 }; ours[$3] = $4; cnt[$1]++; next }
		{ for (i = 1; i <= nf; i++) if ($1 >= fa[i] && $1 < fa[i] + fs[i]) { od[fa[i]]++
			if (!($1 in ours)) print "objdump insn at " $1 " not ours"
			else if (ours[$1] != $2) print "at " $1 ": " ours[$1] " vs objdump " $2
			break } }
		END { for (i = 1; i <= nf; i++) if (od[fa[i]] != cnt[fa[i]]) print "function at " fa[i] ": " cnt[fa[i]] " insns, objdump " od[fa[i]] }' \
		"$T/ours$opt" "$T/od$opt" | head -5)
	[ -z "$bad" ] && pass "O$opt-insns-vs-objdump" || fail "O$opt-insns-vs-objdump" "$(echo $bad | head -c 400)"
	n=$(wc -l <"$T/od$opt")
	[ "$n" -gt 100 ] || fail "O$opt-objdump-parse" "only $n objdump lines"

	# asm_addr: one per instruction, the first at addr, increasing
	bad=$("$X" "$b" | "$D" | jq -r 'select((.asm | length) != (.asm_addr | length) or .asm_addr[0] != .addr
		or ([.asm_addr[1:], .asm_addr[:-1]] | transpose | map(.[0] > .[1]) | all | not)) | .id')
	[ -z "$bad" ] && pass "O$opt-asm-addr" || fail "O$opt-asm-addr" "$bad"

	# callees through the PLT and direct calls
	got=$("$X" -F main "$b" | "$D" | jq -r '.callees | sort | join(",")')
	case ",$got," in *,fill,*) ;; *) got="missing fill: $got" ;; esac
	case ",$got," in *,printf,*puts,*) pass "O$opt-callees" ;; *) fail "O$opt-callees" "main callees: $got" ;; esac
	got=$("$X" -F fail_hard "$b" | "$D" | jq -r '.callees | sort | join(",")')
	[ "$got" = "abort,fprintf" ] && pass "O$opt-callees-cold" || fail "O$opt-callees-cold" "fail_hard callees: $got"

	# stripped: the starts found are the symbols' starts, and nothing is named
	strip --strip-all -o "$b.s" "$b"
	awk '{ print $1 }' "$T/syms$opt" | sort -n -u >"$T/want$opt"
	"$X" "$b.s" | "$D" | jq -r '.addr' | sort -n >"$T/got$opt"
	if cmp -s "$T/want$opt" "$T/got$opt"; then pass "O$opt-stripped-starts"; else
		fail "O$opt-stripped-starts" "$(diff "$T/want$opt" "$T/got$opt" | tr '\n' ' ' | head -c 300)"; fi
	n=$("$X" "$b.s" | "$D" | jq -r 'select(has("name")) | .id' | wc -l)
	[ "$n" -eq 0 ] && pass "O$opt-stripped-unnamed" || fail "O$opt-stripped-unnamed" "$n named"
	# stripped, FDE-bounded sizes agree with the symbols that have sizes
	bad=$("$X" "$b.s" | "$D" | jq -r '"\(.addr) \(.size)"' |
		awk 'NR == FNR { s[$1] = $2; next } $2 > 0 && s[$1] != $2 { print $3 ": " s[$1] " want " $2 }' - "$T/syms$opt")
	[ -z "$bad" ] && pass "O$opt-stripped-sizes" || fail "O$opt-stripped-sizes" "$(echo $bad | head -c 300)"

	# --debug: names back from an objcopy --only-keep-debug file
	objcopy --only-keep-debug "$b" "$b.debug"
	recs --debug "$b.debug" "$b.s" >"$T/dbg$opt" 2>"$T/dbg$opt.err"
	if cmp -s "$T/recs$opt" "$T/dbg$opt" && [ ! -s "$T/dbg$opt.err" ]; then pass "O$opt-debug-names"; else
		fail "O$opt-debug-names" "$(diff "$T/recs$opt" "$T/dbg$opt" | head -c 300) $(head -c 200 "$T/dbg$opt.err")"; fi
done

# --debug with another build's file: names still by address, and a warning
if [ -f "$T/f0.debug" ] && [ -f "$T/f2.s" ]; then
	"$X" --debug "$T/f0.debug" "$T/f2.s" >/dev/null 2>"$T/err"
	grep -q "build-id differs" "$T/err" && pass "debug-build-id-warning" || fail "debug-build-id-warning" "$(cat "$T/err")"
fi

# --debug DIR: the debug file found by build-id under DIR/.build-id/
id=$(readelf -n "$T/f2" | awk '/Build ID/ { print $3 }')
if [ -n "$id" ]; then
	rest=${id#??}
	mkdir -p "$T/dd/.build-id/${id%"$rest"}"
	cp "$T/f2.debug" "$T/dd/.build-id/${id%"$rest"}/$rest.debug"
	recs --debug "$T/dd" "$T/f2.s" "$T/f0.s" >"$T/dd.out" 2>"$T/dd.err"
	if head -n "$(wc -l <"$T/recs2")" "$T/dd.out" | cmp -s - "$T/recs2" &&
		[ "$(awk '$3 != "-"' "$T/dd.out" | wc -l)" -eq "$(wc -l <"$T/recs2")" ] &&
		grep -q "f0.s: warning: no debug file" "$T/dd.err"; then pass "debug-dir"
	else fail "debug-dir" "$(head -c 300 "$T/dd.err")"; fi
else
	skip "debug-dir" "gcc made no build-id"
fi

# options
b="$T/f2"
n=$("$X" --named "$b.s" | "$D" | wc -l)
[ "$n" -eq 0 ] && pass "opt-named" || fail "opt-named" "$n records from a stripped file"
n=$("$X" --unnamed "$b" | "$D" | wc -l)
[ "$n" -eq 0 ] && pass "opt-unnamed" || fail "opt-unnamed" "$n records"
got=$("$X" -F main "$b" | "$D" | jq -r '.name')
[ "$got" = main ] && pass "opt-function-name" || fail "opt-function-name" "got '$got'"
got=$("$X" -F add3_alias "$b" | "$D" | jq -r '.name')
[ "$got" = add3 ] && pass "opt-function-alias" || fail "opt-function-alias" "got '$got'"
a=$(awk '$3 == "fill" { printf "0x%x", $1 }' "$T/syms2")
got=$("$X" -F "$a" "$b.s" | "$D" | jq -r '.addr')
[ "$(printf 0x%x "${got:-0}")" = "$a" ] && pass "opt-function-addr" || fail "opt-function-addr" "$a gave '$got'"
bad=$("$X" --min-size 40 "$b" | "$D" | jq -r 'select(.size < 40) | .id')
n=$("$X" --min-size 40 "$b" | "$D" | wc -l)
[ -z "$bad" ] && [ "$n" -gt 0 ] && pass "opt-min-size" || fail "opt-min-size" "$n records, small: $bad"
got=$("$X" -s .init -s .fini "$b" | "$D" | jq -r '.name' | sort | tr '\n' ' ')
[ "$got" = "_fini _init " ] && pass "opt-section" || fail "opt-section" "got '$got'"
"$X" -z "$b" >"$T/z"
magic=$(od -An -tx1 -N2 "$T/z" | tr -d ' ')
n=$("$D" "$T/z" | wc -l)
[ "$magic" = 1f8b ] && [ "$n" -eq "$(wc -l <"$T/recs2")" ] && pass "opt-gzip" || fail "opt-gzip" "magic $magic, $n records"
check_status "usage-no-files" 2 "$X"
check_status "usage-bad-option" 2 "$X" --no-such-option "$b"
check_status "usage-bad-min-size" 2 "$X" --min-size x12 "$b"
check "help" "$X" -h

# standard input
n=$(cat "$b" | "$X" - | "$D" | wc -l)
[ "$n" -eq "$(wc -l <"$T/recs2")" ] && pass "stdin" || fail "stdin" "$n records"

# bytes that do not decode inside a function: skipped, shown, counted, and the rest decoded
if gcc -O1 -o "$T/dit" "$S/data_in_text.c" 2>"$T/gcc.err"; then
	got=$("$X" -v -F skipper "$T/dit" 2>"$T/err" | "$D" | jq -r '[.asm[] | select(startswith(".byte"))] | join(",")')
	last=$("$X" -F skipper "$T/dit" | "$D" | jq -r '.asm[-1]')
	if [ "$got" = ".byte 0x06,.byte 0x07,.byte 0x0e" ] && [ "$last" = ret ] && grep -q "skipped 3 undecodable bytes" "$T/err"; then
		pass "data-in-text"
	else
		fail "data-in-text" "bytes '$got', last '$last', stderr $(head -c 200 "$T/err")"
	fi
else
	fail "data-in-text" "gcc: $(head -c 200 "$T/gcc.err")"
fi

# archive: every member, ids, relocation callees, the GNU long-name table
cd "$T" && mkdir -p ar && cd ar || exit 1
gcc -O0 -c "$S/lib1.c" "$S/lib2.c" && cp lib2.o a_member_with_a_long_name.o &&
	gcc -O0 -ffunction-sections -c "$S/lib2.c" -o fsec.o &&
	ar rcs "$T/lib.a" lib1.o lib2.o a_member_with_a_long_name.o fsec.o
cd "$ROOT" || exit 1
"$X" "$T/lib.a" | "$D" >"$T/ar.json"
want=$(readelf -sW "$T/lib.a" | awk '$4 == "FUNC" && $7 != "UND"' | wc -l)
got=$(wc -l <"$T/ar.json")
[ "$want" -eq "$got" ] && [ "$got" -eq 8 ] && pass "ar-records" || fail "ar-records" "$got records, readelf $want FUNC"
got=$(jq -r 'select(.name == "lib1_entry") | .id' "$T/ar.json")
[ "$got" = "$T/lib.a(lib1.o):0x$(readelf -sW "$T/ar/lib1.o" | awk '$8 == "lib1_entry" { sub(/^0+/, "", $2); print ($2 == "" ? "0" : $2) }')" ] \
	&& pass "ar-id" || fail "ar-id" "got '$got'"
got=$(jq -r 'select(.name == "lib1_entry") | .callees | sort | join(",")' "$T/ar.json")
[ "$got" = "lib1_helper,lib2_twice" ] && pass "ar-reloc-callees" || fail "ar-reloc-callees" "got '$got'"
got=$(jq -r 'select(.id | contains("(fsec.o)")) | select(.name == "lib2_len") | "\(.id) \(.callees | sort | join(","))"' "$T/ar.json")
[ "$got" = "$T/lib.a(fsec.o):.text.lib2_len:0x0 lib2_twice,strlen" ] && pass "ar-function-sections" || fail "ar-function-sections" "got '$got'"
# a call to a static function in another section: relocation against the section symbol
gcc -O0 -ffunction-sections -c "$S/lib1.c" -o "$T/l1f.o"
got=$("$X" "$T/l1f.o" | "$D" | jq -r 'select(.name == "lib1_entry") | "\(.id) \(.callees | sort | join(","))"')
[ "$got" = "$T/l1f.o:.text.lib1_entry:0x0 lib1_helper,lib2_twice" ] && pass "o-section-symbol-callee" \
	|| fail "o-section-symbol-callee" "got '$got'"
n=$(jq -r '.id' "$T/ar.json" | sort | uniq -d | wc -l)
[ "$n" -eq 0 ] && pass "ar-unique-ids" || fail "ar-unique-ids" "$n duplicate ids"
n=$(jq -r 'select(.id | contains("(a_member_with_a_long_name.o)")) | .name' "$T/ar.json" | wc -l)
[ "$n" -eq 2 ] && pass "ar-long-names" || fail "ar-long-names" "$n records from the long-named member"
# instruction counts of the .o members against objdump, per function name
objdump -d -M intel --no-show-raw-insn -w "$T/ar/lib1.o" "$T/ar/lib2.o" |
	awk '/^[0-9a-f]+ <.*>:$/ { f = $2; gsub(/[<>:]/, "", f) } /^ +[0-9a-f]+:\t/ && f != "" { n[f]++ }
		END { for (f in n) print f, n[f] }' | sort >"$T/odar"
jq -r 'select(.id | test("\\((lib1|lib2).o\\)")) | "\(.name) \(.asm | length)"' "$T/ar.json" | sort >"$T/oursar"
cmp -s "$T/odar" "$T/oursar" && pass "ar-insns-vs-objdump" || fail "ar-insns-vs-objdump" "$(diff "$T/odar" "$T/oursar" | tr '\n' ' ')"

# broken inputs: a clear message naming the file, exit 1, no crash, and the
# good file on the same command line still comes out whole
good="$T/f0"
ngood=$("$X" "$good" | "$D" | wc -l)
mkdir -p "$T/bad"
head -c 100 "$good" >"$T/bad/trunc-header"
head -c 5000 "$good" >"$T/bad/trunc-body"
: >"$T/bad/empty"
mkdir -p "$T/bad/dir"
awk 'BEGIN { srand(7); for (i = 0; i < 4096; i++) printf "%c", int(rand() * 256) }' >"$T/bad/random"
{ printf '\177ELF'; awk 'BEGIN { srand(3); for (i = 0; i < 4092; i++) printf "%c", int(rand() * 256) }'; } >"$T/bad/elf-random"
cp "$good" "$T/bad/shoff"; printf '\377\377\377\377' | dd of="$T/bad/shoff" bs=1 seek=44 conv=notrunc 2>/dev/null
cp "$good" "$T/bad/shnum"; printf '\377\177' | dd of="$T/bad/shnum" bs=1 seek=60 conv=notrunc 2>/dev/null
cp "$good" "$T/bad/class32"; printf '\001' | dd of="$T/bad/class32" bs=1 seek=4 conv=notrunc 2>/dev/null
printf '!<arch>\nfoo.o/          0           0     0     644     99999     `\nxx' >"$T/bad/ar-trunc"
printf 'not an object\n' >"$T/ar/junk.txt"; cp "$T/lib.a" "$T/bad/ar-junk.a"; ar q "$T/bad/ar-junk.a" "$T/ar/junk.txt"
for f in trunc-header trunc-body empty dir random elf-random shoff shnum class32 ar-trunc missing; do
	"$X" "$T/bad/$f" "$good" >"$T/out" 2>"$T/err"; rc=$?
	n=$("$D" "$T/out" | wc -l)
	if [ "$rc" -eq 1 ] && [ "$n" -eq "$ngood" ] && grep -q "^asm-extract: $T/bad/$f: ." "$T/err"; then pass "bad-$f"
	else fail "bad-$f" "exit $rc, $n of $ngood records, stderr: $(head -c 200 "$T/err")"; fi
done
"$X" "$T/bad/ar-junk.a" >"$T/out" 2>"$T/err"; rc=$?
n=$("$D" "$T/out" | wc -l)
[ "$rc" -eq 1 ] && [ "$n" -eq 8 ] && grep -q "ar-junk.a(junk.txt): not an ELF file" "$T/err" && pass "bad-ar-member" \
	|| fail "bad-ar-member" "exit $rc, $n records, $(head -c 200 "$T/err")"
