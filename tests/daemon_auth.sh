#!/bin/sh
# Who may do what on rackpowerd's API (docs/security.md), with the real
# daemon: tokens over plain HTTP on loopback, the local Unix socket (root,
# and a user of the socket's group through SO_PEERCRED), HTTPS with a
# certificate made here; 401 and 403 with JSON errors; a viewer cannot
# command, an operator cannot reload; a browser-like text/plain POST, a
# foreign Origin and a foreign Host are refused; who appears in the journal;
# the command rate holds back power-on but never power-off; a tokens file
# others may read is refused; a revoked token stops working on reload.
# Usage: daemon_auth.sh RACKPOWERD RACKPOWERCTL SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin daemon_auth.sh
rpd="$1"
ctl="$2"
src="$3"
need curl openssl
log_show "daemon-log" "$tmp/log"

# ---- tokens: made by rackpowerctl, in a file of mode 0600 ----
tokens="$tmp/tokens"
for t in admin1:admin ops:operator view:viewer; do
    "$ctl" token add "${t%%:*}" --role "${t#*:}" --tokens "$tokens" >"$tmp/${t%%:*}.token" \
        2>"$tmp/err" || fail "token add ${t%%:*}: $(cat "$tmp/err")"; ok
done
[ "$(stat -c %a "$tokens")" = 600 ] || fail "tokens file mode $(stat -c %a "$tokens")"; ok
grep -q "^rp_[0-9a-f]\{64\}$" "$tmp/ops.token" || fail "token shape: $(cat "$tmp/ops.token")"; ok
grep -q "$(cut -c4- "$tmp/ops.token")" "$tokens" && fail "the secret is in the file"; ok
"$ctl" token list --tokens "$tokens" >"$tmp/out" || fail "token list"; ok
grep -Eq '^ops +operator$' "$tmp/out" || fail "token list: $(cat "$tmp/out")"; ok
"$ctl" token add ops --role viewer --tokens "$tokens" >/dev/null 2>"$tmp/err" &&
    fail "a second token named ops"; ok
grep -q "a token named 'ops' exists already" "$tmp/err" || fail "twice: $(cat "$tmp/err")"; ok
"$ctl" token add x --tokens "$tokens" >/dev/null 2>&1; [ $? -eq 2 ] || fail "token add without --role"; ok

# ---- the daemon: plain HTTP on loopback, its socket, its tokens ----
demo_rack "$src" "$tmp/rack.yaml"
sock="$tmp/rp.sock"
{
    cat "$tmp/rack.yaml"
    printf 'api:\n  port: 0\n  socket: %s\n  tokens: %s\n' "$sock" "$tokens"
    printf '  socket_group: nogroup\n  socket_role: operator\n'
    printf '  hosts: [rack.test]\n  origins: ["https://rack.test"]\n'
    printf '  command_rate: 1\n  command_burst: 3\n'
} >"$tmp/conf.yaml"
rpd_start "$rpd" "$tmp/conf.yaml" "$tmp/rp.db" "$tmp/log"
grep -q "serving the local socket $sock" "$tmp/log" || fail "no socket in the log"; ok
[ "$(stat -c '%a %G' "$sock")" = "660 nogroup" ] || fail "socket: $(stat -c '%a %G' "$sock")"; ok

as() { # NAME ARGS...: rackpowerctl over TCP with NAME's token
    n="$1"
    shift
    "$ctl" --api "$api" --token-file "$tmp/$n.token" "$@"
}
# curl over TCP: prints the status code; the body in $tmp/body, headers in $tmp/head
http() {
    curl -s -o "$tmp/body" -D "$tmp/head" -w '%{http_code}' "$@"
}
json_error() { grep -q '^{"error":"' "$tmp/body" || fail "not a JSON error: $(cat "$tmp/body")"; ok; }

