#include "problem.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "backend.hpp"
#include "core/metrics.hpp"
#include "core/random.hpp"
#include "core/trajectory.hpp"
#include "errors.hpp"
#include "flop_model.hpp"

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

namespace {

std::vector<double> icl_gamma(const std::vector<double>& lambda, int context_length) {
  const double N = context_length;
  double trace = 0;
  for (double l : lambda) trace += l;
  std::vector<double> gamma;
  for (double l : lambda) gamma.push_back((1 + 1 / N) * l * l + trace / N * l);
  return gamma;
}

}  // namespace

Target icl_target(const std::vector<double>& lambda, int context_length,
                  const std::vector<double>& Q) {
  const int d = static_cast<int>(lambda.size());
  const std::vector<double> gamma = icl_gamma(lambda, context_length);
  Target t;
  t.m = t.n = d;
  // W*'s eigenvalues lambda_i / gamma_i = 1 / ((1 + 1/N) lambda_i + tr Lambda / N) fall as lambda_i
  // grows: its singular values in descending order are those of the smallest lambda first.
  std::vector<int> order(static_cast<size_t>(d));
  for (int i = 0; i < d; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return lambda[a] / gamma[a] > lambda[b] / gamma[b]; });
  t.basis_cols = d;
  t.U.assign(static_cast<size_t>(d) * d, 0.0);
  for (int j = 0; j < d; ++j) {
    const int k = order[j];
    const double w = lambda[k] / gamma[k];
    t.spectrum.push_back(w);
    for (int i = 0; i < d; ++i)
      t.U[static_cast<size_t>(i) * d + j] = Q[static_cast<size_t>(i) * d + k];
    t.norm2_half += 0.5 * gamma[k] * lambda[k] * w * w;
  }
  t.Vb = t.U;
  // Q diag(v) Q^T for the weights A = Gamma, B = Lambda and the target W*.
  auto conjugate = [&](auto value) {
    std::vector<double> out(static_cast<size_t>(d) * d, 0.0);
    for (int i = 0; i < d; ++i)
      for (int j = 0; j < d; ++j) {
        double acc = 0;
        for (int k = 0; k < d; ++k)
          acc += Q[static_cast<size_t>(i) * d + k] * value(k) * Q[static_cast<size_t>(j) * d + k];
        out[static_cast<size_t>(i) * d + j] = acc;
      }
    return out;
  };
  t.row_weight = conjugate([&](int k) { return gamma[k]; });
  t.col_weight = conjugate([&](int k) { return lambda[k]; });
  t.M = conjugate([&](int k) { return lambda[k] / gamma[k]; });
  return t;
}

double icl_irreducible_loss(const std::vector<double>& lambda, int context_length) {
  const std::vector<double> gamma = icl_gamma(lambda, context_length);
  double loss = 0;
  for (size_t i = 0; i < lambda.size(); ++i)
    loss += 0.5 * (lambda[i] - lambda[i] * lambda[i] * lambda[i] / gamma[i]);
  return loss;
}

namespace {

// The sensing matrices of kind = "sensing" from the target stream (substream 2; 0 and 1 are the
// bases): normal number i m n + e is entry e of A_i's Gaussian G_i. "gaussian": A_i = G_i /
// sqrt(p), so that E sum_i <A_i, D>^2 = ||D||_F^2; "symmetric_gaussian" (m = n): A_i = (G_i +
// G_i^T) / sqrt(2 p), off-diagonal entries of variance 1/p, diagonal 2/p.
void add_sensing(const ProblemConfig& p, Target& t) {
  const int count = p.sensing.measurements, m = p.m, n = p.n;
  const std::size_t mn = static_cast<std::size_t>(m) * n;
  const RandomStream stream(p.target.seed, 0, 0, Purpose::target, 2);
  const bool symmetric = p.sensing.matrices == SensingMatrices::symmetric_gaussian;
  const double scale = 1.0 / std::sqrt(symmetric ? 2.0 * count : double(count));
  t.measurements = count;
  t.sensing.assign(static_cast<std::size_t>(count) * mn, 0.0);
  double half = 0;
  for (int i = 0; i < count; ++i) {
    double* A = t.sensing.data() + static_cast<std::size_t>(i) * mn;
    const std::uint64_t first = static_cast<std::uint64_t>(i) * mn;
    for (std::size_t e = 0; e < mn; ++e) A[e] = scale * stream.normal(first + e);
    if (symmetric)
      for (int a = 0; a < m; ++a)
        for (int b = a; b < n; ++b) {
          const double sum = A[a * n + b] + A[b * n + a];
          A[a * n + b] = A[b * n + a] = sum;
        }
    double y = 0;
    for (std::size_t e = 0; e < mn; ++e) y += A[e] * t.M[e];
    half += 0.5 * y * y;
  }
  t.norm2_half = half;
}

}  // namespace

