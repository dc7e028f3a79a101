// libFuzzer target for the run-file readers: the input is a run file (HDF5 bytes). The contract:
// load_report (what `specsweep report` and the end of a run read) and RunFile::resume followed
// by the reads a resumed run makes either succeed or throw InputError / RuntimeFailure; anything
// else (a crash, another exception, a sanitizer report) is a finding.
//
// The seed corpus (fuzz/corpus/run_file/) holds run files of kConfig made by the program; the
// resume uses kConfig's layout, so the fuzzer starts from files that resume and goes deep.
//
// Built without libFuzzer (SPECSWEEP_FUZZ_REPLAY) it is a plain program: `run_file_fuzz FILE...`
// runs each file through the same checks (ctest replays the corpus this way), and
// `run_file_fuzz --make-corpus DIR` writes the seed corpus.
#include <hdf5.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "backend.hpp"
#include "config.hpp"
#include "driver.hpp"
#include "errors.hpp"
#include "h5_output.hpp"
#include "problem.hpp"
#include "report.hpp"

namespace {

using namespace specsweep;
namespace fs = std::filesystem;

// Two cells, two traced seeds, three record steps: every dataset has more than one chunk or
// cell, and the files stay small.
const char* const kConfig = R"(
[problem]
m = 4
n = 3
rank = 2
[problem.target]
spectrum = [2.0, 1.0]
[run]
seeds = 5
steps = 4
[record]
traced_seeds = 2
every = 2
[sweep]
"optimizer.lr" = [0.01, 0.02]
)";

struct Run {
  Experiment experiment = parse_experiment(kConfig, "run_file_fuzz");
  CellProblem first = make_cell_problem(experiment.cells.front(), 0);
  OutputLayout layout = output_layout(experiment, first);
  RunAttributes attributes = run_attributes(experiment, "cpu");
};

const Run& run() {
  static const Run r;
  return r;
}

// A directory of this process's own for the input's file.
const fs::path& scratch() {
  static const fs::path dir = [] {
    fs::path d =
        fs::temp_directory_path() / ("specsweep_run_file_fuzz_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

void write_bytes(const fs::path& path, const std::uint8_t* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

void check_report(const std::string& path) {
  try {
    const RunReport report = load_report(path, ReadIn::this_process);
    (void)format_report(report, ReportFormat::json);
  } catch (const InputError&) {
  } catch (const RuntimeFailure&) {
  }
}

void check_resume(const std::string& final_path) {
  const Run& r = run();
  try {
    RunFile file = RunFile::resume(final_path, r.layout, r.attributes, ReadIn::this_process);
    file.keep_partial();
    for (long cell = 0; cell < r.layout.cells; ++cell) {
      (void)file.read_outcomes(cell);
      (void)file.read_traces(cell,
                             make_cell_problem(r.experiment.cells[static_cast<std::size_t>(cell)],
                                               static_cast<std::uint32_t>(cell)));
    }
  } catch (const InputError&) {
  } catch (const RuntimeFailure&) {
  }
}

}  // namespace

// HDF5 sizes some allocations from what the file says; a damaged size is a malloc that fails,
// which HDF5 reports as an error (the contract holds). AddressSanitizer would abort on the
// attempt instead, so it returns null as malloc does. HDF5 1.10 also leaks a few of its own
// allocations on some error paths of a damaged file; those are not this program's leaks.
extern "C" const char* __asan_default_options() {
  return "allocator_may_return_null=1:detect_leaks=0";
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fs::path final_path = scratch() / "run.h5";
  const std::string partial = RunFile::partial_path_for(final_path.string());
  write_bytes(final_path, data, size);
  check_report(final_path.string());
  write_bytes(partial, data, size);
  check_resume(final_path.string());
  std::error_code ec;
  fs::remove(partial, ec);
  fs::remove(partial + ".unusable", ec);
  return 0;
}

#if defined(SPECSWEEP_FUZZ_REPLAY)
namespace {

std::vector<std::uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The seed corpus: a finished run, the same with cell 1's unit not done (what an interrupted
// run leaves), and a partial that was just created.
int make_corpus(const fs::path& dir) {
  fs::create_directories(dir);
  const Run& r = run();
  const fs::path finished = dir / "finished.h5";
  RunOptions options;
  options.out_path = finished.string();
  options.backend = "cpu";
  options.threads = 1;
  options.quiet = true;
  run_experiment(r.experiment, options);

  const fs::path half = dir / "half.h5.partial";
  fs::copy_file(finished, half, fs::copy_options::overwrite_existing);
  const hid_t file = H5Fopen(half.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  const hid_t done = H5Dopen2(file, "/progress/unit_done", H5P_DEFAULT);
  const hid_t space = H5Dget_space(done);
  const hsize_t start[2] = {1, 0}, count[2] = {1, 1};
  const std::vector<std::int8_t> zeros(count[0], 0);
  const hid_t memory = H5Screate_simple(2, count, nullptr);
  const bool written =
      H5Sselect_hyperslab(space, H5S_SELECT_SET, start, nullptr, count, nullptr) >= 0 &&
      H5Dwrite(done, H5T_NATIVE_INT8, memory, space, H5P_DEFAULT, zeros.data()) >= 0;
  H5Sclose(memory);
  H5Sclose(space);
  H5Dclose(done);
  H5Fclose(file);
  if (!written) return 1;

  RunFile created = RunFile::create((scratch() / "created.h5").string(), r.layout, r.attributes);
  created.keep_partial();
  fs::copy_file(created.partial_path(), dir / "created.h5.partial",
                fs::copy_options::overwrite_existing);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--make-corpus") return make_corpus(argv[2]);
  int inputs = 0;
  for (int i = 1; i < argc; ++i) {
    std::vector<fs::path> files;
    if (fs::is_directory(argv[i])) {
      for (const auto& entry : fs::directory_iterator(argv[i]))
        if (entry.is_regular_file()) files.push_back(entry.path());
    } else {
      files.emplace_back(argv[i]);
    }
    for (const fs::path& f : files) {
      const std::vector<std::uint8_t> bytes = read_bytes(f);
      LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
      ++inputs;
    }
  }
  std::printf("%d inputs ran\n", inputs);
  std::error_code ec;
  fs::remove_all(scratch(), ec);
  return inputs > 0 ? 0 : 1;
}
#endif
