#!/bin/sh
# rackpowerd managing a rack over real Modbus: `rackpower-sim serve` plays the
# devices (ORv3 PSUs, switch module, chassis modules) on TCP and on RTU
# (pseudo-terminals by socat); the daemon polls them, takes servers' requests
# from the chassis modules, and its decisions must arrive at the simulated
# devices: a PSU failure re-routed by a switch coil, a second one shed by slot
# coils. Checked through the API and, independently, with mbpoll.
# Usage: daemon_modbus.sh RACKPOWERD RACKPOWERCTL RACKPOWER-SIM SOURCE_DIR
set -u
rpd="$1"
ctl="$2"
sim="$3"
src="$4"
tmp=$(mktemp -d)
dpid=""
spid=""
cleanup() {
    [ -n "$dpid" ] && kill "$dpid" 2>/dev/null
    [ -n "$spid" ] && kill "$spid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
n=0
fail() {
    echo "FAIL: $*"
    echo "--- daemon log:"; tail -n 25 "$tmp/dlog" 2>/dev/null
    echo "--- simulator log:"; tail -n 15 "$tmp/slog" 2>/dev/null
    exit 1
}
ok() { n=$((n + 1)); }
until_ok() { # command, what (10 s)
    i=0
    while ! eval "$1" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -gt 200 ] && fail "timed out waiting for: $2"
        sleep 0.05
    done
    ok
}
ctlsend() { printf '%s\n' "$1" | socat -t 2 - "UNIX-CONNECT:$tmp/ctl" >/dev/null 2>&1; }
# the simulator's own view of its devices (its control socket's status)
simstat() { printf 'status\n' | socat -t 2 - "UNIX-CONNECT:$tmp/ctl" 2>/dev/null | grep -q "$1"; }
# mbpoll as a second, outside client: only over TCP (an RTU line has one master)
mbread() { # pattern, mbpoll arguments
    pat="$1"; shift
    [ "$mode" = rtu ] || $mb "$@" $mbdev 2>/dev/null | grep -q "$pat"
}
srv() { "$ctl" --api "$api" servers --json | grep -o "\"id\":\"$1\",\"state\":\"[a-z]*\"" | cut -d'"' -f8; }

# The demo rack: 4 PSUs on 2 buses, 6 servers in 3 chassis.
sed -n '/^rack:/,/^timeline:/p' "$src/examples/demo.yaml" | grep -v '^timeline:' >"$tmp/rack.yaml"

