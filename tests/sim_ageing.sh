#!/bin/sh
# rackpower-sim serve --ageing-rate: a served PSU ages in seconds by the fleet
# model (docs/sim-devices.md "Ageing"): its outlet temperature register rises
# against a healthy neighbour's, its warning shows in register 60 and it fails
# at the end; without the option nothing drifts. Bad ageing options: exit 2,
# an unknown PSU exit 1. Read with mbpoll, as any Modbus client.
# Usage: sim_ageing.sh RACKPOWER_SIM SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin sim_ageing.sh
sim="$1"
src="$2"
log_show simulator-log "$tmp/err"
need mbpoll

# the register values mbpoll prints ("[70]: 4224" -> 4224)
values() { sed -n 's/^\[[0-9]*\]:[[:space:]]*\([0-9]*\).*/\1/p' | tr '\n' ' ' | sed 's/ $//'; }
reg() { mbpoll -m tcp -p "$sim_port" -0 -1 -o 2 -a "$1" -r "$2" -c 1 -t 4 127.0.0.1 2>/dev/null | values; }
# outlet temperature of unit $1 in tenths of a degree (register 70, FLOAT precision 7)
outlet() { r=$(reg "$1" 70); [ -n "$r" ] && echo $((r * 10 / 128)); }
# ps1's outlet over ps2's, in tenths of a degree
excess() { a=$(outlet 200) && b=$(outlet 201) && [ -n "$a" ] && [ -n "$b" ] && echo $((a - b)); }

# --- bad options: exit 2, or 1 for a PSU the rack does not have
for args in "--ageing-rate x" "--ageing-rate -1" "--ageing-rate nan" "--ageing-rate 2000000" \
    "--ageing-cause rust" "--ageing-psu ''"; do
    eval "set -- $args"
    "$sim" serve "$src/examples/demo.yaml" --tcp 127.0.0.1:0 "$@" >/dev/null 2>"$tmp/e"
    [ $? -eq 2 ] || fail "serve $args: exit is not 2 ($(cat "$tmp/e"))"; ok
    grep -q -- "--ageing-" "$tmp/e" || fail "serve $args: option not named: $(cat "$tmp/e")"; ok
done
"$sim" serve "$src/examples/demo.yaml" --tcp 127.0.0.1:0 --ageing-rate 1 --ageing-psu ps99 \
    >/dev/null 2>"$tmp/e"
[ $? -eq 1 ] || fail "unknown --ageing-psu: exit is not 1"; ok
grep -q "no PSU 'ps99'" "$tmp/e" || fail "unknown --ageing-psu: $(cat "$tmp/e")"; ok

# --- without ageing: ps1 and ps2 stay alike for a few seconds
sim_start "$sim" "$tmp/out" "$tmp/err" "$src/examples/demo.yaml" --tcp 127.0.0.1:0 --seed 3
sleep 3
d=$(excess)
[ -n "$d" ] && [ "$d" -ge -5 ] && [ "$d" -le 5 ] || fail "no ageing: ps1 - ps2 outlet is '$d' tenths"; ok
sim_stop

# --- ps1 with a capacitor defect at 10 h/s: 168 h at 40 C, half a minute or so here
# (no server is on: the units idle near 30 C, where ageing runs at half speed)
sim_start "$sim" "$tmp/out" "$tmp/err" "$src/examples/demo.yaml" --tcp 127.0.0.1:0 --seed 3 \
    --ageing-rate 10 --ageing-psu ps1 --ageing-cause capacitor
grep -q "ageing: 10 h per second; ps1 has a capacitor defect" "$tmp/err" "$tmp/out" ||
    fail "no ageing line"; ok
first=$(excess)
[ -n "$first" ] && [ "$first" -lt 10 ] || fail "ps1 starts '$first' tenths over ps2"; ok
# it rises: 2 degrees over its neighbour, before it fails
until_ok '[ "$(excess)" -ge 20 ]' "ps1's outlet 2 C over ps2's (it was $first tenths)" 1500
[ $(( $(reg 200 60) & 512 )) -eq 0 ] || fail "ps1 failed before its temperature rose"; ok
# and it fails: DCDC fail (reg 60 bit 9)
until_ok '[ $(( $(reg 200 60) & 512 )) -ne 0 ]' "ps1 failed (register 60 bit 9)" 900
grep -q "ageing: ps1 failed (capacitor worn out)" "$tmp/err" "$tmp/out" || fail "no failure line"; ok
[ $(( $(reg 201 60) & 512 )) -eq 0 ] || fail "ps2 failed too"; ok
sim_stop
test_end
