#pragma once
// The experiment configuration (DESIGN section 5), parsed strictly from TOML: unknown keys, wrong
// types and out-of-range values are InputErrors naming the key and its line.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/factorization.hpp"
#include "core/init.hpp"
#include "core/optimizer.hpp"

namespace specsweep {

enum class Basis { random, identity };
// problem.kind (DESIGN section 5). sensing is named by the contract and refused with exit 2 until
// its engine exists.
enum class ProblemKind { factorization, symmetric, icl, sensing };
enum class ScaleMode { absolute, fan };
enum class Precision { fp32, fp64 };
enum class Spacing { linear, log };

struct TargetConfig {
  std::vector<double> spectrum;  // resolved, descending order as given
  Basis basis = Basis::random;
  std::uint64_t seed = 0;
};

// Largest problem.rank, as a multiple of max(m, n): wide enough for overparameterized
// factorizations (Rhee et al.'s d/n = 4), while the r x r work of every step stays bounded.
inline constexpr int kMaxRankFactor = 8;

enum class SensingMatrices { gaussian, symmetric_gaussian };
// W = F1 F2 (product) or W = X X^T (symmetric, one n x r factor, M positive semidefinite).
enum class SensingFactor { product, symmetric };

// kind = "sensing" ([problem.sensing]): p measurements y_i = <A_i, M> with Gaussian A_i drawn from
// the target stream (host/problem.cpp add_sensing); 0 = the default 4 r (m + n), four times the
// degrees of freedom of a rank-r m x n matrix (about).
struct SensingConfig {
  int measurements = 0;
  SensingMatrices matrices = SensingMatrices::gaussian;
  SensingFactor factor = SensingFactor::product;
};

struct ProblemConfig {
  ProblemKind kind = ProblemKind::factorization;
  int m = 60, n = 70, rank = 5,
      depth = 2;  // rank r in [1, kMaxRankFactor * max(m, n)]; symmetric: m = n, depth 1
  double l2 = 0.0;
  // icl only: the examples N in each prompt (problem.context_length). Its target.spectrum is the
  // token covariance's eigenvalues, m = n = d, depth 2, l2 = 0 (host/problem.hpp icl_target).
  int context_length = 0;
  SensingConfig sensing;  // kind = "sensing" only
  TargetConfig target;
  Shape shape() const {
    return Shape{m,
                 n,
                 rank,
                 depth,
                 kind == ProblemKind::symmetric ||
                     (kind == ProblemKind::sensing && sensing.factor == SensingFactor::symmetric),
                 kind == ProblemKind::icl || kind == ProblemKind::sensing};
  }
};

struct InitConfig {
  std::vector<InitKind> factors;  // one per factor (depth entries)
  double scale = 1e-3;
  ScaleMode scale_mode = ScaleMode::absolute;
};

enum class NoiseScale { absolute, relative };

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::specgd;
  double lr = 0.01;
  OrthKind orthogonalizer = OrthKind::exact;
  std::string ns_preset = "jordan5";      // preset name, or "custom" for an explicit list
  std::vector<NsTriple> ns_coefficients;  // resolved triples
  int ns_steps = 5;
  double smooth_eps = 1e-6;
  double momentum = 0.95;
  bool nesterov = true;
  MomentumOrder momentum_order = MomentumOrder::pre_polar;
  ShapeScale shape_scale = ShapeScale::none;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  Integrator integrator = Integrator::step;
  Schedule schedule;  // schedule.lr mirrors lr; total_steps mirrors run.steps
  // Gaussian noise on every gradient (OptimizerParams::gradient_noise): the scale, and whether it
  // is absolute (per entry) or relative to each factor's ||G||_F.
  double gradient_noise = 0;
  NoiseScale gradient_noise_scale = NoiseScale::absolute;
};

struct RunConfig {
  int steps = 400;
  long seeds = 1024;
  std::uint64_t master_seed = 1;
  Precision precision = Precision::fp32;
  double blowup = 1e6;  // diverged once ||W||_F > blowup * max(1, ||M||_F)
};

struct RecordConfig {
  int every = 1;
  int points = 0;  // when > 0: this many record steps with `spacing`, instead of `every`
  Spacing spacing = Spacing::linear;
  int traced_seeds = 8;
  double hit_tolerance = 0.05;
  double loss_tolerance = 1e-6;
  double grad_tolerance = 1e-6;  // stalled: ||grad f||_F <= grad_tolerance * ||M||_F, not converged
  // Blocks of the block alignment score (/trace/block_alignment): a spectrum splits between
  // neighbouring singular values a >= b only when a > (1 + block_rtol) b and a - b > block_atol
  // (BlockTolerance). block_atol defaults to init.scale (differences at the scale of the
  // initialization carry no direction), block_atol_inner, for the inner score, to block_atol^2:
  // Rhee et al.'s alpha and alpha^2.
  double block_rtol = 0.08;
  double block_atol = 1e-3;
  double block_atol_inner = 1e-6;
  // The full r x r Delta1, Delta2 at record steps (/trace/delta1, delta2): K T r^2 values each,
  // 13 GB at Rhee's r = 512 with 64 traced seeds and 100 record steps, so only when asked for.
  // Their norms are always recorded.
  bool delta_matrices = false;
  // /outcome/window_loss averages loss / (1/2 ||M||^2) over the last loss_window steps (Rhee et
  // al.'s Fig 1c: 2, for Muon's period-2 oscillation above lr ~1.2).
  int loss_window = 1;
  // Lanczos steps for /trace/sharpness (the Hessian's largest eigenvalue) and
  // /trace/step_sharpness at record steps of traced seeds; 0 records neither. Each step is one
  // Hessian-vector product (~14 m n r FLOPs at depth 2).
  int sharpness_iterations = 0;
  // /trace/orth_error, orth_band_min, orth_band_max at record steps of traced seeds: how far the
  // orthogonalizer (specgd, muon) is from the exact polar factor of its own input, per factor. One
  // thin SVD per factor and record step; the batched GPU strategy hands such cells to the fused
  // one.
  bool orth_error = false;
};

