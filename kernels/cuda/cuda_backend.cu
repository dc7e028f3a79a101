// The CUDA backend. Each work item runs under one of three strategies (DESIGN section 8):
// - fused (strategy/fused.hpp, launched by seed_kernel.cuh): one thread per seed runs its whole
//   trajectory in one launch; seeds of many cells share a launch. Every cell can run this way.
// - batched (strategy/batched.hpp, on the GPU by batched_engine.cu): for large depth-2 problems,
//   the seeds of one cell advance in lockstep with cuBLAS GEMMs over all of them.
// - block (strategy/block.hpp, block_engine.cuh): for small depth-2 problems, a thread block runs
//   the same lockstep steps for a group of seeds from start to end in shared memory.
// choose_strategy (plan/strategy_choice.hpp) is the cost model that picks one per cell;
// BackendOptions can force one.
// Work is cut into chunks that fit the device memory; after each chunk one copy brings back the
// outcomes and traces, which the host turns into SeedOutcomes and SeedTraces with the same code as
// the CPU backend (strategy/task_results.hpp).
#include <algorithm>
#include <cstdio>
#include <memory>
#include <utility>
#include <vector>

#include "cuda/batched_engine.cuh"
#include "cuda/block_engine.cuh"
#include "cuda/cuda_backend.hpp"
#include "cuda/device_buffer.cuh"
#include "cuda/seed_kernel.cuh"
#include "plan/launch_chunks.hpp"
#include "plan/strategy_choice.hpp"
#include "strategy/batched.hpp"
#include "strategy/task_results.hpp"

namespace specsweep {

namespace {

using cuda::DeviceBuffer;
using strategy::CellParams;
using strategy::kWarp;
using strategy::SeedTask;

// Fraction of the free device memory one chunk may use (for batched chunks also of the total,
// see ItemRunner::run); the rest is headroom for the runtime and fragmentation.
constexpr double kMemoryShare = 0.6;
// Device memory the libraries allocate for themselves beyond what a chunk's arrays hold: cuBLAS's
// workspace (32 MiB per handle on Hopper) and cuSOLVER's eigensolver workspace, which grows with
// the batch. Counted from the free memory before the share; an estimate that an allocation failure
// corrects (LaunchPlanner::retry_smaller).
constexpr std::size_t kLibraryReserveBytes = std::size_t(256) << 20;
// Largest chunk, in seeds: beyond this a launch is long enough that cancellation between chunks
// would lag, and no device needs more threads in flight.
constexpr long kMaxChunkSeeds = 1L << 20;

long warps_for(long seeds) {
  return (seeds + kWarp - 1) / kWarp;
}

// A cell's plan on the host and its arrays on the device, alive for one run() call.
template <class T>
struct DevicePlan {
  CellPlan<T> host;
  DeviceBuffer<T> M, U, Vb, s, row_weight, col_weight, sensing;
  DeviceBuffer<double> basis_U, basis_V;
  DeviceBuffer<int> record_steps;
  CellParams<T> cell;

  int group_seeds;  // of the block strategy (0: a seed does not fit a block's shared memory)
  std::size_t group_shared_bytes;

  DevicePlan(const CellProblem& cp, const strategy::SharedMemoryLimits& shared, cudaStream_t stream)
      : host(cp),
        M(host.M, stream),
        U(host.U, stream),
        Vb(host.Vb, stream),
        s(host.s, stream),
        row_weight(host.row_weight, stream),
        col_weight(host.col_weight, stream),
        sensing(host.sensing, stream),
        basis_U(host.basis_U, stream),
        basis_V(host.basis_V, stream),
        record_steps(cp.record_steps, stream),
        cell(strategy::make_cell_params(
            host,
            host.target_over(M.data(), U.data(), Vb.data(), s.data(), row_weight.data(),
                             col_weight.data(), sensing.data()),
            SpectralBasis{basis_U.data(), basis_V.data()}, record_steps.data())),
        group_seeds(strategy::block_group_seeds(cell, shared)),
        group_shared_bytes(group_seeds > 0 ? strategy::block_shared_bytes(cell, group_seeds, 0)
                                           : 0) {}

