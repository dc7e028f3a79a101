#pragma once
// The batched strategy on the GPU: strategy/batched.hpp's steps with a cuBLAS / cuSOLVER /
// Thrust / CUB executor (batched_engine.cu).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cuda/blas.cuh"
#include "strategy/task.hpp"

namespace specsweep::cuda {

// Device memory for the batched strategy's buffered record steps (strategy/batched.hpp): enough
// that a flush runs hundreds of threads at the shapes the strategy is chosen for, small beside
// the seeds' own buffers.
inline constexpr std::size_t kRecordBufferBytes = std::size_t(64) << 20;

// Runs the task's seeds (all of one cell, the sweep's cell `cell_number`, which messages name) to
// the end and waits for the stream. An allocation failure, of ours or a library's or Thrust's,
// is a DeviceOutOfMemory, which the backend retries in smaller chunks.
template <class T>
void run_batched(const strategy::CellParams<T>& cell, const strategy::SeedTask<T>& task,
                 std::uint32_t cell_number, const std::vector<int>& record_steps,
                 const BlasHandle& blas, const SolverHandle& solver, cudaStream_t stream);

}  // namespace specsweep::cuda
