# llm-decode end to end on the tiny Qwen2 of tests/gen/gen_llm.py: greedy
# names and log-probabilities equal transformers' (records carry want_pred /
# want_logp from the generator), in input order whatever the batch; beam and
# sampled candidates; templates; --embed; bad records; usage.
. "$(dirname "$0")/lib.sh"
LD="$BIN/llm-decode"
RD="$BIN/rec-dump"
G="$ROOT/tests/golden/llm"
M="$G/qwen2-tiny"
if ! command -v jq >/dev/null; then
	skip llm-decode "jq not installed"
	exit 0
fi
"$RD" -r "$G/cli-qwen2.jsonl" > "$T/in.mp"

# jcheck NAME JQ-EXPR-over-the-slurped-output ARGS...
jcheck() {
	n=$1; expr=$2; shift 2
	if "$LD" -m "$M" -d cpu "$@" > "$T/o.mp" 2> "$T/o.err" && "$RD" "$T/o.mp" | jq -s -e "$expr" >/dev/null 2>"$T/jq.err"; then
		pass "$n"
	else
		fail "$n" "$expr does not hold: $("$RD" "$T/o.mp" 2>/dev/null | jq -c '{id,pred,c:.cands[0]}' 2>/dev/null | head -c 600) $(head -c 300 "$T/o.err")"
	fi
}
same='length == 5 and ([.[].id] == ["t0","t1","t2","t3","t4"]) and all(.[]; .pred == .want_pred and ((.cands[0].logp - .want_logp) | fabs) < 1e-4 and .cands[0].name == .pred)'
jcheck greedy.f32.batch1 "$same" -q f32 -b 1 "$T/in.mp"
jcheck greedy.f32.batch3 "$same" -q f32 -b 3 "$T/in.mp"
jcheck greedy.f32.batch8 "$same" -q f32 -b 8 "$T/in.mp"
jcheck greedy.stdin "$same" -q f32 -b 2 - < "$T/in.mp"
# Llama: BOS after the prefix, ignore_merges tokenizer, two EOS ids, sharded bf16 weights
"$RD" -r "$G/cli-llama.jsonl" > "$T/llama.mp"
jcheck llama.greedy.batch3 "$same" -m "$G/llama-tiny" -q f32 -b 3 "$T/llama.mp"
jcheck llama.greedy.bf16 "$same" -m "$G/llama-tiny" -q bf16 -b 5 "$T/llama.mp"
jcheck greedy.fields.kept 'all(.[]; has("prefix") and has("prefix_shape") and has("want_pred"))' -q f32 "$T/in.mp"
# names are valid identifiers, candidates sorted, at most N
ident='all(.[]; .pred | test("^([A-Za-z_][A-Za-z0-9_]*)?$"))'
jcheck beam.valid "$ident"' and all(.[]; (.cands | length) <= 4 and (.cands | length) >= 1 and .cands[0].name == .pred and ([.cands[].name] | unique | length) == (.cands | length))' -q f32 -B 4 "$T/in.mp"
jcheck beam.order "$ident"' and all(.[]; [.cands[].logp] == ([.cands[].logp] | sort | reverse))' -q f32 -B 3 "$T/in.mp"
jcheck beam.nonempty 'all(.[]; .pred != "")' -q f32 -B 2 "$T/in.mp"
jcheck samples.valid "$ident"' and all(.[]; (.cands | length) >= 1 and (.cands | length) <= 6)' -q f32 -s 6 --seed 3 "$T/in.mp"
# the same names whatever the batch (log-probabilities may differ in the last bits)
names() { "$RD" | jq -c '[.id, .pred, [.cands[].name]]'; }
"$LD" -m "$M" -d cpu -q f32 -s 5 --seed 9 -b 1 "$T/in.mp" 2>/dev/null | names > "$T/s1.json"
"$LD" -m "$M" -d cpu -q f32 -s 5 --seed 9 -b 4 "$T/in.mp" 2>/dev/null | names > "$T/s4.json"
if [ -s "$T/s1.json" ] && cmp -s "$T/s1.json" "$T/s4.json"; then pass samples.same.any.batch; else fail samples.same.any.batch "batch 1 and 4 differ"; fi
"$LD" -m "$M" -d cpu -q f32 -s 5 --seed 10 -b 4 "$T/in.mp" 2>/dev/null | names > "$T/s10.json"
if [ -s "$T/s10.json" ] && ! cmp -s "$T/s1.json" "$T/s10.json"; then pass samples.seed.matters; else fail samples.seed.matters "seeds 9 and 10 agree"; fi
jcheck samples.lowtemp "$same" -q f32 -s 3 --temperature 0.0001 "$T/in.mp"
jcheck nf4 "$ident"' and length == 5' -q nf4 "$T/in.mp"
jcheck bf16.gzip 'length == 5' -q bf16 -z "$T/in.mp"

