// Reports of a run file: reading /cells, /summary, /progress and the root attributes, and the
// table, csv and json formats (docs/REFERENCE.md lists the CSV columns).
#include "report.hpp"

#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "errors.hpp"
#include "h5_types.hpp"
#include "in_child.hpp"

namespace specsweep {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------------------------------------
// Reading (HDF5 C API, under the process-wide HDF5 lock).

template <herr_t (*Close)(hid_t)>
class Id {
 public:
  explicit Id(hid_t id = -1) : id_(id) {}
  ~Id() {
    if (id_ >= 0) Close(id_);
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  hid_t get() const { return id_; }

 private:
  hid_t id_;
};

class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    Id<H5Pclose> fapl(H5Pcreate(H5P_FILE_ACCESS));
#if H5_VERSION_GE(1, 10, 7)
    // Reading takes no lock, so a report never blocks (or is blocked by) a run writing the file.
    if (fapl.get() >= 0) H5Pset_file_locking(fapl.get(), false, true);
#endif
    if (::access(path.c_str(), R_OK) != 0)
      throw InputError("cannot read run file " + path + ": " + std::strerror(errno));
    file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
    if (file_ < 0) throw InputError("cannot read run file " + path + ": not an HDF5 file");
  }
  ~Reader() {
    if (file_ >= 0) H5Fclose(file_);
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  [[noreturn]] void bad(const std::string& what) const {
    throw InputError("run file " + path_ + " is not a readable specsweep run file: " + what);
  }

  bool exists(const std::string& name) const {
    // Each component must exist for H5Lexists to answer on the last one.
    for (std::size_t slash = name.find('/', 1);; slash = name.find('/', slash + 1)) {
      const std::string prefix = name.substr(0, slash);
      if (H5Lexists(file_, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
      if (slash == std::string::npos) return true;
    }
  }

  std::vector<hsize_t> dims(const std::string& name) const {
    Id<H5Dclose> ds(H5Dopen2(file_, name.c_str(), H5P_DEFAULT));
    if (ds.get() < 0) bad("cannot open " + name);
    Id<H5Sclose> space(H5Dget_space(ds.get()));
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0) bad("cannot read the shape of " + name);
    std::vector<hsize_t> d(static_cast<std::size_t>(rank));
    H5Sget_simple_extent_dims(space.get(), d.data(), nullptr);
    return d;
  }

  // A whole numeric dataset, converted to `memory_type`; its shape must be `expected`.
  template <class T>
  std::vector<T> numbers(const std::string& name, hid_t memory_type,
                         const std::vector<hsize_t>& expected) const {
    const std::vector<hsize_t> d = dims(name);
    if (d != expected) {
      std::string shape;
      for (hsize_t v : d) shape += (shape.empty() ? "" : " x ") + std::to_string(v);
      bad(name + " has shape (" + shape + ")");
    }
    // No run file's summary holds 2^32 values; a damaged shape can claim terabytes.
    constexpr hsize_t kMaxValues = hsize_t{1} << 32;
    hsize_t total = 1;
    for (hsize_t v : d) {
      if (v != 0 && total > kMaxValues / v) bad(name + " is impossibly large");
      total *= v;
    }
    std::vector<T> out(static_cast<std::size_t>(total));
    if (total == 0) return out;
    Id<H5Dclose> ds(H5Dopen2(file_, name.c_str(), H5P_DEFAULT));
    if (!readable_as_stored(ds.get())) bad(name + " has chunks that do not fit its shape");
    if (H5Dread(ds.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
      bad("cannot read " + name);
    return out;
  }

  // Row `cell` of a C x S (x w) numeric dataset: S * w values converted to `memory_type`.
  template <class T>
  std::vector<T> cell_row(const std::string& name, hid_t memory_type, long cell, hsize_t seeds,
                          hsize_t width) const {
    const std::vector<hsize_t> d = dims(name);
    const bool fits = (d.size() == 2 && width == 1) || (d.size() == 3 && d[2] == width);
    if (!fits || d[1] != seeds || cell < 0 || static_cast<hsize_t>(cell) >= d[0])
      bad(name + " does not hold cell " + std::to_string(cell) + " of " + std::to_string(seeds) +
          " seeds");
    std::vector<T> out(static_cast<std::size_t>(seeds * width));
    if (out.empty()) return out;
    Id<H5Dclose> ds(H5Dopen2(file_, name.c_str(), H5P_DEFAULT));
    if (!readable_as_stored(ds.get())) bad(name + " has chunks that do not fit its shape");
    Id<H5Sclose> space(H5Dget_space(ds.get()));
    const hsize_t start[3] = {static_cast<hsize_t>(cell), 0, 0}, count[3] = {1, seeds, width};
    Id<H5Sclose> memory(H5Screate_simple(static_cast<int>(d.size()), count, nullptr));
    if (H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr) < 0 ||
        H5Dread(ds.get(), memory_type, memory.get(), space.get(), H5P_DEFAULT, out.data()) < 0)
      bad("cannot read cell " + std::to_string(cell) + " of " + name);
    return out;
  }

  H5T_class_t type_class(const std::string& name) const {
    Id<H5Dclose> ds(H5Dopen2(file_, name.c_str(), H5P_DEFAULT));
    Id<H5Tclose> type(H5Dget_type(ds.get()));
    return H5Tget_class(type.get());
  }

  std::vector<std::string> strings(const std::string& name, hsize_t expected) const {
    if (dims(name) != std::vector<hsize_t>{expected})
      bad(name + " does not have one value per cell");
    Id<H5Dclose> ds(H5Dopen2(file_, name.c_str(), H5P_DEFAULT));
    if (!readable_as_stored(ds.get())) bad(name + " has chunks that do not fit its shape");
    Id<H5Sclose> space(H5Dget_space(ds.get()));
    Id<H5Tclose> type(utf8());
    std::vector<char*> texts(static_cast<std::size_t>(expected), nullptr);
    if (expected > 0 &&
        H5Dread(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, texts.data()) < 0)
      bad("cannot read " + name);
    std::vector<std::string> out;
    for (char* t : texts) out.emplace_back(t ? t : "");
    if (expected > 0) reclaim(type.get(), space.get(), texts.data());
    return out;
  }

  // A string (or string array) attribute of an object; empty when absent.
  std::vector<std::string> string_attribute(const char* object, const char* name) const {
    std::vector<std::string> out;
    if (H5Aexists_by_name(file_, object, name, H5P_DEFAULT) <= 0) return out;
    Id<H5Aclose> attr(H5Aopen_by_name(file_, object, name, H5P_DEFAULT, H5P_DEFAULT));
    Id<H5Tclose> stored(H5Aget_type(attr.get()));
    if (H5Tget_class(stored.get()) != H5T_STRING) return out;
    Id<H5Sclose> space(H5Aget_space(attr.get()));
    const hssize_t n = H5Sget_simple_extent_npoints(space.get());
    if (n <= 0) return out;
    if (H5Tis_variable_str(stored.get()) > 0) {
      Id<H5Tclose> type(utf8());
      std::vector<char*> texts(static_cast<std::size_t>(n), nullptr);
      if (H5Aread(attr.get(), type.get(), texts.data()) < 0) return out;
      for (char* t : texts) out.emplace_back(t ? t : "");
      reclaim(type.get(), space.get(), texts.data());
    } else {  // fixed-length strings (written by other tools)
      const std::size_t size = H5Tget_size(stored.get());
      std::vector<char> buffer(size * static_cast<std::size_t>(n));
      if (H5Aread(attr.get(), stored.get(), buffer.data()) < 0) return out;
      for (hssize_t i = 0; i < n; ++i) {
        const char* begin = buffer.data() + static_cast<std::size_t>(i) * size;
        out.emplace_back(begin, strnlen(begin, size));
      }
    }
    return out;
  }

  // Names of the links in a group, by name.
  std::vector<std::string> members(const char* group) const {
    std::vector<std::string> names;
    Id<H5Gclose> g(H5Gopen2(file_, group, H5P_DEFAULT));
    H5G_info_t info;
    if (g.get() < 0 || H5Gget_info(g.get(), &info) < 0) return names;
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      const ssize_t size =
          H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      if (size < 0) continue;
      std::string name(static_cast<std::size_t>(size) + 1, '\0');
      H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                         H5P_DEFAULT);
      name.resize(static_cast<std::size_t>(size));
      names.push_back(name);
    }
    return names;
  }

  template <class T>
  bool number_attribute(const char* name, hid_t memory_type, T& value) const {
    if (H5Aexists(file_, name) <= 0) return false;
    Id<H5Aclose> attr(H5Aopen(file_, name, H5P_DEFAULT));
    return H5Aread(attr.get(), memory_type, &value) >= 0;
  }

 private:
  static hid_t utf8() {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    return type;
  }
  static void reclaim(hid_t type, hid_t space, void* buffer) {
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(type, space, H5P_DEFAULT, buffer);
#else
    H5Dvlen_reclaim(type, space, H5P_DEFAULT, buffer);
#endif
  }

  std::string path_;
  hid_t file_ = -1;
};

// ---------------------------------------------------------------------------------------------
// Formatting.

// Shortest text that reads back as the same double.
std::string exact(double v) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, v);
  return std::string(buffer, result.ptr);
}

