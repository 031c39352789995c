#!/bin/sh
# rackpower-predict and rackpower-train as a user runs them, on hand-made
# histories (tests/predict_traces.py): train, save, replay with the saved
# model (the failing PSUs come out at risk, once per episode, before they
# fail; healthy ones do not); the episode lines with a hand-written model;
# bad rows named by line, or skipped and counted; bad model files refused.
# Usage: predict.sh RACKPOWER_PREDICT RACKPOWER_TRAIN SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin predict.sh
predict="$1"
train="$2"
traces="$3/tests/predict_traces.py"

"$predict" --help >"$tmp/out" || fail "predict --help"; ok
grep -q "usage: rackpower-predict" "$tmp/out" || fail "predict --help shows no usage"; ok
"$predict" >/dev/null 2>&1; [ $? -eq 2 ] || fail "predict without --history: exit is not 2"; ok
"$train" --history x >/dev/null 2>&1; [ $? -eq 2 ] || fail "train without --labels: exit not 2"; ok
"$predict" --history x --threshold 2 >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] ||
    fail "threshold 2 accepted"; ok
"$predict" --history x --persist-s -5 >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] ||
    fail "persist -5 accepted"; ok

# --- train, save, load, predict ---
python3 "$traces" fleet "$tmp/a.csv" "$tmp/a_labels.csv" 1 || fail "traces"
"$train" --history "$tmp/a.csv" --labels "$tmp/a_labels.csv" --out "$tmp/m.txt" --seed 3 \
    >"$tmp/train.out" 2>"$tmp/err" || fail "train: $(cat "$tmp/err")"; ok
grep -q "^held back: 13 PSUs" "$tmp/train.out" || fail "held back: $(cat "$tmp/train.out")"; ok
grep -q "^model: precision [01]\.[0-9]*" "$tmp/train.out" || fail "no precision line"; ok
grep -q "^model: lead time median" "$tmp/train.out" || fail "no lead time line"; ok
grep -q "^rackpower-psu-risk 3$" "$tmp/m.txt" || fail "model file: $(head -3 "$tmp/m.txt")"; ok
# the rule chosen on the held-back PSUs' episodes, against the budget, said and written
grep -q "^chosen: threshold 0\.[0-9]*, persist [0-9]* s: the most predictable failures" \
    "$tmp/train.out" || fail "no chosen line: $(grep -v curve "$tmp/train.out")"; ok
thr=$(sed -n 's/^chosen: threshold \([0-9.]*\), persist \([0-9]*\) s.*/\1 \2/p' "$tmp/train.out")
grep -q "^threshold ${thr% *}$" "$tmp/m.txt" || fail "threshold ${thr% *} not in the model"; ok
grep -q "^persist_s ${thr#* }$" "$tmp/m.txt" || fail "persist ${thr#* } not in the model"; ok
[ "$(grep -c '^persist [0-9]* s: best threshold' "$tmp/train.out")" -eq 6 ] ||
    fail "not one line per persistence: $(cat "$tmp/train.out")"; ok
for bad in "--false-alarms -1" "--persist-s 60,30" "--persist-s 1.5" "--persist-s x"; do
    # shellcheck disable=SC2086
    "$train" --history "$tmp/a.csv" --labels "$tmp/a_labels.csv" --out "$tmp/x.txt" $bad \
        >/dev/null 2>&1
    [ $? -eq 2 ] || fail "train $bad: exit is not 2"
done
ok
"$train" --history "$tmp/a.csv" --labels "$tmp/a_labels.csv" --out "$tmp/x.txt" \
    --choose-history "$tmp/a.csv" >/dev/null 2>&1; [ $? -eq 2 ] ||
    fail "--choose-history without --choose-labels: exit is not 2"; ok
# a second fleet to choose on (here the same file): every PSU of it, and --curve
"$train" --history "$tmp/a.csv" --labels "$tmp/a_labels.csv" --out "$tmp/mc.txt" --seed 3 \
    --choose-history "$tmp/a.csv" --choose-labels "$tmp/a_labels.csv" --persist-s 0,3600 \
    --curve >"$tmp/trc.out" 2>"$tmp/err" || fail "train --choose-history: $(cat "$tmp/err")"; ok
