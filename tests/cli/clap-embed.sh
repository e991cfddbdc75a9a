#!/bin/sh
# clap-embed and proj from the command line: records in, emb out against
# the PyTorch goldens (tests/golden/clap), input order kept across batches
# and windows, other fields kept, bad records reported and passed on, usage
# errors; then proj on clap-embed's output (prefix, prefix_shape, aligned,
# the d_model check, --init).
. "$(dirname "$0")/lib.sh"
C="$BIN/clap-embed"
P="$BIN/proj"
D="$BIN/rec-dump"
G="$ROOT/tests/golden/clap"
for t in jq awk; do
	command -v $t >/dev/null 2>&1 || { skip clap-embed "no $t"; exit 0; }
done
[ -x "$C" ] && [ -x "$P" ] && [ -x "$D" ] || { fail clap-embed "bin/clap-embed, proj or rec-dump not built"; exit 0; }

# worst relative L2 error of the emb of $1 (records) against $2 (emb.jsonl), by id
emb_err() {
	"$D" "$1" | jq -c '{id, emb}' >"$T/got.jsonl"
	jq -s -r --slurpfile w "$2" '
		($w | map({(.id): .emb}) | add) as $want
		| map(. as $r | $want[$r.id] as $e
			| if ($r.emb == null) then 1e9 else
			  ([range(0; $e | length) | ($r.emb[.] - $e[.]) * ($r.emb[.] - $e[.])] | add | sqrt)
			  / ([$e[] | . * .] | add | sqrt) end)
		| max' "$T/got.jsonl"
}
ok_below() { awk -v x="$1" -v t="$2" 'BEGIN { exit !(x + 0 <= t + 0) }'; }

for m in tiny tiny2; do
	if "$C" -m "$G/$m" "$G/$m/inputs.msgpack" >"$T/$m.out" 2>"$T/err"; then
		e=$(emb_err "$T/$m.out" "$G/$m/emb.jsonl")
		if ok_below "$e" 1e-5; then pass "$m emb vs PyTorch"; else fail "$m emb vs PyTorch" "relative error $e"; fi
	else
		fail "$m emb vs PyTorch" "exit $? ($(head -c 300 "$T/err"))"
	fi
done

# small batches and windows: several batches per window, several windows;
# the output must be the input order and the same numbers
"$C" -m "$G/tiny" -b 2 --window 3 --max-tokens 100 "$G/tiny/inputs.msgpack" >"$T/small.out" 2>"$T/err"
ids=$("$D" "$T/small.out" | jq -r .id | tr '\n' ' ')
[ "$ids" = "f0 f1 f2 f3 f4 f5 f6 f7 " ] && pass "input order kept" || fail "input order kept" "got $ids"
e=$(emb_err "$T/small.out" "$G/tiny/emb.jsonl")
ok_below "$e" 1e-5 && pass "small batches same emb" || fail "small batches same emb" "relative error $e"

# standard input, gzip output, threads
"$C" -m "$G/tiny" -z -t 1 <"$G/tiny/inputs.msgpack" >"$T/z.out" 2>"$T/err"
n=$("$D" "$T/z.out" | jq -s 'map(select(.emb | length == 32)) | length')
[ "$n" = 8 ] && pass "stdin, -z, -t 1" || fail "stdin, -z, -t 1" "$n records with emb"

# bf16 matrix weights: within bf16 tolerance
"$C" -m "$G/tiny" --dtype bf16 "$G/tiny/inputs.msgpack" >"$T/bf.out" 2>"$T/err"
e=$(emb_err "$T/bf.out" "$G/tiny/emb.jsonl")
ok_below "$e" 1e-2 && pass "bf16 within 1e-2" || fail "bf16 within 1e-2" "relative error $e ($(head -c 200 "$T/err"))"

# bad records among good ones: reported with their place, passed on without
# emb, other fields kept, exit 1
"$D" "$G/tiny/inputs.msgpack" | jq -c 'select(.id == "f1" or .id == "f2") | . + {name: "keep_me"}' >"$T/good.jsonl"
{
	sed -n 1p "$T/good.jsonl"
	echo '{"id": "big", "tok": [5, 1100], "ttype": [6, 6]}'
	echo '{"id": "nott", "tok": [1200]}'
	echo '{"id": "lens", "tok": [1040, 1041], "ttype": [6]}'
	echo '{"id": "neg", "tok": [1040], "ttype": [-3]}'
	sed -n 2p "$T/good.jsonl"
	echo '{"id": "empty", "tok": [], "ttype": []}'
} | "$D" -r >"$T/bad.in"
check_status "bad records exit 1" 1 "$C" -m "$G/tiny" "$T/bad.in"
"$C" -m "$G/tiny" "$T/bad.in" >"$T/bad.out" 2>"$T/bad.err"
got=$("$D" "$T/bad.out" | jq -r '"\(.id):\(.emb | length):\(.name // "")"' | tr '\n' ' ')
want="f1:32:keep_me big:0: nott:0: lens:0: neg:0: f2:32:keep_me empty:32: "
[ "$got" = "$want" ] && pass "bad records passed on in order" || fail "bad records passed on in order" "got $got"
grep -q 'record 2 (id big): field "tok"\[1\]: id 1100 outside the vocabulary' "$T/bad.err" &&
	grep -q 'record 3 (id nott):.*ttype' "$T/bad.err" &&
	grep -q 'record 4 (id lens): tok has 2 ids but ttype 1' "$T/bad.err" &&
	grep -q 'record 5 (id neg):.*ttype' "$T/bad.err" &&
	grep -q '4 records without emb' "$T/bad.err" &&
	pass "bad records named" || fail "bad records named" "$(head -c 600 "$T/bad.err")"
