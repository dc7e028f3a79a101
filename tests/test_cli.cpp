// The command line contract (DESIGN section 4) through the real binary: exit 2 with the key named
// for bad input, 3 for runtime failures, and a failed run never damages or leaves an output file.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
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

// Runs the binary with `args`; `prefix` is shell text before it (a ulimit, an environment).
Result run(const std::string& args, const std::string& prefix = "") {
  const std::string cmd = prefix + std::string(SPECSWEEP_EXE) + " " + args + " 2>&1";
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
      {"unknown_preset",
       "[optimizer]\northogonalizer = \"newton_schulz\"\nns_coefficients = \"quintic9\"\n", "",
       "optimizer.ns_coefficients"},
      {"syntax", "[problem\nm = 8\n", "", "line"},
      {"bad_set", "", "--set optimizer.lr", "optimizer.lr"},
      {"set_unknown", "", "--set optimizer.learning_rate=0.1", "optimizer.learning_rate"},
      {"bad_backend", "", "--backend tpu", "--backend"},
      {"empty_sweep_axis", "[sweep]\n\"optimizer.lr\" = []\n", "", "optimizer.lr"},
      {"sweep_shape_key", "[sweep]\n\"problem.rank\" = [1, 2]\n", "", "problem.rank"},
      {"out_is_directory", "", "--out /tmp", "/tmp"},
      // Checked on the value written, not on a narrowed copy (2^32 + 3 used to run as rank 3).
      {"rank_beyond_32_bits", "[problem]\nrank = 4294967299\n", "", "got 4294967299"},
      {"seeds_2_to_40", "[run]\nseeds = 1099511627776\n", "", "run.seeds"},
      {"denormal_spectrum", "[problem.target]\nspectrum = [1e-40]\n", "",
       "problem.target.spectrum"},
      {"threads_beyond_bound", "", "--threads 100000", "--threads"},
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
    EXPECT_NE(line.find(cells == 0 ? "\"swept\": {\"optimizer.lr\": 0.01}" : "\"swept\": {\"optimizer.lr\": 0.02}"),
              std::string::npos)
        << line;
    ++cells;
  }
  EXPECT_EQ(cells, 2) << r.output;
  for (const auto& e : fs::directory_iterator(dir_)) EXPECT_NE(e.path().extension(), ".h5") << e.path();
  const auto table = run("bench " + cfg + " --backend cpu --repeat 1");
  EXPECT_EQ(table.code, 0) << table.output;
  EXPECT_NE(table.output.find("seed-steps/s"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("optimizer.lr=0.02"), std::string::npos) << table.output;  // the cell's swept value
  // Bad input exits 2 naming what is wrong.
  const auto zero = run("bench " + cfg + " --repeat 0");
  EXPECT_EQ(zero.code, 2);
  EXPECT_NE(zero.output.find("--repeat"), std::string::npos) << zero.output;
  const auto bad_key = run("bench " + cfg + " --set optimizer.learning_rate=0.1");
  EXPECT_EQ(bad_key.code, 2);
  EXPECT_NE(bad_key.output.find("optimizer.learning_rate"), std::string::npos) << bad_key.output;
}

// `specsweep selftest`: one line per oracle case and strategy, a verdict, exit 0 when all pass;
// a backend that is not known is bad input (2), one that cannot run here a failure (3).
TEST_F(Cli, SelftestPrintsEveryCaseAndExitsByItsVerdict) {
  const auto r = run("selftest --backend cpu");
  ASSERT_EQ(r.code, 0) << r.output;
  std::istringstream lines(r.output);
  std::string line;
  int ok = 0;
  while (std::getline(lines, line)) ok += line.rfind("ok ", 0) == 0;
  EXPECT_GT(ok, 20);
  EXPECT_NE(r.output.find("selftest passed: " + std::to_string(ok) + " of " + std::to_string(ok)),
            std::string::npos)
      << r.output;
  for (const char* name : {"gd", "muon_jordan5", "adam", "depth3_l2_orthogonal", "specgd_rk4"})
    EXPECT_NE(r.output.find(std::string("\n") + "ok     " + name + " "), std::string::npos) << name;
  const auto unknown = run("selftest --backend tpu");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.output.find("--backend"), std::string::npos) << unknown.output;
  const auto cuda = run("selftest --backend cuda");
  // Without a device (or without CUDA built in) it must say so; with one it runs the cases.
  if (cuda.output.find("not built") != std::string::npos) {
    EXPECT_EQ(cuda.code, 2) << cuda.output;
  } else if (cuda.output.find("cannot run here") != std::string::npos) {
    EXPECT_EQ(cuda.code, 3) << cuda.output;
  } else {
    EXPECT_EQ(cuda.code, 0) << cuda.output;
  }
}

