#!/bin/sh
# Balancing over Modbus (docs/balancing.md "Where it runs", docs/modbus.md
# "Standby and share"): rackpowerd on Modbus TCP to rackpower-sim serve, the
# demo rack with balance: on and its PSU units configured with
# `extension: rackpower`:
#   - at light load a PSU stands by: the daemon says so, and its unit's
#     STANDBY register (4352) reads 1 with mbpoll, an outside client;
#   - more servers granted: it wakes (4352 reads 0) and no server loses
#     power on the way (the simulated shelf: a PSU standing by delivers
#     nothing);
#   - a PSU its shelf wakes by itself (the simulator's psu_wake, standing in
#     for a sagging bus) is seen awake by the daemon, which journals a
#     reconcile.
# Usage: daemon_balance_modbus.sh RACKPOWERD RACKPOWERCTL RACKPOWER-SIM SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin daemon_balance_modbus.sh
rpd="$1"
ctl="$2"
sim="$3"
src="$4"
need mbpoll
log_show daemon-log "$tmp/dlog"
log_show simulator-log "$tmp/slog"

demo_rack "$src" "$tmp/demo.yaml"
sed 's/^  name: demo/  name: demo\n  balance: on/' "$tmp/demo.yaml" >"$tmp/rack.yaml"
sim_start "$sim" "$tmp/sout" "$tmp/slog" "$tmp/rack.yaml" --tcp 127.0.0.1:0 --control "$tmp/ctl"
ok # the simulator serves
mb="mbpoll -m tcp -p $sim_port -0 -1"
# reg4352 UNIT VALUE: the PSU unit's STANDBY register reads VALUE (mbpoll)
reg4352() { $mb -a "$1" -r 4352 -c 1 127.0.0.1 2>/dev/null | grep -q "^\[4352\]:[[:space:]]*$2\$"; }
unit_of() { echo $((199 + ${1#ps})); } # ps1 -> 200 (docs/sim-devices.md)
standing_by() { # the PSUs the daemon has standing by, by id
    rctl psus --json | python3 -c '
import json, sys
print(" ".join(p["id"] for p in json.load(sys.stdin)["psus"] if p["standby"]))'
}

{ cat "$tmp/rack.yaml"
  printf 'devices:\n  - kind: modbus-tcp\n    host: 127.0.0.1\n    port: %s\n' "$sim_port"
  printf '    poll_ms: 200\n    timeout_ms: 1000\n    reprobe_s: 1\n    units:\n'
  demo_units | sed 's/psu: \(ps[0-9]\)}/psu: \1, extension: rackpower}/'
  printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock"; } >"$tmp/conf.yaml"
grep -q 'psu: ps4, extension: rackpower' "$tmp/conf.yaml" || fail "config: $(cat "$tmp/conf.yaml")"; ok

# 2.2 kW of 10: a PSU has nothing worth carrying
ctlsend "power_on db1 app1"
rpd_start "$rpd" "$tmp/conf.yaml" "$tmp/db" "$tmp/dlog"
until_ok '[ "$(srv app1)" = on ]' "app1 granted"
until_ok '[ -n "$(standing_by)" ]' "a PSU standing by at 2.2 kW"
sb=$(standing_by)
set -- $sb
first=$1
until_ok "reg4352 $(unit_of "$first") 1" "$first's unit reads STANDBY = 1 with mbpoll"
until_ok 'simstat "psu $first .*standby"' "$first stands by in the simulator"
rctl events --tail 200 --json >"$tmp/ev"
grep -q "\"event\":\"standby\",\"psu\":\"$first\"" "$tmp/ev" || fail "no standby event for $first"; ok
grep -q '"event":"reconcile","psu"' "$tmp/ev" &&
    fail "a reconcile though the shelf took every command: $(grep reconcile "$tmp/ev")"; ok
for p in ps1 ps2 ps3 ps4; do # the others are awake on their units
    case " $sb " in *" $p "*) continue ;; esac
    reg4352 "$(unit_of $p)" 0 || fail "$p reads standing by though the daemon has it awake"; ok
done

# 5 kW: what stands by wakes, nobody loses power
for s in web1 web2 batch1; do
    rctl power-on $s | grep -q "^$s: granted" || fail "$s was not granted"; ok
done
until_ok "reg4352 $(unit_of "$first") 0" "$first's unit reads STANDBY = 0 at 5 kW"
# (the dwell keeps it awake now: it flipped less than 300 s ago)
until_ok 'case " $(standing_by) " in *" $first "*) false ;; *) true ;; esac' "the daemon has $first awake"
sleep 1 # a few polls: a bus its awake PSUs could not carry would brown out
rctl events --tail 300 --json >"$tmp/ev2"
grep -q '"event":"lost_power"' "$tmp/ev2" && fail "a server lost power: $(grep lost_power "$tmp/ev2")"; ok
grep -q "\"event\":\"wake\",\"psu\":\"$first\"" "$tmp/ev2" || fail "no wake event for $first"; ok
for s in db1 app1 web1 web2 batch1; do
    simstat "server $s .*present on" || fail "$s is not on in the simulator"; ok
done
rctl status --json | grep -q '"protected":true' || fail "not protected at 5 kW"; ok

# the load goes again, released through the API (the slots are powered off at
# the driver's next poll, after the decision's plan: the plan counts what they
# were measured drawing until a read says they stopped, so no PSU stands by
# under load and no shelf sees its bus sag): a PSU stands by again (one not
# flipped within the dwell); its shelf then wakes it by itself, as when its
# bus sags, and the daemon must see it awake, not assume it still stands by
for s in web1 web2 batch1; do
    rctl power-off $s >/dev/null || fail "power-off $s"; ok
done
until_ok '[ -n "$(standing_by)" ]' "a PSU standing by again at 2.2 kW"
set -- $(standing_by)
again=$1
until_ok "reg4352 $(unit_of "$again") 1" "$again's unit reads STANDBY = 1"
for s in web1 web2 batch1; do
    until_ok "simstat 'server $s .*present off'" "$s off in the simulator" 50
done
rctl events --tail 300 --json >"$tmp/ev3"
grep -q '"event":"reconcile"' "$tmp/ev3" &&
    fail "a PSU stood by under a load still there (its shelf woke it): $(grep reconcile "$tmp/ev3")"; ok
ctlsend "psu_wake $again"
until_ok "reg4352 $(unit_of "$again") 0" "$again woken by its shelf"
until_ok 'case " $(standing_by) " in *" $again "*) false ;; *) true ;; esac' "the daemon sees $again awake"
rctl events --tail 300 --json >"$tmp/ev4"
grep "\"event\":\"reconcile\",\"psu\":\"$again\"" "$tmp/ev4" | grep -q '"standby":false.*shelf woke it' ||
    fail "no reconcile of $again awake: $(grep reconcile "$tmp/ev4")"; ok
rpd_stop
sim_stop
test_end
