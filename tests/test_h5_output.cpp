// The run file (DESIGN section 6): written through RunFile, read back with the HDF5 C API (and,
// when available, with h5py), checking every dataset's shape, type and values, the root
// attributes, and that a run that does not commit never disturbs the final path.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend.hpp"
#include "errors.hpp"
#include "h5_output.hpp"
#include "problem.hpp"

namespace specsweep {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Test problem and known values.

struct Case {
  long cells = 1, seeds = 5, traced = 2;
  std::vector<int> steps{0, 5, 10};
  int m = 4, n = 6, r = 3, depth = 2;
  int spectrum_length = 3;

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
  return l;
}

CellProblem problem_of(const Case& c) {
  CellProblem cp;
  cp.shape = c.shape();
  cp.record_steps = c.steps;
  cp.modes = std::min(c.r, c.spectrum_length);
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
// 4 order_kendall.
double outcome_value(int field, long cell, long seed) {
  return field * 1000.0 + cell * 100.0 + seed + 0.25;
}
std::int8_t status_value(long cell, long seed) { return static_cast<std::int8_t>((cell + seed) % 4); }
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
// 5 sv, 6 core_diag, 7 factor_norm, 8 delta1, 9 delta2, 10 + k init F(k+1), 20 + k final F(k+1).
SeedTraces traces_of(const Case& c, long cell, long first, long count) {
  SeedTraces t;
  t.resize(first, count, problem_of(c));
  std::vector<std::vector<double>*> arrays{&t.loss, &t.alignment, &t.effective_rank, &t.delta1_norm,
                                           &t.delta2_norm, &t.sv, &t.core_diag, &t.factor_norm,
                                           &t.delta1, &t.delta2};
  auto fill = [&](int id, std::vector<double>& v) {
    const long per_seed = count ? static_cast<long>(v.size()) / count : 0;
    for (long i = 0; i < count; ++i)
      for (long j = 0; j < per_seed; ++j) v[i * per_seed + j] = trace_value(id, cell, first + i, j);
  };
  for (int id = 0; id < static_cast<int>(arrays.size()); ++id) fill(id, *arrays[id]);
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

// Writes every cell; outcomes in blocks of `block` seeds, traces in one block.
void write_case(const std::string& path, const Case& c, long block) {
  RunFile file(path, layout_of(c), attributes());
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
  std::vector<double> values;  // converted by HDF5
};

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
  hsize_t total = 1;
  for (hsize_t v : d.dims) total *= v;
  d.values.resize(total);
  if (total > 0 && H5Dread(ds.id, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, d.values.data()) < 0)
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
    if (H5Aread(attr.id, memory.id, &text) < 0 || !text) throw std::runtime_error("cannot read attribute");
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

bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

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
  const long per_index = per_cell && cells ? static_cast<long>(d.values.size()) / (cells * per_cell) : 0;
  ASSERT_EQ(static_cast<long>(d.values.size()), cells * per_cell * per_index) << name;
  for (long c = 0; c < cells; ++c)
    for (long i = 0; i < per_cell; ++i)
      for (long j = 0; j < per_index; ++j) {
        const double got = d.values[(c * per_cell + i) * per_index + j];
        const double want = value(c, i, j);
        if (!same(got, want)) {
          ADD_FAILURE() << name << "[" << c << "][" << i << "][" << j << "] = " << got << ", want " << want;
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
    expect_values(d, c.cells, c.seeds, [](long cell, long s, long) { return double(status_value(cell, s)); },
                  "status");
    EXPECT_EQ(dataset_string_attribute(file.id, "/outcome/status", "codes"),
              "0 converged, 1 stalled, 2 diverged, 3 unconverged");
  }
  const char* fields[] = {"final_loss", "excess", "final_grad_norm", "uniformity_cv", "order_kendall"};
  for (int f = 0; f < 5; ++f) {
    const std::string name = std::string("/outcome/") + fields[f];
    const Data d = read_dataset(file.id, name);
    EXPECT_EQ(d.dims, (Dims{C, S})) << name;
    expect_type(d, H5T_FLOAT, 8, name);
    expect_values(d, c.cells, c.seeds, [f](long cell, long s, long) { return outcome_value(f, cell, s); }, name);
  }
  {
    const Data d = read_dataset(file.id, "/outcome/steps_to_tol");
    EXPECT_EQ(d.dims, (Dims{C, S}));
    expect_type(d, H5T_INTEGER, 4, "steps_to_tol");
    expect_values(d, c.cells, c.seeds, [](long cell, long s, long) { return double(steps_value(cell, s)); },
                  "steps_to_tol");
  }
  {
    const Data d = read_dataset(file.id, "/outcome/hit_step");
    EXPECT_EQ(d.dims, (Dims{C, S, R}));
    expect_type(d, H5T_INTEGER, 4, "hit_step");
    expect_values(d, c.cells, c.seeds,
                  [&](long cell, long s, long q) { return double(hit_value(cell, s, q, c.r)); }, "hit_step");
    EXPECT_NE(dataset_string_attribute(file.id, "/outcome/hit_step", "description").find("-1: never hit"),
              std::string::npos);
  }

  // Traces.
  {
    const Data d = read_dataset(file.id, "/trace/step");
    EXPECT_EQ(d.dims, (Dims{T}));
    expect_type(d, H5T_INTEGER, 4, "step");
    EXPECT_EQ(d.values, std::vector<double>(c.steps.begin(), c.steps.end()));
  }
  const struct {
    const char* name;
    int id;
    Dims dims;
  } traces[] = {
      {"loss", 0, {C, K, T}},           {"alignment", 1, {C, K, T}},       {"effective_rank", 2, {C, K, T}},
      {"delta1_norm", 3, {C, K, T}},    {"delta2_norm", 4, {C, K, T}},     {"sv", 5, {C, K, T, R}},
      {"core_diag", 6, {C, K, T, R}},   {"factor_norm", 7, {C, K, T, L}},  {"delta1", 8, {C, K, T, R, R}},
      {"delta2", 9, {C, K, T, R, R}},
  };
  for (const auto& t : traces) {
    const std::string name = std::string("/trace/") + t.name;
    const Data d = read_dataset(file.id, name);
    EXPECT_EQ(d.dims, t.dims) << name;
    expect_type(d, H5T_FLOAT, 8, name);
    const int id = t.id;
    expect_values(d, c.cells, c.traced, [id](long cell, long s, long j) { return trace_value(id, cell, s, j); },
                  name);
  }
  const Shape shape = c.shape();
  for (int k = 0; k < c.depth; ++k) {
    for (int which = 0; which < 2; ++which) {
      const std::string name = std::string(which ? "/trace/final/F" : "/trace/init/F") + std::to_string(k + 1);
      const Data d = read_dataset(file.id, name);
      EXPECT_EQ(d.dims, (Dims{C, K, hsize_t(shape.rows(k)), hsize_t(shape.cols(k))})) << name;
      expect_type(d, H5T_FLOAT, 8, name);
      const int id = (which ? 20 : 10) + k;
      expect_values(d, c.cells, c.traced,
                    [id](long cell, long s, long j) { return trace_value(id, cell, s, j); }, name);
    }
  }
  // No factor beyond the depth.
  EXPECT_LE(H5Lexists(file.id, ("/trace/init/F" + std::to_string(c.depth + 1)).c_str(), H5P_DEFAULT), 0);

  // Target.
  {
    const Data d = read_dataset(file.id, "/target/M");
    EXPECT_EQ(d.dims, (Dims{C, hsize_t(c.m), hsize_t(c.n)}));
    expect_type(d, H5T_FLOAT, 8, "M");
    expect_values(d, c.cells, 1, [&](long cell, long, long j) { return target_of(c, cell).M[j]; }, "M");
  }
  {
    const Data d = read_dataset(file.id, "/target/spectrum");
    EXPECT_EQ(d.dims, (Dims{C, hsize_t(c.spectrum_length)}));
    expect_type(d, H5T_FLOAT, 8, "spectrum");
    expect_values(d, c.cells, 1, [&](long cell, long, long j) { return target_of(c, cell).spectrum[j]; },
                  "spectrum");
  }
}

// Every dataset's values, by name, for comparing two files.
std::vector<std::pair<std::string, Data>> all_datasets(const std::string& path) {
  std::vector<std::string> names;
  Id<H5Fclose> file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (file.id < 0) throw std::runtime_error("cannot open " + path);
  H5Ovisit(
      file.id, H5_INDEX_NAME, H5_ITER_INC,
      [](hid_t, const char* name, const H5O_info_t* info, void* data) -> herr_t {
        if (info->type == H5O_TYPE_DATASET) static_cast<std::vector<std::string>*>(data)->push_back(name);
        return 0;
      },
      &names);
  std::vector<std::pair<std::string, Data>> out;
  for (const auto& n : names) out.emplace_back(n, read_dataset(file.id, n));
  return out;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A fresh directory per test (tests may run in parallel processes).
class RunFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           (std::string("specsweep_h5_") + info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, ec);
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

// ---------------------------------------------------------------------------------------------

TEST(SeedBuffers, OutcomesResizeFillsUnconverged) {
  SeedOutcomes o;
  o.resize(7, 4, 3);
  EXPECT_EQ(o.first_seed, 7);
  EXPECT_EQ(o.count, 4);
  EXPECT_EQ(o.r, 3);
  EXPECT_EQ(o.status, std::vector<std::int8_t>(4, static_cast<std::int8_t>(Status::unconverged)));
  for (const auto* v : {&o.final_loss, &o.excess, &o.final_grad_norm, &o.uniformity_cv, &o.order_kendall}) {
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
    for (const auto* v : {&t.loss, &t.alignment, &t.effective_rank, &t.delta1_norm, &t.delta2_norm})
      EXPECT_EQ(v->size(), 2u * 3);
    EXPECT_EQ(t.sv.size(), 2u * 3 * 3);
    EXPECT_EQ(t.core_diag.size(), 2u * 3 * 3);
    EXPECT_EQ(t.factor_norm.size(), 2u * 3 * depth);
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
    EXPECT_EQ(t.init_factors[0].size(), 2u * 4 * 3);              // m x r
    EXPECT_EQ(t.init_factors[depth - 1].size(), 2u * 3 * 6);      // r x n
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

TEST_F(RunFileTest, TracedSeedsAreClampedToSeeds) {
  Case c;
  c.seeds = 2;
  OutputLayout layout = layout_of(c);
  layout.traced = 8;
  {
    RunFile file(path("run.h5"), layout, attributes());
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
  const auto one = all_datasets(path("one.h5"));
  const auto two = all_datasets(path("two.h5"));
  ASSERT_EQ(one.size(), two.size());
  EXPECT_GE(one.size(), 20u);
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one[i].first, two[i].first);
    EXPECT_EQ(one[i].second.dims, two[i].second.dims) << one[i].first;
    ASSERT_EQ(one[i].second.values.size(), two[i].second.values.size()) << one[i].first;
    for (size_t j = 0; j < one[i].second.values.size(); ++j)
      ASSERT_TRUE(same(one[i].second.values[j], two[i].second.values[j])) << one[i].first << "[" << j << "]";
  }
  verify_case(path("two.h5"), c);
}

TEST_F(RunFileTest, UnwrittenRegionsHoldFillValues) {
  Case c;
  c.cells = 2;
  {
    RunFile file(path("run.h5"), layout_of(c), attributes());
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
    if (deflate) {  // shuffle, then deflate level 1
      ASSERT_EQ(H5Pget_nfilters(dcpl.id), 2) << name;
      unsigned flags = 0, filter_config = 0, values[4] = {};
      size_t count = 4;
      char filter_name[64];
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
    RunFile file(path("run.h5"), layout_of(c), attributes());
    EXPECT_TRUE(fs::exists(file.temporary_path()));
    EXPECT_EQ(fs::path(file.temporary_path()).parent_path(), dir_);
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
    RunFile file(path("run.h5"), layout_of(other), attributes());
    temporary = file.temporary_path();
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
    RunFile file(missing, layout_of(c), attributes());
    ADD_FAILURE() << "no exception";
  } catch (const RuntimeFailure& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  if (::geteuid() != 0) {  // root ignores directory permissions
    fs::create_directories(path("readonly"));
    fs::permissions(path("readonly"), fs::perms::owner_read | fs::perms::owner_exec);
    EXPECT_THROW(RunFile(path("readonly/run.h5"), layout_of(c), attributes()), RuntimeFailure);
    fs::permissions(path("readonly"), fs::perms::owner_all);
  }
  // The final path is a directory: creating works, the rename fails, and nothing is left behind.
  fs::create_directories(path("taken.h5/inside"));
  {
    RunFile file(path("taken.h5"), layout_of(c), attributes());
    EXPECT_THROW(file.commit(), RuntimeFailure);
  }
  EXPECT_EQ(listing(), std::vector<std::string>{"taken.h5"});
}

TEST_F(RunFileTest, InconsistentWritesThrow) {
  Case c;
  RunFile file(path("run.h5"), layout_of(c), attributes());
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
    assert f["trace/delta1"].shape == (1, 2, 3, 3, 3)
    assert f["trace/init/F1"].shape == (1, 2, 4, 3)
    assert f["trace/final/F2"].shape == (1, 2, 3, 6)
    assert f["target/M"].shape == (1, 4, 6)
    assert f["target/spectrum"].shape == (1, 3)
    assert f["outcome/excess"][0, 4] == 1000 + 4 + 0.25
with h5py.File(sys.argv[2], "r") as f:
    assert f["trace/loss"].shape == (1, 0, 3)
    assert f["trace/loss"][:].size == 0
    assert f["trace/init/F2"].shape == (1, 0, 3, 3)
    assert f["trace/final/F3"].shape == (1, 0, 3, 6)
    assert f["outcome/status"][0, 3] == 3
print("ok")
)";
  }
  const std::string command = std::string(python) + " " + path("check.py") + " " + path("run.h5") + " " +
                              path("empty.h5") + " 2>&1";
  const int rc = std::system(command.c_str());
  ASSERT_NE(rc, -1);
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << command;
}

}  // namespace
}  // namespace specsweep
