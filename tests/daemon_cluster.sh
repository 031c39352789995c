#!/bin/sh
# Three controllers, one primary (issue 9, section 8): the three rackpowerd
# of examples/cluster (copied here with free ports) run the rack of
# examples/cluster/rack.yaml, which `rackpower-sim serve` plays over Modbus
# TCP. As real processes:
#  1. they elect one primary, and every one says so in its status;
#  2. a boot storm (in three waves), and kill -9 of the primary in the
#     middle of it (after the first wave is powered, as the second asks): a new
#     primary (a higher epoch, which fenced the modules), no lost grant
#     (every server powered at the devices before the kill is still powered
#     and granted), the storm finished by the new primary; the dead one's
#     PSUs are unknown, not failed, and alarmed; rackpowerctl given the dead
#     one first uses the next;
#  3. the old primary comes back: it stays a secondary and catches up;
#  4. a command given to a secondary is forwarded to the primary;
#  5. a partition: nftables drops the current primary's rack bus traffic on
#     loopback; the other two elect a new primary, and when the isolated old
#     one writes to the devices (a command through its own socket) the
#     modules refuse it (the simulator's log shows the exception), nothing
#     moves, and it steps down; healed, it rejoins as a secondary;
#  6. forged and replayed datagrams (python3: garbage, and a real datagram
#     caught on loopback and sent again) are dropped and counted.
# Needs root for nftables and the packet capture on loopback (the ctest
# runs as root here); without them part 5 uses the rack bus's fault switch
# (RACKPOWER_RACKBUS_FAULTS, node_io.h: the isolated one drops everyone, the
# others drop it) and part 6 sends only forgeries, and the test says so.
# Usage: daemon_cluster.sh RACKPOWERD RACKPOWERCTL RACKPOWER-SIM SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin daemon_cluster.sh
rpd="$1"
ctl="$2"
sim="$3"
src="$4"
need socat python3
log_show simulator-log "$tmp/slog"
for n in 1 2 3; do log_show "c$n-log" "$tmp/c$n.log"; done

# ---- setup: the example's files with this test's ports and paths ----------

sim_start "$sim" "$tmp/sout" "$tmp/slog" "$src/examples/cluster/rack.yaml" --tcp 127.0.0.1:0 \
    --control "$tmp/ctl"
ok # the simulator serves
# a primary lost after 4 heartbeats of 500 ms, not the example's 3 of 100: on
# a loaded two-core machine (CI, ASan) a controller's loop waits for the CPU
# and its commits for the disk longer than 300 ms now and then, and its
# peers rightly elect anew, again and again, under the checks
cluster_files "$src" "$sim_port" 500 4
ok
# servers N: "id state" lines as controller N's ledger has them
servers() {
    c "$1" servers --json | "$lib_py" -c '
import json, sys
for s in json.load(sys.stdin)["servers"]:
    print(s["id"], s["state"])'
}
# powered: the servers the simulated modules power now, one per line
powered() { sim_ctl "$tmp/ctl" status | sed -n 's/^server \([^ ]*\) .* present on .*/\1/p'; }
# devices_match N: controller N's grants are what the modules power
devices_match() {
    servers "$1" | awk '$2 == "on" || $2 == "capped" { print $1 }' | sort >"$tmp/granted"
    powered | sort >"$tmp/powered"
    cmp -s "$tmp/granted" "$tmp/powered"
}
# peer_states N: the states of controller N's peers, in one line
peer_states() { j "$1" '" ".join(x["state"] for x in d["peers"])'; }
# unknown N: the PSUs controller N's status calls unknown, sorted, one line
unknown() { j "$1" '" ".join(sorted(u["psu"] for u in d["unknown"]))'; }

