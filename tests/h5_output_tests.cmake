# The run file (host/h5_output.cpp) and the per-seed result buffers (host/outcomes.cpp).
include(GoogleTest)
add_executable(test_h5_output test_h5_output.cpp)
target_link_libraries(test_h5_output PRIVATE specsweep_driver hdf5::hdf5 GTest::gtest_main)
specsweep_warnings(test_h5_output)
gtest_discover_tests(test_h5_output DISCOVERY_TIMEOUT 60)
