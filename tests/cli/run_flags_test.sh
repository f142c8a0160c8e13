#!/usr/bin/env bash
# edge-rt run's prompt sources and stop controls on the embedded stories260K, greedy: -f FILE and -p - give the
# same tokens as -p TEXT; --stop ends the output right before a string taken from the greedy text (never printing
# part of it), -r right after it; --ignore-eos generates past the EOS where the plain run stops.
# Usage: run_flags_test.sh EDGE_RT SHARED_MODELS_DIR
set -u
bin=$1 models=$2
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0 passed=0
check() { if eval "$2"; then echo "ok - $1"; passed=$((passed + 1)); else echo "not ok - $1"; failed=$((failed + 1)); fi; }
field() { echo "$1" | "$py" -c "import json,sys; d=json.load(sys.stdin); print($2)"; }
run() { "$bin" run --temperature 0 --no-monitor --output json "$@"; }

prompt="Once upon a time"
base=$(run -p "$prompt" -n 60)
ids=$(field "$base" 'd["generated_token_ids"]')
printf '%s' "$prompt" >"$tmp/prompt.txt"
check "-f FILE gives -p's tokens" '[ "$(field "$(run -f "$tmp/prompt.txt" -n 60)" "d[\"generated_token_ids\"]")" = "$ids" ]'
check "-p - reads standard input" '[ "$(field "$(printf "%s" "$prompt" | run -p - -n 60)" "d[\"generated_token_ids\"]")" = "$ids" ]'

# A stop string from the middle of the greedy text: the third word and the space before it.
text=$(field "$base" 'd["text"]')
stop=$(field "$base" '" " + d["text"].split()[2]')
want=$(field "$base" 'd["text"][:d["text"].index(" " + d["text"].split()[2])]')
got=$(run -p "$prompt" -n 60 --stop "$stop")
check "--stop ends right before the string" '[ "$(field "$got" "d[\"text\"]")" = "$want" ] && [ "$(field "$got" "d[\"stop_reason\"]")" = stop_string ]'
got=$(run -p "$prompt" -n 60 -r "$stop")
check "-r ends right after it" '[ "$(field "$got" "d[\"text\"]")" = "$want$stop" ]'
plain=$("$bin" run --temperature 0 --no-monitor -p "$prompt" -n 60 --stop "$stop" 2>/dev/null)
check "--stop in text output prints the prompt and the text before it, no more" '[ "$plain" = "$prompt$want" ]'

# EOS: stories260K never samples its EOS (llama2.c ends stories with BOS); capp-gpt2-tiny, seeded, does.
eos_run() { "$bin" run -m "$models/capp-gpt2-tiny" --prompt-tokens 1,2,3 --temperature 1 --seed 0 --no-monitor \
  --output json -n 200 "$@"; }
eos=$(eos_run)
n_eos=$(field "$eos" 'len(d["generated_token_ids"])')
check "the plain run stops at EOS" '[ "$(field "$eos" "d[\"stop_reason\"]")" = eos ]'
more=$(eos_run --ignore-eos)
check "--ignore-eos goes on" '[ "$(field "$more" "len(d[\"generated_token_ids\"]) > $n_eos")" = True ]'

"$bin" run -p "x" --stop "" >/dev/null 2>"$tmp/err"; rc=$?
check "an empty --stop is refused" '[ "$rc" -ne 0 ] && grep -q "empty stop string" "$tmp/err"'
: >"$tmp/empty.txt"
"$bin" run -f "$tmp/empty.txt" >/dev/null 2>"$tmp/err"; rc=$?
check "an empty -f file is refused, named" '[ "$rc" -ne 0 ] && grep -q "empty.txt: the file is empty" "$tmp/err"'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
