#!/bin/sh
# Figures for rackpowerd (issue 3), printed, never judged (docs/benchmarks.md):
#  1. fault to action: `rackpower-sim serve` fails a PSU whose loss calls for a
#     shed; the latency is from the simulator receiving psu_fail on its control
#     socket to the first decision write (slot or switch coil) it receives from
#     the daemon, both stamped by the simulator on its own clock (its stderr
#     log: seconds since start, 1 ms resolution). With the alert line, then
#     with 1 s polling and no alert line. Every sample starts from the same
#     settled rack, after a random pause of up to 1 s (so faults fall at any
#     phase of the daemon's polling).
#  2. polling cost: bench-modbus (bench/bench_modbus.c) against the simulator
#     over Modbus TCP and RTU.
#  3. memory: rackpowerd's VmRSS and VmHWM with a 48-server, 12-PSU rack on the
#     in-process simulated rack, after boot and after REQUESTS power-on and
#     power-off requests through the API.
# Usage: daemon_bench.sh BUILD_DIR SOURCE_DIR
# Environment: ALERT_SAMPLES (50), POLL_SAMPLES (20), REQUESTS (1000),
#              PARTS ("fault modbus memory": which parts to run)
set -u
build="$1"
src="$2"
sim="$build/rackpower-sim"
rpd="$build/rackpowerd"
ctl="$build/rackpowerctl"
mbb="$build/bench-modbus"
alert_n="${ALERT_SAMPLES:-50}"
poll_n="${POLL_SAMPLES:-20}"
requests="${REQUESTS:-1000}"
parts="${PARTS:-fault modbus memory}"
for b in "$sim" "$rpd" "$ctl" "$mbb"; do
    [ -x "$b" ] || { echo "daemon_bench: $b missing: build first (make build)"; exit 1; }
done
# The tests' helpers (tests/lib.sh): $tmp, the cleanup trap that stops what
# this script started, until_ok, fail (with the logs), sim_ctl.
. "$src/tests/lib.sh"
test_begin daemon_bench
log_show daemon-log "$tmp/dlog"
log_show simulator-log "$tmp/slog"
spid=""
dpid=""
stop_sim() { [ -n "$spid" ] && stop "$spid"; spid=""; }
stop_daemon() { [ -n "$dpid" ] && stop "$dpid"; dpid=""; }
ctlsend() { sim_ctl "$tmp/ctl" "$1" >/dev/null; }
# The simulated devices' state that a sample must start from: server power,
# cap and ask; PSU bus and health. Draws and counters move on their own.
simstate() {
    printf 'status\n' | socat -t 2 - "UNIX-CONNECT:$tmp/ctl" 2>/dev/null |
        awk '$1 == "server" { print $2, $7, $8, $13, $16 } $1 == "psu" { print $2, $6, $7 }'
}
# seconds on the simulator's clock of line N of its log
simtime() { sed -n "$1p" "$tmp/slog" | awk '{ sub(/s$/, "", $2); print $2 }'; }
rand_pause() { sleep "$(od -An -N2 -tu2 /dev/urandom | awk -v m="$1" '{ printf "%.3f", $1 / 65535 * m }')"; }
# p50 p99 (nearest rank), min, max, mean of the numbers in a file
stats() {
    sort -n "$1" | awk '{ v[NR] = $1; s += $1 }
        END { p50 = int(NR * 0.50); if (p50 < NR * 0.50) p50++
              p99 = int(NR * 0.99); if (p99 < NR * 0.99) p99++
              printf "p50 %d ms, p99 %d ms (min %d, max %d, mean %.0f; %d samples)\n",
                     v[p50], v[p99], v[1], v[NR], s / NR, NR }'
}

# ---- 1. fault to action -----------------------------------------------------
# The demo rack with two changes: restore_after_s 0 (a repair brings the shed
# servers back at once) and ps4 starting on bus A (where the demo's first
# failure would have moved it), so that failing ps4 always needs a shed: with
# it, losing ps3 would leave bus A's 4000 W for 5000 W of grants (n+1).
sed -n '/^rack:/,/^timeline:/p' "$src/examples/demo.yaml" | grep -v '^timeline:' |
    sed -e 's/restore_after_s: [0-9]*/restore_after_s: 0/' \
        -e '/id: ps4,/s/bus: B/bus: A/' >"$tmp/rack.yaml"

