#pragma once
// The run file (DESIGN section 6). It is written to a temporary beside its final path and renamed
// into place by commit(), so a failed run never leaves a truncated file where a good one was.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend.hpp"

namespace specsweep {

struct RunAttributes {
  std::string specsweep_version;
  std::string config;  // resolved TOML
  std::uint64_t master_seed = 0;
  std::string backend;
  std::string precision;  // "fp32" | "fp64"
  std::string git_revision;
};

struct OutputLayout {
  long cells = 1;   // C
  long seeds = 0;   // S
  long traced = 0;  // K
  std::vector<int> record_steps;  // T
  int m = 0, n = 0, r = 0, depth = 2;
  int spectrum_length = 0;
};

// Not thread-safe per object: callers serialize writes to one RunFile (all HDF5 calls made through
// RunFile also take one process-wide lock, since Debian's serial HDF5 is not thread-safe).
class RunFile {
 public:
  // Creates the temporary file; throws RuntimeFailure naming the path if it cannot.
  RunFile(std::string final_path, const OutputLayout& layout, const RunAttributes& attributes);
  ~RunFile();  // removes the temporary unless commit() succeeded
  RunFile(const RunFile&) = delete;
  RunFile& operator=(const RunFile&) = delete;

  void write_target(long cell, const Target& target);
  void write_outcomes(long cell, const SeedOutcomes& outcomes);
  void write_traces(long cell, const SeedTraces& traces);
  // Flushes, closes and renames the temporary over the final path.
  void commit();

  const std::string& temporary_path() const { return temp_path_; }

 private:
  std::string final_path_, temp_path_;
  OutputLayout layout_;
  struct Impl;  // the open HDF5 file and datasets (kept open so chunk caches persist across blocks)
  std::unique_ptr<Impl> impl_;
  bool committed_ = false;
};

}  // namespace specsweep
