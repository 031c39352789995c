#!/bin/sh
# Three rackpowerd controllers of one rack (node:, docs/controllers.md)
# against `rackpower-sim serve` over Modbus TCP: a key file others can read is
# refused; they elect one primary, whose epoch the devices' owner-epoch
# register holds; its grants reach the secondaries' ledgers; kill -9 of the
# primary: another is elected in a higher epoch, fences the devices and keeps
# every grant; the old one comes back as a secondary and catches up.
# Usage: daemon_node.sh RACKPOWERD RACKPOWERCTL RACKPOWER-SIM SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin daemon_node.sh
rpd="$1"
ctl="$2"
sim="$3"
src="$4"
need socat mbpoll python3
log_show simulator-log "$tmp/slog"
log_show c1-log "$tmp/c1.log"
log_show c2-log "$tmp/c2.log"
log_show c3-log "$tmp/c3.log"

demo_rack "$src" "$tmp/rack.yaml"
sim_start "$sim" "$tmp/sout" "$tmp/slog" "$tmp/rack.yaml" --tcp 127.0.0.1:0 --control "$tmp/ctl"
ok
mb="mbpoll -m tcp -p $sim_port -0 -1"

# three free UDP ports on loopback
set -- $(python3 -c 'import socket
s=[socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
udp1=$1 udp2=$2 udp3=$3

head -c 32 /dev/urandom >"$tmp/rack.key"
chmod 600 "$tmp/rack.key"

# conf N OWN_PSU_UNITS: controller N's config; it polls its own PSUs and
# reads the shared switch and chassis modules
conf() {
    n=$1
    { cat "$tmp/rack.yaml"
      printf 'devices:\n  - kind: modbus-tcp\n    host: 127.0.0.1\n    port: %s\n' "$sim_port"
      printf '    poll_ms: 100\n    timeout_ms: 500\n    reprobe_s: 1\n    units:\n%b' "$2"
      printf '      - {unit: 1, switches: [ps1, ps2, ps3, ps4]}\n'
      demo_units chassis
      printf 'node:\n  address: %s\n  listen: 127.0.0.1:%s\n  key_file: %s\n' "$n" \
          "$(eval echo \$udp$n)" "$tmp/rack.key"
      # a primary lost after 4 heartbeats of 500 ms, not the example's 3 of
      # 100: on a loaded two-core machine (CI, ASan) a controller's loop waits
      # for the CPU and its commits for the disk longer than 300 ms now and
      # then, and its peers rightly elect anew, again and again, under the checks
      printf '  heartbeat_ms: 500\n  missed_heartbeats: 4\n  peers:\n'
      for p in 1 2 3; do
          [ "$p" = "$n" ] || printf '    - {address: %s, at: 127.0.0.1:%s}\n' "$p" "$(eval echo \$udp$p)"
      done
      printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/c$n.sock"; } >"$tmp/c$n.yaml"
}
conf 1 '      - {unit: 200, psu: ps1}\n'
conf 2 '      - {unit: 201, psu: ps2}\n'
conf 3 '      - {unit: 202, psu: ps3}\n      - {unit: 203, psu: ps4}\n'

# A key that its group or others may read: refused, with the reason.
chmod 644 "$tmp/rack.key"
"$rpd" --config "$tmp/c1.yaml" --db "$tmp/c1.db" --foreground >"$tmp/refused" 2>&1 &&
    fail "rackpowerd started with a key file of mode 0644"; ok
grep -q "key_file: key file .*rack.key: mode 0644" "$tmp/refused" || fail "the refusal does not name the key: $(cat "$tmp/refused")"; ok
chmod 600 "$tmp/rack.key"

# cstart N: starts controller N (its pid in cN_pid)
cstart() {
    rpd_start "$rpd" "$tmp/c$1.yaml" "$tmp/c$1.db" "$tmp/c$1.log"
    eval "c$1_pid=$rpd_pid"
}
# st N FIELD: a top-level scalar of controller N's status (role, node, epoch,
# primary: each the first key of its name in the compact JSON)
st() {
    "$ctl" --unix-socket "$tmp/c$1.sock" status --json | grep -o "\"$2\":[^,}]*" | head -n 1 |
        cut -d: -f2 | tr -d '"'
}
# srvn N ID: the state of server ID in controller N's ledger
srvn() {
    "$ctl" --unix-socket "$tmp/c$1.sock" servers --json | grep -o "\"id\":\"$2\",\"state\":\"[a-z]*\"" |
        cut -d'"' -f8
}
# primaries LIST: how many of the controllers LIST say they are primary
primaries() {
    k=0
    for n in "$@"; do
        [ "$(st "$n" role 2>/dev/null)" = primary ] && k=$((k + 1))
    done
    echo $k
}
# leader_of LIST: the one controller of LIST that says it is primary, when
# every other one of LIST names it its primary (none while an election is
# under way: the primary is taken once, not read again between checks)
leader_of() {
    lo_p=""
    for lo_n in "$@"; do
        [ "$(st "$lo_n" role 2>/dev/null)" = primary ] || continue
        [ -z "$lo_p" ] || return 1
        lo_p=$lo_n
    done
    [ -n "$lo_p" ] || return 1
    for lo_n in "$@"; do
        [ "$lo_n" = "$lo_p" ] || [ "$(st "$lo_n" primary 2>/dev/null)" = "$lo_p" ] || return 1
    done
    echo "$lo_p"
}
# owner_epoch UNIT: the owner-epoch register of a simulated module (4096..4099)
owner_epoch() {
    $mb -a "$1" -t 4 -r 4096 -c 4 127.0.0.1 2>/dev/null |
        sed -n 's/^\[409[6-9]\]:[[:space:]]*\(-\{0,1\}[0-9]*\).*/\1/p' |
        python3 -c 'import sys
w=[int(x) & 0xffff for x in sys.stdin.read().split()]
print((w[0]<<48)|(w[1]<<32)|(w[2]<<16)|w[3] if len(w)==4 else "none")'
}

ctlsend "power_on db1 app1"
cstart 1
cstart 2
cstart 3
ok

until_ok 'leader=$(leader_of 1 2 3)' "one primary among the three, named by the others"
epoch=$(st $leader epoch)
[ "$epoch" -gt 0 ] || fail "the primary's epoch is $epoch"; ok
[ $((epoch & 255)) = "$leader" ] || fail "epoch $epoch does not name its primary $leader"; ok
for n in 1 2 3; do
    [ "$n" = "$leader" ] && continue
    until_ok '[ "$(st $n role)" = secondary ] && [ "$(st $n primary)" = "$leader" ]' \
        "controller $n a secondary of $leader"
done
# the devices hold the primary's epoch
until_ok '[ "$(owner_epoch 1)" = "$epoch" ]' "the switch module fenced with epoch $epoch"
until_ok '[ "$(owner_epoch 10)" = "$epoch" ]' "chassis c1 fenced with epoch $epoch"

# the grants, by the primary, in every ledger and at the devices
until_ok '[ "$(srvn $leader db1)" = on ] && [ "$(srvn $leader app1)" = on ]' "db1 and app1 granted"
until_ok 'simstat "server db1 .*present on"' "db1 powered in the simulator"
for n in 1 2 3; do
    until_ok '[ "$(srvn $n db1)" = on ] && [ "$(srvn $n app1)" = on ]' "controller $n holds the grants"
done
# a command on the primary is answered once replicated: the secondaries hold it at once after
"$ctl" --unix-socket "$tmp/c$leader.sock" power-on web1 >/dev/null ||
    fail "power-on web1 on the primary refused"; ok
for n in 1 2 3; do
    [ "$n" = "$leader" ] && continue
    [ "$(srvn $n web1)" = on ] || fail "controller $n lacks web1's grant after the primary answered"; ok
done
# the status's cluster fields
"$ctl" --unix-socket "$tmp/c$leader.sock" status --json >"$tmp/status"
python3 - "$tmp/status" "$leader" <<'EOF' || fail "the status's cluster fields: $(cat "$tmp/status")"
import json, sys
s = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
assert s["role"] == "primary" and s["node"] == n and s["primary"] == n, s
assert len(s["peers"]) == 2 and all(p["state"] == "alive" and p["last_heard"] for p in s["peers"]), s
bus = s["rackbus"]
assert bus["sent"] > 0 and bus["received"] > 0 and bus["forged"] == 0, bus
EOF
ok

# kill -9 of the primary: another is elected in a higher epoch, fences the
# devices, and every grant stands
old=$leader
eval "kill -9 \$c${old}_pid"
eval "wait \$c${old}_pid 2>/dev/null"
eval "untrack \$c${old}_pid"
rest=""
for n in 1 2 3; do
    [ "$n" = "$old" ] || rest="$rest $n"
done
until_ok 'leader=$(leader_of $rest)' "a new primary after kill -9 of $old"
epoch2=$(st $leader epoch)
[ "$epoch2" -gt "$epoch" ] || fail "the new epoch $epoch2 is not above $epoch"; ok
until_ok '[ "$(owner_epoch 1)" = "$epoch2" ]' "the switch module fenced with epoch $epoch2"
for s in db1 app1 web1; do
    [ "$(srvn $leader $s)" = on ] || fail "$s lost its grant at the new primary $leader"; ok
    simstat "server $s .*present on" || fail "$s is off in the simulator after the fail-over"; ok
done
until_ok '"$ctl" --unix-socket "$tmp/c$leader.sock" status --json | grep -q "\"node\":$old,\"state\":\"dead\""' \
    "the new primary shows $old dead"
# the table says where each controller stands, and when the dead one was last heard
"$ctl" --unix-socket "$tmp/c$leader.sock" status >"$tmp/table"
grep -q "^node $leader: primary, epoch $epoch2, primary node $leader; peers: .*$old dead (last heard 20" \
    "$tmp/table" || fail "the primary's status table: $(cat "$tmp/table")"; ok
for n in $rest; do
    [ "$n" = "$leader" ] && continue
    until_ok '"$ctl" --unix-socket "$tmp/c$n.sock" status | grep -q "^node $n: secondary, epoch $epoch2, primary node $leader; peers: "' \
        "controller $n's status table names its primary"
done
# the new primary decides a new request, made as soon as it is primary.
# Until the other controllers have told of their PSUs or their grace (about
# 2 s) has passed, what raises power waits: a PSU whose reader died with the
# old primary still counts as last replicated then (docs/controllers.md
# "The first grace after a promotion"). When the dead one is controller 3, its ps3
# and ps4 are unknown after the grace, and with n+1 the rack proves too
# little for web2: it waits, saying why (raising power needs proof), and is
# granted once controller 3 is back and reads them. Before the hold, a
# request in that first grace was granted on ps3 and ps4's last state.
ctlsend "power_on web2"
until_ok "grep -q \"promoted: decisions that raise power wait [0-9.]* s for the other controllers' word on their PSUs\" '$tmp/c$leader.log'" \
    "the new primary holds what raises power for the others' word"
if [ "$old" = 3 ]; then
    until_ok '"$ctl" --unix-socket "$tmp/c$leader.sock" events --json --tail 1000 | grep "\"event\":\"wait\"" |
        grep "\"server\":\"web2\"" | grep -Eq "ps3 and ps4 (not counted: )?cannot be read"' \
        "web2 waits at the new primary, ps3 and ps4 unknown"
    [ "$(srvn $leader web2)" = waiting ] || fail "web2 is $(srvn $leader web2) at the new primary"; ok
    "$ctl" --unix-socket "$tmp/c$leader.sock" events --json --tail 1000 | grep '"event":"grant"' |
        grep -q '"server":"web2"' &&
        fail "web2 was granted by the new primary before controller 3 came back"; ok
    simstat "server web2 .*present on" && fail "web2 is on in the simulator"; ok
else
    until_ok '[ "$(srvn $leader web2)" = on ]' "web2 granted by the new primary"
    until_ok 'simstat "server web2 .*present on"' "web2 powered by the new primary"
fi

# the old primary comes back with its disk: a secondary that catches up
cstart $old
until_ok '[ "$(st $old role)" = secondary ] && [ "$(st $old primary)" = "$leader" ]' \
    "$old back as a secondary of $leader"
until_ok '[ "$(srvn $leader web2)" = on ]' "web2 granted by the primary $leader"
until_ok 'simstat "server web2 .*present on"' "web2 powered by the primary $leader"
until_ok '[ "$(srvn $old web2)" = on ]' "$old caught up (web2's grant)"
[ "$(primaries 1 2 3)" = 1 ] || fail "more than one primary after $old came back"; ok

for n in 1 2 3; do
    eval "p=\$c${n}_pid"
    stop "$p"
done
sim_stop
test_end
