// Sweeps (DESIGN section 5, [sweep]): the cells of the cartesian product of the axes, the axis
// forms, the keys that cannot be swept, per-cell validation, --set against the base, the
// Experiment::to_toml round trip; and the [basin] table.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "config.hpp"
#include "errors.hpp"

namespace specsweep {
namespace {

Experiment px(const std::string& text, const std::vector<std::string>& overrides = {}) {
  return parse_experiment(text, "test.toml", overrides);
}

// The InputError message of parse_experiment(text), or a test failure if it parses.
std::string sweep_error(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    px(text, overrides);
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an InputError for:\n" << text;
  return {};
}

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << "message: " << (msg)

// The error names `key` and the place in the file.
void expect_sweep_error(const std::string& text, const std::string& key) {
  const std::string msg = sweep_error(text);
  EXPECT_HAS(msg, key);
  EXPECT_HAS(msg, "line ");
  EXPECT_HAS(msg, "column ");
}

void expect_near_rel(double got, double want) {
  EXPECT_LE(std::abs(got - want), 1e-15 * std::abs(want)) << "got " << got << ", want " << want;
}

// ---- cells ----

TEST(Sweep, TwoAxesGiveTheProductInOrder) {
  const Experiment ex = px(R"(
[optimizer]
lr = 0.05
[sweep]
"init.scale" = [1e-5, 1e-4, 1e-3]
"optimizer.kind" = ["gd", "muon"]
)");
  ASSERT_EQ(ex.axes.size(), 2u);
  EXPECT_EQ(ex.axes[0].key, "init.scale");
  EXPECT_TRUE(ex.axes[0].numeric);
  EXPECT_FALSE(ex.axes[0].integral);
  EXPECT_EQ(ex.axes[0].numbers, (std::vector<double>{1e-5, 1e-4, 1e-3}));
  EXPECT_EQ(ex.axes[1].key, "optimizer.kind");
  EXPECT_FALSE(ex.axes[1].numeric);
  EXPECT_FALSE(ex.axes[1].boolean);
  EXPECT_EQ(ex.axes[1].labels, (std::vector<std::string>{"gd", "muon"}));
  ASSERT_EQ(ex.cells.size(), 6u);
  const double scales[] = {1e-5, 1e-5, 1e-4, 1e-4, 1e-3, 1e-3};
  const OptimizerKind kinds[] = {OptimizerKind::gd,   OptimizerKind::muon, OptimizerKind::gd,
                                 OptimizerKind::muon, OptimizerKind::gd,   OptimizerKind::muon};
  for (size_t c = 0; c < 6; ++c) {
    SCOPED_TRACE(c);
    EXPECT_EQ(ex.cells[c].init.scale, scales[c]);
    EXPECT_EQ(ex.cells[c].optimizer.kind, kinds[c]);
    EXPECT_EQ(ex.cells[c].optimizer.lr, 0.05);  // the base is shared
    EXPECT_EQ(ex.axis_indices(c), (std::vector<size_t>{c / 2, c % 2}));
  }
  EXPECT_THROW(ex.axis_indices(6), std::out_of_range);
}

TEST(Sweep, AxesFollowTheFileOrderNotTheKeyOrder) {
  const Experiment ex = px(R"(
[sweep]
"optimizer.kind" = ["gd", "muon"]
"init.scale" = [1e-5, 1e-4, 1e-3]
)");
  ASSERT_EQ(ex.axes.size(), 2u);
  EXPECT_EQ(ex.axes[0].key, "optimizer.kind");
  EXPECT_EQ(ex.axes[1].key, "init.scale");
  ASSERT_EQ(ex.cells.size(), 6u);
  EXPECT_EQ(ex.cells[1].optimizer.kind, OptimizerKind::gd);
  EXPECT_EQ(ex.cells[1].init.scale, 1e-4);
  EXPECT_EQ(ex.cells[3].optimizer.kind, OptimizerKind::muon);
  EXPECT_EQ(ex.cells[3].init.scale, 1e-5);
  EXPECT_EQ(ex.axis_indices(5), (std::vector<size_t>{1, 2}));
}

TEST(Sweep, ThreeAxesMixedRadix) {
  const Experiment ex = px(R"(
[sweep]
"run.master_seed" = [1, 2]
"optimizer.lr" = [0.1, 0.2, 0.3]
"init.scale" = [1e-3, 1e-2, 1e-1, 1.0]
)");
  ASSERT_EQ(ex.cells.size(), 24u);
  for (size_t c = 0; c < 24; ++c) {
    const auto idx = ex.axis_indices(c);
    ASSERT_EQ(idx.size(), 3u);
    EXPECT_EQ(idx[0], c / 12);
    EXPECT_EQ(idx[1], (c / 4) % 3);
    EXPECT_EQ(idx[2], c % 4);
    EXPECT_EQ(ex.cells[c].run.master_seed, 1 + idx[0]);
    EXPECT_EQ(ex.cells[c].optimizer.lr, ex.axes[1].numbers[idx[1]]);
    EXPECT_EQ(ex.cells[c].init.scale, ex.axes[2].numbers[idx[2]]);
  }
}

TEST(Sweep, DottedKeysAndSubtablesAreAxesToo) {
  const Experiment ex = px(R"(
[sweep]
optimizer.lr = [0.1, 0.2]
[sweep.init]
scale = [1e-4, 1e-3]
)");
  ASSERT_EQ(ex.axes.size(), 2u);
  EXPECT_EQ(ex.axes[0].key, "optimizer.lr");
  EXPECT_EQ(ex.axes[1].key, "init.scale");
  ASSERT_EQ(ex.cells.size(), 4u);
  EXPECT_EQ(ex.cells[1].optimizer.lr, 0.1);
  EXPECT_EQ(ex.cells[1].init.scale, 1e-3);
}

TEST(Sweep, Linspace) {
  const Experiment ex = px("[sweep]\n\"optimizer.lr\" = { linspace = [0.1, 1.3], count = 7 }\n");
  ASSERT_EQ(ex.cells.size(), 7u);
  const double a = 0.1, b = 1.3;
  for (size_t i = 0; i < 7; ++i) {
    const double want = a + (b - a) * (static_cast<double>(i) / 6.0);
    expect_near_rel(ex.axes[0].numbers[i], want);
    EXPECT_EQ(ex.cells[i].optimizer.lr, ex.axes[0].numbers[i]);
  }
  EXPECT_EQ(ex.axes[0].numbers.front(), a);  // the ends are exact
  EXPECT_EQ(ex.axes[0].numbers.back(), b);
  const Experiment one = px("[sweep]\n\"optimizer.lr\" = { linspace = [0.2, 0.9], count = 1 }\n");
  ASSERT_EQ(one.cells.size(), 1u);
  EXPECT_EQ(one.cells[0].optimizer.lr, 0.2);
}

TEST(Sweep, Logspace) {
  // The LR sweep of Rhee et al.: 200 log-spaced values in [0.007, 2.8].
  const Experiment ex =
      px("[sweep]\n\"optimizer.lr\" = { logspace = [0.007, 2.8], count = 200 }\n");
  ASSERT_EQ(ex.cells.size(), 200u);
  const double a = 0.007, b = 2.8;
  for (size_t i = 0; i < 200; ++i) {
    const double want = a * std::pow(b / a, static_cast<double>(i) / 199.0);
    expect_near_rel(ex.cells[i].optimizer.lr, want);
    if (i > 0) {
      EXPECT_GT(ex.cells[i].optimizer.lr, ex.cells[i - 1].optimizer.lr);
    }
  }
  EXPECT_EQ(ex.cells.front().optimizer.lr, a);
  EXPECT_EQ(ex.cells.back().optimizer.lr, b);
  // Closed form against exp/log too (a different rounding path).
  for (size_t i = 0; i < 200; ++i)
    EXPECT_NEAR(
        ex.cells[i].optimizer.lr,
        std::exp(std::log(a) + (std::log(b) - std::log(a)) * static_cast<double>(i) / 199.0),
        4e-15 * ex.cells[i].optimizer.lr);
  const Experiment down = px("[sweep]\n\"init.scale\" = { logspace = [1, 1e-4], count = 5 }\n");
  for (size_t i = 0; i < 5; ++i)
    expect_near_rel(down.cells[i].init.scale, std::pow(10.0, -static_cast<double>(i)));
}

TEST(Sweep, IntegerAxis) {
  const Experiment ex = px("[sweep]\n\"run.master_seed\" = [1, 2, 3, 9007199254740993]\n");
  ASSERT_EQ(ex.cells.size(), 4u);
  EXPECT_TRUE(ex.axes[0].integral);
  EXPECT_EQ(ex.axes[0].integers, (std::vector<long long>{1, 2, 3, 9007199254740993LL}));
  EXPECT_EQ(ex.cells[0].run.master_seed, 1u);
  EXPECT_EQ(ex.cells[2].run.master_seed, 3u);
  EXPECT_EQ(ex.cells[3].run.master_seed, 9007199254740993ULL);  // exact beyond 2^53
  // A float among the values makes the axis floating, which an integer key refuses.
  const std::string msg = sweep_error("[sweep]\n\"run.master_seed\" = [1, 2.5]\n");
  EXPECT_HAS(msg, "run.master_seed");
  EXPECT_HAS(msg, "integer");
}

TEST(Sweep, IntegersForFloatKeys) {
  const Experiment ex = px("[sweep]\n\"optimizer.lr\" = [1, 2]\n\"init.scale\" = [1, 2.5]\n");
  ASSERT_EQ(ex.cells.size(), 4u);
  EXPECT_TRUE(ex.axes[0].integral);
  EXPECT_FALSE(ex.axes[1].integral);
  EXPECT_EQ(ex.cells[2].optimizer.lr, 2.0);
  EXPECT_EQ(ex.cells[3].init.scale, 2.5);
}

TEST(Sweep, BooleanAxis) {
  const Experiment ex =
      px("[optimizer]\nkind = \"muon\"\n[sweep]\n\"optimizer.nesterov\" = [true, false]\n");
  ASSERT_EQ(ex.cells.size(), 2u);
  EXPECT_FALSE(ex.axes[0].numeric);
  EXPECT_TRUE(ex.axes[0].boolean);
  EXPECT_EQ(ex.axes[0].labels, (std::vector<std::string>{"true", "false"}));
  EXPECT_TRUE(ex.cells[0].optimizer.nesterov);
  EXPECT_FALSE(ex.cells[1].optimizer.nesterov);
  EXPECT_EQ(ex.cells[1].optimizer.kind, OptimizerKind::muon);
}

TEST(Sweep, AxisInsideTheSpectrumTable) {
  const Experiment ex = px(R"(
[problem.target]
spectrum = { kind = "geometric", max = 1.0, condition = 10.0, count = 4 }
[sweep]
"problem.target.spectrum.condition" = [10, 100]
)");
  ASSERT_EQ(ex.cells.size(), 2u);
  const auto& s0 = ex.cells[0].problem.target.spectrum;
  const auto& s1 = ex.cells[1].problem.target.spectrum;
  ASSERT_EQ(s0.size(), 4u);
  ASSERT_EQ(s1.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(s0[i], std::pow(10.0, -i / 3.0), 1e-15);
    EXPECT_NEAR(s1[i], std::pow(100.0, -i / 3.0), 1e-15);
  }
  EXPECT_EQ(s0.back(), 0.1);
  EXPECT_EQ(s1.back(), 0.01);
  // A key the base's spectrum table does not have is added to it.
  const Experiment power = px(R"(
[problem]
m = 8
n = 8
rank = 3
[problem.target]
spectrum = { kind = "power", scale = 1.0, count = 3 }
[sweep]
"problem.target.spectrum.exponent" = [0.0, 1.0]
)");
  EXPECT_EQ(power.cells[0].problem.target.spectrum, (std::vector<double>{1, 1, 1}));
  EXPECT_EQ(power.cells[1].problem.target.spectrum, (std::vector<double>{1, 0.5, 1.0 / 3}));
}

TEST(Sweep, SchedulesAndStringPresets) {
  const Experiment ex = px(R"(
[optimizer]
orthogonalizer = "newton_schulz"
[sweep]
"optimizer.ns_coefficients" = ["jordan5", "polar_express", "you6"]
"optimizer.schedule.kind" = ["constant", "cosine"]
)");
  ASSERT_EQ(ex.cells.size(), 6u);
  EXPECT_EQ(ex.cells[0].optimizer.ns_steps, 5);
  EXPECT_EQ(ex.cells[2].optimizer.ns_preset, "polar_express");
  EXPECT_EQ(ex.cells[2].optimizer.ns_steps, 8);  // each cell derives its default
  EXPECT_EQ(ex.cells[5].optimizer.ns_steps, 6);
  EXPECT_EQ(ex.cells[5].optimizer.schedule.kind, ScheduleKind::cosine);
}

TEST(Sweep, NoSweepIsOneCellWithoutAxes) {
  const std::string text = "[optimizer]\nlr = 0.3\n[run]\nseeds = 16\n";
  const Experiment ex = px(text);
  EXPECT_TRUE(ex.axes.empty());
  ASSERT_EQ(ex.cells.size(), 1u);
  EXPECT_EQ(ex.cells[0].to_toml(), parse_config(text, "test.toml").to_toml());
  EXPECT_EQ(ex.to_toml(), ex.cells[0].to_toml());
  EXPECT_EQ(ex.axis_indices(0), std::vector<size_t>{});
  EXPECT_THROW(ex.axis_indices(1), std::out_of_range);
  const Experiment empty = px("[sweep]\n");
  EXPECT_TRUE(empty.axes.empty());
  EXPECT_EQ(empty.cells.size(), 1u);
}

TEST(Sweep, OverridesApplyToTheBase) {
  const Experiment ex =
      px("[sweep]\n\"optimizer.lr\" = [0.1, 0.2]\n", {"optimizer.kind=gd", "init.scale=0.5"});
  ASSERT_EQ(ex.cells.size(), 2u);
  for (const Config& c : ex.cells) {
    EXPECT_EQ(c.optimizer.kind, OptimizerKind::gd);
    EXPECT_EQ(c.init.scale, 0.5);
  }
  EXPECT_EQ(ex.cells[1].optimizer.lr, 0.2);
  EXPECT_EQ(ex.cells[1].optimizer.schedule.lr, 0.2);
}

TEST(Sweep, LoadExperiment) {
  const std::string path = ::testing::TempDir() + "specsweep_test_sweep.toml";
  {
    std::ofstream f(path);
    f << "[sweep]\n\"optimizer.kind\" = [\"gd\", \"specgd\"]\n";
  }
  const Experiment ex = load_experiment(path, {"run.steps=10"});
  ASSERT_EQ(ex.cells.size(), 2u);
  EXPECT_EQ(ex.cells[1].run.steps, 10);
  std::remove(path.c_str());
  try {
    load_experiment("/nonexistent/dir/sweep.toml");
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_HAS(std::string(e.what()), "/nonexistent/dir/sweep.toml");
  }
}

// ---- errors ----

TEST(SweepErrors, EmptyAxis) {
  expect_sweep_error("[sweep]\n\"optimizer.lr\" = []\n", "sweep.optimizer.lr");
  expect_sweep_error("[sweep]\n\"optimizer.lr\" = { linspace = [0.1, 1], count = 0 }\n",
                     "sweep.optimizer.lr.count");
  expect_sweep_error("[sweep]\n\"optimizer.lr\" = { logspace = [0.1, 1], count = -2 }\n",
                     "sweep.optimizer.lr.count");
  expect_sweep_error("[sweep]\n\"optimizer.lr\" = { logspace = [0.1, 1] }\n",
                     "sweep.optimizer.lr.count");
}

TEST(SweepErrors, ShapeKeysCannotBeSwept) {
  for (const char* key : {"problem.kind", "problem.m", "problem.n", "problem.rank", "problem.depth",
                          "run.seeds", "run.steps", "record.every", "record.traced_seeds",
                          "record.delta_matrices", "problem.target.spectrum.count"}) {
    const std::string msg = sweep_error(std::string("[sweep]\n\"") + key + "\" = [1, 2]\n");
    EXPECT_HAS(msg, key);
    EXPECT_HAS(msg, "cannot be swept: it changes the shape of the output (run separate configs)");
    EXPECT_HAS(msg, "line 2");
  }
}

// The record tolerances classify seeds per cell and change no shape.
TEST(Sweep, RecordTolerancesCanBeSwept) {
  const Experiment ex = parse_experiment(
      "[sweep]\n\"record.loss_tolerance\" = [1e-6, 1e-3]\n\"record.hit_tolerance\" = [0.05, 0.2]\n",
      "t.toml");
  ASSERT_EQ(ex.cells.size(), 4u);
  EXPECT_EQ(ex.cells[0].record.loss_tolerance, 1e-6);
  EXPECT_EQ(ex.cells[3].record.loss_tolerance, 1e-3);
  EXPECT_EQ(ex.cells[0].record.hit_tolerance, 0.05);
  EXPECT_EQ(ex.cells[1].record.hit_tolerance, 0.2);
  EXPECT_EQ(ex.cells[0].record.every, ex.cells[3].record.every);
}

TEST(SweepErrors, NonScalarKeysCannotBeSwept) {
  for (const char* key : {"init.factors", "problem.target.spectrum"}) {
    const std::string msg = sweep_error(std::string("[sweep]\n\"") + key + "\" = [1, 2]\n");
    EXPECT_HAS(msg, key);
    EXPECT_HAS(msg, "cannot be swept");
  }
  // A key the base gives as a table or an array.
  const std::string table_msg = sweep_error(
      "[optimizer.schedule]\nkind = \"constant\"\n[sweep]\n\"optimizer.schedule\" = [\"a\"]\n");
  EXPECT_HAS(table_msg, "optimizer.schedule");
  EXPECT_HAS(table_msg, "cannot be swept");
  EXPECT_HAS(table_msg, "line 1");
  const std::string array_msg = sweep_error(
      "[optimizer]\nns_coefficients = [[1.5, -0.5, 0]]\n[sweep]\n\"optimizer.ns_coefficients\" = "
      "[\"you6\"]\n");
  EXPECT_HAS(array_msg, "optimizer.ns_coefficients");
  EXPECT_HAS(array_msg, "cannot be swept");
  // A path through a scalar.
  const std::string path_msg =
      sweep_error("[optimizer]\nlr = 0.1\n[sweep]\n\"optimizer.lr.x\" = [1]\n");
  EXPECT_HAS(path_msg, "sweep.optimizer.lr.x");
  EXPECT_HAS(path_msg, "optimizer.lr is a float");
  // One axis inside another.
  const std::string nested_msg = sweep_error(
      "[sweep]\n\"optimizer.schedule\" = [\"a\"]\n\"optimizer.schedule.kind\" = [\"constant\"]\n");
  EXPECT_HAS(nested_msg, "optimizer.schedule.kind");
  EXPECT_HAS(nested_msg, "inside the swept key optimizer.schedule");
}

TEST(SweepErrors, UnknownKeyInAxisTable) {
  expect_sweep_error("[sweep]\n\"optimizer.lr\" = { linspace = [0.1, 1], count = 3, step = 1 }\n",
                     "sweep.optimizer.lr.step");
  expect_sweep_error(
      "[sweep]\n\"optimizer.lr\" = { linspace = [0.1, 1], logspace = [0.1, 1], count = 3 }\n",
      "sweep.optimizer.lr");
  expect_sweep_error("[sweep]\n\"optimizer.lr\" = { linspace = [0.1, 1, 2], count = 3 }\n",
                     "sweep.optimizer.lr.linspace");
  expect_sweep_error("[sweep]\n\"optimizer.lr\" = { count = 3 }\n", "sweep.optimizer.lr");
}

TEST(SweepErrors, LogspaceNeedsPositiveEnds) {
  expect_sweep_error("[sweep]\n\"optimizer.lr\" = { logspace = [0, 1], count = 3 }\n",
                     "sweep.optimizer.lr.logspace[0]");
  expect_sweep_error("[sweep]\n\"optimizer.lr\" = { logspace = [0.1, -1], count = 3 }\n",
                     "sweep.optimizer.lr.logspace[1]");
}

TEST(SweepErrors, NonFiniteValues) {
  for (const char* v : {"[0.1, inf]", "[nan]", "[-inf, 1]"}) {
    const std::string msg = sweep_error(std::string("[sweep]\n\"optimizer.lr\" = ") + v + "\n");
    EXPECT_HAS(msg, "sweep.optimizer.lr");
    EXPECT_HAS(msg, "finite");
    EXPECT_HAS(msg, "line 2");
  }
  expect_sweep_error("[sweep]\n\"optimizer.lr\" = { linspace = [0.1, inf], count = 3 }\n",
                     "sweep.optimizer.lr.linspace[1]");
  expect_sweep_error("[sweep]\n\"optimizer.lr\" = { linspace = [-1.7e308, 1.7e308], count = 3 }\n",
                     "sweep.optimizer.lr");
}

TEST(SweepErrors, ValueInvalidInOneCell) {
  const std::string msg = sweep_error("[sweep]\n\"optimizer.lr\" = [0.1, -1.0]\n");
  EXPECT_HAS(msg, "sweep cell 1 of 2");
  EXPECT_HAS(msg, "optimizer.lr = -1.0");
  EXPECT_HAS(msg, "optimizer.lr: must be > 0");
  EXPECT_HAS(msg, "from sweep.optimizer.lr, line 2");
  EXPECT_EQ(msg.find("--set"), std::string::npos) << msg;
  // A base key that only fails together with one cell's value keeps its own line.
  const std::string cross = sweep_error(R"(
[optimizer]
kind = "gd"
[optimizer.schedule]
kind = "cosine"
min_lr = 0.05
[sweep]
"init.scale" = [1e-3]
"optimizer.lr" = [0.1, 0.01]
)");
  EXPECT_HAS(cross, "sweep cell 1 of 2 (init.scale = 0.001, optimizer.lr = 0.01)");
  EXPECT_HAS(cross, "optimizer.schedule.min_lr");
  EXPECT_HAS(cross, "line 6");
  // Inside the spectrum table.
  const std::string spectrum = sweep_error(R"(
[problem.target]
spectrum = { kind = "geometric", max = 1.0, condition = 10.0, count = 4 }
[sweep]
"problem.target.spectrum.condition" = [10, 0.5]
)");
  EXPECT_HAS(spectrum, "problem.target.spectrum.condition = 0.5");
  EXPECT_HAS(spectrum, "problem.target.spectrum.condition: must be >= 1");
  // A string that is not one of the enum's values.
  const std::string kind = sweep_error("[sweep]\n\"optimizer.kind\" = [\"gd\", \"sgd\"]\n");
  EXPECT_HAS(kind, "optimizer.kind = \"sgd\"");
  EXPECT_HAS(kind, "unknown value \"sgd\"");
}

TEST(SweepErrors, AxisKeyThatDoesNotExist) {
  const std::string msg = sweep_error("[sweep]\n\"optimizer.learning_rate\" = [0.1, 0.2]\n");
  EXPECT_HAS(msg, "optimizer.learning_rate");
  EXPECT_HAS(msg, "unknown key");
  EXPECT_HAS(msg, "from sweep.optimizer.learning_rate, line 2");
  const std::string table_msg = sweep_error("[sweep]\n\"optimiser.lr\" = [0.1]\n");
  EXPECT_HAS(table_msg, "optimiser");
  EXPECT_HAS(table_msg, "from sweep.optimiser.lr");
}

TEST(SweepErrors, MixedTypes) {
  expect_sweep_error("[sweep]\n\"optimizer.lr\" = [0.1, \"fast\"]\n", "sweep.optimizer.lr[1]");
  expect_sweep_error("[sweep]\n\"optimizer.nesterov\" = [true, 1]\n",
                     "sweep.optimizer.nesterov[1]");
  const std::string msg = sweep_error("[sweep]\n\"optimizer.lr\" = [0.1, \"fast\"]\n");
  EXPECT_HAS(msg, "mixed types");
  expect_sweep_error("[sweep]\n\"optimizer.lr\" = [[0.1], [0.2]]\n", "sweep.optimizer.lr[0]");
}

TEST(SweepErrors, AxisNotAList) {
  expect_sweep_error("[sweep]\n\"optimizer.lr\" = 0.1\n", "sweep.optimizer.lr");
  expect_sweep_error("sweep = 3\n", "sweep");
}

TEST(SweepErrors, SetOfASweptKey) {
  const std::string msg =
      sweep_error("[sweep]\n\"optimizer.lr\" = [0.1, 0.2]\n", {"optimizer.lr=0.5"});
  EXPECT_HAS(msg, "--set");
  EXPECT_HAS(msg, "optimizer.lr");
  EXPECT_HAS(msg, "swept");
  EXPECT_HAS(msg, "line 2");
  const std::string spaced =
      sweep_error("[sweep]\n\"optimizer.lr\" = [0.1, 0.2]\n", {" optimizer . lr = 0.5"});
  EXPECT_HAS(spaced, "swept");
  const std::string axes = sweep_error("", {"sweep.optimizer.lr=[1]"});
  EXPECT_HAS(axes, "sweep");
  EXPECT_HAS(axes, "--set");
  // Other keys are fine, and a malformed override is still reported as such.
  EXPECT_NO_THROW(px("[sweep]\n\"optimizer.lr\" = [0.1, 0.2]\n", {"optimizer.momentum=0.5"}));
  EXPECT_HAS(sweep_error("[sweep]\n\"optimizer.lr\" = [0.1]\n", {"optimizer.lr"}), "malformed");
}

TEST(SweepErrors, TooManyCells) {
  const std::string msg = sweep_error(R"(
[sweep]
"optimizer.lr" = { logspace = [0.001, 1], count = 1000 }
"init.scale" = { logspace = [1e-6, 1e-2], count = 1000 }
"optimizer.momentum" = [0.5, 0.9]
)");
  EXPECT_HAS(msg, "sweep");
  EXPECT_HAS(msg, "1000000");
  EXPECT_HAS(msg, "1000 x 1000 x 2");
  EXPECT_HAS(msg, "line 2");
  EXPECT_HAS(sweep_error("[sweep]\n\"optimizer.lr\" = { linspace = [0.1, 1], count = 2000000 }\n"),
             "sweep.optimizer.lr.count");
}

TEST(SweepErrors, ParseConfigRefusesASweep) {
  try {
    parse_config("[sweep]\n\"optimizer.lr\" = [0.1, 0.2]\n", "test.toml");
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_HAS(msg, "sweep");
    EXPECT_HAS(msg, "sweeps produce several cells");
  }
}

// ---- round trip ----

// to_toml, parsed again, gives the same cells (each cell's to_toml) and the same text.
void expect_experiment_round_trip(const std::string& text) {
  const Experiment a = px(text);
  const std::string t1 = a.to_toml();
  const Experiment b = parse_experiment(t1, "resolved.toml");
  ASSERT_EQ(a.cells.size(), b.cells.size()) << t1;
  ASSERT_EQ(a.axes.size(), b.axes.size()) << t1;
  for (size_t i = 0; i < a.axes.size(); ++i) {
    EXPECT_EQ(a.axes[i].key, b.axes[i].key);
    EXPECT_EQ(a.axes[i].numbers, b.axes[i].numbers);
    EXPECT_EQ(a.axes[i].integers, b.axes[i].integers);
    EXPECT_EQ(a.axes[i].labels, b.axes[i].labels);
    EXPECT_EQ(a.axes[i].integral, b.axes[i].integral);
    EXPECT_EQ(a.axes[i].boolean, b.axes[i].boolean);
  }
  for (size_t c = 0; c < a.cells.size(); ++c)
    EXPECT_EQ(a.cells[c].to_toml(), b.cells[c].to_toml()) << "cell " << c << " of\n" << t1;
  EXPECT_EQ(t1, b.to_toml());
}

TEST(SweepRoundTrip, NsPresetsWithDerivedSteps) {
  const std::string text = R"(
[optimizer]
kind = "muon"
orthogonalizer = "newton_schulz"
[sweep]
"optimizer.ns_coefficients" = ["jordan5", "polar_express"]
)";
  expect_experiment_round_trip(text);
  const Experiment ex = px(text);
  EXPECT_EQ(ex.cells[0].optimizer.ns_steps, 5);
  EXPECT_EQ(ex.cells[1].optimizer.ns_steps, 8);
  // ns_steps differs between the cells and follows the preset: not pinned to cell 0's 5.
  EXPECT_EQ(ex.to_toml().find("ns_steps"), std::string::npos) << ex.to_toml();
  // An explicit ns_steps is the same in every cell and is kept.
  const Experiment fixed = px(text + "", {"optimizer.ns_steps=3"});
  EXPECT_EQ(fixed.cells[1].optimizer.ns_steps, 3);
  EXPECT_NE(fixed.to_toml().find("ns_steps = 3"), std::string::npos) << fixed.to_toml();
}

TEST(SweepRoundTrip, TwoAxesRangesAndDefaultsPinned) {
  const std::string text = R"(
[sweep]
"init.scale" = { logspace = [1e-5, 1e-3], count = 7 }
"optimizer.lr" = { linspace = [0.01, 0.3], count = 3 }
"optimizer.kind" = ["gd", "muon"]
)";
  expect_experiment_round_trip(text);
  const std::string t = px(text).to_toml();
  EXPECT_NE(t.find("[sweep]\n\"init.scale\" = [1e-05, "), std::string::npos) << t;
  EXPECT_NE(t.find("\"optimizer.kind\" = [\"gd\", \"muon\"]"), std::string::npos) << t;
  EXPECT_NE(t.find("momentum = 0.95"), std::string::npos) << t;  // defaults written explicitly
  EXPECT_NE(t.find("[basin]\nprobes = 0"), std::string::npos) << t;
}

