# SPECSWEEP_SANITIZE: sanitizers for every C and C++ target, as -fsanitize takes them
# (e.g. "address,undefined"); empty for none. CI builds the test suite with address,undefined
# (scripts/test.sh) so a memory error or undefined behaviour fails a test instead of passing by
# luck. Frame pointers keep the reports' stacks readable.
set(SPECSWEEP_SANITIZE "" CACHE STRING "Sanitizers for every target, e.g. address,undefined (empty: none)")

if(SPECSWEEP_SANITIZE)
  add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=${SPECSWEEP_SANITIZE}>
                      $<$<COMPILE_LANGUAGE:C,CXX>:-fno-omit-frame-pointer>)
  add_link_options(-fsanitize=${SPECSWEEP_SANITIZE})
  message(STATUS "specsweep: sanitizers ${SPECSWEEP_SANITIZE}")
endif()
