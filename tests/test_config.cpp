// The strict TOML configuration (DESIGN section 5): values, the spectrum forms, every error class,
// --set overrides and the to_toml round trip.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "config.hpp"
#include "core/trajectory.hpp"
#include "errors.hpp"
#include "flop_model.hpp"
#include "problem.hpp"

namespace specsweep {
namespace {

const char* const kFull = R"(
[problem]
m = 32
n = 40
rank = 4
depth = 3
l2 = 0.001
[problem.target]
spectrum = [5.0, 4.0, 3.0, 2.0, 1.0]
basis = "identity"
seed = 7
[init]
factors = ["zero", "gaussian", "orthogonal"]
scale = 1e-4
scale_mode = "fan"
[optimizer]
kind = "muon"
lr = 0.02
orthogonalizer = "newton_schulz"
ns_coefficients = "polar_express"
smooth_eps = 1e-5
momentum = 0.9
nesterov = false
momentum_order = "post_polar"
shape_scale = "rms"
beta1 = 0.8
beta2 = 0.99
eps = 1e-7
integrator = "step"
[optimizer.schedule]
kind = "cosine"
warmup = 10
min_lr = 0.001
[run]
steps = 300
seeds = 64
master_seed = 42
precision = "fp64"
blowup = 1e4
[record]
points = 50
spacing = "log"
traced_seeds = 4
hit_tolerance = 0.1
loss_tolerance = 1e-5
grad_tolerance = 1e-7
block_rtol = 0.1
block_atol = 2e-5
)";

Config parse(const std::string& text, const std::vector<std::string>& overrides = {}) {
  return parse_config(text, "test.toml", overrides);
}

// The InputError message of parsing `text`, or a test failure if it parses.
std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    parse(text, overrides);
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an InputError for:\n" << text;
  return {};
}

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << "message: " << (msg)

// Asserts the error names `key` and, being from the file, its line and column.
void expect_key_error(const std::string& text, const std::string& key) {
  const std::string msg = error_of(text);
  EXPECT_HAS(msg, key);
  EXPECT_HAS(msg, "line ");
  EXPECT_HAS(msg, "column ");
}

TEST(Config, FullConfigParses) {
  const Config c = parse(kFull);
  EXPECT_EQ(c.problem.m, 32);
  EXPECT_EQ(c.problem.n, 40);
  EXPECT_EQ(c.problem.rank, 4);
  EXPECT_EQ(c.problem.depth, 3);
  EXPECT_DOUBLE_EQ(c.problem.l2, 0.001);
  EXPECT_EQ(c.problem.target.spectrum, (std::vector<double>{5, 4, 3, 2, 1}));
  EXPECT_EQ(c.problem.target.basis, Basis::identity);
  EXPECT_EQ(c.problem.target.seed, 7u);
  EXPECT_EQ(c.init.factors,
            (std::vector<InitKind>{InitKind::zero, InitKind::gaussian, InitKind::orthogonal}));
  EXPECT_DOUBLE_EQ(c.init.scale, 1e-4);
  EXPECT_EQ(c.init.scale_mode, ScaleMode::fan);
  const OptimizerConfig& o = c.optimizer;
  EXPECT_EQ(o.kind, OptimizerKind::muon);
  EXPECT_DOUBLE_EQ(o.lr, 0.02);
  EXPECT_EQ(o.orthogonalizer, OrthKind::newton_schulz);
  EXPECT_EQ(o.ns_preset, "polar_express");
  EXPECT_EQ(o.ns_coefficients.size(), 8u);
  EXPECT_EQ(o.ns_steps, 8);  // polar_express's natural count when ns_steps is not given
  EXPECT_DOUBLE_EQ(o.smooth_eps, 1e-5);
  EXPECT_DOUBLE_EQ(o.momentum, 0.9);
  EXPECT_FALSE(o.nesterov);
  EXPECT_EQ(o.momentum_order, MomentumOrder::post_polar);
  EXPECT_EQ(o.shape_scale, ShapeScale::rms);
  EXPECT_DOUBLE_EQ(o.beta1, 0.8);
  EXPECT_DOUBLE_EQ(o.beta2, 0.99);
  EXPECT_DOUBLE_EQ(o.eps, 1e-7);
  EXPECT_EQ(o.integrator, Integrator::step);
  EXPECT_EQ(o.schedule.kind, ScheduleKind::cosine);
  EXPECT_EQ(o.schedule.warmup, 10);
  EXPECT_DOUBLE_EQ(o.schedule.min_lr, 0.001);
  EXPECT_DOUBLE_EQ(o.schedule.lr, 0.02);
  EXPECT_EQ(o.schedule.total_steps, 300);
  EXPECT_EQ(c.run.steps, 300);
  EXPECT_EQ(c.run.seeds, 64);
  EXPECT_EQ(c.run.master_seed, 42u);
  EXPECT_EQ(c.run.precision, Precision::fp64);
  EXPECT_DOUBLE_EQ(c.run.blowup, 1e4);
  EXPECT_EQ(c.record.points, 50);
  EXPECT_EQ(c.record.spacing, Spacing::log);
  EXPECT_EQ(c.record.traced_seeds, 4);
  EXPECT_DOUBLE_EQ(c.record.hit_tolerance, 0.1);
  EXPECT_DOUBLE_EQ(c.record.loss_tolerance, 1e-5);
  EXPECT_DOUBLE_EQ(c.record.grad_tolerance, 1e-7);
  EXPECT_DOUBLE_EQ(c.record.block_rtol, 0.1);
  EXPECT_DOUBLE_EQ(c.record.block_atol, 2e-5);
}

TEST(Config, EmptyConfigGivesDefaults) {
  const Config c = parse("");
  EXPECT_EQ(c.problem.m, 60);
  EXPECT_EQ(c.problem.n, 70);
  EXPECT_EQ(c.problem.rank, 5);
  EXPECT_EQ(c.problem.depth, 2);
  EXPECT_EQ(c.problem.target.spectrum, (std::vector<double>{5, 4, 3, 2, 1}));
  EXPECT_EQ(c.init.factors, (std::vector<InitKind>{InitKind::zero, InitKind::gaussian}));
  EXPECT_EQ(c.optimizer.kind, OptimizerKind::specgd);
  EXPECT_EQ(c.optimizer.ns_preset, "jordan5");
  EXPECT_EQ(c.optimizer.ns_steps, 5);
  EXPECT_EQ(c.optimizer.schedule.kind, ScheduleKind::constant);
  EXPECT_EQ(c.run.steps, 400);
  EXPECT_EQ(c.run.seeds, 1024);
  EXPECT_EQ(c.record.every, 1);
  EXPECT_EQ(c.record.points, 0);
  EXPECT_EQ(c.record.traced_seeds, 8);
  EXPECT_DOUBLE_EQ(c.record.block_rtol, 0.08);
  EXPECT_DOUBLE_EQ(c.record.block_atol, 1e-3);  // init.scale
}

// record.block_atol follows init.scale unless given (also when the scale comes from --set).
TEST(Config, BlockAtolDefaultsToTheInitScale) {
  EXPECT_DOUBLE_EQ(parse("[init]\nscale = 5e-5\n").record.block_atol, 5e-5);
  EXPECT_DOUBLE_EQ(parse("", {"init.scale=0.25"}).record.block_atol, 0.25);
  EXPECT_DOUBLE_EQ(parse("[init]\nscale = 5e-5\n[record]\nblock_atol = 0\n").record.block_atol,
                   0.0);
  EXPECT_DOUBLE_EQ(parse("[record]\nblock_rtol = 1\n").record.block_rtol, 1.0);
  // The inner score's atol follows block_atol squared (Rhee et al.'s alpha^2) unless given.
  EXPECT_DOUBLE_EQ(parse("[init]\nscale = 5e-5\n").record.block_atol_inner, 2.5e-9);
  EXPECT_DOUBLE_EQ(parse("[record]\nblock_atol = 0.1\n").record.block_atol_inner, 0.01);
  EXPECT_DOUBLE_EQ(parse("[record]\nblock_atol_inner = 0.3\n").record.block_atol_inner, 0.3);
}

