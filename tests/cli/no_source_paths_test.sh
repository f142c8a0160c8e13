#!/usr/bin/env bash
# No source path in the product binary: edge-rt holds no string naming the source folder, and it finds its default
# model at run time (libs/core/include/edge_rt/core/data_dir.hpp), so a copy in an install-like tree
# (bin/edge-rt beside share/edge-rt/models/stories260K) runs without -m, one without the model exits 1 naming
# --model, and EDGE_RT_DATA_DIR names another data folder.
#
# Usage: no_source_paths_test.sh <edge-rt binary> <source dir> [--sanitized]
# --sanitized: ASan/UBSan builds keep source paths in the sanitizers' metadata (module names, UBSan source
# locations), which -ffile-prefix-map does not remap; the strings check is skipped there.
set -u
BIN=$1
SRC=$2
SANITIZED=${3:-}
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
prompt=(run -p "Once upon a time" -n 8 --no-monitor)

# (1) No string of the binary contains the source folder.
if [ "$SANITIZED" = --sanitized ]; then
  ok "no source path in the binary # SKIP sanitizer metadata keeps source paths"
elif [ "${#SRC}" -le 1 ]; then
  not_ok "no source path in the binary" "source dir '$SRC' is too short to search for"
else
  hits=$(grep -a -o -F -- "$SRC" "$BIN" | head -n 3)  # grep reads binaries: no dependence on binutils' strings
  if [ -z "$hits" ]; then
    ok "no string of the binary names the source folder $SRC"
  else
    not_ok "no source path in the binary" "found: $hits"
  fi
fi

# (2) An install-like tree: bin/edge-rt and share/edge-rt/models/stories260K, no -m.
mkdir -p "$TMP/inst/bin" "$TMP/inst/share/edge-rt/models"
cp "$BIN" "$TMP/inst/bin/edge-rt"
cp -r "$SRC/models/stories260K" "$TMP/inst/share/edge-rt/models/stories260K"
(cd "$TMP" && env -u EDGE_RT_DATA_DIR timeout 60 "$TMP/inst/bin/edge-rt" "${prompt[@]}") >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -eq 0 ] && [ -s "$TMP/out" ]; then
  ok "installed tree: run without -m finds share/edge-rt/models/stories260K"
else
  not_ok "installed tree: run without -m" "exit $rc, stdout $(wc -c <"$TMP/out") bytes: $(head -c 300 "$TMP/err")"
fi

# (3) The same without the model: exit 1, and the error says to pass --model.
mkdir -p "$TMP/bare/bin"
cp "$BIN" "$TMP/bare/bin/edge-rt"
(cd "$TMP" && env -u EDGE_RT_DATA_DIR timeout 60 "$TMP/bare/bin/edge-rt" "${prompt[@]}") >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -eq 1 ] && grep -q -- "--model" "$TMP/err" && grep -q "EDGE_RT_DATA_DIR" "$TMP/err"; then
  ok "tree without the model: exit 1 naming --model and EDGE_RT_DATA_DIR"
else
  not_ok "tree without the model" "exit $rc: $(head -c 300 "$TMP/err")"
fi

# (4) EDGE_RT_DATA_DIR names a data folder (<dir>/models/stories260K) for a binary that has none beside it.
mkdir -p "$TMP/data/models"
cp -r "$SRC/models/stories260K" "$TMP/data/models/stories260K"
(cd "$TMP" && EDGE_RT_DATA_DIR="$TMP/data" timeout 60 "$TMP/bare/bin/edge-rt" "${prompt[@]}") >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -eq 0 ] && [ -s "$TMP/out" ]; then
  ok "EDGE_RT_DATA_DIR: run without -m finds <dir>/models/stories260K"
else
  not_ok "EDGE_RT_DATA_DIR" "exit $rc, stdout $(wc -c <"$TMP/out") bytes: $(head -c 300 "$TMP/err")"
fi

# (5) -m still wins over the default: a missing folder is an error naming it.
(cd "$TMP" && timeout 60 "$TMP/inst/bin/edge-rt" run -m "$TMP/does-not-exist" -n 1 --no-monitor) >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "does-not-exist" "$TMP/err"; then
  ok "-m overrides the default model"
else
  not_ok "-m overrides the default model" "exit $rc: $(head -c 300 "$TMP/err")"
fi
finish
