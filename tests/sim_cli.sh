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

# a PSU predicted to fail (docs/policy.md): drained before it fails, nobody notices
"$sim" "$ex/predicted-failure.yaml" --json >"$tmp/pred" || fail "predicted-failure run"; ok
grep -q '"t":10,"event":"switch","psu":"ps1","from":"A","to":null.*drained off bus A before its predicted failure' \
    "$tmp/pred" || fail "ps1 not drained when predicted: $(grep '"t":10,' "$tmp/pred")"; ok
grep -q '"t":60,"event":"switch"' "$tmp/pred" && fail "ps1's failure after its drain moved a PSU"; ok
grep -q '"event":"\(shed\|cap\)"' "$tmp/pred" && fail "a prediction shed or capped: $(grep -E '"(shed|cap)"' "$tmp/pred")"; ok
grep -q '"t":70,"event":"switch"' "$tmp/pred" && fail "ps3, needed, was drained"; ok
grep -q '"t":80,"event":"wait","server":"batch1".*ps3 not counted: predicted to fail' "$tmp/pred" ||
    fail "batch1 did not wait for ps3's prediction: $(grep '"t":80,' "$tmp/pred")"; ok
grep -q '"t":90,"event":"grant","server":"batch1"' "$tmp/pred" || fail "batch1 not granted once ps3 cleared"; ok
grep -q "balance\|standby" "$tmp/text" && fail "demo (balance: off) balances"; ok

# Balancing (docs/balancing.md): balance events with the watts saved, PSUs
# woken before the grants that need them, state lines with each PSU's load,
# loss and standby and the rack's loss.
"$sim" "$ex/balance.yaml" >"$tmp/bal" || fail "balance run"; ok
grep -q "^ *0.000s  balance .*saves [0-9.]* W: .*stands by" "$tmp/bal" ||
    fail "no balance event with a standby at 0 s: $(cat "$tmp/bal")"; ok
grep -q "state .*loss [0-9]* W, standby: " "$tmp/bal" || fail "state shows no loss and standby"; ok
awk '$1 == "10.000s" && ($2 == "wake" || $2 == "grant") { print $2 }' "$tmp/bal" | tr '\n' ' ' |
    grep -q "^wake wake grant grant grant $" || fail "wakes do not come before the grants at 10 s"; ok
"$sim" "$ex/balance.yaml" --json >"$tmp/bal.json" || fail "balance --json run"; ok
python3 - "$tmp/bal.json" <<'PY' || fail "balance --json shapes"
import json, sys
states = balances = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o["event"] == "balance":
        balances += 1
        assert isinstance(o["reason"], str) and o["reason"], o
        assert abs(o["saved_w"] - (o["loss_before_w"] - o["loss_w"])) < 0.01, o
    if o["event"] != "state":
        continue
    states += 1
    total = 0
    for bus, b in o["buses"].items():
        on_bus = [p for p in o["psus"].values() if p["bus"] == bus]
        assert abs(sum(p["load_w"] for p in on_bus) - b["load_w"]) < 0.01, (o["t"], bus)
    for id, p in o["psus"].items():
        assert isinstance(p["standby"], bool) and p["loss_w"] >= 0, (o["t"], id)
        if p["standby"]:
            assert p["load_w"] == 0 and p["loss_w"] == 5, (o["t"], id, p)
        total += p["loss_w"]
    assert abs(total - o["loss_w"]) < 0.01, (o["t"], total, o["loss_w"])
assert states >= 5 and balances >= 4, (states, balances)
PY
ok
test_end
