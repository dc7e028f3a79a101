// Every backend against the CPU oracle on well-conditioned cases: per optimizer, orthogonalizer,
// schedule, integrator, depth and initialization, in fp64 and fp32: identical statuses, hitting
// times within a step, losses, traces and final factors within a tolerance, initial factors equal
// to rounding. Plus what a backend must do whatever its strategy: many cells in one call, results
// independent of how it cuts the work into launches, the basin probe, cancellation.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <ostream>
#include <string>
#include <tuple>

#include "backend_fixture.hpp"

namespace specsweep {
namespace {

using testing::BackendRun;
using testing::config_from;

// The CPU reference and the backend under test run the same fp64 / fp32 algorithm: fp64 results
// agree to ~1e-12 after 150 steps of a well-conditioned problem; fp32 to ~1e-5 (rounding of
// different but equivalent operation orders, amplified along the trajectory). The tolerances leave
// two orders of magnitude of margin.
double tolerance(Precision p) {
  return p == Precision::fp64 ? 1e-9 : 1e-3;
}

struct OracleCase {
  const char* name;
  std::string optimizer;  // the [optimizer] table's body
  std::string problem = "m = 20\nn = 16\nrank = 4";
  std::string init = "factors = [\"gaussian\", \"gaussian\"]\nscale = 0.1";
  std::string spectrum = "[3.0, 2.0, 1.5, 1.0]";
  std::string record = "traced_seeds = 4\nevery = 10";
};

Config oracle_config(const OracleCase& c, Precision precision) {
  return config_from("[problem]\n" + c.problem + "\n[problem.target]\nspectrum = " + c.spectrum +
                     "\n[init]\n" + c.init + "\n[optimizer]\n" + c.optimizer +
                     "\n[run]\nsteps = 150\nseeds = 40\nprecision = \"" +
                     (precision == Precision::fp64 ? "fp64" : "fp32") + "\"\n[record]\n" +
                     c.record + "\n");
}

void expect_near_relative(const std::vector<double>& expected, const std::vector<double>& actual,
                          double tol, const std::string& what) {
  ASSERT_EQ(expected.size(), actual.size()) << what;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (std::isnan(expected[i])) {
      EXPECT_TRUE(std::isnan(actual[i])) << what << " [" << i << "]";
      continue;
    }
    EXPECT_NEAR(actual[i], expected[i], tol * std::max(1.0, std::fabs(expected[i])))
        << what << " [" << i << "]";
  }
}

// Everything a run reports, compared with the CPU's.
void expect_matches(const BackendRun& cpu, const BackendRun& other, double tol,
                    const std::string& what) {
  const SeedOutcomes &a = cpu.outcomes, &b = other.outcomes;
  EXPECT_EQ(a.status, b.status) << what;
  expect_near_relative(a.final_loss, b.final_loss, tol, what + " final_loss");
  expect_near_relative(a.excess, b.excess, tol, what + " excess");
  for (size_t i = 0; i < a.hit_step.size(); ++i)
    EXPECT_NEAR(b.hit_step[i], a.hit_step[i], 1) << what << " hit " << i;
  for (size_t i = 0; i < a.steps_to_tol.size(); ++i)
    EXPECT_NEAR(b.steps_to_tol[i], a.steps_to_tol[i], 1) << what << " steps_to_tol " << i;
  for_each_trace_array(const_cast<SeedTraces&>(cpu.traces), [&](const char* name,
                                                                std::vector<double>& expected,
                                                                int) {
    for_each_trace_array(const_cast<SeedTraces&>(other.traces),
                         [&](const char* n2, std::vector<double>& actual, int) {
                           if (std::string(name) == n2)
                             expect_near_relative(expected, actual, tol, what + " trace " + name);
                         });
  });
  for (size_t k = 0; k < cpu.traces.final_factors.size(); ++k) {
    expect_near_relative(cpu.traces.final_factors[k], other.traces.final_factors[k], tol,
                         what + " final factor");
    // Initial factors are computed in double from the same Philox counters on both; only the last
    // bits of log/sin/cos (Box-Muller) and of the Householder QR (orthogonal init) may differ.
    expect_near_relative(cpu.traces.init_factors[k], other.traces.init_factors[k], 1e-13,
                         what + " initial factor");
  }
}

const OracleCase kCases[] = {
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
     "kind = \"muon\"\nlr = 0.02\northogonalizer = \"newton_schulz\"\nns_coefficients = \"you6\""},
    {"muon_exact_sqrt_ratio",
     "kind = \"muon\"\nlr = 0.02\northogonalizer = \"exact\"\nshape_scale = \"sqrt_ratio\""},
    {"muon_rms_heavy_ball",
     "kind = \"muon\"\nlr = 0.01\northogonalizer = \"exact\"\nshape_scale = \"rms\"\nnesterov = "
     "false"},
    {"adam", "kind = \"adam\"\nlr = 0.01"},
    {"gd_rk4", "kind = \"gd\"\nlr = 0.02\nintegrator = \"rk4\""},
    {"specgd_rk4", "kind = \"specgd\"\nlr = 0.02\nintegrator = \"rk4\""},
    {"exponential",
     "kind = \"specgd\"\nlr = 0.03\n[optimizer.schedule]\nkind = \"exponential\"\ndecay = 0.99"},
    {"spike_geometric",
     "kind = \"specgd\"\nlr = 0.01\n[optimizer.schedule]\nkind = \"spike_geometric\"\neta1 = "
     "0.5\nfactor = 0.97"},
    {"cosine",
     "kind = \"muon\"\nlr = 0.03\n[optimizer.schedule]\nkind = \"cosine\"\nwarmup = 10\nmin_lr = "
     "0.001"},
    {"piecewise",
     "kind = \"gd\"\nlr = 0.02\n[optimizer.schedule]\nkind = \"piecewise\"\nsteps = [0, "
     "50]\nvalues = [0.03, 0.01]"},
    {"depth3_l2_orthogonal", "kind = \"specgd\"\nlr = 0.01",
     "m = 20\nn = 16\nrank = 4\ndepth = 3\nl2 = 0.01",
     "factors = [\"orthogonal\", \"orthogonal\", \"gaussian\"]\nscale = 0.3\nscale_mode = \"fan\""},
    {"spectral_init_log_records", "kind = \"gd\"\nlr = 0.02", "m = 20\nn = 16\nrank = 4",
     "factors = [\"spectral\", \"spectral\"]\nscale = 0.05", "[3.0, 2.0, 1.5, 1.0]",
     "traced_seeds = 40\npoints = 12\nspacing = \"log\""},
    {"rank_below_target", "kind = \"specgd\"\nlr = 0.02", "m = 20\nn = 16\nrank = 2"},
    {"overparameterized", "kind = \"muon\"\nlr = 0.02\northogonalizer = \"exact\"\nmomentum = 0.0",
     "m = 12\nn = 10\nrank = 24"},
};

