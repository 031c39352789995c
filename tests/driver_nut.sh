#!/bin/sh
# The nut driver (src/drivers/nut.c) against a real upsd with dummy-ups UPSes
# and real upsmon secondaries (tests/lib_nut.sh), driven through nut_probe
# (tests/nut_probe.c: the driver opened as rackpowerd's device worker does,
# then a poll or an action per line):
#   - a reserve's UPS read as its .dev file changes: OL, OB, OB LB, with
#     battery.charge and battery.runtime; a stage left wrong in upsd is
#     published back to OL at the first poll;
#   - stages published: OB (the server's upsmon says on battery and does not
#     shut down), OB LB (its upsmon runs SHUTDOWNCMD), OL (upsd says OL); a
#     stage someone else changed is published again at the next poll;
#   - upsd hung (SIGSTOP): a poll ends at the timeout, readings unread; upsd
#     killed: unread and a clear error, no crash; upsd back: read again;
#   - a UPS upsd does not know, a wrong password, a password file others may
#     read, a config naming a bbu as a UPS: each a clear error.
# Usage: driver_nut.sh NUT_PROBE SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
. "${0%/*}/lib_nut.sh"
test_begin driver_nut.sh
probe="$1"
src="$2"
n="$tmp/nut"

nut_start "$n" 0 "ups1 db1 web1 app1"
upsmon_start "$n" db1
upsmon_start "$n" web1

# the rack: demo's PSUs and three of its servers, ups1 behind feed F1
rack() { # extra reserve lines
    printf 'rack:\n  name: nuttest\n  protection: n+1\n  feeds: [F1, F2]\n  buses: [A, B]\n'
    printf '  psus:\n'
    printf '    - {id: ps1, capacity_w: 3000, feed: F1, buses: [A, B], bus: A, switch: fet}\n'
    printf '    - {id: ps2, capacity_w: 3000, feed: F2, buses: [A, B], bus: B, switch: fet}\n'
    printf '  servers:\n'
    printf '    - {id: db1, power_w: 1000, priority: 1, buses: [A, B]}\n'
    printf '    - {id: web1, power_w: 800, priority: 2, buses: [A, B]}\n'
    printf '    - {id: app1, power_w: 800, priority: 3, buses: [A, B]}\n'
    printf '  reserves:\n'
    printf '    - {id: ups1, kind: ups, feed: F1, energy_wh: 2000, max_w: 10000}\n'
    printf '    - {id: ups2, kind: ups, feed: F2, energy_wh: 2000, max_w: 10000}\n'
    printf '    - {id: bbu1, kind: bbu, bus: A, energy_wh: 1000, max_w: 5000}\n'
}
# nutdev PASSWORD_FILE UPS_LINES...: the device entry
nutdev() {
    printf 'devices:\n  - kind: nut\n    port: %s\n    user: rackpower\n' "$nut_port"
    printf '    password_file: %s\n    timeout_ms: 1500\n    ups:\n' "$1"
    shift
    for l in "$@"; do printf '      - %s\n' "$l"; done
}
{ rack; nutdev "$n/rackpower.pass" "{ups: ups1, reserve: ups1}" "{ups: db1, server: db1}" \
    "{ups: web1, server: web1}" "{ups: app1, server: app1}"; } >"$tmp/c.yaml"

# probe_start CONFIG: nut_probe on CONFIG, reading lines from the FIFO on fd 3
probe_start() {
    rm -f "$tmp/in"
    mkfifo "$tmp/in"
    : >"$tmp/out"
    "$probe" "$1" <"$tmp/in" >"$tmp/out" 2>"$tmp/probe.err" &
    probe_pid=$!
    track "$probe_pid"
    exec 3>"$tmp/in"
    log_show probe "$tmp/out"
    until_ok 'grep -q "^open" "$tmp/out"' "nut_probe opened the driver"
}
probe_stop() {
    echo quit >&3
    exec 3>&-
    wait "$probe_pid"
    probe_rc=$?
    untrack "$probe_pid"
    # a sanitizer's report (the ASan build) makes it exit non-zero
    [ "$probe_rc" = 0 ] || fail "nut_probe exited $probe_rc: $(tail -n 20 "$tmp/probe.err")"
    ok
}
# ask LINE: sends LINE and waits for its answer (a line starting with LINE's
# first word, after the output so far); the answer's lines are in $tmp/ans
ask() {
    lib_from=$(($(wc -l <"$tmp/out") + 1))
    echo "$1" >&3
    lib_w=${1%% *}
    lib_i=0
    until tail -n +"$lib_from" "$tmp/out" | grep -q "^$lib_w "; do
        kill -0 "$probe_pid" 2>/dev/null || fail "nut_probe died on: $1"
        lib_i=$((lib_i + 1))
        [ "$lib_i" -gt 300 ] && fail "nut_probe did not answer: $1"
        sleep 0.1
    done
    sleep 0.05 # the rest of the answer comes in the same flush
    tail -n +"$lib_from" "$tmp/out" >"$tmp/ans"
}
# polled PATTERN: a poll's answer matches PATTERN (grep -E)
polled() { ask poll && grep -Eq "$1" "$tmp/ans"; }
has() { grep -Eq "$1" "$tmp/ans"; }

