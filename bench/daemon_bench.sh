#!/bin/sh
# Figures for rackpowerd (issue 3), printed, never judged (docs/benchmarks.md):
#  1. fault to action: `rackpower-sim serve` fails a PSU whose loss calls for a
#     shed; the latency is from the simulator receiving psu_fail on its control
#     socket to the first decision write (slot or switch coil) it receives from
#     the daemon, both stamped by the simulator on its own clock (its stderr
#     log: seconds since start, to the microsecond). With the alert line, then
#     with 1 s polling and no alert line. Every sample starts from the same
#     settled rack, after a random pause of up to 1 s (so faults fall at any
#     phase of the daemon's polling). The daemon runs with --verbose: its
#     debug lines stamp, on CLOCK_MONOTONIC as the simulator logs its own
#     start, the report's post, the loop taking it, the policy's answer, the
#     actions handed to the worker, the journal's commit and the worker's
#     writes, so each sample is broken down into its steps.
#  2. polling cost: bench-modbus (bench/bench_modbus.c) against the simulator
#     over Modbus TCP and RTU.
#  3. memory: rackpowerd's VmRSS and VmHWM with a 48-server, 12-PSU rack on the
#     in-process simulated rack, after boot and after REQUESTS power-on and
#     power-off requests through the API.
# Usage: daemon_bench.sh BUILD_DIR SOURCE_DIR
# Environment: ALERT_SAMPLES (50), POLL_SAMPLES (20), REQUESTS (1000),
#              PARTS ("fault modbus memory": which parts to run),
#              BASELINE (another rackpowerd, e.g. an older build: the fault
#              part runs it too, alternating with this one sample by sample,
#              and prints the ratio)
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
# p50 p99 (nearest rank), min, max, mean of the numbers (microseconds) in a
# file, in milliseconds
stats() {
    sort -n "$1" | awk '{ v[NR] = $1; s += $1 }
        END { p50 = int(NR * 0.50); if (p50 < NR * 0.50) p50++
              p99 = int(NR * 0.99); if (p99 < NR * 0.99) p99++
              printf "p50 %.3f ms, p99 %.3f ms (min %.3f, max %.3f, mean %.3f; %d samples)\n",
                     v[p50] / 1e3, v[p99] / 1e3, v[1] / 1e3, v[NR] / 1e3, s / NR / 1e3, NR }'
}
# p50 / p99 in microseconds of column $2 of file $1 (a "-" is left out)
col_stats() {
    awk -v c="$2" '$c != "-" { print $c }' "$1" | sort -n | awk '{ v[NR] = $1 }
        END { if (!NR) { printf "%14s", "-"; exit }
              p50 = int(NR * 0.50); if (p50 < NR * 0.50) p50++
              p99 = int(NR * 0.99); if (p99 < NR * 0.99) p99++
              printf "%7d /%6d", v[p50], v[p99] }'
}
# The steps of one sample, in microseconds, from the stamps: $1 the fault and
# $2 the first write on the simulator's monotonic clock (seconds), $3 the
# line of the daemon's log to start from. Prints: alert-to-post, loop wake,
# policy, hand-over, worker wake, write on the wire, journal commit (after
# the hand-over, beside the write), total; "-" where the daemon logged no
# stamps (an older rackpowerd).
breakdown() {
    tail -n +"$3" "$tmp/dlog" | awk -v f="$1" -v w="$2" '
        function us(s) { sub(/^\+/, "", s); return s + 0 }
        # the loop logs its line after the commit, the worker its own after
        # the write: either may come first, so both are gathered
        /report posted at/ {
            for (i = 1; i <= NF; i++) {
                if ($i == "at" && $(i - 1) == "posted") { p = $(i + 1); sub(/,$/, "", p) }
                if ($i == "taken") tk = us($(i + 1))
                if ($i == "decided") dc = us($(i + 1))
                if ($i == "sent") sn = us($(i + 1))
                if ($i == "journaled") jn = us($(i + 1))
            }
            if (!rp && p + 0 >= f - 0.000001) { rp = 1; P = p; TK = tk; DC = dc; SN = sn; JN = jn }
            next
        }
        /actions queued at/ {
            for (i = 1; i <= NF; i++) {
                if ($i == "at" && $(i - 1) == "queued") { q = $(i + 1); sub(/,$/, "", q) }
                if ($i == "taken") wt = us($(i + 1))
            }
            nq++; Q[nq] = q; WT[nq] = wt
        }
        END {
            tot = (w - f) * 1e6
            for (k = 1; k <= nq && rp; k++)
                if (Q[k] + 0 >= P + 0) { aq = k; break }
            if (!rp || !aq) { printf "- - - - - - - %.0f\n", tot; exit }
            printf "%.0f %d %d %d %d %.0f %d %.0f\n", (P - f) * 1e6, TK, DC - TK, SN - DC, WT[aq],
                   (w - Q[aq]) * 1e6 - WT[aq], JN - SN, tot
        }'
}