  int outcome_width() const { return strategy::OutcomeSlots{cell.target.modes}.width(); }
  int record_width() const {
    return packed_record_width(cell.shape.r, cell.shape.depth, cell.rp.delta_matrices);
  }
  GpuStrategy strategy(const BackendOptions& options) const {
    return choose_strategy(cell, group_seeds, options.gpu_strategy);
  }
  // T values per seed of the task's arena under a strategy.
  int arena_width(GpuStrategy s) const {
    return s == GpuStrategy::fused ? cell.layout.total : strategy::batched_arena_width(cell);
  }
  // Device bytes one seed needs: the task's interleaved arrays, and the batched engine's buffers.
  std::size_t bytes_per_seed(GpuStrategy s) const {
    std::size_t bytes =
        sizeof(T) * (arena_width(s) + outcome_width() + strategy::keep_width(cell)) +
        sizeof(double) * strategy::init_width(cell);
    if (s == GpuStrategy::batched) bytes += strategy::batched_bytes_per_seed(cell);
    return bytes;
  }
  // Device bytes of one traced seed's plain arrays.
  std::size_t bytes_per_traced_seed() const {
    const std::size_t params = cell.layout.params;
    return sizeof(T) * (cell.rp.record_count * record_width() + params) + sizeof(double) * params;
  }
};

// Offsets of one piece's arrays within the chunk's buffers, in elements.
struct PieceOffsets {
  std::size_t arena, init, outcome, keep, traces, init_factors, final_factors;
  long traced_first, traced_count;
};

// cuBLAS and cuSOLVER handles, made when the batched strategy first needs them (creating them
// costs a noticeable fraction of a second).
class Libraries {
 public:
  const cuda::BlasHandle& blas(const cuda::Stream& stream) {
    if (!blas_) blas_ = std::make_unique<cuda::BlasHandle>(stream.get());
    return *blas_;
  }
  const cuda::SolverHandle& solver(const cuda::Stream& stream) {
    if (!solver_) solver_ = std::make_unique<cuda::SolverHandle>(stream.get());
    return *solver_;
  }

 private:
  std::unique_ptr<cuda::BlasHandle> blas_;
  std::unique_ptr<cuda::SolverHandle> solver_;
};

template <class T>
class ItemRunner {
 public:
  ItemRunner(const std::vector<const WorkItem*>& items, const BackendOptions& options,
             const strategy::SharedMemoryLimits& shared, const cuda::Stream& stream,
             Libraries& libraries)
      : items_(items), options_(options), stream_(stream), libraries_(libraries) {
    int device = 0;
    SPECSWEEP_CUDA_CHECK(cudaGetDevice(&device));
    plans_.reserve(items.size());
    for (const WorkItem* w : items)
      plans_.push_back(std::make_unique<DevicePlan<T>>(*w->problem, shared, stream.get()));
    for (const auto& p : plans_) cells_host_.push_back(p->cell);
    cells_ = DeviceBuffer<CellParams<T>>(cells_host_, stream.get());
    // The runtime sizes a kernel's local memory (its per-thread stack) for every thread the device
    // can hold, whatever the grid: the larger of the two kernels' is reserved.
    cudaFuncAttributes fused{}, block{};
    SPECSWEEP_CUDA_CHECK(cudaFuncGetAttributes(&fused, cuda::seed_kernel<T>));
    SPECSWEEP_CUDA_CHECK(cudaFuncGetAttributes(&block, cuda::block_kernel<T>));
    const std::size_t local_bytes = std::max(fused.localSizeBytes, block.localSizeBytes);
    int per_sm = 0, sms = 0;
    SPECSWEEP_CUDA_CHECK(
        cudaDeviceGetAttribute(&per_sm, cudaDevAttrMaxThreadsPerMultiProcessor, device));
    SPECSWEEP_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    kernel_local_bytes_ = local_bytes * std::size_t(per_sm) * std::size_t(sms);
  }

