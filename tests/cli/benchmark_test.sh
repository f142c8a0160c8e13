#!/usr/bin/env bash
# edge-rt benchmark, presets on every command, --memory-budget auto and the run-time monitor, on the embedded model.
# Usage: benchmark_test.sh EDGE_RT SOURCE_DIR
set -u
bin=$1 src=$2
fixtures=$src/tests/resource_monitor/fixtures
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0 passed=0
check() { if eval "$2"; then echo "ok - $1"; passed=$((passed + 1)); else echo "not ok - $1"; failed=$((failed + 1)); fi; }
py_json() { "$py" -c "import json,sys; d=json.load(open('$1')); print($2)"; }

# benchmark: 2 budgets x 2 strategies x 1 thread count, pp and tg rows, llama-bench fields.
"$bin" benchmark --sweep-memory 1M,none --strategies sequential,speculative-prefetch -t 1 -p 16 -n 8 -r 3 \
  --output json >"$tmp/b.json" 2>"$tmp/b.err"
rc=$?
check "benchmark json exits 0" '[ "$rc" -eq 0 ]'
check "benchmark: 8 records (4 configs x pp, tg)" '[ "$(py_json "$tmp/b.json" "len(d[\"results\"])")" = 8 ]'
check "benchmark: tests pp16 and tg8" '[ "$(py_json "$tmp/b.json" "\" \".join(sorted(set(r[\"test\"] for r in d[\"results\"])))")" = "pp16 tg8" ]'
check "benchmark: llama-bench fields, 3 samples each" '[ "$(py_json "$tmp/b.json" "all(len(r[\"samples_ts\"]) == 3 and len(r[\"samples_ns\"]) == 3 and r[\"avg_ts\"] > 0 and r[\"stddev_ts\"] >= 0 and r[\"avg_ns\"] > 0 and r[\"model_n_params\"] == 260032 and r[\"n_threads\"] == 1 for r in d[\"results\"])")" = True ]'
check "benchmark: avg_ts is the mean of samples_ts" '[ "$(py_json "$tmp/b.json" "all(abs(r[\"avg_ts\"] - sum(r[\"samples_ts\"]) / 3) < 1e-6 * r[\"avg_ts\"] for r in d[\"results\"])")" = True ]'
check "benchmark: a 1M budget streams, none does not" '[ "$(py_json "$tmp/b.json" "all((r[\"streamed_bytes_per_token\"] > 0) == (r[\"memory_budget\"] == \"1M\") for r in d[\"results\"])")" = True ]'
check "benchmark: p50 <= p99, peak RSS set" '[ "$(py_json "$tmp/b.json" "all(0 < r[\"token_p50_ms\"] <= r[\"token_p99_ms\"] and r[\"peak_rss_bytes\"] > 0 for r in d[\"results\"])")" = True ]'
check "benchmark: summary names the fastest" '[ "$(py_json "$tmp/b.json" "d[\"summary\"][\"fastest\"][\"avg_ts\"] == max(r[\"avg_ts\"] for r in d[\"results\"] if r[\"n_gen\"] > 0)")" = True ]'
"$py" "$src/tools/bench_to_md.py" "$tmp/b.json" >"$tmp/b.md" 2>&1
check "bench_to_md.py: a row per configuration, pp and tg side by side" '[ "$(grep -c "^| \(1M\|none\) | .* | 1 | [0-9.]* +- [0-9.]* | [0-9.]* +- [0-9.]* |" "$tmp/b.md")" -eq 4 ]'
check "benchmark: progress on stderr" 'grep -q "\[4/4\]" "$tmp/b.err"'
check "benchmark: progress to a file is a line per repetition, no carriage returns" '[ "$(grep -c "^\[[0-9]/4\] .*repetition [0-9]/3$" "$tmp/b.err")" -eq 12 ] && ! grep -q $'"'"'\r'"'"' "$tmp/b.err"'

