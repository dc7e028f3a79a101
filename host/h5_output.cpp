// The run file (DESIGN section 6) through the HDF5 C API.
//
// Layout decisions:
// - Every dataset of the contract is created by the constructor with its final shape, so a
//   reader always finds the same names. Regions never written hold the fill value: NaN for
//   floating data, -1 for integers (status -1 = "seed not written", see its "unwritten" attribute).
// - Zero traced seeds (K = 0): the trace datasets are still created, with a zero-length traced
//   axis (e.g. /trace/loss is C x 0 x T). Datasets with a zero dimension use contiguous layout
//   (HDF5 cannot chunk a zero-sized fixed dimension); h5py and xarray open them as empty arrays.
//   K is clamped to S (there are no more traced seeds than seeds).
// - Per-seed data is chunked (outcomes: 1 x min(S, 65536) [x r]; traces: 1 x K x T x ...),
//   halved along the leading non-cell axes until a chunk is at most 512 KiB, and compressed with
//   shuffle + deflate level 1 when the library can encode deflate. Datasets stay open between
//   writes, with a chunk cache of a few chunks, so block-by-block writes of one cell update cached
//   chunks instead of recompressing (and reallocating) them per block.
// - Object modification times are not stored, so identical runs give identical files.
// - The file is written as <final>.tmp-<pid> beside the final path and renamed over it by
//   commit() after an fsync; anything else leaves the final path untouched.
#include "h5_output.hpp"

#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/factorization.hpp"
#include "errors.hpp"

namespace specsweep {

namespace {

// Debian's serial HDF5 is not thread-safe: every HDF5 call made here holds this lock.
std::mutex& hdf5_mutex() {
  static std::mutex mutex;
  return mutex;
}

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
constexpr std::int32_t kIntFill = -1;
constexpr hsize_t kMaxSeedChunk = 65536;
constexpr hsize_t kChunkBytes = 512 * 1024;
constexpr std::size_t kChunkCacheBytes = 4 * 1024 * 1024;

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
    if (chunk[i] > 1) chunk[i] = (chunk[i] + 1) / 2;
    else ++i;
  }
  return chunk;
}

bool deflate_encoder_available() {
  const htri_t avail = H5Zfilter_avail(H5Z_FILTER_DEFLATE);
  if (avail <= 0) return false;
  unsigned config = 0;
  if (H5Zget_filter_info(H5Z_FILTER_DEFLATE, &config) < 0) return false;
  return (config & H5Z_FILTER_CONFIG_ENCODE_ENABLED) != 0;
}

hsize_t to_hsize(long v) { return v > 0 ? static_cast<hsize_t>(v) : 0; }

std::string join_dims(const std::vector<hsize_t>& dims) {
  std::string s;
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
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
  std::string axes;  // names of the dimensions, space separated
};

}  // namespace

struct RunFile::Impl {
  std::string where;  // "run file <final> (temporary <tmp>)", for messages
  std::string temp_path;
  FileHandle file;
  std::map<std::string, DatasetHandle> datasets;
  bool compress = false;

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

  void string_attribute(hid_t object, const std::string& object_name, const char* name,
                        const std::string& value) const {
    const std::string what = "writing string attribute " + object_name + "@" + name;
    TypeHandle type(id(H5Tcopy(H5T_C_S1), what));
    ok(H5Tset_size(type.get(), H5T_VARIABLE), what);
    ok(H5Tset_cset(type.get(), H5T_CSET_UTF8), what);
    SpaceHandle space(id(H5Screate(H5S_SCALAR), what));
    AttributeHandle attr(
        id(H5Acreate2(object, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), what));
    const char* text = value.c_str();
    ok(H5Awrite(attr.get(), type.get(), &text), what);
    ok(attr.close(), what);
  }

  void uint64_attribute(hid_t object, const std::string& object_name, const char* name,
                        std::uint64_t value) const {
    const std::string what = "writing attribute " + object_name + "@" + name;
    SpaceHandle space(id(H5Screate(H5S_SCALAR), what));
    AttributeHandle attr(
        id(H5Acreate2(object, name, H5T_STD_U64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), what));
    ok(H5Awrite(attr.get(), H5T_NATIVE_UINT64, &value), what);
    ok(attr.close(), what);
  }

