#!/bin/sh
# gpu-check.sh: everything a GPU machine should run, unattended, in one go
# (`make gpu-check`):
#   1. show the GPU and the toolchain, and the Debian packages that are missing;
#   2. build everything with CUDA for -arch=sm_90 (H100/H200) in $O;
#   3. run the CUDA op tests (test_cuda_ops: every CUDA op against the CPU op);
#   4. time the hot kernels (tests/bench/kernels.c): matrix products and
#      attention against cuBLAS, NF4 matrix-vector products against the
#      measured copy bandwidth;
#   5. run every other test (tests/run.sh);
#   6. with MODEL_BENCH=1, clap-embed and llm-decode against PyTorch on the GPU
#      (tests/bench/clap-embed.sh, tests/bench/llm-decode-gpu.sh).
# Everything is printed; a copy goes to $GPU_CHECK_OUT (default: $OUT when
# the device runner sets it, else $O/build/gpu-check): log.txt and results.md, a
# section ready to append to tests/bench/RESULTS.md.  No tracked file is
# modified.  Exit status: 0 when every stage passed, else 1 (all stages run).
# Under a 10-minute limit a call (the device runner's), SKIP_SUITE=1 runs
# stages 1-4 (a few minutes) and a second call without it finishes stage 5
# (the build is then already there).
#
# Environment: O (build dir as make's O=, default . : build/ and bin/, both
# ignored by git, kept between calls on the device runner), JOBS (default nproc),
# NVCC_ARCH (default -arch=sm_90), QUICK=1 (smaller benchmark runs),
# SKIP_SUITE=1 (stop after the benchmark), ASMNAME_TF32=1 (TF32 products).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
O=${O:-.}
case "$O" in /*) ;; *) O="$root/$O" ;; esac
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 4)}
NVCC_ARCH=${NVCC_ARCH:--arch=sm_90}
res=${GPU_CHECK_OUT:-${OUT:-$O/build/gpu-check}}
mkdir -p "$res" "$O" || exit 1
log="$res/log.txt"
: >"$log"
status=0
t0=$(date +%s)

say() { printf '%s\n' "$*" | tee -a "$log"; }
stage() { say ""; say "=== $* ($(( $(date +%s) - t0 ))s)"; }
# run a command, its output to the terminal and the log; returns its status
logged() {
	{ "$@" 2>&1; echo "$?" >"$res/.rc"; } | tee -a "$log"
	return "$(cat "$res/.rc")"
}

stage "1. machine"
say "date: $(date -u '+%Y-%m-%d %H:%M UTC')   commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (+ local changes)')"
if command -v nvidia-smi >/dev/null 2>&1; then
	logged nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.memory --format=csv
	gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
else
	say "nvidia-smi: not found"
	gpu="unknown GPU"
fi
NVCC=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
if [ -z "$NVCC" ]; then
	say "nvcc not found: cannot build the CUDA code"
	exit 1
fi
logged "$NVCC" --version | tail -n 2
say "cpu: $(nproc) threads; jobs: $JOBS; arch: $NVCC_ARCH"
missing=""
for p in libcapstone-dev libmsgpack-dev zlib1g-dev libopenblas-dev libpcre2-dev libutf8proc-dev libjansson-dev; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -n "$missing" ] && say "WARNING: missing Debian packages:$missing (the build will likely fail; scripts/deps.sh installs them)"

stage "2. build (CUDA=1 $NVCC_ARCH, O=$O)"
if ! logged make -k -j"$JOBS" CUDA=1 NVCC_ARCH="$NVCC_ARCH" O="$O" all >/dev/null; then
	# the full log is long: show the errors only
	grep -E 'error|Error' "$log" | tail -n 40
	say "BUILD FAILED (continuing with what was built)"
	status=1
fi
lib="$O/build/libasmname.a"

# the benchmark links against the library with the Makefile's own flags
flags=$(mktemp)
# shellcheck disable=SC2016  # make variables, not shell ones
printf '_gpucheck_cflags:\n\t@echo $(CFLAGS)\n_gpucheck_ldlibs:\n\t@echo $(LDLIBS)\n' >"$flags"
cflags=$(make -s --no-print-directory -f Makefile -f "$flags" CUDA=1 O="$O" _gpucheck_cflags | sed 's/-MMD -MP//')
ldlibs=$(make -s --no-print-directory -f Makefile -f "$flags" CUDA=1 O="$O" _gpucheck_ldlibs)
rm -f "$flags"
bench="$O/build/bench-kernels"
mkdir -p "$O/build"
if [ -f "$lib" ]; then
	# shellcheck disable=SC2086
	if ! logged cc $cflags -Itests tests/bench/kernels.c "$lib" $ldlibs -o "$bench"; then
		say "BENCHMARK BUILD FAILED"
		status=1
	fi
fi

stage "3. CUDA op tests (test_cuda_ops, CUDA vs CPU)"
cuda_summary="not run"
if [ -x "$O/build/tests/test_cuda_ops" ]; then
	timeout 600 "$O/build/tests/test_cuda_ops" >"$res/cuda_ops.txt" 2>&1
	rc=$?
	tee -a "$log" <"$res/cuda_ops.txt"
	np=$(grep -c '^PASS ' "$res/cuda_ops.txt")
	nf=$(grep -c '^FAIL ' "$res/cuda_ops.txt")
	ns=$(grep -c '^SKIP ' "$res/cuda_ops.txt")
	cuda_summary="$np passed, $nf failed, $ns skipped (exit $rc)"
	say "test_cuda_ops: $cuda_summary"
	if [ "$rc" -ne 0 ] || [ "$nf" -ne 0 ] || [ "$ns" -ne 0 ]; then status=1; fi
	if [ -z "${ASMNAME_TF32:-}" ] && [ "$ns" -eq 0 ]; then
		say "-- again with TF32 products (ASMNAME_TF32=1, tolerance 1e-3)"
		ASMNAME_TF32=1 timeout 600 "$O/build/tests/test_cuda_ops" >"$res/tf32.txt" 2>&1
		rc=$?
		grep -E '^(FAIL|SKIP)' "$res/tf32.txt" | tee -a "$log"
		say "TF32 run: $(grep -c '^PASS ' "$res/tf32.txt") passed, $(grep -c '^FAIL ' "$res/tf32.txt") failed (exit $rc)"
		[ "$rc" -ne 0 ] && status=1
	fi
else
	say "test_cuda_ops was not built"
	status=1
fi

stage "4. kernel benchmark (tests/bench/kernels.c)"
if [ -x "$bench" ]; then
	if [ "${QUICK:-0}" = 1 ]; then q=-q; else q=; fi
	# shellcheck disable=SC2086
	timeout 420 "$bench" $q >"$res/bench.txt" 2>&1
	rc=$?
	tee -a "$log" <"$res/bench.txt"
	[ "$rc" -ne 0 ] && { say "benchmark exit status $rc"; status=1; }
else
	say "no benchmark binary"
fi

{
	echo "## GPU check: $gpu ($(date -u '+%Y-%m-%d'), commit $(git rev-parse --short HEAD 2>/dev/null))"
	echo ""
	echo "Measured by scripts/gpu-check.sh (tests/bench/kernels.c), $NVCC_ARCH, $("$NVCC" --version | tail -n 1)."
	echo "CUDA op tests: $cuda_summary."
	echo ""
	[ -f "$res/bench.txt" ] && cat "$res/bench.txt"
} >"$res/results.md"

if [ "${SKIP_SUITE:-0}" != 1 ]; then
	stage "5. the whole test suite (tests/run.sh)"
	if ! O="$O" logged tests/run.sh; then status=1; fi
fi

# 6. The model benchmarks against PyTorch on the GPU (issues 5 and 6): only
# with MODEL_BENCH=1 (they take several minutes each) and where python3 has
# torch and transformers; their tables go to $res/models.txt.
if [ "${MODEL_BENCH:-0}" = 1 ]; then
	stage "6. model benchmarks on the GPU"
	if python3 -c 'import torch, transformers; assert torch.cuda.is_available()' 2>/dev/null; then
		for b in "env DEVICE=cuda DTYPE=bf16 BIN=$O/bin sh tests/bench/clap-embed.sh" \
			 "env BIN=$O/bin sh tests/bench/llm-decode-gpu.sh"; do
			say "--- $b"
			# shellcheck disable=SC2086
			timeout 1500 $b >"$res/.model" 2>&1
			rc=$?
			tee -a "$log" "$res/models.txt" <"$res/.model"
			[ "$rc" -ne 0 ] && { say "exit status $rc"; status=1; }
		done
	else
		say "skipped: python3 has no torch/transformers with CUDA here"
	fi
fi

stage "done: status $status"
say "results section: $res/results.md (append it to tests/bench/RESULTS.md)"
say "full log: $log"
exit "$status"
