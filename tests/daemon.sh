#!/bin/sh
# rackpowerd end to end with its in-process simulated rack, driven through
# rackpowerctl and raw HTTP (socat): status, grants and queueing, the API's
# 4xx answers, an event stream, a PSU taken out of service, kill -9 and a
# restart on the same database, SIGHUP with a broken and a good config,
# SIGTERM, and rackpowerctl against a daemon that is gone.
# Usage: daemon.sh RACKPOWERD RACKPOWERCTL SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin daemon.sh
rpd="$1"
ctl="$2"
src="$3"
need socat
log_show "daemon-log" "$tmp/log"

# The demo rack without its timeline, the API on any free port and on a
# socket of the test's own (root and the daemon's own uid are admin there:
# the commands go through it; tests/daemon_auth.sh tries the others).
demo_rack "$src" "$tmp/rack.yaml"
sock="$tmp/rp.sock"
apiconf="api:\n  port: 0\n  socket: $sock\n  tokens: $tmp/tokens\n  plain_reads: true\n"
{ cat "$tmp/rack.yaml"; printf "$apiconf"'  keepalive_s: 1\n'; } >"$tmp/conf.yaml"
cp "$tmp/conf.yaml" "$tmp/good.yaml"

# Starts the daemon on the test database; sets rpd_pid, api and port.
start() { rpd_start "$rpd" "$tmp/conf.yaml" "$tmp/rp.db" "$tmp/log"; }
c() { "$ctl" --unix-socket "$sock" "$@"; }
# raw HTTP on the socket: prints the status code of the answer to the request in $1
raw() {
    printf '%b' "$1" | socat -t 5 - "UNIX-CONNECT:$sock" >"$tmp/raw" 2>/dev/null
    sed -n '1s/^HTTP\/1\.[01] \([0-9]*\).*/\1/p' "$tmp/raw"
}
expect_raw() { # code request what
    got=$(raw "$2")
    [ "$got" = "$1" ] || fail "$3: expected $1, got '$got': $(tail -c 200 "$tmp/raw")"
    ok
}
srv_state() { # the "id state watts" of every server, from the API
    c servers --json | grep -o '"id":"[^"]*","state":"[^"]*","watts":[0-9.]*'
}

# ---- usage ----
"$ctl" >/dev/null 2>&1; [ $? -eq 2 ] || fail "rackpowerctl without a command: exit is not 2"; ok
"$ctl" bogus >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] || fail "unknown command: exit is not 2"; ok
grep -q "unknown command 'bogus'" "$tmp/err" || fail "unknown command not named"; ok
"$ctl" power-on >/dev/null 2>&1; [ $? -eq 2 ] || fail "power-on without an id: exit is not 2"; ok
"$rpd" >/dev/null 2>&1; [ $? -eq 2 ] || fail "rackpowerd without --config: exit is not 2"; ok
printf 'rack:\n  buses: [A]\ndevices:\n  - {kind: modbus-tcp, port: 502}\n' >"$tmp/bad.yaml"
"$rpd" --config "$tmp/bad.yaml" --db "$tmp/x.db" --foreground 2>"$tmp/err"; [ $? -eq 1 ] ||
    fail "bad config: exit is not 1"; ok
grep -q "bad.yaml:4:5: missing required key 'host' in modbus-tcp device" "$tmp/err" ||
    fail "bad config message: $(cat "$tmp/err")"; ok

# ---- serving ----
start
c status >"$tmp/out" || fail "status"; ok
grep -q '^rack demo: n+1 protected; 0 of 10000 W allocated' "$tmp/out" || fail "status: $(cat "$tmp/out")"; ok
grep -q '^device sim: up' "$tmp/out" || fail "status shows no sim device"; ok
c status --json | grep -q '"name":"demo","protection":"n+1"' || fail "status --json"; ok

# an event stream, from now on
c events --follow --json >"$tmp/follow" 2>&1 &
fpid=$!
track "$fpid"
until_ok "grep -q '\"event\":\"device\"' '$tmp/follow'"

