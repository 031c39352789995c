# The nut driver (src/drivers/nut.c, docs/outage.md): a NUT upsd through
# libupsclient (Debian: libupsclient-dev; its tests run nut-server's upsd and
# dummy-ups and nut-client's upsmon: tests/lib_nut.sh). Included after
# daemon.cmake, which makes rpdriver; the keys join rpdrvconf (CMakeLists).
pkg_check_modules(UPSCLIENT REQUIRED IMPORTED_TARGET libupsclient)
target_sources(rpdriver PRIVATE src/drivers/nut.c)
target_link_libraries(rpdriver PUBLIC PkgConfig::UPSCLIENT Threads::Threads)

# the driver by hand (tests/nut_probe.c) against a real upsd, dummy-ups and
# upsmon (tests/driver_nut.sh, tests/lib_nut.sh)
add_executable(nut_probe tests/nut_probe.c)
target_link_libraries(nut_probe PRIVATE rpdriver)
add_test(NAME driver_nut COMMAND sh ${CMAKE_SOURCE_DIR}/tests/driver_nut.sh
  $<TARGET_FILE:nut_probe> ${CMAKE_SOURCE_DIR})
set_tests_properties(driver_nut PROPERTIES TIMEOUT 300)

# rackpowerd through a UPS outage: a real upsd, dummy-ups and upsmon, and
# ipmi_sim BMCs (tests/daemon_outage_nut.sh)
add_test(NAME daemon_outage_nut COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_outage_nut.sh
  $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_outage_nut PROPERTIES TIMEOUT 300)