std::string printf_g(double v, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*g", digits, v);
  return buffer;
}

// One field of a csv/json row.
struct Value {
  enum class Kind { missing, number, integer, text } kind = Kind::missing;
  double number = 0;
  long long integer = 0;
  std::string text;

  static Value of(double v) {
    Value x;
    if (!std::isnan(v)) {
      x.kind = Kind::number;
      x.number = v;
    }
    return x;
  }
  static Value count(std::int64_t v) {  // -1: not computed
    Value x;
    if (v >= 0) {
      x.kind = Kind::integer;
      x.integer = v;
    }
    return x;
  }
  static Value of_integer(long long v) {
    Value x;
    x.kind = Kind::integer;
    x.integer = v;
    return x;
  }
  static Value of_text(std::string t) {
    Value x;
    x.kind = Kind::text;
    x.text = std::move(t);
    return x;
  }
};

struct Rows {
  std::vector<std::string> columns;
  std::vector<std::vector<Value>> rows;
};

// Index of a quantile level in the file's levels (-1 if absent).
int level_index(const RunReport& r, double level) {
  for (std::size_t i = 0; i < r.quantile_levels.size(); ++i)
    if (std::fabs(r.quantile_levels[i] - level) < 1e-12) return static_cast<int>(i);
  return -1;
}

double quantile(const Quantiles& q, int index) {
  return index >= 0 && static_cast<std::size_t>(index) < q.size()
             ? q[static_cast<std::size_t>(index)]
             : kNaN;
}

Value axis_value(const ReportAxis& axis, long cell) {
  const std::size_t c = static_cast<std::size_t>(cell);
  switch (axis.kind) {
    case ReportAxis::Kind::integer:
      return Value::of_integer(axis.integers[c]);
    case ReportAxis::Kind::string:
      return Value::of_text(axis.labels[c]);
    case ReportAxis::Kind::number:
      break;
  }
  return Value::of(axis.numbers[c]);
}

