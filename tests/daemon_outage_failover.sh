#!/bin/sh
# An outage across a fail-over (docs/outage.md "Several controllers"): three
# rackpowerd with a node: section run one rack that `rackpower-sim serve`
# plays over Modbus TCP (the switch module, the chassis module and an ORv3
# BBU, read by all three; no PSU is read: in 5. the BBU's own reading, that
# it discharges, starts the outage). As real processes:
#  1. the operator starts an outage on the primary; its plan stops batch1
#     (the BBU cannot carry both servers): stop, OB LB. The secondaries
#     know it before the kill: the outage on (cause operator, since), the
#     stop under way;
#  2. kill -9 of the primary in batch1's graceful time: the new primary
#     carries on the same outage (the same since, cause, stages, who) and
#     finishes the stop itself (soft-off when the graceful time ends, then
#     shed and held), telling nothing twice (one stop, one OB LB);
#  3. the old primary back as a secondary, and kill -9 of the new one while
#     batch1 is held: the third carries on, batch1 stays shed and held well
#     past restore_after_s (no restore, the module keeps it off); its journal
#     has one outage start and one stop of batch1, an outage_adopted event
#     naming batch1, no stage sent back to OL;
#     Then every controller is killed and started again: the one elected
#     carries the outage on from the record its database kept;
#  4. `rackpowerctl outage end` on that primary ends it: OL to every
#     server, and batch1 released and powered once mains_stable_s is over;
#  5. a BBU outage (both feeds fail at the simulator: the BBU discharges,
#     cause bbu) and kill -9 of that primary: the next one carries on the
#     same outage, with the same since and no second start, and ends it when
#     mains is back.
# Usage: daemon_outage_failover.sh RACKPOWERD RACKPOWERCTL RACKPOWER-SIM SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin daemon_outage_failover.sh
rpd="$1"
ctl="$2"
sim="$3"
need socat
log_show simulator-log "$tmp/slog"
for n in 1 2 3; do log_show "c$n-log" "$tmp/c$n.log"; done

# ---- the rack and the simulator ------------------------------------------------
cat >"$tmp/rack.yaml" <<'YAML'
rack:
  name: failover
  protection: none
  restore_after_s: 1
  feeds: [F1, F2]
  buses: [A]
  psus:
    - {id: ps1, capacity_w: 3000, feed: F1, buses: [A], bus: A}
    - {id: ps2, capacity_w: 3000, feed: F2, buses: [A], bus: A}
  servers:
    - {id: db1, power_w: 1000, buses: [A], chassis: c1}
    - {id: batch1, power_w: 800, buses: [A], chassis: c1}
  qos_classes: {critical: 1, bronze: 4}
  activities:
    - {id: orders, qos: critical, servers: [db1], stop_s: 1}
    - {id: batch, qos: bronze, servers: [batch1], stop_s: 12}
  reserves:
    - {id: bbu1, kind: bbu, bus: A, energy_wh: 400, max_w: 1500}
  outage: {ride_through_s: 600, mains_stable_s: 2, min_charge_pct: 0, soft_off_s: 1}
YAML
sim_start "$sim" "$tmp/sout" "$tmp/slog" "$tmp/rack.yaml" --tcp 127.0.0.1:0 --control "$tmp/ctl"
ok
ctlsend "power_on db1 batch1"
ctlsend "report db1 1000"
ctlsend "report batch1 800"

