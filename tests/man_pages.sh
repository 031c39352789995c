#!/bin/sh
# The manual pages (man/) against the code they describe:
# - mandoc finds nothing at warning level or above in any page;
# - every long option a program accepts (its --help, its getopt_long tables)
#   is in its page, and every long option a page names is accepted;
# - every key of the rack file and config field tables is in rackpower.yaml(5);
# - the examples of rackpower.yaml(5) load.
# Usage: man_pages.sh SOURCE_DIR RACKPOWERD RACKPOWERCTL RACKPOWER_SIM
set -u
src="$1"
daemon="$2"
ctl="$3"
sim="$4"
man="$src/man"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
checks=0
failed=0
fail() {
    echo "FAIL: $*"
    failed=$((failed + 1))
}
ok() { checks=$((checks + 1)); }

command -v mandoc >/dev/null || {
    echo "FAIL: mandoc is not installed (scripts/deps.sh installs it)"
    exit 1
}

pages="rackpowerd.8 rackpowerctl.8 rackpower-sim.1 rackpower.yaml.5"
for p in $pages; do
    ok
    if [ ! -f "$man/$p" ]; then
        fail "$p: missing"
        continue
    fi
    mandoc -T lint -W warning "$man/$p" >"$tmp/lint" 2>&1
    rc=$?
    if [ $rc -ne 0 ] || [ -s "$tmp/lint" ]; then
        fail "$p: mandoc -T lint -W warning (exit $rc):"
        cat "$tmp/lint"
    fi
done

# The page as a reader sees it: plain text, long lines, no overstrike.
bs=$(printf '\b')
render() {
    mandoc -T ascii -O width=250 "$man/$1" | sed "s/.$bs//g"
}

# Long options named in a text on stdin, one per line, sorted.
long_options() {
    grep -o -- '--[a-z][a-z0-9-]*' | sort -u
}

# Long options in the getopt_long tables of the given sources (none while a
# main parses its arguments by hand: then --help is the only witness).
table_options() {
    cat "$@" 2>/dev/null |
        grep -o '{ *"[a-z][a-z0-9-]*", *\(no\|required\|optional\)_argument' |
        sed 's/{ *"\([^"]*\)".*/--\1/' | sort -u
}

# check_options NAME PAGE SOURCES... ; reads the program's --help texts from
# $tmp/help.
check_options() {
    name="$1"
    page="$2"
    shift 2
    # --help is accepted: help_of ran it
    { echo --help; long_options <"$tmp/help"; table_options "$@"; } | sort -u >"$tmp/accepted"
    render "$page" | long_options >"$tmp/documented"
    ok
    [ -s "$tmp/accepted" ] || fail "$name: found no long options in --help nor in a table"
    while read -r opt; do
        ok
        grep -qx -- "$opt" "$tmp/documented" || fail "$name accepts $opt but $page does not say it"
    done <"$tmp/accepted"
    while read -r opt; do
        ok
        grep -qx -- "$opt" "$tmp/accepted" ||
            fail "$page names $opt but $name does not accept it (not in --help nor a getopt table)"
    done <"$tmp/documented"
}

help_of() { # the program's --help on stdout, which must exit 0
    ok
    "$@" --help >>"$tmp/help" 2>&1 || fail "$* --help exits $?"
}

: >"$tmp/help"
help_of "$daemon"
check_options rackpowerd rackpowerd.8 "$src/src/daemon/main.c"

: >"$tmp/help"
help_of "$ctl"
check_options rackpowerctl rackpowerctl.8 "$src"/src/cli/*.c

: >"$tmp/help"
help_of "$sim"
help_of "$sim" serve
check_options rackpower-sim rackpower-sim.1 "$src"/src/sim/*.c

# Every key of the field tables (the rack file, the config, the drivers'
# device keys): a table row starts {"key", a setter (conf_set_num, set_units ...)
render rackpower.yaml.5 >"$tmp/yaml5"
cat "$src"/src/conf/*.[ch] "$src"/src/drivers/*.[ch] 2>/dev/null |
    grep -o '{ *"[a-z][a-z0-9_]*", *[a-z_]*set_' | sed 's/{ *"\([^"]*\)".*/\1/' |
    sort -u >"$tmp/keys"
ok
[ -s "$tmp/keys" ] ||
    fail "found no field table rows ({\"key\", ..set_...) in src/conf or src/drivers: update this check"
while read -r key; do
    ok
    grep -qw -- "$key" "$tmp/yaml5" || fail "key '$key' is in a field table but not in rackpower.yaml.5"
done <"$tmp/keys"

# rackpower.yaml(5)'s examples: the first is a daemon config, the second a
# timeline for the first's rack.
awk -v dir="$tmp" '/^\.Bd -literal/ { n++; on = 1; next }
    /^\.Ed/ { on = 0; next }
    on { gsub(/\\e/, "\\"); gsub(/\\&/, ""); print > (dir "/example" n ".yaml") }' \
    "$man/rackpower.yaml.5"
ok
if "$daemon" --config "$tmp/example1.yaml" --check >"$tmp/out" 2>&1; then :; else
    fail "rackpower.yaml.5: the config example does not load: $(cat "$tmp/out")"
fi
sed '/^devices:/,$d' "$tmp/example1.yaml" >"$tmp/scenario.yaml"
cat "$tmp/example2.yaml" >>"$tmp/scenario.yaml" 2>/dev/null
ok
if "$sim" "$tmp/scenario.yaml" >"$tmp/out" 2>&1; then :; else
    fail "rackpower.yaml.5: the scenario example does not play: $(cat "$tmp/out")"
fi

echo "$((checks - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