"$bin" benchmark -p 8 -n 4 -r 2 --output csv --no-progress >"$tmp/b.csv" 2>"$tmp/b.err"
check "benchmark csv: header and 2 rows" '[ "$(head -n 1 "$tmp/b.csv" | cut -d, -f1-3)" = "model_filename,model_size,model_n_params" ] && [ "$(wc -l <"$tmp/b.csv")" -eq 3 ]'
"$bin" benchmark -p 8 -n 4 -r 1 >"$tmp/b.txt" 2>/dev/null
check "benchmark table: rows and summary" 'grep -q "| tg4 |" "$tmp/b.txt" && grep -q "^fastest decode" "$tmp/b.txt"'

"$bin" benchmark --sweep-memory 12X -p 8 -n 4 >/dev/null 2>"$tmp/err"; rc=$?
check "benchmark: bad budget is an error naming it" '[ "$rc" -eq 1 ] && grep -q "12X" "$tmp/err"'
"$bin" benchmark --strategies fastest -p 8 -n 4 >/dev/null 2>"$tmp/err"; rc=$?
check "benchmark: unknown strategy is an error" '[ "$rc" -eq 1 ] && grep -q "fastest" "$tmp/err"'
"$bin" benchmark -t 1,x >/dev/null 2>"$tmp/err"; rc=$?
check "benchmark: bad thread list is a usage error" '[ "$rc" -eq 2 ] && grep -q "threads" "$tmp/err"'
"$bin" benchmark -r 0 >/dev/null 2>"$tmp/err"; rc=$?
check "benchmark: -r 0 is a usage error naming -r" '[ "$rc" -eq 2 ] && grep -q -- "--repetitions" "$tmp/err"'

# -c applies to every command; flags override it.
printf 'memory_budget = "1M"\nstrategy = "sequential"\nnum_threads = 1\nctx_size = 64\n' >"$tmp/p.toml"
"$bin" benchmark -c "$tmp/p.toml" -p 8 -n 4 -r 1 --output json --no-progress >"$tmp/c.json" 2>/dev/null
check "benchmark -c: budget, strategy, threads from the preset" '[ "$(py_json "$tmp/c.json" "[(r[\"memory_budget\"], r[\"strategy\"], r[\"n_threads\"]) for r in d[\"results\"]][0]")" = "('"'"'1M'"'"', '"'"'sequential'"'"', 1)" ]'
"$bin" inspect -c "$tmp/p.toml" --json >"$tmp/i.json" 2>/dev/null
check "inspect -c: budget and context from the preset" '[ "$(py_json "$tmp/i.json" "d[\"budget_bytes\"], d[\"n_ctx\"]")" = "1048576 64" ]'
"$bin" inspect -c "$tmp/p.toml" --memory-budget 2M --json >"$tmp/i.json" 2>/dev/null
check "inspect: a flag overrides the preset" '[ "$(py_json "$tmp/i.json" "d.get(\"budget_bytes\")")" = 2097152 ]'
printf 'model = "%s/models/stories260K"\n' "$src" >"$tmp/m.toml"
"$bin" tokenize -c "$tmp/m.toml" --text "Once upon" >"$tmp/t.out" 2>&1
check "tokenize -c: model from the preset" '"$py" -c "import json, sys; assert len(json.load(open(sys.argv[1]))) > 0" "$tmp/t.out"'
"$bin" status -c "$tmp/m.toml" --root "$fixtures/rpi4-4gb" --json >"$tmp/s.json" 2>"$tmp/s.err"  # stderr apart: a sanitizer report there is not JSON
check "status -c: model from the preset" '[ "$(py_json "$tmp/s.json" "d[\"model_weight_bytes\"] > 0")" = True ]'
"$bin" quantize -c "$tmp/m.toml" --type q8_0 --out "$tmp/q8" >/dev/null 2>"$tmp/err"; rc=$?
check "quantize -c: source model from the preset" '[ "$rc" -eq 0 ] && [ -f "$tmp/q8/model.safetensors" ] && grep -q "Q8_0" "$tmp/err"'
"$bin" quantize --type q8_0 --out "$tmp/q8b" >/dev/null 2>"$tmp/err"; rc=$?
check "quantize without --model or preset model: error" '[ "$rc" -eq 1 ] && grep -q "quantize needs --model" "$tmp/err" && [ ! -e "$tmp/q8b" ]'
printf 'strategy = "sequential"\n' >"$tmp/s.toml"
"$bin" convert --from llama2c --checkpoint x.bin --tokenizer t.bin -c "$tmp/s.toml" >/dev/null 2>"$tmp/err"; rc=$?
check "convert -c without a model and no --out: error" '[ "$rc" -eq 1 ] && grep -q "convert needs --out" "$tmp/err"'
printf 'modle = "x"\n' >"$tmp/bad.toml"
"$bin" quantize -c "$tmp/bad.toml" --type q8_0 --out "$tmp/q8c" >/dev/null 2>"$tmp/err"; rc=$?
check "quantize -c: unknown key named" '[ "$rc" -eq 1 ] && grep -q "modle" "$tmp/err"'
printf 'pace_ms = -1\n' >"$tmp/bad.toml"
"$bin" status -c "$tmp/bad.toml" >/dev/null 2>"$tmp/err"; rc=$?
check "preset: out-of-range threshold names the key" '[ "$rc" -eq 1 ] && grep -q pace_ms "$tmp/err"'
printf 'battery_low_percent = "low"\n' >"$tmp/bad.toml"
"$bin" benchmark -c "$tmp/bad.toml" >/dev/null 2>"$tmp/err"; rc=$?
check "preset: wrong type names the key" '[ "$rc" -eq 1 ] && grep -q battery_low_percent "$tmp/err"'

