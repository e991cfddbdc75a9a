#!/bin/bash
# data-stats.sh FILE...: statistics of record files (one block per file):
# records, distinct names, packages, records per optimization level, records
# with source text, and the length distribution of each function in tokens
# (the tok field, when asm-tok has run) or else in instructions.
set -eu -o pipefail
BIN=${BIN:?}
for f in "$@"; do
	"$BIN/rec-dump" "$f" | jq -r '[.name // "", .pkg // "-", .opt // "-",
		(if .tok then (.tok | length) else (.asm | length) end),
		(if .tok then "tokens" else "instructions" end), (if .src then 1 else 0 end)] | @tsv' |
	LC_ALL=C sort -t '	' -k4,4n |
	awk -F'\t' -v file="$(basename "$f")" '
	{ n++; names[$1]; pkgs[$2]; opt[$3]++; len[n] = $4; unit = $5; src += $6; sum += $4 }
	function pct(p) { i = int(p * n + 0.5); if (i < 1) i = 1; if (i > n) i = n; return len[i] }
	END {
		printf "%s\n", file
		printf "  records           %d\n", n
		if (!n) { print ""; exit }
		d = 0; for (k in names) d++; printf "  distinct names    %d\n", d
		p = 0; for (k in pkgs) p++; printf "  packages          %d\n", p
		printf "  with source       %d\n", src
		printf "  per opt level    "; for (k in opt) printf " %s:%d", k, opt[k]; printf "\n"
		printf "  length in %s: min %d p10 %d p50 %d p90 %d p99 %d max %d mean %.1f\n",
			unit, len[1], pct(0.1), pct(0.5), pct(0.9), pct(0.99), len[n], sum / n
		print ""
	}'
done
