# Reports of a run file (host/report.cpp): load_report and the table, csv and json formats.
include(GoogleTest)
add_executable(test_report test_report.cpp)
target_link_libraries(test_report PRIVATE specsweep_driver GTest::gtest_main hdf5::hdf5)
specsweep_warnings(test_report)
gtest_discover_tests(test_report DISCOVERY_TIMEOUT 60)
