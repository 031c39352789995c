#!/bin/sh
# No client can silence rackpowerd's API (issue 7, part 4): 500 slowloris
# connections from 127.0.0.2 are held, the 501st is refused, and status
# still answers to a TCP client from 127.0.0.3 and to rackpowerctl, over TCP
# and over the local socket; an event stream's slot comes back as soon as its
# client goes; commands are answered while streams and slow clients are
# parked; ids cut inside a UTF-8 sequence and a reason that is not UTF-8 get
# JSON errors; a config that is a FIFO is refused on SIGHUP and at start,
# never waited for; the daemon stops cleanly with everything open; the flood
# of refusals is logged as a few lines and a count.
# Behaviour only: the latency under abuse is bench/abuse_bench.sh's.
# Usage: daemon_abuse.sh RACKPOWERD RACKPOWERCTL BENCH_ABUSE SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin daemon_abuse.sh
rpd="$1"
ctl="$2"
abuse="$3"
src="$4"
need socat
log_show "daemon-log" "$tmp/log"
log_show "hold-log" "$tmp/hold"

# The demo rack; keep-alive comments far apart, so that a stream's slot
# coming back fast is the hang-up being seen, not a keep-alive write failing.
demo_rack "$src" "$tmp/rack.yaml"
# Reads over plain HTTP need no token here; commands carry an operator's
# (RACKPOWER_TOKEN: rackpowerctl and bench-abuse send it); the raw requests
# below name the server "t" or "x".
"$ctl" token add abuse --role operator --tokens "$tmp/tokens" >"$tmp/token" 2>/dev/null ||
    fail "token add"
RACKPOWER_TOKEN=$(cat "$tmp/token")
export RACKPOWER_TOKEN
{
    cat "$tmp/rack.yaml"
    printf 'api:\n  port: 0\n  keepalive_s: 60\n  plain_reads: true\n  hosts: [t, x]\n'
    printf '  tokens: %s\n  socket: %s\n  command_rate: 0\n' "$tmp/tokens" "$tmp/rp.sock"
} >"$tmp/conf.yaml"
rpd_start "$rpd" "$tmp/conf.yaml" "$tmp/rp.db" "$tmp/log"
c() { "$ctl" --api "$api" "$@"; }
status_from() { # ADDR: whether GET /v1/status from ADDR is answered 200
    "$abuse" status 127.0.0.1 "$port" --from "$1" -n 1 | grep -q '(1 answers, 0 failed)'
}
# (not a function: $! must be the process itself)

# ---- slowloris from one address ----
"$abuse" hold 127.0.0.1 "$port" --from 127.0.0.2 -n 501 >"$tmp/hold" 2>&1 &
hpid=$!
track "$hpid"
until_ok 'grep -q "^held" "$tmp/hold"' "the slow clients to connect"
grep -q '^held 500 of 501 (501 connected)' "$tmp/hold" ||
    fail "the per-address limit: $(head -n 1 "$tmp/hold")"; ok
status_from 127.0.0.3 || fail "status from 127.0.0.3 with 500 slow clients"; ok
c status >"$tmp/out" || fail "rackpowerctl status with 500 slow clients"; ok
grep -q '^rack demo' "$tmp/out" || fail "status: $(cat "$tmp/out")"; ok
"$ctl" --unix-socket "$tmp/rp.sock" status >"$tmp/out" ||
    fail "rackpowerctl status over the local socket with 500 slow clients"; ok
grep -q '^rack demo' "$tmp/out" || fail "status over the socket: $(cat "$tmp/out")"; ok
status_from 127.0.0.2 && fail "a 502nd connection from 127.0.0.2 was served"; ok
c power-on db1 >"$tmp/out" || fail "power-on db1 with 500 slow clients"; ok
grep -q '^db1: granted' "$tmp/out" || fail "power-on: $(cat "$tmp/out")"; ok
# they are kept: each byte renews the idle timeout (only the address limit
# bounds them); the log says so a few times, then counts
sleep 6
grep -q '^held 500 of 501$' "$tmp/hold" || fail "the slow clients were dropped: $(tail -n 1 "$tmp/hold")"; ok
n=$(grep -c 'api: .*' "$tmp/log")
[ "$n" -le 10 ] || fail "$n warnings logged for refused connections"; ok

# ---- event streams: 32 at most, a slot back as soon as its client goes ----
i=0
while [ "$i" -lt 32 ]; do
    "$abuse" follow 127.0.0.1 "$port" >"$tmp/s$i" 2>&1 &
    eval "sp$i=$!"
    track "$(eval echo \$sp$i)"
    i=$((i + 1))
