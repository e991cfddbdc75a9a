#!/bin/sh
# asm-tok speed on libc.a (or the archive/binary given): tokens per second of
#   asm-extract | asm-tok        (records, rendering + tokenization)
#   objdump -dr -M intel | asm-tok
# with each stage also timed alone (CPU seconds, user+sys, best of 3, so that
# other load on the machine does not count), and the peer: HuggingFace
# `tokenizers` (Python) encoding the same rendered functions; prints the
# ratios and checks that the peer's ids equal ours on every function.
# Needs bin/ built, ../shared/vendor/clap-asm (or ASMNAME_CLAP), objdump,
# rec-dump, jq; python3 with tokenizers for the peer.
#   tests/bench/asm-tok.sh [-a] [input]     -a: append the table to RESULTS.md
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
B=${BIN:-$root/bin}
append=0
[ "${1:-}" = -a ] && { append=1; shift; }
IN=${1:-/usr/lib/x86_64-linux-gnu/libc.a}
M=${ASMNAME_CLAP:-$root/../shared/vendor/clap-asm}
for p in asm-tok asm-extract rec-dump; do
	[ -x "$B/$p" ] || { echo "bench: $B/$p not built (make all)" >&2; exit 1; }
done
[ -f "$IN" ] || { echo "bench: no $IN" >&2; exit 1; }
[ -d "$M" ] || { echo "bench: no model directory $M" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

cpu() {  # best CPU seconds (user+sys) of 3 runs of "$@" >/dev/null
	b=""
	for i in 1 2 3; do
		/usr/bin/time -f "%U %S %e" -o "$T/time" "$@" >/dev/null 2>"$T/err" || { cat "$T/err" >&2; exit 1; }
		b=$(awk -v b="${b:-}" '{ t = $1 + $2; if (b != "" && b < t) t = b; printf "%.3f", t }' "$T/time")
	done
	echo "$b"
}
wall() { awk '{ print $3 }' "$T/time"; }

"$B/asm-extract" "$IN" >"$T/in.rec"
objdump -dr -M intel "$IN" >"$T/in.od"
"$B/asm-tok" -m "$M" -v "$T/in.rec" 2>"$T/v.rec" >"$T/out.rec"
"$B/asm-tok" -m "$M" -v "$T/in.od" 2>"$T/v.od" >/dev/null
ntok_rec=$(sed -n 's/.* instructions, \([0-9]*\) tokens.*/\1/p' "$T/v.rec" | tail -1)
ntok_od=$(sed -n 's/.* instructions, \([0-9]*\) tokens.*/\1/p' "$T/v.od" | tail -1)
nfun=$(sed -n 's/.*asm-tok: \([0-9]*\) functions, .*/\1/p' "$T/v.rec" | tail -1)

c_extract=$(cpu "$B/asm-extract" "$IN")
c_tok1=$(cpu "$B/asm-tok" -m "$M" -j 1 "$T/in.rec")
c_tokn=$(cpu "$B/asm-tok" -m "$M" "$T/in.rec"); w_tokn=$(wall)
c_raw=$(cpu "$B/asm-tok" -m "$M" -j 1 --raw "$T/in.rec")
c_objdump=$(cpu objdump -dr -M intel "$IN")
c_tokod=$(cpu "$B/asm-tok" -m "$M" "$T/in.od")
c_load=$(cpu "$B/asm-tok" -m "$M" /dev/null)
# the pipeline itself, wall clock (best of 3): what a user waits for
pipe_wall() {
	b=""
	for i in 1 2 3; do
		s=$(date +%s.%N)
		"$B/asm-extract" "$IN" | "$B/asm-tok" -m "$M" >/dev/null
		t=$(date +%s.%N)
		b=$(echo "$s $t ${b:-}" | awk '{ d = $2 - $1; if ($3 != "" && $3 < d) d = $3; printf "%.3f", d }')
	done
	echo "$b"
}
w_pipe=$(pipe_wall)

# the peer, on the rendered functions as CLAP dicts
"$B/asm-tok" -m "$M" -d "$T/in.rec" >"$T/dicts.jsonl"
"$B/asm-tok" -m "$M" -j 1 "$T/dicts.jsonl" >"$T/dicts.rec"
c_ours_dicts=$(cpu "$B/asm-tok" -m "$M" -j 1 "$T/dicts.jsonl")
peer=""
if python3 -c "import tokenizers" 2>/dev/null; then
	"$B/rec-dump" "$T/dicts.rec" | jq -c '{tok, ttype}' >"$T/ours.jsonl"
	python3 "$root/tests/bench/asm_tok_peer.py" "$M/tokenizer.json" "$T/dicts.jsonl" "$T/ours.jsonl" >"$T/peer" || exit 1
	peer=$(awk '/^peer_cpu_seconds/ { print $2 }' "$T/peer")
	peerw=$(awk '/^peer_seconds/ { print $2 }' "$T/peer")
	ndiff=$(awk '/^functions_differing/ { print $2 }' "$T/peer")
	ncmp=$(awk '/^functions_compared/ { print $2 }' "$T/peer")
fi

rate() { awk -v n="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.0f", n / t; else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
cpun=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
out="$T/table"
{
	echo "### asm-tok speed, $(date -u +%Y-%m-%d) $(uname -n), $cpun, $(nproc) cores"
	echo
	echo "Input: $IN, $nfun functions, $ntok_rec tokens from asm-extract records ($ntok_od from objdump -dr text)."
	echo "CPU seconds (user+sys), best of 3; tokens/s = tokens / CPU seconds."
	echo
	echo "| stage | CPU s | tokens/s |"
	echo "|---|---|---|"
	echo "| asm-extract (disassembly, for comparison) | $c_extract | $(rate "$ntok_rec" "$c_extract") |"
	echo "| asm-tok on its records, 1 thread (render + tokenize) | $c_tok1 | $(rate "$ntok_rec" "$c_tok1") |"
	echo "| asm-tok on its records, all threads (wall $w_tokn s) | $c_tokn | $(rate "$ntok_rec" "$c_tokn") |"
	echo "| asm-tok --raw, 1 thread (tokenize only) | $c_raw | - |"
	echo "| objdump -dr -M intel (for comparison) | $c_objdump | $(rate "$ntok_od" "$c_objdump") |"
	echo "| asm-tok on objdump text | $c_tokod | $(rate "$ntok_od" "$c_tokod") |"
	echo "| asm-tok loading the vocabulary only | $c_load | - |"
	echo "| asm-extract \\| asm-tok, the pipeline, wall clock (best of 3) | $w_pipe (wall) | $(rate "$ntok_rec" "$w_pipe") |"
	echo "| asm-tok on the rendered functions as CLAP dicts, 1 thread | $c_ours_dicts | $(rate "$ntok_rec" "$c_ours_dicts") |"
	if [ -n "$peer" ]; then
		echo "| peer: HF tokenizers (Python, encode_batch per function), same dicts (wall $peerw s) | $peer | $(rate "$ntok_rec" "$peer") |"
	fi
	echo
	echo "Ratios: asm-tok (1 thread) / asm-extract CPU = $(ratio "$c_tok1" "$c_extract");" \
		"asm-tok / objdump CPU = $(ratio "$c_tokod" "$c_objdump")$( [ -n "$peer" ] && echo "; peer / asm-tok on the same dicts = $(ratio "$peer" "$c_ours_dicts") (above 1: asm-tok faster)")."
	[ -n "$peer" ] && echo "Peer check: $ndiff of $ncmp functions differ in ids or token types from HF tokenizers."
	echo
} >"$out"
cat "$out"
[ $append = 1 ] && cat "$out" >>"$root/tests/bench/RESULTS.md"
exit 0
