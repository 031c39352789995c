#!/bin/sh
# rackpower-sim as a user runs it: exit codes, messages, byte-for-byte replay.
set -u
. "${0%/*}/lib.sh"
test_begin sim_cli.sh
sim="$1"
ex="$2/examples"

"$sim" --help >"$tmp/out" || fail "--help exits non-zero"; ok
grep -q "usage: rackpower-sim" "$tmp/out" || fail "--help shows no usage"; ok

"$sim" >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] || fail "no argument: exit is not 2"; ok
"$sim" --bogus "$ex/demo.yaml" >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] || fail "bad option: exit is not 2"; ok
grep -q "unknown option '--bogus'" "$tmp/err" || fail "bad option not named"; ok
"$sim" "$ex/demo.yaml" --seed x >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] || fail "bad seed: exit is not 2"; ok

"$sim" "$tmp/missing.yaml" >/dev/null 2>"$tmp/err"; [ $? -eq 1 ] || fail "missing file: exit is not 1"; ok
grep -q "missing.yaml: cannot open" "$tmp/err" || fail "missing file message: $(cat "$tmp/err")"; ok

printf 'rack:\n  buses: [A]\n  protection: n+3\n' >"$tmp/bad.yaml"
"$sim" "$tmp/bad.yaml" >"$tmp/out" 2>"$tmp/err"; [ $? -eq 1 ] || fail "bad file: exit is not 1"; ok
grep -q "bad.yaml:3:15: protection: expected one of none, n+1, n+n, got 'n+3'" "$tmp/err" ||
    fail "bad file message: $(cat "$tmp/err")"; ok
[ -s "$tmp/out" ] && fail "bad file: something ran"; ok

"$sim" "$ex/demo.yaml" --json --seed 3 >"$tmp/a" || fail "demo run"; ok
"$sim" "$ex/demo.yaml" --json --seed 3 >"$tmp/b" || fail "demo rerun"; ok
cmp -s "$tmp/a" "$tmp/b" || fail "same input and seed, different output"; ok
"$sim" "$ex/demo.yaml" >"$tmp/text" || fail "demo text run"; ok
grep -q "switch .*ps4 .*B -> A" "$tmp/text" || fail "demo shows no re-route"; ok
grep -q "shed .*batch1" "$tmp/text" || fail "demo shows no shed"; ok
test_end
