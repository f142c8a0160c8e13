#!/usr/bin/env bash
# `edge-rt convert --from llama2c` reproduces the committed default model byte for byte, and the converted folder
# generates exactly what the committed one does.
#
# Usage: convert_test.sh <edge-rt binary> <shared models dir> <source dir>
set -u

if [ $# -ne 3 ]; then
  echo "usage: $0 <edge-rt binary> <shared models dir> <source dir>" >&2
  exit 2
fi
BIN=$1
MODELS=$2
SRC=$3
COMMITTED=$SRC/models/stories260K

source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
timeout 120 "$BIN" convert --from llama2c --checkpoint "$MODELS/stories260K/stories260K.bin" \
  --tokenizer "$MODELS/stories260K/tok512.bin" --out "$TMP/converted" >"$TMP/stdout" 2>"$TMP/stderr" </dev/null
rc=$?
if [ $rc -ne 0 ]; then
  not_ok "convert stories260K" "exit code $rc: $(head -n 3 "$TMP/stderr")"
  finish
fi
ok "convert stories260K"

for f in model.safetensors config.json tokenizer.json; do
  if [ ! -f "$TMP/converted/$f" ]; then
    not_ok "$f identical" "not written"
  elif cmp -s "$TMP/converted/$f" "$COMMITTED/$f"; then
    ok "$f identical"
  else
    not_ok "$f identical" "differs from $COMMITTED/$f: $(cmp "$TMP/converted/$f" "$COMMITTED/$f" 2>&1 | head -n 1)"
  fi
done

# Converting twice gives the same bytes (no timestamps or unordered maps in the output).
# The second run takes its output folder from a preset's model (-c).
printf 'model = "%s"\nnum_threads = 2\n' "$TMP/converted2" >"$TMP/preset.toml"
timeout 120 "$BIN" convert --from llama2c --checkpoint "$MODELS/stories260K/stories260K.bin" \
  --tokenizer "$MODELS/stories260K/tok512.bin" -c "$TMP/preset.toml" >/dev/null 2>"$TMP/stderr" </dev/null
rc=$?
if [ $rc -ne 0 ]; then
  not_ok "convert -c is deterministic" "second run exit code $rc: $(head -n 1 "$TMP/stderr")"
elif diff -r "$TMP/converted" "$TMP/converted2" >/dev/null; then
  ok "convert -c is deterministic"
else
  not_ok "convert -c is deterministic" "two conversions differ"
fi

# Greedy generation from both folders: text and token ids.
for mode in text json; do
  for which in committed converted; do
    dir=$COMMITTED
    [ "$which" = converted ] && dir=$TMP/converted
    timeout 60 "$BIN" run -m "$dir" --prompt "Once upon a time" -n 40 --temperature 0 --output "$mode" \
      >"$TMP/$which.$mode" 2>"$TMP/$which.$mode.err" </dev/null
    rc=$?
    if [ $rc -ne 0 ]; then
      not_ok "run $which ($mode)" "exit code $rc: $(head -n 1 "$TMP/$which.$mode.err")"
    fi
  done
done
if [ ! -s "$TMP/committed.text" ] || [ "$(head -c 16 "$TMP/committed.text")" != "Once upon a time" ]; then
  not_ok "committed model output" "unexpected: $(head -n 1 "$TMP/committed.text")"
elif cmp -s "$TMP/committed.text" "$TMP/converted.text"; then
  ok "greedy text identical"
else
  not_ok "greedy text identical" "committed: $(head -n 1 "$TMP/committed.text") | converted: $(head -n 1 "$TMP/converted.text")"
fi
ids() { /usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["generated_token_ids"])' "$1" 2>&1; }
committed_ids=$(ids "$TMP/committed.json")
converted_ids=$(ids "$TMP/converted.json")
if [ "$committed_ids" = "$converted_ids" ] && [ "${committed_ids:0:1}" = "[" ]; then
  ok "greedy token ids identical"
else
  not_ok "greedy token ids identical" "committed $committed_ids, converted $converted_ids"
fi

finish
