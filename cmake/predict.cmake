# Failure prediction (issue 11, section 2; docs/prediction.md): the history
# CSV and the risk model, pure core code in their own library so that the
# policy core does not grow; rackpower-predict and rackpower-train do the I/O.
add_library(rppredict STATIC src/core/telemetry_csv.c src/core/risk.c src/core/risk_select.c)
target_include_directories(rppredict PUBLIC src/core)
target_link_libraries(rppredict PUBLIC m)

rp_test(test_telemetry_csv rppredict)
rp_test(test_risk rppredict rpcore)
rp_test(test_risk_select rppredict)

# The tools: the history and model files, then the core.
include(GNUInstallDirs)
add_library(rphistio STATIC src/tools/history_io.c src/tools/model_io.c)
target_include_directories(rphistio PUBLIC src/tools)
target_link_libraries(rphistio PUBLIC rppredict rpcore)
target_compile_definitions(rphistio PRIVATE
  RP_MODEL_INSTALLED="${CMAKE_INSTALL_FULL_DATADIR}/rackpower/psu-risk-default.txt"
  RP_MODEL_SOURCE="${CMAKE_SOURCE_DIR}/models/psu-risk-default.txt")
add_executable(rackpower-predict src/tools/predict_main.c)
target_link_libraries(rackpower-predict PRIVATE rphistio)
add_executable(rackpower-train src/tools/train_main.c)
target_link_libraries(rackpower-train PRIVATE rphistio)
install(TARGETS rackpower-predict rackpower-train DESTINATION ${CMAKE_INSTALL_BINDIR})
add_test(NAME predict COMMAND sh ${CMAKE_SOURCE_DIR}/tests/predict.sh
         $<TARGET_FILE:rackpower-predict> $<TARGET_FILE:rackpower-train> ${CMAKE_SOURCE_DIR})
install(FILES models/psu-risk-default.txt DESTINATION ${CMAKE_INSTALL_DATADIR}/rackpower)
