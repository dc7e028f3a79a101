#pragma once
// The backend-parameterized fixture: each test runs on every backend name; a backend that is not
// built into this binary or has no device here skips (GTEST_SKIP), never fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "backend.hpp"
#include "config.hpp"

namespace specsweep::testing {

struct BackendRun {
  CellProblem cp;
  SeedOutcomes outcomes;
  SeedTraces traces;
};

// The per-seed arrays of outcomes or traces, in their one list (host/backend.hpp).
template <class F>
void visit_arrays(SeedOutcomes& o, F&& f) {
  for_each_outcome_array(o, f);
}
template <class F>
void visit_arrays(SeedTraces& t, F&& f) {
  for_each_trace_array(t, f);
}

// Calls f(dst array, src array, values per item) for each array of two results of the same kind.
template <class Results, class F>
void for_each_array_pair(Results& dst, Results& src, F&& f) {
  int i = 0;
  visit_arrays(dst, [&](const char*, auto& d, int per) {
    int j = 0;
    visit_arrays(src, [&](const char*, auto& s, int) {
      if constexpr (std::is_same_v<decltype(&d), decltype(&s)>)
        if (i == j) f(d, s, per);
      ++j;
    });
    ++i;
  });
}

// Runs seeds [first, first + count) of the config's single cell in blocks of `block` seeds.
inline BackendRun run_seeds(const std::string& backend, const Config& config, long first,
                            long count, long block, const BackendOptions& options = {}) {
  BackendRun run;
  run.cp = make_cell_problem(config, 0);
  auto be = make_backend(backend, options);
  run.outcomes.resize(first, count, config.problem.rank);
  run.traces.resize_for_seeds(first, count, run.cp);
  for (long b = first; b < first + count; b += block) {
    const long n = std::min(block, first + count - b);
    SeedOutcomes o;
    o.resize(b, n, config.problem.rank);
    SeedTraces t;
    t.resize_for_seeds(b, n, run.cp);
    be->run(run.cp, b, n, o, t);
    const long at = b - first;
    auto put = [at](auto& dst, const auto& src, long per_seed) {
      std::copy(src.begin(), src.end(), dst.begin() + at * per_seed);
    };
    for_each_array_pair(run.outcomes, o,
                        [&](auto& dst, const auto& src, int per_seed) { put(dst, src, per_seed); });
    if (t.count > 0) {
      for_each_array_pair(run.traces, t, [&](auto& dst, const auto& src, int per_step) {
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

// Why `backend` cannot run in this process ("" when it can): not built, or no device.
inline std::string unavailable(const std::string& backend) {
  const std::string why = backend_unavailable_reason(backend);
  return why.empty() ? why : "backend " + backend + ": " + why;
}

// SPECSWEEP_REQUIRE_GPU=1 (scripts/gpu-check.sh sets it) makes a device backend that cannot run a
// failure rather than a skip: on the GPU machine a skipped suite would read as a pass.
inline bool device_required() {
  const char* v = std::getenv("SPECSWEEP_REQUIRE_GPU");
  return v != nullptr && std::string(v) == "1";
}

// Skips (or, when a device is required, fails) the calling test if `backend` cannot run.
#define SPECSWEEP_SKIP_IF_UNAVAILABLE(backend)                                                     \
  do {                                                                                             \
    if (const std::string why_ = ::specsweep::testing::unavailable(backend); !why_.empty()) {     \
      if (std::string(backend) != "cpu" && ::specsweep::testing::device_required())              \
        GTEST_FAIL() << why_ << " (SPECSWEEP_REQUIRE_GPU=1)";                                      \
      GTEST_SKIP() << why_;                                                                        \
    }                                                                                              \
  } while (0)

class BackendSuite : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    SPECSWEEP_SKIP_IF_UNAVAILABLE(GetParam());
  }
  BackendRun run(const Config& c, long block = 4096, int threads = 0) const {
    BackendOptions options;
    options.threads = threads;
    return run_seeds(GetParam(), c, 0, c.run.seeds, block, options);
  }
};

inline Config config_from(const std::string& toml) {
  return parse_config(toml, "test");
}

}  // namespace specsweep::testing
