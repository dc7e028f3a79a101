#pragma once
// The run file (DESIGN section 6). It is written as <final>.partial beside its final path and
// renamed into place by commit(), so a failed run never leaves a truncated file where a good one
// was. The partial file is resumable: work is split into units (unit_seeds seeds of one cell), a
// unit is marked done in /progress/unit_done only after its data were written, and every mark is
// flushed, so after an interruption RunFile::resume() continues with exactly the units that are
// not marked.
//
// Writers do, per unit: write_outcomes (and write_traces for the traced seeds in it), then
// mark_unit_done. After all units: read_outcomes/read_traces per cell for the statistics,
// write_summary per cell, commit. On SIGINT/SIGTERM: keep_partial() and let the object go (its
// destructor closes the partial cleanly). A RunFile destroyed uncommitted removes the partial
// only when create() made it and no unit was marked done in it: a resumed partial, or one that
// holds finished units, is the user's work and stays, whatever failed.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "config.hpp"
#include "errors.hpp"
#include "in_child.hpp"
#include "statistics.hpp"

namespace specsweep {

// Debian's serial HDF5 is not thread-safe: every HDF5 call this program makes (RunFile, reports)
// holds this lock.
std::mutex& hdf5_mutex();

// False when a dataset's chunks do not fit its shape (another rank, a zero or a larger extent) or
// its numbers are not 1 to 8 bytes: HDF5 1.10 trusts both in a damaged file and writes past the
// caller's buffer. Readers of files they did not just write check it before reading. `dataset`
// is an HDF5 hid_t.
bool readable_as_stored(std::int64_t dataset);

struct RunAttributes {
  std::string specsweep_version;
  std::string config;  // resolved TOML (of the whole experiment, [sweep] included)
  std::uint64_t master_seed = 0;
  std::string backend;
  std::string precision;  // "fp32", "fp64", or "fp32,fp64" when cells of a sweep use both
  std::string git_revision;
};

struct OutputLayout {
  long cells = 1;   // C
  long seeds = 0;   // S
  long traced = 0;  // K (clamped to S)
  // Seeds per work unit: unit u of a cell holds seeds [u * unit_seeds, min(S, (u + 1) *
  // unit_seeds)).
  // <= 0: one unit per cell. Outcome chunks are aligned with units, so a unit writes whole chunks.
  long unit_seeds = 0;
  std::vector<int> record_steps;  // T
  int m = 0, n = 0, r = 0, depth = 2;
  bool symmetric = false;  // W = X X^T: one factor X, n x r
  bool weighted = false;   // kind = "icl": /target/row_weight, col_weight are m x m, n x n
  // kind = "sensing": /target/sensing is C x measurements x m x n, the most any cell has (a cell
  // with fewer leaves the rest NaN); 0 otherwise.
  int measurements = 0;
  int spectrum_length = 0;
  bool delta_matrices = false;  // /trace/delta1, delta2 are r x r per record step (else 0 x 0)
  // The sweep axes, in order (the last varies fastest); the product of their sizes is C. None
  // without a sweep. Written to /cells/<key>: float64 for numeric axes, int64 for integral ones
  // (exact, e.g. run.master_seed), UTF-8 strings otherwise; /cells@axes lists the keys in order.
  std::vector<SweepAxis> axes;
  // The resolved TOML of each cell (C entries). May be empty without a sweep: every cell then
  // records the root config.
  std::vector<std::string> cell_configs;

  // Seeds per unit after resolving unit_seeds <= 0 (at least 1).
  long seeds_per_unit() const { return unit_seeds > 0 ? unit_seeds : (seeds > 0 ? seeds : 1); }
  // U = ceil(S / seeds_per_unit()), 0 when S = 0.
  long units() const { return seeds > 0 ? (seeds + seeds_per_unit() - 1) / seeds_per_unit() : 0; }
  long unit_first_seed(long unit) const { return unit * seeds_per_unit(); }
  long unit_seed_count(long unit) const;
};

// A partial file that --resume cannot continue and that holds no finished unit (its creation
// was interrupted by an older specsweep, or it is damaged before any unit was done): nothing in
// it is anyone's work, so the caller may set it aside and start afresh.
class UnusablePartial : public InputError {
 public:
  using InputError::InputError;
};

// Not thread-safe per object: callers serialize calls on one RunFile (all HDF5 calls made through
// RunFile also take one process-wide lock, since Debian's serial HDF5 is not thread-safe).
// Errors: InputError (exit 2) when a partial file cannot be resumed; RuntimeFailure (exit 3) for
// I/O failures and for calls inconsistent with the layout. Neither create nor resume ever touches
// the final path; only commit() does.
class RunFile {
 public:
  // "<final_path>.partial".
  static std::string partial_path_for(const std::string& final_path);
  static bool partial_exists(const std::string& final_path);

