# tests/lib.sh: what the shell tests share (chrony's test/simulation/test.common
# is the model). A test sources it and names itself:
#     . "${0%/*}/lib.sh"
#     test_begin daemon.sh
# then makes its checks, each ending in a count or a failure:
#     grep -q 'up' "$tmp/out" || fail "the device is not up"; ok
#     until_ok '[ "$(srv db1)" = on ]' "db1 powered"
# and ends with test_end, which prints "daemon.sh: 37 checks passed".
# fail names the test, the number and the text of the failed check, shows the
# last lines of every log registered with log_show, and exits 1. The cleanup
# trap stops every process started through lib.sh (or given to track) and
# removes $tmp. POSIX sh; the caller may `set -u`.

# ---- checks --------------------------------------------------------------------

# test_begin NAME: the test's name, a temporary directory $tmp, the counter
# and the cleanup trap.
test_begin() {
    test_name="$1"
    checks=0
    lib_pids=""
    lib_logs=""
    rpd_pid=""
    sim_pid=""
    tmp=$(mktemp -d) || { echo "$test_name: no temporary directory"; exit 1; }
    trap lib_cleanup EXIT
    trap 'exit 1' INT TERM
}

# ok: counts the check just made (after `condition || fail "what"`).
ok() { checks=$((checks + 1)); }

# fail WHAT: the check that did not hold; the logs; exit 1.
fail() {
    echo "FAIL: $test_name: check $((checks + 1)): $*"
    for lib_l in $lib_logs; do
        echo "--- ${lib_l%%=*} (${lib_l#*=}):"
        tail -n 30 "${lib_l#*=}" 2>/dev/null
    done
    exit 1
}

# log_show LABEL FILE: shows FILE's last lines when a check fails (no spaces).
log_show() { lib_logs="$lib_logs $1=$2"; }

# until_ok COMMAND [WHAT [TENTHS]]: a check that COMMAND (eval'd, so it may be
# a pipeline or use the test's functions) succeeds within TENTHS tenths of a
# second (default 300: 30 s, room for a loaded machine; a passing check
# waits only as long as it needs), polled every 0.1 s. WHAT names it (default: COMMAND).
until_ok() {
    lib_i=0
    while ! eval "$1" >/dev/null 2>&1; do
        lib_i=$((lib_i + 1))
        [ "$lib_i" -gt "${3:-300}" ] && fail "timed out waiting for: ${2:-$1}"
        sleep 0.1
    done
    ok
}

# test_end: the count, on success.
test_end() { echo "$test_name: $checks checks passed"; }

# ---- processes -----------------------------------------------------------------

# track PID / untrack PID: a background process the cleanup stops if it runs.
track() { lib_pids="$lib_pids $1"; }
untrack() {
    lib_left=""
    for lib_p in $lib_pids; do
        [ "$lib_p" = "$1" ] || lib_left="$lib_left $lib_p"
    done
    lib_pids="$lib_left"
}

# stop PID [SIGNAL]: signals (TERM by default) and reaps a tracked process;
# its exit status is in $stop_rc.
stop() {
    kill "-${2:-TERM}" "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    stop_rc=$?
    untrack "$1"
}

lib_cleanup() {
    for lib_p in $lib_pids; do
        kill -9 "$lib_p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$tmp"
}

# ---- rackpowerd ----------------------------------------------------------------

