# tests/lib_nut.sh: a real NUT upsd with simulated UPSes, and real upsmon
# secondaries, for the tests of issue 10 (docs/outage.md "Graceful stops
# through upsd and upsmon"). Sourced after tests/lib.sh and test_begin:
#     . "${0%/*}/lib.sh"; . "${0%/*}/lib_nut.sh"
#     test_begin driver_nut.sh
#     nut_start "$tmp/nut" 0 "ups1 db1 web1"   # port 0: a free one, in $nut_port
#     upsmon_start "$tmp/nut" db1               # the upsmon of server db1
#     nut_set_dev "$tmp/nut" ups1 "OB" 80 600   # what the UPS ups1 says
#     until_ok 'nut_var ups1 ups.status | grep -qx OB' "ups1 on battery"
#     until_ok 'upsmon_shutdowns "$tmp/nut" db1 | grep -q .' "db1 shut down"
#     nut_stop
# Every UPS is a dummy-ups driver (mode dummy-once: its .dev file is read at
# start and again whenever it changes; a SET VAR stands until then) behind one
# upsd on 127.0.0.1:PORT. upsd knows two users:
#   rackpower / $nut_rp_pass  actions = SET (what rackpowerd publishes stages with);
#   mon / $nut_mon_pass       upsmon secondary (what each upsmon logs in as).
# The password $nut_rp_pass is also in DIR/rackpower.pass (mode 0600), as the
# daemon's password_file wants it.
# Each upsmon is a secondary on one UPS, with POLLFREQ 1, HOSTSYNC 3 (how long a
# secondary waits for a primary that never comes: rackpowerd is none) and
# FINALDELAY 0, so that it runs SHUTDOWNCMD about 4 s after OB LB; its
# SHUTDOWNCMD appends a line to DIR/mon-NAME/shutdown.log (never shuts anything
# down; upsmon_shutdowns) and its NOTIFYCMD appends "TYPE UPS" lines (ONBATT,
# ONLINE, LOWBATT, FSD, SHUTDOWN, COMMOK, COMMBAD, NOCOMM) to
# DIR/mon-NAME/notify.log (upsmon_notes; upsmon 2.8.0 may run it twice for one
# event: look for a line, do not count them). Having run SHUTDOWNCMD, upsmon
# exits, as it would with its host going down. upsmon runs as nobody
# (upsmon_start says why); upsd and the drivers as root.
# Every process runs in the foreground, is tracked (lib.sh's cleanup kills it)
# and keeps its files under DIR. /sbin/upsd and /sbin/upsmon are wrappers
# that exit when /etc/nut/nut.conf says MODE=none: the binaries in /lib/nut
# are called, with NUT_CONFPATH, NUT_STATEPATH and NUT_ALTPIDPATH under DIR.

nut_bin=/lib/nut
nut_rp_pass=rackpower-secret
nut_mon_pass=mon-secret
nut_upsd_pid=""
nut_driver_pids=""
nut_mon_pids=""

