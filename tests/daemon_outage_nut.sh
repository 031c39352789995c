#!/bin/sh
# rackpowerd through a whole UPS outage, every peer a real process: a NUT upsd
# (tests/lib_nut.sh) with a dummy-ups for the rack's UPS ups1 (the test
# rewrites its .dev file) and one per server (db1, app1, batch1: the stages
# rackpowerd publishes), real upsmon secondaries on db1's and batch1's UPSes
# (the most and the least important server), and a real ipmi_sim BMC per
# server (tests/lib_ipmi.sh) as `kind: ipmi` devices (no PSU is read: the
# servers ask through their BMCs). Checked through the API (`rackpowerctl
# outage status --json`, the journal), upsc, the upsmons' notify and
# SHUTDOWNCMD files and the BMCs' power logs:
#   - ups1 OB at full charge: the outage starts with cause ups, every server's
#     UPS reads OB, both upsmons say on battery; nothing stops yet;
#   - ups1's charge falls to 25 %: batch1 is stage 1 (the journal's stop event
#     with its reason), then app1; batch1's UPS reads OB LB, its upsmon says
#     battery low and runs SHUTDOWNCMD before its BMC gets soft-off, then off
#     (stop_s covers upsmon's HOSTSYNC), and it is shed by the outage; db1's
#     UPS stays OB, its upsmon neither hears LOWBATT nor shuts down, its BMC
#     gets nothing;
#   - ups1 OL: the outage ends, every server's UPS reads OL; with the charge
#     at 30 %, below min_charge_pct (40), batch1 stays off past
#     mains_stable_s; at 60 %: released, its BMC gets power on, granted again;
#   - a second outage, the lower servers stopped again, then upsd killed: the
#     reserve_lost alarm names ups1, and with mains back behind upsd's back
#     nothing is powered up for longer than mains_stable_s; upsd back (ups1
#     OL): the outage ends, the alarm clears, batch1 and app1 are powered on.
# Usage: daemon_outage_nut.sh RACKPOWERD RACKPOWERCTL SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
. "${0%/*}/lib_nut.sh"
. "${0%/*}/lib_ipmi.sh"
test_begin daemon_outage_nut.sh
rpd="$1"
ctl="$2"
src="$3"
need ipmi_sim rmcp_ping upsc
n="$tmp/nut"
log_show daemon-log "$tmp/dlog"
events() { rctl events --json --tail 1000; }
has_event() { events | grep "\"event\":\"$1\"" | grep -q "$2"; }
# a field of GET /v1/outage (d: the answer), through rackpowerctl
ofield() { rctl outage status --json 2>/dev/null | "$lib_py" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# what upsd says of each server's UPS: "db1=OB app1=OB batch1=OB LB"
stages() {
    for s in db1 app1 batch1; do printf '%s=%s ' "$s" "$(nut_var "$s" ups.status)"; done
}
# the number of power-on commands every BMC carried out so far
ons() { cat "$tmp"/db1/power.log "$tmp"/app1/power.log "$tmp"/batch1/power.log | grep -c ' on$'; }

nut_start "$n" 0 "ups1 db1 app1 batch1"
upsmon_start "$n" db1
upsmon_start "$n" batch1
(umask 077 && echo s3cret >"$tmp/bmc.pw")
for s in db1 app1 batch1; do
    # batch1's OS takes 3 s to obey a soft-off, so that the hard off after
    # soft_off_s finds it still on
    p=$(bmc_free_port)
    BMC_SOFT_OFF_S=3 bmc_start "$tmp" "$s" "$p" rp s3cret
    eval "port_$s=$p"
done

cat >"$tmp/rack.yaml" <<EOF
rack:
  name: nutoutage
  protection: none
  restore_after_s: 1
  feeds: [F1]
  buses: [A]
  psus:
    - {id: ps1, capacity_w: 4000, feed: F1, buses: [A], bus: A}
  servers:
    - {id: db1, power_w: 1000, buses: [A]}
    - {id: app1, power_w: 800, buses: [A]}
    - {id: batch1, power_w: 700, buses: [A]}
  qos_classes: {critical: 1, gold: 2, bronze: 4}
  activities:
    - {id: orders, qos: critical, servers: [db1], stop_s: 1}
    - {id: shop, qos: gold, servers: [app1], stop_s: 6}
    - {id: batch, qos: bronze, servers: [batch1], stop_s: 6}
  reserves:
    - {id: ups1, kind: ups, feed: F1, energy_wh: 1000, max_w: 10000}
  outage: {ride_through_s: 0, mains_stable_s: 3, min_charge_pct: 40, slack_pct: 50, soft_off_s: 1}
devices:
  - kind: nut
    port: $nut_port
    user: rackpower
    password_file: $n/rackpower.pass
    poll_ms: 500
    timeout_ms: 1500
    ups:
      - {ups: ups1, reserve: ups1}
      - {ups: db1, server: db1}
      - {ups: app1, server: app1}
      - {ups: batch1, server: batch1}
EOF
for s in db1 app1 batch1; do
    eval "p=\$port_$s"
    printf '  - {kind: ipmi, server: %s, host: 127.0.0.1, port: %s, user: rp, password_file: %s,\n' \
        "$s" "$p" "$tmp/bmc.pw" >>"$tmp/rack.yaml"
    printf '     poll_ms: 300, timeout_ms: 2000, workarounds: [opensesspriv]}\n' >>"$tmp/rack.yaml"
done
printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock" >>"$tmp/rack.yaml"

rpd_start "$rpd" "$tmp/rack.yaml" "$tmp/db" "$tmp/dlog"
# every BMC shows its host on: each asks for power and is granted
until_ok '[ "$(srv db1)" = on ] && [ "$(srv app1)" = on ] && [ "$(srv batch1)" = on ]' "all on"
until_ok '[ "$(ofield "d[\"reserves\"][\"ups1\"][\"known\"]")" = True ]' "ups1 read"
[ "$(ofield 'd["state"]')" = off ] || fail "an outage on mains: $(ofield 'd["state"]')"; ok
[ "$(stages)" = "db1=OL app1=OL batch1=OL " ] || fail "stages on mains: $(stages)"; ok

# ---- ups1 on battery: the outage starts, every server's UPS reads OB ----
nut_set_dev "$n" ups1 OB 100 1440
until_ok '[ "$(ofield "d[\"state\"]")" = on ]' "the outage started" 300
[ "$(ofield 'd["cause"]')" = ups ] || fail "cause: $(ofield 'd["cause"]')"; ok
has_event outage '"state":"start".*"cause":"ups"' || fail "no outage start event, cause ups"; ok
rctl alarms | grep -q '^on_reserves' || fail "no on_reserves alarm: $(rctl alarms)"; ok
until_ok '[ "$(nut_var db1 ups.status)" = OB ] && [ "$(nut_var app1 ups.status)" != OL ]' \
    "the servers' UPSes read OB"
until_ok 'upsmon_notes "$n" db1 | grep -q "^ONBATT db1"' "db1's upsmon says on battery"
until_ok 'upsmon_notes "$n" batch1 | grep -q "^ONBATT batch1"' "batch1's upsmon says on battery"
until_ok '[ "$(stages)" = "db1=OB app1=OB batch1=OB " ]' "every server's UPS reads OB"
# full, ups1 carries everyone for a while: nothing stops yet (the plan stops
# batch1 later: slack_pct 50 lets it run while db1 keeps its target)
sleep 3
has_event stop . && fail "a stop on a full UPS: $(events | grep '"event":"stop"')"; ok
[ "$(stages)" = "db1=OB app1=OB batch1=OB " ] || fail "stages on a full UPS: $(stages)"; ok
rctl outage status --json | grep -q '"batch1"' || fail "the plan names no batch1"; ok

# ---- the charge falls: batch1 stops in stages, db1 runs on ----
nut_set_dev "$n" ups1 OB 25 360
until_ok 'has_event stop "\"server\":\"batch1\""' "batch1's stop" 300
events | grep '"event":"stop"' | grep '"server":"batch1"' | grep -q '"reason":"[^"]' ||
    fail "the stop event has no reason"; ok
until_ok '[ "$(nut_var batch1 ups.status)" = "OB LB" ]' "batch1's UPS reads OB LB"
until_ok 'upsmon_notes "$n" batch1 | grep -q "^LOWBATT batch1"' "batch1's upsmon says battery low"
until_ok 'upsmon_shutdowns "$n" batch1 | grep -q "^shutdown "' "batch1's upsmon ran SHUTDOWNCMD" 300
until_ok '[ "$(bmc_power_log "$tmp" batch1 | tr "\n" " ")" = "soft-off off " ]' \
    "batch1's BMC: soft-off, then off" 300
# stop_s (6 s) covers upsmon's HOSTSYNC: the server shut itself down first
down_t=$(upsmon_shutdowns "$n" batch1 | head -n 1 | cut -d' ' -f2)
soft_t=$(grep ' soft-off$' "$tmp/batch1/power.log" | head -n 1 | cut -d. -f1)
[ "$down_t" -le "$soft_t" ] || fail "soft-off at $soft_t, before upsmon's shutdown at $down_t"; ok
# strict priority: batch1's stop is the first stage
events | grep '"event":"stop"' | grep '"server":"batch1"' | grep -q '"stage":1,' ||
    fail "batch1 is not stage 1: $(events | grep '"event":"stop"')"; ok
until_ok '[ "$(srv batch1)" = shed ]' "batch1 shed"
events | grep '"event":"shed"' | grep '"server":"batch1"' | grep -q outage ||
    fail "batch1's shed does not say outage"; ok
[ "$(nut_var db1 ups.status)" = OB ] || fail "db1's UPS: $(nut_var db1 ups.status)"; ok
[ -z "$(upsmon_shutdowns "$n" db1)" ] || fail "db1's upsmon shut down"; ok
upsmon_notes "$n" db1 | grep -q "^LOWBATT" && fail "db1's upsmon was told battery low"; ok
[ -z "$(bmc_power_log "$tmp" db1)" ] || fail "db1's BMC got $(bmc_power_log "$tmp" db1)"; ok
[ "$(srv db1)" = on ] || fail "db1 is $(srv db1)"; ok
has_event stop '"server":"db1"' && fail "db1 (the most important) stopped"; ok

# ---- ups1 on line: the outage ends, every UPS OL; batch1 back once the
# charge is above min_charge_pct (40) after mains_stable_s (3 s) ----
nut_set_dev "$n" ups1 OL 30 1800
until_ok 'has_event outage "\"state\":\"end\""' "the outage ended" 300
until_ok '[ "$(stages)" = "db1=OL app1=OL batch1=OL " ]' "every server's UPS reads OL"
sleep 5 # mains stable for longer than mains_stable_s, the charge at 30 %
[ "$(ofield 'd["state"]')" = recovering ] || fail "not recovering: $(ofield 'd["state"]')"; ok
[ "$(srv batch1)" = shed ] || fail "batch1 back below min_charge_pct: $(srv batch1)"; ok
bmc_power_log "$tmp" batch1 | grep -qx on && fail "batch1 powered on below min_charge_pct"; ok
nut_set_dev "$n" ups1 OL 60 1800
until_ok 'has_event outage_release "batch1"' "batch1 released" 300
until_ok '[ "$(bmc_power_log "$tmp" batch1 | tail -n 1)" = on ]' "batch1's BMC: power on" 300
until_ok '[ "$(srv batch1)" = on ]' "batch1 granted again" 300
until_ok '[ "$(ofield "d[\"state\"]")" = off ]' "the outage record off"
[ -z "$(upsmon_shutdowns "$n" db1)" ] || fail "db1's upsmon shut down"; ok

# ---- a second outage, upsd killed: ups1 not known, reserve_lost; mains
# back behind upsd's back: nothing is powered up until upsd says OL ----
nut_set_dev "$n" ups1 OB 90 1296
until_ok '[ "$(ofield "d[\"state\"]")" = on ]' "a second outage" 300
until_ok '[ "$(nut_var db1 ups.status)" = OB ]' "db1's UPS reads OB again"
nut_set_dev "$n" ups1 OB 20 288 # batch1 and app1 stop again
until_ok '[ "$(srv batch1)" = shed ] && [ "$(srv app1)" = shed ]' "batch1 and app1 shed again" 300
ons_before=$(ons)
nut_upsd_down KILL
until_ok 'rctl alarms | grep -q "^reserve_lost *ups1"' "the reserve_lost alarm names ups1" 300
[ "$(ofield 'd["reserves"]["ups1"]["known"]')" = False ] || fail "ups1 known without upsd"; ok
nut_set_dev "$n" ups1 OL 90 1800 # mains back, but no upsd to say so
sleep 5                          # longer than mains_stable_s
[ "$(ofield 'd["state"]')" = on ] || fail "the outage ended without upsd: $(ofield 'd["state"]')"; ok
[ "$(ons)" = "$ons_before" ] || fail "powered up while ups1 was not known"; ok
[ "$(srv batch1)" = shed ] || fail "batch1 is $(srv batch1) while ups1 is not known"; ok
rctl servers >/dev/null || fail "the API stopped serving"; ok
# upsd back (its drivers from their files: ups1 OL): the outage ends, the
# alarm clears, batch1 and app1 are powered on again
nut_upsd_up
until_ok '! rctl alarms | grep -q "^reserve_lost"' "reserve_lost cleared" 300
until_ok '[ "$(ofield "d[\"state\"]")" = off ]' "the second outage over" 300
until_ok '[ "$(srv batch1)" = on ] && [ "$(srv app1)" = on ]' "batch1 and app1 back" 300
[ "$(bmc_power_log "$tmp" batch1 | tail -n 1)" = on ] || fail "batch1's BMC: $(bmc_power_log "$tmp" batch1)"; ok
until_ok '[ "$(stages)" = "db1=OL app1=OL batch1=OL " ]' "every server's UPS reads OL again"
[ -z "$(upsmon_shutdowns "$n" db1)" ] || fail "db1's upsmon shut down"; ok
[ -z "$(bmc_power_log "$tmp" db1)" ] || fail "db1's BMC got $(bmc_power_log "$tmp" db1)"; ok

rpd_stop
[ "$stop_rc" = 0 ] || fail "rackpowerd exited $stop_rc"; ok
nut_stop
test_end
