#!/bin/sh
# Disk full must not stop a shed (docs/daemon.md, "When the journal cannot be
# written"). rackpowerd keeps its database on a real, small file system
# (a tmpfs, else a loop-mounted ext2 image: both need root) and manages
# `rackpower-sim serve` over Modbus TCP. The file system is filled until a
# write fails with ENOSPC, then:
#   - a PSU failure that needs a shed: the shed reaches the simulated device
#     although the journal cannot be written;
#   - a power-on request is refused with a clear error and nothing is powered;
#   - a repair: the restore it calls for waits for the journal;
#   - space returns: the journal catches up (the shed and a "journal" event
#     saying how late), the withheld restore happens, journaled; a kill -9
#     and a restart find the ledger as the devices are;
#   - full again, a shed, a kill -9 before the journal catches up: after the
#     restart the device's lower power stands (a reconcile event), and only
#     the policy's fresh decision powers the server again;
#   - a restart on a full disk: the daemon starts with the journal behind,
#     a failure is still shed, and the start is journaled once space returns.
# Without root, or where neither mount works, the test says so and is
# skipped (exit 77).
# Usage: daemon_diskfull.sh RACKPOWERD RACKPOWERCTL RACKPOWER-SIM SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin daemon_diskfull.sh
rpd="$1"
ctl="$2"
sim="$3"
src="$4"
need socat
log_show daemon-log "$tmp/dlog"
log_show simulator-log "$tmp/slog"
events() { "$ctl" --unix-socket "$tmp/rp.sock" events --tail 200 --json; }

# ---- a small file system of its own ------------------------------------------
fs="$tmp/fs"
mkdir "$fs"
mounted=""
umount_fs() { [ -n "$mounted" ] && umount "$fs"; mounted=""; }
# lib.sh's cleanup stops the processes and removes $tmp: unmount in between
cleanup() {
    for p in $lib_pids; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    umount_fs
    lib_cleanup
}
trap cleanup EXIT
trap 'exit 1' INT TERM
if [ "$(id -u)" != 0 ]; then
    echo "daemon_diskfull.sh: skipped: mounting a small file system needs root"
    exit 77
fi
if mount -t tmpfs -o size=512k,mode=0700 tmpfs "$fs" 2>"$tmp/mount.err"; then
    mounted=tmpfs
elif command -v mkfs.ext2 >/dev/null && truncate -s 2M "$tmp/img" &&
    mkfs.ext2 -q -F "$tmp/img" >/dev/null 2>&1 && mount -o loop "$tmp/img" "$fs" 2>>"$tmp/mount.err"; then
    mounted=loop
else
    echo "daemon_diskfull.sh: skipped: neither a tmpfs nor a loop image can be mounted: $(cat "$tmp/mount.err")"
    exit 77
fi
ok # a small file system

# The demo rack, restores at once (restore_after_s 0), ps4 on bus A: failing
# ps4 then calls for a shed (without it, losing ps3 leaves 4000 W for 5000 W).
demo_rack "$src" "$tmp/demo.yaml"
sed -e 's/restore_after_s: [0-9]*/restore_after_s: 0/' -e '/id: ps4,/s/bus: B/bus: A/' \
    "$tmp/demo.yaml" >"$tmp/rack.yaml"
sim_start "$sim" "$tmp/sout" "$tmp/slog" "$tmp/rack.yaml" --tcp 127.0.0.1:0 \
    --control "$tmp/ctl" --alert "$tmp/alert"
ok # the simulator serves
{ cat "$tmp/rack.yaml"
  printf "devices:\n  - kind: modbus-tcp\n    host: 127.0.0.1\n    port: $sim_port\n"
  printf "    poll_ms: 200\n    timeout_ms: 1000\n    alert: $tmp/alert\n    units:\n"
  demo_units
  printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock"
  # the telemetry history off the small file system: its files (schema, WAL,
  # shm) would take a tenth of it, and its own disk-full handling is
  # tests/test_history.c's
  printf 'history:\n  path: %s\n' "$tmp/history.db"; } >"$tmp/conf.yaml"
ctlsend "power_on db1 app1 web1 web2 batch1 ml1"
rpd_start "$rpd" "$tmp/conf.yaml" "$fs/db" "$tmp/dlog"
ok # rackpowerd serves, its database on the small file system
until_ok '[ "$(srv batch1)" = on ]' "batch1 granted"
until_ok 'simstat "server batch1 .*present on"' "batch1 powered on its device"
"$ctl" --unix-socket "$tmp/rp.sock" power-off web2 >/dev/null || fail "web2's power-off"
until_ok 'simstat "server web2 .*present off"' "web2 powered off on its device"
[ "$(srv ml1)" = waiting ] || fail "ml1 should wait (n+1), is $(srv ml1)"; ok

