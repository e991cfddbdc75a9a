#!/bin/sh
# The CPU ops of common/ops.h against PyTorch (CPU) on the same shapes, in the
# same run: best-of-REPS milliseconds per case and the ratio torch/ours
# (> 1: ours faster).  Both sides use THREADS threads (OMP_NUM_THREADS for
# ours, torch.set_num_threads for PyTorch).
#
#   tests/bench/ops_cpu.sh                  # all cores, 5 reps
#   THREADS=1 REPS=3 tests/bench/ops_cpu.sh
#   CLOCK=cpu THREADS=1 tests/bench/ops_cpu.sh   # CPU time: fairer on a loaded machine
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
O=${O:-$root}
REPS=${REPS:-5}
THREADS=${THREADS:-$(nproc)}
CLOCK=${CLOCK:-wall}
lib=$O/build/libasmname.a
[ -f "$lib" ] || { echo "ops_cpu: build first (make O=$O)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -std=c11 -D_GNU_SOURCE -fopenmp -I"$root/common" "$root/tests/bench/ops_cpu.c" "$lib" \
	-lopenblas -ljansson -lm -o "$tmp/ops_cpu"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
	"threads $THREADS, $CLOCK time, load average $(cut -d' ' -f1-3 /proc/loadavg)"
OMP_NUM_THREADS=$THREADS "$tmp/ops_cpu" "$REPS" "$CLOCK" >"$tmp/ours"
python3 "$root/tests/bench/ops_cpu_peer.py" "$REPS" "$THREADS" "$CLOCK" >"$tmp/torch"
printf '%-32s %12s %12s %8s\n' case "ours ms" "torch ms" "torch/ours"
awk 'NR == FNR { t[$1] = $2; next }
	($1 in t) { printf "%-32s %12s %12s %8.2f\n", $1, $2, t[$1], t[$1] / $2 }' "$tmp/torch" "$tmp/ours"