  void group(const std::string& name, const std::string& description) const {
    const std::string what = "creating group " + name;
    PlistHandle gcpl(id(H5Pcreate(H5P_GROUP_CREATE), what));
    ok(H5Pset_obj_track_times(gcpl.get(), 0), what);
    GroupHandle g(id(H5Gcreate2(file.get(), name.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), what));
    string_attribute(g.get(), name, "description", description);
    ok(g.close(), what);
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
      if (compress) {
        ok(H5Pset_shuffle(dcpl.get()), what);
        ok(H5Pset_deflate(dcpl.get(), 1), what);
      }
    }
    PlistHandle dapl(id(H5Pcreate(H5P_DATASET_ACCESS), what));
    ok(H5Pset_chunk_cache(dapl.get(), H5D_CHUNK_CACHE_NSLOTS_DEFAULT, kChunkCacheBytes,
                          H5D_CHUNK_CACHE_W0_DEFAULT),
       what);
    DatasetHandle ds(id(H5Dcreate2(file.get(), spec.name.c_str(), spec.file_type, space.get(),
                                   H5P_DEFAULT, dcpl.get(), dapl.get()),
                        what));
    if (!spec.description.empty()) string_attribute(ds.get(), spec.name, "description", spec.description);
    if (!spec.axes.empty()) string_attribute(ds.get(), spec.name, "dims", spec.axes);
    datasets.emplace(spec.name, std::move(ds));
  }

  hid_t open_dataset(const std::string& name) const {
    const auto it = datasets.find(name);
    if (it == datasets.end()) throw RuntimeFailure(where + ": no dataset " + name);
    return it->second.get();
  }

  // Writes `data` (dense, row-major, `count` shaped) into the hyperslab [start, start + count).
  void write(const std::string& name, hid_t memory_type, const std::vector<hsize_t>& start,
             const std::vector<hsize_t>& count, const void* data) const {
    if (std::find(count.begin(), count.end(), hsize_t{0}) != count.end()) return;
    const std::string what = "writing " + name + " block at offset (" + join_dims(start) +
                             ") of shape (" + join_dims(count) + ")";
    const hid_t ds = open_dataset(name);
    SpaceHandle file_space(id(H5Dget_space(ds), what));
    ok(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                           nullptr),
       what);
    SpaceHandle memory_space(id(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), what));
    ok(H5Dwrite(ds, memory_type, memory_space.get(), file_space.get(), H5P_DEFAULT, data), what);
  }

  void close_all() {
    // Datasets first: the file closes only once nothing in it is open.
    for (auto& [name, ds] : datasets) ok(ds.close(), "closing dataset " + name);
    datasets.clear();
    ok(file.close(), "closing the file");
  }
};

namespace {

std::string factor_name(const char* which, int k) {
  return std::string("/trace/") + which + "/F" + std::to_string(k + 1);
}

[[noreturn]] void bad_block(const std::string& where, const std::string& what) {
  throw RuntimeFailure(where + ": " + what);
}

template <class V>
void expect_size(const std::string& where, const char* name, const V& v, hsize_t expected) {
  if (static_cast<hsize_t>(v.size()) != expected)
    bad_block(where, std::string(name) + " has " + std::to_string(v.size()) + " values, expected " +
                         std::to_string(expected));
}

}  // namespace

