#!/bin/sh
# make demo: plays the demo rack through two PSU failures in virtual time,
# then runs the daemon on its embedded simulated rack for a short session
# with rackpowerctl.
set -eu
build="${1:-build}"
cd "$(dirname "$0")/.."
echo "== 1. rackpower-sim examples/demo.yaml"
echo "   (four PSUs of two sizes, two feeds, two bus bars, n+1; virtual time)"
echo
"$build/rackpower-sim" examples/demo.yaml
echo
echo "== the same as JSON lines, first failure only (rackpower-sim ... --json):"
"$build/rackpower-sim" examples/demo.yaml --json | grep '"t":10,' | grep -v '"state"'
echo
echo "More scenarios in examples/: $(ls examples | tr '\n' ' ')"
echo
echo "== 2. rackpowerd on its embedded simulated rack (contrib/rackpower.yaml), in real time"
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
# the example config, with the API on a free port and its local socket here
# (root and the daemon's own user are admin on it: docs/security.md)
sed -e 's/^  port: 8470/  port: 0/' -e "s|^  listen: 127.0.0.1|  listen: 127.0.0.1\n  socket: $tmp/rackpowerd.sock|" \
    contrib/rackpower.yaml >"$tmp/rack.yaml"
"$build/rackpowerd" --config "$tmp/rack.yaml" --db "$tmp/rackpower.db" --foreground \
    >"$tmp/log" 2>&1 &
pid=$!
i=0
until grep -q 'serving the API on' "$tmp/log"; do
    i=$((i + 1)); [ $i -gt 100 ] && { cat "$tmp/log"; exit 1; }; sleep 0.1
done
sleep 1.5 # the simulated servers of the boot list ask for power
show() { echo; echo "\$ rackpowerctl $*"; "$build/rackpowerctl" --unix-socket "$tmp/rackpowerd.sock" "$@"; }
show status
show servers
show power-on ml1
show out-of-service psu ps1 --dry-run
show out-of-service psu ps1 --reason "fan replacement"
show out-of-service psu ps4 || true # it would shed: refused without --force
show servers
show in-service psu ps1
show events --tail 6
echo
echo "(rackpowerd stops; its grants are in $tmp/rackpower.db until the demo cleans up)"