fault_run() { # mode (alert | poll), samples
    mode="$1"
    n="$2"
    rm -f "$tmp/slog" "$tmp/dlog" "$tmp/db"* "$tmp/lat" "$tmp/kind"
    "$sim" serve "$tmp/rack.yaml" --tcp 127.0.0.1:0 --control "$tmp/ctl" --alert "$tmp/alert" \
        >"$tmp/sout" 2>"$tmp/slog" &
    spid=$!
    track "$spid"
    until_ok 'grep -q serving "$tmp/sout"' "the simulator to serve"
    port=$(sed -n 's/.*on tcp 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/sout")
    if [ "$mode" = alert ]; then
        dev="    poll_ms: 200\n    timeout_ms: 200\n    alert: $tmp/alert\n"
    else
        dev="    poll_ms: 1000\n    timeout_ms: 200\n"
    fi
    { cat "$tmp/rack.yaml"
      printf "devices:\n  - kind: modbus-tcp\n    host: 127.0.0.1\n    port: $port\n$dev"
      printf '    units:\n'
      printf '      - {unit: 200, psu: ps1}\n      - {unit: 201, psu: ps2}\n'
      printf '      - {unit: 202, psu: ps3}\n      - {unit: 203, psu: ps4}\n'
      printf '      - {unit: 1, switches: [ps1, ps2, ps3, ps4]}\n'
      printf '      - {unit: 10, chassis: c1}\n      - {unit: 11, chassis: c2}\n'
      printf '      - {unit: 12, chassis: c3}\n'
      printf 'api:\n  port: 0\n  command_rate: 0\n  socket: %s\n' "$tmp/rp.sock"; } >"$tmp/conf.yaml"
    "$rpd" --config "$tmp/conf.yaml" --db "$tmp/db" --foreground >"$tmp/dlog" 2>&1 &
    dpid=$!
    track "$dpid"
    until_ok 'grep -q "serving the API on" "$tmp/dlog"' "rackpowerd to start"
    ctlsend "power_on db1 app1 web1 web2 batch1 ml1"
    until_ok '[ "$(simstate | grep -c " present on 0 0$")" = 5 ]' "five servers powered"
    sleep 2
    simstate >"$tmp/base"
    k=0
    while [ "$k" -lt "$n" ]; do
        if [ "$mode" = alert ]; then rand_pause 0.2; else rand_pause 1; fi
        mark=$(wc -l <"$tmp/slog")
        ctlsend "psu_fail ps4"
        # the first write after the fault: shed, cap or switch
        until_ok 'tail -n +$((mark + 1)) "$tmp/slog" | grep -q "write unit"' "a decision ($mode)" 100
        fl=$(tail -n +$((mark + 1)) "$tmp/slog" | grep -n "control: psu_fail ps4" | head -n 1 | cut -d: -f1)
        wl=$(tail -n +$((mark + 1)) "$tmp/slog" | grep -n "write unit" | head -n 1 | cut -d: -f1)
        [ -n "$fl" ] || fail "the simulator did not log the fault"
        t0=$(simtime $((mark + fl)))
        t1=$(simtime $((mark + wl)))
        echo "$t0 $t1" | awk '{ printf "%d\n", ($2 - $1) * 1000 + 0.5 }' >>"$tmp/lat"
        sed -n "$((mark + wl))p" "$tmp/slog" | sed "s/.* = [0-9]*: //" >>"$tmp/kind"
        ctlsend "psu_repair ps4"
        # settled: the devices as at the start, and no write for 0.5 s
        until_ok 'simstate | cmp -s - "$tmp/base"' "the rack to settle after the repair ($mode)" 150
        i=0
        while :; do
            i=$((i + 1))
            [ "$i" -gt 75 ] && fail "writes go on after the repair ($mode)"
            last=$(grep "write unit" "$tmp/slog" | tail -n 1 | awk '{ sub(/s$/, "", $2); print $2 }')
            nowt=$(printf 'status\n' | socat -t 2 - "UNIX-CONNECT:$tmp/ctl" |
                sed -n 's/^rack .* at \([0-9.]*\)s$/\1/p')
            echo "$last $nowt" | awk '{ exit !($2 - $1 >= 0.5) }' && break
            sleep 0.2
        done
        simstate | cmp -s - "$tmp/base" || fail "the rack moved after settling ($mode)"
        k=$((k + 1))
    done
    if [ "$mode" = alert ]; then
        printf '  with the alert line (poll_ms 200):   '
    else
        printf '  polling only (poll_ms 1000):         '
    fi
    stats "$tmp/lat"
    printf '    first write: '
    sort "$tmp/kind" | uniq -c | awk '{ c = $1; $1 = ""; printf "%s%d x%s", (NR > 1 ? "; " : ""), c, $0 }'
    echo
    stop_daemon
    stop_sim
}

if echo "$parts" | grep -q fault; then
    echo "fault to action: psu_fail ps4 on the demo rack (restore_after_s 0, ps4 on bus A)"
    echo "  from the simulator receiving the fault to the daemon's first write, modbus tcp, loopback"
    t=$(date +%s)
    fault_run alert "$alert_n"
    fault_run poll "$poll_n"
    echo "  ($(($(date +%s) - t)) s)"
fi

# ---- 2. polling cost ----------------------------------------------------------
if echo "$parts" | grep -q modbus; then
    rm -f "$tmp/slog" "$tmp/sout"
    "$sim" serve "$tmp/rack.yaml" --tcp 127.0.0.1:0 --rtu "$tmp/tty" >"$tmp/sout" 2>"$tmp/slog" &
    spid=$!
    track "$spid"
    until_ok 'grep -q serving "$tmp/sout"' "the simulator to serve"
    port=$(sed -n 's/.*on tcp 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/sout")
    "$mbb" --tcp "127.0.0.1:$port" --rounds 30 --seconds 0.25 || fail "bench-modbus over tcp failed"
    "$mbb" --rtu "$tmp/tty" --baud 19200 --parity E --rounds 2 --seconds 2 ||
        fail "bench-modbus over rtu failed"
    stop_sim
fi

# ---- 3. memory ------------------------------------------------------------------
# 48 servers of 300-900 W in 12 chassis, 8 priorities, a fifth on bus A only, a
# fifth on B only; 12 fet PSUs of 3000 W on two feeds, half on each bus; n+1.
# Every server boots asking for power (all fit), then each request is a
# power-off or a power-on of one server, in turn.
if echo "$parts" | grep -q memory; then
    awk -v sock="$tmp/rp.sock" 'BEGIN {
        print "rack:\n  name: bench48\n  protection: n+1\n  on_protection_loss: shed"
        print "  restore_after_s: 30\n  holdup_ms: 16\n  feeds: [F1, F2]\n  buses: [A, B]\n  psus:"
        for (i = 1; i <= 12; i++)
            printf "    - {id: ps%d, capacity_w: 3000, feed: F%d, buses: [A, B], bus: %s, switch: fet}\n",
                   i, 1 + i % 2, (i % 4 < 2 ? "A" : "B")
        print "  servers:"
        for (i = 1; i <= 48; i++) {
            b = i % 5 == 0 ? "[A]" : i % 5 == 1 ? "[B]" : "[A, B]"
            printf "    - {id: s%d, power_w: %d, priority: %d, buses: %s, chassis: c%d}\n",
                   i, 300 + (i * 137) % 601, 1 + i % 8, b, 1 + int((i - 1) / 4)
        }
        printf "devices:\n  - kind: sim\n    boot: ["
        for (i = 1; i <= 48; i++)
            printf "%ss%d", (i > 1 ? ", " : ""), i
        print "]\napi:\n  port: 0\n  command_rate: 0\n  socket: " sock
    }' >"$tmp/rack48.yaml"
    rm -f "$tmp/db"* "$tmp/dlog"
    "$rpd" --config "$tmp/rack48.yaml" --db "$tmp/db" --foreground >"$tmp/dlog" 2>&1 &
    dpid=$!
    track "$dpid"
    until_ok 'grep -q "serving the API on" "$tmp/dlog"' "rackpowerd to start (48 servers)"
    [ "$(cat "/proc/$dpid/comm")" = rackpowerd ] || fail "pid $dpid is not rackpowerd"
    api=$(sed -n 's/.*serving the API on \(http:[^ ]*\).*/\1/p' "$tmp/dlog" | head -n 1)
    until_ok '"$ctl" --unix-socket "$tmp/rp.sock" status --json | grep -q "\"on\":48"' "48 servers on"
    sleep 2
    mem() {
        awk '/^VmRSS/ { r = $2 } /^VmHWM/ { h = $2 } /^RssAnon/ { a = $2 } /^RssFile/ { f = $2 }
             END { printf "VmRSS %.1f MiB, VmHWM %.1f MiB (anonymous %.1f, files %.1f)",
                          r / 1024, h / 1024, a / 1024, f / 1024 }' "/proc/$dpid/status"
    }
    events() { "$ctl" --unix-socket "$tmp/rp.sock" status --json | sed -n 's/.*"last_event_id":\([0-9]*\).*/\1/p'; }
    echo "memory: rackpowerd, 48 servers, 12 PSUs, in-process simulated rack"
    echo "  after boot:          $(mem)"
    e0=$(events)
    t=$(date +%s.%N)
    i=0
    while [ "$i" -lt "$requests" ]; do
        s=$((i / 2 % 48 + 1))
        if [ $((i % 2)) = 0 ]; then op=power-off; else op=power-on; fi
        "$ctl" --unix-socket "$tmp/rp.sock" "$op" "s$s" >/dev/null || fail "request $i ($op s$s) failed"
        i=$((i + 1))
    done
    t=$(echo "$t $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }')
    echo "  after $requests requests: $(mem)"
    echo "  ($t s for the requests, a rackpowerctl each; $(($(events) - e0)) journal events)"
    stop_daemon
fi
