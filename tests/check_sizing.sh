#!/bin/sh
# check_sizing.sh RACKPOWERD RACKPOWER-SIM SOURCE_DIR: the sizing figures and
# warnings that `rackpowerd --check` and `rackpower-sim --check` print (one
# function, src/conf/sizing.c), and their exit codes: 0 for a valid file even
# with warnings, 1 for a file that does not load, 2 for a bad command line.
set -u
rpd="$1"
sim="$2"
src="$3"
. "${0%/*}/lib.sh"
test_begin check_sizing.sh

# The demo rack: its figures, the worst failure named, its one warning.
"$rpd" --config "$src/contrib/rackpower.yaml" --check >"$tmp/demo.out" 2>&1 ||
    fail "--check of the demo rack: exit $?: $(cat "$tmp/demo.out")"; ok
for want in 'capacity: 10000 W from 4 PSUs' \
    '  bus A: 4000 W switched onto it as written, 10000 W wired to it' \
    '  feed F1: 5000 W' \
    'worst single failure: feed F1 (ps1, ps3): 5000 W left' \
    'protected capacity (n+1): 7000 W, after PSU ps3 fails' \
    'demand: 8000 W at power_w, 7600 W at min_w, 6 servers' \
    '  priority 5: 3000 W at power_w, 3000 W at min_w, 1 server' \
    'all servers at power_w: can all be served, not protected' \
    'warning: demand: the servers ask 8000 W (power_w), above the 7000 W that n+1 protection keeps after PSU ps3 fails: not all of them can be granted at once'; do
    grep -qxF "$want" "$tmp/demo.out" || fail "--check does not print '$want': $(cat "$tmp/demo.out")"; ok
done

# The simulator prints the same figures for the same rack.
"$sim" --check "$src/examples/demo.yaml" >"$tmp/sim.out" 2>&1 ||
    fail "rackpower-sim --check: exit $?: $(cat "$tmp/sim.out")"; ok
sed 1d "$tmp/demo.out" >"$tmp/demo.fig"
sed 1d "$tmp/sim.out" >"$tmp/sim.fig"
cmp -s "$tmp/demo.fig" "$tmp/sim.fig" ||
    fail "the simulator's figures differ: $(diff "$tmp/demo.fig" "$tmp/sim.fig")"; ok

# A rack that cannot work: a valid file (exit 0) with every warning.
cat >"$tmp/bad.yaml" <<'YAML'
rack:
  name: bad
  protection: n+1
  feeds: [F1, F2, F3]
  buses: [A, B, C]
  psus:
    - {id: p1, capacity_w: 2000, feed: F1, buses: [A], bus: A}
    - {id: p2, capacity_w: 2000, feed: F2, buses: [B], bus: B}
  servers:
    - {id: huge, power_w: 2500, priority: 1, buses: [A]}
    - {id: lonely, power_w: 500, priority: 2, buses: [C]}
YAML
"$rpd" --config "$tmp/bad.yaml" --check >"$tmp/bad.out" 2>&1 ||
    fail "--check of a rack with warnings did not exit 0: $(cat "$tmp/bad.out")"; ok
for want in 'warning: bus C: no PSU is wired to it' \
    'warning: feed F3: no PSU draws from it' \
    'warning: server huge: asks 2500 W, more than all the PSUs that reach A deliver (2000 W): it can never be powered' \
    'warning: server lonely: no PSU is wired to its bus C: it can never be powered' \
    'all servers at power_w: cannot all be served'; do
    grep -qxF "$want" "$tmp/bad.out" || fail "--check does not print '$want': $(cat "$tmp/bad.out")"; ok
done
grep -q '^warning: demand: not every server can be granted its power_w at once: ' "$tmp/bad.out" ||
    fail "no demand warning: $(cat "$tmp/bad.out")"; ok

# A rack with reserves (examples/outage-bbu.yaml, ORv3: a BBU shelf per bus,
# 240 s at its 9 kW): each reserve's runtime with no mains and every server
# at power_w, and the most important set's alone, the same in the daemon.
"$sim" --check "$src/examples/outage-bbu.yaml" >"$tmp/bbu.out" 2>&1 ||
    fail "rackpower-sim --check of outage-bbu.yaml: exit $?: $(cat "$tmp/bbu.out")"; ok
for want in 'reserves: 1264 Wh in 2, with no mains on any feed and every server at power_w (10800 W):' \
    '  reserve bbuA (bbu on bus A): 632 Wh, max 9000 W: gives 5700 W, 379 s' \
    '  reserve bbuB (bbu on bus B): 632 Wh, max 9000 W: gives 5100 W, 424 s' \
    '  every server: 379 s until one lacks power' \
    'most important set (priority 1: orders-db): 3600 W on 2 servers, everything else stopped: 600 s as placed, 1201 s with the reserves idle for it switched to it'; do
    grep -qxF "$want" "$tmp/bbu.out" || fail "--check does not print '$want': $(cat "$tmp/bbu.out")"; ok
done
sed '/^timeline:/,$d' "$src/examples/outage-bbu.yaml" >"$tmp/bbu-rack.yaml"
"$rpd" --config "$tmp/bbu-rack.yaml" --check >"$tmp/bbu-d.out" 2>&1 ||
    fail "rackpowerd --check of the outage-bbu rack: exit $?: $(cat "$tmp/bbu-d.out")"; ok
sed 1d "$tmp/bbu.out" >"$tmp/bbu.fig"
sed 1d "$tmp/bbu-d.out" >"$tmp/bbu-d.fig"
cmp -s "$tmp/bbu.fig" "$tmp/bbu-d.fig" ||
    fail "the daemon's reserve figures differ: $(diff "$tmp/bbu.fig" "$tmp/bbu-d.fig")"; ok
# A UPS asked more than its max_w: a warning, still exit 0.
cat >"$tmp/ups.yaml" <<'YAML'
rack:
  buses: [A]
  psus:
    - {id: p1, capacity_w: 3000, buses: [A]}
  servers:
    - {id: s1, power_w: 2500, priority: 1, buses: [A]}
  reserves:
    - {id: ups1, kind: ups, energy_wh: 400, max_w: 1500}
YAML
"$rpd" --config "$tmp/ups.yaml" --check >"$tmp/ups.out" 2>&1 ||
    fail "--check of an undersized ups did not exit 0: $(cat "$tmp/ups.out")"; ok
for want in 'warning: reserve ups1: feed mains asks 2500 W of it with no mains and every server at power_w, above its max_w 1500 W: it cannot carry what it is placed to carry' \
    '  every server: cannot be carried, 1000 W short at once'; do
    grep -qxF "$want" "$tmp/ups.out" || fail "--check does not print '$want': $(cat "$tmp/ups.out")"; ok
done

# A file that does not load: exit 1 and file:line:column; a bad command line: 2.
printf 'rack:\n  buses: [A]\n  psus: 3\n' >"$tmp/invalid.yaml"
"$rpd" --config "$tmp/invalid.yaml" --check >"$tmp/inv.out" 2>&1
[ $? -eq 1 ] || fail "an invalid file did not exit 1: $(cat "$tmp/inv.out")"; ok
grep -q 'invalid.yaml:3:' "$tmp/inv.out" || fail "no file:line: $(cat "$tmp/inv.out")"; ok
"$sim" --check "$tmp/invalid.yaml" >"$tmp/sinv.out" 2>&1
[ $? -eq 1 ] || fail "rackpower-sim --check of an invalid file did not exit 1"; ok
"$sim" --check >"$tmp/snone.out" 2>&1
[ $? -eq 2 ] || fail "rackpower-sim --check without a file did not exit 2"; ok

test_end
