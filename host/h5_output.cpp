// The run file (DESIGN section 6) through the HDF5 C API.
//
// Layout decisions:
// - Every dataset of the contract (and /progress, /summary) is created by create() with its final
//   shape, so a reader always finds the same names, also in a partial file. Regions never written
//   hold the fill value: NaN for floating data, -1 for integers (status -1 = "seed not written",
//   see its "unwritten" attribute; summary counts -1 = "not computed").
// - Zero traced seeds (K = 0): the trace datasets are still created, with a zero-length traced
//   axis (e.g. /trace/loss is C x 0 x T). Datasets with a zero dimension use contiguous layout
//   (HDF5 cannot chunk a zero-sized fixed dimension); h5py and xarray open them as empty arrays.
//   K is clamped to S (there are no more traced seeds than seeds).
// - Per-seed data is chunked (outcomes: 1 x seed chunk [x r]; traces: 1 x K x T x ...), halved
//   along the leading non-cell axes until a chunk is at most 512 KiB, and compressed with
//   shuffle + deflate level 1 when the library can encode deflate. Every chunked dataset ends its
//   pipeline with a Fletcher-32 checksum, so a damaged chunk fails to read (resume checks every
//   per-seed value) instead of reading as other numbers. The seed chunk is the work
//   unit (or a divisor of it, at most 65536 seeds), so each unit writes whole chunks once and
//   never rewrites a chunk that an earlier unit filled. Datasets stay open between writes, with a
//   chunk cache of a few chunks.
// - /summary datasets are chunked per cell (one write_summary fills whole chunks) and compressed
//   only where a cell's row is at least 4 KiB. /progress/unit_done is contiguous, allocated at
//   creation, uncompressed: a mark is a one-byte write in place.
// - Object modification times are not stored, so identical runs give identical files.
//
// Crash behaviour. The file is <final>.partial; commit() fsyncs and renames it over the final
// path, nothing else touches the final path. HDF5 1.10 has no journaling, so the file is kept
// such that a kill -9 at any moment leaves it resumable with every unit that is marked done
// intact:
// - create() builds the file in memory (the core driver) without the per-seed chunks, writes that
//   image as <partial>.creating, fills every per-seed chunk there with the fill value, syncs it
//   and renames it over the partial. A kill or a full disk while creating leaves no partial (and
//   an earlier one untouched), and every dataset is allocated and filled before it is the
//   partial, so the chunk indexes are complete from the start: later writes replace index
//   entries in place and never add B-tree nodes (a kill between writing a new node and its
//   parent loses chunks, or leaves the index unreadable: allocating as units complete was tried
//   and the stress test below found such a file within 400 kills).
// - Metadata cache evictions are disabled, so metadata reaches the disk only at flushes, and the
//   file space strategy is NONE, so freed space (a rewritten compressed chunk's old place) is
//   never reused: between flushes the file on disk is the last flush's plus bytes at its end.
// - mark_unit_done() flushes (raw data, then metadata, the superblock last), then writes the
//   one-byte mark in place and flushes again: a mark never reaches the disk before its unit's
//   data and their index entries.
// - resume() checks the file through a read-only handle first (HDF5 writes to files it opens for
//   writing, and a refused partial must stay as it was), in a child process (HDF5 1.10 crashes on
//   some damage, and a crash must be an exit 2 naming the partial like other damage): the config
//   and layout, every dataset's shape, type, chunk shape and filters (a wrong chunk shape makes
//   HDF5 write past its buffers), every chunk index (each chunk inside the file, no two sharing
//   bytes), and that every per-seed value reads back. A kill inside a flush can leave index
//   entries, written before the superblock, that point past the superblock's old end-of-allocation
//   address at data that did reach the disk; when the file is longer than that address, the index
//   and data checks run after moving it to the end of the file (H5Fincrement_filesize) through the
//   writable handle. Damage is an InputError naming the dataset, or UnusablePartial when no unit is
//   marked done. Then it un-marks any marked unit with an unwritten status.
// A stress test (tests/test_h5_output.cpp, KilledRunsResumeToTheSameFile with
// SPECSWEEP_KILL_TRIALS=3000) kills writers at random moments ~2600 times without a damaged file
// or a lost unit. Costs: two flushes per unit (~1 ms), fill chunks written at creation and left
// behind when a unit replaces them (a few % of the file), a metadata cache that only grows.
#include "h5_output.hpp"

#include <fcntl.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "core/factorization.hpp"
#include "errors.hpp"
#include "h5_types.hpp"
#include "in_child.hpp"

namespace specsweep {

long OutputLayout::unit_seed_count(long unit) const {
  const long first = unit_first_seed(unit);
  if (unit < 0 || first >= seeds) return 0;
  return std::min(seeds_per_unit(), seeds - first);
}

std::mutex& hdf5_mutex() {
  static std::mutex mutex;
  return mutex;
}

bool readable_as_stored(std::int64_t dataset) {
  const hid_t dcpl = H5Dget_create_plist(dataset);
  if (dcpl < 0) return false;
  const H5D_layout_t layout = H5Pget_layout(dcpl);
  bool fits = layout == H5D_CONTIGUOUS || layout == H5D_COMPACT;
  if (layout == H5D_CHUNKED) {
    const hid_t space = H5Dget_space(dataset);
    const int rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    std::vector<hsize_t> dims(rank > 0 ? static_cast<std::size_t>(rank) : 0),
        chunk(dims.size() + 1);
    fits = rank > 0 && H5Sget_simple_extent_dims(space, dims.data(), nullptr) == rank &&
           H5Pget_chunk(dcpl, rank + 1, chunk.data()) == rank;
    for (int a = 0; fits && a < rank; ++a)
      fits = chunk[static_cast<std::size_t>(a)] >= 1 &&
             chunk[static_cast<std::size_t>(a)] <=
                 std::max<hsize_t>(1, dims[static_cast<std::size_t>(a)]);
    if (space >= 0) H5Sclose(space);
  }
  H5Pclose(dcpl);
  const hid_t type = H5Dget_type(dataset);
  const H5T_class_t type_class = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
  const std::size_t size = type < 0 ? 0 : H5Tget_size(type);
  if (type >= 0) H5Tclose(type);
  if (type_class == H5T_INTEGER || type_class == H5T_FLOAT) fits = fits && size >= 1 && size <= 8;
  return fits && type_class != H5T_NO_CLASS;
}

namespace {

// HDF5 1.10 cannot close a file whose last flush fails (a full disk): H5Fclose fails half way,
// and the library's exit handler then crashes on the half-closed file, turning exit 3 into a
// SIGSEGV. Every file this program opens is closed by its owner, so the handler has nothing to do
// but that; it must be declined before the library initializes, i.e. at static initialization.
[[maybe_unused]] const bool kNoHdf5ExitHandler = H5dont_atexit() >= 0;

}  // namespace

namespace {

// RAII owner of one HDF5 identifier; Close is the matching H5?close. Move-only.
template <herr_t (*Close)(hid_t)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() {
    if (id_ >= 0) Close(id_);
  }
  Handle(Handle&& other) noexcept : id_(other.id_) { other.id_ = -1; }
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      if (id_ >= 0) Close(id_);
      id_ = other.id_;
      other.id_ = -1;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  // Closes now and reports the status (a failed close of a file loses data, so it is checked).
  herr_t close() {
    const herr_t status = id_ >= 0 ? Close(id_) : 0;
    id_ = -1;
    return status;
  }

