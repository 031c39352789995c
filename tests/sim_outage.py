#!/usr/bin/env python3
"""Checks one outage run of rackpower-sim --json (tests/sim_outage.sh).

Usage: sim_outage.py CHECK RUN.jsonl [ARG]; exits 1 naming what does not hold.
Asserts behaviour, not whole outputs: every figure comes from the run itself.
"""
import json
import math
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def die(msg):
    print(msg)
    sys.exit(1)


def outage_window(ev):
    starts = [e["t"] for e in ev if e["event"] == "outage" and e["state"] == "start"]
    ends = [e["t"] for e in ev if e["event"] == "outage" and e["state"] == "end"]
    if not starts:
        die("no outage start")
    return starts[0], (ends[0] if ends else math.inf)


def activity_priorities(ev):
    """Each activity's priority, from the first state line that shows it."""
    for e in ev:
        if e["event"] == "state" and e.get("activities"):
            return {a: v["priority"] for a, v in e["activities"].items()}
    die("no state line shows activities")


def stopped_at(ev):
    """When each activity first shows as stopped (inf: never)."""
    out = {}
    for e in ev:
        if e["event"] != "state":
            continue
        for a, v in e.get("activities", {}).items():
            if v["state"] == "stopped" and a not in out:
                out[a] = e["t"]
    return out


def check_top_runs_longest(ev):
    prio = activity_priorities(ev)
    stops = stopped_at(ev)
    top = min(prio.values())
    top_end = min((stops.get(a, math.inf) for a, p in prio.items() if p == top))
    for a, p in prio.items():
        if p != top and stops.get(a, math.inf) > top_end:
            die(f"{a} (p{p}) ran until {stops.get(a)}, longer than the top set (stopped {top_end})")
    if not any(a in stops for a in prio):
        die("nothing stopped: the scenario shows no staged shutdown")


def check_stops_in_priority_order(ev):
    """OB LB goes out least important first: no server is told later than a
    more important one (told at the same instant, they stop together: a
    divert that takes a bus's reserve away stops that bus's servers with the
    less important ones elsewhere)."""
    seq = [(e["t"], e["server"], e["priority"]) for e in ev
           if e["event"] == "stage" and e.get("stage") == "OB LB"]
    if not seq:
        die("no server was told OB LB")
    for i, (t1, s1, p1) in enumerate(seq):
        for t0, s0, p0 in seq[:i]:
            if p1 > p0 and t1 > t0:
                die(f"{s1} (p{p1}) stopped at {t1} after the more important {s0} (p{p0}) at {t0}")


def check_stop_figures(ev):
    stops = [e for e in ev if e["event"] == "stop"]
    if not stops:
        die("no stop event")
    for e in stops:
        for k in ("server", "stage", "wh_left", "runtime_s", "gain_s", "reason"):
            if k not in e:
                die(f"stop of {e.get('server')} at {e['t']} has no {k}")
        if not e["reason"]:
            die(f"stop of {e['server']} at {e['t']} has an empty reason")
        if not isinstance(e["wh_left"], (int, float)) or e["wh_left"] < 0:
            die(f"stop of {e['server']}: wh_left {e['wh_left']}")
        if not isinstance(e["runtime_s"], dict):
            die(f"stop of {e['server']}: runtime_s is not per set")
    # and the sequence that follows each stop: OB LB, soft_off, then the shed
    for e in stops:
        s, t = e["server"], e["t"]
        later = [x for x in ev if x["t"] >= t and x.get("server") == s]
        kinds = [x["event"] if x["event"] != "stage" else "stage " + x["stage"] for x in later]
        try:
            i = kinds.index("stage OB LB")
            j = kinds.index("soft_off", i)
            kinds.index("shed", j)
        except ValueError:
            die(f"{s}: stop at {t} not followed by OB LB, soft_off and shed: {kinds[:6]}")


def check_energy_never_rises(ev):
    """While mains is out (from the outage's start to mains back or its end)."""
    start, end = outage_window(ev)
    back = [e["t"] for e in ev if e["event"] == "mains_return" and e["t"] >= start]
    if back:
        end = min(end, back[0])
    last = {}
    for e in ev:
        if e["event"] != "reserve" or not (start <= e["t"] < end) or not e.get("known", True):
            continue
        i = e["id"]
        if i in last and e["wh_left"] > last[i] + 1e-6:
            die(f"{i}: {e['wh_left']} Wh at {e['t']} after {last[i]} Wh during the outage")
        last[i] = e["wh_left"]
    if not last:
        die("no reserve event during the outage")


