#include "oracle.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <type_traits>
#include <utility>

#include "errors.hpp"

namespace specsweep {

namespace {

// The per-seed arrays of outcomes or traces, in their one list (host/backend.hpp).
template <class F>
void visit_arrays(SeedOutcomes& o, F&& f) {
  for_each_outcome_array(o, f);
}
template <class F>
void visit_arrays(SeedTraces& t, F&& f) {
  for_each_trace_array(t, f);
}

// Calls f(name, a, b, values per item) for each array of two results of the same kind.
template <class Results, class F>
void for_each_array_pair(Results& a, Results& b, F&& f) {
  int i = 0;
  visit_arrays(a, [&](const char* name, auto& x, int per) {
    int j = 0;
    visit_arrays(b, [&](const char*, auto& y, int) {
      if constexpr (std::is_same_v<decltype(&x), decltype(&y)>)
        if (i == j) f(name, x, y, per);
      ++j;
    });
    ++i;
  });
}

double largest_magnitude(const std::vector<double>& values) {
  double scale = 0;
  for (double v : values)
    if (std::isfinite(v)) scale = std::max(scale, std::fabs(v));
  return scale;
}

// The largest scaled difference of one quantity of scale `scale` (see OracleGap), into `gap`.
void fold_continuous(const std::string& what, const std::vector<double>& expected,
                     const std::vector<double>& actual, double scale, double floor_fraction,
                     OracleGap& gap) {
  const double floor = floor_fraction * scale;
  for (size_t i = 0; i < expected.size() && i < actual.size(); ++i) {
    const double e = expected[i], a = actual[i];
    double d;
    if (std::isnan(e) || std::isnan(a))
      d = std::isnan(e) && std::isnan(a) ? 0 : HUGE_VAL;
    else if (!std::isfinite(e) || !std::isfinite(a))
      d = e == a ? 0 : HUGE_VAL;
    else
      d = e == a ? 0 : std::fabs(a - e) / std::max(std::fabs(e), floor);
    if (d > gap.worst) {
      gap.worst = d;
      gap.where = fmt::format("{} [{}]: {:.9g}, CPU {:.9g}", what, i, a, e);
    }
  }
}

void note(OracleGap& gap, const std::string& what) {
  if (gap.disagreements.size() < 5) gap.disagreements.push_back(what);
}

template <class Int>
void fold_discrete(const char* name, const std::vector<Int>& expected,
                   const std::vector<Int>& actual, long slack, OracleGap& gap) {
  for (size_t i = 0; i < expected.size(); ++i)
    if (std::abs(long(actual[i]) - long(expected[i])) > slack)
      note(gap, fmt::format("{} [{}]: {}, CPU {}", name, i, long(actual[i]), long(expected[i])));
}

}  // namespace

SeedRangeRun run_seed_range(const std::string& backend, const Config& config, long first,
                            long count, long block, const BackendOptions& options) {
  return run_seed_range(*make_backend(backend, options), config, first, count, block);
}

SeedRangeRun run_seed_range(Backend& be, const Config& config, long first, long count, long block) {
  SeedRangeRun run;
  run.cp = make_cell_problem(config, 0);
  run.outcomes.resize(first, count, config.problem.rank);
  run.traces.resize_for_seeds(first, count, run.cp);
  for (long b = first; b < first + count; b += block) {
    const long n = std::min(block, first + count - b);
    SeedOutcomes o;
    o.resize(b, n, config.problem.rank);
    SeedTraces t;
    t.resize_for_seeds(b, n, run.cp);
    be.run(run.cp, b, n, o, t);
    const long at = b - first;
    auto put = [at](auto& dst, const auto& src, long per_seed) {
      std::copy(src.begin(), src.end(), dst.begin() + at * per_seed);
    };
    for_each_array_pair(
        run.outcomes, o,
        [&](const char*, auto& dst, const auto& src, int per_seed) { put(dst, src, per_seed); });
    if (t.count > 0) {
      for_each_array_pair(run.traces, t,
                          [&](const char*, auto& dst, const auto& src, int per_step) {
                            put(dst, src, long(t.steps) * per_step);
                          });
      for (int k = 0; k < t.depth; ++k) {
        const long size = static_cast<long>(t.final_factors[k].size()) / t.count;
        put(run.traces.final_factors[k], t.final_factors[k], size);
        put(run.traces.init_factors[k], t.init_factors[k], size);
      }
    }
  }
  return run;
}

const std::vector<OracleCase>& oracle_cases() {
  // 3 * 0.9^i, i < 20: a target of rank 20 with its singular values apart.
  const char* const kRank20Spectrum =
      "[3.000, 2.700, 2.430, 2.187, 1.968, 1.771, 1.594, 1.435, 1.291, 1.162, 1.046, 0.941, 0.847, "
      "0.763, 0.686, 0.618, 0.556, 0.500, 0.450, 0.405]";
  static const std::vector<OracleCase> cases = {
      {"gd", "kind = \"gd\"\nlr = 0.02"},
      {"specgd_exact", "kind = \"specgd\"\nlr = 0.02"},
      {"specgd_smooth",
       "kind = \"specgd\"\nlr = 0.02\northogonalizer = \"smooth\"\nsmooth_eps = 1e-6"},
      {"specgd_cubic",
       "kind = \"specgd\"\nlr = 0.02\northogonalizer = \"newton_schulz\"\nns_coefficients = "
       "\"cubic\"\nns_steps = 30"},
      {"muon_jordan5",
       "kind = \"muon\"\nlr = 0.02\northogonalizer = \"newton_schulz\"\nns_coefficients = "
       "\"jordan5\""},
      {"muon_polar_express",
       "kind = \"muon\"\nlr = 0.02\northogonalizer = \"newton_schulz\"\nns_coefficients = "
       "\"polar_express\""},
      {"muon_you6",
       "kind = \"muon\"\nlr = 0.02\northogonalizer = \"newton_schulz\"\nns_coefficients = "
       "\"you6\""},
      {"muon_exact_sqrt_ratio",
       "kind = \"muon\"\nlr = 0.02\northogonalizer = \"exact\"\nshape_scale = \"sqrt_ratio\""},
      {"muon_rms_heavy_ball",
       "kind = \"muon\"\nlr = 0.01\northogonalizer = \"exact\"\nshape_scale = \"rms\"\nnesterov = "
       "false"},
      // post_polar accumulates unit-size steps that do not shrink near the optimum, so at lr 0.02
      // with Nesterov and momentum 0.95 (steps of up to 39 lr) it oscillates chaotically: a
      // decaying step and momentum 0.5 keep the case well-conditioned.
      {"muon_post_polar_newton_schulz",
       "kind = \"muon\"\nlr = 0.02\northogonalizer = \"newton_schulz\"\nmomentum = 0.5\n"
       "momentum_order = \"post_polar\"\n[optimizer.schedule]\nkind = \"exponential\"\ndecay = "
       "0.95"},
      {"muon_post_polar_exact_heavy_ball",
       "kind = \"muon\"\nlr = 0.02\northogonalizer = \"exact\"\nmomentum_order = "
       "\"post_polar\"\nnesterov = false"},
      {"adam", "kind = \"adam\"\nlr = 0.01"},
      {"gd_rk4", "kind = \"gd\"\nlr = 0.02\nintegrator = \"rk4\""},
      {"specgd_rk4", "kind = \"specgd\"\nlr = 0.02\nintegrator = \"rk4\""},
      {"exponential",
       "kind = \"specgd\"\nlr = 0.03\n[optimizer.schedule]\nkind = \"exponential\"\ndecay = 0.99"},
      {"spike_geometric",
       "kind = \"specgd\"\nlr = 0.01\n[optimizer.schedule]\nkind = \"spike_geometric\"\neta1 = "
       "0.05\nfactor = 0.97"},
      {"cosine",
       "kind = \"muon\"\nlr = 0.03\n[optimizer.schedule]\nkind = \"cosine\"\nwarmup = 10\nmin_lr = "
       "0.001"},
      {"piecewise",
       "kind = \"gd\"\nlr = 0.02\n[optimizer.schedule]\nkind = \"piecewise\"\nsteps = [0, "
       "25]\nvalues = [0.03, 0.01]"},
      {"depth3_l2_orthogonal", "kind = \"specgd\"\nlr = 0.01",
       "m = 20\nn = 16\nrank = 4\ndepth = 3\nl2 = 0.01",
       "factors = [\"orthogonal\", \"orthogonal\", \"gaussian\"]\nscale = 0.3\nscale_mode = "
       "\"fan\""},
      {"spectral_init_log_records", "kind = \"gd\"\nlr = 0.02", "m = 20\nn = 16\nrank = 4",
       "factors = [\"spectral\", \"spectral\"]\nscale = 0.05", "[3.0, 2.0, 1.5, 1.0]",
       "traced_seeds = 40\npoints = 12\nspacing = \"log\""},
      {"rank_below_target", "kind = \"specgd\"\nlr = 0.02", "m = 20\nn = 16\nrank = 2"},
      {"adam_l2", "kind = \"adam\"\nlr = 0.01", "m = 20\nn = 16\nrank = 4\nl2 = 0.05"},
      {"square_orthogonal_init", "kind = \"gd\"\nlr = 0.02", "m = 6\nn = 6\nrank = 6",
       "factors = [\"orthogonal\", \"orthogonal\"]\nscale = 0.3", "[3.0, 2.0, 1.5, 1.0, 0.7, 0.5]"},
      // r > max(m, n): the gradients are exactly rank-deficient, and in fp32 their zero singular
      // values come out at about eps sigma_max, straddling the exact polar factor's rank cut of
      // 1e-7 sigma_max = 0.84 eps (DESIGN section 2), so which noise direction survives depends on
      // the rounding: no fp32 implementation agrees with another to the tolerance (the nudge check
      // found it, 2.1e-5 against 1e-5, in the -O1 sanitizer build).
      {"overparameterized",
       "kind = \"muon\"\nlr = 0.02\northogonalizer = \"exact\"\nmomentum = 0.0",
       "m = 12\nn = 10\nrank = 24", "factors = [\"gaussian\", \"gaussian\"]\nscale = 0.1",
       "[3.0, 2.0, 1.5, 1.0]", "traced_seeds = 4\nevery = 10", false},
      // The same shapes in both precisions through Newton-Schulz, which has no rank cut.
      {"overparameterized_newton_schulz",
       "kind = \"muon\"\nlr = 0.02\northogonalizer = \"newton_schulz\"",
       "m = 12\nn = 10\nrank = 24"},
      // r > 16: Grams and eigensolves beyond one warp's width, and Newton-Schulz at that size.
      // (A target of rank 20 keeps the gradients' singular values apart: at rank 4 the exact polar
      // factor would amplify the 16 noise directions, as in "overparameterized".)
      {"rank_20_muon_exact", "kind = \"muon\"\nlr = 0.02\northogonalizer = \"exact\"",
       "m = 28\nn = 24\nrank = 20", "factors = [\"gaussian\", \"gaussian\"]\nscale = 0.1",
       kRank20Spectrum},
      {"rank_20_muon_newton_schulz",
       "kind = \"muon\"\nlr = 0.02\northogonalizer = \"newton_schulz\"",
       "m = 28\nn = 24\nrank = 20", "factors = [\"gaussian\", \"gaussian\"]\nscale = 0.1",
       kRank20Spectrum},
      // W = X X^T (problem.kind = "symmetric"): one n x r factor, on every strategy that runs it.
      {"symmetric_muon_exact",
       "kind = \"muon\"\nlr = 0.05\northogonalizer = \"exact\"\nmomentum = "
       "0.5\n[optimizer.schedule]\nkind = "
       "\"exponential\"\ndecay = 0.95",
       "kind = \"symmetric\"\nn = 14\nrank = 4", "factors = [\"gaussian\"]\nscale = 0.1"},
      {"symmetric_gd_l2", "kind = \"gd\"\nlr = 0.02",
       "kind = \"symmetric\"\nn = 14\nrank = 6\nl2 = 0.05",
       "factors = [\"gaussian\"]\nscale = 0.3"},
      // In-context regression (problem.kind = "icl"): the weighted residual, on every strategy
      // that runs it (batched and block hand it to fused).
      {"icl_muon_newton_schulz", "kind = \"muon\"\nlr = 0.02\northogonalizer = \"newton_schulz\"",
       "kind = \"icl\"\nn = 8\nrank = 8\ncontext_length = 12",
       "factors = [\"gaussian\", \"gaussian\"]\nscale = 0.1",
       "[2.0, 1.5, 1.0, 0.7, 0.5, 0.3, 0.2, 0.1]"},
      {"icl_adam_low_rank", "kind = \"adam\"\nlr = 0.01",
       "kind = \"icl\"\nn = 8\nrank = 3\ncontext_length = 12",
       "factors = [\"gaussian\", \"gaussian\"]\nscale = 0.1",
       "[2.0, 1.5, 1.0, 0.7, 0.5, 0.3, 0.2, 0.1]"},
      // The sharpness at record steps (Lanczos on Hessian-vector products) and the curvature
      // along the step taken: the step integrator, and RK4's combined direction.
      {"sharpness_gd", "kind = \"gd\"\nlr = 0.05", "m = 20\nn = 16\nrank = 4",
       "factors = [\"gaussian\", \"gaussian\"]\nscale = 0.1", "[3.0, 2.0, 1.5, 1.0]",
       "traced_seeds = 4\nevery = 10\nsharpness_iterations = 12"},
      {"sharpness_specgd_rk4", "kind = \"specgd\"\nlr = 0.02\nintegrator = \"rk4\"",
       "m = 20\nn = 16\nrank = 4", "factors = [\"gaussian\", \"gaussian\"]\nscale = 0.1",
       "[3.0, 2.0, 1.5, 1.0]", "traced_seeds = 4\nevery = 10\nsharpness_iterations = 12"},
      // The orthogonalizer against the exact polar factor of its own input, per factor (Muon's
      // Nesterov lookahead) at record steps.
      {"orth_error_muon_jordan5",
       "kind = \"muon\"\nlr = 0.02\northogonalizer = \"newton_schulz\"\nns_coefficients = "
       "\"jordan5\"",
       "m = 20\nn = 16\nrank = 4", "factors = [\"gaussian\", \"gaussian\"]\nscale = 0.1",
       "[3.0, 2.0, 1.5, 1.0]", "traced_seeds = 4\nevery = 10\north_error = true"},
      // Matrix sensing (Gaussian and symmetric Gaussian measurements), on the fused strategy.
      {"sensing_gd", "kind = \"gd\"\nlr = 0.05",
       "kind = \"sensing\"\nm = 8\nn = 7\nrank = 3\n[problem.sensing]\nmeasurements = 40",
       "factors = [\"gaussian\", \"gaussian\"]\nscale = 0.1", "[3.0, 2.0, 1.0]",
       "traced_seeds = 4\nevery = 10"},
      {"sensing_muon_symmetric", "kind = \"muon\"\nlr = 0.02",
       "kind = \"sensing\"\nm = 6\nn = 6\nrank = 3\n[problem.sensing]\nmeasurements = 30\n"
       "matrices = \"symmetric_gaussian\"",
       "factors = [\"gaussian\", \"gaussian\"]\nscale = 0.1", "[3.0, 2.0, 1.0]",
       "traced_seeds = 4\nevery = 10"},
      {"sensing_symmetric_factor", "kind = \"gd\"\nlr = 0.05",
       "kind = \"sensing\"\nn = 6\nrank = 3\n[problem.sensing]\nmeasurements = 30\n"
       "factor = \"symmetric\"",
       "factors = [\"gaussian\"]\nscale = 0.1", "[3.0, 2.0, 1.0]", "traced_seeds = 4\nevery = 10"},
      // Gradient noise: absolute on Muon's every step, relative on each of RK4's four gradients.
      {"gradient_noise_muon",
       "kind = \"muon\"\nlr = 0.02\northogonalizer = \"newton_schulz\"\ngradient_noise = 0.05",
       "m = 20\nn = 16\nrank = 4", "factors = [\"gaussian\", \"gaussian\"]\nscale = 0.1",
       "[3.0, 2.0, 1.5, 1.0]", "traced_seeds = 4\nevery = 10"},
      {"gradient_noise_specgd_rk4",
       "kind = \"specgd\"\nlr = 0.02\nintegrator = \"rk4\"\ngradient_noise = 0.3\n"
       "gradient_noise_scale = \"relative\"",
       "m = 20\nn = 16\nrank = 4", "factors = [\"gaussian\", \"gaussian\"]\nscale = 0.1",
       "[3.0, 2.0, 1.5, 1.0]", "traced_seeds = 4\nevery = 10"},
      // Seeds that blow up must be frozen and reported as diverged: GD far above its stable rate
      // (every seed passes the blow-up bound within a few steps), and Muon from an initial point
      // just under the bound, which its first steps cross, after which the batched strategy
      // feeds the polar factor zeros instead of the frozen seeds' gradients.
      {"diverging_gd", "kind = \"gd\"\nlr = 2.0", "m = 6\nn = 5\nrank = 3",
       "factors = [\"gaussian\", \"gaussian\"]\nscale = 1.0", "[2.0, 1.0, 0.5]"},
      {"diverging_muon", "kind = \"muon\"\nlr = 3000.0\northogonalizer = \"exact\"",
       "m = 20\nn = 16\nrank = 4", "factors = [\"gaussian\", \"gaussian\"]\nscale = 600.0"},
  };
  return cases;
}

std::vector<Precision> oracle_precisions(const OracleCase& c) {
  if (c.fp32) return {Precision::fp64, Precision::fp32};
  return {Precision::fp64};
}

Config oracle_config(const OracleCase& c, Precision precision) {
  return parse_config("[problem]\n" + c.problem + "\n[problem.target]\nspectrum = " + c.spectrum +
                          "\n[init]\n" + c.init + "\n[optimizer]\n" + c.optimizer +
                          "\n[run]\nsteps = 50\nseeds = 40\nprecision = \"" +
                          (precision == Precision::fp64 ? "fp64" : "fp32") +
                          "\"\n[record]\ndelta_matrices = true\n" + c.record + "\n",
                      std::string("oracle case ") + c.name);
}

double oracle_tolerance(Precision p) {
  return p == Precision::fp64 ? 1e-9 : 1e-3;
}

double oracle_floor(Precision p) {
  return p == Precision::fp64 ? 1e-3 : 1e-1;
}

namespace {

// The scale of a trace quantity: what its rounding errors are relative to.
double trace_scale(const std::string& name, const std::vector<double>& values,
                   double factor_norm_scale) {
  // Delta = F1 F1^T - F2^T F2 (and its norm) is a difference of Grams of the factors: its entries
  // carry the rounding of ||F||^2, not of Delta's own (near-conserved, small) size.
  if (name.rfind("delta", 0) == 0) return factor_norm_scale * factor_norm_scale;
  // Alignments and block alignment scores are fractions of 1 (they may stay near 0 throughout).
  if (name == "alignment" || name == "block_alignment") return 1;
  return largest_magnitude(values);
}

}  // namespace

OracleGap compare_with_oracle(const SeedRangeRun& cpu, const SeedRangeRun& other) {
  OracleGap gap;
  const double floor = oracle_floor(cpu.cp.config.run.precision);
  auto& a = const_cast<SeedRangeRun&>(cpu);
  auto& b = const_cast<SeedRangeRun&>(other);
  for_each_array_pair(a.outcomes, b.outcomes, [&](const char* name, auto& x, auto& y, int) {
    using V = typename std::decay_t<decltype(x)>::value_type;
    const std::string n = name;
    if (x.size() != y.size())
      note(gap, fmt::format("outcome {}: {} values, CPU {}", n, y.size(), x.size()));
    else if constexpr (std::is_integral_v<V>)
      fold_discrete(name, x, y, n == "status" ? 0 : 1, gap);  // hitting steps: within one step
    else
      // The excess loss is the loss less the optimum's: a difference, on the loss's scale.
      fold_continuous("outcome " + n, x, y,
                      largest_magnitude(n == "excess" ? cpu.outcomes.final_loss : x), floor, gap);
  });
  const double factor_scale = largest_magnitude(cpu.traces.factor_norm);
  for_each_array_pair(a.traces, b.traces, [&](const char* name, auto& x, auto& y, int) {
    const std::string n = name;
    if (x.size() != y.size())
      note(gap, fmt::format("trace {}: {} values, CPU {}", n, y.size(), x.size()));
    else
      fold_continuous("trace " + n, x, y, trace_scale(n, x, factor_scale), floor, gap);
  });
  for (size_t k = 0; k < cpu.traces.final_factors.size(); ++k) {
    fold_continuous(fmt::format("final factor {}", k + 1), cpu.traces.final_factors[k],
                    other.traces.final_factors[k], largest_magnitude(cpu.traces.final_factors[k]),
                    floor, gap);
    // Initial factors come from the same Philox counters in double on every backend, through a
    // Box-Muller of correctly rounded operations and explicit fma (random.hpp): only the last
    // bits of the Householder QR (orthogonal init) may differ.
    OracleGap init;
    fold_continuous("", cpu.traces.init_factors[k], other.traces.init_factors[k],
                    largest_magnitude(cpu.traces.init_factors[k]), 1e-3, init);
    if (init.worst > 1e-13)
      note(gap,
           fmt::format(
               "initial factor {}{}: the same random draw must agree to 1e-13, differs by {:.1e}",
               k + 1, init.where, init.worst));
  }
  return gap;
}

int run_selftest(const std::string& backend_name, std::FILE* out) {
  const std::string backend =
      backend_name == "auto" ? (backend_available("cuda") ? "cuda" : "cpu") : backend_name;
  // One backend per variant for the whole test (a GPU backend's library handles are costly to
  // make); made first, so that a backend that cannot run here fails early with its reason.
  struct Variant {
    std::string label;
    std::unique_ptr<Backend> backend;
    long block;  // seeds per backend call
  };
  std::vector<Variant> variants;
  if (backend == "cpu") {
    variants.push_back({"one seed per call", make_backend(backend, {}), 1});
  } else {
    using S = BackendOptions::GpuStrategy;
    for (const S strategy : {S::fused, S::batched, S::block}) {
      BackendOptions options;
      options.gpu_strategy = strategy;  // wherever it computes the cell, the fused one elsewhere
      variants.push_back({gpu_strategy_name(strategy), make_backend(backend, options), 4096});
    }
  }
  const std::unique_ptr<Backend> oracle = make_backend("cpu", {});
  const auto start = std::chrono::steady_clock::now();
  fmt::print(out, "specsweep selftest: backend {} against the CPU backend, {} oracle cases\n",
             backend, oracle_cases().size());
  if (backend == "cpu")
    fmt::print(
        out,
        "(the CPU backend is the oracle: here each seed run alone must match it in SIMD packs)\n");
  fmt::print(out, "{:<6} {:<32} {:<5} {:<19} {:>9} {:>9}  worst at\n", "", "case", "prec",
             "strategy", "worst", "tolerance");
  int failed = 0, total = 0;
  for (const OracleCase& c : oracle_cases()) {
    for (Precision precision : oracle_precisions(c)) {
      const Config cfg = oracle_config(c, precision);
      const SeedRangeRun cpu = run_seed_range(*oracle, cfg, 0, cfg.run.seeds, 4096);
      for (const Variant& v : variants) {
        const SeedRangeRun run = run_seed_range(*v.backend, cfg, 0, cfg.run.seeds, v.block);
        const OracleGap gap = compare_with_oracle(cpu, run);
        const double tol = oracle_tolerance(precision);
        const bool pass = gap.worst <= tol && gap.disagreements.empty();
        failed += !pass;
        ++total;
        // The strategy that ran: a forced one computes only some cells, the fused one the rest.
        const std::string ran = v.backend->strategy_for(run.cp);
        const std::string strategy =
            ran.empty() || ran == v.label ? v.label : ran + " (not " + v.label + ")";
        fmt::print(out, "{:<6} {:<32} {:<5} {:<19} {:>9.1e} {:>9.0e}  {}\n", pass ? "ok" : "FAIL",
                   c.name, precision == Precision::fp64 ? "fp64" : "fp32", strategy, gap.worst, tol,
                   gap.where);
        for (const std::string& d : gap.disagreements) fmt::print(out, "       differs: {}\n", d);
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (failed == 0)
    fmt::print(out, "selftest passed: {} of {} within tolerance ({:.1f} s)\n", total, total,
               seconds);
  else
    fmt::print(
        out,
        "selftest FAILED: {} of {} outside tolerance ({:.1f} s): do not trust backend {} on this "
        "machine; please report the lines above\n",
        failed, total, seconds, backend);
  return failed == 0 ? 0 : kExitRuntime;
}

}  // namespace specsweep
