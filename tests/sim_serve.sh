#!/bin/sh
# rackpower-sim serve as outside tools see it: mbpoll over Modbus TCP and RTU
# (socat pseudo-terminals), faults through the control socket, alerts, bad
# input of every kind, and a clean stop. No fixed ports: the OS picks one.
# Waits are bounded polls; nothing here asserts on how fast anything is.
set -u
. "${0%/*}/lib.sh"
test_begin sim_serve.sh
sim="$1"
src="$2"
log_show simulator-log "$tmp/err"
need mbpoll socat

# the register values mbpoll prints, on one line ("[79]: 52224 (-13312)" -> 52224)
values() { sed -n 's/^\[[0-9]*\]:[[:space:]]*\([0-9]*\).*/\1/p' | tr '\n' ' ' | sed 's/ $//'; }
# tcp_read UNIT REF COUNT [TYPE]   (0-based references, -0)
tcp_read() { mbpoll -m tcp -p "$port" -0 -1 -o 2 -a "$1" -r "$2" -c "$3" -t "${4:-4}" 127.0.0.1 2>"$tmp/mberr" | values; }
tcp_write() { mbpoll -m tcp -p "$port" -0 -1 -o 2 -a "$1" -r "$2" -t "$3" 127.0.0.1 "$4" >/dev/null 2>"$tmp/mberr"; }
rtu_read() { mbpoll -m rtu -b 19200 -P even -0 -1 -o 1 -a "$1" -r "$2" -c "$3" -t "${4:-4}" "$tmp/rtu" 2>"$tmp/mberr" | values; }
rtu_write() { mbpoll -m rtu -b 19200 -P even -0 -1 -o 1 -a "$1" -r "$2" -t "$3" "$tmp/rtu" "$4" >/dev/null 2>"$tmp/mberr"; }
# tcp_regs UNIT REF VALUE...: one write multiple registers (0x10); rtu_regs the same over RTU
tcp_regs() { u=$1 r=$2; shift 2; mbpoll -m tcp -p "$port" -0 -1 -o 2 -a "$u" -r "$r" -t 4 127.0.0.1 "$@" >/dev/null 2>"$tmp/mberr"; }
rtu_regs() { u=$1 r=$2; shift 2; mbpoll -m rtu -b 19200 -P even -0 -1 -o 1 -a "$u" -r "$r" -t 4 "$tmp/rtu" "$@" >/dev/null 2>"$tmp/mberr"; }
ctl() { sim_ctl "$tmp/ctl" "$1"; }
# eventually "WANT" CMD...: retries CMD until it prints WANT (bounded: 50 x 0.1 s)
eventually() {
    want="$1"
    shift
    i=0
    while [ $i -lt 50 ]; do
        got=$("$@")
        [ "$got" = "$want" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    echo "  wanted '$want', got '$got'"
    return 1
}
# between LO HI VALUE
between() { [ -n "$3" ] && [ "$3" -ge "$1" ] && [ "$3" -le "$2" ]; }

# --- start: a free TCP port, RTU on socat's ptys, control and alert sockets
sim_start "$sim" "$tmp/out" "$tmp/err" "$src/examples/demo.yaml" --tcp 127.0.0.1:0 --rtu "$tmp/rtu" \
    --control "$tmp/ctl" --alert "$tmp/alert" --seed 3
grep -q "serving rack demo" "$tmp/out" || fail "ready line: $(cat "$tmp/out")"; ok
grep -q "rtu $tmp/rtu (19200 8E1)" "$tmp/out" || fail "ready line: $(cat "$tmp/out")"; ok
port=$sim_port
[ -n "$port" ] && [ "$port" -gt 0 ] || fail "no port in the ready line: $(cat "$tmp/out")"; ok
socat_pid=$(sed -n 's/.*rtu: socat (pid \([0-9]*\)).*/\1/p' "$tmp/err")
[ -n "$socat_pid" ] || fail "socat's pid not logged"; ok
[ -L "$tmp/rtu" ] && [ -L "$tmp/rtu.sim" ] || fail "no pty links"; ok

socat -u "UNIX-CONNECT:$tmp/alert" - >"$tmp/alerts" 2>/dev/null &
listener=$!
track "$listener"

# --- a PSU's output voltage: register 79, precision 10 -> about 51 V (50..52 V)
v=$(tcp_read 200 79 1)
between 51200 53248 "$v" || fail "tcp: ps1 output voltage raw '$v' is not about 51 V ($(cat "$tmp/mberr"))"; ok
v=$(rtu_read 200 79 1)
between 51200 53248 "$v" || fail "rtu: ps1 output voltage raw '$v' is not about 51 V ($(cat "$tmp/mberr"))"; ok

# --- other unit ids over the same RTU line: the switch module and a chassis module
[ "$(rtu_read 1 0 4)" = "1 1 2 2" ] || fail "rtu: switch positions '$(rtu_read 1 0 4)' (want 1 1 2 2)"; ok
[ "$(rtu_read 10 1 1)" = "1000" ] || fail "rtu: c1 slot 0 REQUEST_W is not 1000 ($(cat "$tmp/mberr"))"; ok
[ "$(rtu_read 203 8 1)" = "$(tcp_read 203 8 1)" ] || fail "rtu and tcp disagree on ps4's model"; ok

# --- the wire (docs/sim-devices.md, "Wire timing"): a client at the wrong baud
# rate or parity is garbage to the PSUs' UART: no answer, and the log says why
mis_read() { mbpoll -m rtu -b "$1" -P "$2" -0 -1 -o 1 -a 200 -r 79 -c 1 "$tmp/rtu" 2>"$tmp/mberr" | values; }
for bad in "9600 even 9600 8E1" "38400 even 38400 8E1" "19200 none 19200 8N1" "19200 odd 19200 8O1"; do
    set -- $bad
    v=$(mis_read "$1" "$2")
    [ -z "$v" ] || fail "a client at $1 $2 parity read '$v' from a 19200 8E1 line"; ok
    grep -qi "timed out" "$tmp/mberr" || fail "a client at $1 $2: $(cat "$tmp/mberr")"; ok
    grep -q "from a client at $3 $4 on a 19200 8E1 line: [0-9]* parity/framing errors" "$tmp/err" ||
        fail "the simulator does not log the client at $3 $4"; ok
done
v=$(mis_read 19200 even)
between 51200 53248 "$v" || fail "the matched client after the mismatched ones read '$v'"; ok

# --- the span a deployed monitor reads, 92..109: answered whole on both
# transports; 105 the Vout change timer, 106..109 the bootloader revision "0.9.2"
span=$(tcp_read 200 92 18)
[ "$(echo "$span" | wc -w)" -eq 18 ] || fail "tcp: ps1 92..109: '$span' ($(cat "$tmp/mberr"))"; ok
[ "$(rtu_read 200 92 18)" = "$span" ] || fail "rtu and tcp disagree on ps1 92..109"; ok
[ "$(tcp_read 200 105 5)" = "60 12334 14638 12832 8224" ] || fail "ps1 105..109: $(tcp_read 200 105 5)"; ok

# --- a unit nobody serves: silence on RTU, exception 0x0B on TCP
rtu_read 77 0 1 >/dev/null
grep -qi "timed out" "$tmp/mberr" || fail "rtu: unit 77 should time out: $(cat "$tmp/mberr")"; ok
tcp_read 77 0 1 >/dev/null
grep -q "Target device failed to respond" "$tmp/mberr" || fail "tcp: unit 77: $(cat "$tmp/mberr")"; ok
[ "$(rtu_read 200 8 1)" = "$(tcp_read 200 8 1)" ] || fail "rtu stopped answering after a silent unit"; ok

# --- exceptions: out of range 0x02, unsupported function 0x01, bad coil 0x03
tcp_read 200 105 6 >/dev/null
grep -q "Illegal data address" "$tmp/mberr" || fail "ps1 register 105..110: $(cat "$tmp/mberr")"; ok
tcp_read 200 0 1 3 >/dev/null
grep -q "Illegal function" "$tmp/mberr" || fail "input registers: $(cat "$tmp/mberr")"; ok
tcp_read 200 0 1 0 >/dev/null
grep -q "Illegal function" "$tmp/mberr" || fail "coils of a PSU: $(cat "$tmp/mberr")"; ok
tcp_write 1 50 0 1 && fail "coil of a PSU that does not exist was accepted"; ok
grep -q "Illegal data address" "$tmp/mberr" || fail "switch coil 50: $(cat "$tmp/mberr")"; ok
tcp_write 1 2 0 1 && fail "a coil for bus 2 of a two-bus rack was accepted"; ok
grep -q "Illegal data value" "$tmp/mberr" || fail "switch coil for bus 2: $(cat "$tmp/mberr")"; ok

# --- switch coils: ps3 (PSU index 2) to bus A = coil 16, back to B over RTU = coil 17
tcp_write 1 16 0 1 || fail "write coil 16: $(cat "$tmp/mberr")"; ok
[ "$(tcp_read 1 16 2 0)" = "1 0" ] || fail "coils 16,17 after the write: $(tcp_read 1 16 2 0)"; ok
[ "$(tcp_read 1 2 1)" = "1" ] || fail "switch register 2 is not bus A (1)"; ok
grep -q "write unit 1 (switch) coil 16 = 1: ps3 moved B -> A" "$tmp/err" || fail "switch write not logged"; ok
rtu_write 1 17 0 1 || fail "rtu: write coil 17: $(cat "$tmp/mberr")"; ok
[ "$(tcp_read 1 0 4)" = "1 1 2 2" ] || fail "ps3 not back on B"; ok

# --- a server asks through the control socket; the "controller" grants with the coil
[ "$(ctl 'power_on db1')" = "ok" ] || fail "power_on db1 not ok"; ok
[ "$(tcp_read 10 0 7)" = "1 1000 0 0 0 1 1" ] || fail "db1's slot after the ask: $(tcp_read 10 0 7)"; ok
tcp_write 10 0 0 1 || fail "grant coil: $(cat "$tmp/mberr")"; ok
eventually "1" tcp_read 10 2 1 || fail "db1 is not on"; ok
[ "$(tcp_read 10 5 1)" = "0" ] || fail "the grant did not clear db1's ask"; ok
draw=$(tcp_read 10 4 1)
between 500 1000 "$draw" || fail "db1 draws '$draw' W (idle 500 .. peak 1000)"; ok
cur=$(tcp_read 200 80 1)
between 1 64000 "$cur" || fail "ps1 carries no current with db1 on ('$cur')"; ok

# --- psu_fail through the control socket: alarms and voltage change, an alert goes out
[ "$(tcp_read 202 60 1)" = "0" ] || fail "ps3 has alarms before the fault"; ok
[ "$(ctl 'psu_fail ps3')" = "ok" ] || fail "psu_fail ps3 not ok"; ok
eventually "514" tcp_read 202 60 1 || fail "ps3 general alarm is not DCDC fail (0x0202)"; ok
[ "$(tcp_read 202 62 1)" = "256" ] || fail "ps3 DCDC alarm register is not DCDC fail (0x0100)"; ok
[ "$(tcp_read 202 79 1)" = "0" ] || fail "a failed PSU still shows an output voltage"; ok
[ "$(rtu_read 202 79 1)" = "0" ] || fail "rtu: a failed PSU still shows an output voltage"; ok
eventually "1" sh -c "grep -c '^unit 202$' '$tmp/alerts'" || fail "no alert for ps3: $(cat "$tmp/alerts")"; ok
grep -q '^unit 10$' "$tmp/alerts" || fail "no alert for db1's ask"; ok
grep -q "control: psu_fail ps3" "$tmp/err" || fail "the fault is not logged"; ok

# --- a feed down: AC not ok and input relay off on its PSUs
[ "$(ctl 'feed_fail F2')" = "ok" ] || fail "feed_fail F2 not ok"; ok
pfc=$(tcp_read 201 61 1)
[ $((pfc & 0x500)) -eq $((0x500)) ] || fail "ps2 PFC alarm '$pfc' lacks AC not ok / relay off"; ok
[ "$(tcp_read 201 79 1)" = "0" ] || fail "ps2 without AC shows an output voltage"; ok
[ "$(ctl 'feed_repair F2')" = "ok" ] || fail "feed_repair F2 not ok"; ok
eventually "0" tcp_read 201 61 1 || fail "ps2 PFC alarm stays after the repair"; ok

# --- fencing (docs/sim-devices.md "Fencing"): c3 (unit 12) and the switch
# keep an owner epoch at 4096..4099; a command carries its epoch at 4100 in
# one 0x10 request. Epochs here: 257 (term 1, controller 1), 513, 770.
[ "$(tcp_read 12 4096 4)" = "0 0 0 0" ] || fail "c3's owner epoch before any fence: $(tcp_read 12 4096 4)"; ok
tcp_regs 12 4100 0 0 0 513 || fail "the fence of c3 with epoch 513: $(cat "$tmp/mberr")"; ok
[ "$(tcp_read 12 4096 4)" = "0 0 0 513" ] || fail "c3's owner epoch after the fence: $(tcp_read 12 4096 4)"; ok
[ "$(rtu_read 12 4099 1)" = "513" ] || fail "rtu: c3's owner epoch low word: $(rtu_read 12 4099 1)"; ok
[ "$(ctl 'power_on batch1')" = "ok" ] || fail "power_on batch1 not ok"; ok
tcp_write 12 0 0 1 && fail "a bare coil write to fenced c3 was accepted"; ok
grep -q "Slave device or server failure" "$tmp/mberr" || fail "bare coil after the fence: $(cat "$tmp/mberr")"; ok
tcp_write 12 5 4 0 && fail "a bare clear of batch1's ask was accepted"; ok
grep -q "Slave device or server failure" "$tmp/mberr" || fail "bare ask clear: $(cat "$tmp/mberr")"; ok
tcp_regs 12 4100 0 0 0 257 0 1 1 && fail "a fenced write with the lower epoch 257 was accepted"; ok
grep -q "Slave device or server failure" "$tmp/mberr" || fail "stale epoch: $(cat "$tmp/mberr")"; ok
[ "$(tcp_read 12 0 8)" = "1 700 0 0 0 1 1 0" ] || fail "batch1's slot changed by refused writes: $(tcp_read 12 0 8)"; ok
grep -q "write unit 12 (c3) coil 0 refused: fenced by epoch 513" "$tmp/err" || fail "bare refusal not logged"; ok
grep -q "fenced write unit 12 (c3) refused: epoch 257 is lower than the owner epoch 513" "$tmp/err" ||
    fail "stale refusal not logged"; ok
tcp_regs 12 4100 0 0 0 770 0 1 1 || fail "a fenced grant with the higher epoch 770: $(cat "$tmp/mberr")"; ok
eventually "1" tcp_read 12 2 1 || fail "batch1 is not on after the fenced grant"; ok
[ "$(tcp_read 12 5 1)" = "0" ] || fail "the fenced grant did not clear batch1's ask"; ok
[ "$(tcp_read 12 4096 4)" = "0 0 0 770" ] || fail "c3's owner epoch after 770: $(tcp_read 12 4096 4)"; ok
tcp_regs 12 4100 0 0 0 513 0 1 0 && fail "the replaced epoch 513 shed batch1"; ok
rtu_regs 12 4100 0 0 0 770 0 1 0 || fail "rtu: a fenced shed with 770: $(cat "$tmp/mberr")"; ok
eventually "0" tcp_read 12 2 1 || fail "batch1 is still on after the fenced shed over RTU"; ok
# the switch: ps3 (PSU 2) to bus A (position 1) and back to B (2), with the epoch
tcp_regs 1 4100 0 0 0 770 2 1 || fail "a fenced switch command: $(cat "$tmp/mberr")"; ok
[ "$(tcp_read 1 2 1)" = "1" ] || fail "ps3 not on A after the fenced command"; ok
tcp_write 1 17 0 1 && fail "a bare switch coil write to the fenced switch was accepted"; ok
grep -q "Slave device or server failure" "$tmp/mberr" || fail "bare switch coil: $(cat "$tmp/mberr")"; ok
tcp_regs 1 4100 0 0 0 770 2 3 && fail "a position ps3 is not wired to (bus 3 of 2) was accepted"; ok
grep -q "Illegal data value" "$tmp/mberr" || fail "fenced switch to bus 3: $(cat "$tmp/mberr")"; ok
tcp_regs 1 4100 0 0 0 770 2 2 || fail "a fenced switch command back to B: $(cat "$tmp/mberr")"; ok
[ "$(tcp_read 1 0 4)" = "1 1 2 2" ] || fail "ps3 not back on B: $(tcp_read 1 0 4)"; ok
tcp_write 1 4096 4 7 && fail "the owner epoch was written"; ok
grep -q "Illegal data address" "$tmp/mberr" || fail "a write of the owner epoch: $(cat "$tmp/mberr")"; ok
[ "$(tcp_read 11 0 1 0)" = "0" ] || fail "c2 coil"; ok
tcp_write 11 1 0 1 || fail "a bare write to c2, never fenced, was refused: $(cat "$tmp/mberr")"; ok
tcp_write 11 1 0 0 || fail "c2 bare coil 0: $(cat "$tmp/mberr")"; ok

# --- bad control lines: a clear error, nothing changes, serving goes on
r=$(ctl 'psu_fail ghost')
[ "$r" = "error: psu_fail: unknown psu 'ghost'" ] || fail "unknown psu: '$r'"; ok
r=$(ctl 'explode ps1')
case "$r" in "error: unknown command 'explode'"*) ;; *) fail "unknown word: '$r'" ;; esac; ok
r=$(ctl 'psu_degrade ps4 99999')
case "$r" in error:*) ;; *) fail "degrade above rating: '$r'" ;; esac; ok
r=$(printf 'power_on web1 ghost\n' | socat -t 5 - "UNIX-CONNECT:$tmp/ctl")
case "$r" in error:*) ;; *) fail "a line naming a ghost: '$r'" ;; esac; ok
[ "$(tcp_read 11 5 1)" = "0" ] || fail "web1 asked although its line was refused"; ok
head -c 3000 /dev/urandom | socat -t 5 - "UNIX-CONNECT:$tmp/ctl" >/dev/null 2>&1
grep -q "unknown psu 'ghost'" "$tmp/err" || fail "the error is not on stderr"; ok
[ "$(tcp_read 200 60 1)" = "0" ] || fail "ps1 changed after bad lines"; ok
[ "$(ctl 'status' | tail -1)" = "ok" ] || fail "status"; ok

