#!/bin/sh
# llm-decode on an NVIDIA GPU (H100/H200) with a random-weight model of the
# real Qwen2.5-Coder-3B size (36 layers, d 2048, 16/2 heads, ff 11008, vocab
# 151936, bf16 checkpoint), against transformers `generate` in the same run:
#   1. batch-1 decode: generated tokens/s (greedy, exactly NEW tokens a
#      record: --no-stop / min_new_tokens), ours NF4 and bf16, transformers
#      bf16 (and NF4 through bitsandbytes when it is installed);
#   2. batched naming: records (functions) per second at batch BATCH, same
#      fixed token count, ours NF4 vs transformers bf16;
#   3. batch-1 decode against the memory-bandwidth bound: weight bytes read
#      per token (llm-decode -v reports the device bytes of the weights) /
#      the measured device-to-device copy bandwidth.
# Goals (issue 6): >= 5x transformers' throughput, batch-1 decode >= 60 % of
# the bandwidth bound.  Needs a CUDA build (make CUDA=1), python3 with torch
# and transformers, ~7 GB of disk for the checkpoint.
#   tests/bench/llm-decode-gpu.sh [-a]      -a: append the table to RESULTS.md
# Environment: NEW (128), RECORDS (64), BATCH (32), MODEL (reuse a made model dir).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
B=${BIN:-$root/bin}
append=0
[ "${1:-}" = -a ] && append=1
NEW=${NEW:-128}
NREC=${RECORDS:-64}
BATCH=${BATCH:-32}
PEER="python3 $root/tests/bench/llm_decode_peer.py"
[ -x "$B/llm-decode" ] && [ -x "$B/rec-dump" ] || { echo "bench: build first (make CUDA=1 all)" >&2; exit 1; }
python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null || { echo "bench: no CUDA GPU for torch" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
M=${MODEL:-$T/qwen3b}
if [ ! -f "$M/model.safetensors" ]; then
	$PEER make "$M" --size qwen3b --dtype bf16 --device cuda || exit 1
fi
$PEER records "$T/r.jsonl" --n "$NREC" --d 2048 --p 32
head -n 4 "$T/r.jsonl" > "$T/r4.jsonl"
"$B/rec-dump" -r "$T/r.jsonl" > "$T/r.mp"
"$B/rec-dump" -r "$T/r4.jsonl" > "$T/r4.mp"

ours() {  # recs.mp batch quant [extra] -> "tok/s rec/s weight_MiB" (best of 2)
	best=""
	for i in 1 2; do
		"$B/llm-decode" -m "$M" -d cuda -q "$3" -b "$2" --no-stop -n "$NEW" -v "$1" \
			>/dev/null 2>"$T/err" || { cat "$T/err" >&2; return 1; }
		l=$(grep 'tokens generated' "$T/err")
		mib=$(sed -n 's/.*, \([0-9.]*\) MiB of weights.*/\1/p' "$T/err" | head -1)
		tok=$(echo "$l" | sed -n 's/.* \([0-9]*\) tokens generated.*/\1/p')
		rec=$(echo "$l" | sed -n 's/.*, \([0-9]*\) named,.*/\1/p')
		sec=$(echo "$l" | sed -n 's/.*generated, \([0-9.]*\) s.*/\1/p')
		best=$(echo "$tok $rec $sec $mib ${best:-0 0}" | awk '{ t = $1 / $3; r = $2 / $3; if ($5 > t) { t = $5; r = $6 } printf "%.1f %.2f %s", t, r, $4 }')
	done
	echo "$best"
}
peer() {  # recs.jsonl batch [--quant nf4] -> "tok/s rec/s"
	f=$1; b=$2; shift 2
	$PEER gen "$M" "$f" --new "$NEW" --batch "$b" --dtype bf16 --device cuda --repeat 2 "$@" 2>"$T/perr" \
		| awk '/^tokens/ { printf "%.1f %.2f", $2 / $4, $6 / $4 }'
}
bw=$($PEER bandwidth --gib 4 | awk '{ print $2 }')
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)

set -- $(ours "$T/r4.mp" 1 nf4); o1n=${1:-0}; mibn=${3:-0}
set -- $(ours "$T/r4.mp" 1 bf16); o1b=${1:-0}; mibb=${3:-0}
set -- $(peer "$T/r4.jsonl" 1); h1=${1:-0}
h1n="-"
if python3 -c "import bitsandbytes" 2>/dev/null; then set -- $(peer "$T/r4.jsonl" 1 --quant nf4); h1n=${1:-0}; fi
set -- $(ours "$T/r.mp" "$BATCH" nf4); obt=${1:-0}; obr=${2:-0}
set -- $(peer "$T/r.jsonl" "$BATCH"); hbt=${1:-0}; hbr=${2:-0}

r() { echo "$1 $2" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "?" }'; }
# bound: weight bytes read per token at the measured bandwidth
boundn=$(echo "$bw $mibn" | awk '{ printf "%.0f", $1 / ($2 * 1048576) }')
boundb=$(echo "$bw $mibb" | awk '{ printf "%.0f", $1 / ($2 * 1048576) }')
table="## llm-decode: GPU, Qwen2.5-Coder-3B-size random model (tests/bench/llm-decode-gpu.sh)

$gpu, $(date -u +%Y-%m-%d). Greedy, $NEW generated tokens a record, 32 prefix rows + the
default prompt; transformers generate in bf16 (sdpa). Measured copy bandwidth
$(echo "$bw" | awk '{ printf "%.0f GB/s", $1 / 1e9 }').

| measure | ours | transformers | ours / transformers |
|---|---|---|---|
| batch 1 decode, NF4 (tok/s) | $o1n | $h1n (bnb NF4) | $(r "$o1n" "$h1n") |
| batch 1 decode, bf16 (tok/s) | $o1b | $h1 | $(r "$o1b" "$h1") |
| ours NF4 vs transformers bf16, batch 1 (tok/s) | $o1n | $h1 | $(r "$o1n" "$h1") |
| batch $BATCH naming, NF4 vs bf16 (records/s) | $obr | $hbr | $(r "$obr" "$hbr") |
| batch $BATCH tokens/s | $obt | $hbt | $(r "$obt" "$hbt") |

| batch-1 decode vs bandwidth bound | weights read a token | bound tok/s | measured | share |
|---|---|---|---|---|
| NF4 | $mibn MiB | $boundn | $o1n | $(r "$o1n" "$boundn") |
| bf16 | $mibb MiB | $boundb | $o1b | $(r "$o1b" "$boundb") |
"
if [ $append = 1 ]; then printf '\n%s' "$table" >> "$root/tests/bench/RESULTS.md"; else printf '%s' "$table"; fi
