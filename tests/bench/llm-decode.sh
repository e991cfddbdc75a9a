#!/bin/sh
# llm-decode on the CPU against PyTorch + transformers `generate` in the same
# run: the same random-weight Qwen2 models (the tiny test model, and a
# "small" one: d 512, 8 layers, vocab 8192, ~26M parameters), the same
# records (8 prefix rows + the default prompt), greedy, exactly NEW tokens a
# record (--no-stop / min_new_tokens), fp32 on both sides, the same thread
# count; batch 1 and batch 8 (left-padded on both sides).  Prints generated
# tokens per CPU second (user+sys of all threads, decoding only: model load
# and tokenization excluded on both sides, so that other load on a shared
# machine does not count) of each side and the ratio (ours / transformers),
# best of 2 runs each; wall-clock tokens/s too.  Our NF4 path is shown as
# well (no CPU peer for it).
#   tests/bench/llm-decode.sh [-a]       -a: append the table to RESULTS.md
# Environment: THREADS (default 1), NEW (32), RECORDS (16).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
B=${BIN:-$root/bin}
append=0
[ "${1:-}" = -a ] && append=1
J=${THREADS:-1}
NEW=${NEW:-32}
NREC=${RECORDS:-16}
PEER="python3 $root/tests/bench/llm_decode_peer.py"
for p in llm-decode rec-dump; do
	[ -x "$B/$p" ] || { echo "bench: $B/$p not built (make all)" >&2; exit 1; }
done
python3 -c "import torch, transformers" 2>/dev/null || { echo "bench: needs python3 with torch and transformers" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

ours() {  # model recs.mp batch quant -> "tokens/cpu-s tokens/wall-s" (best of 2)
	best=""
	for i in 1 2; do
		"$B/llm-decode" -m "$1" -d cpu -q "$4" -j "$J" -b "$3" --no-stop -n "$NEW" -v "$2" \
			>/dev/null 2>"$T/err" || { cat "$T/err" >&2; exit 1; }
		l=$(grep 'tokens generated' "$T/err")
		tok=$(echo "$l" | sed -n 's/.* \([0-9]*\) tokens generated.*/\1/p')
		sec=$(echo "$l" | sed -n 's/.*generated, \([0-9.]*\) s,.*/\1/p')
		cpu=$(echo "$l" | sed -n 's/.*cpu \([0-9.]*\) s.*/\1/p')
		best=$(echo "$tok $cpu $sec ${best:-0 0}" | awk '{ c = $1 / $2; w = $1 / $3; if ($4 > c) c = $4; if ($5 > w) w = $5; printf "%.1f %.1f", c, w }')
	done
	echo "$best"
}

peer() {  # model recs.jsonl batch -> "tokens/cpu-s tokens/wall-s"
	OMP_NUM_THREADS=$J $PEER gen "$1" "$2" --new "$NEW" --batch "$3" --threads "$J" --repeat 2 2>/dev/null \
		| awk '/^tokens/ { printf "%.1f %.1f", $2 / $8, $2 / $4 }'
}

rows=""
for size in tiny small; do
	if [ $size = tiny ]; then M=$root/tests/golden/llm/qwen2-tiny; d=64
	else M=$T/small; d=512; $PEER make "$M" --size small --dtype f32 2>/dev/null || exit 1
	fi
	n=$NREC
	[ $size = tiny ] && n=$((NREC * 8))    # enough work for the CPU clock's resolution
	$PEER records "$T/r.jsonl" --n "$n" --d $d --p 8
	"$B/rec-dump" -r "$T/r.jsonl" > "$T/r.mp"
	for b in 1 8; do
		set -- $(ours "$M" "$T/r.mp" $b f32); o=$1; ow=$2
		set -- $(ours "$M" "$T/r.mp" $b nf4); n=$1
		set -- $(peer "$M" "$T/r.jsonl" $b); h=${1:-0}; hw=${2:-0}
		ratio=$(echo "$o $h" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "?" }')
		row="| $size | $b | $o | $n | $h | **${ratio}x** | $ow / $hw |"
		echo "$row"
		rows="$rows$row
"
	done
done
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
tv=$(python3 -c "import torch, transformers; print(f'torch {torch.__version__}, transformers {transformers.__version__}')")
table="## llm-decode: CPU decode against transformers generate (tests/bench/llm-decode.sh)

Greedy, $NEW new tokens for each of $NREC records ($((NREC * 8)) for tiny; 8 prefix rows + the default prompt), fp32
on both sides, $J thread(s), $cpu, $(date -u +%Y-%m-%d), load average $(cut -d' ' -f1 /proc/loadavg)
at the end, $tv. Generated tokens per CPU second (all threads; prefill included, model load
excluded), best of 2; wall-clock tokens/s in the last column (noisy on a shared machine).
\"ours nf4\": our NF4 base weights (no CPU peer).

| model | batch | ours f32 tok/cpu-s | ours nf4 tok/cpu-s | transformers f32 tok/cpu-s | ours / transformers | wall tok/s ours / transformers |
|---|---|---|---|---|---|---|
$rows"
if [ $append = 1 ]; then printf '\n%s' "$table" >> "$root/tests/bench/RESULTS.md"; else printf '%s' "$table"; fi
