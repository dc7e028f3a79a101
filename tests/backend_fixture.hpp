#pragma once
// The backend-parameterized fixture: each test runs on every backend name; a backend that is not
// built into this binary or has no device here skips (GTEST_SKIP), never fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "backend.hpp"
#include "config.hpp"

namespace specsweep::testing {

struct BackendRun {
  CellProblem cp;
  SeedOutcomes outcomes;
  SeedTraces traces;
};

// Runs seeds [first, first + count) of the config's single cell in blocks of `block` seeds.
inline BackendRun run_seeds(const std::string& backend, const Config& config, long first, long count, long block,
                            int threads = 0) {
  BackendRun run;
  run.cp = make_cell_problem(config, 0);
  auto be = make_backend(backend, BackendOptions{threads});
  const long traced_end = std::min<long>(first + count, config.record.traced_seeds);
  run.outcomes.resize(first, count, config.problem.rank);
  run.traces.resize(first, std::max(0L, traced_end - first), run.cp);
  for (long b = first; b < first + count; b += block) {
    const long n = std::min(block, first + count - b);
    SeedOutcomes o;
    o.resize(b, n, config.problem.rank);
    SeedTraces t;
    const long tend = std::min<long>(b + n, config.record.traced_seeds);
    t.resize(b, std::max(0L, tend - b), run.cp);
    be->run(run.cp, b, n, o, t);
    auto put = [&](auto& dst, const auto& src, long width, long offset) {
      std::copy(src.begin(), src.end(), dst.begin() + offset * width);
    };
    const long at = b - first;
    put(run.outcomes.status, o.status, 1, at);
    put(run.outcomes.final_loss, o.final_loss, 1, at);
    put(run.outcomes.excess, o.excess, 1, at);
    put(run.outcomes.final_grad_norm, o.final_grad_norm, 1, at);
    put(run.outcomes.uniformity_cv, o.uniformity_cv, 1, at);
    put(run.outcomes.order_kendall, o.order_kendall, 1, at);
    put(run.outcomes.steps_to_tol, o.steps_to_tol, 1, at);
    put(run.outcomes.hit_step, o.hit_step, config.problem.rank, at);
    if (t.count > 0) {
      const long T = t.steps, r = t.r, L = t.depth;
      put(run.traces.loss, t.loss, T, at);
      put(run.traces.sv, t.sv, T * r, at);
      put(run.traces.core_diag, t.core_diag, T * r, at);
      put(run.traces.delta2, t.delta2, T * r * r, at);
      put(run.traces.factor_norm, t.factor_norm, T * L, at);
      for (int k = 0; k < L; ++k) {
        const long size = static_cast<long>(t.final_factors[k].size()) / t.count;
        put(run.traces.final_factors[k], t.final_factors[k], size, at);
        put(run.traces.init_factors[k], t.init_factors[k], size, at);
      }
    }
  }
  return run;
}

class BackendSuite : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const auto built = built_backends();
    if (std::find(built.begin(), built.end(), GetParam()) == built.end())
      GTEST_SKIP() << "backend " << GetParam() << " is not built into this binary";
    if (!backend_available(GetParam())) GTEST_SKIP() << "backend " << GetParam() << " has no device here";
  }
  BackendRun run(const Config& c, long block = 4096, int threads = 0) const {
    return run_seeds(GetParam(), c, 0, c.run.seeds, block, threads);
  }
};

inline Config config_from(const std::string& toml) { return parse_config(toml, "test"); }

}  // namespace specsweep::testing
