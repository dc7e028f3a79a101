// The batched strategy's GPU executor (strategy/batched.hpp): cuBLAS strided-batched GEMMs,
// cuSOLVER's batched symmetric eigensolver, Thrust for the elementwise steps and a CUB block
// reduction per seed, all on one stream.
#include <thrust/execution_policy.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/system/cuda/error.h>
#include <thrust/system_error.h>

#include <algorithm>
#include <cstdint>
#include <cub/block/block_reduce.cuh>
#include <new>
#include <string>
#include <vector>

#include "cuda/batched_engine.cuh"
#include "cuda/device_buffer.cuh"
#include "strategy/batched.hpp"

namespace specsweep::cuda {

namespace {

constexpr int kReduceThreads = 256;
constexpr int kElementThreads = 256;

// out[s] = sum over e < per_seed of term(s, e): one block per seed.
template <class T, class Term>
__global__ void __launch_bounds__(kReduceThreads)
    sum_per_seed_kernel(int per_seed, Term term, T* out) {
  using Reduce = cub::BlockReduce<T, kReduceThreads>;
  __shared__ typename Reduce::TempStorage storage;
  const long s = blockIdx.x;
  T acc = T(0);
  for (int e = threadIdx.x; e < per_seed; e += kReduceThreads) acc += term(s, e);
  const T total = Reduce(storage).Sum(acc);
  if (threadIdx.x == 0) out[s] = total;
}

// How a launch of for_each_element_kernel maps blocks to (seed, element): matrices of at least a
// block's elements get whole blocks (blocks_per_seed of them), smaller ones share a block
// (seeds_per_block of them). Either way a thread finds its seed and element with 32-bit divisions.
struct ElementGrid {
  int per_seed, blocks_per_seed, seeds_per_block;
  explicit ElementGrid(int per_seed)
      : per_seed(per_seed),
        blocks_per_seed((per_seed + kElementThreads - 1) / kElementThreads),
        seeds_per_block(per_seed < kElementThreads ? kElementThreads / per_seed : 1) {}
  long blocks(long seeds) const {
    return seeds_per_block > 1 ? (seeds + seeds_per_block - 1) / seeds_per_block
                               : seeds * blocks_per_seed;
  }
  // Seeds one launch may cover: grids have at most 2^31 - 1 blocks.
  long max_seeds() const {
    const long max_blocks = 0x7fffffffL;
    return seeds_per_block > 1 ? max_blocks * seeds_per_block : max_blocks / blocks_per_seed;
  }
};

// f(first_seed + s, e) for the seeds and elements of grid, s < seeds.
template <class F>
__global__ void __launch_bounds__(kElementThreads)
    for_each_element_kernel(ElementGrid grid, long first_seed, long seeds, F f) {
  long s;
  int e;
  if (grid.seeds_per_block > 1) {
    const int t = threadIdx.x;
    if (t >= grid.seeds_per_block * grid.per_seed) return;
    s = long(blockIdx.x) * grid.seeds_per_block + t / grid.per_seed;
    e = t % grid.per_seed;
  } else {
    const unsigned b = blockIdx.x / unsigned(grid.blocks_per_seed);
    s = b;
    e = int(blockIdx.x - b * unsigned(grid.blocks_per_seed)) * kElementThreads + threadIdx.x;
  }
  if (s < seeds && e < grid.per_seed) f(first_seed + s, e);
}

cublasOperation_t op(bool transpose) {
  return transpose ? CUBLAS_OP_T : CUBLAS_OP_N;
}

class GpuExecutor {
 public:
  template <class U>
  using Buffer = DeviceBuffer<U>;
  template <class U>
  Buffer<U> buffer(long count) {
    return Buffer<U>(std::size_t(count));
  }
  // The target stays in global memory: the GEMMs that read it are cuBLAS's.
  template <class U>
  const U* shared_input(const U* data, long /*count*/) {
    return data;
  }

  GpuExecutor(const BlasHandle& blas, const SolverHandle& solver, cudaStream_t stream)
      : blas_(blas.get()),
        solver_(solver),
        stream_(stream),
        first_failed_(std::vector<int>{kNone}, stream) {}

  template <class F>
  void for_each(long count, F f) {
    if (count > 0)
      thrust::for_each_n(thrust::cuda::par_nosync.on(stream_), thrust::counting_iterator<long>(0),
                         count, f);
  }

  template <class F>
  void for_each_element(long seeds, int per_seed, F f) {
    if (seeds <= 0 || per_seed <= 0) return;
    const ElementGrid grid(per_seed);
    for (long first = 0; first < seeds; first += grid.max_seeds()) {
      const long count = std::min(seeds - first, grid.max_seeds());
      for_each_element_kernel<<<static_cast<unsigned>(grid.blocks(count)), kElementThreads, 0,
                                stream_>>>(grid, first, count, f);
      SPECSWEEP_CUDA_CHECK_LAUNCH();
    }
  }

  template <class U, class Term>
  void sum_per_seed(long seeds, int per_seed, Term term, U* out) {
    sum_per_seed_kernel<U>
        <<<static_cast<unsigned>(seeds), kReduceThreads, 0, stream_>>>(per_seed, term, out);
    SPECSWEEP_CUDA_CHECK_LAUNCH();
  }

