#!/bin/sh
# A prediction survives a fail-over of the primary (issue 11, docs/prediction.md
# "In rackpowerd", "After a restart or a fail-over"): the three rackpowerd of
# examples/cluster on `rackpower-sim serve`, as real processes.
#  1. ps8, one of the PSUs c3 reads, is predicted to fail while c3 is primary
#     (c3 is started first: of controllers that start alike the highest
#     address stands);
#  2. c3 shows it at risk (/v1/psus, the psu_at_risk alarm) and drains it
#     off its bus, and the secondaries' replicated ledgers hold it so;
#  3. kill -9 of c3: on the new primary ps8 is still at risk, still off every
#     bus (in its view and in the simulator's), the alarm shows, and every
#     server granted before is still on, none shed or capped. The new primary
#     usually knows it from its own window (fed c3's forwards), else from the
#     ledger: which one is printed;
#  4. the two others start again and the primary is killed: the one elected
#     knows ps8 at risk from the replicated ledger alone (predict_adopt: its
#     window, filled from its history at start, starts no episode, and ps8,
#     drained, has no live reading to start one), and the same holds, with
#     the adopted alarm and risk_adopted;
#  5. an operator's risk-clear on that primary ends the episode (a
#     prediction_outcome "cleared") and the alarm, and the secondary's
#     predictor starts its window of ps8 again.
# How ps8 alone is predicted: every controller runs a model that finds any
# PSU at risk once its window spans a quarter of its hour (its intercept
# alone: risk 0.99), but a reading enters a window only when the PSU delivers
# 5 % of its rating or more (PRED_MIN_LOAD_SHARE). The example's rack is
# changed so that only ps8 ever does: ps8 (1500 W) alone on bus B, which only
# web2 (1000 W at most) draws from; every other PSU 30 kW on bus A. Drained,
# ps8's load goes to a 30 kW PSU the policy moves to B: 3 % of its rating at
# most.
# Usage: daemon_predict_failover.sh RACKPOWERD RACKPOWERCTL RACKPOWER-SIM SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin daemon_predict_failover.sh
rpd="$1"
ctl="$2"
sim="$3"
src="$4"
need socat
log_show simulator-log "$tmp/slog"
for n in 1 2 3; do log_show "c$n-log" "$tmp/c$n.log"; done

# evq N EXPR: some event e (a dict) in controller N's journal makes the
# Python expression true
evq() {
    c "$1" events --json --tail 1000 | "$lib_py" -c '
import json, sys
f = eval("lambda e: (" + sys.argv[1] + ")")
sys.exit(0 if any(f(json.loads(l)) for l in sys.stdin if l.strip()) else 1)' "$2"
}
# psuq N ID EXPR: controller N's /v1/psus entry of PSU ID (a dict q) makes
# the Python expression true
psuq() {
    c "$1" psus --json | "$lib_py" -c '
import json, sys
f = eval("lambda q: (" + sys.argv[2] + ")")
sys.exit(0 if any(f(q) for q in json.load(sys.stdin)["psus"] if q["id"] == sys.argv[1]) else 1)' "$2" "$3"
}
# alarmq N EXPR: an alarm a (a dict) that controller N shows makes EXPR true
alarmq() {
    c "$1" alarms --json | "$lib_py" -c '
import json, sys
f = eval("lambda a: (" + sys.argv[1] + ")")
sys.exit(0 if any(f(a) for a in json.load(sys.stdin)["alarms"]) else 1)' "$2"
}
# csrv N ID: controller N's state of a server (on, shed, ...)
csrv() { c "$1" servers --json | grep -o "\"id\":\"$2\",\"state\":\"[a-z]*\"" | cut -d'"' -f8; }

# the rack: every PSU but ps8 30 kW on bus A; ps8 as the example has it (1500
# W, bus B); in the simulator's copy and in the three configs alike
bigger='/{id: ps[1-79],/ { s/capacity_w: 1500,/capacity_w: 30000,/; s/ bus: B,/ bus: A,/; }'
sed -n '/^rack:/,/^timeline:/p' "$src/examples/cluster/rack.yaml" | grep -v '^timeline:' |
    sed "$bigger" >"$tmp/rack.yaml"
[ "$(grep -c 'capacity_w: 30000, .* bus: A,' "$tmp/rack.yaml")" = 8 ] &&
    grep -q '{id: ps8, capacity_w: 1500, .* bus: B,' "$tmp/rack.yaml" ||
    fail "the example's PSUs are not where the test expects them: $(grep 'id: ps' "$tmp/rack.yaml")"