e=$(emb_err "$T/bad.out" "$G/tiny/emb.jsonl" 2>/dev/null)
"$D" "$T/bad.out" | jq -c 'select(.id == "f1" or .id == "f2") | {id, emb}' >"$T/good.out.jsonl"
"$D" -r <"$T/good.out.jsonl" >"$T/good.out"
e=$(emb_err "$T/good.out" "$G/tiny/emb.jsonl")
ok_below "$e" 1e-5 && pass "good records among bad ones" || fail "good records among bad ones" "relative error $e"

# a broken stream after good records: the good ones are written, exit 1
head -c 3000 "$G/tiny/inputs.msgpack" >"$T/trunc.in"
"$C" -m "$G/tiny" "$T/trunc.in" >"$T/trunc.out" 2>"$T/err"; rc=$?
n=$("$D" "$T/trunc.out" | jq -s length)
[ "$rc" = 1 ] && [ "$n" -ge 1 ] && pass "truncated input" || fail "truncated input" "exit $rc, $n records"

# usage and model errors
check_status "no model is usage" 2 env -u ASMNAME_CLAP "$C" "$G/tiny/inputs.msgpack"
check_status "bad --batch" 2 "$C" -m "$G/tiny" -b 0 "$G/tiny/inputs.msgpack"
check_status "bad --dtype" 2 "$C" -m "$G/tiny" --dtype fp8 "$G/tiny/inputs.msgpack"
check_status "missing model dir" 1 "$C" -m "$T/nothere" "$G/tiny/inputs.msgpack"
check_status "cuda without a GPU is refused or works" 0 sh -c \
	"'$C' -m '$G/tiny' -d cuda '$G/tiny/inputs.msgpack' >/dev/null 2>&1; [ \$? -le 1 ]"
check "ASMNAME_CLAP" env ASMNAME_CLAP="$G/tiny" "$C" "$G/tiny/inputs.msgpack"
check "help" "$C" -h

# --- proj on clap-embed's output -------------------------------------------------
PG="$ROOT/tests/golden/proj"
"$P" -m "$PG/mlp.safetensors" "$T/tiny.out" >"$T/p.out" 2>"$T/err"
got=$("$D" "$T/p.out" | jq -r '"\(.id):\(.prefix | length):\(.prefix_shape | tostring):\(.emb | length)"' | tr '\n' ' ')
want="f0:64:[4,16]:32 f1:64:[4,16]:32 f2:64:[4,16]:32 f3:64:[4,16]:32 f4:64:[4,16]:32 f5:64:[4,16]:32 f6:64:[4,16]:32 f7:64:[4,16]:32 "
[ "$got" = "$want" ] && pass "proj prefix and shape" || fail "proj prefix and shape" "got $got ($(head -c 300 "$T/err"))"
"$P" -m "$PG/transformer.safetensors" --aligned -b 3 "$T/tiny.out" >"$T/a.out" 2>"$T/err"
n=$("$D" "$T/a.out" | jq -s 'map(select((.aligned | length) == 16 and ([.aligned[] | . * .] | add) > 0.9999
	and ([.aligned[] | . * .] | add) < 1.0001)) | length')
[ "$n" = 8 ] && pass "proj --aligned unit vectors" || fail "proj --aligned unit vectors" "$n of 8 ($(head -c 300 "$T/err"))"
check_status "proj d_model mismatch" 1 "$P" -m "$PG/mlp.safetensors" --d-model 17 "$T/tiny.out"
grep -q "hidden_size 17" "$T/.err" && pass "proj d_model message" || fail "proj d_model message" "$(head -c 300 "$T/.err")"
printf '{"hidden_size": 2048}\n' >"$T/llm.json"
check_status "proj --llm mismatch" 1 "$P" -m "$PG/mlp.safetensors" --llm "$T/llm.json" "$T/tiny.out"
check_status "proj on records without emb" 1 "$P" -m "$PG/mlp.safetensors" "$G/tiny/inputs.msgpack"
grep -q 'record 1 (id f0): .*"emb"' "$T/.err" && pass "proj names the record" || fail "proj names the record" "$(head -c 300 "$T/.err")"
check "proj --init" "$P" --init "$T/r.safetensors" --d-in 32 --prefix-len 2 --d-model 8 --hidden 5
n=$("$P" -m "$T/r.safetensors" "$T/tiny.out" 2>"$T/err" | "$D" | jq -s 'map(select(.prefix_shape == [2,8])) | length')
[ "$n" = 8 ] && pass "proj with an --init file" || fail "proj with an --init file" "$n of 8 ($(head -c 300 "$T/err"))"
check_status "proj --init without d_model" 2 "$P" --init "$T/r2.safetensors"
check_status "proj not a projection" 1 "$P" -m "$G/tiny/model.safetensors" "$T/tiny.out"
