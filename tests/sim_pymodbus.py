"""pymodbus, a third outside Modbus client (beside mbpoll and the daemon's
libmodbus), against rackpower-sim serve over Modbus TCP.

    sim_pymodbus.py PORT CONTROL_SOCKET MBPOLL_DUMP [RTU_PATH]

It scans every unit id, reads each PSU's whole map (registers 0..109) in one
request, decodes it with its own reading of shared/reference/orv3-modbus.md
(not the project's C decoder), and checks it against what the simulator's
control socket says (`status`) and what mbpoll read (MBPOLL_DUMP: lines
"UNIT REG VALUE", written by tests/sim_pymodbus.sh). Then it fails a PSU
through the control socket and writes a register, and checks both show.
With RTU_PATH (a simulator serving RTU at 19200 8N1: pyserial clears INPCK,
and a Linux pty clears PARENB, so the simulator sees any pyserial client as
8N1; docs/sim-devices.md, "Wire timing"), it also reads the first PSU's map over RTU and prints the round trip
against the wire model (a print, not a check: the machine is shared).
Exits 1 at the first check that fails.
"""
import socket
import sys
import time

from pymodbus.client import ModbusTcpClient
from pymodbus.pdu import ExceptionResponse

PORT, CTL, DUMP = int(sys.argv[1]), sys.argv[2], sys.argv[3]
RTU = sys.argv[4] if len(sys.argv) > 4 else None
checks = 0


def fail(what):
    print(f"FAIL: sim_pymodbus.py: check {checks + 1}: {what}")
    sys.exit(1)


def ok():
    global checks
    checks += 1


