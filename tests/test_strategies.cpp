// The GPU's execution strategies run on the CPU: the fused strategy (one call of run_one_seed per
// seed) and the batched and block strategies (strategy/batched.hpp's steps with an executor of
// plain loops: column-major GEMMs with BLAS semantics, a Jacobi eigensolver with cuSOLVER's
// conventions, the work items of each parallel step in a shuffled order, so that a dependency
// between them that the GPU would race on shows up as a mismatch here) fill their task arrays,
// the host unpacks them as the CUDA backend does, and the result must be what the CPU backend
// reports on every oracle case. Where no GPU is, this tests everything of the CUDA backend but the
// launches, the libraries and the block's shared-memory executor themselves.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "oracle_assertions.hpp"
#include "plan/launch_chunks.hpp"
#include "plan/strategy_choice.hpp"
#include "strategy/batched.hpp"
#include "strategy/block.hpp"
#include "strategy/fused.hpp"
#include "strategy/small_linalg.hpp"
#include "strategy/task_results.hpp"

namespace specsweep {
namespace {

using strategy::CellParams;
using strategy::kWarp;
using strategy::SeedTask;

class CpuExecutor {
 public:
  explicit CpuExecutor(std::size_t record_buffer_bytes)
      : record_buffer_bytes_(record_buffer_bytes) {}

  template <class U>
  class Buffer {
   public:
    Buffer() = default;
    explicit Buffer(std::size_t n) : values_(n, U(-7)) {}  // poisoned: every read must be written
    U* data() const { return const_cast<U*>(values_.data()); }
    std::size_t size() const { return values_.size(); }

   private:
    std::vector<U> values_;
  };
  template <class U>
  Buffer<U> buffer(long count) {
    allocated_ += strategy::shared_bytes(sizeof(U) * std::size_t(count));
    return Buffer<U>(std::size_t(count));
  }
  // A copy, as the block strategy's executor stages it in shared memory.
  template <class U>
  const U* shared_input(const U* data, long count) {
    allocated_ += strategy::shared_bytes(sizeof(U) * std::size_t(count));
    const auto* bytes = reinterpret_cast<const unsigned char*>(data);
    inputs_.emplace_back(bytes, bytes + count * sizeof(U));
    return reinterpret_cast<const U*>(inputs_.back().data());
  }

  template <class F>
  void for_each(long count, F f) {
    for (long i : shuffled(count)) f(i);
  }

  template <class F>
  void for_each_element(long seeds, int per_seed, F f) {
    for (long i : shuffled(seeds * per_seed)) f(i / per_seed, int(i % per_seed));
  }

  template <class U, class Term>
  void sum_per_seed(long seeds, int per_seed, Term term, U* out) {
    for (long s : shuffled(seeds)) {
      U acc = U(0);
      for (int e = 0; e < per_seed; ++e) acc += term(s, e);
      out[s] = acc;
    }
  }

  std::size_t record_buffer_bytes() const { return record_buffer_bytes_; }
  // What the steps allocated, counted as the block strategy's shared memory.
  std::size_t allocated() const { return allocated_; }

  // C_b = alpha op(A_b) op(B_b) + beta C_b, column-major, as cublas<t>gemmStridedBatched: op(A) is
  // m x k, stored k x m when transposed; C is not read when beta = 0. Arguments cuBLAS would
  // reject (leading dimensions below the rows they must span) fail the test.
  template <class U>
  void gemm_cm(bool ta, bool tb, int m, int n, int k, U alpha, const U* A, long lda, long sa,
               const U* B, long ldb, long sb, U beta, U* C, long ldc, long sc, int batch) {
    if (m < 0 || n < 0 || k < 0 || batch < 0 || lda < std::max(1, ta ? k : m) ||
        ldb < std::max(1, tb ? n : k) || ldc < std::max(1, m))
      throw std::invalid_argument("gemm arguments cuBLAS rejects: m " + std::to_string(m) + " n " +
                                  std::to_string(n) + " k " + std::to_string(k) + " lda " +
                                  std::to_string(lda) + " ldb " + std::to_string(ldb) + " ldc " +
                                  std::to_string(ldc));
    for (long index : shuffled(long(batch) * m * n))
      strategy::gemm_cm_element(index, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc,
                                sc);
  }

