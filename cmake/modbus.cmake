# Modbus, client role: the ORv3 register layouts (pure) and the polling engine
# over libmodbus. docs/modbus.md.
pkg_check_modules(MODBUS REQUIRED IMPORTED_TARGET libmodbus)
find_package(Threads REQUIRED)

add_library(rpwire_orv3 STATIC src/wire/orv3.c)
target_include_directories(rpwire_orv3 PUBLIC src/wire)

# libmodbus is included as <modbus/modbus.h>; the engine's own header is
# mbdrv.h, so the two never meet on an include path.
add_library(rpdrv_modbus STATIC src/drivers/mbdrv.c)
target_include_directories(rpdrv_modbus PUBLIC src/drivers)
target_link_libraries(rpdrv_modbus PUBLIC rpwire_orv3 rputil PRIVATE PkgConfig::MODBUS)

rp_test(test_orv3 rpwire_orv3)
rp_test(test_modbus_drv rpdrv_modbus PkgConfig::MODBUS Threads::Threads)
