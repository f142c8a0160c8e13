#!/usr/bin/env bash
# The whole runtime on 64-bit Arm, under qemu-user: cross-builds everything (libraries, the CLI, libedge_rt.so, the
# tests) with Debian's g++-aarch64-linux-gnu against arm64 multiarch packages, and runs the unit, C API and CLI
# suites on a NEON-only CPU (qemu's cortex-a72). Then builds the kernels alone and runs their tests on an SVE2 CPU
# (qemu's "max"), so both Highway paths that run-time dispatch picks on Arm are exercised. Installs what is
# missing (arm64 multiarch) and registers qemu-aarch64 with binfmt_misc, so that the CLI tests' scripts can run the
# aarch64 edge-rt directly.
#
# Not run by CI (.ci/run): the cross build and the emulated suite take longer than CI's budget allows (timings in
# docs/benchmarks.md). Left out under qemu: the streaming label (RSS, cgroup and cold-cache limits of the host
# kernel, and full-size models that take hours emulated), the real_model label (hundreds of runs of the 135M
# SmolLM2 against llama.cpp's outputs), the Vulkan backend (not built), and what needs the host to load or link
# the Arm library (the Python binding, the install test).
#
# Usage: scripts/test-aarch64.sh [build dir prefix]   (default build/aarch64; run as root or with sudo)
#   EDGE_RT_AARCH64_KERNELS_ONLY=1: only the kernel builds (NEON and SVE2), as before the full runtime built.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/aarch64}
jobs=$(nproc)

sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
need=()
for p in g++-aarch64-linux-gnu qemu-user cmake ninja-build libboost1.81-dev libhwy-dev:arm64 libgtest-dev:arm64 \
  libgmock-dev:arm64 libboost-json1.81-dev:arm64 libpcre2-dev:arm64 libutf8proc-dev:arm64 \
  libtomlplusplus-dev:arm64 libcli11-dev python3-numpy; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "test-aarch64: installing ${need[*]}"
  dpkg --print-foreign-architectures | grep -q arm64 || "${sudo_cmd[@]}" dpkg --add-architecture arm64
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

configure() {  # build dir, qemu cpu, extra cmake args
  local dir=$1 cpu=$2
  shift 2
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEDGE_RT_WITH_VULKAN=OFF \
    -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake -DEDGE_RT_QEMU_CPU="$cpu" "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  local kernels=$dir/tests/edge_rt_cpu_kernels_tests
  [ -e "$kernels" ] || kernels=$dir/edge_rt_kernel_tests
  echo "test-aarch64: qemu-aarch64 -cpu $cpu selects $(qemu-aarch64 -cpu "$cpu" -L / "$kernels" \
    --gtest_filter=SimdKernels.ReportsADispatchedTarget 2>&1 | grep -o 'target [A-Z0-9_]*' || echo '?')"
}

if [ "${EDGE_RT_AARCH64_KERNELS_ONLY:-0}" != 1 ]; then
  # binfmt_misc: the CLI tests run tests/cli/*.sh and *.py, which start the aarch64 edge-rt as a program.
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    "${sudo_cmd[@]}" mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  fi
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64:' |
      "${sudo_cmd[@]}" tee /proc/sys/fs/binfmt_misc/register >/dev/null
  fi
  export QEMU_CPU=cortex-a72 QEMU_LD_PREFIX=/  # for programs started through binfmt_misc
  dir=$BUILD-full
  configure "$dir" cortex-a72
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" -LE "streaming|real_model" --timeout 3000
fi

dir=$BUILD-kernels-max
configure "$dir" max -DEDGE_RT_KERNELS_ONLY=ON
ctest --test-dir "$dir" --output-on-failure -j "$jobs"
