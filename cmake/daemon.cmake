# rackpowerd, its API and rackpowerctl (issue 3). Included by the top
# CMakeLists after its own targets: rpcore, rpconf and rp_test exist.
pkg_check_modules(UV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
pkg_check_modules(SQLITE REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
find_package(Threads REQUIRED)

# drivers: the vtable, its registry, the in-process simulated rack, Modbus and hwmon
add_library(rpdriver STATIC src/drivers/driver.c src/drivers/simdrv.c src/drivers/mbdev.c
  src/drivers/hwdev.c)
target_include_directories(rpdriver PUBLIC src/drivers)
target_link_libraries(rpdriver PUBLIC rpdrvconf rpconf rpcore rpphys rpdrv_modbus rpdrv_hwmon rppredict rputil m)
# a PSU's reading from ORv3 registers and from a hwmon snapshot
rp_test(test_readings rpdriver)

# auth: roles, tokens, peer credentials, request checks (the daemon's API and
# rackpowerctl's token commands); GnuTLS hashes and draws the random bytes
pkg_check_modules(GNUTLS REQUIRED IMPORTED_TARGET gnutls)
add_library(rpauth STATIC src/daemon/auth.c)
target_include_directories(rpauth PUBLIC src/daemon)
target_link_libraries(rpauth PUBLIC PkgConfig::GNUTLS)

# daemon: store, hub, API, device workers, engine (linked by tests too)
add_library(rpdaemon STATIC
  src/daemon/log.c src/daemon/store.c src/daemon/hub.c src/daemon/event.c
  src/daemon/view.c src/daemon/devices.c src/daemon/api.c src/daemon/ledger.c
  src/daemon/decide.c src/daemon/commands.c src/daemon/reload.c src/daemon/alarms.c src/daemon/overdraw.c src/daemon/engine.c
  src/daemon/migrate.c src/daemon/outage_run.c
  src/daemon/prune.c src/daemon/node_io.c src/daemon/replica.c src/daemon/member.c
  src/daemon/rackkey.c src/daemon/predict.c)
target_include_directories(rpdaemon PUBLIC src/daemon)
target_compile_definitions(rpdaemon PRIVATE RP_VERSION="${PROJECT_VERSION}")
target_link_libraries(rpdaemon PUBLIC rpnode rpauth rpdriver rphistio rpconf rpcore rpevjson rputil PkgConfig::UV PkgConfig::MHD
  PkgConfig::SQLITE PkgConfig::SYSTEMD PkgConfig::JANSSON Threads::Threads)

# `rackpowerd --sim` with no --config runs contrib/rackpower.yaml, built in
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/democonf.c
  COMMAND ${CMAKE_COMMAND} -DIN=${CMAKE_SOURCE_DIR}/contrib/rackpower.yaml
          -DOUT=${CMAKE_BINARY_DIR}/democonf.c -DNAME=rp_demo_config
          -P ${CMAKE_SOURCE_DIR}/cmake/tools/embed_text.cmake
  DEPENDS ${CMAKE_SOURCE_DIR}/contrib/rackpower.yaml ${CMAKE_SOURCE_DIR}/cmake/tools/embed_text.cmake
  COMMENT "Building in contrib/rackpower.yaml")
add_executable(rackpowerd src/daemon/main.c ${CMAKE_BINARY_DIR}/democonf.c)
target_link_libraries(rackpowerd PRIVATE rpdaemon)

# cli: rackpowerctl, its requests over libcurl (GnuTLS build) and its
# Server-Sent Events parser
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
add_library(rpctl STATIC src/cli/http.c src/cli/sse.c)
target_include_directories(rpctl PUBLIC src/cli)
target_link_libraries(rpctl PUBLIC rputil PkgConfig::CURL)
add_executable(rackpowerctl src/cli/rackpowerctl.c)
target_link_libraries(rackpowerctl PRIVATE rpctl rpauth rpevjson PkgConfig::JANSSON)

rp_test(test_store rpdaemon)
rp_test(test_rackkey rpdaemon)
rp_test(test_reload rpdaemon)
rp_test(test_ledger rpdaemon)
rp_test(test_commands rpdaemon)
rp_test(test_alarms rpdaemon)
rp_test(test_overdraw rpdaemon)
rp_test(test_migrate rpdaemon)
rp_test(test_view rpdaemon)
rp_test(test_ages rpdaemon)
rp_test(test_log rpdaemon)
rp_test(test_node_io rpdaemon)
rp_test(test_replica rpdaemon)
rp_test(test_ctl_http rpctl)
rp_test(test_auth rpauth)
add_dependencies(test_ctl_http rackpowerctl) # it runs the binary against a canned status
add_test(NAME daemon COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon PROPERTIES TIMEOUT 300)
add_test(NAME daemon_outage COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_outage.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_outage PROPERTIES TIMEOUT 300)
add_test(NAME daemon_view COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_view.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_view PROPERTIES TIMEOUT 300)
add_test(NAME daemon_auth COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_auth.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_auth PROPERTIES TIMEOUT 300)
add_test(NAME systemd_unit COMMAND sh ${CMAKE_SOURCE_DIR}/tests/systemd_unit.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> ${CMAKE_SOURCE_DIR})
add_test(NAME daemon_modbus COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_modbus.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> $<TARGET_FILE:rackpower-sim>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_modbus PROPERTIES TIMEOUT 300)
add_test(NAME daemon_node COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_node.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> $<TARGET_FILE:rackpower-sim>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_node PROPERTIES TIMEOUT 600)
add_test(NAME daemon_oos COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_oos.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> $<TARGET_FILE:rackpower-sim>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_oos PROPERTIES TIMEOUT 300)
add_test(NAME daemon_stale COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_stale.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> $<TARGET_FILE:rackpower-sim>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_stale PROPERTIES TIMEOUT 300)
add_test(NAME daemon_power_loss COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_power_loss.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> $<TARGET_FILE:rackpower-sim>)
set_tests_properties(daemon_power_loss PROPERTIES TIMEOUT 300)
add_test(NAME daemon_ledger COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_ledger.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> $<TARGET_FILE:rackpower-sim>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_ledger PROPERTIES TIMEOUT 300)
add_test(NAME daemon_firstrun COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_firstrun.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl>)
set_tests_properties(daemon_firstrun PROPERTIES TIMEOUT 120)
add_test(NAME daemon_diskfull COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_diskfull.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> $<TARGET_FILE:rackpower-sim>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_diskfull PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
add_test(NAME daemon_hwmon COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_hwmon.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_hwmon PROPERTIES TIMEOUT 300)
add_test(NAME daemon_abuse COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_abuse.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> $<TARGET_FILE:bench-abuse>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_abuse PROPERTIES TIMEOUT 300)
add_test(NAME check_sizing COMMAND sh ${CMAKE_SOURCE_DIR}/tests/check_sizing.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpower-sim> ${CMAKE_SOURCE_DIR})
add_test(NAME daemon_modbus_feed COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_modbus_feed.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> $<TARGET_FILE:rackpower-sim>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_modbus_feed PROPERTIES TIMEOUT 120)
# An ORv3 BBU read by rackpowerd from rackpower-sim serve: its readings, lost
# and back, and its discharge starting an outage (cause bbu).
add_test(NAME daemon_bbu COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_bbu.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> $<TARGET_FILE:rackpower-sim>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_bbu PROPERTIES TIMEOUT 120)

# relay: a secondary's own PSUs forwarded to the primary; PSUs nobody tells
# of made unknown (issue 9, section 5)
target_sources(rpdaemon PRIVATE src/daemon/relay.c)
rp_test(test_relay rpdaemon)
# three controllers of examples/cluster against rackpower-sim serve: election,
# kill -9 of the primary in a boot storm, its return, a command through a
# secondary, an nftables partition, forged and replayed datagrams
add_test(NAME daemon_cluster COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_cluster.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> $<TARGET_FILE:rackpower-sim>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_cluster PROPERTIES TIMEOUT 600)
# the outage record a secondary follows and a new primary adopts
rp_test(test_outage_record rpdaemon)
# an outage across a fail-over: the operator's and a BBU's, kill -9 of the
# primary in the middle, the next carries the same outage on
add_test(NAME daemon_outage_failover COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_outage_failover.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> $<TARGET_FILE:rackpower-sim>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_outage_failover PROPERTIES TIMEOUT 300)
add_test(NAME daemon_balance COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_balance.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_balance PROPERTIES TIMEOUT 300)
# balancing over Modbus TCP to rackpower-sim serve: standby and wake written
# to the PSUs' extension registers (read back with mbpoll), a shelf's own
# wake seen by the daemon
add_test(NAME daemon_balance_modbus COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_balance_modbus.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> $<TARGET_FILE:rackpower-sim>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_balance_modbus PROPERTIES TIMEOUT 120)
rp_test(test_predict rpdaemon)
# A PSU ageing in rackpower-sim serve predicted by rackpowerd (the default
# model on a compressed clock), drained before it fails, no server noticing
# (issue 11, docs/prediction.md "In rackpowerd")
add_test(NAME daemon_predict COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_predict.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> $<TARGET_FILE:rackpower-sim>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_predict PROPERTIES TIMEOUT 180)
# the three controllers of examples/cluster: a PSU the primary predicted to
# fail stays at risk and drained after kill -9 of the primary, twice (its own
# window, then the replicated ledger alone), no server noticing
add_test(NAME daemon_predict_failover COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_predict_failover.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> $<TARGET_FILE:rackpower-sim>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_predict_failover PROPERTIES TIMEOUT 120)
