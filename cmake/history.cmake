# The telemetry history (issue 11 section 1, docs/history.md): the store
# (its own SQLite file beside the journal) in a library of its own, which
# rackpower-history reads with; the writer thread in the daemon.
add_library(rphiststore STATIC src/daemon/histstore.c)
target_include_directories(rphiststore PUBLIC src/daemon)
target_link_libraries(rphiststore PUBLIC PkgConfig::SQLITE rppredict m) # rppredict: hist_row_tcsv
target_sources(rpdaemon PRIVATE src/daemon/history.c src/daemon/api_history.c
  src/daemon/predict_history.c) # predict_history: the predictor's windows primed from it
target_link_libraries(rpdaemon PUBLIC rphiststore)
rp_test(test_history rpdaemon)
# rackpower-history export: the history as the CSV of rackpower-predict and
# rackpower-train, and its failures as their labels
add_executable(rackpower-history src/tools/history_main.c)
target_link_libraries(rackpower-history PRIVATE rphiststore rppredict)
install(TARGETS rackpower-history DESTINATION ${CMAKE_INSTALL_BINDIR})
# rackpowerd on rackpower-sim serve: its history through rackpowerctl and
# rackpower-history into rackpower-predict, labels, bad input
add_test(NAME daemon_history COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_history.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> $<TARGET_FILE:rackpower-sim>
         $<TARGET_FILE:rackpower-history> $<TARGET_FILE:rackpower-predict> ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_history PROPERTIES TIMEOUT 180)
# the three controllers of examples/cluster: every history holds every PSU's
# readings, once and at their time; a new primary has the dead one's past
add_test(NAME daemon_history_cluster COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_history_cluster.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> $<TARGET_FILE:rackpower-sim>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_history_cluster PROPERTIES TIMEOUT 120)
# bench-history: the loop's push, the writer's write, the growth per PSU-day
# (docs/benchmarks.md "History"); figures only
add_executable(bench-history bench/bench_history.c)
target_link_libraries(bench-history PRIVATE rpdaemon)
