# name-score: summary, JSON, per-function lines, trivial names, synonyms,
# retrieval, bad input, usage.  Expected numbers are worked out by hand in
# tests/unit/test_metrics.c (the same pairs).
. "$(dirname "$0")/lib.sh"
NS="$BIN/name-score"
RD="$BIN/rec-dump"
export ASMNAME_DATA="$ROOT/data"
cat > "$T/in.jsonl" <<'J'
{"id":"a","name":"get_config_value","pred":"getConfig","emb":[1,0.1],"src_emb":[1,0]}
{"id":"b","name":"open_file","pred":"close_file","emb":[1,0.5],"src_emb":[0,1]}
{"id":"c","name":"foo","pred":"","emb":[0,1],"src_emb":[-1,0]}
{"id":"d","name":"main","pred":"main"}
{"id":"e","name":"read_buffer","pred":"rd_buf"}
J
"$RD" -r "$T/in.jsonl" > "$T/in.mp"

# jq -e EXPR on the JSON report of name-score ARGS...
jcheck() {
	n=$1; expr=$2; shift 2
	if "$NS" -j "$@" > "$T/j.out" 2> "$T/j.err" && jq -e "$expr" "$T/j.out" >/dev/null; then
		pass "$n"
	else
		fail "$n" "$expr does not hold: $(tr -d '\n ' < "$T/j.out" | head -c 400) $(head -c 200 "$T/j.err")"
	fi
}
near='def near(a; b): ((a - b) | fabs) < 1e-5;'

# With main left out: a, b, c, e.  Words (plain): a tp2 fp0 fn1, b 1 1 1, c 0 0 1,
# e 0 2 2 -> micro P 3/6, R 3/8.  With synonyms e becomes 2 0 0 -> P 5/6, R 5/8.
# Macro F1 plain (.8+.5+0+0)/4 = .325, with synonyms (.8+.5+0+1)/4 = .575.
jcheck json.counts '.records == 5 and .skipped.trivial == 1 and .names.n == 4' -t "$T/in.mp"
jcheck json.micro "$near"' near(.names.word.micro.p; 0.5) and near(.names.word.micro.r; 0.375) and .names.word.micro.tp == 3' -t "$T/in.mp"
jcheck json.syn "$near"' near(.names.word_syn.micro.p; 5/6) and near(.names.word_syn.micro.r; 0.625) and near(.names.word_syn.macro.f1; 0.575)' -t "$T/in.mp"
jcheck json.macro "$near"' near(.names.word.macro.f1; 0.325) and near(.names.prefix; 0.25) and .names.exact == 0' -t "$T/in.mp"
# char F1: a 18/23, b 12/17, c 0, e ("readbuffer" vs "rdbuf": P 1, R 1/2) 2/3.
jcheck json.char "$near"' near(.names.char.f1; (18/23 + 12/17 + 0 + 2/3) / 4)' -t "$T/in.mp"
# Ranks 1, 2, 3 (see test_metrics): MRR 11/18, R@1 1/3, R@5 1.
jcheck json.retrieval "$near"' near(.retrieval.mrr; 11/18) and near(.retrieval.recall["1"]; 1/3) and .retrieval.recall["5"] == 1 and .retrieval.n == 3' "$T/in.mp"
# main kept: exact 1/5.
jcheck json.trivial.kept "$near"' near(.names.exact; 0.2) and .names.n == 5' "$T/in.mp"
jcheck json.nosyn '.names.word_syn == null and .synonyms == null' -S "$T/in.mp"

# The human table names every metric.
"$NS" "$T/in.mp" > "$T/table" 2>&1
if grep -q '^exact ' "$T/table" && grep -q '^words+synonyms macro' "$T/table" && grep -q '^MRR  *0.6111' "$T/table"; then
	pass table
else
	fail table "$(cat "$T/table")"
fi

# Per-function: header + one line per scored function, in input order, with ranks.
"$NS" -p "$T/in.mp" > "$T/per" 2> "$T/per.err"
if [ "$(wc -l < "$T/per")" -eq 6 ] && sed -n 2p "$T/per" | grep -q '^a	get_config_value	getConfig	0	0	1	0.7826	1.0000	0.6667	0.8000	0.8000	1$' \
   && sed -n 6p "$T/per" | grep -q '^e	read_buffer	rd_buf	.*	1.0000	-$'; then
	pass per-function
else
	fail per-function "$(cat "$T/per" "$T/per.err")"
fi
n=$("$NS" -p -j -t "$T/in.mp" | jq -s 'map(select(.rank != null)) | length')
[ "$n" = 3 ] && pass per-function.json || fail per-function.json "got $n lines with ranks"

