// specsweep: command line entry point (DESIGN section 4).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>

#include "config.hpp"
#include "driver.hpp"
#include "errors.hpp"

namespace {

using namespace specsweep;

int run_cli(int argc, char** argv) {
  CLI::App app{"specsweep: batched spectral-optimizer dynamics on matrix factorization"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", std::string("specsweep ") + SPECSWEEP_VERSION);

  std::string config_path;
  std::vector<std::string> overrides;
  RunOptions options;
  auto* run = app.add_subcommand("run", "Run an experiment and write RUN.h5");
  run->add_option("config", config_path, "Experiment config (TOML)")->required();
  run->add_option("--set", overrides, "Override a config key: KEY=VALUE (repeatable)");
  run->add_option("--out", options.out_path, "Output HDF5 file (default: <config stem>.h5)");
  run->add_option("--backend", options.backend, "auto | cpu | cuda")->default_val("auto");
  run->add_option("--threads", options.threads, "CPU threads (default: all)")->check(CLI::NonNegativeNumber);
  run->add_flag("--quiet", options.quiet, "Print only errors");

  auto* validate = app.add_subcommand("validate", "Check a config and print it fully resolved");
  validate->add_option("config", config_path, "Experiment config (TOML)")->required();
  validate->add_option("--set", overrides, "Override a config key: KEY=VALUE (repeatable)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitInput;
  }
  if (app.get_subcommands().empty()) {
    std::fputs(app.help().c_str(), stderr);
    return kExitInput;
  }

  const Config config = load_config(config_path, overrides);
  if (validate->parsed()) {
    std::fputs(config.to_toml().c_str(), stdout);
    return 0;
  }
  if (options.out_path.empty()) options.out_path = default_output_path(config_path);
  const RunSummary summary = run_experiment(config, options);
  if (!options.quiet) std::fputs(format_summary(summary).c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_cli(argc, argv);
  } catch (const specsweep::InputError& e) {
    fmt::print(stderr, "specsweep: error: {}\n", e.what());
    return specsweep::kExitInput;
  } catch (const std::exception& e) {
    fmt::print(stderr, "specsweep: failed: {}\n", e.what());
    return specsweep::kExitRuntime;
  }
}
