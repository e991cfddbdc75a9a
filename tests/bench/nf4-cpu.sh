#!/bin/sh
# NF4 on the CPU: quantization and the NF4 linear against the fp32/bf16
# linears (tests/bench/nf4_cpu.c).  Run from the project root after a build
# (O= the build dir, as make).  Not part of `make test`.
set -eu
O=${O:-.}
flags=$(mktemp)
trap 'rm -f "$flags" "$O/build/bench-nf4-cpu"' EXIT
# shellcheck disable=SC2016  # make variables, not shell ones
printf '_f:\n\t@echo $(CFLAGS)\n_l:\n\t@echo $(LDLIBS)\n' >"$flags"
cflags=$(make -s --no-print-directory -f Makefile -f "$flags" O="$O" _f | sed 's/-MMD -MP//')
ldlibs=$(make -s --no-print-directory -f Makefile -f "$flags" O="$O" _l)
# shellcheck disable=SC2086
cc $cflags tests/bench/nf4_cpu.c "$O/build/libasmname.a" $ldlibs -o "$O/build/bench-nf4-cpu"
"$O/build/bench-nf4-cpu"
