#!/bin/bash
# data-triples.sh: compile one unpacked source package at one optimization
# level and make (src, asm, name) records of its functions.
#   data-triples.sh SRCDIR OPT OUT.msgpack
# SRCDIR is data-fetch.sh's output (SRCDIR/tree, SRCDIR/source).  Every .c
# file is compiled on its own with gcc -$OPT -g -c, with every directory of
# the tree that holds headers on the include path (see below); files that do not build
# that way are skipped and counted.  Each object goes through asm-extract
# and data-clean, which attaches the function's source text from a ctags
# index of the tree (only definitions in that object's own .c file).
# Writes OUT.msgpack, OUT.report (counts) and OUT.log (compiler errors);
# everything through OUT.tmp files, renamed at the end.
# Environment: BIN (programs), CC (gcc), TRIPLE_CFLAGS (extra flags),
# MIN_INSNS, COMPILE_TIMEOUT (seconds a file, default 120).
set -eu -o pipefail
src=$1; opt=$2; out=$3
BIN=${BIN:?}; CC=${CC:-gcc}; MIN_INSNS=${MIN_INSNS:-5}; COMPILE_TIMEOUT=${COMPILE_TIMEOUT:-120}
tree=$src/tree
pkg=$(cat "$src/source")
work=$out.work
rm -rf "$work" "$out.tmp"; mkdir -p "$work/obj"
# ctags index, paths relative to the tree
(cd "$tree" && ctags -f "$work/tags" --languages=C --kinds-C=f --fields=+ne --excmd=number -R . 2>/dev/null) || : > "$work/tags"
hdirs=$(cd "$tree" && find . -name '*.h' -printf '%h\n' | LC_ALL=C sort -u | sed "s|^\.|$tree|")
# First with the tree's header directories for #include "..." only, so that
# a header of the tree named like a system one (stddef.h, config.h of a
# test) cannot shadow <...>; then, if that fails, for <...> too.
quote=$(for d in $hdirs; do printf -- '-iquote %s ' "$d"; done)
incs=$(for d in $hdirs; do printf -- '-I%s ' "$d"; done)
files=0; built=0; failed=0
: > "$out.tmp"; : > "$work/log"
while IFS= read -r f; do
	files=$((files + 1))
	rel=${f#./}
	o="$work/obj/$(echo "$rel" | tr '/' '@').o"
	if (cd "$tree" && { timeout "$COMPILE_TIMEOUT" "$CC" -"$opt" -g -c -w ${TRIPLE_CFLAGS:-} $quote "$rel" -o "$o" 2>/dev/null ||
	    timeout "$COMPILE_TIMEOUT" "$CC" -"$opt" -g -c -w ${TRIPLE_CFLAGS:-} $incs "$rel" -o "$o"; }) >>"$work/log" 2>&1; then
		built=$((built + 1))
		"$BIN/asm-extract" "$o" | "$BIN/data-clean" --pkg "$pkg" --opt "$opt" --min-insns "$MIN_INSNS" \
			--ctags "$work/tags" --src-root "$tree" --src-file "$rel" --report "$work/r" >> "$out.tmp"
		cat "$work/r" >> "$work/reports"
	else
		failed=$((failed + 1))
		echo "FAILED $rel" >> "$work/log"
	fi
done < <(cd "$tree" && find . -name '*.c' -type f | LC_ALL=C sort)
{
	printf 'files\t%d\nfiles_built\t%d\nfiles_failed\t%d\n' "$files" "$built" "$failed"
	[ -f "$work/reports" ] && awk -F'\t' '{n[$1] += $2; if (!($1 in o)) { o[$1] = ++k; key[k] = $1 } }
		END { for (i = 1; i <= k; i++) printf "%s\t%d\n", key[i], n[key[i]] }' "$work/reports"
} > "$out.report.tmp"
mv "$work/log" "$out.log"
rm -rf "$work"
mv "$out.report.tmp" "$out.report"
mv "$out.tmp" "$out"
