// libFuzzer target for the config parser (parse_experiment, the path of every `specsweep run`,
// `validate` and `bench`). Input: TOML text, optionally followed by a NUL byte and --set overrides
// one per line. The contract checked, anything else being a finding (libFuzzer reports an escaped
// exception or a sanitizer report as a crash):
// - parsing either succeeds or throws InputError;
// - a parsed experiment's resolved TOML parses again to the same resolved TOML (config.hpp);
// - the memory and disk estimate of an accepted experiment is computed without overflow.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "config.hpp"
#include "errors.hpp"
#include "problem.hpp"

namespace {

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
