#!/bin/sh
# clap-embed against PyTorch running the same model on the same inputs, in
# the same run: functions per second, and the ratio.
#
#   tests/bench/clap-embed.sh                 # CPU, all cores
#   THREADS=8 N=128 tests/bench/clap-embed.sh
#   DEVICE=cuda DTYPE=bf16 N=2048 BATCH=64 tests/bench/clap-embed.sh
#
# The model is a full-size CLAP-ASM (12 layers x 768, vocab 33555) with
# random weights, made once by tests/bench/clap_peer.py under $DIR (not in
# the repository); the N functions have long-tailed lengths (median about
# 120 tokens, some of 1024).  Both sides batch BATCH functions sorted by
# length (PyTorch padded to the longest of each batch, as the reference
# tokenizer pads); PyTorch also runs once in plain input order.  Each side
# runs REPS times, alternating, and the best time counts (the machine may
# be shared).  clap-embed's time is its own report (-v), from after the
# model is loaded to the last record; PyTorch's excludes loading and one
# warm-up batch.  The embeddings of both are compared as a sanity check.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
O=${O:-$root}
BIN=${BIN:-$O/bin}
DIR=${DIR:-/tmp/asmname-bench-clap}
N=${N:-32}
THREADS=${THREADS:-$(nproc)}
BATCH=${BATCH:-16}
REPS=${REPS:-2}
DEVICE=${DEVICE:-cpu}
DTYPE=${DTYPE:-fp32}
PEER="python3 $root/tests/bench/clap_peer.py"

[ -x "$BIN/clap-embed" ] || { echo "build first: make (clap-embed not in $BIN)"; exit 1; }
if [ ! -f "$DIR/model/model.safetensors" ] || [ "$(cat "$DIR/n" 2>/dev/null)" != "$N" ]; then
	echo "making a full-size random model and $N functions in $DIR ..."
	$PEER make "$DIR" --n "$N" >/dev/null
	echo "$N" >"$DIR/n"
fi
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "model: 12 layers x 768, $N functions ($(cat "$DIR/n") made), batch $BATCH, $THREADS threads, device $DEVICE, $DTYPE"

best_c=""; best_p=""
r=0
while [ "$r" -lt "$REPS" ]; do
	r=$((r + 1))
	p=$($PEER run "$DIR" --threads "$THREADS" --batch "$BATCH" --order sorted --device "$DEVICE" \
		--dtype "$DTYPE" | sed -n 's/.* seconds \([0-9.]*\) .*/\1/p')
	"$BIN/clap-embed" -v -m "$DIR/model" -t "$THREADS" -b "$BATCH" -d "$DEVICE" --dtype "$DTYPE" \
		"$DIR/inputs.msgpack" >"$DIR/c.msgpack" 2>"$DIR/c.err"
	c=$(sed -n 's/.* functions in \([0-9.]*\) s.*/\1/p' "$DIR/c.err" | tail -1)
	echo "run $r: pytorch ${p}s, clap-embed ${c}s"
	best_p=$(echo "$p $best_p" | awk '{ print ($2 == "" || $1 < $2) ? $1 : $2 }')
	best_c=$(echo "$c $best_c" | awk '{ print ($2 == "" || $1 < $2) ? $1 : $2 }')
done
pi=$($PEER run "$DIR" --threads "$THREADS" --batch "$BATCH" --order input --device "$DEVICE" \
	--dtype "$DTYPE" | sed -n 's/.* seconds \([0-9.]*\) .*/\1/p')

# sanity: the two sides computed the same embeddings
"$BIN/rec-dump" "$DIR/c.msgpack" | python3 -c '
import json, sys, numpy as np
c = np.array([json.loads(l)["emb"] for l in sys.stdin], np.float32)
p = np.load(sys.argv[1])
err = np.linalg.norm(c - p, axis=1) / np.linalg.norm(p, axis=1)
print("max relative difference of the embeddings (clap-embed vs PyTorch): %.2e" % err.max())
' "$DIR/peer_emb.npy"

awk -v n="$N" -v c="$best_c" -v p="$best_p" -v pi="$pi" 'BEGIN {
	printf "pytorch (length-sorted batches): %.3f functions/s\n", n / p
	printf "pytorch (input order):           %.3f functions/s\n", n / pi
	printf "clap-embed:                      %.3f functions/s\n", n / c
	printf "ratio clap-embed / pytorch sorted: %.2fx\n", p / c
	printf "ratio clap-embed / pytorch input order: %.2fx\n", pi / c
}'