# --- many clients at once, a silent one, one vanishing mid-request, garbage
socat -u -T 3 "TCP:127.0.0.1:$port" - >/dev/null 2>&1 &
idle=$!
track "$idle"
printf '\000\001\000\000\000\006\310\003' | socat -u - "TCP:127.0.0.1:$port" 2>/dev/null
printf 'GET / HTTP/1.0\r\n\r\n' | socat -t 1 - "TCP:127.0.0.1:$port" >/dev/null 2>&1
head -c 2000 /dev/urandom | socat -t 1 - "TCP:127.0.0.1:$port" >/dev/null 2>&1
printf 'garbage on the line' >"$tmp/rtu"
k=0
while [ $k -lt 8 ]; do
    (
        n=0
        while [ $n -lt 5 ]; do
            v=$(mbpoll -m tcp -p "$port" -0 -1 -o 3 -a 200 -r 79 -c 1 127.0.0.1 2>/dev/null | values)
            between 51200 53248 "$v" || exit 1
            n=$((n + 1))
        done
    ) &
    eval "client$k=\$!"
    k=$((k + 1))
done
k=0
bad=0
while [ $k -lt 8 ]; do
    eval "wait \$client$k" || bad=$((bad + 1))
    k=$((k + 1))
done
[ $bad -eq 0 ] || fail "$bad of 8 concurrent clients failed"; ok
eventually "1 1 2 2" rtu_read 1 0 4 || fail "rtu does not recover from garbage"; ok
kill -0 "$sim_pid" 2>/dev/null || fail "the simulator died"; ok