RunFile::RunFile(std::string final_path, const OutputLayout& layout, const RunAttributes& attributes)
    : final_path_(std::move(final_path)),
      temp_path_(final_path_ + ".tmp-" + std::to_string(static_cast<long>(::getpid()))),
      layout_(layout) {
  const std::string where = "run file " + final_path_ + " (temporary " + temp_path_ + ")";
  if (layout_.cells < 0 || layout_.seeds < 0 || layout_.traced < 0 || layout_.m < 1 ||
      layout_.n < 1 || layout_.r < 1 || layout_.depth < 1 || layout_.spectrum_length < 0)
    throw RuntimeFailure(where + ": invalid output layout");
  layout_.traced = std::min(layout_.traced, layout_.seeds);

  std::lock_guard<std::mutex> lock(hdf5_mutex());
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors are reported by exceptions instead

  auto impl = std::make_unique<Impl>();
  impl->where = where;
  impl->temp_path = temp_path_;
  impl->compress = deflate_encoder_available();
  bool created = false;
  try {
    PlistHandle fapl(impl->id(H5Pcreate(H5P_FILE_ACCESS), "creating file access properties"));
#if H5_VERSION_GE(1, 10, 7)
    // Parallel file systems without flock() (some Lustre setups) should not make output fail.
    impl->ok(H5Pset_file_locking(fapl.get(), true, true), "setting file locking");
#endif
    impl->file = FileHandle(impl->id(H5Fcreate(temp_path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()),
                                     "cannot create the temporary file"));
    created = true;
    const hid_t root = impl->file.get();

    impl->string_attribute(root, "/", "specsweep_version", attributes.specsweep_version);
    impl->string_attribute(root, "/", "config", attributes.config);
    impl->uint64_attribute(root, "/", "master_seed", attributes.master_seed);
    impl->string_attribute(root, "/", "backend", attributes.backend);
    impl->string_attribute(root, "/", "precision", attributes.precision);
    impl->string_attribute(root, "/", "git_revision", attributes.git_revision);

    const hsize_t C = to_hsize(layout_.cells), S = to_hsize(layout_.seeds),
                  K = to_hsize(layout_.traced), T = static_cast<hsize_t>(layout_.record_steps.size()),
                  R = to_hsize(layout_.r), L = to_hsize(layout_.depth);
    const hsize_t seed_chunk = std::min(S, kMaxSeedChunk);
    const hid_t f64 = H5T_IEEE_F64LE, i32 = H5T_STD_I32LE, i8 = H5T_STD_I8LE;
    const hid_t nf64 = H5T_NATIVE_DOUBLE, ni32 = H5T_NATIVE_INT32, ni8 = H5T_NATIVE_INT8;

    impl->group("/outcome", "per-seed results at the end of the run; seed axis = seed index in the cell");
    impl->dataset({"/outcome/status", i8, ni8, {C, S}, {1, seed_chunk}, &kStatusFill,
                   "final status of each seed", "cell seed"});
    {
      const hid_t status = impl->open_dataset("/outcome/status");
      impl->string_attribute(status, "/outcome/status", "codes",
                             "0 converged, 1 stalled, 2 diverged, 3 unconverged");
      impl->string_attribute(status, "/outcome/status", "unwritten", "-1: seed not written (run incomplete)");
    }
    const struct {
      const char* name;
      const char* description;
    } per_seed[] = {
        {"final_loss", "loss 1/2 ||W - M||_F^2 + l2/2 sum_k ||F_k||_F^2 at the last step"},
        {"excess", "relative excess loss (loss - optimum) / (1/2 ||M||_F^2) at the last step"},
        {"final_grad_norm", "||grad f||_F over all factors at the last iterate"},
        {"uniformity_cv", "std(v)/mean(v) of the mode speeds v_i = sqrt(d_i(tau_i)) / tau_i"},
        {"order_kendall",
         "Kendall tau_b between hitting steps tau_i (never hit = +inf) and target values s_i; "
         "+1 smallest-first, -1 largest-first"},
    };
    for (const auto& d : per_seed)
      impl->dataset({std::string("/outcome/") + d.name, f64, nf64, {C, S}, {1, seed_chunk}, &kNaN,
                     d.description, "cell seed"});
    impl->dataset({"/outcome/steps_to_tol", i32, ni32, {C, S}, {1, seed_chunk}, &kIntFill,
                   "first step with excess <= record.loss_tolerance; -1: never", "cell seed"});
    impl->dataset({"/outcome/hit_step", i32, ni32, {C, S, R}, {1, seed_chunk, R}, &kIntFill,
                   "first step with d_i >= (1 - hit_tolerance) s_i, per mode i; -1: never hit "
                   "(also for modes beyond min(r, rank M))",
                   "cell seed mode"});

    impl->group("/trace", "record-step traces of the traced seeds (seeds 0..K-1 of each cell); "
                          "trace axis k = seed index k");
    impl->group("/trace/init", "initial factors F1..FL of the traced seeds");
    impl->group("/trace/final", "final factors F1..FL of the traced seeds");
    impl->dataset({"/trace/step", i32, ni32, {T}, {}, nullptr, "the record steps", "step"});
    impl->write("/trace/step", ni32, {0}, {T}, layout_.record_steps.data());
    const struct {
      const char* name;
      hsize_t last;  // trailing axis length (0: none)
      const char* axes;
      const char* description;
    } traces[] = {
        {"loss", 0, "cell traced step", "loss 1/2 ||W - M||_F^2 + penalty"},
        {"alignment", 0, "cell traced step",
         "||off(U_r^T W V_r)||_F / ||diag(U_r^T W V_r)||_F"},
        {"effective_rank", 0, "cell traced step", "exp(-sum p_i log p_i), p_i = sigma_i / sum sigma_j"},
        {"delta1_norm", 0, "cell traced step", "||sqrt(F1^T F1) - sqrt(F2 F2^T)||_F (depth 2; NaN otherwise)"},
        {"delta2_norm", 0, "cell traced step", "||F1^T F1 - F2 F2^T||_F (depth 2; NaN otherwise)"},
        {"sv", R, "cell traced step mode", "singular values sigma_1 >= ... >= sigma_r of W"},
        {"core_diag", R, "cell traced step mode",
         "d_i = (U^T W V)_ii; NaN beyond min(r, rank M)"},
        {"factor_norm", L, "cell traced step factor", "||F_k||_F"},
    };
    for (const auto& d : traces) {
      std::vector<hsize_t> dims{C, K, T};
      if (d.last) dims.push_back(d.last);
      impl->dataset({std::string("/trace/") + d.name, f64, nf64, dims, dims, &kNaN, d.description, d.axes});
    }
    impl->dataset({"/trace/delta1", f64, nf64, {C, K, T, R, R}, {C, K, T, R, R}, &kNaN,
                   "Delta1 = sqrt(F1^T F1) - sqrt(F2 F2^T), r x r (depth 2; NaN otherwise)",
                   "cell traced step row col"});
    impl->dataset({"/trace/delta2", f64, nf64, {C, K, T, R, R}, {C, K, T, R, R}, &kNaN,
                   "Delta2 = F1^T F1 - F2 F2^T, r x r (depth 2; NaN otherwise)",
                   "cell traced step row col"});
    const Shape shape{layout_.m, layout_.n, layout_.r, layout_.depth};
    for (int k = 0; k < layout_.depth; ++k) {
      const hsize_t rows = to_hsize(shape.rows(k)), cols = to_hsize(shape.cols(k));
      for (const char* which : {"init", "final"}) {
        const std::vector<hsize_t> dims{C, K, rows, cols};
        impl->dataset({factor_name(which, k), f64, nf64, dims, dims, &kNaN,
                       std::string(which) + " factor F" + std::to_string(k + 1) + " (" +
                           std::to_string(rows) + " x " + std::to_string(cols) + ", row-major)",
                       "cell traced row col"});
      }
    }

    impl->group("/target", "the target M = U diag(s) V^T of each cell");
    impl->dataset({"/target/M", f64, nf64, {C, to_hsize(layout_.m), to_hsize(layout_.n)},
                   {1, to_hsize(layout_.m), to_hsize(layout_.n)}, &kNaN, "target matrix (m x n)",
                   "cell row col"});
    impl->dataset({"/target/spectrum", f64, nf64, {C, to_hsize(layout_.spectrum_length)}, {}, &kNaN,
                   "target singular values s_i as configured", "cell mode"});
  } catch (...) {
    impl.reset();  // closes everything still open
    if (created) std::remove(temp_path_.c_str());
    throw;
  }
  impl_ = std::move(impl);
}

