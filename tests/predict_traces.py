#!/usr/bin/env python3
"""Hand-made PSU histories for tests/predict.sh (not the fleet simulator).

fleet OUT.csv LABELS.csv SEED: 40 PSUs over 30 days, a reading every 10
minutes on a daily load profile; a third of them age before failing
(thermal resistance and sag rising, efficiency falling, warnings in the last
days) and fail; the rest stay healthy. Deterministic for a seed.

episodes OUT.csv: one PSU, 6 days at 10 minutes, TEMPERATURE warnings on
days 2 and 3 only (for a model that reads warn_share alone).
"""
import math
import random
import sys

HEADER = "t,psu,vin_v,iin_a,vout_v,iout_a,pin_w,pout_w,temp_c,inlet_c,fan_rpm,status_word"
T0 = 1700000000
DAY = 86400


def row(t, psu, load, rth, eff, sag, fan_per_c, status, rnd):
    pout = 3000 * load
    pin = pout / eff
    inlet = 24 + 2 * rnd.random()
    temp = inlet + rth * (pin - pout) + rnd.gauss(0, 0.3)
    iout = pout / 50.0
    vout = 50.2 - sag * iout + rnd.gauss(0, 0.005)
    fan = fan_per_c * (temp - inlet) + rnd.gauss(0, 20)
    return "%d,%s,%.1f,%.3f,%.3f,%.2f,%.1f,%.1f,%.2f,%.2f,%.0f,0x%04x" % (
        t, psu, 230 + rnd.gauss(0, 1), pin / 230, vout, iout, pin, pout, temp, inlet,
        max(fan, 0), status)


def fleet(out, labels, seed):
    rnd = random.Random(seed)
    days = 30
    psus = []
    for k in range(40):
        fails = k % 3 == 0
        fail_t = T0 + int((12 + rnd.random() * 16) * DAY) if fails else None
        psus.append(("p%02d" % k, fail_t, 0.06 + 0.02 * rnd.random(), 60 + 30 * rnd.random()))
    lines = [HEADER]
    with open(labels, "w") as lf:
        lf.write("psu,failure_t,cause,predictable\n")
        for name, fail_t, _, _ in psus:
            if fail_t:
                lf.write("%s,%d,capacitor,1\n" % (name, fail_t))
    for t in range(T0, T0 + days * DAY, 600):
        day = (t - T0) / DAY
        load = 0.45 + 0.25 * math.sin(2 * math.pi * day)
        for name, fail_t, rth0, fan0 in psus:
            if fail_t and t >= fail_t:
                continue  # failed: no more readings
            # ageing over the last 9 days before failure
            age = 0.0
            if fail_t:
                age = max(0.0, 1 - (fail_t - t) / (9 * DAY))
            rth = rth0 * (1 + 1.5 * age)
            eff = 0.955 - 0.02 * age
            sag = 0.001 + 0.01 * age
            status = 0x0004 if age > 0.6 and rnd.random() < 0.3 else 0
            lines.append(row(t, name, load, rth, eff, sag, fan0 * (1 - 0.3 * age), status, rnd))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


def episodes(out):
    rnd = random.Random(7)
    lines = [HEADER]
    for t in range(T0, T0 + 6 * DAY, 600):
        day = (t - T0) / DAY
        status = 0x0004 if 2 <= day < 4 else 0
        lines.append(row(t, "solo", 0.5, 0.07, 0.955, 0.001, 80, status, rnd))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "fleet":
        fleet(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        episodes(sys.argv[2])