// Overparameterized factorizations (Rhee et al.'s d/n = 4): r up to 8 max(m, n).
TEST(Config, RankAboveMinDimsUpToEightTimesTheLarger) {
  const Config c = parse("[problem]\nm = 4\nn = 6\nrank = 48\n[problem.target]\nspectrum = [1]\n");
  EXPECT_EQ(c.problem.rank, 48);
  EXPECT_EQ(parse("[problem]\nm = 32\nn = 32\nrank = 128\n").problem.rank, 128);
}

TEST(Config, DefaultFactorsForDeeperProducts) {
  const Config c = parse("[problem]\ndepth = 4\n");
  EXPECT_EQ(c.init.factors, (std::vector<InitKind>{InitKind::zero, InitKind::gaussian,
                                                   InitKind::gaussian, InitKind::gaussian}));
}

TEST(Config, DefaultTracedSeedsIsAtMostSeeds) {
  EXPECT_EQ(parse("[run]\nseeds = 3\n").record.traced_seeds, 3);
}

TEST(Config, IntegersAcceptedAsFloats) {
  const Config c = parse("[optimizer]\nlr = 1\n[init]\nscale = 2\n");
  EXPECT_EQ(c.optimizer.lr, 1.0);
  EXPECT_EQ(c.init.scale, 2.0);
}

TEST(Config, PowerSpectrum) {
  const Config c = parse(R"(
[problem]
m = 32
n = 32
rank = 32
[problem.target]
spectrum = { kind = "power", scale = 10.0, exponent = 1.0, count = 32 }
)");
  const auto& s = c.problem.target.spectrum;
  ASSERT_EQ(s.size(), 32u);
  for (int k = 1; k <= 32; ++k) EXPECT_DOUBLE_EQ(s[k - 1], 10.0 / k);
}