 private:
  hid_t id_ = -1;
};

using FileHandle = Handle<H5Fclose>;
using GroupHandle = Handle<H5Gclose>;
using DatasetHandle = Handle<H5Dclose>;
using SpaceHandle = Handle<H5Sclose>;
using PlistHandle = Handle<H5Pclose>;
using AttributeHandle = Handle<H5Aclose>;
using TypeHandle = Handle<H5Tclose>;
using ObjectHandle = Handle<H5Oclose>;

// The outermost and innermost entries of HDF5's error stack: what was called and why it failed.
struct ErrorWalk {
  std::string outer, inner;
};

herr_t walk_error(unsigned /*n*/, const H5E_error2_t* err, void* data) {
  auto* walk = static_cast<ErrorWalk*>(data);
  std::string text = err->func_name ? err->func_name : "?";
  if (err->desc && *err->desc) text += std::string(": ") + err->desc;
  if (walk->outer.empty()) walk->outer = text;
  walk->inner = text;
  return 0;
}

std::string hdf5_error_text() {
  ErrorWalk walk;
  if (H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_error, &walk) < 0 || walk.outer.empty())
    return "no HDF5 error detail";
  if (walk.inner == walk.outer) return walk.outer;
  return walk.outer + " [" + walk.inner + "]";
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::int8_t kStatusFill = -1;
constexpr std::int8_t kProgressFill = 0;
constexpr std::int32_t kIntFill = -1;
constexpr std::int64_t kCountFill = -1;
// Per element type of a per-seed array: the HDF5 file type (the memory type is native_type, in
// h5_types.hpp), and the fill value of a seed not written (a status or step of -1, a NaN).
hid_t file_type(const std::vector<std::int8_t>&) {
  return H5T_STD_I8LE;
}
hid_t file_type(const std::vector<std::int32_t>&) {
  return H5T_STD_I32LE;
}
hid_t file_type(const std::vector<double>&) {
  return H5T_IEEE_F64LE;
}
const void* fill_of(const std::vector<std::int8_t>&) {
  return &kStatusFill;
}
const void* fill_of(const std::vector<std::int32_t>&) {
  return &kIntFill;
}
const void* fill_of(const std::vector<double>&) {
  return &kNaN;
}
constexpr hsize_t kMaxSeedChunk = 65536;
constexpr hsize_t kMinSeedChunk = 1024;
constexpr hsize_t kChunkBytes = 512 * 1024;
constexpr hsize_t kMinCompressedRow = 4096;
constexpr std::size_t kChunkCacheBytes = 4 * 1024 * 1024;
constexpr hsize_t kQ = kQuantileLevels.size();

// Shrinks `chunk` (dimension 0 is the cell and stays 1) by halving its leading axes until a chunk
// holds at most kChunkBytes.
std::vector<hsize_t> fit_chunk(std::vector<hsize_t> chunk, std::size_t element_size) {
  if (chunk.size() > 1) chunk[0] = 1;
  auto bytes = [&] {
    hsize_t b = element_size;
    for (hsize_t c : chunk) b *= c;
    return b;
  };
  for (std::size_t i = 1; i < chunk.size() && bytes() > kChunkBytes;) {
    if (chunk[i] > 1)
      chunk[i] = (chunk[i] + 1) / 2;
    else
      ++i;
  }
  return chunk;
}

// The seed-axis chunk of the outcome datasets: the unit, or a divisor of it of at most
// kMaxSeedChunk seeds (so units fill whole chunks); kMaxSeedChunk when the unit has no usable
// divisor.
hsize_t seed_chunk(hsize_t seeds, hsize_t unit) {
  const hsize_t c = std::min(seeds, unit);
  if (c <= kMaxSeedChunk) return c;
  for (hsize_t k = (c + kMaxSeedChunk - 1) / kMaxSeedChunk; c / k >= kMinSeedChunk; ++k)
    if (c % k == 0) return c / k;
  return kMaxSeedChunk;
}

bool deflate_encoder_available() {
  const htri_t avail = H5Zfilter_avail(H5Z_FILTER_DEFLATE);
  if (avail <= 0) return false;
  unsigned config = 0;
  if (H5Zget_filter_info(H5Z_FILTER_DEFLATE, &config) < 0) return false;
  return (config & H5Z_FILTER_CONFIG_ENCODE_ENABLED) != 0;
}

hsize_t to_hsize(long v) {
  return v > 0 ? static_cast<hsize_t>(v) : 0;
}

std::string join_dims(const std::vector<hsize_t>& dims) {
  std::string s;
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
  return s;
}

std::string join(const std::vector<std::string>& parts, const char* separator) {
  std::string s;
  for (std::size_t i = 0; i < parts.size(); ++i) s += (i ? separator : "") + parts[i];
  return s;
}

struct DatasetSpec {
  std::string name;        // absolute path
  hid_t file_type = -1;    // on disk
  hid_t memory_type = -1;  // of the fill value and of what is written
  std::vector<hsize_t> dims;
  std::vector<hsize_t> chunk;  // empty: contiguous
  const void* fill = nullptr;
  std::string description;
  std::string axes;      // names of the dimensions, space separated
  bool compress = true;  // when chunked and deflate is available
  // Per-seed data: left out of the in-memory image and filled chunk by chunk on disk, since it is
  // most of the file (create()).
  bool incremental = false;
};

struct GroupSpec {
  std::string name, description;
};

// Every group and dataset of a run file of this layout (the /cells datasets aside).
struct Plan {
  std::vector<GroupSpec> groups;
  std::vector<DatasetSpec> datasets;
};

std::string factor_name(const char* which, int k) {
  return std::string("/trace/") + which + "/F" + std::to_string(k + 1);
}

// The /trace datasets of the per-step arrays of SeedTraces (for_each_trace_array, which names them
// and sizes them), each with its trailing axis (none for one value per step) and description. The
// r x r delta1, delta2 are the caller's: two trailing axes, 0 x 0 without record.delta_matrices.
struct TraceDataset {
  const char* name;
  const char* trailing_axis;  // nullptr: a C x K x T dataset
  const char* description;
};
constexpr TraceDataset kTraceDatasets[] = {
    {"loss", nullptr, "loss 1/2 ||W - M||_F^2 + penalty"},
    {"recovery_error", nullptr,
     "||W - M||_F / ||M||_F (for kind = \"sensing\" the distance to the matrix measured, whatever "
     "the loss)"},
    {"alignment", nullptr, "||off(U_r^T W V_r)||_F / ||diag(U_r^T W V_r)||_F"},
    {"effective_rank", nullptr, "exp(-sum p_i log p_i), p_i = sigma_i / sum sigma_j"},
    {"spectral_entropy", nullptr,
     "-sum q_i log q_i (nats), q_i = sigma_i^2 / sum sigma_j^2: the spread of W's energy over its "
     "singular values; 0 for W = 0"},
    {"delta1_norm", nullptr, "||sqrt(F1^T F1) - sqrt(F2 F2^T)||_F (depth 2; NaN otherwise)"},
    {"delta2_norm", nullptr, "||F1^T F1 - F2 F2^T||_F (depth 2; NaN otherwise)"},
    {"sharpness", nullptr,
     "largest eigenvalue of the loss's Hessian in all factors, by record.sharpness_iterations "
     "Lanczos steps (NaN when 0)"},
    {"step_sharpness", nullptr,
     "curvature u^T H u / ||u||^2 along the step u taken from this point (NaN at the last step "
     "and when record.sharpness_iterations is 0)"},
    {"sv", "mode", "singular values sigma_1 >= ... >= sigma_r of W"},
    {"core_diag", "mode", "d_i = (U^T W V)_ii; NaN beyond min(r, rank M)"},
    {"factor_norm", "factor", "||F_k||_F"},
    {"orth_error", "factor",
     "||O - U_k V_k^T||_F / sqrt(k): the orthogonalizer's output O for factor F_k's step against "
     "the exact polar factor of the same input X = U diag(sigma) V^T (its k modes above the rank "
     "cut); NaN at the last step (none is taken from it) and unless record.orth_error"},
    {"orth_band_min", "factor",
     "min over the kept modes of u_i^T O v_i, the value the orthogonalizer gave sigma_i (1 for the "
     "exact polar factor); NaN unless record.orth_error or with no mode kept"},
    {"orth_band_max", "factor", "max over the kept modes of u_i^T O v_i (see orth_band_min)"},
    {"block_alignment", "side",
     "block alignment scores (side 0 left: W's left singular vectors U_W with the target's U; 1 "
     "right: V_W with V; 2 inner: V_P with V_Q; P = F1, Q = F2^T): sum of squared overlaps of "
     "singular vectors within blocks of singular values (a block ends between neighbours a >= b "
     "only where both spectra have a > (1 + record.block_rtol) b and a - b > record.block_atol, "
     "record.block_atol_inner for the inner side), / min(ranks); 1 aligned, misalignment = 1 - "
     "score (depth 2; NaN otherwise)"},
};

bool is_delta_matrix(const char* name) {
  return std::strcmp(name, "delta1") == 0 || std::strcmp(name, "delta2") == 0;
}

// Calls f(dataset, values, trailing length or 0) for each per-step trace of t but the r x r ones.
template <class Traces, class F>
void for_each_trace_dataset(Traces& t, F&& f) {
  for_each_trace_array(t, [&f](const char* name, auto& values, int per_step) {
    if (is_delta_matrix(name)) return;
    for (const TraceDataset& d : kTraceDatasets)
      if (std::strcmp(d.name, name) == 0) return f(d, values, d.trailing_axis ? per_step : 0);
    throw std::logic_error(std::string("trace ") + name + " has no /trace dataset description");
  });
}

// The /outcome datasets of the per-seed arrays of SeedOutcomes (for_each_outcome_array, which
// names them, types them and sizes them), each with its trailing axis (none for one value per
// seed) and description.
struct OutcomeDataset {
  const char* name;
  const char* trailing_axis;  // nullptr: a C x S dataset
  const char* description;
};
constexpr OutcomeDataset kOutcomeDatasets[] = {
    {"status", nullptr, "final status of each seed"},
    {"final_loss", nullptr, "loss 1/2 ||W - M||_F^2 + l2/2 sum_k ||F_k||_F^2 at the last step"},
    {"excess", nullptr, "relative excess loss (loss - optimum) / (1/2 ||M||_F^2) at the last step"},
    {"final_grad_norm", nullptr, "||grad f||_F over all factors at the last iterate"},
    {"window_loss", nullptr,
     "mean of loss / (1/2 ||M||_F^2) over the last record.loss_window steps (the per-step loss); "
     "NaN for a diverged seed"},
    {"final_sharpness", nullptr,
     "largest eigenvalue of the loss's Hessian in all factors at the last iterate, by "
     "record.sharpness_iterations Lanczos steps; NaN when 0 and for a diverged seed"},
    {"final_lr_sharpness", nullptr,
     "final_sharpness times the learning rate of the last step (GD is stable near a minimum "
     "while it is below 2)"},
    {"recovery_error", nullptr, "||W - M||_F / ||M||_F at the last iterate"},
    {"uniformity_cv", nullptr, "std(v)/mean(v) of the mode speeds v_i = sqrt(d_i(tau_i)) / tau_i"},
    {"order_kendall", nullptr,
     "Kendall tau_b between hitting steps tau_i (never hit = +inf) and target values s_i; "
     "+1 smallest-first, -1 largest-first"},
    {"basin_converged", nullptr,
     "basin probe: fraction of the seed's probes (restarts on the sphere around its final point) "
     "that converged to a global minimum; NaN for seeds that did not converge or without a "
     "probe"},
    {"basin_closer", nullptr,
     "basin probe: fraction of the seed's probes that ended closer to its final point than they "
     "started; NaN for seeds that did not converge or without a probe"},
    {"init_det_sign", nullptr,
     "sign of det W = prod_k det F_k at the initial point (+1, -1; 0 if singular) when m = n = "
     "r, else NaN; for F1 = a O1, F2 = a O2^T it is the sign of det(O1^T O2)"},
    {"steps_to_tol", nullptr, "first step with excess <= record.loss_tolerance; -1: never"},
    {"hit_step", "mode",
     "first step with d_i >= (1 - hit_tolerance) s_i, per mode i; -1: never hit (also for modes "
     "beyond min(r, rank M))"},
};

// Calls f(dataset, values) for each per-seed array of o.
template <class Outcomes, class F>
void for_each_outcome_dataset(Outcomes& o, F&& f) {
  for_each_outcome_array(o, [&f](const char* name, auto& values, int) {
    for (const OutcomeDataset& d : kOutcomeDatasets)
      if (std::strcmp(d.name, name) == 0) return f(d, values);
    throw std::logic_error(std::string("outcome ") + name + " has no /outcome dataset description");
  });
}

Plan plan_of(const OutputLayout& layout) {
  Plan p;
  const hsize_t C = to_hsize(layout.cells), S = to_hsize(layout.seeds), K = to_hsize(layout.traced),
                T = static_cast<hsize_t>(layout.record_steps.size()), R = to_hsize(layout.r),
                U = to_hsize(layout.units());
  const hsize_t schunk = seed_chunk(S, to_hsize(layout.seeds_per_unit()));
  const hid_t f64 = H5T_IEEE_F64LE, i64 = H5T_STD_I64LE, i32 = H5T_STD_I32LE, i8 = H5T_STD_I8LE;
  const hid_t nf64 = H5T_NATIVE_DOUBLE, ni64 = H5T_NATIVE_INT64, ni32 = H5T_NATIVE_INT32,
              ni8 = H5T_NATIVE_INT8;
  auto& d = p.datasets;

  p.groups.push_back({"/cells",
                      "per-cell values: each swept axis (attribute axes lists them in order; "
                      "the last varies fastest) and config, the resolved TOML of the cell"});

  p.groups.push_back(
      {"/outcome", "per-seed results at the end of the run; seed axis = seed index in the cell"});
  SeedOutcomes shape_of_outcomes;
  for_each_outcome_dataset(shape_of_outcomes, [&](const OutcomeDataset& o, const auto& values) {
    std::vector<hsize_t> dims{C, S}, chunk{1, schunk};
    if (o.trailing_axis) {
      dims.push_back(R);
      chunk.push_back(R);
    }
    d.push_back({std::string("/outcome/") + o.name, file_type(values), native_type(values), dims,
                 chunk, fill_of(values), o.description,
                 std::string("cell seed") + (o.trailing_axis ? " " : "") +
                     (o.trailing_axis ? o.trailing_axis : "")});
  });

  p.groups.push_back({"/trace",
                      "record-step traces of the traced seeds (seeds 0..K-1 of each cell); "
                      "trace axis k = seed index k"});
  p.groups.push_back({"/trace/init", "initial factors F1..FL of the traced seeds"});
  p.groups.push_back({"/trace/final", "final factors F1..FL of the traced seeds"});
  d.push_back({"/trace/step", i32, ni32, {T}, {}, nullptr, "the record steps", "step"});
  SeedTraces shape_of_traces;
  shape_of_traces.r = layout.r;
  shape_of_traces.depth = layout.depth;
  for_each_trace_dataset(shape_of_traces, [&](const TraceDataset& t, const auto&, int last) {
    std::vector<hsize_t> dims{C, K, T};
    if (last) dims.push_back(to_hsize(last));
    d.push_back({std::string("/trace/") + t.name, f64, nf64, dims, dims, &kNaN, t.description,
                 std::string("cell traced step") + (t.trailing_axis ? " " : "") +
                     (t.trailing_axis ? t.trailing_axis : "")});
  });
  // r x r per record step only with record.delta_matrices; otherwise 0 x 0 (the names stay).
  const hsize_t RD = layout.delta_matrices ? R : 0;
  d.push_back(
      {"/trace/delta1",
       f64,
       nf64,
       {C, K, T, RD, RD},
       {C, K, T, RD, RD},
       &kNaN,
       "Delta1 = sqrt(F1^T F1) - sqrt(F2 F2^T), r x r (depth 2; NaN otherwise); 0 x 0 unless "
       "record.delta_matrices",
       "cell traced step row col"});
  d.push_back({"/trace/delta2",
               f64,
               nf64,
               {C, K, T, RD, RD},
               {C, K, T, RD, RD},
               &kNaN,
               "Delta2 = F1^T F1 - F2 F2^T, r x r (depth 2; NaN otherwise); 0 x 0 unless "
               "record.delta_matrices",
               "cell traced step row col"});
  const Shape shape{layout.m, layout.n, layout.r, layout.depth, layout.symmetric, layout.weighted};
  for (int k = 0; k < layout.depth; ++k) {
    const hsize_t rows = to_hsize(shape.rows(k)), cols = to_hsize(shape.cols(k));
    for (const char* which : {"init", "final"}) {
      const std::vector<hsize_t> dims{C, K, rows, cols};
      d.push_back({factor_name(which, k), f64, nf64, dims, dims, &kNaN,
                   std::string(which) + " factor F" + std::to_string(k + 1) + " (" +
                       std::to_string(rows) + " x " + std::to_string(cols) + ", row-major)",
                   "cell traced row col"});
    }
  }

  for (DatasetSpec& spec : d) {
    const bool empty = std::find(spec.dims.begin(), spec.dims.end(), hsize_t{0}) != spec.dims.end();
    spec.incremental = spec.dims.size() > 1 && !spec.chunk.empty() && !empty;
  }

  p.groups.push_back({"/target", "the target M = U diag(s) V^T of each cell"});
  d.push_back({"/target/M",
               f64,
               nf64,
               {C, to_hsize(layout.m), to_hsize(layout.n)},
               {1, to_hsize(layout.m), to_hsize(layout.n)},
               &kNaN,
               "target matrix (m x n)",
               "cell row col"});
  d.push_back({"/target/spectrum",
               f64,
               nf64,
               {C, to_hsize(layout.spectrum_length)},
               {},
               &kNaN,
               "target singular values s_i (as configured, except kind = \"icl\": those of "
               "W* = Gamma^-1 Lambda)",
               "cell mode"});
  // kind = "icl" only (0 x 0 otherwise): the loss is 1/2 <W - M, A (W - M) B>.
  const hsize_t wm = layout.weighted ? to_hsize(layout.m) : 0,
                wn = layout.weighted ? to_hsize(layout.n) : 0;
  d.push_back({"/target/row_weight",
               f64,
               nf64,
               {C, wm, wm},
               {},
               &kNaN,
               "A of the weighted loss 1/2 <W - M, A (W - M) B>, m x m: kind = \"icl\": Gamma "
               "(0 x 0 otherwise)",
               "cell row col"});
  d.push_back({"/target/col_weight",
               f64,
               nf64,
               {C, wn, wn},
               {},
               &kNaN,
               "B of the weighted loss (see row_weight), n x n: kind = \"icl\": the token "
               "covariance Lambda (0 x 0 otherwise)",
               "cell row col"});

  const hsize_t sp = to_hsize(layout.measurements), sm = sp ? to_hsize(layout.m) : 0,
                sn = sp ? to_hsize(layout.n) : 0;
  d.push_back({"/target/sensing",
               f64,
               nf64,
               {C, sp, sm, sn},
               {},
               &kNaN,
               "kind = \"sensing\": the sensing matrices A_i (m x n each) of the loss 1/2 sum_i "
               "<A_i, W - M>^2, y_i = <A_i, M> (0 x 0 x 0 otherwise; a cell with fewer "
               "measurements than the largest leaves the rest NaN)",
               "cell measurement row col"});

  p.groups.push_back({"/progress",
                      "work units: unit u of a cell holds seeds [u * unit_seeds, "
                      "(u + 1) * unit_seeds) (root attribute unit_seeds)"});
  {
    DatasetSpec progress{"/progress/unit_done",
                         i8,
                         ni8,
                         {C, U},
                         {},
                         &kProgressFill,
                         "1: the unit's outcomes and traces are written; 0: not (yet)",
                         "cell unit"};
    progress.compress = false;
    d.push_back(progress);
  }

  p.groups.push_back({"/summary",
                      "per-cell aggregates (docs/REFERENCE.md) over the cell's seeds; quantiles "
                      "(levels in quantile_levels) interpolate linearly between order "
                      "statistics; NaN / -1: not computed"});
  d.push_back({"/summary/quantile_levels",
               f64,
               nf64,
               {kQ},
               {},
               nullptr,
               "the quantile levels",
               "quantile"});
  const struct {
    const char* name;
    bool count;  // int64, else float64
    std::vector<hsize_t> trailing;
    const char* axes;
    const char* description;
  } summary[] = {
      {"status_count",
       true,
       {4},
       "cell status",
       "seeds per status code (0 converged, 1 stalled, 2 diverged, 3 unconverged)"},
      {"status_fraction", false, {4}, "cell status", "status_count / seeds"},
      {"status_wilson95",
       false,
       {4, 2},
       "cell status bound",
       "Wilson score 95% interval (low, high) of status_fraction"},
      {"final_loss",
       false,
       {kQ},
       "cell quantile",
       "quantiles of final_loss over the seeds (NaN excluded)"},
      {"excess", false, {kQ}, "cell quantile", "quantiles of excess over the seeds (NaN excluded)"},
      {"steps_to_tol",
       false,
       {kQ},
       "cell quantile",
       "quantiles of steps_to_tol; a seed that never reached the tolerance counts as +inf"},
      {"steps_to_tol_reached", true, {}, "cell", "seeds that reached the loss tolerance"},
      {"hit_step",
       false,
       {R, kQ},
       "cell mode quantile",
       "quantiles of hit_step per mode, never hit = +inf; NaN beyond min(r, rank M)"},
      {"hit_count", true, {R}, "cell mode", "seeds whose mode hit"},
      {"uniformity_cv",
       false,
       {kQ},
       "cell quantile",
       "quantiles of uniformity_cv over seeds where it is defined"},
      {"order_kendall",
       false,
       {kQ},
       "cell quantile",
       "quantiles of order_kendall over seeds where it is defined"},
      {"final_lr_sharpness",
       false,
       {kQ},
       "cell quantile",
       "quantiles of final_lr_sharpness (eta lambda_max at the end) over seeds where it is defined "
       "(NaN without record.sharpness_iterations)"},
      {"recovery_error",
       false,
       {kQ},
       "cell quantile",
       "quantiles of recovery_error (||W - M||_F / ||M||_F at the end) over the seeds"},
      {"defined_count",
       true,
       {2},
       "cell quantity",
       "seeds with a defined uniformity_cv, order_kendall"},
      {"loss_band",
       false,
       {T, kQ},
       "cell step quantile",
       "quantiles of the traced seeds' loss at each record step"},
      {"sv_band",
       false,
       {T, R, kQ},
       "cell step mode quantile",
       "quantiles of the traced seeds' singular values at each record step"},
      {"basin_converged",
       false,
       {kQ},
       "cell quantile",
       "quantiles over converged seeds of basin_converged (NaN without a basin probe)"},
      {"basin_closer",
       false,
       {kQ},
       "cell quantile",
       "quantiles over converged seeds of basin_closer (NaN without a basin probe)"},
      {"basin_pooled",
       false,
       {2},
       "cell quantity",
       "pooled fractions over all probes of the cell: converged, closer"},
      {"det_sign_count",
       true,
       {2, 2},
       "cell sign count",
       "seeds by the sign of det W(0) (/outcome/init_det_sign; sign 0: +1, 1: -1) and how many "
       "of them converged (count 0: seeds, 1: converged)"},
      {"det_sign_wilson95",
       false,
       {2, 2},
       "cell sign bound",
       "Wilson score 95% interval (low, high) of the converged fraction per sign of det W(0)"},
  };
  for (const auto& s : summary) {
    std::vector<hsize_t> dims{C};
    dims.insert(dims.end(), s.trailing.begin(), s.trailing.end());
    hsize_t row = 8;
    for (hsize_t t : s.trailing) row *= t;
    DatasetSpec spec{
        std::string("/summary/") + s.name,
        s.count ? i64 : f64,
        s.count ? ni64 : nf64,
        dims,
        dims,
        s.count ? static_cast<const void*>(&kCountFill) : static_cast<const void*>(&kNaN),
        s.description,
        s.axes};
    spec.compress = row >= kMinCompressedRow;
    d.push_back(spec);
  }
  return p;
}

// Checks what create() and resume() are given; throws RuntimeFailure (a caller's bug).
void validate_layout(OutputLayout& layout, const std::string& where) {
  auto invalid = [&](const std::string& what) {
    throw RuntimeFailure(where + ": invalid output layout: " + what);
  };
  if (layout.cells < 0 || layout.seeds < 0 || layout.traced < 0 || layout.m < 1 || layout.n < 1 ||
      layout.r < 1 || layout.depth < 1 || layout.spectrum_length < 0)
    invalid("C=" + std::to_string(layout.cells) + " S=" + std::to_string(layout.seeds) +
            " K=" + std::to_string(layout.traced) + " m=" + std::to_string(layout.m) +
            " n=" + std::to_string(layout.n) + " r=" + std::to_string(layout.r) +
            " L=" + std::to_string(layout.depth) + " spectrum length " +
            std::to_string(layout.spectrum_length));
  layout.traced = std::min(layout.traced, layout.seeds);
  if (!layout.axes.empty()) {
    long product = 1;
    for (std::size_t a = 0; a < layout.axes.size(); ++a) {
      const SweepAxis& axis = layout.axes[a];
      if (axis.key.empty() || axis.key == "config" || axis.key.find('/') != std::string::npos ||
          axis.key.find('\n') != std::string::npos)
        invalid("axis name \"" + axis.key + "\"");
      for (std::size_t b = 0; b < a; ++b)
        if (layout.axes[b].key == axis.key) invalid("axis " + axis.key + " twice");
      if (axis.size() == 0) invalid("axis " + axis.key + " is empty");
      if (axis.numeric && axis.integral && axis.integers.size() != axis.numbers.size())
        invalid("integral axis " + axis.key + " without its integers");
      product *= static_cast<long>(axis.size());
    }
    if (product != layout.cells)
      invalid("the axes give " + std::to_string(product) + " cells, layout " +
              std::to_string(layout.cells));
  }
  if (!layout.cell_configs.empty() && static_cast<long>(layout.cell_configs.size()) != layout.cells)
    invalid(std::to_string(layout.cell_configs.size()) + " cell configs for " +
            std::to_string(layout.cells) + " cells");
  if (layout.cell_configs.empty() && !layout.axes.empty()) invalid("a sweep without cell configs");
}

// Index of `cell` along axis a (the last axis varies fastest).
std::size_t axis_index(const std::vector<SweepAxis>& axes, std::size_t a, long cell) {
  std::size_t stride = 1;
  for (std::size_t b = a + 1; b < axes.size(); ++b) stride *= axes[b].size();
  return (static_cast<std::size_t>(cell) / stride) % axes[a].size();
}

// True when another process holds a lock on the file (HDF5 locks files it opens with flock()).
// flock() locks belong to open file descriptions, so this also sees a RunFile of this process.
bool locked_by_another(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool locked = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);  // releases our lock, if taken
  return locked;
}

