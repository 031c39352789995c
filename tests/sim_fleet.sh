#!/bin/sh
# rackpower-sim fleet as a trainer uses it: the history CSV of docs/prediction.md
# (its header, row shape, missing readings and fields), the labels agreeing with
# it, the same bytes for the same arguments, and ageing that shows before a
# predictable failure and not before a sudden one. Bad arguments exit 2.
# Usage: sim_fleet.sh RACKPOWER_SIM SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin sim_fleet.sh
sim="$1"

# ---- bad arguments: a message and exit 2, each --------------------------------------
bad() { # bad EXPECTED_TEXT ARGS...
    want="$1"
    shift
    "$sim" fleet "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ $rc -eq 2 ] || fail "fleet $*: exit $rc, not 2 ($(cat "$tmp/err"))"; ok
    grep -q -- "$want" "$tmp/err" || fail "fleet $*: no '$want' in: $(cat "$tmp/err")"; ok
    [ -e "$tmp/h.csv" ] && fail "fleet $*: wrote a history"; ok
}
o="--out $tmp/h.csv"
bad "--psus is required" --days 1 --seed 1 $o
bad "--days is required" --psus 2 --seed 1 $o
bad "--seed is required" --psus 2 --days 1 $o
bad "--out is required" --psus 2 --days 1 --seed 1
bad "--psus: '0' is not a whole number" --psus 0 --days 1 --seed 1 $o
bad "--psus: 'x' is not a whole number" --psus x --days 1 --seed 1 $o
bad "--psus: '100001' is not" --psus 100001 --days 1 --seed 1 $o
bad "--days: '0' is not a number of days" --psus 2 --days 0 --seed 1 $o
bad "--days: '-3' is not" --psus 2 --days -3 --seed 1 $o
bad "--days: 'nan' is not" --psus 2 --days nan --seed 1 $o
bad "--days: '4000' is not" --psus 2 --days 4000 --seed 1 $o
bad "--seed: '-1' is not a non-negative integer" --psus 2 --days 1 --seed -1 $o
bad "--seed: '1x' is not" --psus 2 --days 1 --seed 1x $o
bad "--interval-s: '0' is not" --psus 2 --days 1 --seed 1 --interval-s 0 $o
bad "--interval-s: '86401' is not" --psus 2 --days 1 --seed 1 --interval-s 86401 $o
bad "--mix: 'other' is not train, eval or wide" --psus 2 --days 1 --seed 1 --mix other $o
bad "unknown option '--bogus'" --psus 2 --days 1 --seed 1 --bogus $o
bad "--psus needs a value" $o --psus
bad "unexpected argument 'extra'" --psus 2 --days 1 --seed 1 $o extra
bad "name the same file" --psus 2 --days 1 --seed 1 $o --labels "$tmp/h.csv"
"$sim" fleet --psus 2 --days 1 --seed 1 --out "$tmp/nodir/h.csv" 2>"$tmp/err"
[ $? -eq 1 ] || fail "unwritable --out: exit is not 1"; ok
grep -q "nodir/h.csv: No such file" "$tmp/err" || fail "unwritable --out: $(cat "$tmp/err")"; ok
"$sim" fleet --help >"$tmp/out" || fail "fleet --help exits non-zero"; ok
grep -q "usage: rackpower-sim fleet" "$tmp/out" || fail "fleet --help shows no usage"; ok

# ---- same arguments, same bytes; another seed, other bytes ----------------------------
run() { # run SEED NAME [MORE ARGS]
    s="$1"
    n="$2"
    shift 2
    "$sim" fleet --psus 80 --days 60 --seed "$s" --interval-s 1200 --out "$tmp/$n.csv" \
        --labels "$tmp/$n.labels" "$@" 2>"$tmp/$n.err" || fail "fleet seed $s: $(cat "$tmp/$n.err")"
    ok
}
run 7 a
run 7 b
cmp -s "$tmp/a.csv" "$tmp/b.csv" || fail "same seed, different history"; ok
cmp -s "$tmp/a.labels" "$tmp/b.labels" || fail "same seed, different labels"; ok
run 8 c
cmp -s "$tmp/a.csv" "$tmp/c.csv" && fail "seeds 7 and 8 give the same history"; ok
run 7 e --mix eval
cmp -s "$tmp/a.labels" "$tmp/e.labels" && fail "the eval mix gives the train mix's failures"; ok
run 7 w --mix wide
cmp -s "$tmp/a.labels" "$tmp/w.labels" && fail "the wide mix gives the train mix's failures"; ok
cmp -s "$tmp/e.labels" "$tmp/w.labels" && fail "the wide mix gives the eval mix's failures"; ok
grep -q "80 PSUs, 60 days, .* failures (capacitor" "$tmp/a.err" || fail "no summary: $(cat "$tmp/a.err")"; ok

# ---- the history against its labels, in python3's csv module -------------------------
python3 - "$tmp/a.csv" "$tmp/a.labels" "$tmp/c.csv" "$tmp/c.labels" >"$tmp/py" 2>&1 <<'PY'
import csv, re, sys
from collections import defaultdict

HEADER = "t,psu,vin_v,iin_a,vout_v,iout_a,pin_w,pout_w,temp_c,inlet_c,fan_rpm,status_word".split(",")
checks = 0
def check(cond, what):
    global checks
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    checks += 1

