#!/bin/sh
# asm-tok end to end: the case studies against reference/clap-asm.md §3.4,
# every input format, the options, asm-extract records, and bad input.
. "$(dirname "$0")/lib.sh"
A="$BIN/asm-tok"
D="$BIN/rec-dump"
[ -x "$A" ] && [ -x "$D" ] || { fail asm-tok "bin/asm-tok or bin/rec-dump not built"; exit 0; }
command -v jq >/dev/null 2>&1 || { skip asm-tok "no jq"; exit 0; }

# usage errors need no model
check_status usage-bad-format 2 "$A" -F bogus /dev/null
check_status usage-bad-maxlen 2 "$A" -n 0 /dev/null
check_status usage-bad-option 2 "$A" --bogus
( unset ASMNAME_CLAP ASMNAME_BUNDLE; "$A" /dev/null >/dev/null 2>"$T/nomodel.err"; echo $? >"$T/nomodel.rc" )
[ "$(cat "$T/nomodel.rc")" = 2 ] && grep -q -- "-m DIR" "$T/nomodel.err" && pass usage-no-model \
	|| fail usage-no-model "exit $(cat "$T/nomodel.rc"): $(cat "$T/nomodel.err")"
"$A" -h | grep -q -- "--max-len" && pass help || fail help "no --max-len in -h"

[ -n "$SHARED" ] && [ -d "$SHARED/vendor/clap-asm" ] || { skip asm-tok-model "../shared/vendor/clap-asm absent"; exit 0; }
M="$SHARED/vendor/clap-asm"
CS="$SHARED/vendor/clap-casestudy"
export ASMNAME_CLAP="$M"
check_status missing-model 1 "$A" -m /nonexistent /dev/null

# the case studies, exactly (reference §3.4)
BUB_TOK='[1422,1159,1219,1050,1235,1184,1184,1207,1219,1184,1555,1190,19,1159,1242,1061,1172,1040,1162,1039,1048,1063,1159,1221,1061,1172,1040,1162,1039,1048,1040,1048,1063,1207,1242,1221,1555,1190,17,1159,1061,1172,1040,1162,1039,1048,1063,1221,1159,1061,1172,1040,1162,1039,1048,1040,1048,1063,1242,1825,1162,1208,1190,9,1841,1219,1248,1190,8,1340]'
BUB_TYPE='[6,7,7,7,8,8,8,9,9,9,10,10,10,11,11,11,11,11,11,11,11,11,12,12,12,12,12,12,12,12,12,12,12,13,13,13,14,14,14,15,15,15,15,15,15,15,15,15,16,16,16,16,16,16,16,16,16,16,16,17,17,18,18,18,19,19,20,20,20,21]'
"$A" "$CS/bubblesort.json" | "$D" >"$T/bub.json"
[ "$(jq -c .tok "$T/bub.json")" = "$BUB_TOK" ] && pass bubblesort-tok || fail bubblesort-tok "$(jq -c .tok "$T/bub.json")"
[ "$(jq -c .ttype "$T/bub.json")" = "$BUB_TYPE" ] && pass bubblesort-ttype || fail bubblesort-ttype "$(jq -c .ttype "$T/bub.json")"
[ "$(jq -r .id "$T/bub.json")" = "$CS/bubblesort.json:1" ] && [ "$(jq '.asm | length' "$T/bub.json")" = 16 ] \
	&& pass bubblesort-fields || fail bubblesort-fields "$(head -c 300 "$T/bub.json")"
SHA_HEAD='[1422,1234,1171,1159,1171,1178,1220,1178,1411,1159'
SHA_TAIL='1999,1190,18,1547,1547,2369,1340]'
"$A" -m "$M" "$CS/sha3.json" | "$D" >"$T/sha3.json"
t=$(jq -c .tok "$T/sha3.json")
case "$t" in "$SHA_HEAD"*"$SHA_TAIL") ok=1 ;; *) ok=0 ;; esac
[ $ok = 1 ] && [ "$(jq '.tok | length' "$T/sha3.json")" = 284 ] && [ "$(jq -c '[.tok[] | select(. == 4)] | length' "$T/sha3.json")" = 0 ] \
	&& pass sha3 || fail sha3 "$t"
