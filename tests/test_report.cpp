// Reports (host/report.cpp): a small run file written through RunFile (create, write_summary,
// commit), read back by load_report and printed as table, csv and json; the json is checked by a
// small validator here and, when python3 is available, parsed and checked by it.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "errors.hpp"
#include "h5_output.hpp"
#include "report.hpp"
#include "statistics.hpp"
#include "temp_dir_test.hpp"

namespace specsweep {
namespace {

namespace fs = std::filesystem;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

const char* const kConfig = "[problem]\nm = 4  # \"σ\" ≥ 0\n\ttab = '\\\\'\n";

RunAttributes attributes() {
  RunAttributes a;
  a.specsweep_version = "0.1.0-test";
  a.config = std::string(kConfig) + '\x01';  // a control character, escaped in json
  a.master_seed = (std::uint64_t{1} << 63) + 5;
  a.backend = "cpu";
  a.precision = "fp32";
  a.git_revision = "abc1234";
  return a;
}

// C = 4 cells: lr (numeric) x kind (strings, one needing csv quoting); r = 2, T = 3, S = 100.
OutputLayout sweep_layout() {
  OutputLayout l;
  l.cells = 4;
  l.seeds = 100;
  l.traced = 2;
  l.unit_seeds = 50;
  l.record_steps = {0, 5, 10};
  l.m = 3;
  l.n = 4;
  l.r = 2;
  l.depth = 2;
  l.spectrum_length = 2;
  SweepAxis lr;
  lr.key = "optimizer.lr";
  lr.numbers = {0.1, 0.25};
  SweepAxis kind;
  kind.key = "optimizer.kind";
  kind.numeric = false;
  kind.labels = {"gd", "mu,\"on\""};
  l.axes = {lr, kind};
  for (int c = 0; c < 4; ++c) l.cell_configs.push_back("cell " + std::to_string(c));
  return l;
}

CellStatistics statistics(long cell) {
  CellStatistics s;
  s.seeds = 100;
  s.status_count = {90 - cell, 5, 3 + cell, 2};
  for (int k = 0; k < 4; ++k) {
    s.status_fraction[k] = s.status_count[k] / 100.0;
    s.status_wilson95[k] = {s.status_fraction[k] - 0.01, s.status_fraction[k] + 0.02};
  }
  s.final_loss = {1e-7, 2e-7, 3e-7 * (cell + 1), 4e-7, 5e-7};
  s.excess = {1e-9, 2e-9, 3e-9, 4e-9, kNaN};
  s.steps_to_tol = {100, 110, cell == 2 ? kInf : 120.5, 130, kInf};
  s.steps_to_tol_reached = 95 - cell;
  s.hit_step = {{10, 11, 12, 13, 14}, {20, 21, 22.0 + static_cast<double>(cell), 23, kInf}};
  s.hit_count = {100, 99 - cell};
  s.uniformity_cv = {0.01, 0.02, 0.03, 0.04, 0.05};
  s.order_kendall = {-1, 0.5, 1, 1, 1};
  s.defined_count = {100, 100};
  for (int t = 0; t < 3; ++t) {
    s.loss_band.push_back({1.0 * t, 2.0 * t, 3.0 * t, 4.0 * t, 5.0 * t});
    for (int i = 0; i < 2; ++i) s.sv_band.push_back({1.0 * i, 2.0, 3.0, 4.0, 5.0});
  }
  s.basin_converged = {0.9, 0.95, 1, 1, 1};
  s.basin_closer = {0.8, 0.85, 0.9, 1, 1};
  s.basin_pooled = {0.97, 0.875 + 0.001 * cell};
  s.det_sign_count = {{{51 + cell, 40}, {49 - cell, 0}}};
  s.det_sign_wilson95 = {{{0.65, 0.88}, {0.0, 0.07}}};
  return s;
}

class ReportTest : public testing::TempDirTest {
 protected:
  // The sweep file: every unit of cells 0..2 done and summarized, cell 3 untouched.
  std::string write_sweep(bool commit = true) {
    const std::string file_path = path("run.h5");
    RunFile file = RunFile::create(file_path, sweep_layout(), attributes());
    for (long cell = 0; cell < 3; ++cell) {
      for (long u = 0; u < 2; ++u) {
        SeedOutcomes o;
        o.resize(u * 50, 50, 2);
        std::fill(o.status.begin(), o.status.end(), std::int8_t{0});
        file.write_outcomes(cell, o);
        file.mark_unit_done(cell, u);
      }
      file.write_summary(cell, statistics(cell));
    }
    if (commit) {
      file.commit();
    } else {
      file.keep_partial();
    }
    return commit ? file_path : file_path + ".partial";
  }
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// RFC 4180 fields of one csv line (no embedded newlines here).
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted) {
      if (ch == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (ch == '"') {
        quoted = false;
      } else {
        fields.back() += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      fields.emplace_back();
    } else {
      fields.back() += ch;
    }
  }
  return fields;
}

// A minimal strict JSON validator (RFC 8259 grammar; no NaN/Infinity, no trailing commas).
class JsonValidator {
 public:
  explicit JsonValidator(const std::string& text) : s_(text) {}
  bool valid() {
    ws();
    if (!value()) return false;
    ws();
    return i_ == s_.size();
  }