ok
sim_start "$sim" "$tmp/sout" "$tmp/slog" "$tmp/rack.yaml" --tcp 127.0.0.1:0 --control "$tmp/ctl"
ok # the simulator serves
# daemon_cluster.sh's heartbeat: no needless elections on a loaded machine
cluster_files "$src" "$sim_port" 500 4
{ printf 'rackpower-psu-risk 2\nhorizon_s 604800\nwindow_s 3600\nthreshold 0.5\npersist_s 0\nintercept 5\n'
  for f in rth_c_per_w rth_trend_c_per_w_day fan_rpm_per_c efficiency efficiency_trend_day \
      vout_sag_mv_per_a warn_share warn_events kh_in_service; do
      echo "feature $f 0 1 0"
  done; } >"$tmp/always.txt"
for n in 1 2 3; do
    sed -i "$bigger" "$tmp/c$n.yaml"
    # 200 model seconds a second, samples 180 model seconds apart at least:
    # ps8's readings (about one a second here) enter 200 s apart, and the
    # sixth, about 5 s after web2 draws, makes its window span a quarter of
    # its hour; readings up to 3.6 s apart would still leave six in the hour
    printf 'prediction:\n  model: %s\n  time_scale: 200\n  sample_s: 180\n' "$tmp/always.txt" \
        >>"$tmp/c$n.yaml"
done

# ---- 1. c3 primary, ps8 predicted ----------------------------------------------
for n in 3 1 2; do cstart "$n" "$rpd"; done
ok # three controllers serve their APIs
until_ok 'p=$(primary)' "one primary, named by all three"
[ "$p" = 3 ] || fail "c$p is primary, not c3, the first started"; ok
ctlsend "power_on web2 app1 web1"
granted="web2 app1 web1"
for s in $granted; do
    until_ok '[ "$(csrv 3 $s)" = on ]' "$s granted by c3"
done
until_ok 'psuq 3 ps8 "q[\"at_risk\"]"' "c3 has ps8 at risk" 150

# ---- 2. at risk and drained on the primary, held so by the secondaries --------
until_ok 'psuq 3 ps8 "q[\"bus\"] is None"' "c3 drains ps8 off its bus" 100
evq 3 'e["event"] == "prediction" and e["psu"] == "ps8" and e["at_risk"]' ||
    fail "no prediction event of ps8 on c3: $(c 3 events --json --tail 1000 | grep ps8)"; ok
evq 3 'e["event"] == "switch" and e["psu"] == "ps8" and "predicted" in e["reason"]' ||
    fail "no drain of ps8 in c3's journal: $(c 3 events --json --tail 1000 | grep ps8)"; ok
alarmq 3 'a["kind"] == "psu_at_risk" and a["subject"] == "ps8"' ||
    fail "no psu_at_risk alarm of ps8 on c3: $(c 3 alarms --json)"; ok
until_ok 'simstat "psu ps8 unit [0-9]* bus - "' "ps8 off every bus in the simulator" 100
for q in ps1 ps2 ps3 ps4 ps5 ps6 ps7 ps9; do # nobody else: under 5 % of 30 kW
    psuq 3 $q 'not q["at_risk"]' || fail "$q at risk on c3 too: $(c 3 psus --json)"; ok
done
for n in 1 2; do
    until_ok "psuq $n ps8 'q[\"predicted_to_fail\"] and q[\"bus\"] is None'" \
        "c$n's ledger holds ps8 at risk and drained" 100
done
for s in $granted; do
    [ "$(csrv 3 $s)" = on ] || fail "$s is $(csrv 3 $s) on c3 after the drain"; ok
done

# held N: controller N, primary, holds ps8 at risk and off every bus, shows
# its alarm, and every server granted before is on, none shed or capped
held() {
    psuq "$1" ps8 'q["predicted_to_fail"] and q["bus"] is None' ||
        fail "ps8 is not held at risk and drained on the primary c$1: $(c "$1" psus --json)"
    ok
    psuq "$1" ps8 'q["at_risk"]' ||
        fail "ps8 is drained but its prediction lost on the primary c$1: $(c "$1" psus --json)"
    ok
    alarmq "$1" 'a["kind"] == "psu_at_risk" and a["subject"] == "ps8"' ||
        fail "no psu_at_risk alarm of ps8 on the primary c$1: $(c "$1" alarms --json)"
    ok
    simstat "psu ps8 unit [0-9]* bus - " ||
        fail "ps8 put back on a bus: $(sim_ctl "$tmp/ctl" status | grep 'psu ps8')"
    ok
    for s in $granted; do
        [ "$(csrv "$1" $s)" = on ] || fail "$s is $(csrv "$1" $s) on c$1"
        ok
        simstat "server $s .*present on" ||
            fail "$s is not on in the simulator: $(sim_ctl "$tmp/ctl" status | grep "server $s")"
        ok
    done
    for kind in shed cap lost_power; do
        evq "$1" "e['event'] == '$kind'" &&
            fail "a $kind event on c$1: $(c "$1" events --json --tail 1000 | grep "\"$kind\"")"
        ok
    done
}