// The first line where two texts differ, for messages.
std::string first_difference(const std::string& was, const std::string& now) {
  std::size_t line = 1, start = 0;
  while (true) {
    const std::size_t a = was.find('\n', start), b = now.find('\n', start);
    const std::string la = was.substr(std::min(start, was.size()),
                                      a == std::string::npos ? std::string::npos : a - start);
    const std::string lb = now.substr(std::min(start, now.size()),
                                      b == std::string::npos ? std::string::npos : b - start);
    if (la != lb || a != b) {
      auto clip = [](std::string s) { return s.size() > 60 ? s.substr(0, 57) + "..." : s; };
      return "line " + std::to_string(line) + " is \"" + clip(la) + "\" in the file, \"" +
             clip(lb) + "\" now";
    }
    if (a == std::string::npos) return "they are equal";
    start = a + 1;
    ++line;
  }
}

// Ends the process with exit 2 when checking a partial stops making progress. HDF5 1.10 loops
// forever on some damage (an object header zeroed inside a global heap collection, where every
// string lives: the fault test's zeroed blocks found it once in ~100 partials), and a hang is the
// one outcome the resume contract rules out. It watches only while the partial is read, never
// while it is written, so the partial is left as it was. A stall is no progress for `limit`
// seconds (one HDF5 call reading at most one cell of one dataset; 60 by default, longer through
// SPECSWEEP_RESUME_STALL_SECONDS where a file system can pause that long). In the process that
// checks a partial for resume() (`verdict_fd` >= 0) the stall is sent as its verdict; elsewhere
// it is printed as the error.
class StallWatch {
 public:
  // `cannot`: "cannot resume RUN.h5: RUN.h5.partial", the start of the message.
  explicit StallWatch(const std::string& cannot, int verdict_fd = -1) : verdict_fd_(verdict_fd) {
    long seconds = 60;
    if (const char* env = std::getenv("SPECSWEEP_RESUME_STALL_SECONDS")) {
      char* end = nullptr;
      const long value = std::strtol(env, &end, 10);
      if (end != env && *end == '\0' && value > 0) seconds = value;
    }
    limit_ = std::chrono::seconds(seconds);
    message_ = cannot + " is damaged: reading it made no progress for " + std::to_string(seconds) +
               " s (HDF5 loops forever on some damage; SPECSWEEP_RESUME_STALL_SECONDS sets the "
               "limit); it is left as it was (remove it or run without --resume)";
    progress();
    thread_ = std::thread([this] { watch(); });
  }
  StallWatch(const StallWatch&) = delete;
  StallWatch& operator=(const StallWatch&) = delete;
  ~StallWatch() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopped_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  void progress() { last_ = Clock::now().time_since_epoch().count(); }

 private:
  using Clock = std::chrono::steady_clock;
  void watch() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopped_; })) {
      if (Clock::now() - Clock::time_point(Clock::duration(last_.load())) < limit_) continue;
      if (verdict_fd_ >= 0) {
        const std::string verdict = ChildVerdict{ChildVerdict::input, message_, {}}.encode();
        write_all(verdict_fd_, verdict.data(), verdict.size());
      } else {
        std::fputs(("specsweep: error: " + message_ + "\n").c_str(), stderr);
        std::fflush(stderr);
      }
      std::_Exit(2);  // HDF5 holds its lock in the stalled call: nothing else can close cleanly
    }
  }
  int verdict_fd_;
  std::string message_;
  Clock::duration limit_{};
  std::atomic<Clock::rep> last_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace

// The netCDF-4 view of a run file (xarray, h5netcdf and netCDF4 open each group with named
// dimensions). Every dimension a dataset's `dims` attribute names becomes an HDF5 dimension scale
// in the dataset's own group, so that each group opens alone: a coordinate variable where the
// dimension has values (cell: the index; step: the record steps; quantile: the levels; mode:
// 1..q; status: the names), else a dimension without a variable (netCDF's NAME convention). row
// and col are per matrix (M_row, F1_col, ...), since the matrices of a group differ in shape. Each
// group with a cell axis also gets the swept axes' values under their keys, named by its per-cell
// variables' `coordinates` attribute.
// It is written at commit into the final file, which is copied from the partial: the partial is
// never changed then, so a full disk or a kill while committing leaves it as it was, resumable.
// examples/slurm/merge_runs.py applies the same rule to a merged file.
struct NetcdfVariable {
  std::string path, dimension, description;
  hid_t file_type = -1;  // of the numbers
  std::vector<double> numbers;
  std::vector<std::string> strings;
};
struct NetcdfScale {
  std::string path, name;
  hsize_t length = 0;
  bool existing = false;                 // a dataset of the plan is the scale (/trace/step)
  std::optional<NetcdfVariable> values;  // a coordinate variable; none: a dimension only
  std::vector<std::pair<std::string, unsigned>> uses;  // (dataset, dimension index)
};
struct NetcdfView {
  std::vector<NetcdfScale> scales;
  std::vector<NetcdfVariable> axis_copies;  // the swept axes in each group with a cell axis
  std::vector<std::string> per_cell;        // the datasets given `coordinates`
  std::string coordinates;                  // the axes' keys, space separated
};

NetcdfView netcdf_view(const Plan& plan, const OutputLayout& layout) {
  NetcdfView view;
  std::map<std::string, std::size_t> index_of;  // scale path -> view.scales index
  auto add = [&](const std::string& name, const std::string& axes,
                 const std::vector<hsize_t>& dims) {
    const std::size_t slash = name.rfind('/');
    const std::string group = name.substr(0, slash), base = name.substr(slash + 1);
    std::size_t at = 0;
    unsigned index = 0;
    while (at < axes.size() && index < dims.size()) {
      std::size_t end = axes.find(' ', at);
      if (end == std::string::npos) end = axes.size();
      const std::string token = axes.substr(at, end - at);
      const std::string scale = token == "row" || token == "col" ? base + "_" + token : token;
      const std::string path = group + "/" + scale;
      const auto [it, fresh] = index_of.try_emplace(path, view.scales.size());
      if (fresh) {
        NetcdfScale& added = view.scales.emplace_back();
        added.path = path, added.name = scale, added.length = dims[index];
      }
      NetcdfScale& sc = view.scales[it->second];
      if (path == name)
        sc.existing = true;
      else
        sc.uses.emplace_back(name, index);
      if (index == 0 && token == "cell" && group != "/cells" && !layout.axes.empty())
        view.per_cell.push_back(name);
      at = end + 1;
      ++index;
    }
  };
  const hsize_t C = to_hsize(layout.cells);
  for (const DatasetSpec& d : plan.datasets) add(d.name, d.axes, d.dims);
  for (const SweepAxis& axis : layout.axes) add("/cells/" + axis.key, "cell", {C});
  add("/cells/config", "cell", {C});
  for (const SweepAxis& axis : layout.axes)
    view.coordinates += (view.coordinates.empty() ? "" : " ") + axis.key;

  for (NetcdfScale& sc : view.scales) {
    if (sc.existing) continue;
    const hsize_t n = sc.length;
    NetcdfVariable v;
    v.path = sc.path, v.dimension = sc.name;
    if (sc.name == "cell") {
      v.file_type = H5T_STD_I64LE, v.description = "cell index";
      for (hsize_t i = 0; i < n; ++i) v.numbers.push_back(double(i));
    } else if (sc.name == "mode") {
      v.file_type = H5T_STD_I32LE,
      v.description = "mode i: the i-th largest singular value of the target";
      for (hsize_t i = 0; i < n; ++i) v.numbers.push_back(double(i + 1));
    } else if (sc.name == "step" && n == layout.record_steps.size()) {
      v.file_type = H5T_STD_I32LE, v.description = "record step";
      v.numbers.assign(layout.record_steps.begin(), layout.record_steps.end());
    } else if (sc.name == "quantile" && n == kQuantileLevels.size()) {
      v.file_type = H5T_IEEE_F64LE, v.description = "quantile level";
      v.numbers.assign(kQuantileLevels.begin(), kQuantileLevels.end());
    } else if (sc.name == "status" && n == kStatusNames.size()) {
      v.description = "seed status (the codes of /outcome/status, in order)";
      v.strings.assign(kStatusNames.begin(), kStatusNames.end());
    } else {
      continue;
    }
    sc.values = std::move(v);
  }
  // The swept axes' values in every group with a cell axis, on its cell scale.
  for (NetcdfScale& sc : view.scales) {
    if (sc.name != "cell" || sc.path == "/cells/cell") continue;
    const std::string group = sc.path.substr(0, sc.path.rfind('/'));
    for (std::size_t a = 0; a < layout.axes.size(); ++a) {
      const SweepAxis& axis = layout.axes[a];
      NetcdfVariable v;
      v.path = group + "/" + axis.key, v.dimension = "cell";
      v.description = "value of the swept key " + axis.key + " in each cell";
      v.file_type = axis.integral ? H5T_STD_I64LE : H5T_IEEE_F64LE;
      for (long c = 0; c < layout.cells; ++c) {
        const std::size_t i = axis_index(layout.axes, a, c);
        if (!axis.numeric)
          v.strings.push_back(axis.labels[i]);
        else
          v.numbers.push_back(axis.integral ? double(axis.integers[i]) : axis.numbers[i]);
      }
      sc.uses.emplace_back(v.path, 0);
      view.axis_copies.push_back(std::move(v));
    }
  }
  return view;
}

struct RunFile::Impl {
  std::string where;  // "run file <partial>", for messages
  FileHandle file;
  std::map<std::string, DatasetHandle> datasets;
  bool compress = false;
  long cells = 0, units = 0;
  std::vector<std::int8_t> progress;  // C x U, as in /progress/unit_done
  StallWatch* stall_watch = nullptr;  // while resume() checks the partial

  void note_progress() const {
    if (stall_watch) stall_watch->progress();
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw RuntimeFailure(where + ": " + what + ": " + hdf5_error_text());
  }
  hid_t id(hid_t value, const std::string& what) const {
    if (value < 0) fail(what);
    return value;
  }
  void ok(herr_t status, const std::string& what) const {
    if (status < 0) fail(what);
  }

  // --- attributes

  static hid_t utf8_string_type(hid_t type) {
    if (type >= 0 && (H5Tset_size(type, H5T_VARIABLE) < 0 || H5Tset_cset(type, H5T_CSET_UTF8) < 0))
      return -1;
    return type;
  }