# Every device preset loads and plans the embedded model.
for name in rpi4-4gb rpi5-8gb jetson-orin-nano android-midrange constrained-512mb performance; do
  "$bin" inspect -c "$src/configs/$name.toml" --json >"$tmp/i.json" 2>"$tmp/err"; rc=$?
  check "preset $name: inspect plans with it" '[ "$rc" -eq 0 ] && [ "$(py_json "$tmp/i.json" "d.get(\"budget_bytes\") is not None")" = True ]'
done

# --memory-budget auto: from MemAvailable and the cgroup limit, with the reason on stderr.
"$bin" run -p "Once" -n 3 --temp 0 --memory-budget auto --output json >"$tmp/r.json" 2>"$tmp/err"; rc=$?
check "run --memory-budget auto" '[ "$rc" -eq 0 ] && grep -q "memory-budget auto:" "$tmp/err" && [ "$(py_json "$tmp/r.json" "d[\"metrics\"][\"budget_bytes\"] >= 64 << 20")" = True ]'

# The monitor: a throttled Raspberry Pi tree lowers threads and paces decoding, the tokens stay the same.
"$bin" run -p "Once upon a time" -n 12 --temp 0 -t 2 --output json >"$tmp/plain.json" 2>/dev/null
"$bin" run -p "Once upon a time" -n 12 --temp 0 -t 2 --monitor-root "$fixtures/rpi4-4gb" --output json \
  >"$tmp/hot.json" 2>"$tmp/err"
check "monitor: logs what it did" 'grep -q "monitor: thermal: the Raspberry Pi firmware reports throttling: threads -> 1" "$tmp/err"'
check "monitor: paced and one thread" '[ "$(py_json "$tmp/hot.json" "d[\"metrics\"][\"min_threads\"], d[\"metrics\"][\"paced_ms\"] > 0")" = "1 True" ]'
check "monitor: same tokens" '[ "$(py_json "$tmp/hot.json" "d[\"generated_token_ids\"]")" = "$(py_json "$tmp/plain.json" "d[\"generated_token_ids\"]")" ]'
check "no monitor on a cool host" '[ "$(py_json "$tmp/plain.json" "d[\"metrics\"][\"paced_ms\"]")" = 0.0 ]'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
