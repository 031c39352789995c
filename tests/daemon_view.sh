#!/bin/sh
# What an operator sees, against real rackpowerd processes:
#   - why a server waits: GET /v1/servers/{id} reason and queue_position with
#     several waiting requests of different priorities, in the order the
#     policy grants them (priority, then first come), and `rackpowerctl
#     servers ID` in one line; an unknown id is 404 / exit 1; after a restart
#     the reasons come back from the journal;
#   - events on the wall clock (local ISO 8601 with its offset), the
#     operator's note in the table, t kept in --json;
#   - tables with units in their headers;
#   - a boot list does not make a server an operator powered off ask again
#     after a restart, and still boots the servers with no such record.
# Usage: daemon_view.sh RACKPOWERD RACKPOWERCTL SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin daemon_view.sh
rpd="$1"
ctl="$2"
src="$3"
log_show daemon-log "$tmp/log"
c() { "$ctl" --unix-socket "$tmp/rp.sock" "$@"; }
# a server's field as the API gives it (a number, null, or a string with its quotes)
field() { c servers "$1" --json | sed -n "s/.*\"$2\":\(null\|\"[^\"]*\"\|[0-9.][0-9.]*\).*/\1/p"; }
last_id() { c status --json | sed -n 's/.*"last_event_id":\([0-9]*\).*/\1/p'; }

demo_rack "$src" "$tmp/rack.yaml"
apiconf=$(printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock")
{ cat "$tmp/rack.yaml"; echo "$apiconf"; } >"$tmp/conf.yaml"

# ---- why a server waits ----
rpd_start "$rpd" "$tmp/conf.yaml" "$tmp/rp.db" "$tmp/log"
# ps3 and ps4 out: 4000 W on A, 2000 W under n+1; db1 takes 1000 W of it
c out-of-service psu ps3 >/dev/null || fail "out-of-service ps3"
c out-of-service psu ps4 >/dev/null || fail "out-of-service ps4"
c power-on db1 >/dev/null || fail "power-on db1"
# asked least important first: the queue is priority order, not arrival order
for s in ml1 web1 app1; do
    c power-on $s | grep -q "^$s: queued" || fail "$s was not queued"; ok
done
[ "$(field app1 queue_position)" = 1 ] || fail "app1 (p2): queue_position $(field app1 queue_position)"; ok
[ "$(field web1 queue_position)" = 2 ] || fail "web1 (p3): queue_position $(field web1 queue_position)"; ok
[ "$(field ml1 queue_position)" = 3 ] || fail "ml1 (p5): queue_position $(field ml1 queue_position)"; ok
[ "$(field db1 queue_position)" = null ] || fail "db1 is on but has a queue_position"; ok
[ "$(field web2 queue_position)" = null ] || fail "web2 is off but has a queue_position"; ok
[ "$(field ml1 reason)" = '"queued: n+1: losing ps1 would leave A+B 2000 W for 4000 W"' ] ||
    fail "ml1's reason: $(field ml1 reason)"; ok
[ "$(field db1 reason)" = '"fits with n+1 kept: 1000 of 4000 W allocated"' ] ||
    fail "db1's reason: $(field db1 reason)"; ok
[ "$(field web2 reason)" = null ] || fail "web2 was never decided on: $(field web2 reason)"; ok
# a second request changes nothing: the reason that stands is the queue's
c power-on ml1 | grep -q '^ml1: ignored' || fail "a second power-on of ml1 was not ignored"; ok
[ "$(field ml1 reason)" = '"queued: n+1: losing ps1 would leave A+B 2000 W for 4000 W"' ] ||
    fail "an ignored request replaced ml1's reason: $(field ml1 reason)"; ok
# the list has them too
c servers --json | grep -q '"id":"web1",[^}]*"queue_position":2,"reason":"queued: ' ||
    fail "GET /v1/servers: web1 has no queue_position"; ok

c servers web1 >"$tmp/out" || fail "servers web1"; ok
[ "$(cat "$tmp/out")" = "web1: waiting, priority 3, granted 0 of 1300 W, draws - W, queue position 2; queued: n+1: losing ps1 would leave A+B 2000 W for 2300 W" ] ||
    fail "servers web1: $(cat "$tmp/out")"; ok
c servers db1 | grep -Eq '^db1: on, priority 1, granted 1000 of 1000 W, draws ([0-9]+|-) W, not queued; fits with n\+1 kept' ||
    fail "servers db1: $(c servers db1)"; ok
c servers web2 | grep -qx 'web2: off, priority 3, granted 0 of 800 W, draws - W, not queued; no decision about it on record' ||
    fail "servers web2: $(c servers web2)"; ok
c servers ghost >/dev/null 2>"$tmp/err"; [ $? -eq 1 ] || fail "servers ghost: exit is not 1"; ok
[ "$(cat "$tmp/err")" = "rackpowerctl: no server 'ghost'" ] || fail "servers ghost: $(cat "$tmp/err")"; ok
c servers 'bad/id' >/dev/null 2>&1; [ $? -eq 2 ] || fail "servers with a bad id: exit is not 2"; ok
c servers db1 web1 >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] || fail "servers with two ids: exit is not 2"; ok
grep -q 'servers: too many arguments' "$tmp/err" || fail "two ids: $(cat "$tmp/err")"; ok