  void string_attribute(hid_t object, const std::string& object_name, const char* name,
                        const std::string& value) const {
    const std::string what = "writing string attribute " + object_name + "@" + name;
    TypeHandle type(id(utf8_string_type(H5Tcopy(H5T_C_S1)), what));
    SpaceHandle space(id(H5Screate(H5S_SCALAR), what));
    AttributeHandle attr(
        id(H5Acreate2(object, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), what));
    const char* text = value.c_str();
    ok(H5Awrite(attr.get(), type.get(), &text), what);
    ok(attr.close(), what);
  }

  void string_array_attribute(hid_t object, const std::string& object_name, const char* name,
                              const std::vector<std::string>& values) const {
    const std::string what = "writing string attribute " + object_name + "@" + name;
    TypeHandle type(id(utf8_string_type(H5Tcopy(H5T_C_S1)), what));
    const hsize_t n = values.size();
    SpaceHandle space(id(H5Screate_simple(1, &n, nullptr), what));
    AttributeHandle attr(
        id(H5Acreate2(object, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), what));
    std::vector<const char*> texts;
    for (const auto& v : values) texts.push_back(v.c_str());
    if (n > 0) ok(H5Awrite(attr.get(), type.get(), texts.data()), what);
    ok(attr.close(), what);
  }

  template <class T>
  void number_attribute(hid_t object, const std::string& object_name, const char* name,
                        hid_t file_type, hid_t memory_type, T value) const {
    const std::string what = "writing attribute " + object_name + "@" + name;
    SpaceHandle space(id(H5Screate(H5S_SCALAR), what));
    AttributeHandle attr(
        id(H5Acreate2(object, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), what));
    ok(H5Awrite(attr.get(), memory_type, &value), what);
    ok(attr.close(), what);
  }