# ---- fill it -----------------------------------------------------------------
dd if=/dev/zero of="$fs/fill" bs=4k 2>"$tmp/dd.err" && fail "dd filled nothing up"
grep -q "No space left" "$tmp/dd.err" || fail "dd did not stop on a full disk: $(cat "$tmp/dd.err")"
ok # the file system is full
# the journal fails on the next write: a device going down and up would do,
# the fault below is the write that matters
ctlsend "psu_fail ps4"
until_ok 'simstat "server batch1 .*present off"' "batch1 shed on its device while the journal fails"
until_ok '[ "$(srv batch1)" = shed ]' "batch1 shed in /v1/servers"
grep -q "journal: .*full" "$tmp/dlog" || fail "the log does not say that the journal is full"; ok
grep -q "journal behind: [1-9][0-9]* decisions stand and wait to be journaled" "$tmp/dlog" ||
    fail "the log does not say that the shed was carried out unjournaled"; ok
"$ctl" --unix-socket "$tmp/rp.sock" alarms | grep -q "journal_behind .*database or disk is full" ||
    fail "no journal_behind alarm: $("$ctl" --unix-socket "$tmp/rp.sock" alarms)"; ok
if events | grep -q '"event":"shed","server":"batch1"'; then
    fail "the shed is in the journal although the disk is full"
fi
ok # not journaled yet

# a grant asked for while the journal fails is not carried out
if "$ctl" --unix-socket "$tmp/rp.sock" power-on web2 >"$tmp/on.out" 2>&1; then
    fail "power-on web2 succeeded with a full disk: $(cat "$tmp/on.out")"
fi
grep -q "journal cannot be written.*power is not granted until it can be" "$tmp/on.out" ||
    fail "power-on web2: no clear error: $(cat "$tmp/on.out")"; ok
[ "$(srv web2)" = off ] || fail "web2 is $(srv web2), not off"; ok
simstat "server web2 .*present off" || fail "web2 was powered on its device"; ok

# a repair calls for a restore: it waits for the journal
ctlsend "psu_repair ps4"
until_ok '"$ctl" --unix-socket "$tmp/rp.sock" psus --json | grep -q "\"id\":\"ps4\"[^}]*\"state\":\"ok\""' "ps4 repaired"
sleep 1.5
simstat "server batch1 .*present off" || fail "batch1 was restored while the journal fails"; ok
[ "$(srv batch1)" = shed ] || fail "batch1 is $(srv batch1) while the journal fails"; ok

# ---- space returns -------------------------------------------------------------
rm -f "$fs/fill"
until_ok 'events | grep -q "\"event\":\"journal\""' "the journal catches up"
events >"$tmp/ev"
grep -q '"event":"shed","server":"batch1"' "$tmp/ev" || fail "the shed is not in the journal"; ok
grep -q '"event":"psu_fail","psu":"ps4"' "$tmp/ev" || fail "ps4's failure is not in the journal"; ok
grep '"event":"journal"' "$tmp/ev" | grep -q '"late":[1-9]' || fail "the journal event counts no late events"; ok
grep -q "journal: written again after" "$tmp/dlog" || fail "the log does not say the journal works again"; ok
until_ok '! "$ctl" --unix-socket "$tmp/rp.sock" alarms | grep -q journal_behind' "the journal_behind alarm cleared"
until_ok 'events | grep -q "\"event\":\"alarm_clear\",\"kind\":\"journal_behind\""' "its clear journaled"
events | grep -q '"event":"alarm_raise","kind":"journal_behind"' || fail "its raise is not in the journal"; ok
# the restore withheld now happens, journaled
until_ok 'simstat "server batch1 .*present on"' "batch1 restored once the journal works"
until_ok 'events | grep -q "\"event\":\"restore\",\"server\":\"batch1\""' "batch1's restore journaled"
"$ctl" --unix-socket "$tmp/rp.sock" power-on web2 >"$tmp/on.out" 2>&1 || fail "power-on web2 after: $(cat "$tmp/on.out")"; ok

# the ledger is as the devices are: a kill -9 and a restart
rpd_stop KILL
log_show daemon-log-2 "$tmp/dlog2"
rpd_start "$rpd" "$tmp/conf.yaml" "$fs/db" "$tmp/dlog2"
grep -q "from the ledger: 5 on, 0 capped, 0 shed, 1 waiting" "$tmp/dlog2" ||
    fail "after the restart: $(grep 'from the ledger' "$tmp/dlog2")"; ok