RunFile::~RunFile() {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  impl_.reset();
  if (!committed_) std::remove(temp_path_.c_str());
}

void RunFile::write_target(long cell, const Target& target) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  if (!impl_) throw RuntimeFailure("run file " + final_path_ + ": write after commit");
  const std::string& where = impl_->where;
  if (cell < 0 || cell >= layout_.cells) bad_block(where, "target cell " + std::to_string(cell) + " out of range");
  if (target.m != layout_.m || target.n != layout_.n)
    bad_block(where, "target is " + std::to_string(target.m) + " x " + std::to_string(target.n) +
                         ", layout " + std::to_string(layout_.m) + " x " + std::to_string(layout_.n));
  const hsize_t c = to_hsize(cell), m = to_hsize(layout_.m), n = to_hsize(layout_.n),
                p = to_hsize(layout_.spectrum_length);
  expect_size(where, "target M", target.M, m * n);
  expect_size(where, "target spectrum", target.spectrum, p);
  impl_->write("/target/M", H5T_NATIVE_DOUBLE, {c, 0, 0}, {1, m, n}, target.M.data());
  impl_->write("/target/spectrum", H5T_NATIVE_DOUBLE, {c, 0}, {1, p}, target.spectrum.data());
}

void RunFile::write_outcomes(long cell, const SeedOutcomes& o) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  if (!impl_) throw RuntimeFailure("run file " + final_path_ + ": write after commit");
  const std::string& where = impl_->where;
  if (cell < 0 || cell >= layout_.cells) bad_block(where, "outcome cell " + std::to_string(cell) + " out of range");
  if (o.first_seed < 0 || o.count < 0 || o.first_seed + o.count > layout_.seeds)
    bad_block(where, "outcome seeds [" + std::to_string(o.first_seed) + ", " +
                         std::to_string(o.first_seed + o.count) + ") outside [0, " +
                         std::to_string(layout_.seeds) + ")");
  if (o.r != layout_.r) bad_block(where, "outcome rank " + std::to_string(o.r) + " != " + std::to_string(layout_.r));
  const hsize_t c = to_hsize(cell), first = to_hsize(o.first_seed), count = to_hsize(o.count),
                r = to_hsize(layout_.r);
  expect_size(where, "status", o.status, count);
  expect_size(where, "final_loss", o.final_loss, count);
  expect_size(where, "excess", o.excess, count);
  expect_size(where, "final_grad_norm", o.final_grad_norm, count);
  expect_size(where, "uniformity_cv", o.uniformity_cv, count);
  expect_size(where, "order_kendall", o.order_kendall, count);
  expect_size(where, "steps_to_tol", o.steps_to_tol, count);
  expect_size(where, "hit_step", o.hit_step, count * r);
  const std::vector<hsize_t> start{c, first}, shape{1, count};
  impl_->write("/outcome/status", H5T_NATIVE_INT8, start, shape, o.status.data());
  impl_->write("/outcome/final_loss", H5T_NATIVE_DOUBLE, start, shape, o.final_loss.data());
  impl_->write("/outcome/excess", H5T_NATIVE_DOUBLE, start, shape, o.excess.data());
  impl_->write("/outcome/final_grad_norm", H5T_NATIVE_DOUBLE, start, shape, o.final_grad_norm.data());
  impl_->write("/outcome/uniformity_cv", H5T_NATIVE_DOUBLE, start, shape, o.uniformity_cv.data());
  impl_->write("/outcome/order_kendall", H5T_NATIVE_DOUBLE, start, shape, o.order_kendall.data());
  impl_->write("/outcome/steps_to_tol", H5T_NATIVE_INT32, start, shape, o.steps_to_tol.data());
  impl_->write("/outcome/hit_step", H5T_NATIVE_INT32, {c, first, 0}, {1, count, r}, o.hit_step.data());
}

