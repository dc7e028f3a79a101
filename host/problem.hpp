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
  std::vector<double> spectrum;  // as configured (length = rank of M)
  std::vector<double> M;         // m x n, row-major
  // Orthonormal bases with basis_cols = max(rank M, min(r, m, n)) columns: the first rank(M) are
  // M's singular vectors; the rest complete them for spectral initialization when r > rank M.
  int basis_cols = 0;
  std::vector<double> U;   // m x basis_cols
  std::vector<double> Vb;  // n x basis_cols
  double norm2_half = 0;   // 1/2 ||M||_F^2
};

// Builds the target of a problem. A random basis is Haar (QR of a Gaussian from the target stream
// keyed by target.seed, sign-corrected); it depends only on (target.seed, m, n, basis_cols), so
// cells that share those share the target.
Target make_target(const ProblemConfig& problem);

// The global minimum of 1/2||W - M||^2 + l2/2 sum ||F_k||^2 over depth-L factorizations of rank r:
// per target mode, min_w 1/2 (s - w)^2 + (L l2 / 2) w^(2/L) for the r largest modes (the
// balanced factorization), plus 1/2 sum_{i>r} s_i^2. For L = 2 this is soft-thresholding,
// w = max(s - l2, 0).
double optimum_loss(const std::vector<double>& spectrum, int r, int depth, double l2);

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

}  // namespace specsweep
