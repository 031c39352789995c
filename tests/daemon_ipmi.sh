#!/bin/sh
# rackpowerd driving servers' BMCs: two real ipmi_sim BMCs (tests/lib_ipmi.sh)
# for db1 and web1 of a one-PSU rack, each a `kind: ipmi` device. Servers ask
# through the API (no chassis here). Checked through the API and what the
# BMCs' chassis script recorded:
#   - a grant powers the server on, a power-off powers it off (hard);
#   - a server the BMC shows on at start asks for power and is granted;
#   - a released server powered on at its button is powered off again;
#   - a granted server that goes off without a decision: lost power, shed;
#   - a BMC killed: its device is down with the reason, the daemon serves on;
#     back: up again, and reads resume;
#   - the device's counters (unit ipmi-bmc).
# Usage: daemon_ipmi.sh RACKPOWERD RACKPOWERCTL SOURCE_DIR
set -u
. "${0%/*}/lib.sh"
. "${0%/*}/lib_ipmi.sh"
test_begin daemon_ipmi.sh
rpd="$1"
ctl="$2"
src="$3"
need ipmi_sim rmcp_ping
log_show daemon-log "$tmp/dlog"
# the device's line of `rackpowerctl status` for the BMC on port $1
devline() { rctl status | grep -A1 "device ipmi 127.0.0.1:$1:"; }

pdb=$(bmc_free_port)
BMC_POWER=off bmc_start "$tmp" db1 "$pdb" rp s3cret
pweb=$(bmc_free_port)
bmc_start "$tmp" web1 "$pweb" rp s3cret # on before rackpowerd starts
(umask 077 && echo s3cret >"$tmp/bmc.pw")
cat >"$tmp/rack.yaml" <<EOF
rack:
  name: bmcs
  protection: none
  restore_after_s: 2
  feeds: [F1]
  buses: [A]
  psus:
    - {id: ps1, capacity_w: 1000, feed: F1, buses: [A], bus: A}
  servers:
    - {id: db1, power_w: 500, priority: 1, buses: [A]}
    - {id: web1, power_w: 400, priority: 2, buses: [A]}
devices:
  - {kind: ipmi, server: db1, host: 127.0.0.1, port: $pdb, user: rp,
     password_file: $tmp/bmc.pw, poll_ms: 300, timeout_ms: 2000, workarounds: [opensesspriv]}
  - {kind: ipmi, server: web1, host: 127.0.0.1, port: $pweb, user: rp,
     password_file: $tmp/bmc.pw, poll_ms: 300, timeout_ms: 2000, workarounds: [opensesspriv]}
api:
  port: 0
  socket: $tmp/rp.sock
EOF
rpd_start "$rpd" "$tmp/rack.yaml" "$tmp/db" "$tmp/dlog"

# web1, on at start, asks for its power and is granted; nothing is sent to it
until_ok '[ "$(srv web1)" = on ]' "web1 (on at its BMC) granted"
[ -z "$(bmc_power_log "$tmp" web1)" ] || fail "web1 was sent $(bmc_power_log "$tmp" web1)"; ok
[ "$(srv db1)" = off ] || fail "db1 is $(srv db1), its BMC shows it off"; ok

# a grant powers db1 on through its BMC
rctl power-on db1 --reason test >/dev/null || fail "power-on db1 refused"; ok
until_ok '[ "$(bmc_power "$tmp" db1)" = on ]' "db1 powered on by its BMC"
[ "$(bmc_power_log "$tmp" db1)" = on ] || fail "db1's BMC carried out $(bmc_power_log "$tmp" db1)"; ok
[ "$(srv db1)" = on ] || fail "db1 is $(srv db1)"; ok

# a power-off through the API: a hard power off at the BMC
rctl power-off web1 >/dev/null || fail "power-off web1 refused"; ok
until_ok '[ "$(bmc_power "$tmp" web1)" = off ]' "web1 powered off by its BMC"
[ "$(bmc_power_log "$tmp" web1)" = off ] || fail "web1's BMC: $(bmc_power_log "$tmp" web1)"; ok

# web1 powered on at its button after the controller released it: the
# controller decided it off, so it is powered off again
bmc_set_power "$tmp" web1 on
until_ok '[ "$(bmc_power "$tmp" web1)" = off ]' "web1, on against the release, powered off again"
until_ok '[ "$(grep -c " off$" "$tmp/web1/power.log")" -ge 2 ]' \
    "a second power off at web1's BMC"

# db1 goes off without a decision: lost power, shed (its place held)
bmc_set_power "$tmp" db1 off
until_ok '[ "$(srv db1)" = shed ]' "db1, off without a decision, shed"
until_ok 'grep -q "shed db1 .*lost power without a decision" "$tmp/dlog"' "the loss in the log"
# the journal says what the BMC showed
until_ok 'rctl events --tail 50 | grep -q "its BMC shows it off without a decision"' \
    "the journal names what the BMC showed"
# restored after its back-off, by a power on at the BMC
until_ok '[ "$(srv db1)" = on ] && [ "$(bmc_power "$tmp" db1)" = on ]' "db1 restored after its back-off" 600

# the device's counters
devline "$pdb" | grep -q "ipmi-bmc *live" || fail "db1's BMC unit: $(devline "$pdb")"; ok

# db1's BMC killed: the device is down with the reason; the daemon serves on
bmc_stop "$tmp" db1
until_ok 'rctl status | grep -q "device ipmi 127.0.0.1:$pdb: down.*bmc of db1"' "db1's BMC down, with why"
rctl servers >/dev/null || fail "the API stopped serving"; ok
bmc_start "$tmp" db1 "$pdb" rp s3cret
until_ok 'rctl status | grep -q "device ipmi 127.0.0.1:$pdb: up"' "db1's BMC up again" 600
[ "$(srv db1)" = on ] || fail "db1 is $(srv db1) after its BMC came back"; ok

rpd_stop
[ "$stop_rc" = 0 ] || fail "rackpowerd exited $stop_rc"; ok
test_end