# Stdin, several operands, gzip input.
"$RD" -r -z "$T/in.jsonl" > "$T/in.mp.gz"
jcheck operands '.records == 10 and .retrieval.n == 6' "$T/in.mp.gz" - < "$T/in.mp"

# Same source text: the two pairs are one group and do not compete (b's rank 2 -> 1).
jq -c 'if .id == "a" or .id == "b" then . + {src: "int f(void){}"} else . end' "$T/in.jsonl" | "$RD" -r > "$T/grp.mp"
jcheck groups "$near"' near(.retrieval.mrr; (1 + 1 + 1/3) / 3)' "$T/grp.mp"

# --by opt: a and b are O0, the rest O2 (no opt: "-").  O0: word tp 3 fp 1 fn 2
# -> micro F1 2(3/4)(3/5)/(27/20) = 2/3; ranks 1 and 2 -> MRR 3/4.
jq -c 'if .id == "a" or .id == "b" then . + {opt: "O0"} else . end' "$T/in.jsonl" | "$RD" -r > "$T/by.mp"
jcheck by "$near"' .by.field == "opt" and (.by.groups | map(.key)) == ["-", "O0"] and near(.by.groups[1].word_micro_f1; 2/3) and near(.by.groups[1].mrr; 0.75) and .by.groups[0].n == 3 and near(.by.groups[0].mrr; 1/3)' -b opt "$T/by.mp"
"$NS" -b opt "$T/by.mp" > "$T/by.txt"
grep -q '^   O0  *2  *0.0000  *0.0000  *0.5000 .* 0.7500  *0.5000$' "$T/by.txt" && pass by.table || fail by.table "$(cat "$T/by.txt")"

# No table anywhere: a warning, the plain metrics, exit 0.
ASMNAME_DATA="$T/none" "$NS" -j "$T/in.mp" > "$T/nt.out" 2> "$T/nt.err"; rc=$?
if [ $rc -eq 0 ] && grep -q 'no synonym table' "$T/nt.err" && jq -e '.names.word_syn == null' "$T/nt.out" >/dev/null; then
	pass no-table
else
	fail no-table "rc=$rc $(cat "$T/nt.err")"
fi
# An explicit table that is not there, or is malformed, is a usage error.
check_status syn.missing 2 "$NS" -s "$T/nope.tsv" "$T/in.mp"
printf 'buffer buf\nbuf buffr\n' > "$T/dup.tsv"
check_status syn.dup 2 "$NS" -s "$T/dup.tsv" "$T/in.mp"
grep -q 'line 2' "$T/.err" && pass syn.dup.msg || fail syn.dup.msg "$(cat "$T/.err")"
printf 'close\topen\n' > "$T/anti.tsv"
jcheck syn.custom '.names.word_syn.micro.tp == .names.word.micro.tp + 1' -s "$T/anti.tsv" "$T/in.mp"

# Only embeddings, no names: retrieval only.
jq -c 'del(.name, .pred)' "$T/in.jsonl" | "$RD" -r > "$T/emb.mp"
jcheck emb-only '.names == null and .retrieval.n == 3 and .skipped.no_name == 5' "$T/emb.mp"

# Bad records are named, skipped, and make the exit status 1.
printf '{"id":"x1","name":"a","pred":"a"}\n{"id":"x2","name":"b","pred":7}\n{"id":"x3","name":"c","pred":"c","emb":[1,2],"src_emb":[1,2,3]}\n{"id":"x4","name":"d","pred":"d","emb":[1,"a"]}\n' > "$T/bad.jsonl"
"$RD" -r "$T/bad.jsonl" > "$T/bad.mp" 2>/dev/null
"$NS" -j "$T/bad.mp" > "$T/bad.out" 2> "$T/bad.err"; rc=$?
if [ $rc -eq 1 ] && grep -q 'record 2 (id x2).*"pred"' "$T/bad.err" && grep -q 'record 3 (id x3)' "$T/bad.err" \
   && jq -e '.skipped.bad == 2 and .names.n == 2' "$T/bad.out" >/dev/null; then
	pass bad-records
else
	fail bad-records "rc=$rc $(cat "$T/bad.err" "$T/bad.out")"
fi
printf '\301\301' > "$T/junk"
check_status junk 1 "$NS" "$T/junk"
check_status missing 1 "$NS" "$T/does-not-exist"
check_status usage 2 "$NS" --no-such-option
check help "$NS" -h
grep -q -- '--per-function' "$T/.out" && pass help.text || fail help.text "no option list"
# A reader that goes away is not an error.
check_status pipe 0 sh -c "\"$NS\" -p \"$T/in.mp\" | head -1 >/dev/null"
