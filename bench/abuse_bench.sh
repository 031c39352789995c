#!/bin/sh
# Figures for rackpowerd's API under abuse (issue 7, part 4), printed, never
# judged (docs/benchmarks.md, "The API under abuse"):
#  - GET /v1/status from 127.0.0.3 every 20 ms, alone, then while
#    bench-abuse (bench/bench_abuse.c) holds SLOW slowloris connections from
#    127.0.0.2, floods connections from 127.0.0.4, opens and drops event
#    streams from 127.0.0.5 and runs CLIENTS command clients from 127.0.0.6
#    (power-off and power-on of the 48 servers in turn, as fast as answered):
#    p50, p99 and max of the answer time;
#  - the commands answered per second during the abuse;
#  - `rackpowerctl status` (a process each: start, HTTP, exit), over TCP and
#    over the local socket, timed the same way alone and under the abuse;
#  - rackpowerd's VmRSS every 5 s.
# The rack: 48 servers, 12 PSUs on the in-process simulated rack, every
# server booting on (as bench/daemon_bench.sh's memory part).
# Usage: abuse_bench.sh BUILD_DIR SOURCE_DIR
# Environment: SECONDS_EACH (20: each phase), SLOW (500), CLIENTS (16),
#              CTL_RUNS (30: rackpowerctl status per phase and way),
#              ABUSE ("slow flood churn commands": which abusers run)
set -u
build="$1"
src="$2"
rpd="$build/rackpowerd"
ctl="$build/rackpowerctl"
abuse="$build/bench-abuse"
each="${SECONDS_EACH:-20}"
slow="${SLOW:-500}"
clients="${CLIENTS:-16}"
ctl_runs="${CTL_RUNS:-30}"
kinds="${ABUSE:-slow flood churn commands}"
for b in "$rpd" "$ctl" "$abuse"; do
    [ -x "$b" ] || { echo "abuse_bench: $b missing: build first (make build)"; exit 1; }
done
. "$src/tests/lib.sh"
test_begin abuse_bench
log_show daemon-log "$tmp/dlog"

# Commands over TCP carry an operator's token (rackpowerctl and bench-abuse
# read RACKPOWER_TOKEN), unlimited in rate: what is measured is the server.
"$ctl" token add bench --role operator --tokens "$tmp/tokens" >"$tmp/token" 2>/dev/null ||
    fail "token add"
RACKPOWER_TOKEN=$(cat "$tmp/token")
export RACKPOWER_TOKEN
rack48 "$tmp/rack48.yaml" "  plain_reads: true\n  hosts: [x]\n  command_rate: 0\n  tokens: $tmp/tokens\n  socket: $tmp/rp.sock"
rpd_start "$rpd" "$tmp/rack48.yaml" "$tmp/db" "$tmp/dlog"
until_ok '"$ctl" --api "$api" status --json | grep -q "\"on\":48"' "48 servers on"

# p50 p99 max (nearest rank) of the numbers (ms) in a file
stats() {
    sort -n "$1" | awk '{ v[NR] = $1 }
        END { p50 = int(NR * 0.50); if (p50 < NR * 0.50) p50++
              p99 = int(NR * 0.99); if (p99 < NR * 0.99) p99++
              printf "p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d runs)\n", v[p50], v[p99], v[NR], NR }'
}
one_ctl() { # FILE ARGS: one timed rackpowerctl ARGS status into FILE
    f="$1"
    shift
    t0=$(date +%s%N)
    "$ctl" "$@" status >/dev/null || echo "rackpowerctl $* status failed" >&2
    t1=$(date +%s%N)
    echo "$t0 $t1" | awk '{ printf "%.2f\n", ($2 - $1) / 1e6 }' >>"$f"
}
ctl_times() { # NAME: CTL_RUNS timed rackpowerctl status over TCP and the socket, in turn
    : >"$tmp/tcp_$1"
    : >"$tmp/sock_$1"
    i=0
    while [ "$i" -lt "$ctl_runs" ]; do
        one_ctl "$tmp/tcp_$1" --api "$api"
        one_ctl "$tmp/sock_$1" --unix-socket "$tmp/rp.sock"
        i=$((i + 1))
        sleep 0.05
    done
}

echo "rackpowerd's API under abuse: 48 servers, 12 PSUs, in-process simulated rack; $each s a phase"
ctl_times quiet
printf '  rackpowerctl status over TCP, quiet: '
stats "$tmp/tcp_quiet"
printf '  rackpowerctl status over the local socket, quiet: '
stats "$tmp/sock_quiet"
"$abuse" run 127.0.0.1 "$port" --seconds "$each" --slow "$slow" --clients "$clients" \
    --pid "$rpd_pid" --abuse "$kinds" >"$tmp/run" 2>&1 &
bpid=$!
track "$bpid"
# the abuse starts after bench-abuse's quiet phase and its slowloris set-up
until_ok 'grep -q "^abuse for" "$tmp/run"' "the abuse to start" $((each * 10 + 300))
sleep 2
ctl_times loud
wait "$bpid"
untrack "$bpid"
sed 's/^/  /' "$tmp/run"
printf '  rackpowerctl status over TCP, under abuse: '
stats "$tmp/tcp_loud"
printf '  rackpowerctl status over the local socket, under abuse: '
stats "$tmp/sock_loud"
n=$(grep -c 'warning: api:' "$tmp/dlog")
echo "  api warnings logged: $n lines; $(grep -c 'more warnings like these' "$tmp/dlog") of them counts"
rpd_stop
