#!/bin/sh
# rackpowerd managing a rack over real Modbus: `rackpower-sim serve` plays the
# devices (ORv3 PSUs, switch module, chassis modules) on TCP and on RTU
# (pseudo-terminals by socat); the daemon polls them, takes servers' requests
# from the chassis modules, and its decisions must arrive at the simulated
# devices: a PSU failure re-routed by a switch coil, a second one shed by slot
# coils. Checked through the API and, independently, with mbpoll.
# Usage: daemon_modbus.sh RACKPOWERD RACKPOWERCTL RACKPOWER-SIM SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin daemon_modbus.sh
rpd="$1"
ctl="$2"
sim="$3"
src="$4"
need socat mbpoll
log_show daemon-log "$tmp/dlog"
log_show simulator-log "$tmp/slog"
# the simulator's own view of its devices (its control socket's status)
# mbpoll as a second, outside client: only over TCP (an RTU line has one master)
mbread() { # pattern, mbpoll arguments
    pat="$1"; shift
    [ "$mode" = rtu ] || $mb "$@" $mbdev 2>/dev/null | grep -q "$pat"
}

# The demo rack: 4 PSUs on 2 buses, 6 servers in 3 chassis.
demo_rack "$src" "$tmp/rack.yaml"

run() { # transport: tcp | rtu
    mode="$1"
    rm -f "$tmp/slog" "$tmp/dlog" "$tmp/db"*
    if [ "$mode" = tcp ]; then
        sim_start "$sim" "$tmp/sout" "$tmp/slog" "$tmp/rack.yaml" --tcp 127.0.0.1:0 \
            --control "$tmp/ctl" --alert "$tmp/alert"
    else
        sim_start "$sim" "$tmp/sout" "$tmp/slog" "$tmp/rack.yaml" --rtu "$tmp/tty" \
            --control "$tmp/ctl" --alert "$tmp/alert"
    fi
    ok # the simulator serves
    if [ "$mode" = tcp ]; then
        mport=$sim_port
        dev="kind: modbus-tcp\n    host: 127.0.0.1\n    port: $mport"
        mb="mbpoll -m tcp -p $mport -0 -1"
        mbdev=127.0.0.1
    else
        dev="kind: modbus-rtu\n    device: $tmp/tty\n    baud: 19200\n    parity: even"
        mb="mbpoll -m rtu -b 19200 -P even -0 -1"
        mbdev="$tmp/tty"
    fi
    { cat "$tmp/rack.yaml"
      printf "devices:\n  - $dev\n    poll_ms: 200\n    timeout_ms: 1000\n    reprobe_s: 1\n    alert: $tmp/alert\n"
      printf '    units:\n'
      demo_units
      printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock"; } >"$tmp/conf.yaml"
    # servers ask through their chassis modules before the daemon starts, so
    # that its first poll sees every ask at once and decides them by priority
    # (asks that land between its reads of c1 and c3 would be decided in the
    # order it reads them); the grants come back as coils
    ctlsend "power_on db1 app1 web1 web2 batch1 ml1"
    rpd_start "$rpd" "$tmp/conf.yaml" "$tmp/db" "$tmp/dlog"
    ok # rackpowerd serves its API
    until_ok '[ "$(srv batch1)" = on ]' "batch1 granted over $mode"
    [ "$(srv ml1)" = waiting ] || fail "$mode: ml1 should wait (n+1), is $(srv ml1)"; ok
    # the operator sees every unit's counters
    until_ok '"$ctl" --unix-socket "$tmp/rp.sock" status | grep -q "unit 200 orv3-psu *live *[1-9][0-9]* ok"' "unit counters in status ($mode)"
    # the simulator powered db1 (chassis c1 unit 10, slot 0)
    until_ok 'simstat "server db1 .*present on"' "db1 powered in the simulator ($mode)"
    until_ok 'mbread "^\[2\]:[[:space:]]*1" -a 10 -r 2 -c 1' "db1's slot state register reads on ($mode)"

    # first failure: bus A is short; ps4 (switch coil group 3) moves from B to A
    ctlsend "psu_fail ps1"
    until_ok '"$ctl" --unix-socket "$tmp/rp.sock" psus --json | grep -q "\"id\":\"ps1\"[^}]*\"state\":\"failed\""' "ps1 seen failed ($mode)"
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
        sim_stop
        until_ok 'grep -q "warning: device modbus-tcp 127.0.0.1:$mport" "$tmp/dlog"' "the dead bus reported"
        "$ctl" --unix-socket "$tmp/rp.sock" status >/dev/null || fail "the API must answer with the device bus down"; ok
        until_ok '"$ctl" --unix-socket "$tmp/rp.sock" status | grep -q "unit 200 orv3-psu *dormant"' "unit 200 shown dormant"
        "$ctl" --unix-socket "$tmp/rp.sock" power-off web2 >/dev/null || fail "a power-off must be decided with the bus down"; ok
        # the devices come back, blank: the daemon puts its decisions back on them
        sim_start "$sim" "$tmp/sout" "$tmp/slog" "$tmp/rack.yaml" --tcp 127.0.0.1:$mport \
            --control "$tmp/ctl"
        until_ok 'simstat "server db1 .*present on"' "db1 powered again after the devices came back"
        until_ok 'simstat "psu ps4 unit 203 bus A"' "ps4 switched again after the devices came back"
        simstat "server web2 .*present on" && fail "web2 was released while the bus was down"; ok
        # A slot capped below the ledger's grant (a cap a crash kept out of
        # the journal): at the next start the lower power stands, the
        # daemon counts db1 capped, and never writes the cap back up.
        rpd_stop
        $mb -a 10 -r 3 $mbdev 500 >/dev/null 2>&1 || fail "mbpoll could not write db1's cap"; ok
        until_ok 'mbread "^\[2\]:[[:space:]]*2" -a 10 -r 2 -c 1' "db1's slot reads capped"
        log_show daemon-log-2 "$tmp/dlog2"
        rpd_start "$rpd" "$tmp/conf.yaml" "$tmp/db" "$tmp/dlog2"
        until_ok 'grep -q "reconcile db1: .* shows it capped at 500 W while the ledger has it on at 1000 W" "$tmp/dlog2"' "db1's lower cap reconciled"
        until_ok '[ "$(srv db1)" = capped ]' "db1 counted capped"
        sleep 1
        mbread "^\[3\]:[[:space:]]*500" -a 10 -r 3 -c 1 || fail "db1's cap was written back up"; ok
        "$ctl" --unix-socket "$tmp/rp.sock" events --tail 50 --json >"$tmp/ev" 2>&1
        grep -q '"event":"reconcile","server":"db1","state":"capped"' "$tmp/ev" ||
            fail "the reconcile of db1's cap is not in the journal: $(tail -3 "$tmp/ev")"; ok
    fi
    # the counters on the timed line at 19200 8E1 (a print, not a check)
    [ "$mode" = rtu ] && "$ctl" --unix-socket "$tmp/rp.sock" status | grep "unit .*live" |
        sed "s/^ */daemon_modbus.sh: rtu: /"
    rpd_stop
    sim_stop
}

run tcp
run rtu

# --- the timed line (docs/sim-devices.md, "Wire timing"): the simulator
# answers after the wire time of the frames at its baud rate and hears
# garbage from a client set otherwise, so the daemon's timeouts, retries and
# dormancy meet a real line's. timed SIM_BAUD DAEMON_BAUD TIMEOUT_MS
timed() {
    rm -f "$tmp/slog" "$tmp/dlog" "$tmp/db"*
    sim_start "$sim" "$tmp/sout" "$tmp/slog" "$tmp/rack.yaml" --rtu "$tmp/tty" --baud "$1" \
        --control "$tmp/ctl"
    { cat "$tmp/rack.yaml"
      printf "devices:\n  - kind: modbus-rtu\n    device: $tmp/tty\n    baud: $2\n    parity: even\n"
      printf "    poll_ms: 200\n    timeout_ms: $3\n    reprobe_s: 1\n    units:\n"
      printf '      - {unit: 200, psu: ps1}\n'
      printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock"; } >"$tmp/conf.yaml"
    rpd_start "$rpd" "$tmp/conf.yaml" "$tmp/db" "$tmp/dlog"
}
unit200() { "$ctl" --unix-socket "$tmp/rp.sock" status | grep "unit 200 orv3-psu"; }
# a daemon at 9600 baud on a 19200 line: every try times out and is retried,
# the unit goes dormant; the simulator's UART saw framing errors
timed 19200 9600 100
until_ok 'unit200 | grep -q "dormant *0 ok, [1-9][0-9]* timeouts, .* [1-9][0-9]* retries"' "unit 200 dormant after timeouts and retries at the wrong baud rate"
echo "daemon_modbus.sh: 9600 on 19200: $(unit200)"
grep -q "from a client at 9600 8E1 on a 19200 8E1 line: [0-9]* parity/framing errors" "$tmp/slog" ||
    fail "the simulator did not hear the 9600-baud daemon as garbage"; ok
rpd_stop
sim_stop
# 1200 baud, 500 ms per try: a one-word probe (about 150 ms on the wire) and
# the 11-word config span (about 330 ms) are answered; the 52-word identity
# span (about 1.1 s) and the 30-word alarm span (about 660 ms) never are, and
# the retry that the daemon sends while the late answer is still on the wire
# collides with it, as on a half-duplex RS-485 line
timed 1200 1200 500
until_ok 'unit200 | grep -q "[1-9][0-9]* ok, [1-9][0-9]* timeouts, .* [1-9][0-9]* retries"' "unit 200 answers short reads and times out long ones at 1200 baud"
echo "daemon_modbus.sh: 1200 baud, 500 ms: $(unit200)"
grep -q "rtu: collision: " "$tmp/slog" || fail "no collision of a retry with a late answer"; ok
rpd_stop
sim_stop
test_end