c power-on db1 >"$tmp/out" || fail "power-on db1"; ok
grep -qx 'db1: granted 1000 W (fits with n+1 kept: 1000 of 10000 W allocated)' "$tmp/out" ||
    fail "power-on answer: $(cat "$tmp/out")"; ok
for s in app1 web1 web2 batch1; do c power-on $s >/dev/null || fail "power-on $s"; ok; done
c power-on ml1 --json >"$tmp/out" || fail "power-on ml1"; ok
grep -q '"server":"ml1","result":"queued","state":"waiting"' "$tmp/out" || fail "ml1: $(cat "$tmp/out")"; ok
grep -q 'losing ps3 would leave A+B 7000 W for 8000 W' "$tmp/out" || fail "ml1: no reason"; ok
c power-on ml1 >"$tmp/out" || fail "power-on ml1 again"; ok
grep -q '^ml1: ignored' "$tmp/out" || fail "second power-on: $(cat "$tmp/out")"; ok

until_ok "grep -q '\"event\":\"grant\",\"server\":\"db1\"' '$tmp/follow'"
stop "$fpid"

c servers >"$tmp/out" || fail "servers"; ok
grep -Eq '^db1 +on +1000 +1000 +1 +A,B +c1' "$tmp/out" || fail "servers table: $(cat "$tmp/out")"; ok
grep -Eq '^ml1 +waiting +0 +3000 +5' "$tmp/out" || fail "servers table: ml1"; ok
c psus >"$tmp/out" || fail "psus"; ok
grep -Eq '^ps3 +ok +no +B +3000 +3000 +F1 +fet' "$tmp/out" || fail "psus table: $(cat "$tmp/out")"; ok
c psus --json | grep -q '"id":"ps1","state":"ok","out_of_service":false,"bus":"A"' ||
    fail "psus --json"; ok
c buses >/dev/null || fail "buses"; ok
c events --tail 3 >"$tmp/out" || fail "events"; ok
[ "$(wc -l <"$tmp/out")" -eq 3 ] || fail "events --tail 3: $(cat "$tmp/out")"; ok

c power-off web2 >"$tmp/out" || fail "power-off web2"; ok
grep -q '^web2: released' "$tmp/out" || fail "power-off answer: $(cat "$tmp/out")"; ok
c power-on web2 >/dev/null || fail "power-on web2 again"; ok

