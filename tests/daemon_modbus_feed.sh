#!/bin/sh
# daemon_modbus_feed.sh RACKPOWERD RACKPOWERCTL RACKPOWER-SIM SOURCE_DIR: the
# Modbus driver says what happened. Against `rackpower-sim serve` (demo rack:
# ps1 and ps3 on feed F1, ps2 and ps4 on F2): two PSUs failing together are
# two psu_fail events, each with its own unit's alarm words only; a feed
# failure (every PSU on F1 with its AC input lost) is one feed_fail event
# naming the feed and its PSUs, no psu_fail; its return one feed_repair. A
# degraded PSU counts at what its current share says, at most derate_pct.
# Then a rack with one PSU per feed and a BBU on its bus (ps1 1500 W on F1,
# ps2 2000 W on F2, db1 and batch1 granted 1800 W): ps1 failing for its own
# reason is a psu_fail (no feed, nothing shed: ps2 carries both); F2 losing
# mains is one feed_fail naming F2 and ps2, no psu_fail, so the BBU counts
# (docs/policy.md "Battery reserves"): the outage starts and nobody is shed,
# though ps1 alone has 1500 W for 1800 W; F2 back is one feed_repair, ps2 ok.
set -u
. "${0%/*}/lib.sh"
test_begin daemon_modbus_feed.sh
rpd="$1"
ctl="$2"
sim="$3"
src="$4"
need socat
log_show daemon-log "$tmp/dlog"
log_show simulator-log "$tmp/slog"
rpctl() { rctl "$@"; }
psu_state() { rpctl psus --json | grep -o "\"id\":\"$1\"[^}]*\"state\":\"[a-z]*\"" | sed 's/.*"state":"//; s/"//'; }
events() { rpctl events --tail 200 --json >"$tmp/ev" 2>&1 || fail "events: $(cat "$tmp/ev")"; }

demo_rack "$src" "$tmp/rack.yaml"
sim_start "$sim" "$tmp/sout" "$tmp/slog" "$tmp/rack.yaml" --tcp 127.0.0.1:0 \
    --control "$tmp/ctl" --alert "$tmp/alert"