# ---- 1. fault to action -----------------------------------------------------
# The demo rack with two changes: restore_after_s 0 (a repair brings the shed
# servers back at once) and ps4 starting on bus A (where the demo's first
# failure would have moved it), so that failing ps4 always needs a shed: with
# it, losing ps3 would leave bus A's 4000 W for 5000 W of grants (n+1).
sed -n '/^rack:/,/^timeline:/p' "$src/examples/demo.yaml" | grep -v '^timeline:' |
    sed -e 's/restore_after_s: [0-9]*/restore_after_s: 0/' \
        -e '/id: ps4,/s/bus: B/bus: A/' >"$tmp/rack.yaml"

# fault_run MODE SAMPLES RACKPOWERD TAG: SAMPLES faults against RACKPOWERD,
# the figures appended to $tmp/lat.TAG, steps.TAG and kind.TAG
fault_run() {
    mode="$1"
    n="$2"
    daemon="$3"
    tag="$4"
    rm -f "$tmp/slog" "$tmp/dlog" "$tmp/db"*
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
      demo_units
      # no command goes through the API here, so no socket or token: the
      # plain key that an older rackpowerd (BASELINE) reads too
      printf 'api:\n  port: 0\n'; } >"$tmp/conf.yaml"
    "$daemon" --config "$tmp/conf.yaml" --db "$tmp/db" --foreground --verbose >"$tmp/dlog" 2>&1 &
    dpid=$!
    track "$dpid"
    until_ok 'grep -q "serving the API on" "$tmp/dlog"' "rackpowerd to start"
    # the simulator's t 0 on CLOCK_MONOTONIC; none from an older simulator
    mono0=$(sed -n 's/.*clock: 0 s here is \([0-9.]*\) s on CLOCK_MONOTONIC.*/\1/p' "$tmp/slog")
    ctlsend "power_on db1 app1 web1 web2 batch1 ml1"
    until_ok '[ "$(simstate | grep -c " present on 0 0$")" = 5 ]' "five servers powered"
    sleep 2
    simstate >"$tmp/base"
    k=0
    while [ "$k" -lt "$n" ]; do
        if [ "$mode" = alert ]; then rand_pause 0.2; else rand_pause 1; fi
        mark=$(wc -l <"$tmp/slog")
        dmark=$(($(wc -l <"$tmp/dlog") + 1))
        ctlsend "psu_fail ps4"
        # the first write after the fault: shed, cap or switch
        until_ok 'tail -n +$((mark + 1)) "$tmp/slog" | grep -q "write unit"' "a decision ($mode)" 100
        fl=$(tail -n +$((mark + 1)) "$tmp/slog" | grep -n "control: psu_fail ps4" | head -n 1 | cut -d: -f1)
        wl=$(tail -n +$((mark + 1)) "$tmp/slog" | grep -n "write unit" | head -n 1 | cut -d: -f1)
        [ -n "$fl" ] || fail "the simulator did not log the fault"
        t0=$(simtime $((mark + fl)))
        t1=$(simtime $((mark + wl)))
        echo "$t0 $t1" | awk '{ printf "%d\n", ($2 - $1) * 1e6 + 0.5 }' >>"$tmp/lat.$tag"
        if [ -n "$mono0" ]; then
            breakdown "$(echo "$mono0 $t0" | awk '{ printf "%.6f", $1 + $2 }')" \
                "$(echo "$mono0 $t1" | awk '{ printf "%.6f", $1 + $2 }')" "$dmark" >>"$tmp/steps.$tag"
        fi
        sed -n "$((mark + wl))p" "$tmp/slog" | sed "s/.* = [0-9]*: //" >>"$tmp/kind.$tag"
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
    stop_daemon
    stop_sim
}