def ctl(line):
    """One line to the control socket; its reply lines up to the line 'ok' or 'error: ...'
    (a status line may end in 'ok' too: 'feed F1 ok')."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(CTL)
        s.sendall(line.encode() + b"\n")
        data = b""
        while not (data.endswith(b"\nok\n") or data == b"ok\n" or b"error:" in data):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.decode().splitlines()


def status_psus():
    """{unit: {'id', 'state', 'vout', 'out_w', 'alarms'}} from `status`."""
    psus = {}
    for line in ctl("status"):
        f = line.split()
        if f[0] != "psu":
            continue
        # psu ps1 unit 200 bus A ok capacity 3000 W out 0 W 51.00 V alarms 0000 0000 ...
        psus[int(f[3])] = {
            "id": f[1],
            "state": f[6],
            "out_w": float(f[11]),
            "vout": float(f[13]),
            "alarms": [int(x, 16) for x in f[16:21]],
        }
    return psus


def status_units():
    units = {1}  # the switch module
    for line in ctl("status"):
        f = line.split()
        if f[0] == "psu":
            units.add(int(f[3]))
        elif f[0] == "server" and int(f[3]) > 0:
            units.add(int(f[3]))
    return units


# ---- the reference's encodings, decoded here on their own ---------------------


def string(regs, reg, words):
    raw = b"".join(bytes([regs[reg + k] >> 8, regs[reg + k] & 0xFF]) for k in range(words))
    return raw.split(b"\0")[0].decode("ascii").strip()


def flt(regs, reg, precision, signed=False):
    raw = regs[reg]
    if signed and raw & 0x8000:
        raw -= 0x10000
    return raw / (1 << precision)


def int32(regs, reg):
    return regs[reg] << 16 | regs[reg + 1]


def psu_map(client, unit):
    r = client.read_holding_registers(0, 110, slave=unit)
    if r.isError():
        fail(f"unit {unit}: read 0..109 in one request: {r}")
    return list(r.registers)


client = ModbusTcpClient("127.0.0.1", port=PORT, timeout=3)
if not client.connect():
    fail(f"cannot connect to 127.0.0.1:{PORT}")
ok()

# ---- scan: every unit id; the served ones answer, the others say 0x0B ----------
found = set()
for unit in range(1, 248):
    r = client.read_holding_registers(0, 1, slave=unit)
    if isinstance(r, ExceptionResponse):
        if r.exception_code != 0x0B:
            fail(f"unit {unit}: exception {r.exception_code:#x}, not 0x0B (gateway target)")
        continue
    if r.isError():
        fail(f"unit {unit}: {r}")
    found.add(unit)
want = status_units()
if found != want:
    fail(f"scan found units {sorted(found)}, the control socket serves {sorted(want)}")
ok()
psus = status_psus()
if not psus or not set(psus) <= found:
    fail(f"PSU units {sorted(psus)} not all found")
ok()
print(f"sim_pymodbus.py: scan of units 1..247 found {sorted(found)}")

# ---- every PSU's whole map against the control socket and mbpoll ---------------
mbpoll = {}
with open(DUMP) as f:
    for line in f:
        u, reg, v = (int(x) for x in line.split())
        mbpoll[(u, reg)] = v
# Registers that move between two reads however still the rack is: up time,
# fans and temperatures (they follow their targets with a lag).
MOVING = {52, 53, 67, 68, 69, 70, 71, 72}
for unit, st in sorted(psus.items()):
    regs = psu_map(client, unit)
    if string(regs, 8, 8) != "RPSIM-ORV3-PSU":
        fail(f"unit {unit}: model '{string(regs, 8, 8)}'")
    ok()
    serial = string(regs, 24, 16)
    if not serial.startswith("RPSIM-") or not serial.endswith("-" + st["id"]):
        fail(f"unit {unit}: serial '{serial}' does not name {st['id']}")
    ok()
    if string(regs, 106, 4) != "0.9.2" or regs[105] != 60:
        fail(f"unit {unit}: 105..109: timer {regs[105]}, bootloader '{string(regs, 106, 4)}'")
    ok()
    if regs[60:65] != st["alarms"]:
        fail(f"unit {unit}: alarms {regs[60:65]}, status says {st['alarms']}")
    ok()
    vout = flt(regs, 79, 10)
    if abs(vout - st["vout"]) > 0.006:
        fail(f"unit {unit}: output voltage {vout:.3f} V, status says {st['vout']:.2f} V")
    ok()
    pout = flt(regs, 82, 3)
    if abs(pout - st["out_w"]) > 1:
        fail(f"unit {unit}: output power {pout:.3f} W, status says {st['out_w']:.0f} W")
    ok()
    inlet = flt(regs, 69, 7, signed=True)
    if not 15 <= inlet <= 60 or flt(regs, 88, 6) not in (0, 230):
        fail(f"unit {unit}: inlet {inlet} C, input voltage {flt(regs, 88, 6)} V")
    ok()
    if not 180 <= flt(regs, 101, 6) < flt(regs, 102, 6) or flt(regs, 103, 10) != 51.0:
        fail(f"unit {unit}: Vin min/max {flt(regs, 101, 6)}/{flt(regs, 102, 6)}, Vout set high "
             f"{flt(regs, 103, 10)}")
    ok()
    for reg in range(110):
        if reg in MOVING or (unit, reg) not in mbpoll:
            continue
        if mbpoll[(unit, reg)] != regs[reg]:
            fail(f"unit {unit} register {reg}: pymodbus {regs[reg]}, mbpoll {mbpoll[(unit, reg)]}")
    ok()
compared = sum(1 for (u, _) in mbpoll if u in psus)
if compared < 110 * len(psus):
    fail(f"mbpoll's dump has {compared} PSU registers, want {110 * len(psus)}")
ok()
print(f"sim_pymodbus.py: {len(psus)} PSU maps of 110 registers agree with mbpoll and status")

# ---- the same map over RTU, on the timed line --------------------------------------
if RTU:
    from pymodbus.client import ModbusSerialClient

    unit = sorted(psus)[0]
    tcp_regs = psu_map(client, unit)
    serial = ModbusSerialClient(RTU, baudrate=19200, parity="N", bytesize=8, stopbits=1, timeout=3)
    if not serial.connect():
        fail(f"cannot open {RTU}")
    t0 = time.monotonic()
    r = serial.read_holding_registers(0, 110, slave=unit)
    rtt_ms = (time.monotonic() - t0) * 1e3
    serial.close()
    if r.isError():
        fail(f"rtu: unit {unit}: read 0..109: {r}")
    ok()
    same = [reg for reg in range(110) if reg not in MOVING and r.registers[reg] == tcp_regs[reg]]
    if len(same) != 110 - len(MOVING):
        fail(f"rtu: unit {unit}: registers {sorted(set(range(110)) - MOVING - set(same))} differ from tcp")
    ok()
    # 8 + 5 + 220 characters of 10 bits at 19200, and t3.5 (1.823 ms)
    model_ms = (8 + 5 + 220) * 10 / 19200 * 1e3 + 1.823
    print(f"sim_pymodbus.py: rtu 19200 8N1, 110 registers: {rtt_ms:.1f} ms (wire model {model_ms:.1f} ms)")

# ---- a fault through the control socket, a write through pymodbus --------------
unit = sorted(psus)[-1]
if ctl(f"psu_fail {psus[unit]['id']}")[-1] != "ok":
    fail(f"psu_fail {psus[unit]['id']}")
ok()
for _ in range(50):
    regs = psu_map(client, unit)
    if regs[60] == 0x0202:
        break
    time.sleep(0.1)
if regs[60] != 0x0202 or regs[62] != 0x0100 or regs[79] != 0:
    fail(f"unit {unit} after psu_fail: 60 {regs[60]:#06x}, 62 {regs[62]:#06x}, 79 {regs[79]}")
ok()
if status_psus()[unit]["alarms"] != regs[60:65]:
    fail(f"unit {unit}: status and pymodbus disagree on the alarms after psu_fail")
ok()
w = client.write_register(105, 30, slave=unit)
if w.isError() or psu_map(client, unit)[105] != 30:
    fail(f"unit {unit}: write 105 = 30: {w}")
ok()
w = client.write_register(106, 0x4141, slave=unit)
if not isinstance(w, ExceptionResponse) or w.exception_code != 0x02:
    fail(f"unit {unit}: a write to the bootloader revision (106) was not refused with 0x02: {w}")
ok()

# ---- fencing (docs/sim-devices.md "Fencing"): chassis c1 (unit 10) takes an
# owner epoch with a command in one write multiple registers; a lower epoch
# and a bare coil are refused with exception 0x04
C1, OWNER, FENCED = 10, 4096, 4100
r = client.read_holding_registers(OWNER, 4, slave=C1)
if r.isError() or r.registers != [0, 0, 0, 0]:
    fail(f"unit {C1}: owner epoch before any fence: {r}")
ok()
w = client.write_registers(FENCED, [0, 0, 0, 513], slave=C1)
r = client.read_holding_registers(OWNER, 4, slave=C1)
if w.isError() or r.isError() or r.registers != [0, 0, 0, 513]:
    fail(f"unit {C1}: the fence with epoch 513: {w}, owner {r}")
ok()
w = client.write_registers(FENCED, [0, 0, 0, 257, 0, 1, 0], slave=C1)
if not isinstance(w, ExceptionResponse) or w.exception_code != 0x04:
    fail(f"unit {C1}: a command with the lower epoch 257 was not refused with 0x04: {w}")
ok()
w = client.write_coil(0, False, slave=C1)
if not isinstance(w, ExceptionResponse) or w.exception_code != 0x04:
    fail(f"unit {C1}: a bare coil write after the fence was not refused with 0x04: {w}")
ok()
w = client.write_registers(FENCED, [0, 0, 0, 514, 0, 3, 0], slave=C1)  # slot 0: clear its ask
r = client.read_holding_registers(OWNER + 3, 1, slave=C1)
if w.isError() or r.isError() or r.registers != [514]:
    fail(f"unit {C1}: a command with the higher epoch 514: {w}, owner {r}")
ok()
client.close()
print(f"sim_pymodbus.py: {checks} checks passed")