  // Reads a string or string-array attribute (false if absent or not strings).
  bool read_strings_attribute(hid_t object, const char* name, std::vector<std::string>& out) const {
    out.clear();
    if (H5Aexists(object, name) <= 0) return false;
    AttributeHandle attr(H5Aopen(object, name, H5P_DEFAULT));
    if (attr.get() < 0) return false;
    TypeHandle stored(H5Aget_type(attr.get()));
    if (stored.get() < 0 || H5Tget_class(stored.get()) != H5T_STRING ||
        H5Tis_variable_str(stored.get()) <= 0)
      return false;
    SpaceHandle space(H5Aget_space(attr.get()));
    const hssize_t n = H5Sget_simple_extent_npoints(space.get());
    if (n < 0) return false;
    if (n == 0) return true;
    TypeHandle type(utf8_string_type(H5Tcopy(H5T_C_S1)));
    std::vector<char*> texts(static_cast<std::size_t>(n), nullptr);
    if (H5Aread(attr.get(), type.get(), texts.data()) < 0) return false;
    for (char* t : texts) out.emplace_back(t ? t : "");
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(type.get(), space.get(), H5P_DEFAULT, texts.data());
#else
    H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, texts.data());
#endif
    return true;
  }

  bool read_string_attribute(hid_t object, const char* name, std::string& out) const {
    std::vector<std::string> values;
    if (!read_strings_attribute(object, name, values) || values.size() != 1) return false;
    out = values[0];
    return true;
  }

  // A scalar integer attribute (unit_seeds, master_seed) of the stored width and signedness.
  template <class Integer>
  bool read_integer_attribute(hid_t object, const char* name, Integer& out) const {
    static_assert(sizeof(Integer) == 8, "run files store 64-bit integer attributes");
    if (H5Aexists(object, name) <= 0) return false;
    AttributeHandle attr(H5Aopen(object, name, H5P_DEFAULT));
    if (attr.get() < 0) return false;
    TypeHandle stored(H5Aget_type(attr.get()));
    const H5T_sign_t sign = std::is_signed<Integer>::value ? H5T_SGN_2 : H5T_SGN_NONE;
    if (H5Tget_class(stored.get()) != H5T_INTEGER || H5Tget_size(stored.get()) != 8 ||
        H5Tget_sign(stored.get()) != sign)
      return false;
    return H5Aread(attr.get(),
                   std::is_signed<Integer>::value ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64,
                   &out) >= 0;
  }

  // "" or why an attribute of `object` (at `path`) does not read back. The commit reads and
  // rewrites attributes (attaching dimension scales), so damage there must be found at resume.
  static std::string attribute_problem(hid_t object, const std::string& path) {
    auto read_one = [](hid_t location, const char* name, const H5A_info_t*, void*) -> herr_t {
      AttributeHandle attr(H5Aopen(location, name, H5P_DEFAULT));
      if (attr.get() < 0) return -1;
      TypeHandle stored(H5Aget_type(attr.get()));
      SpaceHandle space(H5Aget_space(attr.get()));
      const hssize_t n = space.get() < 0 ? -1 : H5Sget_simple_extent_npoints(space.get());
      if (stored.get() < 0 || n < 0) return -1;
      if (n == 0) return 0;
      // A string's text lies in the global heap, whose reader in HDF5 1.10 crashes on a damaged
      // heap reference (1 of 300 random flips); the commit never reads these texts, so only their
      // messages are checked.
      if (H5Tis_variable_str(stored.get()) > 0) return 0;
      // Every other attribute this program writes is a number or fixed-size array of them.
      if (H5Tdetect_class(stored.get(), H5T_VLEN) != 0) return -1;
      TypeHandle memory(H5Tget_native_type(stored.get(), H5T_DIR_DEFAULT));
      if (memory.get() < 0) return -1;
      std::vector<unsigned char> bytes(static_cast<std::size_t>(n) * H5Tget_size(memory.get()));
      return H5Aread(attr.get(), memory.get(), bytes.data()) < 0 ? -1 : 0;
    };
    // HDF5 1.10 crashes when an iteration meets an attribute message it cannot decode (it
    // releases a half-built table), while looking up a name that is not there decodes every
    // message and fails cleanly: that comes first.
    hsize_t next = 0;
    if (H5Aexists(object, "(no attribute has this name)") < 0 ||
        H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_NATIVE, &next, read_one, nullptr) < 0)
      return "the attributes of " + path + " do not read back (" + hdf5_error_text() + ")";
    return "";
  }

  // --- objects

  void group(const GroupSpec& spec) const {
    const std::string what = "creating group " + spec.name;
    PlistHandle gcpl(id(H5Pcreate(H5P_GROUP_CREATE), what));
    ok(H5Pset_obj_track_times(gcpl.get(), 0), what);
    GroupHandle g(
        id(H5Gcreate2(file.get(), spec.name.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), what));
    string_attribute(g.get(), spec.name, "description", spec.description);
    ok(g.close(), what);
  }

  hid_t dataset_access(const std::string& what) const {
    const hid_t dapl = id(H5Pcreate(H5P_DATASET_ACCESS), what);
    if (H5Pset_chunk_cache(dapl, H5D_CHUNK_CACHE_NSLOTS_DEFAULT, kChunkCacheBytes,
                           H5D_CHUNK_CACHE_W0_DEFAULT) < 0) {
      H5Pclose(dapl);
      fail(what);
    }
    return dapl;
  }

  void dataset(const DatasetSpec& spec) {
    const std::string what = "creating dataset " + spec.name + " (" + join_dims(spec.dims) + ")";
    const int rank = static_cast<int>(spec.dims.size());
    SpaceHandle space(id(H5Screate_simple(rank, spec.dims.data(), nullptr), what));
    PlistHandle dcpl(id(H5Pcreate(H5P_DATASET_CREATE), what));
    ok(H5Pset_obj_track_times(dcpl.get(), 0), what);
    if (spec.fill) ok(H5Pset_fill_value(dcpl.get(), spec.memory_type, spec.fill), what);
    const bool empty = std::find(spec.dims.begin(), spec.dims.end(), hsize_t{0}) != spec.dims.end();
    if (!spec.chunk.empty() && !empty) {
      const std::vector<hsize_t> chunk = fit_chunk(spec.chunk, H5Tget_size(spec.file_type));
      ok(H5Pset_chunk(dcpl.get(), rank, chunk.data()), what);
      if (compress && spec.compress) {
        ok(H5Pset_shuffle(dcpl.get()), what);
        ok(H5Pset_deflate(dcpl.get(), 1), what);
      }
      // A checksum of each stored chunk: a damaged chunk fails to read instead of reading wrong.
      ok(H5Pset_fletcher32(dcpl.get()), what);
    }
    // Every chunk (and contiguous block) is allocated and filled before the file becomes the
    // partial: later writes only replace entries of a complete chunk index, never grow it (see
    // "Crash behaviour" above). Here, or by fill_chunks() for incremental datasets.
    ok(H5Pset_alloc_time(dcpl.get(), spec.incremental ? H5D_ALLOC_TIME_INCR : H5D_ALLOC_TIME_EARLY),
       what);
    ok(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_ALLOC), what);
    PlistHandle dapl(dataset_access(what));
    DatasetHandle ds(id(H5Dcreate2(file.get(), spec.name.c_str(), spec.file_type, space.get(),
                                   H5P_DEFAULT, dcpl.get(), dapl.get()),
                        what));
    if (!spec.description.empty())
      string_attribute(ds.get(), spec.name, "description", spec.description);
    if (!spec.axes.empty()) string_attribute(ds.get(), spec.name, "dims", spec.axes);
    datasets.emplace(spec.name, std::move(ds));
  }

  // Opens an existing dataset of the plan; "" or what differs from the spec. A storage layout
  // other than create() makes (chunk shape, contiguous or chunked) is damage, added to `damage`:
  // HDF5 trusts it and would write past its buffers.
  std::string open_existing(const DatasetSpec& spec, std::vector<std::string>& damage) {
    note_progress();
    auto broken = [&](const std::string& what) {
      damage.push_back(what);
      return std::string();
    };
    if (H5Lexists(file.get(), spec.name.c_str(), H5P_DEFAULT) <= 0)
      return broken("no dataset " + spec.name);
    const std::string what = "opening dataset " + spec.name;
    PlistHandle dapl(dataset_access(what));
    DatasetHandle ds(H5Dopen2(file.get(), spec.name.c_str(), dapl.get()));
    if (ds.get() < 0) return broken("cannot open dataset " + spec.name);
    SpaceHandle space(H5Dget_space(ds.get()));
    const int rank = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(rank > 0 ? static_cast<std::size_t>(rank) : 0);
    if (rank < 0 || H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0)
      return broken("cannot read the shape of " + spec.name);
    if (dims != spec.dims)
      return spec.name + " is " + join_dims(dims) + " in the file, " + join_dims(spec.dims) +
             " now";
    TypeHandle type(H5Dget_type(ds.get()));
    if (H5Tequal(type.get(), spec.file_type) <= 0) return spec.name + " has another element type";
    const std::string storage = storage_problem(ds.get(), spec);
    if (!storage.empty()) damage.push_back(storage);
    const std::string attributes = attribute_problem(ds.get(), spec.name);
    if (!attributes.empty()) damage.push_back(attributes);
    datasets.emplace(spec.name, std::move(ds));
    return "";
  }

  // "" or how the dataset's storage layout differs from what create() gives it.
  static std::string storage_problem(hid_t ds, const DatasetSpec& spec) {
    const bool empty = std::find(spec.dims.begin(), spec.dims.end(), hsize_t{0}) != spec.dims.end();
    const bool chunked = !spec.chunk.empty() && !empty;
    PlistHandle dcpl(H5Dget_create_plist(ds));
    const H5D_layout_t layout = dcpl.get() < 0 ? H5D_LAYOUT_ERROR : H5Pget_layout(dcpl.get());
    if (layout != (chunked ? H5D_CHUNKED : H5D_CONTIGUOUS))
      return spec.name + " is not " + (chunked ? "chunked" : "contiguous");
    if (!chunked) return "";
    const std::vector<hsize_t> want = fit_chunk(spec.chunk, H5Tget_size(spec.file_type));
    std::vector<hsize_t> chunk(want.size() + 1, 0);
    if (H5Pget_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()) !=
        static_cast<int>(want.size()))
      return spec.name + " has chunks of another rank";
    chunk.pop_back();
    if (chunk != want)
      return spec.name + " has chunks of " + join_dims(chunk) + " in the file, " + join_dims(want) +
             " expected";
    // The pipeline create() sets up, with or without compression (the creating machine may have
    // had no deflate encoder).
    // Each filter with its parameters: shuffle's is the element size, deflate's the level.
    std::vector<std::vector<unsigned>> filters;
    const int n = H5Pget_nfilters(dcpl.get());
    for (int i = 0; i < n; ++i) {
      unsigned flags = 0, config = 0, values[8] = {};
      std::size_t count = 8;
      const H5Z_filter_t filter = H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags,
                                                 &count, values, 0, nullptr, &config);
      filters.push_back({static_cast<unsigned>(filter)});
      filters.back().insert(filters.back().end(), values, values + std::min<std::size_t>(count, 8));
    }
    const unsigned size = static_cast<unsigned>(H5Tget_size(spec.file_type));
    const std::vector<std::vector<unsigned>> plain{{H5Z_FILTER_FLETCHER32}},
        compressed{{H5Z_FILTER_SHUFFLE, size}, {H5Z_FILTER_DEFLATE, 1}, {H5Z_FILTER_FLETCHER32}};
    if (n < 0 || (filters != plain && (!spec.compress || filters != compressed)))
      return spec.name + " has another filter pipeline";
    return "";
  }

  // "" or which cell of a per-seed dataset (/outcome, /trace) cannot be read back.
  std::string unreadable_cells(const DatasetSpec& spec) const {
    if (spec.dims.size() < 2 ||
        (spec.name.rfind("/outcome/", 0) != 0 && spec.name.rfind("/trace/", 0) != 0))
      return "";
    std::vector<hsize_t> start(spec.dims.size(), 0), count = spec.dims;
    count[0] = 1;
    hsize_t values = 1;
    for (hsize_t n : count) values *= n;
    std::vector<unsigned char> buffer(values * H5Tget_size(spec.memory_type));
    for (hsize_t c = 0; c < spec.dims[0]; ++c) {
      start[0] = c;
      note_progress();
      try {
        read(spec.name, spec.memory_type, start, count, buffer.data());
      } catch (const RuntimeFailure&) {
        return spec.name + " of cell " + std::to_string(c) + " cannot be read back (" +
               hdf5_error_text() + ")";
      }
    }
    return "";
  }

  // Writes the fill value into every chunk of the dataset, in slabs of whole chunks along the
  // seed axis, a cell at a time.
  void fill_chunks(const DatasetSpec& spec) const {
    const std::vector<hsize_t> chunk = fit_chunk(spec.chunk, H5Tget_size(spec.file_type));
    const std::size_t size = H5Tget_size(spec.memory_type);
    hsize_t row = 1;  // values per seed
    for (std::size_t a = 2; a < spec.dims.size(); ++a) row *= spec.dims[a];
    const hsize_t slab_bytes = 16 << 20;
    const hsize_t per_slab = std::max<hsize_t>(1, slab_bytes / (row * size * chunk[1])) * chunk[1];
    const hsize_t seeds = std::min(per_slab, spec.dims[1]);
    std::vector<unsigned char> values(seeds * row * size);
    for (std::size_t v = 0; v < values.size(); v += size)
      std::memcpy(values.data() + v, spec.fill, size);
    std::vector<hsize_t> start(spec.dims.size(), 0), count = spec.dims;
    count[0] = 1;
    for (hsize_t c = 0; c < spec.dims[0]; ++c)
      for (hsize_t first = 0; first < spec.dims[1]; first += seeds) {
        start[0] = c;
        start[1] = first;
        count[1] = std::min(seeds, spec.dims[1] - first);
        write(spec.name, spec.memory_type, start, count, values.data());
      }
  }

  // True when /progress/unit_done marks any unit done (false when it cannot be read).
  bool progress_holds_work() const {
    std::vector<std::int8_t> done(static_cast<std::size_t>(cells * units), 0);
    try {
      read("/progress/unit_done", H5T_NATIVE_INT8, {0, 0}, {to_hsize(cells), to_hsize(units)},
           done.data());
    } catch (const RuntimeFailure&) {
      return true;  // unknown: keep it
    }
    return std::find(done.begin(), done.end(), std::int8_t{1}) != done.end();
  }

  void string_dataset(const std::string& name, const std::vector<std::string>& values,
                      const std::string& description, const std::string& dims = "cell") const {
    const std::string what = "creating dataset " + name;
    TypeHandle type(id(utf8_string_type(H5Tcopy(H5T_C_S1)), what));
    const hsize_t n = values.size();
    SpaceHandle space(id(H5Screate_simple(1, &n, nullptr), what));
    PlistHandle dcpl(id(H5Pcreate(H5P_DATASET_CREATE), what));
    ok(H5Pset_obj_track_times(dcpl.get(), 0), what);
    DatasetHandle ds(id(H5Dcreate2(file.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT,
                                   dcpl.get(), H5P_DEFAULT),
                        what));
    std::vector<const char*> texts;
    for (const auto& v : values) texts.push_back(v.c_str());
    if (n > 0)
      ok(H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, texts.data()), what);
    string_attribute(ds.get(), name, "description", description);
    string_attribute(ds.get(), name, "dims", dims);
    ok(ds.close(), what);
  }

  // A 1-D numeric dataset of n values (memory_type describes `values`).
  void number_dataset(const std::string& name, hid_t file_type, hid_t memory_type,
                      const void* values, hsize_t n, const std::string& description,
                      const std::string& dims = "cell") const {
    const std::string what = "creating dataset " + name;
    SpaceHandle space(id(H5Screate_simple(1, &n, nullptr), what));
    PlistHandle dcpl(id(H5Pcreate(H5P_DATASET_CREATE), what));
    ok(H5Pset_obj_track_times(dcpl.get(), 0), what);
    DatasetHandle ds(id(H5Dcreate2(file.get(), name.c_str(), file_type, space.get(), H5P_DEFAULT,
                                   dcpl.get(), H5P_DEFAULT),
                        what));
    if (n > 0) ok(H5Dwrite(ds.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values), what);
    string_attribute(ds.get(), name, "description", description);
    string_attribute(ds.get(), name, "dims", dims);
    ok(ds.close(), what);
  }

  // Writes the netCDF-4 view that netcdf_view plans (see there).
  void write_netcdf_view(const Plan& plan, const OutputLayout& layout) const {
    const NetcdfView view = netcdf_view(plan, layout);
    const hid_t root = file.get();
    for (const NetcdfVariable& v : view.axis_copies) netcdf_variable(v);
    for (const NetcdfScale& sc : view.scales) {
      const std::string what = "dimension scale " + sc.path;
      if (sc.values) {
        netcdf_variable(*sc.values);
      } else if (!sc.existing) {
        const hsize_t n = sc.length;
        SpaceHandle space(id(H5Screate_simple(1, &n, nullptr), what));
        DatasetHandle ds(id(H5Dcreate2(root, sc.path.c_str(), H5T_IEEE_F32LE, space.get(),
                                       H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                            what));
        char name[96];
        std::snprintf(name, sizeof name,
                      "This is a netCDF dimension but not a netCDF variable.%10llu",
                      static_cast<unsigned long long>(n));
        ok(H5DSset_scale(ds.get(), name), what);
        mark_netcdf_view(ds.get(), sc.path);
      }
      DatasetHandle scale(id(H5Dopen2(root, sc.path.c_str(), H5P_DEFAULT), what));
      if (H5DSis_scale(scale.get()) <= 0) ok(H5DSset_scale(scale.get(), sc.name.c_str()), what);
      for (const auto& [dataset, index] : sc.uses) {
        DatasetHandle ds(id(H5Dopen2(root, dataset.c_str(), H5P_DEFAULT), what));
        ok(H5DSattach_scale(ds.get(), scale.get(), index), what + " on " + dataset);
      }
    }
    for (const std::string& name : view.per_cell) {
      DatasetHandle ds(id(H5Dopen2(root, name.c_str(), H5P_DEFAULT), "opening " + name));
      string_attribute(ds.get(), name, "coordinates", view.coordinates);
    }
  }

  void netcdf_variable(const NetcdfVariable& v) const {
    if (v.strings.empty())
      number_dataset(v.path, v.file_type, H5T_NATIVE_DOUBLE, v.numbers.data(), v.numbers.size(),
                     v.description, v.dimension);
    else
      string_dataset(v.path, v.strings, v.description, v.dimension);
    DatasetHandle ds(id(H5Dopen2(file.get(), v.path.c_str(), H5P_DEFAULT), "opening " + v.path));
    mark_netcdf_view(ds.get(), v.path);
  }

  // What the view adds says so: a tool that rewrites the file (merge_runs.py) leaves it out and
  // builds it again.
  void mark_netcdf_view(hid_t dataset, const std::string& path) const {
    string_attribute(dataset, path, "netcdf_view",
                     "added for netCDF-4 readers (dimension scale or coordinate)");
  }

  // A 1-D dataset's values as strings (string datasets) or numbers (others); false if unreadable.
  // Integer datasets are also read exactly into `integers`.
  bool read_1d(const std::string& name, bool& is_string, std::vector<std::string>& strings,
               std::vector<double>& numbers, std::vector<long long>* integers = nullptr) const {
    if (H5Lexists(file.get(), name.c_str(), H5P_DEFAULT) <= 0) return false;
    DatasetHandle ds(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT));
    if (ds.get() < 0 || !readable_as_stored(ds.get())) return false;
    SpaceHandle space(H5Dget_space(ds.get()));
    if (H5Sget_simple_extent_ndims(space.get()) != 1) return false;
    const hssize_t n = H5Sget_simple_extent_npoints(space.get());
    TypeHandle stored(H5Dget_type(ds.get()));
    is_string = H5Tget_class(stored.get()) == H5T_STRING;
    strings.clear();
    numbers.clear();
    if (n <= 0) return n == 0;
    if (is_string) {
      if (H5Tis_variable_str(stored.get()) <= 0) return false;
      TypeHandle type(utf8_string_type(H5Tcopy(H5T_C_S1)));
      std::vector<char*> texts(static_cast<std::size_t>(n), nullptr);
      if (H5Dread(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, texts.data()) < 0)
        return false;
      for (char* t : texts) strings.emplace_back(t ? t : "");
#if H5_VERSION_GE(1, 12, 0)
      H5Treclaim(type.get(), space.get(), H5P_DEFAULT, texts.data());
#else
      H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, texts.data());
#endif
      return true;
    }
    numbers.resize(static_cast<std::size_t>(n));
    if (integers) {
      integers->assign(static_cast<std::size_t>(n), 0);
      if (H5Tget_class(stored.get()) == H5T_INTEGER &&
          H5Dread(ds.get(), H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, integers->data()) < 0)
        return false;
    }
    return H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, numbers.data()) >= 0;
  }

  hid_t open_dataset(const std::string& name) const {
    const auto it = datasets.find(name);
    if (it == datasets.end()) throw RuntimeFailure(where + ": no dataset " + name);
    return it->second.get();
  }

  // Writes (reads) `data` (dense, row-major, `count` shaped) to (from) the hyperslab
  // [start, start + count).
  void transfer(bool writing, const std::string& name, hid_t memory_type,
                const std::vector<hsize_t>& start, const std::vector<hsize_t>& count,
                const void* in, void* out) const {
    if (std::find(count.begin(), count.end(), hsize_t{0}) != count.end()) return;
    const std::string what = std::string(writing ? "writing " : "reading ") + name +
                             " block at offset (" + join_dims(start) + ") of shape (" +
                             join_dims(count) + ")";
    const hid_t ds = open_dataset(name);
    SpaceHandle file_space(id(H5Dget_space(ds), what));
    ok(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                           nullptr),
       what);
    SpaceHandle memory_space(
        id(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), what));
    if (writing)
      ok(H5Dwrite(ds, memory_type, memory_space.get(), file_space.get(), H5P_DEFAULT, in), what);
    else
      ok(H5Dread(ds, memory_type, memory_space.get(), file_space.get(), H5P_DEFAULT, out), what);
  }
  void write(const std::string& name, hid_t memory_type, const std::vector<hsize_t>& start,
             const std::vector<hsize_t>& count, const void* data) const {
    transfer(true, name, memory_type, start, count, data, nullptr);
  }
  void read(const std::string& name, hid_t memory_type, const std::vector<hsize_t>& start,
            const std::vector<hsize_t>& count, void* data) const {
    transfer(false, name, memory_type, start, count, nullptr, data);
  }

  // File access: HDF5 file locking where the file system has it, and the crash behaviour described
  // at the top (metadata reaches the disk only when flushed).
  hid_t file_access() const {
    const std::string what = "creating file access properties";
    PlistHandle fapl(id(H5Pcreate(H5P_FILE_ACCESS), what));
#if H5_VERSION_GE(1, 10, 7)
    // Parallel file systems without flock() (some Lustre setups) should not make output fail.
    ok(H5Pset_file_locking(fapl.get(), true, true), what);
#endif
    H5AC_cache_config_t mdc;
    std::memset(&mdc, 0, sizeof mdc);
    mdc.version = H5AC__CURR_CACHE_CONFIG_VERSION;
    ok(H5Pget_mdc_config(fapl.get(), &mdc), what);
    mdc.evictions_enabled = false;
    mdc.incr_mode = H5C_incr__off;
    mdc.flash_incr_mode = H5C_flash_incr__off;
    mdc.decr_mode = H5C_decr__off;
    ok(H5Pset_mdc_config(fapl.get(), &mdc), what);
    const hid_t result = fapl.get();
    H5Iinc_ref(result);  // the caller owns it
    return result;
  }

  // Where a dataset's data lie in the file: the byte range of one chunk, or of contiguous storage.
  struct StorageSpan {
    haddr_t address;
    hsize_t size;
    std::string owner;  // the dataset, and the chunk's coordinates
  };

  // "" or why the dataset's chunk index is not sound: an entry that cannot be read, a chunk that
  // is not allocated (every chunk is, from creation on) or that skips a filter (its filter mask
  // would have HDF5 read it without unshuffling, or without its checksum). Adds where each chunk
  // (or the contiguous data) lies to `spans`, for storage_overlap().
  std::string index_problem(const std::string& name, std::vector<StorageSpan>& spans) const {
    const hid_t ds = open_dataset(name);
    PlistHandle dcpl(H5Dget_create_plist(ds));
    if (dcpl.get() < 0) return hdf5_error_text();
    if (H5Pget_layout(dcpl.get()) != H5D_CHUNKED) {
      const haddr_t address = H5Dget_offset(ds);
      if (address != HADDR_UNDEF) spans.push_back({address, H5Dget_storage_size(ds), name});
      return "";
    }
    SpaceHandle space(H5Dget_space(ds));
    const int rank = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(rank > 0 ? static_cast<std::size_t>(rank) : 0), chunk = dims;
    if (rank <= 0 || H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0 ||
        H5Pget_chunk(dcpl.get(), rank, chunk.data()) != rank)
      return hdf5_error_text();
    std::vector<hsize_t> at(dims.size(), 0);
    while (true) {
      note_progress();
      unsigned mask = 0;
      haddr_t address = HADDR_UNDEF;
      hsize_t size = 0;
      if (H5Dget_chunk_info_by_coord(ds, at.data(), &mask, &address, &size) < 0)
        return hdf5_error_text();
      const std::string chunk_name = "the chunk at (" + join_dims(at) + ")";
      if (address == HADDR_UNDEF || size == 0) return chunk_name + " is missing";
      if (mask != 0) return chunk_name + " skips filters";
      spans.push_back({address, size, name + " (chunk at " + join_dims(at) + ")"});
      std::size_t axis = at.size();
      while (axis-- > 0) {
        at[axis] += chunk[axis];
        if (at[axis] < dims[axis]) break;
        at[axis] = 0;
      }
      if (axis == static_cast<std::size_t>(-1)) return "";
    }
  }

  // "" or why visiting every object with all of its information fails.
  std::string visit_problem() const {
    auto visit_one = [](hid_t, const char*, const H5O_info_t*, void* self) -> herr_t {
      static_cast<const Impl*>(self)->note_progress();
      return 0;
    };
    if (H5Ovisit2(file.get(), H5_INDEX_NAME, H5_ITER_NATIVE, visit_one, const_cast<Impl*>(this),
                  H5O_INFO_ALL) < 0)
      return "its objects cannot all be visited (" + hdf5_error_text() + ")";
    return "";
  }

  // "" or why the data's places cannot all be right: one past the end of the file's allocated
  // space, or two that share bytes. HDF5 reads neither as an error until it touches those bytes,
  // and /target and /summary are never read on resume, only rewritten in place: a damaged index
  // entry would then fail at the next flush (after the partial changed) or overwrite another
  // dataset's finished data.
  std::string storage_overlap(std::vector<StorageSpan>& spans) const {
    haddr_t end_of_allocation = 0;
    if (H5Fget_eoa(file.get(), &end_of_allocation) < 0) return hdf5_error_text();
    std::sort(spans.begin(), spans.end(),
              [](const StorageSpan& a, const StorageSpan& b) { return a.address < b.address; });
    for (std::size_t i = 0; i < spans.size(); ++i) {
      const StorageSpan& span = spans[i];
      if (span.size > end_of_allocation || span.address > end_of_allocation - span.size)
        return "the data of " + span.owner + " lie past the end of the file (at byte " +
               std::to_string(span.address) + ")";
      if (i > 0 && spans[i - 1].address + spans[i - 1].size > span.address)
        return "the data of " + spans[i - 1].owner + " and of " + span.owner + " overlap";
    }
    return "";
  }

  void flush() const {
    ok(H5Fflush(file.get(), H5F_SCOPE_LOCAL), "flushing");
  }

  // Creates a new run file in memory under `name` with every group, dataset and attribute.
  void build(const std::string& file_name, const OutputLayout& layout, const Plan& plan,
             const RunAttributes& attributes);

  void close_all() {
    // Datasets first: the file closes only once nothing in it is open.
    for (auto& [name, ds] : datasets) ok(ds.close(), "closing dataset " + name);
    datasets.clear();
    ok(file.close(), "closing the file");
  }
};

