#!/usr/bin/env bash
# Cross-builds the kernels (core, tensor-core) and their tests for aarch64 with Debian's cross compiler and runs
# them under qemu-aarch64, once on a NEON-only CPU (cortex-a72) and once on an SVE2 CPU (qemu's "max"), so both
# Highway paths that runtime dispatch picks on Arm are exercised. Installs what is missing (arm64 multiarch).
#
# Usage: scripts/test-aarch64.sh [build dir]   (default build/aarch64; run as root or with sudo)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/aarch64}

sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
need=()
for p in g++-aarch64-linux-gnu qemu-user cmake ninja-build libboost1.81-dev libhwy-dev:arm64 libgtest-dev:arm64 \
  libgmock-dev:arm64; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "test-aarch64: installing ${need[*]}"
  dpkg --print-foreign-architectures | grep -q arm64 || "${sudo_cmd[@]}" dpkg --add-architecture arm64
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

for cpu in cortex-a72 max; do
  dir=$BUILD-$cpu
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEDGE_RT_KERNELS_ONLY=ON \
    -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake -DEDGE_RT_QEMU_CPU=$cpu >/dev/null
  cmake --build "$dir" -j "$(nproc)"
  echo "test-aarch64: qemu-aarch64 -cpu $cpu selects $(qemu-aarch64 -cpu $cpu -L / "$dir/edge_rt_kernel_tests" \
    --gtest_filter=SimdKernels.ReportsADispatchedTarget 2>&1 | grep -o 'target [A-Z0-9_]*' || echo '?')"
  ctest --test-dir "$dir" --output-on-failure -j "$(nproc)"
done
