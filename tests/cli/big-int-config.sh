# transformers writes "model_max_length": 1e30 as a JSON integer in many
# tokenizer_config.json files; the tokenizers must still load them.
. "$(dirname "$0")/lib.sh"
BIG=1000000000000000019884624838656
if [ -z "$SHARED" ]; then skip bigint.clap "../shared absent"; skip bigint.llama "../shared absent"; exit 0; fi
mkdir -p "$T/clap" "$T/llama"
V=$SHARED/vendor
cp "$V/clap-asm/vocab.txt" "$V/clap-asm/special_tokens_map.json" "$T/clap/"
sed "s/\"model_max_length\": [0-9]*/\"model_max_length\": $BIG/" "$V/clap-asm/tokenizer_config.json" > "$T/clap/tokenizer_config.json"
grep -q "$BIG" "$T/clap/tokenizer_config.json" || fail bigint.clap.setup "no model_max_length to replace"
echo '{"id":"t","asm":["push rbp","mov rbp, rsp","retn"]}' | "$BIN/rec-dump" -r > "$T/in.rec"
"$BIN/asm-tok" -m "$V/clap-asm" "$T/in.rec" | "$BIN/rec-dump" | jq -c .tok > "$T/want" 2>/dev/null
"$BIN/asm-tok" -m "$T/clap" "$T/in.rec" 2> "$T/err" | "$BIN/rec-dump" | jq -c .tok > "$T/got" 2>/dev/null
if [ -s "$T/want" ] && cmp -s "$T/want" "$T/got"; then pass bigint.clap; else fail bigint.clap "$(cat "$T/err")"; fi
cp "$V/llama-3.2-3b-instruct/tokenizer.json" "$T/llama/"
sed "s/\"model_max_length\": [0-9]*/\"model_max_length\": $BIG/" "$V/llama-3.2-3b-instruct/tokenizer_config.json" > "$T/llama/tokenizer_config.json"
want=$(echo "int main(void)" | "$BIN/llm-tok" -t "$V/llama-3.2-3b-instruct")
got=$(echo "int main(void)" | "$BIN/llm-tok" -t "$T/llama" 2>&1)
if [ -n "$want" ] && [ "$want" = "$got" ]; then pass bigint.llama; else fail bigint.llama "$got"; fi
