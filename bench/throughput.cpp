// Throughput driver: seed-steps per second and achieved GFLOP/s (host/flop_model.hpp) of a
// backend on the named workloads, with the machine's FP32 FMA peak measured in the same run.
// Prints one JSON line per measurement (median of --repeat runs).
#include <fmt/format.h>
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <map>

#include "backend.hpp"
#include "bench.hpp"
#include "config.hpp"

namespace {

using namespace specsweep;

// The issue's workloads (bench/peers/workloads.py describes the same ones for the peers): LoRA
// init, lr 0.01, a problem and an optimizer each, named "<problem>-<optimizer>".
const std::map<std::string, std::string> kProblems = {
    {"kang", "m = 60\nn = 70\nrank = 5\n[problem.target]\nspectrum = [5.0, 4.0, 3.0, 2.0, 1.0]"},
    {"medium",
     "m = 256\nn = 256\nrank = 16\n[problem.target]\n"
     "spectrum = { kind = \"geometric\", max = 1.0, condition = 10.0, count = 16 }"},
    {"large",
     "m = 1024\nn = 1024\nrank = 64\n[problem.target]\n"
     "spectrum = { kind = \"geometric\", max = 1.0, condition = 10.0, count = 64 }"},
};
const std::map<std::string, std::string> kOptimizers = {
    {"specgd-exact", "kind = \"specgd\"\nlr = 0.01\northogonalizer = \"exact\""},
    {"muon-jordan5",
     "kind = \"muon\"\nlr = 0.01\northogonalizer = \"newton_schulz\"\nns_coefficients = "
     "\"jordan5\"\nns_steps = 5"},
};

// Every "<problem>-<optimizer>" pair.
std::vector<std::string> workload_names() {
  std::vector<std::string> names;
  for (const auto& [p, _] : kProblems)
    for (const auto& [o, _2] : kOptimizers) names.push_back(p + "-" + o);
  return names;
}

std::string config(const std::string& workload, long seeds, int steps,
                   const std::string& precision) {
  const auto dash = workload.find('-');
  return fmt::format(R"(
[problem]
{}
[init]
factors = ["zero", "gaussian"]
scale = 1e-3
[optimizer]
{}
[run]
steps = {}
seeds = {}
precision = "{}"
[record]
traced_seeds = 0
every = {}
)",
                     kProblems.at(workload.substr(0, dash)),
                     kOptimizers.at(workload.substr(dash + 1)), steps, seeds, precision, steps);
}

// Peak FP32 FMA throughput of all threads: independent FMA chains on register-resident vectors.
double measure_fp32_peak_gflops(int threads) {
  constexpr int kLanes = 16, kChains = 12;
  const long iters = 20'000'000;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
      float acc[kChains][kLanes];
      for (int c = 0; c < kChains; ++c)
        for (int l = 0; l < kLanes; ++l) acc[c][l] = 1.0f + 1e-3f * (c + l);
      const float a = 0.999999f, b = 1e-7f;
      for (long i = 0; i < iters; ++i)
        for (int c = 0; c < kChains; ++c)
#pragma omp simd
          for (int l = 0; l < kLanes; ++l) acc[c][l] = acc[c][l] * a + b;
      for (int c = 0; c < kChains; ++c)
        for (int l = 0; l < kLanes; ++l) sink += acc[c][l];
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (sink == 12345.f) fmt::print("");  // keep the result alive
    best = std::max(best, 2.0 * kChains * kLanes * double(iters) * threads / s / 1e9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"specsweep throughput benchmark"};
  std::vector<std::string> names = {"kang-specgd-exact", "kang-muon-jordan5"};
  long seeds = 1024;
  int steps = 400, repeat = 5, threads = omp_get_max_threads();
  std::string backend = "cpu", precision = "fp32";
  bool peak = true;
  std::string strategy = "auto";
  app.add_option("--workload", names, "Workloads to run")->check(CLI::IsMember(workload_names()));
  app.add_option("--seeds", seeds);
  app.add_option("--steps", steps);
  app.add_option("--repeat", repeat);
  app.add_option("--threads", threads);
  app.add_option("--backend", backend);
  app.add_option("--precision", precision);
  app.add_flag("!--no-peak", peak, "Skip the FMA peak measurement");
  app.add_option("--strategy", strategy,
                 "GPU: auto (the backend's cost model), fused, batched or block, wherever it "
                 "computes the cell; the JSON line says which ran");
  CLI11_PARSE(app, argc, argv);

  if (peak)
    fmt::print("{{\"measure\": \"fp32_fma_peak\", \"threads\": {}, \"gflops\": {:.1f}}}\n", threads,
               measure_fp32_peak_gflops(threads));
  for (const auto& name : names) {
    const Config cfg = parse_config(config(name, seeds, steps, precision), name);
    const CellProblem cp = make_cell_problem(cfg, 0);
    BackendOptions options;
    options.threads = threads;
    options.gpu_strategy = gpu_strategy_named(strategy, "--strategy");
    auto be = make_backend(backend, options);
    // What ran: a forced strategy computes only some cells, the fused one the rest ("" where the
    // backend has one way, the CPU's).
    const std::string ran = be->strategy_for(cp);
    const CellTiming t = time_cell(*be, cp, repeat);
    fmt::print(
        "{{\"workload\": \"{}\", \"backend\": \"{}\", \"strategy\": \"{}\", \"precision\": \"{}\", "
        "\"threads\": {}, \"seeds\": {}, "
        "\"steps\": {}, \"repeat\": {}, \"median_s\": {:.4f}, \"min_s\": {:.4f}, \"max_s\": "
        "{:.4f}, "
        "\"seed_steps_per_s\": {:.0f}, \"gflops\": {:.2f}, \"flops_per_seed_step\": {:.0f}}}\n",
        name, be->name(), ran, precision, threads, seeds, steps, repeat, t.median_s, t.min_s,
        t.max_s, t.seed_steps_per_s, t.gflops, t.flops_per_seed_step);
  }
} catch (const std::exception& e) {  // e.g. a backend not built in: a message, not an abort
  fmt::print(stderr, "specsweep_throughput: {}\n", e.what());
  return 1;
}
