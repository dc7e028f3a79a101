#pragma once
// A cell's problem, resolved on the host in double: the target M = U diag(s) V^T, the optimum,
// and the record steps. Shared by every backend.
#include <cstdint>
#include <vector>

#include "config.hpp"
#include "core/factorization.hpp"

namespace specsweep {

struct Target {
  int m = 0, n = 0;
  // M's singular values, descending (length = rank of M): as configured, except for kind = "icl",
  // whose configured spectrum is the covariance's and whose M is the optimum Gamma^-1 Lambda.
  std::vector<double> spectrum;
  std::vector<double> M;  // m x n, row-major
  // kind = "icl" only (empty otherwise): the loss is 1/2 <W - M, A (W - M) B> with A = row_weight
  // = Gamma (m x m) and B = col_weight = Lambda (n x n).
  std::vector<double> row_weight, col_weight;
  // kind = "sensing" only (empty otherwise): the loss is 1/2 sum_i <A_i, W - M>^2 with the
  // measurements y_i = <A_i, M> of p = measurements sensing matrices A_i (m x n each, row-major,
  // concatenated), shared by the seeds of a cell (make_target).
  std::vector<double> sensing;
  int measurements = 0;
  // Orthonormal bases with basis_cols = max(rank M, min(r, m, n)) columns: the first rank(M) are
  // M's singular vectors; the rest complete them for spectral initialization when r > rank M.
  int basis_cols = 0;
  std::vector<double> U;   // m x basis_cols
  std::vector<double> Vb;  // n x basis_cols
  double norm2_half = 0;   // the loss of W = 0: 1/2 ||M||_F^2, weighted for icl and sensing
};

// Builds the target of a problem. A random basis is Haar (QR of a Gaussian from the target stream
// keyed by target.seed, sign-corrected); it depends only on (kind, target.seed, m, n, basis_cols),
// so cells that share those share the target. A symmetric problem's right basis is its left one.
// An icl problem's target is the optimum of the population loss (icl_target).
Target make_target(const ProblemConfig& problem);

// In-context linear regression (kind = "icl", docs/REFERENCE.md): tokens x_i ~ N(0, Lambda) in
// R^d, Lambda = Q diag(covariance) Q^T (Q: d x d orthogonal, row-major, its columns Lambda's
// eigenvectors), a task w ~ N(0, I_d), labels y_i = w^T x_i, and a linear attention whose
// prediction for the query is h^T W x_q with h = (1/N) sum_i y_i x_i over the N = context_length
// examples. The population loss E[(h^T W x_q - w^T x_q)^2] / 2 is
// 1/2 <W - W*, Gamma (W - W*) Lambda> + L* with Gamma = (1 + 1/N) Lambda^2 + (tr Lambda / N) Lambda
// (the Wishart second moment E[h h^T]) and W* = Gamma^-1 Lambda: M = W*, row_weight = Gamma,
// col_weight = Lambda. The engine's loss is the excess over L* (icl_irreducible_loss).
Target icl_target(const std::vector<double>& covariance, int context_length,
                  const std::vector<double>& Q);

// L* = 1/2 (tr Lambda - sum_i lambda_i^3 / gamma_i): the population loss at W*, which no W goes
// below (the prediction sees w only through N noisy examples).
double icl_irreducible_loss(const std::vector<double>& covariance, int context_length);

// The global minimum of 1/2||W - M||^2 + l2/2 sum ||F_k||^2 over depth-L factorizations of rank r
// (problem_optimum for any kind):
// per target mode, min_w 1/2 (s - w)^2 + (L l2 / 2) w^(2/L) for the r largest modes (the
// balanced factorization), plus 1/2 sum_{i>r} s_i^2. For L = 2 this is soft-thresholding,
// w = max(s - l2, 0). For W = X X^T (symmetric) the penalty l2/2 ||X||^2 is (l2 / 2) w per mode,
// the L = 2 cost at half the l2: w = max(s - l2/2, 0).
double optimum_loss(const std::vector<double>& spectrum, const Shape& shape, double l2);

// The global minimum of the engine's loss for a problem of any kind. For icl (l2 = 0), the weighted
// loss of W is 1/2 ||G (W - W*) L||^2 with G = Gamma^1/2, L = Lambda^1/2 (invertible, and diagonal
// in Lambda's eigenbasis), and rank W = rank G W L: Eckart-Young on G W* L, whose singular values
// are sqrt(gamma_i lambda_i) w*_i.
double problem_optimum(const ProblemConfig& problem);

// Optimal singular value w of one mode (see optimum_loss).
double optimal_mode_value(double s, int depth, double l2);

// Ascending record steps within [0, steps], always including 0 and steps.
std::vector<int> record_steps(const RecordConfig& record, int steps);

// Everything a backend needs to run seeds of one cell.
struct CellProblem {
  std::uint32_t cell = 0;
  Config config;
  Shape shape;
  Target target;
  int modes = 0;  // min(r, rank M)
  double optimum = 0;
  std::vector<int> record_steps;
};

CellProblem make_cell_problem(const Config& config, std::uint32_t cell);

// Work units and batches (host/driver.cpp). A unit is the resumable piece of work: seeds
// [u * unit_seeds, (u + 1) * unit_seeds) of one cell, written and marked done together. A batch is
// the units of one backend call, at most kBatchSeeds seeds and kBatchUnits units.
inline constexpr long kMaxUnitSeeds = 4096, kBatchSeeds = 4096, kBatchUnits = 256;
// Model FLOPs a unit is sized to: a second or so of one CPU thread, so that a kill loses little,
// yet each unit's write and flush is rare against its compute. A unit holds at least
// kMinUnitSeeds seeds (a full fp32 pack): it is also the seed chunk of the outcome datasets, and
// chunks of one or two seeds make files and their reading slow (a CPU batch holds two packs per
// thread anyway).
inline constexpr double kUnitFlops = 4e10;
inline constexpr long kMinUnitSeeds = 16;

// The cost of one seed's whole run in a cell, in the FLOP model's operations (bench/FLOP_MODEL.md):
// its steps, its basin probes' trajectories, and for a traced seed its record steps. Sizes work
// units and batches and weights the ETA; a model, not a measurement.
double seed_cost(const Config& cell, bool traced);

// Seeds per work unit, from the config alone, so that every rank and every resume splits the work
// the same way: as many seeds of the costliest cell as cost about kUnitFlops, a multiple of 16 (the
// widest SIMD pack), at least kMinUnitSeeds and at most kMaxUnitSeeds; run.seeds when fewer.
long unit_seeds(const std::vector<Config>& cells);

// EngineLayout(sh, op, modes, sharpness_iterations).total (kernels/core/trajectory.hpp) in 64 bits:
// the lane values one trajectory works in. The engine indexes them with int, so a shape whose count
// exceeds INT_MAX cannot run; the config refuses it.
long long engine_lane_values(const Shape& sh, const OptimizerParams& op, int modes,
                             int sharpness_iterations = 0);

// What a run needs besides its config, from the machine it runs on (host/main.cpp fills it).
struct FootprintParams {
  int threads = 1;  // CPU threads that each hold the engine's buffers; 0 when a GPU runs the seeds
  // Bytes of one lane value of the CPU backend in fp32 and fp64: a SIMD pack of seeds.
  int pack_bytes_fp32 = 4, pack_bytes_fp64 = 8;
};

// The memory and disk a run needs, estimated from its config before any work (bytes, as doubles so
// that no config can overflow them). Memory peaks either while computing a batch of work units
// (every CPU thread's buffers, the cells in flight, the batch's results) or while reading one
// cell's results back for its statistics; the experiment itself stays resident throughout.
struct RunFootprint {
  double thread_bytes = 0;   // one CPU thread's buffers (cpu_backend.cpp ThreadBuffers)
  double cell_bytes = 0;     // one cell in flight: its target and its plan in the working precision
  long cells_in_flight = 0;  // cells whose problems a batch holds at once
  double batch_bytes = 0;    // one batch's outcomes and traced-seed trajectories
  double finish_bytes = 0;   // one cell's outcomes, traces and target read back at the end
  double resident_bytes = 0;  // the experiment, the run file's layout and its chunk caches
  double memory_bytes = 0;    // the peak of all of the above
  double output_bytes = 0;    // the run file with its data uncompressed, and the summary CSV
};

RunFootprint estimate_footprint(const Experiment& experiment, const FootprintParams& params);

// What the machine offers a run (host/main.cpp reads it): 0 or less means "no limit known".
struct MachineLimits {
  double physical_memory = 0;  // RAM, or the cgroup's memory limit when lower
  double address_space = 0;    // RLIMIT_AS minus the address space already in use
  double thread_stack = 0;     // address space each thread's stack takes
  double free_disk = -1;  // free bytes in the output's directory; < 0: unknown (a full disk is 0)
};

// Throws InputError (exit 2) when the footprint cannot fit the machine, naming the config keys and
// options that size what does not fit.
void check_footprint(const RunFootprint& footprint, const FootprintParams& params,
                     const MachineLimits& limits);

}  // namespace specsweep
