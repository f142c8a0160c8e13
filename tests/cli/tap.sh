# Sourced by the CLI test scripts: a temp folder removed on exit, TAP-style "ok" / "not ok" lines and the summary.
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0
ok() {
  echo "ok - $1"
  passed=$((passed + 1))
}
not_ok() {
  echo "not ok - $1: $2"
  failed=$((failed + 1))
}
# Prints the counts and exits non-zero when a check failed.
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}
