// The run file (DESIGN section 6): written through RunFile, read back with the HDF5 C API (and,
// when available, with h5py), checking every dataset's shape, type and values, the root
// attributes, that a run that does not commit never disturbs the final path, and that a partial
// file resumes (after keep_partial or a kill) into the same file as an uninterrupted run.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend.hpp"
#include "errors.hpp"
#include "h5_output.hpp"
#include "problem.hpp"
#include "statistics.hpp"
#include "temp_dir_test.hpp"

namespace specsweep {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Test problem and known values.

struct Case {
  long cells = 1, seeds = 5, traced = 2;
  long unit_seeds = 0;  // 0: one unit per cell
  std::vector<int> steps{0, 5, 10};
  int m = 4, n = 6, r = 3, depth = 2;
  int spectrum_length = 3;
  bool delta_matrices = true;  // record.delta_matrices

  Shape shape() const { return Shape{m, n, r, depth}; }
  long T() const { return static_cast<long>(steps.size()); }
};

OutputLayout layout_of(const Case& c) {
  OutputLayout l;
  l.cells = c.cells;
  l.seeds = c.seeds;
  l.traced = c.traced;
  l.record_steps = c.steps;
  l.m = c.m;
  l.n = c.n;
  l.r = c.r;
  l.depth = c.depth;
  l.spectrum_length = c.spectrum_length;
  l.unit_seeds = c.unit_seeds;
  l.delta_matrices = c.delta_matrices;
  for (long cell = 0; cell < c.cells; ++cell)
    l.cell_configs.push_back("[cell]\nindex = " + std::to_string(cell) + "\n");
  return l;
}

CellProblem problem_of(const Case& c) {
  CellProblem cp;
  cp.shape = c.shape();
  cp.record_steps = c.steps;
  cp.modes = std::min(c.r, c.spectrum_length);
  cp.config.record.delta_matrices = c.delta_matrices;
  return cp;
}

const std::uint64_t kMasterSeed = (std::uint64_t{1} << 63) + 5;  // needs all 64 bits

RunAttributes attributes() {
  RunAttributes a;
  a.specsweep_version = "0.1.0-test";
  a.config = "[problem]\nm = 4  # σ ≥ 0\n";
  a.master_seed = kMasterSeed;
  a.backend = "cpu";
  a.precision = "fp64";
  a.git_revision = "abc1234";
  return a;
}

// Outcome fields, indexed: 0 final_loss, 1 excess, 2 final_grad_norm, 3 uniformity_cv,
// 4 order_kendall, 5 basin_converged, 6 basin_closer, 7 init_det_sign, 8 window_loss,
// 9 final_sharpness, 10 final_lr_sharpness, 11 recovery_error.
double outcome_value(int field, long cell, long seed) {
  return field * 1000.0 + cell * 100.0 + seed + 0.25;
}
std::int8_t status_value(long cell, long seed) {
  return static_cast<std::int8_t>((cell + seed) % 4);
}
std::int32_t steps_value(long cell, long seed) {
  return seed == 1 ? -1 : static_cast<std::int32_t>(cell * 1000 + seed * 10);
}
std::int32_t hit_value(long cell, long seed, long q, int r) {
  return q == r - 1 ? -1 : static_cast<std::int32_t>(cell * 1000 + seed * 10 + q);
}

SeedOutcomes outcomes_of(const Case& c, long cell, long first, long count) {
  SeedOutcomes o;
  o.resize(first, count, c.r);
  for (long i = 0; i < count; ++i) {
    const long s = first + i;
    o.status[i] = status_value(cell, s);
    o.final_loss[i] = outcome_value(0, cell, s);
    o.excess[i] = outcome_value(1, cell, s);
    o.final_grad_norm[i] = outcome_value(2, cell, s);
    o.uniformity_cv[i] = outcome_value(3, cell, s);
    o.order_kendall[i] = outcome_value(4, cell, s);
    o.basin_converged[i] = outcome_value(5, cell, s);
    o.basin_closer[i] = outcome_value(6, cell, s);
    o.init_det_sign[i] = outcome_value(7, cell, s);
    o.window_loss[i] = outcome_value(8, cell, s);
    o.final_sharpness[i] = outcome_value(9, cell, s);
    o.final_lr_sharpness[i] = outcome_value(10, cell, s);
    o.recovery_error[i] = outcome_value(11, cell, s);
    o.steps_to_tol[i] = steps_value(cell, s);
    for (long q = 0; q < c.r; ++q) o.hit_step[i * c.r + q] = hit_value(cell, s, q, c.r);
  }
  return o;
}

// Trace values: per dataset id, cell, traced seed and flat index j within the seed's block.
double trace_value(int id, long cell, long seed, long j) {
  return id * 1e6 + cell * 1e5 + seed * 1e3 + j + 0.5;
}

// Dataset ids for traces: 0 loss, 1 alignment, 2 effective_rank, 3 delta1_norm, 4 delta2_norm,
// 5 sv, 6 core_diag, 7 factor_norm, 8 delta1, 9 delta2, 10 + k init F(k+1), 20 + k final F(k+1),
// 30 block_alignment, 40 sharpness, 41 step_sharpness, 42 spectral_entropy, 43 orth_error,
// 44 orth_band_min, 45 orth_band_max, 46 recovery_error.
SeedTraces traces_of(const Case& c, long cell, long first, long count) {
  SeedTraces t;
  t.resize(first, count, problem_of(c));
  std::vector<std::vector<double>*> arrays{
      &t.loss, &t.alignment, &t.effective_rank, &t.delta1_norm, &t.delta2_norm,
      &t.sv,   &t.core_diag, &t.factor_norm,    &t.delta1,      &t.delta2};
  auto fill = [&](int id, std::vector<double>& v) {
    const long per_seed = count ? static_cast<long>(v.size()) / count : 0;
    for (long i = 0; i < count; ++i)
      for (long j = 0; j < per_seed; ++j) v[i * per_seed + j] = trace_value(id, cell, first + i, j);
  };
  for (int id = 0; id < static_cast<int>(arrays.size()); ++id) fill(id, *arrays[id]);
  fill(30, t.block_alignment);
  fill(40, t.sharpness);
  fill(41, t.step_sharpness);
  fill(42, t.spectral_entropy);
  fill(43, t.orth_error);
  fill(44, t.orth_band_min);
  fill(45, t.orth_band_max);
  fill(46, t.recovery_error);
  for (int k = 0; k < c.depth; ++k) {
    fill(10 + k, t.init_factors[k]);
    fill(20 + k, t.final_factors[k]);
  }
  return t;
}

Target target_of(const Case& c, long cell) {
  Target t;
  t.m = c.m;
  t.n = c.n;
  for (int i = 0; i < c.spectrum_length; ++i) t.spectrum.push_back(cell + c.spectrum_length - i);
  t.M.resize(static_cast<size_t>(c.m) * c.n);
  for (size_t i = 0; i < t.M.size(); ++i) t.M[i] = cell * 100.0 + 0.5 * i;
  return t;
}

void write_unit(RunFile& file, const Case& c, long cell, long unit);

// Writes every cell; outcomes in blocks of `block` seeds, traces in one block.
void write_case(const std::string& path, const Case& c, long block) {
  RunFile file = RunFile::create(path, layout_of(c), attributes());
  for (long cell = 0; cell < c.cells; ++cell) {
    file.write_target(cell, target_of(c, cell));
    for (long first = 0; first < c.seeds; first += block)
      file.write_outcomes(cell, outcomes_of(c, cell, first, std::min(block, c.seeds - first)));
    if (c.traced > 0) file.write_traces(cell, traces_of(c, cell, 0, c.traced));
  }
  file.commit();
}

// ---------------------------------------------------------------------------------------------
// Reading back with the C API.

template <herr_t (*Close)(hid_t)>
struct Id {
  hid_t id;
  explicit Id(hid_t i) : id(i) {}
  ~Id() {
    if (id >= 0) Close(id);
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
};

struct Data {
  std::vector<hsize_t> dims;
  H5T_class_t type_class = H5T_NO_CLASS;
  size_t type_size = 0;
  H5T_sign_t sign = H5T_SGN_ERROR;
  H5T_order_t order = H5T_ORDER_ERROR;
  std::vector<double> values;        // converted by HDF5
  std::vector<std::string> strings;  // string datasets
};

std::vector<std::string> read_strings(hid_t file, const std::string& name);

Data read_dataset(hid_t file, const std::string& name) {
  Data d;
  Id<H5Dclose> ds(H5Dopen2(file, name.c_str(), H5P_DEFAULT));
  if (ds.id < 0) throw std::runtime_error("no dataset " + name);
  Id<H5Sclose> space(H5Dget_space(ds.id));
  const int rank = H5Sget_simple_extent_ndims(space.id);
  d.dims.resize(rank);
  H5Sget_simple_extent_dims(space.id, d.dims.data(), nullptr);
  Id<H5Tclose> type(H5Dget_type(ds.id));
  d.type_class = H5Tget_class(type.id);
  d.type_size = H5Tget_size(type.id);
  d.order = H5Tget_order(type.id);
  if (d.type_class == H5T_INTEGER) d.sign = H5Tget_sign(type.id);
  if (d.type_class == H5T_STRING) {
    d.strings = read_strings(file, name);
    return d;
  }
  hsize_t total = 1;
  for (hsize_t v : d.dims) total *= v;
  d.values.resize(total);
  if (total > 0 &&
      H5Dread(ds.id, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, d.values.data()) < 0)
    throw std::runtime_error("cannot read " + name);
  return d;
}

std::string read_string_attribute(hid_t object, const char* name) {
  Id<H5Aclose> attr(H5Aopen(object, name, H5P_DEFAULT));
  if (attr.id < 0) throw std::runtime_error(std::string("no attribute ") + name);
  Id<H5Tclose> type(H5Aget_type(attr.id));
  EXPECT_EQ(H5Tget_class(type.id), H5T_STRING) << name;
  EXPECT_EQ(H5Tget_cset(type.id), H5T_CSET_UTF8) << name;
  if (H5Tis_variable_str(type.id) > 0) {
    Id<H5Tclose> memory(H5Tcopy(H5T_C_S1));
    H5Tset_size(memory.id, H5T_VARIABLE);
    H5Tset_cset(memory.id, H5T_CSET_UTF8);
    char* text = nullptr;
    if (H5Aread(attr.id, memory.id, &text) < 0 || !text)
      throw std::runtime_error("cannot read attribute");
    std::string s(text);
    H5free_memory(text);
    return s;
  }
  std::string s(H5Tget_size(type.id), '\0');
  H5Aread(attr.id, type.id, s.data());
  return s.substr(0, s.find('\0'));
}

std::string dataset_string_attribute(hid_t file, const std::string& dataset, const char* name) {
  Id<H5Dclose> ds(H5Dopen2(file, dataset.c_str(), H5P_DEFAULT));
  return read_string_attribute(ds.id, name);
}

// A 1-D variable-length string dataset.
std::vector<std::string> read_strings(hid_t file, const std::string& name) {
  Id<H5Dclose> ds(H5Dopen2(file, name.c_str(), H5P_DEFAULT));
  if (ds.id < 0) throw std::runtime_error("no dataset " + name);
  Id<H5Sclose> space(H5Dget_space(ds.id));
  const hssize_t n = H5Sget_simple_extent_npoints(space.id);
  Id<H5Tclose> stored(H5Dget_type(ds.id));
  EXPECT_EQ(H5Tget_class(stored.id), H5T_STRING) << name;
  EXPECT_EQ(H5Tget_cset(stored.id), H5T_CSET_UTF8) << name;
  Id<H5Tclose> memory(H5Tcopy(H5T_C_S1));
  H5Tset_size(memory.id, H5T_VARIABLE);
  H5Tset_cset(memory.id, H5T_CSET_UTF8);
  std::vector<char*> texts(static_cast<size_t>(n), nullptr);
  std::vector<std::string> out;
  if (n > 0 && H5Dread(ds.id, memory.id, H5S_ALL, H5S_ALL, H5P_DEFAULT, texts.data()) < 0)
    throw std::runtime_error("cannot read " + name);
  for (char* t : texts) out.emplace_back(t ? t : "");
  if (n > 0) H5Dvlen_reclaim(memory.id, space.id, H5P_DEFAULT, texts.data());
  return out;
}

bool same(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || a == b;
}

void expect_type(const Data& d, H5T_class_t cls, size_t size, const std::string& name) {
  EXPECT_EQ(d.type_class, cls) << name;
  EXPECT_EQ(d.type_size, size) << name;
  EXPECT_EQ(d.order, H5T_ORDER_LE) << name;
  if (cls == H5T_INTEGER) {
    EXPECT_EQ(d.sign, H5T_SGN_2) << name;
  }
}

// Checks a dataset laid out as [cell][index][per-index block]: value(cell, index, j).
template <class F>
void expect_values(const Data& d, long cells, long per_cell, F value, const std::string& name) {
  const long per_index =
      per_cell && cells ? static_cast<long>(d.values.size()) / (cells * per_cell) : 0;
  ASSERT_EQ(static_cast<long>(d.values.size()), cells * per_cell * per_index) << name;
  for (long c = 0; c < cells; ++c)
    for (long i = 0; i < per_cell; ++i)
      for (long j = 0; j < per_index; ++j) {
        const double got = d.values[(c * per_cell + i) * per_index + j];
        const double want = value(c, i, j);
        if (!same(got, want)) {
          ADD_FAILURE() << name << "[" << c << "][" << i << "][" << j << "] = " << got << ", want "
                        << want;
          return;
        }
      }
}

using Dims = std::vector<hsize_t>;

// Verifies every dataset and attribute of a file written by write_case.
void verify_case(const std::string& path, const Case& c) {
  Id<H5Fclose> file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  ASSERT_GE(file.id, 0) << path;
  const hsize_t C = c.cells, S = c.seeds, K = c.traced, T = c.T(), R = c.r, L = c.depth;

  // Root attributes.
  EXPECT_EQ(read_string_attribute(file.id, "specsweep_version"), "0.1.0-test");
  EXPECT_EQ(read_string_attribute(file.id, "config"), attributes().config);
  EXPECT_EQ(read_string_attribute(file.id, "backend"), "cpu");
  EXPECT_EQ(read_string_attribute(file.id, "precision"), "fp64");
  EXPECT_EQ(read_string_attribute(file.id, "git_revision"), "abc1234");
  {
    Id<H5Aclose> attr(H5Aopen(file.id, "master_seed", H5P_DEFAULT));
    ASSERT_GE(attr.id, 0);
    Id<H5Tclose> type(H5Aget_type(attr.id));
    EXPECT_EQ(H5Tget_class(type.id), H5T_INTEGER);
    EXPECT_EQ(H5Tget_size(type.id), 8u);
    EXPECT_EQ(H5Tget_sign(type.id), H5T_SGN_NONE);
    std::uint64_t seed = 0;
    ASSERT_GE(H5Aread(attr.id, H5T_NATIVE_UINT64, &seed), 0);
    EXPECT_EQ(seed, kMasterSeed);
  }

  // Outcomes.
  {
    const Data d = read_dataset(file.id, "/outcome/status");
    EXPECT_EQ(d.dims, (Dims{C, S}));
    expect_type(d, H5T_INTEGER, 1, "status");
    expect_values(
        d, c.cells, c.seeds, [](long cell, long s, long) { return double(status_value(cell, s)); },
        "status");
    EXPECT_EQ(dataset_string_attribute(file.id, "/outcome/status", "codes"),
              "0 converged, 1 stalled, 2 diverged, 3 unconverged");
  }
  const char* fields[] = {
      "final_loss",    "excess",          "final_grad_norm",    "uniformity_cv",
      "order_kendall", "basin_converged", "basin_closer",       "init_det_sign",
      "window_loss",   "final_sharpness", "final_lr_sharpness", "recovery_error"};
  for (int f = 0; f < 12; ++f) {
    const std::string name = std::string("/outcome/") + fields[f];
    const Data d = read_dataset(file.id, name);
    EXPECT_EQ(d.dims, (Dims{C, S})) << name;
    expect_type(d, H5T_FLOAT, 8, name);
    expect_values(
        d, c.cells, c.seeds, [f](long cell, long s, long) { return outcome_value(f, cell, s); },
        name);
  }
  {
    const Data d = read_dataset(file.id, "/outcome/steps_to_tol");
    EXPECT_EQ(d.dims, (Dims{C, S}));
    expect_type(d, H5T_INTEGER, 4, "steps_to_tol");
    expect_values(
        d, c.cells, c.seeds, [](long cell, long s, long) { return double(steps_value(cell, s)); },
        "steps_to_tol");
  }
  {
    const Data d = read_dataset(file.id, "/outcome/hit_step");
    EXPECT_EQ(d.dims, (Dims{C, S, R}));
    expect_type(d, H5T_INTEGER, 4, "hit_step");
    expect_values(
        d, c.cells, c.seeds,
        [&](long cell, long s, long q) { return double(hit_value(cell, s, q, c.r)); }, "hit_step");
    EXPECT_NE(
        dataset_string_attribute(file.id, "/outcome/hit_step", "description").find("-1: never hit"),
        std::string::npos);
  }

  // Traces.
  {
    const Data d = read_dataset(file.id, "/trace/step");
    EXPECT_EQ(d.dims, (Dims{T}));
    expect_type(d, H5T_INTEGER, 4, "step");
    EXPECT_EQ(d.values, std::vector<double>(c.steps.begin(), c.steps.end()));
  }
  const hsize_t RD = c.delta_matrices ? R : 0;
  const struct {
    const char* name;
    int id;
    Dims dims;
  } traces[] = {
      {"loss", 0, {C, K, T}},
      {"alignment", 1, {C, K, T}},
      {"effective_rank", 2, {C, K, T}},
      {"delta1_norm", 3, {C, K, T}},
      {"delta2_norm", 4, {C, K, T}},
      {"sv", 5, {C, K, T, R}},
      {"core_diag", 6, {C, K, T, R}},
      {"factor_norm", 7, {C, K, T, L}},
      {"delta1", 8, {C, K, T, RD, RD}},
      {"delta2", 9, {C, K, T, RD, RD}},
      {"block_alignment", 30, {C, K, T, 3}},
      {"sharpness", 40, {C, K, T}},
      {"step_sharpness", 41, {C, K, T}},
      {"spectral_entropy", 42, {C, K, T}},
      {"orth_error", 43, {C, K, T, L}},
      {"orth_band_min", 44, {C, K, T, L}},
      {"orth_band_max", 45, {C, K, T, L}},
      {"recovery_error", 46, {C, K, T}},
  };
  for (const auto& t : traces) {
    const std::string name = std::string("/trace/") + t.name;
    const Data d = read_dataset(file.id, name);
    EXPECT_EQ(d.dims, t.dims) << name;
    expect_type(d, H5T_FLOAT, 8, name);
    const int id = t.id;
    expect_values(
        d, c.cells, c.traced,
        [id](long cell, long s, long j) { return trace_value(id, cell, s, j); }, name);
  }
  const Shape shape = c.shape();
  for (int k = 0; k < c.depth; ++k) {
    for (int which = 0; which < 2; ++which) {
      const std::string name =
          std::string(which ? "/trace/final/F" : "/trace/init/F") + std::to_string(k + 1);
      const Data d = read_dataset(file.id, name);
      EXPECT_EQ(d.dims, (Dims{C, K, hsize_t(shape.rows(k)), hsize_t(shape.cols(k))})) << name;
      expect_type(d, H5T_FLOAT, 8, name);
      const int id = (which ? 20 : 10) + k;
      expect_values(
          d, c.cells, c.traced,
          [id](long cell, long s, long j) { return trace_value(id, cell, s, j); }, name);
    }
  }
  // No factor beyond the depth.
  EXPECT_LE(
      H5Lexists(file.id, ("/trace/init/F" + std::to_string(c.depth + 1)).c_str(), H5P_DEFAULT), 0);

  // Target.
  {
    const Data d = read_dataset(file.id, "/target/M");
    EXPECT_EQ(d.dims, (Dims{C, hsize_t(c.m), hsize_t(c.n)}));
    expect_type(d, H5T_FLOAT, 8, "M");
    expect_values(
        d, c.cells, 1, [&](long cell, long, long j) { return target_of(c, cell).M[j]; }, "M");
  }
  {
    const Data d = read_dataset(file.id, "/target/spectrum");
    EXPECT_EQ(d.dims, (Dims{C, hsize_t(c.spectrum_length)}));
    expect_type(d, H5T_FLOAT, 8, "spectrum");
    expect_values(
        d, c.cells, 1, [&](long cell, long, long j) { return target_of(c, cell).spectrum[j]; },
        "spectrum");
  }

  // Cells, progress, summary (not written by write_case).
  {
    std::int64_t unit_seeds = 0;
    Id<H5Aclose> attr(H5Aopen(file.id, "unit_seeds", H5P_DEFAULT));
    ASSERT_GE(attr.id, 0);
    ASSERT_GE(H5Aread(attr.id, H5T_NATIVE_INT64, &unit_seeds), 0);
    EXPECT_EQ(unit_seeds, c.unit_seeds > 0 ? c.unit_seeds : std::max(1L, c.seeds));
    const hsize_t U = c.seeds ? (c.seeds + unit_seeds - 1) / unit_seeds : 0;
    EXPECT_EQ(read_dataset(file.id, "/progress/unit_done").dims, (Dims{C, U}));
  }
  EXPECT_EQ(read_strings(file.id, "/cells/config"), layout_of(c).cell_configs);
  EXPECT_EQ(read_dataset(file.id, "/summary/quantile_levels").values,
            std::vector<double>(kQuantileLevels.begin(), kQuantileLevels.end()));
  EXPECT_EQ(read_dataset(file.id, "/summary/status_count").dims, (Dims{C, 4}));
  EXPECT_EQ(read_dataset(file.id, "/summary/sv_band").dims, (Dims{C, T, R, 5}));
}

// Every dataset's values, by name, for comparing two files.
std::vector<std::pair<std::string, Data>> all_datasets(const std::string& path) {
  std::vector<std::string> names;
  Id<H5Fclose> file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (file.id < 0) throw std::runtime_error("cannot open " + path);
  H5Ovisit(
      file.id, H5_INDEX_NAME, H5_ITER_INC,
      [](hid_t, const char* name, const H5O_info_t* info, void* data) -> herr_t {
        if (info->type == H5O_TYPE_DATASET)
          static_cast<std::vector<std::string>*>(data)->push_back(name);
        return 0;
      },
      &names);
  std::vector<std::pair<std::string, Data>> out;
  for (const auto& n : names) out.emplace_back(n, read_dataset(file.id, n));
  return out;
}

// Every numeric dataset of two files has the same shape and values (NaN equal to NaN).
void expect_same_datasets(const std::string& a, const std::string& b) {
  const auto one = all_datasets(a);
  const auto two = all_datasets(b);
  ASSERT_EQ(one.size(), two.size());
  EXPECT_GE(one.size(), 20u);
  for (size_t i = 0; i < one.size(); ++i) {
    ASSERT_EQ(one[i].first, two[i].first);
    EXPECT_EQ(one[i].second.dims, two[i].second.dims) << one[i].first;
    EXPECT_EQ(one[i].second.strings, two[i].second.strings) << one[i].first;
    ASSERT_EQ(one[i].second.values.size(), two[i].second.values.size()) << one[i].first;
    for (size_t j = 0; j < one[i].second.values.size(); ++j)
      ASSERT_TRUE(same(one[i].second.values[j], two[i].second.values[j]))
          << one[i].first << "[" << j << "]: " << one[i].second.values[j] << " vs "
          << two[i].second.values[j];
  }
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A fresh directory per test (tests may run in parallel processes).
class RunFileTest : public testing::TempDirTest {
 protected:
  // run.h5.partial with unit 0 of cell 0 finished, as a stopped run leaves it.
  void keep_partial_with_a_finished_unit(const Case& c) {
    RunFile file = RunFile::create(path("run.h5"), layout_of(c), attributes());
    write_unit(file, c, 0, 0);
    file.keep_partial();
  }
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

// ---------------------------------------------------------------------------------------------

TEST(SeedBuffers, OutcomesResizeFillsUnconverged) {
  SeedOutcomes o;
  o.resize(7, 4, 3);
  EXPECT_EQ(o.first_seed, 7);
  EXPECT_EQ(o.count, 4);
  EXPECT_EQ(o.r, 3);
  EXPECT_EQ(o.status, std::vector<std::int8_t>(4, static_cast<std::int8_t>(Status::unconverged)));
  for (const auto* v :
       {&o.final_loss, &o.excess, &o.final_grad_norm, &o.uniformity_cv, &o.order_kendall,
        &o.basin_converged, &o.basin_closer, &o.init_det_sign, &o.window_loss, &o.final_sharpness,
        &o.final_lr_sharpness, &o.recovery_error}) {
    ASSERT_EQ(v->size(), 4u);
    for (double x : *v) EXPECT_TRUE(std::isnan(x));
  }
  EXPECT_EQ(o.steps_to_tol, std::vector<std::int32_t>(4, -1));
  EXPECT_EQ(o.hit_step, std::vector<std::int32_t>(12, -1));
  // Reuse refills.
  o.final_loss[0] = 1;
  o.status[0] = 0;
  o.resize(0, 2, 1);
  EXPECT_TRUE(std::isnan(o.final_loss[0]));
  EXPECT_EQ(o.status[0], 3);
  EXPECT_EQ(o.hit_step.size(), 2u);
}

TEST(SeedBuffers, TracesResizeShapes) {
  for (int depth : {2, 3}) {
    Case c;
    c.depth = depth;
    SeedTraces t;
    t.resize(1, 2, problem_of(c));
    EXPECT_EQ(t.first_seed, 1);
    EXPECT_EQ(t.count, 2);
    EXPECT_EQ(t.steps, 3);
    EXPECT_EQ(t.r, 3);
    EXPECT_EQ(t.depth, depth);
    for (const auto* v :
         {&t.loss, &t.recovery_error, &t.alignment, &t.effective_rank, &t.spectral_entropy,
          &t.delta1_norm, &t.delta2_norm, &t.sharpness, &t.step_sharpness})
      EXPECT_EQ(v->size(), 2u * 3);
    for (const auto* v : {&t.orth_error, &t.orth_band_min, &t.orth_band_max})
      EXPECT_EQ(v->size(), 2u * 3 * depth);
    EXPECT_EQ(t.sv.size(), 2u * 3 * 3);
    EXPECT_EQ(t.core_diag.size(), 2u * 3 * 3);
    EXPECT_EQ(t.factor_norm.size(), 2u * 3 * depth);
    EXPECT_EQ(t.block_alignment.size(), 2u * 3 * 3);
    EXPECT_EQ(t.delta1.size(), 2u * 3 * 9);
    EXPECT_EQ(t.delta2.size(), 2u * 3 * 9);
    ASSERT_EQ(t.init_factors.size(), size_t(depth));
    ASSERT_EQ(t.final_factors.size(), size_t(depth));
    for (int k = 0; k < depth; ++k) {
      const size_t want = 2u * c.shape().rows(k) * c.shape().cols(k);
      EXPECT_EQ(t.init_factors[k].size(), want);
      EXPECT_EQ(t.final_factors[k].size(), want);
      for (double x : t.final_factors[k]) EXPECT_TRUE(std::isnan(x));
    }
    EXPECT_EQ(t.init_factors[0].size(), 2u * 4 * 3);          // m x r
    EXPECT_EQ(t.init_factors[depth - 1].size(), 2u * 3 * 6);  // r x n
    for (double x : t.delta2) EXPECT_TRUE(std::isnan(x));
  }
  SeedTraces none;
  Case c;
  none.resize(0, 0, problem_of(c));
  EXPECT_TRUE(none.loss.empty());
  EXPECT_EQ(none.init_factors.size(), 2u);
}

TEST_F(RunFileTest, RoundTripDepth2) {
  Case c;
  write_case(path("run.h5"), c, c.seeds);
  verify_case(path("run.h5"), c);
  EXPECT_EQ(listing(), std::vector<std::string>{"run.h5"});
}

TEST_F(RunFileTest, RoundTripDepth3) {
  Case c;
  c.depth = 3;
  write_case(path("run.h5"), c, c.seeds);
  verify_case(path("run.h5"), c);
}

TEST_F(RunFileTest, RoundTripTwoCellsRankAboveSpectrum) {
  Case c;
  c.cells = 2;
  c.r = 4;
  c.spectrum_length = 2;
  write_case(path("run.h5"), c, 2);
  verify_case(path("run.h5"), c);
}

TEST_F(RunFileTest, ZeroTracedSeedsGiveEmptyTraceDatasets) {
  Case c;
  c.traced = 0;
  write_case(path("run.h5"), c, c.seeds);
  verify_case(path("run.h5"), c);
  Id<H5Fclose> file(H5Fopen(path("run.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  EXPECT_EQ(read_dataset(file.id, "/trace/loss").dims, (Dims{1, 0, 3}));
  EXPECT_EQ(read_dataset(file.id, "/trace/init/F1").dims, (Dims{1, 0, 4, 3}));
}

// Without record.delta_matrices the r x r traces are 0 x 0 (the names stay, nothing is stored) and
// everything else round-trips as before.
TEST_F(RunFileTest, DeltaMatricesOffGiveEmptyDeltaDatasets) {
  Case c;
  c.delta_matrices = false;
  write_case(path("run.h5"), c, c.seeds);
  verify_case(path("run.h5"), c);
  Id<H5Fclose> file(H5Fopen(path("run.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  EXPECT_EQ(read_dataset(file.id, "/trace/delta1").dims, (Dims{1, 2, 3, 0, 0}));
  EXPECT_EQ(read_dataset(file.id, "/trace/delta2").dims, (Dims{1, 2, 3, 0, 0}));
  EXPECT_EQ(read_dataset(file.id, "/trace/delta1_norm").dims, (Dims{1, 2, 3}));
}

// Every axis of extent 1 (r = 1, K = 0 and 1, T = 1, S = 1, C = 1, depth 3) round-trips: a
// per-seed array with one value per mode must not be taken for one without a mode axis.
TEST_F(RunFileTest, RoundTripWithAxesOfExtentOne) {
  std::vector<Case> cases;
  for (long traced : {0L, 1L})
    for (int depth : {2, 3}) {
      Case c;
      c.r = 1;
      c.spectrum_length = 1;
      c.traced = traced;
      c.depth = depth;
      cases.push_back(c);
      c.steps = {7};
      c.seeds = 1;
      cases.push_back(c);
    }
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    const Case& c = cases[i];
    const std::string name = path("run" + std::to_string(i) + ".h5");
    write_case(name, c, 1);
    verify_case(name, c);
    // And through the reader the driver uses, after a resume.
    {
      RunFile file = RunFile::create(name, layout_of(c), attributes());
      for (long u = 0; u < file.layout().units(); ++u) write_unit(file, c, 0, u);
      file.keep_partial();
    }
    RunFile file = RunFile::resume(name, layout_of(c), attributes());
    const SeedOutcomes o = file.read_outcomes(0);
    const SeedOutcomes want = outcomes_of(c, 0, 0, c.seeds);
    EXPECT_EQ(o.hit_step, want.hit_step);
    EXPECT_EQ(o.status, want.status);
    const SeedTraces t = file.read_traces(0, problem_of(c));
    EXPECT_EQ(t.sv, traces_of(c, 0, 0, c.traced).sv);
    file.commit();
  }
}

TEST_F(RunFileTest, TracedSeedsAreClampedToSeeds) {
  Case c;
  c.seeds = 2;
  OutputLayout layout = layout_of(c);
  layout.traced = 8;
  {
    RunFile file = RunFile::create(path("run.h5"), layout, attributes());
    file.write_traces(0, traces_of(c, 0, 0, 2));
    EXPECT_THROW(file.write_traces(0, traces_of(c, 0, 2, 1)), RuntimeFailure);
    file.commit();
  }
  Id<H5Fclose> file(H5Fopen(path("run.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  EXPECT_EQ(read_dataset(file.id, "/trace/sv").dims, (Dims{1, 2, 3, 3}));
}

TEST_F(RunFileTest, TwoOutcomeBlocksEqualOne) {
  Case c;
  write_case(path("one.h5"), c, c.seeds);
  write_case(path("two.h5"), c, 3);  // blocks [0, 3) and [3, 5)
  expect_same_datasets(path("one.h5"), path("two.h5"));
  verify_case(path("two.h5"), c);
}

TEST_F(RunFileTest, UnwrittenRegionsHoldFillValues) {
  Case c;
  c.cells = 2;
  {
    RunFile file = RunFile::create(path("run.h5"), layout_of(c), attributes());
    file.write_outcomes(1, outcomes_of(c, 1, 1, 2));  // only seeds 1, 2 of cell 1
    file.commit();
  }
  Id<H5Fclose> file(H5Fopen(path("run.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  const Data status = read_dataset(file.id, "/outcome/status");
  const Data loss = read_dataset(file.id, "/outcome/final_loss");
  const Data hit = read_dataset(file.id, "/outcome/hit_step");
  for (long cell = 0; cell < 2; ++cell)
    for (long s = 0; s < 5; ++s) {
      const bool written = cell == 1 && (s == 1 || s == 2);
      const long i = cell * 5 + s;
      EXPECT_EQ(status.values[i], written ? status_value(cell, s) : -1) << i;
      if (written) {
        EXPECT_EQ(loss.values[i], outcome_value(0, cell, s));
      } else {
        EXPECT_TRUE(std::isnan(loss.values[i])) << i;
        EXPECT_EQ(hit.values[i * 3], -1);
      }
    }
  for (double v : read_dataset(file.id, "/trace/loss").values) EXPECT_TRUE(std::isnan(v));
  for (double v : read_dataset(file.id, "/target/M").values) EXPECT_TRUE(std::isnan(v));
}

TEST_F(RunFileTest, PerSeedDatasetsAreChunkedAndCompressed) {
  Case c;
  write_case(path("run.h5"), c, c.seeds);
  Id<H5Fclose> file(H5Fopen(path("run.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  const bool deflate = H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0;
  for (const char* name : {"/outcome/status", "/outcome/excess", "/outcome/hit_step", "/trace/loss",
                           "/trace/final/F2"}) {
    Id<H5Dclose> ds(H5Dopen2(file.id, name, H5P_DEFAULT));
    Id<H5Pclose> dcpl(H5Dget_create_plist(ds.id));
    EXPECT_EQ(H5Pget_layout(dcpl.id), H5D_CHUNKED) << name;
    hsize_t chunk[8] = {};
    const int rank = H5Pget_chunk(dcpl.id, 8, chunk);
    ASSERT_GE(rank, 2) << name;
    EXPECT_EQ(chunk[0], 1u) << name;
    if (std::string(name).rfind("/outcome", 0) == 0) {
      EXPECT_EQ(chunk[1], 5u) << name;  // min(S, 65536)
    }
    unsigned flags = 0, filter_config = 0, values[4] = {};
    size_t count = 4;
    char filter_name[64];
    // Every chunk carries a checksum, computed last (over the stored bytes).
    const int filters = H5Pget_nfilters(dcpl.id);
    ASSERT_GE(filters, 1) << name;
    EXPECT_EQ(H5Pget_filter2(dcpl.id, unsigned(filters - 1), &flags, &count, values,
                             sizeof filter_name, filter_name, &filter_config),
              H5Z_FILTER_FLETCHER32)
        << name;
    if (deflate) {  // shuffle, then deflate level 1
      ASSERT_EQ(filters, 3) << name;
      count = 4;
      EXPECT_EQ(H5Pget_filter2(dcpl.id, 0, &flags, &count, values, sizeof filter_name, filter_name,
                               &filter_config),
                H5Z_FILTER_SHUFFLE)
          << name;
      count = 4;
      EXPECT_EQ(H5Pget_filter2(dcpl.id, 1, &flags, &count, values, sizeof filter_name, filter_name,
                               &filter_config),
                H5Z_FILTER_DEFLATE)
          << name;
      ASSERT_GE(count, 1u) << name;
      EXPECT_EQ(values[0], 1u) << name;
    }
  }
}

TEST_F(RunFileTest, DestroyWithoutCommitLeavesNothing) {
  Case c;
  {
    RunFile file = RunFile::create(path("run.h5"), layout_of(c), attributes());
    EXPECT_TRUE(fs::exists(file.partial_path()));
    EXPECT_EQ(fs::path(file.partial_path()).parent_path(), dir_);
    file.write_outcomes(0, outcomes_of(c, 0, 0, 5));
  }
  EXPECT_TRUE(listing().empty());
}

TEST_F(RunFileTest, FailedRunLeavesExistingFileUntouched) {
  Case c;
  write_case(path("run.h5"), c, c.seeds);
  const std::string good = file_bytes(path("run.h5"));
  ASSERT_FALSE(good.empty());
  Case other = c;
  other.seeds = 7;
  std::string temporary;
  try {
    RunFile file = RunFile::create(path("run.h5"), layout_of(other), attributes());
    temporary = file.partial_path();
    file.write_outcomes(0, outcomes_of(other, 0, 0, 7));
    EXPECT_EQ(file_bytes(path("run.h5")), good);
    throw std::runtime_error("simulated failure");
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "simulated failure");
  }
  EXPECT_FALSE(temporary.empty());
  EXPECT_FALSE(fs::exists(temporary));
  EXPECT_EQ(file_bytes(path("run.h5")), good);
  EXPECT_EQ(listing(), std::vector<std::string>{"run.h5"});
  verify_case(path("run.h5"), c);
}

TEST_F(RunFileTest, CommitReplacesExistingFile) {
  Case c;
  write_case(path("run.h5"), c, c.seeds);
  Case bigger = c;
  bigger.seeds = 9;
  write_case(path("run.h5"), bigger, 4);
  verify_case(path("run.h5"), bigger);
  EXPECT_EQ(listing(), std::vector<std::string>{"run.h5"});
}

TEST_F(RunFileTest, UnwritablePathThrowsRuntimeFailure) {
  Case c;
  const std::string missing = path("no/such/dir/run.h5");
  try {
    RunFile file = RunFile::create(missing, layout_of(c), attributes());
    ADD_FAILURE() << "no exception";
  } catch (const RuntimeFailure& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  if (::geteuid() != 0) {  // root ignores directory permissions
    fs::create_directories(path("readonly"));
    fs::permissions(path("readonly"), fs::perms::owner_read | fs::perms::owner_exec);
    EXPECT_THROW(RunFile::create(path("readonly/run.h5"), layout_of(c), attributes()),
                 RuntimeFailure);
    fs::permissions(path("readonly"), fs::perms::owner_all);
  }
  // The final path is a directory: creating works, the rename fails, and nothing is left behind.
  fs::create_directories(path("taken.h5/inside"));
  {
    RunFile file = RunFile::create(path("taken.h5"), layout_of(c), attributes());
    EXPECT_THROW(file.commit(), RuntimeFailure);
  }
  EXPECT_EQ(listing(), std::vector<std::string>{"taken.h5"});
}

TEST_F(RunFileTest, InconsistentWritesThrow) {
  Case c;
  RunFile file = RunFile::create(path("run.h5"), layout_of(c), attributes());
  EXPECT_THROW(file.write_outcomes(1, outcomes_of(c, 0, 0, 5)), RuntimeFailure);  // cell
  EXPECT_THROW(file.write_outcomes(0, outcomes_of(c, 0, 3, 3)), RuntimeFailure);  // past S
  SeedOutcomes short_block = outcomes_of(c, 0, 0, 2);
  short_block.excess.pop_back();
  EXPECT_THROW(file.write_outcomes(0, short_block), RuntimeFailure);
  EXPECT_THROW(file.write_traces(0, traces_of(c, 0, 1, 2)), RuntimeFailure);  // past K
  Case deeper = c;
  deeper.depth = 3;
  EXPECT_THROW(file.write_traces(0, traces_of(deeper, 0, 0, 2)), RuntimeFailure);
  Target wrong = target_of(c, 0);
  wrong.spectrum.push_back(0.5);
  EXPECT_THROW(file.write_target(0, wrong), RuntimeFailure);
  file.commit();
  EXPECT_THROW(file.write_outcomes(0, outcomes_of(c, 0, 0, 5)), RuntimeFailure);
  EXPECT_THROW(file.commit(), RuntimeFailure);
  EXPECT_TRUE(fs::exists(path("run.h5")));
}

// ---------------------------------------------------------------------------------------------
// Units, resume, read-back, summary, cells.

// Writes unit `unit` of the cell: its outcomes, the traces of the traced seeds in it, the mark.
void write_unit(RunFile& file, const Case& c, long cell, long unit) {
  const OutputLayout& l = file.layout();
  const long first = l.unit_first_seed(unit), count = l.unit_seed_count(unit);
  file.write_outcomes(cell, outcomes_of(c, cell, first, count));
  const long traced_end = std::min(first + count, l.traced);
  if (traced_end > first) file.write_traces(cell, traces_of(c, cell, first, traced_end - first));
  file.mark_unit_done(cell, unit);
}

CellStatistics statistics_of(const Case& c, long cell) {
  const double base = 10.0 * cell;
  CellStatistics s;
  s.seeds = c.seeds;
  for (int k = 0; k < 4; ++k) {
    s.status_count[k] = cell * 10 + k;
    s.status_fraction[k] = base + 0.1 * k;
    s.status_wilson95[k] = {base + 0.1 * k - 0.05, base + 0.1 * k + 0.05};
  }
  for (size_t q = 0; q < kQuantileLevels.size(); ++q) {
    s.final_loss[q] = base + 1 + 0.01 * q;
    s.excess[q] = base + 2 + 0.01 * q;
    s.steps_to_tol[q] = q == 4 ? std::numeric_limits<double>::infinity() : base + 3 + q;
    s.uniformity_cv[q] = base + 4 + 0.01 * q;
    s.order_kendall[q] = base + 5 + 0.01 * q;
    s.basin_converged[q] = base + 6 + 0.01 * q;
    s.basin_closer[q] = base + 7 + 0.01 * q;
  }
  s.steps_to_tol_reached = cell + 3;
  for (int i = 0; i < c.r; ++i) {
    Quantiles h;
    for (size_t q = 0; q < h.size(); ++q) h[q] = base + 100 * (i + 1) + q;
    s.hit_step.push_back(h);
    s.hit_count.push_back(cell * 100 + i);
  }
  s.defined_count = {cell + 1, cell + 2};
  for (long t = 0; t < c.T(); ++t) {
    Quantiles b;
    for (size_t q = 0; q < b.size(); ++q) b[q] = base + 1000 + 10 * t + q;
    s.loss_band.push_back(b);
    for (int i = 0; i < c.r; ++i) {
      for (size_t q = 0; q < b.size(); ++q) b[q] = base + 2000 + 100 * t + 10 * i + q;
      s.sv_band.push_back(b);
    }
  }
  s.basin_pooled = {base + 0.25, base + 0.75};
  s.det_sign_count = {{{cell + 20, cell + 10}, {cell + 30, cell}}};
  s.det_sign_wilson95 = {{{base + 0.125, base + 0.5}, {base + 0.0625, base + 0.25}}};
  return s;
}

// Writes a whole case unit by unit, with summaries, and commits.
void write_by_units(const std::string& path, const Case& c) {
  RunFile file = RunFile::create(path, layout_of(c), attributes());
  for (long cell = 0; cell < c.cells; ++cell) {
    file.write_target(cell, target_of(c, cell));
    for (long u = 0; u < file.layout().units(); ++u) write_unit(file, c, cell, u);
  }
  for (long cell = 0; cell < c.cells; ++cell) file.write_summary(cell, statistics_of(c, cell));
  file.commit();
}

Case unit_case() {
  Case c;
  c.cells = 2;
  c.seeds = 10;
  c.unit_seeds = 3;  // units [0,3) [3,6) [6,9) [9,10)
  c.traced = 4;      // traced seeds span units 0 and 1
  return c;
}

std::vector<std::int8_t> progress_in(const std::string& file_path) {
  Id<H5Fclose> file(H5Fopen(file_path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (file.id < 0) throw std::runtime_error("cannot open " + file_path);
  const Data d = read_dataset(file.id, "/progress/unit_done");
  EXPECT_EQ(d.type_class, H5T_INTEGER);
  EXPECT_EQ(d.type_size, 1u);
  return std::vector<std::int8_t>(d.values.begin(), d.values.end());
}

TEST(OutputLayoutUnits, UnitArithmetic) {
  OutputLayout l;
  l.seeds = 10;
  l.unit_seeds = 3;
  EXPECT_EQ(l.units(), 4);
  EXPECT_EQ(l.unit_first_seed(3), 9);
  EXPECT_EQ(l.unit_seed_count(3), 1);
  EXPECT_EQ(l.unit_seed_count(4), 0);
  l.unit_seeds = 0;  // one unit per cell
  EXPECT_EQ(l.units(), 1);
  EXPECT_EQ(l.unit_seed_count(0), 10);
  l.seeds = 0;
  EXPECT_EQ(l.units(), 0);
}

TEST_F(RunFileTest, UnitsAndSummaryRoundTrip) {
  const Case c = unit_case();
  write_by_units(path("run.h5"), c);
  verify_case(path("run.h5"), c);
  EXPECT_EQ(progress_in(path("run.h5")), std::vector<std::int8_t>(8, 1));
  // Unit-aligned outcome chunks.
  Id<H5Fclose> file(H5Fopen(path("run.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  Id<H5Dclose> ds(H5Dopen2(file.id, "/outcome/excess", H5P_DEFAULT));
  Id<H5Pclose> dcpl(H5Dget_create_plist(ds.id));
  hsize_t chunk[2] = {};
  ASSERT_EQ(H5Pget_chunk(dcpl.id, 2, chunk), 2);
  EXPECT_EQ(chunk[1], 3u);
}

TEST_F(RunFileTest, ResumeContinuesToTheSameFile) {
  const Case c = unit_case();
  write_by_units(path("straight.h5"), c);

  const std::string final_path = path("run.h5");
  EXPECT_FALSE(RunFile::partial_exists(final_path));
  {
    RunFile file = RunFile::create(final_path, layout_of(c), attributes());
    EXPECT_TRUE(RunFile::partial_exists(final_path));
    EXPECT_EQ(file.partial_path(), final_path + ".partial");
    file.write_target(0, target_of(c, 0));
    for (long u = 0; u < 4; ++u) write_unit(file, c, 0, u);
    write_unit(file, c, 1, 2);
    // Unit (1, 0): data written, but interrupted before its mark.
    file.write_outcomes(1, outcomes_of(c, 1, 0, 3));
    file.keep_partial();
  }
  EXPECT_EQ(listing(), (std::vector<std::string>{"run.h5.partial", "straight.h5"}));
  EXPECT_EQ(progress_in(final_path + ".partial"),
            (std::vector<std::int8_t>{1, 1, 1, 1, 0, 0, 1, 0}));
  {
    RunFile file = RunFile::resume(final_path, layout_of(c), attributes());
    EXPECT_EQ(file.units_done(), 5);
    file.write_target(1, target_of(c, 1));
    for (long cell = 0; cell < c.cells; ++cell)
      for (long u = 0; u < file.layout().units(); ++u)
        if (!file.unit_done(cell, u)) write_unit(file, c, cell, u);
    EXPECT_EQ(file.units_done(), 8);
    for (long cell = 0; cell < c.cells; ++cell) file.write_summary(cell, statistics_of(c, cell));
    file.commit();
  }
  EXPECT_EQ(listing(), (std::vector<std::string>{"run.h5", "straight.h5"}));
  expect_same_datasets(path("straight.h5"), final_path);
  verify_case(final_path, c);
}

TEST_F(RunFileTest, ResumeRecordsAnotherBackend) {
  const Case c = unit_case();
  {
    RunFile file = RunFile::create(path("run.h5"), layout_of(c), attributes());
    file.keep_partial();
  }
  RunAttributes other = attributes();
  other.backend = "cuda";
  for (int twice = 0; twice < 2; ++twice) {
    RunFile file = RunFile::resume(path("run.h5"), layout_of(c), other);
    file.keep_partial();
  }
  Id<H5Fclose> file(H5Fopen(path("run.h5.partial").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  EXPECT_EQ(read_string_attribute(file.id, "backend"), "cpu,cuda");
  EXPECT_EQ(read_string_attribute(file.id, "git_revision"), "abc1234");
}

TEST_F(RunFileTest, ResumeOfAnotherConfigIsAnInputError) {
  const Case c = unit_case();
  keep_partial_with_a_finished_unit(c);
  const std::string partial = path("run.h5.partial");
  const std::string before = file_bytes(partial);
  auto expect_refused = [&](const OutputLayout& layout, const RunAttributes& attrs,
                            const std::string& what) {
    try {
      RunFile file = RunFile::resume(path("run.h5"), layout, attrs);
      ADD_FAILURE() << "resumed despite: " << what;
    } catch (const InputError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(partial), std::string::npos) << message;
      EXPECT_NE(message.find("was written by a different config"), std::string::npos) << message;
      EXPECT_NE(message.find(what), std::string::npos) << message;
    }
    EXPECT_EQ(file_bytes(partial), before) << what;
  };
  RunAttributes attrs = attributes();
  attrs.config = "[problem]\nm = 5\n";
  expect_refused(layout_of(c), attrs, "line 2 is \"m = 4  # σ ≥ 0\" in the file, \"m = 5\" now");
  Case more = c;
  more.seeds = 11;
  expect_refused(layout_of(more), attributes(), "seeds S is 10 in the file, 11 now");
  Case units = c;
  units.unit_seeds = 5;
  expect_refused(layout_of(units), attributes(), "unit_seeds is 3 in the file, 5 now");
  Case deeper = c;
  deeper.depth = 3;
  expect_refused(layout_of(deeper), attributes(), "depth L is 2 in the file, 3 now");
  OutputLayout steps = layout_of(c);
  steps.record_steps = {0, 6, 10};
  expect_refused(steps, attributes(), "record steps differ");
  OutputLayout configs = layout_of(c);
  configs.cell_configs[1] += "x = 1\n";
  expect_refused(configs, attributes(), "config of cell 1 differs");
  OutputLayout swept = layout_of(c);
  SweepAxis axis;
  axis.key = "optimizer.lr";
  axis.numbers = {0.1, 0.2};
  swept.axes = {axis};
  expect_refused(swept, attributes(), "sweep axes are [] in the file, [optimizer.lr] now");
  // The same config resumes.
  RunFile file = RunFile::resume(path("run.h5"), layout_of(c), attributes());
  EXPECT_TRUE(file.unit_done(0, 0));
  EXPECT_FALSE(file.unit_done(0, 1));
}

TEST_F(RunFileTest, ResumeWithoutAUsablePartialIsAnInputError) {
  const Case c = unit_case();
  EXPECT_THROW(RunFile::resume(path("run.h5"), layout_of(c), attributes()), InputError);
  {
    std::ofstream junk(path("run.h5.partial"));
    junk << "not hdf5";
  }
  try {
    RunFile::resume(path("run.h5"), layout_of(c), attributes());
    ADD_FAILURE() << "resumed junk";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path("run.h5.partial")), std::string::npos) << e.what();
  }
  EXPECT_EQ(file_bytes(path("run.h5.partial")), "not hdf5");
  // A finished run file (no /progress) written by something else is not resumable either.
  fs::remove(path("run.h5.partial"));
  {
    Id<H5Fclose> other(
        H5Fcreate(path("run.h5.partial").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  }
  EXPECT_THROW(RunFile::resume(path("run.h5"), layout_of(c), attributes()), UnusablePartial);
  EXPECT_TRUE(fs::exists(path("run.h5.partial")));
}

// Where a chunk of a dataset lies in the file (HDF5's own index), to damage it.
std::pair<haddr_t, hsize_t> chunk_location(const std::string& file_path, const std::string& name,
                                           const std::vector<hsize_t>& offset) {
  Id<H5Fclose> file(H5Fopen(file_path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  Id<H5Dclose> ds(H5Dopen2(file.id, name.c_str(), H5P_DEFAULT));
  unsigned filters = 0;
  haddr_t address = HADDR_UNDEF;
  hsize_t size = 0;
  if (H5Dget_chunk_info_by_coord(ds.id, offset.data(), &filters, &address, &size) < 0)
    throw std::runtime_error("no chunk info for " + name);
  return {address, size};
}

void overwrite(const std::string& file_path, std::size_t at, const std::string& bytes) {
  std::fstream f(file_path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(at));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The partial a resume refuses stays byte for byte; the message names the file and the dataset.
void expect_refused_as_damaged(const std::string& final_path, const Case& c,
                               const std::string& dataset) {
  const std::string partial = final_path + ".partial";
  const std::string before = file_bytes(partial);
  try {
    RunFile file = RunFile::resume(final_path, layout_of(c), attributes());
    ADD_FAILURE() << "resumed a damaged partial";
  } catch (const UnusablePartial& e) {
    ADD_FAILURE() << "a partial with finished units is not unusable: " << e.what();
  } catch (const InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(partial), std::string::npos) << message;
    EXPECT_NE(message.find("is damaged"), std::string::npos) << message;
    EXPECT_NE(message.find(dataset), std::string::npos) << message;
  }
  EXPECT_EQ(file_bytes(partial), before);
}

// A changed chunk shape (bit flips in a layout message) makes HDF5 write past its buffers: resume
// must refuse it before writing anything.
TEST_F(RunFileTest, ResumeRefusesAChangedChunkShape) {
  const Case c = unit_case();
  keep_partial_with_a_finished_unit(c);
  // /summary/sv_band is C x T x r x Q = 2 x 3 x 3 x 5, chunked per cell: its layout message
  // holds the chunk (1, 3, 3, 5) and the element size 8 as 32-bit integers.
  const std::string partial = path("run.h5.partial");
  const std::string bytes = file_bytes(partial);
  const std::uint32_t chunk[] = {1, 3, 3, 5, 8};
  const std::string pattern(reinterpret_cast<const char*>(chunk), sizeof chunk);
  const std::size_t at = bytes.find(pattern);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(bytes.find(pattern, at + 1), std::string::npos) << "the pattern is not unique";
  const std::uint32_t seven = 7;
  overwrite(partial, at + 12, std::string(reinterpret_cast<const char*>(&seven), 4));
  expect_refused_as_damaged(path("run.h5"), c, "/summary/sv_band");
}

// The commit reads and rewrites attributes (it attaches dimension scales), so a damaged one must
// be refused at resume, not found after the remaining units ran. Each dataset's `dims` attribute
// in turn gets an impossible dataspace rank (a bit flip seen by the fault test).
TEST_F(RunFileTest, ResumeRefusesADamagedAttribute) {
  const Case c = unit_case();
  keep_partial_with_a_finished_unit(c);
  const std::string partial = path("run.h5.partial");
  const std::string pristine = file_bytes(partial);
  // An attribute message (version 1): version, reserved, then the sizes of the name (5 with its
  // NUL), datatype and dataspace; the name padded to 8 bytes, the datatype padded to 8, then the
  // dataspace: version, rank.
  const std::string name("dims\0", 5);
  int damaged = 0;
  for (std::size_t at = pristine.find(name); at != std::string::npos;
       at = pristine.find(name, at + 1)) {
    if (at < 8 || pristine[at - 8] != 1 || pristine[at - 6] != 5 || pristine[at - 5] != 0) continue;
    const std::size_t type_size = static_cast<unsigned char>(pristine[at - 4]) |
                                  static_cast<unsigned char>(pristine[at - 3]) << 8;
    const std::size_t rank_at = at + 8 + (type_size + 7) / 8 * 8 + 1;
    ASSERT_EQ(pristine[rank_at], 0) << "the dims attribute is not a scalar at " << rank_at;
    SCOPED_TRACE("attribute at byte " + std::to_string(at));
    overwrite(partial, rank_at, std::string(1, '\xc8'));
    expect_refused_as_damaged(path("run.h5"), c, "the attributes of /");
    overwrite(partial, rank_at, std::string(1, '\0'));
    ++damaged;
  }
  EXPECT_GE(damaged, 10) << "too few dims attributes found to damage";
  EXPECT_EQ(file_bytes(partial), pristine);
}

// A done unit whose compressed data no longer inflate is found when resuming, not at the end.
TEST_F(RunFileTest, ResumeRefusesUnreadableDataOfAFinishedUnit) {
  Case c = unit_case();
  c.seeds = 3000;
  c.unit_seeds = 1000;  // compressed outcome chunks of 1000 seeds
  for (const char* dataset : {"/outcome/excess", "/trace/sv"}) {
    SCOPED_TRACE(dataset);
    {
      RunFile file = RunFile::create(path("run.h5"), layout_of(c), attributes());
      write_unit(file, c, 1, 0);
      write_unit(file, c, 1, 2);
      file.keep_partial();
    }
    std::vector<hsize_t> cell1(std::string(dataset) == "/trace/sv" ? 4 : 2, 0);
    cell1[0] = 1;
    const auto [address, size] = chunk_location(path("run.h5.partial"), dataset, cell1);
    ASSERT_GT(size, 16u);
    overwrite(path("run.h5.partial"), address + size / 2, std::string(8, '\xff'));
    expect_refused_as_damaged(path("run.h5"), c, dataset);
    fs::remove(path("run.h5.partial"));
  }
}

// The bytes of a little-endian integer as they lie in the file.
template <class T>
std::string bytes_of(T value) {
  return std::string(reinterpret_cast<const char*>(&value), sizeof value);
}

// /summary is never read on resume, only rewritten in place: a chunk index entry pointing past
// the end of the file (a flipped high address bit, seen by the fault test) failed at the first
// flush with exit 3 after the partial had changed, and one pointing at another dataset's chunk
// would overwrite finished data. Both are refused before anything is written.
TEST_F(RunFileTest, ResumeRefusesChunksPastTheEndOrSharingBytes) {
  const Case c = unit_case();
  keep_partial_with_a_finished_unit(c);
  const std::string partial = path("run.h5.partial");
  const std::string pristine = file_bytes(partial);
  const auto summary = chunk_location(partial, "/summary/final_loss", {1, 0});
  const auto outcome = chunk_location(partial, "/outcome/excess", {0, 0});
  const std::string entry = bytes_of<std::uint64_t>(summary.first);
  const std::size_t at = pristine.find(entry);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(pristine.find(entry, at + 1), std::string::npos) << "the address is not unique";
  const struct {
    std::uint64_t address;
    const char* why;
  } damages[] = {{summary.first | std::uint64_t{1} << 35, "past the end of the file"},
                 {outcome.first, "overlap"}};
  for (const auto& damage : damages) {
    SCOPED_TRACE(damage.why);
    overwrite(partial, at, bytes_of(damage.address));
    expect_refused_as_damaged(path("run.h5"), c, "/summary/final_loss (chunk at 1 x 0)");
    try {
      RunFile::resume(path("run.h5"), layout_of(c), attributes());
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(damage.why), std::string::npos) << e.what();
    }
  }
  overwrite(partial, at, entry);
  EXPECT_EQ(file_bytes(partial), pristine);
  RunFile resumed = RunFile::resume(path("run.h5"), layout_of(c), attributes());
  EXPECT_EQ(resumed.units_done(), 1);
}

// Readers walk every object first (h5py's visititems; HDF5 then sums each chunk index, following
// the siblings of its B-tree nodes), which resume did not: a node whose missing sibling (all bits
// set) lost a bit was resumed, and the committed file did not open in h5py (the fault test).
TEST_F(RunFileTest, ResumeRefusesAChunkIndexThatReadersCannotWalk) {
  const Case c = unit_case();
  keep_partial_with_a_finished_unit(c);
  const std::string partial = path("run.h5.partial");
  const std::string pristine = file_bytes(partial);
  // A version 1 B-tree node: "TREE", its type (1: chunks), level and entries (2 bytes), then the
  // addresses of its left and right siblings, all bits set where there is none.
  const std::string undefined(8, '\xff');
  const std::size_t node = pristine.find("TREE\x01");
  ASSERT_NE(node, std::string::npos);
  ASSERT_EQ(pristine.substr(node + 16, 8), undefined);
  overwrite(partial, node + 16 + 6, "\xdf");  // the right sibling: readers follow that one
  expect_refused_as_damaged(path("run.h5"), c, "its objects cannot all be visited");
}

// The config fixes the master seed and the precision, and the commit keeps the file's: a damaged
// one would be reported as the run's.
TEST_F(RunFileTest, ResumeRefusesADamagedMasterSeedOrPrecision) {
  const Case c = unit_case();
  keep_partial_with_a_finished_unit(c);
  const std::string partial = path("run.h5.partial");
  const std::string pristine = file_bytes(partial);
  const struct {
    std::string stored, damaged, attribute;
  } damages[] = {{bytes_of(kMasterSeed), bytes_of(kMasterSeed ^ 2), "/@master_seed"},
                 {"fp64", "fp32", "/@precision"}};
  for (const auto& damage : damages) {
    SCOPED_TRACE(damage.attribute);
    const std::size_t at = pristine.find(damage.stored);
    ASSERT_NE(at, std::string::npos);
    ASSERT_EQ(pristine.find(damage.stored, at + 1), std::string::npos) << "not unique";
    overwrite(partial, at, damage.damaged);
    expect_refused_as_damaged(path("run.h5"), c, damage.attribute);
    overwrite(partial, at, damage.stored);
  }
  EXPECT_EQ(file_bytes(partial), pristine);
}

// Every string of a run file lies in a global heap collection, and HDF5 1.10 reads a collection
// whose object header is zeroed (index 0, size 0) forever: the fault test's zeroed blocks hung
// resume there. Reading that makes no progress ends the process with exit 2 and the message of a
// damaged partial, which is left as it was (a later HDF5 may refuse the collection itself: the
// same outcome through an InputError).
TEST_F(RunFileTest, ResumeOfAPartialWhoseReadingStallsExitsTwo) {
  const Case c = unit_case();
  keep_partial_with_a_finished_unit(c);
  const std::string partial = path("run.h5.partial");
  const std::string pristine = file_bytes(partial);
  // A collection: "GCOL", version 1, 3 reserved bytes, its size (8 bytes), then the objects,
  // each headed by its index (2 bytes), reference count (2), 4 reserved bytes and its size (8).
  int zeroed = 0;
  for (std::size_t at = pristine.find("GCOL\x01"); at != std::string::npos;
       at = pristine.find("GCOL\x01", at + 1), ++zeroed)
    overwrite(partial, at + 16, std::string(16, '\0'));
  ASSERT_GT(zeroed, 0) << "no global heap collection found";
  const std::string damaged = file_bytes(partial);
  const std::string final_path = path("run.h5");
  const Case resumed = c;
  EXPECT_EXIT(
      {
        ::setenv("SPECSWEEP_RESUME_STALL_SECONDS", "1", 1);
        try {
          RunFile::resume(final_path, layout_of(resumed), attributes());
        } catch (const InputError& e) {
          std::fprintf(stderr, "specsweep: error: %s\n", e.what());
          std::_Exit(2);
        }
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(2), partial + " is damaged");
  EXPECT_EQ(file_bytes(partial), damaged);
}

// HDF5 1.10 crashes on some damage (here: the size of a string in a global heap collection):
// checked in this process, resume would die with the partial's message never printed. The check
// runs in a child process, so the crash is one more kind of damage.
TEST_F(RunFileTest, ResumeOfAPartialOnWhichHdf5CrashesIsDamage) {
  const Case c = unit_case();
  keep_partial_with_a_finished_unit(c);
  const std::string partial = path("run.h5.partial");
  const std::string pristine = file_bytes(partial);
  // Each string of /cells/config lies in a global heap collection, after a header whose last 8
  // bytes are its size; each size gets 256 MiB more. The reader of a string dataset trusts it
  // and copies that many bytes from the collection's few KiB.
  int damaged_strings = 0;
  for (const std::string& config : layout_of(c).cell_configs)
    for (std::size_t at = pristine.find(config); at != std::string::npos;
         at = pristine.find(config, at + 1)) {
      std::uint64_t size = 0;
      std::memcpy(&size, pristine.data() + at - sizeof size, sizeof size);
      if (size != config.size()) continue;
      size += std::uint64_t{1} << 28;
      overwrite(partial, at - sizeof size,
                std::string(reinterpret_cast<const char*>(&size), sizeof size));
      ++damaged_strings;
    }
  ASSERT_EQ(damaged_strings, c.cells) << "the strings of /cells/config were not found";
  const std::string damaged = file_bytes(partial);
  const std::string final_path = path("run.h5");
  const Case resumed = c;
  // In this process: a signal, or the sanitizers' exit status 1 without abort_on_error.
  EXPECT_EXIT(
      {
        try {
          RunFile::resume(final_path, layout_of(resumed), attributes(), ReadIn::this_process);
        } catch (const std::exception&) {
        }
        std::_Exit(0);
      },
      [](int status) { return !WIFEXITED(status) || WEXITSTATUS(status) != 0; }, "")
      << "HDF5 no longer crashes on this damage: find other damage that it crashes on";
  try {
    RunFile::resume(final_path, layout_of(resumed), attributes());
    ADD_FAILURE() << "resumed a damaged partial";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(partial + " is damaged: HDF5 crashed reading it"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(file_bytes(partial), damaged);
}

// A partial whose creation never finished, or a damaged one with no finished unit, is nobody's
// work: UnusablePartial tells the driver it may start afresh.
TEST_F(RunFileTest, ResumeOfAPartialWithoutFinishedUnitsIsUnusable) {
  const Case c = unit_case();
  {
    Id<H5Fclose> other(
        H5Fcreate(path("run.h5.partial").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  }
  EXPECT_THROW(RunFile::resume(path("run.h5"), layout_of(c), attributes()), UnusablePartial);
  fs::remove(path("run.h5.partial"));
  {
    RunFile file = RunFile::create(path("run.h5"), layout_of(c), attributes());
    file.write_outcomes(1, outcomes_of(c, 1, 0, 3));  // written, never marked done
    file.keep_partial();
  }
  const auto [address, size] = chunk_location(path("run.h5.partial"), "/outcome/excess", {1, 0});
  ASSERT_GT(size, 16u);
  overwrite(path("run.h5.partial"), address + size / 2, std::string(8, '\xff'));
  EXPECT_THROW(RunFile::resume(path("run.h5"), layout_of(c), attributes()), UnusablePartial);
  EXPECT_TRUE(fs::exists(path("run.h5.partial")));
}

TEST_F(RunFileTest, ProgressPersistsAcrossReopen) {
  const Case c = unit_case();
  {
    RunFile file = RunFile::create(path("run.h5"), layout_of(c), attributes());
    EXPECT_EQ(file.units_done(), 0);
    write_unit(file, c, 1, 3);
    write_unit(file, c, 0, 1);
    file.mark_unit_done(0, 2);  // a mark without data (a writer's bug): resume does the unit again
    EXPECT_TRUE(file.unit_done(1, 3));
    EXPECT_TRUE(file.unit_done(0, 2));
    EXPECT_THROW(file.mark_unit_done(2, 0), RuntimeFailure);
    EXPECT_THROW(file.unit_done(0, 4), RuntimeFailure);
    // Flushed: visible to another reader while the writer still has the file open (HDF5's own
    // file lock aside, which forbids that, so read a copy).
    fs::copy_file(file.partial_path(), path("copy.h5"));
    file.keep_partial();
  }
  EXPECT_EQ(progress_in(path("copy.h5")), (std::vector<std::int8_t>{0, 1, 1, 0, 0, 0, 0, 1}));
  for (int round = 0; round < 2; ++round) {
    RunFile file = RunFile::resume(path("run.h5"), layout_of(c), attributes());
    EXPECT_EQ(file.units_done(), 2 + round);
    EXPECT_TRUE(file.unit_done(0, 1));
    EXPECT_TRUE(file.unit_done(1, 3));
    EXPECT_FALSE(file.unit_done(0, 0));
    EXPECT_FALSE(file.unit_done(0, 2));
    if (round == 0) write_unit(file, c, 1, 0);
    file.keep_partial();
  }
  EXPECT_EQ(progress_in(path("run.h5.partial")),
            (std::vector<std::int8_t>{0, 1, 0, 0, 1, 0, 0, 1}));
}

TEST_F(RunFileTest, ReadOutcomesAndTracesInvertTheWrites) {
  Case c = unit_case();
  c.depth = 3;
  RunFile file = RunFile::create(path("run.h5"), layout_of(c), attributes());
  file.write_outcomes(1, outcomes_of(c, 1, 0, 6));
  file.write_outcomes(1, outcomes_of(c, 1, 9, 1));
  file.write_traces(1, traces_of(c, 1, 0, 4));
  const SeedOutcomes o = file.read_outcomes(1);
  const SeedOutcomes want = outcomes_of(c, 1, 0, c.seeds);
  EXPECT_EQ(o.first_seed, 0);
  ASSERT_EQ(o.count, c.seeds);
  EXPECT_EQ(o.r, c.r);
  const auto written = [](long s) { return s < 6 || s == 9; };
  for (long s = 0; s < c.seeds; ++s) {
    const size_t i = static_cast<size_t>(s);
    if (written(s)) {
      EXPECT_EQ(o.status[i], want.status[i]) << s;
      EXPECT_EQ(o.final_loss[i], want.final_loss[i]) << s;
      EXPECT_EQ(o.excess[i], want.excess[i]) << s;
      EXPECT_EQ(o.final_grad_norm[i], want.final_grad_norm[i]) << s;
      EXPECT_EQ(o.uniformity_cv[i], want.uniformity_cv[i]) << s;
      EXPECT_EQ(o.order_kendall[i], want.order_kendall[i]) << s;
      EXPECT_EQ(o.basin_converged[i], want.basin_converged[i]) << s;
      EXPECT_EQ(o.basin_closer[i], want.basin_closer[i]) << s;
      EXPECT_EQ(o.init_det_sign[i], want.init_det_sign[i]) << s;
      EXPECT_EQ(o.steps_to_tol[i], want.steps_to_tol[i]) << s;
      for (int q = 0; q < c.r; ++q) EXPECT_EQ(o.hit_step[i * c.r + q], want.hit_step[i * c.r + q]);
    } else {
      EXPECT_EQ(o.status[i], -1) << s;
      EXPECT_TRUE(std::isnan(o.final_loss[i])) << s;
      EXPECT_TRUE(std::isnan(o.basin_closer[i])) << s;
      EXPECT_EQ(o.steps_to_tol[i], -1) << s;
    }
  }
  const SeedOutcomes untouched = file.read_outcomes(0);
  EXPECT_EQ(untouched.status, std::vector<std::int8_t>(10, -1));

  const SeedTraces t = file.read_traces(1, problem_of(c));
  const SeedTraces wt = traces_of(c, 1, 0, 4);
  EXPECT_EQ(t.first_seed, 0);
  EXPECT_EQ(t.count, 4);
  EXPECT_EQ(t.loss, wt.loss);
  EXPECT_EQ(t.alignment, wt.alignment);
  EXPECT_EQ(t.effective_rank, wt.effective_rank);
  EXPECT_EQ(t.delta1_norm, wt.delta1_norm);
  EXPECT_EQ(t.delta2_norm, wt.delta2_norm);
  EXPECT_EQ(t.sv, wt.sv);
  EXPECT_EQ(t.core_diag, wt.core_diag);
  EXPECT_EQ(t.factor_norm, wt.factor_norm);
  EXPECT_EQ(t.block_alignment, wt.block_alignment);
  EXPECT_EQ(t.delta1, wt.delta1);
  EXPECT_EQ(t.delta2, wt.delta2);
  EXPECT_EQ(t.init_factors, wt.init_factors);
  EXPECT_EQ(t.final_factors, wt.final_factors);
  Case other = c;
  other.r = 2;
  EXPECT_THROW(file.read_traces(1, problem_of(other)), RuntimeFailure);
  EXPECT_THROW(file.read_outcomes(2), RuntimeFailure);
  // After a resume, too (the file must be closed first: one writer at a time).
  file.keep_partial();
  { RunFile closing = std::move(file); }
  file = RunFile::resume(path("run.h5"), layout_of(c), attributes());
  EXPECT_EQ(file.read_traces(1, problem_of(c)).final_factors, wt.final_factors);
  EXPECT_EQ(file.read_outcomes(1).excess[9], want.excess[9]);
}

TEST_F(RunFileTest, WriteSummaryReadsBack) {
  Case c = unit_case();
  c.cells = 3;
  {
    RunFile file = RunFile::create(path("run.h5"), layout_of(c), attributes());
    file.write_summary(1, statistics_of(c, 1));
    CellStatistics few = statistics_of(c, 2);  // fewer modes, no traced seeds
    few.hit_step.resize(2);
    few.hit_count.resize(2);
    few.loss_band.clear();
    few.sv_band.clear();
    file.write_summary(2, few);
    CellStatistics bad = statistics_of(c, 0);
    bad.sv_band.pop_back();
    EXPECT_THROW(file.write_summary(0, bad), RuntimeFailure);
    bad = statistics_of(c, 0);
    bad.hit_count.push_back(1);
    EXPECT_THROW(file.write_summary(0, bad), RuntimeFailure);
    EXPECT_THROW(file.write_summary(3, statistics_of(c, 0)), RuntimeFailure);
    file.commit();
  }
  Id<H5Fclose> file(H5Fopen(path("run.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  const hsize_t C = 3, R = 3, T = 3, Q = 5;
  const CellStatistics s = statistics_of(c, 1), f = statistics_of(c, 2);
  auto row = [&](const char* name, Dims dims, bool integer) {
    const Data d = read_dataset(file.id, std::string("/summary/") + name);
    EXPECT_EQ(d.dims, dims) << name;
    expect_type(d, integer ? H5T_INTEGER : H5T_FLOAT, 8, name);
    const size_t per_cell = d.values.size() / C;
    std::vector<std::vector<double>> rows;
    for (size_t cell = 0; cell < C; ++cell)
      rows.emplace_back(d.values.begin() + cell * per_cell,
                        d.values.begin() + (cell + 1) * per_cell);
    for (double v : rows[0]) {
      if (integer) {
        EXPECT_EQ(v, -1) << name;
      } else {
        EXPECT_TRUE(std::isnan(v)) << name;
      }
    }
    return rows;
  };
  auto q = [](const Quantiles& x) { return std::vector<double>(x.begin(), x.end()); };
  auto cat = [](const std::vector<Quantiles>& x) {
    std::vector<double> v;
    for (const auto& e : x) v.insert(v.end(), e.begin(), e.end());
    return v;
  };
  EXPECT_EQ(row("status_count", {C, 4}, true)[1], (std::vector<double>{10, 11, 12, 13}));
  EXPECT_EQ(row("status_fraction", {C, 4}, false)[1],
            std::vector<double>(s.status_fraction.begin(), s.status_fraction.end()));
  EXPECT_EQ(row("status_wilson95", {C, 4, 2}, false)[1][5], s.status_wilson95[2][1]);
  EXPECT_EQ(row("final_loss", {C, Q}, false)[1], q(s.final_loss));
  EXPECT_EQ(row("excess", {C, Q}, false)[1], q(s.excess));
  EXPECT_EQ(row("steps_to_tol", {C, Q}, false)[1], q(s.steps_to_tol));
  EXPECT_TRUE(std::isinf(row("steps_to_tol", {C, Q}, false)[1][4]));
  EXPECT_EQ(row("steps_to_tol_reached", {C}, true)[1], std::vector<double>{4});
  EXPECT_EQ(row("hit_step", {C, R, Q}, false)[1], cat(s.hit_step));
  EXPECT_EQ(row("hit_count", {C, R}, true)[1], (std::vector<double>{100, 101, 102}));
  EXPECT_EQ(row("uniformity_cv", {C, Q}, false)[1], q(s.uniformity_cv));
  EXPECT_EQ(row("order_kendall", {C, Q}, false)[1], q(s.order_kendall));
  EXPECT_EQ(row("defined_count", {C, 2}, true)[1], (std::vector<double>{2, 3}));
  EXPECT_EQ(row("loss_band", {C, T, Q}, false)[1], cat(s.loss_band));
  EXPECT_EQ(row("sv_band", {C, T, R, Q}, false)[1], cat(s.sv_band));
  EXPECT_EQ(row("basin_converged", {C, Q}, false)[1], q(s.basin_converged));
  EXPECT_EQ(row("basin_closer", {C, Q}, false)[1], q(s.basin_closer));
  EXPECT_EQ(row("basin_pooled", {C, 2}, false)[1], (std::vector<double>{10.25, 10.75}));
  EXPECT_EQ(row("det_sign_count", {C, 2, 2}, true)[1], (std::vector<double>{21, 11, 31, 1}));
  EXPECT_EQ(row("det_sign_wilson95", {C, 2, 2}, false)[1],
            (std::vector<double>{10.125, 10.5, 10.0625, 10.25}));
  // Cell 2: padded modes, no bands.
  const auto hit = row("hit_step", {C, R, Q}, false)[2];
  for (size_t i = 0; i < 2 * Q; ++i) EXPECT_EQ(hit[i], cat(f.hit_step)[i]);
  for (size_t i = 2 * Q; i < 3 * Q; ++i) EXPECT_TRUE(std::isnan(hit[i]));
  EXPECT_EQ(row("hit_count", {C, R}, true)[2], (std::vector<double>{200, 201, 0}));
  {
    const auto band = row("sv_band", {C, T, R, Q}, false)[2];
    for (size_t i = 0; i < band.size(); ++i)
      EXPECT_TRUE(std::isnan(band[i])) << i << " " << band[i];
  }
  EXPECT_EQ(read_dataset(file.id, "/summary/quantile_levels").values,
            (std::vector<double>{0.05, 0.25, 0.5, 0.75, 0.95}));
  EXPECT_NE(dataset_string_attribute(file.id, "/summary/steps_to_tol", "description").find("+inf"),
            std::string::npos);
}

TEST_F(RunFileTest, SummaryExistsInAPartialFile) {
  const Case c = unit_case();
  RunFile file = RunFile::create(path("run.h5"), layout_of(c), attributes());
  fs::copy_file(file.partial_path(), path("copy.h5"));
  Id<H5Fclose> h(H5Fopen(path("copy.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  ASSERT_GE(h.id, 0);
  for (double v : read_dataset(h.id, "/summary/excess").values) EXPECT_TRUE(std::isnan(v));
  for (double v : read_dataset(h.id, "/summary/status_count").values) EXPECT_EQ(v, -1);
  EXPECT_EQ(read_dataset(h.id, "/outcome/basin_closer").dims, (Dims{2, 10}));
}

TEST_F(RunFileTest, CellsHoldTheSweepAxes) {
  Case c;
  c.cells = 6;
  OutputLayout layout = layout_of(c);
  SweepAxis lr;
  lr.key = "optimizer.lr";
  lr.numbers = {0.1, 0.2, 0.3};
  SweepAxis kind;
  kind.key = "optimizer.kind";
  kind.numeric = false;
  kind.labels = {"gd", "muon"};
  layout.axes = {lr, kind};
  {
    RunFile file = RunFile::create(path("run.h5"), layout, attributes());
    file.commit();
  }
  {
    Id<H5Fclose> file(H5Fopen(path("run.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
    const Data d = read_dataset(file.id, "/cells/optimizer.lr");
    expect_type(d, H5T_FLOAT, 8, "lr");
    EXPECT_EQ(d.values, (std::vector<double>{0.1, 0.1, 0.2, 0.2, 0.3, 0.3}));  // last axis fastest
    EXPECT_EQ(read_strings(file.id, "/cells/optimizer.kind"),
              (std::vector<std::string>{"gd", "muon", "gd", "muon", "gd", "muon"}));
    EXPECT_EQ(read_strings(file.id, "/cells/config"), layout.cell_configs);
    Id<H5Gclose> cells(H5Gopen2(file.id, "/cells", H5P_DEFAULT));
    Id<H5Aclose> attr(H5Aopen(cells.id, "axes", H5P_DEFAULT));
    Id<H5Tclose> type(H5Tcopy(H5T_C_S1));
    H5Tset_size(type.id, H5T_VARIABLE);
    H5Tset_cset(type.id, H5T_CSET_UTF8);
    char* names[2] = {};
    ASSERT_GE(H5Aread(attr.id, type.id, names), 0);
    EXPECT_STREQ(names[0], "optimizer.lr");
    EXPECT_STREQ(names[1], "optimizer.kind");
    Id<H5Sclose> space(H5Aget_space(attr.id));
    H5Dvlen_reclaim(type.id, space.id, H5P_DEFAULT, names);
  }
  // Integral axes are exact int64; without a sweep /cells holds only the config (and, once
  // committed, the cell dimension scale).
  Case one;
  OutputLayout seeded = layout_of(one);
  seeded.cells = 2;
  seeded.cell_configs = {"a", "b"};
  SweepAxis seed;
  seed.key = "run.master_seed";
  seed.integral = true;
  seed.integers = {(1LL << 62) + 1, 7};
  seed.numbers = {static_cast<double>(seed.integers[0]), 7.0};
  seeded.axes = {seed};
  {
    RunFile file = RunFile::create(path("seeded.h5"), seeded, attributes());
    file.keep_partial();
  }
  RunFile::resume(path("seeded.h5"), seeded, attributes()).commit();
  {
    Id<H5Fclose> file(H5Fopen(path("seeded.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
    Id<H5Dclose> ds(H5Dopen2(file.id, "/cells/run.master_seed", H5P_DEFAULT));
    long long values[2] = {};
    ASSERT_GE(H5Dread(ds.id, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, values), 0);
    EXPECT_EQ(values[0], (1LL << 62) + 1);
    EXPECT_EQ(values[1], 7);
  }
  write_case(path("plain.h5"), one, one.seeds);
  Id<H5Fclose> file(H5Fopen(path("plain.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  hsize_t links = 0;
  Id<H5Gclose> cells(H5Gopen2(file.id, "/cells", H5P_DEFAULT));
  H5G_info_t info;
  ASSERT_GE(H5Gget_info(cells.id, &info), 0);
  links = info.nlinks;
  EXPECT_EQ(links, 2u);
  EXPECT_GT(H5Lexists(cells.id, "config", H5P_DEFAULT), 0);
  EXPECT_GT(H5Lexists(cells.id, "cell", H5P_DEFAULT), 0);
  // Axes that do not multiply to C, or a sweep without cell configs, are the caller's bug.
  OutputLayout wrong = layout;
  wrong.cells = 5;
  wrong.cell_configs.pop_back();
  EXPECT_THROW(RunFile::create(path("wrong.h5"), wrong, attributes()), RuntimeFailure);
  wrong = layout;
  wrong.cell_configs.clear();
  EXPECT_THROW(RunFile::create(path("wrong.h5"), wrong, attributes()), RuntimeFailure);
  EXPECT_FALSE(fs::exists(path("wrong.h5.partial")));
}

TEST_F(RunFileTest, KeepPartialKeepsTheFileAndCommitStillWorks) {
  const Case c = unit_case();
  keep_partial_with_a_finished_unit(c);
  EXPECT_EQ(listing(), std::vector<std::string>{"run.h5.partial"});
  {
    RunFile file = RunFile::resume(path("run.h5"), layout_of(c), attributes());
    // Not kept, but resumed: the partial holds the user's work and stays.
  }
  EXPECT_EQ(listing(), std::vector<std::string>{"run.h5.partial"});
  {
    RunFile file = RunFile::create(path("run.h5"), layout_of(c), attributes());
    write_unit(file, c, 0, 0);
    // Not kept, but a unit is done in it: it stays too.
  }
  EXPECT_EQ(listing(), std::vector<std::string>{"run.h5.partial"});
  fs::remove(path("run.h5.partial"));
  {
    RunFile file = RunFile::create(path("run.h5"), layout_of(c), attributes());
    file.keep_partial();
    file.commit();  // a later commit wins
  }
  EXPECT_EQ(listing(), std::vector<std::string>{"run.h5"});
}

TEST_F(RunFileTest, RunFileIsMovable) {
  const Case c = unit_case();
  RunFile a = RunFile::create(path("a.h5"), layout_of(c), attributes());
  RunFile b = std::move(a);
  write_unit(b, c, 0, 0);
  RunFile d = RunFile::create(path("d.h5"), layout_of(c), attributes());
  EXPECT_EQ(listing(), (std::vector<std::string>{"a.h5.partial", "d.h5.partial"}));
  d = std::move(b);  // d's own partial file goes (not committed, not kept)
  EXPECT_EQ(listing(), std::vector<std::string>{"a.h5.partial"});
  d.commit();
  EXPECT_EQ(listing(), std::vector<std::string>{"a.h5"});
  { RunFile moved_from = std::move(d); }
  EXPECT_EQ(listing(), std::vector<std::string>{"a.h5"});
}

TEST_F(RunFileTest, CreateNeverDisturbsAPartialItDoesNotOwn) {
  const Case c = unit_case();
  RunFile running = RunFile::create(path("run.h5"), layout_of(c), attributes());
  write_unit(running, c, 0, 0);
  // A second writer of the same run is refused (HDF5's file lock), and leaves the file alone.
  try {
    RunFile::create(path("run.h5"), layout_of(c), attributes());
    ADD_FAILURE() << "two writers";
  } catch (const RuntimeFailure& e) {
    EXPECT_NE(std::string(e.what()).find("open for writing elsewhere"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(RunFile::resume(path("run.h5"), layout_of(c), attributes()), RuntimeFailure);
  EXPECT_TRUE(running.unit_done(0, 0));
  running.keep_partial();
  { RunFile closing = std::move(running); }
  EXPECT_TRUE(RunFile::resume(path("run.h5"), layout_of(c), attributes()).unit_done(0, 0));
  // The resumed object above was not kept, but a resumed partial is never removed.
  EXPECT_TRUE(RunFile::partial_exists(path("run.h5")));
  RunFile::create(path("run.h5"), layout_of(c), attributes()).keep_partial();
  const std::string before = file_bytes(path("run.h5.partial"));
  OutputLayout invalid = layout_of(c);
  invalid.r = 0;
  EXPECT_THROW(RunFile::create(path("run.h5"), invalid, attributes()), RuntimeFailure);
  EXPECT_EQ(file_bytes(path("run.h5.partial")), before);
}

// A child process writes units and is killed (SIGKILL) at random moments, many times over the
// same partial file; after every kill the partial must resume, every unit it lists as done must
// hold its data, and the finished file must equal an uninterrupted run's.
TEST_F(RunFileTest, KilledRunsResumeToTheSameFile) {
  Case c;
  c.cells = 3;
  c.seeds = 2048;
  c.unit_seeds = 64;  // 32 units per cell
  c.traced = 100;     // traced seeds span two units
  c.steps = {0, 1, 2, 3, 4, 5, 10, 20, 50, 100};
  const auto start = std::chrono::steady_clock::now();
  write_by_units(path("straight.h5"), c);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  const unsigned max_delay =
      static_cast<unsigned>(micros.count() / 4 + 1);  // several kills per run
  const std::string final_path = path("run.h5");
  const char* env = std::getenv("SPECSWEEP_KILL_TRIALS");  // more, for a longer stress run
  const int trials = env ? std::atoi(env) : 40;
  std::mt19937 rng(12345);
  int kills = 0;
  for (int trial = 0; trial < trials; ++trial) {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(ready[0]);
      try {
        RunFile file = RunFile::partial_exists(final_path)
                           ? RunFile::resume(final_path, layout_of(c), attributes())
                           : RunFile::create(final_path, layout_of(c), attributes());
        if (::write(ready[1], "r", 1) != 1) ::_exit(4);
        for (long cell = 0; cell < c.cells; ++cell) {
          file.write_target(cell, target_of(c, cell));
          for (long u = 0; u < file.layout().units(); ++u)
            if (!file.unit_done(cell, u)) write_unit(file, c, cell, u);
        }
        file.keep_partial();
      } catch (...) {
        ::_exit(3);
      }
      ::_exit(0);
    }
    ::close(ready[1]);
    char byte = 0;
    const bool started = ::read(ready[0], &byte, 1) == 1;
    ::close(ready[0]);
    ::usleep(std::uniform_int_distribution<unsigned>(0, max_delay)(rng));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(started) << "child failed to open the partial file, trial " << trial;
    if (WIFSIGNALED(status))
      ++kills;
    else
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child failed, trial " << trial;
    // Every unit marked done holds its data.
    RunFile file = RunFile::resume(final_path, layout_of(c), attributes());
    for (long cell = 0; cell < c.cells; ++cell) {
      const SeedOutcomes o = file.read_outcomes(cell);
      const SeedOutcomes want = outcomes_of(c, cell, 0, c.seeds);
      for (long u = 0; u < file.layout().units(); ++u) {
        if (!file.unit_done(cell, u)) continue;
        for (long s = file.layout().unit_first_seed(u); s < file.layout().unit_first_seed(u + 1);
             ++s)
          ASSERT_TRUE(o.excess[s] == want.excess[s] && o.status[s] == want.status[s] &&
                      o.hit_step[s * c.r] == want.hit_step[s * c.r])
              << "trial " << trial << ": cell " << cell << " unit " << u << " seed " << s;
      }
    }
    file.keep_partial();
    if (file.units_done() == c.cells * file.layout().units()) {
      if (env) {  // stress mode: start over
        { RunFile closing = std::move(file); }
        fs::remove(final_path + ".partial");
      } else {
        break;
      }
    }
  }
  RunFile file = RunFile::partial_exists(final_path)
                     ? RunFile::resume(final_path, layout_of(c), attributes())
                     : RunFile::create(final_path, layout_of(c), attributes());
  for (long cell = 0; cell < c.cells; ++cell) {
    file.write_target(cell, target_of(c, cell));
    for (long u = 0; u < file.layout().units(); ++u)
      if (!file.unit_done(cell, u)) write_unit(file, c, cell, u);
  }
  for (long cell = 0; cell < c.cells; ++cell) file.write_summary(cell, statistics_of(c, cell));
  file.commit();
  expect_same_datasets(path("straight.h5"), final_path);
  std::printf("[          ] %d kills (delays up to %u us)\n", kills, max_delay);
}

TEST_F(RunFileTest, H5pyReadsTheFile) {
  const char* python = "/usr/bin/python3";
  if (::access(python, X_OK) != 0 ||
      std::system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3 with h5py is not available";
  Case c;
  write_case(path("run.h5"), c, c.seeds);
  Case empty = c;
  empty.traced = 0;
  empty.depth = 3;
  write_case(path("empty.h5"), empty, 2);
  Case swept = unit_case();
  swept.cells = 2;
  {
    OutputLayout layout = layout_of(swept);
    SweepAxis kind;
    kind.key = "optimizer.kind";
    kind.numeric = false;
    kind.labels = {"gd", "muon"};
    layout.axes = {kind};
    RunFile file = RunFile::create(path("swept.h5"), layout, attributes());
    for (long u = 0; u < 4; ++u) write_unit(file, swept, 1, u);
    file.write_summary(1, statistics_of(swept, 1));
    file.commit();
  }
  {
    std::ofstream script(path("check.py"));
    script << R"(import sys
import h5py
import numpy as np
with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["precision"] == "fp64", f.attrs["precision"]
    assert f.attrs["backend"] == "cpu"
    assert "σ" in f.attrs["config"]
    assert int(f.attrs["master_seed"]) == 2**63 + 5
    assert f["outcome/status"].shape == (1, 5) and f["outcome/status"].dtype == np.int8
    assert f["outcome/status"].attrs["codes"] == "0 converged, 1 stalled, 2 diverged, 3 unconverged"
    assert f["outcome/final_loss"].dtype == np.float64
    assert f["outcome/steps_to_tol"].dtype == np.int32
    assert f["outcome/hit_step"].shape == (1, 5, 3)
    assert list(f["trace/step"][:]) == [0, 5, 10]
    assert f["trace/loss"].shape == (1, 2, 3)
    assert f["trace/sv"].shape == (1, 2, 3, 3)
    assert f["trace/factor_norm"].shape == (1, 2, 3, 2)
    assert f["trace/block_alignment"].shape == (1, 2, 3, 3)
    assert f["outcome/init_det_sign"].dtype == np.float64
    assert f["trace/delta1"].shape == (1, 2, 3, 3, 3)
    assert f["trace/init/F1"].shape == (1, 2, 4, 3)
    assert f["trace/final/F2"].shape == (1, 2, 3, 6)
    assert f["target/M"].shape == (1, 4, 6)
    assert f["target/spectrum"].shape == (1, 3)
    assert f["outcome/excess"][0, 4] == 1000 + 4 + 0.25
    assert f["outcome/basin_closer"][0, 4] == 6000 + 4 + 0.25
    assert int(f.attrs["unit_seeds"]) == 5
    assert f["progress/unit_done"].shape == (1, 1) and f["progress/unit_done"].dtype == np.int8
    assert list(f["cells/config"].asstr()[:]) == ["[cell]\nindex = 0\n"]
    assert len(f["cells"].attrs["axes"]) == 0
    assert f["summary/status_count"].dtype == np.int64 and (f["summary/status_count"][:] == -1).all()
    assert np.isnan(f["summary/sv_band"][:]).all() and f["summary/sv_band"].shape == (1, 3, 3, 5)
    assert list(f["summary/quantile_levels"][:]) == [0.05, 0.25, 0.5, 0.75, 0.95]
with h5py.File(sys.argv[3], "r") as f:
    assert list(f["cells"].attrs["axes"]) == ["optimizer.kind"]
    assert list(f["cells/optimizer.kind"].asstr()[:]) == ["gd", "muon"]
    assert list(f["progress/unit_done"][1]) == [1, 1, 1, 1] and list(f["progress/unit_done"][0]) == [0] * 4
    assert list(f["summary/status_count"][1]) == [10, 11, 12, 13]
    assert f["summary/steps_to_tol"][1, 4] == np.inf
    assert f["summary/hit_step"].shape == (2, 3, 5)
with h5py.File(sys.argv[2], "r") as f:
    assert f["trace/loss"].shape == (1, 0, 3)
    assert f["trace/loss"][:].size == 0
    assert f["trace/init/F2"].shape == (1, 0, 3, 3)
    assert f["trace/final/F3"].shape == (1, 0, 3, 6)
    assert f["outcome/status"][0, 3] == 3
print("ok")
)";
  }
  const std::string command = std::string(python) + " " + path("check.py") + " " + path("run.h5") +
                              " " + path("empty.h5") + " " + path("swept.h5") + " 2>&1";
  const int rc = std::system(command.c_str());
  ASSERT_NE(rc, -1);
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << command;
}

}  // namespace
}  // namespace specsweep