TEST(SweepRoundTrip, IntegerBooleanSpectrumAndScheduleAxes) {
  expect_experiment_round_trip(R"(
[optimizer]
kind = "muon"
[sweep]
"run.master_seed" = [1, 2, 9007199254740993]
"optimizer.nesterov" = [true, false]
"optimizer.lr" = [1, 2]
)");
  expect_experiment_round_trip(R"(
[problem.target]
spectrum = { kind = "geometric", max = 1.0, condition = 10.0, count = 4 }
[sweep]
"problem.target.spectrum.condition" = [10, 100]
)");
  expect_experiment_round_trip(R"(
[problem]
m = 8
n = 8
rank = 3
[problem.target]
spectrum = { kind = "power", scale = 2, count = 3 }
[sweep]
"problem.target.spectrum.exponent" = { linspace = [0, 2], count = 3 }
)");
  // Cosine's warmup/min_lr defaults exist only in the cosine cells: not pinned from cell 0.
  const std::string schedules =
      "[sweep]\n\"optimizer.schedule.kind\" = [\"cosine\", \"constant\"]\n"
      "\"optimizer.lr\" = [0.1, 0.2]\n";
  expect_experiment_round_trip(schedules);
  EXPECT_EQ(px(schedules).to_toml().find("warmup"), std::string::npos);
}