# reads need a token: none, or one not in the file, is 401
[ "$(http "$api/v1/status")" = 401 ] || fail "a read without a token: $(cat "$tmp/body")"; ok
json_error
grep -qi '^WWW-Authenticate: Bearer' "$tmp/head" || fail "401 without WWW-Authenticate"; ok
grep -q 'a token is needed' "$tmp/body" || fail "401 body: $(cat "$tmp/body")"; ok
[ "$(http -H "Authorization: Bearer rp_$(printf '%064d' 0)" "$api/v1/status")" = 401 ] ||
    fail "an unknown token"; ok
grep -q 'unknown or revoked token' "$tmp/body" || fail "401 body: $(cat "$tmp/body")"; ok
"$ctl" --api "$api" status >/dev/null 2>"$tmp/err" && fail "rackpowerctl without a token read"; ok
as view status >"$tmp/out" || fail "the viewer's status"; ok
grep -q '^rack demo' "$tmp/out" || fail "status: $(cat "$tmp/out")"; ok

# roles: a viewer cannot command, an operator cannot reload or shut down
as view power-on db1 >/dev/null 2>"$tmp/err" && fail "a viewer powered db1 on"; ok
[ "$(cat "$tmp/err")" = "rackpowerctl: view (viewer) may not do this: it needs operator" ] ||
    fail "viewer's refusal: $(cat "$tmp/err")"; ok
[ "$(http -X POST -H "Authorization: Bearer $(cat "$tmp/view.token")" \
    -H 'Content-Type: application/json' "$api/v1/servers/db1/power-on")" = 403 ] ||
    fail "viewer's power-on: not 403"; ok
json_error
as ops power-on db1 >"$tmp/out" || fail "the operator's power-on"; ok
grep -q '^db1: granted' "$tmp/out" || fail "power-on: $(cat "$tmp/out")"; ok
as ops reload >/dev/null 2>"$tmp/err" && fail "an operator reloaded"; ok
grep -q 'ops (operator) may not do this: it needs admin' "$tmp/err" || fail "reload: $(cat "$tmp/err")"; ok
as ops shutdown >/dev/null 2>&1 && fail "an operator shut the daemon down"; ok
kill -0 "$rpd_pid" || fail "the daemon stopped"; ok
as admin1 reload >"$tmp/out" || fail "the admin's reload"; ok
grep -q '^reload applied: nothing changed; tokens: 3 read' "$tmp/out" || fail "reload: $(cat "$tmp/out")"; ok

# a browser's ways in: text/plain (no preflight), a foreign Origin, a foreign Host
OPS="Authorization: Bearer $(cat "$tmp/ops.token")"
[ "$(http -X POST -H "$OPS" -H 'Content-Type: text/plain' -d '{}' "$api/v1/servers/app1/power-on")" = 415 ] ||
    fail "a text/plain command: $(cat "$tmp/body")"; ok
json_error
[ "$(http -X POST -H "$OPS" "$api/v1/servers/app1/power-on")" = 415 ] || fail "a command without a type"; ok
[ "$(http -X POST -H "$OPS" -H 'Content-Type: application/json' -H 'Origin: https://evil.example' \
    "$api/v1/servers/app1/power-on")" = 403 ] || fail "a foreign Origin"; ok
grep -q "Origin 'https://evil.example' is not allowed" "$tmp/body" || fail "Origin: $(cat "$tmp/body")"; ok
[ "$(http -H "$OPS" -H 'Host: evil.example:8470' "$api/v1/status")" = 403 ] || fail "a foreign Host"; ok
grep -q "Host 'evil.example:8470' is not a name of this server" "$tmp/body" || fail "Host: $(cat "$tmp/body")"; ok
as view servers --json | grep -q '"id":"app1","state":"off"' || fail "app1 was powered on by a refused request"; ok
[ "$(http -H "$OPS" -H 'Host: rack.test' -H 'Origin: https://rack.test' "$api/v1/status")" = 200 ] ||
    fail "the configured Host and Origin"; ok