# ---- a crash before the journal caught up ---------------------------------------
# The disk fills again, batch1 is shed on its device unjournaled, the daemon
# is killed: its ledger says batch1 is on. After the restart (space back,
# ps4 repaired) the device's lower power stands: batch1 is not powered to
# match the ledger, it counts as shed (a reconcile event), and only the
# policy's fresh decision, journaled, restores it (restore_after_s 3 now).
dd if=/dev/zero of="$fs/fill" bs=4k 2>/dev/null && fail "dd filled nothing up"
ctlsend "psu_fail ps4"
until_ok 'simstat "server batch1 .*present off"' "batch1 shed on its device, the journal full again"
until_ok 'grep -c "journal behind:" "$tmp/dlog2" | grep -q "^[1-9]"' "the shed unjournaled"
rpd_stop KILL
rm -f "$fs/fill"
ctlsend "psu_repair ps4"
sed 's/restore_after_s: 0/restore_after_s: 3/' "$tmp/conf.yaml" >"$tmp/conf3.yaml"
log_show daemon-log-3 "$tmp/dlog3"
rpd_start "$rpd" "$tmp/conf3.yaml" "$fs/db" "$tmp/dlog3"
grep "from the ledger" "$tmp/dlog3" | grep -q " 0 shed" || fail "the ledger knew the shed: $(grep 'from the ledger' "$tmp/dlog3")"; ok
until_ok 'grep -q "reconcile batch1: modbus-tcp .* shows it powered off while the ledger has it on" "$tmp/dlog3"' "the reconcile logged"
[ "$(srv batch1)" = shed ] || fail "batch1 is $(srv batch1) after the restart, not shed"; ok
sleep 1.5
simstat "server batch1 .*present off" || fail "batch1 was powered to match the ledger"; ok
until_ok 'events | grep -q "\"event\":\"reconcile\",\"server\":\"batch1\",\"state\":\"shed\",\"was\":\"on\""' "the reconcile journaled"
until_ok 'simstat "server batch1 .*present on"' "batch1 restored by the policy"
events | grep -o '"event":"[a-z_]*","server":"batch1"' | tail -n 2 >"$tmp/last2"
printf '%s\n' '"event":"reconcile","server":"batch1"' '"event":"restore","server":"batch1"' |
    cmp -s - "$tmp/last2" || fail "batch1's last events: $(cat "$tmp/last2")"; ok
rpd_stop
[ "$stop_rc" = 0 ] || fail "rackpowerd exited $stop_rc"; ok

# ---- a restart on a full disk ---------------------------------------------------
# A daemon restarted (by hand, by systemd's watchdog) while the disk is full
# still starts: it reads its ledger without writing, runs with the journal
# behind, and a failure is still shed; once space returns the start and the
# shed are journaled.
[ -f "$fs/db-wal" ] && [ -f "$fs/db-shm" ] || fail "the WAL and shm files did not stay after a clean stop"; ok
dd if=/dev/zero of="$fs/fill" bs=4k 2>/dev/null && fail "dd filled nothing up"
log_show daemon-log-4 "$tmp/dlog4"
rpd_start "$rpd" "$tmp/conf3.yaml" "$fs/db" "$tmp/dlog4"
ok # it starts on a full disk
grep -q "starting with the journal behind: .*full" "$tmp/dlog4" ||
    fail "the log does not say it starts with the journal behind"; ok
"$ctl" --unix-socket "$tmp/rp.sock" alarms | grep -q "journal_behind" ||
    fail "no journal_behind alarm after a start on a full disk"; ok
until_ok '[ "$(srv batch1)" = on ]' "batch1 on, from the ledger"
ctlsend "psu_fail ps4"
until_ok 'simstat "server batch1 .*present off"' "batch1 shed on its device after a start on a full disk"
rm -f "$fs/fill"
until_ok '! "$ctl" --unix-socket "$tmp/rp.sock" alarms | grep -q journal_behind' "the journal catches up after a start on a full disk"
events | grep -o '"event":"st[a-z]*"' | tail -n 2 | tr '\n' ' ' >"$tmp/last2"
[ "$(cat "$tmp/last2")" = '"event":"stop" "event":"start" ' ] ||
    fail "the start on a full disk is not journaled after the last stop: $(cat "$tmp/last2")"; ok
events | grep -o '"event":"[a-z_]*","server":"batch1"' | tail -n 1 | grep -q shed ||
    fail "batch1's shed is not the last of its events in the journal"; ok
rpd_stop
[ "$stop_rc" = 0 ] || fail "rackpowerd exited $stop_rc"; ok
sim_stop
umount_fs
test_end