namespace {

[[noreturn]] void bad_block(const std::string& where, const std::string& what) {
  throw RuntimeFailure(where + ": " + what);
}

template <class V>
void expect_size(const std::string& where, const char* name, const V& v, hsize_t expected) {
  if (static_cast<hsize_t>(v.size()) != expected)
    bad_block(where, std::string(name) + " has " + std::to_string(v.size()) + " values, expected " +
                         std::to_string(expected));
}

// A write of seeds [first, first + count) of `cell` must lie inside the file's C x `seeds` block.
void check_block(const std::string& where, const std::string& what, long cell, long cells,
                 long first, long count, long seeds) {
  if (cell < 0 || cell >= cells)
    bad_block(where, what + " cell " + std::to_string(cell) + " out of range");
  if (first < 0 || count < 0 || first + count > seeds)
    bad_block(where, what + " seeds [" + std::to_string(first) + ", " +
                         std::to_string(first + count) + ") outside [0, " + std::to_string(seeds) +
                         ")");
}

// True when HDF5 opens the file image.
bool image_opens(std::vector<unsigned char>& image) {
  PlistHandle fapl(H5Pcreate(H5P_FILE_ACCESS));
  if (fapl.get() < 0 || H5Pset_fapl_core(fapl.get(), 1 << 20, false) < 0 ||
      H5Pset_file_image(fapl.get(), image.data(), image.size()) < 0)
    return false;
  FileHandle file(H5Fopen("specsweep image check", H5F_ACC_RDONLY, fapl.get()));
  return file.get() >= 0;
}

// HDF5 1.10's H5Fget_file_image clears the status flags of a version 2 superblock (byte 11)
// without updating its checksum; the flags it was summed with are "open for writing" (1).
void repair_image(const std::string& where, std::vector<unsigned char>& image) {
  if (image_opens(image)) return;
  if (image.size() > 11 && image[8] == 2 && image[11] == 0) {
    image[11] = 1;
    if (image_opens(image)) return;
  }
  throw RuntimeFailure(where + ": the new file's image does not open: " + hdf5_error_text());
}

// fsync of the directory holding `path`, so a rename in it is durable (best effort: not every
// file system can sync a directory).
void sync_directory_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

// Writes `bytes` to `path` and syncs it. On failure `path` is removed.
void write_file(const std::string& where, const std::string& path,
                const std::vector<unsigned char>& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) throw RuntimeFailure(where + ": cannot create " + path + ": " + std::strerror(errno));
  // Another process creating the same run holds the lock; its file is not ours to truncate.
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    throw RuntimeFailure(where + ": " + path +
                         " is being written elsewhere (is this run already going?)");
  }
  int err = ::ftruncate(fd, 0) == 0 ? 0 : errno;
  if (err == 0) err = write_all(fd, bytes.data(), bytes.size());
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (err != 0) ::unlink(path.c_str());
  ::close(fd);
  if (err != 0)
    throw RuntimeFailure(where + ": cannot write the new file " + path + ": " + std::strerror(err));
}

// Copies `from` to `to` (created or truncated); "" or why not (strerror: "No space left on
// device").
std::string copy_file(const std::string& from, const std::string& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return std::strerror(errno);
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  int err = out < 0 ? errno : 0;
  std::vector<char> buffer(1 << 20);
  while (err == 0) {
    const ssize_t got = ::read(in, buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      err = got < 0 ? errno : 0;
      break;
    }
    err = write_all(out, buffer.data(), static_cast<std::size_t>(got));
  }
  ::close(in);
  if (out >= 0 && ::close(out) != 0 && err == 0) err = errno;
  return err == 0 ? "" : std::strerror(err);
}

// Makes `path`'s contents durable and renames it over `target`; "" or why not.
std::string sync_and_rename(const std::string& path, const std::string& target) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  int err = fd < 0 ? errno : (::fsync(fd) == 0 ? 0 : errno);
  if (fd >= 0) ::close(fd);
  if (err == 0 && std::rename(path.c_str(), target.c_str()) != 0) err = errno;
  if (err != 0) return std::strerror(err);
  sync_directory_of(target);
  return "";
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string RunFile::partial_path_for(const std::string& final_path) {
  return final_path + ".partial";
}

bool RunFile::partial_exists(const std::string& final_path) {
  return ::access(partial_path_for(final_path).c_str(), F_OK) == 0;
}

RunFile::RunFile(std::string final_path, const OutputLayout& layout)
    : final_path_(std::move(final_path)),
      partial_path_(partial_path_for(final_path_)),
      layout_(layout) {}

RunFile::RunFile(RunFile&& other) noexcept
    : final_path_(std::move(other.final_path_)),
      partial_path_(std::move(other.partial_path_)),
      layout_(std::move(other.layout_)),
      impl_(std::move(other.impl_)),
      committed_(other.committed_),
      kept_(other.kept_),
      created_(other.created_),
      marked_(other.marked_) {
  other.partial_path_.clear();  // the moved-from object owns no file
}

RunFile& RunFile::operator=(RunFile&& other) noexcept {
  if (this != &other) {
    release();
    final_path_ = std::move(other.final_path_);
    partial_path_ = std::move(other.partial_path_);
    layout_ = std::move(other.layout_);
    impl_ = std::move(other.impl_);
    committed_ = other.committed_;
    kept_ = other.kept_;
    created_ = other.created_;
    marked_ = other.marked_;
    other.partial_path_.clear();
  }
  return *this;
}

RunFile::~RunFile() {
  release();
}

void RunFile::release() noexcept {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  impl_.reset();  // closes (and so flushes) whatever is open
  // Finished units are the user's work: a partial that holds any (or that was resumed) stays.
  if (!committed_ && !kept_ && created_ && !marked_ && !partial_path_.empty())
    std::remove(partial_path_.c_str());
  partial_path_.clear();
}

RunFile RunFile::create(const std::string& final_path, const OutputLayout& layout_in,
                        const RunAttributes& attributes) {
  RunFile run(final_path, layout_in);
  const std::string& partial = run.partial_path_;
  OutputLayout& layout = run.layout_;
  const std::string where = "run file " + partial;
  validate_layout(layout, where);
  const Plan plan = plan_of(layout);

  std::lock_guard<std::mutex> lock(hdf5_mutex());
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors are reported by exceptions instead
  if (locked_by_another(partial))
    throw RuntimeFailure(where + ": it is open for writing elsewhere (is this run already going?)");

  // The file is built in memory and reaches the disk as one image, written beside the partial
  // and renamed over it: a full disk or a kill during creation leaves no half-made partial (and
  // never the previous one damaged), and HDF5 never sees a failed write while creating objects,
  // after which HDF5 1.10 crashes at exit closing the file.
  const std::string creating = partial + ".creating";
  std::vector<unsigned char> image;
  {
    Impl memory;
    memory.where = where;
    memory.compress = deflate_encoder_available();
    memory.build(creating, layout, plan, attributes);
    const hid_t file = memory.file.get();
    const ssize_t size = H5Fget_file_image(file, nullptr, 0);
    if (size < 0) memory.fail("sizing the file image");
    image.resize(static_cast<std::size_t>(size));
    if (H5Fget_file_image(file, image.data(), image.size()) != size)
      memory.fail("copying the file image");
    memory.close_all();
  }
  repair_image(where, image);
  write_file(where, creating, image);

  // The per-seed chunks (most of the file) were left out of the image, so that it stays small in
  // memory; they are written now, fill values in every chunk, still under the temporary name, so
  // the chunk indexes are complete before the file is the partial (see "Crash behaviour").
  auto impl = std::make_unique<Impl>();
  impl->where = where;
  impl->cells = layout.cells;
  impl->units = layout.units();
  try {
    {
      PlistHandle fapl(impl->file_access());
      impl->file = FileHandle(
          impl->id(H5Fopen(creating.c_str(), H5F_ACC_RDWR, fapl.get()), "reopening the new file"));
    }
    std::vector<std::string> damage;
    for (const DatasetSpec& d : plan.datasets) {
      const std::string problem = impl->open_existing(d, damage);
      if (!problem.empty()) damage.push_back(problem);
    }
    if (!damage.empty())
      throw RuntimeFailure(where + ": reopening the new file: " + join(damage, "; "));
    for (const DatasetSpec& d : plan.datasets)
      if (d.incremental) impl->fill_chunks(d);
    impl->flush();
    const std::string failed = sync_and_rename(creating, partial);
    if (!failed.empty())
      throw RuntimeFailure(where + ": cannot move the new file " + creating +
                           " into place: " + failed);
  } catch (...) {
    impl.reset();
    ::unlink(creating.c_str());
    throw;
  }
  impl->progress.assign(static_cast<std::size_t>(impl->cells * impl->units), 0);
  run.impl_ = std::move(impl);
  run.kept_ = false;
  run.created_ = true;
  return run;
}

void RunFile::Impl::build(const std::string& file_name, const OutputLayout& layout,
                          const Plan& plan, const RunAttributes& attributes) {
  {
    PlistHandle fapl(id(H5Pcreate(H5P_FILE_ACCESS), "creating file access properties"));
    ok(H5Pset_fapl_core(fapl.get(), 1 << 20, false), "using the in-memory file driver");
    PlistHandle fcpl(id(H5Pcreate(H5P_FILE_CREATE), "creating file creation properties"));
#if H5_VERSION_GE(1, 10, 1)
    // Never reuse freed space (see the top of this file).
    ok(H5Pset_file_space_strategy(fcpl.get(), H5F_FSPACE_STRATEGY_NONE, false, 1),
       "setting file space");
#endif
    file = FileHandle(id(H5Fcreate(file_name.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()),
                         "cannot create the file"));
  }
  {
    const hid_t root = file.get();

    string_attribute(root, "/", "specsweep_version", attributes.specsweep_version);
    string_attribute(root, "/", "config", attributes.config);
    number_attribute(root, "/", "master_seed", H5T_STD_U64LE, H5T_NATIVE_UINT64,
                     attributes.master_seed);
    string_attribute(root, "/", "backend", attributes.backend);
    string_attribute(root, "/", "precision", attributes.precision);
    string_attribute(root, "/", "git_revision", attributes.git_revision);
    number_attribute(root, "/", "unit_seeds", H5T_STD_I64LE, H5T_NATIVE_INT64,
                     static_cast<std::int64_t>(layout.seeds_per_unit()));

    for (const GroupSpec& g : plan.groups) group(g);
    for (const DatasetSpec& d : plan.datasets) dataset(d);

    const hid_t status = open_dataset("/outcome/status");
    string_attribute(status, "/outcome/status", "codes",
                     "0 converged, 1 stalled, 2 diverged, 3 unconverged");
    string_attribute(status, "/outcome/status", "unwritten",
                     "-1: seed not written (run incomplete)");
    write("/trace/step", H5T_NATIVE_INT32, {0}, {layout.record_steps.size()},
          layout.record_steps.data());
    write("/summary/quantile_levels", H5T_NATIVE_DOUBLE, {0}, {kQ}, kQuantileLevels.data());

    // /cells: each axis, the per-cell configs, and the axis order.
    {
      GroupHandle cells_group(id(H5Gopen2(root, "/cells", H5P_DEFAULT), "opening /cells"));
      std::vector<std::string> names;
      for (std::size_t a = 0; a < layout.axes.size(); ++a) {
        const SweepAxis& axis = layout.axes[a];
        names.push_back(axis.key);
        const std::string name = "/cells/" + axis.key;
        const std::string description = "value of the swept key " + axis.key + " in each cell";
        const hsize_t C = to_hsize(layout.cells);
        if (axis.numeric && axis.integral) {  // exact, e.g. run.master_seed
          std::vector<long long> values;
          for (long c = 0; c < layout.cells; ++c)
            values.push_back(axis.integers[axis_index(layout.axes, a, c)]);
          number_dataset(name, H5T_STD_I64LE, H5T_NATIVE_LLONG, values.data(), C, description);
        } else if (axis.numeric) {
          std::vector<double> values;
          for (long c = 0; c < layout.cells; ++c)
            values.push_back(axis.numbers[axis_index(layout.axes, a, c)]);
          number_dataset(name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, values.data(), C, description);
        } else {
          std::vector<std::string> values;
          for (long c = 0; c < layout.cells; ++c)
            values.push_back(axis.labels[axis_index(layout.axes, a, c)]);
          string_dataset(name, values, description);
        }
      }
      string_array_attribute(cells_group.get(), "/cells", "axes", names);
      std::vector<std::string> configs = layout.cell_configs;
      if (configs.empty())
        configs.assign(static_cast<std::size_t>(layout.cells), attributes.config);
      string_dataset("/cells/config", configs, "the resolved TOML config of each cell");
      ok(cells_group.close(), "closing /cells");
    }
    flush();
  }
}

