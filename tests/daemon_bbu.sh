#!/bin/sh
# daemon_bbu.sh RACKPOWERD RACKPOWERCTL RACKPOWER-SIM SOURCE_DIR: rackpowerd
# reads an ORv3 BBU over Modbus TCP from `rackpower-sim serve` (a unit
# {unit: 64, role: bbu, reserve: bbu1}, docs/outage.md "Signals"): full and
# known on mains; its unit falls silent (reserve_lost): the reserve is no
# longer known and the reserve_lost alarm is raised; it answers again: known,
# the alarm cleared. The PSUs are read too (two per feed, as on an ORv3 shelf).
# Both feeds fail: every PSU reports its AC input lost, so each feed fails in
# the policy, which counts the BBU as capacity on bus A (docs/policy.md
# "Battery reserves"): the outage starts (cause feed or bbu, whichever reading
# comes first), the BBU's 1500 W carry db1 and batch1 (priority 4), which the
# policy sheds, least important first, and holds; the BBU carries db1 and its
# charge falls. It runs empty: reserve_empty, db1 is shed and held. Mains
# back: the outage ends, both are released and restored, most important first.
set -u
. "${0%/*}/lib.sh"
test_begin daemon_bbu.sh
rpd="$1"
ctl="$2"
sim="$3"
need socat
log_show daemon-log "$tmp/dlog"
log_show simulator-log "$tmp/slog"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
# a field of `rackpowerctl outage status --json` (d: the answer)
field() { rctl outage status --json 2>/dev/null | "$py" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
bbu() { field "d['reserves']['bbu1']['$1']"; }
state() { field "d['state']"; }
held() { field "d['stops'].get('$1', {}).get('held')"; }

cat >"$tmp/rack.yaml" <<'YAML'
rack:
  name: bbu
  protection: none
  feeds: [F1, F2]
  buses: [A]
  restore_after_s: 1
  psus:
    - {id: ps1, capacity_w: 1500, feed: F1, buses: [A], bus: A}
    - {id: ps2, capacity_w: 1500, feed: F1, buses: [A], bus: A}
    - {id: ps3, capacity_w: 1500, feed: F2, buses: [A], bus: A}
    - {id: ps4, capacity_w: 1500, feed: F2, buses: [A], bus: A}
  servers:
    - {id: db1, power_w: 1000, priority: 1, buses: [A], chassis: c1}
    - {id: batch1, power_w: 800, priority: 4, buses: [A], chassis: c1}
  reserves:
    - {id: bbu1, kind: bbu, bus: A, energy_wh: 4, max_w: 1500}
  outage: {ride_through_s: 600, mains_stable_s: 1, min_charge_pct: 0}
YAML
sim_start "$sim" "$tmp/sout" "$tmp/slog" "$tmp/rack.yaml" --tcp 127.0.0.1:0 --control "$tmp/ctl"
ok
{ cat "$tmp/rack.yaml"
  printf "devices:\n  - kind: modbus-tcp\n    host: 127.0.0.1\n    port: %s\n" "$sim_port"
  printf "    poll_ms: 200\n    timeout_ms: 500\n    reprobe_s: 1\n    units:\n"
  printf "      - {unit: 1, switches: [ps1, ps2, ps3, ps4]}\n      - {unit: 10, chassis: c1}\n"
  printf "      - {unit: 200, psu: ps1}\n      - {unit: 201, psu: ps2}\n"
  printf "      - {unit: 202, psu: ps3}\n      - {unit: 203, psu: ps4}\n"
  printf "      - {unit: 64, role: bbu, reserve: bbu1}\n"
  printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock"; } >"$tmp/conf.yaml"
ctlsend "power_on db1 batch1"
ctlsend "report db1 600"
ctlsend "report batch1 400"
rpd_start "$rpd" "$tmp/conf.yaml" "$tmp/db" "$tmp/dlog"
ok
until_ok '[ "$(srv db1)" = on ] && [ "$(srv batch1)" = on ]' "db1 and batch1 granted"

# on mains: read, known, full, not discharging, no outage
until_ok '[ "$(bbu known)" = True ] && [ "$(bbu read)" = True ]' "bbu1 read and known"
[ "$(bbu charge_pct)" = 100 ] || fail "charge on mains: $(bbu charge_pct)"; ok
[ "$(bbu discharging)" = False ] || fail "discharging on mains"; ok
bbu status | grep -q "unit 64: 104=0000 107=0000 108=00a0" || fail "status on mains: $(bbu status)"; ok
[ "$(state)" = off ] || fail "an outage on mains: $(state)"; ok

# its readings are lost: not known, the reserve_lost alarm; back: known, cleared
ctlsend "reserve_lost bbu1"
until_ok '[ "$(bbu known)" = False ]' "bbu1 not known once silent"
until_ok 'rctl alarms 2>/dev/null | grep -q "reserve_lost.*bbu1"' "the reserve_lost alarm"
ctlsend "reserve_back bbu1"
until_ok '[ "$(bbu known)" = True ]' "bbu1 known again"
until_ok '! rctl alarms 2>/dev/null | grep -q "reserve_lost.*bbu1"' "the reserve_lost alarm cleared"

# both feeds fail: each feed fails in the policy (every PSU on it without AC),
# which counts the BBU: batch1 shed and held (1800 W granted, 1500 W), db1 on
ctlsend "feed_fail F1 F2"
until_ok 'rctl events --json --tail 300 | grep "\"event\":\"outage\"" | grep -q "\"state\":\"start\""' "an outage start"
rctl events --json --tail 300 | grep '"event":"outage"' | grep '"state":"start"' >"$tmp/start"
{ grep -q '"cause":"bbu"' "$tmp/start" &&
    grep -q 'bbu1 says it discharges (unit 64: 104=0000 107=0002 108=00c0)' "$tmp/start"; } ||
    { grep -q '"cause":"feed"' "$tmp/start" &&
        grep -q 'feed F[12] failed while reserve bbu1 can carry the load' "$tmp/start"; } ||
    fail "outage cause and reason: $(cat "$tmp/start")"; ok
until_ok 'rctl events --json --tail 300 | grep "\"event\":\"feed_fail\"" | grep -q "every PSU on it reports its AC input lost"' "the feeds failed in the policy"
until_ok '[ "$(srv batch1)" = shed ]' "batch1 shed: the BBU's 1500 W do not carry 1800 W"
[ "$(srv db1)" = on ] || fail "db1 not kept on the BBU: $(srv db1)"; ok
rctl events --json --tail 300 | grep '"event":"shed"' | grep -q '"server":"db1"' && fail "db1 was shed at the outage's start"; ok
until_ok '[ "$(held batch1)" = True ]' "batch1 held by the outage"
rctl status --json | grep -q '"reserve_capacity_w":1500' || fail "status reserve_capacity_w: $(rctl status --json | head -c 400)"; ok
until_ok '[ "$(bbu discharging)" = True ]' "bbu1 discharging"
until_ok '[ "$(bbu charge_pct)" -lt 90 ]' "bbu1's charge falling"
simstat "server db1 .* on draw 600 W" || fail "db1 lost power: $(sim_ctl "$tmp/ctl" status | grep db1)"; ok
[ "$(state)" = on ] || fail "the outage is not on: $(state)"; ok

# the BBU runs empty: the policy counts it no more, db1 is shed and held
until_ok 'rctl events --json --tail 300 | grep -q "\"event\":\"reserve_empty\""' "reserve_empty once bbu1 is empty" 900
until_ok '[ "$(srv db1)" = shed ]' "db1 shed once bbu1 is empty"
until_ok '[ "$(held db1)" = True ]' "db1 held"

# mains back: the outage is over, both released and restored
ctlsend "feed_repair F1 F2"
until_ok '[ "$(state)" = off ]' "no outage once mains is back"
until_ok 'rctl events --json --tail 300 | grep "\"event\":\"outage\"" | grep -q "\"state\":\"end\""' "an outage end"
until_ok '[ "$(srv db1)" = on ] && [ "$(srv batch1)" = on ]' "db1 and batch1 restored after the release" 600

rpd_stop
sim_stop
test_end
