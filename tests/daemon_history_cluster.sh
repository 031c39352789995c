#!/bin/sh
# Every controller keeps the whole rack's history (issue 11 section 1,
# docs/history.md "Several controllers"): the three rackpowerd of
# examples/cluster (each reads three PSUs of its own) on `rackpower-sim
# serve`, as real processes.
#  1. each controller's history holds readings of all nine PSUs: a
#     secondary's has the primary's PSUs and the other secondary's, each
#     reading once and at the time the controller that read it took it
#     (the same times as in that controller's own history);
#  2. c1 alone reads a BBU (bbuA, added to the example's rack here): the
#     others' histories hold its readings too, each once and at c1's times,
#     and their outage logic still knows nothing of it (the forward is for
#     the history only);
#  3. kill -9 of the primary: the new primary's history has readings of the
#     dead one's PSUs from before the kill.
# Usage: daemon_history_cluster.sh RACKPOWERD RACKPOWERCTL RACKPOWER-SIM SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin daemon_history_cluster.sh
rpd="$1"
ctl="$2"
sim="$3"
src="$4"
need socat
log_show simulator-log "$tmp/slog"
for n in 1 2 3; do log_show "c$n-log" "$tmp/c$n.log"; done

# the example's rack with a BBU shelf on bus A, which the simulator serves as
# unit 64 and c1 alone reads (on mains it carries nothing: the rack runs as
# the example's)
reserves='  reserves:\n    - {id: bbuA, kind: bbu, bus: A, energy_wh: 632, max_w: 3000}'
awk -v r="$reserves" '/^timeline:/ { print r } { print }' "$src/examples/cluster/rack.yaml" \
    >"$tmp/rack.yaml"
sim_start "$sim" "$tmp/sout" "$tmp/slog" "$tmp/rack.yaml" --tcp 127.0.0.1:0 --control "$tmp/ctl"
ok # the simulator serves
# daemon_cluster.sh's heartbeat: no needless elections on a loaded machine
cluster_files "$src" "$sim_port" 500 4
for n in 1 2 3; do
    awk -v r="$reserves" '/^devices:/ { print r } { print }' "$tmp/c$n.yaml" >"$tmp/c$n.new" &&
        mv "$tmp/c$n.new" "$tmp/c$n.yaml"
done
sed -i 's/^\(      - {unit: 202, psu: ps3}\)$/\1\n      - {unit: 64, role: bbu, reserve: bbuA}/' \
    "$tmp/c1.yaml"
grep -q 'reserve: bbuA' "$tmp/c1.yaml" && [ "$(grep -c 'id: bbuA' "$tmp/c2.yaml")" = 1 ] ||
    fail "the BBU is not where the example's configs were expected to take it"
ok
# prediction at 6 hours a second: a window long enough for a risk in seconds
for n in 1 2 3; do printf 'prediction:\n  time_scale: 21600\n' >>"$tmp/c$n.yaml"; done
for n in 1 2 3; do cstart "$n" "$rpd"; done
ok # three controllers serve their APIs
until_ok 'p=$(primary)' "one primary, named by all three"
psus_of() { case $1 in 1) echo ps1 ps2 ps3 ;; 2) echo ps4 ps5 ps6 ;; 3) echo ps7 ps8 ps9 ;; esac; }
# rtimes N PSU: the Unix times (ms) of PSU's raw readings in controller N's
# history, one a line
rtimes() {
    c "$1" history psu "$2" --json --from -10m | "$lib_py" -c '
import json, sys
for r in json.load(sys.stdin)["rows"]:
    print(round(r["t"] * 1000))'
}
# enough N PSU COUNT: controller N's history holds COUNT readings of PSU
enough() { [ "$(rtimes "$1" "$2" | wc -l)" -ge "$3" ]; }
# bbu_times N: the Unix times (ms) of bbuA's raw readings in controller N's
# history file (the API serves PSUs' history alone), one a line
bbu_times() {
    "$lib_py" - "$tmp/c$1.db.history" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=5)
for (t,) in db.execute("SELECT t_ms FROM reserve_raw JOIN elem ON elem.id = reserve_raw.elem "
                       "WHERE elem.name = 'bbuA' ORDER BY t_ms"):
    print(t)
