# Benchmarks beyond the policy core's (docs/benchmarks.md). They print figures
# and are never tests: nothing here goes to ctest. `make bench-daemon` runs
# them through bench/daemon_bench.sh.
#
# This file is included before modbus.cmake (cmake/*.cmake in name order):
# rpdrv_modbus and PkgConfig::MODBUS are resolved when the build is generated.
add_executable(bench-modbus bench/bench_modbus.c)
target_link_libraries(bench-modbus PRIVATE rpdrv_modbus PkgConfig::MODBUS)

# bench-abuse: slowloris, floods, stream churn and command storms against
# rackpowerd's API (bench/abuse_bench.sh); its hold mode serves
# tests/daemon_abuse.sh too.
find_package(Threads REQUIRED)
add_executable(bench-abuse bench/bench_abuse.c)
target_link_libraries(bench-abuse PRIVATE rputil Threads::Threads)

# The simulator's RTU reply timing against the wire model (bench/rtu_bench.sh).
add_executable(bench-rtu bench/bench_rtu.c)
target_link_libraries(bench-rtu PRIVATE rpsimdev rputil PkgConfig::MODBUS) # rpsimdev: sim_serve.cmake

# What the API's checks of who may cost per request (src/daemon/auth.c; rpauth
# comes from daemon.cmake, resolved when the build is generated).
add_executable(bench-auth bench/bench_auth.c)
target_link_libraries(bench-auth PRIVATE rpauth rputil)

# The journal's pruning against the loop's appends (docs/benchmarks.md).
add_executable(bench-prune bench/bench_prune.c)
target_link_libraries(bench-prune PRIVATE rpdaemon)

# What a rack bus message costs: encode + HMAC, decode + HMAC check, the
# replay guard (rpnode: cmake/node.cmake).
add_executable(bench-rackbus bench/bench_rackbus.c)
target_link_libraries(bench-rackbus PRIVATE rpnode rputil)

# What fencing costs a command against rackpower-sim serve (bench/fence_bench.sh).
add_executable(bench-fence bench/bench_fence.c)
target_link_libraries(bench-fence PRIVATE rpdrv_modbus PkgConfig::MODBUS)

# What balancing saves and costs (docs/benchmarks.md "Balancing"): make bench-balance.
add_executable(bench-balance bench/bench_balance.c)
target_include_directories(bench-balance PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(bench-balance PRIVATE rpconf rpcore m)
# What a live prediction costs rackpowerd's loop per evaluation (predict.h;
# rpdaemon comes from daemon.cmake).
add_executable(bench-predict bench/bench_predict.c)
target_link_libraries(bench-predict PRIVATE rpdaemon)
