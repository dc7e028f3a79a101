#pragma once
// The HDF5 memory type of a per-seed array's elements (SeedOutcomes' int8 statuses, int32 steps
// and double values), shared by the run file's writer and the report's reader.
#include <hdf5.h>

#include <cstdint>
#include <vector>

namespace specsweep {

inline hid_t native_type(const std::vector<std::int8_t>&) {
  return H5T_NATIVE_INT8;
}
inline hid_t native_type(const std::vector<std::int32_t>&) {
  return H5T_NATIVE_INT32;
}
inline hid_t native_type(const std::vector<double>&) {
  return H5T_NATIVE_DOUBLE;
}

}  // namespace specsweep