"$A" "$CS/malware.json" | "$D" >"$T/mal.json"
[ "$(jq -c '[(.tok | length), .ttype[-1], .tok[0:10]]' "$T/mal.json")" = '[1024,157,[1234,1318,1159,1318,9125,1143,1220,9125,1143,1514]]' ] \
	&& pass malware-truncated || fail malware-truncated "$(jq -c '[(.tok | length), .ttype[-1], .tok[0:10]]' "$T/mal.json")"
# several files, one stream, gzip output, --max-len
"$A" -z -n 16 "$CS/bubblesort.json" "$CS/sha3.json" | "$D" | jq -c '[(.tok | length), (.ttype | length)]' | tr '\n' ' ' >"$T/z"
[ "$(cat "$T/z")" = "[16,16] [16,16] " ] && pass gzip-maxlen || fail gzip-maxlen "$(cat "$T/z")"
# --dict writes CLAP's own dict back unchanged
"$A" -d "$CS/bubblesort.json" | jq -c .asm >"$T/d1"
jq -c . "$CS/bubblesort.json" >"$T/d2"
cmp -s "$T/d1" "$T/d2" && pass dict-roundtrip || fail dict-roundtrip "$(head -c 200 "$T/d1")"
# stdin, auto-detected
"$A" <"$CS/bubblesort.json" | "$D" | jq -c .tok | grep -qF "$BUB_TOK" && pass stdin-json || fail stdin-json "stdin differs"

# CSV with a header, quoted multi-line fields; src and name carried
printf 'name,source,asm\nfoo,"int foo(int a) {\n  return a, ""x"";\n}","push    rbp\nmov     rbp, rsp\nretn"\n' >"$T/f.csv"
"$A" "$T/f.csv" | "$D" >"$T/csv.json"
[ "$(jq -r .name "$T/csv.json")" = foo ] && [ "$(jq -r .src "$T/csv.json")" = "$(printf 'int foo(int a) {\n  return a, "x";\n}')" ] \
	&& [ "$(jq -c .tok "$T/csv.json")" = '[1234,1171,1159,1171,1178,1340]' ] && [ "$(jq -c .ttype "$T/csv.json")" = '[6,6,7,7,7,8]' ] \
	&& pass csv || fail csv "$(cat "$T/csv.json")"

# records in: other fields kept, tok/ttype added (bubblesort's text as records)
jq -c '{id: "r:1", name: "bs", extra: 7, asm: [.[]]}' "$CS/bubblesort.json" | "$D" -r >"$T/in.rec"
"$A" -r "$T/in.rec" | "$D" >"$T/rec.json"
[ "$(jq -c .tok "$T/rec.json")" = "$BUB_TOK" ] && [ "$(jq -r '.extra' "$T/rec.json")" = 7 ] && [ "$(jq -r .name "$T/rec.json")" = bs ] \
	&& pass records-raw || fail records-raw "$(head -c 300 "$T/rec.json")"
"$A" -r <"$T/in.rec" | "$D" | jq -c .tok | grep -qF "$BUB_TOK" && pass records-stdin || fail records-stdin "stdin records differ"
# records whose text is IDA's already (made from CLAP JSON) are not rendered twice
"$A" "$CS/sha3.json" | "$A" | "$D" | jq -c .tok >"$T/twice"
[ "$(jq -c .tok "$T/sha3.json")" = "$(cat "$T/twice")" ] && pass records-ida-text || fail records-ida-text "$(head -c 200 "$T/twice")"
"$A" -F rec -r <"$T/in.rec" | "$D" | jq -c .tok | grep -qF "$BUB_TOK" && pass records-forced || fail records-forced "-F rec differs"

# asm as one string, an instruction a line
printf '{"id":"s","asm":"push    rbp\\nmov     rbp, rsp\\n\\nretn\\n"}\n' | "$D" -r | "$A" | "$D" | jq -c .tok >"$T/lines"
[ "$(cat "$T/lines")" = '[1234,1171,1159,1171,1178,1340]' ] && pass records-asm-string || fail records-asm-string "$(cat "$T/lines")"

