# rackpower-sim fleet: PSUs ageing and failing over days, the history and labels
# that failure prediction is trained and measured on (docs/prediction.md).
add_library(rpfleet STATIC src/sim/fleet.c)
target_include_directories(rpfleet PUBLIC ${CMAKE_SOURCE_DIR}/src/sim)
target_link_libraries(rpfleet PUBLIC rpcore m)
target_sources(rackpower-sim PRIVATE ${CMAKE_SOURCE_DIR}/src/sim/fleet_main.c)
target_link_libraries(rackpower-sim PRIVATE rpfleet)

add_test(NAME sim_fleet COMMAND sh ${CMAKE_SOURCE_DIR}/tests/sim_fleet.sh
         $<TARGET_FILE:rackpower-sim> ${CMAKE_SOURCE_DIR})
set_tests_properties(sim_fleet PROPERTIES TIMEOUT 300)

# rackpower-sim serve --ageing-rate: a served PSU ages and fails in a minute.
add_test(NAME sim_ageing COMMAND sh ${CMAKE_SOURCE_DIR}/tests/sim_ageing.sh
         $<TARGET_FILE:rackpower-sim> ${CMAKE_SOURCE_DIR})
set_tests_properties(sim_ageing PROPERTIES TIMEOUT 240)
