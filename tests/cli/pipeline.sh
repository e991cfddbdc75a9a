# The whole pipeline on a binary the test compiles: asm-extract | asm-tok |
# clap-embed | proj | llm-decode | name-score, on the committed tiny models.
# The tiny CLAP model has a 1,100-token vocabulary, so the real tokenizer's
# ids are folded into it with jq; the names are meaningless (random weights):
# what is checked is that every stage runs, keeps every record, in order,
# and every field the stages before it wrote.
. "$(dirname "$0")/lib.sh"
if [ -z "$SHARED" ]; then skip pipeline "../shared absent (CLAP vocabulary)"; exit 0; fi
G=$ROOT/tests/golden
cat > "$T/p.c" <<'C'
int sq(int x) { return x * x; }
int add(int a, int b) { return a + b + sq(a); }
int main(int c, char **v) { (void)v; return add(c, 2); }
C
gcc -O1 -o "$T/p" "$T/p.c" || { fail pipeline.build "gcc failed"; exit 0; }
"$BIN/asm-extract" "$T/p" > "$T/1.rec" &&
"$BIN/asm-tok" -m "$SHARED/vendor/clap-asm" "$T/1.rec" | "$BIN/rec-dump" |
	jq -c '.tok |= map(. % 1100)' | "$BIN/rec-dump" -r > "$T/2.rec" &&
"$BIN/clap-embed" -m "$G/clap/tiny" "$T/2.rec" > "$T/3.rec" &&
"$BIN/proj" --init "$T/proj.safetensors" --d-model 64 --d-in 32 --prefix-len 4 >/dev/null &&
"$BIN/proj" -m "$T/proj.safetensors" --llm "$G/llm/qwen2-tiny" "$T/3.rec" > "$T/4.rec" &&
"$BIN/llm-decode" -m "$G/llm/qwen2-tiny" -q nf4 -n 6 "$T/4.rec" > "$T/5.rec" 2> "$T/err"
rc=$?
[ $rc -eq 0 ] && pass pipeline.runs || fail pipeline.runs "exit $rc: $(cat "$T/err")"
"$BIN/rec-dump" "$T/1.rec" | jq -r .id > "$T/ids.in"
"$BIN/rec-dump" "$T/5.rec" | jq -r .id > "$T/ids.out"
if [ -s "$T/ids.in" ] && cmp -s "$T/ids.in" "$T/ids.out"; then pass pipeline.order; else fail pipeline.order "ids differ"; fi
n=$("$BIN/rec-dump" "$T/5.rec" | jq -c 'select((.pred | type) == "string" and (.cands | length) >= 1
	and (.asm | length) > 0 and (.tok | length) > 0 and (.emb | length) == 32
	and (.prefix | length) == 256 and .prefix_shape == [4, 64])' | wc -l)
[ "$n" -eq "$(wc -l < "$T/ids.in")" ] && pass pipeline.fields || fail pipeline.fields "$n records with every field"
missing=""
for f in sq add main; do
	"$BIN/rec-dump" "$T/5.rec" | jq -s -e --arg f "$f" 'any(.[]; .name == $f)' >/dev/null || missing="$missing $f"
done
[ -z "$missing" ] && pass pipeline.names || fail pipeline.names "no record named$missing"
ASMNAME_DATA=$ROOT/data "$BIN/name-score" --json "$T/5.rec" > "$T/score.json"
if jq -e --argjson n "$(wc -l < "$T/ids.in")" '.records == $n and .names.n == $n' "$T/score.json" >/dev/null; then
	pass pipeline.score
else
	fail pipeline.score "$(head -c 200 "$T/score.json")"
fi
