// Google Benchmark of the per-seed step on the CPU: the same trajectory code instantiated for one
// seed per scalar (float, double) and for a SIMD pack of seeds, reported as seed-steps per second.
// The ratio pack / scalar is the measured gain from vectorizing across seeds.
#include <benchmark/benchmark.h>

#include <vector>

#include "core/random.hpp"
#include "core/trajectory.hpp"
#include "cpu/pack.hpp"

namespace specsweep {
namespace {

template <class V>
void BM_KangTrajectory(benchmark::State& state, OptimizerKind kind, OrthKind orth) {
  using T = ScalarOf<V>;
  constexpr int W = LaneTraits<V>::width;
  const Shape sh{60, 70, 5, 2};
  // Identity basis target: the cost is the same as for a random basis.
  std::vector<T> M(60 * 70, T(0)), U(60 * 5, T(0)), Vb(70 * 5, T(0)), s = {5, 4, 3, 2, 1};
  for (int i = 0; i < 5; ++i) M[i * 70 + i] = s[i], U[i * 5 + i] = 1, Vb[i * 5 + i] = 1;
  const TargetView<T> tg{M.data(), U.data(), Vb.data(), s.data(), 5, T(27.5)};
  OptimizerParams op;
  op.kind = kind;
  op.orth.kind = orth;
  op.orth.ns.steps[0] = {3.4445, -4.7750, 2.0315};
  op.orth.ns.count = 1;
  op.orth.ns.iterations = 5;
  op.schedule.lr = 0.01;
  RunParams rp;
  rp.steps = 100;
  const EngineLayout lay(sh, op, 5);
  std::vector<V> arena(lay.total), hit(5), hitv(5);
  const RandomStream stream(1, 0, 0, Purpose::init, 1);
  for (auto _ : state) {
    std::fill(arena.begin(), arena.end(), V(T(0)));
    for (int e = 0; e < 350; ++e) arena[lay.F + 300 + e] = V(T(1e-3 * stream.normal(e)));
    TrajectoryOutcome<V> out;
    out.hit_step = hit.data();
    out.hit_value = hitv.data();
    run_trajectory(sh, tg, op, rp, lay, arena.data(), out, [](int, const RecordMetrics<V>&) {});
    benchmark::DoNotOptimize(out.final_loss);
  }
  state.SetItemsProcessed(state.iterations() * rp.steps * W);
  state.SetLabel(std::to_string(W) + " seed(s) per call");
}

void BM_Fp32Scalar(benchmark::State& st, OptimizerKind k, OrthKind o) { BM_KangTrajectory<float>(st, k, o); }
void BM_Fp32Pack(benchmark::State& st, OptimizerKind k, OrthKind o) { BM_KangTrajectory<NativePack<float>>(st, k, o); }
void BM_Fp64Scalar(benchmark::State& st, OptimizerKind k, OrthKind o) { BM_KangTrajectory<double>(st, k, o); }
void BM_Fp64Pack(benchmark::State& st, OptimizerKind k, OrthKind o) { BM_KangTrajectory<NativePack<double>>(st, k, o); }

BENCHMARK_CAPTURE(BM_Fp32Scalar, specgd_exact, OptimizerKind::specgd, OrthKind::exact);
BENCHMARK_CAPTURE(BM_Fp32Pack, specgd_exact, OptimizerKind::specgd, OrthKind::exact);
BENCHMARK_CAPTURE(BM_Fp32Scalar, muon_jordan5, OptimizerKind::muon, OrthKind::newton_schulz);
BENCHMARK_CAPTURE(BM_Fp32Pack, muon_jordan5, OptimizerKind::muon, OrthKind::newton_schulz);
BENCHMARK_CAPTURE(BM_Fp64Scalar, specgd_exact, OptimizerKind::specgd, OrthKind::exact);
BENCHMARK_CAPTURE(BM_Fp64Pack, specgd_exact, OptimizerKind::specgd, OrthKind::exact);

// The exact polar factor of a square p x p Gaussian matrix, one pack of seeds per call (items are
// polar factors): throughput per FLOP around the powers of two shows the row stride's effect.
template <class V>
void BM_PolarExact(benchmark::State& state) {
  using T = ScalarOf<V>;
  constexpr int W = LaneTraits<V>::width;
  const int p = static_cast<int>(state.range(0));
  std::vector<V> G(p * p), out(p * p), work(orthogonalize_workspace(p, p));
  const RandomStream stream(1, 0, 0, Purpose::init, 2);
  for (int e = 0; e < p * p; ++e)
    for (int l = 0; l < W; ++l) set_lane(G[e], l, T(stream.normal(std::uint64_t(e) * W + l)));
  for (auto _ : state) {
    polar_exact(p, p, G.data(), out.data(), work.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * W);
}
BENCHMARK_TEMPLATE(BM_PolarExact, NativePack<float>)->Arg(31)->Arg(32)->Arg(33)->Arg(63)->Arg(64)->Arg(65)->Arg(128);
BENCHMARK_TEMPLATE(BM_PolarExact, NativePack<double>)->Arg(32)->Arg(64);

}  // namespace
}  // namespace specsweep

BENCHMARK_MAIN();
