#!/bin/sh
# rackpowerd reading PSUs through Linux hwmon: two fixture trees laid out as
# the kernel's pmbus driver does (src/drivers/hwmon.c reads them like sysfs)
# stand for ps1 and ps2 of the demo rack. Servers ask through the API (no
# chassis here). Checked through the API and the daemon's log:
#   - a hwmon directory that is not there yet: the log names the device and
#     why, the API serves, and the device opens once the directory appears;
#   - telemetry from the files (output, input, voltage, current, hottest
#     temperature);
#   - ps1's output lost (vout lcrit alarm): after the debounce one psu_fail,
#     and the policy re-routes; the alarm cleared: psu_repair;
#   - ps2 with an over-temperature warning: degraded to its power cap;
#   - ps2 unreadable (a file turns to garbage): COMM_LOST -> unknown; then back.
# Usage: daemon_hwmon.sh RACKPOWERD RACKPOWERCTL SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin daemon_hwmon.sh
rpd="$1"
ctl="$2"
src="$3"
log_show daemon-log "$tmp/dlog"
c() { rctl "$@"; }
psu() { c psus --json | grep -o "{\"id\":\"$1\",[^}]*}"; }
psu_state() { psu "$1" | cut -d'"' -f8; }
psu_bus() { psu "$1" | sed -n 's/.*"bus":"\([A-Z]*\)".*/\1/p'; }
# the line number of the first log line matching $1 after line $2 (0 when none)
log_after() { awk -v from="$2" -v pat="$1" 'NR > from && $0 ~ pat { print NR; exit }' "$tmp/dlog"; }
loglines() { wc -l <"$tmp/dlog"; }

# A PSU as the kernel's pmbus driver shows it: mV, mA, µW, m°C, RPM, alarms 0.
put() { printf '%s\n' "$3" >"$1/$2"; }
make_psu() { # dir
    mkdir -p "$1"
    put "$1" name pmbus
    put "$1" in1_label vin;    put "$1" in1_input 230000
    put "$1" in2_label vout1;  put "$1" in2_input 12100
    put "$1" curr1_label iin;  put "$1" curr1_input 4480
    put "$1" curr2_label iout1; put "$1" curr2_input 83000
    put "$1" power1_label pin;  put "$1" power1_input 1030500400
    put "$1" power2_label pout1; put "$1" power2_input 1004000600
    put "$1" temp1_input 31000
    put "$1" temp2_input 45500
    put "$1" fan1_input 9800
    for a in in1_lcrit_alarm in1_crit_alarm in1_min_alarm in1_max_alarm \
        in2_lcrit_alarm in2_crit_alarm in2_min_alarm in2_max_alarm \
        curr2_max_alarm curr2_crit_alarm power2_max_alarm power2_crit_alarm \
        temp1_max_alarm temp1_crit_alarm temp2_max_alarm fan1_alarm fan1_fault; do
        put "$1" "$a" 0
    done
}
hw="$tmp/hwmon"
mkdir -p "$hw"
make_psu "$hw/ps2"
put "$hw/ps2" power2_cap 1500000000 # the device's own limit: what a derating uses

