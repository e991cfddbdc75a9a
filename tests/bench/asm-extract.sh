#!/bin/sh
# asm-extract vs objdump -d -M intel on the same inputs, output to /dev/null
# for both, best of 3 wall-clock runs each, in the same run; prints the
# ratio (objdump time / asm-extract time: above 1 means asm-extract is
# faster).  Inputs: libc.a (libc6-dev) and a big shared library, or the
# files given as arguments.  Append the printed table to RESULTS.md by hand
# or with  tests/bench/asm-extract.sh -a  (adds the machine's CPU name).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
X=${BIN:-$root/bin}/asm-extract
append=0
[ "${1:-}" = -a ] && { append=1; shift; }
[ -x "$X" ] || { echo "bench: $X not built (make all)" >&2; exit 1; }
L=/usr/lib/x86_64-linux-gnu
if [ $# -gt 0 ]; then inputs="$*"; else
	inputs=""
	for f in $L/libc.a $L/libcapstone.so.4 $(readlink -f $L/libopenblas.so.0 2>/dev/null); do
		[ -f "$f" ] && inputs="$inputs $f"
	done
fi
[ -n "$inputs" ] || { echo "bench: no inputs (install libc6-dev)" >&2; exit 1; }

best() {  # best wall time of 3 runs of "$@" > /dev/null, in seconds
	b=""
	for i in 1 2 3; do
		s=$(date +%s.%N)
		"$@" >/dev/null 2>&1
		e=$(date +%s.%N)
		b=$(echo "$s $e ${b:-}" | awk '{ t = $2 - $1; if ($3 != "" && $3 < t) t = $3; printf "%.3f", t }')
	done
	echo "$b"
}

cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
out=$(mktemp)
{
	echo "### $(date -u +%Y-%m-%d) $(uname -n), $cpu, $(nproc) cores"
	echo
	echo "| input | size | functions | asm-extract s | objdump -d -M intel s | ratio (objdump/ours) |"
	echo "|---|---|---|---|---|---|"
	for f in $inputs; do
		n=$("$X" -f "$f" 2>/dev/null | "${BIN:-$root/bin}/rec-dump" 2>/dev/null | wc -l)
		ta=$(best "$X" -f "$f")
		to=$(best objdump -d -M intel "$f")
		r=$(echo "$ta $to" | awk '{ printf "%.2f", ($1 > 0 ? $2 / $1 : 0) }')
		echo "| $(basename "$f") | $(du -h "$f" | cut -f1) | $n | $ta | $to | $r |"
	done
	echo
} | tee "$out"
[ $append -eq 1 ] && cat "$out" >>"$root/tests/bench/RESULTS.md"
rm -f "$out"
