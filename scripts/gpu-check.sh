#!/usr/bin/env bash
# The Vulkan backend on a machine with a real GPU, in one run of at most 8 minutes: build, the op tests against
# the CPU reference (validation layer on), then decode on GPT-2 124M and 1.5B shapes at F16/Q8_0/Q4_0 (random
# weights from tools/gen_model.py), CPU and GPU side by side, with the achieved weight bandwidth.
#
# Usage: scripts/gpu-check.sh [GPU_BANDWIDTH_GBPS]   (default 4800: an H200's HBM3e, 4.8 TB/s)
# Writes $OUT/gpu-check.md (or ./gpu-check.md) and prints it. Needs the Vulkan loader and the GPU's ICD
# (NVIDIA: the driver's nvidia_icd.json); exits 1 when `edge-rt status` lists no usable Vulkan device.
set -euo pipefail
cd "$(dirname "$0")/.."
bandwidth_gbps=${1:-4800}
out_dir=${OUT:-.}
report="$out_dir/gpu-check.md"
jobs=$(nproc)
start=$(date +%s)

bash scripts/bootstrap.sh >/dev/null
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs" --target edge-rt edge_rt_vulkan_tests >/dev/null
B=build/release/apps/edge-rt/edge-rt

$B status | sed -n '/^Vulkan/,$p'
if ! $B status --json | /usr/bin/python3 -c 'import json,sys; sys.exit(0 if any(d["usable"] for d in json.load(sys.stdin)["vulkan"]["devices"]) else 1)'; then
  echo "gpu-check: no usable Vulkan device" >&2
  exit 1
fi
EDGE_RT_VULKAN_VALIDATION=1 build/release/tests/edge_rt_vulkan_tests --gtest_brief=1

models=$(mktemp -d)
trap 'rm -rf "$models"' EXIT
{
  echo "# gpu-check $(date -u +%F) on $($B status --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["vulkan"]["devices"][0]["name"])')"
  echo
  echo "Decode (tg32 after pp32), weights resident; bandwidth = weight bytes x tok/s, against ${bandwidth_gbps} GB/s."
  echo
  echo "| model | format | device | decode tok/s | GB/s | % of peak |"
  echo "|---|---|---|---:|---:|---:|"
} > "$report"
for arch in gpt2-124m gpt2-1.5b; do
  /usr/bin/python3 tools/gen_model.py --arch "$arch" --dtype f16 --out "$models/$arch-f16" >/dev/null
  for fmt in f16 q8_0 q4_0; do
    dir="$models/$arch-$fmt"
    [ "$fmt" = f16 ] || $B quantize -m "$models/$arch-f16" --type "$fmt" --out "$dir" >/dev/null 2>&1
    if [ $(( $(date +%s) - start )) -gt 420 ]; then
      echo "| $arch | $fmt | skipped: the 8-minute budget is spent | | | |" >> "$report"
      continue
    fi
    $B benchmark -m "$dir" -p 32 -n 32 -r 2 --device cpu,vulkan -o json 2>/dev/null |
      /usr/bin/python3 -c '
import json, sys
arch, fmt, peak = sys.argv[1], sys.argv[2], float(sys.argv[3])
for r in json.load(sys.stdin)["results"]:
    if r["n_gen"] == 0:
        continue
    gbps = r["model_size"] * r["avg_ts"] / 1e9
    print(f"| {arch} | {fmt} | {r[\"device\"]} | {r[\"avg_ts\"]:.1f} | {gbps:.1f} | {100 * gbps / peak:.1f}% |")
' "$arch" "$fmt" "$bandwidth_gbps" >> "$report"
  done
  rm -rf "$models/$arch"-*
done
cat "$report"