// Basin probe (DESIGN section 3): for each converged seed, `probes` restarts from random points
// on the sphere around its final point with radius = distance from its initial point; 0 = off.
struct BasinConfig {
  int probes = 0;
};

struct Config {
  ProblemConfig problem;
  InitConfig init;
  OptimizerConfig optimizer;
  RunConfig run;
  RecordConfig record;
  BasinConfig basin;

  // The fully resolved configuration as TOML (every key, defaults included), written into the
  // output file so a run can be repeated from it alone.
  std::string to_toml() const;
  // The OptimizerParams the engine runs with.
  OptimizerParams optimizer_params() const;
};

// Parses TOML text (source_name is used in messages). `overrides` are "dotted.key=value" strings
// from --set, applied before validation, with values in TOML syntax ("0.1", "\"gd\"", "[1,2]"; a
// bare word is taken as a string). Throws InputError.
Config parse_config(const std::string& toml_text, const std::string& source_name,
                    const std::vector<std::string>& overrides = {});
// Reads and parses a file; an unreadable file is an InputError naming it.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// One [sweep] axis: a dotted config key and its values. Numeric axes (lists of numbers, linspace,
// logspace) keep the numbers; string and boolean axes keep their labels.
struct SweepAxis {
  std::string key;
  bool numeric = true;
  std::vector<double> numbers;      // numeric axes
  std::vector<std::string> labels;  // string/boolean axes: the value as written ("gd", "true")
  size_t size() const { return numeric ? numbers.size() : labels.size(); }
  // Numeric axes written as a list of TOML integers: the exact values (numbers holds them too, as
  // doubles), set into each cell as TOML integers so integer keys (run.master_seed) can be swept.
  bool integral = false;
  std::vector<long long> integers;
  // Non-numeric axes of TOML booleans (labels "true"/"false"); otherwise labels are strings.
  bool boolean = false;
};

// A run: the cells of the cartesian product of the sweep axes (the last axis varies fastest), each
// a fully validated Config. Without [sweep] there is one cell and no axes.
struct Experiment {
  std::vector<SweepAxis> axes;
  std::vector<Config> cells;
  // When an axis is a key inside problem.target.spectrum (e.g. its condition), the cells' spectra
  // are generated from the base's spectrum table, kept here as an inline TOML table for to_toml.
  std::string spectrum_form;
  // Index of cell c along each axis (mixed radix, the last axis fastest). Throws
  // std::out_of_range for a cell beyond the product of the axis lengths.
  std::vector<size_t> axis_indices(size_t cell) const;
  // The resolved experiment as TOML: every key whose resolved value is the same in all cells is
  // written explicitly (cell 0's resolved config); swept keys carry cell 0's value and are set per
  // cell by the [sweep] table, written with explicit value lists; a derived default that differs
  // between cells (optimizer.ns_steps following a swept preset, schedule keys of a swept schedule
  // kind) is left out so each cell derives it again; the spectrum is written as its base table
  // when an axis is inside it. parse_experiment of this text gives the same cells (same to_toml).
  std::string to_toml() const;
};

// Like parse_config, with an optional [sweep] table: each axis is "dotted.key" = [values] or
// { linspace = [a, b], count = N } or { logspace = [a, b], count = N } (a, b > 0). Axis keys must
// name scalar config keys that do not change the output's shape (problem.m, n, rank, depth,
// run.seeds, run.steps, record.* and the spectrum's count are rejected); every cell is validated
// and an error names the axis key and the offending value. Empty axes are errors.
// Axes are taken in the order written in the file (first outermost); values are all numbers, all
// strings or all booleans, finite; a list of TOML integers is set into the cells as integers. The
// rest of the document, after `overrides`, is the base of every cell; a --set of a swept key is an
// error. At most 1,000,000 cells.
// Keys of the resolved config that no cell of the experiment uses, so their values change
// nothing (optimizer.momentum when no cell runs Muon, say), grouped by what would use them:
// {"optimizer.momentum, optimizer.nesterov, optimizer.momentum_order, optimizer.shape_scale",
// "optimizer.kind = \"muon\""}.
struct UnusedKeys {
  std::string keys, used_by;
};
std::vector<UnusedKeys> unused_keys(const Experiment& experiment);

Experiment parse_experiment(const std::string& toml_text, const std::string& source_name,
                            const std::vector<std::string>& overrides = {});
Experiment load_experiment(const std::string& path, const std::vector<std::string>& overrides = {});

// Named Newton–Schulz presets: cubic, jordan5, polar_express, you6. Empty if unknown.
std::vector<NsTriple> ns_preset(const std::string& name);
// The pre-scaling divisor of ||X||_F for a preset (1.01 for polar_express, else 1).
double ns_norm_scale(const std::string& name);

}  // namespace specsweep
