#!/bin/sh
# The manual pages (man/) against the code they describe:
# - mandoc finds nothing at warning level or above in any page;
# - every long option a program accepts (its --help, its getopt_long tables)
#   is in its page, and every long option a page names is accepted;
# - every key of the rack file and config field tables is in rackpower.yaml(5);
# - the examples of rackpower.yaml(5) load.
# Every check runs and every miss is listed (a page out of date usually misses
# several things); then the test fails if any did.
# Usage: man_pages.sh SOURCE_DIR RACKPOWERD RACKPOWERCTL RACKPOWER_SIM [RACKPOWER_PREDICT RACKPOWER_TRAIN
#        [RACKPOWER_HISTORY]]
set -u
. "${0%/*}/lib.sh"
test_begin man_pages.sh
src="$1"
daemon="$2"
ctl="$3"
sim="$4"
predict="${5:-}"
train="${6:-}"
history="${7:-}"
man="$src/man"
missed=0
# miss WHAT: a check that did not hold, listed; the test goes on.
miss() {
    echo "MISS: $*"
    missed=$((missed + 1))
}

command -v mandoc >/dev/null || fail "mandoc is not installed (scripts/deps.sh installs it)"
ok

pages="rackpowerd.8 rackpowerctl.8 rackpower-sim.1 rackpower.yaml.5 rackpower-predict.1 rackpower-train.1 rackpower-history.1"
for p in $pages; do
    if [ ! -f "$man/$p" ]; then
        miss "$p: missing"
        continue
    fi
    mandoc -T lint -W warning "$man/$p" >"$tmp/lint" 2>&1
    rc=$?
    if [ $rc -ne 0 ] || [ -s "$tmp/lint" ]; then
        miss "$p: mandoc -T lint -W warning (exit $rc):"
        cat "$tmp/lint"
    else
        ok
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
    [ "$(wc -l <"$tmp/accepted")" -gt 1 ] && ok ||
        miss "$name: found no long options in --help nor in a getopt table"
    while read -r opt; do
        grep -qx -- "$opt" "$tmp/documented" && ok ||
            miss "$name accepts $opt but $page does not say it"
    done <"$tmp/accepted"
    while read -r opt; do
        grep -qx -- "$opt" "$tmp/accepted" && ok ||
            miss "$page names $opt but $name does not accept it (not in --help nor a getopt table)"
    done <"$tmp/documented"
}

help_of() { # the program's --help on stdout, which must exit 0
    "$@" --help >>"$tmp/help" 2>&1 && ok || miss "$* --help exits non-zero"
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

if [ -n "$predict" ]; then
    : >"$tmp/help"
    help_of "$predict"
    check_options rackpower-predict rackpower-predict.1 "$src/src/tools/predict_main.c"
    : >"$tmp/help"
    help_of "$train"
    check_options rackpower-train rackpower-train.1 "$src/src/tools/train_main.c"
fi
if [ -n "$history" ]; then
    : >"$tmp/help"
    help_of "$history"
    check_options rackpower-history rackpower-history.1 "$src/src/tools/history_main.c"
fi

# Every key of the field tables (the rack file, the config, the drivers'
# device keys): a table row starts {"key", a setter (conf_set_num, set_units ...)
render rackpower.yaml.5 >"$tmp/yaml5"
cat "$src"/src/conf/*.[ch] "$src"/src/drivers/*.[ch] 2>/dev/null |
    grep -o '{ *"[a-z][a-z0-9_]*", *[a-z_]*set_' | sed 's/{ *"\([^"]*\)".*/\1/' |
    sort -u >"$tmp/keys"
[ -s "$tmp/keys" ] && ok ||
    miss "found no field table rows ({\"key\", ..set_...) in src/conf or src/drivers: update this check"
while read -r key; do
    grep -qw -- "$key" "$tmp/yaml5" && ok ||
        miss "key '$key' is in a field table but not in rackpower.yaml.5"
done <"$tmp/keys"

# rackpower.yaml(5)'s examples: the first is a daemon config, the second a
# timeline for the first's rack.
awk -v dir="$tmp" '/^\.Bd -literal/ { n++; on = 1; next }
    /^\.Ed/ { on = 0; next }
    on { gsub(/\\e/, "\\"); gsub(/\\&/, ""); print > (dir "/example" n ".yaml") }' \
    "$man/rackpower.yaml.5"
"$daemon" --config "$tmp/example1.yaml" --check >"$tmp/out" 2>&1 && ok ||
    miss "rackpower.yaml.5: the config example does not load: $(cat "$tmp/out")"
sed '/^devices:/,$d' "$tmp/example1.yaml" >"$tmp/scenario.yaml"
cat "$tmp/example2.yaml" >>"$tmp/scenario.yaml" 2>/dev/null
"$sim" "$tmp/scenario.yaml" >"$tmp/out" 2>&1 && ok ||
    miss "rackpower.yaml.5: the scenario example does not play: $(cat "$tmp/out")"

[ "$missed" -eq 0 ] || fail "$missed checks missed (listed above)"
test_end
