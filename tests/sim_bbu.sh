#!/bin/sh
# rackpower-sim serve's ORv3 BBUs as outside tools see them (docs/sim-devices.md
# "BBU"): mbpoll and pymodbus read the BBU registers over Modbus TCP on mains,
# while the BBU carries its bus after the feed fails (discharging, charge
# falling, the server still up), after a status fault and its clearing, while
# its unit is silenced (readings lost) and again, and charging once the feed
# is back; pymodbus reads the whole map 0..313 and must agree with mbpoll. Then
# a scenario's mains_fail, reserve_lost, reserve_back and mains_return.
set -u
. "${0%/*}/lib.sh"
test_begin sim_bbu.sh
sim="$1"
log_show simulator-log "$tmp/err"
need mbpoll socat
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" -c 'import pymodbus.client' 2>"$tmp/pyerr" || fail "pymodbus: $(tail -1 "$tmp/pyerr") (scripts/deps.sh installs python3-pymodbus)"; ok

cat >"$tmp/rack.yaml" <<'YAML'
rack:
  name: bbu
  feeds: [F1]
  buses: [A]
  psus:
    - {id: ps1, capacity_w: 3000, feed: F1, buses: [A], bus: A}
  servers:
    - {id: s1, power_w: 1000, priority: 1, buses: [A], chassis: c1}
  reserves:
    - {id: bbu1, kind: bbu, bus: A, energy_wh: 20, max_w: 3000}
YAML
sim_start "$sim" "$tmp/out" "$tmp/err" "$tmp/rack.yaml" --tcp 127.0.0.1:0 --control "$tmp/ctl"
port=$sim_port
[ -n "$port" ] || fail "no port in the ready line: $(cat "$tmp/out")"; ok
grep -q 'units: ps1=200 switch=1 bbu1=64 (bbu)' "$tmp/err" || fail "bbu1 is not unit 64 in the log"; ok

values() { sed -n 's/^\[[0-9]*\]:[[:space:]]*\([0-9]*\).*/\1/p' | tr '\n' ' ' | sed 's/ $//'; }
# reg UNIT REF: one holding register (0-based reference), as mbpoll reads it
reg() { mbpoll -m tcp -p "$port" -0 -1 -o 2 -a "$1" -r "$2" -c 1 -t 4 127.0.0.1 2>"$tmp/mberr" | values; }
ctl() { r=$(sim_ctl "$tmp/ctl" "$1"); [ "$r" = ok ] || fail "control '$1': $r"; }

# on mains: initialized and fully charged, 100 %, no run time, no output, AC ok
[ "$(reg 64 108)" = 160 ] || fail "battery status on mains: $(reg 64 108) (0x00a0 wanted)"; ok
[ "$(reg 64 107)" = 0 ] || fail "mode on mains: $(reg 64 107)"; ok
[ "$(reg 64 126)" = 100 ] || fail "charge on mains: $(reg 64 126)"; ok
[ "$(reg 64 133)" = 65535 ] || fail "run time on mains: $(reg 64 133)"; ok
[ "$(reg 64 311)" = 1 ] || fail "PSU AC OK on mains: $(reg 64 311)"; ok
[ "$(reg 64 310)" = 0 ] || fail "shelf power on mains: $(reg 64 310)"; ok
# the map ends at 313
mbpoll -m tcp -p "$port" -0 -1 -o 2 -a 64 -r 313 -c 2 -t 4 127.0.0.1 >/dev/null 2>"$tmp/mberr" &&
    fail "a read past 313 was answered"; ok
grep -q "Illegal data address" "$tmp/mberr" || fail "read past 313: $(cat "$tmp/mberr")"; ok

# s1 on at 800 W: asks, the chassis coil grants it
ctl 'power_on s1'
ctl 'report s1 800'
mbpoll -m tcp -p "$port" -0 -1 -o 2 -a 10 -r 0 -t 0 127.0.0.1 1 >/dev/null 2>"$tmp/mberr" ||
    fail "grant s1: $(cat "$tmp/mberr")"; ok
