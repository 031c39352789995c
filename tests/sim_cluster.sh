#!/bin/sh
# rackpower-sim cluster over many seeds (issue 9, section 7): every seed of
# SEEDS on examples/cluster/rack.yaml with three controllers and the faults
# each seed draws must keep every invariant, and the faults must really have
# happened (elections, refused writes, forged and replayed datagrams dropped).
# Prints the summary, with seeds per second.
# usage: sim_cluster.sh RACKPOWER-SIM SOURCE-DIR SEEDS
set -u
. "${0%/*}/lib.sh"
test_begin "sim_cluster.sh $3"
sim="$1"
rack="$2/examples/cluster/rack.yaml"

"$sim" cluster "$rack" --controllers 3 --seeds "$3" >"$tmp/out" 2>&1
rc=$?
cat "$tmp/out"
[ $rc -eq 0 ] || fail "seeds $3: exit $rc (the FAIL lines above replay each finding)"; ok
grep -q "0 failed" "$tmp/out" || fail "a seed failed"; ok
# the run was not a quiet one: each kind of fault happened and was answered
sum=$(grep -A2 '^cluster:' "$tmp/out" | tr '\n' ' ')
n() { echo "$sum" | sed -n "s/.* \([0-9][0-9]*\) $1.*/\1/p"; }
[ "$(n 'forged and')" -gt 0 ] || fail "no forged datagram was dropped"; ok
[ "$(n 'replayed dropped')" -gt 0 ] || fail "no replayed datagram was dropped"; ok
seeds=$(echo "$sum" | sed -n 's/.*: \([0-9][0-9]*\) passed.*/\1/p')
[ "$(n 'elections')" -gt "$seeds" ] || fail "no more elections than seeds: no primary was lost"; ok
[ "$(n 'device writes refused')" -gt 0 ] || fail "the fence never refused a stale primary"; ok
test_end
