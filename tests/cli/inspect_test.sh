#!/usr/bin/env bash
# edge-rt inspect: its minimum budget per strategy is the one `run` enforces (same context and batch), and the
# text report names units and plans. Usage: inspect_test.sh EDGE_RT SHARED_MODELS_DIR
set -u
bin=$1 models=$2
py=/usr/bin/python3
failed=0 passed=0
check() { if eval "$2"; then echo "ok - $1"; passed=$((passed + 1)); else echo "not ok - $1"; failed=$((failed + 1)); fi; }

for model in "" "$models/capp-gpt2-tiny"; do
  margs=(); [ -n "$model" ] && margs=(-m "$model")
  # run sizes its prefill batch as prompt + 1 (room for BOS): 1 from BOS alone, 2 with capp's one prompt token.
  prompt=(); batch=1; [ -n "$model" ] && prompt=(--prompt-tokens 0) && batch=2
  json=$("$bin" inspect "${margs[@]}" --ctx-size 64 --batch "$batch" --json) || { echo "not ok - inspect --json failed"; exit 1; }
  for strategy in sequential greedy-grouping speculative-prefetch; do
    min=$(echo "$json" | "$py" -c "import json,sys; print([p for p in json.load(sys.stdin)['plans'] if p['strategy'] == '$strategy'][0]['minimum_budget_bytes'])")
    run=("$bin" run "${margs[@]}" "${prompt[@]}" --ctx-size 64 -n 3 --temperature 0 --strategy "$strategy")
    check "${model:-default} $strategy: run accepts the minimum $min" '"${run[@]}" --memory-budget "$min" >/dev/null 2>&1'
    err=$("${run[@]}" --memory-budget $((min - 1)) 2>&1 >/dev/null)
    check "${model:-default} $strategy: run refuses $((min - 1)) naming the same minimum" '[[ "$err" == *"minimum budget"*"($min bytes)"* ]]'
  done
done
text=$("$bin" inspect -m "$models/capp-gpt2-tiny" --memory-budget 300K)
check "text report lists units and every strategy" '[[ "$text" == *"layer.3.ffn"*"sequential"*"greedy-grouping"*"speculative-prefetch"* ]]'
bad=$("$bin" inspect -m "$models/does-not-exist" 2>&1); rc=$?
check "missing model is an error" '[ "$rc" -eq 1 ] && [[ "$bad" == *"does-not-exist"* ]]'
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