 private:
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r'))
      ++i_;
  }
  bool literal(const char* word) {
    const std::string w(word);
    if (s_.compare(i_, w.size(), w) != 0) return false;
    i_ += w.size();
    return true;
  }
  bool string() {
    if (s_[i_] != '"') return false;
    for (++i_; i_ < s_.size(); ++i_) {
      const unsigned char ch = static_cast<unsigned char>(s_[i_]);
      if (ch == '"') {
        ++i_;
        return true;
      }
      if (ch < 0x20) return false;
      if (ch == '\\') {
        ++i_;
        if (i_ >= s_.size()) return false;
        const char e = s_[i_];
        if (e == 'u') {
          for (int k = 0; k < 4; ++k)
            if (++i_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_])))
              return false;
        } else if (std::string("\"\\/bfnrt").find(e) == std::string::npos) {
          return false;
        }
      }
    }
    return false;
  }
  bool number() {
    const std::size_t start = i_;
    if (s_[i_] == '-') ++i_;
    auto digits = [&] {
      const std::size_t d = i_;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
      return i_ > d;
    };
    if (i_ < s_.size() && s_[i_] == '0') {
      ++i_;
    } else if (!digits()) {
      return false;
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (!digits()) return false;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digits()) return false;
    }
    return i_ > start;
  }
  bool value() {
    if (i_ >= s_.size()) return false;
    const char ch = s_[i_];
    if (ch == '{' || ch == '[') {
      const char close = ch == '{' ? '}' : ']';
      ++i_;
      ws();
      if (i_ < s_.size() && s_[i_] == close) {
        ++i_;
        return true;
      }
      while (true) {
        ws();
        if (ch == '{') {
          if (i_ >= s_.size() || !string()) return false;
          ws();
          if (i_ >= s_.size() || s_[i_] != ':') return false;
          ++i_;
          ws();
        }
        if (!value()) return false;
        ws();
        if (i_ >= s_.size()) return false;
        if (s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (s_[i_] != close) return false;
        ++i_;
        return true;
      }
    }
    if (ch == '"') return string();
    if (ch == 't') return literal("true");
    if (ch == 'f') return literal("false");
    if (ch == 'n') return literal("null");
    return number();
  }

  const std::string& s_;
  std::size_t i_ = 0;
};

std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// ---------------------------------------------------------------------------------------------

TEST(ReportFormatNames, Parse) {
  EXPECT_EQ(parse_report_format("table"), ReportFormat::table);
  EXPECT_EQ(parse_report_format("wide"), ReportFormat::wide_table);
  EXPECT_EQ(parse_report_format("csv"), ReportFormat::csv);
  EXPECT_EQ(parse_report_format("json"), ReportFormat::json);
  try {
    parse_report_format("xml");
    ADD_FAILURE() << "accepted xml";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("xml"), std::string::npos);
  }
}

TEST(JsonValidatorSelfTest, AcceptsAndRejects) {
  for (const char* good :
       {"{}", "[]", "[1, -0.5, 2e-3, \"a\\n\\u00e9\", null, true]", "{\"a\": {\"b\": [1]}}"})
    EXPECT_TRUE(JsonValidator(good).valid()) << good;
  for (const char* bad : {"[NaN]", "[1,]", "{\"a\" 1}", "[\"\x01\"]", "[inf]", "[01]", "{} {}"})
    EXPECT_FALSE(JsonValidator(bad).valid()) << bad;
}

