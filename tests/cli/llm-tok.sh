# llm-tok: lines, whole files, strings, decode, records (-k/-w), errors, usage.
. "$(dirname "$0")/lib.sh"
LT="$BIN/llm-tok"
RD="$BIN/rec-dump"
TINY="$ROOT/tests/golden/bpe/tiny.json"
GOLD="$ROOT/tests/golden/bpe/tiny.tsv"
# golden ids (from HF tokenizers) of the tiny tokenizer's "plain" case
want=$(awk -F'\t' '$1 == "plain" { gsub(",", " ", $4); print $4 }' "$GOLD")
text='int main(int argc) { return 0; }'    # the case's text (hex in the file)
got=$(printf '%s\n' "$text" | "$LT" -t "$TINY")
[ -n "$want" ] && [ "$got" = "$want" ] && pass lines || fail lines "got '$got' want '$want'"
# one line per input line, empty line -> empty output line
n=$(printf 'a b\n\nc\n' | "$LT" -t "$TINY" | wc -l); [ "$n" -eq 3 ] && pass line.count || fail line.count "got $n"
# -a applies the template (<s> ... </s>), -c counts
s=$(printf 'copy\n' | "$LT" -t "$TINY" -a -s)
case "$s" in "<s> "*" </s>") pass add.special ;; *) fail add.special "got '$s'" ;; esac
c=$(printf 'copy\n' | "$LT" -t "$TINY" -a -c); [ "$c" -eq "$(echo "$s" | wc -w)" ] && pass count || fail count "got $c"
# decode gives the text back (tiny's ByteLevel adds a prefix space: compare with it), -x drops specials
printf 'int main(void) { return 0; }\n' > "$T/t.txt"
d=$("$LT" -t "$TINY" -a "$T/t.txt" | "$LT" -t "$TINY" -d -x)
[ "$d" = " int main(void) { return 0; }" ] && pass decode || fail decode "got '$d'"
d=$(echo '[420, 421]' | "$LT" -t "$TINY" -d); [ "$d" = "<s></s>" ] && pass decode.list || fail decode.list "got '$d'"
check_status decode.bad 1 sh -c "echo '1 2 x' | '$LT' -t '$TINY' -d"
# -W: the whole file with its newlines is one text
printf 'a\nb\n' > "$T/two.txt"
n=$("$LT" -t "$TINY" -W "$T/two.txt" | wc -l); [ "$n" -eq 1 ] && pass whole || fail whole "got $n lines"
d=$("$LT" -t "$TINY" -W "$T/two.txt" | "$LT" -t "$TINY" -d | od -An -c | tr -s ' ')
[ "$d" = " a \n b \n \n" ] && pass whole.roundtrip || fail whole.roundtrip "got '$d'"
# records: -k prints ids per record as line mode does; -w adds llm_tok and keeps the rest
printf '{"id":"r1","src":"int main(void) { return 0; }"}\n{"id":"r2","name":"x"}\n{"id":"r3","src":"copy"}\n' \
	| "$RD" -r -f > "$T/r.mp"
"$LT" -t "$TINY" -k src "$T/r.mp" > "$T/k.out" 2> "$T/k.err"; rc=$?
l1=$(head -1 "$T/k.out"); w1=$("$LT" -t "$TINY" "$T/t.txt")
if [ $rc -eq 1 ] && [ "$l1" = "$w1" ] && [ "$(wc -l < "$T/k.out")" -eq 2 ] && grep -q 'record 2 (id r2).*src' "$T/k.err"; then
	pass records; else fail records "rc=$rc $(cat "$T/k.err")"; fi
"$LT" -t "$TINY" -k src -w "$T/r.mp" > "$T/w.mp" 2>/dev/null
n=$("$RD" "$T/w.mp" | jq -c 'select(.llm_tok != null) | .id' | tr -d '\n')
[ "$n" = '"r1""r3"' ] && pass records.write || fail records.write "got $n"
nb=$("$RD" "$T/w.mp" | jq -r 'select(.id == "r1") | .llm_tok | if type == "array" then length else (.["$bin"] | @base64d | length / 4) end' 2>/dev/null)
[ "$nb" = "$(echo "$w1" | wc -w)" ] && pass records.ids || fail records.ids "got '$nb'"
# errors and usage
check_status missing.tokenizer 1 "$LT" -t "$T/nope.json" "$T/t.txt"
check_status missing.input 1 "$LT" -t "$TINY" "$T/nope.txt"
check_status usage.no.t 2 "$LT" "$T/t.txt"
check_status usage.w 2 "$LT" -t "$TINY" -w
check_status usage.x 2 "$LT" -t "$TINY" -x
check_status usage.bad 2 "$LT" --no-such
check help "$LT" -h
if command -v man >/dev/null 2>&1; then check man man -l "$ROOT/man/man1/llm-tok.1"; fi
# the real tokenizers (reference vectors), when ../shared is there
if [ -n "$SHARED" ]; then
	L="$SHARED/vendor/llama-3.2-3b-instruct"
	got=$(printf 'hello !\n! ! !\n' | "$LT" -t "$L" -a | tr '\n' '|')
	[ "$got" = "128000 15339 758|128000 0 758 758|" ] && pass llama || fail llama "got $got"
	got=$(printf 'a<|eot_id|>\n' | "$LT" -t "$L/tokenizer.json" -S -c)
	[ "$got" -gt 3 ] && pass llama.split.special || fail llama.split.special "got $got"
	Q="$SHARED/vendor/qwen2.5-coder-3b"
	got=$(printf 'Hello world\n<|im_start|>x\n' | "$LT" -t "$Q" -A '<|im_start|>' | tr '\n' '|')
	[ "$got" = "9707 1879|151644 87|" ] && pass qwen || fail qwen "got $got"
else
	skip llama "../shared not found"
	skip qwen "../shared not found"
fi
