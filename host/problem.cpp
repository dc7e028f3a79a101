#include "problem.hpp"

#include <algorithm>
#include <cmath>

#include "core/random.hpp"

namespace specsweep {

namespace {

// Haar-distributed rows x cols (rows >= cols) with orthonormal columns.
std::vector<double> haar_columns(int rows, int cols, const RandomStream& stream) {
  std::vector<double> g(static_cast<size_t>(rows) * cols), q(g.size()), r(cols * cols), tau(cols);
  for (size_t i = 0; i < g.size(); ++i) g[i] = stream.normal(i);
  householder_qr(rows, cols, g.data(), q.data(), r.data(), tau.data());
  for (int j = 0; j < cols; ++j) {
    if (r[j * cols + j] >= 0) continue;
    for (int i = 0; i < rows; ++i) q[i * cols + j] = -q[i * cols + j];
  }
  return q;
}

}  // namespace

Target make_target(const ProblemConfig& p) {
  Target t;
  t.m = p.m;
  t.n = p.n;
  t.spectrum = p.target.spectrum;
  const int k = static_cast<int>(t.spectrum.size());
  // At most min(m, n) orthonormal columns exist on both sides; spectral init pads with zeros beyond.
  t.basis_cols = std::max(k, std::min({p.rank, p.m, p.n}));
  const int b = t.basis_cols;
  if (p.target.basis == Basis::identity) {
    t.U.assign(static_cast<size_t>(p.m) * b, 0.0);
    t.Vb.assign(static_cast<size_t>(p.n) * b, 0.0);
    for (int j = 0; j < b; ++j) {
      t.U[j * b + j] = 1.0;
      t.Vb[j * b + j] = 1.0;
    }
  } else {
    t.U = haar_columns(p.m, b, RandomStream(p.target.seed, 0, 0, Purpose::target, 0));
    t.Vb = haar_columns(p.n, b, RandomStream(p.target.seed, 0, 0, Purpose::target, 1));
  }
  t.M.assign(static_cast<size_t>(p.m) * p.n, 0.0);
  for (int i = 0; i < p.m; ++i)
    for (int j = 0; j < p.n; ++j) {
      double acc = 0;
      for (int l = 0; l < k; ++l) acc += t.U[i * b + l] * t.spectrum[l] * t.Vb[j * b + l];
      t.M[static_cast<size_t>(i) * p.n + j] = acc;
    }
  double s2 = 0;
  for (double s : t.spectrum) s2 += s * s;
  t.norm2_half = 0.5 * s2;
  return t;
}

double optimal_mode_value(double s, int depth, double l2) {
  if (l2 == 0) return s;
  if (depth == 2) return std::max(s - l2, 0.0);
  // Non-convex in w for L > 2: compare w = 0 with the best stationary point on a fine grid refined
  // by golden-section search.
  const double L = depth;
  auto cost = [&](double w) { return 0.5 * (s - w) * (s - w) + 0.5 * L * l2 * std::pow(w, 2.0 / L); };
  const int grid = 4096;
  double best_w = 0, best = cost(0);
  for (int i = 1; i <= grid; ++i) {
    const double w = s * i / grid;
    if (cost(w) < best) best = cost(w), best_w = w;
  }
  double lo = std::max(0.0, best_w - s / grid), hi = std::min(s, best_w + s / grid);
  const double phi = 0.5 * (std::sqrt(5.0) - 1.0);
  for (int it = 0; it < 200; ++it) {
    const double a = hi - phi * (hi - lo), b = lo + phi * (hi - lo);
    if (cost(a) < cost(b)) hi = b;
    else lo = a;
  }
  const double w = 0.5 * (lo + hi);
  return cost(w) < cost(0) ? w : 0.0;
}

double optimum_loss(const std::vector<double>& spectrum, int r, int depth, double l2) {
  std::vector<double> s = spectrum;
  std::sort(s.begin(), s.end(), std::greater<>());
  double total = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (static_cast<int>(i) >= r) {
      total += 0.5 * s[i] * s[i];
      continue;
    }
    const double w = optimal_mode_value(s[i], depth, l2);
    total += 0.5 * (s[i] - w) * (s[i] - w) + 0.5 * depth * l2 * std::pow(w, 2.0 / depth);
  }
  return total;
}

std::vector<int> record_steps(const RecordConfig& rec, int steps) {
  std::vector<int> out;
  if (rec.points > 0) {
    for (int i = 0; i < rec.points; ++i) {
      const double f = rec.points == 1 ? 1.0 : double(i) / double(rec.points - 1);
      double v;
      if (rec.spacing == Spacing::log) v = std::expm1(f * std::log1p(double(steps)));
      else v = f * steps;
      out.push_back(std::clamp(static_cast<int>(std::lround(v)), 0, steps));
    }
  } else {
    for (int t = 0; t <= steps; t += rec.every) out.push_back(t);
  }
  out.push_back(0);
  out.push_back(steps);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

CellProblem make_cell_problem(const Config& config, std::uint32_t cell) {
  CellProblem cp;
  cp.cell = cell;
  cp.config = config;
  const ProblemConfig& p = config.problem;
  cp.shape = Shape{p.m, p.n, p.rank, p.depth};
  cp.target = make_target(p);
  cp.modes = std::min<int>(p.rank, static_cast<int>(p.target.spectrum.size()));
  cp.optimum = optimum_loss(p.target.spectrum, p.rank, p.depth, p.l2);
  cp.record_steps = record_steps(config.record, config.run.steps);
  return cp;
}

}  // namespace specsweep