grep -q "^chosen: .* on the 40 PSUs of the second fleet$" "$tmp/trc.out" ||
    fail "choose on a second fleet: $(grep chosen "$tmp/trc.out")"; ok
[ "$(grep -c '^curve: [0-9]* 0\.[0-9]* ' "$tmp/trc.out")" -eq 198 ] ||
    fail "--curve: not 99 thresholds x 2 persistences"; ok
grep -q "^held back: 13 PSUs (seed 3, share 0.30), [0-9]* PSU-days, [0-9]* failures ([0-9]* predictable)$" \
    "$tmp/trc.out" || fail "held back, chosen elsewhere: $(grep '^held' "$tmp/trc.out")"; ok
# the same seed, the same model; another seed holds back other PSUs
"$train" --history "$tmp/a.csv" --labels "$tmp/a_labels.csv" --out "$tmp/m2.txt" --seed 3 \
    >/dev/null 2>&1 || fail "train again"
cmp -s "$tmp/m.txt" "$tmp/m2.txt" || fail "same data and seed, different model"; ok
"$train" --history "$tmp/a.csv" --labels "$tmp/a_labels.csv" --out "$tmp/m3.txt" --seed 4 \
    >"$tmp/train4.out" 2>&1 || fail "train seed 4"
cmp -s "$tmp/train.out" "$tmp/train4.out" && fail "seed 4 held back the same PSUs"; ok

"$predict" --history "$tmp/a.csv" --model "$tmp/m.txt" >"$tmp/ep" 2>"$tmp/err" ||
    fail "predict: $(cat "$tmp/err")"; ok
grep -q "rackpower-predict: [0-9]* rows, 40 PSUs" "$tmp/err" || fail "summary: $(cat "$tmp/err")"; ok
# every failing PSU (labels) comes out at risk before its failure time, once
while IFS=, read -r psu ft cause pred; do
    [ "$psu" = psu ] && continue
    n=$(grep -c "\"event\":\"at_risk\",.*\"psu\":\"$psu\"" "$tmp/ep")
    [ "$n" -eq 1 ] || fail "$psu: $n at_risk lines, wanted 1"
    t=$(grep "\"event\":\"at_risk\",.*\"psu\":\"$psu\"" "$tmp/ep" | sed 's/.*"t":\([0-9]*\).*/\1/')
    [ "$t" -lt "$ft" ] || fail "$psu: at risk at $t, not before its failure at $ft"
    ok
done <"$tmp/a_labels.csv"
# and no healthy PSU is
for psu in $(grep -o '"psu":"p[0-9]*"' "$tmp/ep" | cut -d'"' -f4 | sort -u); do
    grep -q "^$psu," "$tmp/a_labels.csv" || fail "healthy $psu predicted at risk"
done
ok
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    assert set(d) == {"event", "t", "psu", "risk", "ttf_s", "reason"}, d
    assert 0 <= d["risk"] <= 1 and d["ttf_s"] > 0, d
' "$tmp/ep" || fail "episode lines are not the documented JSON"; ok

# --- episodes: a model of warnings alone, warnings on days 2 and 3 only ---
python3 "$traces" episodes "$tmp/e.csv" || fail "episode trace"
{
    echo "rackpower-psu-risk 1"
    echo "horizon_s 604800"
    echo "window_s 86400"
    echo "threshold 0.5"
    echo "intercept -4"
    for f in rth_c_per_w rth_trend_c_per_w_day fan_rpm_per_c efficiency efficiency_trend_day \
        vout_sag_mv_per_a warn_events kh_in_service; do
        echo "feature $f 0 1 0"
    done
    echo "feature warn_share 0 1 20"
} >"$tmp/warn.txt"
"$predict" --history "$tmp/e.csv" --model "$tmp/warn.txt" >"$tmp/ep" 2>"$tmp/err" ||
    fail "predict episodes: $(cat "$tmp/err")"; ok
[ "$(wc -l <"$tmp/ep")" -eq 2 ] || fail "wanted one start and one end line: $(cat "$tmp/ep")"; ok
head -1 "$tmp/ep" | grep -q '"event":"at_risk",.*"psu":"solo".*"reason":"warning bits set: warn_share=' ||
    fail "start line: $(head -1 "$tmp/ep")"; ok
