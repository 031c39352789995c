# Failure prediction (issue 11, section 2; docs/prediction.md): the history
# CSV and the risk model, pure core code in their own library so that the
# policy core does not grow; rackpower-predict and rackpower-train do the I/O.
add_library(rppredict STATIC src/core/telemetry_csv.c src/core/risk.c)
target_include_directories(rppredict PUBLIC src/core)
target_link_libraries(rppredict PUBLIC m)

rp_test(test_telemetry_csv rppredict)
rp_test(test_risk rppredict rpcore)
