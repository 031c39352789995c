#!/bin/sh
# A PSU ageing in rackpower-sim serve is predicted by rackpowerd and drained
# before it fails, and no server notices (issue 11 sections 3 and 6;
# docs/prediction.md "In rackpowerd"). The demo rack over Modbus TCP, ps2 with
# a capacitor defect at 3 hours of ageing a second (168 h at 40 C: about half
# a minute under load), the daemon's model on the same time
# (prediction: time_scale 10800): the shipped default model, not one made
# for the test. Checked in the journal and the API, and in the simulator.
# Usage: daemon_predict.sh RACKPOWERD RACKPOWERCTL RACKPOWER-SIM SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin daemon_predict.sh
rpd="$1"
ctl="$2"
sim="$3"
src="$4"
need socat
log_show daemon-log "$tmp/dlog"
log_show simulator-log "$tmp/slog"
events() { rctl events --json --tail 1000; }
# evq EXPR: some journaled event e (a dict) makes the Python expression true
evq() {
    events | "$lib_py" -c '
import json, sys
f = eval("lambda e: (" + sys.argv[1] + ")")
sys.exit(0 if any(f(json.loads(l)) for l in sys.stdin if l.strip()) else 1)' "$1"
}
# psuq ID EXPR: /v1/psus's PSU ID (a dict q) makes the Python expression true
psuq() {
    rctl psus --json | "$lib_py" -c '
import json, sys
f = eval("lambda q: (" + sys.argv[2] + ")")
sys.exit(0 if any(f(q) for q in json.load(sys.stdin)["psus"] if q["id"] == sys.argv[1]) else 1)' "$1" "$2"
}
# evget EXPR FIELD: FIELD of the first event that makes EXPR true
evget() {
    events | "$lib_py" -c '
import json, sys
f = eval("lambda e: (" + sys.argv[1] + ")")
for l in sys.stdin:
    if l.strip() and f(json.loads(l)):
        print(json.loads(l).get(sys.argv[2])); break' "$1" "$2"
}

demo_rack "$src" "$tmp/rack.yaml"
rate=6
sim_start "$sim" "$tmp/sout" "$tmp/slog" "$tmp/rack.yaml" --tcp 127.0.0.1:0 --seed 3 \
    --control "$tmp/ctl" --ageing-rate $rate --ageing-psu ps2 --ageing-cause capacitor
ok # the simulator serves, ps2 ageing
{ cat "$tmp/rack.yaml"
  printf "devices:\n  - kind: modbus-tcp\n    host: 127.0.0.1\n    port: $sim_port\n"
  printf "    poll_ms: 250\n    timeout_ms: 1000\n    reprobe_s: 1\n    units:\n"
  demo_units
  printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock"
  printf 'prediction:\n  time_scale: %d\n' $((3600 * rate)); } >"$tmp/conf.yaml"
ctlsend "power_on db1 app1 web1 web2 batch1 ml1"
rpd_start "$rpd" "$tmp/conf.yaml" "$tmp/db" "$tmp/dlog"
ok # rackpowerd serves its API
grep -q "prediction: model .*psu-risk-default.txt, threshold " "$tmp/dlog" ||
    fail "no prediction line at start: $(grep prediction "$tmp/dlog")"; ok
until_ok '[ "$(srv batch1)" = on ]' "batch1 granted"
granted="db1 app1 web1 web2 batch1"
for s in $granted; do
    [ "$(srv $s)" = on ] || fail "$s should be on before ps2 ages, is $(srv $s)"; ok
done

# the prediction: an event with what it said, the policy told, an alarm that names it
until_ok 'evq "e[\"event\"] == \"prediction\" and e[\"psu\"] == \"ps2\" and e[\"at_risk\"]"' \
    "ps2 predicted to fail (a prediction event)" 600
evq 'e["event"] == "prediction" and e["psu"] == "ps2" and e["risk"] >= e["threshold"] and
     e["ttf_s"] > 0 and e["reason"] != "" and e["model"].endswith("psu-risk-default.txt")' ||
    fail "the prediction event lacks risk, ttf_s, reason or model: $(events | grep '"prediction"')"; ok