# nut_free_port: a TCP port free on 127.0.0.1 just now.
nut_free_port() {
    "$lib_py" -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# nut_dev_text STATUS CHARGE RUNTIME: a .dev file's lines (every variable each
# time: dummy-ups keeps what a new file does not say).
nut_dev_text() {
    printf 'ups.mfr: rackpower tests\nups.model: dummy\n'
    printf 'ups.status: %s\nbattery.charge: %s\nbattery.runtime: %s\n' "$1" "$2" "$3"
    printf 'battery.charge.low: 10\nbattery.runtime.low: 120\nups.load: 40\n'
}

# nut_set_dev DIR UPS STATUS [CHARGE [RUNTIME]]: what UPS says from now on
# (charge 100 and runtime 1800 by default). The file is written beside the old
# one and renamed over it, so that dummy-ups never reads half of it; its mtime
# is pushed a second on, so that a second change within the same second is
# seen too. dummy-ups reads it again within about 2 s (its poll).
nut_set_dev() {
    nut_dev_text "$3" "${4:-100}" "${5:-1800}" >"$1/etc/$2.dev.new" || fail "cannot write $2.dev"
    lib_t=$(($(date +%s) + ${nut_dev_bump:=1}))
    nut_dev_bump=$((nut_dev_bump + 1))
    touch -d "@$lib_t" "$1/etc/$2.dev.new"
    mv "$1/etc/$2.dev.new" "$1/etc/$2.dev" || fail "cannot rename $2.dev"
}

# nut_var UPS VAR: what the running upsd says of UPS's VAR (upsc), or fails.
nut_var() { upsc "$1@127.0.0.1:$nut_port" "$2" 2>/dev/null; }

# nut_rw UPS VAR VALUE: SET VAR as the rackpower user (upsrw), or fails.
nut_rw() {
    upsrw -s "$2=$3" -u rackpower -p "$nut_rp_pass" -w "$1@127.0.0.1:$nut_port" >/dev/null 2>&1
}

# nut_start DIR PORT "UPS...": one dummy-ups per UPS (each OL, charge 100,
# runtime 1800) and upsd on 127.0.0.1:PORT (0: a free port); waits until upsd
# serves every UPS. Sets nut_dir and nut_port.
nut_start() {
    nut_dir="$1"
    nut_port="$2"
    nut_upses="$3"
    if ! [ -x "$nut_bin/upsd" ] || ! [ -x "$nut_bin/dummy-ups" ]; then
        fail "nut-server is not installed"
    fi
    need upsc upsrw
    mkdir -p "$nut_dir/etc" "$nut_dir/state" || fail "cannot make $nut_dir"
    chmod 0700 "$nut_dir/state"
    [ "$nut_port" = 0 ] && nut_port=$(nut_free_port)
    : >"$nut_dir/etc/ups.conf"
    for lib_u in $nut_upses; do
        nut_dev_text OL 100 1800 >"$nut_dir/etc/$lib_u.dev"
        printf '[%s]\n    driver = dummy-ups\n    port = %s\n    mode = dummy-once\n    desc = "%s"\n' \
            "$lib_u" "$nut_dir/etc/$lib_u.dev" "rackpower test $lib_u" >>"$nut_dir/etc/ups.conf"
    done
    printf 'MODE=netserver\n' >"$nut_dir/etc/nut.conf"
    printf 'LISTEN 127.0.0.1 %s\nSTATEPATH %s\nMAXAGE 15\n' "$nut_port" "$nut_dir/state" \
        >"$nut_dir/etc/upsd.conf"
    {
        printf '[rackpower]\n    password = %s\n    actions = SET\n' "$nut_rp_pass"
        printf '[mon]\n    password = %s\n    upsmon secondary\n' "$nut_mon_pass"
    } >"$nut_dir/etc/upsd.users"
    chmod 0600 "$nut_dir/etc/upsd.users"
    (umask 077; printf '%s\n' "$nut_rp_pass" >"$nut_dir/rackpower.pass")
    for lib_u in $nut_upses; do
        nut_driver_start "$lib_u"
        log_show "dummy-ups-$lib_u" "$nut_dir/dummy-$lib_u.log"
    done
    nut_upsd_up
}

# nut_driver_start UPS: UPS's dummy-ups, from its .dev file; waits for its
# socket. Its pid is kept in nut_driver_pids as UPS:PID.
nut_driver_start() {
    rm -f "$nut_dir/state/dummy-ups-$1"
    # started as a simple command, not through a function: $! is then the
    # process itself, which the cleanup can stop
    NUT_CONFPATH="$nut_dir/etc" NUT_STATEPATH="$nut_dir/state" NUT_ALTPIDPATH="$nut_dir/state" \
        "$nut_bin/dummy-ups" -a "$1" -u root -F >>"$nut_dir/dummy-$1.log" 2>&1 &
    track $!
    nut_driver_pids="$nut_driver_pids $1:$!"
    lib_i=0
    until [ -S "$nut_dir/state/dummy-ups-$1" ]; do
        lib_i=$((lib_i + 1))
        [ "$lib_i" -gt 200 ] && fail "dummy-ups $1 did not start within 20 s"
        sleep 0.1
    done
}

# nut_upsd_up: starts upsd (first, or again after nut_upsd_down) and waits
# until it serves every UPS. Again, the drivers are started again too, from
# their .dev files (what SET VAR gave them is lost, as when the UPS host
# restarts): a dummy-ups 2.8.0 that outlived its upsd aborts at its first
# write to the new one ("bit out of range 0 - FD_SETSIZE on fd_set").
nut_upsd_up() {
    if [ -n "${nut_upsd_was:-}" ]; then
        lib_old=$nut_driver_pids
        nut_driver_pids=""
        for nut_p in $lib_old; do # not lib_p: stop's untrack sets it
            stop "${nut_p#*:}"
            echo "=== started again with upsd" >>"$nut_dir/dummy-${nut_p%%:*}.log"
            nut_driver_start "${nut_p%%:*}"
        done
    fi
    nut_upsd_was=1
    NUT_CONFPATH="$nut_dir/etc" NUT_STATEPATH="$nut_dir/state" NUT_ALTPIDPATH="$nut_dir/state" \
        "$nut_bin/upsd" -u root -F >>"$nut_dir/upsd.log" 2>&1 &
    nut_upsd_pid=$!
    track "$nut_upsd_pid"
    log_show upsd "$nut_dir/upsd.log"
    for lib_u in $nut_upses; do
        lib_i=0
        # upsd says WAIT (ERR DATA-STALE) until the driver's first dump
        until lib_s=$(nut_var "$lib_u" ups.status) && [ -n "$lib_s" ] && [ "$lib_s" != WAIT ]; do
            kill -0 "$nut_upsd_pid" 2>/dev/null || fail "upsd exited while starting"
            lib_i=$((lib_i + 1))
            [ "$lib_i" -gt 200 ] && fail "upsd did not serve $lib_u within 20 s"
            sleep 0.1
        done
    done
}

# nut_upsd_down [SIGNAL]: stops upsd alone (TERM by default): the drivers and
# upsmons stay, as when upsd dies or its host is cut off.
nut_upsd_down() {
    [ -n "$nut_upsd_pid" ] && stop "$nut_upsd_pid" "${1:-TERM}"
    nut_upsd_pid=""
}

# nut_upsd_pause / nut_upsd_resume: upsd stopped (SIGSTOP) and let go on: it
# takes connections and answers nothing, as a hung upsd or a host gone
# silent behind a network that drops packets.
nut_upsd_pause() { kill -STOP "$nut_upsd_pid"; }
nut_upsd_resume() { kill -CONT "$nut_upsd_pid"; }

# upsmon_start DIR NAME: a upsmon secondary on UPS NAME (the upsmon of server
# NAME), logging to DIR/upsmon-NAME.log; waits until it has logged in to upsd.
# Sets upsmon_pid (also kept for nut_stop). It runs as nobody: as root,
# upsmon 2.8.0 keeps its pid in /run/nut/upsmon.pid whatever NUT_ALTPIDPATH
# says, and a second one refuses to start ("A previous upsmon instance is
# already running!"); as another user it cannot read that file and starts.
# Its files are in DIR/mon-NAME, owned by nobody ($tmp and DIR are opened to
# others for the search bit only, 0711, so that it can reach them).
upsmon_start() {
    lib_m="$1/mon-$2"
    mkdir -p "$lib_m/etc" "$lib_m/state" || fail "cannot make $lib_m"
    chmod 0711 "$tmp" "$1" || fail "cannot open $1 to nobody"
    printf '#!/bin/sh\necho "$NOTIFYTYPE $UPSNAME" >>"%s/notify.log"\n' "$lib_m" >"$lib_m/notify.sh"
    printf '#!/bin/sh\necho "shutdown $(date +%%s)" >>"%s/shutdown.log"\n' "$lib_m" \
        >"$lib_m/shutdown.sh"
    chmod 0755 "$lib_m/notify.sh" "$lib_m/shutdown.sh"
    {
        printf 'MONITOR %s@127.0.0.1:%s 1 mon %s secondary\n' "$2" "$nut_port" "$nut_mon_pass"
        printf 'MINSUPPLIES 1\nPOLLFREQ 1\nPOLLFREQALERT 1\nHOSTSYNC 3\nDEADTIME 60\n'
        printf 'FINALDELAY 0\nRBWARNTIME 43200\nNOCOMMWARNTIME 300\n'
        printf 'POWERDOWNFLAG %s\n' "$lib_m/state/killpower"
        printf 'SHUTDOWNCMD "%s"\nNOTIFYCMD "%s"\n' "$lib_m/shutdown.sh" "$lib_m/notify.sh"
        for lib_n in ONLINE ONBATT LOWBATT FSD COMMOK COMMBAD SHUTDOWN NOCOMM; do
            printf 'NOTIFYFLAG %s SYSLOG+EXEC\n' "$lib_n"
        done
    } >"$lib_m/etc/upsmon.conf"
    printf 'MODE=netclient\n' >"$lib_m/etc/nut.conf"
    chmod 0600 "$lib_m/etc/upsmon.conf"
    chown -R nobody "$lib_m" || fail "cannot give $lib_m to nobody"
    # -p: one process (no privileged parent and child), so that its pid is
    # all there is to stop; setpriv execs it, so $! is upsmon itself
    NUT_CONFPATH="$lib_m/etc" NUT_STATEPATH="$lib_m/state" NUT_ALTPIDPATH="$lib_m/state" \
        setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$nut_bin/upsmon" -p -F >>"$1/upsmon-$2.log" 2>&1 &
    upsmon_pid=$!
    track "$upsmon_pid"
    nut_mon_pids="$nut_mon_pids $upsmon_pid"
    log_show "upsmon-$2" "$1/upsmon-$2.log"
    lib_i=0
    # upsd lists the clients logged in on a UPS (LIST CLIENT): upsmon is one
    until upsc -c "$2@127.0.0.1:$nut_port" 2>/dev/null | grep -q .; do
        kill -0 "$upsmon_pid" 2>/dev/null || fail "upsmon for $2 exited while starting"
        lib_i=$((lib_i + 1))
        [ "$lib_i" -gt 200 ] && fail "upsmon for $2 did not log in to upsd within 20 s"
        sleep 0.1
    done
}

# upsmon_shutdowns DIR NAME: the lines NAME's SHUTDOWNCMD wrote (none yet: empty).
upsmon_shutdowns() { cat "$1/mon-$2/shutdown.log" 2>/dev/null; }
# upsmon_notes DIR NAME: the NOTIFYTYPE lines of NAME's upsmon.
upsmon_notes() { cat "$1/mon-$2/notify.log" 2>/dev/null; }

# nut_stop: stops every upsmon, upsd and every driver this file started.
nut_stop() {
    for lib_p in $nut_mon_pids; do
        stop "$lib_p"
    done
    nut_mon_pids=""
    nut_upsd_down
    for lib_p in $nut_driver_pids; do
        stop "${lib_p#*:}"
    done
    nut_driver_pids=""
}
