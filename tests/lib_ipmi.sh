# tests/lib_ipmi.sh: real BMCs for the shell tests: ipmi_sim (Debian
# openipmi) answering IPMI 1.5 and 2.0 (RMCP+) on 127.0.0.1, one process per
# server. Source it after lib.sh (it uses fail, track and stop):
#     . "${0%/*}/lib.sh"; . "${0%/*}/lib_ipmi.sh"
#     bmc_start "$tmp" db1 "$(bmc_free_port)" rp secret
#     bmc_power_log "$tmp" db1     # "off", "on", "soft-off" ... one a line
#     bmc_power "$tmp" db1         # "on" or "off", as the BMC answers it
#     bmc_stop "$tmp" db1
# Every BMC started here is tracked, so lib.sh's cleanup kills it on exit.
#
# ipmi_sim runs no host: for chassis power it calls the program named by
# lan.conf's chassis_control line, as `PROG DEVICE get power` (it prints
# "power:1" or "power:0") and `PROG DEVICE set power 1|0`, `set reset 1`,
# `set shutdown 1` (Chassis Control 05h, the ACPI soft-off). Ours, written
# into DIR/NAME/chassis, keeps the host's power in DIR/NAME/power and records
# every command that changes it in DIR/NAME/power.log ("SECONDS NAME WHAT").
# The host obeys a soft-off after BMC_SOFT_OFF_S seconds (at bmc_start;
# default 0: at once; -1: never, a host whose OS ignores the ACPI request).
# Its users are the one given, with privilege BMC_PRIV (default operator),
# and none other: no anonymous user, no null password.
# ipmi_sim has no DCMI: Get/Set Power Limit answer "invalid command".
# FreeIPMI's RMCP+ sessions (the ipmi driver, ipmi-chassis --driver-type=LAN_2_0)
# need its opensesspriv workaround with ipmi_sim: `workarounds: [opensesspriv]`.

# bmc_free_port: a free UDP port on 127.0.0.1 (taken by the BMC right after,
# as lib.sh's cluster_files does for the rack bus).
bmc_free_port() {
    "$lib_py" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# bmc_start DIR NAME PORT USER PASS: a BMC for the host NAME on
# 127.0.0.1:PORT whose user USER has password PASS; its files in DIR/NAME,
# its output in DIR/NAME/sim.log (log_show'n). The host starts powered on
# (BMC_POWER=off to start it off) unless this BMC ran before: then as it was
# left. Waits until it answers an RMCP ping; sets
# bmc_pid and bmc_pid_NAME (NAME: letters, digits, _).
bmc_start() {
    need ipmi_sim rmcp_ping
    lib_bd="$1/$2"
    mkdir -p "$lib_bd/state" || fail "bmc $2: cannot make $lib_bd"
    # a BMC started again (after bmc_stop) finds its host as it left it
    if [ ! -f "$lib_bd/power" ]; then
        case "${BMC_POWER:-on}" in on) echo 1 ;; *) echo 0 ;; esac >"$lib_bd/power"
        : >"$lib_bd/power.log"
    fi
    echo "${BMC_SOFT_OFF_S:-0}" >"$lib_bd/soft_off_s"
    # the host: its power is 1, 0, or "soft DEADLINE" (a soft-off asked,
    # the OS still shutting down until the epoch second DEADLINE)
    cat >"$lib_bd/chassis" <<'EOF'
#!/bin/sh
d=${0%/*}
name=$1
op=$2
shift 2
now=$(date +%s)
power() {
    read -r p t <"$d/power"
    if [ "$p" = soft ] && [ "$t" -ge 0 ] && [ "$now" -ge "$t" ]; then
        echo 0 >"$d/power"
        p=0
    fi
    [ "$p" = 0 ] && echo 0 || echo 1
}
say() { echo "$(date +%s.%N) $name $1" >>"$d/power.log"; }
case $op in
get)
    for p; do
        case $p in
        power) echo "power:$(power)" ;;
        *) echo "no such parameter: $p"; exit 1 ;;
        esac
    done
    ;;
set)
    while [ $# -ge 2 ]; do
        p=$1 v=$2
        shift 2
        case $p in
        power)
            if [ "$v" = 1 ]; then say on; echo 1 >"$d/power"; else say off; echo 0 >"$d/power"; fi ;;
        reset) say reset ;;
        shutdown)
            say soft-off
            s=$(cat "$d/soft_off_s")
            if [ "$(power)" = 1 ]; then
                if [ "$s" -lt 0 ]; then :; else echo "soft $((now + s))" >"$d/power"; fi
            fi ;;
        boot) ;;
        identify) shift ;; # interval and force
        *) echo "no such parameter: $p"; exit 1 ;;
        esac
    done
    ;;
*) echo "no such operation: $op"; exit 1 ;;
esac
EOF
    chmod 755 "$lib_bd/chassis"
    cat >"$lib_bd/lan.conf" <<EOF
name "$2"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 $3
    priv_limit admin
    allowed_auths_callback md5
    allowed_auths_user md5
    allowed_auths_operator md5
    allowed_auths_admin md5
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "$lib_bd/chassis $2"
  user 2 true "$4" "$5" ${BMC_PRIV:-operator} 10 md5
EOF
    # the BMC itself (the Get Device ID answer of a plain BMC at 0x20)
    printf 'mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nmc_enable 0x20\n' \
        >"$lib_bd/bmc.emu"
    ipmi_sim -n -c "$lib_bd/lan.conf" -f "$lib_bd/bmc.emu" -s "$lib_bd/state" \
        >"$lib_bd/sim.log" 2>&1 &
    bmc_pid=$!
    track "$bmc_pid"
    eval "bmc_pid_$2=$bmc_pid"
    log_show "bmc-$2" "$lib_bd/sim.log"
    lib_i=0
    until rmcp_ping -p "$3" -t 1 127.0.0.1 2>/dev/null | grep -q IPMI; do
        kill -0 "$bmc_pid" 2>/dev/null || fail "bmc $2: ipmi_sim exited while starting"
        lib_i=$((lib_i + 1))
        [ "$lib_i" -gt 20 ] && fail "bmc $2: ipmi_sim does not answer on port $3"
    done
}

# bmc_power DIR NAME: the host's power as its BMC would read it: on or off.
bmc_power() {
    case $("$1/$2/chassis" "$2" get power) in
    power:1) echo on ;;
    *) echo off ;;
    esac
}

# bmc_set_power DIR NAME on|off: the host's power changed behind the BMC's
# back (a button, a crash); not recorded in the log.
bmc_set_power() {
    case "$3" in on) echo 1 ;; *) echo 0 ;; esac >"$1/$2/power"
}

# bmc_power_log DIR NAME: the power commands the BMC carried out, oldest
# first, one a line: on, off, soft-off, reset. A command carried out twice in
# a row shows once: FreeIPMI sends a request again when its answer is late (a
# loaded machine), and ipmi_sim carries out every copy; DIR/NAME/power.log
# has them all.
bmc_power_log() { cut -d' ' -f3 "$1/$2/power.log" | uniq; }

# bmc_stop DIR NAME [SIGNAL]: stops the BMC (TERM by default); its power
# state and log stay in DIR/NAME, and bmc_start with the same port brings
# it back.
bmc_stop() {
    lib_bp=$(eval echo "\${bmc_pid_$2:-}")
    [ -n "$lib_bp" ] && stop "$lib_bp" "${3:-TERM}"
    eval "bmc_pid_$2="
}