// record.block_atol defaults to init.scale: with init.scale swept, each cell derives its own, and
// the resolved text leaves it out rather than pinning cell 0's; an explicit value is kept.
TEST(SweepRoundTrip, BlockAtolFollowsASweptInitScale) {
  const std::string text = "[sweep]\n\"init.scale\" = [1e-5, 1e-4, 1e-3]\n";
  expect_experiment_round_trip(text);
  const Experiment ex = px(text);
  for (size_t c = 0; c < 3; ++c)
    EXPECT_EQ(ex.cells[c].record.block_atol, ex.cells[c].init.scale) << c;
  EXPECT_EQ(ex.to_toml().find("block_atol"), std::string::npos) << ex.to_toml();
  EXPECT_NE(ex.to_toml().find("block_rtol = 0.08"), std::string::npos) << ex.to_toml();
  const Experiment fixed = px(text, {"record.block_atol=0.5"});
  EXPECT_EQ(fixed.cells[0].record.block_atol, 0.5);
  EXPECT_NE(fixed.to_toml().find("block_atol = 0.5"), std::string::npos) << fixed.to_toml();
  expect_experiment_round_trip(text + "[record]\nblock_atol = 0.5\n");
}

TEST(SweepRoundTrip, SweepWithOverridesAndBasin) {
  const Experiment a = px("[basin]\nprobes = 4\n[sweep]\n\"init.scale\" = [1e-4, 1e-3]\n",
                          {"optimizer.kind=adam", "run.seeds=32"});
  const Experiment b = parse_experiment(a.to_toml(), "resolved.toml");
  ASSERT_EQ(b.cells.size(), 2u);
  EXPECT_EQ(b.cells[1].optimizer.kind, OptimizerKind::adam);
  EXPECT_EQ(b.cells[1].run.seeds, 32);
  EXPECT_EQ(b.cells[1].basin.probes, 4);
  EXPECT_EQ(a.cells[1].to_toml(), b.cells[1].to_toml());
}