# ---- the API's refusals ----
c power-on ghost >/dev/null 2>"$tmp/err"; [ $? -eq 1 ] || fail "unknown server: exit is not 1"; ok
[ "$(cat "$tmp/err")" = "rackpowerctl: no server 'ghost'" ] || fail "unknown server: $(cat "$tmp/err")"; ok
c out-of-service psu ghost >/dev/null 2>"$tmp/err"; [ $? -eq 1 ] || fail "unknown psu"; ok
[ "$(cat "$tmp/err")" = "rackpowerctl: no psu 'ghost'" ] || fail "unknown psu: $(cat "$tmp/err")"; ok
H='Host: t\r\nConnection: close\r\nContent-Type: application/json\r\n'
expect_raw 404 "GET /v1/servers/ghost HTTP/1.1\r\n$H\r\n" "unknown server"
grep -q '{"error":"no server '"'"'ghost'"'"'"}' "$tmp/raw" || fail "404 body: $(cat "$tmp/raw")"; ok
expect_raw 404 "GET /v1/psus/ghost HTTP/1.1\r\n$H\r\n" "unknown psu"
expect_raw 404 "POST /v1/buses/Z/out-of-service HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n" "unknown bus"
expect_raw 404 "GET /v2/status HTTP/1.1\r\n$H\r\n" "unknown path"
expect_raw 404 "POST /v1/servers/db1/reboot HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n" "unknown verb"
expect_raw 405 "DELETE /v1/status HTTP/1.1\r\n$H\r\n" "DELETE status"
grep -qi '^Allow: GET, HEAD' "$tmp/raw" || fail "405 without Allow"; ok
expect_raw 405 "GET /v1/servers/db1/power-on HTTP/1.1\r\n$H\r\n" "GET a command"
expect_raw 405 "PUT /v1/servers HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n" "PUT servers"
# bytes that are not UTF-8 in what a message echoes (a method, an id) still
# get their answer (fuzz_api found these dropped without one)
expect_raw 405 "GET\\0366T /v1/status HTTP/1.1\r\n$H\r\n" "a method with a byte above 0x7f"
grep -q '"error":"method GET?T not allowed' "$tmp/raw" || fail "405 body: $(cat "$tmp/raw")"; ok
expect_raw 404 "GET /v1/servers/db%F6 HTTP/1.1\r\n$H\r\n" "an id with a byte above 0x7f"
grep -q "no server 'db?'" "$tmp/raw" || fail "404 body: $(cat "$tmp/raw")"; ok
# strict HTTP: what a proxy and this server could read differently is refused
expect_raw 400 "POST /v1/servers/web2/power-off%00junk HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n" "a %00 in the path"
grep -q '"error":"a NUL byte (%00) in the request target"' "$tmp/raw" || fail "%00 body: $(cat "$tmp/raw")"; ok
expect_raw 400 "GET /v1/servers/db1?x=%00 HTTP/1.1\r\n$H\r\n" "a %00 in the query"
c servers --json | grep -q '"id":"web2","state":"on"' || fail "the %00 request acted on web2"; ok
expect_raw 400 "GET /v1/status HTTP/1.1\r\nConnection: close\r\n\r\n" "HTTP/1.1 without Host"
grep -q '"error":"missing Host header"' "$tmp/raw" || fail "no Host body: $(cat "$tmp/raw")"; ok
expect_raw 400 "GET /v1/status HTTP/1.0\r\n\r\n" "HTTP/1.0 without Host"
expect_raw 400 "POST /v1/servers/web2/power-off HTTP/1.1\r\n${H}Content-Length: 0\r\nContent-Length: 7\r\n\r\n{\"x\":1}" "two different Content-Length headers"
grep -q '"error":"two different Content-Length headers"' "$tmp/raw" || fail "Content-Length body: $(cat "$tmp/raw")"; ok
c servers --json | grep -q '"id":"web2","state":"on"' || fail "the two-length request acted on web2"; ok
expect_raw 200 "GET /v1/status HTTP/1.1\r\n${H}Content-Length: 0\r\nContent-Length: 0\r\n\r\n" "the same Content-Length twice"
expect_raw 400 "POST /v1/servers/db1/power-on HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\n{bad}" "bad JSON"
expect_raw 400 "POST /v1/servers/db1/power-on HTTP/1.1\r\n${H}Content-Length: 7\r\n\r\n{\"x\":1}" "unknown key"
expect_raw 400 "POST /v1/psus/ps1/out-of-service HTTP/1.1\r\n${H}Content-Length: 2\r\n\r\n[]" "not an object"
expect_raw 400 "POST /v1/psus/ps1/out-of-service HTTP/1.1\r\n${H}Content-Length: 15\r\n\r\n{\"force\":\"yes\"}" "force not a boolean"
grep -q '"error":"body: force: expected true or false"' "$tmp/raw" || fail "force: $(cat "$tmp/raw")"; ok
expect_raw 400 "POST /v1/servers/db1/power-on HTTP/1.1\r\n${H}Content-Length: 16\r\n\r\n{\"dry_run\":true}" "dry_run on power-on"
expect_raw 400 "POST /v1/psus/ps1/in-service HTTP/1.1\r\n${H}Content-Length: 14\r\n\r\n{\"force\":true}" "force on in-service"
expect_raw 200 "POST /v1/psus/ps1/out-of-service HTTP/1.1\r\n${H}Content-Length: 16\r\n\r\n{\"dry_run\":true}" "a dry run"
grep -q '"dry_run":true,"would_change":true,"changed":false' "$tmp/raw" || fail "dry run: $(cat "$tmp/raw")"; ok
expect_raw 400 "GET /v1/events?since=abc HTTP/1.1\r\n$H\r\n" "bad since"
expect_raw 400 "GET /v1/events?limit=0 HTTP/1.1\r\n$H\r\n" "bad limit"
expect_raw 400 "GET /v1/status?x=1 HTTP/1.1\r\n$H\r\n" "unknown parameter"
long=$(head -c 3000 /dev/zero | tr '\0' a)
expect_raw 414 "GET /v1/servers/$long HTTP/1.1\r\n$H\r\n" "overlong URL"
huge=$(head -c 40000 /dev/zero | tr '\0' a)
# beyond the server's buffer: libmicrohttpd's own 414, or the answer lost to the close
got=$(raw "GET /v1/servers/$huge HTTP/1.1\r\n$H\r\n")
case "$got" in 4* | "") ok ;; *) fail "a URL beyond the server's buffer: '$got'" ;; esac
body=$(head -c 5000 /dev/zero | tr '\0' a)
expect_raw 413 "POST /v1/servers/db1/power-on HTTP/1.1\r\n${H}Content-Length: 5000\r\n\r\n$body" "large body"
raw "GARBAGE\r\n\r\n" >/dev/null # not HTTP: refused or dropped, never a crash
expect_raw 200 "GET /v1/status HTTP/1.1\r\n$H\r\n" "still serving"