# bad input: the place is named, the rest goes on, exit 1
printf '{"id":"a","asm":["nop"]}\n{"id":"bad","asm":5}\n{"id":"c","asm":["retn"]}\n' | "$D" -r >"$T/bad.rec"
"$A" "$T/bad.rec" >"$T/bad.out" 2>"$T/bad.err"; rc=$?
[ $rc = 1 ] && grep -q 'record 2 (id bad)' "$T/bad.err" && [ "$("$D" "$T/bad.out" | jq -r .id | tr '\n' ' ')" = "a c " ] \
	&& pass bad-record || fail bad-record "exit $rc: $(cat "$T/bad.err")"
printf '{"1": "nop"}\n{"1": 5}\n{"1": "retn"}\n' >"$T/bad.json"
"$A" "$T/bad.json" >"$T/bj.out" 2>"$T/bj.err"; rc=$?
[ $rc = 1 ] && grep -q 'line 2' "$T/bj.err" && [ "$("$D" "$T/bj.out" | wc -l)" = 2 ] \
	&& pass bad-json-line || fail bad-json-line "exit $rc: $(cat "$T/bj.err")"
printf 'a,nop,f\nb,"x"y,g\nc,retn,h\n' >"$T/bad.csv"
"$A" "$T/bad.csv" >"$T/bc.out" 2>"$T/bc.err"; rc=$?
[ $rc = 1 ] && grep -q 'line 2' "$T/bc.err" && [ "$("$D" "$T/bc.out" | jq -r .name | tr '\n' ' ')" = "f h " ] \
	&& pass bad-csv-line || fail bad-csv-line "exit $rc: $(cat "$T/bc.err")"
check_status missing-file 1 "$A" "$T/nonexistent.json"

# the case study's function built here: rendered, it is CLAP's IDA text line for line
if command -v gcc >/dev/null 2>&1 && command -v objdump >/dev/null 2>&1 &&
	gcc -Os -fno-tree-ch -fcf-protection -c -o "$T/bs.o" "$ROOT/tests/data/asm-tok/bubblesort.c" 2>/dev/null; then
	mn=$(objdump -d -M intel "$T/bs.o" | awk -F'\t' '/^ +[0-9a-f]+:\t/ { split($3, w, " "); printf "%s ", w[1] }')
	if [ "$mn" = "endbr64 mov xor cmp jle mov mov cmp jle mov mov inc jmp dec jne ret " ]; then
		jq -c . "$CS/bubblesort.json" >"$T/bs.want"
		objdump -d -M intel "$T/bs.o" | "$A" -d | jq -c .asm >"$T/bs.got"
		cmp -s "$T/bs.got" "$T/bs.want" && pass bubblesort-rendered-objdump || fail bubblesort-rendered-objdump "$(cat "$T/bs.got")"
		[ "$(objdump -d -M intel "$T/bs.o" | "$A" | "$D" | jq -c .tok)" = "$BUB_TOK" ] \
			&& pass bubblesort-objdump-tok || fail bubblesort-objdump-tok "ids differ from reference §3.4"
		if command -v llvm-objdump >/dev/null 2>&1; then
			llvm-objdump -d --x86-asm-syntax=intel "$T/bs.o" | "$A" -d | jq -c .asm >"$T/bs.got3"
			cmp -s "$T/bs.got3" "$T/bs.want" && pass bubblesort-rendered-llvm-objdump || fail bubblesort-rendered-llvm-objdump "$(cat "$T/bs.got3")"
		fi
		if [ -x "$BIN/asm-extract" ]; then
			"$BIN/asm-extract" "$T/bs.o" | "$A" -d | jq -c .asm >"$T/bs.got2"
			cmp -s "$T/bs.got2" "$T/bs.want" && pass bubblesort-rendered-extract || fail bubblesort-rendered-extract "$(cat "$T/bs.got2")"
		fi
	else
		skip bubblesort-rendered "this gcc makes other code: $mn"
	fi
fi

# objdump text and asm-extract records of a program built here
if command -v gcc >/dev/null 2>&1 && command -v objdump >/dev/null 2>&1; then
	cat >"$T/p.c" <<'EOC'
