#!/usr/bin/env bash
# Streaming benchmark: decode speed, bytes streamed and peak RSS per strategy and budget, warm and cold cache,
# against the storage's sequential read bandwidth measured in the same run. Prints a Markdown table.
#   tools/bench_streaming.sh BUILD_DIR MODEL_DIR "64M 128M 256M unlimited" [N_TOKENS]
# Cold rows drop the page cache first (needs root: /proc/sys/vm/drop_caches) and run with --cold-cache (O_DIRECT
# reads where the file system allows them). The storage on a shared VM drifts by 2x within minutes, so every cold
# row measures the read bandwidth (edge_rt_readbw, O_DIRECT, cold) right before it and reports its share of that.
set -euo pipefail
build=$1 model=$2 budgets=$3 n=${4:-16}
bin=$build/apps/edge-rt/edge-rt
py=/usr/bin/python3
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
files=$(ls "$model"/*.safetensors)
# Cold sequential read of the model's files in MB/s.
readbw() {
  drop
  for f in $files; do "$build/tools/edge_rt_readbw" "$f"; done |
    "$py" -c "import json, sys; r = [json.loads(l) for l in sys.stdin]; print('%.0f' % (sum(x['bytes'] for x in r) / sum(x['seconds'] for x in r) / 1e6))"
}
echo "| strategy | budget | cache | decode tok/s | MB streamed/token | tok/s x MB/token (MB/s) | read probe MB/s | share of probe | I/O ms/token | compute ms/token | stall ms/token | wall / max(I/O, compute) | peak pool MiB | peak RSS MiB | tokens |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for budget in $budgets; do
  for strategy in sequential greedy-grouping speculative-prefetch; do
    for cache in warm cold; do
      extra=() probe=0
      if [ "$cache" = cold ]; then probe=$(readbw); drop; extra=(--cold-cache); fi
      "$bin" run -m "$model" -p "Hello, my name is" -n "$n" --temperature 0 --strategy "$strategy" \
        --memory-budget "$budget" --output json "${extra[@]}" 2>/dev/null |
        "$py" -c "
import json, sys
d = json.load(sys.stdin); m = d['metrics']; p = m['passes'][1:]; k = max(1, len(p))
io = sum(x['io_ms'] for x in p) / k; comp = sum(x['compute_ms'] for x in p) / k
stall = sum(x['stall_ms'] for x in p) / k; wall = m['decode_ms'] / k; mb = m['streamed_bytes_per_token'] / 1e6
ratio = wall / max(io, comp) if max(io, comp) > 0 else 1.0
probe = $probe; rate = m['decode_tok_s'] * mb
share = '%.0f%%' % (100 * rate / probe) if probe > 0 and mb > 0 else '-'
print('| $strategy | $budget | $cache | %.2f | %.1f | %.0f | %s | %s | %.0f | %.0f | %.0f | %.2f | %.0f | %.0f | %s |' % (
    m['decode_tok_s'], mb, rate, probe or '-', share, io, comp, stall, ratio, m['peak_pool_bytes'] / 2**20,
    m['peak_rss_bytes'] / 2**20, ','.join(map(str, d['generated_token_ids'][:6]))))"
    done
  done
done