run() { # transport: tcp | rtu
    mode="$1"
    rm -f "$tmp/slog" "$tmp/dlog" "$tmp/db"*
    if [ "$mode" = tcp ]; then
        "$sim" serve "$tmp/rack.yaml" --tcp 127.0.0.1:0 --control "$tmp/ctl" --alert "$tmp/alert" \
            >"$tmp/sout" 2>"$tmp/slog" &
    else
        "$sim" serve "$tmp/rack.yaml" --rtu "$tmp/tty" --control "$tmp/ctl" --alert "$tmp/alert" \
            >"$tmp/sout" 2>"$tmp/slog" &
    fi
    spid=$!
    until_ok 'grep -q serving "$tmp/sout"' "the simulator to serve"
    if [ "$mode" = tcp ]; then
        mport=$(sed -n 's/.*on tcp 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/sout")
        dev="kind: modbus-tcp\n    host: 127.0.0.1\n    port: $mport"
        mb="mbpoll -m tcp -p $mport -0 -1"
        mbdev=127.0.0.1
    else
        dev="kind: modbus-rtu\n    device: $tmp/tty\n    baud: 19200\n    parity: even"
        mb="mbpoll -m rtu -b 19200 -P even -0 -1"
        mbdev="$tmp/tty"
    fi
    { cat "$tmp/rack.yaml"
      printf "devices:\n  - $dev\n    poll_ms: 200\n    timeout_ms: 200\n    reprobe_s: 1\n    alert: $tmp/alert\n"
      printf '    units:\n'
      printf '      - {unit: 200, psu: ps1}\n      - {unit: 201, psu: ps2}\n'
      printf '      - {unit: 202, psu: ps3}\n      - {unit: 203, psu: ps4}\n'
      printf '      - {unit: 1, switches: [ps1, ps2, ps3, ps4]}\n'
      printf '      - {unit: 10, chassis: c1}\n      - {unit: 11, chassis: c2}\n      - {unit: 12, chassis: c3}\n'
      printf 'api:\n  port: 0\n'; } >"$tmp/conf.yaml"
    "$rpd" --config "$tmp/conf.yaml" --db "$tmp/db" --foreground >"$tmp/dlog" 2>&1 &
    dpid=$!
    until_ok 'grep -q "serving the API on" "$tmp/dlog"' "rackpowerd to start ($mode)"
    api=$(sed -n 's/.*serving the API on \(http:[^ ]*\).*/\1/p' "$tmp/dlog" | head -n 1)

    # servers ask through their chassis modules; the grants come back as coils
    ctlsend "power_on db1 app1 web1 web2 batch1 ml1"
    until_ok '[ "$(srv batch1)" = on ]' "batch1 granted over $mode"
    [ "$(srv ml1)" = waiting ] || fail "$mode: ml1 should wait (n+1), is $(srv ml1)"; ok
    # the operator sees every unit's counters
    until_ok '"$ctl" --api "$api" status | grep -q "unit 200 orv3-psu *live *[1-9][0-9]* ok"' "unit counters in status ($mode)"
    # the simulator powered db1 (chassis c1 unit 10, slot 0)
    until_ok 'simstat "server db1 .*present on"' "db1 powered in the simulator ($mode)"
    until_ok 'mbread "^\[2\]:[[:space:]]*1" -a 10 -r 2 -c 1' "db1's slot state register reads on ($mode)"

    # first failure: bus A is short; ps4 (switch coil group 3) moves from B to A
    ctlsend "psu_fail ps1"
    until_ok '"$ctl" --api "$api" psus --json | grep -q "\"id\":\"ps1\"[^}]*\"state\":\"failed\""' "ps1 seen failed ($mode)"
    until_ok 'simstat "psu ps4 unit 203 bus A"' "ps4 switched to bus A in the simulator ($mode)"
    until_ok 'mbread "^\[3\]:[[:space:]]*1" -a 1 -r 3 -c 1' "ps4's switch register reads bus A ($mode)"
    [ "$(srv batch1)" = on ] || fail "$mode: nobody should be shed after the first failure"; ok

    # second failure: not enough left for n+1: the least important go
    ctlsend "psu_fail ps4"
    until_ok '[ "$(srv batch1)" = shed ]' "batch1 shed over $mode"
    [ "$(srv db1)" = on ] || fail "$mode: db1 must stay on, is $(srv db1)"; ok
    # batch1 is chassis c3 (unit 12) slot 0: its power coil is off in the simulator
    until_ok 'simstat "server batch1 .*present off"' "batch1 powered off in the simulator ($mode)"
    until_ok 'mbread "^\[0\]:[[:space:]]*0" -a 12 -t 0 -r 0 -c 1' "batch1's power coil reads off ($mode)"
    grep -q "shed.*batch1" "$tmp/dlog" || fail "$mode: the shed is not in the daemon's log"; ok

    if [ "$mode" = tcp ]; then
        # the device bus dies: the daemon says so, goes on deciding, loses nothing
        kill "$spid"; wait "$spid" 2>/dev/null; spid=""
        until_ok 'grep -q "warning: device modbus-tcp 127.0.0.1:$mport" "$tmp/dlog"' "the dead bus reported"
        "$ctl" --api "$api" status >/dev/null || fail "the API must answer with the device bus down"; ok
        until_ok '"$ctl" --api "$api" status | grep -q "unit 200 orv3-psu *dormant"' "unit 200 shown dormant"
        "$ctl" --api "$api" power-off web2 >/dev/null || fail "a power-off must be decided with the bus down"; ok
        # the devices come back, blank: the daemon puts its decisions back on them
        "$sim" serve "$tmp/rack.yaml" --tcp 127.0.0.1:$mport --control "$tmp/ctl" >"$tmp/sout" 2>"$tmp/slog" &
        spid=$!
        until_ok 'simstat "server db1 .*present on"' "db1 powered again after the devices came back"
        until_ok 'simstat "psu ps4 unit 203 bus A"' "ps4 switched again after the devices came back"
        simstat "server web2 .*present on" && fail "web2 was released while the bus was down"; ok
    fi
    kill "$dpid"; wait "$dpid" 2>/dev/null; dpid=""
    kill "$spid"; wait "$spid" 2>/dev/null; spid=""
}

run tcp
run rtu
echo "$n passed, 0 failed"
