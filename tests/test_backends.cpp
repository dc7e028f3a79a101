// Every backend against the CPU oracle on well-conditioned cases: per optimizer, orthogonalizer,
// schedule, integrator, depth and initialization, in fp64 and fp32: identical statuses, hitting
// times within a step, losses, traces and final factors within a tolerance, initial factors equal
// to rounding. Plus what a backend must do whatever its strategy: many cells in one call, results
// independent of how it cuts the work into launches, the basin probe, cancellation.
#include <gtest/gtest.h>

#include <algorithm>
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
#include "errors.hpp"
#include "oracle_assertions.hpp"

namespace specsweep {
namespace {

using testing::config_from;

// A backend and how it is told to run: each of the GPU backend's strategies is forced on every
// cell it computes (the batched and block ones: depth 2, step integrator, no basin probe), so the
// small oracle cases cover them all, and the batched one once more in chunks of one warp, so that
// a cell's batched runs are several.
struct UnderTest {
  const char* label;
  const char* backend;
  BackendOptions::GpuStrategy strategy;
  long max_chunk_seeds;
};
void PrintTo(const UnderTest& u, std::ostream* os) {
  *os << u.label;
}

class MatchesCpuOracle : public ::testing::TestWithParam<std::tuple<UnderTest, OracleCase>> {
 protected:
  void SetUp() override { SPECSWEEP_SKIP_IF_UNAVAILABLE(std::get<0>(GetParam()).backend); }
};

using Gpu = BackendOptions::GpuStrategy;

TEST_P(MatchesCpuOracle, OutcomesTracesAndFactors) {
  const auto& [under_test, c] = GetParam();
  BackendOptions options;
  options.gpu_strategy = under_test.strategy;
  options.max_chunk_seeds = under_test.max_chunk_seeds;
  for (Precision precision : oracle_precisions(c)) {
    const Config cfg = oracle_config(c, precision);
    const auto cpu = run_seed_range("cpu", cfg, 0, cfg.run.seeds, 4096);
    testing::expect_well_conditioned(cfg, cpu, oracle_tolerance(precision));
    const auto other = run_seed_range(under_test.backend, cfg, 0, cfg.run.seeds, 4096, options);
    testing::expect_matches(
        cpu, other, oracle_tolerance(precision),
        std::string(c.name) + (precision == Precision::fp64 ? " fp64" : " fp32"));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Backends, MatchesCpuOracle,
    ::testing::Combine(::testing::Values(UnderTest{"cuda", "cuda", Gpu::automatic, 0},
                                         UnderTest{"cuda_fused", "cuda", Gpu::fused, 0},
                                         UnderTest{"cuda_batched", "cuda", Gpu::batched, 0},
                                         UnderTest{"cuda_batched_chunks", "cuda", Gpu::batched, 32},
                                         UnderTest{"cuda_block", "cuda", Gpu::block, 0}),
                       ::testing::ValuesIn(oracle_cases())),
    [](const auto& p) {
      return std::string(std::get<0>(p.param).label) + "_" + std::get<1>(p.param).name;
    });

// The oracle's measure (host/oracle.hpp) flags a difference by how large it is against the
// value, or against its quantity's floor near zero, and every discrete difference; nothing else.
TEST(OracleMeasure, FlagsWhatDiffersAndOnlyThat) {
  const Config cfg = oracle_config(oracle_cases()[1], Precision::fp64);
  const SeedRangeRun cpu = run_seed_range("cpu", cfg, 0, cfg.run.seeds, 4096);
  const double tol = oracle_tolerance(Precision::fp64), floor = oracle_floor(Precision::fp64);
  EXPECT_EQ(compare_with_oracle(cpu, cpu).worst, 0);
  EXPECT_TRUE(compare_with_oracle(cpu, cpu).disagreements.empty());

  SeedRangeRun other = cpu;
  other.outcomes.final_loss[3] *= 1 + 3 * tol;
  OracleGap gap = compare_with_oracle(cpu, other);
  EXPECT_NEAR(gap.worst, 3 * tol, 1e-3 * tol);
  EXPECT_NE(gap.where.find("final_loss [3]"), std::string::npos) << gap.where;

  // A singular value far below the largest on record is judged against the floor.
  SeedRangeRun tiny = cpu;
  const double scale = *std::max_element(cpu.traces.sv.begin(), cpu.traces.sv.end());
  tiny.traces.sv[9] = floor * scale / 100;
  other = tiny;
  other.traces.sv[9] += 0.5 * tol * floor * scale;  // 50 tolerances of the value itself
  EXPECT_NEAR(compare_with_oracle(tiny, other).worst, 0.5 * tol, 1e-3 * tol);
  other.traces.sv[9] = tiny.traces.sv[9] + 2 * tol * floor * scale;
  EXPECT_NEAR(compare_with_oracle(tiny, other).worst, 2 * tol, 1e-3 * tol);

  other = cpu;
  other.outcomes.hit_step[0] += 1;  // a hitting time one step off is rounding
  EXPECT_TRUE(compare_with_oracle(cpu, other).disagreements.empty());
  other.outcomes.hit_step[0] += 1;
  EXPECT_EQ(compare_with_oracle(cpu, other).disagreements.size(), 1u);
  other = cpu;
  other.outcomes.status[5] = static_cast<std::int8_t>(Status::diverged) != cpu.outcomes.status[5]
                                 ? static_cast<std::int8_t>(Status::diverged)
                                 : static_cast<std::int8_t>(Status::converged);
  EXPECT_EQ(compare_with_oracle(cpu, other).disagreements.size(), 1u);
  other = cpu;
  other.traces.init_factors[0][7] *= 1 + 1e-12;  // the same random draw must agree to 1e-13
  gap = compare_with_oracle(cpu, other);
  EXPECT_EQ(gap.worst, 0);
  EXPECT_EQ(gap.disagreements.size(), 1u);
  other = cpu;
  other.traces.loss[2] = std::nan("");
  EXPECT_EQ(compare_with_oracle(cpu, other).worst, HUGE_VAL);
}

class BackendContract : public testing::BackendSuite {};

// Items of different cells, shapes and seed ranges in one call give what each gives alone on the
// CPU: a backend that batches across cells must keep their data apart.
TEST_P(BackendContract, ManyCellsInOneCall) {
  const Config a = oracle_config(oracle_cases()[1], Precision::fp32);
  const Config b = oracle_config(oracle_cases()[16], Precision::fp32);
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
    testing::expect_matches(SeedRangeRun{*a1.cp, a1.outcomes, a1.traces},
                            SeedRangeRun{*t.cp, t.outcomes, t.traces},
                            oracle_tolerance(Precision::fp32), "item " + std::to_string(k));
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
  const std::vector<std::string> optimizers = {"lr = 0.01", "lr = 0.03", "lr = 0.003",
                                               "lr = 0.03\nmomentum = 0.5"};
  std::vector<CellProblem> cells;
  for (size_t c = 0; c < optimizers.size(); ++c)
    cells.push_back(
        make_cell_problem(config_from(base + optimizers[c]), static_cast<std::uint32_t>(c)));
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
  for (size_t c = 0; c < cells.size(); ++c)
    backend->run(cells[c], 0, 5, alone[c].outcomes, alone[c].traces);
  for (size_t c = 0; c < cells.size(); ++c) {
    EXPECT_EQ(alone[c].outcomes.final_loss, together[c].outcomes.final_loss) << "cell " << c;
    EXPECT_EQ(alone[c].outcomes.hit_step, together[c].outcomes.hit_step) << "cell " << c;
    EXPECT_EQ(alone[c].traces.loss, together[c].traces.loss) << "cell " << c;
    EXPECT_EQ(alone[c].traces.final_factors[0], together[c].traces.final_factors[0])
        << "cell " << c;
  }
  // The learning rates matter: the cells' results differ.
  EXPECT_NE(together[0].outcomes.final_loss, together[1].outcomes.final_loss);
  EXPECT_NE(together[1].outcomes.final_loss, together[3].outcomes.final_loss);
}

// However little device memory a launch may use (so the work is cut into many launches), every
// seed's results are bitwise those of one launch.
TEST_P(BackendContract, ResultsDoNotDependOnLaunchSize) {
  const Config cfg = oracle_config(oracle_cases()[4], Precision::fp32);
  const auto whole = run_seed_range(GetParam(), cfg, 0, cfg.run.seeds, 4096);
  // A launch of the fused kernel needs, per warp, 32 seeds' engine arena (EngineLayout::total
  // values) plus less than half as much again (initialization in double, outcomes, traces): this
  // budget holds one warp and not two, so the 40 seeds take two launches.
  const CellProblem cp = make_cell_problem(cfg, 0);
  const EngineLayout layout(cp.shape, cfg.optimizer_params(), cp.modes);
  BackendOptions small;
  small.device_memory = static_cast<std::size_t>(2.5 * 32 * sizeof(float) * layout.total);
  const auto pieces = run_seed_range(GetParam(), cfg, 0, cfg.run.seeds, 4096, small);
  EXPECT_EQ(whole.outcomes.final_loss, pieces.outcomes.final_loss);
  EXPECT_EQ(whole.outcomes.hit_step, pieces.outcomes.hit_step);
  EXPECT_EQ(whole.traces.sv, pieces.traces.sv);
  EXPECT_EQ(whole.traces.final_factors[0], pieces.traces.final_factors[0]);
}

// The basin probe restarts converged seeds; fp64 keeps every restart's verdict away from the
// tolerance, so the fractions match the CPU's exactly.
TEST_P(BackendContract, BasinProbeMatchesCpu) {
  if (GetParam() == "cpu") GTEST_SKIP() << "the CPU backend is the oracle";
  Config cfg = oracle_config(oracle_cases()[0],
                             Precision::fp64);  // GD: converges, unlike constant-rate SpecGD
  cfg.optimizer.schedule.lr = cfg.optimizer.lr = 0.1;
  cfg.run.steps = 300;
  cfg.run.seeds = 12;
  cfg.basin.probes = 4;
  const auto cpu = run_seed_range("cpu", cfg, 0, cfg.run.seeds, 4096);
  const auto other = run_seed_range(GetParam(), cfg, 0, cfg.run.seeds, 4096);
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
  const Config cfg = oracle_config(oracle_cases()[1], Precision::fp32);
  const std::atomic<bool> cancel{true};
  BackendOptions options;
  options.cancel = &cancel;
  EXPECT_THROW(run_seed_range(GetParam(), cfg, 0, cfg.run.seeds, 4096, options), Cancelled);
}

// A flag raised while a seed's trajectory is under way stops it within a few steps, not at the end
// of its trajectory: one pack of this cell takes minutes to finish (a SIGINT once waited 16 s).
TEST_P(BackendContract, CancelFlagStopsATrajectoryUnderWay) {
  if (GetParam() != "cpu")
    GTEST_SKIP() << "the GPU's kernels run to their end; its launches are short";
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
points = 2
)");
  // Two record steps, not one per step: building 16 million of them took seconds under ASan before
  // the trajectory began, and a flag raised then was timed with them (7 s on a loaded CI machine).
  std::atomic<bool> cancel{false};
  BackendOptions options;
  options.cancel = &cancel;
  options.threads = 1;
  auto run = std::async(std::launch::async,
                        [&] { return run_seed_range(GetParam(), cfg, 0, 1, 1, options); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto raised = std::chrono::steady_clock::now();
  cancel = true;
  EXPECT_THROW(run.get(), Cancelled);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - raised).count(), 5.0);
}

// strategy_for names the strategy that computes a cell: the forced one where it computes the cell
// (depth 2: every GPU strategy), the fused one where it does not (depth 3: fused only), and never
// "auto"; a backend with one way says "".
TEST_P(BackendContract, StrategyForNamesTheStrategyThatRuns) {
  auto case_named = [](const std::string& name) {
    const auto found = std::find_if(oracle_cases().begin(), oracle_cases().end(),
                                    [&](const OracleCase& oc) { return oc.name == name; });
    EXPECT_NE(found, oracle_cases().end()) << name;
    return make_cell_problem(oracle_config(*found, Precision::fp32), 0);
  };
  const CellProblem depth2 = case_named("specgd_exact"),
                    depth3 = case_named("depth3_l2_orthogonal");
  for (const Gpu forced : {Gpu::automatic, Gpu::fused, Gpu::batched, Gpu::block}) {
    BackendOptions options;
    options.gpu_strategy = forced;
    const auto backend = make_backend(GetParam(), options);
    const std::string name = gpu_strategy_name(forced);
    if (GetParam() == "cpu") {
      EXPECT_EQ(backend->strategy_for(depth2), "") << name;
      continue;
    }
    const std::string chosen = backend->strategy_for(depth2);
    EXPECT_TRUE(chosen == "fused" || chosen == "batched" || chosen == "block")
        << name << ": " << chosen;
    if (forced != Gpu::automatic) {
      EXPECT_EQ(chosen, name);
    }
    EXPECT_EQ(backend->strategy_for(depth3), "fused") << name;
  }
}

// The strategies' names and back, and an unknown one refused naming the option it came from.
TEST(GpuStrategyNames, RoundTripAndRefuseUnknownNames) {
  for (const Gpu s : {Gpu::automatic, Gpu::fused, Gpu::batched, Gpu::block})
    EXPECT_EQ(gpu_strategy_named(gpu_strategy_name(s), "--strategy"), s);
  EXPECT_EQ(gpu_strategy_name(Gpu::automatic), "auto");
  try {
    gpu_strategy_named("blocked", "--strategy");
    ADD_FAILURE() << "an unknown strategy was accepted";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("--strategy"), std::string::npos) << what;
    EXPECT_NE(what.find("'blocked'"), std::string::npos) << what;
    EXPECT_NE(what.find("block"), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendContract, ::testing::Values("cpu", "cuda"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace specsweep