evq 'e["event"] == "psu_at_risk" and e["psu"] == "ps2" and "predicted" in e["reason"]' ||
    fail "the policy was not told ps2 is at risk: $(events | grep ps2)"; ok
evq 'e["event"] == "alarm_raise" and e["kind"] == "psu_at_risk" and e["subject"] == "ps2" and
     "time to failure" in e["reason"]' ||
    fail "no psu_at_risk alarm naming the lead time: $(events | grep alarm_raise)"; ok
rctl psus --json | grep -q '"id":"ps2"[^}]*"at_risk":true' ||
    fail "/v1/psus does not show ps2 at risk: $(rctl psus --json)"; ok
rctl psus | grep -q '^! ps2 predicted to fail: risk [01]\.[0-9][0-9], time to failure about ' ||
    fail "rackpowerctl psus: $(rctl psus)"; ok
psuq ps2 'not q["risk_adopted"]' || fail "ps2 risk_adopted: $(rctl psus --json)"; ok
for p in ps1 ps3 ps4; do # nobody else
    evq "e['event'] == 'prediction' and e['psu'] == '$p'" && fail "$p predicted too"; ok
done

# the drain: ps2 switched off its bus by the prediction, before it fails
until_ok 'evq "e[\"event\"] == \"switch\" and e[\"psu\"] == \"ps2\" and \"predicted\" in e[\"reason\"]"' \
    "ps2 drained off its bus (a switch event for the prediction)" 100
evq 'e["event"] == "psu_fail" and e["psu"] == "ps2"' &&
    fail "ps2 failed before it was drained: $(events | grep ps2)"; ok
until_ok 'simstat "psu ps2 unit 201 bus - "' "ps2 off every bus in the simulator" 100

# the failure: as predicted, and how long before
until_ok 'evq "e[\"event\"] == \"psu_fail\" and e[\"psu\"] == \"ps2\""' "ps2 fails" 900
until_ok 'evq "e[\"event\"] == \"prediction_outcome\" and e[\"psu\"] == \"ps2\""' \
    "the prediction's outcome journaled" 50
evq 'e["event"] == "prediction_outcome" and e["psu"] == "ps2" and e["predicted"] and
     e["lead_s"] > 0' || fail "the outcome says ps2 was not predicted: $(events | grep outcome)"; ok
lead=$(evget 'e["event"] == "prediction_outcome"' lead_s)
echo "ps2 failed $lead s after its prediction (at $rate h of ageing a second)"
echo "ps2's prediction: $(evget 'e["event"] == "prediction" and e["at_risk"]' reason)"
until_ok 'evq "e[\"event\"] == \"alarm_clear\" and e[\"kind\"] == \"psu_at_risk\""' \
    "the psu_at_risk alarm cleared by the failure" 50

# no server noticed: nobody shed, capped, lost power; the simulator kept them on
for kind in shed cap lost_power; do
    evq "e['event'] == '$kind'" && fail "a $kind event: $(events | grep "\"$kind\"")"; ok
done
for s in $granted; do
    [ "$(srv $s)" = on ] || fail "$s is $(srv $s) after ps2 failed"; ok
    simstat "server $s .*present on" || fail "$s is not on in the simulator: $(sim_ctl "$tmp/ctl" status | grep "server $s")"; ok
done
grep -q "ageing: ps2 failed (capacitor worn out)" "$tmp/slog" "$tmp/sout" ||
    fail "the simulator did not fail ps2 by ageing"; ok
rpd_stop
sim_stop

# ---- an operator clears a prediction (a false alarm): rackpowerctl risk-clear ----
# A model that finds every loaded PSU at risk once its window spans 15 min
# (its intercept alone: risk 0.99), on the in-process simulated rack at
# time_scale 300 (a window anew takes about 3 s).
{ printf 'rackpower-psu-risk 2\nhorizon_s 604800\nwindow_s 3600\nthreshold 0.5\npersist_s 0\nintercept 5\n'
  for f in rth_c_per_w rth_trend_c_per_w_day fan_rpm_per_c efficiency efficiency_trend_day \
      vout_sag_mv_per_a warn_share warn_events kh_in_service; do
      echo "feature $f 0 1 0"
  done; } >"$tmp/always.txt"
{ cat "$tmp/rack.yaml"
  printf 'devices:\n  - kind: sim\n    boot: [db1, app1, web1]\n    seed: 1\n    poll_ms: 100\n'
  printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock"
  printf 'prediction:\n  model: %s\n  time_scale: 300\n' "$tmp/always.txt"; } >"$tmp/clear.yaml"
