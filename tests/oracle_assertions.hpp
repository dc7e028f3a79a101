#pragma once
// The CPU-oracle comparison as test assertions: the cases, the measure and the tolerances are
// host/oracle.hpp's, which `specsweep selftest` runs on a user's machine. Used by the backend
// suite (test_backends.cpp) and by the GPU strategies run on the CPU (test_strategies.cpp).
#include <gtest/gtest.h>

#include <string>

#include "backend_fixture.hpp"
#include "oracle.hpp"

namespace specsweep::testing {

// Everything `other` reports is within `tol` of the CPU's `cpu` under the oracle's measure, and
// every discrete result agrees.
inline void expect_matches(const SeedRangeRun& cpu, const SeedRangeRun& other, double tol,
                           const std::string& what) {
  const OracleGap gap = compare_with_oracle(cpu, other);
  EXPECT_LE(gap.worst, tol) << what << ": worst at " << gap.where;
  for (const std::string& d : gap.disagreements) ADD_FAILURE() << what << ": " << d;
}

// A case is well-conditioned when perturbing the initial point by a few units in the last place
// (init.scale times 1 + 1e-14, or 1 + 1e-6 in fp32) moves everything the CPU reports by less than
// a tenth of the tolerance, under the same measure: then an implementation that rounds
// differently must agree to within the tolerance, and one that does not has a bug. (Most cases
// stay under a hundredth; fp32 Adam with L2 and fp32 Newton-Schulz at r > max(m, n) move their
// smaller factor entries by 4e-5 of the scale.)
inline void expect_well_conditioned(const Config& cfg, const SeedRangeRun& cpu, double tol) {
  Config nudged = cfg;
  nudged.init.scale *= 1 + (cfg.run.precision == Precision::fp64 ? 1e-14 : 1e-6);
  const OracleGap gap = compare_with_oracle(cpu, run_seed_range("cpu", nudged, 0, cfg.run.seeds, 4096));
  EXPECT_LT(gap.worst, tol / 10) << "not a well-conditioned case: a nudge of the initial point moves "
                                   << gap.where;
}

}  // namespace specsweep::testing

namespace specsweep {
inline void PrintTo(const OracleCase& c, std::ostream* os) {
  *os << c.name;
}
}  // namespace specsweep
