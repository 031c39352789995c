#!/bin/sh
# daemon_firstrun.sh RACKPOWERD RACKPOWERCTL: a newcomer's first command.
# `rackpowerd --sim` with no --config runs the built-in demo rack, and a user
# who is not root gets the database in their own state directory (XDG), with
# mode 0600 whatever the umask.
set -u
rpd="$1"
ctl="$2"
. "${0%/*}/lib.sh"
test_begin daemon_firstrun.sh

# Without --config and without --sim: a clear refusal that names the way out.
"$rpd" >"$tmp/none.out" 2>&1
[ $? -eq 2 ] || fail "rackpowerd with no arguments did not exit 2"; ok
grep -q -- '--sim alone' "$tmp/none.out" || fail "the refusal does not name --sim"; ok

# --sim --check: the built-in rack is contrib/rackpower.yaml.
"$rpd" --sim --check >"$tmp/check.out" 2>&1 || fail "rackpowerd --sim --check failed: $(cat "$tmp/check.out")"; ok
grep -q 'built-in demo rack.*ok: rack demo, 4 PSUs, 2 buses, 6 servers' "$tmp/check.out" ||
    fail "--sim --check: $(cat "$tmp/check.out")"; ok

# The first run, as a user that is not root, in a network namespace of its
# own (the built-in rack listens on its fixed port 8470, which another
# rackpowerd on this machine may hold). Needs root for unshare and setpriv.
if [ "$(id -u)" -ne 0 ] || ! unshare -n true 2>/dev/null; then
    echo "daemon_firstrun.sh: not root (or no network namespaces): the run as another user is skipped"
    test_end
    exit 0
fi
need setpriv ip
chmod 0755 "$tmp"
mkdir "$tmp/bin" "$tmp/home"
cp "$rpd" "$ctl" "$tmp/bin/" || fail "cannot copy the binaries"
chown nobody "$tmp/home"
unshare -n sh -c '
    ip link set lo up || exit 3
    umask 0
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
        env -i HOME="$1/home" PATH=/usr/bin:/bin "$1/bin/rackpowerd" --sim --foreground \
        >"$1/rpd.log" 2>&1 &
    pid=$!
    i=0
    until grep -q "serving the API" "$1/rpd.log"; do
        i=$((i + 1)); [ $i -gt 300 ] && { kill $pid; exit 4; }
        kill -0 $pid 2>/dev/null || exit 5
        sleep 0.1
    done
    "$1/bin/rackpowerctl" --api http://127.0.0.1:8470 status >"$1/status.out" 2>&1
    rc=$?
    # the newcomer commands with no option at all: the daemon'"'"'s own user is
    # admin on its socket, which both find beside the database
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
        env -i HOME="$1/home" PATH=/usr/bin:/bin "$1/bin/rackpowerctl" power-on ml1 \
        >"$1/on.out" 2>&1 || rc=6
    kill $pid; wait $pid
    exit $rc
' sh "$tmp"
rc=$?
log_show rackpowerd "$tmp/rpd.log"
[ $rc -eq 0 ] || fail "the first run as nobody failed ($rc): $(cat "$tmp/status.out" "$tmp/on.out" 2>/dev/null)"; ok
grep -q '^rack demo:' "$tmp/status.out" || fail "status: $(cat "$tmp/status.out")"; ok
grep -q '^ml1: queued' "$tmp/on.out" || fail "power-on with no option: $(cat "$tmp/on.out")"; ok
db="$tmp/home/.local/state/rackpower/rackpower.db"
[ -f "$db" ] || fail "no database in the user's state directory"; ok
[ "$(stat -c '%a %U' "$db")" = "600 nobody" ] || fail "database mode/owner: $(stat -c '%a %U' "$db")"; ok
[ "$(stat -c '%a' "${db%/*}")" = 700 ] || fail "state directory mode: $(stat -c '%a' "${db%/*}")"; ok
grep -q "database $db" "$tmp/rpd.log" || fail "the log does not name the database"; ok
test_end