RunFile RunFile::resume(const std::string& final_path, const OutputLayout& layout_in,
                        const RunAttributes& attributes, ReadIn check) {
  RunFile run(final_path, layout_in);  // never removes the partial it was given
  const std::string partial = run.partial_path_;
  OutputLayout& layout = run.layout_;
  validate_layout(layout, "run file " + partial);
  const Plan plan = plan_of(layout);
  const std::string cannot = "cannot resume " + final_path + ": " + partial;

  std::lock_guard<std::mutex> lock(hdf5_mutex());
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  if (::access(partial.c_str(), F_OK) != 0)
    throw InputError(cannot + " does not exist (nothing to resume)");
  if (locked_by_another(partial))
    throw RuntimeFailure(cannot +
                         ": it is open for writing elsewhere (is this run already going?)");

  // Checked through a read-only handle first: HDF5 writes to a file opened for writing (flags on
  // object header messages it does not know, for one) even when nothing is resumed, and a refused
  // partial must stay as it was.
  auto open = [&](Impl& probe, unsigned flags) {
    probe.where = "run file " + partial;
    probe.compress = deflate_encoder_available();
    probe.cells = layout.cells;
    probe.units = layout.units();
    PlistHandle fapl(probe.file_access());
    const hid_t f = H5Fopen(partial.c_str(), flags, fapl.get());
    if (f < 0)
      throw InputError(cannot + " is not a readable HDF5 file (" + hdf5_error_text() +
                       "); remove it or run without --resume");
    probe.file = FileHandle(f);
  };
  // A partial with nothing finished in it is no one's work: when it is damaged, start afresh.
  bool holds_work = true;
  auto damaged = [&](const std::string& what) {
    const std::string message = cannot + " is damaged: " + what;
    if (!holds_work) throw UnusablePartial(message + " (it holds no finished unit)");
    throw InputError(message + "; it is left as it was (remove it or run without --resume)");
  };
  // Its structure and layout against the run's: throws InputError (UnusablePartial when nothing
  // finished is in it).
  auto check_structure = [&](Impl& probe) {
    const hid_t root = probe.file.get();
    // What the file was written for.
    std::string config;
    std::int64_t unit_seeds = 0;
    if (!probe.read_string_attribute(root, "config", config) ||
        !probe.read_integer_attribute(root, "unit_seeds", unit_seeds) ||
        H5Lexists(root, "/progress", H5P_DEFAULT) <= 0 ||
        H5Lexists(root, "/progress/unit_done", H5P_DEFAULT) <= 0)
      throw UnusablePartial(cannot +
                            " is not a resumable specsweep run file (no config, "
                            "unit_seeds or /progress: was its creation interrupted?)");
    std::vector<std::string> differences;
    if (config != attributes.config)
      differences.push_back("the config differs: " + first_difference(config, attributes.config));
    auto dims_of = [&](const char* name) {
      std::vector<hsize_t> dims;
      if (H5Lexists(root, name, H5P_DEFAULT) <= 0) return dims;
      DatasetHandle ds(H5Dopen2(root, name, H5P_DEFAULT));
      SpaceHandle space(H5Dget_space(ds.get()));
      const int rank = H5Sget_simple_extent_ndims(space.get());
      if (rank > 0) {
        dims.resize(static_cast<std::size_t>(rank));
        H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
      }
      return dims;
    };
    auto compare = [&](const char* what, const char* dataset, std::size_t axis, long now) {
      const std::vector<hsize_t> dims = dims_of(dataset);
      if (axis >= dims.size()) {
        differences.push_back(std::string("no ") + dataset);
      } else if (static_cast<long>(dims[axis]) != now) {
        differences.push_back(std::string(what) + " is " + std::to_string(dims[axis]) +
                              " in the file, " + std::to_string(now) + " now");
      }
    };
    compare("cells C", "/outcome/status", 0, layout.cells);
    compare("seeds S", "/outcome/status", 1, layout.seeds);
    compare("traced seeds K", "/trace/loss", 1, layout.traced);
    compare("record steps T", "/trace/step", 0, static_cast<long>(layout.record_steps.size()));
    compare("rank r", "/outcome/hit_step", 2, layout.r);
    compare("depth L", "/trace/factor_norm", 3, layout.depth);
    compare("m", "/target/M", 1, layout.m);
    compare("n", "/target/M", 2, layout.n);
    compare("spectrum length", "/target/spectrum", 1, layout.spectrum_length);
    if (unit_seeds != layout.seeds_per_unit())
      differences.push_back("unit_seeds is " + std::to_string(unit_seeds) + " in the file, " +
                            std::to_string(layout.seeds_per_unit()) + " now");
    {
      bool is_string = false;
      std::vector<std::string> strings;
      std::vector<double> numbers;
      if (differences.empty() && probe.read_1d("/trace/step", is_string, strings, numbers) &&
          numbers != std::vector<double>(layout.record_steps.begin(), layout.record_steps.end()))
        differences.push_back("the record steps differ");

      std::vector<std::string> names, now;
      for (const SweepAxis& axis : layout.axes) now.push_back(axis.key);
      GroupHandle cells(
          H5Lexists(root, "/cells", H5P_DEFAULT) > 0 ? H5Gopen2(root, "/cells", H5P_DEFAULT) : -1);
      if (cells.get() < 0 || !probe.read_strings_attribute(cells.get(), "axes", names)) {
        differences.push_back("no /cells@axes");
      } else if (names != now) {
        differences.push_back("the sweep axes are [" + join(names, ", ") + "] in the file, [" +
                              join(now, ", ") + "] now");
      } else if (differences.empty()) {
        for (std::size_t a = 0; a < layout.axes.size(); ++a) {
          const SweepAxis& axis = layout.axes[a];
          std::vector<long long> integers;
          bool ok = probe.read_1d("/cells/" + axis.key, is_string, strings, numbers, &integers) &&
                    is_string != axis.numeric;
          for (long c = 0; ok && c < layout.cells; ++c) {
            const std::size_t i = axis_index(layout.axes, a, c), k = static_cast<std::size_t>(c);
            if (!axis.numeric)
              ok = k < strings.size() && strings[k] == axis.labels[i];
            else if (axis.integral)
              ok = k < integers.size() && integers[k] == axis.integers[i];
            else
              ok = k < numbers.size() && numbers[k] == axis.numbers[i];
          }
          if (!ok) differences.push_back("the values of sweep axis " + axis.key + " differ");
        }
        std::vector<std::string> configs = layout.cell_configs;
        if (configs.empty())
          configs.assign(static_cast<std::size_t>(layout.cells), attributes.config);
        if (!probe.read_1d("/cells/config", is_string, strings, numbers) || !is_string ||
            strings.size() != configs.size()) {
          differences.push_back("/cells/config is missing or has another length");
        } else {
          for (std::size_t c = 0; c < configs.size(); ++c)
            if (strings[c] != configs[c]) {
              differences.push_back("the config of cell " + std::to_string(c) +
                                    " differs: " + first_difference(strings[c], configs[c]));
              break;
            }
        }
      }
    }
    std::vector<std::string> damage;
    if (differences.empty()) {
      // The config fixes these two; the commit keeps them as they are in the file.
      std::uint64_t master_seed = 0;
      std::string precision;
      if (!probe.read_integer_attribute(root, "master_seed", master_seed) ||
          master_seed != attributes.master_seed)
        damage.push_back("/@master_seed does not read back as " +
                         std::to_string(attributes.master_seed));
      if (!probe.read_string_attribute(root, "precision", precision) ||
          precision != attributes.precision)
        damage.push_back("/@precision does not read back as \"" + attributes.precision + "\"");
      for (const DatasetSpec& d : plan.datasets) {
        const std::string problem = probe.open_existing(d, damage);
        if (!problem.empty()) differences.push_back(problem);
      }
      // The attributes of what open_existing does not open: the groups and /cells datasets.
      std::vector<std::string> objects{"/", "/cells/config"};
      for (const GroupSpec& g : plan.groups) objects.push_back(g.name);
      for (const SweepAxis& axis : layout.axes) objects.push_back("/cells/" + axis.key);
      for (const std::string& name : objects) {
        probe.note_progress();
        ObjectHandle object(H5Oopen(root, name.c_str(), H5P_DEFAULT));
        const std::string problem =
            object.get() < 0 ? "cannot open " + name : Impl::attribute_problem(object.get(), name);
        if (!problem.empty()) damage.push_back(problem);
      }
      // What readers do first (h5py's visititems, xarray's walk of the groups): every object's
      // header, attribute storage and chunk index, siblings of its B-tree nodes included, which
      // nothing above reads; a damaged one would be committed and the finished file not open.
      const std::string visit = probe.visit_problem();
      if (!visit.empty()) damage.push_back(visit);
    }
    if (!differences.empty())
      throw InputError(cannot + " was written by a different config: " + join(differences, "; ") +
                       " (run without --resume to start over)");
    holds_work = probe.progress_holds_work();
    if (!damage.empty()) damaged(join(damage, "; "));
  };
  // Every chunk index, and every per-seed value must read back now (a flipped bit in compressed
  // data), not after the remaining units ran: units written later and the statistics read them.
  // /target and /summary are written whole again before the commit.
  auto check_data = [&](Impl& probe) {
    std::vector<Impl::StorageSpan> spans;
    for (const DatasetSpec& d : plan.datasets) {
      const std::string problem = probe.index_problem(d.name, spans);
      if (!problem.empty()) damaged("the chunk index of " + d.name + " is unreadable: " + problem);
    }
    const std::string overlap = probe.storage_overlap(spans);
    if (!overlap.empty()) damaged(overlap);
    for (const DatasetSpec& d : plan.datasets) {
      const std::string problem = probe.unreadable_cells(d);
      if (!problem.empty()) damaged(problem);
    }
  };
  // After a kill during a flush, metadata may point past the end-of-allocation address that the
  // superblock (written last) still holds, at data that did reach the file; only a writable
  // handle can move that address to the end of the file, so such data are checked through it.
  bool past_end = false;
  // A damaged size (of a dataspace, an attribute) can ask for more memory than there is.
  auto sizes_checked = [&](auto&& read) {
    try {
      read();
    } catch (const std::bad_alloc&) {
      damaged("a size in it is impossible (out of memory reading it)");
    } catch (const std::length_error&) {
      damaged("a size in it is impossible");
    }
  };
  // The verdict's data: whether the partial holds work, and whether data lie past its end.
  auto check_read_only = [&](int verdict_fd) {
    ChildVerdict verdict = verdict_of([&] {
      sizes_checked([&] {
        StallWatch stall_watch(cannot, verdict_fd);
        Impl probe;
        probe.stall_watch = &stall_watch;
        open(probe, H5F_ACC_RDONLY);
        check_structure(probe);
        haddr_t eoa = 0;
        struct stat st;
        past_end = H5Fget_eoa(probe.file.get(), &eoa) < 0 || ::stat(partial.c_str(), &st) != 0 ||
                   static_cast<haddr_t>(st.st_size) > eoa;
        if (!past_end) check_data(probe);
      });
    });
    verdict.data = {holds_work ? '1' : '0', past_end ? '1' : '0'};
    return verdict;
  };
  std::string how_it_ended;
  const std::optional<ChildVerdict> verdict = check == ReadIn::child_process
                                                  ? run_in_child(check_read_only, how_it_ended)
                                                  : check_read_only(-1);
  // A check that ended without a verdict crashed on the file; whether it holds work is unknown,
  // so it is kept as damaged work would be.
  if (!verdict) damaged("HDF5 crashed reading it (the check ended with " + how_it_ended + ")");
  verdict->rethrow();
  holds_work = verdict->data.at(0) == '1';
  past_end = verdict->data.at(1) == '1';
  auto impl = std::make_unique<Impl>();
  sizes_checked([&] {
    StallWatch stall_watch(cannot);
    impl->stall_watch = &stall_watch;
    open(*impl, H5F_ACC_RDWR);
    check_structure(*impl);
    if (past_end) {
#if H5_VERSION_GE(1, 10, 2)
      if (H5Fincrement_filesize(impl->file.get(), 0) < 0)
        damaged("its size cannot be repaired (" + hdf5_error_text() + ")");
#endif
      check_data(*impl);
    }
    impl->stall_watch = nullptr;
  });
  const hid_t root = impl->file.get();

  // Ours from here on: record what continues the run, and load the progress.
  try {
    const struct {
      const char* name;
      const std::string& value;
    } provenance[] = {{"backend", attributes.backend},
                      {"specsweep_version", attributes.specsweep_version},
                      {"git_revision", attributes.git_revision}};
    for (const auto& p : provenance) {
      std::string stored;
      const bool present = impl->read_string_attribute(root, p.name, stored);
      std::vector<std::string> parts;
      for (std::size_t start = 0; present;) {
        const std::size_t comma = stored.find(',', start);
        parts.push_back(
            stored.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      if (present && std::find(parts.begin(), parts.end(), p.value) != parts.end()) continue;
      const std::string value = present ? stored + "," + p.value : p.value;
      if (present) impl->ok(H5Adelete(root, p.name), std::string("updating attribute /@") + p.name);
      impl->string_attribute(root, "/", p.name, value);
    }
    impl->progress.assign(static_cast<std::size_t>(impl->cells * impl->units), 0);
    impl->read("/progress/unit_done", H5T_NATIVE_INT8, {0, 0},
               {to_hsize(impl->cells), to_hsize(impl->units)}, impl->progress.data());
    // A unit marked done must have written every status (not -1); otherwise it is done again.
    std::vector<std::int8_t> status(static_cast<std::size_t>(layout.seeds));
    for (long cell = 0; cell < impl->cells; ++cell) {
      const auto row = impl->progress.begin() + cell * impl->units;
      if (std::find(row, row + impl->units, std::int8_t{1}) == row + impl->units) continue;
      impl->read("/outcome/status", H5T_NATIVE_INT8, {to_hsize(cell), 0},
                 {1, to_hsize(layout.seeds)}, status.data());
      for (long unit = 0; unit < impl->units; ++unit) {
        std::int8_t& done = row[unit];
        const auto first = status.begin() + layout.unit_first_seed(unit);
        if (!done || std::find(first, first + layout.unit_seed_count(unit), kStatusFill) ==
                         first + layout.unit_seed_count(unit))
          continue;
        done = 0;
        impl->write("/progress/unit_done", H5T_NATIVE_INT8, {to_hsize(cell), to_hsize(unit)},
                    {1, 1}, &done);
      }
    }
    impl->flush();
  } catch (...) {
    impl.reset();
    throw;
  }
  run.impl_ = std::move(impl);
  return run;
}

// ---------------------------------------------------------------------------------------------

bool RunFile::unit_done(long cell, long unit) const {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  if (!impl_) throw RuntimeFailure("run file " + partial_path_ + ": not open");
  if (cell < 0 || cell >= impl_->cells || unit < 0 || unit >= impl_->units)
    bad_block(impl_->where,
              "unit (" + std::to_string(cell) + ", " + std::to_string(unit) + ") out of range");
  return impl_->progress[static_cast<std::size_t>(cell * impl_->units + unit)] != 0;
}

long RunFile::units_done() const {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  if (!impl_) throw RuntimeFailure("run file " + partial_path_ + ": not open");
  return static_cast<long>(std::count_if(impl_->progress.begin(), impl_->progress.end(),
                                         [](std::int8_t v) { return v != 0; }));
}

void RunFile::mark_unit_done(long cell, long unit) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  if (!impl_) throw RuntimeFailure("run file " + partial_path_ + ": write after commit");
  if (cell < 0 || cell >= impl_->cells || unit < 0 || unit >= impl_->units)
    bad_block(impl_->where,
              "unit (" + std::to_string(cell) + ", " + std::to_string(unit) + ") out of range");
  // Two flushes: within one H5Fflush HDF5 writes raw data (the mark is raw data, in place) before
  // metadata (the index of the unit's new chunks), so the unit's data go first, then the mark.
  impl_->flush();
  const std::int8_t done = 1;
  impl_->write("/progress/unit_done", H5T_NATIVE_INT8, {to_hsize(cell), to_hsize(unit)}, {1, 1},
               &done);
  marked_ = true;
  impl_->flush();
  impl_->progress[static_cast<std::size_t>(cell * impl_->units + unit)] = 1;
}

void RunFile::write_target(long cell, const Target& target) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  if (!impl_) throw RuntimeFailure("run file " + partial_path_ + ": write after commit");
  const std::string& where = impl_->where;
  if (cell < 0 || cell >= layout_.cells)
    bad_block(where, "target cell " + std::to_string(cell) + " out of range");
  if (target.m != layout_.m || target.n != layout_.n)
    bad_block(where, "target is " + std::to_string(target.m) + " x " + std::to_string(target.n) +
                         ", layout " + std::to_string(layout_.m) + " x " +
                         std::to_string(layout_.n));
  const hsize_t c = to_hsize(cell), m = to_hsize(layout_.m), n = to_hsize(layout_.n),
                p = to_hsize(layout_.spectrum_length);
  expect_size(where, "target M", target.M, m * n);
  expect_size(where, "target spectrum", target.spectrum, p);
  impl_->write("/target/M", H5T_NATIVE_DOUBLE, {c, 0, 0}, {1, m, n}, target.M.data());
  impl_->write("/target/spectrum", H5T_NATIVE_DOUBLE, {c, 0}, {1, p}, target.spectrum.data());
  if (layout_.weighted) {
    expect_size(where, "target row weight", target.row_weight, m * m);
    expect_size(where, "target column weight", target.col_weight, n * n);
    impl_->write("/target/row_weight", H5T_NATIVE_DOUBLE, {c, 0, 0}, {1, m, m},
                 target.row_weight.data());
    impl_->write("/target/col_weight", H5T_NATIVE_DOUBLE, {c, 0, 0}, {1, n, n},
                 target.col_weight.data());
  }
  if (target.measurements > 0) {
    const hsize_t count = to_hsize(target.measurements);
    if (target.measurements > layout_.measurements)
      bad_block(where, "target has " + std::to_string(target.measurements) +
                           " sensing matrices, layout " + std::to_string(layout_.measurements));
    expect_size(where, "target sensing matrices", target.sensing, count * m * n);
    impl_->write("/target/sensing", H5T_NATIVE_DOUBLE, {c, 0, 0, 0}, {1, count, m, n},
                 target.sensing.data());
  }
}