EOF
}
# same N OWNER PSU: controller N's readings of PSU (read by controller
# OWNER) are each once (no two at one time) and each at a time OWNER's own
# history has (the source's time, not the receive time); those newer than
# the owner's last one left out (its writer may not have committed them yet)
same() {
    rtimes "$1" "$3" >"$tmp/got"
    rtimes "$2" "$3" >"$tmp/own"
    same_times
}
# same_times: the same of the times in $tmp/got and $tmp/own
same_times() {
    "$lib_py" - "$tmp/got" "$tmp/own" <<'EOF'
import sys
got = [int(x) for x in open(sys.argv[1])]
own = set(int(x) for x in open(sys.argv[2]))
if not got or not own:
    sys.exit("no readings: %d kept, %d of its own" % (len(got), len(own)))
if len(got) != len(set(got)):
    sys.exit("a reading kept twice: %d readings at %d times" % (len(got), len(set(got))))
strange = [t for t in got if t <= max(own) and t not in own]
if strange:
    sys.exit("%d of %d readings at times its controller's history does not have, e.g. %d"
             % (len(strange), len(got), strange[0]))
EOF
}

# ---- 1. every history holds every PSU's readings ------------------------------
for n in 1 2 3; do
    for o in 1 2 3; do
        [ "$o" = "$n" ] && continue
        for q in $(psus_of "$o"); do
            until_ok "enough $n $q 5" "c$n's history holds 5 readings of $q (read by c$o)" 150
        done
    done
done
for n in 1 2 3; do
    for o in 1 2 3; do
        [ "$o" = "$n" ] && continue
        q=$(psus_of "$o" | cut -d' ' -f1)
        same "$n" "$o" "$q" || fail "c$n's readings of $q (read by c$o)"
        ok
    done
done
echo "daemon_history_cluster.sh: c$p primary; every history holds the nine PSUs"
# the predictors too: a secondary's model has a risk for PSUs only others read
# (fed the forwards, kept for a take-over; the primary alone tells the policy).
# Only a PSU under load enters a window: servers on first.
ctlsend "power_on db1 db2 app1 app2"
risk_of() {
    c "$1" psus --json | "$lib_py" -c '
import json, sys
for x in json.load(sys.stdin)["psus"]:
    if x["id"] == sys.argv[1]:
        print("none" if x.get("risk") is None else x["risk"])' "$2"
}
for n in 1 2 3; do
    [ "$n" = "$p" ] && continue
    for o in 1 2 3; do
        [ "$o" = "$n" ] && continue
        q=$(psus_of "$o" | cut -d' ' -f1)
        until_ok '[ "$(risk_of $n $q)" != none ]' "c$n's model has a risk for $q (read by c$o)" 200
    done
done

# ---- 2. the BBU that c1 alone reads, in every history -------------------------
for n in 2 3; do
    until_ok '[ "$(bbu_times $n | wc -l)" -ge 3 ]' \
        "c$n's history holds 3 readings of bbuA (read by c1)" 150
done
for n in 2 3; do
    bbu_times "$n" >"$tmp/got"
    bbu_times 1 >"$tmp/own"
    same_times || fail "c$n's readings of bbuA (read by c1)"
    ok
done
# history only: the outage logic of a controller that does not read it knows
# nothing of it (its figures are c1's alone; a forward does not change that)
bbu_known() {
    c "$1" outage status --json | "$lib_py" -c '
import json, sys
x = json.load(sys.stdin)["reserves"]["bbuA"]
print(x["read"], x.get("charge_pct"))'
}
bbu_known 1 | grep -q '^True [0-9]' || fail "c1's outage logic does not read bbuA: $(bbu_known 1)"
ok
for n in 2 3; do
    [ "$(bbu_known "$n")" = "False None" ] || fail "c$n's outage logic has bbuA: $(bbu_known "$n")"
    ok
done
echo "daemon_history_cluster.sh: c2 and c3 keep c1's BBU readings in their history alone"

# ---- 3. kill -9 of the primary: the new one has the dead one's past ----------
old=$p
ckill "$old" KILL
kill_ms=$(($(date +%s) * 1000))
until_ok 'p=$(primary) && [ "$p" != "$old" ]' "a new primary after kill -9 of c$old"
for q in $(psus_of "$old"); do
    before=$(rtimes "$p" "$q" | awk -v k="$kill_ms" '$1 < k' | wc -l)
    [ "$before" -ge 5 ] || fail "the new primary c$p has $before readings of $q (read by the dead c$old) from before the kill"
    ok
done
echo "daemon_history_cluster.sh: c$p, the new primary, kept c$old's PSUs' past"
test_end
