# SPECSWEEP_CUDA = AUTO | ON | OFF. AUTO enables CUDA when a CUDA compiler is found;
# nothing here needs a GPU, only nvcc. Sets SPECSWEEP_WITH_CUDA.
set(SPECSWEEP_WITH_CUDA OFF)
if(NOT SPECSWEEP_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # sm_90: the H100/H200 the project benchmarks on.
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(SPECSWEEP_WITH_CUDA ON)
  elseif(SPECSWEEP_CUDA STREQUAL "ON")
    message(FATAL_ERROR "SPECSWEEP_CUDA=ON but no CUDA compiler was found")
  endif()
endif()
message(STATUS "specsweep: CUDA backend ${SPECSWEEP_WITH_CUDA}")
