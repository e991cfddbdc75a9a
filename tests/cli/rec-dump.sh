# rec-dump: JSON Lines <-> records, --head, gzip input, bad input, usage.
. "$(dirname "$0")/lib.sh"
RD="$BIN/rec-dump"
cat > "$T/in.jsonl" <<'J'
{"id":"a.o:0x0","addr":0,"name":"f","tok":[2,5,-1],"emb":[0.5,-0.25,1e-07],"asm":["push rbp","ret"]}

{"id":"a.o:0x10","addr":16,"asm_addr":[16,17],"blob":{"$bin":"AP8="},"nested":{"k":[1,2.5,null,false]}}
J
"$RD" -r "$T/in.jsonl" > "$T/r.mp"
check "reverse.exit" test -s "$T/r.mp"
"$RD" "$T/r.mp" > "$T/out.jsonl"
# the same objects come back (compare with jq, key order kept)
if jq -c . "$T/in.jsonl" | diff - "$T/out.jsonl" >/dev/null; then pass roundtrip; else fail roundtrip "$(diff "$T/in.jsonl" "$T/out.jsonl" | head -5)"; fi
# typed fields are bin on the wire: 3 i32 = 12 bytes, not a msgpack array
if "$RD" --head 1 "$T/r.mp" | jq -e '.tok == [2,5,-1]' >/dev/null && od -An -tx1 -v "$T/r.mp" | tr -d '\n' | grep -q 'a3 74 6f 6b c4 0c'; then pass typed; else fail typed "tok not decoded"; fi
n=$("$RD" --head 1 "$T/r.mp" | wc -l); [ "$n" -eq 1 ] && pass head || fail head "got $n lines"
# gzip input is detected by its magic; -z writes it
"$RD" -r -z "$T/in.jsonl" > "$T/r.mp.gz"
if [ "$(od -An -tx1 -N2 "$T/r.mp.gz" | tr -d ' ')" = 1f8b ] && "$RD" "$T/r.mp.gz" | diff - "$T/out.jsonl" >/dev/null; then pass gzip; else fail gzip "gzip round trip differs"; fi
# several inputs in order, stdin as "-"
n=$(cat "$T/r.mp" | "$RD" "$T/r.mp" - | wc -l); [ "$n" -eq 4 ] && pass operands || fail operands "got $n"
# a bad JSON line names the line, the others still pass, exit 1
printf '{"id":"x"}\n{"id": oops}\n[1]\n{"tok":[1,"a"]}\n{"id":"y"}\n' > "$T/bad.jsonl"
"$RD" -r "$T/bad.jsonl" > "$T/bad.mp" 2> "$T/bad.err"; rc=$?
if [ $rc -eq 1 ] && grep -q 'line 2' "$T/bad.err" && grep -q 'line 3: expected a JSON object' "$T/bad.err" \
   && grep -q 'line 4.*"tok".*not a number' "$T/bad.err" && [ "$("$RD" "$T/bad.mp" | wc -l)" -eq 2 ]; then pass badjson; else fail badjson "rc=$rc $(cat "$T/bad.err")"; fi
# a truncated record stream: the complete records print, then an error naming the record
head -c $(( $(wc -c < "$T/r.mp") - 3 )) "$T/r.mp" > "$T/cut.mp"
"$RD" "$T/cut.mp" > "$T/cut.out" 2> "$T/cut.err"; rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l < "$T/cut.out")" -eq 1 ] && grep -q 'record 2: truncated' "$T/cut.err"; then pass truncated; else fail truncated "rc=$rc $(cat "$T/cut.err")"; fi
# not msgpack at all
printf '\301\301' > "$T/junk"
check_status junk 1 "$RD" "$T/junk"
check_status missing 1 "$RD" "$T/does-not-exist"
check_status usage 2 "$RD" --no-such-option
check_status usage.head 2 "$RD" --head 12x
check help "$RD" -h
# a reader that goes away early is not an error
i=0; : > "$T/many.jsonl"; while [ $i -lt 3000 ]; do echo '{"id":"z","asm":["nop","nop","nop","nop"]}' >> "$T/many.jsonl"; i=$((i+1)); done
"$RD" -r "$T/many.jsonl" > "$T/many.mp"
( "$RD" "$T/many.mp"; echo $? > "$T/rc" ) | head -n 1 > /dev/null
[ "$(cat "$T/rc")" = 0 ] && pass epipe || fail epipe "exit $(cat "$T/rc") on a closed pipe"
