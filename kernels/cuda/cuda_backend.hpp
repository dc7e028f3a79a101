#pragma once
// The CUDA backend (host interface, no CUDA types): every seed on the GPU, one thread per seed,
// with the per-seed algorithm of kernels/core. See cuda_backend.cu.
#include <memory>
#include <string>

#include "backend.hpp"

namespace specsweep {

// Why no CUDA device can run here ("" when one can): the probe's CUDA error by name, with the
// driver's and this binary's runtime versions, so that a mismatch is visible at once.
std::string cuda_unavailable_reason();

// Binds device options.local_rank % device count. Throws RuntimeFailure without a device.
std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& options);

}  // namespace specsweep
