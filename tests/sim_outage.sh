#!/bin/sh
# rackpower-sim in an outage: every shipped examples/outage-*.yaml played
# with --json, and the behaviour asserted from the run's own figures
# (tests/sim_outage.py): the most important set runs longest, stops come in
# priority order with reasons and figures, reserves never gain energy during
# the outage, everything comes back once mains is stable, the same seed gives
# the same bytes, and a rack without reserves prints no outage fields.
set -u
. "${0%/*}/lib.sh"
test_begin sim_outage.sh
sim="$1"
ex="$2/examples"
py="python3 ${0%/*}/sim_outage.py"

for name in ups operator bbu server-batteries; do
    f="$ex/outage-$name.yaml"
    "$sim" "$f" --json --seed 7 >"$tmp/$name.json" 2>"$tmp/$name.err" ||
        fail "$name: run failed: $(cat "$tmp/$name.err")"; ok
    for check in top_runs_longest stops_in_priority_order stop_figures energy_never_rises all_back; do
        out=$($py $check "$tmp/$name.json") || fail "$name: $check: $out"; ok
    done
    "$sim" "$f" --json --seed 7 >"$tmp/$name.again" || fail "$name: rerun failed"; ok
    cmp -s "$tmp/$name.json" "$tmp/$name.again" || fail "$name: same seed, different output"; ok
    "$sim" "$f" >"$tmp/$name.txt" || fail "$name: text run failed"; ok
    grep -q "outage .*start" "$tmp/$name.txt" || fail "$name: the text shows no outage start"; ok
    grep -q "stop .*stage 1" "$tmp/$name.txt" || fail "$name: the text shows no first stop"; ok
done

# the bbus and server batteries are diverted to the most important work,
# only once the servers they leave have stopped
for name in bbu server-batteries; do
    out=$($py no_divert_darkens "$tmp/$name.json") || fail "$name: $out"; ok
done

# the operator's outage holds the releases until his end (at 1500 s), though
# mains is back at 1200 s
out=$($py released_after "$tmp/operator.json" 1500) || fail "operator: $out"; ok

# a ups that runs empty takes its feed down: outage-ups.yaml with mains never back
sed '/mains_return/d' "$ex/outage-ups.yaml" >"$tmp/ups-long.yaml"
"$sim" "$tmp/ups-long.yaml" --json >"$tmp/ups-long.json" || fail "ups-long run failed"; ok
out=$($py ups_feed_fails "$tmp/ups-long.json") || fail "ups-long: $out"; ok

# a reserve's readings lost and back: the planner sees it drain at its last rate
sed 's/^  - {at: 2700, mains_return: all}/  - {at: 300, reserve_lost: ups1}\n  - {at: 600, reserve_back: ups1}\n&/' \
    "$ex/outage-ups.yaml" >"$tmp/ups-lost.yaml"
grep -q reserve_lost "$tmp/ups-lost.yaml" || fail "ups-lost.yaml not made"; ok
"$sim" "$tmp/ups-lost.yaml" --json >"$tmp/ups-lost.json" || fail "ups-lost run failed"; ok
out=$($py reserve_lost "$tmp/ups-lost.json" ups1 300 600) || fail "ups-lost: $out"; ok

# another seed changes the draws, not the kinds of decisions
"$sim" "$ex/outage-ups.yaml" --json --seed 8 >"$tmp/ups8.json" || fail "ups seed 8"; ok
cmp -s "$tmp/ups.json" "$tmp/ups8.json" && fail "seed 8 prints what seed 7 prints"; ok
out=$($py top_runs_longest "$tmp/ups8.json") || fail "ups seed 8: $out"; ok

# racks without reserves: nothing of the outage shows
for f in demo feed-failure bus-failure; do
    "$sim" "$ex/$f.yaml" --json >"$tmp/$f.json" || fail "$f run"; ok
    out=$($py no_outage_fields "$tmp/$f.json") || fail "$f: $out"; ok
done
test_end