# a template of our own: without {callees}, the logp changes for records with callees
printf 'Name:' > "$T/tmpl"
jcheck template.file 'length == 5 and (.[1].want_pred == .[1].pred) and (.[3].want_pred == .[3].pred)' -q f32 -p "$T/tmpl" "$T/in.mp"
printf 'Calls {nope}\n' > "$T/bad.tmpl"
check_status template.bad 2 "$LD" -m "$M" -p "$T/bad.tmpl" "$T/in.mp"

# --embed: src_emb for records with src, others untouched
printf '{"id":"s1","src":"int main(void) { return parse_header(buf); }"}\n{"id":"n1"}\n' | "$RD" -r > "$T/src.mp"
jcheck embed '.[0].src_emb | length == 64' --embed -q f32 "$T/src.mp"
jcheck embed.passthrough '(.[1] | has("src_emb") | not) and .[1].id == "n1"' --embed -q f32 "$T/src.mp"

# bad records: reported with their place, passed through, exit 1, order kept
{
	head -n 2 "$G/cli-qwen2.jsonl"
	printf '{"id":"noprefix"}\n{"id":"badshape","prefix":[1,2,3],"prefix_shape":[1,3]}\n'
	printf '{"id":"short","prefix":[1,2,3],"prefix_shape":[1,64]}\n'
	tail -n 1 "$G/cli-qwen2.jsonl"
} | "$RD" -r > "$T/bad.mp" 2>/dev/null
check_status bad.exit 1 "$LD" -m "$M" -d cpu -q f32 "$T/bad.mp"
if grep -q 'record 3 (id noprefix): field "prefix" missing' "$T/.err" && grep -q 'id badshape' "$T/.err" \
   && grep -q 'id short' "$T/.err"; then pass bad.messages; else fail bad.messages "$(head -c 500 "$T/.err")"; fi
"$LD" -m "$M" -d cpu -q f32 -b 4 "$T/bad.mp" 2>/dev/null | "$RD" > "$T/bad.json"
if [ "$(jq -r .id "$T/bad.json" | tr '\n' ' ')" = "t0 t1 noprefix badshape short t4 " ] \
   && [ "$(jq -r '.pred // "-"' "$T/bad.json" | tr '\n' ' ')" = "$(jq -r '.want_pred // "-"' "$T/bad.json" | tr '\n' ' ')" ]; then
	pass bad.order.passthrough
else
	fail bad.order.passthrough "$(jq -c '{id,pred,want_pred}' "$T/bad.json" | tr '\n' ' ')"
fi

# usage and environment errors
check_status usage.nomodel 2 "$LD" "$T/in.mp"
check_status usage.quant 2 "$LD" -m "$M" -q int3 "$T/in.mp"
check_status usage.beam 2 "$LD" -m "$M" -B 0 "$T/in.mp"
check_status model.missing 1 "$LD" -m "$T/none" "$T/in.mp"
check_status lora.mismatch 1 "$LD" -m "$M" -l "$G/lora-llama" "$T/in.mp"
check lora.ok "$LD" -m "$M" -l "$G/lora-qwen2" -q f32 "$T/in.mp"
check help "$LD" -h