tail -1 "$tmp/ep" | grep -q '"event":"clear",.*"psu":"solo"' || fail "end line: $(tail -1 "$tmp/ep")"; ok
t1=$(head -1 "$tmp/ep" | sed 's/.*"t":\([0-9]*\).*/\1/')
t2=$(tail -1 "$tmp/ep" | sed 's/.*"t":\([0-9]*\).*/\1/')
# warnings from day 2 to 4 (1700172800..1700345600); a 1-day window
[ "$t1" -gt 1700172800 ] && [ "$t1" -lt 1700345600 ] || fail "starts at $t1"; ok
[ "$t2" -gt 1700345600 ] && [ "$t2" -lt 1700432000 ] || fail "ends at $t2"; ok
# a higher threshold: the episode is shorter, still one
"$predict" --history "$tmp/e.csv" --model "$tmp/warn.txt" --threshold 0.9 >"$tmp/ep9" 2>/dev/null
[ "$(grep -c at_risk "$tmp/ep9")" -eq 1 ] || fail "threshold 0.9: $(cat "$tmp/ep9")"; ok
t9=$(head -1 "$tmp/ep9" | sed 's/.*"t":\([0-9]*\).*/\1/')
[ "$t9" -gt "$t1" ] || fail "threshold 0.9 at risk no later ($t9, $t1)"; ok
# the risk must hold 6 h: the same one episode, starting 6 h later (the risk
# rises all through the warnings); the same from a version 2 model's persist_s
"$predict" --history "$tmp/e.csv" --model "$tmp/warn.txt" --persist-s 21600 >"$tmp/ep6" \
    2>/dev/null || fail "--persist-s"
[ "$(grep -c at_risk "$tmp/ep6")" -eq 1 ] || fail "persist 6 h: $(cat "$tmp/ep6")"; ok
t6=$(head -1 "$tmp/ep6" | sed 's/.*"t":\([0-9]*\).*/\1/')
[ "$t6" -ge $((t1 + 21600)) ] && [ "$t6" -lt $((t1 + 25200)) ] ||
    fail "persist 6 h: at risk at $t6, first above at $t1"; ok
sed 's/^rackpower-psu-risk 1$/rackpower-psu-risk 2\npersist_s 21600/' "$tmp/warn.txt" >"$tmp/warn2.txt"
"$predict" --history "$tmp/e.csv" --model "$tmp/warn2.txt" >"$tmp/ep6m" 2>"$tmp/err" ||
    fail "version 2 model: $(cat "$tmp/err")"
cmp -s "$tmp/ep6" "$tmp/ep6m" || fail "persist_s in the model: other lines than --persist-s"; ok
# rows out of order in the file: replayed in time order, same lines
{ head -1 "$tmp/e.csv"; tail -n +2 "$tmp/e.csv" | sort -r; } >"$tmp/rev.csv"
"$predict" --history "$tmp/rev.csv" --model "$tmp/warn.txt" >"$tmp/ep_rev" 2>/dev/null ||
    fail "reversed file"
cmp -s "$tmp/ep" "$tmp/ep_rev" || fail "reversed rows, other lines"; ok

# --- bad rows ---
{ head -40 "$tmp/e.csv"; echo "1700002400,solo,230,2,abc,1,1,1,1,1,1,0x0000";
  sed -n 41,60p "$tmp/e.csv"; echo "1700012400,solo,230,2,50,1,1,1,1,1,1,0x0000,9";
  tail -n +61 "$tmp/e.csv"; } >"$tmp/bad.csv"
"$predict" --history "$tmp/bad.csv" --model "$tmp/warn.txt" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] || fail "bad row: exit is not 1"; ok
grep -q "bad.csv: line 41: vout_v: not a decimal number \"abc\"" "$tmp/err" ||
    fail "bad row message: $(cat "$tmp/err")"; ok
[ -s "$tmp/out" ] && fail "bad row: lines printed"; ok
"$predict" --history "$tmp/bad.csv" --model "$tmp/warn.txt" --skip-bad >"$tmp/out" 2>"$tmp/err" ||
    fail "--skip-bad: $(cat "$tmp/err")"; ok
