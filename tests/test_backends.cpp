// Every backend against the CPU oracle on well-conditioned cases: per optimizer, orthogonalizer,
// schedule, integrator, depth and initialization, in fp64 and fp32: identical statuses, hitting
// times within a step, losses, traces and final factors within a tolerance, initial factors equal
// to rounding. Plus what a backend must do whatever its strategy: many cells in one call, results
// independent of how it cuts the work into launches, the basin probe, cancellation.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <future>
#include <ostream>
#include <string>
#include <thread>
#include <tuple>

#include "backend_fixture.hpp"
#include "core/trajectory.hpp"
#include "oracle.hpp"

namespace specsweep {
namespace {

using testing::config_from;
using testing::kCases;
using testing::oracle_config;
using testing::OracleCase;

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
    SPECSWEEP_SKIP_IF_UNAVAILABLE(std::get<0>(GetParam()).backend);
  }
};

TEST_P(MatchesCpuOracle, OutcomesTracesAndFactors) {
  const auto& [under_test, c] = GetParam();
  BackendOptions options;
  options.batched_min_entries = under_test.batched_min_entries;
  for (Precision precision : testing::oracle_precisions(c)) {
    const Config cfg = oracle_config(c, precision);
    const auto cpu = testing::run_seeds("cpu", cfg, 0, cfg.run.seeds, 4096);
    testing::expect_well_conditioned(cfg, cpu, testing::tolerance(precision));
    const auto other = testing::run_seeds(under_test.backend, cfg, 0, cfg.run.seeds, 4096, options);
    testing::expect_matches(
        cpu, other, testing::tolerance(precision),
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
      s.traces.resize_for_seeds(s.first, s.count, *s.cp);
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
    testing::expect_near_relative(a1.outcomes.final_loss, t.outcomes.final_loss, 1e-3,
                                  "final_loss of item " + std::to_string(k));
    testing::expect_near_relative(a1.traces.loss, t.traces.loss, 1e-3,
                                  "trace loss of item " + std::to_string(k));
    testing::expect_near_relative(a1.traces.sv, t.traces.sv, 1e-3,
                                  "trace sv of item " + std::to_string(k));
  }
}

// Cells of a learning-rate sweep share SIMD packs on the CPU (5 seeds each: three cells fill one
// 16-lane pack); a cell that differs in another key (momentum) must not. Each seed's results are
// bitwise those of its cell run alone.
TEST_P(BackendContract, LearningRateSweepCellsGiveTheirOwnResultsTogether) {
  const std::string base = R"(
[problem]
m = 8
n = 6
rank = 3
[problem.target]
spectrum = [2.0, 1.0, 0.5]
[init]
factors = ["gaussian", "gaussian"]
scale = 0.1
[run]
steps = 60
seeds = 5
[record]
every = 10
traced_seeds = 2
[optimizer]
kind = "muon"
orthogonalizer = "exact"
)";
  const std::vector<std::string> optimizers = {"lr = 0.01", "lr = 0.03", "lr = 0.003", "lr = 0.03\nmomentum = 0.5"};
  std::vector<CellProblem> cells;
  for (size_t c = 0; c < optimizers.size(); ++c)
    cells.push_back(make_cell_problem(config_from(base + optimizers[c]), static_cast<std::uint32_t>(c)));
  struct Slot {
    SeedOutcomes outcomes;
    SeedTraces traces;
  };
  auto slots_of = [&] {
    std::vector<Slot> slots(cells.size());
    for (size_t c = 0; c < cells.size(); ++c) {
      slots[c].outcomes.resize(0, 5, 3);
      slots[c].traces.resize_for_seeds(0, 5, cells[c]);
    }
    return slots;
  };
  auto together = slots_of(), alone = slots_of();
  std::vector<WorkItem> items;
  for (size_t c = 0; c < cells.size(); ++c)
    items.push_back(WorkItem{&cells[c], 0, 5, &together[c].outcomes, &together[c].traces});
  const auto backend = make_backend(GetParam(), {});
  backend->run(items);
  for (size_t c = 0; c < cells.size(); ++c) backend->run(cells[c], 0, 5, alone[c].outcomes, alone[c].traces);
  for (size_t c = 0; c < cells.size(); ++c) {
    EXPECT_EQ(alone[c].outcomes.final_loss, together[c].outcomes.final_loss) << "cell " << c;
    EXPECT_EQ(alone[c].outcomes.hit_step, together[c].outcomes.hit_step) << "cell " << c;
    EXPECT_EQ(alone[c].traces.loss, together[c].traces.loss) << "cell " << c;
    EXPECT_EQ(alone[c].traces.final_factors[0], together[c].traces.final_factors[0]) << "cell " << c;
  }
  // The learning rates matter: the cells' results differ.
  EXPECT_NE(together[0].outcomes.final_loss, together[1].outcomes.final_loss);
  EXPECT_NE(together[1].outcomes.final_loss, together[3].outcomes.final_loss);
}

// However little device memory a launch may use (so the work is cut into many launches), every
// seed's results are bitwise those of one launch.
TEST_P(BackendContract, ResultsDoNotDependOnLaunchSize) {
  const Config cfg = oracle_config(kCases[4], Precision::fp32);
  const auto whole = testing::run_seeds(GetParam(), cfg, 0, cfg.run.seeds, 4096);
  // A launch of the fused kernel needs, per warp, 32 seeds' engine arena (EngineLayout::total
  // values) plus less than half as much again (initialization in double, outcomes, traces): this
  // budget holds one warp and not two, so the 40 seeds take two launches.
  const CellProblem cp = make_cell_problem(cfg, 0);
  const EngineLayout layout(cp.shape, cfg.optimizer_params(), cp.modes);
  BackendOptions small;
  small.device_memory = static_cast<std::size_t>(2.5 * 32 * sizeof(float) * layout.total);
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

// A flag raised while a seed's trajectory is under way stops it within a few steps, not at the end
// of its trajectory: one pack of this cell takes minutes to finish (a SIGINT once waited 16 s).
TEST_P(BackendContract, CancelFlagStopsATrajectoryUnderWay) {
  if (GetParam() != "cpu") GTEST_SKIP() << "the GPU's kernels run to their end; its launches are short";
  const Config cfg = config_from(R"(
[problem]
m = 48
n = 48
rank = 16
[problem.target]
spectrum = { kind = "power", scale = 1.0, exponent = 1.0, count = 16 }
[optimizer]
kind = "specgd"
lr = 1e-4
[run]
steps = 16000000
seeds = 1
[record]
traced_seeds = 0
)");
  std::atomic<bool> cancel{false};
  BackendOptions options;
  options.cancel = &cancel;
  options.threads = 1;
  auto run = std::async(std::launch::async, [&] { return testing::run_seeds(GetParam(), cfg, 0, 1, 1, options); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto raised = std::chrono::steady_clock::now();
  cancel = true;
  EXPECT_THROW(run.get(), Cancelled);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - raised).count(), 5.0);
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendContract, ::testing::Values("cpu", "cuda"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace specsweep
