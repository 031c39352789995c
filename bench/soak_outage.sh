#!/bin/sh
# make soak-outage: test_outage_property far beyond make test's 400 seeds per
# family: SEEDS seeds of each family (random racks and one-bus racks; default
# 20,000) in chunks of 1,000, JOBS chunks at a time, starting no chunk after
# MINUTES (default 20). Every property fails a seed here, the avoidable
# shortfall included (OUTAGE_SHORTFALL=1), and every failing seed is counted.
# Prints each failing seed's replay line, then per family the seeds run, the
# failures, the avoidable shortfalls and the most important set's worst run
# against its one-bus bound (docs/outage.md, "Tests"). Exit 1 when a seed
# failed.
# usage: soak_outage.sh BUILD-DIR [SEEDS [MINUTES [JOBS]]]
set -u
bin="$1/test_outage_property"
seeds="${2:-20000}"
minutes="${3:-20}"
jobs="${4:-2}"
chunk=1000
[ -x "$bin" ] || { echo "soak-outage: $bin not built" >&2; exit 2; }
out=$(mktemp -d) || exit 1
trap 'rm -rf "$out"' EXIT
start=$(date +%s)
next=1
n=0
# the chunks in order: random 1-1000, one-bus 1-1000, random 1001-2000, ...
while [ "$next" -le "$seeds" ] && [ $(($(date +%s) - start)) -lt $((minutes * 60)) ]; do
    j=0
    while [ $j -lt "$jobs" ] && [ "$next" -le "$seeds" ]; do
        fam=random
        [ $((n % 2)) -eq 1 ] && fam=one-bus
        count=$chunk
        [ $((next + count - 1)) -gt "$seeds" ] && count=$((seeds - next + 1))
        OUTAGE_FAMILY=$fam OUTAGE_SEED=$next OUTAGE_SEEDS=$count OUTAGE_SHORTFALL=1 \
            OUTAGE_MAX_FAILURES=$count "$bin" >"$out/$n.out" 2>"$out/$n.err" &
        [ "$fam" = one-bus ] && next=$((next + count))
        n=$((n + 1))
        j=$((j + 1))
    done
    wait
done
end=$(date +%s)
cat "$out"/*.err | grep 'seed [0-9]*:' | sort -t' ' -k1,1 -k3n
status=0
for fam in random one-bus; do
    # outage-property FAM: seeds A-B, N run, F failed, S avoidable shortfalls (...)[, ... R % ... (seed W)]
    sums=$(cat "$out"/*.out | grep "^outage-property $fam:" |
        sed -n 's/.*, \([0-9]*\) run, \([0-9]*\) failed, \([0-9]*\) avoidable.*/\1 \2 \3/p' |
        awk '{ r += $1; f += $2; s += $3 } END { printf "%d %d %d", r, f, s }')
    set -- $sums
    worst=$(cat "$out"/*.out | grep "^outage-property $fam:" |
        sed -n 's/.*worst run \([0-9.]*\) % .*(seed \([0-9]*\)).*/\1 \2/p' | sort -n | head -1)
    line="soak-outage $fam: $1 seeds, $2 failed, $3 avoidable shortfalls"
    [ -n "$worst" ] && line="$line; the most important set's worst run ${worst% *} % of (1 - slack) x oracle (seed ${worst#* })"
    echo "$line"
    [ "$2" -eq 0 ] || status=1
done
# a chunk that ended without its summary line (a crash) is a failure too
for f in "$out"/*.out; do
    grep -q '^outage-property ' "$f" || { echo "soak-outage: a chunk died: $(cat "${f%.out}.err" | tail -3)"; status=1; }
done
echo "soak-outage: in $((end - start)) s with $jobs jobs on $(nproc) cores ($(uname -m))"
exit $status