Rows rows_of(const RunReport& r) {
  Rows out;
  auto& cols = out.columns;
  cols.push_back("cell");
  for (const ReportAxis& axis : r.axes) cols.push_back(axis.key);
  cols.push_back("seeds");
  for (const char* s : kStatusNames) {
    const std::string name(s);
    for (const char* suffix : {"", "_fraction", "_wilson95_low", "_wilson95_high"})
      cols.push_back(name + suffix);
  }
  // Quantile columns: every level for the losses, the quartiles and median for the rest.
  const std::vector<std::pair<const char*, int>> all{{"_p05", level_index(r, 0.05)},
                                                     {"_p25", level_index(r, 0.25)},
                                                     {"_p50", level_index(r, 0.5)},
                                                     {"_p75", level_index(r, 0.75)},
                                                     {"_p95", level_index(r, 0.95)}};
  const std::vector<std::pair<const char*, int>> quartiles(all.begin() + 1, all.end() - 1);
  for (const char* q : {"final_loss", "excess"})
    for (const auto& [suffix, level] : all) cols.push_back(std::string(q) + suffix);
  for (const auto& [suffix, level] : quartiles)
    cols.push_back(std::string("steps_to_tol") + suffix);
  cols.push_back("steps_to_tol_reached");
  for (int i = 1; i <= r.modes; ++i) {
    for (const auto& [suffix, level] : quartiles)
      cols.push_back("hit_step_" + std::to_string(i) + suffix);
    cols.push_back("hit_count_" + std::to_string(i));
  }
  for (const char* q : {"uniformity_cv", "order_kendall"})
    for (const auto& [suffix, level] : quartiles) cols.push_back(std::string(q) + suffix);
  for (const char* c : {"basin_converged", "basin_closer", "det_plus_seeds", "det_plus_converged",
                        "det_minus_seeds", "det_minus_converged"})
    cols.push_back(c);
  for (const auto& [suffix, level] : quartiles)
    cols.push_back(std::string("final_lr_sharpness") + suffix);
  for (const auto& [suffix, level] : quartiles)
    cols.push_back(std::string("recovery_error") + suffix);

  for (long c = 0; c < r.cells; ++c) {
    const CellStatistics& s = r.statistics[static_cast<std::size_t>(c)];
    const bool computed = r.computed[static_cast<std::size_t>(c)];
    auto num = [&](double v) { return computed ? Value::of(v) : Value(); };
    std::vector<Value> row;
    row.push_back(Value::of_integer(c));
    for (const ReportAxis& axis : r.axes) row.push_back(axis_value(axis, c));
    row.push_back(Value::of_integer(computed ? s.seeds : r.seeds));
    for (std::size_t k = 0; k < 4; ++k) {
      row.push_back(computed ? Value::count(s.status_count[k]) : Value());
      row.push_back(num(s.status_fraction[k]));
      row.push_back(num(s.status_wilson95[k][0]));
      row.push_back(num(s.status_wilson95[k][1]));
    }
    for (const Quantiles* q : {&s.final_loss, &s.excess})
      for (const auto& [suffix, level] : all) row.push_back(num(quantile(*q, level)));
    for (const auto& [suffix, level] : quartiles)
      row.push_back(num(quantile(s.steps_to_tol, level)));
    row.push_back(computed ? Value::count(s.steps_to_tol_reached) : Value());
    for (std::size_t i = 0; i < static_cast<std::size_t>(r.modes); ++i) {
      for (const auto& [suffix, level] : quartiles)
        row.push_back(num(i < s.hit_step.size() ? quantile(s.hit_step[i], level) : kNaN));
      row.push_back(computed && i < s.hit_count.size() ? Value::count(s.hit_count[i]) : Value());
    }
    for (const Quantiles* q : {&s.uniformity_cv, &s.order_kendall})
      for (const auto& [suffix, level] : quartiles) row.push_back(num(quantile(*q, level)));
    row.push_back(num(s.basin_pooled[0]));
    row.push_back(num(s.basin_pooled[1]));
    for (const auto& sign : s.det_sign_count)
      for (std::int64_t v : sign) row.push_back(computed ? Value::count(v) : Value());
    for (const auto& [suffix, level] : quartiles)
      row.push_back(num(quantile(s.final_lr_sharpness, level)));
    for (const auto& [suffix, level] : quartiles)
      row.push_back(num(quantile(s.recovery_error, level)));
    out.rows.push_back(std::move(row));
  }
  return out;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos &&
      (text.empty() || (text.front() != ' ' && text.back() != ' ')))
    return text;
  std::string quoted = "\"";
  for (char ch : text) {
    if (ch == '"') quoted += '"';
    quoted += ch;
  }
  return quoted + "\"";
}

std::string csv_value(const Value& v) {
  switch (v.kind) {
    case Value::Kind::missing:
      return "";
    case Value::Kind::integer:
      return std::to_string(v.integer);
    case Value::Kind::text:
      return csv_field(v.text);
    case Value::Kind::number:
      break;
  }
  if (std::isinf(v.number)) return v.number > 0 ? "inf" : "-inf";
  return exact(v.number);
}

std::string format_csv(const RunReport& r) {
  const Rows rows = rows_of(r);
  std::string out;
  for (std::size_t i = 0; i < rows.columns.size(); ++i)
    out += (i ? "," : "") + csv_field(rows.columns[i]);
  out += "\n";
  for (const auto& row : rows.rows) {
    for (std::size_t i = 0; i < row.size(); ++i) out += (i ? "," : "") + csv_value(row[i]);
    out += "\n";
  }
  return out;
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char ch : text) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (ch < 0x20 || ch == 0x7f) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", ch);
          out += buffer;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  return std::isfinite(v) ? exact(v) : "null";
}

std::string json_value(const Value& v) {
  switch (v.kind) {
    case Value::Kind::missing:
      return "null";
    case Value::Kind::integer:
      return std::to_string(v.integer);
    case Value::Kind::text:
      return json_string(v.text);
    case Value::Kind::number:
      break;
  }
  return json_number(v.number);
}

