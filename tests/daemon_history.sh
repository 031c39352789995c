#!/bin/sh
# The telemetry history end to end (issue 11 section 1, docs/history.md):
# rackpowerd reads the demo rack from `rackpower-sim serve` over Modbus TCP
# and keeps every PSU reading in its history file beside the journal.
#   - `rackpowerctl history psu ps1 --csv` gives the history CSV, raw and
#     by the minute;
#   - a PSU failure (the simulator's psu_fail) becomes a label, and
#     `rackpower-history export DB --labels` writes the readings and the
#     failure; the export piped into `rackpower-predict --history -` replays;
#   - bad input to the API, rackpowerctl and rackpower-history gets a clear
#     error and the right exit status.
# Usage: daemon_history.sh RACKPOWERD RACKPOWERCTL RACKPOWER-SIM RACKPOWER-HISTORY
#        RACKPOWER-PREDICT SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
test_begin daemon_history.sh
rpd="$1"
ctl="$2"
sim="$3"
hist="$4"
predict="$5"
src="$6"
need socat
log_show daemon-log "$tmp/dlog"
log_show simulator-log "$tmp/slog"
header="t,psu,vin_v,iin_a,vout_v,iout_a,pin_w,pout_w,temp_c,inlet_c,fan_rpm,status_word"

demo_rack "$src" "$tmp/rack.yaml"
sim_start "$sim" "$tmp/sout" "$tmp/slog" "$tmp/rack.yaml" --tcp 127.0.0.1:0 --control "$tmp/ctl"
ok # the simulator serves
{ cat "$tmp/rack.yaml"
  printf "devices:\n  - kind: modbus-tcp\n    host: 127.0.0.1\n    port: $sim_port\n"
  printf "    poll_ms: 200\n    timeout_ms: 1000\n    units:\n"
  demo_units
  printf 'api:\n  port: 0\n  socket: %s\n  plain_reads: true\n' "$tmp/rp.sock"
  printf 'history:\n  raw_keep_h: 2\n  max_mb: 50\n'; } >"$tmp/conf.yaml"
ctlsend "power_on db1 app1 web1"
rpd_start "$rpd" "$tmp/conf.yaml" "$tmp/db" "$tmp/dlog"
ok # rackpowerd serves its API
[ -f "$tmp/db.history" ] || fail "no history file beside the journal ($tmp/db.history)"; ok

# ---- readings as CSV -------------------------------------------------------------
rows() { rctl history psu "$1" --csv --from -10m | tail -n +2 | wc -l; }
until_ok '[ "$(rows ps1)" -ge 10 ]' "ten readings of ps1 in its history"
rctl history psu ps1 --csv --from -10m >"$tmp/ps1.csv" || fail "history psu ps1 --csv"; ok
[ "$(head -n 1 "$tmp/ps1.csv")" = "$header" ] || fail "the CSV header: $(head -n 1 "$tmp/ps1.csv")"; ok
# every row is ps1's, with every section-2 figure the ORv3 PSU gives: input
# voltage and current, output voltage, current and power, input power,
# temperature, inlet, fans and its alarms as STATUS_WORD
awk -F, 'NR > 1 && ($2 != "ps1" || NF != 12 || $3 == "" || $4 == "" || $5 == "" || $6 == "" ||
    $7 == "" || $8 == "" || $9 == "" || $10 == "" || $11 == "" || $12 !~ /^0x[0-9a-f][0-9a-f][0-9a-f][0-9a-f]$/) { bad++ }
    END { exit bad ? 1 : 0 }' "$tmp/ps1.csv" || fail "a row of ps1.csv is not ps1's readings: $(sed -n 2,3p "$tmp/ps1.csv")"; ok
# every reading the driver gives is kept (the Modbus driver reads a PSU's
# telemetry once a second)
t0=$(sed -n 2p "$tmp/ps1.csv" | cut -d, -f1)
t1=$(tail -n 1 "$tmp/ps1.csv" | cut -d, -f1)
[ "$(rows ps1)" -ge $((t1 - t0)) ] || fail "fewer readings than the poll gives: $(rows ps1) in $((t1 - t0)) s"; ok
"$predict" --history "$tmp/ps1.csv" >"$tmp/pred.out" 2>"$tmp/pred.err" ||
    fail "rackpower-predict refused rackpowerctl's CSV: $(cat "$tmp/pred.err")"; ok
# by the minute: the rollups, with min and max in the JSON
rctl history psu ps1 --from -10m --step 1m --json >"$tmp/m.json" || fail "history --step 1m"; ok
grep -q '"level":"1m"' "$tmp/m.json" || fail "step 1m did not read the minutes: $(head -c 300 "$tmp/m.json")"; ok
until_ok 'rctl history psu ps1 --from -10m --step 1m --json | grep -q "\"pout_w_max\":[0-9]"' "a minute of ps1 rolled up"
rctl history psu ps1 --from -10m --step 1m | grep -q "^ps1: [1-9][0-9]* rows, 1m, step 60 s" ||
    fail "the table's headline: $(rctl history psu ps1 --from -10m --step 1m | head -n 1)"; ok