# The demo rack (4 PSUs on 2 buses, 6 servers); ps1 and ps2 read through hwmon.
demo_rack "$src" "$tmp/rack.yaml"
{ cat "$tmp/rack.yaml"
  printf 'devices:\n'
  printf '  - {kind: hwmon, path: %s, psu: ps1, poll_ms: 100}\n' "$hw/ps1"
  printf '  - {kind: hwmon, path: %s, psu: ps2, poll_ms: 100}\n' "$hw/ps2"
  printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock"; } >"$tmp/conf.yaml"

t0=$(date +%s)
rpd_start "$rpd" "$tmp/conf.yaml" "$tmp/db" "$tmp/dlog"
ok # rackpowerd serves its API

# ---- ps1's directory is not there (yet): a clear error, and the API serves ----
until_ok "grep -q 'device hwmon $hw/ps1: psu ps1: $hw/ps1: No such file or directory' \"\$tmp/dlog\"" \
    "the log to name the missing hwmon directory"
c status >"$tmp/out" || fail "status while ps1's directory is missing"; ok
grep -q "^device hwmon $hw/ps1: down: psu ps1: .*No such file or directory" "$tmp/out" ||
    fail "status does not show ps1's device down: $(cat "$tmp/out")"; ok
grep -q "^device hwmon $hw/ps2: up" "$tmp/out" || fail "ps2's device is not up: $(cat "$tmp/out")"; ok
# never read: its reading's age is null, not 0, and it is not stale
psu ps1 | grep -q '"output_w":null,.*"age_s":null,"read_at":null,"stale":false' ||
    fail "ps1 never read should have no age: $(psu ps1)"; ok
# the directory appears (a driver loaded late): the device opens at its next attempt (5 s)
make_psu "$hw/ps1"
until_ok "grep -q 'device hwmon $hw/ps1: opened' \"\$tmp/dlog\"" "ps1's device to open" 150

# ---- telemetry ----
until_ok 'psu ps1 | grep -q "\"output_w\":1004"' "ps1's output power in the API"
p=$(psu ps1)
for want in '"input_w":1030.5' '"voltage_v":12.1' '"current_a":83' '"temperature_c":45.5'; do
    echo "$p" | grep -q "$want" || fail "ps1 telemetry: no $want in $p"; ok
done

# ---- servers ask through the API ----
for s in db1 app1 web1 web2 batch1; do
    c power-on "$s" >"$tmp/out" || fail "power-on $s: $(cat "$tmp/out")"; ok
done
c power-on ml1 >/dev/null || fail "power-on ml1"; ok
[ "$(srv batch1)" = on ] || fail "batch1 should be on, is $(srv batch1)"; ok
[ "$(srv ml1)" = waiting ] || fail "ml1 should wait (n+1), is $(srv ml1)"; ok
[ "$(psu_bus ps3)" = B ] && [ "$(psu_bus ps4)" = B ] || fail "ps3/ps4 should start on B"; ok

# ---- ps1's output is lost: failed after the debounce, the policy re-routes ----
from=$(loglines)
t1=$(date +%s.%N)
put "$hw/ps1" in2_lcrit_alarm 1
until_ok '[ "$(psu_state ps1)" = failed ]' "ps1 failed through hwmon"
t2=$(date +%s.%N)
# debounced: the output-lost alarm counts after 5 reads 100 ms apart, not at the first
awk "BEGIN { exit !($t2 - $t1 >= 0.3) }" || fail "ps1 failed too soon: $t1 -> $t2"; ok
fl=$(log_after "psu_fail ps1: reported by hwmon $hw/ps1" "$from")
[ -n "$fl" ] || fail "no psu_fail ps1 in the log"; ok
sl=$(log_after "switch ps[34] B -> A" "$fl")
[ -n "$sl" ] || fail "no switch of ps3 or ps4 to bus A after ps1 failed"; ok
[ "$(grep -c "psu_fail ps1" "$tmp/dlog")" = 1 ] || fail "ps1's failure told more than once"; ok
moved=$(sed -n "${sl}s/.*switch \(ps[34]\) B -> A.*/\1/p" "$tmp/dlog")
[ "$(psu_bus "$moved")" = A ] || fail "$moved is not on bus A in the API"; ok
for s in db1 app1 web1 web2 batch1; do
    [ "$(srv $s)" = on ] || fail "$s should stay on after a re-route, is $(srv $s)"; ok
done
# the alarm is over: psu_repair after clear_reads clean reads
from=$(loglines)
put "$hw/ps1" in2_lcrit_alarm 0
until_ok '[ "$(psu_state ps1)" = ok ]' "ps1 repaired"
[ -n "$(log_after "psu_repair ps1: reported by hwmon $hw/ps1" "$from")" ] || fail "no psu_repair ps1 in the log"; ok

# ---- ps2 runs hot: degraded to its own power cap ----
from=$(loglines)
put "$hw/ps2" temp1_max_alarm 1
until_ok '[ "$(psu_state ps2)" = degraded ]' "ps2 degraded"
psu ps2 | grep -q '"capacity_w":1500' || fail "ps2 not derated to its 1500 W cap: $(psu ps2)"; ok
[ -n "$(log_after "psu_degrade ps2" "$from")" ] || fail "no psu_degrade ps2 in the log"; ok
put "$hw/ps2" temp1_max_alarm 0
until_ok '[ "$(psu_state ps2)" = ok ]' "ps2 healthy again"
psu ps2 | grep -q '"capacity_w":2000' || fail "ps2's capacity not back: $(psu ps2)"; ok

# ---- ps2 cannot be read: unknown after comm_reads bad reads; readable again: back ----
from=$(loglines)
put "$hw/ps2" in2_input 12abc
until_ok '[ "$(psu_state ps2)" = unknown ]' "ps2 unknown while unreadable"
[ -n "$(log_after "psu_unknown ps2: reported by hwmon $hw/ps2" "$from")" ] || fail "no psu_unknown ps2 in the log"; ok
psu ps2 | grep -q '"output_w":null' || fail "unreadable ps2 still shows telemetry: $(psu ps2)"; ok
kill -0 "$rpd_pid" 2>/dev/null || fail "the daemon died on an unreadable PSU"; ok
# its figures are withdrawn, its age goes on from the last good read: stale after 3 s
until_ok 'psu ps2 | grep -q "\"age_s\":[3-9][0-9.]*,\"read_at\":[0-9.]*,\"stale\":true"' "ps2's reading stale while unreadable" 100
c status | head -n 1 | grep -Eq "ps2:? unreadable for [0-9]+ s" ||
    fail "the headline does not name ps2: $(c status | head -n 1)"; ok
put "$hw/ps2" in2_input 12100
until_ok '[ "$(psu_state ps2)" = ok ]' "ps2 back once readable"
psu ps2 | grep -q '"voltage_v":12.1' || fail "ps2 telemetry not back: $(psu ps2)"; ok
until_ok 'psu ps2 | grep -q "\"age_s\":0[.0-9]*,\"read_at\":[0-9.]*,\"stale\":false"' "ps2's reading fresh again" 30

# ---- stop: the workers leave their waits promptly ----
kill "$rpd_pid"
i=0
while kill -0 "$rpd_pid" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt 50 ] && fail "rackpowerd did not stop within 5 s"
    sleep 0.1
done
ok # stopped within 5 s
rpd_stop
[ $stop_rc -eq 0 ] || fail "rackpowerd exited $stop_rc after SIGTERM"; ok
grep -q "stopped" "$tmp/dlog" || fail "no 'stopped' in the log"; ok
echo "ps1 failed $(awk "BEGIN { printf \"%.2f\", $t2 - $t1 }") s after its alarm was set (poll 100 ms, 5 reads)"
echo "$test_name: ran $(($(date +%s) - t0)) s"
test_end
