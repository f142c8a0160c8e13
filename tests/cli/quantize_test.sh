#!/usr/bin/env bash
# edge-rt quantize and perplexity on the real models: formats checked by an independent numpy reader, the quality
# limits of each format (issue targets), F16 greedy == F32 greedy, identical results for 1 and 3 threads, and the
# errors for bad input.
#
# Usage: quantize_test.sh <edge-rt binary> <shared models dir> <source dir> <python with numpy>
set -u

if [ $# -ne 4 ]; then
  echo "usage: $0 <edge-rt binary> <shared models dir> <source dir> <python>" >&2
  exit 2
fi
BIN=$1
MODELS=$2
SRC=$3
PY=$4
S260K=$SRC/models/stories260K
EVAL=$SRC/tests/data/eval/tinystories_eval.txt
CHECK=$SRC/tools/reference/quant_check.py

source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
check() {  # check <name> <command...>: ok when the command exits 0
  local name=$1
  shift
  if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$(echo "$out" | tail -n 3)"; fi
}
rewrite_metadata() {  # rewrite_metadata <safetensors file> <python expression mapping (k, v) to the new v, or None to drop>
  "$PY" - "$1" "$2" <<'PYEOF'
import json, struct, sys
p, expr = sys.argv[1], sys.argv[2]
raw = open(p, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
new = {k: eval(expr, {"k": k, "v": v}) for k, v in h["__metadata__"].items()}
h["__metadata__"] = {k: v for k, v in new.items() if v is not None}
text = json.dumps(h).encode()
text += b" " * ((8 - (8 + len(text)) % 8) % 8)
open(p, "wb").write(struct.pack("<Q", len(text)) + text + raw[8 + n:])
PYEOF
}
json_field() {  # json_field <file> <python expression over d>
  "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}

for type in f16 bf16 q8_0 q4_0; do
  check "quantize stories260K $type" timeout 120 "$BIN" quantize -m "$S260K" --type $type --out "$TMP/s-$type"
  check "numpy reads stories260K $type" "$PY" "$CHECK" "$S260K" "$TMP/s-$type"
done
for type in q8_0 q4_0; do
  check "quantize capp-gpt2-tiny $type (Conv1D transposed)" timeout 120 "$BIN" quantize -m "$MODELS/capp-gpt2-tiny" \
    --type $type --out "$TMP/c-$type"
  check "numpy reads capp-gpt2-tiny $type" "$PY" "$CHECK" "$MODELS/capp-gpt2-tiny" "$TMP/c-$type"
done

# GPT-2 F16: Conv1D written output-major by default (marked in the metadata), or kept as HF stores it with
# --hf-layout; both read back by numpy and both decode exactly the tokens of F32.
check "quantize capp-gpt2-tiny f16" timeout 120 "$BIN" quantize -m "$MODELS/capp-gpt2-tiny" --type f16 --out "$TMP/c-f16"
check "quantize capp-gpt2-tiny f16 --hf-layout" timeout 120 "$BIN" quantize -m "$MODELS/capp-gpt2-tiny" --type f16 \
  --hf-layout --out "$TMP/c-f16-hf"
check "numpy reads capp-gpt2-tiny f16 (output-major)" "$PY" "$CHECK" "$MODELS/capp-gpt2-tiny" "$TMP/c-f16"
check "numpy reads capp-gpt2-tiny f16 (HF layout)" "$PY" "$CHECK" "$MODELS/capp-gpt2-tiny" "$TMP/c-f16-hf"
marked=$("$PY" -c "
import json, struct, sys
raw = open(sys.argv[1], 'rb').read(); n = struct.unpack('<Q', raw[:8])[0]; h = json.loads(raw[8:8 + n])
m = h.get('__metadata__', {}); print(sum(1 for k, v in m.items() if k.startswith('edge_rt.layout.') and v == 'out_in'))
" "$TMP/c-f16/model.safetensors")
[ "$marked" = 16 ] && ok "16 Conv1D matrices marked out_in" || not_ok "Conv1D layout metadata" "$marked marked"
ids=()
for dir in "$MODELS/capp-gpt2-tiny" "$TMP/c-f16" "$TMP/c-f16-hf"; do
  timeout 60 "$BIN" run -m "$dir" --prompt-tokens 0,7,15,17,21,25 -n 30 --temp 0 --output json >"$TMP/g.json" 2>/dev/null
  ids+=("$(json_field "$TMP/g.json" "d['generated_token_ids']")")
done
if [ -n "${ids[0]}" ] && [ "${ids[0]}" = "${ids[1]}" ] && [ "${ids[0]}" = "${ids[2]}" ]; then
  ok "capp-gpt2-tiny greedy: F32 == F16 output-major == F16 HF layout"
else
  not_ok "capp-gpt2-tiny F16 greedy" "${ids[*]}"
fi

# Greedy: F16 equals F32 for 100 tokens.
timeout 60 "$BIN" run -m "$S260K" -n 100 --temp 0 --output json >"$TMP/f32.json" 2>/dev/null
timeout 60 "$BIN" run -m "$TMP/s-f16" -n 100 --temp 0 --output json >"$TMP/f16.json" 2>/dev/null
a=$(json_field "$TMP/f32.json" "d['generated_token_ids']")
b=$(json_field "$TMP/f16.json" "d['generated_token_ids']")
n=$(json_field "$TMP/f32.json" "len(d['generated_token_ids'])")
if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$n" = 100 ]; then ok "F16 greedy == F32 greedy (100 tokens)"; else
  not_ok "F16 greedy == F32 greedy" "$n tokens; f32 ${a:0:60} f16 ${b:0:60}"
fi

# Quality: perplexity on the evaluation text, relative to F32.
# The 32-weight formats of GGUF files; stories260K's rows (64, 172) are too short for the K-quants, which take
# llama.cpp's fallbacks (Q4_K -> Q5_0, Q6_K -> Q8_0), listed by quantize.
for type in q4_1 q5_0 q5_1; do
  check "quantize stories260K $type" timeout 120 "$BIN" quantize -m "$S260K" --type $type --out "$TMP/s-$type"
done
msg=$("$BIN" quantize -m "$S260K" --type q4_k --out "$TMP/s-q4_k" 2>&1)
if [ $? -eq 0 ] && echo "$msg" | grep -q "Q5_0 (input dimension 64 is not a multiple of 256)"; then
  ok "quantize stories260K q4_k: rows of 64 fall back to Q5_0, said"
else
  not_ok "quantize stories260K q4_k fallback" "$msg"
fi
for m in f32 q8_0 q4_0 q4_1 q5_0 q5_1; do
  dir=$TMP/s-$m
  [ $m = f32 ] && dir=$S260K
  timeout 300 "$BIN" perplexity -m "$dir" -f "$EVAL" --output json >"$TMP/ppl-$m.json" 2>/dev/null
done
ppl_within() {  # ppl_within <label> <F32 perplexity json> <other json> <bound>: |other / F32 - 1| <= bound
  local rel
  rel=$("$PY" -c "import json; a=json.load(open('$2'))['perplexity']; b=json.load(open('$3'))['perplexity']; print(f'{b/a-1:.4f}')" 2>/dev/null)
  if [ -n "$rel" ] && "$PY" -c "import sys; sys.exit(0 if abs($rel) <= $4 else 1)"; then
    ok "$1 perplexity within $4 of F32 ($rel)"
  else
    not_ok "$1 perplexity within $4 of F32" "relative change '$rel'"
  fi
}
for spec in "q8_0 0.01" "q4_0 0.05" "q4_1 0.06" "q5_0 0.02" "q5_1 0.02"; do
  set -- $spec
  ppl_within "$1" "$TMP/ppl-f32.json" "$TMP/ppl-$1.json" "$2"
done
scored=$(json_field "$TMP/ppl-f32.json" "len(d['tokens']) == d['scored_tokens'] and d['scored_tokens'] > 1000")
[ "$scored" = True ] && ok "perplexity lists every scored token's NLL" || not_ok "perplexity per-token NLL" "$scored"

# K-quants on rows of whole 256-weight blocks (tools/gen_model.py llama-256, random weights): written, read back
# as written, and close to F32 on the same text (random logits are flat, so this bounds gross errors only).
L256=$TMP/llama-256
if "$PY" "$SRC/tools/gen_model.py" --arch llama-256 --dtype f32 --seed 1 --out "$L256" >/dev/null 2>&1; then
  timeout 300 "$BIN" perplexity -m "$L256" -f "$EVAL" --chunks 2 --output json >"$TMP/ppl-l256.json" 2>/dev/null
  for spec in "q4_k 0.02" "q5_k 0.01" "q6_k 0.005"; do
    set -- $spec
    check "quantize llama-256 $1" timeout 120 "$BIN" quantize -m "$L256" --type $1 --out "$TMP/l-$1"
    upper=$(echo "$1" | tr a-z A-Z)
    dtypes=$("$BIN" inspect -m "$TMP/l-$1" --json 2>/dev/null | "$PY" -c "import json,sys; print(sorted({u['dtype'] for u in json.load(sys.stdin)['units']}))" 2>&1)
    echo "$dtypes" | grep -q "F32+$upper" && ok "llama-256 $1: the layers hold $upper" || not_ok "llama-256 $1 layers" "$dtypes"
    timeout 300 "$BIN" perplexity -m "$TMP/l-$1" -f "$EVAL" --chunks 2 --output json >"$TMP/ppl-l-$1.json" 2>/dev/null
    ppl_within "llama-256 $1" "$TMP/ppl-l256.json" "$TMP/ppl-l-$1.json" "$2"
  done
else
  not_ok "tools/gen_model.py llama-256" "generation failed"
fi

# Same logits for 1 and 3 threads (deterministic reductions), F32 and Q4_0.
for dir in "$S260K" "$TMP/s-q4_0" "$TMP/c-q8_0"; do
  extra=()
  case $dir in *c-q8_0) extra=(--prompt-tokens 1,2,3,4,5,6,7,8) ;; *) extra=(-p "Once upon a time") ;; esac
  timeout 60 "$BIN" run -m "$dir" "${extra[@]}" -n 20 --temp 0 -t 1 --all-logits --output json >"$TMP/t1.json" 2>/dev/null
  timeout 60 "$BIN" run -m "$dir" "${extra[@]}" -n 20 --temp 0 -t 3 --all-logits --output json >"$TMP/t3.json" 2>/dev/null
  same=$("$PY" -c "import json; a=json.load(open('$TMP/t1.json')); b=json.load(open('$TMP/t3.json')); print(a['generated_token_ids']==b['generated_token_ids'] and a['logits']==b['logits'] and len(a['logits'])>0)" 2>/dev/null)
  [ "$same" = True ] && ok "1 and 3 threads identical: $(basename "$dir")" || not_ok "1 vs 3 threads $(basename "$dir")" "$same"
done

# Bad input.
"$BIN" quantize -m "$S260K" --type q3_k --out "$TMP/x" >/dev/null 2>&1
[ $? -eq 2 ] && ok "unknown --type exits 2" || not_ok "unknown --type" "exit code"
msg=$("$BIN" quantize -m "$TMP/s-q8_0" --type q4_0 --out "$TMP/x" 2>&1)
[ $? -eq 1 ] && echo "$msg" | grep -q "already Q8_0" && ok "re-quantizing is refused" || not_ok "re-quantize" "$msg"
msg=$("$BIN" quantize -m "$S260K" --type q8_0 --out "$S260K" 2>&1)
[ $? -eq 1 ] && echo "$msg" | grep -q "is the source folder" && ok "--out == --model refused" || not_ok "--out == --model" "$msg"
cp -r "$TMP/s-q8_0" "$TMP/nometa"
rewrite_metadata "$TMP/nometa/model.safetensors" "None if k.startswith('edge_rt.quant.') else v"
msg=$("$BIN" run -m "$TMP/nometa" -n 1 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$msg" | grep -q "has dtype U8 but __metadata__ has no 'edge_rt.quant." && ok "U8 without metadata: clear error" \
  || not_ok "U8 without metadata" "exit $rc: $msg"
cp -r "$TMP/c-f16" "$TMP/badlayout"
rewrite_metadata "$TMP/badlayout/model.safetensors" "'sideways' if k.startswith('edge_rt.layout.') else v"
msg=$("$BIN" run -m "$TMP/badlayout" --prompt-tokens 0,7 -n 1 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$msg" | grep -q "is 'sideways', expected 'out_in'" && ok "bad layout metadata: clear error" \
  || not_ok "bad layout metadata" "exit $rc: $msg"
msg=$("$BIN" perplexity -m "$S260K" -f "$TMP/missing.txt" 2>&1)
[ $? -eq 1 ] && echo "$msg" | grep -q -- "--file .*missing.txt: cannot open" && ok "perplexity: missing file" || not_ok "perplexity missing file" "$msg"

finish
