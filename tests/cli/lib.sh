# lib.sh: sourced by every command-line test.  Gives $BIN, $T (a private
# temporary directory), $SHARED (empty when ../shared is absent) and:
#   pass NAME | fail NAME WHY | skip NAME WHY
#   check NAME CMD...         pass when CMD exits 0
#   check_status NAME N CMD...  pass when CMD exits with status N
set -u
: "${ROOT:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${BIN:=$ROOT/bin}"
SHARED=${ASMNAME_SHARED:-$ROOT/../shared}
[ -d "$SHARED" ] || SHARED=""
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }
check() {
	n=$1; shift
	if "$@" >"$T/.out" 2>"$T/.err"; then pass "$n"; else fail "$n" "exit $? from: $* ($(head -c 300 "$T/.err"))"; fi
}
check_status() {
	n=$1; want=$2; shift 2
	"$@" >"$T/.out" 2>"$T/.err"; got=$?
	if [ "$got" -eq "$want" ]; then pass "$n"; else fail "$n" "wanted exit $want, got $got from: $* ($(head -c 300 "$T/.err"))"; fi
}