// ---- [basin] ----

TEST(Basin, Probes) {
  EXPECT_EQ(parse_config("", "test.toml").basin.probes, 0);
  EXPECT_EQ(parse_config("[basin]\nprobes = 16\n", "test.toml").basin.probes, 16);
  EXPECT_EQ(parse_config("[basin]\nprobes = 10000\n", "test.toml").basin.probes, 10000);
  EXPECT_EQ(parse_config("", "test.toml", {"basin.probes=8"}).basin.probes, 8);
  const Config c = parse_config("[basin]\nprobes = 16\n", "test.toml");
  const std::string t = c.to_toml();
  EXPECT_NE(t.find("\n[basin]\nprobes = 16\n"), std::string::npos) << t;
  EXPECT_EQ(parse_config(t, "resolved.toml").to_toml(), t);
  const Experiment ex = px("[basin]\nprobes = 2\n[sweep]\n\"basin.probes\" = [0, 8]\n");
  ASSERT_EQ(ex.cells.size(), 2u);
  EXPECT_EQ(ex.cells[1].basin.probes, 8);
}

void expect_config_error(const std::string& text, const std::string& key) {
  try {
    parse_config(text, "test.toml");
    ADD_FAILURE() << "expected an InputError for:\n" << text;
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_HAS(msg, key);
    EXPECT_HAS(msg, "line ");
  }
}

TEST(Basin, Errors) {
  expect_config_error("[basin]\nprobes = -1\n", "basin.probes");
  expect_config_error("[basin]\nprobes = 10001\n", "basin.probes");
  expect_config_error("[basin]\nprobes = 1.5\n", "basin.probes");
  expect_config_error("[basin]\nprobes = \"many\"\n", "basin.probes");
  expect_config_error("[basin]\nradius = 2\n", "basin.radius");
  expect_config_error("basin = 3\n", "basin");
}

}  // namespace
}  // namespace specsweep
