#pragma once
// The block strategy (DESIGN section 8, small depth-2 problems such as Kang's 60 x 70, r = 5): a
// thread block owns a group of G seeds for their whole trajectory and runs the lockstep steps of
// batched.hpp on them, with every buffer (factors, gradients, optimizer state, Grams, the staged
// target M) in shared memory. kernels/cuda/block_engine.cuh is its executor; this header holds
// what the host decides: how much shared memory a group needs and how many seeds a group holds.
//
// Why it should beat the other two strategies on small problems (bench/FLOP_MODEL.md has the
// counts): the fused strategy runs a seed on one thread, whose factors live in global memory
// (interleaved by warp) and whose GEMMs are sequential loops; at Kang's size it reached 764
// GFLOP/s on an H200, ~1% of the FP32 peak. The batched strategy launches dozens of kernels per
// step; at Kang's size each does too little to hide its launch. A block keeps its seeds' state
// in shared memory, spreads every GEMM and elementwise step over its threads, and launches once.
#include <cstddef>

#include "strategy/batched.hpp"

namespace specsweep::strategy {

// Shared-memory buffers start at multiples of this (doubles, 16-byte vector loads).
inline constexpr std::size_t kSharedAlignment = 16;
SPECSWEEP_HD inline std::size_t shared_bytes(std::size_t bytes) {
  return (bytes + kSharedAlignment - 1) / kSharedAlignment * kSharedAlignment;
}

// Threads of a block, and the most seeds a group holds: beyond 32 the per-seed bookkeeping
// (observe, a thread per seed) would want more than one warp, and a few groups per SM keep the
// SM busy while one waits at a barrier.
inline constexpr int kBlockStrategyThreads = 256;
inline constexpr int kMaxGroupSeeds = 32;
// Groups resident per SM that the shared memory (block_group_seeds) and the registers (the
// kernel's launch bounds) are sized for.
inline constexpr int kGroupsPerSm = 2;

// The block strategy's buffers: views of the block's shared memory, which the executor does not
// free (the block's end does); empty views when the host only counts.
template <class U>
struct SharedBuffer {
  U* values = nullptr;
  std::size_t count = 0;
  SPECSWEEP_HD U* data() const { return values; }
  SPECSWEEP_HD std::size_t size() const { return count; }
};

// An executor that only adds up what the steps' constructor asks of it: run on the host, it
// measures the shared memory of a group exactly as the block executor will allocate it.
class SharedMemoryCounter {
 public:
  template <class U>
  using Buffer = SharedBuffer<U>;
  template <class U>
  Buffer<U> buffer(long count) {
    bytes_ += shared_bytes(sizeof(U) * std::size_t(count));
    return Buffer<U>{nullptr, std::size_t(count)};
  }
  template <class U>
  const U* shared_input(const U* data, long count) {
    bytes_ += shared_bytes(sizeof(U) * std::size_t(count));
    return data;
  }
  std::size_t record_buffer_bytes() const { return 0; }  // records go to the seeds' arenas
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t bytes_ = 0;
};

// Bytes of shared memory the steps take for a group of `seeds` seeds with `traced` of them traced.
template <class T>
std::size_t block_shared_bytes(const CellParams<T>& c, long seeds, long traced) {
  SharedMemoryCounter counter;
  SeedTask<T> task{};
  task.count = seeds;
  task.traced_count = traced;
  BatchedSteps<T, SharedMemoryCounter> steps(counter, c, task, nullptr);
  return counter.bytes();
}

// What a device offers a block's shared memory (cudaDevAttrMaxSharedMemoryPerBlockOptin,
// ...PerMultiprocessor, ReservedSharedMemoryPerBlock).
struct SharedMemoryLimits {
  std::size_t per_block, per_sm, reserved_per_block;
};

// Seeds per group: as many as let kGroupsPerSm groups share an SM (each also holding the
// runtime's reservation), so that one computes while another waits at a barrier, at most
// kMaxGroupSeeds; one seed alone if only it fits a block; 0 when not even that does. Tracing
// changes no buffer.
template <class T>
int block_group_seeds(const CellParams<T>& c, const SharedMemoryLimits& limits) {
  if (!batched_supports(c) || block_shared_bytes(c, 1, 0) > limits.per_block) return 0;
  auto fits = [&](int seeds) {
    const std::size_t bytes = block_shared_bytes(c, seeds, 0);
    return bytes <= limits.per_block &&
           kGroupsPerSm * (bytes + limits.reserved_per_block) <= limits.per_sm;
  };
  int seeds = 1;
  while (seeds < kMaxGroupSeeds && fits(seeds + 1)) ++seeds;
  return seeds;
}

}  // namespace specsweep::strategy
