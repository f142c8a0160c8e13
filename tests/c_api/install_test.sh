#!/usr/bin/env bash
# cmake --install into a temporary prefix, then, out of tree: the C consumer (shared and static) and the C++ one
# built with find_package(edge_rt), the C consumer built with pkg-config, and the installed CLI finding its default
# model under the prefix. Checks the SONAME and that libedge_rt.so exports the C API only.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "install_test: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >/dev/null
for f in include/edge_rt/edge_rt.h include/edge_rt/edge_rt.hpp bin/edge-rt \
  share/edge-rt/models/stories260K/config.json share/edge-rt/configs/rpi4-4gb.toml; do
  [ -e "$prefix/$f" ] || fail "$f is not installed"
done
lib=$(find "$prefix" -name libedge_rt.so -print -quit)
[ -n "$lib" ] || fail "libedge_rt.so is not installed"
libdir=$(dirname "$lib")
for f in libedge_rt.a cmake/edge_rt/edge_rtConfig.cmake cmake/edge_rt/edge_rtConfigVersion.cmake pkgconfig/edge_rt.pc; do
  [ -e "$libdir/$f" ] || fail "$f is not installed in $libdir"
done
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
version=$(sed -n 's/^#define EDGE_RT_VERSION_STRING "\([0-9]*\)\.\([0-9]*\)\..*"/\1.\2/p' "$src/libs/c-api/include/edge_rt/edge_rt.h")
[ "$soname" = "libedge_rt.so.$version" ] || fail "SONAME is '$soname', expected libedge_rt.so.$version"
[ -e "$libdir/$soname" ] || fail "$soname is not installed"
others=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^edge_rt_' || true)
[ -z "$others" ] || fail "libedge_rt.so exports more than the C API: $(echo "$others" | head -5 | tr '\n' ' ')"
exported=$(nm -D --defined-only "$lib" | grep -c ' T edge_rt_')
echo "install_test: $soname exports $exported functions, all edge_rt_*"

model=$prefix/share/edge-rt/models/stories260K
prompt="Once upon a time"
# The installed CLI, run from elsewhere, finds the installed default model.
cli=$(cd "$tmp" && "$prefix/bin/edge-rt" run -p "$prompt" -n 24 --temp 0 2>/dev/null | head -1)
[[ "$cli" == "$prompt"* ]] && [ ${#cli} -gt $((${#prompt} + 20)) ] || fail "installed edge-rt run printed '$cli'"

cmake -S "$src/tests/c_api/consumer" -B "$tmp/consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
shared=$("$tmp/consumer/consumer" "$model" "$prompt" | head -1)
static=$("$tmp/consumer/consumer_static" "$model" "$prompt" | head -1)
"$tmp/consumer/consumer_cpp" "$model" >/dev/null || fail "the C++ consumer failed"
[ "$shared" = "$cli" ] || fail "the C consumer printed '$shared', the CLI '$cli'"
[ "$static" = "$shared" ] || fail "the static C consumer printed '$static'"
ldd "$tmp/consumer/consumer_static" | grep -q libedge_rt && fail "consumer_static links libedge_rt.so"

export PKG_CONFIG_PATH=$libdir/pkgconfig
[ "$(pkg-config --modversion edge_rt)" = "$(sed -n 's/^#define EDGE_RT_VERSION_STRING "\(.*\)"/\1/p' "$src/libs/c-api/include/edge_rt/edge_rt.h")" ] ||
  fail "pkg-config --modversion edge_rt is $(pkg-config --modversion edge_rt)"
# shellcheck disable=SC2046
cc -std=c99 -Wall -Wextra -Werror -o "$tmp/pc_consumer" "$src/tests/c_api/consumer/consumer.c" \
  $(pkg-config --cflags --libs edge_rt) -Wl,-rpath,"$libdir"
pc=$("$tmp/pc_consumer" "$model" "$prompt" | head -1)
[ "$pc" = "$shared" ] || fail "the pkg-config consumer printed '$pc'"
# shellcheck disable=SC2046
c++ -std=c++17 -Wall -Wextra -Werror -pthread -o "$tmp/pc_consumer_cpp" "$src/tests/c_api/consumer/consumer.cpp" \
  $(pkg-config --cflags --libs edge_rt) -Wl,-rpath,"$libdir"
"$tmp/pc_consumer_cpp" "$model" >/dev/null || fail "the C++ pkg-config consumer failed"
echo "install_test: find_package (C shared and static, C++) and pkg-config (C, C++) consumers print: $pc"