grep -q "2 bad rows skipped" "$tmp/err" || fail "--skip-bad count: $(cat "$tmp/err")"; ok
cmp -s "$tmp/out" "$tmp/ep" || fail "--skip-bad: other episodes than without the bad rows"; ok
printf 't,psu\n' >"$tmp/hdr.csv"
"$predict" --history "$tmp/hdr.csv" --model "$tmp/warn.txt" --skip-bad >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] || fail "bad header skipped"; ok
grep -q "line 1: header" "$tmp/err" || fail "bad header message: $(cat "$tmp/err")"; ok
head -c 3000 /dev/urandom >"$tmp/noise.csv"
"$predict" --history "$tmp/noise.csv" --model "$tmp/warn.txt" --skip-bad >/dev/null 2>&1
[ $? -eq 1 ] || fail "noise: exit is not 1"; ok

# the shipped default model reads (no --model)
"$predict" --history "$tmp/e.csv" >/dev/null 2>"$tmp/err" || fail "default model: $(cat "$tmp/err")"; ok

# --- bad model files ---
"$predict" --history "$tmp/e.csv" --model "$tmp/none.txt" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] || fail "missing model: exit not 1"; ok
grep -q "none.txt: No such file" "$tmp/err" || fail "missing model: $(cat "$tmp/err")"; ok
sed 's/^feature warn_share 0 1 20$/feature warn_share 0 -1 20/' "$tmp/warn.txt" >"$tmp/bm.txt"
"$predict" --history "$tmp/e.csv" --model "$tmp/bm.txt" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] || fail "bad scale accepted"; ok
grep -q "bm.txt: model line 14: feature: SCALE must be above 0" "$tmp/err" ||
    fail "bad scale message: $(cat "$tmp/err")"; ok
grep -v kh_in_service "$tmp/warn.txt" >"$tmp/bm.txt"
"$predict" --history "$tmp/e.csv" --model "$tmp/bm.txt" >/dev/null 2>"$tmp/err"
grep -q "feature kh_in_service missing" "$tmp/err" || fail "missing feature: $(cat "$tmp/err")"; ok

# --evaluate: no fit, every PSU scored; labels say yes/no as rackpower-sim fleet writes them
sed 's/,1$/,yes/' "$tmp/a_labels.csv" >"$tmp/yes.csv"
"$train" --history "$tmp/a.csv" --labels "$tmp/yes.csv" --evaluate "$tmp/m.txt" >"$tmp/ev" \
    2>"$tmp/err" || fail "--evaluate: $(cat "$tmp/err")"; ok
grep -q "^held back: 40 PSUs" "$tmp/ev" || fail "--evaluate held back: $(cat "$tmp/ev")"; ok
grep -q "of 14 failures), .*recall of predictable 1.000 (14 of 14)" "$tmp/ev" ||
    fail "--evaluate on the training fleet: $(grep model: "$tmp/ev")"; ok
"$train" --history "$tmp/a.csv" --labels "$tmp/yes.csv" --evaluate "$tmp/m.txt" --out "$tmp/z" \
    >/dev/null 2>&1; [ $? -eq 2 ] || fail "--evaluate with --out: exit is not 2"; ok

# --- bad labels ---
printf 'psu,failure_t,cause,predictable\np01,12x,cap,1\n' >"$tmp/bl.csv"
"$train" --history "$tmp/e.csv" --labels "$tmp/bl.csv" --out "$tmp/x.txt" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] || fail "bad labels: exit not 1"; ok
grep -q "bl.csv: line 2: failure_t: not Unix seconds" "$tmp/err" || fail "labels: $(cat "$tmp/err")"; ok
printf 'psu,failure_t,cause,predictable\np01,12,cap,1\np01,13,cap,1\n' >"$tmp/bl.csv"
"$train" --history "$tmp/e.csv" --labels "$tmp/bl.csv" --out "$tmp/x.txt" >/dev/null 2>"$tmp/err"
grep -q "line 3: psu p01 labelled twice" "$tmp/err" || fail "labels twice: $(cat "$tmp/err")"; ok
# one class only: nothing to fit, said so
printf 'psu,failure_t,cause,predictable\n' >"$tmp/nl.csv"
"$train" --history "$tmp/e.csv" --labels "$tmp/nl.csv" --out "$tmp/x.txt" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] || fail "no failures: exit not 1"; ok
grep -q "both kinds needed" "$tmp/err" || fail "no failures: $(cat "$tmp/err")"; ok
[ -e "$tmp/x.txt" ] && fail "a model written from nothing"; ok

test_end