# ---- 1. election ------------------------------------------------------------
for n in 1 2 3; do cstart "$n" "$rpd"; done
ok # three controllers serve their APIs
until_ok 'p=$(primary)' "one primary, named by all three"
e1=$(epoch "$p")
[ "$e1" -gt 0 ] || fail "the primary's epoch is $e1"; ok
[ "$(( e1 % 256 ))" -eq "$p" ] || fail "epoch $e1 does not carry the primary's address $p"; ok
for n in 1 2 3; do
    [ "$(j "$n" 'd["node"]')" = "$n" ] || fail "c$n's status: node is not $n"
    [ "$n" = "$p" ] || [ "$(role "$n")" = secondary ] || fail "c$n is not a secondary"
    j "$n" 'sorted(x["node"] for x in d["peers"])' | grep -q "^\[[0-9], [0-9]\]$" ||
        fail "c$n's status: two peers expected: $(j "$n" 'd["peers"]')"
done
ok
until_ok '[ "$(peer_states $p)" = "alive alive" ]' "the primary sees both peers alive"
until_ok 'grep -q "owner epoch 0 -> $e1" "$tmp/slog"' "the primary fenced the modules with its epoch"
echo "daemon_cluster.sh: c$p is primary, epoch $e1"
# its polls read the modules back holding its epoch: commands without a fence
# of their own (upsd stages, BMCs, migrate commands) may go from it, not from
# a secondary (docs/outage.md "Several controllers")
until_ok 'c $p outage status --json | grep -q "\"commands_held_back\":null"' "c$p's epoch confirmed by its polls"
for k in 1 2 3; do
    [ "$k" = "$p" ] && continue
    c "$k" outage status --json | grep -q '"commands_held_back":"held back: this controller does not command' ||
        fail "c$k (a secondary) may send outage commands"; ok
done

# ---- 2. boot storm, kill -9 of the primary in the middle ---------------------
# in three waves: the kill falls between the second and the third
ctlsend "power_on db1 db2 app1"
until_ok '[ -n "$(powered)" ]' "the first grant of the storm reaches the devices" 600
ctlsend "power_on app2 web1 web2"
old=$p
ckill "$old" KILL
powered | sort >"$tmp/before" # nobody can write now until a new primary fences
ctlsend "power_on batch1 ml1 log1"
echo "daemon_cluster.sh: killed c$old with $(wc -l <"$tmp/before") servers powered: $(tr '\n' ' ' <"$tmp/before")"
until_ok 'p=$(primary) && [ "$p" != "$old" ]' "a new primary after kill -9 of c$old"
e2=$(epoch "$p")
[ "$e2" -gt "$e1" ] || fail "the new epoch $e2 is not above $e1"; ok
until_ok 'grep -q "owner epoch $e1 -> $e2" "$tmp/slog"' "the new primary fenced the modules"
# no lost grant: powered before, powered and granted now
servers "$p" >"$tmp/ledger"
for s in $(cat "$tmp/before"); do
    grep -q "^$s \(on\|capped\)$" "$tmp/ledger" || fail "$s was powered before the kill; c$p has it $(grep "^$s " "$tmp/ledger")"
    powered | grep -qx "$s" || fail "$s was powered before the kill and is not now"
done
ok
# the storm is finished by the new primary: nobody still off, the devices agree
until_ok '! servers $p | grep -q " off$" && devices_match $p' "the boot storm decided by c$p, the devices as its ledger"
# the dead one's PSUs are unknown, not failed, and alarmed
case $old in 1) dead_psus="ps1 ps2 ps3" ;; 2) dead_psus="ps4 ps5 ps6" ;; 3) dead_psus="ps7 ps8 ps9" ;; esac
until_ok '[ "$(unknown $p)" = "$dead_psus" ]' "c$old's PSUs ($dead_psus) unknown at c$p"
for q in $dead_psus; do
    c "$p" psus --json | grep -q "\"id\":\"$q\"[^}]*\"state\":\"failed\"" && fail "$q is failed, not unknown"
done
ok
until_ok 'c $p alarms --json | grep -q "\"kind\":\"peer_lost\",\"subject\":\"node $old\""' "peer_lost alarm for node $old"
# rackpowerctl with the dead one first uses the next that answers
"$ctl" --api "$(eval echo "\$api$old"),$(eval echo "\$api$p")" status --json | grep -q '"role":"primary"' ||
    fail "rackpowerctl --api DEAD,PRIMARY did not reach the primary"; ok

