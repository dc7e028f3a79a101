// libFuzzer target for the config parser (parse_experiment, the path of every `specsweep run`,
// `validate` and `bench`). Input: TOML text, optionally followed by a NUL byte and --set overrides
// one per line. The contract checked, anything else being a finding (libFuzzer reports an escaped
// exception or a sanitizer report as a crash):
// - parsing either succeeds or throws InputError;
// - a parsed experiment's resolved TOML parses again to the same resolved TOML (config.hpp);
// - the memory and disk estimate of an accepted experiment is computed without overflow.
#include <toml++/toml.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "config.hpp"
#include "errors.hpp"
#include "problem.hpp"

namespace {

// Cells beyond which an input is skipped. Parsing is linear in the cells by design (the limit of
// 1,000,000 takes about 1 GB and seconds, 20 s under the sanitizers); such inputs would only slow
// the fuzzer down and trip its memory limit.
constexpr double kMaxFuzzCells = 10000;

// The cells a [sweep] table asks for, roughly: the product of its list lengths and counts.
double sweep_cells(const std::string& text) {
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error&) {
    return 0;
  }
  double cells = 1;
  std::function<void(const toml::node&)> visit = [&](const toml::node& n) {
    if (const toml::array* a = n.as_array()) {
      cells *= double(std::max<std::size_t>(a->size(), 1));
    } else if (const toml::table* t = n.as_table()) {
      if (const toml::node* count = t->get("count"); count != nullptr && count->is_integer())
        cells *= std::max(1.0, double(count->as_integer()->get()));
      for (auto&& [key, value] : *t) visit(value);
    }
  };
  if (const toml::node* sweep = root.get("sweep")) visit(*sweep);
  return cells;
}

[[noreturn]] void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_config: %s\n%s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::string text = input.substr(0, nul);
  std::vector<std::string> overrides;
  if (nul != std::string::npos) {
    std::size_t begin = nul + 1;
    while (begin <= input.size()) {
      const std::size_t end = std::min(input.find('\n', begin), input.size());
      overrides.push_back(input.substr(begin, end - begin));
      begin = end + 1;
    }
  }
  if (sweep_cells(text) > kMaxFuzzCells) return -1;  // not added to the corpus
  specsweep::Experiment experiment;
  try {
    experiment = specsweep::parse_experiment(text, "fuzz.toml", overrides);
  } catch (const specsweep::InputError&) {
    return 0;
  }
  const std::string resolved = experiment.to_toml();
  std::string again;
  try {
    again = specsweep::parse_experiment(resolved, "resolved.toml").to_toml();
  } catch (const specsweep::InputError& e) {
    finding("the resolved TOML of an accepted config is rejected", resolved + "\n" + e.what());
  }
  if (again != resolved)
    finding("the resolved TOML does not round-trip", resolved + "\n---\n" + again);
  (void)specsweep::estimate_footprint(experiment, specsweep::FootprintParams{});
  return 0;
}
