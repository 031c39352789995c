# The simulator in an outage (docs/outage.md "In the simulator"): its test on
# the shipped examples/outage-*.yaml, and bench-outage (docs/benchmarks.md).
add_test(NAME sim_outage COMMAND sh ${CMAKE_SOURCE_DIR}/tests/sim_outage.sh
         $<TARGET_FILE:rackpower-sim> ${CMAKE_SOURCE_DIR})
set_tests_properties(sim_outage PROPERTIES TIMEOUT 300)

add_executable(bench-outage bench/bench_outage.c)
target_link_libraries(bench-outage PRIVATE rpsim rpconf rpcore m)