[ "$(http -H "$OPS" -H "Host: localhost:$port" "$api/v1/status")" = 200 ] || fail "Host localhost"; ok

# ---- the local socket ----
# root (the daemon's own user here) is admin, with no token
"$ctl" --unix-socket "$sock" power-on app1 >"$tmp/out" || fail "power-on over the socket"; ok
grep -q '^app1: granted' "$tmp/out" || fail "socket power-on: $(cat "$tmp/out")"; ok
# nobody, in the socket's group: an operator (SO_PEERCRED), that cannot reload
chmod 0755 "$tmp"
cp "$ctl" "$tmp/ctl" && chmod 0755 "$tmp/ctl"
nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$tmp/ctl" --unix-socket "$sock" "$@"; }
nobody power-on web1 >"$tmp/out" 2>&1 || fail "nobody in the socket's group: $(cat "$tmp/out")"; ok
nobody reload >"$tmp/out" 2>&1 && fail "nobody reloaded"; ok
grep -q 'uid:65534 (operator) may not do this: it needs admin' "$tmp/out" || fail "nobody: $(cat "$tmp/out")"; ok
# a user outside the group does not get through the socket's mode at all
setpriv --reuid=nobody --regid=daemon --clear-groups "$tmp/ctl" --unix-socket "$sock" status \
    >"$tmp/out" 2>&1 && fail "a user outside the socket's group read"; ok
grep -q 'Permission denied' "$tmp/out" || fail "outside the group: $(cat "$tmp/out")"; ok

# who is in the journal
"$ctl" --unix-socket "$sock" events --tail 40 --json >"$tmp/ev"
grep -q '"event":"grant","server":"db1".*"who":"ops"' "$tmp/ev" || fail "db1's grant names ops"; ok
grep -q '"event":"grant","server":"app1".*"who":"uid:0"' "$tmp/ev" || fail "app1's grant names uid:0"; ok
grep -q '"event":"grant","server":"web1".*"who":"uid:65534"' "$tmp/ev" || fail "web1's grant names uid:65534"; ok
grep -q '"event":"reload","who":"admin1"' "$tmp/ev" || fail "the reload names admin1"; ok

# ---- the command rate: power-on held back, power-off never ----
ON="-X POST -H Content-Type:application/json"
codes=""
for s in web2 batch1 ml1 web2 batch1 ml1; do
    code=$(http $ON -H "$OPS" "$api/v1/servers/$s/power-on")
    codes="$codes $code"
    [ "$code" = 429 ] && cp "$tmp/head" "$tmp/head429" && cp "$tmp/body" "$tmp/body429"
done
case "$codes" in *429*) ok ;; *) fail "six power-ons at once, none held back:$codes" ;; esac
grep -qi '^Retry-After: [0-9]' "$tmp/head429" || fail "429 without Retry-After"; ok
grep -q '{"error":"too many commands: try again later"}' "$tmp/body429" || fail "429: $(cat "$tmp/body429")"; ok
codes=""
for s in db1 app1 web1 web2 batch1 ml1 db1 app1 web1 web2; do
    codes="$codes $(http $ON -H "$OPS" "$api/v1/servers/$s/power-off")"
done
[ "$codes" = " 200 200 200 200 200 200 200 200 200 200" ] || fail "power-offs held back:$codes"; ok
# an out-of-service is never held back; its dry run (it lowers nothing) is
codes=""
for i in 1 2 3 4 5 6; do
    codes="$codes $(http $ON -H "$OPS" -d '{"dry_run":true}' "$api/v1/psus/ps1/out-of-service")"
done
case "$codes" in *429*) ok ;; *) fail "six dry runs at once, none held back:$codes" ;; esac