done
until_ok '[ "$(cat "$tmp"/s* | grep -c "^: rackpowerd events")" = 32 ]' "32 event streams open"
printf 'GET /v1/events/stream HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' |
    socat -t 5 - "TCP:127.0.0.1:$port" >"$tmp/full" 2>/dev/null
grep -q '^HTTP/1.1 503' "$tmp/full" || fail "a 33rd event stream: $(head -n 1 "$tmp/full")"; ok
grep -q 'too many event streams' "$tmp/full" || fail "33rd: $(cat "$tmp/full")"; ok
# commands and events go on with 32 parked streams and 500 slow clients
c power-on app1 >/dev/null || fail "power-on app1 with 32 streams"; ok
until_ok 'grep -q "\"server\":\"app1\"" "$tmp/s0"' "the grant of app1 on a stream"
stop "$sp5"
# at once (the keep-alive is 60 s away): a new stream is served
sleep 0.5
"$abuse" follow 127.0.0.1 "$port" >"$tmp/again" 2>&1 &
apid=$!
track "$apid"
sleep 1
grep -q '^: rackpowerd events' "$tmp/again" ||
    fail "the slot of a stream whose client went did not come back: $(cat "$tmp/again")"; ok

# ---- odd ids: every request gets a JSON answer ----
raw() { # REQUEST: the answer, in $tmp/raw
    printf '%b' "$1" | socat -t 5 - "TCP:127.0.0.1:$port" >"$tmp/raw" 2>/dev/null
}
H='Host: t\r\nConnection: close\r\n'
raw "GET /v1/servers/db%E2%82 HTTP/1.1\r\n$H\r\n" # a UTF-8 sequence cut short
grep -q '^{"error":"no server .db??."}$' "$tmp/raw" || fail "a split UTF-8 id: $(cat "$tmp/raw")"; ok
raw "POST /v1/servers/%F0%9F/power-on HTTP/1.1\r\n${H}Authorization: Bearer $RACKPOWER_TOKEN\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n"
grep -q '^{"error":"no server .??."}$' "$tmp/raw" || fail "a split UTF-8 command id: $(cat "$tmp/raw")"; ok
raw "POST /v1/servers/db1/power-on HTTP/1.1\r\n${H}Authorization: Bearer $RACKPOWER_TOKEN\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"reason\":\"\0342\0202\"}"
grep -q '^HTTP/1.1 400' "$tmp/raw" || fail "a reason that is not UTF-8: $(head -n 1 "$tmp/raw")"; ok
grep -q '^{"error":"body: not JSON: .*"}$' "$tmp/raw" || fail "a reason that is not UTF-8: no JSON error: $(cat "$tmp/raw")"; ok

# ---- a config that is a FIFO: refused, never waited for ----
mv "$tmp/conf.yaml" "$tmp/conf.good"
mkfifo "$tmp/conf.yaml"
kill -HUP "$rpd_pid"
until_ok "grep -q 'reload refused' '$tmp/log'" "the reload of a FIFO to be refused" 50
grep -q "reload refused: $tmp/conf.yaml: not a regular file" "$tmp/log" ||
    fail "FIFO reload: $(grep reload "$tmp/log")"; ok
c status >/dev/null || fail "status after a FIFO reload"; ok
c power-on web1 >/dev/null || fail "a command after a FIFO reload (the loop is stuck?)"; ok
"$rpd" --config "$tmp/conf.yaml" --db "$tmp/other.db" --foreground >"$tmp/fifo" 2>&1 &
fpid=$!
track "$fpid"
until_ok '! kill -0 "$fpid" 2>/dev/null' "rackpowerd to refuse a FIFO config" 50
stop "$fpid"
[ "$stop_rc" = 1 ] || fail "rackpowerd --config FIFO: exit $stop_rc"; ok
grep -q "conf.yaml: not a regular file" "$tmp/fifo" || fail "FIFO at start: $(cat "$tmp/fifo")"; ok
rm "$tmp/conf.yaml"
mv "$tmp/conf.good" "$tmp/conf.yaml"

# ---- stopping with everything parked ----
rpd_stop
[ "$stop_rc" = 0 ] || fail "rackpowerd exited $stop_rc when stopped with parked connections"; ok
grep -q "more warnings like these" "$tmp/log" || [ "$n" -le 5 ] ||
    fail "the refused connections were neither few nor counted"; ok
test_end