# --- SIGTERM: exit 0, socat gone, the ptys and sockets removed
stop "$listener"
sim_stop
[ $stop_rc -eq 0 ] || fail "exit status $stop_rc after SIGTERM"; ok
grep -q "stopping on SIGTERM" "$tmp/err" || fail "no stop line"; ok
kill -0 "$socat_pid" 2>/dev/null && fail "socat still runs"; ok
[ -e "$tmp/rtu" ] || [ -L "$tmp/rtu" ] && fail "$tmp/rtu left behind"; ok
[ -e "$tmp/rtu.sim" ] || [ -L "$tmp/rtu.sim" ] && fail "$tmp/rtu.sim left behind"; ok
[ -e "$tmp/ctl" ] && fail "control socket left behind"; ok
[ -e "$tmp/alert" ] && fail "alert socket left behind"; ok

# --- the command line
"$sim" serve --help | grep -q "usage: rackpower-sim serve" || fail "serve --help"; ok
"$sim" serve >/dev/null 2>&1
[ $? -eq 2 ] || fail "serve without a rack: exit is not 2"; ok
"$sim" serve "$src/examples/demo.yaml" --bogus >/dev/null 2>"$tmp/e"
[ $? -eq 2 ] || fail "bad option: exit is not 2"; ok
"$sim" serve "$src/examples/demo.yaml" --parity X >/dev/null 2>&1
[ $? -eq 2 ] || fail "bad parity: exit is not 2"; ok
"$sim" serve "$tmp/missing.yaml" --tcp 127.0.0.1:0 >/dev/null 2>"$tmp/e"
[ $? -eq 1 ] || fail "missing rack: exit is not 1"; ok
grep -q "missing.yaml: cannot open" "$tmp/e" || fail "missing rack message: $(cat "$tmp/e")"; ok
printf 'rack:\n  buses: [A]\ntimeline:\n  - {at: 1, psu_fail: ps9}\n' >"$tmp/bad.yaml"
"$sim" serve "$src/examples/demo.yaml" --tcp 127.0.0.1:0 --scenario "$tmp/bad.yaml" >/dev/null 2>"$tmp/e"
[ $? -eq 1 ] || fail "bad scenario: exit is not 1"; ok
grep -q "bad.yaml:4:" "$tmp/e" || fail "bad scenario message: $(cat "$tmp/e")"; ok

# --- a scenario timeline in real seconds
cat >"$tmp/scen.yaml" <<EOF
rack:
  buses: [A, B]
  psus:
    - {id: ps2, capacity_w: 2000, buses: [A, B]}
  servers:
    - {id: web2, power_w: 800, priority: 3, buses: [B]}
timeline:
  - {at: 0.2, psu_fail: ps2}
  - {at: 0.3, power_on: [web2]}
EOF
sim_start "$sim" "$tmp/out" "$tmp/err" "$src/examples/demo.yaml" --tcp 127.0.0.1:0 \
    --scenario "$tmp/scen.yaml"
until_ok 'grep -q "scenario: last step played" "$tmp/err"' "the scenario to play"
port=$sim_port
[ "$(tcp_read 201 60 1)" = "514" ] || fail "scenario psu_fail ps2 not served"; ok
[ "$(tcp_read 11 13 1)" = "1" ] || fail "scenario power_on web2 not served (c2 slot 1 ask)"; ok
grep -q "scenario (line 8, at 0.2s): psu_fail ps2" "$tmp/err" || fail "scenario step not logged"; ok
sim_stop INT
[ $stop_rc -eq 0 ] || fail "exit status $stop_rc after SIGINT"; ok

test_end
