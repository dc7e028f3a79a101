#pragma once
// cuBLAS and cuSOLVER for the batched strategy: throwing checks naming the call, file:line and the
// status, and RAII handles bound to a stream.
#include <cublas_v2.h>
#include <cusolverDn.h>

#include <string>

#include "cuda/cuda_check.cuh"

namespace specsweep::cuda {

// out_of_memory: the library could not allocate its workspace (the backend retries smaller).
[[noreturn]] inline void throw_library_error(const char* library, int status, const char* name,
                                             bool out_of_memory, const char* call, const char* file,
                                             int line) {
  const std::string what = std::string(library) + " error " + name + " (" +
                           std::to_string(status) + ") in " + call + " at " + file + ":" +
                           std::to_string(line);
  if (out_of_memory) throw DeviceOutOfMemory(what);
  throw RuntimeFailure(what);
}

inline const char* cusolver_status_name(cusolverStatus_t s) {
  switch (s) {
    case CUSOLVER_STATUS_NOT_INITIALIZED:
      return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED:
      return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE:
      return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH:
      return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_EXECUTION_FAILED:
      return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR:
      return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_NOT_SUPPORTED:
      return "CUSOLVER_STATUS_NOT_SUPPORTED";
    default:
      return "CUSOLVER_STATUS_UNKNOWN";
  }
}

}  // namespace specsweep::cuda

#define SPECSWEEP_CUBLAS_CHECK(call)                                                             \
  do {                                                                                           \
    const cublasStatus_t specsweep_status_ = (call);                                             \
    if (specsweep_status_ != CUBLAS_STATUS_SUCCESS)                                              \
      ::specsweep::cuda::throw_library_error(                                                    \
          "cuBLAS", static_cast<int>(specsweep_status_), cublasGetStatusName(specsweep_status_), \
          specsweep_status_ == CUBLAS_STATUS_ALLOC_FAILED, #call, __FILE__, __LINE__);           \
  } while (0)

#define SPECSWEEP_CUSOLVER_CHECK(call)                                                        \
  do {                                                                                        \
    const cusolverStatus_t specsweep_status_ = (call);                                        \
    if (specsweep_status_ != CUSOLVER_STATUS_SUCCESS)                                         \
      ::specsweep::cuda::throw_library_error(                                                 \
          "cuSOLVER", static_cast<int>(specsweep_status_),                                    \
          ::specsweep::cuda::cusolver_status_name(specsweep_status_),                         \
          specsweep_status_ == CUSOLVER_STATUS_ALLOC_FAILED, #call, __FILE__, __LINE__);      \
  } while (0)

namespace specsweep::cuda {

class BlasHandle {
 public:
  explicit BlasHandle(cudaStream_t stream) {
    SPECSWEEP_CUBLAS_CHECK(cublasCreate(&handle_));
    SPECSWEEP_CUBLAS_CHECK(cublasSetStream(handle_, stream));
    // Plain FP32/FP64 arithmetic, never TF32: the engine promises fp32 results, and the CPU
    // oracle computes in fp32.
    SPECSWEEP_CUBLAS_CHECK(cublasSetMathMode(handle_, CUBLAS_PEDANTIC_MATH));
  }
  BlasHandle(const BlasHandle&) = delete;
  BlasHandle& operator=(const BlasHandle&) = delete;
  ~BlasHandle() { cublasDestroy(handle_); }
  cublasHandle_t get() const { return handle_; }

 private:
  cublasHandle_t handle_ = nullptr;
};

class SolverHandle {
 public:
  explicit SolverHandle(cudaStream_t stream) {
    SPECSWEEP_CUSOLVER_CHECK(cusolverDnCreate(&handle_));
    SPECSWEEP_CUSOLVER_CHECK(cusolverDnSetStream(handle_, stream));
    SPECSWEEP_CUSOLVER_CHECK(cusolverDnCreateParams(&params_));
  }
  SolverHandle(const SolverHandle&) = delete;
  SolverHandle& operator=(const SolverHandle&) = delete;
  ~SolverHandle() {
    cusolverDnDestroyParams(params_);
    cusolverDnDestroy(handle_);
  }
  cusolverDnHandle_t get() const { return handle_; }
  cusolverDnParams_t params() const { return params_; }

 private:
  cusolverDnHandle_t handle_ = nullptr;
  cusolverDnParams_t params_ = nullptr;
};

}  // namespace specsweep::cuda