# ---- three controllers ------------------------------------------------------------
set -- $("$lib_py" -c '
import socket
ss = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
udp1=$1 udp2=$2 udp3=$3
(umask 077; head -c 32 /dev/urandom >"$tmp/rack.key")
for n in 1 2 3; do
    {
        cat "$tmp/rack.yaml"
        printf 'devices:\n  - kind: modbus-tcp\n    host: 127.0.0.1\n    port: %s\n' "$sim_port"
        printf '    poll_ms: 200\n    timeout_ms: 500\n    reprobe_s: 1\n    units:\n'
        printf '      - {unit: 1, switches: [ps1, ps2]}\n      - {unit: 10, chassis: c1}\n'
        printf '      - {unit: 64, role: bbu, reserve: bbu1}\n'
        printf 'node:\n  address: %s\n  listen: 127.0.0.1:%s\n  peers:\n' "$n" "$(eval echo "\$udp$n")"
        for k in 1 2 3; do
            [ "$k" = "$n" ] || printf '    - {address: %s, at: 127.0.0.1:%s}\n' "$k" "$(eval echo "\$udp$k")"
        done
        printf '  key_file: %s\n  heartbeat_ms: 500\n  missed_heartbeats: 4\n' "$tmp/rack.key"
        printf 'api:\n  listen: 127.0.0.1\n  port: 0\n  plain_reads: true\n  socket: %s\n' "$tmp/c$n.sock"
    } >"$tmp/c$n.yaml"
done
for n in 1 2 3; do cstart "$n" "$rpd"; done
ok

# f N EXPR: the Python expression EXPR of controller N's GET /v1/outage (d)
f() {
    c "$1" outage status --json 2>/dev/null | "$lib_py" -c '
import json, sys
d = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$2"
}
srvstate() { c "$1" servers --json | grep -o "\"id\":\"$2\",\"state\":\"[a-z]*\"" | cut -d'"' -f8; }
# powered ID: the simulated chassis module powers server ID now
powered() { sim_ctl "$tmp/ctl" status | grep -q "^server $1 .* present on "; }
# count N EVENT PATTERN: controller N's journal events EVENT matching PATTERN
count() { c "$1" events --json --tail 1000 | grep "\"event\":\"$2\"" | grep -c "$3"; }

until_ok 'p=$(primary)' "one primary, named by all three"
p=$(primary)
until_ok '[ "$(srvstate $p db1)" = on ] && [ "$(srvstate $p batch1)" = on ]' "db1 and batch1 on (adopted)"
until_ok 'c $p outage status --json | grep -q "\"commands_held_back\":null"' "c$p's epoch confirmed by its polls"
for n in 1 2 3; do
    until_ok '[ "$(f $n "d[\"reserves\"][\"bbu1\"][\"known\"]")" = True ]' "c$n reads bbu1"
done

# ---- 1. the operator's outage on the primary; batch1's stop under way --------------
admin "$p" outage start --reason "utility cut at 14:00" >"$tmp/out" || fail "outage start: $(cat "$tmp/out")"; ok
until_ok '[ "$(count $p stage "\"server\":\"batch1\",\"stage\":\"OB LB\"")" = 1 ]' "c$p tells batch1 OB LB (its stop)"
[ "$(f "$p" 'd["stops"]["batch1"]["phase"]')" = staged ] || fail "batch1 not staged at c$p: $(f "$p" 'd["stops"]')"; ok
since=$(f "$p" 'd["since"]')
stages=$(c "$p" status --json | "$lib_py" -c 'import json,sys; print(json.load(sys.stdin)["outage"]["stages"])')
[ "$stages" = 1 ] || fail "stages $stages"; ok
# the secondaries know the outage before the kill: its cause, who, since, the stop
for n in 1 2 3; do
    [ "$n" = "$p" ] && continue
    until_ok '[ "$(f $n "\" \".join(map(str, (d[\"state\"], d[\"cause\"], d[\"operator\"], d[\"since\"], d[\"stops\"][\"batch1\"][\"phase\"])))")" = "on operator True $since staged" ]' "secondary c$n knows the operator's outage and batch1's stop"
done

# ---- 2. kill -9 of the primary mid-stop: the next finishes the stop ---------------------
old=$p
ckill "$old" KILL
until_ok 'p=$(primary) && [ "$p" != "$old" ]' "a new primary after kill -9 of c$old"
p=$(primary)
until_ok 'c $p events --json --tail 200 | grep -q "\"event\":\"outage_adopted\""' "c$p journals the outage it adopts"
[ "$(f "$p" '(d["state"], d["cause"], d["operator"])')" = "('on', 'operator', True)" ] ||
    fail "c$p: $(f "$p" '(d["state"], d["cause"], d["operator"])')"; ok
[ "$(f "$p" 'd["since"]')" = "$since" ] || fail "c$p: since $(f "$p" 'd["since"]'), not $since"; ok
f "$p" 'd["reason"]' | grep -q "started by uid:" || fail "c$p: reason $(f "$p" 'd["reason"]')"; ok
s2=$(c "$p" status --json | "$lib_py" -c 'import json,sys; print(json.load(sys.stdin)["outage"]["stages"])')
[ "$s2" = "$stages" ] || fail "c$p: stages $s2, not $stages"; ok
# the soft-off comes from the new primary (its own event: no "entry") when
# batch1's graceful time ends, then the power off; nothing is told twice
until_ok 'c $p events --json --tail 400 | grep "\"event\":\"soft_off\"" | grep "\"server\":\"batch1\"" | grep -vq "\"entry\""' "c$p sends batch1's soft-off" 400
until_ok '[ "$(srvstate $p batch1)" = shed ] && [ "$(f $p "d[\"stops\"][\"batch1\"][\"phase\"]")" = held ]' "c$p sheds and holds batch1"
until_ok '! powered batch1' "batch1 powered off at the module"
[ "$(count "$p" stop '"server":"batch1"')" = 1 ] || fail "c$p: batch1 stopped $(count "$p" stop '"server":"batch1"') times"; ok
[ "$(count "$p" stage '"server":"batch1","stage":"OB LB"')" = 1 ] || fail "c$p told batch1 OB LB again"; ok
[ "$(count "$p" soft_off '"server":"batch1"')" = 1 ] || fail "c$p: $(count "$p" soft_off '"server":"batch1"') soft-offs"; ok

# ---- 3. the old primary back; kill -9 of this one while batch1 is held ------------------
cstart "$old" "$rpd"
until_ok '[ "$(role $old)" = secondary ] && [ "$(f $old "d[\"stops\"][\"batch1\"][\"phase\"]")" = held ]' "c$old back as a secondary that knows batch1 is held"
[ "$(f "$old" 'd["since"]')" = "$since" ] || fail "c$old: since $(f "$old" 'd["since"]'), not $since"; ok
dead=$p
ckill "$dead" KILL
until_ok 'p=$(primary) && [ "$p" != "$dead" ]' "a new primary after kill -9 of c$dead"
p=$(primary)
until_ok 'c $p events --json --tail 400 | grep "\"event\":\"outage_adopted\"" | grep -q "\"stopping\":\[\"batch1\"\]"' "c$p adopts the outage with batch1 held"
[ "$(f "$p" '(d["state"], d["cause"], d["operator"])')" = "('on', 'operator', True)" ] ||
    fail "c$p: $(f "$p" '(d["state"], d["cause"], d["operator"])')"; ok
[ "$(f "$p" 'd["since"]')" = "$since" ] || fail "c$p: since $(f "$p" 'd["since"]'), not $since"; ok
[ "$(f "$p" 'd["stops"]["batch1"]["phase"]')" = held ] || fail "c$p: batch1 $(f "$p" 'd["stops"]')"; ok
# held through the fail-over: past restore_after_s (1 s) and the promotion's
# settle, batch1 is neither restored nor powered
sleep 4
[ "$(srvstate "$p" batch1)" = shed ] || fail "c$p: batch1 $(srvstate "$p" batch1) after the fail-over"; ok
powered batch1 && fail "batch1 powered again after the fail-over"; ok
[ "$(srvstate "$p" db1)" = on ] || fail "c$p: db1 $(srvstate "$p" db1)"; ok
[ "$(count "$p" outage '"state":"start"')" = 1 ] || fail "c$p: $(count "$p" outage '"state":"start"') outage starts"; ok
[ "$(count "$p" outage '"state":"end"')" = 0 ] || fail "c$p ended the outage by itself"; ok
[ "$(count "$p" stop '"server":"batch1"')" = 1 ] || fail "c$p: batch1 stopped $(count "$p" stop '"server":"batch1"') times"; ok
[ "$(count "$p" stage '"stage":"OL"')" = 0 ] || fail "c$p sent OL during the outage"; ok
[ "$(count "$p" restore '"server":"batch1"')" = 0 ] || fail "c$p restored batch1"; ok

# ---- 3b. every controller killed and started again: the record kept on disk --------------
for n in 1 2 3; do
    alive "$n" || continue
    eval "adopted$n=$(count "$n" outage_adopted .)"
    ckill "$n" KILL
done
for n in 1 2 3; do cstart "$n" "$rpd"; done
until_ok 'p=$(primary)' "one primary after every controller started again"
until_ok '[ "$(count $p outage_adopted .)" -gt "$(eval echo "\${adopted$p:-0}")" ]' "c$p adopts the outage kept on disk"
[ "$(f "$p" '(d["state"], d["cause"], d["operator"])')" = "('on', 'operator', True)" ] ||
    fail "c$p after the restart: $(f "$p" '(d["state"], d["cause"], d["operator"])')"; ok
[ "$(f "$p" 'd["since"]')" = "$since" ] || fail "c$p: since $(f "$p" 'd["since"]'), not $since"; ok
[ "$(f "$p" 'd["stops"]["batch1"]["phase"]')" = held ] || fail "c$p: batch1 $(f "$p" 'd["stops"]')"; ok
sleep 3
[ "$(srvstate "$p" batch1)" = shed ] || fail "c$p: batch1 $(srvstate "$p" batch1) after the restart"; ok
powered batch1 && fail "batch1 powered again after the restart"; ok
[ "$(count "$p" outage '"state":"start"')" = 1 ] || fail "c$p: $(count "$p" outage '"state":"start"') outage starts"; ok

# ---- 4. the operator ends it on the new primary ---------------------------------------
admin "$p" outage end --reason "utility says power is back" >"$tmp/out" 2>&1 || fail "outage end: $(cat "$tmp/out")"; ok
grep -q 'outage ended' "$tmp/out" || fail "outage end said: $(cat "$tmp/out")"; ok
until_ok '[ "$(count $p outage "\"state\":\"end\"")" = 1 ]' "c$p journals the end"
for s in db1 batch1; do
    [ "$(count "$p" stage "\"server\":\"$s\",\"stage\":\"OL\"")" -ge 1 ] || fail "no OL for $s"; ok
done
until_ok '[ "$(srvstate $p batch1)" = on ]' "batch1 released and restored after mains_stable_s" 300
until_ok 'powered batch1' "batch1 powered again"
until_ok '[ "$(f $p "d[\"state\"]")" = off ]' "no outage at c$p"
for n in 1 2 3; do
    alive "$n" && [ "$n" != "$p" ] && until_ok '[ "$(f $n "d[\"state\"]")" = off ]' "secondary c$n: no outage"
done
# ---- 5. a BBU outage, and the fail-over in the middle of it ---------------------------
# batch1 draws less now: the BBU (1500 W at most) carries both, nothing stops
ctlsend "report batch1 300"
until_ok 'c $p servers --json | grep -q "\"id\":\"batch1\"[^}]*\"draw_w\":300"' "c$p reads batch1's 300 W"
ctlsend "feed_fail F1 F2"
until_ok '[ "$(count $p outage "\"cause\":\"bbu\"")" -ge 1 ]' "c$p: an outage, cause bbu"
since=$(f "$p" 'd["since"]')
for n in 1 2 3; do
    [ "$n" = "$p" ] && continue
    until_ok '[ "$(f $n "d[\"cause\"]")" = bbu ] && [ "$(f $n "d[\"since\"]")" = "$since" ]' "secondary c$n knows the BBU outage"
done
old=$p
ckill "$old" KILL
until_ok 'p=$(primary) && [ "$p" != "$old" ]' "a new primary after kill -9 of c$old"
p=$(primary)
until_ok 'c $p events --json --tail 400 | grep "\"event\":\"outage_adopted\"" | grep -q "\"cause\":\"bbu\""' "c$p adopts the BBU outage"
[ "$(f "$p" 'd["since"]')" = "$since" ] || fail "c$p: since $(f "$p" 'd["since"]'), not $since"; ok
sleep 2
[ "$(count "$p" outage '"cause":"bbu".*"state":"start"\|"state":"start".*"cause":"bbu"')" = 1 ] ||
    fail "c$p: $(count "$p" outage '"cause":"bbu"') bbu outage events (a second start?)"; ok
ctlsend "feed_repair F1 F2"
until_ok '[ "$(f $p "d[\"state\"]")" = off ]' "c$p ends the BBU outage when mains is back" 300

for n in 1 2 3; do
    alive "$n" || continue
    ckill "$n"
    [ "$stop_rc" -eq 0 ] || fail "c$n exited $stop_rc on SIGTERM"
done
ok
sim_stop
test_end
