#include <algorithm>
#include <utility>

#include "backend.hpp"
#include "cpu/cpu_backend.hpp"
#include "errors.hpp"
#if defined(SPECSWEEP_WITH_CUDA)
#include "cuda/cuda_backend.hpp"
#endif

namespace specsweep {

namespace {

struct Entry {
  const char* name;
  std::string (*unavailable_reason)();  // "" when a device is usable
  std::unique_ptr<Backend> (*make)(const BackendOptions&);
};

// In order of preference for --backend auto.
const Entry kBackends[] = {
#if defined(SPECSWEEP_WITH_CUDA)
    {"cuda", cuda_unavailable_reason, make_cuda_backend},
#endif
    {"cpu", [] { return std::string(); }, make_cpu_backend},
};

using GpuStrategy = BackendOptions::GpuStrategy;
const std::pair<GpuStrategy, const char*> kGpuStrategyNames[] = {{GpuStrategy::automatic, "auto"},
                                                                 {GpuStrategy::fused, "fused"},
                                                                 {GpuStrategy::batched, "batched"},
                                                                 {GpuStrategy::block, "block"}};

}  // namespace

std::vector<std::string> built_backends() {
  std::vector<std::string> names;
  for (const Entry& e : kBackends) names.emplace_back(e.name);
  return names;
}

std::string backend_unavailable_reason(const std::string& name) {
  for (const Entry& e : kBackends)
    if (name == e.name) return e.unavailable_reason();
  return "backend " + name + " is not built into this binary";
}

std::string gpu_strategy_name(GpuStrategy strategy) {
  for (const auto& [s, name] : kGpuStrategyNames)
    if (s == strategy) return name;
  return "unknown";
}

GpuStrategy gpu_strategy_named(const std::string& name, const std::string& option) {
  std::string known;
  for (const auto& [s, n] : kGpuStrategyNames) {
    if (name == n) return s;
    known += (known.empty() ? "" : ", ") + std::string(n);
  }
  throw InputError(option + ": unknown GPU strategy '" + name + "' (" + known + ")");
}

bool backend_available(const std::string& name) {
  return backend_unavailable_reason(name).empty();
}

std::unique_ptr<Backend> make_backend(const std::string& name, const BackendOptions& options) {
  if (name == "auto") {
    for (const Entry& e : kBackends)
      if (e.unavailable_reason().empty()) return e.make(options);
    throw RuntimeFailure("no backend can run on this machine");
  }
  for (const Entry& e : kBackends) {
    if (name != e.name) continue;
    if (const std::string why = e.unavailable_reason(); !why.empty())
      throw RuntimeFailure("backend '" + name + "' cannot run here: " + why);
    return e.make(options);
  }
  if (name == "cuda")
    throw InputError(
        "--backend: cuda is not built into this binary (configure with SPECSWEEP_CUDA)");
  throw InputError("--backend: unknown backend '" + name + "' (auto, cpu, cuda)");
}

}  // namespace specsweep
