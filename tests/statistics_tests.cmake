add_executable(test_statistics test_statistics.cpp ../host/statistics.cpp)
target_link_libraries(test_statistics PRIVATE specsweep_host_api GTest::gtest_main)
specsweep_warnings(test_statistics)
gtest_discover_tests(test_statistics)
