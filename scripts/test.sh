#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the release build (unit tests, CLI tests with the hostile-
# input suite, comparisons with the numpy references in tools/reference), the asan preset (ASan + UBSan) on the same
# suite, the tsan preset (ThreadSanitizer) on the threaded suites (thread pool, prefetcher, monitor, engine
# streaming), and every libFuzzer harness for EDGE_RT_FUZZ_SECONDS (default 30) after replaying its regression inputs.
# The Vulkan backend's tests run on lavapipe in the release and asan builds; the tsan and fuzz presets build without
# Vulkan (Mesa's worker threads are not instrumented, and no harness reaches a device).
# Needs ../shared/models beside the checkout. EDGE_RT_SKIP_ASAN=1, EDGE_RT_SKIP_TSAN=1 and EDGE_RT_SKIP_FUZZ=1 skip
# those stages.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
jobs=$(nproc)

cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs"

if [ "${EDGE_RT_SKIP_ASAN:-0}" != 1 ]; then
  cmake --preset asan >/dev/null
  cmake --build --preset asan -j "$jobs"
  ctest --preset asan -j "$jobs"
fi

if [ "${EDGE_RT_SKIP_TSAN:-0}" != 1 ]; then
  cmake --preset tsan >/dev/null
  cmake --build --preset tsan -j "$jobs"
  ctest --preset tsan -j "$jobs"
fi

if [ "${EDGE_RT_SKIP_FUZZ:-0}" != 1 ]; then
  bash scripts/fuzz.sh "${EDGE_RT_FUZZ_SECONDS:-30}"  # builds the fuzz preset
  ctest --preset fuzz -j "$jobs"                      # crash inputs of tests/data/fuzz and the seeds, replayed
fi
