#!/bin/sh
# Taking a PSU out of service on a rack run over real Modbus TCP
# (`rackpower-sim serve`): a dry run changes nothing (the daemon's state,
# its journal, and the switch coils as mbpoll reads them); a change that
# would shed is refused without --force and changes nothing either; with
# --force it is done, its consequences are listed one line each, and the
# PSU's switch coils read 0 on every bus. A power-off lists the grant it
# caused. docs/api.md, "out-of-service".
# Usage: daemon_oos.sh RACKPOWERD RACKPOWERCTL RACKPOWER-SIM SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin daemon_oos.sh
rpd="$1"
ctl="$2"
sim="$3"
src="$4"
need socat mbpoll
log_show daemon-log "$tmp/dlog"
log_show simulator-log "$tmp/slog"
c() { rctl "$@"; }
# the switch module's coils (unit 1): coil psu*8+bus, 4 PSUs x 8
coils() { mbpoll -m tcp -p "$sim_port" -0 -1 -a 1 -t 0 -r 0 -c 32 127.0.0.1 2>/dev/null | grep '^\['; }
# coil of PSU p (0-based) on bus b (0 A, 1 B) reads v
coil_is() { coils | grep -Eq "^\[$(($1 * 8 + $2))\]:[[:space:]]*$3\$"; }
# what a dry run or refusal must leave as it was: the servers, the PSUs, the
# journal's newest id, the switch coils
snapshot() {
    { c servers --json | grep -o '"id":"[^"]*","state":"[a-z]*","watts":[0-9]*'
      c psus --json | grep -o '"id":"[^"]*","state":"[a-z]*","out_of_service":[a-z]*,"bus":[^,]*'
      c status --json | grep -o '"last_event_id":[0-9]*'; coils; } >"$1"
}
# settled: the state a dry run or refusal must leave as it was, once it
# holds still: two snapshots a few polls apart agree (after a change the
# daemon journals and switches for a while; a loaded machine takes longer)
settled() {
    until_ok 'snapshot "$tmp/s0"; sleep 0.6; snapshot "$tmp/before"; cmp -s "$tmp/s0" "$tmp/before"' \
        "the daemon's state holds still"
}