std::string format_json(const RunReport& r) {
  const RunAttributes& a = r.attributes;
  std::string out = "{\n";
  out += "  \"file\": " + json_string(r.path) + ",\n";
  out += "  \"attributes\": {\"specsweep_version\": " + json_string(a.specsweep_version) +
         ", \"config\": " + json_string(a.config) +
         ", \"master_seed\": " + std::to_string(a.master_seed) +
         ", \"backend\": " + json_string(a.backend) +
         ", \"precision\": " + json_string(a.precision) +
         ", \"git_revision\": " + json_string(a.git_revision) +
         ", \"unit_seeds\": " + std::to_string(r.unit_seeds) + "},\n";
  out += "  \"units\": " + std::to_string(r.units) + ",\n";
  out += "  \"units_done\": " + std::to_string(r.units_done) + ",\n";
  out += "  \"quantile_levels\": [";
  for (std::size_t i = 0; i < r.quantile_levels.size(); ++i)
    out += (i ? ", " : "") + json_number(r.quantile_levels[i]);
  out += "],\n  \"axes\": [";
  for (std::size_t i = 0; i < r.axes.size(); ++i)
    out += (i ? ", " : "") + json_string(r.axes[i].key);
  out += "],\n  \"cells\": [";
  const Rows rows = rows_of(r);
  for (std::size_t k = 0; k < rows.rows.size(); ++k) {
    out += k ? ",\n    {" : "\n    {";
    for (std::size_t i = 0; i < rows.columns.size(); ++i)
      out += (i ? ", " : "") + json_string(rows.columns[i]) + ": " + json_value(rows.rows[k][i]);
    out += "}";
  }
  out += rows.rows.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return out;
}

// --- table

std::string short_number(double v) {
  if (std::isnan(v)) return "-";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return printf_g(v, 4);
}

std::string percent(double v) {
  return std::isnan(v) ? "-" : printf_g(100 * v, 3);
}

// A median over seeds where a seed that never got there counts as +inf.
std::string median_text(double median) {
  return std::isinf(median) && median > 0 ? std::string("never") : short_number(median);
}

// "median (seeds it is taken over)".
std::string counted(double median, std::int64_t n) {
  return median_text(median) + " (" + std::to_string(n) + ")";
}

// The leading columns of either table: the cell and its swept values (strings left-aligned).
void cell_header(const RunReport& r, std::vector<std::string>& header, std::vector<bool>& left) {
  header = {"cell"};
  left = {false};
  for (const ReportAxis& axis : r.axes) {
    header.push_back(axis.key);
    left.push_back(axis.kind == ReportAxis::Kind::string);
  }
}

std::vector<std::string> cell_columns(const RunReport& r, long c) {
  std::vector<std::string> row{std::to_string(c)};
  for (const ReportAxis& axis : r.axes) {
    const Value v = axis_value(axis, c);
    row.push_back(v.kind == Value::Kind::text      ? v.text
                  : v.kind == Value::Kind::integer ? std::to_string(v.integer)
                                                   : short_number(v.number));
  }
  return row;
}

// The lines above either table: the file, what produced it, its size and completeness.
std::string table_preamble(const RunReport& r) {
  const RunAttributes& a = r.attributes;
  std::string out = r.path + ": specsweep " + a.specsweep_version + " (git " + a.git_revision +
                    "), backend " + a.backend + ", " + a.precision + ", master_seed " +
                    std::to_string(a.master_seed) + "\n";
  out += std::to_string(r.cells) + (r.cells == 1 ? " cell" : " cells") + " x " +
         std::to_string(r.seeds) + " seeds, " + std::to_string(r.modes) + " modes";
  if (r.units_done < r.units)
    out += "; PARTIAL: " + std::to_string(r.units_done) + " of " + std::to_string(r.units) +
           " work units done";
  return out + "\n";
}