def load(hist, labels):
    rows = defaultdict(list)
    blanks = defaultdict(int)
    with open(hist, newline="") as f:
        r = csv.reader(f)
        check(next(r) == HEADER, "header")
        for n, row in enumerate(r, 2):
            check(len(row) == 12, "line %d: %d fields" % (n, len(row)))
            check(re.fullmatch(r"[0-9]+", row[0]) is not None, "line %d: t %r" % (n, row[0]))
            check(re.fullmatch(r"psu[0-9]{4}", row[1]) is not None, "line %d: psu" % n)
            for k in range(2, 11):
                if row[k] == "":
                    blanks[HEADER[k]] += 1
                else:
                    float(row[k])
            if row[11] == "":
                blanks["status_word"] += 1
            else:
                check(re.fullmatch(r"0x[0-9A-F]{4}", row[11]) is not None, "line %d: status %r" % (n, row[11]))
            rows[row[1]].append(row)
    with open(labels, newline="") as f:
        r = csv.reader(f)
        check(next(r) == ["psu", "failure_t", "cause", "predictable"], "labels header")
        lab = {}
        for row in r:
            check(len(row) == 4 and row[2] in ("capacitor", "fan", "efficiency", "sudden")
                  and row[3] in ("yes", "no"), "label row %r" % row)
            check(row[0] not in lab, "%s labelled twice" % row[0])
            lab[row[0]] = (int(row[1]), row[2], row[3] == "yes")
    return rows, blanks, lab

rows, blanks, lab = load(sys.argv[1], sys.argv[2])
check(len(rows) == 80, "%d PSUs report, not 80" % len(rows))
# missing readings and fields: every field blank somewhere, about 0.5 % of rows
nrows = sum(len(v) for v in rows.values())
for k in HEADER[2:]:
    check(blanks[k] > 0, "no reading of %s is ever missing" % k)
check(0.002 < sum(blanks.values()) / nrows < 0.01, "blank share %g" % (sum(blanks.values()) / nrows))
t0 = min(int(r[0]) for v in rows.values() for r in v)
tend = max(int(r[0]) for v in rows.values() for r in v)
# readings not taken: gaps of two intervals in some PSU's series
gaps = sum(1 for v in rows.values() for a, b in zip(v, v[1:]) if int(b[0]) - int(a[0]) > 1.5 * 1200)
check(gaps > 0, "no reading is ever skipped")
for p, v in rows.items():
    ts = [int(r[0]) for r in v]
    check(all(b > a for a, b in zip(ts, ts[1:])), "%s: t not increasing" % p)
# a failed PSU's readings stop at its failure time; the others run to the end
for p, v in rows.items():
    last = int(v[-1][0])
    if p in lab:
        ft = lab[p][0]
        check(last < ft, "%s reads at %d after its failure at %d" % (p, last, ft))
        # the last reading before the failure is near it (a few intervals at most)
        check(ft - last <= 4 * 1200, "%s: last reading %d s before its failure" % (p, ft - last))
    else:
        check(last > tend - 4 * 1200, "%s stops at %d without a label" % (p, last))
check(len(lab) >= 8, "only %d failures in 80 PSUs over 60 days" % len(lab))

def f(r, k):
    return float(r[HEADER.index(k)]) if r[HEADER.index(k)] != "" else None

# like load: mean temperature per 100 W band of pout, compared band by band
def rise(v, early, late):
    def bands(rs):
        b = defaultdict(list)
        for r in rs:
            po, te = f(r, "pout_w"), f(r, "temp_c")
            if po is not None and te is not None:
                b[int(po // 100)].append(te)
        return b
    e, l = bands(early), bands(late)
    common = [k for k in e if k in l and len(e[k]) >= 3 and len(l[k]) >= 3]
    if not common:
        return None
    w = sum(min(len(e[k]), len(l[k])) for k in common)
    return sum(min(len(e[k]), len(l[k])) * (sum(l[k]) / len(l[k]) - sum(e[k]) / len(e[k])) for k in common) / w

def ageing_figures(rows, lab):
    pred, sudden = [], []
    for p, (ft, cause, predictable) in lab.items():
        if ft < t0 + 3 * 86400:
            continue  # no first day apart from its last day
        v = rows[p]
        first = [r for r in v if int(r[0]) < t0 + 86400]
        last = [r for r in v if int(r[0]) >= ft - 86400]
        d = rise(v, first, last)
        if d is None:
            continue
        if predictable:
            pred.append((p, cause, d))
        elif cause == "sudden":
            sudden.append((p, d))
    return pred, sudden

pred, sudden = ageing_figures(rows, lab)
r2, _, lab2 = load(sys.argv[3], sys.argv[4])
p2, s2 = ageing_figures(r2, lab2)
pred += p2
sudden += s2
check(len(pred) >= 5, "only %d predictable failures to look at" % len(pred))
check(len(sudden) >= 3, "only %d sudden failures to look at" % len(sudden))
for p, cause, d in pred:
    check(d > 1.0, "%s (%s): last day %.2f C over the first at like load" % (p, cause, d))
ms = sum(d for _, d in sudden) / len(sudden)
check(abs(ms) < 0.5, "sudden failures: mean rise %.2f C before failing" % ms)
causes = {c for _, c, _ in pred}
check(causes == {"capacitor", "fan", "efficiency"}, "predictable causes seen: %s" % causes)
print("python checks: %d; predictable rises %s; sudden mean %.2f C" %
      (checks, " ".join("%.1f" % d for _, _, d in pred), ms))
PY
rc=$?
cat "$tmp/py"
[ $rc -eq 0 ] || fail "history checks (above)"; ok
test_end
