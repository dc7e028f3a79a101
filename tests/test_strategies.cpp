// The GPU's execution strategies run on the CPU: the fused strategy (one call of run_one_seed per
// seed) and the batched strategy (strategy/batched.hpp's steps with an executor of plain loops:
// column-major GEMMs with BLAS semantics, a Jacobi eigensolver with cuSOLVER's conventions, the
// work items of each parallel step in a shuffled order, so that a dependency between them that
// the GPU would race on shows up as a mismatch here) fill
// their task arrays, the host unpacks them as the CUDA backend does, and the result must be what
// the CPU backend reports on every oracle case. Where no GPU is, this tests everything of the CUDA
// backend but the launches and the libraries themselves.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "oracle_assertions.hpp"
#include "strategy/batched.hpp"
#include "strategy/fused.hpp"
#include "strategy/task_results.hpp"

namespace specsweep {
namespace {

using strategy::CellParams;
using strategy::kWarp;
using strategy::SeedTask;

class CpuExecutor {
 public:
  explicit CpuExecutor(std::size_t record_buffer_bytes) : record_buffer_bytes_(record_buffer_bytes) {}

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
    for (int b = 0; b < batch; ++b) {
      const U *a = A + b * sa, *bm = B + b * sb;
      U* c = C + b * sc;
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
          U acc = U(0);
          for (int p = 0; p < k; ++p)
            acc +=
                (ta ? a[p + i * lda] : a[i + p * lda]) * (tb ? bm[j + p * ldb] : bm[p + j * ldb]);
          c[i + j * ldc] = alpha * acc + (beta == U(0) ? U(0) : beta * c[i + j * ldc]);
        }
    }
  }

