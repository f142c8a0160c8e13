#!/usr/bin/env bash
# The example program (apps/examples/generate.cpp) end to end: on the embedded model it must exit 0 and print the
# prompt followed by exactly the greedy continuation that `edge-rt run` gives; on a model without tokenizer files it
# must exit 1 with a message, never crash.
#
# Usage: example_test.sh <example binary> <edge-rt binary> <shared models dir>
set -u
EXAMPLE=$1
BIN=$2
MODELS=$3
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

timeout 60 "$EXAMPLE" >"$TMP/out" 2>"$TMP/err"
rc=$?
want=$("$BIN" run --prompt "Once upon a time" -n 64 --temperature 0 --no-monitor --ctx-size 256 --output json |
  /usr/bin/python3 -c 'import json,sys; print("Once upon a time" + json.load(sys.stdin)["text"])')
if [ $rc -ne 0 ]; then
  not_ok "example on the embedded model" "exit $rc: $(head -c 300 "$TMP/err")"
elif [ "$(cat "$TMP/out")" != "$want" ]; then
  not_ok "example on the embedded model" "printed '$(head -c 200 "$TMP/out")', expected '$(echo "$want" | head -c 200)'"
else
  ok "example prints the prompt and the CLI's greedy continuation"
fi

timeout 60 "$EXAMPLE" "$MODELS/capp-gpt2-tiny" >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "no tokenizer" "$TMP/err"; then
  ok "example on a model without tokenizer: exit 1 with a message"
else
  not_ok "example on a model without tokenizer" "exit $rc: $(head -c 300 "$TMP/err")"
fi
finish
