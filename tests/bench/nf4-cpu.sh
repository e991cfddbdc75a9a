#!/bin/sh
# NF4 on the CPU (tests/bench/nf4_cpu.c): quantization and the NF4 linear,
# against the fp32/bf16 linears of ops.h and against bitsandbytes' CPU path
# (tests/bench/nf4_cpu_peer.py, same shape, same thread count) when Python
# has bitsandbytes.  Run from the project root after a build (O= as make).
# Not part of `make test`.
set -eu
O=${O:-.}
flags=$(mktemp)
out=$(mktemp)
trap 'rm -f "$flags" "$out" "$O/build/bench-nf4-cpu"' EXIT
# shellcheck disable=SC2016  # make variables, not shell ones
printf '_f:\n\t@echo $(CFLAGS)\n_l:\n\t@echo $(LDLIBS)\n' >"$flags"
cflags=$(make -s --no-print-directory -f Makefile -f "$flags" O="$O" _f | sed 's/-MMD -MP//')
ldlibs=$(make -s --no-print-directory -f Makefile -f "$flags" O="$O" _l)
# shellcheck disable=SC2086
cc $cflags tests/bench/nf4_cpu.c "$O/build/libasmname.a" $ldlibs -o "$O/build/bench-nf4-cpu"
threads=${OMP_NUM_THREADS:-$(nproc)}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
OMP_NUM_THREADS=$threads "$O/build/bench-nf4-cpu" | tee "$out" | grep -v '^ours '
if python3 -c 'import bitsandbytes' 2>/dev/null; then
	python3 tests/bench/nf4_cpu_peer.py "$threads" 2>/dev/null >>"$out"
	echo ""
	grep '^version' "$out"
	echo "| op | ours (s) | bitsandbytes CPU (s) | bitsandbytes / ours |"
	echo "|---|---|---|---|"
	awk '$1 == "ours" { o[$2] = $3 } $1 != "ours" && $1 != "version" && NF == 2 { p[$1] = $2 }
	     END { split("quantize quantize_dq matvec prefill", k, " ");
	           for (i = 1; i <= 4; i++) if (k[i] in o && k[i] in p)
	               printf "| %s | %.4f | %.4f | %.1fx |\n", k[i], o[k[i]], p[k[i]], p[k[i]] / o[k[i]] }' "$out"
else
	echo "(no bitsandbytes in python3: peer comparison skipped)"
fi
