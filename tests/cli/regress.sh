#!/bin/sh
# Replay the inputs the fuzzers found (tests/regress/, see tests/fuzz/run.sh)
# through asm-extract (as a file and as a --debug file) and rec-dump: each
# must end within 20 s with status 0 or 1 (no crash, no hang).
. "$(dirname "$0")/lib.sh"
X="$BIN/asm-extract"
D="$BIN/rec-dump"
[ -x "$X" ] && [ -x "$D" ] || { fail regress "bin/asm-extract or bin/rec-dump not built"; exit 0; }
n=0
for f in "$ROOT"/tests/regress/*; do
	[ -f "$f" ] || continue
	b=$(basename "$f")
	n=$((n + 1))
	for cmd in "$X -f $f" "$X -f --debug $f $X" "$D $f"; do
		timeout 20 $cmd >/dev/null 2>"$T/err"; rc=$?
		case $rc in
		0|1) ;;
		*) fail "regress-$b" "exit $rc from $cmd: $(head -c 200 "$T/err")"; continue 2 ;;
		esac
	done
	pass "regress-$b"
done
[ $n -gt 0 ] || skip regress "no inputs in tests/regress"