until_ok 'sim_ctl "$tmp/ctl" status | grep -q "server s1 .* on draw 800 W"' "s1 drawing 800 W"

# the feed fails: the BBU carries bus A, s1 stays up past the hold-up
ctl 'feed_fail F1'
until_ok '[ "$(reg 64 107)" = 2 ]' "mode discharge after the feed failed"
[ "$(reg 64 108)" = 192 ] || fail "battery status discharging: $(reg 64 108) (0x00c0 wanted)"; ok
[ "$(reg 64 310)" = 800 ] || fail "shelf power discharging: $(reg 64 310)"; ok
[ "$(reg 64 311)" = 0 ] || fail "PSU AC OK without the feed: $(reg 64 311)"; ok
rt=$(reg 64 133)
[ "$rt" -gt 0 ] && [ "$rt" -lt 65535 ] || fail "run time discharging: $rt"; ok
until_ok '[ "$(reg 64 126)" -le 97 ]' "charge falling below 97 %" 100
sleep 1.5
sim_ctl "$tmp/ctl" status | grep -q "server s1 .* on draw 800 W" || fail "s1 browned out on the BBU"; ok
sim_ctl "$tmp/ctl" status | grep -q "bbu bbu1 unit 64 bus A discharging" || fail "status: $(sim_ctl "$tmp/ctl" status | grep bbu)"; ok
grep -q "bbu bbu1 carries bus A: 800 W" "$tmp/err" || fail "no log line of the discharge"; ok

# pymodbus reads the whole map in three requests and decodes it; mbpoll agrees
cat >"$tmp/bbu.py" <<'PY'
import sys
from pymodbus.client import ModbusTcpClient
port = int(sys.argv[1])
c = ModbusTcpClient("127.0.0.1", port=port)
assert c.connect(), "no connection"
def read(addr, n):
    r = c.read_holding_registers(addr, n, slave=64)
    assert not r.isError(), f"read {addr}+{n}: {r}"
    return r.registers
regs = read(0, 120) + read(120, 120) + read(240, 74)
assert len(regs) == 314, len(regs)
s = lambda a, n: b"".join(w.to_bytes(2, "big") for w in regs[a:a + n]).decode().strip()
assert s(8, 8) == "RPSIM-ORV3-BBU", s(8, 8)
assert s(64, 16) == "RPSIM-bbu-bbu1", s(64, 16)
assert regs[107] == 2 and regs[108] & 0x40, (regs[107], regs[108])
# the cells, the pack's voltage and its current in one request: the pack
# discharges between two requests (the map above took three), so its
# voltage read in a later one is lower than the cells read in an earlier
now = read(109, 21)
cells = now[0:11]
assert len(set(cells)) == 1 and 3300 <= cells[0] <= 4150, cells
assert abs(now[128 - 109] - 11 * cells[0]) <= 11, (now[128 - 109], cells[0])
cur = now[129 - 109] - 65536 if now[129 - 109] >= 32768 else now[129 - 109]
assert cur < 0, cur
print(" ".join(str(regs[a]) for a in (107, 108, 310, 311)))
c.close()
PY
"$py" "$tmp/bbu.py" "$port" >"$tmp/py" 2>&1 || fail "pymodbus: $(cat "$tmp/py")"; ok
[ "$(cat "$tmp/py")" = "$(reg 64 107) $(reg 64 108) $(reg 64 310) $(reg 64 311)" ] ||
    fail "pymodbus read '$(cat "$tmp/py")', mbpoll '$(reg 64 107) $(reg 64 108) $(reg 64 310) $(reg 64 311)'"; ok

