#!/bin/sh
# make demo: plays the demo rack through two PSU failures and the repairs.
set -eu
build="${1:-build}"
cd "$(dirname "$0")/.."
echo "== rackpower-sim examples/demo.yaml"
echo "   (four PSUs of two sizes, two feeds, two bus bars, n+1; virtual time)"
echo
"$build/rackpower-sim" examples/demo.yaml
echo
echo "== the same as JSON lines, first failure only (rackpower-sim ... --json):"
"$build/rackpower-sim" examples/demo.yaml --json | grep '"t":10,' | grep -v '"state"'
echo
echo "More scenarios in examples/: $(ls examples | tr '\n' ' ')"
