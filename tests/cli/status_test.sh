#!/usr/bin/env bash
# edge-rt status: a recorded Raspberry Pi 4 tree gives the expected JSON fields and recommendation, the text report
# says "unavailable" for missing sources, the live host exits 0, and a bad root or model is an error.
# Usage: status_test.sh EDGE_RT SOURCE_DIR
set -u
bin=$1 src=$2
fixtures=$src/tests/resource_monitor/fixtures
py=/usr/bin/python3
failed=0 passed=0
check() { if eval "$2"; then echo "ok - $1"; passed=$((passed + 1)); else echo "not ok - $1"; failed=$((failed + 1)); fi; }
field() { echo "$json" | "$py" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

json=$("$bin" status --root "$fixtures/rpi4-4gb" --json); rc=$?
check "rpi4 --json exits 0" '[ "$rc" -eq 0 ]'
check "rpi4 cores online" '[ "$(field "d[\"cpu\"][\"cores_online\"]")" = 4 ]'
check "rpi4 model name" '[ "$(field "d[\"cpu\"][\"model_name\"]")" = "Raspberry Pi 4 Model B Rev 1.4" ]'
check "rpi4 max frequency" '[ "$(field "d[\"cpu\"][\"frequencies\"][0][\"max_khz\"]")" = 1500000 ]'
check "rpi4 MemAvailable in bytes" '[ "$(field "d[\"memory\"][\"available_bytes\"]")" = 3292651520 ]'
check "rpi4 thermal zone" '[ "$(field "d[\"thermal_zones\"][0][\"type\"], d[\"thermal_zones\"][0][\"temp_c\"]")" = "cpu-thermal 82.251" ]'
check "rpi4 throttled" '[ "$(field "d[\"throttling\"][\"rpi\"][\"raw\"], d[\"throttling\"][\"rpi\"][\"throttled\"]")" = "0x50005 True" ]'
check "rpi4 no power supplies" '[ "$(field "d[\"power_supplies\"]")" = "[]" ]'
check "rpi4 recommendation" '[ "$(field "d[\"recommendation\"][\"threads\"], d[\"recommendation\"][\"budget_bytes\"]")" = "2 2963386368" ]'

json=$("$bin" status --root "$fixtures/rpi4-4gb" --json -m "$src/models/stories260K")
check "-m: the embedded model fits, greedy-grouping" '[ "$(field "d[\"recommendation\"][\"strategy\"], d[\"model_weight_bytes\"] > 0")" = "greedy-grouping True" ]'

text=$("$bin" status --root "$fixtures/bare"); rc=$?
check "bare tree: text report exits 0 and says unavailable" '[ "$rc" -eq 0 ] && [[ "$text" == *"Thermal"*"unavailable"*"Power"*"unavailable"*"--strategy sequential"* ]]'
text=$("$bin" status --root "$fixtures/jetson-orin-nano")
check "jetson text: trip points, cgroup limit, halved threads" '[[ "$text" == *"passive 99.0 C"* && "$text" == *"cgroup v1 limit 4.00 GiB"* && "$text" == *"threads 3 "* ]]'

"$bin" status >/dev/null; rc=$?
check "live host text exits 0" '[ "$rc" -eq 0 ]'
json=$("$bin" status --json); rc=$?
check "live host --json exits 0 with memory" '[ "$rc" -eq 0 ] && [ "$(field "d[\"memory\"][\"total_bytes\"] > 0")" = True ]'

bad=$("$bin" status --root "$fixtures/does-not-exist" 2>&1); rc=$?
check "missing root is an error" '[ "$rc" -eq 1 ] && [[ "$bad" == *"does-not-exist"* ]]'
bad=$("$bin" status -m "$fixtures/bare" 2>&1); rc=$?
check "model folder without safetensors is an error" '[ "$rc" -eq 1 ] && [[ "$bad" == *"safetensors"* ]]'
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
