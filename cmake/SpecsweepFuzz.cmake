# SPECSWEEP_FUZZ: libFuzzer targets (fuzz/), built with Debian's clang (packages clang and
# libclang-rt-14-dev). Every C++ target is then compiled with the fuzzer's coverage instrumentation
# and AddressSanitizer + UBSan, so the code under test reports what the fuzzer reaches in it:
#   CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DSPECSWEEP_FUZZ=ON
#       -DSPECSWEEP_TESTS=OFF -DSPECSWEEP_BENCH=OFF -DSPECSWEEP_CUDA=OFF -DSPECSWEEP_MPI=OFF
# then fuzz/run.sh (see fuzz/README.md).
option(SPECSWEEP_FUZZ "Build the libFuzzer targets in fuzz/ (needs clang)" OFF)

if(SPECSWEEP_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SPECSWEEP_FUZZ=ON needs clang (libFuzzer): configure with CC=clang CXX=clang++")
  endif()
  add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=fuzzer-no-link,address,undefined>
                      $<$<COMPILE_LANGUAGE:C,CXX>:-fno-sanitize-recover=undefined>
                      $<$<COMPILE_LANGUAGE:C,CXX>:-fno-omit-frame-pointer>)
  add_link_options(-fsanitize=address,undefined)
endif()
