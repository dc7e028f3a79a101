# SPECSWEEP_PYTHON_PACKAGE = AUTO | ON | OFF: the Python package (python/), whose extension module
# is built with pybind11 from the same libraries as the command line. AUTO builds it when pybind11
# and the Python headers are found; `pip install .` (pyproject.toml, scikit-build-core) sets ON.
# The extension is a shared library, so every static library linked into it is compiled as
# position-independent code while the package is built.
set(SPECSWEEP_PYTHON_PACKAGE AUTO CACHE STRING "Build the Python package: AUTO (when pybind11 is found), ON or OFF")
set_property(CACHE SPECSWEEP_PYTHON_PACKAGE PROPERTY STRINGS AUTO ON OFF)
set(SPECSWEEP_WITH_PYTHON OFF)
if(NOT SPECSWEEP_PYTHON_PACKAGE STREQUAL "OFF")
  # Outside a pip build, the Python the tests use (Debian's, with numpy, h5py and xarray).
  if(NOT DEFINED Python_EXECUTABLE AND NOT SKBUILD AND EXISTS /usr/bin/python3)
    set(Python_EXECUTABLE /usr/bin/python3)
  endif()
  if(SPECSWEEP_PYTHON_PACKAGE STREQUAL "ON")
    find_package(Python 3.9 REQUIRED COMPONENTS Interpreter Development.Module)
    find_package(pybind11 2.10 CONFIG REQUIRED)
  else()
    find_package(Python 3.9 COMPONENTS Interpreter Development.Module)
    if(Python_FOUND)
      find_package(pybind11 2.10 CONFIG QUIET)
    endif()
  endif()
  if(Python_FOUND AND pybind11_FOUND)
    set(SPECSWEEP_WITH_PYTHON ON)
    set(CMAKE_POSITION_INDEPENDENT_CODE ON)
  endif()
endif()
message(STATUS "specsweep: Python package ${SPECSWEEP_WITH_PYTHON}")
