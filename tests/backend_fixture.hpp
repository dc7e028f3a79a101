#pragma once
// The backend-parameterized fixture: each test runs on every backend name; a backend that is not
// built into this binary or has no device here skips (GTEST_SKIP) and says why, or fails where
// SPECSWEEP_REQUIRE_GPU=1 says a device must be there.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "backend.hpp"
#include "config.hpp"
#include "oracle.hpp"

namespace specsweep::testing {

// Why `backend` cannot run in this process ("" when it can): not built, or no device.
inline std::string unavailable(const std::string& backend) {
  const std::string why = backend_unavailable_reason(backend);
  return why.empty() ? why : "backend " + backend + ": " + why;
}

// SPECSWEEP_REQUIRE_GPU=1 (scripts/gpu-check.sh sets it) makes a device backend that cannot run a
// failure rather than a skip: on the GPU machine a skipped suite would read as a pass.
inline bool device_required() {
  const char* v = std::getenv("SPECSWEEP_REQUIRE_GPU");
  return v != nullptr && std::string(v) == "1";
}

// Skips (or, when a device is required, fails) the calling test if `backend` cannot run.
#define SPECSWEEP_SKIP_IF_UNAVAILABLE(backend)                                                     \
  do {                                                                                             \
    if (const std::string why_ = ::specsweep::testing::unavailable(backend); !why_.empty()) {     \
      if (std::string(backend) != "cpu" && ::specsweep::testing::device_required())              \
        GTEST_FAIL() << why_ << " (SPECSWEEP_REQUIRE_GPU=1)";                                      \
      GTEST_SKIP() << why_;                                                                        \
    }                                                                                              \
  } while (0)

class BackendSuite : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    SPECSWEEP_SKIP_IF_UNAVAILABLE(GetParam());
  }
  SeedRangeRun run(const Config& c, long block = 4096, int threads = 0) const {
    BackendOptions options;
    options.threads = threads;
    return run_seed_range(GetParam(), c, 0, c.run.seeds, block, options);
  }
};

inline Config config_from(const std::string& toml) {
  return parse_config(toml, "test");
}

}  // namespace specsweep::testing
