#pragma once
// The throwing check for CUDA runtime calls: a failure becomes a RuntimeFailure (exit 3) naming
// the call, its file:line and the error. Every launch is followed by SPECSWEEP_CUDA_CHECK_LAUNCH.
#include <cuda_runtime.h>

#include <string>

#include "errors.hpp"

namespace specsweep::cuda {

// A device allocation failed (cudaMalloc, a launch's local memory, a library's workspace): the
// backend retries the work in smaller chunks (plan/launch_chunks.hpp) before giving up.
class DeviceOutOfMemory : public RuntimeFailure {
 public:
  using RuntimeFailure::RuntimeFailure;
};

// `what` went wrong with `error`: an allocation failure becomes DeviceOutOfMemory (retried in
// smaller chunks), anything else RuntimeFailure.
[[noreturn]] inline void throw_cuda_failure(cudaError_t error, const std::string& what) {
  if (error == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: cleared, so that the retry's launches report their own
    throw DeviceOutOfMemory(what);
  }
  throw RuntimeFailure(what);
}

[[noreturn]] inline void throw_cuda_error(cudaError_t error, const char* call, const char* file,
                                          int line) {
  throw_cuda_failure(error, std::string("CUDA error ") + cudaGetErrorName(error) + " (" +
                                cudaGetErrorString(error) + ") in " + call + " at " + file + ":" +
                                std::to_string(line));
}

}  // namespace specsweep::cuda

#define SPECSWEEP_CUDA_CHECK(call)                                                           \
  do {                                                                                       \
    const cudaError_t specsweep_cuda_error_ = (call);                                        \
    if (specsweep_cuda_error_ != cudaSuccess)                                                \
      ::specsweep::cuda::throw_cuda_error(specsweep_cuda_error_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: launch-configuration errors now, execution errors at the next sync.
#define SPECSWEEP_CUDA_CHECK_LAUNCH() SPECSWEEP_CUDA_CHECK(cudaGetLastError())
