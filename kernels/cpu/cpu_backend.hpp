#pragma once
// The CPU backend: OpenMP over packs of seeds; within a pack the seeds sit side by side in SIMD
// lanes (pack.hpp), so the per-seed algorithm of kernels/core runs vectorized across seeds.
#include <memory>

#include "backend.hpp"

namespace specsweep {

std::unique_ptr<Backend> make_cpu_backend(const BackendOptions& options);

// Seeds per SIMD pack at each precision (the lane count), for tests and benchmarks.
int cpu_pack_width(Precision precision);

}  // namespace specsweep