# ---- 3. kill -9 of the primary ------------------------------------------------
ckill 3 KILL
until_ok 'p=$(primary) && [ "$p" != 3 ]' "a new primary after kill -9 of c3"
# the dead one's PSUs go unknown once the grace for its forwards has passed:
# by then the new primary has decided on the rack as it stands
until_ok 'psuq $p ps7 "q[\"state\"] == \"unknown\""' "c$p finds c3's PSUs unknown" 150
held "$p"
# Which way it knew: its own window, fed c3's forwards (usually: the
# secondaries' windows fill with the primary's), or the replicated ledger.
tail -n +"$(grep -n '^=== start' "$tmp/c$p.log" | tail -n 1 | cut -d: -f1)" "$tmp/c$p.log" |
    grep -q "prediction ps8: still at risk" && how="adopted from the ledger" ||
    how="its own window, fed c3's forwards"
echo "daemon_predict_failover.sh: c$p, the first new primary, holds ps8 at risk ($how)"

# ---- 4. the ledger alone: a second fail-over to a controller started anew -----
# The two others start again (c3 reads ps8 again, drained: under 5 %, so no
# live reading enters a window; the windows filled from their histories
# start no episode): whichever is elected when c$p is killed knows ps8 at
# risk only from the replicated ledger.
old=$p
for n in 1 2 3; do
    [ "$n" = "$old" ] && continue
    alive "$n" && ckill "$n"
    cstart "$n" "$rpd"
done
until_ok '[ "$(primary)" = "$old" ]' "c$old still primary with the others back"
for n in 1 2 3; do
    [ "$n" = "$old" ] && continue
    until_ok "psuq $n ps8 'q[\"predicted_to_fail\"] and q[\"bus\"] is None and not q[\"at_risk\"]'" \
        "c$n, started again, holds ps8 at risk in its ledger only"
done
ckill "$old" KILL
until_ok 'p=$(primary) && [ "$p" != "$old" ]' "a new primary after kill -9 of c$old"
# as above: decided on the rack once the dead one's PSUs are unknown (c$old
# read ps4-ps6; ps6 is the one that took bus B from ps8)
q=$(case $old in 1) echo ps1 ;; 2) echo ps4 ;; 3) echo ps7 ;; esac)
until_ok 'psuq $p $q "q[\"state\"] == \"unknown\""' "c$p finds c$old's PSUs unknown" 150
held "$p"
grep -q "prediction ps8: still at risk: predicted before a restart or fail-over" "$tmp/c$p.log" ||
    fail "c$p did not adopt ps8 from the ledger: $(grep prediction "$tmp/c$p.log")"; ok
alarmq "$p" 'a["kind"] == "psu_at_risk" and a["subject"] == "ps8" and
             "before a restart or fail-over" in a["reason"]' ||
    fail "the alarm of ps8 on c$p does not say where it came from: $(c "$p" alarms --json)"; ok
psuq "$p" ps8 'q["risk_adopted"]' || fail "ps8 not risk_adopted on c$p: $(c "$p" psus --json)"; ok
echo "daemon_predict_failover.sh: c$p, the second new primary, adopted ps8 from the ledger"

# ---- 5. the operator clears it on the new primary -----------------------------
admin "$p" risk-clear ps8 --reason "inspected after the fail-over" >"$tmp/rc" 2>&1 ||
    fail "risk-clear ps8 on c$p: $(cat "$tmp/rc")"; ok
evq "$p" "e['event'] == 'prediction_outcome' and e['psu'] == 'ps8' and
          e['outcome'] == 'cleared' and e['predicted'] and 'before a restart' in e['reason']" ||
    fail "no cleared outcome of ps8 on c$p: $(c "$p" events --json --tail 1000 | grep outcome)"; ok
until_ok "! alarmq $p 'a[\"kind\"] == \"psu_at_risk\"'" "the psu_at_risk alarm of ps8 cleared" 50
psuq "$p" ps8 'not q["at_risk"] and not q["predicted_to_fail"]' ||
    fail "ps8 still at risk on c$p: $(c "$p" psus --json)"; ok
# the secondary's predictor follows: its window of ps8 starts again too, so
# that elected it would not predict from the readings the operator cleared
for n in 1 2 3; do
    [ "$n" = "$p" ] || [ "$n" = "$old" ] && continue
    until_ok "grep -q 'prediction ps8: cleared by an operator on the primary: its window starts again' '$tmp/c$n.log'"         "c$n's predictor follows the clear" 100
done
test_end