  // Cuts the items into chunks that fit the memory free at each chunk's start and runs them; a
  // chunk whose allocations fail (another process took the memory meanwhile) runs again smaller.
  // The fused kernel computes each seed alone, so how its seeds are cut changes no result. A
  // batched run multiplies all its seeds in one GEMM, whose rounding may depend on how many there
  // are, so its chunks are also bounded by a share of the total memory: a seed's bits then depend
  // on the device class and the work unit only, unless the free memory is smaller than that.
  void run() {
    std::size_t free_bytes = 0, total_bytes = 0;
    SPECSWEEP_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    std::vector<ChunkItem> chunk_items;
    for (int it = 0; it < static_cast<int>(items_.size()); ++it) {
      const DevicePlan<T>& plan = *plans_[it];
      const GpuStrategy strategy = plan.strategy(options_);
      const SeedTraces& traces = *items_[it]->traces;
      ChunkItem c;
      c.strategy = static_cast<int>(strategy);
      c.solo = strategy != GpuStrategy::fused;
      if (strategy == GpuStrategy::block) c.piece_seeds = plan.group_seeds;
      c.first_seed = items_[it]->first_seed;
      c.count = items_[it]->count;
      c.traced_first = traces.first_seed;
      c.traced_count = traces.count;
      c.bytes_per_seed = plan.bytes_per_seed(strategy);
      c.bytes_per_traced_seed = plan.bytes_per_traced_seed();
      if (strategy == GpuStrategy::batched) {
        c.bytes_per_chunk =
            strategy::batched_record_bytes(plan.cell, traces.count, cuda::kRecordBufferBytes);
        if (options_.device_memory == 0)
          c.max_chunk_bytes = static_cast<std::size_t>(kMemoryShare * double(total_bytes));
      }
      chunk_items.push_back(c);
    }
    LaunchPlanner planner(std::move(chunk_items),
                          options_.max_chunk_seeds > 0 ? options_.max_chunk_seeds : kMaxChunkSeeds);
    for (bool warned = false;;) {
      const LaunchChunk chunk = planner.next(chunk_budget());
      if (chunk.empty()) return;
      try {
        execute(chunk);
      } catch (const cuda::DeviceOutOfMemory& e) {
        try {
          planner.retry_smaller();
        } catch (const RuntimeFailure& gave_up) {
          throw RuntimeFailure(std::string("CUDA backend: ") + gave_up.what() + " (" + e.what() +
                               ")");
        }
        if (!std::exchange(warned, true))
          std::fprintf(stderr,
                       "specsweep: a device allocation failed (%s); running those seeds again in "
                       "smaller chunks\n",
                       e.what());
      }
    }
  }

 private:
  // Bytes the next chunk may use: a share of the memory free now, less the libraries' reserve and
  // the local memory the kernels hold for every thread the device can run at once.
  std::size_t chunk_budget() const {
    if (options_.device_memory > 0) return options_.device_memory;
    std::size_t free_bytes = 0, total_bytes = 0;
    SPECSWEEP_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    const std::size_t reserved = kLibraryReserveBytes + kernel_local_bytes_;
    return free_bytes > reserved
               ? static_cast<std::size_t>(kMemoryShare * double(free_bytes - reserved))
               : 0;
  }

  long traced_in(int it, long first, long count) const {
    const SeedTraces& t = *items_[it]->traces;
    return seeds_in_range(first, count, t.first_seed, t.count);
  }