# ---- 3. the old primary comes back --------------------------------------------
cstart "$old" "$rpd"
until_ok '[ "$(role $old)" = secondary ] && [ "$(j $old "d[\"primary\"]")" = "$p" ]' "c$old back as a secondary of c$p"
[ "$(primary)" = "$p" ] || fail "the primary changed when c$old came back"; ok
until_ok 'servers $old >"$tmp/a" && servers $p >"$tmp/b" && cmp -s "$tmp/a" "$tmp/b"' "c$old caught up: its ledger is c$p's"
until_ok '[ -z "$(unknown $p)" ]' "c$old's PSUs known again at c$p"
until_ok '! c $p alarms --json | grep -q "peer_lost"' "peer_lost cleared"

# ---- 4. a command given to a secondary goes to the primary ----------------------
sec=""
for n in 1 2 3; do [ "$n" != "$p" ] && sec=$n && break; done
victim=$(servers "$p" | awk '$2 == "on" { s = $1 } END { print s }')
admin "$sec" power-off "$victim" --reason "given to secondary c$sec" >"$tmp/fwd" 2>&1 ||
    fail "power-off $victim through secondary c$sec: $(cat "$tmp/fwd")"; ok
until_ok 'servers $p | grep -q "^$victim off$"' "$victim released by the primary"
until_ok '! powered | grep -qx "$victim"' "$victim powered off at the devices"
# (the whole journal: on a loaded machine many events may follow it)
c "$p" events --json --tail 1000 | grep "given to secondary c$sec" | grep -q "\"who\":\"[^\"]* via node $sec" ||
    fail "the primary's journal does not say who asked through c$sec: $(c "$p" events --json --tail 1000 | grep "given to secondary")"; ok

# ---- 5. a partition: the primary's rack bus dropped ----------------------------
iso=$p
iso_udp=$(eval echo "\$udp$iso")
table="rptest_$$"
if nft add table inet "$table" 2>/dev/null; then
    partition="nftables"
    # the trap deletes the table whatever happens
    trap 'nft delete table inet "$table" 2>/dev/null; lib_cleanup' EXIT
    nft add chain inet "$table" out '{ type filter hook output priority 0; policy accept; }' &&
        nft add rule inet "$table" out ip daddr 127.0.0.1 udp dport "$iso_udp" drop &&
        nft add rule inet "$table" out ip saddr 127.0.0.1 udp sport "$iso_udp" drop ||
        fail "nft rules for port $iso_udp"
else
    partition="the rack bus's fault switch (nft is not usable here)"
    echo "daemon_cluster.sh: nft is not usable (not root?): partition by RACKPOWER_RACKBUS_FAULTS"
    echo all >"$tmp/c$iso.faults"
    for k in 1 2 3; do [ "$k" = "$iso" ] || echo "$iso" >"$tmp/c$k.faults"; done
fi
ok
# majority_primary: the primary of the side that is not isolated, if any
majority_primary() {
    for k in 1 2 3; do
        [ "$k" != "$iso" ] && [ "$(role "$k")" = primary ] && echo "$k" && return 0
    done
    return 1
}
until_ok 'p=$(majority_primary)' "a new primary on the majority side ($partition)"
e3=$(epoch "$p")
until_ok 'grep -q "owner epoch [0-9]* -> $e3" "$tmp/slog"' "c$p fenced the modules with $e3"
eiso=$(epoch "$iso")
[ "$eiso" -lt "$e3" ] || fail "the isolated c$iso's epoch $eiso is not below $e3"; ok
# the isolated one, still primary as far as it knows, is told to power a server off
victim=$(servers "$p" | awk '$2 == "on" { s = $1 } END { print s }')
[ -n "$victim" ] || fail "no server on to try"; ok
powered | sort >"$tmp/before"
admin "$iso" power-off "$victim" --reason "isolated" >"$tmp/iso" 2>&1 || true
until_ok 'grep -q "fenced write unit [0-9]* ([^)]*) refused: epoch $eiso is lower than the owner epoch $e3" "$tmp/slog"' "the modules refuse the isolated c$iso's write"
powered | grep -qx "$victim" || fail "$victim was powered off by the isolated controller"; ok
until_ok '[ "$(role $iso)" != primary ]' "the isolated c$iso stepped down"
if [ "$partition" = nftables ]; then
    nft delete table inet "$table" || fail "nft delete table"
    trap lib_cleanup EXIT