std::string file_bytes(const fs::path& p) {
  std::stringstream s;
  s << std::ifstream(p, std::ios::binary).rdbuf();
  return s.str();
}

// Defect 3 of issue 10: --out must name a file the run may create or replace. Each refusal is an
// exit 2 naming the file, before any work, leaving every file as it was and nothing new behind.
TEST_F(Cli, OutputThatMustNotBeWrittenIsRefused) {
  const std::string cfg = write("c.toml", small_config());
  const std::string config_bytes = file_bytes(cfg);
  auto refused = [&](const std::string& out, const std::string& must_mention) {
    const auto r = run("run " + cfg + " --out " + out + " --quiet");
    EXPECT_EQ(r.code, 2) << out << ": " << r.output;
    EXPECT_NE(r.output.find(must_mention), std::string::npos) << out << ": " << r.output;
    EXPECT_EQ(r.output.find("failed"), std::string::npos) << out << ": " << r.output;
  };
  const bool had_csv = fs::exists("/dev/null.summary.csv"),
             had_partial = fs::exists("/dev/null.partial");
  refused("/dev/null", "/dev/null: is not a regular file");
  EXPECT_EQ(fs::exists("/dev/null.summary.csv"), had_csv);
  EXPECT_EQ(fs::exists("/dev/null.partial"), had_partial);
  refused(cfg, "is the config file");
  EXPECT_EQ(file_bytes(cfg), config_bytes);
  const fs::path read_only = dir_ / "kept.h5";
  std::ofstream(read_only) << "an earlier result";
  fs::permissions(read_only,
                  fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  refused(read_only.string(), "kept.h5: is read-only");
  EXPECT_EQ(file_bytes(read_only), "an earlier result");
  EXPECT_EQ(fs::status(read_only).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  refused("/proc/x.h5", "/proc/x.h5");
  refused("/sys/x.h5", "/sys/x.h5");
  const std::string long_name = (dir_ / (std::string(300, 'a') + ".h5")).string();
  refused(long_name, "File name too long");
  // A directory where the summary CSV goes: refused before the run, not after committing the h5.
  fs::create_directory(dir_ / "csvdir.summary.csv");
  refused((dir_ / "csvdir.h5").string(), "csvdir.summary.csv");
  fs::create_directory(dir_ / "p.h5.partial");
  refused((dir_ / "p.h5").string(), "p.h5.partial");
  for (const auto& e : fs::directory_iterator(dir_))
    EXPECT_TRUE(e.path() == read_only || e.path().extension() != ".h5")
        << "left behind: " << e.path();
  EXPECT_FALSE(fs::exists(dir_ / "c.summary.csv"));
}

// Whether test_cli runs a sanitized binary: AddressSanitizer reserves terabytes of address space,
// so the tests under an address-space limit (ulimit -v) cannot run there.
bool sanitized() {
  return std::string(SPECSWEEP_SANITIZE).find("address") != std::string::npos;
}

// A config whose every CPU thread needs gigabytes: m = 10^6, r = 8 (issue 10, defect 5).
std::string huge_thread_config() {
  return "[problem]\nm = 1000000\nn = 10\nrank = 8\n[problem.target]\nspectrum = [3.0, 2.0, 1.0]\n"
         "[run]\nsteps = 5\nseeds = 4\n";
}

// Defect 4: --threads is bounded (run and bench), and threads that cannot start are a message
// before any work, not libgomp's exit 1 (or a crash) with a partial file left.
TEST_F(Cli, ThreadsAreBoundedAndMustStart) {
  const std::string cfg = write("c.toml", small_config());
  const fs::path out = dir_ / "t.h5";
  for (const std::string& command : {"run " + cfg + " --out " + out.string(), "bench " + cfg}) {
    const auto r = run(command + " --threads 100000");
    EXPECT_EQ(r.code, 2) << command << ": " << r.output;
    EXPECT_NE(r.output.find("--threads"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("1024"), std::string::npos) << r.output;
  }
  const auto env = run("run " + cfg + " --out " + out.string(), "OMP_NUM_THREADS=100000 ");
  EXPECT_EQ(env.code, 2) << env.output;
  EXPECT_NE(env.output.find("OMP_NUM_THREADS"), std::string::npos) << env.output;
  if (sanitized()) GTEST_SKIP() << "ulimit -v does not work under AddressSanitizer";
  // 1000 default stacks (8 MiB each) do not fit in 2 GiB of address space.
  const auto r = run("run " + cfg + " --out " + out.string() + " --threads 1000 --quiet",
                     "ulimit -s 8192; ulimit -v 2097152; ");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--threads 1000: cannot start"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out.string() + ".partial"));
  EXPECT_FALSE(fs::exists(out));
}

// Defect 5: what cannot fit in memory is refused before any work, naming the keys; and when memory
// runs out anyway inside the CPU backend's threads, it is a runtime failure (exit 3) with a
// message, not std::terminate (exit 134).
TEST_F(Cli, MemoryThatCannotFitIsRefusedAndRunningOutIsAFailure) {
  const fs::path out = dir_ / "m.h5";
  // An 2^20 x 2^20 target alone is 8 TiB.
  const auto target = run("run " + write("t.toml", small_config()) + " --out " + out.string() +
                          " --set problem.m=1048576 --set problem.n=1048576 --set problem.rank=1 "
                          "--set problem.target.spectrum=[1.0] --quiet");
  EXPECT_EQ(target.code, 2) << target.output;
  for (const char* key :
       {"of memory", "problem.m", "problem.n", "run.seeds", "record.traced_seeds"})
    EXPECT_NE(target.output.find(key), std::string::npos) << key << ": " << target.output;
  EXPECT_FALSE(fs::exists(out.string() + ".partial"));
  if (sanitized()) GTEST_SKIP() << "ulimit -v does not work under AddressSanitizer";
  const std::string cfg = write("h.toml", huge_thread_config());
  const std::string limit = "ulimit -v 2097152; ";
  const auto refused = run("run " + cfg + " --out " + out.string() + " --threads 2 --quiet", limit);
  EXPECT_EQ(refused.code, 2) << refused.output;
  EXPECT_NE(refused.output.find("ulimit -v"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("--threads"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("problem.m"), std::string::npos) << refused.output;
  EXPECT_FALSE(fs::exists(out.string() + ".partial"));
  const auto failed =
      run("run " + cfg + " --out " + out.string() + " --threads 2 --quiet --skip-resource-check",
          limit);
  EXPECT_EQ(failed.code, 3) << failed.output;
  EXPECT_NE(failed.output.find("out of memory"), std::string::npos) << failed.output;
  EXPECT_FALSE(fs::exists(out));
}

// Defect 13: plot of a damaged run file, or of one whose /outcome datasets have the wrong shape,
// is an exit 2 naming the file and what is wrong, not a Python traceback.
TEST_F(Cli, PlotOfADamagedFileIsBadInput) {
  if (std::string(SPECSWEEP_TEST_PYTHON).empty()) GTEST_SKIP() << "no python3 with h5py";
  const fs::path good = dir_ / "good.h5";
  ASSERT_EQ(
      run("run " + write("c.toml", small_config()) + " --out " + good.string() + " --quiet").code,
      0);
  const fs::path shape = dir_ / "shape.h5", damaged = dir_ / "damaged.h5";
  fs::copy_file(good, shape);
  fs::copy_file(good, damaged);
  // Replace /outcome/hit_step by a 2-D dataset; overwrite its first (compressed) chunk with junk.
  const std::string script = write("damage.py",
                                   "import sys, h5py, numpy as np\n"
                                   "with h5py.File(sys.argv[1], 'r+') as f:\n"
                                   "    del f['outcome/hit_step']\n"
                                   "    f['outcome/hit_step'] = np.zeros((1, 10), dtype=np.int32)\n"
                                   "with h5py.File(sys.argv[2], 'r') as f:\n"
                                   "    info = f['outcome/hit_step'].id.get_chunk_info(0)\n"
                                   "with open(sys.argv[2], 'r+b') as g:\n"
                                   "    g.seek(info.byte_offset)\n"
                                   "    g.write(bytes(range(256)) * (info.size // 256 + 1))\n");
  ASSERT_EQ(std::system((std::string(SPECSWEEP_TEST_PYTHON) + " " + script + " " + shape.string() +
                         " " + damaged.string())
                            .c_str()),
            0);
  const std::string python = std::string("SPECSWEEP_PYTHON=") + SPECSWEEP_TEST_PYTHON + " ";
  const auto misshapen = run("plot " + shape.string() + " --out " + (dir_ / "f1").string(), python);
  EXPECT_EQ(misshapen.code, 2) << misshapen.output;
  EXPECT_NE(misshapen.output.find("shape.h5: /outcome/hit_step has shape (1, 10)"),
            std::string::npos)
      << misshapen.output;
  const auto broken = run("plot " + damaged.string() + " --out " + (dir_ / "f2").string(), python);
  EXPECT_EQ(broken.code, 2) << broken.output;
  EXPECT_NE(broken.output.find("damaged.h5: cannot read the run file"), std::string::npos)
      << broken.output;
  for (const auto& r : {misshapen, broken})
    EXPECT_EQ(r.output.find("Traceback"), std::string::npos) << r.output;
  EXPECT_EQ(run("plot " + good.string() + " --out " + (dir_ / "f3").string(), python).code, 0);
}

// An existing output is replaced only with --force; --resume of a finished run does nothing.
TEST_F(Cli, ExistingOutputIsReplacedOnlyWithForce) {
  const fs::path out = dir_ / "kept.h5";
  const std::string cfg = write("c.toml", small_config());
  ASSERT_EQ(run("run " + cfg + " --out " + out.string() + " --quiet").code, 0);
  auto bytes = [&] {
    std::stringstream content;
    content << std::ifstream(out, std::ios::binary).rdbuf();
    return content.str();
  };
  const std::string first = bytes();
  const auto again = run("run " + cfg + " --out " + out.string() + " --set run.seeds=8");
  EXPECT_EQ(again.code, 2) << again.output;
  EXPECT_NE(again.output.find(out.string()), std::string::npos) << again.output;
  EXPECT_NE(again.output.find("--force"), std::string::npos) << again.output;
  EXPECT_EQ(bytes(), first);
  const auto resumed = run("run " + cfg + " --out " + out.string() + " --resume");
  EXPECT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("nothing to resume"), std::string::npos) << resumed.output;
  EXPECT_EQ(bytes(), first);
  EXPECT_EQ(run("run " + cfg + " --out " + out.string() + " --quiet --force --set run.seeds=8").code, 0);
  EXPECT_NE(bytes(), first);  // 8 seeds now
}

// --resume with nothing to continue (no partial, no finished file) is bad input naming the partial
// it looked for, and creates nothing.
TEST_F(Cli, ResumeWithNothingToContinueNamesThePartial) {
  const fs::path out = dir_ / "never_started.h5";
  const std::string cfg = write("c.toml", small_config());
  const auto r = run("run " + cfg + " --out " + out.string() + " --resume");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find(out.string() + ".partial"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out.string() + ".partial"));
  EXPECT_FALSE(fs::exists(dir_ / "never_started.summary.csv"));
}

TEST_F(Cli, FailedRunLeavesExistingOutputUntouched) {
  const fs::path out = dir_ / "good.h5";
  const std::string cfg = write("c.toml", small_config());
  ASSERT_EQ(run("run " + cfg + " --out " + out.string()).code, 0);
  std::stringstream before;
  before << std::ifstream(out, std::ios::binary).rdbuf();
  // Bad input after a good run, even with --force: exit 2 and the good file is byte-identical.
  EXPECT_EQ(run("run " + cfg + " --out " + out.string() + " --force --set run.steps=0").code, 2);
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
