#!/usr/bin/env bash
# Builds the fuzz preset (clang, libFuzzer + ASan + UBSan) and fuzzes every harness in tests/fuzz, one after the
# other, for SECONDS_PER_TARGET seconds each (default 30). Optional harness names after it restrict the run:
#   scripts/fuzz.sh              # every harness, 30 s each
#   scripts/fuzz.sh 600 preset   # fuzz_preset only, 10 minutes
# Each harness starts from a scratch copy of its seed corpus (build/fuzz/work/<name>, kept between runs, so the
# committed seeds in tests/fuzz/corpus stay small) with its dictionary tests/fuzz/dict/<name>.dict. Inputs that
# crash, leak, time out or run out of memory land in build/fuzz/artifacts/<name>/; the script exits 1 when this run
# produced any, and lists them. See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [HARNESS...]" >&2
  exit 2
}
seconds=30
if [ $# -gt 0 ]; then
  case "$1" in
    -h | --help) usage ;;
    '' | *[!0-9]*) echo "scripts/fuzz.sh: SECONDS_PER_TARGET must be a positive integer, not '$1'" >&2; usage ;;
  esac
  seconds=$1
  shift
fi
[ "$seconds" -gt 0 ] || usage

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"

build=build/fuzz
shopt -s nullglob
targets=()
if [ $# -gt 0 ]; then
  for name in "$@"; do
    if [ ! -x "$build/tests/fuzz/fuzz_$name" ]; then
      echo "scripts/fuzz.sh: no harness '$name' (looked for $build/tests/fuzz/fuzz_$name)" >&2
      exit 2
    fi
    targets+=("$name")
  done
else
  for bin in "$build"/tests/fuzz/fuzz_*; do
    [ -f "$bin" ] && [ -x "$bin" ] && targets+=("${bin##*/fuzz_}")
  done
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "scripts/fuzz.sh: no fuzz_* binaries in $build/tests/fuzz" >&2
  exit 1
fi

# UB is fatal in this build (-fno-sanitize-recover); a stack trace makes its report useful.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

# stat::<key> from libFuzzer's -print_final_stats output, or "?" when the run ended before printing it.
final_stat() {
  local value
  value=$(sed -n "s/^stat::$1: *//p" "$2" | tail -n 1)
  echo "${value:-?}"
}

summary=()
new_artifacts=()
failed=0
for name in "${targets[@]}"; do
  bin="$build/tests/fuzz/fuzz_$name"
  work="$build/work/$name"
  artifacts="$build/artifacts/$name"
  log="$build/logs/$name.log"
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  if [ -d "tests/fuzz/corpus/$name" ]; then
    cp -f tests/fuzz/corpus/"$name"/* "$work"/ 2>/dev/null || true
  fi
  dict=()
  [ -f "tests/fuzz/dict/$name.dict" ] && dict=("-dict=tests/fuzz/dict/$name.dict")

  before=("$artifacts"/*)
  echo "== fuzz_$name: ${seconds}s (log: $log)"
  start=$SECONDS
  rc=0
  "$bin" "${dict[@]}" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 "$work" >"$log" 2>&1 || rc=$?
  elapsed=$((SECONDS - start))

  found=()
  for f in "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-* \
           "$artifacts"/slow-unit-*; do
    known=0
    for old in "${before[@]}"; do
      if [ "$old" = "$f" ]; then
        known=1
        break
      fi
    done
    if [ "$known" -eq 0 ]; then
      case "${f##*/}" in
        slow-unit-*) ;;  # informational only
        *) found+=("$f") ;;
      esac
    fi
  done

  status=ok
  if [ ${#found[@]} -gt 0 ]; then
    status="${#found[@]} new artifact(s)"
    new_artifacts+=("${found[@]}")
    failed=1
    tail -n 40 "$log" >&2 || true
  elif [ "$rc" -ne 0 ]; then
    status="exit $rc without an artifact (see $log)"
    failed=1
    tail -n 40 "$log" >&2 || true
  fi
  summary+=("$(printf '%-20s %12s execs %5ss %6s new corpus units  %s' "$name" \
    "$(final_stat number_of_executed_units "$log")" "$elapsed" "$(final_stat new_units_added "$log")" "$status")")
done

echo
echo "== summary (${seconds}s per harness)"
printf '%s\n' "${summary[@]}"

if [ ${#new_artifacts[@]} -gt 0 ]; then
  echo
  echo "New crash/leak/timeout/oom inputs:"
  harness_of() {  # build/fuzz/artifacts/<name>/crash-... -> <name>
    local rest=${1#"$build"/artifacts/}
    echo "${rest%%/*}"
  }
  for f in "${new_artifacts[@]}"; do
    echo "  $f   (reproduce: $build/tests/fuzz/fuzz_$(harness_of "$f") $f)"
  done
  echo
  echo "Once the bug is fixed, copy each into tests/data/fuzz/<name>/ as a regression input, for example:"
  echo "  cp ${new_artifacts[0]} tests/data/fuzz/$(harness_of "${new_artifacts[0]}")/"
  echo "ctest --preset fuzz then replays it (fuzz.<name>.regressions)."
fi
exit "$failed"