# ---- the tokens file on reload: others may read it, refused; a revoked token ----
chmod 0644 "$tokens"
kill -HUP "$rpd_pid"
until_ok "grep -q 'tokens refused' '$tmp/log'"
grep -q "mode 0644; chmod 600" "$tmp/log" || fail "refusal: $(grep tokens "$tmp/log")"; ok
as view status >/dev/null || fail "the tokens in use did not stay"; ok
chmod 0600 "$tokens"
"$ctl" token revoke view --tokens "$tokens" 2>/dev/null || fail "token revoke"; ok
as view status >/dev/null || fail "revoked, not yet reloaded: still good"; ok
as admin1 reload >/dev/null || fail "reload after revoke"; ok
as view status >/dev/null 2>"$tmp/err" && fail "a revoked token still reads"; ok
grep -q 'unknown or revoked token' "$tmp/err" || fail "revoked: $(cat "$tmp/err")"; ok

# ---- shutdown: an admin's ----
as admin1 shutdown >"$tmp/out" || fail "the admin's shutdown"; ok
wait "$rpd_pid"
rc=$?
untrack "$rpd_pid"
[ $rc -eq 0 ] || fail "shutdown: exit $rc"; ok
grep -q 'shutdown asked by admin1: stopping' "$tmp/log" || fail "shutdown not logged"; ok
[ -e "$sock" ] && fail "the socket was left behind"; ok

# ---- a tokens file others may read: the daemon does not start ----
chmod 0640 "$tokens"
"$rpd" --config "$tmp/conf.yaml" --db "$tmp/rp.db" --foreground >"$tmp/out" 2>&1 &&
    fail "rackpowerd started with a tokens file of mode 0640"; ok
grep -q "$tokens: refused: group or others may access it (mode 0640; chmod 600)" "$tmp/out" ||
    fail "start: $(cat "$tmp/out")"; ok
chmod 0600 "$tokens"

# ---- HTTPS: a certificate made here; every request needs a token ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -subj /CN=localhost \
    -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' >/dev/null 2>&1 ||
    fail "openssl cannot make a certificate"; ok
{
    cat "$tmp/rack.yaml"
    printf 'api:\n  port: 0\n  socket: none\n  tokens: %s\n' "$tokens"
    printf '  tls_cert: %s\n  tls_key: %s\n' "$tmp/cert.pem" "$tmp/key.pem"
} >"$tmp/tls.yaml"
rpd_start "$rpd" "$tmp/tls.yaml" "$tmp/rp.db" "$tmp/log"
case "$api" in https://127.0.0.1:*) ok ;; *) fail "not https: $api" ;; esac
tls="https://localhost:$port"
as ops --api "$tls" --cacert "$tmp/cert.pem" status >"$tmp/out" 2>&1 || fail "https status: $(cat "$tmp/out")"; ok
grep -q '^rack demo' "$tmp/out" || fail "https status: $(cat "$tmp/out")"; ok
as ops --api "$tls" --cacert "$tmp/cert.pem" power-on db1 >"$tmp/out" 2>&1 || fail "https power-on: $(cat "$tmp/out")"; ok
grep -q '^db1: granted' "$tmp/out" || fail "https power-on: $(cat "$tmp/out")"; ok
"$ctl" --api "$tls" --cacert "$tmp/cert.pem" status >/dev/null 2>"$tmp/err" && fail "https without a token"; ok
grep -q 'a token is needed' "$tmp/err" || fail "https without a token: $(cat "$tmp/err")"; ok
as ops --api "$tls" status >/dev/null 2>"$tmp/err" && fail "a certificate no CA vouches for was taken"; ok
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/status")" = 200 ] &&
    fail "plain HTTP answered on the HTTPS port"; ok
[ "$(http --cacert "$tmp/cert.pem" -X POST -H "$OPS" -H 'Content-Type: application/json' \
    "$tls/v1/servers/app1/power-on")" = 200 ] || fail "curl over https: $(cat "$tmp/body")"; ok
[ -e "$sock" ] && fail "socket: none made a socket"; ok
rpd_stop
[ $stop_rc -eq 0 ] || fail "SIGTERM: exit $stop_rc"; ok

test_end