# rpd_start RACKPOWERD CONFIG DB LOG [ARGS...]: starts the daemon in the
# foreground (log_show it), waits for its API, and sets rpd_pid, api (the URL
# it logged) and port. Environment the caller puts before the call reaches it.
rpd_start() {
    lib_bin="$1"
    lib_conf="$2"
    lib_db="$3"
    rpd_log="$4"
    shift 4
    # emptied here, not only by the child's redirection: a log left by the
    # last run would otherwise say 'serving' before the new daemon has started
    : >"$rpd_log"
    "$lib_bin" --config "$lib_conf" --db "$lib_db" --foreground "$@" >"$rpd_log" 2>&1 &
    rpd_pid=$!
    track "$rpd_pid"
    lib_i=0
    while ! grep -q 'serving the API on' "$rpd_log"; do
        kill -0 "$rpd_pid" 2>/dev/null || fail "rackpowerd exited while starting"
        lib_i=$((lib_i + 1))
        [ "$lib_i" -gt 200 ] && fail "rackpowerd did not start within 20 s"
        sleep 0.1
    done
    api=$(sed -n 's/.*serving the API on \(https\{0,1\}:[^ ]*\).*/\1/p' "$rpd_log" | head -n 1)
    port=${api##*:}
}

# rpd_stop [SIGNAL]: stops the daemon (TERM by default); its exit status is in
# $stop_rc.
rpd_stop() {
    stop "$rpd_pid" "${1:-TERM}"
    rpd_pid=""
}

# ---- rackpower-sim serve -------------------------------------------------------

# sim_start RACKPOWER-SIM STDOUT STDERR ARGS...: `rackpower-sim serve ARGS`,
# waits for its ready line on STDOUT and sets sim_pid and, when it serves TCP
# on a loopback address (127.x.y.z), sim_port.
sim_start() {
    lib_bin="$1"
    lib_out="$2"
    lib_err="$3"
    shift 3
    : >"$lib_out" # as in rpd_start
    "$lib_bin" serve "$@" >"$lib_out" 2>"$lib_err" &
    sim_pid=$!
    track "$sim_pid"
    lib_i=0
    while ! grep -q 'serving' "$lib_out" 2>/dev/null; do
        kill -0 "$sim_pid" 2>/dev/null || fail "rackpower-sim serve exited while starting"
        lib_i=$((lib_i + 1))
        [ "$lib_i" -gt 100 ] && fail "rackpower-sim serve did not start within 10 s"
        sleep 0.1
    done
    sim_port=$(sed -n 's/.*tcp 127\.[0-9.]*:\([0-9][0-9]*\).*/\1/p' "$lib_out")
}

# sim_stop [SIGNAL]: stops the simulator (TERM by default); exit status in $stop_rc.
sim_stop() {
    stop "$sim_pid" "${1:-TERM}"
    sim_pid=""
}

# sim_ctl SOCKET LINE: one line to a simulator's control socket; prints the answer.
sim_ctl() { printf '%s\n' "$2" | socat -t 5 - "UNIX-CONNECT:$1" 2>/dev/null; }

# As the daemon tests set things up: the simulator's control socket is
# $tmp/ctl, the daemon's Unix socket $tmp/rp.sock, $ctl is rackpowerctl.
ctlsend() { sim_ctl "$tmp/ctl" "$1" >/dev/null; }     # a control command
simstat() { sim_ctl "$tmp/ctl" status | grep -q "$1"; } # its status matches
rctl() { "$ctl" --unix-socket "$tmp/rp.sock" "$@"; }    # rackpowerctl, as admin
# srv ID: the daemon's state of a server (on, shed, ...)
srv() { rctl servers --json | grep -o "\"id\":\"$1\",\"state\":\"[a-z]*\"" | cut -d'"' -f8; }

# ---- the demo rack -------------------------------------------------------------

# demo_rack SOURCE_DIR FILE: examples/demo.yaml's rack without its timeline
# (4 PSUs on 2 buses and 2 feeds, 6 servers in 3 chassis, n+1).
demo_rack() {
    sed -n '/^rack:/,/^timeline:/p' "$1/examples/demo.yaml" | grep -v '^timeline:' >"$2"
}

# demo_units [psus|chassis]: the `units:` entries of one Modbus device serving
# the demo rack as rackpower-sim serve does (docs/sim-devices.md): the PSUs on
# units 200-203 and the switch module on unit 1 (psus), the chassis modules
# on units 10-12 (chassis); both without an argument.
demo_units() {
    if [ "${1:-both}" != chassis ]; then
        printf '      - {unit: 200, psu: ps1}\n      - {unit: 201, psu: ps2}\n'
        printf '      - {unit: 202, psu: ps3}\n      - {unit: 203, psu: ps4}\n'
        printf '      - {unit: 1, switches: [ps1, ps2, ps3, ps4]}\n'
    fi
    if [ "${1:-both}" != psus ]; then
        printf '      - {unit: 10, chassis: c1}\n      - {unit: 11, chassis: c2}\n'
        printf '      - {unit: 12, chassis: c3}\n'
    fi
}

# rack48 FILE API_LINES: the benchmarks' 48-server rack with the in-process
# simulated rack booting every server: 48 servers of 300-900 W in 12 chassis,
# 8 priorities, a fifth on bus A only, a fifth on B only; 12 fet PSUs of
# 3000 W on two feeds, half on each bus; n+1. API_LINES follow `api:` and
# `port: 0` (YAML lines, two spaces in, "\n" between them).
rack48() {
    awk -v api="$2" 'BEGIN {
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
        print "]\napi:\n  port: 0\n" api
    }' >"$1"
}

# ---- the cluster of examples/cluster (three controllers) ---------------------

