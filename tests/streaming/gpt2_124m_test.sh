#!/usr/bin/env bash
# Budget-true streaming on a full-size shape: GPT-2 124M F32 (498 MB, generated on demand with random weights).
#   gpt2_124m_test.sh EDGE_RT MODEL_DIR rss|cgroup
# rss:    every strategy at 64M, 128M, 256M and no budget gives the unlimited run's tokens, with the pool's peak
#         within the budget and peak RSS (VmHWM) within budget + 16 MiB (the documented fixed overhead); so do
#         --cold-cache runs (O_DIRECT straight into the pool's direct-read slots) at 64M and 256M.
# cgroup: as root with a memory cgroup (v1 or v2), budget 64 MiB inside a 96 MiB memory cgroup completes with the
#         same tokens and no OOM kill; exits 77 (CTest: skipped) with a message where that is not possible.
set -u
bin=$1 model=$2 mode=$3
py=/usr/bin/python3
overhead=$((16 << 20))
args=(run -m "$model" --prompt "Hello, my name is" -n 6 --temperature 0 --output json)

field() { "$py" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

baseline=$("$bin" "${args[@]}" | field "d['generated_token_ids']") || { echo "FAIL: unlimited run failed"; exit 1; }
echo "baseline tokens: $baseline"
failed=0 passed=0

if [ "$mode" = rss ]; then
  runs=()
  for strategy in sequential greedy-grouping speculative-prefetch; do
    for budget in 64M 128M 256M unlimited; do runs+=("$strategy $budget"); done
  done
  runs+=("sequential 64M --cold-cache" "speculative-prefetch 256M --cold-cache")
  for run in "${runs[@]}"; do
    read -r strategy budget cold <<< "$run"
    out=$("$bin" "${args[@]}" --strategy "$strategy" --memory-budget "$budget" ${cold:+"$cold"}) || {
      echo "not ok - $strategy $budget${cold:+ $cold}: edge-rt failed"; failed=$((failed + 1)); continue; }
    read -r tokens pool rss < <(echo "$out" | field "str(d['generated_token_ids']).replace(' ', ''), d['metrics']['peak_pool_bytes'], d['metrics']['peak_rss_bytes']")
    limit=$("$py" -c "print({'64M': 64 << 20, '128M': 128 << 20, '256M': 256 << 20}.get('$budget', 0))")
    msg="$strategy $budget${cold:+ $cold}: pool $((pool >> 20)) MiB, peak RSS $((rss >> 20)) MiB"
    if [ "$tokens" != "$(echo "$baseline" | tr -d ' ')" ]; then
      echo "not ok - $msg: tokens $tokens differ from $baseline"; failed=$((failed + 1))
    elif [ "$limit" -gt 0 ] && { [ "$pool" -gt "$limit" ] || [ "$rss" -gt $((limit + overhead)) ]; }; then
      echo "not ok - $msg: over budget $budget (+16 MiB for RSS)"; failed=$((failed + 1))
    else
      echo "ok - $msg"; passed=$((passed + 1))
    fi
  done
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
fi

# cgroup mode
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root to create a memory cgroup"; exit 77; }
name=edge_rt_test_$$
if [ -w /sys/fs/cgroup/memory ]; then
  dir=/sys/fs/cgroup/memory/$name
  mkdir "$dir" || { echo "SKIP: cannot create $dir"; exit 77; }
  echo $((96 << 20)) > "$dir/memory.limit_in_bytes"
  [ -w "$dir/memory.memsw.limit_in_bytes" ] && echo $((96 << 20)) > "$dir/memory.memsw.limit_in_bytes"
elif grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
  dir=/sys/fs/cgroup/$name
  mkdir "$dir" 2>/dev/null || { echo "SKIP: cannot create $dir (cgroup v2 not delegated)"; exit 77; }
  echo $((96 << 20)) > "$dir/memory.max" || { rmdir "$dir"; echo "SKIP: memory controller not enabled"; exit 77; }
  echo 0 > "$dir/memory.swap.max" 2>/dev/null
else
  echo "SKIP: no memory cgroup (v1 or v2) available"; exit 77
fi
trap 'rmdir "$dir" 2>/dev/null' EXIT
for strategy in sequential speculative-prefetch; do
  out=$(sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$dir" "$bin" "${args[@]}" \
        --strategy "$strategy" --memory-budget 64M)
  rc=$?
  tokens=$(echo "$out" | field "d['generated_token_ids']" 2>/dev/null)
  oom=$(grep -h oom_kill "$dir/memory.oom_control" "$dir/memory.events" 2>/dev/null | awk '$1 == "oom_kill" {print $2}' | head -n 1)
  if [ "$rc" -ne 0 ]; then
    echo "not ok - $strategy: exit $rc inside the 96 MiB cgroup (137 = OOM kill)"; failed=$((failed + 1))
  elif [ "$tokens" != "$baseline" ]; then
    echo "not ok - $strategy: tokens $tokens differ from $baseline"; failed=$((failed + 1))
  elif [ -n "$oom" ] && [ "$oom" != 0 ]; then
    echo "not ok - $strategy: the cgroup recorded $oom OOM kills"; failed=$((failed + 1))
  else
    echo "ok - $strategy: budget 64 MiB in a 96 MiB cgroup, same tokens, no OOM kill"; passed=$((passed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
