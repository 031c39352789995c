# The ipmi driver (src/drivers/ipmi.c): one server's BMC over IPMI 2.0 LAN
# through libfreeipmi (docs/outage.md "Hard power and caps through the BMCs").
# Included after daemon.cmake: rpdriver and rpdrvconf exist.
pkg_check_modules(FREEIPMI REQUIRED IMPORTED_TARGET libfreeipmi)

target_sources(rpdrvconf PRIVATE src/drivers/ipmi_conf.c)
target_sources(rpdriver PRIVATE src/drivers/ipmi.c)
target_link_libraries(rpdriver PUBLIC PkgConfig::FREEIPMI)

# the driver against real ipmi_sim BMCs (tests/lib_ipmi.sh starts them)
rp_test(test_ipmi rpdriver Threads::Threads)

# rackpowerd driving two ipmi_sim BMCs through the API
add_test(NAME daemon_ipmi COMMAND sh ${CMAKE_SOURCE_DIR}/tests/daemon_ipmi.sh
         $<TARGET_FILE:rackpowerd> $<TARGET_FILE:rackpowerctl> ${CMAKE_SOURCE_DIR})
set_tests_properties(daemon_ipmi PROPERTIES TIMEOUT 300)