TEST_F(ReportTest, LoadReportReadsCellsSummaryAndAttributes) {
  const RunReport r = load_report(write_sweep());
  EXPECT_EQ(r.path, path("run.h5"));
  EXPECT_EQ(r.attributes.specsweep_version, "0.1.0-test");
  EXPECT_EQ(r.attributes.config, attributes().config);
  EXPECT_EQ(r.attributes.master_seed, attributes().master_seed);
  EXPECT_EQ(r.attributes.backend, "cpu");
  EXPECT_EQ(r.attributes.precision, "fp32");
  EXPECT_EQ(r.attributes.git_revision, "abc1234");
  EXPECT_EQ(r.unit_seeds, 50);
  EXPECT_EQ(r.cells, 4);
  EXPECT_EQ(r.seeds, 100);
  EXPECT_EQ(r.modes, 2);
  EXPECT_EQ(r.units, 8);
  EXPECT_EQ(r.units_done, 6);
  EXPECT_EQ(r.quantile_levels, (std::vector<double>{0.05, 0.25, 0.5, 0.75, 0.95}));
  ASSERT_EQ(r.axes.size(), 2u);
  EXPECT_EQ(r.axes[0].key, "optimizer.lr");
  EXPECT_EQ(r.axes[0].kind, ReportAxis::Kind::number);
  EXPECT_EQ(r.axes[0].numbers, (std::vector<double>{0.1, 0.1, 0.25, 0.25}));
  EXPECT_EQ(r.axes[1].key, "optimizer.kind");
  EXPECT_EQ(r.axes[1].kind, ReportAxis::Kind::string);
  EXPECT_EQ(r.axes[1].labels, (std::vector<std::string>{"gd", "mu,\"on\"", "gd", "mu,\"on\""}));
  EXPECT_EQ(r.computed, (std::vector<bool>{true, true, true, false}));
  ASSERT_EQ(r.statistics.size(), 4u);
  const CellStatistics want = statistics(2);
  const CellStatistics& got = r.statistics[2];
  EXPECT_EQ(got.seeds, 100);
  EXPECT_EQ(got.status_count, want.status_count);
  EXPECT_EQ(got.status_fraction, want.status_fraction);
  EXPECT_EQ(got.status_wilson95, want.status_wilson95);
  EXPECT_EQ(got.final_loss, want.final_loss);
  EXPECT_EQ(got.steps_to_tol, want.steps_to_tol);
  EXPECT_EQ(got.steps_to_tol_reached, want.steps_to_tol_reached);
  EXPECT_EQ(got.hit_step, want.hit_step);
  EXPECT_EQ(got.hit_count, want.hit_count);
  EXPECT_EQ(got.order_kendall, want.order_kendall);
  EXPECT_EQ(got.defined_count, want.defined_count);
  EXPECT_EQ(got.loss_band, want.loss_band);
  EXPECT_EQ(got.sv_band, want.sv_band);
  EXPECT_EQ(got.basin_closer, want.basin_closer);
  EXPECT_EQ(got.basin_pooled, want.basin_pooled);
  EXPECT_EQ(got.det_sign_count, want.det_sign_count);
  EXPECT_EQ(got.det_sign_wilson95, want.det_sign_wilson95);
  EXPECT_TRUE(std::isnan(got.excess[4]));
  EXPECT_EQ(r.statistics[3].status_count, (std::array<std::int64_t, 4>{-1, -1, -1, -1}));
}