TEST(Config, GeometricSpectrum) {
  const Config c = parse(
      "[problem.target]\nspectrum = { kind = \"geometric\", max = 1.0, condition = 100, count = 5 "
      "}\n");
  const auto& s = c.problem.target.spectrum;
  ASSERT_EQ(s.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(s[i], std::pow(100.0, -i / 4.0), 1e-15);
  EXPECT_EQ(s.front(), 1.0);
  EXPECT_EQ(s.back(), 0.01);
  const Config one = parse(
      "[problem.target]\nspectrum = { kind = \"geometric\", max = 3, condition = 10, count = 1 "
      "}\n");
  EXPECT_EQ(one.problem.target.spectrum, std::vector<double>{3.0});
}

TEST(Config, ExplicitSpectrum) {
  const Config c = parse("[problem.target]\nspectrum = [3, 3, 1.5]\n");
  EXPECT_EQ(c.problem.target.spectrum, (std::vector<double>{3, 3, 1.5}));
}

TEST(Config, NsPresets) {
  EXPECT_EQ(ns_preset("cubic").size(), 1u);
  EXPECT_DOUBLE_EQ(ns_preset("jordan5")[0].a, 3.4445);
  const auto pe = ns_preset("polar_express");
  ASSERT_EQ(pe.size(), 8u);
  EXPECT_DOUBLE_EQ(pe[0].a, 8.28721201814563 / 1.01);
  EXPECT_DOUBLE_EQ(pe[0].b, -23.595886519098837 / std::pow(1.01, 3));
  EXPECT_DOUBLE_EQ(pe[0].c, 17.300387312530933 / std::pow(1.01, 5));
  EXPECT_EQ(pe[7].a, 1.875);
  EXPECT_EQ(pe[7].b, -1.25);
  EXPECT_EQ(pe[7].c, 0.375);
  const auto y = ns_preset("you6");
  ASSERT_EQ(y.size(), 6u);
  EXPECT_EQ(y[0].a, 3955 / 1024.0);
  EXPECT_EQ(y[5].c, 682 / 1024.0);
  EXPECT_TRUE(ns_preset("nope").empty());
  EXPECT_EQ(ns_norm_scale("polar_express"), 1.01);
  EXPECT_EQ(ns_norm_scale("jordan5"), 1.0);
}

TEST(Config, NsStepsDefaults) {
  EXPECT_EQ(parse("[optimizer]\nns_coefficients = \"you6\"\n").optimizer.ns_steps, 6);
  EXPECT_EQ(parse("[optimizer]\nns_coefficients = \"cubic\"\n").optimizer.ns_steps, 5);
  EXPECT_EQ(
      parse("[optimizer]\nns_coefficients = \"polar_express\"\nns_steps = 3\n").optimizer.ns_steps,
      3);
  const Config c = parse("[optimizer]\nns_coefficients = [[3, -3.2, 1.2], [2, -1.5, 0.5]]\n");
  EXPECT_EQ(c.optimizer.ns_preset, "custom");
  ASSERT_EQ(c.optimizer.ns_coefficients.size(), 2u);
  EXPECT_EQ(c.optimizer.ns_coefficients[1].b, -1.5);
  EXPECT_EQ(c.optimizer.ns_steps, 2);
}

TEST(Config, OptimizerParams) {
  const Config c = parse(kFull);
  const OptimizerParams p = c.optimizer_params();
  EXPECT_EQ(p.kind, OptimizerKind::muon);
  EXPECT_EQ(p.orth.kind, OrthKind::newton_schulz);
  EXPECT_EQ(p.orth.smooth_eps, 1e-5);
  EXPECT_EQ(p.orth.ns.count, 8);
  EXPECT_EQ(p.orth.ns.iterations, 8);
  EXPECT_EQ(p.orth.ns.norm_scale, 1.01);
  EXPECT_EQ(p.orth.ns.steps[7].a, 1.875);
  EXPECT_EQ(p.momentum, 0.9);
  EXPECT_FALSE(p.nesterov);
  EXPECT_EQ(p.momentum_order, MomentumOrder::post_polar);
  EXPECT_EQ(p.shape_scale, ShapeScale::rms);
  EXPECT_EQ(p.beta1, 0.8);
  EXPECT_EQ(p.beta2, 0.99);
  EXPECT_EQ(p.eps, 1e-7);
  EXPECT_EQ(p.schedule.kind, ScheduleKind::cosine);
  EXPECT_EQ(p.schedule.lr, 0.02);
  EXPECT_EQ(p.schedule.total_steps, 300);
  EXPECT_EQ(p.schedule.warmup, 10);
}

TEST(Config, PiecewiseSchedule) {
  const Config c = parse(R"(
[optimizer.schedule]
kind = "piecewise"
steps = [0, 100, 200]
values = [0.1, 0.05, 0.01]
)");
  const Schedule& s = c.optimizer_params().schedule;
  EXPECT_EQ(s.pieces, 3);
  EXPECT_EQ(s.start[1], 100);
  EXPECT_EQ(s.value[2], 0.01);
  EXPECT_EQ(s.rate(150), 0.05);
}

TEST(Config, SpikeGeometricSchedule) {
  const Config c = parse(
      "[optimizer]\nlr = 0.005\n[optimizer.schedule]\nkind = \"spike_geometric\"\neta1 = 3.1\n");
  const Schedule& s = c.optimizer.schedule;
  EXPECT_EQ(s.eta1, 3.1);
  EXPECT_EQ(s.factor, 0.5);
  EXPECT_EQ(s.rate(0), 0.005);
  EXPECT_EQ(s.rate(2), 3.1 * 0.5);
}

// ---- errors ----

TEST(ConfigErrors, TomlSyntax) {
  expect_key_error("[problem\nm = 1\n", "TOML");
}

TEST(ConfigErrors, UnknownTopLevelTable) {
  expect_key_error("[problm]\nm = 3\n", "problm");
}

TEST(ConfigErrors, UnknownNestedKey) {
  const std::string msg =
      error_of("[problem]\nm = 10\n[problem.target]\nbasis = \"random\"\ncolour = 1\n");
  EXPECT_HAS(msg, "problem.target.colour");
  EXPECT_HAS(msg, "line 5, column 1");
}

TEST(ConfigErrors, UnknownKeyInSpectrumTable) {
  expect_key_error(
      "[problem.target]\nspectrum = { kind = \"power\", scale = 1, exponent = 1, count = 3, max = "
      "2 }\n",
      "problem.target.spectrum.max");
}

TEST(ConfigErrors, WrongType) {
  const std::string msg = error_of("[problem]\nm = \"sixty\"\n");
  EXPECT_HAS(msg, "problem.m");
  EXPECT_HAS(msg, "integer");
  EXPECT_HAS(msg, "line 2, column 5");
}

TEST(ConfigErrors, FloatWhereIntegerExpected) {
  expect_key_error("[run]\nsteps = 10.5\n", "run.steps");
}

TEST(ConfigErrors, SectionNotATable) {
  expect_key_error("optimizer = 3\n", "optimizer");
}

TEST(ConfigErrors, RankZero) {
  expect_key_error("[problem]\nrank = 0\n", "problem.rank");
}

TEST(ConfigErrors, RankAboveEightTimesMaxDims) {
  const std::string msg =
      error_of("[problem]\nm = 4\nn = 8\nrank = 65\n[problem.target]\nspectrum = [1]\n");
  EXPECT_HAS(msg, "problem.rank");
  EXPECT_HAS(msg, "8 max(m, n) = 64");
  EXPECT_HAS(msg, "line 4");
}

TEST(ConfigErrors, DepthOne) {
  expect_key_error("[problem]\ndepth = 1\n", "problem.depth");
}

TEST(ConfigErrors, DepthTooLarge) {
  expect_key_error("[problem]\ndepth = 99\n", "problem.depth");
}

TEST(ConfigErrors, NegativeL2) {
  expect_key_error("[problem]\nl2 = -0.1\n", "problem.l2");
}

TEST(ConfigErrors, NegativeSteps) {
  expect_key_error("[run]\nsteps = -5\n", "run.steps");
}

TEST(ConfigErrors, TooManySteps) {
  expect_key_error("[run]\nsteps = 100000000\n", "run.steps");
}

TEST(ConfigErrors, ZeroSeeds) {
  expect_key_error("[run]\nseeds = 0\n", "run.seeds");
}

TEST(ConfigErrors, BlowupAtMostOne) {
  expect_key_error("[run]\nblowup = 1\n", "run.blowup");
}

TEST(ConfigErrors, LrNotPositive) {
  expect_key_error("[optimizer]\nlr = 0\n", "optimizer.lr");
  expect_key_error("[optimizer]\nlr = -0.1\n", "optimizer.lr");
}

TEST(ConfigErrors, LrNonFinite) {
  for (const char* v : {"nan", "inf", "-inf", "+nan"}) {
    const std::string msg = error_of(std::string("[optimizer]\nlr = ") + v + "\n");
    EXPECT_HAS(msg, "optimizer.lr");
    EXPECT_HAS(msg, "finite");
    EXPECT_HAS(msg, "line 2");
  }
}

// problem.kind (DESIGN section 5): "symmetric" is W = X X^T, one n x r factor; one of m, n sets
// both. The kinds the contract names but this version does not run are refused by name.
TEST(Config, SymmetricKindHasOneSquareFactor) {
  const Config c = parse(
      "[problem]\nkind = \"symmetric\"\nn = 12\nrank = 3\n[init]\nfactors = [\"gaussian\"]\n");
  EXPECT_EQ(c.problem.kind, ProblemKind::symmetric);
  EXPECT_EQ(c.problem.m, 12);
  EXPECT_EQ(c.problem.n, 12);
  EXPECT_EQ(c.problem.depth, 1);
  const Shape sh = c.problem.shape();
  EXPECT_TRUE(sh.symmetric);
  EXPECT_EQ(sh.total(), 12 * 3);
  EXPECT_EQ(sh.cols(0), 3);
  EXPECT_EQ(parse("[problem]\nkind = \"symmetric\"\nm = 9\n").problem.n, 9);
  // X = 0 is a critical point, so the default init of the one factor is Gaussian, not zero.
  const auto defaults = parse("[problem]\nkind = \"symmetric\"\nm = 9\n").init.factors;
  ASSERT_EQ(defaults.size(), 1u);
  EXPECT_EQ(defaults[0], InitKind::gaussian);
  EXPECT_EQ(parse("").problem.kind, ProblemKind::factorization);
}

// "icl" is in-context regression: W = W_PV W_KQ (d x d, depth 2) against a population loss whose
// target.spectrum is the token covariance's, context_length examples per prompt.
TEST(Config, IclKindIsSquareWithTheCovarianceAsSpectrum) {
  const Config c = parse(
      "[problem]\nkind = \"icl\"\nn = 4\nrank = 2\ncontext_length = 16\n"
      "[problem.target]\nspectrum = { kind = \"geometric\", max = 1.0, condition = 100.0, count = "
      "4 "
      "}\n");
  EXPECT_EQ(c.problem.kind, ProblemKind::icl);
  EXPECT_EQ(c.problem.m, 4);
  EXPECT_EQ(c.problem.depth, 2);
  EXPECT_EQ(c.problem.context_length, 16);
  EXPECT_TRUE(c.problem.shape().weighted);
  EXPECT_FALSE(parse("").problem.shape().weighted);
}

// kind = "sensing": W = F1 F2 from p Gaussian measurements; the default p = 4 r (m + n).
TEST(Config, SensingKind) {
  const Config c = parse(
      "[problem]\nkind = \"sensing\"\nm = 6\nn = 5\nrank = 2\n"
      "[problem.target]\nspectrum = [2.0, 1.0]\n");
  EXPECT_EQ(c.problem.kind, ProblemKind::sensing);
  EXPECT_EQ(c.problem.sensing.measurements, 4 * 2 * (6 + 5));
  EXPECT_EQ(c.problem.sensing.matrices, SensingMatrices::gaussian);
  EXPECT_TRUE(c.problem.shape().weighted);
  const Config round = parse(c.to_toml());
  EXPECT_EQ(round.problem.sensing.measurements, 88);
  const Config sym = parse(
      "[problem]\nkind = \"sensing\"\nm = 4\nn = 4\nrank = 2\n"
      "[problem.target]\nspectrum = [2.0, 1.0]\n[problem.sensing]\n"
      "measurements = 30\nmatrices = \"symmetric_gaussian\"\n");
  EXPECT_EQ(sym.problem.sensing.measurements, 30);
  EXPECT_EQ(sym.problem.sensing.matrices, SensingMatrices::symmetric_gaussian);
  // W = X X^T: one n x r factor, m = n, symmetric matrices.
  const Config xx = parse(
      "[problem]\nkind = \"sensing\"\nn = 5\nrank = 2\n"
      "[problem.target]\nspectrum = [2.0, 1.0]\n[problem.sensing]\n"
      "factor = \"symmetric\"\n");
  EXPECT_TRUE(xx.problem.shape().symmetric);
  EXPECT_EQ(xx.problem.depth, 1);
  EXPECT_EQ(xx.problem.m, 5);
  EXPECT_EQ(xx.problem.sensing.matrices, SensingMatrices::symmetric_gaussian);
  EXPECT_EQ(xx.init.factors.size(), 1u);
}

TEST(ConfigErrors, ProblemKind) {
  const std::string sensing = "[problem]\nkind = \"sensing\"\nm = 6\nn = 5\nrank = 2\n";
  const std::string two = "[problem.target]\nspectrum = [2.0, 1.0]\n";
  expect_key_error(sensing + "depth = 3\n" + two, "problem.depth");
  expect_key_error(sensing + "l2 = 0.1\n" + two, "problem.l2");
  expect_key_error(sensing + "[problem.target]\nspectrum = [3.0, 2.0, 1.0]\n", "problem.rank");
  expect_key_error(sensing + two + "[problem.sensing]\nmeasurements = 0\n",
                   "problem.sensing.measurements");
  expect_key_error(sensing + two + "[problem.sensing]\nmatrices = \"symmetric_gaussian\"\n",
                   "problem.sensing.matrices");
  expect_key_error("[problem]\nkind = \"sensing\"\nm = 600\nn = 500\nrank = 2\n" + two +
                       "[problem.sensing]\nmeasurements = 1000\n",
                   "problem.sensing.measurements");  // 3e8 entries: above 2^28
  expect_key_error(sensing + two + "[problem.sensing]\nnoise = 1\n", "problem.sensing.noise");
  expect_key_error("[problem.sensing]\nmeasurements = 10\n", "problem.sensing");
  const std::string xx = "[problem]\nkind = \"sensing\"\nn = 5\nrank = 2\n";
  expect_key_error(xx + "depth = 2\n" + two + "[problem.sensing]\nfactor = \"symmetric\"\n",
                   "problem.depth");
  expect_key_error(
      xx + two + "[problem.sensing]\nfactor = \"symmetric\"\nmatrices = \"gaussian\"\n",
      "problem.sensing.matrices");
  expect_key_error(xx + two + "[problem.sensing]\nfactor = \"triangular\"\n",
                   "problem.sensing.factor");
  const std::string icl = "[problem]\nkind = \"icl\"\nn = 3\nrank = 3\n";
  const std::string spectrum = "[problem.target]\nspectrum = [1.0, 0.5, 0.1]\n";
  expect_key_error(icl + spectrum, "problem.context_length");  // required
  expect_key_error(icl + "context_length = 0\n" + spectrum, "problem.context_length");
  expect_key_error("[problem]\ncontext_length = 4\n", "problem.context_length");  // icl only
  expect_key_error(icl + "context_length = 4\nl2 = 0.1\n" + spectrum, "problem.l2");
  expect_key_error(icl + "context_length = 4\ndepth = 3\n" + spectrum, "problem.depth");
  expect_key_error("[problem]\nkind = \"icl\"\nm = 3\nn = 4\ncontext_length = 4\n", "problem.n");
  // The covariance needs all d eigenvalues.
  expect_key_error(icl + "context_length = 4\n[problem.target]\nspectrum = [1.0, 0.5]\n",
                   "problem.target.spectrum");
  expect_key_error("[problem]\nkind = \"lowrank\"\n", "problem.kind");
  expect_key_error("[problem]\nkind = \"symmetric\"\nm = 6\nn = 7\n", "problem.n");
  expect_key_error("[problem]\nkind = \"symmetric\"\nm = 6\ndepth = 2\n", "problem.depth");
  expect_key_error(
      "[problem]\nkind = \"symmetric\"\nm = 6\nrank = 2\n[init]\nfactors = [\"zero\", "
      "\"gaussian\"]\n",
      "init.factors");
}

TEST(ConfigErrors, NonFiniteInSpectrum) {
  expect_key_error("[problem.target]\nspectrum = [inf, 1]\n", "problem.target.spectrum[0]");
}

TEST(ConfigErrors, UnknownPreset) {
  const std::string msg = error_of("[optimizer]\nns_coefficients = \"quintic\"\n");
  EXPECT_HAS(msg, "optimizer.ns_coefficients");
  EXPECT_HAS(msg, "polar_express");
  EXPECT_HAS(msg, "you6");
  EXPECT_HAS(msg, "line 2");
}

TEST(ConfigErrors, BadCustomTriple) {
  expect_key_error("[optimizer]\nns_coefficients = [[1, 2]]\n", "optimizer.ns_coefficients[0]");
}

TEST(ConfigErrors, UnknownOptimizerKind) {
  const std::string msg = error_of("[optimizer]\nkind = \"sgd\"\n");
  EXPECT_HAS(msg, "optimizer.kind");
  EXPECT_HAS(msg, "specgd");
  EXPECT_HAS(msg, "line 2");
}

TEST(ConfigErrors, Rk4WithMuon) {
  expect_key_error("[optimizer]\nkind = \"muon\"\nintegrator = \"rk4\"\n", "optimizer.integrator");
  EXPECT_NO_THROW(parse("[optimizer]\nkind = \"gd\"\nintegrator = \"rk4\"\n"));
}

TEST(ConfigErrors, MomentumOne) {
  expect_key_error("[optimizer]\nmomentum = 1.0\n", "optimizer.momentum");
}

TEST(ConfigErrors, NsStepsZero) {
  expect_key_error("[optimizer]\nns_steps = 0\n", "optimizer.ns_steps");
}

TEST(ConfigErrors, NonIncreasingSpectrum) {
  expect_key_error("[problem.target]\nspectrum = [1.0, 2.0]\n", "problem.target.spectrum");
}

TEST(ConfigErrors, NonPositiveSpectrum) {
  expect_key_error("[problem.target]\nspectrum = [1.0, 0.0]\n", "problem.target.spectrum[1]");
}

TEST(ConfigErrors, SpectrumLongerThanMinDims) {
  expect_key_error("[problem]\nm = 2\nn = 5\nrank = 2\n[problem.target]\nspectrum = [3, 2, 1]\n",
                   "problem.target.spectrum");
}

TEST(ConfigErrors, GeometricConditionBelowOne) {
  expect_key_error(
      "[problem.target]\nspectrum = { kind = \"geometric\", max = 1, condition = 0.5, count = 3 "
      "}\n",
      "problem.target.spectrum.condition");
}

TEST(ConfigErrors, SpectrumFormMissingKey) {
  expect_key_error("[problem.target]\nspectrum = { kind = \"power\", scale = 1, count = 3 }\n",
                   "problem.target.spectrum.exponent");
}

TEST(ConfigErrors, UnknownBasis) {
  expect_key_error("[problem.target]\nbasis = \"haar\"\n", "problem.target.basis");
}

TEST(ConfigErrors, NegativeTargetSeed) {
  expect_key_error("[problem.target]\nseed = -1\n", "problem.target.seed");
}

TEST(ConfigErrors, TracedSeedsAboveSeeds) {
  const std::string msg = error_of("[run]\nseeds = 4\n[record]\ntraced_seeds = 5\n");
  EXPECT_HAS(msg, "record.traced_seeds");
  EXPECT_HAS(msg, "line 4");
}

TEST(ConfigErrors, FactorsLengthNotDepth) {
  expect_key_error("[problem]\ndepth = 3\n[init]\nfactors = [\"zero\", \"gaussian\"]\n",
                   "init.factors");
}

TEST(ConfigErrors, UnknownFactorKind) {
  expect_key_error("[init]\nfactors = [\"zero\", \"normal\"]\n", "init.factors[1]");
}

TEST(ConfigErrors, InitScaleNotPositive) {
  expect_key_error("[init]\nscale = 0\n", "init.scale");
}

TEST(ConfigErrors, ScheduleKeyOfAnotherKind) {
  const std::string msg = error_of("[optimizer.schedule]\nkind = \"constant\"\ndecay = 0.9\n");
  EXPECT_HAS(msg, "optimizer.schedule.decay");
  EXPECT_HAS(msg, "exponential");
  EXPECT_HAS(msg, "line 3");
}

TEST(ConfigErrors, ScheduleMissingKey) {
  expect_key_error("[optimizer.schedule]\nkind = \"exponential\"\n", "optimizer.schedule.decay");
}

TEST(ConfigErrors, CosineWarmupTooLong) {
  expect_key_error("[run]\nsteps = 10\n[optimizer.schedule]\nkind = \"cosine\"\nwarmup = 10\n",
                   "optimizer.schedule.warmup");
}

TEST(ConfigErrors, CosineMinLrAboveLr) {
  expect_key_error("[optimizer]\nlr = 0.1\n[optimizer.schedule]\nkind = \"cosine\"\nmin_lr = 0.2\n",
                   "optimizer.schedule.min_lr");
}

TEST(ConfigErrors, PiecewiseBad) {
  expect_key_error("[optimizer.schedule]\nkind = \"piecewise\"\nsteps = [1, 5]\nvalues = [1, 2]\n",
                   "optimizer.schedule.steps[0]");
  expect_key_error(
      "[optimizer.schedule]\nkind = \"piecewise\"\nsteps = [0, 5, 5]\nvalues = [1, 2, 3]\n",
      "optimizer.schedule.steps[2]");
  expect_key_error("[optimizer.schedule]\nkind = \"piecewise\"\nsteps = [0, 5]\nvalues = [1]\n",
                   "optimizer.schedule.values");
}

TEST(ConfigErrors, EveryWithPoints) {
  expect_key_error("[record]\nevery = 2\npoints = 10\n", "record.every");
  expect_key_error("[record]\nspacing = \"log\"\n", "record.spacing");
  expect_key_error("[record]\npoints = 1\n", "record.points");
}

TEST(ConfigErrors, Tolerances) {
  expect_key_error("[record]\nhit_tolerance = 1.0\n", "record.hit_tolerance");
  expect_key_error("[record]\nloss_tolerance = 0\n", "record.loss_tolerance");
  expect_key_error("[record]\ngrad_tolerance = -1\n", "record.grad_tolerance");
  expect_key_error("[record]\nblock_rtol = -0.1\n", "record.block_rtol");
  expect_key_error("[record]\nblock_rtol = 1.5\n", "record.block_rtol");
  expect_key_error("[record]\nblock_atol = -1e-9\n", "record.block_atol");
  expect_key_error("[record]\nblock_atol = \"alpha\"\n", "record.block_atol");
}

TEST(ConfigErrors, SharpnessIterations) {
  expect_key_error("[record]\nsharpness_iterations = -1\n", "record.sharpness_iterations");
  expect_key_error("[record]\nsharpness_iterations = 1001\n", "record.sharpness_iterations");
  expect_key_error("[record]\nsharpness_iterations = 2.5\n", "record.sharpness_iterations");
  EXPECT_EQ(parse("").record.sharpness_iterations, 0);
  EXPECT_EQ(parse("[record]\nsharpness_iterations = 30\n").record.sharpness_iterations, 30);
  expect_key_error("[record]\north_error = 1\n", "record.orth_error");
  expect_key_error("[optimizer]\ngradient_noise = -0.1\n", "optimizer.gradient_noise");
  expect_key_error("[optimizer]\ngradient_noise = inf\n", "optimizer.gradient_noise");
  expect_key_error("[optimizer]\ngradient_noise_scale = \"per_entry\"\n",
                   "optimizer.gradient_noise_scale");
  EXPECT_EQ(parse("").optimizer_params().gradient_noise, 0.0);
  const OptimizerParams noisy =
      parse("[optimizer]\ngradient_noise = 0.2\ngradient_noise_scale = \"relative\"\n")
          .optimizer_params();
  EXPECT_EQ(noisy.gradient_noise, 0.2);
  EXPECT_TRUE(noisy.noise_relative);
  EXPECT_FALSE(parse("").record.orth_error);
  EXPECT_TRUE(parse("[record]\north_error = true\n").record.orth_error);
}

// A single Config cannot hold a sweep; parse_experiment reads it (tests/test_sweep.cpp).
TEST(ConfigErrors, SweepNeedsTheExperimentPath) {
  const std::string msg = error_of("[run]\nsteps = 5\n[sweep]\n\"optimizer.lr\" = [0.1, 0.2]\n");
  EXPECT_HAS(msg, "sweep");
  EXPECT_HAS(msg, "sweeps produce several cells");
  EXPECT_HAS(msg, "parse_experiment");
  EXPECT_HAS(msg, "line 3");
}

TEST(ConfigErrors, MalformedOverride) {
  for (const char* ov : {"optimizer.lr", "=0.1", "optimizer..lr=1", "optimizer.lr="}) {
    const std::string msg = error_of("", {ov});
    EXPECT_HAS(msg, std::string(ov));
    EXPECT_HAS(msg, "--set");
  }
}

TEST(ConfigErrors, OverrideOfUnknownKey) {
  const std::string msg = error_of("", {"optimizer.learning_rate=0.1"});
  EXPECT_HAS(msg, "optimizer.learning_rate");
  EXPECT_HAS(msg, "from --set");
  const std::string table_msg = error_of("", {"optimiser.lr=0.1"});
  EXPECT_HAS(table_msg, "optimiser");
  EXPECT_HAS(table_msg, "from --set");
}

TEST(ConfigErrors, OverrideWrongType) {
  const std::string msg = error_of("", {"problem.m=sixty"});
  EXPECT_HAS(msg, "problem.m");
  EXPECT_HAS(msg, "from --set");
}

TEST(ConfigErrors, MissingFile) {
  const std::string path = "/nonexistent/dir/config.toml";
  try {
    load_config(path);
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_HAS(std::string(e.what()), path);
  }
  const std::string dir = ::testing::TempDir();
  try {
    load_config(dir);
    ADD_FAILURE() << "expected an InputError for a directory";
  } catch (const InputError& e) {
    EXPECT_HAS(std::string(e.what()), dir);
  }
}

// Defect 2 of issue 10: every integer key is range-checked on the 64-bit value written, never on
// a narrowed copy (2^32 + 3 used to run as rank 3, and 2^40 was reported as "got 0").
TEST(ConfigErrors, IntegerKeysAreCheckedOnTheirWrittenValue) {
  const std::string big = "4294967299";  // 2^32 + 3
  const char* const keys[] = {
      "problem.m", "problem.n",    "problem.rank",        "problem.depth",      "run.steps",
      "run.seeds", "record.every", "record.traced_seeds", "optimizer.ns_steps", "basin.probes"};
  for (const char* key : keys) {
    const std::string msg = error_of("", {std::string(key) + "=" + big});
    EXPECT_HAS(msg, key);
    EXPECT_HAS(msg, "got " + big);
  }
  EXPECT_HAS(error_of("[record]\npoints = 4294967299\n"), "got " + big);
  EXPECT_HAS(error_of("[optimizer.schedule]\nkind = \"cosine\"\nwarmup = 4294967299\n"),
             "got " + big);
  EXPECT_HAS(error_of("[optimizer.schedule]\nkind = \"piecewise\"\nsteps = [0, 4294967299]\n"
                      "values = [0.1, 0.2]\n"),
             "got " + big);
  EXPECT_HAS(error_of("[problem.target]\nspectrum = { kind = \"power\", scale = 1, exponent = "
                      "1, count = 4294967299 }\n"),
             "got " + big);
  const std::string rank = error_of("", {"problem.rank=1099511627776"});  // 2^40
  EXPECT_HAS(rank, "problem.rank");
  EXPECT_HAS(rank, "got 1099511627776");
  // Keys whose range is 64 bits keep the value exactly.
  const Config c = parse("", {"run.master_seed=" + big, "problem.target.seed=" + big});
  EXPECT_EQ(c.run.master_seed, 4294967299u);
  EXPECT_EQ(c.problem.target.seed, 4294967299u);
}

// Defect 6: a seed's index is a 32-bit word of its Philox counter, so run.seeds stops at 2^32.
TEST(ConfigErrors, SeedsBeyondTheirIndexRange) {
  EXPECT_EQ(parse("[run]\nseeds = 4294967296\n").run.seeds, 4294967296L);
  const std::string msg = error_of("[run]\nseeds = 1099511627776\n");
  EXPECT_HAS(msg, "run.seeds");
  EXPECT_HAS(msg, "2^32");
}

// The engine indexes a seed's working set with int: larger shapes are refused, naming them.
TEST(ConfigErrors, WorkingSetBeyondTheEnginesIndexRange) {
  const std::string msg = error_of(
      "[problem]\nm = 1048576\nn = 1048576\nrank = 8388608\n[problem.target]\nspectrum = [1.0]\n");
  EXPECT_HAS(msg, "problem.rank");
  EXPECT_HAS(msg, "problem.m = 1048576");
  EXPECT_HAS(msg, "32-bit");
  EXPECT_NO_THROW(
      parse("[problem]\nm = 1048576\nn = 4\nrank = 4\n[problem.target]\nspectrum = [1.0]\n"));
}

// A spectrum whose 1/2 sum s_i^2 underflows the working precision made every excess 0/0 = NaN
// (status "unconverged"); such spectra are refused, naming the key and the precision.
TEST(ConfigErrors, SpectrumOutsideThePrecisionsNormalRange) {
  const std::string denormal = error_of("[problem.target]\nspectrum = [1e-40]\n");
  EXPECT_HAS(denormal, "problem.target.spectrum[0]");
  EXPECT_HAS(denormal, "fp32");
  const std::string underflow = error_of("[problem.target]\nspectrum = [1e-25]\n");
  EXPECT_HAS(underflow, "problem.target.spectrum");
  EXPECT_HAS(underflow, "1/2 sum s_i^2");
  EXPECT_HAS(underflow, "fp64");  // the remedy
  EXPECT_NO_THROW(parse("[problem.target]\nspectrum = [1e-25]\n[run]\nprecision = \"fp64\"\n"));
  EXPECT_HAS(error_of("[problem.target]\nspectrum = [1e-310]\n[run]\nprecision = \"fp64\"\n"),
             "problem.target.spectrum[0]");
  EXPECT_HAS(error_of("[problem.target]\nspectrum = [1e20]\n"), "1/2 sum s_i^2");
  EXPECT_NO_THROW(parse("[problem.target]\nspectrum = [1e4, 1e-8]\n"));
}

// ---- the memory and disk estimate (host/problem.cpp) ----

TEST(Footprint, EngineLaneValuesMatchTheEngineLayout) {
  for (const int depth : {2, 3, 4})
    for (const int m : {1, 3, 8})
      for (const int n : {1, 5, 8})
        for (const int r : {1, 2, 6, 20})
          for (const auto kind : {OptimizerKind::gd, OptimizerKind::muon, OptimizerKind::adam})
            for (const auto integrator : {Integrator::step, Integrator::rk4}) {
              OptimizerParams op;
              op.kind = kind;
              op.integrator = integrator;
              const Shape sh{m, n, r, depth};
              const int modes = std::min({r, m, n});
              for (const int sharpness : {0, 7})
                EXPECT_EQ(engine_lane_values(sh, op, modes, sharpness),
                          EngineLayout(sh, op, modes, sharpness).total)
                    << m << " x " << n << " r " << r << " L " << depth << " sharpness "
                    << sharpness;
            }
  for (const int n : {1, 5, 8})
    for (const int r : {1, 2, 6, 20})
      for (const auto kind : {OptimizerKind::gd, OptimizerKind::muon, OptimizerKind::adam}) {
        OptimizerParams op;
        op.kind = kind;
        for (const bool weighted : {false, true}) {
          // W = X X^T, and the weighted loss (icl is depth 2, m = n).
          const Shape sh = weighted ? Shape{n, n, r, 2, false, true} : Shape{n, n, r, 1, true};
          const int modes = std::min(r, n);
          for (const int sharpness : {0, 7})
            EXPECT_EQ(engine_lane_values(sh, op, modes, sharpness),
                      EngineLayout(sh, op, modes, sharpness).total)
                << (weighted ? "weighted " : "symmetric ") << n << " r " << r << " sharpness "
                << sharpness;
        }
      }
}

// Every term by hand for m = 8, n = 6, r = 2, L = 2, GD in fp64 (no optimizer state), spectrum
// [2, 1] (2 modes, basis of 2 columns), 10 seeds, 3 traced, 20 steps recorded at every step
// (T = 21), 2 threads with a pack of 16 bytes per lane value.
TEST(Footprint, HandComputedSmallRun) {
  const Experiment ex = parse_experiment(
      "[problem]\nm = 8\nn = 6\nrank = 2\n[problem.target]\nspectrum = [2.0, 1.0]\n"
      "[optimizer]\nkind = \"gd\"\n[run]\nsteps = 20\nseeds = 10\nprecision = \"fp64\"\n"
      "[record]\ntraced_seeds = 3\n",
      "hand.toml");
  // Params 8*2 + 2*6 = 28. Layout: F, G, D 84; evaluate's workspace in the residual form
  // (2 r (m + n) = 56 > m n = 48: residual_form), F_2's copy 12 and the 8 x 6 residual 48 = 60;
  // diag 2 + diag_work 8; update max(16 + 82, 12 + 70) = 98 (orthogonalize 8 x 2: 32 + 16 + 4 +
  // thin SVD 30, which is 8 * 2 + 2 * 2 * 3 (Jacobi rows of stride 3) + 2); record (RecordLayout,
  // p1 = p2 = 2) W row 6, Q 16, Q2 12, tall 16, R1 + R2 + B + V_P 16, S1 + S2 8, C 4, tmp 4, 3 * 2,
  // two thin SVDs 2 * 30, rv 12, block alignment 4 + 14 = 178 (above orth_deviation's 8 x 2:
  // 11 * 2 + 16 + 30 = 68); metrics sv 2, core_diag 2, factor_norm and the three orth 4 * 2,
  // block alignment 3, Delta 8 = 23.
  EXPECT_EQ(engine_lane_values(Shape{8, 6, 2, 2}, ex.cells[0].optimizer_params(), 2), 453);
  FootprintParams params;
  params.threads = 2;
  params.pack_bytes_fp64 = 16;
  const RunFootprint f = estimate_footprint(ex, params);
  // Lanes 453 + 2 * 2 + 2 * 28 = 513 at 16 bytes; doubles 16 (factor) + 62 (init scratch, 3*8*2 +
  // 4 + 8 + 2) + 28 + 2 + 24 (a packed record step without the Delta matrices) = 132 at 8; 2 ints.
  EXPECT_EQ(f.thread_bytes, 513 * 16 + 132 * 8 + 2 * 4);
  // Target 8 * (48 + 14 * 2 + 2), QR copies 16 * 8 * 2, plan 8 * (48 + 14 * 2 + 2), bases
  // 8 * 14 * 2, 21 record steps.
  EXPECT_EQ(f.cell_bytes, 8 * 78 + 256 + 8 * 78 + 224 + 4 * 21);
  // One cell of 10 seeds is one unit and one batch; per seed 1 + 12 * 8 + 4 + 2 * 4 = 109 outcome
  // bytes; per traced seed 21 steps x (9 + 2 * 2 + 4 * 2 + 3 = 24; no record.delta_matrices)
  // values and the initial and final factors (2 x 28), in double.
  const double trace = 8 * (21 * 24 + 56);
  EXPECT_EQ(f.cells_in_flight, 1);
  EXPECT_EQ(f.batch_bytes, 10 * 109 + 3 * trace);
  EXPECT_EQ(f.finish_bytes, 10 * (109 + 16) + 3 * trace + f.cell_bytes);
  EXPECT_EQ(f.memory_bytes,
            f.resident_bytes +
                std::max(2 * f.thread_bytes + f.cell_bytes + f.batch_bytes, f.finish_bytes));
  const double toml = double(ex.cells[0].to_toml().size());
  EXPECT_EQ(f.output_bytes,
            10 * 109 + 3 * trace + 8 * (48 + 2) + 8 * 5 * (21 + 42 + 2) + 512 + 1 + toml + 512);
  // A GPU run holds no CPU thread buffers.
  params.threads = 0;
  EXPECT_EQ(estimate_footprint(ex, params).memory_bytes,
            f.resident_bytes + std::max(f.cell_bytes + f.batch_bytes, f.finish_bytes));
}

// A seed's cost is its trajectory in the FLOP model, times 1 + its basin probes; a traced seed's
// record steps add to it.
TEST(WorkUnits, SeedCostFollowsTheFlopModel) {
  const Config c = parse(
      "[problem]\nm = 20\nn = 16\nrank = 4\n[optimizer]\nkind = \"gd\"\n[run]\nsteps = 300\n");
  const double step = step_flops(Shape{20, 16, 4, 2}, c.optimizer_params(), 4);
  EXPECT_EQ(seed_cost(c, false), 300 * step);
  EXPECT_GT(seed_cost(c, true), seed_cost(c, false));
  const Config probed = parse(
      "[problem]\nm = 20\nn = 16\nrank = 4\n[optimizer]\nkind = \"gd\"\n[run]\n"
      "steps = 300\n[basin]\nprobes = 3\n");
  EXPECT_EQ(seed_cost(probed, false), 4 * 300 * step);
}

// Units hold as many seeds as cost about kUnitFlops, whole packs (a multiple of 16), at least
// kMinUnitSeeds, run.seeds or kMaxUnitSeeds at the most; the costliest cell of a sweep sizes them.
TEST(WorkUnits, SizedByTheCostliestCell) {
  auto experiment = [](long steps, long seeds, const std::string& sweep = "") {
    return parse_experiment(
        fmt::format("[problem]\nm = 60\nn = 70\nrank = 5\n[run]\nsteps = {}\nseeds = {}\n{}", steps,
                    seeds, sweep),
        "units.toml", {});
  };
  const double per_step = seed_cost(experiment(1, 1).cells[0], false);
  EXPECT_EQ(unit_seeds(experiment(10, 1000).cells), 1000);  // cheap: one unit per cell
  EXPECT_EQ(unit_seeds(experiment(10, 100000).cells), kMaxUnitSeeds);
  EXPECT_EQ(unit_seeds(experiment(1000000, 5).cells), 5);  // costly, but fewer seeds than a pack
  for (long steps : {1000L, 3000L, 20000L, 100000L, 3000000L}) {
    const long unit = unit_seeds(experiment(steps, 100000).cells);
    const double cost = double(steps) * per_step;
    SCOPED_TRACE(fmt::format("steps {}: unit {}, seed cost {:.3g}", steps, unit, cost));
    EXPECT_EQ(unit % 16, 0);
    ASSERT_GE(unit, kMinUnitSeeds);
    if (unit > kMinUnitSeeds) {
      EXPECT_LE(double(unit) * cost, kUnitFlops);
    }
    EXPECT_GT(double(unit + 16) * cost, kUnitFlops);
  }
  const Experiment mixed =
      experiment(2000, 100000, "[sweep]\n\"optimizer.kind\" = [\"gd\", \"specgd\"]\n");
  ASSERT_LT(seed_cost(mixed.cells[0], false), seed_cost(mixed.cells[1], false));
  EXPECT_EQ(unit_seeds(mixed.cells), unit_seeds({mixed.cells[1]}));
  EXPECT_LT(unit_seeds(mixed.cells), unit_seeds({mixed.cells[0]}));
}

// validate names the keys no cell uses: per optimizer kind and orthogonalizer, over every cell.
TEST(UnusedKeys, AreThoseNoCellUses) {
  auto unused = [](const std::string& text) {
    std::vector<std::string> keys;
    for (const UnusedKeys& u : unused_keys(parse_experiment(text, "unused.toml", {})))
      keys.push_back(u.keys);
    return keys;
  };
  const std::string momentum =
      "optimizer.momentum, optimizer.nesterov, optimizer.momentum_order, optimizer.shape_scale";
  const std::string adam = "optimizer.beta1, optimizer.beta2, optimizer.eps";
  const std::string ns = "optimizer.ns_coefficients, optimizer.ns_steps";
  const std::string smooth = "optimizer.smooth_eps";
  EXPECT_EQ(unused("[optimizer]\nkind = \"specgd\"\n"),
            (std::vector<std::string>{momentum, adam, ns, smooth}));
  EXPECT_EQ(unused("[optimizer]\nkind = \"gd\"\n"),
            (std::vector<std::string>{momentum, adam, "optimizer.orthogonalizer, record.orth_error",
                                      ns, smooth}));
  // A key one cell of a sweep uses is used.
  EXPECT_EQ(unused("[optimizer]\nkind = \"gd\"\n[sweep]\n\"optimizer.kind\" = [\"gd\", \"muon\", "
                   "\"adam\"]\n"),
            (std::vector<std::string>{ns, smooth}));
  EXPECT_EQ(unused("[optimizer]\nkind = \"muon\"\northogonalizer = \"newton_schulz\"\n"),
            (std::vector<std::string>{adam, smooth}));
}

TEST(Footprint, RefusalNamesWhatToReduce) {
  RunFootprint f;
  f.thread_bytes = 3e9;
  f.cell_bytes = 1e6;
  f.cells_in_flight = 1;
  f.batch_bytes = 1e6;
  f.finish_bytes = 2e6;
  f.memory_bytes = 6.1e9;
  f.output_bytes = 5e9;
  FootprintParams params;
  params.threads = 2;
  auto message = [&](const MachineLimits& limits) -> std::string {
    try {
      check_footprint(f, params, limits);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  MachineLimits roomy;
  roomy.physical_memory = 16e9;
  roomy.address_space = 0;  // unlimited
  roomy.free_disk = 1e12;
  EXPECT_EQ(message(roomy), "");
  MachineLimits small = roomy;
  small.physical_memory = 4e9;
  const std::string memory = message(small);
  for (const char* what : {"of memory", "problem.m", "problem.rank", "--threads", "run.seeds",
                           "record.traced_seeds", "--skip-resource-check"})
    EXPECT_HAS(memory, what);
  // The address-space limit counts every thread's stack too: 6.1e9 + 2 * 1e9 > 8e9.
  MachineLimits capped = roomy;
  capped.address_space = 8e9;
  capped.thread_stack = 1e9;
  EXPECT_HAS(message(capped), "ulimit -v");
  capped.thread_stack = 0.9e9;
  EXPECT_EQ(message(capped), "");
  MachineLimits full = roomy;
  full.free_disk = 4e9;
  const std::string disk = message(full);
  EXPECT_HAS(disk, "of disk");
  EXPECT_HAS(disk, "run.seeds");
  // The final file is written beside the partial: room for one file is not enough.
  full.free_disk = 1.5 * f.output_bytes;
  EXPECT_HAS(message(full), "beside the partial");
  full.free_disk = 2 * f.output_bytes;
  EXPECT_EQ(message(full), "");
}

// ---- --set and files ----

TEST(ConfigOverrides, ApplyBeforeValidation) {
  const Config c = parse(kFull, {"optimizer.lr=0.5", "optimizer.kind=gd",
                                 "problem.target.spectrum=[3,2,1]", "run.seeds = 8"});
  EXPECT_EQ(c.optimizer.lr, 0.5);
  EXPECT_EQ(c.optimizer.schedule.lr, 0.5);
  EXPECT_EQ(c.optimizer.kind, OptimizerKind::gd);
  EXPECT_EQ(c.problem.target.spectrum, (std::vector<double>{3, 2, 1}));
  EXPECT_EQ(c.run.seeds, 8);
}

TEST(ConfigOverrides, CreatesTablesAndReplacesInlineTables) {
  const Config c = parse(
      "", {"optimizer.schedule.kind=exponential", "optimizer.schedule.decay=0.99",
           "problem.target.spectrum={ kind = \"power\", scale = 10, exponent = 1, count = 4 }",
           "problem.target.spectrum.count=3"});
  EXPECT_EQ(c.optimizer.schedule.kind, ScheduleKind::exponential);
  EXPECT_EQ(c.optimizer.schedule.decay, 0.99);
  EXPECT_EQ(c.problem.target.spectrum, (std::vector<double>{10.0, 5.0, 10.0 / 3}));
}

TEST(ConfigOverrides, CustomCoefficients) {
  const Config c = parse("", {"optimizer.ns_coefficients=[[1.5, -0.5, 0]]"});
  EXPECT_EQ(c.optimizer.ns_preset, "custom");
  EXPECT_EQ(c.optimizer.ns_steps, 1);
}

TEST(ConfigFiles, LoadConfigWithOverrides) {
  const std::string path = ::testing::TempDir() + "specsweep_test_config.toml";
  {
    std::ofstream f(path);
    f << kFull;
  }
  const Config c = load_config(path, {"run.steps=100"});
  EXPECT_EQ(c.run.steps, 100);
  EXPECT_EQ(c.problem.m, 32);
  try {
    load_config(path, {"record.colour=1"});
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_HAS(std::string(e.what()), "record.colour");
  }
  std::remove(path.c_str());
}

// ---- round trip ----

void expect_round_trip(const std::string& text, const std::vector<std::string>& overrides = {}) {
  const Config a = parse(text, overrides);
  const std::string t1 = a.to_toml();
  const Config b = parse_config(t1, "resolved.toml");
  EXPECT_EQ(t1, b.to_toml());
  EXPECT_EQ(a.problem.target.spectrum, b.problem.target.spectrum);
  EXPECT_EQ(a.optimizer.ns_coefficients.size(), b.optimizer.ns_coefficients.size());
  for (size_t i = 0;
       i < a.optimizer.ns_coefficients.size() && i < b.optimizer.ns_coefficients.size(); ++i) {
    EXPECT_EQ(a.optimizer.ns_coefficients[i].a, b.optimizer.ns_coefficients[i].a);
    EXPECT_EQ(a.optimizer.ns_coefficients[i].b, b.optimizer.ns_coefficients[i].b);
    EXPECT_EQ(a.optimizer.ns_coefficients[i].c, b.optimizer.ns_coefficients[i].c);
  }
}

TEST(ConfigRoundTrip, Defaults) {
  expect_round_trip("");
}

TEST(ConfigRoundTrip, Symmetric) {
  expect_round_trip(
      "[problem]\nkind = \"symmetric\"\nm = 6\nrank = 2\n[problem.target]\nspectrum = [2.0, 1.0]\n"
      "[init]\nfactors = [\"gaussian\"]\n");
}

TEST(ConfigRoundTrip, Icl) {
  expect_round_trip(
      "[problem]\nkind = \"icl\"\nn = 3\nrank = 3\ncontext_length = 7\n[problem.target]\n"
      "spectrum = [1.0, 0.5, 0.1]\n");
}

TEST(ConfigRoundTrip, Full) {
  expect_round_trip(kFull);
}

TEST(ConfigRoundTrip, GeneratedSpectraAndAwkwardFloats) {
  expect_round_trip(R"(
[problem]
m = 25
n = 25
rank = 25
[problem.target]
spectrum = { kind = "power", scale = 0.1, exponent = 0.7, count = 25 }
[optimizer]
lr = 0.1
[optimizer.schedule]
kind = "exponential"
decay = 0.3333333333333333
[run]
blowup = 1e300
)");
  expect_round_trip(R"(
[problem.target]
spectrum = { kind = "geometric", max = 7.3, condition = 1e6, count = 5 }
)");
}

TEST(ConfigRoundTrip, SchedulesAndCustomCoefficients) {
  expect_round_trip(R"(
[optimizer]
kind = "specgd"
orthogonalizer = "newton_schulz"
ns_coefficients = [[3.4445, -4.775, 2.0315], [1.875, -1.25, 0.375]]
ns_steps = 7
[optimizer.schedule]
kind = "piecewise"
steps = [0, 50, 300]
values = [0.1, 0.01, 0.001]
)");
  expect_round_trip(
      "[optimizer.schedule]\nkind = \"spike_geometric\"\neta1 = 3.16\nfactor = 0.5\n");
  expect_round_trip("[optimizer]\nkind = \"gd\"\nintegrator = \"rk4\"\n[record]\npoints = 100\n");
  expect_round_trip("",
                    {"optimizer.ns_coefficients=you6", "optimizer.kind=adam", "record.every=7"});
}

TEST(ConfigRoundTrip, OverparameterizedRankAndBlockTolerances) {
  expect_round_trip("[problem]\nm = 8\nn = 8\nrank = 32\n[init]\nscale = 1e-5\n");
  expect_round_trip("[record]\nblock_rtol = 0.0\nblock_atol = 0.125\n");
  const Config c = parse("[init]\nscale = 1e-5\n");
  EXPECT_DOUBLE_EQ(parse_config(c.to_toml(), "resolved.toml").record.block_atol, 1e-5);
}

TEST(ConfigRoundTrip, ResolvedTextHasEveryKey) {
  const std::string t = parse("").to_toml();
  for (const char* key : {"m = ",
                          "n = ",
                          "rank = ",
                          "depth = ",
                          "l2 = ",
                          "spectrum = [",
                          "basis = ",
                          "seed = ",
                          "factors = ",
                          "scale = ",
                          "scale_mode = ",
                          "kind = ",
                          "lr = ",
                          "orthogonalizer = ",
                          "ns_coefficients = \"jordan5\"",
                          "ns_steps = 5",
                          "smooth_eps = ",
                          "momentum = ",
                          "nesterov = ",
                          "momentum_order = ",
                          "shape_scale = ",
                          "beta1 = ",
                          "beta2 = ",
                          "eps = ",
                          "integrator = ",
                          "[optimizer.schedule]",
                          "steps = ",
                          "seeds = ",
                          "master_seed = ",
                          "precision = ",
                          "blowup = ",
                          "every = ",
                          "traced_seeds = ",
                          "hit_tolerance = ",
                          "loss_tolerance = ",
                          "grad_tolerance = ",
                          "block_rtol = 0.08",
                          "block_atol = 0.001"})
    EXPECT_HAS(t, std::string(key));
}

}  // namespace
}  // namespace specsweep
