#!/usr/bin/env bash
# The edge-rt CLI end to end on bad input: every case must exit 1 (runtime error) or 2 (bad usage), never 0 and
# never by a signal, within 60 s, with a clear message on stderr. Then a few positive cases: the embedded default
# model, the presets in configs/, and flags overriding a preset.
#
# Usage: bad_input_test.sh <edge-rt binary> <shared models dir> <source dir>
set -u

if [ $# -ne 3 ]; then
  echo "usage: $0 <edge-rt binary> <shared models dir> <source dir>" >&2
  exit 2
fi
BIN=$1
MODELS=$2
SRC=$3
PY=/usr/bin/python3
CAPP=$MODELS/capp-gpt2-tiny
TINY=$MODELS/tiny-random-gpt2
STORIES=$MODELS/stories260K

source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

# First line of a file, shortened, for failure details.
first_line() { head -n 1 "$1" | cut -c 1-300; }

# expect_fail NAME SUBSTRING... -- COMMAND...
# Runs COMMAND (stdin from /dev/null) and requires exit code 1 or 2 and every SUBSTRING on stderr.
expect_fail() {
  local name=$1
  shift
  local wants=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    wants+=("$1")
    shift
  done
  shift  # the --
  timeout 60 "$@" >"$TMP/stdout" 2>"$TMP/stderr" </dev/null
  local rc=$?
  if [ $rc -eq 124 ]; then
    not_ok "$name" "timed out after 60 s: $*"
    return
  fi
  if [ $rc -eq 0 ]; then
    not_ok "$name" "exit code 0, expected 1 or 2: $*"
    return
  fi
  if [ $rc -ge 128 ]; then
    not_ok "$name" "killed by signal $((rc - 128)) (exit code $rc): $* -- stderr: $(first_line "$TMP/stderr")"
    return
  fi
  if [ $rc -ne 1 ] && [ $rc -ne 2 ]; then
    not_ok "$name" "exit code $rc, expected 1 or 2: $* -- stderr: $(first_line "$TMP/stderr")"
    return
  fi
  local want
  for want in "${wants[@]}"; do
    if ! grep -qF -- "$want" "$TMP/stderr"; then
      not_ok "$name" "stderr lacks '$want': $(first_line "$TMP/stderr")"
      return
    fi
  done
  ok "$name"
}

# A writable copy of a model folder.
copy_model() {
  local from=$1 to=$2
  rm -rf "$to"
  cp -r "$from" "$to"
  chmod -R u+w "$to"
}

# edit_safetensors FILE PYTHON_STATEMENTS: rewrites FILE's header, where the statements edit `h` (the parsed JSON
# header); the data buffer is kept byte for byte.
edit_safetensors() {
  "$PY" - "$1" "$2" <<'EOF'
import json, struct, sys
path, code = sys.argv[1], sys.argv[2]
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
data = raw[8 + n:]
exec(code)
text = json.dumps(h).encode()
open(path, "wb").write(struct.pack("<Q", len(text)) + text + data)
EOF
}

# edit_json FILE PYTHON_STATEMENTS: the statements edit `j`, the parsed file.
edit_json() {
  "$PY" - "$1" "$2" <<'EOF'
import json, sys
path, code = sys.argv[1], sys.argv[2]
j = json.load(open(path))
exec(code)
json.dump(j, open(path, "w"), indent=2)
EOF
}

for needed in "$BIN" "$CAPP/model.safetensors" "$TINY/tokenizer.json" "$STORIES/stories260K.bin" "$PY"; do
  if [ ! -e "$needed" ]; then
    echo "not ok - setup: $needed does not exist"
    echo "0 passed, 1 failed"
    exit 1
  fi
done

# ---- broken checkpoints ----

copy_model "$CAPP" "$TMP/truncated"
truncate -s $(($(stat -c %s "$CAPP/model.safetensors") / 2)) "$TMP/truncated/model.safetensors"
expect_fail "truncated safetensors" "model.safetensors" "data_offsets" -- \
  "$BIN" run -m "$TMP/truncated" --prompt-tokens 1,2,3 -n 2

copy_model "$CAPP" "$TMP/header_len"
"$PY" - "$TMP/header_len/model.safetensors" <<'EOF'
import os, struct, sys
path = sys.argv[1]
raw = bytearray(open(path, "rb").read())
raw[:8] = struct.pack("<Q", len(raw))  # 8 bytes more than the file can hold
open(path, "wb").write(raw)
EOF
expect_fail "header length larger than the file" "model.safetensors" "header length" "exceeds the file size" -- \
  "$BIN" run -m "$TMP/header_len" --prompt-tokens 1,2,3 -n 2

copy_model "$CAPP" "$TMP/header_cap"
"$PY" - "$TMP/header_cap/model.safetensors" <<'EOF'
import struct, sys
path = sys.argv[1]
raw = bytearray(open(path, "rb").read())
raw[:8] = struct.pack("<Q", (100 << 20) + 1)
open(path, "wb").write(raw)
EOF
expect_fail "header length over the 100 MiB cap" "model.safetensors" "100 MiB" -- \
  "$BIN" run -m "$TMP/header_cap" --prompt-tokens 1,2,3 -n 2

copy_model "$CAPP" "$TMP/offsets_past_end"
edit_safetensors "$TMP/offsets_past_end/model.safetensors" \
  't = h["transformer.wte.weight"]; b, e = t["data_offsets"]; t["data_offsets"] = [b + 4096, e + 4096]'
expect_fail "data offsets past the end" "model.safetensors" "transformer.wte.weight" "data_offsets" -- \
  "$BIN" run -m "$TMP/offsets_past_end" --prompt-tokens 1,2,3 -n 2

copy_model "$CAPP" "$TMP/overlap"
edit_safetensors "$TMP/overlap/model.safetensors" \
  'h["transformer.h.0.ln_1.weight"]["data_offsets"] = h["transformer.h.0.ln_1.bias"]["data_offsets"]'
expect_fail "overlapping tensors" "model.safetensors" "transformer.h.0.ln_1" "overlap" -- \
  "$BIN" run -m "$TMP/overlap" --prompt-tokens 1,2,3 -n 2

copy_model "$CAPP" "$TMP/dtype"
edit_safetensors "$TMP/dtype/model.safetensors" 'h["transformer.h.1.attn.c_attn.weight"]["dtype"] = "F8_E4M3"'
expect_fail "unknown dtype" "model.safetensors" "transformer.h.1.attn.c_attn.weight" "F8_E4M3" -- \
  "$BIN" run -m "$TMP/dtype" --prompt-tokens 1,2,3 -n 2

copy_model "$CAPP" "$TMP/byte_size"
edit_safetensors "$TMP/byte_size/model.safetensors" 'h["transformer.ln_f.bias"]["shape"] = [65]'
expect_fail "byte size disagrees with the shape" "model.safetensors" "transformer.ln_f.bias" "256 bytes" \
  "expected 260" -- "$BIN" run -m "$TMP/byte_size" --prompt-tokens 1,2,3 -n 2

copy_model "$CAPP" "$TMP/not_json_header"
"$PY" - "$TMP/not_json_header/model.safetensors" <<'EOF'
import sys
path = sys.argv[1]
raw = bytearray(open(path, "rb").read())
raw[8] = ord("[")  # the header's opening brace
open(path, "wb").write(raw)
EOF
expect_fail "header not JSON" "model.safetensors" "JSON" -- \
  "$BIN" run -m "$TMP/not_json_header" --prompt-tokens 1,2,3 -n 2

copy_model "$CAPP" "$TMP/wrong_shape"
edit_safetensors "$TMP/wrong_shape/model.safetensors" '
t = h["transformer.h.0.attn.c_proj.weight"]
t["shape"] = [32, 128]'
expect_fail "tensor shape disagrees with config.json" "transformer.h.0.attn.c_proj.weight" "[32, 128]" \
  "[64, 64]" -- "$BIN" run -m "$TMP/wrong_shape" --prompt-tokens 1,2,3 -n 2

copy_model "$CAPP" "$TMP/missing_tensor"
edit_safetensors "$TMP/missing_tensor/model.safetensors" 'del h["transformer.h.3.mlp.c_proj.weight"]'
expect_fail "tensor missing from the checkpoint" "transformer.h.3.mlp.c_proj.weight" "missing" -- \
  "$BIN" run -m "$TMP/missing_tensor" --prompt-tokens 1,2,3 -n 2

# ---- broken config.json / tokenizer ----

copy_model "$CAPP" "$TMP/no_n_embd"
edit_json "$TMP/no_n_embd/config.json" 'del j["n_embd"]'
expect_fail "config.json missing n_embd" "config.json" "n_embd" -- \
  "$BIN" run -m "$TMP/no_n_embd" --prompt-tokens 1,2,3 -n 2

copy_model "$CAPP" "$TMP/bert"
edit_json "$TMP/bert/config.json" 'j["architectures"] = ["BertModel"]; j["model_type"] = "bert"'
expect_fail "unknown architecture" "config.json" "BertModel" -- \
  "$BIN" run -m "$TMP/bert" --prompt-tokens 1,2,3 -n 2

copy_model "$CAPP" "$TMP/config_not_json"
printf '{"n_embd": 64,' >"$TMP/config_not_json/config.json"
expect_fail "config.json not JSON" "config.json" "JSON" -- \
  "$BIN" run -m "$TMP/config_not_json" --prompt-tokens 1,2,3 -n 2

copy_model "$TINY" "$TMP/bad_tokenizer"
printf '{not json' >"$TMP/bad_tokenizer/tokenizer.json"
expect_fail "malformed tokenizer.json" "tokenizer.json" -- \
  "$BIN" run -m "$TMP/bad_tokenizer" --prompt "Hello" -n 2
expect_fail "malformed tokenizer.json (tokenize)" "tokenizer.json" -- \
  "$BIN" tokenize -m "$TMP/bad_tokenizer" --text "Hello"

# ---- convert ----

head -c 3000 "$STORIES/tok512.bin" >"$TMP/tok512_truncated.bin"
expect_fail "convert: truncated tok512.bin" "tok512_truncated.bin" -- \
  "$BIN" convert --from llama2c --checkpoint "$STORIES/stories260K.bin" --tokenizer "$TMP/tok512_truncated.bin" \
  --out "$TMP/converted_bad_tok"

head -c 1000000 "$STORIES/stories260K.bin" >"$TMP/stories_short.bin"
expect_fail "convert: checkpoint of the wrong size" "stories_short.bin" "1000000 bytes" -- \
  "$BIN" convert --from llama2c --checkpoint "$TMP/stories_short.bin" --tokenizer "$STORIES/tok512.bin" \
  --out "$TMP/converted_bad_size"

expect_fail "convert: missing checkpoint" "no_such.bin" -- \
  "$BIN" convert --from llama2c --checkpoint "$TMP/no_such.bin" --tokenizer "$STORIES/tok512.bin" \
  --out "$TMP/converted_missing"

# ---- presets ----

printf 'strategy = "sequential"\nn_predict = \n' >"$TMP/syntax.toml"
expect_fail "preset with a TOML syntax error" "syntax.toml" "[preset]" -- "$BIN" run -c "$TMP/syntax.toml" -n 2

printf 'strategy = "sequential"\nthreads = 4\n' >"$TMP/unknown_key.toml"
expect_fail "preset with an unknown key" "unknown_key.toml" "unknown key 'threads'" -- \
  "$BIN" run -c "$TMP/unknown_key.toml" -n 2

printf 'num_threads = "four"\n' >"$TMP/wrong_type.toml"
expect_fail "preset with a wrong type" "wrong_type.toml" "num_threads" "integer" -- \
  "$BIN" run -c "$TMP/wrong_type.toml" -n 2

expect_fail "missing preset file" "no_such.toml" -- "$BIN" run -c "$TMP/no_such.toml" -n 2

# ---- flags ----

expect_fail "--memory-budget 0" "[memory-budget]" "'0'" -- "$BIN" run --memory-budget 0 -n 2
expect_fail "--memory-budget abc" "[memory-budget]" "'abc'" -- "$BIN" run --memory-budget abc -n 2
expect_fail "--memory-budget -5M" "[memory-budget]" "-5M" -- "$BIN" run --memory-budget=-5M -n 2
expect_fail "prompt token id outside the vocabulary" "999999" "vocabulary" -- \
  "$BIN" run --prompt-tokens 999999 -n 2
expect_fail "prompt token id outside the vocabulary (json output)" "999999" "vocabulary" -- \
  "$BIN" run --prompt-tokens 999999 -n 2 --output json
expect_fail "prompt token id outside the GPT-2 vocabulary" "50257" "vocabulary" -- \
  "$BIN" run -m "$TINY" --prompt-tokens 15496,50257 -n 2
expect_fail "negative prompt token id" "-3" "--prompt-tokens" -- "$BIN" run --prompt-tokens=-3 -n 2
expect_fail "prompt token list not integers" "--prompt-tokens" "'x'" -- "$BIN" run --prompt-tokens 1,x,3 -n 2
expect_fail "prompt longer than --ctx-size" "context" "8" -- \
  "$BIN" run --ctx-size 8 --prompt "Once upon a time there was a little girl who loved to play in the park" -n 2
ids=$("$PY" -c 'print(",".join(str(i % 50) for i in range(600)))')
expect_fail "600 prompt tokens on a 512-token model" "600" "512" -- \
  "$BIN" run -m "$CAPP" --prompt-tokens "$ids" -n 2
expect_fail "--ctx-size over the model's maximum" "512" -- "$BIN" run --ctx-size 100000 -n 2
expect_fail "missing --model folder" "$TMP/no_such_model" -- "$BIN" run -m "$TMP/no_such_model" -n 2
mkdir -p "$TMP/no_config"
cp "$CAPP/model.safetensors" "$TMP/no_config/"
expect_fail "model folder without config.json" "config.json" -- \
  "$BIN" run -m "$TMP/no_config" --prompt-tokens 1,2,3 -n 2
expect_fail "empty prompt on a model without BOS" "prompt is empty" "BOS" -- "$BIN" run -m "$CAPP" -n 2
expect_fail "text prompt on a model without tokenizer" "no tokenizer" "--prompt-tokens" -- \
  "$BIN" run -m "$CAPP" --prompt "hello" -n 2
expect_fail "unknown --strategy" "unknown strategy" "fastest" -- "$BIN" run --strategy fastest -n 2
expect_fail "budget below the minimum" "minimum budget" -- "$BIN" run --memory-budget 1K -n 2
expect_fail "budget below the minimum (sequential)" "minimum budget" -- \
  "$BIN" run --strategy sequential --memory-budget 16K -n 2
expect_fail "negative -n" "-n" -- "$BIN" run -n -1
expect_fail "--threads -1" "--threads" -- "$BIN" run -t -1 -n 2
expect_fail "negative temperature" "temperature" -- "$BIN" run --temperature -1 -n 2

# ---- bad usage (CLI11): exit code 2 as commands.hpp documents ----

expect_fail "usage: --output xml" "--output" -- "$BIN" run --output xml -n 2
expect_fail "usage: -n abc" "abc" -- "$BIN" run -n abc
expect_fail "usage: unknown flag" "--nope" -- "$BIN" run --nope
expect_fail "usage: no subcommand" "subcommand" -- "$BIN"
expect_fail "usage: convert without --from" "--from" -- "$BIN" convert

# ---- positive cases ----

# The embedded default model, greedy.
timeout 60 "$BIN" run --prompt "Once upon a time" -n 20 --temperature 0 >"$TMP/stdout" 2>"$TMP/stderr" </dev/null
rc=$?
if [ $rc -ne 0 ]; then
  not_ok "default model greedy" "exit code $rc: $(first_line "$TMP/stderr")"
elif [ "$(head -c 16 "$TMP/stdout")" != "Once upon a time" ]; then
  not_ok "default model greedy" "stdout does not start with the prompt: $(first_line "$TMP/stdout")"
elif [ "$(wc -c <"$TMP/stdout")" -le 30 ]; then
  not_ok "default model greedy" "no generated text: $(first_line "$TMP/stdout")"
else
  ok "default model greedy"
fi

# Every preset in configs/.
shopt -s nullglob
presets=("$SRC"/configs/*.toml)
shopt -u nullglob
if [ ${#presets[@]} -eq 0 ]; then
  echo "ok - presets in configs/ # SKIP none found"
fi
for preset in "${presets[@]}"; do
  name="preset $(basename "$preset")"
  timeout 60 "$BIN" run -c "$preset" --prompt "Once upon a time" -n 5 -s 1 >"$TMP/stdout" 2>"$TMP/stderr" </dev/null
  rc=$?
  if [ $rc -ne 0 ]; then
    not_ok "$name" "exit code $rc: $(first_line "$TMP/stderr")"
  elif [ "$(head -c 16 "$TMP/stdout")" != "Once upon a time" ]; then
    not_ok "$name" "unexpected output: $(first_line "$TMP/stdout")"
  else
    ok "$name"
  fi
done

# Explicit flags override the preset: n_predict = 3 in the preset, -n 7 on the command line.
printf 'n_predict = 3\ntemperature = 0.0\n' >"$TMP/override.toml"
timeout 60 "$BIN" run -c "$TMP/override.toml" -n 7 --output json >"$TMP/stdout" 2>"$TMP/stderr" </dev/null
rc=$?
if [ $rc -ne 0 ]; then
  not_ok "flags override a preset" "exit code $rc: $(first_line "$TMP/stderr")"
else
  count=$("$PY" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["generated_token_ids"]))' \
    "$TMP/stdout" 2>&1)
  if [ "$count" = "7" ]; then
    ok "flags override a preset"
  else
    not_ok "flags override a preset" "expected 7 generated ids, got: $count"
  fi
fi

# The preset's values apply where no flag is given: n_predict = 3, greedy, so two runs agree.
timeout 60 "$BIN" run -c "$TMP/override.toml" --output json >"$TMP/run1" 2>"$TMP/stderr" </dev/null
rc1=$?
timeout 60 "$BIN" run -c "$TMP/override.toml" --output json >"$TMP/run2" 2>>"$TMP/stderr" </dev/null
rc2=$?
if [ $rc1 -ne 0 ] || [ $rc2 -ne 0 ]; then
  not_ok "preset values apply" "exit codes $rc1 $rc2: $(first_line "$TMP/stderr")"
else
  ids1=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["generated_token_ids"])' "$TMP/run1" 2>&1)
  ids2=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["generated_token_ids"])' "$TMP/run2" 2>&1)
  n=$("$PY" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["generated_token_ids"]))' "$TMP/run1" 2>&1)
  if [ "$n" = "3" ] && [ "$ids1" = "$ids2" ]; then
    ok "preset values apply"
  else
    not_ok "preset values apply" "expected 3 identical greedy ids, got $ids1 and $ids2"
  fi
fi

finish