# ---- reading a reserve ----

nut_rw app1 ups.status OB || fail "upsrw cannot set app1 (user rackpower, actions = SET)"
ok
probe_start "$tmp/c.yaml"
grep -q '^open ok' "$tmp/out" || fail "the driver did not open: $(cat "$tmp/out")"
ok
ask poll
has '^poll rc=0 ' || fail "first poll: $(cat "$tmp/ans")"
ok
has '^reserve ups1 unread=0 flags=0x01 status=OL charge=100 runtime=1800 ' ||
    fail "ups1 on line, full: $(cat "$tmp/ans")"
ok
# app1 was left at OB: a lone controller's driver puts every server back to OL
has 'ups app1 \(server app1\): upsd said "OB", published "OL" again' ||
    fail "app1 left at OB is not published back: $(cat "$tmp/ans")"
ok
[ "$(nut_var app1 ups.status)" = OL ] || fail "upsd does not say app1 is OL"
ok

nut_set_dev "$n" ups1 OB 80 600
until_ok 'polled "^reserve ups1 unread=0 flags=0x02 status=OB charge=80 runtime=600 "' \
    "ups1 read on battery at 80 %, 600 s"
nut_set_dev "$n" ups1 "OB LB" 9 45
until_ok 'polled "^reserve ups1 unread=0 flags=0x06 status=OB LB charge=9 runtime=45 "' \
    "ups1 read on battery, low, at 9 %, 45 s"
nut_set_dev "$n" ups1 "OL CHRG" 12 100
until_ok 'polled "^reserve ups1 unread=0 flags=0x09 status=OL CHRG charge=12 runtime=100 "' \
    "ups1 read on line, charging"

# ---- publishing stages ----

ask "stage db1 OB"
has '^stage rc=0 ' || fail "db1 OB: $(cat "$tmp/ans")"
ok
[ "$(nut_var db1 ups.status)" = OB ] || fail "upsd does not say db1 is OB"
ok
until_ok 'upsmon_notes "$n" db1 | grep -q "^ONBATT db1@"' "db1's upsmon says on battery"
sleep 6 # OB alone never shuts a server down: more than upsmon needs for OB LB
[ -z "$(upsmon_shutdowns "$n" db1)" ] || fail "db1's upsmon shut down at OB"
ok
ask "stage db1 OB_LB"
has '^stage rc=0 ' || fail "db1 OB LB: $(cat "$tmp/ans")"
ok
[ "$(nut_var db1 ups.status)" = "OB LB" ] || fail "upsd does not say db1 is OB LB"
ok
until_ok 'upsmon_shutdowns "$n" db1 | grep -q "^shutdown "' "db1's upsmon ran SHUTDOWNCMD"
upsmon_notes "$n" db1 | grep -q "^LOWBATT db1@" || fail "db1's upsmon did not say low battery"
ok
[ -z "$(upsmon_shutdowns "$n" web1)" ] || fail "web1 shut down with db1"
ok
ask "stage db1 OL"
has '^stage rc=0 ' || fail "db1 OL: $(cat "$tmp/ans")"
ok
[ "$(nut_var db1 ups.status)" = OL ] || fail "upsd does not say db1 is OL again"
ok
# an action about power is another device's
ask "other db1"
has '^other rc=0' || fail "a shed is not ignored: $(cat "$tmp/ans")"
ok

# web1 at OB; someone puts it back to OL: the next poll publishes OB again
ask "stage web1 OB"
has '^stage rc=0 ' || fail "web1 OB: $(cat "$tmp/ans")"
ok
nut_rw web1 ups.status OL || fail "upsrw cannot set web1"
ok
until_ok 'polled "upsd said \"OL\", published \"OB\" again"' "web1's stage published again"
[ "$(nut_var web1 ups.status)" = OB ] || fail "upsd does not say web1 is OB again"
ok
until_ok 'upsmon_notes "$n" web1 | grep -q "^ONBATT web1@"' "web1's upsmon says on battery"
[ -z "$(upsmon_shutdowns "$n" web1)" ] || fail "web1's upsmon shut down at OB"
ok

# ---- upsd hung, gone, back ----

