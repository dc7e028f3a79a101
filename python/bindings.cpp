// specsweep._core: the engine behind the Python package, the same code as the command line
// (specsweep/__init__.py is the interface users see; docs/python.md describes it).
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <toml++/toml.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "config.hpp"
#include "driver.hpp"
#include "errors.hpp"
#include "report.hpp"
#include "session.hpp"

namespace py = pybind11;
using namespace specsweep;

namespace {

using NodePtr = std::unique_ptr<toml::node>;

// A Python value as a TOML node: tables from dicts, arrays from lists and tuples, and the
// scalars a config holds. `key` names the value in the error a user sees.
NodePtr toml_of(py::handle value, const std::string& key) {
  if (py::isinstance<py::bool_>(value)) return NodePtr(new toml::value<bool>(value.cast<bool>()));
  if (py::isinstance<py::str>(value))
    return NodePtr(new toml::value<std::string>(value.cast<std::string>()));
  if (py::isinstance<py::dict>(value)) {
    auto table = std::make_unique<toml::table>();
    for (const auto& [k, v] : value.cast<py::dict>()) {
      if (!py::isinstance<py::str>(k))
        throw InputError(key + ": the keys of a config table are strings, not " +
                         std::string(py::str(k.get_type().attr("__name__"))));
      const std::string name = k.cast<std::string>();
      table->insert(name, std::move(*toml_of(v, key.empty() ? name : key + "." + name)));
    }
    return table;
  }
  if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
    auto array = std::make_unique<toml::array>();
    std::size_t i = 0;
    for (py::handle item : value)
      array->push_back(std::move(*toml_of(item, key + "[" + std::to_string(i++) + "]")));
    return array;
  }
  // Python and NumPy integers (__index__), then anything a float is made from.
  if (py::hasattr(value, "__index__"))
    return NodePtr(new toml::value<std::int64_t>(value.attr("__index__")().cast<std::int64_t>()));
  if (py::isinstance<py::float_>(value) || py::hasattr(value, "__float__"))
    return NodePtr(new toml::value<double>(
        py::float_(py::reinterpret_borrow<py::object>(value)).cast<double>()));
  throw InputError(key + ": a " + std::string(py::str(value.get_type().attr("__name__"))) +
                   " is not a config value (numbers, strings, booleans, lists and dicts are)");
}

// Tables nested in an override's value are written inline, as --set takes them.
void make_inline(toml::node& node) {
  if (toml::table* t = node.as_table()) {
    t->is_inline(true);
    for (auto&& [k, v] : *t) make_inline(v);
  } else if (toml::array* a = node.as_array()) {
    for (toml::node& v : *a) make_inline(v);
  }
}

// A value as TOML text (tables nested in it inline).
std::string literal_of(py::handle value, const std::string& key) {
  // Python's shortest round-trip text (0.1, not toml++'s 0.10000000000000001) is valid TOML.
  if (py::isinstance<py::float_>(value)) return py::repr(value);
  toml::table holder;
  NodePtr node = toml_of(value, key);
  make_inline(*node);
  holder.insert("x", std::move(*node));
  std::ostringstream text;
  text << holder;
  const std::string line = text.str(), prefix = "x = ";
  return line.rfind(prefix, 0) == 0 ? line.substr(prefix.size()) : line;
}

std::string key_text(const std::string& key) {
  const bool bare = !key.empty() && key.find_first_not_of(
                                        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                        "0123456789_-") == std::string::npos;
  return bare ? key : literal_of(py::str(key), key);
}

// A dict's tables as TOML, in the dict's order: toml++ tables are sorted by key, and the order
// of a [sweep]'s axes is the order of the run's dimensions.
void write_table(const py::dict& table, const std::string& path, std::string& out) {
  auto full = [&](const std::string& name) { return path.empty() ? name : path + "." + name; };
  for (const auto& [k, v] : table)
    if (!py::isinstance<py::dict>(v)) {
      const std::string name = py::str(k);
      out += key_text(name) + " = " + literal_of(v, full(name)) + "\n";
    }
  for (const auto& [k, v] : table)
    if (py::isinstance<py::dict>(v)) {
      const std::string section = full(key_text(py::str(k)));
      out += "\n[" + section + "]\n";
      write_table(v.cast<py::dict>(), section, out);
    }
}

std::string toml_text_of(const py::dict& config) {
  std::string text;
  write_table(config, "", text);
  return text;
}

Experiment experiment_of(const std::string& toml_text, const std::string& source,
                         const py::dict& overrides) {
  std::vector<std::string> sets;
  for (const auto& [k, v] : overrides) {
    const std::string key = py::str(k);
    sets.push_back(key + "=" + literal_of(v, key));
  }
  return parse_experiment(toml_text, source, sets);
}

py::dict run(const std::string& toml_text, const std::string& source,
             const std::string& config_path, const py::dict& overrides, const std::string& out,
             const std::string& backend, int threads, bool resume, bool force, bool quiet,
             const py::object& progress) {
  const Experiment experiment = experiment_of(toml_text, source, overrides);
  RunOptions options;
  options.out_path = out;
  options.backend = backend;
  options.threads = threads;
  options.resume = resume;
  options.force = force;
  options.quiet = quiet;
  if (!progress.is_none())
    options.on_progress = [&progress](const ProgressUpdate& p) {
      py::gil_scoped_acquire gil;
      progress(p.units_done, p.units_total, p.elapsed_seconds, p.eta_seconds,
               p.seed_steps_per_second);
    };
  SessionResult result;
  {
    // The run's own handlers take SIGINT, SIGTERM and SIGUSR1 while it runs (as on the command
    // line: the batch in flight is abandoned and the partial kept); Python's come back after.
    py::gil_scoped_release released;
    result = run_session(experiment, options, config_path);
  }
  const RunSummary& s = result.summary;
  py::dict summary;
  summary["out"] = out;
  summary["backend"] = s.backend;
  summary["seconds"] = s.seconds;
  summary["backend_seconds"] = s.backend_seconds;
  summary["seed_steps"] = s.seed_steps;
  summary["units_run"] = s.units_run;
  summary["units_resumed"] = s.units_resumed;
  summary["interrupted_by"] = s.interrupted_by;
  summary["already_complete"] = result.already_complete;
  return summary;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "specsweep's engine (use the specsweep package, not this module)";
  py::register_exception<InputError>(m, "InputError", PyExc_ValueError);
  py::register_exception<RuntimeFailure>(m, "RunFailure", PyExc_RuntimeError);
  m.attr("version") = SPECSWEEP_VERSION;
  m.def("run", &run, py::arg("toml_text"), py::arg("source"), py::arg("config_path"),
        py::arg("overrides"), py::arg("out"), py::arg("backend"), py::arg("threads"),
        py::arg("resume"), py::arg("force"), py::arg("quiet"), py::arg("progress"));
  m.def("toml_text_of", &toml_text_of, py::arg("config"));
  m.def(
      "resolved_config",
      [](const std::string& toml_text, const std::string& source, const py::dict& overrides) {
        const Experiment experiment = experiment_of(toml_text, source, overrides);
        return py::make_tuple(experiment.to_toml(), experiment.cells.size());
      },
      py::arg("toml_text"), py::arg("source"), py::arg("overrides"));
  m.def(
      "report",
      [](const std::string& path, const std::string& format) {
        return format_report(load_report(path), parse_report_format(format));
      },
      py::arg("path"), py::arg("format"));
}