demo_rack "$src" "$tmp/rack.yaml"
sim_start "$sim" "$tmp/sout" "$tmp/slog" "$tmp/rack.yaml" --tcp 127.0.0.1:0 --control "$tmp/ctl"
{ cat "$tmp/rack.yaml"
  printf "devices:\n  - kind: modbus-tcp\n    host: 127.0.0.1\n    port: %s\n" "$sim_port"
  printf "    poll_ms: 200\n    timeout_ms: 1000\n    reprobe_s: 1\n    units:\n"
  demo_units
  printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock"; } >"$tmp/conf.yaml"
sim_ctl "$tmp/ctl" "power_on db1 app1 web1 web2 batch1 ml1" >/dev/null
rpd_start "$rpd" "$tmp/conf.yaml" "$tmp/db" "$tmp/dlog"
ok
until_ok '[ "$(srv batch1)" = on ]' "batch1 granted"
[ "$(srv ml1)" = waiting ] || fail "ml1 should wait (n+1), is $(srv ml1)"; ok
until_ok 'coil_is 0 0 1' "ps1's coil on bus A reads 1"

# ---- a dry run changes nothing ----
settled
c out-of-service psu ps1 --dry-run >"$tmp/out" || fail "dry run: $(cat "$tmp/out")"; ok
grep -q '^psu ps1: dry run: out of service would cause:' "$tmp/out" || fail "dry run: $(cat "$tmp/out")"; ok
grep -Eq '^  switch +ps4 +B -> A ' "$tmp/out" || fail "dry run: no re-route: $(cat "$tmp/out")"; ok
grep -Eq '^  switch +ps1 +A -> none +out of service: ps1 leaves every bus' "$tmp/out" ||
    fail "dry run: no opening of ps1's switch: $(cat "$tmp/out")"; ok
grep -q '^nothing was done$' "$tmp/out" || fail "dry run: $(cat "$tmp/out")"; ok
c out-of-service psu ps1 --dry-run --json | grep -q '"dry_run":true,"would_change":true,"changed":false' ||
    fail "dry run JSON: $(c out-of-service psu ps1 --dry-run --json)"; ok
sleep 1 # had anything been written, the next polls would show it
snapshot "$tmp/after"
cmp -s "$tmp/before" "$tmp/after" || fail "a dry run changed: $(diff "$tmp/before" "$tmp/after")"; ok
coil_is 0 0 1 || fail "a dry run moved ps1's switch: $(coils | head -2)"; ok
grep -q 'psu_fail ps1\|switch ps' "$tmp/dlog" && fail "a dry run was journaled or sent: $(grep switch "$tmp/dlog")"; ok

# ---- out of service that sheds nobody: done without --force; the switch opens ----
c out-of-service psu ps1 --reason "fan swap" >"$tmp/out" || fail "oos ps1: $(cat "$tmp/out")"; ok
grep -q '^psu ps1: out of service, failed' "$tmp/out" || fail "oos ps1: $(cat "$tmp/out")"; ok
grep -Eq '^  switch +ps1 +A -> none ' "$tmp/out" || fail "oos ps1: not listed: $(cat "$tmp/out")"; ok
until_ok 'coil_is 0 0 0 && coil_is 0 1 0' "ps1's switch coils read 0 on A and B"
until_ok 'simstat "psu ps1 unit 200 bus -"' "ps1 on no bus in the simulator"
until_ok 'coil_is 3 0 1' "ps4 moved to bus A"
[ "$(srv batch1)" = on ] || fail "ps1 out shed batch1"; ok

# ---- one that would shed: refused without --force, nothing changes ----
settled
c out-of-service psu ps4 >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] || fail "oos ps4 without --force was not refused: $(cat "$tmp/out")"; ok
grep -q '^psu ps4: refused: out of service would cause:' "$tmp/out" || fail "refusal: $(cat "$tmp/out")"; ok
grep -Eq '^  shed +batch1 +700 -> 0 W p4 ' "$tmp/out" || fail "refusal: no shed: $(cat "$tmp/out")"; ok
grep -Eq '^  cap +app1 +1200 -> 1000 W p2 ' "$tmp/out" || fail "refusal: no cap: $(cat "$tmp/out")"; ok
grep -q 'rackpowerctl out-of-service psu ps4 --force' "$tmp/out" || fail "refusal: no hint: $(cat "$tmp/out")"; ok
grep -q '^rackpowerctl: psu ps4 out of service would shed batch1, web2, web1; cap app1; nothing was done' "$tmp/err" ||
    fail "refusal: $(cat "$tmp/err")"; ok
# the same refusal as the API gives it: 409 with the preview
c out-of-service psu ps4 --json >"$tmp/out" 2>/dev/null
grep -q '"consequences":\[{"action":"shed","server":"batch1"' "$tmp/out" || fail "409 body: $(cat "$tmp/out")"; ok
sleep 1
snapshot "$tmp/after"
cmp -s "$tmp/before" "$tmp/after" || fail "a refused change changed: $(diff "$tmp/before" "$tmp/after")"; ok
c out-of-service psu ps4 --dry-run | grep -Eq '^  shed +batch1 ' || fail "dry run of ps4 lists no shed"; ok

# ---- with --force it is done ----
c out-of-service psu ps4 --force --reason "second fan" >"$tmp/out" || fail "oos ps4 --force: $(cat "$tmp/out")"; ok
grep -q '^psu ps4: out of service, failed' "$tmp/out" || fail "forced: $(cat "$tmp/out")"; ok
grep -q '^caused:' "$tmp/out" || fail "forced: $(cat "$tmp/out")"; ok
for s in batch1 web2 web1; do
    grep -Eq "^  shed +$s " "$tmp/out" || fail "forced: $s not listed shed: $(cat "$tmp/out")"; ok
done
grep -Eq '^  cap +app1 +1200 -> 1000 W p2 ' "$tmp/out" || fail "forced: no cap listed"; ok
grep -Eq '^  switch +ps4 +A -> none ' "$tmp/out" || fail "forced: no switch listed"; ok
[ "$(srv batch1)" = shed ] || fail "batch1 not shed: $(srv batch1)"; ok
[ "$(srv app1)" = capped ] || fail "app1 not capped: $(srv app1)"; ok
[ "$(srv db1)" = on ] || fail "db1 not on: $(srv db1)"; ok
until_ok 'coil_is 3 0 0 && coil_is 3 1 0' "ps4's switch coils read 0 on A and B"
coil_is 0 0 0 && coil_is 0 1 0 || fail "ps1's switch closed again: $(coils | head -2)"; ok
until_ok 'simstat "server batch1 .*present off"' "batch1 powered off in the simulator"
c events --tail 1000 --json >"$tmp/ev" # all: more may have followed on a slow machine
grep -q '"event":"switch","psu":"ps4","from":"A","to":null' "$tmp/ev" || fail "no switch in the journal"; ok
grep -q '"note":"second fan"' "$tmp/ev" || fail "the reason is not journaled"; ok
# no PSU was predicted to fail: taking them out closes no prediction, so no outcome
grep -q '"event":"prediction_outcome"' "$tmp/ev" &&
    fail "an outcome for an out of service nobody predicted: $(grep prediction_outcome "$tmp/ev")"; ok

