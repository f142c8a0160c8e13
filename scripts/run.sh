#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build (release), and generate text with the embedded
# default model. Extra arguments go to `edge-rt run` (e.g. --prompt "The dog" -n 200 --memory-budget 512K).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
cmake --preset release >/dev/null
cmake --build --preset release --target edge-rt
if [ $# -eq 0 ]; then
  set -- --prompt "Once upon a time" -n 200
fi
exec build/release/apps/edge-rt/edge-rt run "$@"
