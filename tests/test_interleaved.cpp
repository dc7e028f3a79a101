// The GPU memory layout on the CPU: the per-seed algorithm run through Interleaved handles (seeds
// stored element-major, as one CUDA thread per seed stores them) computes bitwise what it computes
// on a contiguous array, for every optimizer family, the RK4 flow, depth 3 and the record metrics.
// This checks that kernels/core only touches memory through its handles.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/init.hpp"
#include "core/interleaved.hpp"
#include "core/trajectory.hpp"

namespace specsweep {
namespace {

constexpr int kSeeds = 3;  // stride of the interleaved block

struct EngineCase {
  std::string name;
  int depth;
  OptimizerKind kind;
  OrthKind orth;
  Integrator integrator;
  double l2;
};

struct Recorded {
  std::vector<float> outcome, records;
};

// One seed's trajectory on the 9 x 7, rank-3 problem with a diagonal target; arena and outcome
// are handles made by `handle` over the given storage.
template <class Handle>
Recorded run_seed(const EngineCase& c, int seed, Handle arena, Handle hit_step, Handle hit_value) {
  const Shape sh{9, 7, 3, c.depth};
  const int modes = 3;
  std::vector<float> M(sh.m * sh.n, 0.f), U(sh.m * modes, 0.f), Vb(sh.n * modes, 0.f),
      s = {2.f, 1.f, 0.5f};
  for (int i = 0; i < modes; ++i)
    M[i * sh.n + i] = s[i], U[i * modes + i] = 1.f, Vb[i * modes + i] = 1.f;
  const TargetView<float> tg{M.data(), U.data(), Vb.data(), s.data(), modes, 2.625f};
  OptimizerParams op;
  op.kind = c.kind;
  op.orth.kind = c.orth;
  op.orth.ns.steps[0] = {3.4445, -4.7750, 2.0315};
  op.orth.ns.count = 1;
  op.orth.ns.iterations = 5;
  op.integrator = c.integrator;
  op.schedule.lr = 0.05;
  const int record_steps[] = {0, 7, 20};
  RunParams rp;
  rp.steps = 20;
  rp.l2 = c.l2;
  rp.record_steps = record_steps;
  rp.record_count = 3;
  const EngineLayout lay(sh, op, modes);
  for (int i = 0; i < lay.total; ++i) arena[i] = 0.f;
  std::vector<double> factor(sh.m * sh.r > sh.r * sh.n ? sh.m * sh.r : sh.r * sh.n),
      work(4 * sh.m * sh.n);
  for (int k = 0; k < sh.depth; ++k) {
    const FactorInit fi{k == 0 ? InitKind::orthogonal : InitKind::gaussian, 0.3};
    init_factor(fi, k, sh.depth, sh.rows(k), sh.cols(k), RandomStream(5, 0, seed, Purpose::init, k),
                SpectralBasis{}, factor.data(), work.data());
    for (int e = 0; e < sh.size(k); ++e) arena[lay.F + sh.offset(k) + e] = float(factor[e]);
  }
  TrajectoryOutcome<float, Handle> out{};
  out.hit_step = hit_step;
  out.hit_value = hit_value;
  Recorded rec;
  std::vector<float> packed(packed_record_width(sh.r, sh.depth, true));
  run_trajectory(sh, tg, op, rp, lay, arena, out, [&](int, const auto& m) {
    pack_record(m, 0, sh.r, modes, sh.depth, true, packed.data());
    rec.records.insert(rec.records.end(), packed.begin(), packed.end());
  });
  rec.outcome = {out.final_loss, out.final_grad_norm, out.steps_to_tol, out.diverged};
  for (int i = 0; i < modes; ++i)
    rec.outcome.push_back(out.hit_step[i]), rec.outcome.push_back(out.hit_value[i]);
  return rec;
}

class InterleavedLayout : public ::testing::TestWithParam<EngineCase> {};

TEST_P(InterleavedLayout, ComputesBitwiseWhatContiguousArraysCompute) {
  const EngineCase& c = GetParam();
  const Shape sh{9, 7, 3, c.depth};
  OptimizerParams op;
  op.kind = c.kind;
  op.integrator = c.integrator;
  const int total = EngineLayout(sh, op, 3).total;
  std::vector<float> block(static_cast<size_t>(total) * kSeeds, -7.f), hits(6 * kSeeds, -7.f);
  for (int seed = 0; seed < kSeeds; ++seed) {
    std::vector<float> arena(total), hit_step(3), hit_value(3);
    const Recorded plain = run_seed(c, seed, arena.data(), hit_step.data(), hit_value.data());
    using H = Interleaved<float, kSeeds>;
    const Recorded inter = run_seed(c, seed, H(block.data() + seed), H(hits.data() + seed),
                                    H(hits.data() + 3 * kSeeds + seed));
    ASSERT_EQ(plain.records.size(), inter.records.size());
    ASSERT_EQ(plain.records.size(), 3u * packed_record_width(sh.r, sh.depth, true));
    EXPECT_LT(plain.outcome[0], plain.records[0])
        << "the loss must fall, or the comparison is vacuous";
    for (size_t i = 0; i < plain.outcome.size(); ++i)
      EXPECT_EQ(plain.outcome[i], inter.outcome[i]) << "outcome " << i;
    for (size_t i = 0; i < plain.records.size(); ++i) {
      if (std::isnan(plain.records[i]))
        EXPECT_TRUE(std::isnan(inter.records[i])) << "record value " << i;
      else
        EXPECT_EQ(plain.records[i], inter.records[i]) << "record value " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Engine, InterleavedLayout,
    ::testing::Values(
        EngineCase{"gd", 2, OptimizerKind::gd, OrthKind::exact, Integrator::step, 0.0},
        EngineCase{"specgd_exact", 2, OptimizerKind::specgd, OrthKind::exact, Integrator::step,
                   0.0},
        EngineCase{"specgd_smooth_depth3", 3, OptimizerKind::specgd, OrthKind::smooth,
                   Integrator::step, 0.01},
        EngineCase{"muon_newton_schulz", 2, OptimizerKind::muon, OrthKind::newton_schulz,
                   Integrator::step, 0.0},
        EngineCase{"adam_l2", 2, OptimizerKind::adam, OrthKind::exact, Integrator::step, 0.05},
        EngineCase{"specgd_rk4", 2, OptimizerKind::specgd, OrthKind::exact, Integrator::rk4, 0.0}),
    [](const ::testing::TestParamInfo<EngineCase>& p) { return p.param.name; });

}  // namespace
}  // namespace specsweep