Target make_target(const ProblemConfig& p) {
  if (p.kind == ProblemKind::icl) {
    const int d = p.n;
    std::vector<double> Q(static_cast<size_t>(d) * d, 0.0);
    if (p.target.basis == Basis::identity)
      for (int i = 0; i < d; ++i) Q[static_cast<size_t>(i) * d + i] = 1.0;
    else
      Q = haar_columns(d, d, RandomStream(p.target.seed, 0, 0, Purpose::target, 0));
    return icl_target(p.target.spectrum, p.context_length, Q);
  }
  Target t;
  t.m = p.m;
  t.n = p.n;
  t.spectrum = p.target.spectrum;
  const int k = static_cast<int>(t.spectrum.size());
  // At most min(m, n) orthonormal columns exist on both sides; spectral init pads with zeros
  // beyond.
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
    // A symmetric target U diag(s) U^T is positive semidefinite.
    t.Vb = p.shape().symmetric
               ? t.U
               : haar_columns(p.n, b, RandomStream(p.target.seed, 0, 0, Purpose::target, 1));
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
  if (p.kind == ProblemKind::sensing) add_sensing(p, t);
  return t;
}

double optimal_mode_value(double s, int depth, double l2) {
  if (l2 == 0) return s;
  if (depth == 2) return std::max(s - l2, 0.0);
  // Non-convex in w for L > 2: compare w = 0 with the best stationary point on a fine grid refined
  // by golden-section search.
  const double L = depth;
  auto cost = [&](double w) {
    return 0.5 * (s - w) * (s - w) + 0.5 * L * l2 * std::pow(w, 2.0 / L);
  };
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
    if (cost(a) < cost(b))
      hi = b;
    else
      lo = a;
  }
  const double w = 0.5 * (lo + hi);
  return cost(w) < cost(0) ? w : 0.0;
}