TEST_F(ReportTest, CsvHasAHeaderAndOneRowPerCell) {
  const RunReport r = load_report(write_sweep());
  const std::vector<std::string> lines = lines_of(format_report(r, ReportFormat::csv));
  ASSERT_EQ(lines.size(), 5u);
  const std::vector<std::string> header = csv_fields(lines[0]);
  const std::vector<std::string> want_header{"cell",
                                             "optimizer.lr",
                                             "optimizer.kind",
                                             "seeds",
                                             "converged",
                                             "converged_fraction",
                                             "converged_wilson95_low",
                                             "converged_wilson95_high",
                                             "stalled",
                                             "stalled_fraction",
                                             "stalled_wilson95_low",
                                             "stalled_wilson95_high",
                                             "diverged",
                                             "diverged_fraction",
                                             "diverged_wilson95_low",
                                             "diverged_wilson95_high",
                                             "unconverged",
                                             "unconverged_fraction",
                                             "unconverged_wilson95_low",
                                             "unconverged_wilson95_high",
                                             "final_loss_p05",
                                             "final_loss_p25",
                                             "final_loss_p50",
                                             "final_loss_p75",
                                             "final_loss_p95",
                                             "excess_p05",
                                             "excess_p25",
                                             "excess_p50",
                                             "excess_p75",
                                             "excess_p95",
                                             "steps_to_tol_p25",
                                             "steps_to_tol_p50",
                                             "steps_to_tol_p75",
                                             "steps_to_tol_reached",
                                             "hit_step_1_p25",
                                             "hit_step_1_p50",
                                             "hit_step_1_p75",
                                             "hit_count_1",
                                             "hit_step_2_p25",
                                             "hit_step_2_p50",
                                             "hit_step_2_p75",
                                             "hit_count_2",
                                             "uniformity_cv_p25",
                                             "uniformity_cv_p50",
                                             "uniformity_cv_p75",
                                             "order_kendall_p25",
                                             "order_kendall_p50",
                                             "order_kendall_p75",
                                             "basin_converged",
                                             "basin_closer",
                                             "det_plus_seeds",
                                             "det_plus_converged",
                                             "det_minus_seeds",
                                             "det_minus_converged",
                                             "final_lr_sharpness_p25",
                                             "final_lr_sharpness_p50",
                                             "final_lr_sharpness_p75",
                                             "recovery_error_p25",
                                             "recovery_error_p50",
                                             "recovery_error_p75"};
  EXPECT_EQ(header, want_header);
  auto column = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  for (std::size_t k = 1; k < lines.size(); ++k)
    EXPECT_EQ(csv_fields(lines[k]).size(), header.size()) << lines[k];
  const std::vector<std::string> one = csv_fields(lines[2]);  // cell 1
  EXPECT_EQ(one[column("cell")], "1");
  EXPECT_EQ(one[column("optimizer.lr")], "0.1");
  EXPECT_EQ(one[column("optimizer.kind")], "mu,\"on\"");
  EXPECT_NE(lines[2].find("\"mu,\"\"on\"\"\""), std::string::npos) << lines[2];
  EXPECT_EQ(one[column("seeds")], "100");
  EXPECT_EQ(one[column("converged")], "89");
  EXPECT_EQ(one[column("converged_fraction")], "0.89");
  EXPECT_EQ(std::stod(one[column("converged_wilson95_high")]), 0.89 + 0.02);
  EXPECT_EQ(one[column("diverged")], "4");
  EXPECT_EQ(std::stod(one[column("final_loss_p50")]), 3e-7 * 2);
  EXPECT_EQ(one[column("final_loss_p05")], "1e-07");
  // The quartiles, as /summary holds them (levels 0.25 and 0.75).
  EXPECT_EQ(std::stod(one[column("final_loss_p25")]), r.statistics[1].final_loss[1]);
  EXPECT_EQ(std::stod(one[column("excess_p75")]), r.statistics[1].excess[3]);
  EXPECT_EQ(std::stod(one[column("hit_step_2_p25")]), r.statistics[1].hit_step[1][1]);
  EXPECT_EQ(one[column("excess_p95")], "");  // NaN
  EXPECT_EQ(one[column("steps_to_tol_p50")], "120.5");
  EXPECT_EQ(one[column("steps_to_tol_reached")], "94");
  EXPECT_EQ(one[column("hit_step_2_p50")], "23");
  EXPECT_EQ(one[column("hit_count_2")], "98");
  EXPECT_EQ(one[column("order_kendall_p50")], "1");
  EXPECT_EQ(one[column("basin_closer")], "0.876");
  EXPECT_EQ(one[column("det_plus_seeds")], "52");
  EXPECT_EQ(one[column("det_plus_converged")], "40");
  EXPECT_EQ(one[column("det_minus_converged")], "0");
  EXPECT_EQ(csv_fields(lines[3])[column("steps_to_tol_p50")], "inf");  // censored median
  const std::vector<std::string> three = csv_fields(lines[4]);         // not computed
  EXPECT_EQ(three[column("seeds")], "100");
  EXPECT_EQ(three[column("converged")], "");
  EXPECT_EQ(three[column("final_loss_p50")], "");
  EXPECT_EQ(three[column("optimizer.lr")], "0.25");
}

