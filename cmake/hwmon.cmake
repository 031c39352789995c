# PMBus formats (src/wire/pmbus.c, pure) and the Linux hwmon PSU driver
# (src/drivers/hwmon.c). docs/pmbus-hwmon.md describes both.

add_library(rpwire_pmbus STATIC src/wire/pmbus.c src/wire/pmbus_monitor.c)
target_include_directories(rpwire_pmbus PUBLIC src/wire)
target_link_libraries(rpwire_pmbus PUBLIC m)

add_library(rpdrv_hwmon STATIC src/drivers/hwmon.c)
target_include_directories(rpdrv_hwmon PUBLIC src/drivers)
target_link_libraries(rpdrv_hwmon PUBLIC rpwire_pmbus rpcore rputil)

rp_test(test_pmbus rpwire_pmbus)
rp_test(test_pmbus_monitor rpwire_pmbus)
rp_test(test_hwmon rpdrv_hwmon)
