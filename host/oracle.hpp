#pragma once
// The CPU oracle: small well-conditioned cases covering every optimizer, orthogonalizer,
// schedule, integrator, depth and initialization, and one measure of how far another
// implementation's results are from the CPU backend's. `specsweep selftest` runs it on the
// user's machine; the backend tests (tests/oracle.hpp) assert on the same measure.
#include <cstdio>
#include <string>
#include <vector>

#include "backend.hpp"
#include "config.hpp"

namespace specsweep {

// Everything a backend reports for seeds [first, first + count) of a config's single cell.
struct SeedRangeRun {
  CellProblem cp;
  SeedOutcomes outcomes;
  SeedTraces traces;
};

// Runs the seeds in backend calls of `block` seeds each and gathers the results.
SeedRangeRun run_seed_range(Backend& backend, const Config& config, long first, long count, long block);
// The same on a backend made for this call.
SeedRangeRun run_seed_range(const std::string& backend, const Config& config, long first, long count,
                            long block, const BackendOptions& options = {});

struct OracleCase {
  const char* name;
  std::string optimizer;  // the [optimizer] table's body
  std::string problem = "m = 20\nn = 16\nrank = 4";
  std::string init = "factors = [\"gaussian\", \"gaussian\"]\nscale = 0.1";
  std::string spectrum = "[3.0, 2.0, 1.5, 1.0]";
  std::string record = "traced_seeds = 4\nevery = 10";
  // false where fp32 cannot serve as an oracle (the case says why): it is compared in fp64 only.
  bool fp32 = true;
};

const std::vector<OracleCase>& oracle_cases();
std::vector<Precision> oracle_precisions(const OracleCase& c);
// 40 seeds x 50 steps with Delta matrices recorded.
Config oracle_config(const OracleCase& c, Precision precision);

// The CPU reference and the implementation under test run the same algorithm in different but
// equivalent operation orders. On a well-conditioned case (50 steps, before a constant-rate
// spectral method starts to oscillate at the scale of its step) the rounding differences stay
// near 1e-12 (fp64) and 1e-5 (fp32) of each quantity's scale; the tolerance on the scaled
// difference (below) leaves one to three orders of margin, which the backend tests check case by
// case by nudging the initial point.
double oracle_tolerance(Precision p);

// Values smaller than this fraction of their quantity's scale are compared as if they were that
// large: a thousandth in fp64; a tenth in fp32, whose trajectories carry rounding noise of ~1e-5
// of the scale (measured by the nudge), so that a value far below the scale has no digits to
// compare at 1e-3.
double oracle_floor(Precision p);

// How far `other` is from the CPU's `cpu`. Discrete results must agree: statuses exactly,
// hitting times and steps to tolerance within one step, initial factors (the same random draw) to
// 1e-13. Every other value x is compared as |x - x_cpu| / max(|x_cpu|, floor s), with s the
// scale of its quantity (a dataset: final_loss, trace sv, final factor 1, ...): the largest
// |x_cpu| of the quantity, except where that is not what its rounding is relative to (alignments:
// 1; Delta entries and norms: the largest ||F_k||^2; the excess loss: the largest final loss).
// Relative to the value itself, then, and near zero (a converged loss, a small singular value, a
// nearly conserved Delta) relative to the floor, where the value's own digits are noise.
struct OracleGap {
  double worst = 0;                      // the largest scaled difference
  std::string where;                     // which quantity and index it is at
  std::vector<std::string> disagreements;  // discrete results that differ (at most a few)
};
OracleGap compare_with_oracle(const SeedRangeRun& cpu, const SeedRangeRun& other);

// `specsweep selftest`: every oracle case in each precision and, for the CUDA backend, each
// strategy, against the CPU backend; one line per case and a verdict. For the CPU backend itself
// it compares seeds run one at a time with seeds run in full SIMD packs (the lanes must not
// interact). Returns the exit code: 0 when every case is within tolerance, else kExitRuntime.
int run_selftest(const std::string& backend, std::FILE* out);

}  // namespace specsweep
