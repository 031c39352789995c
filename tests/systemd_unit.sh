#!/bin/sh
# contrib/rackpowerd.service: systemd-analyze verify finds nothing to say
# (and does say something of a broken copy, so it did read it); its IP
# allow list matches the example config's listen address; and the daemon
# finds its socket and tokens where the unit puts them ($RUNTIME_DIRECTORY,
# $CREDENTIALS_DIRECTORY), checked with the real daemon.
# Usage: systemd_unit.sh RACKPOWERD RACKPOWERCTL SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin systemd_unit.sh
rpd="$1"
ctl="$2"
src="$3"
need systemd-analyze
log_show "daemon-log" "$tmp/log"
unit="$src/contrib/rackpowerd.service"

# verify needs the program it starts to exist: the one just built
mkdir "$tmp/unit"
sed "s|^ExecStart=/usr/local/sbin/rackpowerd |ExecStart=$rpd |" "$unit" >"$tmp/unit/rackpowerd.service"
grep -q "^ExecStart=$rpd " "$tmp/unit/rackpowerd.service" || fail "no ExecStart to replace"; ok
systemd-analyze verify "$tmp/unit/rackpowerd.service" >"$tmp/verify" 2>&1 ||
    fail "systemd-analyze verify: $(cat "$tmp/verify")"; ok
[ -s "$tmp/verify" ] && fail "systemd-analyze verify says: $(cat "$tmp/verify")"; ok
sed 's/^IPAddressAllow=/IPAddressAlow=/' "$tmp/unit/rackpowerd.service" >"$tmp/unit/broken.service"
systemd-analyze verify "$tmp/unit/broken.service" >"$tmp/verify" 2>&1
grep -q "Unknown key 'IPAddressAlow'" "$tmp/verify" || fail "verify did not read the unit: $(cat "$tmp/verify")"; ok

# the IP allow list and the example config's listen address
listen=$(sed -n 's/^  listen: *\([^ #]*\).*/\1/p' "$src/contrib/rackpower.yaml")
grep -qx 'IPAddressDeny=any' "$unit" || fail "no IPAddressDeny=any"; ok
case "$listen" in
127.* | ::1) grep -qx 'IPAddressAllow=localhost' "$unit" || fail "listen $listen, no IPAddressAllow=localhost"; ok ;;
*) grep -q "^IPAddressAllow=.*$listen" "$unit" || fail "listen $listen is not allowed"; ok ;;
esac
grep -qx 'RuntimeDirectory=rackpower' "$unit" || fail "no RuntimeDirectory"; ok
grep -qx 'LoadCredential=tokens:/etc/rackpower/tokens' "$unit" || fail "no LoadCredential of the tokens"; ok

# the daemon as the unit runs it: socket and tokens from systemd's directories
mkdir -m 0755 "$tmp/run"
mkdir -m 0700 "$tmp/cred"
"$ctl" token add ops --role operator --tokens "$tmp/cred/tokens" >"$tmp/ops.token" 2>/dev/null ||
    fail "token add"; ok
demo_rack "$src" "$tmp/rack.yaml"
{ cat "$tmp/rack.yaml"; printf 'api:\n  port: 0\n'; } >"$tmp/conf.yaml"
RUNTIME_DIRECTORY="$tmp/run" CREDENTIALS_DIRECTORY="$tmp/cred" \
    rpd_start "$rpd" "$tmp/conf.yaml" "$tmp/rp.db" "$tmp/log"
grep -q "serving the local socket $tmp/run/rackpowerd.sock" "$tmp/log" || fail "socket: $(grep socket "$tmp/log")"; ok
"$ctl" --unix-socket "$tmp/run/rackpowerd.sock" status >/dev/null || fail "status over the socket"; ok
"$ctl" --api "$api" --token-file "$tmp/ops.token" power-on db1 >"$tmp/out" || fail "the credential's token"; ok
grep -q '^db1: granted' "$tmp/out" || fail "power-on: $(cat "$tmp/out")"; ok
rpd_stop
[ -e "$tmp/run/rackpowerd.sock" ] && fail "the socket was left behind"; ok

test_end