# ---- an operator closes the switch by hand: the daemon opens it again ----
mbpoll -m tcp -p "$sim_port" -0 -1 -a 1 -t 0 -r 24 127.0.0.1 1 >/dev/null 2>&1 ||
    fail "mbpoll could not write ps4's coil"; ok
until_ok 'coil_is 3 0 0' "ps4's switch opened again after a hand close"

# ---- a restart keeps the switches of the PSUs out of service open ----
rpd_stop
# while the daemon is down, someone closes ps1's switch onto bus B
mbpoll -m tcp -p "$sim_port" -0 -1 -a 1 -t 0 -r 1 127.0.0.1 1 >/dev/null 2>&1 ||
    fail "mbpoll could not write ps1's coil"; ok
until_ok 'coil_is 0 1 1' "ps1's switch closed by hand"
log_show daemon-log-2 "$tmp/dlog2"
rpd_start "$rpd" "$tmp/conf.yaml" "$tmp/db" "$tmp/dlog2"
until_ok 'coil_is 0 1 0 && coil_is 0 0 0' "ps1's switch opened again after the restart"
until_ok 'coil_is 3 0 0 && coil_is 3 1 0' "ps4's switch still open after the restart"
c psus --json | grep -q '"id":"ps1","state":"failed","out_of_service":true,"bus":null' ||
    fail "ps1 after the restart: $(c psus --json)"; ok

# ---- a power-off lists what it caused ----
c power-off db1 >"$tmp/out" || fail "power-off db1: $(cat "$tmp/out")"; ok
grep -q '^db1: released' "$tmp/out" || fail "power-off: $(cat "$tmp/out")"; ok
c power-off app1 --json | grep -q '"consequences":\[{"action":"release","server":"app1"' ||
    fail "power-off: no consequences in JSON"; ok

# ---- back in service: no refusal; the dry run shows it ----
c in-service psu ps4 --dry-run | grep -q '^psu ps4: dry run: back in service' || fail "in-service dry run"; ok
c in-service psu ps4 >"$tmp/out" || fail "in-service ps4: $(cat "$tmp/out")"; ok
grep -q '^psu ps4: in service, ok' "$tmp/out" || fail "in-service: $(cat "$tmp/out")"; ok
grep -Eq '^  switch +ps4 +- -> [AB] ' "$tmp/out" || fail "in-service: ps4 not switched back: $(cat "$tmp/out")"; ok
until_ok 'coil_is 3 0 1 || coil_is 3 1 1' "ps4's switch closed again"
# a reload lists what it caused: a shorter restore wait brings the shed back
sleep 1.5
sed 's/restore_after_s: 30/restore_after_s: 1/' "$tmp/conf.yaml" >"$tmp/conf2.yaml"
mv "$tmp/conf2.yaml" "$tmp/conf.yaml"
c reload >"$tmp/out" || fail "reload: $(cat "$tmp/out")"; ok
grep -q '^reload applied: restore_after_s 30 -> 1' "$tmp/out" || fail "reload: $(cat "$tmp/out")"; ok
grep -Eq '^  restore +batch1 +0 -> 700 W p4 ' "$tmp/out" || fail "reload: no restore listed: $(cat "$tmp/out")"; ok
[ "$(srv batch1)" = on ] || fail "batch1 not restored: $(srv batch1)"; ok
c out-of-service psu ps1 --force --dry-run >/dev/null 2>&1
[ $? -eq 2 ] || fail "--force with --dry-run should be bad usage"; ok
c power-on ml1 --dry-run >/dev/null 2>&1
[ $? -eq 2 ] || fail "--dry-run with power-on should be bad usage"; ok

rpd_stop
sim_stop
test_end