else
    rm -f "$tmp"/c?.faults
fi
ok
until_ok '[ "$(primary)" = "$p" ]' "healed: c$iso rejoins as a secondary of c$p"
until_ok 'servers $iso >"$tmp/a" && servers $p >"$tmp/b" && cmp -s "$tmp/a" "$tmp/b"' "c$iso caught up after the partition"
until_ok 'devices_match $p' "the devices as c$p's ledger"

# ---- 6. forged and replayed datagrams ----------------------------------------
# no_forged_epoch: no controller took the forged epoch 2^40 (one that had
# would elect, or demote its primary, above it). Which controller is primary
# is not what tells: on a loaded machine a stall longer than the missed
# heartbeats rightly elects anew, forgeries or not.
no_forged_epoch() {
    for k in 1 2 3; do
        e=$(epoch "$k") && [ "$e" -lt $((1 << 40)) ] || return 1
    done
}
tgt=$sec
[ "$tgt" = "$p" ] && tgt=$iso
tgt_udp=$(eval echo "\$udp$tgt")
forged0=$(j "$tgt" 'd["rackbus"]["forged"]')
replayed0=$(j "$tgt" 'd["rackbus"]["replayed"]')
python3 - "$tgt_udp" <<'EOF' || fail "sending forgeries"
import os, socket, struct, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
# a well-formed header (type HEARTBEAT from node 1, epoch 2**40) with a
# wrong HMAC, a short one, and bare garbage
body = struct.pack(">QQQ", 1 << 40, 99, 99)
head = b"RPB1" + bytes([3, 1, 1, 0]) + struct.pack(">QQQI", 1 << 40, 7, 1, len(body))
for m in (head + body + os.urandom(32), b"RPB1\x03", os.urandom(100), b"RPB1" + os.urandom(200)):
    s.sendto(m, ("127.0.0.1", port))
EOF
until_ok '[ "$(j $tgt "d[\"rackbus\"][\"forged\"]")" -ge $((forged0 + 4)) ]' "four forgeries counted by c$tgt"
no_forged_epoch || fail "a forged heartbeat of epoch 2^40 was taken: epochs $(epoch 1) $(epoch 2) $(epoch 3)"; ok
if python3 -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)' 2>/dev/null; then
    # a real datagram to c$tgt, caught on loopback and sent again three times
    python3 - "$tgt_udp" <<'EOF' || fail "replaying a datagram"
import socket, struct, sys, time
port = int(sys.argv[1])
cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
cap.bind(("lo", 0))
cap.settimeout(5)
end = time.time() + 5
while time.time() < end:
    pkt = cap.recv(65535)
    ip = pkt[14:]
    if len(ip) < 20 or ip[9] != 17:
        continue
    ihl = (ip[0] & 15) * 4
    sport, dport = struct.unpack(">HH", ip[ihl:ihl + 4])
    payload = ip[ihl + 8:]
    if dport == port and payload[:4] == b"RPB1":
        break
else:
    sys.exit("no datagram to port %d seen" % port)
time.sleep(0.2)  # the original is in by now
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(3):
    s.sendto(payload, ("127.0.0.1", port))
EOF
    until_ok '[ "$(j $tgt "d[\"rackbus\"][\"replayed\"]")" -ge $((replayed0 + 3)) ]' "three replays counted by c$tgt"
else
    echo "daemon_cluster.sh: no packet capture here (not root?): replays not tried"
fi
no_forged_epoch || fail "a forgery or replay was taken: epochs $(epoch 1) $(epoch 2) $(epoch 3)"; ok
until_ok 'primary' "one primary, named by all three, after forgeries and replays"

for n in 1 2 3; do
    ckill "$n"
    [ "$stop_rc" -eq 0 ] || fail "c$n exited $stop_rc on SIGTERM"
done
ok
sim_stop
test_end
