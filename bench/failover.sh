#!/bin/sh
# Fail-over figures (issue 9, section 9), printed, never judged
# (docs/benchmarks.md). The three controllers of examples/cluster against
# `rackpower-sim serve`, as real processes:
#  1. fail-over time: from kill -9 of the primary to the new primary's first
#     accepted device write (the fence: the epoch words written to a module,
#     which the simulator logs as "owner epoch A -> B" on its own clock).
#     The kill is stamped on CLOCK_MONOTONIC just before the signal, and the
#     simulator logs where its 0 s lies on that clock, so both are on one
#     clock. After each sample the killed controller is started again and
#     the cluster given time to settle (it catches up as a secondary), so the
#     primary moves around the three. RUNS samples at each heartbeat of
#     HEARTBEATS (missed_heartbeats 3, poll_ms 200 as in the example), beside
#     what VRRPv3 (RFC 9568: 3 x interval + skew, skew = (256 - priority) /
#     256 x interval, priority 100) and etcd (election timeout 1000 ms by
#     default, randomised up to 2x) would take at that interval.
#  2. the latency replication adds to a grant: power-on then power-off of a
#     server (log1, 400 W: always fits) through the primary's local socket,
#     GRANTS times, timed from the request to the answer; the same against
#     one lone controller (the same config without node:) on the same
#     simulator. The difference is what waiting for the secondaries' acks
#     costs (a client hears of a grant only after every live secondary holds
#     it and the device accepted it).
# Usage: failover.sh BUILD_DIR SOURCE_DIR
# Environment: RUNS (20), HEARTBEATS ("50 100 200"), GRANTS (200),
#              PARTS ("failover grant")
set -u
build="$1"
src="$2"
sim="$build/rackpower-sim"
rpd="$build/rackpowerd"
ctl="$build/rackpowerctl"
runs="${RUNS:-20}"
heartbeats="${HEARTBEATS:-50 100 200}"
grants="${GRANTS:-200}"
parts="${PARTS:-failover grant}"
for b in "$sim" "$rpd" "$ctl"; do
    [ -x "$b" ] || { echo "failover: $b missing: build first (make build)"; exit 1; }
done
# the tests' helpers (tests/lib.sh): $tmp, the cleanup trap, the cluster's
. "$src/tests/lib.sh"
test_begin failover
log_show simulator-log "$tmp/slog"
for n in 1 2 3; do log_show "c$n-log" "$tmp/c$n.log"; done

echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1), $(uname -sr)"
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# stats FILE: p50 p99 (nearest rank) min max mean of the numbers in FILE (ms)
stats() {
    sort -n "$1" | awk '{ v[NR] = $1; s += $1 }
        END { if (!NR) { print "no samples"; exit }
              p50 = v[int(NR * 0.50 + 0.999999)]; p99 = v[int(NR * 0.99 + 0.999999)]
              printf "p50 %.1f ms, p99 %.1f ms, min %.1f, max %.1f, mean %.1f (%d samples)\n",
                     p50, p99, v[1], v[NR], s / NR, NR }'
}
# the simulator's 0 s on CLOCK_MONOTONIC, in ns
sim_zero() { sed -n 's/.*clock: 0 s here is \([0-9.]*\) s on CLOCK_MONOTONIC.*/\1/p' "$tmp/slog" | head -n 1; }
# kill_stamped PID: SIGKILL, printing CLOCK_MONOTONIC (ns) just before it
kill_stamped() {
    python3 -c 'import os, sys, time
t = time.monotonic_ns()
os.kill(int(sys.argv[1]), 9)
print(t)' "$1"
}

# no command rate limit: the grant part sends hundreds (docs/security.md)
unlimited() { sed -i 's/^  plain_reads: true$/  plain_reads: true\n  command_rate: 0/' "$tmp"/c?.yaml; }
start_cluster() { # HEARTBEAT_MS
    rm -f "$tmp"/c?.db* "$tmp"/c?.log "$tmp/slog"
    sim_start "$sim" "$tmp/sout" "$tmp/slog" "$src/examples/cluster/rack.yaml" --tcp 127.0.0.1:0 \
        --control "$tmp/ctl"
    cluster_files "$src" "$sim_port" "$1"
    unlimited
    for n in 1 2 3; do cstart "$n" "$rpd"; done
    until_ok 'p=$(primary)' "one primary" 300
    until_ok 'grep -q "owner epoch 0 -> $(epoch $(primary))" "$tmp/slog"' "the modules fenced" 300
}
stop_cluster() {
    for n in 1 2 3; do alive "$n" && ckill "$n"; done
    sim_stop
}