# ---- an operator takes PSUs out: re-route, then cap and shed ----
c out-of-service psu ps1 --reason "fan swap" >"$tmp/out" || fail "out-of-service ps1"; ok
grep -q '^psu ps1: out of service, failed' "$tmp/out" || fail "oos answer: $(cat "$tmp/out")"; ok
grep -Eq '^  switch +ps4 +B -> A' "$tmp/out" || fail "oos: no re-route: $(cat "$tmp/out")"; ok
c psus --json | grep -q '"id":"ps4","state":"ok","out_of_service":false,"bus":"A"' ||
    fail "ps4 not re-routed in /v1/psus"; ok
c events --tail 5 --json | grep -q '"note":"fan swap"' || fail "the operator's reason is not journaled"; ok
grep -Eq 'switch +ps1 +A -> none +out of service: ps1 leaves every bus' "$tmp/out" ||
    fail "oos: ps1's switch did not open: $(cat "$tmp/out")"; ok
c psus --json | grep -q '"id":"ps1","state":"failed","out_of_service":true,"bus":null' ||
    fail "ps1 still on a bus in /v1/psus: $(c psus --json)"; ok
# ps4 out would shed and cap: refused without --force, nothing done
srv_state >"$tmp/states0"
c out-of-service psu ps4 >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] || fail "oos ps4 without --force: not refused: $(cat "$tmp/out")"; ok
grep -q '^psu ps4: refused: out of service would cause:' "$tmp/out" || fail "refusal: $(cat "$tmp/out")"; ok
grep -Eq '^  shed +batch1 +700 -> 0 W p4' "$tmp/out" || fail "refusal: no shed: $(cat "$tmp/out")"; ok
grep -q 'psu ps4 out of service would shed batch1' "$tmp/err" || fail "refusal: $(cat "$tmp/err")"; ok
srv_state >"$tmp/states1"
cmp -s "$tmp/states0" "$tmp/states1" || fail "a refused oos changed: $(diff "$tmp/states0" "$tmp/states1")"; ok
c out-of-service psu ps4 --force >"$tmp/out" || fail "out-of-service ps4 --force"; ok
grep -Eq '^  shed +batch1 ' "$tmp/out" || fail "forced: no shed listed: $(cat "$tmp/out")"; ok
srv_state >"$tmp/states"
grep -q '"id":"batch1","state":"shed","watts":0' "$tmp/states" || fail "batch1 not shed: $(cat "$tmp/states")"; ok
grep -q '"id":"app1","state":"capped","watts":1000' "$tmp/states" || fail "app1 not capped"; ok
grep -q '"id":"db1","state":"on","watts":1000' "$tmp/states" || fail "db1 not on"; ok
c status | grep -q 'psus: 4 (2 failed)' || fail "status: failed PSUs"; ok
c out-of-service psu ps4 | grep -q 'out of service (already)' || fail "oos twice"; ok