# fault_print TAG LABEL: the figures of TAG
fault_print() {
    printf '  %-38s ' "$2:"
    stats "$tmp/lat.$1"
    printf '    first write: '
    sort "$tmp/kind.$1" | uniq -c | awk '{ c = $1; $1 = ""; printf "%s%d x%s", (NR > 1 ? "; " : ""), c, $0 }'
    echo
    if [ -s "$tmp/steps.$1" ] && grep -qv '^-' "$tmp/steps.$1"; then
        echo "    steps, p50 / p99 in us (each step's own percentiles: they do not add up):"
        i=1
        for step in "fault to the report posted (alert, the worker's read)" \
            "report posted to the loop taking it" "the policy" \
            "decided to the lowering actions handed over" "the worker taking them" \
            "the worker's write until the simulator logs it" \
            "(beside: the journal's commit after the hand-over)" "total"; do
            printf '      %s %s\n' "$(col_stats "$tmp/steps.$1" "$i")" "$step"
            i=$((i + 1))
        done
    fi
}

# p50 and p99 of file $1 over those of file $2
ratio() {
    for f in "$1" "$2"; do
        sort -n "$f" | awk '{ v[NR] = $1 } END { a = int(NR * 0.50); if (a < NR * 0.50) a++
            b = int(NR * 0.99); if (b < NR * 0.99) b++; print v[a], v[b] }'
    done | awk 'NR == 1 { a = $1; b = $2 } NR == 2 { printf "p50 %.2f, p99 %.2f\n", a / $1, b / $2 }'
}

if echo "$parts" | grep -q fault; then
    echo "fault to action: psu_fail ps4 on the demo rack (restore_after_s 0, ps4 on bus A)"
    echo "  from the simulator receiving the fault to the daemon's first write, modbus tcp, loopback"
    t=$(date +%s)
    rm -f "$tmp/lat."* "$tmp/steps."* "$tmp/kind."*
    if [ -n "${BASELINE:-}" ]; then
        # in turns, five blocks each, so that both meet the same machine
        per=$(((alert_n + 4) / 5))
        r=0
        while [ "$r" -lt 5 ]; do
            fault_run alert "$per" "$BASELINE" base
            fault_run alert "$per" "$rpd" alert
            r=$((r + 1))
        done
        fault_print base "alert line, BASELINE ($BASELINE)"
        fault_print alert "alert line, this rackpowerd"
        echo "  this one over BASELINE: $(ratio "$tmp/lat.alert" "$tmp/lat.base")"
    else
        fault_run alert "$alert_n" "$rpd" alert
        fault_print alert "with the alert line (poll_ms 200)"
    fi
    if [ "$poll_n" -gt 0 ]; then
        fault_run poll "$poll_n" "$rpd" poll
        fault_print poll "polling only (poll_ms 1000)"
    fi
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
    rack48 "$tmp/rack48.yaml" "  command_rate: 0\n  socket: $tmp/rp.sock"
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