rm -f "$tmp/db" "$tmp/db-wal" "$tmp/db-shm"
rpd_start "$rpd" "$tmp/clear.yaml" "$tmp/db" "$tmp/dlog"
until_ok 'evq "e[\"event\"] == \"psu_at_risk\""' "a PSU at risk under the always-at-risk model" 300
p=$(evget 'e["event"] == "psu_at_risk"' psu)
rctl risk-clear "$p" --reason "inspected: a false alarm" >"$tmp/rc" 2>&1 ||
    fail "risk-clear $p: $(cat "$tmp/rc")"; ok
grep -q "^psu $p: prediction cleared" "$tmp/rc" || fail "risk-clear said: $(cat "$tmp/rc")"; ok
# the journal: the policy told, by whom and why; what the prediction had said, as its outcome
evq "e['event'] == 'psu_risk_clear' and e['psu'] == '$p' and 'cleared by' in e['reason'] and
     'a false alarm' in e['reason']" || fail "no psu_risk_clear for $p: $(events | grep "$p")"; ok
evq "e['event'] == 'prediction_outcome' and e['psu'] == '$p' and e['outcome'] == 'cleared' and
     e['predicted'] and e['lead_s'] >= 0" || fail "no cleared outcome: $(events | grep outcome)"; ok
until_ok "evq \"e['event'] == 'alarm_clear' and e['kind'] == 'psu_at_risk' and e['subject'] == '$p'\"" \
    "the psu_at_risk alarm of $p cleared" 50
# not at risk now: a second clear is refused (its window takes seconds to fill again)
rctl risk-clear "$p" >"$tmp/rc" 2>&1 && fail "a second risk-clear of $p accepted: $(cat "$tmp/rc")"
grep -q "not predicted to fail" "$tmp/rc" || fail "second risk-clear: $(cat "$tmp/rc")"; ok
rctl risk-clear ps9 >"$tmp/rc" 2>&1 && fail "risk-clear of ps9 accepted"
grep -q "no psu 'ps9'" "$tmp/rc" || fail "risk-clear ps9: $(cat "$tmp/rc")"; ok
rctl risk-clear "$p" --force >"$tmp/rc" 2>&1 && fail "risk-clear --force accepted"
grep -q "risk-clear: takes only --reason and --json" "$tmp/rc" || fail "risk-clear --force: $(cat "$tmp/rc")"; ok
rpd_stop

# ---- a prediction survives a restart (the ledger keeps at_risk) ----
# A rack where p1 alone carries s1 at first. Under the always-at-risk model
# (time_scale 900: a window in about a second) p1 is drained and p3 takes A
# in its place: 1 kW is under 5 % of p3's 30 kW, too little to enter its
# window, so p3 is never at risk (a second PSU at risk would bring p1 back).
# Started again on the same database with a model never at risk (intercept
# -10), p1 is still at risk and off its bus until the operator clears it.
{ printf 'rack:\n  name: r\n  protection: none\n  buses: [A, B]\n  psus:\n'
  printf '    - {id: p1, capacity_w: 2000, buses: [A], bus: A}\n'
  printf '    - {id: p3, capacity_w: 30000, buses: [A, B], bus: B}\n'
  printf '  servers:\n    - {id: s1, power_w: 1000, priority: 1, buses: [A]}\n'
  printf 'devices:\n  - kind: sim\n    boot: [s1]\n    seed: 1\n    poll_ms: 100\n'
  printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock"
  printf 'prediction:\n  model: %s\n  time_scale: 900\n' "$tmp/always.txt"; } >"$tmp/keep.yaml"
