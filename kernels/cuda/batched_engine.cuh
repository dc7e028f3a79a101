#pragma once
// The batched strategy on the GPU: strategy/batched.hpp's steps with a cuBLAS / cuSOLVER /
// Thrust / CUB executor (batched_engine.cu).
#include <vector>

#include "cuda/blas.cuh"
#include "strategy/task.hpp"

namespace specsweep::cuda {

// Runs the task's seeds (all of one cell) to the end and waits for the stream.
template <class T>
void run_batched(const strategy::CellParams<T>& cell, const strategy::SeedTask<T>& task,
                 const std::vector<int>& record_steps, const BlasHandle& blas,
                 const SolverHandle& solver, cudaStream_t stream);

}  // namespace specsweep::cuda
