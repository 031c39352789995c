#!/bin/sh
# pymodbus as a third outside client of rackpower-sim serve (beside mbpoll and
# the daemon's libmodbus): tests/sim_pymodbus.py scans the units over Modbus
# TCP and reads every PSU's whole map (0..109), checked against the control
# socket's status and against mbpoll's reading of the same registers; and the
# first PSU's map over RTU, with its round trip printed against the wire model.
set -u
. "${0%/*}/lib.sh"
test_begin sim_pymodbus.sh
sim="$1"
src="$2"
log_show simulator-log "$tmp/err"
need mbpoll socat
# Debian's interpreter, where python3-pymodbus is installed (scripts/deps.sh),
# not whatever python3 comes first on PATH.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" -c 'import pymodbus.client' 2>"$tmp/pyerr" || fail "pymodbus: $(tail -1 "$tmp/pyerr") (scripts/deps.sh installs python3-pymodbus)"; ok

# RTU at 8N1: the simulator sees a pyserial client (under pymodbus) as 8N1
# whatever parity it sets (pyserial clears INPCK, the pty clears PARENB)
sim_start "$sim" "$tmp/out" "$tmp/err" "$src/examples/demo.yaml" --tcp 127.0.0.1:0 \
    --rtu "$tmp/rtu" --parity N --control "$tmp/ctl" --seed 3
port=$sim_port
[ -n "$port" ] || fail "no port in the ready line: $(cat "$tmp/out")"; ok

# mbpoll's reading of every PSU's registers 0..109: "UNIT REG VALUE" lines
units=$(sim_ctl "$tmp/ctl" status | sed -n 's/^psu [^ ]* unit \([0-9]*\) .*/\1/p')
[ -n "$units" ] || fail "no PSU in the status"; ok
: >"$tmp/mbpoll"
for u in $units; do
    mbpoll -m tcp -p "$port" -0 -1 -o 2 -a "$u" -r 0 -c 110 127.0.0.1 2>"$tmp/mberr" |
        sed -n "s/^\[\([0-9]*\)\]:[[:space:]]*\([0-9]*\).*/$u \1 \2/p" >>"$tmp/mbpoll"
done
[ "$(wc -l <"$tmp/mbpoll")" -eq $((110 * $(echo $units | wc -w))) ] ||
    fail "mbpoll read $(wc -l <"$tmp/mbpoll") registers ($(cat "$tmp/mberr"))"; ok

"$py" "$src/tests/sim_pymodbus.py" "$port" "$tmp/ctl" "$tmp/mbpoll" "$tmp/rtu" >"$tmp/py" 2>&1 ||
    fail "$(cat "$tmp/py")"; ok
cat "$tmp/py"
# the register pymodbus wrote, as mbpoll reads it
last=$(echo $units | tr ' ' '\n' | tail -1)
v=$(mbpoll -m tcp -p "$port" -0 -1 -o 2 -a "$last" -r 105 -c 1 127.0.0.1 2>/dev/null |
    sed -n 's/^\[105\]:[[:space:]]*\([0-9]*\).*/\1/p')
[ "$v" = 30 ] || fail "mbpoll reads '$v' in unit $last register 105 after pymodbus wrote 30"; ok
grep -q "write unit $last (ps[0-9]*) reg 105 = 30: stored" "$tmp/err" ||
    fail "pymodbus's write is not in the simulator's log"; ok

sim_stop
[ $stop_rc -eq 0 ] || fail "exit status $stop_rc after SIGTERM"; ok
test_end
