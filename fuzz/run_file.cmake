# The run-file reader's fuzz target (fuzz/run_file_fuzz.cpp), two ways:
# - in a SPECSWEEP_FUZZ build (clang, fuzz/CMakeLists.txt includes this file): fuzz_run_file, a
#   libFuzzer executable that fuzz/run.sh runs with the seed corpus fuzz/corpus/run_file/;
# - in any build with tests (tests/CMakeLists.txt includes this file): run_file_replay, the same
#   checks as a plain program, which ctest runs over the corpus (findings added there stay found).
set(specsweep_run_file_fuzz_source ${CMAKE_CURRENT_LIST_DIR}/run_file_fuzz.cpp)
set(specsweep_run_file_corpus ${CMAKE_CURRENT_LIST_DIR}/corpus/run_file)
if(SPECSWEEP_FUZZ)
  if(NOT TARGET fuzz_run_file)
    add_executable(fuzz_run_file ${specsweep_run_file_fuzz_source})
    target_link_libraries(fuzz_run_file PRIVATE specsweep_driver hdf5::hdf5)
    target_link_options(fuzz_run_file PRIVATE -fsanitize=fuzzer)
    specsweep_warnings(fuzz_run_file)
  endif()
elseif(NOT TARGET run_file_replay)
  add_executable(run_file_replay ${specsweep_run_file_fuzz_source})
  target_compile_definitions(run_file_replay PRIVATE SPECSWEEP_FUZZ_REPLAY)
  target_link_libraries(run_file_replay PRIVATE specsweep_driver hdf5::hdf5)
  specsweep_warnings(run_file_replay)
  add_test(NAME fuzz.run_file_corpus_replay COMMAND run_file_replay ${specsweep_run_file_corpus})
endif()