  // Creates the partial file with every dataset of the contract, replacing an existing one. The
  // file is built in memory, written as <partial>.creating and renamed over the partial, so it
  // is complete and resumable from the start: if creating fails (a full disk: RuntimeFailure) or
  // is killed, an existing partial file is untouched and no new one is left behind. A partial
  // file open in another RunFile or process (RuntimeFailure, HDF5's file lock) is untouched too.
  static RunFile create(const std::string& final_path, const OutputLayout& layout,
                        const RunAttributes& attributes);
  // Reopens an existing partial file read-write after checking that it was written for the same
  // root config and layout (C, S, K, T and the record steps, r, L, m, n, spectrum length,
  // unit_seeds, the sweep axes and the per-cell configs); otherwise, or when it is missing, not a
  // readable run file or damaged, throws InputError naming the file and what differs ("was
  // written by a different config: ..."), leaving it as it was. After a kill it repairs what an
  // interrupted flush can leave (see h5_output.cpp) and un-marks any unit marked done whose
  // statuses are not all written. Root attributes backend, specsweep_version and git_revision
  // that differ from the file's are appended to its value, comma separated ("cuda,cpu"), so the
  // file says what produced it. A partial file open elsewhere is a RuntimeFailure; close a
  // RunFile before resuming its file (`f = RunFile::resume(...)` on the open `f` is refused).
  // The read-only check of the partial runs in a child process by default, so that a crash of
  // HDF5 on a damaged file is an InputError too ("HDF5 crashed reading it"; in_child.hpp).
  static RunFile resume(const std::string& final_path, const OutputLayout& layout,
                        const RunAttributes& attributes, ReadIn check = ReadIn::child_process);

  RunFile(RunFile&& other) noexcept;
  RunFile& operator=(RunFile&& other) noexcept;
  RunFile(const RunFile&) = delete;
  RunFile& operator=(const RunFile&) = delete;
  // Closes the partial file; removes it only as the class comment says.
  ~RunFile();

  const OutputLayout& layout() const { return layout_; }
  const std::string& final_path() const { return final_path_; }
  const std::string& partial_path() const { return partial_path_; }

  // Progress (/progress/unit_done, C x U). unit_done reads a copy held in memory.
  bool unit_done(long cell, long unit) const;
  long units_done() const;  // over all cells
  // Marks the unit done, then flushes the whole file (data written before the mark included).
  void mark_unit_done(long cell, long unit);

  void write_target(long cell, const Target& target);
  void write_outcomes(long cell, const SeedOutcomes& outcomes);
  void write_traces(long cell, const SeedTraces& traces);

  // The inverse of the writes: all S seeds of the cell (seeds never written read as status -1,
  // NaN, -1), and the K traced seeds with every trace dataset (cp must match the layout).
  SeedOutcomes read_outcomes(long cell) const;
  SeedTraces read_traces(long cell, const CellProblem& cp) const;

  // The cell's /summary row (statistics.hpp lists the datasets). hit_step/hit_count may hold fewer
  // than r modes (the rest stays NaN / 0); loss_band and sv_band hold T (T x r) entries, or none
  // (NaN) when there are no traced seeds.
  void write_summary(long cell, const CellStatistics& statistics);

  // Flushes, closes, fsyncs and renames the partial over the final path.
  void commit();
  // The partial must survive this object (interrupted run, to be resumed).
  void keep_partial() { kept_ = true; }

 private:
  RunFile(std::string final_path, const OutputLayout& layout);
  // Writes `target`: the partial's contents with the netCDF-4 view (h5_output.cpp, netcdf_view).
  static void write_final_file(const std::string& partial, const std::string& target,
                               const OutputLayout& layout);
  void release() noexcept;

  std::string final_path_, partial_path_;
  OutputLayout layout_;
  struct Impl;  // the open HDF5 file and datasets (kept open so chunk caches persist across blocks)
  std::unique_ptr<Impl> impl_;
  bool committed_ = false;
  bool kept_ = false;
  bool created_ = false;  // by create(): removed on failure while it holds no finished unit
  bool marked_ = false;   // a unit was marked done
};

}  // namespace specsweep
