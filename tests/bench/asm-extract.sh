#!/bin/sh
# asm-extract vs objdump -d -M intel on the same inputs, output to /dev/null
# for both, best of 3 wall-clock runs each, in the same run; prints the
# ratio (objdump time / asm-extract time: above 1 means asm-extract is
# faster).  Inputs: libc.a (libc6-dev, with symbols) and libcapstone.so.4
# (6.4 MB, stripped: the discovery path), or the files given as arguments
# (e.g. the 36 MB $(readlink -f /usr/lib/x86_64-linux-gnu/libopenblas.so.0)).
# -a appends the printed table (with the machine) to tests/bench/RESULTS.md.
# Also prints user+sys CPU seconds, which a loaded machine disturbs less.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
X=${BIN:-$root/bin}/asm-extract
append=0
[ "${1:-}" = -a ] && { append=1; shift; }
[ -x "$X" ] || { echo "bench: $X not built (make all)" >&2; exit 1; }
L=/usr/lib/x86_64-linux-gnu
if [ $# -gt 0 ]; then inputs="$*"; else
	inputs=""
	for f in $L/libc.a $L/libcapstone.so.4; do
		[ -f "$f" ] && inputs="$inputs $f"
	done
fi
[ -n "$inputs" ] || { echo "bench: no inputs (install libc6-dev)" >&2; exit 1; }

TM=$(mktemp)
# best of 3 runs of "$@" > /dev/null: "wall cpu" in seconds (cpu = user+sys)
best() {
	b=""
	for i in 1 2 3; do
		if [ -x /usr/bin/time ]; then
			/usr/bin/time -f "%e %U %S" -o "$TM" "$@" >/dev/null 2>/dev/null
			t=$(tail -n 1 "$TM")
		else
			s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
			t=$(echo "$s $e" | awk '{ print $2 - $1, 0, 0 }')
		fi
		b=$(echo "$t ${b:-}" | awk '{ w = $1; c = $2 + $3
			if ($4 != "" && $4 < w) w = $4; if ($5 != "" && $5 < c) c = $5
			printf "%.2f %.2f", w, c }')
	done
	echo "$b"
}

cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
out=$(mktemp)
{
	echo "### asm-extract vs objdump, $(date -u +%Y-%m-%d) $(uname -n), $cpu, $(nproc) cores, load average $(cut -d" " -f1-3 /proc/loadavg)"
	echo
	echo "| input | size | functions | asm-extract wall s | objdump wall s | wall ratio | asm-extract cpu s | objdump cpu s | cpu ratio |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for f in $inputs; do
		n=$("$X" -f "$f" 2>/dev/null | "${BIN:-$root/bin}/rec-dump" 2>/dev/null | wc -l)
		ta=$(best "$X" -f "$f")
		to=$(best objdump -d -M intel "$f")
		echo "$(basename "$f") $(du -h "$f" | cut -f1) $n $ta $to" | awk '{
			printf "| %s | %s | %s | %s | %s | %.2f | %s | %s | %.2f |\n", $1, $2, $3, $4, $6,
				($4 > 0 ? $6 / $4 : 0), $5, $7, ($5 > 0 ? $7 / $5 : 0) }'
	done
	echo
} | tee "$out"
[ $append -eq 1 ] && cat "$out" >>"$root/tests/bench/RESULTS.md"
rm -f "$out" "$TM"