  void gemm_cm(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, long lda,
               long sa, const float* B, long ldb, long sb, float beta, float* C, long ldc, long sc,
               int batch) {
    SPECSWEEP_CUBLAS_CHECK(cublasSgemmStridedBatched(blas_, op(ta), op(tb), m, n, k, &alpha, A,
                                                     int(lda), sa, B, int(ldb), sb, &beta, C,
                                                     int(ldc), sc, batch));
  }
  void gemm_cm(bool ta, bool tb, int m, int n, int k, double alpha, const double* A, long lda,
               long sa, const double* B, long ldb, long sb, double beta, double* C, long ldc,
               long sc, int batch) {
    SPECSWEEP_CUBLAS_CHECK(cublasDgemmStridedBatched(blas_, op(ta), op(tb), m, n, k, &alpha, A,
                                                     int(lda), sa, B, int(ldb), sb, &beta, C,
                                                     int(ldc), sc, batch));
  }

  // The workspace query runs once per matrix size and batch, not at every step. cuSOLVER keeps
  // its own workspace: the steps' `work` is not needed.
  void eigh(int p, long batch, double* A, double* w, double* /*work*/) {
    if (p != eig_p_ || batch != eig_batch_) {
      SPECSWEEP_CUSOLVER_CHECK(cusolverDnXsyevBatched_bufferSize(
          solver_.get(), solver_.params(), CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER, p,
          CUDA_R_64F, A, p, CUDA_R_64F, w, CUDA_R_64F, &device_bytes_, &host_bytes_, batch));
      if (workspace_.size() < device_bytes_) workspace_ = DeviceBuffer<char>(device_bytes_);
      if (host_workspace_.size() < host_bytes_) host_workspace_.resize(host_bytes_);
      if (info_.size() < std::size_t(batch)) info_ = DeviceBuffer<int>(batch);
      eig_p_ = p;
      eig_batch_ = batch;
    }
    SPECSWEEP_CUSOLVER_CHECK(cusolverDnXsyevBatched(
        solver_.get(), solver_.params(), CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER, p,
        CUDA_R_64F, A, p, CUDA_R_64F, w, CUDA_R_64F, workspace_.data(), device_bytes_,
        host_workspace_.data(), host_bytes_, info_.data(), batch));
    // cuSOLVER reports a failed decomposition per matrix in info; the first failing matrix of the
    // run is kept on the device and looked at once, after the run (throw_if_eigh_failed).
    const int* info = info_.data();
    int* first_failed = first_failed_.data();
    for_each(batch, [=] __device__(long b) {
      if (info[b] != 0) atomicMin(first_failed, int(b));
    });
  }

  // Throws, naming the seed and its cell, if any eigendecomposition of the run failed (its polar
  // factor, and so the seed's trajectory from that step on, would be garbage).
  void throw_if_eigh_failed(long first_seed, std::uint32_t cell_number) const {
    std::vector<int> first(1);
    first_failed_.download(first, 1, stream_);
    SPECSWEEP_CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (first[0] != kNone)
      throw RuntimeFailure(
          "CUDA backend: cuSOLVER's batched eigensolver (cusolverDnXsyevBatched) failed for "
          "seed " +
          std::to_string(first_seed + first[0]) + " of cell " + std::to_string(cell_number) +
          ": its polar factor would be wrong, so the run stops");
  }

  template <class U>
  void zero(U* data, long count) {
    if (count > 0) SPECSWEEP_CUDA_CHECK(cudaMemsetAsync(data, 0, count * sizeof(U), stream_));
  }

  std::size_t record_buffer_bytes() const { return kRecordBufferBytes; }

 private:
  cublasHandle_t blas_;
  const SolverHandle& solver_;
  cudaStream_t stream_;
  int eig_p_ = -1;
  long eig_batch_ = -1;
  std::size_t device_bytes_ = 0, host_bytes_ = 0;
  DeviceBuffer<char> workspace_;
  std::vector<char> host_workspace_;
  DeviceBuffer<int> info_;
  static constexpr int kNone = 0x7fffffff;
  DeviceBuffer<int> first_failed_;
};

}  // namespace

template <class T>
void run_batched(const strategy::CellParams<T>& cell, const strategy::SeedTask<T>& task,
                 std::uint32_t cell_number, const std::vector<int>& record_steps,
                 const BlasHandle& blas, const SolverHandle& solver, cudaStream_t stream) {
  try {
    GpuExecutor exec(blas, solver, stream);
    strategy::run_batched(exec, cell, task, record_steps.data());
    SPECSWEEP_CUDA_CHECK(cudaStreamSynchronize(stream));
    exec.throw_if_eigh_failed(task.first_seed, cell_number);
  } catch (const thrust::system_error& e) {
    // Out of memory in a Thrust launch (its local memory, or its temporary storage) is retried
    // in smaller chunks like any other allocation failure; the rest stops the run.
    const std::string what =
        std::string("CUDA error in a Thrust launch of the batched strategy: ") + e.what();
    if (e.code().category() == thrust::cuda_category())
      throw_cuda_failure(static_cast<cudaError_t>(e.code().value()), what);
    throw RuntimeFailure(what);
  } catch (const std::bad_alloc& e) {  // Thrust's temporary storage on the device
    throw DeviceOutOfMemory(std::string("an allocation of the batched strategy failed: ") +
                            e.what());
  }
}

template void run_batched<float>(const strategy::CellParams<float>&,
                                 const strategy::SeedTask<float>&, std::uint32_t,
                                 const std::vector<int>&, const BlasHandle&, const SolverHandle&,
                                 cudaStream_t);
template void run_batched<double>(const strategy::CellParams<double>&,
                                  const strategy::SeedTask<double>&, std::uint32_t,
                                  const std::vector<int>&, const BlasHandle&, const SolverHandle&,
                                  cudaStream_t);

}  // namespace specsweep::cuda