void RunFile::write_outcomes(long cell, const SeedOutcomes& o) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  if (!impl_) throw RuntimeFailure("run file " + partial_path_ + ": write after commit");
  const std::string& where = impl_->where;
  check_block(where, "outcome", cell, layout_.cells, o.first_seed, o.count, layout_.seeds);
  if (o.r != layout_.r)
    bad_block(where, "outcome rank " + std::to_string(o.r) + " != " + std::to_string(layout_.r));
  const hsize_t c = to_hsize(cell), first = to_hsize(o.first_seed), count = to_hsize(o.count),
                r = to_hsize(layout_.r);
  for_each_outcome_dataset(o, [&](const OutcomeDataset& d, const auto& values) {
    const std::string path = std::string("/outcome/") + d.name;
    const bool per_mode = d.trailing_axis != nullptr;
    expect_size(where, d.name, values, per_mode ? count * r : count);
    if (per_mode)
      impl_->write(path, native_type(values), {c, first, 0}, {1, count, r}, values.data());
    else
      impl_->write(path, native_type(values), {c, first}, {1, count}, values.data());
  });
}

SeedOutcomes RunFile::read_outcomes(long cell) const {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  if (!impl_) throw RuntimeFailure("run file " + partial_path_ + ": read after commit");
  if (cell < 0 || cell >= layout_.cells)
    bad_block(impl_->where, "outcome cell " + std::to_string(cell) + " out of range");
  SeedOutcomes o;
  o.resize(0, layout_.seeds, layout_.r);
  const hsize_t c = to_hsize(cell), S = to_hsize(layout_.seeds), r = to_hsize(layout_.r);
  const std::vector<hsize_t> start{c, 0}, shape{1, S};
  for_each_outcome_dataset(o, [&](const OutcomeDataset& d, auto& values) {
    const std::string path = std::string("/outcome/") + d.name;
    if (d.trailing_axis)
      impl_->read(path, native_type(values), {c, 0, 0}, {1, S, r}, values.data());
    else
      impl_->read(path, native_type(values), start, shape, values.data());
  });
  return o;
}

void RunFile::write_traces(long cell, const SeedTraces& t) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  if (!impl_) throw RuntimeFailure("run file " + partial_path_ + ": write after commit");
  const std::string& where = impl_->where;
  check_block(where, "trace", cell, layout_.cells, t.first_seed, t.count, layout_.traced);
  if (t.steps != static_cast<int>(layout_.record_steps.size()) || t.r != layout_.r ||
      t.depth != layout_.depth)
    bad_block(where, "traces are T=" + std::to_string(t.steps) + " r=" + std::to_string(t.r) +
                         " L=" + std::to_string(t.depth) +
                         ", layout T=" + std::to_string(layout_.record_steps.size()) +
                         " r=" + std::to_string(layout_.r) + " L=" + std::to_string(layout_.depth));
  const hsize_t c = to_hsize(cell), first = to_hsize(t.first_seed), count = to_hsize(t.count),
                T = to_hsize(t.steps), r = to_hsize(t.r);
  const hid_t f64 = H5T_NATIVE_DOUBLE;
  for_each_trace_dataset(t, [&](const TraceDataset& d, const auto& values, int last) {
    expect_size(where, d.name, values, count * T * (last ? to_hsize(last) : 1));
  });
  const hsize_t rd = layout_.delta_matrices ? r : 0;
  expect_size(where, "delta1", t.delta1, count * T * rd * rd);
  expect_size(where, "delta2", t.delta2, count * T * rd * rd);
  if (t.init_factors.size() != static_cast<std::size_t>(t.depth) ||
      t.final_factors.size() != static_cast<std::size_t>(t.depth))
    bad_block(where, "traces hold " + std::to_string(t.init_factors.size()) + "/" +
                         std::to_string(t.final_factors.size()) + " factors, expected " +
                         std::to_string(t.depth));
  const Shape shape{layout_.m,     layout_.n,         layout_.r,
                    layout_.depth, layout_.symmetric, layout_.weighted};
  for (int k = 0; k < t.depth; ++k) {
    const hsize_t size = count * to_hsize(shape.rows(k)) * to_hsize(shape.cols(k));
    expect_size(where, "init factor", t.init_factors[static_cast<std::size_t>(k)], size);
    expect_size(where, "final factor", t.final_factors[static_cast<std::size_t>(k)], size);
  }

  for_each_trace_dataset(t, [&](const TraceDataset& d, const auto& values, int last) {
    std::vector<hsize_t> start{c, first, 0}, block{1, count, T};
    if (last) {
      start.push_back(0);
      block.push_back(to_hsize(last));
    }
    impl_->write(std::string("/trace/") + d.name, f64, start, block, values.data());
  });
  impl_->write("/trace/delta1", f64, {c, first, 0, 0, 0}, {1, count, T, rd, rd}, t.delta1.data());
  impl_->write("/trace/delta2", f64, {c, first, 0, 0, 0}, {1, count, T, rd, rd}, t.delta2.data());
  for (int k = 0; k < t.depth; ++k) {
    const std::vector<hsize_t> start{c, first, 0, 0},
        block{1, count, to_hsize(shape.rows(k)), to_hsize(shape.cols(k))};
    impl_->write(factor_name("init", k), f64, start, block,
                 t.init_factors[static_cast<std::size_t>(k)].data());
    impl_->write(factor_name("final", k), f64, start, block,
                 t.final_factors[static_cast<std::size_t>(k)].data());
  }
}

SeedTraces RunFile::read_traces(long cell, const CellProblem& cp) const {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  if (!impl_) throw RuntimeFailure("run file " + partial_path_ + ": read after commit");
  const std::string& where = impl_->where;
  if (cell < 0 || cell >= layout_.cells)
    bad_block(where, "trace cell " + std::to_string(cell) + " out of range");
  if (cp.shape.m != layout_.m || cp.shape.n != layout_.n || cp.shape.r != layout_.r ||
      cp.shape.depth != layout_.depth || cp.record_steps.size() != layout_.record_steps.size())
    bad_block(where, "read_traces: the cell problem does not match the layout");
  SeedTraces t;
  t.resize(0, layout_.traced, cp);
  const hsize_t c = to_hsize(cell), K = to_hsize(layout_.traced), T = to_hsize(t.steps),
                r = to_hsize(t.r);
  const hid_t f64 = H5T_NATIVE_DOUBLE;
  for_each_trace_dataset(t, [&](const TraceDataset& d, auto& values, int last) {
    std::vector<hsize_t> start{c, 0, 0}, block{1, K, T};
    if (last) {
      start.push_back(0);
      block.push_back(to_hsize(last));
    }
    impl_->read(std::string("/trace/") + d.name, f64, start, block, values.data());
  });
  const hsize_t rd = layout_.delta_matrices ? r : 0;
  impl_->read("/trace/delta1", f64, {c, 0, 0, 0, 0}, {1, K, T, rd, rd}, t.delta1.data());
  impl_->read("/trace/delta2", f64, {c, 0, 0, 0, 0}, {1, K, T, rd, rd}, t.delta2.data());
  for (int k = 0; k < t.depth; ++k) {
    const std::vector<hsize_t> start{c, 0, 0, 0},
        block{1, K, to_hsize(cp.shape.rows(k)), to_hsize(cp.shape.cols(k))};
    impl_->read(factor_name("init", k), f64, start, block,
                t.init_factors[static_cast<std::size_t>(k)].data());
    impl_->read(factor_name("final", k), f64, start, block,
                t.final_factors[static_cast<std::size_t>(k)].data());
  }
  return t;
}

void RunFile::write_summary(long cell, const CellStatistics& s) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  if (!impl_) throw RuntimeFailure("run file " + partial_path_ + ": write after commit");
  const std::string& where = impl_->where;
  if (cell < 0 || cell >= layout_.cells)
    bad_block(where, "summary cell " + std::to_string(cell) + " out of range");
  const std::size_t R = static_cast<std::size_t>(layout_.r), T = layout_.record_steps.size();
  if (s.hit_step.size() > R || s.hit_count.size() > R)
    bad_block(where, "summary has " + std::to_string(s.hit_step.size()) + " hit_step and " +
                         std::to_string(s.hit_count.size()) +
                         " hit_count modes, r = " + std::to_string(R));
  if (!s.loss_band.empty() && s.loss_band.size() != T)
    bad_block(where, "summary loss_band has " + std::to_string(s.loss_band.size()) +
                         " steps, T = " + std::to_string(T));
  if (!s.sv_band.empty() && s.sv_band.size() != T * R)
    bad_block(where, "summary sv_band has " + std::to_string(s.sv_band.size()) +
                         " entries, T x r = " + std::to_string(T * R));
  // Flattened (and padded) rows.
  auto flat = [](const std::vector<Quantiles>& q, std::size_t entries) {
    std::vector<double> v(entries * kQ, kNaN);
    for (std::size_t i = 0; i < q.size() && i < entries; ++i)
      std::copy(q[i].begin(), q[i].end(), v.begin() + i * kQ);
    return v;
  };
  std::vector<double> wilson;
  for (const auto& bounds : s.status_wilson95)
    wilson.insert(wilson.end(), bounds.begin(), bounds.end());
  std::vector<std::int64_t> hit_count(R, 0);
  std::copy(s.hit_count.begin(), s.hit_count.end(), hit_count.begin());
  const std::vector<double> hit_step = flat(s.hit_step, R), loss_band = flat(s.loss_band, T),
                            sv_band = flat(s.sv_band, T * R);
  const std::int64_t reached = s.steps_to_tol_reached;

  const hsize_t c = to_hsize(cell), Rh = R, Th = T;
  const hid_t f64 = H5T_NATIVE_DOUBLE, i64 = H5T_NATIVE_INT64;
  impl_->write("/summary/status_count", i64, {c, 0}, {1, 4}, s.status_count.data());
  impl_->write("/summary/status_fraction", f64, {c, 0}, {1, 4}, s.status_fraction.data());
  impl_->write("/summary/status_wilson95", f64, {c, 0, 0}, {1, 4, 2}, wilson.data());
  const struct {
    const char* name;
    const Quantiles& q;
  } quantiles[] = {
      {"final_loss", s.final_loss},        {"excess", s.excess},
      {"steps_to_tol", s.steps_to_tol},    {"uniformity_cv", s.uniformity_cv},
      {"order_kendall", s.order_kendall},  {"basin_converged", s.basin_converged},
      {"basin_closer", s.basin_closer},    {"final_lr_sharpness", s.final_lr_sharpness},
      {"recovery_error", s.recovery_error}};
  for (const auto& q : quantiles)
    impl_->write(std::string("/summary/") + q.name, f64, {c, 0}, {1, kQ}, q.q.data());
  impl_->write("/summary/steps_to_tol_reached", i64, {c}, {1}, &reached);
  impl_->write("/summary/hit_step", f64, {c, 0, 0}, {1, Rh, kQ}, hit_step.data());
  impl_->write("/summary/hit_count", i64, {c, 0}, {1, Rh}, hit_count.data());
  impl_->write("/summary/defined_count", i64, {c, 0}, {1, 2}, s.defined_count.data());
  impl_->write("/summary/loss_band", f64, {c, 0, 0}, {1, Th, kQ}, loss_band.data());
  impl_->write("/summary/sv_band", f64, {c, 0, 0, 0}, {1, Th, Rh, kQ}, sv_band.data());
  impl_->write("/summary/basin_pooled", f64, {c, 0}, {1, 2}, s.basin_pooled.data());
  std::vector<std::int64_t> det_count;
  std::vector<double> det_wilson;
  for (std::size_t k = 0; k < 2; ++k) {
    det_count.insert(det_count.end(), s.det_sign_count[k].begin(), s.det_sign_count[k].end());
    det_wilson.insert(det_wilson.end(), s.det_sign_wilson95[k].begin(),
                      s.det_sign_wilson95[k].end());
  }
  impl_->write("/summary/det_sign_count", i64, {c, 0, 0}, {1, 2, 2}, det_count.data());
  impl_->write("/summary/det_sign_wilson95", f64, {c, 0, 0}, {1, 2, 2}, det_wilson.data());
}

void RunFile::commit() {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  if (!impl_) throw RuntimeFailure("run file " + final_path_ + ": commit after commit");
  const std::string where = "run file " + final_path_ + " (partial " + partial_path_ + ")";
  impl_->ok(H5Fflush(impl_->file.get(), H5F_SCOPE_GLOBAL), "flushing");
  impl_->close_all();
  impl_.reset();
  // The final file is a copy of the partial with the netCDF-4 view added (netcdf_view), written
  // beside it and renamed over the final path once synced; the partial is removed only then. A
  // failure or a kill before the rename leaves the partial as it was.
  const std::string committing = final_path_ + ".committing";
  try {
    write_final_file(partial_path_, committing, layout_);
  } catch (...) {
    ::unlink(committing.c_str());
    throw;
  }
  const std::string failed = sync_and_rename(committing, final_path_);
  if (!failed.empty()) {
    ::unlink(committing.c_str());
    throw RuntimeFailure(where + ": cannot move the final file " + committing +
                         " into place: " + failed);
  }
  committed_ = true;
  ::unlink(partial_path_.c_str());
  sync_directory_of(final_path_);
}

void RunFile::write_final_file(const std::string& partial, const std::string& target,
                               const OutputLayout& layout) {
  // A byte copy, then the view added to it: HDF5's own object copy crashes when the disk fills
  // under it (1.10), a plain copy reports ENOSPC.
  const std::string failed = copy_file(partial, target);
  if (!failed.empty())
    throw RuntimeFailure("run file " + target + ": cannot copy " + partial + " to it: " + failed);
  Impl final_file;
  final_file.where = "run file " + target;
  final_file.file =
      FileHandle(final_file.id(H5Fopen(target.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), "opening it"));
  final_file.write_netcdf_view(plan_of(layout), layout);
  final_file.ok(H5Fflush(final_file.file.get(), H5F_SCOPE_GLOBAL), "flushing");
  final_file.ok(final_file.file.close(), "closing");
}

}  // namespace specsweep