  void execute(const LaunchChunk& launch) {
    if (options_.cancel != nullptr && options_.cancel->load()) throw Cancelled();
    const std::vector<ChunkPiece>& chunk = launch.pieces;
    const auto strategy = static_cast<GpuStrategy>(launch.strategy);
    std::vector<PieceOffsets> offsets;
    std::vector<SeedTask<T>> tasks;
    PieceOffsets at{};
    long warp = 0;
    for (const ChunkPiece& p : chunk) {
      const DevicePlan<T>& plan = *plans_[p.item];
      const CellParams<T>& c = plan.cell;
      const long seeds = warps_for(p.count) * kWarp;
      const SeedTraces& t = *items_[p.item]->traces;
      PieceOffsets o = at;
      o.traced_count = traced_in(p.item, p.first, p.count);
      o.traced_first = std::max(p.first, t.first_seed);
      offsets.push_back(o);
      SeedTask<T> task{};
      task.cell = p.item;
      task.first_seed = p.first;
      task.count = p.count;
      task.first_warp = warp;
      task.traced_first = o.traced_first;
      task.traced_count = o.traced_count;
      tasks.push_back(task);
      at.arena += seeds * plan.arena_width(strategy);
      at.init += seeds * strategy::init_width(c);
      at.outcome += seeds * plan.outcome_width();
      at.keep += seeds * strategy::keep_width(c);
      at.traces += o.traced_count * c.rp.record_count * plan.record_width();
      at.init_factors += o.traced_count * c.layout.params;
      at.final_factors += o.traced_count * c.layout.params;
      warp += warps_for(p.count);
    }
    DeviceBuffer<T> arena(at.arena), outcome(at.outcome), keep(at.keep), traces(at.traces),
        final_factors(at.final_factors);
    DeviceBuffer<double> init(at.init), init_factors(at.init_factors);
    for (size_t k = 0; k < tasks.size(); ++k) {
      const PieceOffsets& o = offsets[k];
      tasks[k].arena = arena.data() + o.arena;
      tasks[k].init = init.data() + o.init;
      tasks[k].outcome = outcome.data() + o.outcome;
      tasks[k].keep = keep.data() + o.keep;
      tasks[k].traces = traces.data() + o.traces;
      tasks[k].init_factors = init_factors.data() + o.init_factors;
      tasks[k].final_factors = final_factors.data() + o.final_factors;
    }
    const DeviceBuffer<SeedTask<T>> device_tasks(tasks, stream_.get());
    if (strategy == GpuStrategy::fused) {
      const long threads = warp * kWarp;
      const long blocks = (threads + cuda::kBlockThreads - 1) / cuda::kBlockThreads;
      cuda::seed_kernel<T>
          <<<static_cast<unsigned>(blocks), cuda::kBlockThreads, 0, stream_.get()>>>(
              cells_.data(), device_tasks.data(), static_cast<int>(tasks.size()));
      SPECSWEEP_CUDA_CHECK_LAUNCH();
    } else if (strategy == GpuStrategy::block) {
      // One block per group; the chunk holds one cell's groups.
      const int item = chunk.front().item;
      const std::size_t shared = plans_[item]->group_shared_bytes;
      SPECSWEEP_CUDA_CHECK(cudaFuncSetAttribute(cuda::block_kernel<T>,
                                                cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                static_cast<int>(shared)));
      cuda::block_kernel<T><<<static_cast<unsigned>(tasks.size()), strategy::kBlockStrategyThreads,
                              shared, stream_.get()>>>(cells_.data() + item, device_tasks.data());
      SPECSWEEP_CUDA_CHECK_LAUNCH();
    } else {
      const DevicePlan<T>& plan = *plans_[chunk.front().item];
      cuda::run_batched(plan.cell, tasks.front(), plan.host.cp->cell, plan.host.cp->record_steps,
                        libraries_.blas(stream_), libraries_.solver(stream_), stream_.get());
    }

    std::vector<T> outcome_host, traces_host, final_host;
    std::vector<double> init_host;
    outcome.download(outcome_host, at.outcome, stream_.get());
    traces.download(traces_host, at.traces, stream_.get());
    final_factors.download(final_host, at.final_factors, stream_.get());
    init_factors.download(init_host, at.init_factors, stream_.get());
    stream_.synchronize();
    for (size_t k = 0; k < chunk.size(); ++k) {
      const PieceOffsets& o = offsets[k];
      const DevicePlan<T>& plan = *plans_[chunk[k].item];
      const strategy::TaskResults<T> results{
          outcome_host.data() + o.outcome, traces_host.data() + o.traces,
          init_host.data() + o.init_factors, final_host.data() + o.final_factors};
      strategy::store_task_results(plan.host, plan.cell, tasks[k], results, *items_[chunk[k].item]);
    }
  }

