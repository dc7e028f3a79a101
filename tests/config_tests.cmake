add_executable(test_config test_config.cpp test_sweep.cpp test_problem.cpp)
target_link_libraries(test_config PRIVATE specsweep_host_api GTest::gtest_main)
specsweep_warnings(test_config)
gtest_discover_tests(test_config)
