# libFuzzer targets, one per parser that faces the outside world (issue 6,
# docs/benchmarks.md "Fuzzing"). Only with -DRP_FUZZ=ON and clang: the top
# CMakeLists then builds every library with -fsanitize=fuzzer-no-link and
# ASan/UBSan, so the targets see coverage in the code they drive.
# `make fuzz` builds them in build-fuzz and runs each (scripts/fuzz.sh).
if(NOT RP_FUZZ)
  return()
endif()
if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "RP_FUZZ needs clang (-DCMAKE_C_COMPILER=clang)")
endif()

function(rp_fuzz name)
  add_executable(${name} tests/${name}.c)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_compile_definitions(${name} PRIVATE RP_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  target_link_libraries(${name} PRIVATE ${ARGN})
endfunction()

rp_fuzz(fuzz_rackfile rpconf)          # the rack and scenario file
rp_fuzz(fuzz_config rpdriver)          # rackpowerd's config (rack + devices + api)
rp_fuzz(fuzz_mbsrv_tcp rpsimdev)       # Modbus TCP framing (MBAP) and requests
rp_fuzz(fuzz_mbsrv_rtu rpsimdev)       # Modbus RTU framing (length, CRC, silence)
rp_fuzz(fuzz_uart rpsimdev)            # the RTU line model: wrong baud or parity, tty flags
rp_fuzz(fuzz_control rpsimdev)         # the simulator's control lines (control_parse)
rp_fuzz(fuzz_orv3 rpwire_orv3 m)       # ORv3 register images, health, monitor
rp_fuzz(fuzz_pmbus rpwire_pmbus m)     # PMBus words and status registers
rp_fuzz(fuzz_api rpdaemon)             # the HTTP API: paths, queries, bodies
rp_fuzz(fuzz_tokens rpauth)            # the tokens file, Host, Content-Type, Authorization
rp_fuzz(fuzz_rackbus rpwire_bus)       # the rack bus's datagrams: lengths, HMAC, every type
rp_fuzz(fuzz_relay rpdaemon)           # what another controller forwards: PSUs, feeds, commands
rp_fuzz(fuzz_telemetry_csv rppredict) # the PSU history CSV (rackpower-predict, rackpower-train)