ok
{ cat "$tmp/rack.yaml"
  printf "devices:\n  - kind: modbus-tcp\n    host: 127.0.0.1\n    port: %s\n" "$sim_port"
  printf "    poll_ms: 200\n    timeout_ms: 1000\n    reprobe_s: 1\n    alert: %s\n" "$tmp/alert"
  printf "    derate_pct: 70\n    units:\n"
  demo_units
  printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock"; } >"$tmp/conf.yaml"
# load on the buses, so that the share bus asks something of every PSU
ctlsend "power_on db1 app1 web1 web2 batch1"
rpd_start "$rpd" "$tmp/conf.yaml" "$tmp/db" "$tmp/dlog"
ok
until_ok '[ "$(psu_state ps4)" = ok ]' "ps4 read ok"
until_ok '[ "$(srv batch1)" = on ]' "the servers granted"

# A degraded PSU (a fan) carrying 30 % of what the share bus asks of it
# (the simulator's register 81): counted at 600 W, below derate_pct (70 %).
# At 90 % of its share the register says more than derate_pct: 1400 W.
ctlsend "psu_degrade ps2 600"
until_ok '[ "$(psu_state ps2)" = degraded ]' "ps2 degraded"
# (the registers' resolution, 1/64 A, may take a watt or a few off)
until_ok 'rpctl psus --json | grep -Eq "\"id\":\"ps2\"[^}]*\"capacity_w\":(59[0-9]|600)[,}]"' "ps2 counted at 590-600 W"
events
grep '"event":"psu_degrade"' "$tmp/ev" | grep -Eq '"psu":"ps2".*unit 201 degraded: .*counted at (59[0-9]|600) W: it carries (29\.[5-9]|30\.0) % of its current share' ||
    fail "the psu_degrade reason (share): $(grep psu_degrade "$tmp/ev")"; ok
ctlsend "psu_degrade ps2 1800"
until_ok 'rpctl psus --json | grep -q "\"id\":\"ps2\"[^}]*\"capacity_w\":1400[,}]"' "ps2 counted at 1400 W (derate_pct)"
events
grep '"event":"psu_degrade"' "$tmp/ev" | grep -q '"psu":"ps2".*counted at 1400 W: derate_pct 70 % of 2000 W' ||
    fail "the psu_degrade reason (derate_pct): $(grep psu_degrade "$tmp/ev")"; ok
ctlsend "psu_repair ps2"
until_ok '[ "$(psu_state ps2)" = ok ]' "ps2 repaired"

# Two PSUs on different feeds fail at once: two events, each its own words.
ctlsend "psu_fail ps1 ps4"
until_ok '[ "$(psu_state ps1)" = failed ] && [ "$(psu_state ps4)" = failed ]' "ps1 and ps4 failed"
events
grep '"event":"psu_fail"' "$tmp/ev" | grep -q '"psu":"ps1".*unit 200 failed' ||
    fail "ps1's psu_fail does not carry unit 200's alarm: $(grep psu_fail "$tmp/ev")"; ok
grep '"event":"psu_fail"' "$tmp/ev" | grep -q '"psu":"ps4".*unit 203 failed' ||
    fail "ps4's psu_fail does not carry unit 203's alarm: $(grep psu_fail "$tmp/ev")"; ok
grep '"event":"psu_fail"' "$tmp/ev" | grep '"psu":"ps1"' | grep -q 'unit 203' &&
    fail "ps1's psu_fail carries unit 203's alarm: $(grep psu_fail "$tmp/ev")"; ok
grep '"event":"psu_fail"' "$tmp/ev" | grep '"psu":"ps4"' | grep -q 'unit 200' &&
    fail "ps4's psu_fail carries unit 200's alarm: $(grep psu_fail "$tmp/ev")"; ok
ctlsend "psu_repair ps1 ps4"
until_ok '[ "$(psu_state ps1)" = ok ] && [ "$(psu_state ps4)" = ok ]' "ps1 and ps4 repaired"
events
nfail0=$(grep -c '"event":"psu_fail"' "$tmp/ev")

# Feed F1 goes: one feed_fail naming F1, ps1 and ps3; no psu_fail for them.
ctlsend "feed_fail F1"
until_ok 'events; grep -q "\"event\":\"feed_fail\"" "$tmp/ev"' "a feed_fail event"
[ "$(grep -c '"event":"feed_fail"' "$tmp/ev")" -eq 1 ] ||
    fail "more than one feed_fail: $(grep feed_fail "$tmp/ev")"; ok
grep '"event":"feed_fail"' "$tmp/ev" | grep -q '"feed":"F1".*feed F1: every PSU on it reports its AC input lost: ps1 (unit 200), ps3 (unit 202)' ||
    fail "the feed_fail does not name F1 and its PSUs: $(grep feed_fail "$tmp/ev")"; ok
sleep 1 # later polls add nothing
events
[ "$(grep -c '"event":"psu_fail"' "$tmp/ev")" -eq "$nfail0" ] ||
    fail "psu_fail events for the feed's PSUs: $(grep psu_fail "$tmp/ev" | tail -2)"; ok
[ "$(grep -c '"event":"feed_fail"' "$tmp/ev")" -eq 1 ] || fail "a second feed_fail"; ok

# F1 back: one feed_repair, and its PSUs count again.
ctlsend "feed_repair F1"
until_ok 'events; grep -q "\"event\":\"feed_repair\"" "$tmp/ev"' "a feed_repair event"
grep '"event":"feed_repair"' "$tmp/ev" | grep -q '"feed":"F1".*feed F1: AC input back' ||
    fail "the feed_repair does not name F1: $(grep feed_repair "$tmp/ev")"; ok
until_ok '[ "$(psu_state ps1)" = ok ] && [ "$(psu_state ps3)" = ok ]' "ps1 and ps3 ok after the feed"
sleep 1
events
[ "$(grep -c '"event":"feed_repair"' "$tmp/ev")" -eq 1 ] ||
    fail "more than one feed_repair: $(grep feed_repair "$tmp/ev")"; ok
tail -n +1 "$tmp/ev" | grep -q '"event":"psu_fail".*"psu":"ps[13]".*input_lost' &&
    fail "a psu_fail with input_lost on the feed's return: $(grep psu_fail "$tmp/ev" | tail -2)"; ok

rpd_stop
sim_stop

# One PSU per feed, a BBU on the bus. Granted 1800 W and drawing it: ps2
# (2000 W) alone carries both, ps1 (1500 W) alone does not. F1 is behind a
# UPS (no device reads it here): a lone PSU there is told PSU by PSU.
cat >"$tmp/rack1.yaml" <<'YAML'
rack:
  name: onepsu
  protection: none
  feeds: [F1, F2]
  buses: [A]
  psus:
    - {id: ps1, capacity_w: 1500, feed: F1, buses: [A], bus: A}
    - {id: ps2, capacity_w: 2000, feed: F2, buses: [A], bus: A}
  servers:
    - {id: db1, power_w: 1000, priority: 1, buses: [A], chassis: c1}
    - {id: batch1, power_w: 800, priority: 4, buses: [A], chassis: c1}
  reserves:
    - {id: bbu1, kind: bbu, bus: A, energy_wh: 100, max_w: 1500}
    - {id: ups1, kind: ups, feed: F1, energy_wh: 100, max_w: 1500}
  outage: {ride_through_s: 600, mains_stable_s: 1, min_charge_pct: 0}
YAML
log_show daemon-log-2 "$tmp/dlog2"
log_show simulator-log-2 "$tmp/slog2"
sim_start "$sim" "$tmp/sout2" "$tmp/slog2" "$tmp/rack1.yaml" --tcp 127.0.0.1:0 --control "$tmp/ctl"
ok
{ cat "$tmp/rack1.yaml"
  printf "devices:\n  - kind: modbus-tcp\n    host: 127.0.0.1\n    port: %s\n" "$sim_port"
  printf "    poll_ms: 200\n    timeout_ms: 1000\n    reprobe_s: 1\n    units:\n"
  printf "      - {unit: 1, switches: [ps1, ps2]}\n      - {unit: 10, chassis: c1}\n"
  printf "      - {unit: 200, psu: ps1}\n      - {unit: 201, psu: ps2}\n"
  printf "      - {unit: 64, role: bbu, reserve: bbu1}\n"
  printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock"; } >"$tmp/conf1.yaml"
ctlsend "power_on db1 batch1"
ctlsend "report db1 1000"
ctlsend "report batch1 800"
rpd_start "$rpd" "$tmp/conf1.yaml" "$tmp/db1" "$tmp/dlog2"
ok
until_ok '[ "$(srv db1)" = on ] && [ "$(srv batch1)" = on ]' "db1 and batch1 granted"
until_ok '[ "$(psu_state ps1)" = ok ] && [ "$(psu_state ps2)" = ok ]' "ps1 and ps2 read ok"

# ps1 fails for its own reason: a psu_fail, no feed failure; ps2 carries all.
ctlsend "psu_fail ps1"
until_ok '[ "$(psu_state ps1)" = failed ]' "ps1 failed"
events
grep '"event":"psu_fail"' "$tmp/ev" | grep -q '"psu":"ps1".*unit 200 failed' ||
    fail "no psu_fail of ps1 with unit 200's alarm: $(grep psu_fail "$tmp/ev")"; ok
grep -q '"event":"feed_fail"' "$tmp/ev" && fail "a feed_fail for ps1's own failure: $(grep feed_fail "$tmp/ev")"; ok
ctlsend "psu_repair ps1"
until_ok '[ "$(psu_state ps1)" = ok ]' "ps1 repaired"

# F2 loses mains: its one PSU reports its AC input lost. One feed_fail, no
# psu_fail of ps2; the BBU counts, so neither server is shed.
ctlsend "feed_fail F2"
until_ok 'events; grep -q "\"event\":\"feed_fail\"" "$tmp/ev"' "a feed_fail event"
grep '"event":"feed_fail"' "$tmp/ev" | grep -q '"feed":"F2".*feed F2: every PSU on it reports its AC input lost: ps2 (unit 201)' ||
    fail "the feed_fail does not name F2 and ps2: $(grep feed_fail "$tmp/ev")"; ok
until_ok 'rctl events --json --tail 300 | grep "\"event\":\"outage\"" | grep -q "\"state\":\"start\""' "an outage start"
until_ok 'rctl status --json | grep -q "\"reserve_capacity_w\":1500"' "the BBU counted (reserve_capacity_w 1500)"
sleep 1 # later polls and decisions add nothing
events
[ "$(grep -c '"event":"feed_fail"' "$tmp/ev")" -eq 1 ] || fail "more than one feed_fail: $(grep feed_fail "$tmp/ev")"; ok
grep '"event":"psu_fail"' "$tmp/ev" | grep -q '"psu":"ps2"' &&
    fail "a psu_fail of ps2 on its feed's failure: $(grep psu_fail "$tmp/ev")"; ok
grep -q '"event":"shed"' "$tmp/ev" && fail "shed while the BBU carries the bus: $(grep '"event":"shed"' "$tmp/ev")"; ok
[ "$(srv db1)" = on ] && [ "$(srv batch1)" = on ] || fail "db1 $(srv db1), batch1 $(srv batch1)"; ok
simstat "server batch1 .* on draw 800 W" || fail "batch1 lost power: $(sim_ctl "$tmp/ctl" status | grep batch1)"; ok

# F2 back: one feed_repair, ps2 counts again, the outage ends, nobody shed.
ctlsend "feed_repair F2"
until_ok 'events; grep -q "\"event\":\"feed_repair\"" "$tmp/ev"' "a feed_repair event"
grep '"event":"feed_repair"' "$tmp/ev" | grep -q '"feed":"F2".*feed F2: AC input back on its PSUs: ps2 (unit 201)' ||
    fail "the feed_repair does not name F2 and ps2: $(grep feed_repair "$tmp/ev")"; ok
until_ok '[ "$(psu_state ps2)" = ok ]' "ps2 ok after its feed"
until_ok 'rctl events --json --tail 300 | grep "\"event\":\"outage\"" | grep -q "\"state\":\"end\""' "an outage end"
events
[ "$(grep -c '"event":"feed_repair"' "$tmp/ev")" -eq 1 ] || fail "more than one feed_repair: $(grep feed_repair "$tmp/ev")"; ok
grep '"event":"psu_fail"' "$tmp/ev" | grep -q '"psu":"ps2"' && fail "a psu_fail of ps2: $(grep psu_fail "$tmp/ev")"; ok
grep -q '"event":"shed"' "$tmp/ev" && fail "a shed: $(grep '"event":"shed"' "$tmp/ev")"; ok

# F1, behind its UPS, loses its input: ps1's psu_fail (input_lost), no feed
# failure: the outage logic repairs a UPS's feed on NUT's OL, and a lone PSU
# still without input would count again while the driver held its feed down.
ctlsend "feed_fail F1"
until_ok 'events; grep "\"event\":\"psu_fail\"" "$tmp/ev" | grep "\"psu\":\"ps1\"" | grep -q input_lost' \
    "ps1's psu_fail with input_lost"
grep '"event":"feed_fail"' "$tmp/ev" | grep -q '"feed":"F1"' &&
    fail "a feed_fail of F1, a lone PSU behind a UPS: $(grep feed_fail "$tmp/ev")"; ok
ctlsend "feed_repair F1"
until_ok '[ "$(psu_state ps1)" = ok ]' "ps1 ok when its input is back"

rpd_stop
sim_stop
test_end