nut_upsd_pause
ask poll
has '^poll rc=-1 .*no answer within the timeout' || fail "hung upsd: $(cat "$tmp/ans")"
ok
has '^reserve ups1 unread=1 ' || fail "hung upsd: ups1 not unread: $(cat "$tmp/ans")"
ok
ms=$(sed -n 's/^poll rc=-1 ms=\([0-9]*\) .*/\1/p' "$tmp/ans")
echo "driver_nut.sh: a poll of a hung upsd returned after $ms ms (timeout_ms 1500)"
nut_upsd_resume
nut_upsd_down
ask poll
has '^poll rc=-1 .*upsd 127\.0\.0\.1:[0-9]*: Connection failure' || fail "upsd gone: $(cat "$tmp/ans")"
ok
has '^reserve ups1 unread=1 ' || fail "upsd gone: ups1 not unread: $(cat "$tmp/ans")"
ok
ask "stage app1 OB"
has '^stage rc=-1 .*Connection failure' || fail "stage with upsd gone: $(cat "$tmp/ans")"
ok
nut_upsd_up
# back: read again, and the stage it could not publish is published now
until_ok 'polled "^reserve ups1 unread=0 flags=0x09 "' "ups1 read again once upsd is back"
until_ok '[ "$(nut_var app1 ups.status)" = OB ]' "app1's stage published once upsd is back"
# upsd killed while the driver is connected to it
nut_upsd_down KILL
ask poll
has '^poll rc=-1 .*upsd 127\.0\.0\.1:[0-9]*: ' || fail "upsd killed: $(cat "$tmp/ans")"
ok
has '^reserve ups1 unread=1 ' || fail "upsd killed: ups1 not unread: $(cat "$tmp/ans")"
ok
nut_upsd_up
until_ok 'polled "^reserve ups1 unread=0 flags=0x09 "' "ups1 read again after upsd was killed"
until_ok '[ "$(nut_var app1 ups.status)" = OB ]' "app1's stage published again after upsd was killed"
probe_stop

# ---- clear errors ----

# a UPS upsd does not know, as a reserve and as a server
{ rack; nutdev "$n/rackpower.pass" "{ups: ghost, reserve: ups2}" "{ups: phantom, server: db1}"; } \
    >"$tmp/c2.yaml"
probe_start "$tmp/c2.yaml"
ask poll
has '^poll rc=-1 .*ups ghost \(reserve ups2\): upsd has no such UPS' || fail "unknown UPS: $(cat "$tmp/ans")"
ok
has '^reserve ups2 unread=1 ' || fail "unknown UPS: ups2 not unread: $(cat "$tmp/ans")"
ok
ask "stage db1 OB_LB"
has '^stage rc=-1 .*ups phantom \(server db1\): .*upsd has no such UPS' ||
    fail "unknown UPS for a server: $(cat "$tmp/ans")"
ok
probe_stop

# a wrong password
(umask 077; echo not-the-password >"$tmp/wrong.pass")
{ rack; nutdev "$tmp/wrong.pass" "{ups: app1, server: app1}"; } >"$tmp/c3.yaml"
probe_start "$tmp/c3.yaml"
ask "stage app1 OL"
has '^stage rc=-1 .*ups app1 \(server app1\): .*access denied.*password_file' ||
    fail "wrong password: $(cat "$tmp/ans")"
ok
probe_stop
[ "$(nut_var app1 ups.status)" = OB ] || fail "a wrong password changed app1"
ok

# a password file others may read
echo "$nut_rp_pass" >"$tmp/open.pass"
chmod 0644 "$tmp/open.pass"
{ rack; nutdev "$tmp/open.pass" "{ups: app1, server: app1}"; } >"$tmp/c4.yaml"
"$probe" "$tmp/c4.yaml" </dev/null >"$tmp/ans" 2>&1
grep -q "^open failed: password_file $tmp/open.pass: .*chmod 600" "$tmp/ans" ||
    fail "a password file others may read: $(cat "$tmp/ans")"
ok

# config mistakes at file:line:column
{ rack; nutdev "$n/rackpower.pass" "{ups: ups1, reserve: bbu1}"; } >"$tmp/c5.yaml"
"$probe" "$tmp/c5.yaml" </dev/null >"$tmp/ans" 2>&1
grep -q "^open failed: .*c5.yaml:[0-9]*:[0-9]*: reserve: reserve 'bbu1' is a bbu" "$tmp/ans" ||
    fail "a bbu named as a UPS: $(cat "$tmp/ans")"
ok
{ rack; nutdev "$n/rackpower.pass" "{ups: ups1, reserve: ups1}" "{ups: ups9, reserve: ups1}"; } \
    >"$tmp/c6.yaml"
"$probe" "$tmp/c6.yaml" </dev/null >"$tmp/ans" 2>&1
grep -q "^open failed: .*c6.yaml:[0-9]*:[0-9]*: reserve: reserve 'ups1' is already mapped" \
    "$tmp/ans" || fail "a reserve read twice: $(cat "$tmp/ans")"
ok

nut_stop
test_end
