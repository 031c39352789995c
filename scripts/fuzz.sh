#!/bin/sh
# make fuzz: runs every libFuzzer target of build-fuzz (cmake/fuzz.cmake) for
# FUZZ_SECONDS each, then prints inputs per second, corpus growth and findings
# per target (docs/benchmarks.md records them). New corpus entries go to
# BUILD/corpus/TARGET (kept between runs); the seeds in tests/fuzz/TARGET are
# only read. A crash, a leak, undefined behaviour or a hang is a finding: its
# input is saved under BUILD/findings/ and the run exits 1.
# Usage: fuzz.sh BUILD SECONDS [TARGET...]
set -u
build="$1"
seconds="$2"
shift 2
cd "$(dirname "$0")/.."
targets="${*:-fuzz_rackfile fuzz_config fuzz_mbsrv_tcp fuzz_mbsrv_rtu fuzz_control fuzz_orv3 fuzz_pmbus fuzz_api fuzz_tokens fuzz_rackbus}"
mkdir -p "$build/findings" "$build/logs"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1
summary=""
found=0
for t in $targets; do
    bin="$build/$t"
    [ -x "$bin" ] || { echo "fuzz: $bin missing (make fuzz builds it)"; exit 1; }
    case "$t" in
    fuzz_rackfile) seeds="examples" ;;
    fuzz_config) seeds="tests/fuzz/config contrib" ;;
    *) seeds="tests/fuzz/${t#fuzz_}" ;;
    esac
    mkdir -p "$build/corpus/$t"
    echo "== $t: $seconds s (seeds: $seeds)"
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$build/findings/$t-" "$build/corpus/$t" $seeds \
        >"$build/logs/$t.log" 2>&1
    rc=$?
    stat() { sed -n "s/^stat::$1: *//p" "$build/logs/$t.log" | tail -n 1; }
    runs=$(stat number_of_executed_units)
    rate=$(stat average_exec_per_sec)
    added=$(stat new_units_added)
    cov=$(grep -o 'cov: [0-9]*' "$build/logs/$t.log" | tail -n 1 | cut -d' ' -f2)
    if [ "$rc" -eq 0 ]; then
        what="none"
    else
        found=$((found + 1))
        what=$(grep -m 1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY' \
            "$build/logs/$t.log" | cut -c 1-100)
        [ -n "$what" ] || what="exit $rc"
        echo "   FINDING: $what (input and log: $build/findings/$t-*, $build/logs/$t.log)"
    fi
    line=$(printf '%-16s %10s runs %8s/s  coverage %6s  corpus +%-5s findings: %s' \
        "$t" "${runs:-?}" "${rate:-?}" "${cov:-?}" "${added:-?}" "$what")
    echo "   $line"
    summary="$summary$line
"
done
echo
echo "fuzz: $seconds s per target on $(nproc) cores ($(. /etc/os-release && echo "$PRETTY_NAME"))"
printf '%s' "$summary"
[ "$found" -eq 0 ] || { echo "fuzz: $found target(s) with findings"; exit 1; }
