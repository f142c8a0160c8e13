#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the release build (unit tests, CLI tests, comparisons with
# the numpy references in tools/reference), then the asan preset (ASan + UBSan) on the same suite.
# Needs ../shared/models beside the checkout. Set EDGE_RT_SKIP_ASAN=1 to run the release suite only.
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
