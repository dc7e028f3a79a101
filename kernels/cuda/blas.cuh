#pragma once
// cuBLAS and cuSOLVER for the batched strategy: throwing checks naming the call, file:line and the
// status, RAII handles bound to a stream, and GEMMs in the row-major convention of kernels/core.
// A row-major matrix is its column-major transpose, so C = op(A) op(B) (row-major) is computed as
// C^T = op(B)^T op(A)^T (column-major) with the operands swapped.
#include <cublas_v2.h>
#include <cusolverDn.h>

#include <string>
#include <type_traits>

#include "cuda/cuda_check.cuh"

namespace specsweep::cuda {

[[noreturn]] inline void throw_library_error(const char* library, int status, const char* name,
                                             const char* call, const char* file, int line) {
  throw RuntimeFailure(std::string(library) + " error " + name + " (" + std::to_string(status) +
                       ") in " + call + " at " + file + ":" + std::to_string(line));
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

#define SPECSWEEP_CUBLAS_CHECK(call)                                                        \
  do {                                                                                      \
    const cublasStatus_t specsweep_status_ = (call);                                        \
    if (specsweep_status_ != CUBLAS_STATUS_SUCCESS)                                         \
      ::specsweep::cuda::throw_library_error("cuBLAS", static_cast<int>(specsweep_status_), \
                                             cublasGetStatusName(specsweep_status_), #call, \
                                             __FILE__, __LINE__);                           \
  } while (0)

#define SPECSWEEP_CUSOLVER_CHECK(call)                                                            \
  do {                                                                                            \
    const cusolverStatus_t specsweep_status_ = (call);                                            \
    if (specsweep_status_ != CUSOLVER_STATUS_SUCCESS)                                             \
      ::specsweep::cuda::throw_library_error(                                                     \
          "cuSOLVER", static_cast<int>(specsweep_status_),                                        \
          ::specsweep::cuda::cusolver_status_name(specsweep_status_), #call, __FILE__, __LINE__); \
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

// A batch of row-major matrices: matrix s starts at data + s * stride, rows are ld apart.
template <class T>
struct MatrixBatch {
  T* data;
  long ld, stride;
  // A batch of T converts to a batch of const T (the inputs of gemm).
  template <class U, class = std::enable_if_t<std::is_same_v<U, const T> && !std::is_const_v<T>>>
  operator MatrixBatch<U>() const {
    return {data, ld, stride};
  }
};

template <class T>
struct NonDeduced {
  using type = T;
};

// The one precision-specific call: cublasSgemmStridedBatched or cublasDgemmStridedBatched, in
// cuBLAS's column-major terms.
inline void gemm_strided_batched_cm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
                                    int m, int n, int k, float alpha, const float* A, long lda,
                                    long sa, const float* B, long ldb, long sb, float beta,
                                    float* C, long ldc, long sc, int batch) {
  SPECSWEEP_CUBLAS_CHECK(cublasSgemmStridedBatched(h, ta, tb, m, n, k, &alpha, A, int(lda), sa, B,
                                                   int(ldb), sb, &beta, C, int(ldc), sc, batch));
}
inline void gemm_strided_batched_cm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
                                    int m, int n, int k, double alpha, const double* A, long lda,
                                    long sa, const double* B, long ldb, long sb, double beta,
                                    double* C, long ldc, long sc, int batch) {
  SPECSWEEP_CUBLAS_CHECK(cublasDgemmStridedBatched(h, ta, tb, m, n, k, &alpha, A, int(lda), sa, B,
                                                   int(ldb), sb, &beta, C, int(ldc), sc, batch));
}

// Row-major C_s (m x n) = alpha op(A_s) op(B_s) + beta C_s for s < batch, where op(X) = X, or X^T
// when the flag is set (then X_s is stored k x m, resp. n x k). A stride of 0 shares one matrix
// (the target M) across the batch.
template <class T>
void gemm(cublasHandle_t h, bool trans_a, bool trans_b, int m, int n, int k, T alpha,
          MatrixBatch<const typename NonDeduced<T>::type> A,
          MatrixBatch<const typename NonDeduced<T>::type> B, T beta, MatrixBatch<T> C, int batch) {
  gemm_strided_batched_cm(h, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                          trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, alpha, B.data, B.ld,
                          B.stride, A.data, A.ld, A.stride, beta, C.data, C.ld, C.stride, batch);
}

}  // namespace specsweep::cuda
