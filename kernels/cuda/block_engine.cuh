#pragma once
// The block strategy on the GPU (strategy/block.hpp): one thread block per group of seeds runs
// strategy/batched.hpp's steps for the group's whole trajectory. Its executor allocates every
// buffer from the block's dynamic shared memory (in the order SharedMemoryCounter counted on the
// host) and runs each primitive as a loop over the block's threads closed by a barrier, so each
// phase sees everything the previous one wrote. The control flow between phases is uniform: every
// thread runs the same steps on the same data-independent conditions.
#include "strategy/block.hpp"
#include "strategy/small_linalg.hpp"

namespace specsweep::cuda {

class BlockExecutor {
 public:
  template <class U>
  using Buffer = strategy::SharedBuffer<U>;

  __device__ explicit BlockExecutor(unsigned char* shared_memory) : next_(shared_memory) {}

  template <class U>
  __device__ Buffer<U> buffer(long count) {
    U* at = reinterpret_cast<U*>(next_);
    next_ += strategy::shared_bytes(sizeof(U) * std::size_t(count));
    return Buffer<U>{at, std::size_t(count)};
  }

  // The target, read by every seed's GEMMs, staged once per block.
  template <class U>
  __device__ const U* shared_input(const U* data, long count) {
    Buffer<U> copy = buffer<U>(count);
    for (long i = threadIdx.x; i < count; i += blockDim.x) copy.values[i] = data[i];
    __syncthreads();
    return copy.values;
  }

  template <class F>
  __device__ void for_each(long count, F f) {
    for (long i = threadIdx.x; i < count; i += blockDim.x) f(i);
    __syncthreads();
  }

  // A group's elements number far below 2^31: 32-bit divisions.
  template <class F>
  __device__ void for_each_element(long seeds, int per_seed, F f) {
    const int total = int(seeds) * per_seed;
    for (int i = threadIdx.x; i < total; i += blockDim.x) f(long(i / per_seed), i % per_seed);
    __syncthreads();
  }

  // One warp per seed: its lanes stride over the terms, then a shuffle reduction.
  template <class U, class Term>
  __device__ void sum_per_seed(long seeds, int per_seed, Term term, U* out) {
    const int lane = threadIdx.x % 32, warps = blockDim.x / 32;
    for (long s = threadIdx.x / 32; s < seeds; s += warps) {
      U acc = U(0);
      for (int e = lane; e < per_seed; e += 32) acc += term(s, e);
      for (int offset = 16; offset > 0; offset /= 2)
        acc += __shfl_down_sync(0xffffffffu, acc, offset);
      if (lane == 0) out[s] = acc;
    }
    __syncthreads();
  }

  // cublas<t>gemmStridedBatched's semantics, one output element per thread at a time;
  // consecutive threads take consecutive rows of a column of C, so their writes, and their reads
  // of an untransposed A, fall in distinct shared-memory banks.
  template <class U>
  __device__ void gemm_cm(bool ta, bool tb, int m, int n, int k, U alpha, const U* A, long lda,
                          long sa, const U* B, long ldb, long sb, U beta, U* C, long ldc, long sc,
                          int batch) {
    const int total = m * n * batch;
    for (int index = threadIdx.x; index < total; index += blockDim.x)
      strategy::gemm_cm_element(index, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc,
                                sc);
    __syncthreads();
  }

  // One warp per matrix: Jacobi's rounds of disjoint rotations spread over its lanes, a warp
  // barrier between them (every lane of a warp takes the same matrices, so all 32 reach it).
  __device__ void eigh(int p, long batch, double* A, double* w, double* work) {
    const int lane = threadIdx.x % 32, warps = blockDim.x / 32;
    const long per_work = strategy::jacobi_work_size(p);
    for (long b = threadIdx.x / 32; b < batch; b += warps)
      strategy::jacobi_eigh(p, A + b * p * p, w + b * p, work + b * per_work,
                            [lane](int count, auto f) {
                              for (int i = lane; i < count; i += 32) f(i);
                              __syncwarp();
                            });
    __syncthreads();
  }

  template <class U>
  __device__ void zero(U* data, long count) {
    for (long i = threadIdx.x; i < count; i += blockDim.x) data[i] = U(0);
    __syncthreads();
  }

  __device__ std::size_t record_buffer_bytes() const { return 0; }  // records in the arenas

 private:
  unsigned char* next_;
};

// Block b runs tasks[b] (a group of seeds of `cell`) from start to end.
template <class T>
__global__ void __launch_bounds__(strategy::kBlockStrategyThreads, strategy::kGroupsPerSm)
    block_kernel(const strategy::CellParams<T>* cell, const strategy::SeedTask<T>* tasks) {
  extern __shared__ __align__(16) unsigned char shared_memory[];
  BlockExecutor exec(shared_memory);
  strategy::run_batched(exec, *cell, tasks[blockIdx.x], cell->rp.record_steps);
}

}  // namespace specsweep::cuda
