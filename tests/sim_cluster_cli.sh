#!/bin/sh
# rackpower-sim cluster as a user runs it: its command line, a replay that is
# exact, other cluster sizes, and the checks themselves: a controller broken
# on purpose (--sabotage) must be caught, with a replay line that replays it.
set -u
. "${0%/*}/lib.sh"
test_begin sim_cluster_cli.sh
sim="$1"
rack="$2/examples/cluster/rack.yaml"

"$sim" cluster --help >"$tmp/out" || fail "--help exits non-zero"; ok
grep -q "usage: rackpower-sim cluster" "$tmp/out" || fail "--help shows no usage"; ok
"$sim" --help | grep -q "rackpower-sim cluster" || fail "the main usage does not name cluster"; ok
"$sim" cluster >/dev/null 2>&1; [ $? -eq 2 ] || fail "no scenario: exit is not 2"; ok
"$sim" cluster "$rack" --seeds 5..2 >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] || fail "seeds backwards: exit is not 2"; ok
grep -q "ends before it starts" "$tmp/err" || fail "seeds backwards not said: $(cat "$tmp/err")"; ok
"$sim" cluster "$rack" --controllers 17 >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] || fail "17 controllers: exit is not 2"; ok
grep -q "controllers: '17' is not an integer in 1..16" "$tmp/err" || fail "17 controllers: $(cat "$tmp/err")"; ok
"$sim" cluster "$rack" --sabotage nothing >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad sabotage: exit is not 2"; ok
"$sim" cluster "$rack" --bogus >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] || fail "bad option: exit is not 2"; ok
grep -q "unknown option '--bogus'" "$tmp/err" || fail "bad option not named"; ok
"$sim" cluster "$tmp/missing.yaml" >/dev/null 2>"$tmp/err"; [ $? -eq 1 ] || fail "missing file: exit is not 1"; ok
grep -q "missing.yaml: cannot open" "$tmp/err" || fail "missing file: $(cat "$tmp/err")"; ok

# one seed, twice: the same trace, byte for byte
"$sim" cluster "$rack" --seeds 4711 --trace | grep -v seeds/s >"$tmp/a" || fail "seed 4711"; ok
"$sim" cluster "$rack" --seeds 4711 --trace | grep -v seeds/s >"$tmp/b" || fail "seed 4711 again"; ok
cmp -s "$tmp/a" "$tmp/b" || fail "the same seed gave two traces"; ok
grep -q "active primary, epoch" "$tmp/a" || fail "the trace shows no primary"; ok
grep -q "grant db1" "$tmp/a" || fail "the trace shows no grant"; ok

# other sizes: a lone controller, two, five
for n in 1 2 5; do
    "$sim" cluster "$rack" --controllers $n --seeds 1..20 >"$tmp/out" 2>&1 ||
        fail "$n controllers: $(cat "$tmp/out")"; ok
done
# other scenarios: n+n (where who holds a place depends on what was seen
# when), the demo's re-routes and sheds, a boot storm
for f in feed-failure demo boot-storm; do
    "$sim" cluster "$2/examples/$f.yaml" --seeds 1..30 >"$tmp/out" 2>&1 ||
        fail "$f.yaml: $(cat "$tmp/out")"; ok
done
# a healthy cluster (no fault) converges to what the policy alone decides
"$sim" cluster "$rack" --no-faults --seeds 1..20 >"$tmp/out" 2>&1 || fail "no faults: $(cat "$tmp/out")"; ok

# the checks catch a broken controller, and the line printed replays it
for what in fence commit adopt; do
    "$sim" cluster "$rack" --seeds 1..2000 --stop --sabotage $what >"$tmp/out" 2>&1
    [ $? -eq 1 ] || fail "--sabotage $what: no seed of 2000 failed"; ok
    [ "$(grep -c '^FAIL seed' "$tmp/out")" -eq 1 ] || fail "--sabotage $what: --stop did not stop"; ok
    line=$(grep -m1 '  replay: ' "$tmp/out" | sed 's/^  replay: rackpower-sim //')
    why=$(grep -m1 '^FAIL seed' "$tmp/out" | sed 's/^FAIL seed [0-9]*: //')
    [ -n "$line" ] || fail "--sabotage $what: no replay line"; ok
    # shellcheck disable=SC2086 # the line is words
    "$sim" $line >"$tmp/replay" 2>&1
    [ $? -eq 1 ] || fail "--sabotage $what: the replay line passed: $line"; ok
    grep -qF "INVARIANT BROKEN: $why" "$tmp/replay" || fail "--sabotage $what: the replay breaks something else"; ok
done
test_end
