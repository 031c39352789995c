#!/bin/sh
# The simulator's RTU reply timing (docs/benchmarks.md, "RTU wire timing"):
# `rackpower-sim serve --rtu` at 9600, 19200 and 115200 baud 8E1, read by
# bench-rtu (libmodbus) against the wire model. Figures only, never a test.
# Usage: rtu_bench.sh BUILD_DIR SOURCE_DIR
set -u
. "${2:-.}/tests/lib.sh"
test_begin rtu_bench.sh
build="$1"
src="${2:-.}"
need socat
log_show simulator-log "$tmp/err"
for baud in 9600 19200 115200; do
    sim_start "$build/rackpower-sim" "$tmp/out" "$tmp/err" "$src/examples/demo.yaml" \
        --rtu "$tmp/rtu" --baud "$baud" --parity E
    "$build/bench-rtu" "$tmp/rtu" "$baud" E 20 || fail "bench-rtu at $baud baud"
    sim_stop
done