sed 's/^intercept 5$/intercept -10/' "$tmp/always.txt" >"$tmp/never.txt"
sed "s|$tmp/always.txt|$tmp/never.txt|" "$tmp/keep.yaml" >"$tmp/never.yaml"
rm -f "$tmp/db" "$tmp/db-wal" "$tmp/db-shm"
cp "$tmp/keep.yaml" "$tmp/live.yaml"
rpd_start "$rpd" "$tmp/live.yaml" "$tmp/db" "$tmp/dlog"
until_ok "psuq p1 'q[\"at_risk\"] and q[\"bus\"] is None'" "p1 at risk and drained" 100
psuq p3 'not q["at_risk"] and q["bus"] == "A"' || fail "p3 not on A in p1's place: $(rctl psus --json)"; ok
# ---- a reload reads the prediction: section and the model file again ----
# a bad model file refuses the whole reload and changes nothing
printf 'rackpower-psu-risk 2\nhorizon_s soon\n' >"$tmp/bad2.txt"
sed "s|$tmp/always.txt|$tmp/bad2.txt|" "$tmp/keep.yaml" >"$tmp/live.yaml"
rctl reload --json >"$tmp/rl" 2>&1
grep -q '"applied":false' "$tmp/rl" && grep -q 'bad2.txt' "$tmp/rl" ||
    fail "a reload with a bad model file: $(cat "$tmp/rl")"; ok
# another model of the same window and clock: the windows go on, p1 stays at risk
sed "s|$tmp/always.txt|$tmp/never.txt|" "$tmp/keep.yaml" >"$tmp/live.yaml"
rctl reload --json >"$tmp/rl" 2>&1
grep -q '"applied":true' "$tmp/rl" && grep -q "prediction model $tmp/always.txt -> $tmp/never.txt; windows kept" "$tmp/rl" ||
    fail "a reload with another model: $(cat "$tmp/rl")"; ok
psuq p1 'q["at_risk"] and q["bus"] is None' || fail "p1 after the model's reload: $(rctl psus --json)"; ok
# another clock: the windows start again, p1 still at risk (drained: no window ends it)
sed "s|$tmp/always.txt|$tmp/never.txt|; s|time_scale: 900|time_scale: 600|" "$tmp/keep.yaml" >"$tmp/live.yaml"
rctl reload --json >"$tmp/rl" 2>&1
grep -q '"applied":true' "$tmp/rl" && grep -q "windows start again" "$tmp/rl" ||
    fail "a reload with another time_scale: $(cat "$tmp/rl")"; ok
sleep 0.5
psuq p1 'q["at_risk"] and q["bus"] is None' || fail "p1 after the time_scale's reload: $(rctl psus --json)"; ok
# prediction off: nothing goes back on a bus for it
printf '  enabled: false\n' >>"$tmp/live.yaml"
rctl reload --json >"$tmp/rl" 2>&1
grep -q '"applied":true' "$tmp/rl" && grep -q "prediction off" "$tmp/rl" ||
    fail "a reload turning prediction off: $(cat "$tmp/rl")"; ok
psuq p1 'q["at_risk"] and q["bus"] is None' || fail "p1 after prediction off: $(rctl psus --json)"; ok
rpd_stop
rpd_start "$rpd" "$tmp/never.yaml" "$tmp/db" "$tmp/dlog"
grep -q "prediction p1: still at risk: predicted before a restart or fail-over" "$tmp/dlog" ||
    fail "p1 not adopted at start: $(grep prediction "$tmp/dlog")"; ok
psuq p1 'q["at_risk"] and q["predicted_to_fail"] and q["bus"] is None' ||
    fail "p1 is not at risk and drained after the restart: $(rctl psus --json)"; ok
rctl alarms --json | grep -q '"subject":"p1"[^}]*before a restart or fail-over' ||
    fail "no psu_at_risk alarm of p1 after the restart: $(rctl alarms --json)"; ok
rctl psus | grep -q '^! p1 predicted to fail before a restart or fail-over; its window now: risk ' ||
    fail "rackpowerctl psus: $(rctl psus)"; ok