TEST_F(ReportTest, JsonIsValidWithNullsAndEscapes) {
  const RunReport r = load_report(write_sweep());
  const std::string json = format_report(r, ReportFormat::json);
  EXPECT_TRUE(JsonValidator(json).valid()) << json;
  EXPECT_EQ(json.find("nan"), std::string::npos);
  EXPECT_EQ(json.find("inf"), std::string::npos);
  EXPECT_NE(json.find("\\u0001"), std::string::npos);
  EXPECT_NE(json.find("\"master_seed\": 9223372036854775813"), std::string::npos);

  if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "python3 is not available";
  {
    std::ofstream out(path("report.json"), std::ios::binary);
    out << json;
    std::ofstream script(path("check.py"));
    script << R"(import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    d = json.load(f)
a = d["attributes"]
assert a["master_seed"] == 2**63 + 5
assert a["config"].startswith("[problem]\nm = 4  # \"σ\" ≥ 0\n\ttab = '\\\\'") and a["config"].endswith("\x01"), repr(a["config"])
assert a["unit_seeds"] == 50 and a["precision"] == "fp32"
assert d["axes"] == ["optimizer.lr", "optimizer.kind"]
assert d["units"] == 8 and d["units_done"] == 6
assert d["quantile_levels"] == [0.05, 0.25, 0.5, 0.75, 0.95]
cells = d["cells"]
assert len(cells) == 4
c = cells[1]
assert c["cell"] == 1 and c["optimizer.lr"] == 0.1 and c["optimizer.kind"] == 'mu,"on"'
assert c["converged"] == 89 and c["converged_fraction"] == 0.89
assert c["excess_p95"] is None
assert c["steps_to_tol_p50"] == 120.5 and c["steps_to_tol_reached"] == 94
assert c["hit_step_2_p50"] == 23 and c["hit_count_2"] == 98
assert c["basin_converged"] == 0.97
assert cells[2]["steps_to_tol_p50"] is None  # +inf
assert cells[3]["converged"] is None and cells[3]["seeds"] == 100
print("ok")
)";
  }
  const std::string command =
      "/usr/bin/python3 " + path("check.py") + " " + path("report.json") + " 2>&1";
  const int rc = std::system(command.c_str());
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << command;
}

// The default table fits 100 columns: the swept values always, then what fits from the left;
// the note names what it left out; cells where no seed converged get a line saying so.
TEST_F(ReportTest, DefaultTableFitsAHundredColumns) {
  RunReport r = load_report(write_sweep());
  auto widest = [](const std::string& text) {  // after the first line, the file's path
    std::size_t w = 0;
    const std::vector<std::string> lines = lines_of(text);
    for (std::size_t k = 1; k < lines.size(); ++k) w = std::max(w, lines[k].size());
    return w;
  };
  const std::string table = format_report(r, ReportFormat::table);
  EXPECT_LE(widest(table), 100u) << table;
  const std::vector<std::string> lines = lines_of(table);
  const auto head = std::find_if(lines.begin(), lines.end(),
                                 [](const std::string& l) { return l.rfind("cell", 0) == 0; });
  ASSERT_TRUE(head != lines.end() && lines.end() - head >= 5) << table;
  for (const char* name :
       {"cell", "optimizer.lr", "optimizer.kind", "seeds", "converged %", "excess", "hit"})
    EXPECT_NE(head->find(name), std::string::npos) << name << "\n" << table;
  EXPECT_NE(head[2].find("89 [88, 91]"), std::string::npos)
      << table;                                                  // cell 1: converged % [Wilson]
  EXPECT_NE(head[2].find("12 23"), std::string::npos) << table;  // median hitting steps
  // Long swept values leave less room: columns go from the right, and the note says which.
  for (std::string& label : r.axes[1].labels) label += std::string(40, 'x');
  const std::string narrow = format_report(r, ReportFormat::table);
  EXPECT_LE(widest(narrow), 100u) << narrow;
  EXPECT_NE(narrow.find("not shown to fit 100 columns"), std::string::npos) << narrow;
  EXPECT_NE(narrow.find("tau"), std::string::npos) << narrow;  // named in the note
  EXPECT_NE(narrow.find("--format wide"), std::string::npos) << narrow;
  // A cell where no seed converged is named, with its median excess.
  r.statistics[0].status_count[0] = 0;
  const std::string none = format_report(r, ReportFormat::table);
  EXPECT_NE(none.find("no seed converged in cell 0:"), std::string::npos) << none;
  EXPECT_EQ(
      format_report(load_report(write_sweep()), ReportFormat::table).find("no seed converged"),
      std::string::npos);
}