  // Cyclic two-sided Jacobi on each symmetric p x p matrix: eigenvalues ascending into w, the
  // eigenvectors over A's columns (column-major), as cusolverDnXsyevBatched returns them.
  void eigh(int p, long batch, double* A, double* w) {
    std::vector<double> a(p * p), v(p * p);
    for (long b = 0; b < batch; ++b) {
      double* mat = A + b * p * p;
      std::copy(mat, mat + p * p, a.begin());
      std::fill(v.begin(), v.end(), 0.0);
      for (int i = 0; i < p; ++i) v[i * p + i] = 1.0;
      for (int sweep = 0; sweep < 100; ++sweep) {
        double off = 0;
        for (int i = 0; i < p; ++i)
          for (int j = 0; j < p; ++j)
            if (i != j) off += a[i * p + j] * a[i * p + j];
        if (off < 1e-30) break;
        for (int i = 0; i < p - 1; ++i)
          for (int j = i + 1; j < p; ++j) {
            if (a[i * p + j] == 0) continue;
            const double theta = (a[j * p + j] - a[i * p + i]) / (2 * a[i * p + j]);
            const double t =
                (theta >= 0 ? 1 : -1) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
            const double c = 1 / std::sqrt(t * t + 1), s = t * c;
            for (int k = 0; k < p; ++k) {  // columns i, j of A and V
              const double aki = a[k * p + i], akj = a[k * p + j];
              a[k * p + i] = c * aki - s * akj;
              a[k * p + j] = s * aki + c * akj;
            }
            for (int k = 0; k < p; ++k) {  // rows i, j of A
              const double aik = a[i * p + k], ajk = a[j * p + k];
              a[i * p + k] = c * aik - s * ajk;
              a[j * p + k] = s * aik + c * ajk;
            }
            for (int k = 0; k < p; ++k) {
              const double vki = v[k * p + i], vkj = v[k * p + j];
              v[k * p + i] = c * vki - s * vkj;
              v[k * p + j] = s * vki + c * vkj;
            }
          }
      }
      std::vector<int> order(p);
      for (int i = 0; i < p; ++i) order[i] = i;
      std::sort(order.begin(), order.end(),
                [&](int x, int y) { return a[x * p + x] < a[y * p + y]; });
      for (int e = 0; e < p; ++e) {
        w[b * p + e] = a[order[e] * p + order[e]];
        for (int i = 0; i < p; ++i) mat[e * p + i] = v[i * p + order[e]];
      }
    }
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

  std::size_t record_buffer_bytes_;
  std::mt19937_64 order_rng_{20261204};
};

// Runs the seeds of a config's cell on the CPU as the CUDA backend runs them in chunks of one
// warp (the oracle's 40 seeds in two tasks, the traced seeds of some cases on both sides), and
// unpacks each task's arrays into the outcomes and traces.
template <class T>
SeedRangeRun run_strategy(const Config& cfg, bool batched) {
  SeedRangeRun run;
  run.cp = make_cell_problem(cfg, 0);
  const CellProblem& cp = run.cp;
  const CellPlan<T> plan(cp);
  const CellParams<T> c =
      strategy::make_cell_params(plan, plan.target(), plan.basis(), cp.record_steps.data());
  run.outcomes.resize(0, cfg.run.seeds, cp.shape.r);
  run.traces.resize_for_seeds(0, cfg.run.seeds, cp);
  const WorkItem item{&cp, 0, cfg.run.seeds, &run.outcomes, &run.traces};
  const int params = c.layout.params;
  const int arena_width = batched ? strategy::batched_arena_width(c) : c.layout.total;
  const int record_width = packed_record_width(cp.shape.r, cp.shape.depth, c.rp.delta_matrices);
  for (long first = 0; first < cfg.run.seeds; first += kWarp) {
    const long seeds = std::min<long>(kWarp, cfg.run.seeds - first);
    const long traced_first = std::max(first, run.traces.first_seed);
    const long traced = std::max(
        0L, std::min(first + seeds, run.traces.first_seed + run.traces.count) - traced_first);
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
    if (batched) {
      // Room for four record steps: the oracle's six are computed in two flushes, one of them
      // partial.
      CpuExecutor exec(sizeof(T) * std::size_t(strategy::batched_arena_width(c)) *
                       std::size_t(std::max(traced, 1L) * 4));
      strategy::run_batched(exec, c, task, cp.record_steps);
    } else {
      for (long i = 0; i < seeds; ++i) strategy::run_one_seed(c, task, i);
    }
    strategy::store_task_results(plan, c, task,
                                 strategy::TaskResults<T>{outcome.data(), traces.data(),
                                                          init_factors.data(), final_factors.data()},
                                 item);
  }
  return run;
}

bool supported_by_batched(const Config& cfg) {
  const CellProblem cp = make_cell_problem(cfg, 0);
  auto supports = [&](auto precision_tag) {
    using T = decltype(precision_tag);
    const CellPlan<T> plan(cp);
    return strategy::batched_supports(
        strategy::make_cell_params(plan, plan.target(), plan.basis(), cp.record_steps.data()));
  };
  return cfg.run.precision == Precision::fp64 ? supports(double{}) : supports(float{});
}

class StrategyOnCpu : public ::testing::TestWithParam<std::tuple<bool, OracleCase>> {};

TEST_P(StrategyOnCpu, ReportsWhatTheCpuBackendReports) {
  const auto& [batched, c] = GetParam();
  int compared = 0;
  for (Precision precision : oracle_precisions(c)) {
    const Config cfg = oracle_config(c, precision);
    if (batched && !supported_by_batched(cfg)) continue;  // the fused strategy computes it
    ++compared;
    const auto cpu = run_seed_range("cpu", cfg, 0, cfg.run.seeds, 4096);
    testing::expect_well_conditioned(cfg, cpu, oracle_tolerance(precision));
    const auto other = precision == Precision::fp64 ? run_strategy<double>(cfg, batched)
                                                    : run_strategy<float>(cfg, batched);
    testing::expect_matches(
        cpu, other, oracle_tolerance(precision),
        std::string(c.name) + (precision == Precision::fp64 ? " fp64" : " fp32"));
  }
  if (compared == 0) GTEST_SKIP() << "the batched strategy computes this cell in neither precision";
}

INSTANTIATE_TEST_SUITE_P(Strategies, StrategyOnCpu,
                         ::testing::Combine(::testing::Bool(), ::testing::ValuesIn(oracle_cases())),
                         [](const auto& p) {
                           return std::string(std::get<0>(p.param) ? "batched_" : "fused_") +
                                  std::get<1>(p.param).name;
                         });

}  // namespace
}  // namespace specsweep