# cluster_files SOURCE_DIR MODBUS_PORT HEARTBEAT_MS [MISSED]: examples/cluster's
# c1-c3.yaml as $tmp/c1.yaml ..., with free UDP ports for the rack bus
# (udp1 udp2 udp3), the API on a free port, the simulator's Modbus port, the
# heartbeat given and MISSED missed_heartbeats (default the example's 3), and
# every path under $tmp (the key $tmp/rack.key, the sockets $tmp/c1.sock ...).
cluster_files() {
    lib_missed=${4:-3}
    set -- "$1" "$2" "$3" $("$lib_py" -c '
import socket
ss = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
    udp1=$4 udp2=$5 udp3=$6
    (umask 077; head -c 32 /dev/urandom >"$tmp/rack.key")
    for lib_n in 1 2 3; do
        sed -e "s|/tmp/rackpower-cluster|$tmp|g" -e "s|^    port: 15020$|    port: $2|" \
            -e "s|^  port: 847$lib_n$|  port: 0|" -e "s|127.0.0.1:7301|127.0.0.1:$udp1|" \
            -e "s|127.0.0.1:7302|127.0.0.1:$udp2|" -e "s|127.0.0.1:7303|127.0.0.1:$udp3|" \
            -e "s|^  heartbeat_ms: 100$|  heartbeat_ms: $3|" \
            -e "s|^  missed_heartbeats: 3$|  missed_heartbeats: $lib_missed|" \
            "$1/examples/cluster/c$lib_n.yaml" >"$tmp/c$lib_n.yaml"
        grep -q "^    port: $2$" "$tmp/c$lib_n.yaml" && grep -q "^  port: 0$" "$tmp/c$lib_n.yaml" &&
            grep -q "^  heartbeat_ms: $3$" "$tmp/c$lib_n.yaml" &&
            grep -q "^  missed_heartbeats: $lib_missed$" "$tmp/c$lib_n.yaml" ||
            fail "c$lib_n.yaml: the example's ports or heartbeat are not where cluster_files expects them"
    done
}

# cstart N RACKPOWERD: starts controller N on $tmp/cN.yaml and $tmp/cN.db
# (its log $tmp/cN.log, appended to: log_show it; its rack bus fault switch
# $tmp/cN.faults), waits for its API; sets pidN and apiN.
cstart() {
    echo "=== start" >>"$tmp/c$1.log"
    lib_lines=$(wc -l <"$tmp/c$1.log")
    # the rack bus's fault switch (node_io.h), for a partition without nftables
    RACKPOWER_RACKBUS_FAULTS="$tmp/c$1.faults" \
        "$2" --config "$tmp/c$1.yaml" --db "$tmp/c$1.db" --foreground >>"$tmp/c$1.log" 2>&1 &
    eval "pid$1=$!"
    track "$!"
    lib_i=0
    until tail -n +"$((lib_lines + 1))" "$tmp/c$1.log" | grep -q 'serving the API on'; do
        kill -0 "$(eval echo "\$pid$1")" 2>/dev/null || fail "c$1 exited while starting"
        lib_i=$((lib_i + 1))
        [ "$lib_i" -gt 200 ] && fail "c$1 did not start within 20 s"
        sleep 0.1
    done
    eval "api$1=$(tail -n +"$((lib_lines + 1))" "$tmp/c$1.log" |
        sed -n 's/.*serving the API on \(http:[^ ]*\).*/\1/p' | head -n 1)"
}
# ckill N [SIGNAL]: stops controller N (TERM by default); $stop_rc
ckill() {
    stop "$(eval echo "\$pid$1")" "${2:-TERM}"
    eval "pid$1="
}
alive() { [ -n "$(eval echo "\$pid$1")" ]; }
# c N ARGS: rackpowerctl ($ctl) against controller N over TCP (plain reads)
c() { lib_cn=$1; shift; "$ctl" --api "$(eval echo "\$api$lib_cn")" "$@"; }
# admin N ARGS: rackpowerctl as admin over controller N's local socket
admin() { lib_an=$1; shift; "$ctl" --unix-socket "$tmp/c$lib_an.sock" "$@"; }
# the system's python3 when there is one: a version manager's shim in PATH
# costs seconds a call on a loaded machine, and j is called in loops
lib_py=$(command -v /usr/bin/python3 || command -v python3)
# j N EXPR: the Python expression EXPR of controller N's status (d)
j() {
    c "$1" status --json 2>/dev/null | "$lib_py" -c '
import json, sys
d = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$2"
}
role() { j "$1" 'd["role"]'; }
epoch() { j "$1" 'd["epoch"]'; }
# primary: prints the primary's number when exactly one live controller
# says it is primary and every live one names it; else fails
primary() {
    lib_p=""
    for lib_k in 1 2 3; do
        alive "$lib_k" || continue
        lib_r=$(role "$lib_k") || return 1
        if [ "$lib_r" = primary ]; then
            [ -z "$lib_p" ] || return 1 # two
            lib_p=$lib_k
        fi
    done
    [ -n "$lib_p" ] || return 1
    for lib_k in 1 2 3; do
        alive "$lib_k" || continue
        [ "$(j "$lib_k" 'd["primary"]')" = "$lib_p" ] || return 1
    done
    echo "$lib_p"
}

# need TOOL...: fails when a tool the test drives is not installed.
need() {
    for lib_t in "$@"; do
        command -v "$lib_t" >/dev/null || fail "$lib_t is not installed"
    done
}