void RunFile::write_traces(long cell, const SeedTraces& t) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  if (!impl_) throw RuntimeFailure("run file " + final_path_ + ": write after commit");
  const std::string& where = impl_->where;
  if (cell < 0 || cell >= layout_.cells) bad_block(where, "trace cell " + std::to_string(cell) + " out of range");
  if (t.first_seed < 0 || t.count < 0 || t.first_seed + t.count > layout_.traced)
    bad_block(where, "traced seeds [" + std::to_string(t.first_seed) + ", " +
                         std::to_string(t.first_seed + t.count) + ") outside [0, " +
                         std::to_string(layout_.traced) + ")");
  if (t.steps != static_cast<int>(layout_.record_steps.size()) || t.r != layout_.r || t.depth != layout_.depth)
    bad_block(where, "traces are T=" + std::to_string(t.steps) + " r=" + std::to_string(t.r) +
                         " L=" + std::to_string(t.depth) + ", layout T=" +
                         std::to_string(layout_.record_steps.size()) + " r=" + std::to_string(layout_.r) +
                         " L=" + std::to_string(layout_.depth));
  const hsize_t c = to_hsize(cell), first = to_hsize(t.first_seed), count = to_hsize(t.count),
                T = to_hsize(t.steps), r = to_hsize(t.r), L = to_hsize(t.depth);
  const hid_t f64 = H5T_NATIVE_DOUBLE;
  const struct {
    const char* name;
    const std::vector<double>& values;
    hsize_t last;
  } per_step[] = {
      {"loss", t.loss, 0},           {"alignment", t.alignment, 0}, {"effective_rank", t.effective_rank, 0},
      {"delta1_norm", t.delta1_norm, 0}, {"delta2_norm", t.delta2_norm, 0}, {"sv", t.sv, r},
      {"core_diag", t.core_diag, r}, {"factor_norm", t.factor_norm, L},
  };
  for (const auto& d : per_step) expect_size(where, d.name, d.values, count * T * (d.last ? d.last : 1));
  expect_size(where, "delta1", t.delta1, count * T * r * r);
  expect_size(where, "delta2", t.delta2, count * T * r * r);
  if (t.init_factors.size() != static_cast<std::size_t>(t.depth) ||
      t.final_factors.size() != static_cast<std::size_t>(t.depth))
    bad_block(where, "traces hold " + std::to_string(t.init_factors.size()) + "/" +
                         std::to_string(t.final_factors.size()) + " factors, expected " +
                         std::to_string(t.depth));
  const Shape shape{layout_.m, layout_.n, layout_.r, layout_.depth};
  for (int k = 0; k < t.depth; ++k) {
    const hsize_t size = count * to_hsize(shape.rows(k)) * to_hsize(shape.cols(k));
    expect_size(where, "init factor", t.init_factors[static_cast<std::size_t>(k)], size);
    expect_size(where, "final factor", t.final_factors[static_cast<std::size_t>(k)], size);
  }

  for (const auto& d : per_step) {
    std::vector<hsize_t> start{c, first, 0}, shape_block{1, count, T};
    if (d.last) {
      start.push_back(0);
      shape_block.push_back(d.last);
    }
    impl_->write(std::string("/trace/") + d.name, f64, start, shape_block, d.values.data());
  }
  impl_->write("/trace/delta1", f64, {c, first, 0, 0, 0}, {1, count, T, r, r}, t.delta1.data());
  impl_->write("/trace/delta2", f64, {c, first, 0, 0, 0}, {1, count, T, r, r}, t.delta2.data());
  for (int k = 0; k < t.depth; ++k) {
    const std::vector<hsize_t> start{c, first, 0, 0},
        block{1, count, to_hsize(shape.rows(k)), to_hsize(shape.cols(k))};
    impl_->write(factor_name("init", k), f64, start, block, t.init_factors[static_cast<std::size_t>(k)].data());
    impl_->write(factor_name("final", k), f64, start, block, t.final_factors[static_cast<std::size_t>(k)].data());
  }
}

void RunFile::commit() {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  if (!impl_) throw RuntimeFailure("run file " + final_path_ + ": commit after commit");
  const std::string where = impl_->where;
  impl_->ok(H5Fflush(impl_->file.get(), H5F_SCOPE_GLOBAL), "flushing");
  impl_->close_all();
  impl_.reset();
  // Make the contents durable before the rename makes them visible under the final name.
  const int fd = ::open(temp_path_.c_str(), O_RDONLY);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    throw RuntimeFailure(where + ": cannot sync the temporary file: " + std::strerror(err));
  }
  ::close(fd);
  if (std::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    const int err = errno;
    throw RuntimeFailure(where + ": cannot rename the temporary file over the final path: " +
                         std::strerror(err));
  }
  committed_ = true;
  // Best effort: persist the directory entry too.
  const std::size_t slash = final_path_.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : final_path_.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace specsweep