# ---- kill -9: every grant comes back ----
rpd_stop KILL
cp "$tmp/log" "$tmp/log.1"
start
until_ok 'srv_state >"$tmp/states2" && [ -s "$tmp/states2" ]'
cmp -s "$tmp/states" "$tmp/states2" ||
    fail "after kill -9: $(diff "$tmp/states" "$tmp/states2")"; ok
grep -q 'from the ledger: 1 on, 1 capped, 3 shed, 1 waiting' "$tmp/log" ||
    fail "restart: $(grep started "$tmp/log")"; ok
c psus --json | grep -q '"id":"ps1","state":"failed","out_of_service":true' ||
    fail "the out-of-service flag did not survive"; ok
c in-service psu ps1 >"$tmp/out" || fail "in-service ps1"; ok
grep -q '^psu ps1: in service, ok' "$tmp/out" || fail "in-service: $(cat "$tmp/out")"; ok
c events --tail 20 | grep -Eq 'psu_repair +ps1 +back in service by operator' ||
    fail "in-service: no psu_repair event"; ok

# ---- SIGHUP ----
sed 's/protection: n+1/protection: n+3/' "$tmp/good.yaml" >"$tmp/conf.yaml"
kill -HUP "$rpd_pid"
until_ok "grep -q 'reload refused' '$tmp/log'"
grep -q "reload refused: $tmp/conf.yaml:3:15: protection: expected one of none, n+1, n+n, got 'n+3'; the running config stays" "$tmp/log" ||
    fail "reload message: $(grep reload "$tmp/log")"; ok
kill -0 "$rpd_pid" || fail "died on a bad reload"; ok
c status | grep -q '^rack demo: n+1' || fail "the running config changed"; ok
sed 's/id: ml1,    power_w: 3000, priority: 5/id: ml1,    power_w: 3000, priority: 2/' "$tmp/good.yaml" >"$tmp/conf.yaml"
kill -HUP "$rpd_pid"
until_ok "grep -q 'reload applied' '$tmp/log'"
grep -q 'reload applied: ml1 priority 5 -> 2' "$tmp/log" || fail "reload: $(grep reload "$tmp/log")"; ok
c servers --json | grep -q '"id":"ml1","state":"[a-z]*","watts":[0-9]*,"power_w":3000,"min_w":3000,"priority":2' ||
    fail "priority not reloaded"; ok
# new1 as the last server (before api:)
sed 's/^api:/    - {id: new1, power_w: 100, priority: 1, buses: [A]}\napi:/' "$tmp/good.yaml" >"$tmp/conf.yaml"
kill -HUP "$rpd_pid"
until_ok "grep -q 'shape changed' '$tmp/log'"
grep -q "server 'new1' added); that needs a restart" "$tmp/log" || fail "shape: $(grep refused "$tmp/log")"; ok
c servers --json | grep -q new1 && fail "a refused reload added a server"; ok

# ---- alarms: under hold, redundancy lost raises one alarm, and it clears ----
sed -e 's/id: ml1,    power_w: 3000, priority: 5/id: ml1,    power_w: 3000, priority: 2/' \
    -e 's/on_protection_loss: shed/on_protection_loss: hold/' "$tmp/good.yaml" >"$tmp/conf.yaml"
kill -HUP "$rpd_pid"
until_ok "grep -q 'reload applied: on_protection_loss -> hold' '$tmp/log'"
c alarms | grep -q '^no active alarms' || fail "alarms before: $(c alarms)"; ok
since=$(c status --json | sed -n 's/.*"last_event_id":\([0-9]*\).*/\1/p')
c out-of-service psu ps3 >/dev/null || fail "out-of-service ps3"
c out-of-service psu ps2 >/dev/null || fail "out-of-service ps2"
c alarms >"$tmp/out" || fail "alarms"
grep -Eq '^redundancy_lost +demo +[0-9-]+T[0-9:]+[+-][0-9:]+ +n\+1' "$tmp/out" || fail "no alarm: $(cat "$tmp/out")"; ok
c status --json | grep -q '"alarms":\[{"kind":"redundancy_lost","subject":"demo","since":' ||
    fail "status: no alarms"; ok