  // A non-finite matrix fails here, as cuSOLVER reports it failed: the steps must feed the
  // eigensolver zeros for a diverged seed.
  void eigh(int p, long batch, double* A, double* w, double* work) {
    if (!std::all_of(A, A + batch * p * p, [](double a) { return std::isfinite(a); }))
      throw std::runtime_error(
          "a non-finite matrix reached the eigensolver (a diverged seed "
          "not masked)");
    for (long b : shuffled(batch))
      strategy::jacobi_eigh(p, A + b * p * p, w + b * p, work + b * strategy::jacobi_work_size(p),
                            [this](int count, auto f) {
                              for (long i : shuffled(count)) f(int(i));
                            });
  }

  template <class U>
  void zero(U* data, long count) {
    std::fill(data, data + count, U(0));
  }

 private:
  // 0 .. count - 1 in a random order.
  std::vector<long> shuffled(long count) {
    std::vector<long> order(count);
    std::iota(order.begin(), order.end(), 0L);
    std::shuffle(order.begin(), order.end(), order_rng_);
    return order;
  }

  std::size_t record_buffer_bytes_, allocated_ = 0;
  std::mt19937_64 order_rng_{20261204};
  std::vector<std::vector<unsigned char>> inputs_;  // operator new's alignment suits any U
};

// Shared memory on Hopper (H100, H200): 227 KiB per block at most, 228 KiB per SM, 1 KiB of each
// block's reserved by the runtime.
constexpr strategy::SharedMemoryLimits kHopperShared{227 * 1024, 228 * 1024, 1024};

// Seeds per task of a strategy: the CUDA backend's chunks of one warp (the oracle's 40 seeds in
// two tasks, the traced seeds of some cases on both sides), or for the block strategy groups of
// at most 7 seeds (a size that divides neither 32 nor 40); 0 when the strategy does not compute
// the cell (the backend would run another one, forced or not).
template <class T>
long task_seeds(GpuStrategy strategy, const CellParams<T>& c) {
  const int group = strategy::block_group_seeds(c, kHopperShared);
  if (choose_strategy(c, group, strategy) != strategy) return 0;
  return strategy == GpuStrategy::block ? std::min(7, group) : kWarp;
}

// Runs the seeds of a config's cell on the CPU as the CUDA backend runs them under the strategy,
// in tasks of task_seeds, and unpacks each task's arrays into the outcomes and traces; nullopt
// when the strategy does not compute the cell.
template <class T>
std::optional<SeedRangeRun> run_strategy(const Config& cfg, GpuStrategy strategy) {
  SeedRangeRun run;
  run.cp = make_cell_problem(cfg, 0);
  const CellProblem& cp = run.cp;
  const CellPlan<T> plan(cp);
  const CellParams<T> c =
      strategy::make_cell_params(plan, plan.target(), plan.basis(), cp.record_steps.data());
  const long per_task = task_seeds(strategy, c);
  if (per_task == 0) return std::nullopt;
  run.outcomes.resize(0, cfg.run.seeds, cp.shape.r);
  run.traces.resize_for_seeds(0, cfg.run.seeds, cp);
  const WorkItem item{&cp, 0, cfg.run.seeds, &run.outcomes, &run.traces};
  const int params = c.layout.params;
  const int arena_width =
      strategy == GpuStrategy::fused ? c.layout.total : strategy::batched_arena_width(c);
  const int record_width = packed_record_width(cp.shape.r, cp.shape.depth, c.rp.delta_matrices);
  for (long first = 0; first < cfg.run.seeds; first += per_task) {
    const long seeds = std::min(per_task, cfg.run.seeds - first);
    const long traced_first = std::max(first, run.traces.first_seed);
    const long traced = seeds_in_range(first, seeds, run.traces.first_seed, run.traces.count);
    // Poisoned: whatever the strategy reads before writing shows up as a mismatch.
    std::vector<T> arena(kWarp * arena_width, T(-7)), keep(kWarp * strategy::keep_width(c) + 1),
        outcome(kWarp * strategy::OutcomeSlots{c.target.modes}.width(), T(-7)),
        traces(traced * c.rp.record_count * record_width + 1), final_factors(traced * params + 1);
    std::vector<double> init(kWarp * strategy::init_width(c)), init_factors(traced * params + 1);
    SeedTask<T> task{};
    task.first_seed = first;
    task.count = seeds;
    task.traced_first = traced_first;
    task.traced_count = traced;
    task.arena = arena.data();
    task.init = init.data();
    task.outcome = outcome.data();
    task.keep = keep.data();
    task.traces = traces.data();
    task.init_factors = init_factors.data();
    task.final_factors = final_factors.data();
    if (strategy == GpuStrategy::fused) {
      for (long i = 0; i < seeds; ++i) strategy::run_one_seed(c, task, i);
    } else if (strategy == GpuStrategy::batched) {
      // Room for four record steps: the oracle's six are computed in two flushes, one of them
      // partial.
      CpuExecutor exec(sizeof(T) * std::size_t(strategy::batched_arena_width(c)) *
                       std::size_t(std::max(traced, 1L) * 4));
      strategy::run_batched(exec, c, task, cp.record_steps.data());
    } else {
      // No record buffer: each record step goes through the traced seeds' arenas, as on the GPU.
      CpuExecutor exec(0);
      strategy::run_batched(exec, c, task, cp.record_steps.data());
      EXPECT_EQ(exec.allocated(), strategy::block_shared_bytes(c, seeds, traced))
          << "the steps allocated other than the host counted for the block's shared memory";
    }
    strategy::store_task_results(
        plan, c, task,
        strategy::TaskResults<T>{outcome.data(), traces.data(), init_factors.data(),
                                 final_factors.data()},
        item);
  }
  return run;
}

class StrategyOnCpu : public ::testing::TestWithParam<std::tuple<GpuStrategy, OracleCase>> {};

TEST_P(StrategyOnCpu, ReportsWhatTheCpuBackendReports) {
  const auto& [strategy, c] = GetParam();
  int compared = 0;
  for (Precision precision : oracle_precisions(c)) {
    const Config cfg = oracle_config(c, precision);
    const auto other = precision == Precision::fp64 ? run_strategy<double>(cfg, strategy)
                                                    : run_strategy<float>(cfg, strategy);
    if (!other) continue;  // the fused strategy computes it
    ++compared;
    const auto cpu = run_seed_range("cpu", cfg, 0, cfg.run.seeds, 4096);
    testing::expect_well_conditioned(cfg, cpu, oracle_tolerance(precision));
    // A case that says its seeds diverge has seeds that do: the strategies' freezing and masking
    // of them is what it checks.
    if (std::string(c.name).rfind("diverging_", 0) == 0) {
      EXPECT_GT(std::count(cpu.outcomes.status.begin(), cpu.outcomes.status.end(),
                           static_cast<std::int8_t>(Status::diverged)),
                0)
          << c.name;
    }
    testing::expect_matches(
        cpu, *other, oracle_tolerance(precision),
        std::string(c.name) + (precision == Precision::fp64 ? " fp64" : " fp32"));
  }
  if (compared == 0) GTEST_SKIP() << "the strategy computes this cell in neither precision";
}

// Calls f with the fp32 parameters of cfg's cell while the plan they point into is alive.
template <class F>
void with_cell_params(const Config& cfg, F f) {
  const CellProblem cp = make_cell_problem(cfg, 0);
  const CellPlan<float> plan(cp);
  f(strategy::make_cell_params(plan, plan.target(), plan.basis(), cp.record_steps.data()));
}

// A block strategy's group fits the device: alone within a block's limit, and kGroupsPerSm of
// them (each with the runtime's reservation) within an SM; one seed more would not fit, unless
// the group is already at its largest.
TEST(BlockGroups, FitTheSharedMemoryAndAreAsLargeAsFits) {
  const strategy::SharedMemoryLimits small{48 * 1024, 100 * 1024, 1024};
  int checked = 0;
  for (const OracleCase& oc : oracle_cases()) {
    with_cell_params(oracle_config(oc, Precision::fp32), [&](const CellParams<float>& c) {
      if (!strategy::batched_supports(c)) return;
      for (const strategy::SharedMemoryLimits& limits : {kHopperShared, small}) {
        const int seeds = strategy::block_group_seeds(c, limits);
        ASSERT_GE(seeds, 1) << oc.name;
        auto fits = [&](int g) {
          const std::size_t bytes = strategy::block_shared_bytes(c, g, 0);
          return bytes <= limits.per_block &&
                 strategy::kGroupsPerSm * (bytes + limits.reserved_per_block) <= limits.per_sm;
        };
        EXPECT_TRUE(seeds == 1 || fits(seeds)) << oc.name;
        EXPECT_TRUE(seeds == strategy::kMaxGroupSeeds || !fits(seeds + 1)) << oc.name;
        ++checked;
      }
    });
  }
  EXPECT_GT(checked, 10);
  // A target too large for one block: no group, the cell runs under another strategy.
  Config cfg = oracle_config(oracle_cases()[1], Precision::fp32);
  cfg.problem.m = cfg.problem.n = 256;
  with_cell_params(cfg, [](const CellParams<float>& c) {
    EXPECT_EQ(strategy::block_group_seeds(c, kHopperShared), 0);
  });
}

// The cost model's choice is a strategy that computes the cell, the forced one wherever that
// one does; left to itself it takes block at Kang's size (60 x 70, r = 5, where a group fits a
// block), batched at 256^2 and fused for depth 3, which only the fused strategy computes.
TEST(StrategyChoice, TakesAStrategyThatComputesTheCell) {
  const GpuStrategy all[] = {GpuStrategy::automatic, GpuStrategy::fused, GpuStrategy::batched,
                             GpuStrategy::block};
  for (const OracleCase& oc : oracle_cases()) {
    with_cell_params(oracle_config(oc, Precision::fp32), [&](const CellParams<float>& c) {
      const int group = strategy::block_group_seeds(c, kHopperShared);
      for (GpuStrategy forced : all) {
        const GpuStrategy chosen = choose_strategy(c, group, forced);
        EXPECT_NE(chosen, GpuStrategy::automatic) << oc.name;
        if (chosen != GpuStrategy::fused) {
          EXPECT_TRUE(strategy::batched_supports(c)) << oc.name;
        }
        if (chosen == GpuStrategy::block) {
          EXPECT_GT(group, 0) << oc.name;
        }
        const bool computes =
            forced == GpuStrategy::fused ||
            (strategy::batched_supports(c) && (forced == GpuStrategy::batched || group > 0));
        if (forced != GpuStrategy::automatic && computes) {
          EXPECT_EQ(chosen, forced) << oc.name;
        }
      }
    });
  }
  auto automatic = [&](const char* case_name, int m, int n, int rank) {
    const auto found =
        std::find_if(oracle_cases().begin(), oracle_cases().end(),
                     [&](const OracleCase& oc) { return oc.name == std::string(case_name); });
    EXPECT_NE(found, oracle_cases().end()) << case_name;
    Config cfg = oracle_config(*found, Precision::fp32);
    if (m > 0) cfg.problem.m = m, cfg.problem.n = n, cfg.problem.rank = rank;
    GpuStrategy chosen = GpuStrategy::automatic;
    with_cell_params(cfg, [&](const CellParams<float>& c) {
      chosen =
          choose_strategy(c, strategy::block_group_seeds(c, kHopperShared), GpuStrategy::automatic);
    });
    return chosen;
  };
  EXPECT_EQ(automatic("specgd_exact", 60, 70, 5), GpuStrategy::block);
  EXPECT_EQ(automatic("specgd_exact", 256, 256, 16), GpuStrategy::batched);
  EXPECT_EQ(automatic("depth3_l2_orthogonal", 0, 0, 0), GpuStrategy::fused);
}

// The rounds of a sweep of the parallel Jacobi method pair every two columns exactly once, and
// no column twice in one round (their rotations would not commute).
TEST(JacobiRounds, PairEveryTwoColumnsOnceAndNoColumnTwiceInARound) {
  for (int players = 2; players <= 40; players += 2) {
    std::vector<int> met(players * players, 0);
    for (int round = 0; round < players - 1; ++round) {
      std::vector<int> busy(players, 0);
      for (int pair = 0; pair < players / 2; ++pair) {
        int i, j;
        strategy::tournament_pair(players, round, pair, i, j);
        ASSERT_TRUE(0 <= i && i < j && j < players) << players << " " << round << " " << pair;
        ++busy[i];
        ++busy[j];
        ++met[i * players + j];
      }
      for (int column = 0; column < players; ++column)
        EXPECT_EQ(busy[column], 1) << players << " columns, round " << round;
    }
    for (int i = 0; i < players; ++i)
      for (int j = i + 1; j < players; ++j)
        EXPECT_EQ(met[i * players + j], 1) << players << " columns, pair " << i << " " << j;
  }
}

// jacobi_eigh, through the test executor (its work items in a shuffled order within each
// phase), on A = Q diag(lambda) Q^T
// with a random orthogonal Q and known lambda (distinct, repeated, clustered, of both signs, all
// zero): the eigenvalues come out ascending and equal to lambda, and the eigenvectors orthonormal
// with A V = V diag(w), each to a small multiple of the double-precision epsilon times |A|.
TEST(JacobiEigh, DecomposesSymmetricMatricesOfKnownSpectra) {
  std::mt19937_64 rng(20261206);
  std::normal_distribution<double> normal;
  CpuExecutor exec(0);
  for (int p : {1, 2, 3, 5, 8, 13, 16, 31}) {
    for (int spectrum = 0; spectrum < 4; ++spectrum) {
      std::vector<double> lambda(p);
      for (int e = 0; e < p; ++e) {
        if (spectrum == 0) lambda[e] = normal(rng);                          // distinct
        if (spectrum == 1) lambda[e] = e % 2 ? 3.0 : -1.0;                   // repeated
        if (spectrum == 2) lambda[e] = 1.0 + 1e-9 * e + (e == 0 ? 1e6 : 0);  // clustered
        if (spectrum == 3) lambda[e] = 0.0;                                  // the zero matrix
      }
      // Q: Gram-Schmidt (twice) on Gaussian columns; Q[i p + k] is row i, column k.
      std::vector<double> Q(p * p);
      for (double& q : Q) q = normal(rng);
      for (int k = 0; k < p; ++k)
        for (int pass = 0; pass < 2; ++pass) {
          for (int l = 0; l < k; ++l) {
            double dot = 0;
            for (int i = 0; i < p; ++i) dot += Q[i * p + l] * Q[i * p + k];
            for (int i = 0; i < p; ++i) Q[i * p + k] -= dot * Q[i * p + l];
          }
          double norm = 0;
          for (int i = 0; i < p; ++i) norm += Q[i * p + k] * Q[i * p + k];
          for (int i = 0; i < p; ++i) Q[i * p + k] /= std::sqrt(norm);
        }
      std::vector<double> A0(p * p, 0.0);
      double scale = 0;
      for (int i = 0; i < p; ++i)
        for (int j = 0; j < p; ++j)
          for (int e = 0; e < p; ++e) A0[i * p + j] += Q[i * p + e] * lambda[e] * Q[j * p + e];
      for (double l : lambda) scale = std::max(scale, std::abs(l));
      std::vector<double> A = A0, w(p, -7.0), work(strategy::jacobi_work_size(p), -7.0);
      exec.eigh(p, 1, A.data(), w.data(), work.data());
      std::vector<double> expected = lambda;
      std::sort(expected.begin(), expected.end());
      const double tol = 20 * p * 2.3e-16 * std::max(scale, 1e-300);
      const std::string where =
          std::to_string(p) + " x " + std::to_string(p) + ", spectrum " + std::to_string(spectrum);
      for (int e = 0; e < p; ++e) {
        EXPECT_NEAR(w[e], expected[e], tol) << where << ", eigenvalue " << e;
        if (e > 0) {
          EXPECT_LE(w[e - 1], w[e]) << where;
        }
      }
      for (int e = 0; e < p; ++e)      // eigenvector e is column e of A, column-major
        for (int f = 0; f < p; ++f) {  // orthonormal, and A0 v_e = w_e v_e
          double dot = 0, residual = 0;
          for (int i = 0; i < p; ++i) dot += A[e * p + i] * A[f * p + i];
          EXPECT_NEAR(dot, e == f ? 1.0 : 0.0, 20 * p * 2.3e-16) << where << " " << e << " " << f;
          for (int i = 0; i < p; ++i) residual += A0[f * p + i] * A[e * p + i];
          EXPECT_NEAR(residual, w[e] * A[e * p + f], tol) << where << ", vector " << e;
        }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Strategies, StrategyOnCpu,
                         ::testing::Combine(::testing::Values(GpuStrategy::fused,
                                                              GpuStrategy::batched,
                                                              GpuStrategy::block),
                                            ::testing::ValuesIn(oracle_cases())),
                         [](const auto& p) {
                           return gpu_strategy_name(std::get<0>(p.param)) + "_" +
                                  std::get<1>(p.param).name;
                         });

}  // namespace
}  // namespace specsweep
