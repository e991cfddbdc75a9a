#!/bin/sh
# Run every test: the C unit/op/model tests in build/tests/ and the
# command-line tests in tests/cli/*.sh.  Each prints PASS/FAIL/SKIP lines;
# this counts them and ends with "N passed, N failed".
# Run from the project root.  T=pattern runs only the tests whose file
# name contains it.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
: "${ASMNAME_SHARED:=$(cd "$root/.." && pwd)/shared}"
export ASMNAME_SHARED
O=${O:-.}
case "$O" in /*) ;; *) O="$root/$O" ;; esac
export BIN="$O/bin" BUILD="$O/build" ROOT="$root"
export PATH="$BIN:$PATH"
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
pass=0; fail=0; skip=0
TIMEOUT=${TEST_TIMEOUT:-900}

run_one() {  # name, command...
	name=$1; shift
	out="$log/out"
	start=$(date +%s)
	timeout "$TIMEOUT" "$@" >"$out" 2>"$log/err"
	rc=$?
	p=$(grep -c '^PASS ' "$out"); f=$(grep -c '^FAIL ' "$out"); s=$(grep -c '^SKIP ' "$out")
	grep -E '^(FAIL|SKIP) ' "$out" | sed "s|^|  $name: |"
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "  $name: FAIL exited with status $rc"; tail -n 5 "$log/err" | sed 's/^/    /'
		f=1
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	echo "$name: $p passed, $f failed, $s skipped ($(( $(date +%s) - start ))s)"
}

for t in "$BUILD"/tests/*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	case "$(basename "$t")" in *"${T:-}"*) ;; *) continue ;; esac
	run_one "$(basename "$t")" "$t"
done
for t in tests/cli/*.sh; do
	[ -f "$t" ] || continue
	[ "$t" = tests/cli/lib.sh ] && continue
	case "$(basename "$t")" in *"${T:-}"*) ;; *) continue ;; esac
	run_one "$(basename "$t" .sh)" sh "$t"
done
echo "$skip skipped"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