c in-service psu ps2 >/dev/null || fail "in-service ps2"
c in-service psu ps3 >/dev/null || fail "in-service ps3"
c alarms | grep -q '^no active alarms' || fail "alarm not cleared: $(c alarms)"; ok
c events --since "$since" --json >"$tmp/out" || fail "events --since $since"
[ "$(grep -c '"event":"alarm_raise","kind":"redundancy_lost","subject":"demo"' "$tmp/out")" -eq 1 ] ||
    fail "not one alarm_raise: $(grep alarm_ "$tmp/out")"; ok
[ "$(grep -c '"event":"alarm_clear","kind":"redundancy_lost","subject":"demo"' "$tmp/out")" -eq 1 ] ||
    fail "not one alarm_clear: $(grep alarm_ "$tmp/out")"; ok

# ---- SIGTERM ----
rpd_stop
[ $stop_rc -eq 0 ] || fail "SIGTERM: exit $stop_rc"; ok
grep -q 'stopped' "$tmp/log" || fail "no 'stopped' in the log"; ok

# ---- nobody there ----
"$ctl" --api "$api" status >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] || fail "dead daemon: exit is not 1"; ok
[ "$(cat "$tmp/err")" = "rackpowerctl: cannot reach rackpowerd at 127.0.0.1:$port: Connection refused" ] ||
    fail "dead daemon: $(cat "$tmp/err")"; ok
[ -s "$tmp/out" ] && fail "dead daemon: something on stdout"; ok

# ---- the sim driver (boot list, timeline, telemetry) and the policy's restore
# deadline, under a systemd notify socket ----
{
    sed 's/restore_after_s: 30/restore_after_s: 0.5/' "$tmp/rack.yaml"
    printf 'devices:\n  - kind: sim\n    boot: [db1, app1, web1, web2, batch1]\n    poll_ms: 100\n'
    printf '    timeline:\n      - {at: 0.2, psu_fail: [ps1, ps4]}\n'
    printf '      - {at: 0.4, psu_repair: [ps1, ps4]}\n'
    printf "$apiconf"
} >"$tmp/conf.yaml"
rm -f "$tmp/rp.db" "$tmp/rp.db-wal" "$tmp/rp.db-shm"
socat -u "UNIX-RECV:$tmp/notify" - >"$tmp/notified" 2>/dev/null &
spid=$!
track "$spid"
until_ok "[ -S '$tmp/notify' ]"
NOTIFY_SOCKET="$tmp/notify" WATCHDOG_USEC=200000 start
until_ok "grep -q 'READY=1' '$tmp/notified'"
until_ok "grep -q 'WATCHDOG=1' '$tmp/notified'"
# shed at 0.2 s, repaired at 0.4 s, back 0.5 s later on the policy's own deadline
until_ok "c events --tail 100 --json | grep -q '\"event\":\"restore\",\"server\":\"web2\"'"
c events --tail 100 --json >"$tmp/out"
grep -q '"event":"grant","server":"db1"' "$tmp/out" || fail "boot list: db1 not granted"; ok
grep -q '"event":"grant","server":"batch1"' "$tmp/out" || fail "boot list: batch1 not granted"; ok
grep -q '"event":"psu_fail","psu":"ps4","reason":"reported by sim"' "$tmp/out" || fail "timeline: no psu_fail"; ok
grep -q '"event":"shed","server":"web2"' "$tmp/out" || fail "no shed after the simulated failures"; ok
grep -q '"event":"psu_repair","psu":"ps1","reason":"reported by sim"' "$tmp/out" || fail "no repair"; ok
until_ok "c servers --json | grep -q '\"id\":\"db1\",[^}]*\"draw_w\":[0-9]'"
until_ok "c psus --json | grep -q '\"id\":\"ps1\",[^}]*\"output_w\":[0-9]'"
rpd_stop
[ $stop_rc -eq 0 ] || fail "SIGTERM under a notify socket: exit $stop_rc"; ok
until_ok "grep -q 'STOPPING=1' '$tmp/notified'"
stop "$spid"

test_end
