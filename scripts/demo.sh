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
echo "== a PSU predicted to fail (examples/predicted-failure.yaml, virtual time):"
echo "   ps1 is drained off its bus before it fails; ps3 is needed, so it stays and counts for nothing"
echo
"$build/rackpower-sim" examples/predicted-failure.yaml | grep -v ' state '
echo
echo "More scenarios in examples/: $(ls examples | tr '\n' ' ')"
echo
echo "== 1b. balancing (docs/balancing.md): examples/balance.yaml, the demo rack with balance: on"
echo "   (PSUs stand by at light load, wake before the grants that need them; each plan's saving)"
echo
"$build/rackpower-sim" examples/balance.yaml | grep -E ' (balance|wake|standby|state) '
btmp=$(mktemp -d)
sed 's/^  balance: on/  balance: off/' examples/balance.yaml >"$btmp/nobal.yaml"
"$build/rackpower-sim" "$btmp/nobal.yaml" --json >"$btmp/off.json"
"$build/rackpower-sim" examples/balance.yaml --json >"$btmp/on.json"
echo "   the rack's conversion loss after each step, every PSU awake (balance: off) -> balanced:"
python3 - "$btmp/off.json" "$btmp/on.json" <<'PY'
import json, sys
def states(path):
    return {o["t"]: o for o in map(json.loads, open(path)) if o["event"] == "state"}
off, on = states(sys.argv[1]), states(sys.argv[2])
for t in sorted(on):
    if t in off:
        print("   %5gs  %5.0f W granted: %6.1f W -> %6.1f W, %5.1f W saved" % (t,
              on[t]["allocated_w"], off[t]["loss_w"], on[t]["loss_w"], off[t]["loss_w"] - on[t]["loss_w"]))
PY
rm -rf "$btmp"
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

kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; pid=""

echo
echo "== 2b. an outage in rackpowerd (docs/outage.md): examples/outage-bbu.yaml's rack, the"
echo "   operator says the power is out; short graceful times and ride-through for the demo"
{ sed -n '/^rack:/,/^  outage:/p' examples/outage-bbu.yaml | grep -v '^  outage:'
  echo "  outage: {ride_through_s: 2, mains_stable_s: 3, min_charge_pct: 0, slack_pct: 5, soft_off_s: 1}"
  printf 'devices:\n  - kind: sim\n    boot: [db1, db2, app1, web1, app2, web2, batch1, batch2]\n'
  printf '    poll_ms: 200\napi:\n  port: 0\n  socket: %s\n' "$tmp/outage.sock"
} | sed 's/stop_s: [0-9]*/stop_s: 1/' >"$tmp/outage.yaml"
"$build/rackpowerd" --config "$tmp/outage.yaml" --db "$tmp/outage.db" --foreground \
    >"$tmp/outage.log" 2>&1 &
pid=$!
i=0
until grep -q 'serving the API on' "$tmp/outage.log"; do
    i=$((i + 1)); [ $i -gt 100 ] && { cat "$tmp/outage.log"; exit 1; }; sleep 0.1
done
sleep 1.5
oshow() { echo; echo "\$ rackpowerctl $*"; "$build/rackpowerctl" --unix-socket "$tmp/outage.sock" "$@"; }
oshow outage plan
oshow outage start --reason "utility cut announced"
sleep 4
oshow outage status
oshow events --tail 14
oshow outage end
sleep 5
oshow events --tail 4
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; pid=""

echo
echo "== 2c. a PSU predicted to fail and drained before it does (docs/prediction.md)"
echo "   (rackpower-sim serve plays the demo rack over Modbus TCP; ps2 has a capacitor defect"
echo "   and ages 6 hours a second; rackpowerd's model counts time as fast: time_scale 21600)"
sed -n '/^rack:/,/^timeline:/p' examples/demo.yaml | grep -v '^timeline:' >"$tmp/prack.yaml"
"$build/rackpower-sim" serve "$tmp/prack.yaml" --tcp 127.0.0.1:0 --control "$tmp/pctl" --seed 3 \
    --ageing-rate 6 --ageing-psu ps2 --ageing-cause capacitor >"$tmp/psout" 2>"$tmp/pslog" &
