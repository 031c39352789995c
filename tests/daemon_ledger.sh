#!/bin/sh
# rackpowerd and its database, with real daemon processes:
#   - a start without a ledger is said loudly (log and journal);
#   - the database file unlinked, then replaced, while the daemon runs: an
#     alarm, power-raising decisions held, power-lowering ones taken;
#   - a ledger lost between runs while Modbus devices keep their servers
#     powered (`rackpower-sim serve`): the new daemon adopts them, powers
#     none off;
#   - a device that stays down while its error changes is journaled once;
#   - the journal pruned by size and, after a reload, by age;
#   - without a ledger, a grant waits for the first read of the devices that
#     power servers.
# Usage: daemon_ledger.sh RACKPOWERD RACKPOWERCTL RACKPOWER-SIM SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin daemon_ledger.sh
rpd="$1"
ctl="$2"
sim="$3"
src="$4"
need socat
log_show daemon-log "$tmp/log"
log_show simulator-log "$tmp/slog"
c() { rctl "$@"; }
# how many journaled events match the pattern
nevents() { c events --tail 1000 --json | grep -c "$1"; }

demo_rack "$src" "$tmp/rack.yaml"
{ cat "$tmp/rack.yaml"; printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock"; } >"$tmp/conf.yaml"
db="$tmp/rp.db"

# ---- a first start: no ledger, said loudly ----
rpd_start "$rpd" "$tmp/conf.yaml" "$db" "$tmp/log"
grep -q "warning: NO LEDGER: the database $db holds no ledger (new, deleted or replaced)" "$tmp/log" ||
    fail "no warning for a start without a ledger: $(head -5 "$tmp/log")"; ok
[ "$(nevents '"event":"ledger_missing"')" -eq 1 ] || fail "no ledger_missing event"; ok
for s in db1 app1 web1 web2 batch1; do c power-on $s >/dev/null || fail "power-on $s"; done
[ "$(srv batch1)" = on ] || fail "batch1 is not on: $(srv batch1)"; ok
c power-off web2 >/dev/null || fail "power-off web2"
c alarms | grep -q '^no active alarms' || fail "alarms before: $(c alarms)"; ok

# ---- the database file unlinked under the running daemon ----
rm "$db"
until_ok "c alarms | grep -q '^database_replaced'" "the database_replaced alarm"
c alarms | grep -q "database_replaced *$db .*the database file $db was unlinked" ||
    fail "alarm: $(c alarms)"; ok
grep -q "warning: DATABASE LOST: the database file $db was unlinked" "$tmp/log" ||
    fail "no loud log line"; ok
c status --json | grep -q '"kind":"database_replaced"' || fail "status: no alarm"; ok
# raising power is held: web2 fitted before, now it waits and says why
c power-on web2 --json >"$tmp/out" || fail "power-on web2"
grep -q '"result":"queued","state":"waiting"' "$tmp/out" || fail "web2 granted: $(cat "$tmp/out")"; ok
grep -q "\"reason\":\"held: the database file $db was unlinked\"" "$tmp/out" ||
    fail "no reason: $(cat "$tmp/out")"; ok
# lowering power goes on: two PSUs out, batch1 shed and app1 capped
c out-of-service psu ps1 >/dev/null || fail "out-of-service ps1"
c out-of-service psu ps4 --force >/dev/null || fail "out-of-service ps4"
[ "$(srv batch1)" = shed ] || fail "batch1 not shed: $(srv batch1)"; ok
[ "$(srv app1)" = capped ] || fail "app1 not capped: $(srv app1)"; ok
[ "$(srv db1)" = on ] || fail "db1 not on: $(srv db1)"; ok
c power-off web1 | grep -q '^web1: released' || fail "power-off web1 refused"; ok
rpd_stop
[ $stop_rc -eq 0 ] || fail "SIGTERM: exit $stop_rc"; ok

# ---- the next start finds no ledger again, and a sound database ----
rpd_start "$rpd" "$tmp/conf.yaml" "$db" "$tmp/log"
grep -q "warning: NO LEDGER" "$tmp/log" || fail "no warning after the file was unlinked"; ok
c power-on db1 | grep -q '^db1: granted' || fail "power-on db1 after a restart"; ok
c alarms | grep -q '^no active alarms' || fail "alarms after a restart: $(c alarms)"; ok
# ---- replaced: another file moved to its path ----
cp "$db" "$tmp/other.db"
mv "$tmp/other.db" "$db"
until_ok "c alarms | grep -q '^database_replaced'" "the alarm for a replaced file"
c alarms | grep -q "the database file $db was replaced (inode" || fail "alarm: $(c alarms)"; ok
c power-on app1 --json | grep -q '"result":"queued"' || fail "app1 granted with a replaced database"; ok
rpd_stop
[ $stop_rc -eq 0 ] || fail "SIGTERM: exit $stop_rc"; ok

# ---- a device down: one event per outage, however its error changes ----
rm -f "$db" "$db-wal" "$db-shm"
{ cat "$tmp/rack.yaml"
  printf 'devices:\n  - {kind: hwmon, path: %s, psu: ps1, poll_ms: 100}\n' "$tmp/hw1"
  printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock"; } >"$tmp/hw.yaml"
rpd_start "$rpd" "$tmp/hw.yaml" "$db" "$tmp/log"
until_ok "grep -q '$tmp/hw1: No such file or directory' '$tmp/log'" "the device down"
mkdir "$tmp/hw1" # there, but no hwmon directory: another error at the next attempt (5 s)
until_ok "grep -q 'still down: .*not a hwmon directory' '$tmp/log'" "the error changed" 150
c status | grep -q "hwmon $tmp/hw1: down: .*not a hwmon directory" ||
    fail "status does not show the latest error: $(c status)"; ok
c alarms | grep -q "device_down .*not a hwmon directory" || fail "the alarm's reason: $(c alarms)"; ok
[ "$(nevents '"event":"device","device":"hwmon[^"]*","state":"down"')" -eq 1 ] ||
    fail "not one device down event: $(c events --tail 100 --json | grep '"device"')"; ok
[ "$(nevents '"event":"alarm_raise","kind":"device_down"')" -eq 1 ] || fail "not one alarm_raise"; ok
rpd_stop

# ---- the journal pruned by size, then (a reload) by age ----
rm -f "$db" "$db-wal" "$db-shm"
{ cat "$tmp/rack.yaml"; printf 'api:\n  port: 0\n  socket: %s\njournal:\n  max_mb: 0\n' "$tmp/rp.sock"; } >"$tmp/prune.yaml"
"$rpd" --config "$tmp/prune.yaml" --check >"$tmp/out" 2>&1 && fail "max_mb: 0 accepted"
grep -q "prune.yaml:[0-9]*:[0-9]*: max_mb: must be > 0, got '0'" "$tmp/out" || fail "max_mb: 0: $(cat "$tmp/out")"; ok
{ cat "$tmp/rack.yaml"; printf 'api:\n  port: 0\n  socket: %s\njournal:\n  max_mb: 0.003\n' "$tmp/rp.sock"; } >"$tmp/prune.yaml"
rpd_start "$rpd" "$tmp/prune.yaml" "$db" "$tmp/log"
for i in 1 2 3 4 5 6 7 8; do
    c power-on db1 >/dev/null || fail "power-on db1"
    c power-off db1 >/dev/null || fail "power-off db1"
done
last=$(c status --json | sed -n 's/.*"last_event_id":\([0-9]*\).*/\1/p')
[ "$last" -ge 17 ] || fail "too few events to prune: $last"; ok
first_id() { c events --tail 1000 --json | sed -n '1s/^{"id":\([0-9]*\),.*/\1/p'; }
until_ok '[ "$(first_id)" -gt 1 ]' "the oldest events pruned"
# once a pass has run after the last event, what is kept fits in 3000 bytes of
# JSON (one event more at most: the API's JSON is not byte for byte the
# stored one). Passes are a second apart and the loop above may end between
# two, so wait for one rather than read at once.
kept_bytes() { c events --tail 1000 --json | wc -c; }
until_ok '[ "$(kept_bytes)" -le 3600 ]' "the journal pruned to max_mb 0.003"
c events --tail 1000 --json | grep -q "\"id\":$last," || fail "the newest event was pruned"; ok
# a reload sets an age of 2.6 s and lifts the size: all but the newest go
sed 's/max_mb: 0.003/max_age_days: 0.00003/' "$tmp/prune.yaml" >"$tmp/prune2.yaml"
cp "$tmp/prune2.yaml" "$tmp/prune.yaml"
kill -HUP "$rpd_pid"
until_ok "grep -q 'reload applied: journal max_age_days 365 -> 3e-05, max_mb 0.003 -> 100' '$tmp/log'"
until_ok '[ "$(c events --tail 1000 --json | wc -l)" -eq 1 ]' "every event but the newest older than 2.6 s pruned"
c power-on db1 >/dev/null || fail "power-on db1 after pruning"
new=$(c status --json | sed -n 's/.*"last_event_id":\([0-9]*\).*/\1/p')
[ "$new" -gt "$last" ] || fail "ids went back: $new after $last"; ok
rpd_stop
[ $stop_rc -eq 0 ] || fail "SIGTERM: exit $stop_rc"; ok

# ---- a ledger lost between runs; the devices keep their servers powered ----
rm -f "$db" "$db-wal" "$db-shm"
sim_start "$sim" "$tmp/sout" "$tmp/slog" "$tmp/rack.yaml" --tcp 127.0.0.1:0 --control "$tmp/ctl"
{ cat "$tmp/rack.yaml"
  printf 'devices:\n  - kind: modbus-tcp\n    host: 127.0.0.1\n    port: %s\n' "$sim_port"
  printf '    poll_ms: 200\n    timeout_ms: 1000\n    reprobe_s: 1\n    units:\n'
  demo_units
  printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock"; } >"$tmp/mb.yaml"
sim_ctl "$tmp/ctl" "power_on db1 app1 web1 web2 batch1" >/dev/null
rpd_start "$rpd" "$tmp/mb.yaml" "$db" "$tmp/log"
until_ok '[ "$(srv batch1)" = on ]' "batch1 granted over Modbus"
for s in db1 app1 web1 web2 batch1; do
    until_ok "simstat 'server $s .*present on'" "$s powered in the simulator"
done
rpd_stop
rm -f "$db" "$db-wal" "$db-shm"
cp "$tmp/log" "$tmp/log.1"
rpd_start "$rpd" "$tmp/mb.yaml" "$db" "$tmp/log"
grep -q "warning: NO LEDGER" "$tmp/log" || fail "no warning for the lost ledger"; ok
until_ok '[ "$(srv batch1)" = on ]' "batch1 adopted"
for s in db1 app1 web1 web2; do
    [ "$(srv $s)" = on ] || fail "$s not adopted: $(srv $s)"; ok
done
grep -q "warning: ADOPTED db1: modbus-tcp 127.0.0.1:$sim_port reports it drawing [0-9]* W; the ledger does not know it" "$tmp/log" ||
    fail "no loud adoption line: $(grep -i adopt "$tmp/log")"; ok
[ "$(nevents '"event":"adopt"')" -eq 5 ] || fail "not 5 adopt events: $(nevents '"event":"adopt"')"; ok
grep -q '"event":"shed"\|"event":"release"' "$tmp/log" && fail "something was powered off"; ok
sleep 1 # a few polls: nothing is powered off behind the API's back
for s in db1 app1 web1 web2 batch1; do
    simstat "server $s .*present on" || fail "$s powered off in the simulator"; ok
done
c status | grep -q '4000 of 10000 W\|of 10000 W allocated' || fail "status: $(c status | head -1)"; ok
rpd_stop
[ $stop_rc -eq 0 ] || fail "SIGTERM: exit $stop_rc"; ok
# the adoption is in the new ledger: the next start restores it
rpd_start "$rpd" "$tmp/mb.yaml" "$db" "$tmp/log"
grep -q "from the ledger: 5 on" "$tmp/log" || fail "restart: $(grep started "$tmp/log")"; ok
grep -q "NO LEDGER" "$tmp/log" && fail "a ledger was there"; ok
rpd_stop

# ---- without a ledger, power is raised only once the devices were read ----
# The PSUs and the switch on the first simulator, the chassis modules on a
# second one that is not there yet (its port reserved by a first start). The
# second listens on 127.0.0.2: while it is away its port is free, and the
# daemon's API, which binds 127.0.0.1 port 0, once took that very port (CI,
# 2026-12-02) so that the second simulator could not come back.
sim_stop
port1=$sim_port
sim_start "$sim" "$tmp/sout2" "$tmp/slog2" "$tmp/rack.yaml" --tcp 127.0.0.2:0 --control "$tmp/ctl2"
port2=$sim_port
sim_stop
sim_start "$sim" "$tmp/sout" "$tmp/slog" "$tmp/rack.yaml" --tcp "127.0.0.1:$port1" --control "$tmp/ctl"
sim1=$sim_pid
{ cat "$tmp/rack.yaml"
  printf 'devices:\n  - kind: modbus-tcp\n    host: 127.0.0.1\n    port: %s\n' "$port1"
  printf '    poll_ms: 200\n    reprobe_s: 1\n    units:\n'
  demo_units psus
  printf '  - kind: modbus-tcp\n    host: 127.0.0.2\n    port: %s\n' "$port2"
  printf '    poll_ms: 200\n    reprobe_s: 1\n    units:\n'
  demo_units chassis
  printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock"; } >"$tmp/mb2.yaml"
rm -f "$db" "$db-wal" "$db-shm"
rpd_start "$rpd" "$tmp/mb2.yaml" "$db" "$tmp/log"
grep -q "warning: no ledger: waiting for the first read of 1 device that powers servers; decisions that raise power are held" "$tmp/log" ||
    fail "no word of the wait: $(grep -i ledger "$tmp/log")"; ok
until_ok "c psus --json | grep -q '\"id\":\"ps1\",[^}]*\"output_w\":[0-9]'" "the PSUs read"
c power-on ml1 --json >"$tmp/out" || fail "power-on ml1"
grep -q '"result":"queued","state":"waiting"' "$tmp/out" || fail "ml1 granted unread: $(cat "$tmp/out")"; ok
grep -q '"reason":"held: no ledger: waiting for the first read of 1 device that powers servers"' "$tmp/out" ||
    fail "no reason: $(cat "$tmp/out")"; ok
c status | grep -q "^raising power held: no ledger: waiting for the first read of 1 device that powers servers$" ||
    fail "the status does not say raising power is held: $(c status)"; ok
sim_start "$sim" "$tmp/sout2" "$tmp/slog2" "$tmp/rack.yaml" --tcp "127.0.0.2:$port2" --control "$tmp/ctl2"
until_ok '[ "$(srv ml1)" = on ]' "ml1 granted once the chassis modules were read"
until_ok "sim_ctl '$tmp/ctl2' status | grep -q 'server ml1 .*present on'" "ml1 powered in the second simulator"
grep -q "the devices' first reads are in: decisions that raise power are taken again" "$tmp/log" ||
    fail "no word of the first reads"; ok
c status --json | grep -q '"raises_held":null' || fail "raising power still held: $(c status --json)"; ok
rpd_stop
[ $stop_rc -eq 0 ] || fail "SIGTERM: exit $stop_rc"; ok
sim_stop # the second
sim_pid=$sim1
sim_stop

test_end