double optimum_loss(const std::vector<double>& spectrum, const Shape& shape, double penalty) {
  const int r = shape.r;
  const int depth = shape.symmetric ? 2 : shape.depth;
  const double l2 = shape.symmetric ? penalty / 2 : penalty;
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

double problem_optimum(const ProblemConfig& p) {
  if (p.kind != ProblemKind::icl) return optimum_loss(p.target.spectrum, p.shape(), p.l2);
  const std::vector<double>& lambda = p.target.spectrum;
  const std::vector<double> gamma = icl_gamma(lambda, p.context_length);
  std::vector<double> scaled;  // sqrt(gamma_i lambda_i) w*_i
  for (size_t i = 0; i < lambda.size(); ++i)
    scaled.push_back(std::sqrt(gamma[i] * lambda[i]) * lambda[i] / gamma[i]);
  return optimum_loss(scaled, p.shape(), 0.0);
}

std::vector<int> record_steps(const RecordConfig& rec, int steps) {
  std::vector<int> out;
  if (rec.points > 0) {
    for (int i = 0; i < rec.points; ++i) {
      const double f = rec.points == 1 ? 1.0 : double(i) / double(rec.points - 1);
      double v;
      if (rec.spacing == Spacing::log)
        v = std::expm1(f * std::log1p(double(steps)));
      else
        v = f * steps;
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
  cp.shape = p.shape();
  cp.target = make_target(p);
  cp.modes = std::min<int>(p.rank, static_cast<int>(cp.target.spectrum.size()));
  cp.optimum = problem_optimum(p);
  cp.record_steps = record_steps(config.record, config.run.steps);
  return cp;
}

long long engine_lane_values(const Shape& sh, const OptimizerParams& op, int modes,
                             int sharpness_iterations) {
  const long long m = sh.m, n = sh.n, r = sh.r, depth = sh.depth, q = modes;
  auto rows = [&](long long k) { return k == 0 ? m : r; };
  auto cols = [&](long long k) { return k == depth - 1 && !sh.symmetric ? n : r; };
  auto thin_svd = [](long long a, long long b) {
    const long long p = std::min(a, b), big = std::max(a, b);
    return big * p + 2 * p * jacobi_stride(static_cast<int>(p)) + p;
  };
  auto orthogonalize = [&](long long a, long long b) {
    const long long p = std::min(a, b), big = std::max(a, b);
    return 2 * big * p + 4 * p * p + 2 * p + thin_svd(a, b);
  };
  long long params = 0, update = 0;
  for (long long k = 0; k < depth; ++k) {
    params += rows(k) * cols(k);
    update = std::max(update, rows(k) * cols(k) + orthogonalize(rows(k), cols(k)));
  }
  const long long states = op.state_buffers();
  const long long stages = op.integrator == Integrator::rk4 ? 2 : 0;
  const long long weighting = sh.weighted ? m * n + n : 0;  // EvalLayout::weighting
  const long long eval =
      forms_residual(sh) ? r * n + m * n + weighting
                         : (depth - 1) * r * n + (depth - 1) * m * r + m * r + 4 * r * r + r * n;
  const long long big = std::max(m, n);
  const long long p1 = std::min(m, r), p2 = std::min(n, r), pmax = std::max(p1, p2);
  const long long w_row = sh.weighted ? 2 * m * n + n : n;  // RecordLayout::w_row
  const long long record = w_row + big * std::min(big, r) + n * std::min(n, r) + big * r +
                           2 * (p1 + p2) * r + 2 * r * r + p1 * p2 + r * pmax + 3 * r +
                           2 * thin_svd(big, r) + r * n + pmax * pmax + 7 * pmax;
  long long orth_deviation = 0;  // orth_deviation_workspace, at record steps after the metrics
  for (long long k = 0; k < depth; ++k) {
    const long long a = rows(k), b = cols(k), p = std::min(a, b);
    orth_deviation = std::max(orth_deviation, (a + b + 1) * p + a * b + thin_svd(a, b));
  }
  const long long metrics = r + q + 4 * depth + 3 + 2 * r * r;
  // The Lanczos start and lanczos_workspace (HessianLayout: left and right products with their
  // derivatives, E and dE, two r x n and one max(m, r) x max(n, r) scratch).
  const long long blocks = sh.symmetric ? 0 : depth - 1;
  const long long hessian = 2 * blocks * (m * r + r * n) + 2 * m * n + 2 * r * n +
                            std::max(m, r) * std::max(n, r) + weighting;
  const long long k = sharpness_iterations;
  const long long sharpness = k > 0 ? 4 * params + 3 * k + 1 + hessian : 0;
  return (3 + states + stages) * params + eval + q + 2 * q * r + update +
         std::max(record, orth_deviation) + metrics + sharpness;
}

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// Record steps of a run: record_steps() without building them (at most, for `points`: spacing can
// round two points onto one step).
double record_step_count(const RecordConfig& rec, int steps) {
  if (rec.points > 0) return std::min<double>(rec.points, double(steps) + 1);
  return double(steps / rec.every) + 1 + (steps % rec.every != 0 ? 1 : 0);
}

std::string bytes_text(double bytes) {
  if (bytes >= kGiB) return fmt::format("{:.3g} GiB", bytes / kGiB);
  if (bytes >= 1024.0 * 1024.0) return fmt::format("{:.3g} MiB", bytes / (1024.0 * 1024.0));
  return fmt::format("{:.3g} KiB", bytes / 1024.0);
}

}  // namespace

double seed_cost(const Config& cell, bool traced) {
  const ProblemConfig& p = cell.problem;
  const Shape sh = p.shape();
  const int modes = std::min<int>(p.rank, static_cast<int>(p.target.spectrum.size()));

  // Gradient noise: a Philox block and Box-Muller in double per entry, measured at about 250
  // FLOPs' time per entry and gradient (the Kang quickstart runs 2.2x slower with it).
  const OptimizerParams op = cell.optimizer_params();
  const double trajectory = double(cell.run.steps) * step_flops(sh, op, modes);
  const double gradients = op.integrator == Integrator::rk4 ? 4 : 1;
  const double noise = op.gradient_noise > 0 ? 250.0 * gradients * sh.total() : 0.0;
  double cost = (1.0 + cell.basin.probes) * (trajectory + cell.run.steps * noise);
  // With record.sharpness_iterations = k, every seed's final lambda_max: k Lanczos products.
  const double lanczos = cell.record.sharpness_iterations * hessian_vector_flops(sh);
  cost += lanczos;
  if (traced) {
    // A record step takes the singular values of W and thin SVDs of the outer factors (alignment,
    // block alignment, Delta): about four exact polar factors of the largest factor.
    OptimizerParams svd;
    svd.orth.kind = OrthKind::exact;
    double largest = 0;
    for (int k = 0; k < sh.depth; ++k)
      largest = std::max(largest, orth_flops(svd, sh.rows(k), sh.cols(k)));
    // And at each record step k Lanczos products and one along the step; with record.orth_error a
    // thin SVD of each factor's orthogonalizer input.
    const double sharpness = lanczos > 0 ? lanczos + hessian_vector_flops(sh) : 0.0;
    const double orth = cell.record.orth_error ? 2 * largest : 0.0;
    cost += record_step_count(cell.record, cell.run.steps) * (4 * largest + sharpness + orth);
  }
  return cost;
}

long unit_seeds(const std::vector<Config>& cells) {
  double costliest = 0;
  long seeds = 1;
  for (const Config& c : cells) {
    costliest = std::max(costliest, seed_cost(c, false));
    seeds = std::max(seeds, c.run.seeds);
  }
  const long most = std::min(seeds, kMaxUnitSeeds);
  const double affordable = costliest > 0 ? std::floor(kUnitFlops / costliest) : double(most);
  if (affordable >= double(most)) return most;
  return std::min(most, std::max(kMinUnitSeeds, static_cast<long>(affordable) / 16 * 16));
}

RunFootprint estimate_footprint(const Experiment& ex, const FootprintParams& fp) {
  RunFootprint f;
  if (ex.cells.empty()) return f;
  // The shape keys cannot be swept, so cell 0 sizes every cell; what may differ between cells is
  // the precision and the optimizer's state.
  const Config& c0 = ex.cells.front();
  const ProblemConfig& p = c0.problem;
  const Shape sh = p.shape();
  const double m = p.m, n = p.n, r = p.rank, spectrum = double(p.target.spectrum.size());
  const int modes = std::min<int>(p.rank, static_cast<int>(p.target.spectrum.size()));
  const double q = modes;
  const double basis = std::max(spectrum, std::min({r, m, n}));
  double params = 0, init_scratch = 0;
  for (int k = 0; k < sh.depth; ++k) {
    const double rows = sh.rows(k), cols = sh.cols(k), small = std::min(rows, cols);
    params += rows * cols;
    init_scratch = std::max(init_scratch, 3 * rows * cols + small * small + rows + cols);
  }
  const double cells = double(ex.cells.size()), seeds = double(c0.run.seeds);
  const double traced = c0.record.traced_seeds;
  const double steps = record_step_count(c0.record, c0.run.steps);

  // Per seed, from the lists the run file and the MPI messages use.
  double outcome_bytes = 0, trace_values = 0;
  SeedOutcomes outcomes;
  outcomes.r = p.rank;
  for_each_outcome_array(outcomes, [&](const char*, const auto& values, int per_seed) {
    outcome_bytes += double(per_seed) * double(sizeof(values[0]));
  });
  SeedTraces traces;
  traces.r = p.rank;
  traces.depth = p.depth;
  traces.delta_matrices = c0.record.delta_matrices;
  for_each_trace_array(traces, [&](const char*, const std::vector<double>&, int per_step) {
    trace_values += double(per_step);
  });
  const double trace_bytes = 8 * (steps * trace_values + 2 * params);  // + initial, final factors

  double max_lane_values[2] = {0, 0};
  bool precision_used[2] = {false, false};
  for (const Config& c : ex.cells) {
    const int fp64 = c.run.precision == Precision::fp64;
    precision_used[fp64] = true;
    max_lane_values[fp64] = std::max(
        max_lane_values[fp64],
        double(engine_lane_values(sh, c.optimizer_params(), modes, c.record.sharpness_iterations)));
  }
  const double pack_bytes[2] = {double(fp.pack_bytes_fp32), double(fp.pack_bytes_fp64)};
  const double scalar_bytes[2] = {4, 8};
  double plan_scalar = 0;
  for (int fp64 = 0; fp64 < 2; ++fp64) {
    if (!precision_used[fp64]) continue;
    plan_scalar = std::max(plan_scalar, scalar_bytes[fp64]);
    // ThreadBuffers: the arena, hit buffers, start and final point in lanes; the rest in double.
    const double lanes = max_lane_values[fp64] + 2 * q + 2 * params;
    const double doubles = std::max(std::max(m, n) * r, 1.0) + init_scratch + params + q +
                           double(packed_record_width(p.rank, p.depth, c0.record.delta_matrices));
    f.thread_bytes = std::max(f.thread_bytes, pack_bytes[fp64] * lanes + 8 * doubles + 4 * q);
  }

  // A cell in flight: its Target (M, its bases, and QR's copies while building them), its plan in
  // the working precision with the spectral-init bases, and its record steps.
  f.cell_bytes = 8 * (m * n + (m + n) * basis + spectrum) + 16 * std::max(m, n) * basis +
                 plan_scalar * (m * n + (m + n) * q + q) + 8 * (m + n) * r + 4 * steps;

  const double unit = double(unit_seeds(ex.cells));
  const double units_per_cell = std::ceil(seeds / unit);
  const double units_per_batch =
      std::min({double(kBatchUnits), std::ceil(kBatchSeeds / unit), cells * units_per_cell});
  f.cells_in_flight = static_cast<long>(std::min(cells, units_per_batch + 1));
  const double batch_traced = units_per_batch * std::min(traced, unit);
  f.batch_bytes = units_per_batch * unit * outcome_bytes + batch_traced * trace_bytes;

  // The statistics read a cell's outcomes and traces back and copy one array at a time to sort it.
  f.finish_bytes = seeds * (outcome_bytes + 16) + traced * trace_bytes + f.cell_bytes;

  // Each cell's Config, its resolved TOML in the run file's layout, and the list of units to run;
  // and the run file's open datasets (about 48), each with a chunk cache of up to 4 MiB.
  const double config_text = double(c0.to_toml().size());
  const double config_bytes = double(sizeof(Config)) + 8 * spectrum + 32 * 24 + config_text;
  f.resident_bytes = cells * (config_bytes + units_per_cell * 33) + 48 * 4 * 1024.0 * 1024.0;

  const double compute = double(fp.threads) * f.thread_bytes +
                         double(f.cells_in_flight) * f.cell_bytes + f.batch_bytes;
  f.memory_bytes = f.resident_bytes + std::max(compute, f.finish_bytes);

  // The run file: per cell its outcomes, traces, target, summary (5 quantiles of the loss and the
  // singular values at each record step, and a few per mode), progress marks and resolved config;
  // the summary CSV has a line of about 512 bytes per cell.
  const double summary_bytes = 8 * 5 * (steps + steps * r + r) + 512;
  f.output_bytes = cells * (seeds * outcome_bytes + traced * trace_bytes + 8 * (m * n + spectrum) +
                            summary_bytes + units_per_cell + config_text + 512);
  return f;
}

void check_footprint(const RunFootprint& f, const FootprintParams& fp,
                     const MachineLimits& limits) {
  auto explain = [&](const std::string& need, const std::string& have) {
    // Every term with the keys that size it, so the message says what to reduce.
    std::string terms;
    if (fp.threads > 0)
      terms += fmt::format(
          "\n  {} for each of {} CPU threads (--threads; the engine's buffers for one pack of "
          "seeds "
          "of problem.m x problem.n at problem.rank and problem.depth)",
          bytes_text(f.thread_bytes), fp.threads);
    terms += fmt::format(
        "\n  {} for each of {} cell(s) in flight (the problem.m x problem.n target and its bases)",
        bytes_text(f.cell_bytes), f.cells_in_flight);
    terms += fmt::format(
        "\n  {} for a batch's results (record.traced_seeds trajectories over the record steps)",
        bytes_text(f.batch_bytes));
    terms += fmt::format(
        "\n  {} for a cell's results read back for its statistics (run.seeds, "
        "record.traced_seeds)",
        bytes_text(f.finish_bytes));
    return InputError(fmt::format(
        "the run needs about {} but {}:{}\nreduce those keys (or pass --skip-resource-check to run "
        "anyway)",
        need, have, terms));
  };
  if (limits.physical_memory > 0 && f.memory_bytes > limits.physical_memory)
    throw explain(fmt::format("{} of memory", bytes_text(f.memory_bytes)),
                  fmt::format("this machine has {}", bytes_text(limits.physical_memory)));
  const double address_space = f.memory_bytes + double(fp.threads) * limits.thread_stack;
  if (limits.address_space > 0 && address_space > limits.address_space)
    throw explain(fmt::format("{} of address space (with {} per thread stack)",
                              bytes_text(address_space), bytes_text(limits.thread_stack)),
                  fmt::format("the address-space limit (ulimit -v) leaves {}",
                              bytes_text(limits.address_space)));
  // Twice the file: the final file is written beside the partial before the partial goes.
  if (limits.free_disk >= 0 && 2 * f.output_bytes > limits.free_disk)
    throw InputError(fmt::format(
        "the run file needs up to {} of disk (uncompressed; run.seeds x the cells of [sweep] "
        "outcomes, record.traced_seeds trajectories, problem.m x problem.n targets), twice that "
        "while the final file is written beside the partial, but its directory has {} free; "
        "reduce those keys or free space (or pass --skip-resource-check to run anyway)",
        bytes_text(f.output_bytes), bytes_text(limits.free_disk)));
}

}  // namespace specsweep