int g[16];
int sum(int *a, int n) { int s = 0; for (int i = 0; i < n; i++) if (a[i] > 10) s += a[i]; else s -= 1; return s; }
int main(int argc, char **argv) { return sum(g, argc) + (argv[0][0] == 'x'); }
EOC
	gcc -O0 -fno-inline -o "$T/p" "$T/p.c"
	objdump -d -M intel "$T/p" >"$T/p.od"
	"$A" -d "$T/p.od" >"$T/p.dict"
	jq -r 'select(.name == "sum") | .asm | [.[]] | join("\n")' "$T/p.dict" >"$T/sum.txt"
	grep -q 'var_' "$T/sum.txt" && grep -q 'short INSTR' "$T/sum.txt" && grep -q 'retn' "$T/sum.txt" && ! grep -q 'PTR' "$T/sum.txt" \
		&& pass objdump-rendered || fail objdump-rendered "$(cat "$T/sum.txt" | head -20)"
	n_od=$(grep -c '^[0-9a-f]* <.*>:$' "$T/p.od")
	"$A" "$T/p.od" | "$D" >"$T/p.json"
	[ "$(wc -l <"$T/p.json")" = "$n_od" ] && [ "$(jq -r 'select(.name == "main") | .id' "$T/p.json")" != "" ] \
		&& [ "$(jq -r 'select(.name == "sum") | (.asm | length) == (.asm_addr | length)' "$T/p.json")" = true ] \
		&& pass objdump-records || fail objdump-records "$(wc -l <"$T/p.json") records for $n_od headers"
	"$A" -r "$T/p.od" | "$D" | jq -r 'select(.name == "sum") | .tok | length' >"$T/raw.n"
	jq -r 'select(.name == "sum") | .tok | length' "$T/p.json" >"$T/ida.n"
	[ "$(cat "$T/raw.n")" -gt "$(cat "$T/ida.n")" ] && pass raw-differs || fail raw-differs "raw $(cat "$T/raw.n") rendered $(cat "$T/ida.n")"
	# rendering only what a cut sequence can hold gives the same tokens as rendering it all
	"$A" -n 8 "$T/p.od" | "$D" | jq -c '[.tok, .ttype]' >"$T/cut1"
	"$A" -d "$T/p.od" | "$A" -n 8 | "$D" | jq -c '[.tok, .ttype]' >"$T/cut2"
	cmp -s "$T/cut1" "$T/cut2" && [ "$(jq -s 'map(.[0] | length) | max' "$T/cut1")" = 8 ] \
		&& pass bounded-render || fail bounded-render "$(diff "$T/cut1" "$T/cut2" | head -c 300)"
	objdump -d -M intel --no-show-raw-insn -w "$T/p" | "$A" -d | jq -r 'select(.name == "sum") | .asm | [.[]] | join("\n")' >"$T/sum2.txt"
	grep -q 'short INSTR' "$T/sum2.txt" && pass objdump-no-raw-w || fail objdump-no-raw-w "$(head -5 "$T/sum2.txt")"
	objdump -d "$T/p" | "$A" >/dev/null 2>"$T/att.err"; rc=$?
	[ $rc = 1 ] && grep -q 'AT&T' "$T/att.err" && pass objdump-att-refused || fail objdump-att-refused "exit $rc"
	if [ -x "$BIN/asm-extract" ]; then
		"$BIN/asm-extract" "$T/p" | "$A" | "$D" >"$T/x.json"
		[ "$(jq -r 'select(.name == "sum") | (.tok | length) > 0 and (.asm_addr | length) > 0 and (.callees != null)' "$T/x.json")" = true ] \
			&& [ "$(jq -r 'select(.tok == null) | .id' "$T/x.json")" = "" ] \
			&& pass extract-pipeline || fail extract-pipeline "$(head -c 300 "$T/x.json")"
		"$BIN/asm-extract" "$T/p" | "$A" -d | jq -r 'select(.name == "main") | .asm | [.[]] | join("\n")' >"$T/main.txt"
		grep -q 'call    sum' "$T/main.txt" && pass extract-callee-names || fail extract-callee-names "$(cat "$T/main.txt")"
	else
		skip extract-pipeline "bin/asm-extract not built"
	fi
else
	skip objdump "no gcc or objdump"
fi
exit 0
