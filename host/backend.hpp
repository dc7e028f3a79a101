#pragma once
// The backend interface (DESIGN section 8): run a block of seeds of one cell and return their
// per-seed outcomes and the traces of the traced seeds among them. Backends register by name;
// the CPU backend is always built and is the oracle the others are tested against.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "problem.hpp"

namespace specsweep {

enum class Status : std::int8_t { converged = 0, stalled = 1, diverged = 2, unconverged = 3 };
// Indexed by Status: reports, the summary's status axis and its coordinate in the run file.
inline constexpr std::array<const char*, 4> kStatusNames = {"converged", "stalled", "diverged",
                                                            "unconverged"};

// Outcomes of seeds [first_seed, first_seed + count) of one cell; per-mode arrays are count x r
// (entries beyond min(r, rank M) stay -1).
struct SeedOutcomes {
  long first_seed = 0;
  long count = 0;
  int r = 0;
  std::vector<std::int8_t> status;
  std::vector<double> final_loss, excess, final_grad_norm, uniformity_cv, order_kendall;
  // Mean of loss / (1/2 ||M||^2) over the last record.loss_window steps; NaN if diverged.
  std::vector<double> window_loss;
  // With record.sharpness_iterations: lambda_max of the Hessian at the last iterate, and times the
  // last step's learning rate (GD is stable near a minimum while it is below 2); NaN otherwise and
  // for diverged seeds.
  std::vector<double> final_sharpness, final_lr_sharpness;
  // ||W - M||_F / ||M||_F at the last iterate (matrix sensing's recovery error).
  std::vector<double> recovery_error;
  std::vector<std::int32_t> steps_to_tol;
  std::vector<std::int32_t> hit_step;  // count x r, -1 never
  // Basin probe (config.basin.probes > 0): per converged seed, the fraction of its probes that
  // converged to a global minimum and the fraction that ended closer to its final point than they
  // started; NaN for seeds that did not converge or when the probe is off.
  std::vector<double> basin_converged, basin_closer;
  // sign det(W) of the initial factors (+1, -1; 0 if singular) when m = n = r, else NaN.
  std::vector<double> init_det_sign;

  void resize(long first, long n, int rank);
};

// Visits every per-seed array of SeedOutcomes as f(name, array, values per seed), in the order of
// the /outcome datasets (named alike): one list serves allocation, the run file and the messages
// between MPI ranks.
template <class Outcomes, class F>
void for_each_outcome_array(Outcomes& o, F&& f) {
  f("status", o.status, 1);
  f("final_loss", o.final_loss, 1);
  f("excess", o.excess, 1);
  f("final_grad_norm", o.final_grad_norm, 1);
  f("window_loss", o.window_loss, 1);
  f("final_sharpness", o.final_sharpness, 1);
  f("final_lr_sharpness", o.final_lr_sharpness, 1);
  f("recovery_error", o.recovery_error, 1);
  f("uniformity_cv", o.uniformity_cv, 1);
  f("order_kendall", o.order_kendall, 1);
  f("basin_converged", o.basin_converged, 1);
  f("basin_closer", o.basin_closer, 1);
  f("init_det_sign", o.init_det_sign, 1);
  f("steps_to_tol", o.steps_to_tol, 1);
  f("hit_step", o.hit_step, o.r);
}

// Record-step traces of the traced seeds [first_seed, first_seed + count): arrays are
// count x T x ... (T = number of record steps). Depth-2 quantities (delta*, block_alignment) are
// NaN otherwise; core_diag entries beyond the target's modes are NaN.
struct SeedTraces {
  long first_seed = 0;
  long count = 0;
  int steps = 0;  // T
  int r = 0, depth = 0;
  std::vector<double> loss, recovery_error, alignment, effective_rank, spectral_entropy,
      delta1_norm, delta2_norm;  // count x T
  std::vector<double> sharpness,
      step_sharpness;                 // count x T, NaN without record.sharpness_iterations
  std::vector<double> sv, core_diag;  // count x T x r
  std::vector<double> factor_norm;    // count x T x depth
  // count x T x depth, NaN without record.orth_error
  std::vector<double> orth_error, orth_band_min, orth_band_max;
  std::vector<double> block_alignment;  // count x T x 3: left, right, inner
  std::vector<double> delta1, delta2;   // count x T x r x r with record.delta_matrices, else empty
  bool delta_matrices = false;
  std::vector<std::vector<double>> init_factors, final_factors;  // [depth] count x rows x cols