void PrintTo(const OracleCase& c, std::ostream* os) {
  *os << c.name;
}

// A backend and how it is told to run: the GPU backend's batched strategy is forced on every cell
// it computes (depth 2, step integrator, no basin probe), so the small oracle cases cover it too.
struct UnderTest {
  const char* label;
  const char* backend;
  long batched_min_entries;
};
void PrintTo(const UnderTest& u, std::ostream* os) {
  *os << u.label;
}

class MatchesCpuOracle : public ::testing::TestWithParam<std::tuple<UnderTest, OracleCase>> {
 protected:
  void SetUp() override {
    if (const std::string why = testing::unavailable(std::get<0>(GetParam()).backend); !why.empty())
      GTEST_SKIP() << why;
  }
};

TEST_P(MatchesCpuOracle, OutcomesTracesAndFactors) {
  const auto& [under_test, c] = GetParam();
  BackendOptions options;
  options.batched_min_entries = under_test.batched_min_entries;
  for (Precision precision : {Precision::fp64, Precision::fp32}) {
    const Config cfg = oracle_config(c, precision);
    const auto cpu = testing::run_seeds("cpu", cfg, 0, cfg.run.seeds, 4096);
    const auto other = testing::run_seeds(under_test.backend, cfg, 0, cfg.run.seeds, 4096, options);
    expect_matches(cpu, other, tolerance(precision),
                   std::string(c.name) + (precision == Precision::fp64 ? " fp64" : " fp32"));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, MatchesCpuOracle,
                         ::testing::Combine(::testing::Values(UnderTest{"cuda", "cuda", -1},
                                                              UnderTest{"cuda_batched", "cuda", 0}),
                                            ::testing::ValuesIn(kCases)),
                         [](const auto& p) {
                           return std::string(std::get<0>(p.param).label) + "_" +
                                  std::get<1>(p.param).name;
                         });

class BackendContract : public testing::BackendSuite {};

// Items of different cells, shapes and seed ranges in one call give what each gives alone on the
// CPU: a backend that batches across cells must keep their data apart.
TEST_P(BackendContract, ManyCellsInOneCall) {
  const Config a = oracle_config(kCases[1], Precision::fp32);
  const Config b = oracle_config(kCases[16], Precision::fp32);
  const CellProblem pa = make_cell_problem(a, 0), pb = make_cell_problem(b, 1);
  struct Slot {
    const CellProblem* cp;
    long first, count;
    SeedOutcomes outcomes;
    SeedTraces traces;
  };
  auto slots_of = [&] {
    std::vector<Slot> slots = {{&pa, 0, 40, {}, {}}, {&pb, 0, 13, {}, {}}, {&pb, 13, 27, {}, {}}};
    for (Slot& s : slots) {
      s.outcomes.resize(s.first, s.count, s.cp->shape.r);
      const long traced =
          std::min<long>(s.first + s.count, s.cp->config.record.traced_seeds) - s.first;
      s.traces.resize(s.first, std::max(0L, traced), *s.cp);
    }
    return slots;
  };
  auto together = slots_of(), alone = slots_of();
  std::vector<WorkItem> items;
  for (Slot& s : together)
    items.push_back(WorkItem{s.cp, s.first, s.count, &s.outcomes, &s.traces});
  make_backend(GetParam(), {})->run(items);
  const auto cpu = make_backend("cpu", {});
  for (Slot& s : alone) cpu->run(*s.cp, s.first, s.count, s.outcomes, s.traces);
  for (size_t k = 0; k < together.size(); ++k) {
    const Slot &t = together[k], &a1 = alone[k];
    EXPECT_EQ(a1.outcomes.status, t.outcomes.status) << "item " << k;
    expect_near_relative(a1.outcomes.final_loss, t.outcomes.final_loss, 1e-3,
                         "final_loss of item " + std::to_string(k));
    expect_near_relative(a1.traces.loss, t.traces.loss, 1e-3,
                         "trace loss of item " + std::to_string(k));
    expect_near_relative(a1.traces.sv, t.traces.sv, 1e-3, "trace sv of item " + std::to_string(k));
  }
}

// However little device memory a launch may use (so the work is cut into many launches), every
// seed's results are bitwise those of one launch.
TEST_P(BackendContract, ResultsDoNotDependOnLaunchSize) {
  const Config cfg = oracle_config(kCases[4], Precision::fp32);
  const auto whole = testing::run_seeds(GetParam(), cfg, 0, cfg.run.seeds, 4096);
  BackendOptions small;
  small.device_memory = 64 * 1024;  // a warp of these seeds needs ~40 KB: about one warp per launch
  const auto pieces = testing::run_seeds(GetParam(), cfg, 0, cfg.run.seeds, 4096, small);
  EXPECT_EQ(whole.outcomes.final_loss, pieces.outcomes.final_loss);
  EXPECT_EQ(whole.outcomes.hit_step, pieces.outcomes.hit_step);
  EXPECT_EQ(whole.traces.sv, pieces.traces.sv);
  EXPECT_EQ(whole.traces.final_factors[0], pieces.traces.final_factors[0]);
}

// The basin probe restarts converged seeds; fp64 keeps every restart's verdict away from the
// tolerance, so the fractions match the CPU's exactly.
TEST_P(BackendContract, BasinProbeMatchesCpu) {
  if (GetParam() == "cpu") GTEST_SKIP() << "the CPU backend is the oracle";
  Config cfg =
      oracle_config(kCases[0], Precision::fp64);  // GD: converges, unlike constant-rate SpecGD
  cfg.optimizer.schedule.lr = cfg.optimizer.lr = 0.1;
  cfg.run.steps = 300;
  cfg.run.seeds = 12;
  cfg.basin.probes = 4;
  const auto cpu = testing::run_seeds("cpu", cfg, 0, cfg.run.seeds, 4096);
  const auto other = testing::run_seeds(GetParam(), cfg, 0, cfg.run.seeds, 4096);
  long probed = 0;
  for (long s = 0; s < cfg.run.seeds; ++s) {
    ASSERT_EQ(cpu.outcomes.status[s], other.outcomes.status[s]) << s;
    if (std::isnan(cpu.outcomes.basin_converged[s])) continue;
    ++probed;
    EXPECT_EQ(cpu.outcomes.basin_converged[s], other.outcomes.basin_converged[s]) << s;
    EXPECT_EQ(cpu.outcomes.basin_closer[s], other.outcomes.basin_closer[s]) << s;
  }
  EXPECT_GT(probed, 0) << "no seed converged: the comparison is vacuous";
}

// A raised cancellation flag makes the call throw Cancelled rather than return partial results.
TEST_P(BackendContract, RaisedCancelFlagThrowsCancelled) {
  const Config cfg = oracle_config(kCases[1], Precision::fp32);
  const std::atomic<bool> cancel{true};
  BackendOptions options;
  options.cancel = &cancel;
  EXPECT_THROW(testing::run_seeds(GetParam(), cfg, 0, cfg.run.seeds, 4096, options), Cancelled);
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendContract, ::testing::Values("cpu", "cuda"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace specsweep
