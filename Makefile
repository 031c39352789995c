# The two commands of the README. Each installs what is missing, builds, runs.
BUILD ?= build
ASAN  ?= build-asan
FUZZ  ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS  ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build demo test test-asan bench bench-daemon bench-rtu bench-fence bench-abuse bench-prune bench-history bench-outage bench-balance soak-cluster soak-outage bench-failover fuzz format clean

all: build

deps:
	@sh scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@sh scripts/demo.sh $(BUILD)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@$(MAKE) --no-print-directory test-asan

test-asan: deps
	@cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DRP_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN) -j $(JOBS)
	@cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

bench: build
	@$(BUILD)/bench-policy
	@$(BUILD)/bench-auth
	@$(BUILD)/bench-rackbus
	@$(BUILD)/bench-predict

# rackpowerd against rackpower-sim serve: fault to action, Modbus polling cost,
# memory (docs/benchmarks.md). About 3 minutes; figures only, never a test.
bench-daemon: build
	@sh bench/daemon_bench.sh $(BUILD) .

# The simulator's RTU reply timing against the wire model (docs/benchmarks.md).
bench-rtu: build
	@sh bench/rtu_bench.sh $(BUILD) .

# What fencing costs a command, against rackpower-sim serve (docs/benchmarks.md).
bench-fence: build
	@sh bench/fence_bench.sh $(BUILD) .

# The journal's pruning against the loop's appends (docs/benchmarks.md).
# About 2 minutes for 200000 events; figures only.
bench-prune: build
	@$(BUILD)/bench-prune 200000

# The telemetry history: the loop's push, the writer's write, the growth per
# PSU-day (docs/benchmarks.md "History"). A few seconds.
bench-history: build
	@$(BUILD)/bench-history

# rackpowerd's API under slowloris, floods, stream churn and command storms:
# status latency, commands/s, RSS (docs/benchmarks.md). About a minute.
bench-abuse: build
	@sh bench/abuse_bench.sh $(BUILD) .

# What balancing saves (demo rack at 20/50/80 %), its gap to the exhaustive
# optimum on 1500 random small racks, and the time per re-balance
# (docs/benchmarks.md "Balancing"). About 7 minutes (the large racks'
# re-plans are slow); figures only.
bench-balance: build
	@$(BUILD)/bench-balance --rack examples/demo.yaml

# The most important set's runtime on battery on every examples/outage-*.yaml:
# the oracle, NUT-style static groups and rackpower side by side, and the
# planner's time per re-plan (docs/benchmarks.md). Seconds; figures only.
bench-outage: build
	@$(BUILD)/bench-outage examples/outage-*.yaml

# rackpower-sim cluster far beyond make test's 10,000 seeds: a million, or as
# many as 20 minutes allow (SOAK_SEEDS, SOAK_MINUTES, SOAK_JOBS); prints the
# seeds per second (docs/benchmarks.md). Figures only, never a test.
SOAK_SEEDS ?= 1000000
SOAK_MINUTES ?= 20
SOAK_JOBS ?= 2
soak-cluster: build
	@sh bench/soak_cluster.sh $(BUILD) . $(SOAK_SEEDS) $(SOAK_MINUTES) $(SOAK_JOBS)

# test_outage_property far beyond make test's 400 seeds per family: 20,000 of
# each (SOAK_SEEDS), or as many as SOAK_MINUTES allow, in SOAK_JOBS processes,
# with the avoidable-shortfall property failing too; prints the seeds, the
# failures and the worst runs (docs/outage.md, "Tests"); exit 1 on a failure.
soak-outage: build
	@sh bench/soak_outage.sh $(BUILD) $(if $(filter command line environment,$(origin SOAK_SEEDS)),$(SOAK_SEEDS),20000) $(SOAK_MINUTES) $(SOAK_JOBS)

# Three controllers against rackpower-sim serve: fail-over time at heartbeats
# of 50, 100 and 200 ms, and what replication adds to a grant
# (docs/benchmarks.md). About 5 minutes; figures only.
bench-failover: build
	@sh bench/failover.sh $(BUILD) .

# Every libFuzzer target (cmake/fuzz.cmake), built with clang in $(FUZZ) and
# run FUZZ_SECONDS each: inputs per second and findings (docs/benchmarks.md).
FUZZ_TARGETS = fuzz_rackfile fuzz_config fuzz_mbsrv_tcp fuzz_mbsrv_rtu fuzz_uart fuzz_control fuzz_orv3 \
	fuzz_pmbus fuzz_api fuzz_tokens fuzz_rackbus fuzz_relay fuzz_telemetry_csv
fuzz:
	@sh scripts/deps.sh fuzz
	@cmake -S . -B $(FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRP_FUZZ=ON \
		-DCMAKE_C_COMPILER=clang >/dev/null
	@cmake --build $(FUZZ) -j $(JOBS) --target $(FUZZ_TARGETS)
	@sh scripts/fuzz.sh $(FUZZ) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

format:
	@clang-format -i src/*/*.c src/*/*.h tests/*.c bench/*.c

clean:
	@rm -rf $(BUILD) $(ASAN) $(FUZZ)