# the queue moves: a release lets the first in; the others move up
c power-off db1 >/dev/null || fail "power-off db1"
[ "$(field app1 state)" = '"on"' ] || fail "app1 was not granted after db1's release"; ok
[ "$(field web1 queue_position)" = 1 ] || fail "web1 did not move up: $(field web1 queue_position)"; ok
[ "$(field app1 queue_position)" = null ] || fail "app1 is on but queued"; ok

# the reasons survive a restart (read back from the journal)
rpd_stop
rpd_start "$rpd" "$tmp/conf.yaml" "$tmp/rp.db" "$tmp/log"
[ "$(field ml1 reason)" = '"queued: n+1: losing ps1 would leave A+B 2000 W for 4000 W"' ] ||
    fail "ml1's reason after a restart: $(field ml1 reason)"; ok
[ "$(field ml1 queue_position)" = 2 ] || fail "ml1's queue_position after a restart"; ok

# ---- tables: units in the headers, whole watts ----
c servers | head -n 1 | grep -Eq '^ID +STATE +GRANT W +ASKS W +PRIO +BUSES +CHASSIS +DRAW W +QUEUE +AGE$' ||
    fail "servers header: $(c servers | head -n 1)"; ok
c servers | grep -Eq '^web1 +waiting +0 +1300 +3 +A +c2 +- +1 +[0-9.]+s$' || fail "servers: web1 row"; ok
c psus | head -n 1 | grep -Eq '^ID +STATE +OOS +BUS +CAPACITY W +RATED W +FEED +SWITCH +OUTPUT W' ||
    fail "psus header: $(c psus | head -n 1)"; ok
c buses | head -n 1 | grep -Eq '^ID +STATE +OOS +CAPACITY W +LOAD W +PSUS' ||
    fail "buses header: $(c buses | head -n 1)"; ok
# the simulated PSUs' output is measured in fractions of a watt: whole in the table
until_ok "c psus --json | grep -q '\"output_w\":[0-9]*\\.[0-9]'" "a fractional output_w in the API"
c psus | awk 'NR > 1 { print $(NF - 2) }' | grep -v '^[0-9-]*$' >"$tmp/frac" && fail "psus: fractional watts: $(cat "$tmp/frac")"
ok
rpd_stop

# ---- a boot list, the wall clock and notes ----
{
    cat "$tmp/rack.yaml"
    printf 'devices:\n  - kind: sim\n    boot: [db1, app1, web1, web2, batch1]\n    poll_ms: 100\n'
    echo "$apiconf"
} >"$tmp/boot.yaml"
rpd_start "$rpd" "$tmp/boot.yaml" "$tmp/boot.db" "$tmp/log"
until_ok '[ "$(field batch1 state)" = "\"on\"" ]' "the boot list powers batch1"
c power-off web2 --reason "cable check" >/dev/null || fail "power-off web2"

# the wall clock, local ISO 8601 with its offset: the journal's time, as date(1) reads it
ev=$(c events --tail 1 --json)
id=$(echo "$ev" | sed -n 's/^{"id":\([0-9]*\),.*/\1/p')
time=$(echo "$ev" | sed -n 's/.*"time":\([0-9]*\).*/\1/p')
echo "$ev" | grep -q '"t":[0-9.]*,' || fail "events --json has no t: $ev"; ok
for tz in UTC XYZ-5:30; do
    want=$(TZ=$tz date -d "@$time" +%Y-%m-%dT%H:%M:%S%:z | sed 's/+/\\+/')
    TZ=$tz c events --tail 1 >"$tmp/out" || fail "events"
    grep -Eq "^ +$id $want  release +web2 .*orderly power-off.* \[note: cable check\]$" "$tmp/out" ||
        fail "events in $tz (want $want): $(cat "$tmp/out")"; ok
done

# a restart over the same database: web2's power-off is on record, the boot
# list does not make it ask again; the others are on as the ledger says
since=$(last_id)
rpd_stop
rpd_start "$rpd" "$tmp/boot.yaml" "$tmp/boot.db" "$tmp/log"
# the boot list is applied at the sim's first poll, which reports the draws
until_ok '[ "$(field db1 draw_w)" != null ]' "the simulated rack's first poll"
sleep 0.3 # a few more polls: a request from the boot list would have been decided by now
[ "$(field web2 state)" = '"off"' ] || fail "web2 asked again after a restart: $(field web2 state)"; ok
c events --since "$since" --json | grep '"server":"web2"' >"$tmp/out" &&
    fail "web2 was decided on after the restart: $(cat "$tmp/out")"
ok
for s in db1 app1 web1 batch1; do
    [ "$(field $s state)" = '"on"' ] || fail "$s is not on after the restart: $(field $s state)"; ok
done
rpd_stop

# a server with no record of a power-off still boots: a fresh database with
# the same boot list powers web2
rpd_start "$rpd" "$tmp/boot.yaml" "$tmp/fresh.db" "$tmp/log"
until_ok '[ "$(field web2 state)" = "\"on\"" ]' "the boot list powers web2 on a fresh database"
rpd_stop

test_end
