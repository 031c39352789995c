#!/bin/sh
# What fencing costs a command (docs/benchmarks.md, "Fencing"): bench-fence
# against `rackpower-sim serve examples/demo.yaml` over Modbus TCP on
# loopback. Figures only, never a test.
# Usage: fence_bench.sh BUILD_DIR SOURCE_DIR [N]
set -u
. "${2:-.}/tests/lib.sh"
test_begin fence_bench.sh
build="$1"
src="${2:-.}"
log_show simulator-log "$tmp/err"
sim_start "$build/rackpower-sim" "$tmp/out" "$tmp/err" "$src/examples/demo.yaml" --tcp 127.0.0.1:0
"$build/bench-fence" "127.0.0.1:$sim_port" "${3:-2000}" || fail "bench-fence"
sim_stop