psuq p1 'q["risk_adopted"]' || fail "p1 not risk_adopted: $(rctl psus --json)"; ok
sleep 1 # polls and samples (a window's worth at 900): it stays off its bus
psuq p1 'q["at_risk"] and q["bus"] is None' || fail "p1 put back: $(rctl psus --json)"; ok
rctl risk-clear p1 >"$tmp/rc" 2>&1 || fail "risk-clear p1 after the restart: $(cat "$tmp/rc")"; ok
evq "e['event'] == 'prediction_outcome' and e['psu'] == 'p1' and e['outcome'] == 'cleared' and
     e['predicted'] and 'before a restart' in e['reason']" ||
    fail "no cleared outcome of p1: $(events | grep outcome)"; ok
until_ok 'psuq p1 "not q[\"at_risk\"] and not q[\"predicted_to_fail\"]"' "p1 no longer at risk" 50
rctl alarms --json | grep -q '"kind":"psu_at_risk"' && fail "a psu_at_risk alarm left: $(rctl alarms --json)"; ok
rpd_stop

# ---- a restart fills the windows from the history ----
# The never-at-risk model (a window of an hour) at time_scale 240: a window
# of 15 s, a risk once it spans a quarter of it. Started again, the PSUs
# that had a risk have one at once, from the history (an empty window would
# take 3.75 s of readings).
{ cat "$tmp/rack.yaml"
  printf 'devices:\n  - kind: sim\n    boot: [db1, app1, web1]\n    seed: 1\n    poll_ms: 100\n'
  printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock"
  printf 'prediction:\n  model: %s\n  time_scale: 240\n' "$tmp/never.txt"; } >"$tmp/prime.yaml"
rm -f "$tmp/db" "$tmp/db-wal" "$tmp/db-shm" "$tmp/db.history" "$tmp/db.history-wal" "$tmp/db.history-shm"
rpd_start "$rpd" "$tmp/prime.yaml" "$tmp/db" "$tmp/dlog"
grep -q "prediction: the history holds no readings for the windows: they start empty" "$tmp/dlog" ||
    fail "a new history primed something: $(grep prediction "$tmp/dlog")"; ok
risky() {
    rctl psus --json | "$lib_py" -c '
import json, sys
print(" ".join(q["id"] for q in json.load(sys.stdin)["psus"] if q["risk"] is not None))'
}
until_ok '[ -n "$(risky)" ]' "a risk from the PSUs' own readings" 200
sleep 1
had=$(risky)
rpd_stop
rpd_start "$rpd" "$tmp/prime.yaml" "$tmp/db" "$tmp/dlog"
now=$(risky)
[ -n "$now" ] && [ "$now" = "$had" ] || fail "after the restart the PSUs with a risk are '$now', were '$had'"; ok
grep -q "prediction: the windows of [0-9]* PSUs filled from the history: [0-9]* samples of the last [0-9.]* h" "$tmp/dlog" ||
    fail "no word of the windows filled: $(grep prediction "$tmp/dlog")"; ok
echo "daemon_predict.sh: $(grep -o 'the windows of .*' "$tmp/dlog")"
rpd_stop

# a model file named in the config that is missing or bad stops the start, naming it
for model in "$tmp/none.txt" "$tmp/bad.txt"; do
    printf 'rackpower-psu-risk 1\nhorizon_s soon\n' >"$tmp/bad.txt"
    sed "s|^  time_scale: .*|  model: $model|" "$tmp/conf.yaml" >"$tmp/badmodel.yaml"
    "$rpd" --config "$tmp/badmodel.yaml" --db "$tmp/db2" --foreground >"$tmp/bm.log" 2>&1 &
    bm=$!
    track $bm
    until_ok '! kill -0 $bm 2>/dev/null' "rackpowerd stops with the model $model" 100
    untrack $bm
    wait $bm
    [ $? -ne 0 ] || fail "rackpowerd started with the model $model"; ok
    grep -q "prediction: .*${model##*/}" "$tmp/bm.log" || fail "the start error does not name $model: $(cat "$tmp/bm.log")"; ok
done
test_end