def check_all_back(ev):
    """After mains returns and stabilises, everything the outage stopped runs
    again and moved work is home."""
    before = None
    start, end = outage_window(ev)
    if end == math.inf:
        die("the outage never ended")
    for e in ev:
        if e["event"] == "state" and e["t"] < start:
            before = e
    last = [e for e in ev if e["event"] == "state"][-1]
    if before is None:
        die("no state line before the outage")
    for s, v in before["servers"].items():
        if v["state"] in ("on", "capped") and last["servers"][s]["state"] not in ("on", "capped"):
            die(f"{s} was {v['state']} before the outage and is {last['servers'][s]['state']} at the end")
    for a, v in last["activities"].items():
        if v["state"] != "running":
            die(f"activity {a} is {v['state']} at the end")
        b = before["activities"][a]
        if v["server"] != b["server"]:
            die(f"activity {a} ends on {v['server']}, not home on {b['server']}")
    held = [e for e in ev if e["event"] == "restore" and e["t"] >= end]
    stopped = {e["server"] for e in ev if e["event"] == "stop"}
    if stopped and not held:
        die("servers were stopped but none was restored after the outage")
    # OL to every server before any restore
    ol = [e["t"] for e in ev if e["event"] == "stage" and e.get("stage") == "OL"]
    if not ol or (held and min(ol) > held[0]["t"]):
        die("no stage OL before the restores")


def check_no_outage_fields(ev):
    for e in ev:
        if e["event"] in ("outage", "stop", "divert", "move", "reserve", "stage"):
            die(f"an outage event in a rack without reserves: {e}")
        if e["event"] == "state" and ("reserves" in e or "activities" in e):
            die("a state line with reserves or activities in a rack without them")


def check_released_after(ev, t_min):
    t_min = float(t_min)
    for e in ev:
        if e["event"] == "restore" and e["t"] < t_min:
            die(f"{e['server']} restored at {e['t']}, before {t_min}")
    if not any(e["event"] == "restore" for e in ev):
        die("nothing restored")


def check_no_divert_darkens(ev):
    """A divert never takes a reserve from under a running server: no server
    loses power without a decision at the instant of a divert."""
    diverts = {e["t"] for e in ev if e["event"] == "divert"}
    if not diverts:
        die("no divert: the scenario shows no diversion of reserves")
    for e in ev:
        if (e["event"] == "shed" and "without a decision" in e.get("reason", "")
                and any(0 <= e["t"] - t <= 2 for t in diverts)):
            die(f"{e['server']} lost power at {e['t']}, at a divert")


def check_ups_feed_fails(ev):
    """A ups that runs empty takes its feed down (feed_fail with why)."""
    ff = [e for e in ev if e["event"] == "feed_fail"]
    if not ff:
        die("no feed failed though the ups ran empty")
    if not all("empty" in e.get("reason", "") for e in ff):
        die(f"feed_fail without the empty ups as why: {ff}")


def check_reserve_lost(ev, rid, t_lost, t_back):
    """A reserve whose readings are lost shows known false, and the figure the
    planner sees still falls (its last known rate) until it is back."""
    t_lost, t_back = float(t_lost), float(t_back)
    r = [e for e in ev if e["event"] == "reserve" and e["id"] == rid]
    lost = [e for e in r if e["t"] == t_lost and e["known"] is False]
    back = [e for e in r if e["t"] == t_back and e["known"] is True]
    if not lost or not back:
        die(f"{rid}: no reserve event known false at {t_lost} and true at {t_back}")
    seen = [e["reserves"][rid]["wh_left"] for e in ev
            if e["event"] == "state" and t_lost < e["t"] < t_back]
    if len(seen) < 2 or any(b > a for a, b in zip(seen, seen[1:])) or seen[-1] >= seen[0]:
        die(f"{rid}: while lost, the figure does not fall: {seen[:5]}...")


CHECKS = {
    "reserve_lost": check_reserve_lost,
    "top_runs_longest": check_top_runs_longest,
    "stops_in_priority_order": check_stops_in_priority_order,
    "stop_figures": check_stop_figures,
    "energy_never_rises": check_energy_never_rises,
    "all_back": check_all_back,
    "no_outage_fields": check_no_outage_fields,
    "released_after": check_released_after,
    "ups_feed_fails": check_ups_feed_fails,
    "no_divert_darkens": check_no_divert_darkens,
}

if __name__ == "__main__":
    CHECKS[sys.argv[1]](load(sys.argv[2]), *sys.argv[3:])