# a status fault (cell under-voltage) shows in 104; clear fault (313) ends it
ctl 'bbu_status bbu1 0x0800'
[ "$(reg 64 104)" = 2048 ] || fail "status after bbu_status: $(reg 64 104)"; ok
mbpoll -m tcp -p "$port" -0 -1 -o 2 -a 64 -r 313 -t 4 127.0.0.1 1 >/dev/null 2>"$tmp/mberr" ||
    fail "clear fault: $(cat "$tmp/mberr")"; ok
[ "$(reg 64 104)" = 0 ] || fail "status after clear fault: $(reg 64 104)"; ok
r=$(sim_ctl "$tmp/ctl" 'bbu_status ps1 1')
case "$r" in "error: bbu_status: ps1 is not a served BBU") ;; *) fail "bbu_status ps1: $r" ;; esac; ok

# readings lost: the unit answers nothing (0x0B on TCP), then again
ctl 'reserve_lost bbu1'
[ -z "$(reg 64 126)" ] || fail "a silenced BBU answered"; ok
grep -q "Target device failed to respond" "$tmp/mberr" || fail "silenced BBU: $(cat "$tmp/mberr")"; ok
ctl 'reserve_back bbu1'
[ -n "$(reg 64 126)" ] || fail "bbu1 does not answer after reserve_back: $(cat "$tmp/mberr")"; ok

# the feed back: mains carries the bus, the BBU recharges
ctl 'feed_repair F1'
until_ok '[ "$(reg 64 107)" = 1 ]' "mode charging after the feed is back"
[ "$(reg 64 311)" = 1 ] || fail "PSU AC OK with the feed back: $(reg 64 311)"; ok
[ "$(reg 64 310)" = 0 ] || fail "shelf power charging: $(reg 64 310)"; ok

sim_stop
[ $stop_rc -eq 0 ] || fail "exit status $stop_rc after SIGTERM"; ok

# a scenario's outage events: mains_fail fails the feeds, reserve_lost silences
# the BBU's unit, reserve_back and mains_return undo them. The silence is
# read in a scenario that never ends it: in one that does, a loaded machine
# can read the unit after the scenario's clock has made it answer again.
# play STEPS: serves the rack playing a scenario of mains_fail at 0.3 s,
# reserve_lost at 0.6 s and the timeline lines STEPS after them
play() {
    { cat "$tmp/rack.yaml"
      printf 'timeline:\n  - {at: 0.3, mains_fail: all}\n  - {at: 0.6, reserve_lost: bbu1}\n%s' "$1"
    } >"$tmp/scenario.yaml"
    sim_start "$sim" "$tmp/out" "$tmp/err" "$tmp/rack.yaml" --tcp 127.0.0.1:0 --scenario "$tmp/scenario.yaml"
    port=$sim_port
}
play ""
until_ok 'grep -q "reserve_lost bbu1: unit 64 answers nothing now" "$tmp/err"' "reserve_lost played"
grep -q "at 0.3s): feed_fail F1" "$tmp/err" || fail "mains_fail all did not fail F1"; ok
[ -z "$(reg 64 311)" ] || fail "bbu1 answered after reserve_lost"; ok
grep -q "Target device failed to respond" "$tmp/mberr" || fail "silenced BBU: $(cat "$tmp/mberr")"; ok
sim_stop
[ $stop_rc -eq 0 ] || fail "exit status $stop_rc after SIGTERM"; ok
play "  - {at: 1.0, reserve_back: bbu1, mains_return: all}
"
until_ok 'grep -q "scenario: last step played" "$tmp/err"' "the scenario played"
grep -q "reserve_lost bbu1: unit 64 answers nothing now" "$tmp/err" || fail "reserve_lost not played"; ok
grep -q "reserve_back bbu1: unit 64 answers again" "$tmp/err" || fail "reserve_back not played"; ok
[ "$(reg 64 311)" = 1 ] || fail "PSU AC OK after mains_return: $(reg 64 311)"; ok
sim_stop
[ $stop_rc -eq 0 ] || fail "exit status $stop_rc after SIGTERM"; ok
test_end