if echo "$parts" | grep -q failover; then
    echo
    echo "== fail-over: kill -9 of the primary to the new primary's first accepted device write"
    for hb in $heartbeats; do
        start_cluster "$hb"
        zero=$(sim_zero)
        : >"$tmp/samples"
        i=0
        while [ "$i" -lt "$runs" ]; do
            p=$(primary) || { sleep 0.2; continue; }
            e=$(epoch "$p")
            lines=$(wc -l <"$tmp/slog")
            t_kill=$(kill_stamped "$(eval echo "\$pid$p")")
            wait "$(eval echo "\$pid$p")" 2>/dev/null
            untrack "$(eval echo "\$pid$p")"
            eval "pid$p="
            # the first rise of an owner epoch above the dead one's, after the kill
            until_ok 'tail -n +$((lines + 1)) "$tmp/slog" | grep -q "owner epoch $e -> "' "a new primary fences (hb $hb, run $i)" 300
            t_fence=$(tail -n +"$((lines + 1))" "$tmp/slog" | grep "owner epoch $e -> " | head -n 1 |
                awk '{ sub(/s$/, "", $2); print $2 }')
            awk -v z="$zero" -v f="$t_fence" -v k="$t_kill" \
                'BEGIN { printf "%.3f\n", ((z + f) * 1e9 - k) / 1e6 }' >>"$tmp/samples"
            cstart "$p" "$rpd"
            until_ok '[ "$(role $p)" = secondary ] && np=$(primary)' "c$p back as a secondary" 300
            sleep 1 # settle: it catches up; the next kill finds a quiet cluster
            i=$((i + 1))
        done
        printf "heartbeat %3d ms: " "$hb"
        stats "$tmp/samples"
        awk -v hb="$hb" 'BEGIN { printf "   beside: VRRPv3 at that interval %.0f ms (3 x %d + skew %.0f); etcd 1000-2000 ms election (default); goal: 3 heartbeats + one poll = %d ms\n",
            3 * hb + (256 - 100) / 256 * hb, hb, (256 - 100) / 256 * hb, 3 * hb + 200 }'
        stop_cluster
    done
fi

# grant_times SOCKET N OUT: N power-on/power-off cycles of log1 through the
# local socket; the power-on answers' times (ms) in OUT
grant_times() {
    python3 - "$1" "$2" "$3" <<'EOF'
import http.client, json, socket, sys, time
class Unix(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)
def post(path):
    c = Unix(sys.argv[1])
    c.request("POST", path, body="{}", headers={"Content-Type": "application/json"})
    r = c.getresponse()
    body = r.read()
    c.close()
    if r.status != 200:
        sys.exit("%s: %d %s" % (path, r.status, body[:200]))
    return json.loads(body)
out = open(sys.argv[3], "w")
for _ in range(int(sys.argv[2])):
    t = time.monotonic_ns()
    a = post("/v1/servers/log1/power-on")
    dt = (time.monotonic_ns() - t) / 1e6
    if a.get("state") not in ("on", "capped"):
        sys.exit("log1 not granted: %s" % a)
    out.write("%.3f\n" % dt)
    post("/v1/servers/log1/power-off")
EOF
}

if echo "$parts" | grep -q grant; then
    echo
    echo "== the latency replication adds to a grant: power-on of log1 through the local socket"
    start_cluster 100
    p=$(primary)
    grant_times "$tmp/c$p.sock" "$grants" "$tmp/cluster" || fail "grants through c$p"
    printf "cluster primary (2 live secondaries, heartbeat 100 ms): "
    stats "$tmp/cluster"
    stop_cluster
    # one lone controller: c1 without node:
    sim_start "$sim" "$tmp/sout" "$tmp/slog" "$src/examples/cluster/rack.yaml" --tcp 127.0.0.1:0 \
        --control "$tmp/ctl"
    cluster_files "$src" "$sim_port" 100
    unlimited
    sed '/^node:/,/^$/d' "$tmp/c1.yaml" >"$tmp/lone.yaml"
    cp "$tmp/lone.yaml" "$tmp/c1.yaml"
    rm -f "$tmp"/c1.db*
    cstart 1 "$rpd"
    grant_times "$tmp/c1.sock" "$grants" "$tmp/lone" || fail "grants through the lone controller"
    printf "lone controller (no node:):                           "
    stats "$tmp/lone"
    ckill 1
    sim_stop
    for f in cluster lone; do sort -n "$tmp/$f" >"$tmp/$f.s"; done
    awk 'NR == FNR { a[FNR] = $1; n = FNR; next } { b[FNR] = $1 }
        END { i50 = int(n * 0.50 + 0.999999); i99 = int(n * 0.99 + 0.999999)
              printf "added by replication: p50 %+.1f ms, p99 %+.1f ms\n", a[i50] - b[i50], a[i99] - b[i99] }' \
        "$tmp/cluster.s" "$tmp/lone.s"
fi
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
