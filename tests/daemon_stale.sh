#!/bin/sh
# Stale data looks stale (issue 8, section 5): rackpowerd reads the demo rack
# from `rackpower-sim serve` over Modbus TCP; the simulator is killed. The
# API's readings carry growing ages and are marked stale, the tables mark the
# old figures with '?', the headline names the PSUs it cannot read instead of
# saying protected. The simulator comes back on the same port after about
# 15 s: polling is back within seconds, not after reprobe_s (60 s here) nor
# after the re-probes' back-off. The recovery time is
# printed; the bound asserted (15 s) is generous, well below reprobe_s.
# Usage: daemon_stale.sh RACKPOWERD RACKPOWERCTL RACKPOWER-SIM SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin daemon_stale.sh
rpd="$1"
ctl="$2"
sim="$3"
src="$4"
need socat
log_show daemon-log "$tmp/dlog"
log_show simulator-log "$tmp/slog"
rpc() { rctl "$@"; }
# the age_s of one PSU in /v1/psus
psu_age() { rpc psus --json | grep -o "\"id\":\"$1\"[^}]*" | sed -n 's/.*"age_s":\([0-9.]*\).*/\1/p'; }
now() { date +%s.%N; }

demo_rack "$src" "$tmp/rack.yaml"
sim_start "$sim" "$tmp/sout" "$tmp/slog" "$tmp/rack.yaml" --tcp 127.0.0.1:0 --control "$tmp/ctl"
ok # the simulator serves
mport=$sim_port
{ cat "$tmp/rack.yaml"
  printf "devices:\n  - kind: modbus-tcp\n    host: 127.0.0.1\n    port: $mport\n"
  printf "    poll_ms: 500\n    timeout_ms: 500\n    reprobe_s: 60\n    units:\n"
  demo_units
  printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock"; } >"$tmp/conf.yaml"
sim_ctl "$tmp/ctl" "power_on db1 app1 web1 web2 batch1" >/dev/null
rpd_start "$rpd" "$tmp/conf.yaml" "$tmp/db" "$tmp/dlog"
ok # rackpowerd serves its API
until_ok '[ "$(srv batch1)" = on ]' "batch1 granted"
until_ok 'rpc servers --json | grep -q "\"id\":\"db1\"[^}]*\"draw_w\":[0-9][^}]*\"age_s\":[0-9.]*,\"read_at\":[0-9.]*,\"stale\":false"' "db1's draw fresh, with its age"

# --- live: every reading fresh, the headline protected
rpc psus --json >"$tmp/psus"
[ "$(grep -o '"stale":false' "$tmp/psus" | wc -l)" -eq 4 ] ||
    fail "four fresh PSU readings expected: $(cat "$tmp/psus")"; ok
grep -q '"id":"ps1"[^}]*"output_w":[0-9][^}]*"age_s":[0-2]\(\.[0-9]\)\{0,1\},"read_at":[0-9.]*,"stale":false' "$tmp/psus" ||
    fail "ps1's telemetry has no fresh age: $(cat "$tmp/psus")"; ok
rpc status >"$tmp/status"
grep -q "^rack demo: n+1 protected;" "$tmp/status" || fail "headline: $(head -1 "$tmp/status")"; ok
grep -q "^stale:" "$tmp/status" && fail "nothing is stale yet: $(cat "$tmp/status")"; ok
rpc status --json | grep -q '"unknown":\[\],"stale":{"psus":0,"servers":0}' ||
    fail "status: nothing unknown, nothing stale expected: $(rpc status --json)"; ok
rpc psus | grep -q "?" && fail "a fresh table is marked stale: $(rpc psus)"; ok

# --- the simulator dies
sim_stop KILL
t_kill=$(now)
until_ok 'rpc status | grep -q "^rack demo: n+1 unknown: ps1, ps2, ps3, ps4 unreadable for [0-9]* s;"' "the headline names the unreadable PSUs"
rpc status | grep -q "protected;" && fail "the headline still says protected: $(rpc status | head -1)"; ok
until_ok 'rpc psus | grep -q "^ps1 .* [0-9][0-9.]*? *[0-9.]*s "' "ps1's output marked stale in the table"
until_ok 'rpc servers | grep -q "^db1 .* [0-9][0-9]*? .* [0-9.]*s$"' "db1's draw marked stale in the table"
rpc servers | grep -q "^? stale: not read for more than 3 polls" || fail "no footnote: $(rpc servers)"; ok
until_ok 'rpc status | grep -q "^stale: 4 psu readings, 6 server draws"' "status counts the stale readings"
until_ok 'rpc status | grep -q "^device modbus-tcp 127.0.0.1:$mport: down: .* (last read [0-9.]*s ago)$"' "the device's last read shown"
rpc status --json >"$tmp/st"
grep -q '"unknown":\[{"psu":"ps1","age_s":[0-9.]*},' "$tmp/st" || fail "status.unknown: $(cat "$tmp/st")"; ok
grep -q '"stale_after_s":3' "$tmp/st" || fail "the stale limit (3 polls of 500 ms, at least 3 s): $(cat "$tmp/st")"; ok
rpc psus --json | grep -q '"id":"ps2"[^}]*"state":"unknown"[^}]*"output_w":[0-9][^}]*"stale":true' ||
    fail "ps2's last figures shown, marked stale: $(rpc psus --json)"; ok
# ages grow while nothing changes (the snapshot is rebuilt every second)
a1=$(psu_age ps3)
sleep 2
a2=$(psu_age ps3)
awk -v a="$a1" -v b="$a2" 'BEGIN { exit !(b >= a + 1.5 && a >= 3) }' ||
    fail "ps3's age should grow by about 2 s: $a1 then $a2"; ok
rpc alarms | grep -q "^psu_unknown *ps1 " || fail "no psu_unknown alarm: $(rpc alarms)"; ok
# longer down: the re-probes back off (to 8 s and more); the connect tried
# at every poll brings them back at once when the simulator returns
sleep 8
down_s=$(awk -v a="$t_kill" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')

# --- back on the same port: polling resumes within seconds
sim_start "$sim" "$tmp/sout" "$tmp/slog" "$tmp/rack.yaml" --tcp 127.0.0.1:$mport --control "$tmp/ctl"
t_back=$(now)
until_ok 'rpc status --json | grep -q "\"unknown\":\[\],\"stale\":{\"psus\":0,\"servers\":0}"' "every reading fresh again" 150
back_s=$(awk -v a="$t_back" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
echo "daemon_stale.sh: down for $down_s s; polling back $back_s s after the simulator returned (reprobe_s 60, poll_ms 500)"
awk -v b="$back_s" 'BEGIN { exit !(b < 15) }' || fail "polling came back after $back_s s"; ok
until_ok 'rpc status | grep -q "^rack demo: n+1 protected;"' "the headline protected again"
rpc status | grep -q "unit 200 orv3-psu *live" || fail "unit 200 not live: $(rpc status)"; ok
rpc psus | grep -q "?" && fail "the table still marks stale figures: $(rpc psus)"; ok
rpd_stop
sim_stop
test_end
