#!/bin/sh
# Balancing in rackpowerd (docs/balancing.md "Where it runs"), on the
# in-process simulated rack with balance: on:
#   - at light load PSUs stand by: the journal has a balance event with the
#     watts saved, GET /v1/psus and `rackpowerctl psus` show them standing by
#     with each PSU's load and loss, `status` the rack's loss;
#   - more servers granted: the PSUs they need wake (journaled before the
#     grants, as the devices get them), and no server loses power on the way
#     (the simulated shelf's physics: a PSU standing by delivers nothing);
#   - a PSU failure: failures first, the rack stays protected, nothing lost.
# Usage: daemon_balance.sh RACKPOWERD RACKPOWERCTL SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin daemon_balance.sh
rpd="$1"
ctl="$2"
src="$3"
log_show daemon-log "$tmp/log"
c() { "$ctl" --unix-socket "$tmp/rp.sock" "$@"; }

demo_rack "$src" "$tmp/rack.yaml"
sed 's/^  name: demo/  name: demo\n  balance: on/' "$tmp/rack.yaml" >"$tmp/conf.yaml"
cat >>"$tmp/conf.yaml" <<EOT
devices:
  - kind: sim
    boot: [db1, app1]
    seed: 1
    poll_ms: 200
api:
  port: 0
  socket: $tmp/rp.sock
EOT
rpd_start "$rpd" "$tmp/conf.yaml" "$tmp/rp.db" "$tmp/log"

until_ok 'c status --json | grep -q "\"balance\":\"on\""' "status says balance on"
until_ok 'c psus --json | grep -q "\"standby\":true"' "a PSU standing by at 2.2 kW"
c events --tail 200 --json >"$tmp/ev" || fail "events"
grep '"event":"balance"' "$tmp/ev" | head -n 1 | grep -q '"saved_w":[0-9.]*,"loss_before_w":[0-9.]*,"loss_w":[0-9.]*,"reason":"saves ' ||
    fail "no balance event with the watts saved: $(grep balance "$tmp/ev" | head -n 3)"; ok
grep -q '"event":"standby","psu":"ps[1-4]","bus":"[AB]","watts":0' "$tmp/ev" ||
    fail "no standby event naming its PSU"; ok
c psus >"$tmp/psus" || fail "psus"
head -n 1 "$tmp/psus" | grep -Eq 'AGE +STANDBY +LOAD W +LOSS W +RISK$' || fail "psus header: $(head -n 1 "$tmp/psus")"; ok
grep -Eq '^ps[1-4] .* yes +0 +5 +[-0-9.]+$' "$tmp/psus" || fail "no PSU standing by at 0 W, 5 W lost: $(cat "$tmp/psus")"; ok
c status | grep -Eq '^conversion loss: [0-9]+ W \(balancing on\)$' || fail "status shows no loss"; ok
c events --tail 50 | grep -Eq ' balance +[0-9]+ -> [0-9]+ W +saves ' || fail "events table: no balance line"; ok
# the model's figures add up: per PSU to the rack's loss (the two reads are
# two requests: a re-plan between them changes the figures, so read again)
figures_add_up() {
    c psus --json >"$tmp/p.json" && c status --json >"$tmp/s.json" || return 1
    python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))["psus"]
s = json.load(open(sys.argv[2]))
assert abs(sum(x["loss_w"] for x in p) - s["loss_w"]) < 0.01, (p, s["loss_w"])
for x in p:
    assert x["standby"] in (True, False) and x["load_w"] >= 0, x
    if x["standby"]:
        assert x["load_w"] == 0 and x["share"] is None, x
' "$tmp/p.json" "$tmp/s.json"
}
n=0
until figures_add_up 2>"$tmp/fig.err"; do
    n=$((n + 1))
    [ $n -lt 20 ] || fail "psus and status figures: $(cat "$tmp/fig.err") $(cat "$tmp/p.json")"
    sleep 0.2
done
ok

# more load: what stands by wakes as needed, nobody loses power
for s in web1 web2 batch1; do
    c power-on $s | grep -q "^$s: granted" || fail "$s was not granted"; ok
done
until_ok 'c servers --json | grep -o "\"state\":\"on\"" | wc -l | grep -qx 5' "5 servers on"
sleep 1 # a few polls of the physics: a bus its PSUs could not carry would brown out
c events --tail 300 --json >"$tmp/ev2"
grep -q '"event":"lost_power"' "$tmp/ev2" && fail "a server lost power: $(grep lost_power "$tmp/ev2")"; ok
grep -q '"event":"wake"' "$tmp/ev2" || fail "nothing woke for 5 kW"; ok
# the journal lists a decision's wakes before its grants, as the devices got them
python3 -c '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
for w in (e for e in evs if e["event"] == "wake"):
    early = [e for e in evs if e["event"] == "grant" and e["t"] == w["t"] and e["id"] < w["id"]]
    assert not early, (w, early)
' "$tmp/ev2" || fail "a grant journaled before the wake of its decision"; ok
c status --json | grep -q '"protected":true' || fail "not protected after the grants"; ok

# a failure: the policy first, the plan after; still nothing lost
c out-of-service psu ps1 --force >/dev/null || fail "out-of-service ps1"
sleep 1
c events --tail 300 --json >"$tmp/ev3"
grep -q '"event":"lost_power"' "$tmp/ev3" && fail "a server lost power after ps1 left"; ok
until_ok 'c servers --json | grep -o "\"state\":\"on\"" | wc -l | grep -qx 5' "5 servers still on"
rpd_stop

# a rack larger than a plan can search whole on the loop thread (the nine
# PSUs of examples/cluster, wired to both buses): balanced all the same, each
# plan stopping at its bound of evaluations (balance.h
# BALANCE_LOOP_MAX_EVALS) with the best it found; nothing lost
{ sed -n '/^rack:/,/^timeline:/p' "$src/examples/cluster/rack.yaml" | grep -v '^timeline:' |
      sed 's/^  name: cluster/  name: cluster\n  balance: on/'
  printf 'devices:\n  - kind: sim\n    boot: [db1, app1]\n    seed: 1\n    poll_ms: 200\n'
  printf 'api:\n  port: 0\n  socket: %s\n' "$tmp/rp.sock"; } >"$tmp/nine.yaml"
rm -f "$tmp/rp.db" "$tmp/rp.db-wal" "$tmp/rp.db-shm"
rpd_start "$rpd" "$tmp/nine.yaml" "$tmp/rp.db" "$tmp/log"
until_ok 'c psus --json | grep -q "\"standby\":true"' "a PSU of nine standing by at light load"
grep -q "not balanced" "$tmp/log" && fail "the nine-PSU rack said not balanced: $(grep balance "$tmp/log")"; ok
c events --tail 200 --json | grep -q '"event":"balance".*"saved_w":[1-9]' ||
    fail "no balance event saving watts on nine PSUs"; ok
c status --json | grep -q '"protected":true' || fail "the nine-PSU rack not protected"; ok
c events --tail 200 --json | grep -q '"event":"lost_power"' && fail "a server lost power on nine PSUs"; ok
rpd_stop
test_end