TEST_F(ReportTest, TableIsAlignedAndReadable) {
  const RunReport r = load_report(write_sweep());
  const std::string table = format_report(r, ReportFormat::wide_table);
  const std::vector<std::string> lines = lines_of(table);
  ASSERT_EQ(lines.size(), 4u + 1 + 4)
      << table;  // 3 header lines and a blank, the header row, 4 cells
  EXPECT_NE(lines[0].find("specsweep 0.1.0-test"), std::string::npos) << table;
  EXPECT_NE(lines[0].find("master_seed 9223372036854775813"), std::string::npos) << table;
  EXPECT_NE(lines[1].find("PARTIAL: 6 of 8 work units done"), std::string::npos) << table;
  const std::string& head = lines[4];
  for (const char* name : {"cell", "optimizer.lr", "optimizer.kind", "seeds", "converged",
                           "unconverged", "final_loss 5% 50% 95%", "steps_to_tol (reached)",
                           "hit 2", "order_kendall", "basin converged", "converged det W0 < 0"})
    EXPECT_NE(head.find(name), std::string::npos) << name << "\n" << table;
  // Columns line up: each right-aligned "seeds" value ends where the header does.
  const std::size_t seeds_end = head.find("seeds") + 5;
  for (std::size_t k = 5; k < lines.size(); ++k)
    EXPECT_EQ(lines[k].substr(seeds_end - 3, 3), "100") << lines[k];
  EXPECT_NE(lines[6].find("89 (89% [88, 91])"), std::string::npos) << table;
  EXPECT_NE(lines[6].find("mu,\"on\""), std::string::npos) << table;
  EXPECT_NE(lines[7].find("never (93)"), std::string::npos) << table;  // censored median
  EXPECT_NE(lines[8].find(" -"), std::string::npos) << table;          // not computed
  // Without a basin probe the basin columns are left out.
  RunReport no_basin = r;
  for (auto& s : no_basin.statistics) s.basin_pooled = {kNaN, kNaN};
  EXPECT_EQ(format_report(no_basin, ReportFormat::wide_table).find("basin"), std::string::npos);
  EXPECT_NE(lines[6].find("40/52"), std::string::npos) << table;  // converged / seeds with det > 0
  // Without square factors (no seed has a det sign) the det columns are left out.
  for (auto& s : no_basin.statistics) s.det_sign_count = {};
  EXPECT_EQ(format_report(no_basin, ReportFormat::wide_table).find("det W0"), std::string::npos);
}

TEST_F(ReportTest, PartialFileAndNoSweep) {
  const RunReport partial = load_report(write_sweep(false));
  EXPECT_EQ(partial.units_done, 6);
  EXPECT_EQ(partial.computed[3], false);
  // One cell, no axes.
  OutputLayout l = sweep_layout();
  l.axes.clear();
  l.cells = 1;
  l.cell_configs.clear();
  {
    RunFile file = RunFile::create(path("one.h5"), l, attributes());
    file.write_summary(0, statistics(0));
    file.commit();
  }
  const RunReport one = load_report(path("one.h5"));
  EXPECT_TRUE(one.axes.empty());
  const std::vector<std::string> lines = lines_of(format_report(one, ReportFormat::csv));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].rfind("cell,seeds,converged,", 0), 0u) << lines[0];
  EXPECT_TRUE(JsonValidator(format_report(one, ReportFormat::json)).valid());
}

TEST_F(ReportTest, IntegralAxesStayExact) {
  OutputLayout l = sweep_layout();
  SweepAxis seed;
  seed.key = "run.master_seed";
  seed.integral = true;
  seed.integers = {(1LL << 60) + 3, 2};
  seed.numbers = {static_cast<double>(seed.integers[0]), 2};
  l.axes = {seed};
  l.cells = 2;
  l.cell_configs = {"a", "b"};
  {
    RunFile file = RunFile::create(path("seeds.h5"), l, attributes());
    file.write_summary(0, statistics(0));
    file.commit();
  }
  const RunReport r = load_report(path("seeds.h5"));
  ASSERT_EQ(r.axes.size(), 1u);
  EXPECT_EQ(r.axes[0].kind, ReportAxis::Kind::integer);
  EXPECT_EQ(r.axes[0].integers, (std::vector<long long>{(1LL << 60) + 3, 2}));
  EXPECT_NE(format_report(r, ReportFormat::csv).find("\n0,1152921504606846979,"),
            std::string::npos);
  EXPECT_NE(format_report(r, ReportFormat::table).find("1152921504606846979"), std::string::npos);
}

