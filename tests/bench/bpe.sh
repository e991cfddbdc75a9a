#!/bin/sh
# Byte-level BPE encoding speed: common/bpe.c (through llm-tok -T) against
# HuggingFace tokenizers (Rust, via Python) on the same text, in the same run.
# Text: C headers from /usr/include (BPE_BENCH_BYTES, default 4 MB).
# Three measures per tokenizer (Llama-3.2 tokenizer.json; Qwen2.5 from
# vocab.json + merges.txt): the whole text as one string; one string a line,
# HF's encode_batch on 1 thread vs ours on 1 thread; and HF's encode_batch on
# all threads.  Only encoding time counts (no loading, no I/O).  The whole
# text's ids must be identical.  Needs ../shared and python3 with tokenizers.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
O=${O:-$root}
BIN=${BIN:-$O/bin}
SHARED=${ASMNAME_SHARED:-$root/../shared}
BYTES=${BPE_BENCH_BYTES:-4000000}
[ -x "$BIN/llm-tok" ] || { echo "bpe.sh: build first (make O=$O)"; exit 1; }
[ -d "$SHARED/vendor" ] || { echo "bpe.sh: $SHARED/vendor not found"; exit 1; }
python3 -c 'import tokenizers' 2>/dev/null || { echo "bpe.sh: python3 tokenizers missing"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# valid UTF-8 only (a stray Latin-1 byte is kept as a byte by us, replaced by U+FFFD by Python)
find /usr/include -name '*.h' -type f 2>/dev/null | sort | xargs cat 2>/dev/null | head -c "$BYTES" |
	python3 -c 'import sys; sys.stdout.buffer.write(sys.stdin.buffer.read().decode("utf-8", "replace").encode())' > "$T/corpus.txt"
echo "machine: $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "text: $(wc -c < "$T/corpus.txt") bytes of /usr/include/*.h, $(wc -l < "$T/corpus.txt") lines"
rate() { awk -v t="$1" -v s="$2" 'BEGIN { printf "%.0f", t / s }'; }
for which in llama qwen; do
	if [ $which = llama ]; then tok="$SHARED/vendor/llama-3.2-3b-instruct/tokenizer.json"; extra=""
	else tok="$SHARED/vendor/qwen2.5-coder-3b/"; extra="-A <|im_start|>"; fi
	# ours: best of 3 runs each
	best_w=""; best_l=""
	for i in 1 2 3; do
		"$BIN/llm-tok" -t "$tok" $extra -W -T "$T/corpus.txt" > "$T/ours.ids" 2> "$T/w.err"
		s=$(sed -n 's/.* in \([0-9.]*\) s:.*/\1/p' "$T/w.err"); n=$(sed -n 's/.*into \([0-9]*\) tokens.*/\1/p' "$T/w.err")
		[ -z "$best_w" ] || [ "$(awk -v a="$s" -v b="$best_w" 'BEGIN{print (a<b)}')" = 1 ] && best_w=$s && n_w=$n
		"$BIN/llm-tok" -t "$tok" $extra -T -c "$T/corpus.txt" > /dev/null 2> "$T/l.err"
		s=$(sed -n 's/.* in \([0-9.]*\) s:.*/\1/p' "$T/l.err"); n=$(sed -n 's/.*into \([0-9]*\) tokens.*/\1/p' "$T/l.err")
		[ -z "$best_l" ] || [ "$(awk -v a="$s" -v b="$best_l" 'BEGIN{print (a<b)}')" = 1 ] && best_l=$s && n_l=$n
	done
	python3 "$root/tests/bench/bpe_peer.py" "$tok" "$T/corpus.txt" "$T/hf.ids" $which "$SHARED" > "$T/hf.out" || { echo "peer failed"; exit 1; }
	hw=$(awk '$1=="whole"{print $2}' "$T/hf.out"); hn=$(awk '$1=="whole"{print $3}' "$T/hf.out")
	h1=$(awk '$1=="lines1"{print $2}' "$T/hf.out"); h1n=$(awk '$1=="lines1"{print $3}' "$T/hf.out")
	hN=$(awk '$1=="linesN"{print $2}' "$T/hf.out")
	if cmp -s "$T/ours.ids" "$T/hf.ids"; then same="identical ids"; else same="IDS DIFFER"; fi
	echo "$which: whole text: ours $(rate "$n_w" "$best_w") tok/s, HF $(rate "$hn" "$hw") tok/s," \
		"ratio $(awk -v a="$hw" -v b="$best_w" 'BEGIN{printf "%.2f", a/b}')x ($n_w tokens, $same)"
	echo "$which: per line, 1 thread: ours $(rate "$n_l" "$best_l") tok/s, HF encode_batch $(rate "$h1n" "$h1") tok/s," \
		"ratio $(awk -v a="$h1" -v b="$best_l" 'BEGIN{printf "%.2f", a/b}')x ($n_l vs $h1n tokens)"
	echo "$which: per line, HF encode_batch on $(nproc) threads: $(rate "$h1n" "$hN") tok/s;" \
		"ours on 1 thread is $(awk -v a="$hN" -v b="$best_l" 'BEGIN{printf "%.2f", a/b}')x that"
done