  void resize(long first, long n, const CellProblem& cp);
  // Sized for the traced ones among seeds [first, first + seeds) of the cell (its first
  // record.traced_seeds seeds): the traces that go with those seeds' outcomes.
  void resize_for_seeds(long first, long seeds, const CellProblem& cp);
};

// Visits every per-record-step array of SeedTraces as f(name, array, values per seed and step)
// (the initial and final factors are separate).
template <class Traces, class F>
void for_each_trace_array(Traces& t, F&& f) {
  f("loss", t.loss, 1);
  f("recovery_error", t.recovery_error, 1);
  f("alignment", t.alignment, 1);
  f("effective_rank", t.effective_rank, 1);
  f("spectral_entropy", t.spectral_entropy, 1);
  f("delta1_norm", t.delta1_norm, 1);
  f("delta2_norm", t.delta2_norm, 1);
  f("sharpness", t.sharpness, 1);
  f("step_sharpness", t.step_sharpness, 1);
  f("sv", t.sv, t.r);
  f("core_diag", t.core_diag, t.r);
  f("factor_norm", t.factor_norm, t.depth);
  f("orth_error", t.orth_error, t.depth);
  f("orth_band_min", t.orth_band_min, t.depth);
  f("orth_band_max", t.orth_band_max, t.depth);
  f("block_alignment", t.block_alignment, 3);
  f("delta1", t.delta1, t.delta_matrices ? t.r * t.r : 0);
  f("delta2", t.delta2, t.delta_matrices ? t.r * t.r : 0);
}

// The status of a finished seed (DESIGN section 3), in order: diverged, converged, stalled,
// unconverged. relative_grad_norm is the final ||grad f||_F / ||M||_F.
Status classify(bool diverged, double excess, double relative_grad_norm, const CellProblem& cp);

// One piece of work: seeds [first_seed, first_seed + count) of one cell, with where their results
// go. traces covers the traced seeds in that range (possibly none).
struct WorkItem {
  const CellProblem* problem = nullptr;
  long first_seed = 0;
  long count = 0;
  SeedOutcomes* outcomes = nullptr;
  SeedTraces* traces = nullptr;
};

// Thrown by a backend that stopped early because its cancellation flag was raised; the items of
// that call have no valid results.
class Cancelled : public std::runtime_error {
 public:
  Cancelled() : std::runtime_error("cancelled") {}
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Runs every item; items may belong to different cells and share the device or threads, so many
  // small cells keep every core busy.
  virtual void run(const std::vector<WorkItem>& items) = 0;
  // The fewest seeds one call needs to keep the backend's threads or device busy; the driver's
  // batches, sized by time, never take fewer when there are more to run.
  virtual long min_call_seeds() const { return 1; }
  // The strategy this backend computes the cell with, where it has several (the CUDA backend:
  // "fused", "batched" or "block", by its cost model or as forced); "" where it has one way.
  // Reports and benchmarks print it, so that a number is never credited to a strategy that did
  // not run.
  virtual std::string strategy_for(const CellProblem&) const { return ""; }
  // Convenience: one item.
  void run(const CellProblem& cp, long first_seed, long count, SeedOutcomes& outcomes,
           SeedTraces& traces) {
    run({WorkItem{&cp, first_seed, count, &outcomes, &traces}});
  }
};

struct BackendOptions {
  int threads = 0;  // 0: the runtime's default
  // The node-local rank under MPI (0 otherwise): a GPU backend uses device local_rank % count, so
  // one rank per GPU works whether each rank sees one device (Slurm --gpus-per-task) or all.
  int local_rank = 0;
  // When set and raised (e.g. by SIGINT), a backend abandons its call as soon as it can and throws
  // Cancelled.
  const std::atomic<bool>* cancel = nullptr;
  // Device memory one launch may use, in bytes (a GPU backend); 0: a share of the free memory.
  // Results do not depend on it (tests force many small launches with it).
  std::size_t device_memory = 0;
  // The strategy a GPU backend runs each cell with (DESIGN section 8): chosen per cell by the
  // backend's cost model (automatic), or one forced wherever it computes the cell, the fused one
  // elsewhere (it computes every cell). Tests and benchmarks force each.
  enum class GpuStrategy { automatic, fused, batched, block };
  GpuStrategy gpu_strategy = GpuStrategy::automatic;
  // The most seeds a GPU backend runs in one chunk (one launch, or one batched run); 0: its
  // default. Tests set one warp, so that a cell's seeds, traced ones among them, span chunks.
  long max_chunk_seeds = 0;
};

// The GPU strategies by name, as command lines and reports spell them ("auto" for automatic).
std::string gpu_strategy_name(BackendOptions::GpuStrategy strategy);
// Throws InputError naming `option` for an unknown name.
BackendOptions::GpuStrategy gpu_strategy_named(const std::string& name, const std::string& option);

// The registry (host/backend_registry.cpp): the backends compiled into this binary, in order of
// preference. A backend that is built but cannot run here (no device) is not "available".
std::vector<std::string> built_backends();
bool backend_available(const std::string& name);
// Why `name` cannot run in this process, in words a user can act on ("" when it can): not built,
// or the device probe's error (for CUDA: the error's name, and the driver and runtime versions).
std::string backend_unavailable_reason(const std::string& name);
// "auto" picks the first available of cuda, cpu. Throws InputError for unknown names and
// RuntimeFailure for a known backend that cannot run here.
std::unique_ptr<Backend> make_backend(const std::string& name, const BackendOptions& options);

}  // namespace specsweep