simpid=$!
trap 'kill $pid $simpid 2>/dev/null || true; rm -rf "$tmp"' EXIT
i=0
until grep -q serving "$tmp/psout"; do
    i=$((i + 1)); [ $i -gt 100 ] && { cat "$tmp/pslog"; exit 1; }; sleep 0.1
done
mport=$(sed -n 's/.*tcp 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/psout")
{ cat "$tmp/prack.yaml"
  printf 'devices:\n  - kind: modbus-tcp\n    host: 127.0.0.1\n    port: %s\n    poll_ms: 250\n' "$mport"
  printf '    units:\n'
  for u in "200, psu: ps1" "201, psu: ps2" "202, psu: ps3" "203, psu: ps4" \
      "1, switches: [ps1, ps2, ps3, ps4]" "10, chassis: c1" "11, chassis: c2" "12, chassis: c3"; do
      printf '      - {unit: %s}\n' "$u"
  done
  printf 'api:\n  port: 0\n  socket: %s\nprediction:\n  time_scale: 21600\n' "$tmp/predict.sock"
} >"$tmp/predict.yaml"
printf 'power_on db1 app1 web1 web2 batch1 ml1\n' | socat - "UNIX-CONNECT:$tmp/pctl" >/dev/null
"$build/rackpowerd" --config "$tmp/predict.yaml" --db "$tmp/predict.db" --foreground \
    >"$tmp/predict.log" 2>&1 &
pid=$!
i=0
until grep -q 'serving the API on' "$tmp/predict.log"; do
    i=$((i + 1)); [ $i -gt 100 ] && { cat "$tmp/predict.log"; exit 1; }; sleep 0.1
done
sleep 2
pshow() { echo; echo "\$ rackpowerctl $*"; "$build/rackpowerctl" --unix-socket "$tmp/predict.sock" "$@"; }
pshow psus
echo
echo "(ps2 ages: its output sags more under load, its hot spot rises ...)"
i=0
until grep -q 'psu_at_risk ps2' "$tmp/predict.log"; do
    i=$((i + 1)); [ $i -gt 900 ] && { tail "$tmp/predict.log"; exit 1; }; sleep 0.1
done
sleep 0.5
pshow psus
pshow alarms
i=0
until grep -q 'psu_fail ps2' "$tmp/predict.log"; do
    i=$((i + 1)); [ $i -gt 900 ] && { tail "$tmp/predict.log"; exit 1; }; sleep 0.1
done
sleep 0.5
echo
echo "(ps2 has failed: nobody noticed)"
pshow events --tail 9
pshow servers
kill "$pid" "$simpid" 2>/dev/null; wait "$pid" "$simpid" 2>/dev/null || true; pid=""

echo
echo "== 3. three controllers, one primary (examples/cluster): kill -9 of the primary"
echo "   (rackpower-sim serve plays the devices over Modbus TCP; three rackpowerd"
echo "   elect a primary; docs/controllers.md)"
# the example's configs with free ports and paths under $tmp
(umask 077; head -c 32 /dev/urandom >"$tmp/rack.key")
udp=$(python3 -c '
import socket
ss = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
set -- $udp
"$build/rackpower-sim" serve examples/cluster/rack.yaml --tcp 127.0.0.1:0 --control "$tmp/ctl" \
    >"$tmp/sout" 2>"$tmp/slog" &
simpid=$!
trap 'kill $pid $simpid $cpids 2>/dev/null || true; rm -rf "$tmp"' EXIT
i=0
until grep -q serving "$tmp/sout"; do
    i=$((i + 1)); [ $i -gt 100 ] && { cat "$tmp/slog"; exit 1; }; sleep 0.1
done
mport=$(sed -n 's/.*tcp 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/sout")
cpids=""
for n in 1 2 3; do
    sed -e "s|/tmp/rackpower-cluster|$tmp|g" -e "s|^    port: 15020$|    port: $mport|" \
        -e "s|^  port: 847$n$|  port: 0|" -e "s|127.0.0.1:7301|127.0.0.1:$1|" \
        -e "s|127.0.0.1:7302|127.0.0.1:$2|" -e "s|127.0.0.1:7303|127.0.0.1:$3|" \
        "examples/cluster/c$n.yaml" >"$tmp/c$n.yaml"
    "$build/rackpowerd" --config "$tmp/c$n.yaml" --db "$tmp/c$n.db" --foreground \
        >"$tmp/c$n.log" 2>&1 &
    eval "cpid$n=$!"
    cpids="$cpids $!"
done
api_of() { sed -n 's/.*serving the API on \(http:[^ ]*\).*/\1/p' "$tmp/c$1.log" | head -n 1; }
for n in 1 2 3; do
    i=0
    until [ -n "$(api_of $n)" ]; do
        i=$((i + 1)); [ $i -gt 100 ] && { cat "$tmp/c$n.log"; exit 1; }; sleep 0.1
    done
done
apis="$(api_of 1),$(api_of 2),$(api_of 3)"
# the primary, as the controllers say (any of them answers)
primary_is() {
    "$build/rackpowerctl" --api "$apis" status --json 2>/dev/null |
        python3 -c 'import json, sys; p = json.load(sys.stdin)["primary"]; print(p if p else "")'
}
i=0
until [ -n "$(primary_is)" ]; do
    i=$((i + 1)); [ $i -gt 100 ] && { tail "$tmp"/c?.log; exit 1; }; sleep 0.1
done
cshow() { echo; echo "\$ rackpowerctl --api $apis $*"; "$build/rackpowerctl" --api "$apis" "$@"; }
cshow status
echo
echo "\$ (the servers ask for power through their chassis modules: a boot storm)"
printf 'power_on db1 db2 app1 app2 web1 web2 batch1 ml1 log1\n' | socat - "UNIX-CONNECT:$tmp/ctl" >/dev/null
sleep 2
cshow servers
"$build/rackpowerctl" --api "$apis" servers --json >"$tmp/before.json"
p=$(primary_is)
echo
echo "\$ kill -9 <c$p, the primary>"
kill -9 "$(eval echo "\$cpid$p")"
i=0
until q=$(primary_is) && [ -n "$q" ] && [ "$q" != "$p" ]; do
    i=$((i + 1)); [ $i -gt 100 ] && { tail "$tmp"/c?.log; exit 1; }; sleep 0.1
done
echo "(c$q took over; the simulator's log:)"
grep "owner epoch" "$tmp/slog" | tail -n 4
sleep 1.5 # the dead one's PSUs: nobody tells of them now
pshow() { echo; echo "\$ rackpowerctl --api $(api_of $q) $*   # the new primary"; "$build/rackpowerctl" --api "$(api_of $q)" "$@"; }
pshow status
pshow alarms
cshow servers
"$build/rackpowerctl" --api "$apis" servers --json >"$tmp/after.json"
python3 - "$tmp/before.json" "$tmp/after.json" <<'PY'
import json, sys
granted = lambda f: {s["id"] for s in json.load(open(f))["servers"] if s["state"] in ("on", "capped")}
before, after = granted(sys.argv[1]), granted(sys.argv[2])
lost = sorted(before - after)
print()
print("granted before the kill: %s" % " ".join(sorted(before)))
print("granted after:           %s" % " ".join(sorted(after)))
print("every grant intact" if not lost else "LOST: %s" % " ".join(lost))
sys.exit(1 if lost else 0)
PY
