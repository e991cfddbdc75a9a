#!/bin/sh
# The effect of asm-tok's IDA-style rendering on a real corpus (libc.a, or
# the archive/binary given): the share of [UNK] tokens, of ## sub-word
# tokens and of words split into sub-words, tokens per instruction, and
# instructions/functions cut at CLAP's limits, "before" (--raw: the text as
# objdump or capstone print it) and "after" (rendered), for both inputs:
# objdump -dr -M intel text and asm-extract records.
#   tests/bench/asm-tok-unk.sh [-a] [input]     -a: append the table to RESULTS.md
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
B=${BIN:-$root/bin}
append=0
[ "${1:-}" = -a ] && { append=1; shift; }
IN=${1:-/usr/lib/x86_64-linux-gnu/libc.a}
M=${ASMNAME_CLAP:-$root/../shared/vendor/clap-asm}
[ -x "$B/asm-tok" ] || { echo "bench: $B/asm-tok not built (make all)" >&2; exit 1; }
[ -f "$IN" ] && [ -d "$M" ] || { echo "bench: need $IN and $M" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

objdump -dr -M intel "$IN" >"$T/od"
have_x=0
[ -x "$B/asm-extract" ] && "$B/asm-extract" "$IN" >"$T/rec" && have_x=1

row() {  # label, asm-tok arguments...
	label=$1; shift
	"$B/asm-tok" -m "$M" -v "$@" 2>"$T/v" >/dev/null
	l=$(tail -1 "$T/v")
	get() { echo "$l" | sed -n "s/.*$1.*/\1/p"; }
	nf=$(get ' \([0-9]*\) functions,'); ni=$(get ' \([0-9]*\) instructions,'); nt=$(get ' \([0-9]*\) tokens (')
	unk=$(get '\[UNK\] \([0-9.]*%\)'); sw=$(get 'sub-words \([0-9.]*%\)'); spl=$(get 'split words \([0-9.]*%\)')
	ci=$(get 'cut at 20 tokens: \([0-9]*\)'); cf=$(get 'functions cut at [0-9]*: \([0-9]*\)')
	tpi=$(awk -v t="$nt" -v i="$ni" 'BEGIN { printf "%.2f", t / (i ? i : 1) }')
	echo "| $label | $nf | $nt | $tpi | $unk | $sw | $spl | $ci | $cf |"
}
cpun=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
{
	echo "### asm-tok rendering: [UNK] and sub-words, $(date -u +%Y-%m-%d) $(uname -n), $cpun"
	echo
	echo "Input: $IN. Before = --raw (the text as given), after = IDA-style rendering (asm-tok(1))."
	echo "Shares are over the tokens each function keeps (20 an instruction, 1024 a function)."
	echo "A word is a token that is not a ## continuation; split words are those followed by one."
	echo
	echo "| input | functions | tokens | tokens/instruction | [UNK] | ## tokens | split words | instructions cut at 20 | functions cut at 1024 |"
	echo "|---|---|---|---|---|---|---|---|---|"
	row "objdump -dr -M intel, before" --raw "$T/od"
	row "objdump -dr -M intel, after" "$T/od"
	if [ $have_x = 1 ]; then
		row "asm-extract records, before" --raw "$T/rec"
		row "asm-extract records, after" "$T/rec"
	fi
	echo
} >"$T/table"
cat "$T/table"
[ $append = 1 ] && cat "$T/table" >>"$root/tests/bench/RESULTS.md"
exit 0
