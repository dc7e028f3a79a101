// The command line contract (DESIGN section 4) through the real binary: exit 2 with the key named
// for bad input, 3 for runtime failures, and a failed run never damages or leaves an output file.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "temp_dir_test.hpp"

namespace {

namespace fs = std::filesystem;

struct Result {
  int code;
  std::string output;  // stdout and stderr
};

Result run(const std::string& args) {
  const std::string cmd = std::string(SPECSWEEP_EXE) + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

class Cli : public specsweep::testing::TempDirTest {
 protected:
  std::string write(const std::string& name, const std::string& text) const {
    const fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  static std::string small_config(const std::string& extra = "") {
    return "[problem]\nm = 8\nn = 6\nrank = 2\n[problem.target]\nspectrum = [2.0, 1.0]\n"
           "[run]\nsteps = 20\nseeds = 10\n" + extra;
  }
};

TEST_F(Cli, VersionAndValidate) {
  const auto v = run("--version");
  EXPECT_EQ(v.code, 0);
  EXPECT_NE(v.output.find("specsweep"), std::string::npos);
  const auto ok = run("validate " + write("ok.toml", small_config()));
  EXPECT_EQ(ok.code, 0) << ok.output;
  EXPECT_NE(ok.output.find("[optimizer]"), std::string::npos);  // the resolved config
}

struct BadInput {
  const char* name;
  std::string config;
  std::string args;  // extra arguments
  std::string must_mention;
};

TEST_F(Cli, EveryBadInputExitsTwoNamingTheKey) {
  const BadInput cases[] = {
      {"unknown_key", "[problem]\nm = 8\nmm = 3\n", "", "problem.mm"},
      {"unknown_table", "[problems]\nm = 8\n", "", "problems"},
      {"wrong_type", "[problem]\nm = \"eight\"\n", "", "problem.m"},
      {"rank_zero", "[problem]\nrank = 0\n", "", "problem.rank"},
      {"depth_one", "[problem]\ndepth = 1\n", "", "problem.depth"},
      {"negative_steps", "[run]\nsteps = -5\n", "", "run.steps"},
      {"lr_zero", "[optimizer]\nlr = 0.0\n", "", "optimizer.lr"},
      {"lr_nan", "[optimizer]\nlr = nan\n", "", "optimizer.lr"},
      {"unknown_preset", "[optimizer]\northogonalizer = \"newton_schulz\"\nns_coefficients = \"quintic9\"\n", "",
       "optimizer.ns_coefficients"},
      {"syntax", "[problem\nm = 8\n", "", "line"},
      {"bad_set", "", "--set optimizer.lr", "optimizer.lr"},
      {"set_unknown", "", "--set optimizer.learning_rate=0.1", "optimizer.learning_rate"},
      {"bad_backend", "", "--backend tpu", "--backend"},
      {"empty_sweep_axis", "[sweep]\n\"optimizer.lr\" = []\n", "", "optimizer.lr"},
      {"sweep_shape_key", "[sweep]\n\"problem.rank\" = [1, 2]\n", "", "problem.rank"},
      {"out_is_directory", "", "--out /tmp", "/tmp"},
  };
  for (const auto& c : cases) {
    const std::string cfg = write(std::string(c.name) + ".toml", c.config);
    const fs::path out = dir_ / (std::string(c.name) + ".h5");
    const bool has_out = c.args.find("--out") != std::string::npos;
    const auto r = run("run " + cfg + (has_out ? "" : " --out " + out.string()) + " " + c.args);
    EXPECT_EQ(r.code, 2) << c.name << ": " << r.output;
    EXPECT_NE(r.output.find(c.must_mention), std::string::npos) << c.name << ": " << r.output;
    EXPECT_FALSE(fs::exists(out)) << c.name;
  }
  const auto missing = run("run " + (dir_ / "nope.toml").string());
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.output.find("nope.toml"), std::string::npos);
  EXPECT_EQ(run("frobnicate").code, 2);
}

// --resume of a partial run made by a different config is bad input, and the partial is kept.
TEST_F(Cli, ResumeOfADifferentConfigIsRefused) {
  const fs::path out = dir_ / "r.h5";
  const std::string cfg = write("c.toml", small_config("[sweep]\n\"optimizer.lr\" = [0.01, 0.02]\n"));
  // Make a partial file: SIGTERM a long run right away.
  const std::string long_run = std::string(SPECSWEEP_EXE) + " run " + cfg + " --out " + out.string() +
                               " --set run.steps=200000 --quiet & pid=$!; sleep 0.5; kill -TERM $pid; wait $pid";
  const int status = std::system(("bash -c '" + long_run + "'").c_str());
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_TRUE(fs::exists(out.string() + ".partial"));
  const auto r = run("run " + cfg + " --out " + out.string() + " --resume --set optimizer.momentum=0.5");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("r.h5"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(out.string() + ".partial"));
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(Cli, ReportAndSummaryCsv) {
  const fs::path out = dir_ / "s.h5";
  const std::string cfg = write("c.toml", small_config("[sweep]\n\"optimizer.kind\" = [\"gd\", \"specgd\"]\n"));
  ASSERT_EQ(run("run " + cfg + " --out " + out.string() + " --quiet").code, 0);
  EXPECT_TRUE(fs::exists(dir_ / "s.summary.csv"));
  for (const char* format : {"table", "csv", "json"}) {
    const auto r = run("report " + out.string() + " --format " + format);
    EXPECT_EQ(r.code, 0) << format << r.output;
    EXPECT_NE(r.output.find("specgd"), std::string::npos) << format;
  }
  EXPECT_EQ(run("report " + (dir_ / "nope.h5").string()).code, 2);
}

TEST_F(Cli, RunWritesFileAndSummary) {
  const fs::path out = dir_ / "run.h5";
  const auto r = run("run " + write("c.toml", small_config()) + " --out " + out.string() + " --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(out));
  EXPECT_NE(r.output.find("converged"), std::string::npos);
  for (const auto& e : fs::directory_iterator(dir_))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << "temporary left: " << e.path();
}

// bench times each cell on the CPU and reports the FLOP model's count, here checked against the
// closed form of bench/FLOP_MODEL.md for GD at m = 8, n = 6, r = 2, L = 2, q = 2 modes:
// 2 (2mnr) + 4r^2(m + n) + 4mr + 2qr(m + n) + 2(mr + rn) = 384 + 224 + 64 + 112 + 56 = 840.
TEST_F(Cli, BenchTimesEveryCellAndWritesNothing) {
  const std::string cfg = write("b.toml", small_config("[optimizer]\nkind = \"gd\"\n[sweep]\n\"optimizer.lr\" = [0.01, 0.02]\n"));
  const auto r = run("bench " + cfg + " --backend cpu --repeat 2 --format json");
  ASSERT_EQ(r.code, 0) << r.output;
  std::istringstream lines(r.output);
  std::string line;
  int cells = 0;
  while (std::getline(lines, line)) {
    if (line.find("\"cell\"") == std::string::npos) continue;
    EXPECT_NE(line.find("\"cell\": " + std::to_string(cells)), std::string::npos) << line;
    EXPECT_NE(line.find("\"flops_per_seed_step\": 840,"), std::string::npos) << line;
    EXPECT_NE(line.find("\"seeds\": 10, \"steps\": 20, \"repeat\": 2"), std::string::npos) << line;
    EXPECT_EQ(line.find("\"seed_steps_per_s\": 0,"), std::string::npos) << line;
    ++cells;
  }
  EXPECT_EQ(cells, 2) << r.output;
  for (const auto& e : fs::directory_iterator(dir_)) EXPECT_NE(e.path().extension(), ".h5") << e.path();
  const auto table = run("bench " + cfg + " --backend cpu --repeat 1");
  EXPECT_EQ(table.code, 0) << table.output;
  EXPECT_NE(table.output.find("seed-steps/s"), std::string::npos) << table.output;
  // Bad input exits 2 naming what is wrong.
  const auto zero = run("bench " + cfg + " --repeat 0");
  EXPECT_EQ(zero.code, 2);
  EXPECT_NE(zero.output.find("--repeat"), std::string::npos) << zero.output;
  const auto bad_key = run("bench " + cfg + " --set optimizer.learning_rate=0.1");
  EXPECT_EQ(bad_key.code, 2);
  EXPECT_NE(bad_key.output.find("optimizer.learning_rate"), std::string::npos) << bad_key.output;
}

TEST_F(Cli, FailedRunLeavesExistingOutputUntouched) {
  const fs::path out = dir_ / "good.h5";
  const std::string cfg = write("c.toml", small_config());
  ASSERT_EQ(run("run " + cfg + " --out " + out.string()).code, 0);
  std::stringstream before;
  before << std::ifstream(out, std::ios::binary).rdbuf();
  // Bad input after a good run: exit 2 and the good file is byte-identical.
  EXPECT_EQ(run("run " + cfg + " --out " + out.string() + " --set run.steps=0").code, 2);
  std::stringstream after;
  after << std::ifstream(out, std::ios::binary).rdbuf();
  EXPECT_EQ(before.str(), after.str());
  // An unwritable destination is bad input (exit 2), found before any work, leaving nothing behind.
  const fs::path bad = dir_ / "missing_dir" / "x.h5";
  const auto r = run("run " + cfg + " --out " + bad.string());
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("missing_dir"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "missing_dir"));
}

}  // namespace
