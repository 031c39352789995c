# rackpower-sim cluster: several controllers (their nodes, the policy, the
# fenced devices, the rack) in one process, in virtual time, per seed, with
# faults and invariant checks (docs/controllers.md, "Simulation").
add_library(rpcluster STATIC src/sim/cluster.c src/sim/cluster_net.c src/sim/cluster_ledger.c
                             src/sim/cluster_main.c)
target_include_directories(rpcluster PUBLIC src/sim)
target_link_libraries(rpcluster PUBLIC rpconf rpcore rpnode rpwire_bus)
target_link_libraries(rackpower-sim PRIVATE rpcluster)

rp_test(test_cluster rpcluster)

# The simulation that matters (issue 9, section 7): 10,000 seeds in the
# normal build, 1,000 under the sanitizers, each in two halves that ctest -j2
# runs side by side (under a minute each here); each prints seeds per second.
if(RP_SANITIZE)
  set(RP_CLUSTER_HALVES 1..500 501..1000)
else()
  set(RP_CLUSTER_HALVES 1..5000 5001..10000)
endif()
list(GET RP_CLUSTER_HALVES 0 RP_CLUSTER_A)
list(GET RP_CLUSTER_HALVES 1 RP_CLUSTER_B)
add_test(NAME sim_cluster_a COMMAND sh ${CMAKE_SOURCE_DIR}/tests/sim_cluster.sh
         $<TARGET_FILE:rackpower-sim> ${CMAKE_SOURCE_DIR} ${RP_CLUSTER_A})
add_test(NAME sim_cluster_b COMMAND sh ${CMAKE_SOURCE_DIR}/tests/sim_cluster.sh
         $<TARGET_FILE:rackpower-sim> ${CMAKE_SOURCE_DIR} ${RP_CLUSTER_B})
add_test(NAME sim_cluster_cli COMMAND sh ${CMAKE_SOURCE_DIR}/tests/sim_cluster_cli.sh
         $<TARGET_FILE:rackpower-sim> ${CMAKE_SOURCE_DIR})