  const std::vector<const WorkItem*>& items_;
  const BackendOptions& options_;
  const cuda::Stream& stream_;
  Libraries& libraries_;
  std::vector<std::unique_ptr<DevicePlan<T>>> plans_;
  std::vector<CellParams<T>> cells_host_;
  DeviceBuffer<CellParams<T>> cells_;
  std::size_t kernel_local_bytes_ = 0;
};

// The shared memory the current device gives a block and an SM, which sizes the block
// strategy's groups.
strategy::SharedMemoryLimits device_shared_memory_limits() {
  int device = 0, per_block = 0, per_sm = 0, reserved = 0;
  SPECSWEEP_CUDA_CHECK(cudaGetDevice(&device));
  SPECSWEEP_CUDA_CHECK(
      cudaDeviceGetAttribute(&per_block, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  SPECSWEEP_CUDA_CHECK(
      cudaDeviceGetAttribute(&per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device));
  SPECSWEEP_CUDA_CHECK(
      cudaDeviceGetAttribute(&reserved, cudaDevAttrReservedSharedMemoryPerBlock, device));
  return {std::size_t(per_block), std::size_t(per_sm), std::size_t(reserved)};
}

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const BackendOptions& options) : options_(options) {
    int count = 0;
    SPECSWEEP_CUDA_CHECK(cudaGetDeviceCount(&count));
    SPECSWEEP_CUDA_CHECK(cudaSetDevice(options.local_rank % count));
    shared_ = device_shared_memory_limits();
    stream_ = std::make_unique<cuda::Stream>();
  }
  std::string name() const override { return "cuda"; }
  void run(const std::vector<WorkItem>& items) override {
    std::vector<const WorkItem*> fp32, fp64;
    for (const WorkItem& w : items)
      (w.problem->config.run.precision == Precision::fp64 ? fp64 : fp32).push_back(&w);
    if (!fp32.empty()) ItemRunner<float>(fp32, options_, shared_, *stream_, libraries_).run();
    if (!fp64.empty()) ItemRunner<double>(fp64, options_, shared_, *stream_, libraries_).run();
  }
  std::string strategy_for(const CellProblem& cp) const override {
    return gpu_strategy_name(cp.config.run.precision == Precision::fp64 ? chosen<double>(cp)
                                                                        : chosen<float>(cp));
  }

 private:
  // run()'s choice for the cell: the same plan's parameters, without its device arrays (the
  // choice reads shapes and options only).
  template <class T>
  GpuStrategy chosen(const CellProblem& cp) const {
    const CellPlan<T> plan(cp);
    const CellParams<T> cell =
        strategy::make_cell_params(plan, plan.target(), plan.basis(), cp.record_steps.data());
    return choose_strategy(cell, strategy::block_group_seeds(cell, shared_), options_.gpu_strategy);
  }

  BackendOptions options_;
  strategy::SharedMemoryLimits shared_;
  std::unique_ptr<cuda::Stream> stream_;
  Libraries libraries_;
};

}  // namespace

std::string cuda_unavailable_reason() {
  int count = 0;
  const cudaError_t probe = cudaGetDeviceCount(&count);
  if (probe == cudaSuccess && count > 0) return "";
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);  // 0 when no driver is installed
  cudaRuntimeGetVersion(&runtime);
  auto version = [](int v) {
    return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
  };
  const std::string versions = (driver == 0 ? " (no CUDA driver is installed"
                                            : " (the driver supports CUDA " + version(driver)) +
                               ", this binary needs CUDA " + version(runtime) + ")";
  if (probe != cudaSuccess)
    return std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(probe) + ": " +
           cudaGetErrorString(probe) + versions;
  return "no CUDA device is visible" + versions;
}

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& options) {
  if (const std::string why = cuda_unavailable_reason(); !why.empty())
    throw RuntimeFailure("CUDA backend: " + why);
  return std::make_unique<CudaBackend>(options);
}

}  // namespace specsweep