// Rows of cells, columns padded to their widest entry (left-aligned where `left`).
std::string aligned(const std::vector<std::vector<std::string>>& table,
                    const std::vector<bool>& left) {
  std::vector<std::size_t> width(table.front().size(), 0);
  for (const auto& row : table)
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  // Multi-byte UTF-8 in labels would misalign slightly; labels are config values (ASCII in
  // practice).
  std::string out;
  for (const auto& row : table) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      const std::string pad(width[i] - row[i].size(), ' ');
      line += (i ? "  " : "") + (left[i] ? row[i] + pad : pad + row[i]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string comma_list(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::size_t widest_line(const std::string& text) {
  std::size_t widest = 0, at = 0;
  while (at < text.size()) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    widest = std::max(widest, end - at);
    at = end + 1;
  }
  return widest;
}

// The default table: what a researcher reads first, within kTableColumns. Per cell the swept
// values, the converged (and, where any seed diverged, diverged) percentage with its Wilson
// interval, the median excess, steps to tolerance and hitting step per mode; columns that do not
// fit are left out from the right, and the note says which (--format wide shows them all). Cells
// where no seed converged get a line saying how far they stayed from the tolerance.
constexpr std::size_t kTableColumns = 100;

std::string format_table(const RunReport& r) {
  std::string out = table_preamble(r);
  const int p50 = level_index(r, 0.5);
  bool any_diverged = false, sharpness = false;
  for (long c = 0; c < r.cells; ++c) {
    const CellStatistics& s = r.statistics[static_cast<std::size_t>(c)];
    any_diverged =
        any_diverged || (r.computed[static_cast<std::size_t>(c)] && s.status_count[2] > 0);
    sharpness = sharpness || !std::isnan(quantile(s.final_lr_sharpness, p50));
  }
  out +=
      "converged, diverged: % of seeds [Wilson 95%]; medians over seeds; hit: median step per "
      "mode;\n"
      "cv: uniformity_cv; tau: order_kendall";
  out += sharpness ? "; eta*lmax: lr x largest Hessian eigenvalue at the end\n\n" : "\n\n";
  std::vector<std::string> header;
  std::vector<bool> left;
  cell_header(r, header, left);
  const std::size_t fixed = header.size();  // always shown
  header.push_back("seeds");
  header.push_back("converged %");
  if (any_diverged) header.push_back("diverged %");
  header.push_back("excess");
  if (sharpness) header.push_back("eta*lmax");
  header.push_back("steps_to_tol (n)");
  header.push_back("hit");
  header.push_back("cv");
  header.push_back("tau");
  left.resize(header.size(), false);
  const std::size_t hit_column = header.size() - 3;
  left[hit_column] = true;

  std::vector<std::vector<std::string>> table{header};
  std::vector<long> never_converged;
  for (long c = 0; c < r.cells; ++c) {
    const CellStatistics& s = r.statistics[static_cast<std::size_t>(c)];
    std::vector<std::string> row = cell_columns(r, c);
    if (!r.computed[static_cast<std::size_t>(c)]) {
      row.push_back(std::to_string(r.seeds));
      row.resize(header.size(), "-");
      table.push_back(std::move(row));
      continue;
    }
    row.push_back(std::to_string(s.seeds));
    auto share = [&](std::size_t k) {
      return percent(s.status_fraction[k]) + " [" + percent(s.status_wilson95[k][0]) + ", " +
             percent(s.status_wilson95[k][1]) + "]";
    };
    row.push_back(share(0));
    if (any_diverged) row.push_back(share(2));
    row.push_back(short_number(quantile(s.excess, p50)));
    if (sharpness) row.push_back(short_number(quantile(s.final_lr_sharpness, p50)));
    row.push_back(counted(quantile(s.steps_to_tol, p50), s.steps_to_tol_reached));
    std::string hits;
    for (std::size_t i = 0; i < static_cast<std::size_t>(r.modes) && i < s.hit_step.size(); ++i) {
      const double median = quantile(s.hit_step[i], p50);
      hits += (i ? " " : "") + median_text(median);
    }
    row.push_back(hits.empty() ? "-" : hits);
    row.push_back(short_number(quantile(s.uniformity_cv, p50)));
    row.push_back(short_number(quantile(s.order_kendall, p50)));
    if (s.status_count[0] == 0 && s.seeds > 0) never_converged.push_back(c);
    table.push_back(std::move(row));
  }
  // Leave out columns from the right until the table fits (the swept values always stay); the
  // hit list, when it is all that does not fit, is cut to the room left.
  std::vector<std::string> hidden;
  std::string body = aligned(table, left);
  while (widest_line(body) > kTableColumns && table.front().size() > fixed + 1) {
    if (table.front().size() == hit_column + 1) {
      std::vector<std::vector<std::string>> without = table;
      for (auto& row : without) row.pop_back();
      const std::size_t room =
          kTableColumns - std::min(kTableColumns, widest_line(aligned(without, left)) + 2);
      if (room >= 12) {
        for (std::size_t k = 1; k < table.size(); ++k) {
          std::string& hits = table[k][hit_column];
          if (hits.size() > room) hits = hits.substr(0, hits.rfind(' ', room - 4)) + " ...";
        }
        body = aligned(table, left);
        continue;
      }
    }
    hidden.insert(hidden.begin(), table.front().back());
    for (auto& row : table) row.pop_back();
    left.pop_back();
    body = aligned(table, left);
  }
  out += body;
  if (!hidden.empty())
    out += "\nnot shown to fit " + std::to_string(kTableColumns) +
           " columns (--format wide shows every column):\n  " + comma_list(hidden) + "\n";
  if (!never_converged.empty()) {
    const CellStatistics& s = r.statistics[static_cast<std::size_t>(never_converged.front())];
    std::vector<std::string> cells;
    for (std::size_t i = 0; i < never_converged.size() && i < 4; ++i)
      cells.push_back(std::to_string(never_converged[i]));
    if (never_converged.size() > 4)
      cells.push_back("... (" + std::to_string(never_converged.size()) + ")");
    out += std::string("\nno seed converged in ") +
           (never_converged.size() == 1 ? "cell " : "cells ") + comma_list(cells) +
           ":\n  the excess loss ends above record.loss_tolerance (median " +
           short_number(quantile(s.excess, p50)) + " in cell " +
           std::to_string(never_converged.front()) + ")\n";
  }
  return out;
}

// Every column: all four statuses with counts, the 5/50/95% quantiles, each mode's hitting step
// with the seeds that hit, the basin probe and the det-sign split where the run has them.
std::string format_wide_table(const RunReport& r) {
  std::string out = table_preamble(r);
  out +=
      "status: count (% of seeds [Wilson 95% interval]); quantiles over seeds; hit: median step "
      "(seeds that hit)\n\n";

  const int p05 = level_index(r, 0.05), p50 = level_index(r, 0.5), p95 = level_index(r, 0.95);
  bool basin = false, det_sign = false, sharpness = false;
  for (long c = 0; c < r.cells; ++c) {
    const CellStatistics& s = r.statistics[static_cast<std::size_t>(c)];
    sharpness = sharpness || !std::isnan(quantile(s.final_lr_sharpness, p50));
    for (double v : s.basin_pooled) basin = basin || !std::isnan(v);
    for (const auto& sign : s.det_sign_count) det_sign = det_sign || sign[0] > 0;
  }

  std::vector<std::string> header;
  std::vector<bool> left;
  cell_header(r, header, left);
  header.push_back("seeds");
  for (const char* s : kStatusNames) header.push_back(s);
  header.push_back("final_loss 5% 50% 95%");
  header.push_back("excess 5% 50% 95%");
  header.push_back("steps_to_tol (reached)");
  for (int i = 1; i <= r.modes; ++i) header.push_back("hit " + std::to_string(i));
  header.push_back("uniformity_cv");
  header.push_back("order_kendall");
  if (basin) {
    header.push_back("basin converged");
    header.push_back("basin closer");
  }
  if (det_sign) {
    header.push_back("converged det W0 > 0");
    header.push_back("converged det W0 < 0");
  }
  if (sharpness) header.push_back("eta*lambda_max (end) 5% 50% 95%");
  header.push_back("recovery_error 5% 50% 95%");
  left.resize(header.size(), false);

  std::vector<std::vector<std::string>> table{header};
  for (long c = 0; c < r.cells; ++c) {
    const CellStatistics& s = r.statistics[static_cast<std::size_t>(c)];
    const bool computed = r.computed[static_cast<std::size_t>(c)];
    std::vector<std::string> row = cell_columns(r, c);
    row.push_back(std::to_string(computed ? s.seeds : r.seeds));
    auto band = [&](const Quantiles& q) {
      return short_number(quantile(q, p05)) + " " + short_number(quantile(q, p50)) + " " +
             short_number(quantile(q, p95));
    };
    if (!computed) {
      row.resize(header.size(), "-");
    } else {
      for (std::size_t k = 0; k < 4; ++k)
        row.push_back(std::to_string(s.status_count[k]) + " (" + percent(s.status_fraction[k]) +
                      "% [" + percent(s.status_wilson95[k][0]) + ", " +
                      percent(s.status_wilson95[k][1]) + "])");
      row.push_back(band(s.final_loss));
      row.push_back(band(s.excess));
      row.push_back(counted(quantile(s.steps_to_tol, p50), s.steps_to_tol_reached));
      for (std::size_t i = 0; i < static_cast<std::size_t>(r.modes); ++i) {
        const double median = i < s.hit_step.size() ? quantile(s.hit_step[i], p50) : kNaN;
        row.push_back(std::isnan(median)
                          ? "-"
                          : counted(median, i < s.hit_count.size() ? s.hit_count[i] : 0));
      }
      row.push_back(short_number(quantile(s.uniformity_cv, p50)));
      row.push_back(short_number(quantile(s.order_kendall, p50)));
      if (basin) {
        row.push_back(short_number(s.basin_pooled[0]));
        row.push_back(short_number(s.basin_pooled[1]));
      }
      if (det_sign)
        for (const auto& sign : s.det_sign_count)
          row.push_back(std::to_string(sign[1]) + "/" + std::to_string(sign[0]));
      if (sharpness) row.push_back(band(s.final_lr_sharpness));
      row.push_back(band(s.recovery_error));
    }
    table.push_back(std::move(row));
  }
  return out + aligned(table, left);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

ReportFormat parse_report_format(const std::string& name) {
  if (name == "table") return ReportFormat::table;
  if (name == "wide") return ReportFormat::wide_table;
  if (name == "csv") return ReportFormat::csv;
  if (name == "json") return ReportFormat::json;
  throw InputError("--format: unknown report format \"" + name + "\" (table, wide, csv or json)");
}

namespace {

RunReport read_report(const std::string& h5_path) {
  Reader file(h5_path);
  if (!file.exists("/summary/status_count") || !file.exists("/outcome/status"))
    file.bad("no /summary (was it written by specsweep?)");

  RunReport r;
  r.path = h5_path;
  RunAttributes& a = r.attributes;
  auto text = [&](const char* name) {
    const std::vector<std::string> v = file.string_attribute("/", name);
    return v.empty() ? std::string() : v[0];
  };
  a.specsweep_version = text("specsweep_version");
  a.config = text("config");
  a.backend = text("backend");
  a.precision = text("precision");
  a.git_revision = text("git_revision");
  file.number_attribute("master_seed", H5T_NATIVE_UINT64, a.master_seed);
  std::int64_t unit_seeds = 0;
  file.number_attribute("unit_seeds", H5T_NATIVE_INT64, unit_seeds);
  r.unit_seeds = static_cast<long>(unit_seeds);

  const std::vector<hsize_t> outcome = file.dims("/outcome/status");
  const std::vector<hsize_t> hits = file.dims("/outcome/hit_step");
  if (outcome.size() != 2 || hits.size() != 3)
    file.bad("/outcome/status or /outcome/hit_step has the wrong rank");
  const hsize_t C = outcome[0], R = hits[2];
  r.cells = static_cast<long>(C);
  r.seeds = static_cast<long>(outcome[1]);
  r.modes = static_cast<int>(R);

  r.quantile_levels = file.numbers<double>("/summary/quantile_levels", H5T_NATIVE_DOUBLE,
                                           file.dims("/summary/quantile_levels"));
  const hsize_t Q = r.quantile_levels.size();
  if (Q != kQuantileLevels.size())
    file.bad("/summary/quantile_levels has " + std::to_string(Q) + " levels");
  const std::vector<hsize_t> band = file.dims("/summary/loss_band");
  if (band.size() != 3) file.bad("/summary/loss_band has the wrong rank");
  const hsize_t T = band[1];

  if (file.exists("/progress/unit_done")) {
    const std::vector<hsize_t> d = file.dims("/progress/unit_done");
    const std::vector<std::int8_t> done =
        file.numbers<std::int8_t>("/progress/unit_done", H5T_NATIVE_INT8, d);
    r.units = static_cast<long>(done.size());
    r.units_done = static_cast<long>(std::count(done.begin(), done.end(), std::int8_t{1}));
  }

  // Axes, in the order of /cells@axes (or by name, for files that lack it).
  std::vector<std::string> keys = file.string_attribute("/cells", "axes");
  if (keys.empty() && file.exists("/cells"))
    for (const std::string& name : file.members("/cells"))
      if (name != "config" && name != "cell") keys.push_back(name);  // cell: the dimension scale
  for (const std::string& key : keys) {
    const std::string name = "/cells/" + key;
    if (!file.exists(name)) file.bad("no " + name + " for sweep axis " + key);
    ReportAxis axis;
    axis.key = key;
    const H5T_class_t cls = file.type_class(name);
    if (cls == H5T_STRING) {
      axis.kind = ReportAxis::Kind::string;
      axis.labels = file.strings(name, C);
    } else if (cls == H5T_INTEGER) {
      axis.kind = ReportAxis::Kind::integer;
      axis.integers = file.numbers<long long>(name, H5T_NATIVE_LLONG, {C});
    } else {
      axis.numbers = file.numbers<double>(name, H5T_NATIVE_DOUBLE, {C});
    }
    r.axes.push_back(std::move(axis));
  }

  // /summary, per cell.
  const hid_t f64 = H5T_NATIVE_DOUBLE, i64 = H5T_NATIVE_INT64;
  const auto count = file.numbers<std::int64_t>("/summary/status_count", i64, {C, 4});
  const auto fraction = file.numbers<double>("/summary/status_fraction", f64, {C, 4});
  const auto wilson = file.numbers<double>("/summary/status_wilson95", f64, {C, 4, 2});
  const char* quantile_names[] = {"final_loss",    "excess",        "steps_to_tol",
                                  "uniformity_cv", "order_kendall", "basin_converged",
                                  "basin_closer"};
  std::vector<std::vector<double>> quantile_data;
  for (const char* q : quantile_names)
    quantile_data.push_back(file.numbers<double>(std::string("/summary/") + q, f64, {C, Q}));
  const auto reached = file.numbers<std::int64_t>("/summary/steps_to_tol_reached", i64, {C});
  const auto hit_step = file.numbers<double>("/summary/hit_step", f64, {C, R, Q});
  const auto hit_count = file.numbers<std::int64_t>("/summary/hit_count", i64, {C, R});
  const auto defined = file.numbers<std::int64_t>("/summary/defined_count", i64, {C, 2});
  const auto loss_band = file.numbers<double>("/summary/loss_band", f64, {C, T, Q});
  const auto sv_band = file.numbers<double>("/summary/sv_band", f64, {C, T, R, Q});
  const auto pooled = file.numbers<double>("/summary/basin_pooled", f64, {C, 2});
  // Files written before the det W(0) split have no counts: zero seeds per sign.
  const auto det_count = file.exists("/summary/det_sign_count")
                             ? file.numbers<std::int64_t>("/summary/det_sign_count", i64, {C, 2, 2})
                             : std::vector<std::int64_t>(C * 4, 0);
  // Files written before the final sharpness have none: NaN.
  const auto lr_sharpness = file.exists("/summary/final_lr_sharpness")
                                ? file.numbers<double>("/summary/final_lr_sharpness", f64, {C, Q})
                                : std::vector<double>(C * Q, kNaN);
  const auto recovery = file.exists("/summary/recovery_error")
                            ? file.numbers<double>("/summary/recovery_error", f64, {C, Q})
                            : std::vector<double>(C * Q, kNaN);
  const auto det_wilson = file.exists("/summary/det_sign_wilson95")
                              ? file.numbers<double>("/summary/det_sign_wilson95", f64, {C, 2, 2})
                              : std::vector<double>(C * 4, kNaN);

  auto quantiles_at = [&](const std::vector<double>& data, std::size_t offset) {
    Quantiles q;
    std::copy(data.begin() + static_cast<long>(offset),
              data.begin() + static_cast<long>(offset + Q), q.begin());
    return q;
  };
  for (std::size_t c = 0; c < C; ++c) {
    CellStatistics s;
    for (std::size_t k = 0; k < 4; ++k) {
      s.status_count[k] = count[c * 4 + k];
      s.status_fraction[k] = fraction[c * 4 + k];
      s.status_wilson95[k] = {wilson[(c * 4 + k) * 2], wilson[(c * 4 + k) * 2 + 1]};
    }
    const bool computed = std::all_of(s.status_count.begin(), s.status_count.end(),
                                      [](std::int64_t v) { return v >= 0; });
    s.seeds = 0;
    for (std::int64_t v : s.status_count) s.seeds += computed ? static_cast<long>(v) : 0;
    Quantiles* targets[] = {&s.final_loss,    &s.excess,          &s.steps_to_tol, &s.uniformity_cv,
                            &s.order_kendall, &s.basin_converged, &s.basin_closer};
    for (std::size_t i = 0; i < quantile_data.size(); ++i)
      *targets[i] = quantiles_at(quantile_data[i], c * Q);
    s.steps_to_tol_reached = reached[c];
    for (std::size_t i = 0; i < R; ++i) {
      s.hit_step.push_back(quantiles_at(hit_step, (c * R + i) * Q));
      s.hit_count.push_back(hit_count[c * R + i]);
    }
    s.defined_count = {defined[c * 2], defined[c * 2 + 1]};
    for (std::size_t t = 0; t < T; ++t) {
      s.loss_band.push_back(quantiles_at(loss_band, (c * T + t) * Q));
      for (std::size_t i = 0; i < R; ++i)
        s.sv_band.push_back(quantiles_at(sv_band, ((c * T + t) * R + i) * Q));
    }
    s.basin_pooled = {pooled[c * 2], pooled[c * 2 + 1]};
    s.final_lr_sharpness = quantiles_at(lr_sharpness, c * Q);
    s.recovery_error = quantiles_at(recovery, c * Q);
    for (std::size_t k = 0; k < 2; ++k) {
      s.det_sign_count[k] = {det_count[(c * 2 + k) * 2], det_count[(c * 2 + k) * 2 + 1]};
      s.det_sign_wilson95[k] = {det_wilson[(c * 2 + k) * 2], det_wilson[(c * 2 + k) * 2 + 1]};
    }
    r.statistics.push_back(std::move(s));
    r.computed.push_back(computed);
  }
  return r;
}

}  // namespace

namespace {

// A damaged file can state sizes that no memory holds.
RunReport read_report_sized(const std::string& h5_path) {
  try {
    return read_report(h5_path);
  } catch (const std::bad_alloc&) {
    throw InputError(h5_path + ": not a readable run file (a size in it is impossible)");
  } catch (const std::length_error&) {
    throw InputError(h5_path + ": not a readable run file (a size in it is impossible)");
  }
}

// Reads the file's report once in a child process (in_child.hpp), so that a crash of HDF5 on a
// damaged file is an InputError naming it, not the end of this process (or of a Python session).
// The report is small: reading it twice costs little.
void read_in_child_first(const std::string& h5_path) {
  std::string how_it_ended;
  const std::optional<ChildVerdict> verdict = run_in_child(
      [&](int) { return verdict_of([&] { (void)read_report_sized(h5_path); }); }, how_it_ended);
  if (!verdict)
    throw InputError(h5_path +
                     ": not a readable run file (HDF5 crashed reading it: " + how_it_ended + ")");
  verdict->rethrow();
}

}  // namespace

RunReport load_report(const std::string& h5_path, ReadIn read_in) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  if (read_in == ReadIn::child_process) read_in_child_first(h5_path);
  return read_report_sized(h5_path);
}

namespace {

std::string csv_number(double v) {
  return std::isnan(v) ? "" : std::isinf(v) ? (v > 0 ? "inf" : "-inf") : exact(v);
}

void export_outcomes_unlocked(const std::string& h5_path, std::FILE* out) {
  const RunReport r = read_report(h5_path);
  Reader file(h5_path);
  SeedOutcomes o;
  o.r = r.modes;
  // Header: the cell, its swept values, the seed, then /outcome in its order (one column per mode
  // for the per-mode arrays).
  std::string header = "cell";
  for (const ReportAxis& axis : r.axes) header += "," + csv_field(axis.key);
  header += ",seed";
  for_each_outcome_array(o, [&](const char* name, const auto&, int per_seed) {
    if (per_seed == 1)
      header += std::string(",") + name;
    else
      for (int i = 1; i <= per_seed; ++i)
        header += "," + std::string(name) + "_" + std::to_string(i);
  });
  std::fputs((header + "\n").c_str(), out);
  const hsize_t S = static_cast<hsize_t>(r.seeds);
  for (long c = 0; c < r.cells; ++c) {
    std::string prefix = std::to_string(c);
    for (const ReportAxis& axis : r.axes) prefix += "," + csv_value(axis_value(axis, c));
    for_each_outcome_array(o, [&](const char* name, auto& values, int per_seed) {
      values = file.template cell_row<typename std::decay_t<decltype(values)>::value_type>(
          std::string("/outcome/") + name, native_type(values), c, S,
          static_cast<hsize_t>(per_seed));
    });
    for (hsize_t seed = 0; seed < S; ++seed) {
      std::string line = prefix + "," + std::to_string(seed);
      for_each_outcome_array(o, [&](const char* name, const auto& values, int per_seed) {
        for (int i = 0; i < per_seed; ++i) {
          const auto v =
              values[static_cast<std::size_t>(seed) * static_cast<std::size_t>(per_seed) + i];
          line += ",";
          if constexpr (std::is_floating_point_v<std::decay_t<decltype(v)>>) {
            line += csv_number(v);
          } else if (std::string_view(name) == "status") {
            line += v >= 0 && v < static_cast<int>(kStatusNames.size())
                        ? kStatusNames[static_cast<std::size_t>(v)]
                        : "";
          } else if (v >= 0) {  // steps_to_tol, hit_step: -1 is never (left empty)
            line += std::to_string(v);
          }
        }
      });
      std::fputs((line + "\n").c_str(), out);
    }
  }
}

}  // namespace

void export_outcomes(const std::string& h5_path, std::FILE* out) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  // The per-seed data are numbers in checksummed chunks; what crashes HDF5 lies in what the report
  // reads (strings, attributes, object headers).
  read_in_child_first(h5_path);
  try {
    export_outcomes_unlocked(h5_path, out);
  } catch (const std::bad_alloc&) {
    throw InputError(h5_path + ": not a readable run file (a size in it is impossible)");
  }
  if (std::ferror(out)) throw RuntimeFailure("export of " + h5_path + ": cannot write the CSV");
}

std::string format_report(const RunReport& report, ReportFormat format) {
  switch (format) {
    case ReportFormat::csv:
      return format_csv(report);
    case ReportFormat::json:
      return format_json(report);
    case ReportFormat::wide_table:
      return format_wide_table(report);
    case ReportFormat::table:
      break;
  }
  return format_table(report);
}

void write_summary_csv(const RunReport& report, const std::string& path) {
  const std::string text = format_report(report, ReportFormat::csv);
  const std::string temporary = path + ".tmp-" + std::to_string(static_cast<long>(::getpid()));
  auto fail = [&](const std::string& what, int err) {
    std::remove(temporary.c_str());
    throw RuntimeFailure("summary " + path + ": " + what + ": " + std::strerror(err));
  };
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0)
    throw RuntimeFailure("summary " + path + ": cannot create " + temporary + ": " +
                         std::strerror(errno));
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      fail("cannot write " + temporary, err);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail("cannot sync " + temporary, err);
  }
  if (::close(fd) != 0) fail("cannot write " + temporary, errno);
  if (std::rename(temporary.c_str(), path.c_str()) != 0)
    fail("cannot rename " + temporary + " over it", errno);
}

}  // namespace specsweep
