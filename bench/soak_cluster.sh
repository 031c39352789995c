#!/bin/sh
# make soak-cluster: rackpower-sim cluster on examples/cluster/rack.yaml with
# three controllers, far beyond make test's 10,000 seeds: SEEDS seeds (default
# 1,000,000) in chunks of 10,000, JOBS chunks at a time, stopping at the first
# chunk that starts after MINUTES (default 20). Prints each failing seed's
# replay line and, at the end, the seeds run, the failures and seeds per
# second (docs/benchmarks.md). A figure, not a test: exit 1 only when a seed
# failed.
# usage: soak_cluster.sh BUILD-DIR SOURCE-DIR [SEEDS [MINUTES [JOBS]]]
set -u
sim="$1/rackpower-sim"
rack="$2/examples/cluster/rack.yaml"
seeds="${3:-1000000}"
minutes="${4:-20}"
jobs="${5:-2}"
chunk=10000
out=$(mktemp -d) || exit 1
trap 'rm -rf "$out"' EXIT
start=$(date +%s)
next=1
n=0
while [ "$next" -le "$seeds" ] && [ $(($(date +%s) - start)) -lt $((minutes * 60)) ]; do
    j=0
    while [ $j -lt "$jobs" ] && [ "$next" -le "$seeds" ]; do
        last=$((next + chunk - 1))
        [ "$last" -gt "$seeds" ] && last=$seeds
        "$sim" cluster "$rack" --controllers 3 --seeds "$next..$last" >"$out/$n" 2>&1 &
        next=$((last + 1))
        n=$((n + 1))
        j=$((j + 1))
    done
    wait
done
end=$(date +%s)
cat "$out"/* | grep -A1 '^FAIL seed'
# per chunk: seeds run, failed, and CPU seconds (seeds / seeds per CPU second)
sums=$(cat "$out"/* | sed -n 's/^cluster: .*: \([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed.*; \([0-9][0-9]*\) per CPU second.*/\1 \2 \3/p' |
    awk '{ p += $1; f += $2; if ($3 > 0) c += ($1 + $2) / $3 } END { printf "%d %d %.0f", p + f, f, c }')
set -- $sums
total=$1
failed=$2
cpu=$3
secs=$((end - start))
[ "$secs" -gt 0 ] || secs=1
[ "$cpu" -gt 0 ] || cpu=1
echo "soak-cluster: $total seeds, $failed failed, in $secs s with $jobs jobs on $(nproc) cores" \
    "($(uname -m)): $((total / secs)) seeds/s; $((total / cpu)) per CPU second"
[ "$failed" -eq 0 ]