# ---- a failure is a label ----------------------------------------------------------
ctlsend "psu_fail ps4"
until_ok 'rctl psus --json | grep -q "\"id\":\"ps4\"[^}]*\"state\":\"failed\""' "ps4 failed"
rctl out-of-service psu ps2 --force --reason "history test" >/dev/null || fail "out-of-service ps2"; ok
until_ok '"$hist" export "$tmp/db" --labels "$tmp/labels.csv" >"$tmp/export.csv" 2>"$tmp/export.err" && grep -q "^ps4," "$tmp/labels.csv"' "ps4's failure labelled"
[ "$(head -n 1 "$tmp/labels.csv")" = "psu,failure_t,cause,predictable" ] || fail "labels header: $(head -n 1 "$tmp/labels.csv")"; ok
now=$(date +%s)
ft=$(grep "^ps4," "$tmp/labels.csv" | cut -d, -f2)
[ "$ft" -le "$now" ] && [ "$ft" -ge $((now - 60)) ] || fail "ps4's failure_t $ft is not within the last minute ($now)"; ok
grep -q "^ps2," "$tmp/labels.csv" && fail "an operator's out-of-service is labelled a failure: $(cat "$tmp/labels.csv")"; ok
[ "$(head -n 1 "$tmp/export.csv")" = "$header" ] || fail "export header: $(head -n 1 "$tmp/export.csv")"; ok
for p in ps1 ps2 ps3 ps4; do
    grep -q "^[0-9]*,$p," "$tmp/export.csv" || fail "no readings of $p in the export"; ok
done
grep -q "rackpower-history: [0-9]* rows" "$tmp/export.err" || fail "no summary: $(cat "$tmp/export.err")"; ok
# the export, piped, is rackpower-predict's input
"$hist" export "$tmp/db" 2>/dev/null | "$predict" --history - >"$tmp/pred.out" 2>"$tmp/pred.err" ||
    fail "rackpower-predict --history - on the export: $(cat "$tmp/pred.err")"; ok
grep -q "rows, 4 PSUs" "$tmp/pred.err" || fail "rackpower-predict did not see 4 PSUs: $(cat "$tmp/pred.err")"; ok
# the history file itself is as good as the database's name; minutes too
"$hist" export "$tmp/db.history" --step 60 >"$tmp/min.csv" 2>/dev/null || fail "export of the history file by the minute"; ok
"$predict" --history "$tmp/min.csv" >/dev/null 2>&1 || fail "rackpower-predict on the minutes"; ok

# ---- bad input ----------------------------------------------------------------------
expect() { # expect STATUS TEXT COMMAND...: exits STATUS saying TEXT
    want="$1" text="$2"
    shift 2
    "$@" >"$tmp/bad.out" 2>&1
    rc=$?
    [ "$rc" = "$want" ] || fail "$*: exit $rc, expected $want: $(head -c 300 "$tmp/bad.out")"; ok
    grep -q -- "$text" "$tmp/bad.out" || fail "$*: does not say '$text': $(head -c 300 "$tmp/bad.out")"; ok
}
expect 2 "expected Unix seconds" rctl history psu ps1 --from 'x;y'
expect 2 "is not a PSU id" rctl history psu 'ps1?step=1'
expect 2 "expected psu ID" rctl history bus A
expect 2 "go with history" rctl status --csv
expect 1 "from must be before to" rctl history psu ps1 --from 2000000000 --to 1000000000
expect 1 "step: expected seconds" rctl history psu ps1 --step 1m1
expect 1 "no psu 'nosuch'" rctl history psu nosuch
curl -s -o "$tmp/curl.out" -w '%{http_code}' "$api/v1/history/psu/ps1?from=abc" >"$tmp/code"
[ "$(cat "$tmp/code")" = 400 ] && grep -q '"error":"from: expected' "$tmp/curl.out" ||
    fail "GET ?from=abc: $(cat "$tmp/code") $(cat "$tmp/curl.out")"; ok
curl -s -o "$tmp/curl.out" -w '%{http_code}' "$api/v1/history/psu/ps1?to=1e3" >"$tmp/code"
[ "$(cat "$tmp/code")" = 400 ] || fail "GET ?to=1e3: $(cat "$tmp/code") $(cat "$tmp/curl.out")"; ok
curl -s -o "$tmp/curl.out" -w '%{http_code}' "$api/v1/history/psu/ps1?limit=5" >"$tmp/code"
[ "$(cat "$tmp/code")" = 400 ] || fail "GET ?limit=5: $(cat "$tmp/code")"; ok
expect 2 "missing DB" "$hist" export
expect 2 "unknown command" "$hist" import "$tmp/db"
expect 2 "expected Unix seconds" "$hist" export "$tmp/db" --from yesterday
expect 2 "--step: expected" "$hist" export "$tmp/db" --step -5
expect 1 "no history" "$hist" export "$tmp/nothing.db"
printf 'not a database at all, clearly, not a bit of SQLite\n' >"$tmp/junk.db"
expect 1 "junk.db" "$hist" export "$tmp/junk.db"

rpd_stop
[ "$stop_rc" = 0 ] || fail "rackpowerd exited $stop_rc"; ok
test_end
