#pragma once
// The CUDA backend (host interface, no CUDA types): every seed on the GPU, one thread per seed,
// with the per-seed algorithm of kernels/core. See cuda_backend.cu.
#include <memory>

#include "backend.hpp"

namespace specsweep {

// Whether a CUDA device can run here (a driver and at least one device).
bool cuda_backend_available();

// Binds device options.local_rank % device count. Throws RuntimeFailure without a device.
std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& options);

}  // namespace specsweep
