// Every backend against the CPU oracle, per optimizer and orthogonalizer, on well-conditioned
// cases: identical statuses and hitting times within a step, trajectories within a tolerance.
#include <gtest/gtest.h>

#include <cmath>

#include "backend_fixture.hpp"

namespace specsweep {
namespace {

using testing::config_from;

class MatchesCpuOracle : public testing::BackendSuite {};

TEST_P(MatchesCpuOracle, PerOptimizerAndPrecision) {
  if (GetParam() == "cpu") GTEST_SKIP() << "the CPU backend is the oracle";
  const char* optimizers[] = {
      "kind = \"gd\"\nlr = 0.02",
      "kind = \"specgd\"\nlr = 0.02",
      "kind = \"specgd\"\nlr = 0.02\northogonalizer = \"smooth\"\nsmooth_eps = 1e-6",
      "kind = \"muon\"\nlr = 0.02\northogonalizer = \"newton_schulz\"\nns_coefficients = \"jordan5\"",
      "kind = \"muon\"\nlr = 0.02\northogonalizer = \"newton_schulz\"\nns_coefficients = \"polar_express\"",
      "kind = \"muon\"\nlr = 0.02\northogonalizer = \"exact\"\nshape_scale = \"sqrt_ratio\"",
      "kind = \"adam\"\nlr = 0.01",
      "kind = \"specgd\"\nlr = 0.02\nintegrator = \"rk4\"",
  };
  for (const char* precision : {"fp64", "fp32"}) {
    for (const char* opt : optimizers) {
      const auto cfg = config_from(std::string(R"(
[problem]
m = 20
n = 16
rank = 4
[problem.target]
spectrum = [3.0, 2.0, 1.5, 1.0]
[init]
factors = ["gaussian", "gaussian"]
scale = 0.1
[optimizer]
)") + opt + "\n[run]\nsteps = 150\nseeds = 40\nprecision = \"" + precision +
                                   "\"\n[record]\ntraced_seeds = 4\nevery = 10\n");
      const double tol = std::string(precision) == "fp64" ? 1e-9 : 1e-3;
      const auto cpu = testing::run_seeds("cpu", cfg, 0, 40, 4096);
      const auto other = run(cfg);
      for (long s = 0; s < 40; ++s) {
        EXPECT_EQ(cpu.outcomes.status[s], other.outcomes.status[s]) << opt << " seed " << s;
        EXPECT_NEAR(other.outcomes.final_loss[s], cpu.outcomes.final_loss[s],
                    tol * std::max(1.0, cpu.outcomes.final_loss[s])) << opt;
        for (int i = 0; i < 4; ++i)
          EXPECT_NEAR(other.outcomes.hit_step[s * 4 + i], cpu.outcomes.hit_step[s * 4 + i], 1) << opt;
      }
      for (size_t i = 0; i < cpu.traces.loss.size(); ++i)
        EXPECT_NEAR(other.traces.loss[i], cpu.traces.loss[i], tol * std::max(1.0, cpu.traces.loss[i])) << opt;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, MatchesCpuOracle, ::testing::Values("cpu", "cuda"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace specsweep
