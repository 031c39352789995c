# rackpower-sim serve: the simulated rack's devices over Modbus TCP and RTU
# (docs/sim-devices.md). Its pure parts are a library for the unit tests.
# The physics alone is a library of its own: the daemon's sim driver
# (src/drivers/simdrv.c) is a thin driver over it.
add_library(rpphys STATIC src/sim/physics.c)
target_include_directories(rpphys PUBLIC ${CMAKE_SOURCE_DIR}/src/sim ${CMAKE_SOURCE_DIR}/src/wire)
target_link_libraries(rpphys PUBLIC rpcore rpwire_orv3 rputil rpfleet m) # rpfleet: cmake/sim_fleet.cmake
add_library(rpsimdev STATIC src/sim/mbsrv.c src/sim/simdevs.c src/sim/control.c src/sim/uart.c)
target_include_directories(rpsimdev PUBLIC ${CMAKE_SOURCE_DIR}/src/sim ${CMAKE_SOURCE_DIR}/src/wire)
target_link_libraries(rpsimdev PUBLIC rpphys rpconf rpcore rpwire_orv3 m)

target_sources(rackpower-sim PRIVATE
  ${CMAKE_SOURCE_DIR}/src/sim/serve.c ${CMAKE_SOURCE_DIR}/src/sim/serve_args.c
  ${CMAKE_SOURCE_DIR}/src/sim/serve_ctl.c ${CMAKE_SOURCE_DIR}/src/sim/serve_tcp.c
  ${CMAKE_SOURCE_DIR}/src/sim/serve_rtu.c ${CMAKE_SOURCE_DIR}/src/sim/serve_unix.c)
target_link_libraries(rackpower-sim PRIVATE rpsimdev rputil)

# test_physics also checks that the PSU registers decode with the daemon's ORv3
# decoder (rpwire_orv3, cmake/modbus.cmake).
rp_test(test_physics rpsimdev rpwire_orv3)
rp_test(test_mbsrv rpsimdev)
rp_test(test_simdevs rpsimdev)
rp_test(test_simbbu rpsimdev rpwire_orv3)
rp_test(test_uart rpsimdev)

add_test(NAME sim_serve COMMAND sh ${CMAKE_SOURCE_DIR}/tests/sim_serve.sh
         $<TARGET_FILE:rackpower-sim> ${CMAKE_SOURCE_DIR})
set_tests_properties(sim_serve PROPERTIES TIMEOUT 180)
# pymodbus (Debian python3-pymodbus) as a third outside client: a scan of the
# units and every PSU's whole map over TCP, against mbpoll and the control socket.
add_test(NAME sim_pymodbus COMMAND sh ${CMAKE_SOURCE_DIR}/tests/sim_pymodbus.sh
         $<TARGET_FILE:rackpower-sim> ${CMAKE_SOURCE_DIR})
set_tests_properties(sim_pymodbus PROPERTIES TIMEOUT 120)

# The BBUs' registers as mbpoll and pymodbus read them through a feed failure,
# a fault, lost readings and the feed's return.
add_test(NAME sim_bbu COMMAND sh ${CMAKE_SOURCE_DIR}/tests/sim_bbu.sh
         $<TARGET_FILE:rackpower-sim> ${CMAKE_SOURCE_DIR})
set_tests_properties(sim_bbu PROPERTIES TIMEOUT 120)

# The daemon's embedded rack against the physics: same draws, temperatures
# and faults for the same seed and time.
rp_test(test_simdrv rpdriver rpphys rpwire_pmbus)

# Fencing end to end below the daemon: the Modbus engine and driver against
# the simulated modules (simdevs) served over TCP by the test itself.
rp_test(test_mbfence rpdriver rpsimdev Threads::Threads)
rp_test(test_devices_fence rpdaemon rpsimdev Threads::Threads)
# Balancing's standby and share over Modbus: the driver's fenced commands to
# the simulated PSUs' extension registers, read back, refusals.
rp_test(test_mbstandby rpdriver rpsimdev Threads::Threads)
# The Modbus driver reading a served ORv3 BBU as a reserve (role: bbu).
rp_test(test_bbu_driver rpdriver rpsimdev Threads::Threads)