TEST_F(ReportTest, UnreadableOrForeignFilesAreInputErrors) {
  auto expect_input_error = [&](const std::string& file) {
    try {
      load_report(file);
      ADD_FAILURE() << "loaded " << file;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
    }
  };
  expect_input_error(path("missing.h5"));
  {
    std::ofstream junk(path("junk.h5"));
    junk << "not hdf5";
  }
  expect_input_error(path("junk.h5"));
  {
    const hid_t f = H5Fcreate(path("foreign.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    H5Fclose(f);
  }
  expect_input_error(path("foreign.h5"));
  try {
    load_report(path("foreign.h5"));
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/summary"), std::string::npos) << e.what();
  }
}

// HDF5 1.10 crashes on some damage: here the sizes of the sweep axes' names, strings in a global
// heap collection after a header whose last 8 bytes are their size, each 64 KiB too large (its
// reader copies that many bytes from a collection of a few KiB). Read in this process the report
// dies; read as `specsweep report` reads it, it is an InputError naming the file.
TEST_F(ReportTest, AFileOnWhichHdf5CrashesIsAnInputError) {
  const std::string file = write_sweep();
  std::string bytes = file_text(file);
  int damaged_strings = 0;
  for (const SweepAxis& axis : sweep_layout().axes)
    for (std::size_t at = bytes.find(axis.key); at != std::string::npos;
         at = bytes.find(axis.key, at + 1)) {
      std::uint64_t size = 0;
      std::memcpy(&size, bytes.data() + at - sizeof size, sizeof size);
      if (size != axis.key.size()) continue;
      size += std::uint64_t{1} << 16;
      std::memcpy(&bytes[at - sizeof size], &size, sizeof size);
      ++damaged_strings;
    }
  ASSERT_GT(damaged_strings, 0) << "the names of the sweep axes were not found";
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  // In this process: a signal, or the sanitizers' exit status 1 without abort_on_error.
  EXPECT_EXIT(
      {
        try {
          load_report(file, ReadIn::this_process);
        } catch (const std::exception&) {
        }
        std::_Exit(0);
      },
      [](int status) { return !WIFEXITED(status) || WEXITSTATUS(status) != 0; }, "")
      << "HDF5 no longer crashes on this damage: find other damage that it crashes on";
  try {
    load_report(file);
    ADD_FAILURE() << "loaded a damaged file";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(file + ": not a readable run file (HDF5 crashed"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(file_text(file), bytes);
}

TEST_F(ReportTest, WriteSummaryCsvIsAtomic) {
  const RunReport r = load_report(write_sweep());
  const std::string csv_path = path("run.summary.csv");
  {
    std::ofstream old(csv_path);
    old << "old contents\n";
  }
  write_summary_csv(r, csv_path);
  EXPECT_EQ(file_text(csv_path), format_report(r, ReportFormat::csv));
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"run.h5", "run.summary.csv"}));
  EXPECT_THROW(write_summary_csv(r, path("no/such/dir/run.summary.csv")), RuntimeFailure);
  if (::geteuid() != 0) {  // root ignores directory permissions
    fs::create_directories(path("readonly"));
    fs::permissions(path("readonly"), fs::perms::owner_read | fs::perms::owner_exec);
    EXPECT_THROW(write_summary_csv(r, path("readonly/run.summary.csv")), RuntimeFailure);
    fs::permissions(path("readonly"), fs::perms::owner_all);
  }
  // The final path is a directory: the rename fails and no temporary is left.
  fs::create_directories(path("taken.csv/inside"));
  EXPECT_THROW(write_summary_csv(r, path("taken.csv")), RuntimeFailure);
  names.clear();
  for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
  EXPECT_TRUE(std::none_of(names.begin(), names.end(), [](const std::string& n) {
    return n.find(".tmp-") != std::string::npos;
  }));
}

}  // namespace
}  // namespace specsweep
