#!/usr/bin/env bash
# Recreates ../shared/models (the real model files the tests read) from the public repositories they were copied
# from, for machines that do not get the folder beside the checkout (GitHub Actions). Each file is found in its
# source commit by its SHA-256 and verified; nothing unverified is kept. Needs git and network access.
#
# Usage: scripts/fetch-shared-models.sh [DEST]   (default: ../shared/models beside the checkout)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-../shared/models}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# repository commit folder "sha256 name" ...
fetch() {
  local repo=$1 commit=$2 folder=$3
  shift 3
  local clone="$work/$(basename "$repo")"
  git init -q "$clone"
  git -C "$clone" fetch -q --depth 1 "https://github.com/$repo" "$commit"
  git -C "$clone" checkout -q FETCH_HEAD
  git -C "$clone" lfs pull -q 2>/dev/null || true
  mkdir -p "$dest/$folder"
  local entry sum name found
  for entry in "$@"; do
    sum=${entry%% *}
    name=${entry#* }
    found=""
    while IFS= read -r -d '' f; do
      if [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$sum" ]; then
        found=$f
        break
      fi
    done < <(find "$clone" -type f -name "$name" -print0)
    if [ -z "$found" ]; then
      echo "fetch-shared-models: $name with SHA-256 $sum is not in $repo at $commit" >&2
      exit 1
    fi
    cp "$found" "$dest/$folder/$name"
  done
  echo "fetch-shared-models: $folder from $repo@${commit:0:12}"
}

fetch HelgeS/capp-gpt-serve d53c50771e2fba3bdab86a77f69ef5b51d036ae9 capp-gpt2-tiny \
  "350f3b6c3f97f7d27587279b7586b70948e92474566cbd14e81db06f4603c711 config.json" \
  "be545aad831acfbb1b3bb9e96c8ad1cbbe0d447ea7f12f36e2c1e3ff0a260eb9 generation_config.json" \
  "e683d99fe9ec7b798a95eeafb80895f17292a2ee75fd2a2f939e71e2d16c7ab3 model.safetensors" \
  "98f8ba438d703fed19c309844cac3048d11dc2bc9e7e4123d4f763e1ab6a0fa6 token_mappings.json"
fetch ytmytm/llama2.c64 12b5bec82eb980362b8a7bfe86992a552a492481 stories260K \
  "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696 stories260K.bin" \
  "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312 tok512.bin"
fetch MLegkovskis/tiny-llm-cicd 09023b54629184e78312e41ea27e9afa529e3bb5 tiny-random-gpt2 \
  "99d251ddacd63da306b2183c2a8304b3e10f43d02a03b7b73837b7d9f0c3b84d config.json" \
  "c831d77f4ccb7e22873162a06bdb0b846a588f6586890c6aab7cec1b7ef9a60e generation_config.json" \
  "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5 merges.txt" \
  "44fcfc72b696d4340b0ed70ac7303f4b439e239e7aa2a5a39aba681ec02a7a5d model.safetensors" \
  "6f50ab5a5a509a1c309d6171f339b196a900dc9c99ad0408ff23bb615fdae7ad special_tokens_map.json" \
  "1fe93b6152957cf9cfd6d89002467f789ce8b3f3e000b3a2edf27c808ddd0b9e tokenizer.json" \
  "f1cb5e31899749cf30935ccea01180ab3cfd484bd2bcf3bfdc1aeb9fdf935f6f tokenizer_config.json" \
  "3ba3c3109ff33976c4bd966589c11ee14fcaa1f4c9e5e154c2ed7f99d80709e7 vocab.json"
