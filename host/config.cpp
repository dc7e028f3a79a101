// Strict TOML configuration (DESIGN section 5). Every key is checked: unknown keys (at any level),
// wrong types, non-finite numbers and out-of-range values are InputErrors naming the full dotted
// key and, for values from the file, "line L, column C" (values from --set say "(from --set)").
#include "config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <string_view>
#include <utility>

#include "core/factorization.hpp"
#include "core/trajectory.hpp"
#include "errors.hpp"
#include "problem.hpp"

namespace specsweep {

// ---------------------------------------------------------------------------------------------
// Newton–Schulz presets
//
// cubic:          the classical cubic Newton–Schulz iteration X <- 1.5 X - 0.5 (X X^T) X.
// jordan5:        Keller Jordan's quintic coefficients of Muon (github.com/KellerJordan/Muon,
//                 "Muon: An optimizer for hidden layers in neural networks", 2024), run 5 times.
// polar_express:  Amsel, Persson, Musco, Gower, "The Polar Express: Optimal Matrix Sign Methods and
//                 Their Application to the Muon Algorithm" (2025): 8 per-step optimal quintics for
//                 X0 = G / (1.01 ||G||_F), with the paper's safety factor applied to all but the
//                 last (a / 1.01, b / 1.01^3, c / 1.01^5); the last triple is repeated for further
//                 steps.
// you6:           You Jiacheng's six per-step quintic coefficients (modded-nanogpt discussion,
// 2024).
//
// Default ns_steps (when optimizer.ns_steps is not given): the preset's natural count for the
// per-step presets (polar_express 8, you6 6, a custom list: its length), 5 for cubic and jordan5.
// ---------------------------------------------------------------------------------------------

std::vector<NsTriple> ns_preset(const std::string& name) {
  if (name == "cubic") return {{1.5, -0.5, 0.0}};
  if (name == "jordan5") return {{3.4445, -4.7750, 2.0315}};
  if (name == "polar_express") {
    const NsTriple raw[] = {
        {8.28721201814563, -23.595886519098837, 17.300387312530933},
        {4.107059111542203, -2.9478499167379106, 0.5448431082926601},
        {3.9486908534822946, -2.908902115962949, 0.5518191394370137},
        {3.3184196573706015, -2.488488024314874, 0.51004894012372},
        {2.300652019954817, -1.6689039845747493, 0.4188073119525673},
        {1.891301407787398, -1.2679958271945868, 0.37680408948524835},
        {1.8750014808534479, -1.2500016453999487, 0.3750001645474248},
        {1.875, -1.25, 0.375},
    };
    constexpr int count = sizeof(raw) / sizeof(raw[0]);
    const double s1 = 1.01, s3 = std::pow(1.01, 3), s5 = std::pow(1.01, 5);
    std::vector<NsTriple> out;
    for (int i = 0; i < count; ++i) {
      if (i + 1 < count)
        out.push_back({raw[i].a / s1, raw[i].b / s3, raw[i].c / s5});
      else
        out.push_back(raw[i]);
    }
    return out;
  }
  if (name == "you6") {
    const double k = 1024.0;
    return {{3955 / k, -8306 / k, 5008 / k}, {3735 / k, -6681 / k, 3463 / k},
            {3799 / k, -6499 / k, 3211 / k}, {4019 / k, -6385 / k, 2906 / k},
            {2677 / k, -3029 / k, 1162 / k}, {2172 / k, -1833 / k, 682 / k}};
  }
  return {};
}

double ns_norm_scale(const std::string& name) {
  return name == "polar_express" ? 1.01 : 1.0;
}

namespace {

constexpr std::string_view kOverrideSource = "--set";
constexpr int kMaxDim = 1 << 20;
// kind = "sensing": at most this many measurements, and p m n sensing entries (2 GiB in fp64), as
// every cell holds its A_1 ... A_p on the host and the device.
constexpr int kMaxMeasurements = 1 << 20;
constexpr long long kMaxSensingEntries = 1LL << 28;
constexpr int kMaxNsSteps = 100;
constexpr int kMaxBasinProbes = 10000;
// Lanczos finds lambda_max in a few dozen steps; more is a typo, and each costs a gradient.
constexpr int kMaxSharpnessIterations = 1000;
constexpr size_t kMaxCells = 1000000;
// Seeds are numbered by a 32-bit word of their Philox counter (core/random.hpp): more would repeat.
constexpr long long kMaxSeeds = 1LL << 32;
constexpr double kInf = std::numeric_limits<double>::infinity();
const char* const kPresetList = "cubic, jordan5, polar_express, you6";

int default_ns_steps(const std::string& preset, int custom_count) {
  if (preset == "polar_express") return 8;
  if (preset == "you6") return 6;
  if (preset == "custom") return custom_count;
  return 5;
}

std::string join(std::initializer_list<std::string_view> items) {
  std::string out;
  for (std::string_view s : items) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

template <class List>
bool contains(const List& items, std::string_view k) {
  return std::find(items.begin(), items.end(), k) != items.end();
}

const char* type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::none:
      return "nothing";
    case toml::node_type::table:
      return "table";
    case toml::node_type::array:
      return "array";
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
  }
  return "value";
}

// "a table", "an array", "an integer", ...
std::string a_type(toml::node_type t) {
  const std::string name = type_name(t);
  return (name.find_first_of("aeiou") == 0 ? "an " : "a ") + name;
}

// Shortest representation that reads back to the same double, always a TOML float.
std::string fmt_double(double v) {
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

template <class E>
using EnumTable = std::initializer_list<std::pair<std::string_view, E>>;

template <class E>
std::string enum_name(E v, EnumTable<E> names) {
  for (const auto& [name, value] : names)
    if (value == v) return std::string(name);
  return "?";
}

const EnumTable<ProblemKind> kProblemKinds = {{"factorization", ProblemKind::factorization},
                                              {"symmetric", ProblemKind::symmetric},
                                              {"icl", ProblemKind::icl},
                                              {"sensing", ProblemKind::sensing}};
const EnumTable<Basis> kBases = {{"random", Basis::random}, {"identity", Basis::identity}};
const EnumTable<ScaleMode> kScaleModes = {{"absolute", ScaleMode::absolute},
                                          {"fan", ScaleMode::fan}};
const EnumTable<Precision> kPrecisions = {{"fp32", Precision::fp32}, {"fp64", Precision::fp64}};
const EnumTable<Spacing> kSpacings = {{"linear", Spacing::linear}, {"log", Spacing::log}};
const EnumTable<InitKind> kInitKinds = {{"zero", InitKind::zero},
                                        {"gaussian", InitKind::gaussian},
                                        {"orthogonal", InitKind::orthogonal},
                                        {"spectral", InitKind::spectral}};
const EnumTable<OptimizerKind> kOptimizers = {{"gd", OptimizerKind::gd},
                                              {"specgd", OptimizerKind::specgd},
                                              {"muon", OptimizerKind::muon},
                                              {"adam", OptimizerKind::adam}};
const EnumTable<OrthKind> kOrthKinds = {{"exact", OrthKind::exact},
                                        {"smooth", OrthKind::smooth},
                                        {"newton_schulz", OrthKind::newton_schulz}};
const EnumTable<SensingMatrices> kSensingMatrices = {
    {"gaussian", SensingMatrices::gaussian},
    {"symmetric_gaussian", SensingMatrices::symmetric_gaussian}};
const EnumTable<SensingFactor> kSensingFactors = {{"product", SensingFactor::product},
                                                  {"symmetric", SensingFactor::symmetric}};
const EnumTable<NoiseScale> kNoiseScales = {{"absolute", NoiseScale::absolute},
                                            {"relative", NoiseScale::relative}};
const EnumTable<MomentumOrder> kMomentumOrders = {{"pre_polar", MomentumOrder::pre_polar},
                                                  {"post_polar", MomentumOrder::post_polar}};
const EnumTable<ShapeScale> kShapeScales = {
    {"none", ShapeScale::none}, {"sqrt_ratio", ShapeScale::sqrt_ratio}, {"rms", ShapeScale::rms}};
const EnumTable<Integrator> kIntegrators = {{"step", Integrator::step}, {"rk4", Integrator::rk4}};
const EnumTable<ScheduleKind> kScheduleKinds = {{"constant", ScheduleKind::constant},
                                                {"exponential", ScheduleKind::exponential},
                                                {"spike_geometric", ScheduleKind::spike_geometric},
                                                {"cosine", ScheduleKind::cosine},
                                                {"piecewise", ScheduleKind::piecewise}};

// Keys of each schedule kind (besides `kind`).
std::vector<std::string_view> schedule_keys(ScheduleKind k) {
  switch (k) {
    case ScheduleKind::constant:
      return {};
    case ScheduleKind::exponential:
      return {"decay"};
    case ScheduleKind::spike_geometric:
      return {"eta1", "factor"};
    case ScheduleKind::cosine:
      return {"warmup", "min_lr"};
    case ScheduleKind::piecewise:
      return {"steps", "values"};
  }
  return {};
}

// " (line L, column C)" for a value from the file, " (from --set)" for one from an override.
std::string where_in_file(const toml::source_region* r) {
  if (r == nullptr) return "";
  if ((r->path && *r->path == kOverrideSource) || r->begin.line == 0) return " (from --set)";
  return fmt::format(" (line {}, column {})", r->begin.line, r->begin.column);
}

// Where a node or key that has no place in the file came from (a sweep axis value, or a table
// created to hold one), keyed by the address of its source region.
struct SourceNote {
  const toml::source_region* region;
  std::string text;  // " (from sweep.KEY, line L, column C)"
};

// Reads a parsed TOML document into a Config, checking everything.
class Reader {
 public:
  explicit Reader(std::string source, const std::vector<SourceNote>* notes = nullptr)
      : source_(std::move(source)), notes_(notes) {}

  Config read(const toml::table& root) {
    for (auto&& [k, v] : root) {
      (void)v;
      if (k.str() == "sweep")
        fail("sweep",
             "sweeps produce several cells; read this config as an experiment "
             "(parse_experiment / load_experiment)",
             &k.source());
      if (!contains(std::initializer_list<std::string_view>{"problem", "init", "optimizer", "run",
                                                            "record", "basin"},
                    k.str()))
        fail(std::string(k.str()),
             "unknown table or key; expected one of: problem, init, optimizer, run, record, basin",
             &k.source());
    }
    Config c;
    read_run(table_at(&root, "", "run"), c.run);
    read_problem(table_at(&root, "", "problem"), c.problem);
    read_init(table_at(&root, "", "init"), c.problem.depth, c.init);
    read_optimizer(table_at(&root, "", "optimizer"), c.run.steps, c.optimizer);
    read_record(table_at(&root, "", "record"), c.run, c.init.scale, c.record);
    read_basin(table_at(&root, "", "basin"), c.basin);
    check_engine_size(root, c);
    check_spectrum_range(root, c);
    return c;
  }

 private:
  std::string source_;
  const std::vector<SourceNote>* notes_ = nullptr;

  std::string where(const toml::source_region* r) const {
    if (r != nullptr && notes_ != nullptr)
      for (const SourceNote& note : *notes_)
        if (note.region == r) return note.text;
    return where_in_file(r);
  }
  static const toml::source_region* src(const toml::node* n) { return n ? &n->source() : nullptr; }

  [[noreturn]] void fail(const std::string& key, const std::string& msg,
                         const toml::source_region* r) const {
    throw InputError(fmt::format("{}: {}: {}{}", source_, key, msg, where(r)));
  }
  // For a cross-check on a value that may be a default (n == nullptr).
  [[noreturn]] void fail_at(const std::string& key, const std::string& msg,
                            const toml::node* n) const {
    if (n == nullptr) fail(key, msg + " (default value)", nullptr);
    fail(key, msg, &n->source());
  }

  static std::string join_key(const std::string& path, std::string_view k) {
    return path.empty() ? std::string(k) : path + "." + std::string(k);
  }

  const toml::table* table_at(const toml::table* parent, const std::string& path,
                              std::string_view name) const {
    const toml::node* n = parent ? parent->get(name) : nullptr;
    if (n == nullptr) return nullptr;
    if (!n->is_table())
      fail(join_key(path, name), fmt::format("expected a table, got {}", type_name(n->type())),
           src(n));
    return n->as_table();
  }

  void check_keys(const toml::table* t, const std::string& path,
                  std::initializer_list<std::string_view> allowed,
                  const std::string& context = {}) const {
    if (t == nullptr) return;
    for (auto&& [k, v] : *t) {
      (void)v;
      if (!contains(allowed, k.str()))
        fail(join_key(path, k.str()),
             fmt::format("unknown key{}; expected one of: {}", context, join(allowed)),
             &k.source());
    }
  }

  static const toml::node* get(const toml::table* t, std::string_view k) {
    return t ? t->get(k) : nullptr;
  }

  // ---- cross-checks ----

  // The engine indexes a seed's working set with int (core/trajectory.hpp EngineLayout).
  void check_engine_size(const toml::table& root, const Config& c) const {
    const ProblemConfig& p = c.problem;
    const int modes = std::min<int>(p.rank, static_cast<int>(p.target.spectrum.size()));
    const long long values =
        engine_lane_values(p.shape(), c.optimizer_params(), modes, c.record.sharpness_iterations);
    if (values > std::numeric_limits<int>::max())
      fail_at("problem.rank",
              fmt::format("a seed's working set of {} values for problem.m = {}, problem.n = {}, "
                          "problem.rank = {}, problem.depth = {} exceeds the engine's 32-bit "
                          "indexing ({} values); reduce them",
                          values, p.m, p.n, p.rank, p.depth, std::numeric_limits<int>::max()),
              root.at_path("problem.rank").node());
  }

  // The relative excess loss divides by 1/2 ||M||^2 = 1/2 sum s_i^2 in the working precision: if
  // that underflows (a denormal spectrum) every excess is 0/0 = NaN and no seed can converge, and
  // a denormal s_i puts its mode's hitting threshold below the precision's normal range. Refused
  // rather than computed: scaling the spectrum (with init.scale) gives the same dynamics in range.
  void check_spectrum_range(const toml::table& root, const Config& c) const {
    const bool fp64 = c.run.precision == Precision::fp64;
    const double smallest =
        fp64 ? std::numeric_limits<double>::min() : double(std::numeric_limits<float>::min());
    const double largest =
        fp64 ? std::numeric_limits<double>::max() : double(std::numeric_limits<float>::max());
    const std::string precision = fmt::format("run.precision = \"{}\"", fp64 ? "fp64" : "fp32");
    const std::string remedy = fp64 ? "scale the spectrum" : "scale the spectrum or use fp64";
    const toml::node* sp = root.at_path("problem.target.spectrum").node();
    const std::vector<double>& s = c.problem.target.spectrum;
    double half_norm2 = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] < smallest)
        fail_at(elem_key("problem.target.spectrum", i),
                fmt::format("{} is below the smallest normal number of {} ({:.3g}); {}", s[i],
                            precision, smallest, remedy),
                sp);
      half_norm2 += 0.5 * s[i] * s[i];
    }
    if (!(half_norm2 >= smallest && half_norm2 <= largest))
      fail_at("problem.target.spectrum",
              fmt::format("1/2 sum s_i^2 = {:.3g} is outside the normal range of {} ([{:.3g}, "
                          "{:.3g}]): the relative excess loss divides by it; {}",
                          half_norm2, precision, smallest, largest, remedy),
              sp);
  }

  // ---- typed values ----

  long long as_int(const toml::node& n, const std::string& key) const {
    if (!n.is_integer())
      fail(key, fmt::format("expected an integer, got {}", type_name(n.type())), &n.source());
    return static_cast<long long>(n.as_integer()->get());
  }

  long long int_in(const toml::node& n, const std::string& key, long long lo, long long hi,
                   const std::string& range_text = {}) const {
    const long long v = as_int(n, key);
    if (v < lo || v > hi) {
      const std::string range = !range_text.empty() ? range_text
                                : hi == std::numeric_limits<long long>::max()
                                    ? fmt::format(">= {}", lo)
                                    : fmt::format("in [{}, {}]", lo, hi);
      fail(key, fmt::format("must be {}, got {}", range, v), &n.source());
    }
    return v;
  }

  double as_float(const toml::node& n, const std::string& key) const {
    double v;
    if (n.is_integer())
      v = static_cast<double>(n.as_integer()->get());
    else if (n.is_floating_point())
      v = n.as_floating_point()->get();
    else
      fail(key, fmt::format("expected a number, got {}", type_name(n.type())), &n.source());
    if (!std::isfinite(v))
      fail(key, fmt::format("must be a finite number, got {}", v), &n.source());
    return v;
  }

  // A number in the interval (lo, hi) with open/closed ends as given; hi = inf for no upper bound.
  double float_in(const toml::node& n, const std::string& key, double lo, bool lo_open, double hi,
                  bool hi_open) const {
    const double v = as_float(n, key);
    const bool ok = (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
    if (!ok) {
      std::string range;
      if (hi == kInf)
        range = fmt::format("{} {}", lo_open ? ">" : ">=", lo);
      else
        range = fmt::format("in {}{}, {}{}", lo_open ? "(" : "[", lo, hi, hi_open ? ")" : "]");
      fail(key, fmt::format("must be {}, got {}", range, v), &n.source());
    }
    return v;
  }
  double positive(const toml::node& n, const std::string& key) const {
    return float_in(n, key, 0.0, true, kInf, false);
  }

  bool as_bool(const toml::node& n, const std::string& key) const {
    if (!n.is_boolean())
      fail(key, fmt::format("expected a boolean, got {}", type_name(n.type())), &n.source());
    return n.as_boolean()->get();
  }

  std::string as_string(const toml::node& n, const std::string& key) const {
    if (!n.is_string())
      fail(key, fmt::format("expected a string, got {}", type_name(n.type())), &n.source());
    return n.as_string()->get();
  }

  template <class E>
  E as_enum(const toml::node& n, const std::string& key, EnumTable<E> names) const {
    if (!n.is_string())
      fail(key, fmt::format("expected a string, got {}", type_name(n.type())), &n.source());
    const std::string s = n.as_string()->get();
    std::string list;
    for (const auto& [name, value] : names) {
      if (name == s) return value;
      list += list.empty() ? "" : ", ";
      list += name;
    }
    fail(key, fmt::format("unknown value \"{}\"; expected one of: {}", s, list), &n.source());
  }

  const toml::array& as_array(const toml::node& n, const std::string& key, const char* what) const {
    if (!n.is_array())
      fail(key, fmt::format("expected {}, got {}", what, type_name(n.type())), &n.source());
    return *n.as_array();
  }

  static std::string elem_key(const std::string& key, size_t i) {
    return fmt::format("{}[{}]", key, i);
  }

  // ---- sections ----

  void read_run(const toml::table* t, RunConfig& r) const {
    check_keys(t, "run", {"steps", "seeds", "master_seed", "precision", "blowup"});
    if (auto n = get(t, "steps")) r.steps = static_cast<int>(int_in(*n, "run.steps", 1, kMaxSteps));
    if (auto n = get(t, "seeds"))
      r.seeds = static_cast<long>(
          int_in(*n, "run.seeds", 1, kMaxSeeds,
                 fmt::format("in [1, 2^32 = {}] (a seed's index is 32 bits of its random stream)",
                             kMaxSeeds)));
    if (auto n = get(t, "master_seed"))
      r.master_seed = static_cast<std::uint64_t>(
          int_in(*n, "run.master_seed", 0, std::numeric_limits<long long>::max()));
    if (auto n = get(t, "precision")) r.precision = as_enum(*n, "run.precision", kPrecisions);
    if (auto n = get(t, "blowup")) r.blowup = float_in(*n, "run.blowup", 1.0, true, kInf, false);
  }

  void read_problem(const toml::table* t, ProblemConfig& p) const {
    check_keys(t, "problem",
               {"kind", "m", "n", "rank", "depth", "l2", "context_length", "target", "sensing"});
    if (auto n = get(t, "kind")) p.kind = as_enum(*n, "problem.kind", kProblemKinds);
    const bool icl = p.kind == ProblemKind::icl, sensing = p.kind == ProblemKind::sensing;
    // The sensing factor decides the shape's checks below, so it is read first.
    const toml::table* sensing_table = table_at(t, "problem", "sensing");
    if (sensing_table && sensing)
      if (auto n = get(sensing_table, "factor"))
        p.sensing.factor = as_enum(*n, "problem.sensing.factor", kSensingFactors);
    const bool symmetric = p.shape().symmetric;
    const std::string kind_text = fmt::format("kind = \"{}\"", enum_name(p.kind, kProblemKinds));
    const toml::node* m_node = get(t, "m");
    const toml::node* n_node = get(t, "n");
    if (m_node) p.m = static_cast<int>(int_in(*m_node, "problem.m", 1, kMaxDim));
    if (n_node) p.n = static_cast<int>(int_in(*n_node, "problem.n", 1, kMaxDim));
    if (symmetric || icl) {
      // W = X X^T, and icl's W (d x d, from the query's features to the context's), are square:
      // one of m, n sets both.
      if (m_node && n_node && p.m != p.n)
        fail("problem.n",
             fmt::format("must equal problem.m = {} for {} (W is square), got {}", p.m, kind_text,
                         p.n),
             &n_node->source());
      if (n_node)
        p.m = p.n;
      else
        p.n = p.m;
      if (symmetric) p.depth = 1;
    }
    const toml::node* context = get(t, "context_length");
    if (icl && context == nullptr)
      fail("problem.context_length",
           "missing (required for kind = \"icl\": the examples N in each prompt)", &t->source());
    if (context) {
      if (!icl)
        fail("problem.context_length",
             fmt::format("applies to kind = \"icl\" only, not {}", kind_text), &context->source());
      p.context_length = static_cast<int>(int_in(*context, "problem.context_length", 1, kMaxDim));
    }
    const int max_rank = kMaxRankFactor * std::max(p.m, p.n);
    const toml::node* rank = get(t, "rank");
    // Checked as the 64-bit value it was written as: narrowed first, 2^32 + 3 would pass as 3.
    const long long r = rank ? as_int(*rank, "problem.rank") : p.rank;
    if (r < 1 || r > max_rank)
      fail_at("problem.rank",
              fmt::format("must be in [1, {} max(m, n) = {}], got {}", kMaxRankFactor, max_rank, r),
              rank);
    p.rank = static_cast<int>(r);
    if (auto n = get(t, "depth")) {
      if (symmetric)
        int_in(*n, "problem.depth", 1, 1,
               fmt::format("1 for {} (W = X X^T has one factor X)",
                           sensing ? "problem.sensing.factor = \"symmetric\"" : kind_text));
      else if (icl)
        int_in(*n, "problem.depth", 2, 2,
               "2 for kind = \"icl\" (W = W_PV W_KQ: the value and key-query factors)");
      else if (sensing)
        int_in(*n, "problem.depth", 2, 2,
               "2 for kind = \"sensing\" (W = F1 F2; deeper products are not implemented)");
      else
        p.depth = static_cast<int>(int_in(*n, "problem.depth", 2, kMaxDepth));
    }
    if (auto n = get(t, "l2")) {
      // icl's optimum with a penalty on the factors has no closed form (its loss weighs W's
      // entries, the penalty the factors'), and the relative excess needs the optimum.
      p.l2 = float_in(*n, "problem.l2", 0.0, false, kInf, false);
      if ((icl || sensing) && p.l2 != 0)
        fail("problem.l2",
             fmt::format("must be 0 for {} (its optimum with a penalty has no closed form), got {}",
                         kind_text, p.l2),
             &n->source());
    }
    read_target(table_at(t, "problem", "target"), p);
    read_sensing(sensing_table, p, sensing, kind_text, get(t, "rank"));
  }

  void read_sensing(const toml::table* t, ProblemConfig& p, bool sensing,
                    const std::string& kind_text, const toml::node* rank) const {
    if (t != nullptr && !sensing)
      fail("problem.sensing", fmt::format("applies to kind = \"sensing\" only, not {}", kind_text),
           &t->source());
    if (!sensing) return;
    const int spectrum = static_cast<int>(p.target.spectrum.size());
    if (spectrum > p.rank)
      fail("problem.rank",
           fmt::format("must be at least the target's rank {} for kind = \"sensing\" (W = M is "
                       "then the minimum, loss 0), got {}",
                       spectrum, p.rank),
           rank ? &rank->source() : nullptr);
    check_keys(t, "problem.sensing", {"measurements", "matrices", "factor"});
    const bool symmetric = p.sensing.factor == SensingFactor::symmetric;
    // X X^T only reads the symmetric part of each A_i: symmetric matrices by default, and only
    // they.
    if (symmetric) p.sensing.matrices = SensingMatrices::symmetric_gaussian;
    const long long dof = 4LL * p.rank * (p.m + p.n);
    p.sensing.measurements = static_cast<int>(std::min<long long>(dof, kMaxMeasurements));
    if (auto n = get(t, "measurements"))
      p.sensing.measurements =
          static_cast<int>(int_in(*n, "problem.sensing.measurements", 1, kMaxMeasurements));
    if (static_cast<long long>(p.sensing.measurements) * p.m * p.n > kMaxSensingEntries)
      fail("problem.sensing.measurements",
           fmt::format(
               "{} measurements of {} x {} matrices are {} entries, above the {} a cell may "
               "hold",
               p.sensing.measurements, p.m, p.n,
               static_cast<long long>(p.sensing.measurements) * p.m * p.n, kMaxSensingEntries),
           get(t, "measurements") ? &get(t, "measurements")->source() : nullptr);
    if (auto n = get(t, "matrices")) {
      p.sensing.matrices = as_enum(*n, "problem.sensing.matrices", kSensingMatrices);
      if (p.sensing.matrices == SensingMatrices::symmetric_gaussian && p.m != p.n)
        fail("problem.sensing.matrices",
             fmt::format("\"symmetric_gaussian\" needs m = n, got {} x {}", p.m, p.n),
             &n->source());
      if (symmetric && p.sensing.matrices != SensingMatrices::symmetric_gaussian)
        fail("problem.sensing.matrices",
             "must be \"symmetric_gaussian\" with problem.sensing.factor = \"symmetric\" (X X^T "
             "reads only the symmetric part of each A_i)",
             &n->source());
    }
  }

  void read_target(const toml::table* t, ProblemConfig& p) const {
    check_keys(t, "problem.target", {"spectrum", "basis", "seed"});
    const int mn = std::min(p.m, p.n);
    const std::string key = "problem.target.spectrum";
    const toml::node* sp = get(t, "spectrum");
    std::vector<double>& s = p.target.spectrum;
    if (sp == nullptr) {
      s = {5.0, 4.0, 3.0, 2.0, 1.0};  // the DESIGN section 5 example
    } else if (sp->is_array()) {
      const toml::array& a = *sp->as_array();
      if (a.empty() || static_cast<long long>(a.size()) > mn)
        fail(key,
             fmt::format("must have between 1 and min(m, n) = {} values, got {}", mn, a.size()),
             &sp->source());
      for (size_t i = 0; i < a.size(); ++i) {
        const double v = positive(a[i], elem_key(key, i));
        if (i > 0 && v > s.back())
          fail(elem_key(key, i),
               fmt::format("the spectrum must be non-increasing, but {} follows {}", v, s.back()),
               &a[i].source());
        s.push_back(v);
      }
    } else if (sp->is_table()) {
      read_spectrum_form(*sp->as_table(), key, mn, s);
    } else {
      fail(key,
           fmt::format("expected an array of numbers or a table {{ kind = \"power\" | "
                       "\"geometric\", ... }}, "
                       "got {}",
                       type_name(sp->type())),
           &sp->source());
    }
    if (static_cast<int>(s.size()) > mn)
      fail_at(key, fmt::format("has {} values, more than min(m, n) = {}", s.size(), mn), sp);
    if (p.kind == ProblemKind::icl) {
      // The spectrum is the token covariance Lambda's, which must be nonsingular: a zero
      // eigenvalue's direction carries no label and its W* entry is 0/0.
      if (static_cast<int>(s.size()) != p.n)
        fail_at(key,
                fmt::format("must have exactly problem.n = {} values for kind = \"icl\" (the "
                            "eigenvalues of the token covariance), got {}",
                            p.n, s.size()),
                sp);
    }
    if (auto n = get(t, "basis")) p.target.basis = as_enum(*n, "problem.target.basis", kBases);
    if (auto n = get(t, "seed"))
      p.target.seed = static_cast<std::uint64_t>(
          int_in(*n, "problem.target.seed", 0, std::numeric_limits<long long>::max()));
  }

  void read_spectrum_form(const toml::table& t, const std::string& key, int mn,
                          std::vector<double>& s) const {
    const toml::node* kind = t.get("kind");
    if (kind == nullptr) fail(key + ".kind", "missing (\"power\" or \"geometric\")", &t.source());
    const std::string k = as_string(*kind, key + ".kind");
    auto require = [&](std::string_view name) -> const toml::node& {
      const toml::node* n = t.get(name);
      if (n == nullptr)
        fail(join_key(key, name), fmt::format("missing (required for kind = \"{}\")", k),
             &t.source());
      return *n;
    };
    if (k == "power") {
      check_keys(&t, key, {"kind", "scale", "exponent", "count"}, " for kind = \"power\"");
      const double scale = positive(require("scale"), key + ".scale");
      const double exponent =
          float_in(require("exponent"), key + ".exponent", 0.0, false, kInf, false);
      const int count = static_cast<int>(int_in(require("count"), key + ".count", 1, mn,
                                                fmt::format("in [1, min(m, n) = {}]", mn)));
      for (int i = 1; i <= count; ++i) s.push_back(scale / std::pow(double(i), exponent));
    } else if (k == "geometric") {
      check_keys(&t, key, {"kind", "max", "condition", "count"}, " for kind = \"geometric\"");
      const double mx = positive(require("max"), key + ".max");
      const double cond =
          float_in(require("condition"), key + ".condition", 1.0, false, kInf, false);
      const int count = static_cast<int>(int_in(require("count"), key + ".count", 1, mn,
                                                fmt::format("in [1, min(m, n) = {}]", mn)));
      for (int i = 0; i < count; ++i) {
        if (i == 0)
          s.push_back(mx);
        else if (i == count - 1)
          s.push_back(mx / cond);
        else
          s.push_back(std::min(s.back(), mx * std::pow(cond, -double(i) / double(count - 1))));
      }
    } else {
      fail(key + ".kind", fmt::format("unknown value \"{}\"; expected one of: power, geometric", k),
           &kind->source());
    }
    for (size_t i = 0; i < s.size(); ++i)
      if (!(s[i] > 0) || !std::isfinite(s[i]))
        fail(key,
             fmt::format("value {} of the generated spectrum is {}, not a positive finite number",
                         i + 1, s[i]),
             &t.source());
  }

  void read_init(const toml::table* t, int depth, InitConfig& in) const {
    check_keys(t, "init", {"factors", "scale", "scale_mode"});
    const toml::node* f = get(t, "factors");
    in.factors.clear();
    if (f == nullptr) {
      // Kang's LoRA start (F_1 = 0) for a product; a symmetric problem's X = 0 would be a critical
      // point, so its one factor starts Gaussian.
      in.factors.assign(static_cast<size_t>(depth), InitKind::gaussian);
      if (depth > 1) in.factors[0] = InitKind::zero;
    } else {
      const toml::array& a = as_array(*f, "init.factors", "an array of strings");
      if (static_cast<int>(a.size()) != depth)
        fail("init.factors",
             fmt::format("must have exactly problem.depth = {} entries, got {}", depth, a.size()),
             &f->source());
      for (size_t i = 0; i < a.size(); ++i)
        in.factors.push_back(as_enum(a[i], elem_key("init.factors", i), kInitKinds));
    }
    if (auto n = get(t, "scale")) in.scale = positive(*n, "init.scale");
    if (auto n = get(t, "scale_mode")) in.scale_mode = as_enum(*n, "init.scale_mode", kScaleModes);
  }

  void read_optimizer(const toml::table* t, int steps, OptimizerConfig& o) const {
    check_keys(t, "optimizer",
               {"kind", "lr", "orthogonalizer", "ns_coefficients", "ns_steps", "smooth_eps",
                "momentum", "nesterov", "momentum_order", "shape_scale", "beta1", "beta2", "eps",
                "integrator", "schedule", "gradient_noise", "gradient_noise_scale"});
    if (auto n = get(t, "kind")) o.kind = as_enum(*n, "optimizer.kind", kOptimizers);
    if (auto n = get(t, "lr")) o.lr = positive(*n, "optimizer.lr");
    if (auto n = get(t, "orthogonalizer"))
      o.orthogonalizer = as_enum(*n, "optimizer.orthogonalizer", kOrthKinds);

    o.ns_preset = "jordan5";
    o.ns_coefficients = ns_preset(o.ns_preset);
    if (auto n = get(t, "ns_coefficients")) {
      const std::string key = "optimizer.ns_coefficients";
      if (n->is_string()) {
        const std::string name = n->as_string()->get();
        o.ns_coefficients = ns_preset(name);
        if (o.ns_coefficients.empty())
          fail(key,
               fmt::format(
                   "unknown preset \"{}\"; expected one of: {}, or an array of [a, b, c] triples",
                   name, kPresetList),
               &n->source());
        o.ns_preset = name;
      } else if (n->is_array()) {
        const toml::array& a = *n->as_array();
        if (a.empty() || static_cast<int>(a.size()) > kMaxNsTriples)
          fail(key,
               fmt::format("must have between 1 and {} [a, b, c] triples, got {}", kMaxNsTriples,
                           a.size()),
               &n->source());
        o.ns_coefficients.clear();
        for (size_t i = 0; i < a.size(); ++i) {
          const std::string ek = elem_key(key, i);
          const toml::array& tri = as_array(a[i], ek, "an [a, b, c] triple of numbers");
          if (tri.size() != 3)
            fail(ek,
                 fmt::format("expected an [a, b, c] triple of numbers, got {} values", tri.size()),
                 &a[i].source());
          o.ns_coefficients.push_back({as_float(tri[0], elem_key(ek, 0)),
                                       as_float(tri[1], elem_key(ek, 1)),
                                       as_float(tri[2], elem_key(ek, 2))});
        }
        o.ns_preset = "custom";
      } else {
        fail(key,
             fmt::format("expected a preset name ({}) or an array of [a, b, c] triples, got {}",
                         kPresetList, type_name(n->type())),
             &n->source());
      }
    }
    if (auto n = get(t, "ns_steps"))
      o.ns_steps = static_cast<int>(int_in(*n, "optimizer.ns_steps", 1, kMaxNsSteps));
    else
      o.ns_steps = default_ns_steps(o.ns_preset, static_cast<int>(o.ns_coefficients.size()));

    if (auto n = get(t, "smooth_eps")) o.smooth_eps = positive(*n, "optimizer.smooth_eps");
    if (auto n = get(t, "momentum"))
      o.momentum = float_in(*n, "optimizer.momentum", 0.0, false, 1.0, true);
    if (auto n = get(t, "nesterov")) o.nesterov = as_bool(*n, "optimizer.nesterov");
    if (auto n = get(t, "momentum_order"))
      o.momentum_order = as_enum(*n, "optimizer.momentum_order", kMomentumOrders);
    if (auto n = get(t, "shape_scale"))
      o.shape_scale = as_enum(*n, "optimizer.shape_scale", kShapeScales);
    if (auto n = get(t, "beta1")) o.beta1 = float_in(*n, "optimizer.beta1", 0.0, false, 1.0, true);
    if (auto n = get(t, "beta2")) o.beta2 = float_in(*n, "optimizer.beta2", 0.0, false, 1.0, true);
    if (auto n = get(t, "eps")) o.eps = positive(*n, "optimizer.eps");
    if (auto n = get(t, "integrator")) {
      o.integrator = as_enum(*n, "optimizer.integrator", kIntegrators);
      if (o.integrator == Integrator::rk4 && o.kind != OptimizerKind::gd &&
          o.kind != OptimizerKind::specgd)
        fail("optimizer.integrator",
             fmt::format("rk4 (flow mode) requires optimizer.kind = gd or specgd, got {}",
                         enum_name(o.kind, kOptimizers)),
             &n->source());
    }
    if (auto n = get(t, "gradient_noise"))
      o.gradient_noise = float_in(*n, "optimizer.gradient_noise", 0.0, false, kInf, true);
    if (auto n = get(t, "gradient_noise_scale"))
      o.gradient_noise_scale = as_enum(*n, "optimizer.gradient_noise_scale", kNoiseScales);
    read_schedule(table_at(t, "optimizer", "schedule"), steps, o);
  }

  void read_schedule(const toml::table* t, int steps, OptimizerConfig& o) const {
    Schedule& s = o.schedule;
    s = Schedule{};
    s.lr = o.lr;
    s.total_steps = steps;
    if (t == nullptr) return;
    const std::string path = "optimizer.schedule";
    if (auto n = t->get("kind")) s.kind = as_enum(*n, path + ".kind", kScheduleKinds);
    const std::string kind_name = enum_name(s.kind, kScheduleKinds);
    const auto own = schedule_keys(s.kind);
    for (auto&& [k, v] : *t) {
      (void)v;
      if (k.str() == "kind" || contains(own, k.str())) continue;
      for (const auto& [other_name, other] : kScheduleKinds)
        if (contains(schedule_keys(other), k.str()))
          fail(join_key(path, k.str()),
               fmt::format("is a key of schedule kind \"{}\", not allowed with kind = \"{}\"",
                           other_name, kind_name),
               &k.source());
      std::string allowed = "kind";
      for (std::string_view a : own) allowed += ", " + std::string(a);
      fail(join_key(path, k.str()),
           fmt::format("unknown key for kind = \"{}\"; expected one of: {}", kind_name, allowed),
           &k.source());
    }
    auto require = [&](std::string_view name) -> const toml::node& {
      const toml::node* n = t->get(name);
      if (n == nullptr)
        fail(join_key(path, name), fmt::format("missing (required for kind = \"{}\")", kind_name),
             &t->source());
      return *n;
    };
    switch (s.kind) {
      case ScheduleKind::constant:
        break;
      case ScheduleKind::exponential:
        s.decay = positive(require("decay"), path + ".decay");
        break;
      case ScheduleKind::spike_geometric:
        s.eta1 = positive(require("eta1"), path + ".eta1");
        if (auto n = t->get("factor")) s.factor = positive(*n, path + ".factor");
        break;
      case ScheduleKind::cosine:
        if (auto n = t->get("warmup"))
          s.warmup = static_cast<int>(int_in(*n, path + ".warmup", 0, steps - 1,
                                             fmt::format("in [0, run.steps - 1 = {}]", steps - 1)));
        if (auto n = t->get("min_lr"))
          s.min_lr = float_in(*n, path + ".min_lr", 0.0, false, o.lr, false);
        break;
      case ScheduleKind::piecewise: {
        const std::string sk = path + ".steps", vk = path + ".values";
        const toml::node& sn = require("steps");
        const toml::node& vn = require("values");
        const toml::array& sa = as_array(sn, sk, "an array of integers");
        const toml::array& va = as_array(vn, vk, "an array of numbers");
        if (sa.empty() || static_cast<int>(sa.size()) > kMaxPieces)
          fail(sk, fmt::format("must have between 1 and {} entries, got {}", kMaxPieces, sa.size()),
               &sn.source());
        if (va.size() != sa.size())
          fail(
              vk,
              fmt::format("must have as many entries as {} ({}), got {}", sk, sa.size(), va.size()),
              &vn.source());
        s.pieces = static_cast<int>(sa.size());
        for (int i = 0; i < s.pieces; ++i) {
          const std::string ek = elem_key(sk, static_cast<size_t>(i));
          const long long st = as_int(sa[static_cast<size_t>(i)], ek);
          if (i == 0 && st != 0)
            fail(ek, fmt::format("the first piece must start at step 0, got {}", st),
                 &sa[0].source());
          if (i > 0 && st <= s.start[i - 1])
            fail(ek,
                 fmt::format("steps must be strictly ascending, but {} follows {}", st,
                             s.start[i - 1]),
                 &sa[static_cast<size_t>(i)].source());
          if (st >= steps)
            fail(ek, fmt::format("must be < run.steps = {}, got {}", steps, st),
                 &sa[static_cast<size_t>(i)].source());
          s.start[i] = static_cast<int>(st);
          s.value[i] = positive(va[static_cast<size_t>(i)], elem_key(vk, static_cast<size_t>(i)));
        }
        break;
      }
    }
  }

  void read_record(const toml::table* t, const RunConfig& run, double init_scale,
                   RecordConfig& r) const {
    const long seeds = run.seeds;
    check_keys(t, "record",
               {"every", "points", "spacing", "traced_seeds", "hit_tolerance", "loss_tolerance",
                "grad_tolerance", "block_rtol", "block_atol", "block_atol_inner", "delta_matrices",
                "loss_window", "sharpness_iterations", "orth_error"});
    const toml::node* every = get(t, "every");
    const toml::node* points = get(t, "points");
    if (every) r.every = static_cast<int>(int_in(*every, "record.every", 1, kMaxSteps));
    if (points) {
      if (every)
        fail("record.every", "cannot be combined with record.points (give one of them)",
             &every->source());
      r.points = static_cast<int>(int_in(*points, "record.points", 2, kMaxSteps));
    }
    if (auto n = get(t, "spacing")) {
      r.spacing = as_enum(*n, "record.spacing", kSpacings);
      if (!points)
        fail("record.spacing", "is only allowed together with record.points", &n->source());
    }
    if (auto n = get(t, "traced_seeds")) {
      r.traced_seeds = static_cast<int>(int_in(
          *n, "record.traced_seeds", 0, std::min<long>(seeds, std::numeric_limits<int>::max()),
          fmt::format("in [0, run.seeds = {}]", seeds)));
    } else {
      r.traced_seeds =
          static_cast<int>(std::min<long>(r.traced_seeds, seeds));  // default 8, at most seeds
    }
    if (auto n = get(t, "hit_tolerance"))
      r.hit_tolerance = float_in(*n, "record.hit_tolerance", 0.0, true, 1.0, true);
    if (auto n = get(t, "loss_tolerance")) r.loss_tolerance = positive(*n, "record.loss_tolerance");
    if (auto n = get(t, "grad_tolerance")) r.grad_tolerance = positive(*n, "record.grad_tolerance");
    if (auto n = get(t, "block_rtol"))
      r.block_rtol = float_in(*n, "record.block_rtol", 0.0, false, 1.0, false);
    r.block_atol = init_scale;
    if (auto n = get(t, "block_atol"))
      r.block_atol = float_in(*n, "record.block_atol", 0.0, false, kInf, false);
    r.block_atol_inner = r.block_atol * r.block_atol;
    if (auto n = get(t, "block_atol_inner"))
      r.block_atol_inner = float_in(*n, "record.block_atol_inner", 0.0, false, kInf, false);
    if (auto n = get(t, "delta_matrices")) r.delta_matrices = as_bool(*n, "record.delta_matrices");
    if (auto n = get(t, "loss_window"))
      r.loss_window =
          static_cast<int>(int_in(*n, "record.loss_window", 1, run.steps + 1,
                                  fmt::format("in [1, run.steps + 1 = {}]", run.steps + 1)));
    if (auto n = get(t, "sharpness_iterations"))
      r.sharpness_iterations =
          static_cast<int>(int_in(*n, "record.sharpness_iterations", 0, kMaxSharpnessIterations));
    if (auto n = get(t, "orth_error")) r.orth_error = as_bool(*n, "record.orth_error");
  }

  void read_basin(const toml::table* t, BasinConfig& b) const {
    check_keys(t, "basin", {"probes"});
    if (auto n = get(t, "probes"))
      b.probes = static_cast<int>(int_in(*n, "basin.probes", 0, kMaxBasinProbes));
  }
};

// ---------------------------------------------------------------------------------------------
// --set overrides
// ---------------------------------------------------------------------------------------------

// The trimmed parts of a dotted key; empty when the key or any part is empty.
std::vector<std::string> split_key(std::string_view key) {
  std::vector<std::string> parts;
  if (key.empty()) return parts;
  size_t b = 0;
  for (;;) {
    const size_t d = key.find('.', b);
    parts.push_back(
        trim(key.substr(b, d == std::string_view::npos ? std::string_view::npos : d - b)));
    if (d == std::string_view::npos) break;
    b = d + 1;
  }
  if (std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); }))
    parts.clear();
  return parts;
}

std::string join_parts(const std::vector<std::string>& parts, size_t count) {
  std::string out;
  for (size_t i = 0; i < count && i < parts.size(); ++i) out += (i ? "." : "") + parts[i];
  return out;
}
std::string join_parts(const std::vector<std::string>& parts) {
  return join_parts(parts, parts.size());
}

struct Override {
  std::vector<std::string> parts;
  std::string value;
};

Override split_override(const std::string& ov) {
  const auto eq = ov.find('=');
  Override o;
  if (eq != std::string::npos) {
    o.parts = split_key(trim(std::string_view(ov).substr(0, eq)));
    o.value = trim(std::string_view(ov).substr(eq + 1));
  }
  if (eq == std::string::npos || o.parts.empty() || o.value.empty())
    throw InputError(fmt::format(
        "--set \"{}\": malformed override, expected KEY=VALUE (e.g. optimizer.lr=0.1)", ov));
  return o;
}

// Applies one --set KEY=VALUE to the parsed document.
void apply_override(toml::table& root, const std::string& ov) {
  const Override o = split_override(ov);
  const std::vector<std::string>& parts = o.parts;
  toml::table* t = &root;
  std::string path;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    path += (i ? "." : "") + parts[i];
    toml::node* child = t->get(parts[i]);
    if (child == nullptr) child = &t->insert(parts[i], toml::table{}).first->second;
    if (!child->is_table())
      throw InputError(fmt::format("--set \"{}\": {}: is {}, not a table (from --set)", ov, path,
                                   a_type(child->type())));
    t = child->as_table();
  }
  // The value in TOML syntax; anything that does not parse as one value is a bare string.
  toml::table parsed;
  bool ok = false;
  try {
    parsed = toml::parse("x = " + o.value, kOverrideSource);
    ok = parsed.size() == 1 && parsed.get("x") != nullptr;
  } catch (const toml::parse_error&) {
    ok = false;
  }
  if (ok)
    t->insert_or_assign(parts.back(), std::move(*parsed.get("x")));
  else
    t->insert_or_assign(parts.back(), o.value);
}

toml::table parse_document(const std::string& toml_text, const std::string& source_name) {
  try {
    return toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    throw InputError(fmt::format("{}: TOML syntax error: {} (line {}, column {})", source_name,
                                 e.description(), e.source().begin.line, e.source().begin.column));
  }
}

std::string read_config_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(fmt::format("{}: cannot read the config file: it is a directory", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open the config file", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw InputError(fmt::format("{}: cannot read the config file", path));
  return ss.str();
}

// ---------------------------------------------------------------------------------------------
// Writing TOML
// ---------------------------------------------------------------------------------------------

// A TOML basic string.
std::string toml_string(std::string_view s) {
  std::string o = "\"";
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\t':
        o += "\\t";
        break;
      case '\r':
        o += "\\r";
        break;
      default:
        if (u < 0x20 || u == 0x7f)
          o += fmt::format("\\u{:04X}", static_cast<unsigned>(u));
        else
          o += ch;
    }
  }
  return o + "\"";
}

// A key, bare when it can be.
std::string toml_key(std::string_view k) {
  const bool bare = !k.empty() && std::all_of(k.begin(), k.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
  });
  return bare ? std::string(k) : toml_string(k);
}

// A node as TOML value text (tables inline).
std::string toml_value(const toml::node& n) {
  if (n.is_integer()) return std::to_string(n.as_integer()->get());
  if (n.is_floating_point()) return fmt_double(n.as_floating_point()->get());
  if (n.is_boolean()) return n.as_boolean()->get() ? "true" : "false";
  if (n.is_string()) return toml_string(n.as_string()->get());
  if (n.is_array()) {
    std::string s = "[";
    const toml::array& a = *n.as_array();
    for (size_t i = 0; i < a.size(); ++i) s += (i ? ", " : "") + toml_value(a[i]);
    return s + "]";
  }
  if (n.is_table()) {
    std::string s = "{";
    bool first = true;
    for (auto&& [k, v] : *n.as_table()) {
      s += fmt::format("{} {} = {}", first ? "" : ",", toml_key(k.str()), toml_value(v));
      first = false;
    }
    return s + (first ? "}" : " }");
  }
  std::ostringstream os;  // dates and times
  n.visit([&os](auto&& v) { os << v; });
  return os.str();
}

// One `key = value` line of a table of the resolved config.
struct Entry {
  std::string_view table;
  std::string_view key;
  std::string value;
  std::string full_key() const { return fmt::format("{}.{}", table, key); }
};

// The resolved config as (table, key, value) lines, in output order.
std::vector<Entry> config_entries(const Config& c) {
  std::vector<Entry> e;
  e.reserve(48);
  std::string_view table;
  auto line = [&](std::string_view key, std::string value) {
    e.push_back({table, key, std::move(value)});
  };
  auto str = [](std::string_view s) { return toml_string(s); };
  auto num_list = [](const double* v, size_t n) {
    std::string s = "[";
    for (size_t i = 0; i < n; ++i) s += (i ? ", " : "") + fmt_double(v[i]);
    return s + "]";
  };

  table = "problem";
  line("kind", str(enum_name(c.problem.kind, kProblemKinds)));
  line("m", std::to_string(c.problem.m));
  line("n", std::to_string(c.problem.n));
  line("rank", std::to_string(c.problem.rank));
  line("depth", std::to_string(c.problem.depth));
  line("l2", fmt_double(c.problem.l2));
  if (c.problem.kind == ProblemKind::icl)
    line("context_length", std::to_string(c.problem.context_length));
  table = "problem.target";
  line("spectrum", num_list(c.problem.target.spectrum.data(), c.problem.target.spectrum.size()));
  line("basis", str(enum_name(c.problem.target.basis, kBases)));
  line("seed", std::to_string(c.problem.target.seed));
  if (c.problem.kind == ProblemKind::sensing) {
    table = "problem.sensing";
    line("measurements", std::to_string(c.problem.sensing.measurements));
    line("matrices", str(enum_name(c.problem.sensing.matrices, kSensingMatrices)));
    line("factor", str(enum_name(c.problem.sensing.factor, kSensingFactors)));
  }

  table = "init";
  {
    std::string f = "[";
    for (size_t i = 0; i < c.init.factors.size(); ++i)
      f += (i ? ", " : "") + str(enum_name(c.init.factors[i], kInitKinds));
    line("factors", f + "]");
  }
  line("scale", fmt_double(c.init.scale));
  line("scale_mode", str(enum_name(c.init.scale_mode, kScaleModes)));

  const OptimizerConfig& op = c.optimizer;
  table = "optimizer";
  line("kind", str(enum_name(op.kind, kOptimizers)));
  line("lr", fmt_double(op.lr));
  line("orthogonalizer", str(enum_name(op.orthogonalizer, kOrthKinds)));
  if (op.ns_preset == "custom") {
    std::string s = "[";
    for (size_t i = 0; i < op.ns_coefficients.size(); ++i) {
      const NsTriple& k = op.ns_coefficients[i];
      s += fmt::format("{}[{}, {}, {}]", i ? ", " : "", fmt_double(k.a), fmt_double(k.b),
                       fmt_double(k.c));
    }
    line("ns_coefficients", s + "]");
  } else {
    line("ns_coefficients", str(op.ns_preset));
  }
  line("ns_steps", std::to_string(op.ns_steps));
  line("smooth_eps", fmt_double(op.smooth_eps));
  line("momentum", fmt_double(op.momentum));
  line("nesterov", op.nesterov ? "true" : "false");
  line("momentum_order", str(enum_name(op.momentum_order, kMomentumOrders)));
  line("gradient_noise", fmt_double(op.gradient_noise));
  line("gradient_noise_scale", str(enum_name(op.gradient_noise_scale, kNoiseScales)));
  line("shape_scale", str(enum_name(op.shape_scale, kShapeScales)));
  line("beta1", fmt_double(op.beta1));
  line("beta2", fmt_double(op.beta2));
  line("eps", fmt_double(op.eps));
  line("integrator", str(enum_name(op.integrator, kIntegrators)));

  const Schedule& s = op.schedule;
  table = "optimizer.schedule";
  line("kind", str(enum_name(s.kind, kScheduleKinds)));
  switch (s.kind) {
    case ScheduleKind::constant:
      break;
    case ScheduleKind::exponential:
      line("decay", fmt_double(s.decay));
      break;
    case ScheduleKind::spike_geometric:
      line("eta1", fmt_double(s.eta1));
      line("factor", fmt_double(s.factor));
      break;
    case ScheduleKind::cosine:
      line("warmup", std::to_string(s.warmup));
      line("min_lr", fmt_double(s.min_lr));
      break;
    case ScheduleKind::piecewise: {
      std::string st = "[";
      for (int i = 0; i < s.pieces; ++i) st += (i ? ", " : "") + std::to_string(s.start[i]);
      line("steps", st + "]");
      line("values", num_list(s.value, static_cast<size_t>(std::max(s.pieces, 0))));
      break;
    }
  }

  table = "run";
  line("steps", std::to_string(c.run.steps));
  line("seeds", std::to_string(c.run.seeds));
  line("master_seed", std::to_string(c.run.master_seed));
  line("precision", str(enum_name(c.run.precision, kPrecisions)));
  line("blowup", fmt_double(c.run.blowup));

  table = "record";
  if (c.record.points > 0) {
    line("points", std::to_string(c.record.points));
    line("spacing", str(enum_name(c.record.spacing, kSpacings)));
  } else {
    line("every", std::to_string(c.record.every));
  }
  line("traced_seeds", std::to_string(c.record.traced_seeds));
  line("hit_tolerance", fmt_double(c.record.hit_tolerance));
  line("loss_tolerance", fmt_double(c.record.loss_tolerance));
  line("grad_tolerance", fmt_double(c.record.grad_tolerance));
  line("block_rtol", fmt_double(c.record.block_rtol));
  line("block_atol", fmt_double(c.record.block_atol));
  line("block_atol_inner", fmt_double(c.record.block_atol_inner));
  line("delta_matrices", c.record.delta_matrices ? "true" : "false");
  line("loss_window", std::to_string(c.record.loss_window));
  line("sharpness_iterations", std::to_string(c.record.sharpness_iterations));
  line("orth_error", c.record.orth_error ? "true" : "false");

  table = "basin";
  line("probes", std::to_string(c.basin.probes));
  return e;
}

// Tables in order, "[table]" headers separated by blank lines.
std::string render(const std::vector<Entry>& entries) {
  std::string o;
  std::string_view current;
  for (const Entry& e : entries) {
    if (o.empty() || e.table != current) {
      o += fmt::format("{}[{}]\n", o.empty() ? "" : "\n", e.table);
      current = e.table;
    }
    o += fmt::format("{} = {}\n", e.key, e.value);
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Sweeps
//
// [sweep] maps dotted config keys to axes. The axes are taken in the order they are written in
// the file (first axis outermost, last axis fastest); toml++ keeps keys sorted, so the order comes
// from the keys' source positions. Both `"optimizer.lr" = [...]` and dotted keys
// (`optimizer.lr = [...]`, `[sweep.optimizer]`) are accepted: a non-inline table is a namespace,
// an inline table is a { linspace | logspace = [a, b], count = N } axis.
// ---------------------------------------------------------------------------------------------

std::string sweep_value_text(const SweepAxis& a, size_t i) {
  if (a.numeric) return a.integral ? std::to_string(a.integers[i]) : fmt_double(a.numbers[i]);
  return a.boolean ? a.labels[i] : toml_string(a.labels[i]);
}

struct AxisPlan {
  SweepAxis axis;
  std::vector<std::string> parts;
  toml::source_region region;     // the axis key in [sweep]
  std::string note;               // " (from sweep.KEY, line L, column C)"
  toml::table* parent = nullptr;  // the table holding the swept key in the working document
  bool key_in_base = false;       // the key existed in the base (else the sweep creates it)
};

class SweepReader {
 public:
  explicit SweepReader(std::string source) : source_(std::move(source)) {}

  std::vector<AxisPlan> read(const toml::node& sweep, const toml::source_region& sweep_key) const {
    if (!sweep.is_table())
      fail("sweep", fmt::format("expected a table of axes, got {}", type_name(sweep.type())),
           &sweep.source());
    std::vector<AxisPlan> plans;
    collect(*sweep.as_table(), "", plans);
    std::stable_sort(plans.begin(), plans.end(), [](const AxisPlan& a, const AxisPlan& b) {
      const auto& p = a.region.begin;
      const auto& q = b.region.begin;
      return p.line != q.line ? p.line < q.line : p.column < q.column;
    });
    for (size_t j = 0; j < plans.size(); ++j)
      for (size_t i = 0; i < j; ++i) {
        const std::string& a = plans[i].axis.key;
        const std::string& b = plans[j].axis.key;
        if (a == b)
          fail("sweep." + b,
               fmt::format("is swept twice (also at line {})", plans[i].region.begin.line),
               &plans[j].region);
        const bool a_in_b = a.size() > b.size() && a.compare(0, b.size() + 1, b + ".") == 0;
        const bool b_in_a = b.size() > a.size() && b.compare(0, a.size() + 1, a + ".") == 0;
        if (a_in_b || b_in_a) {
          const AxisPlan& inner = a_in_b ? plans[i] : plans[j];
          const std::string& outer = a_in_b ? b : a;
          fail("sweep." + inner.axis.key,
               fmt::format("is inside the swept key {}; sweep one or the other", outer),
               &inner.region);
        }
      }
    size_t cells = 1;
    std::string product;
    for (const AxisPlan& p : plans) {
      product += (product.empty() ? "" : " x ") + std::to_string(p.axis.size());
      cells = p.axis.size() > kMaxCells ? kMaxCells + 1 : cells * p.axis.size();
      if (cells > kMaxCells) {
        for (const AxisPlan& q : plans)
          if (&q > &p) product += " x " + std::to_string(q.axis.size());
        fail("sweep",
             fmt::format("the axes give more than {} cells ({}); split the experiment", kMaxCells,
                         product),
             &sweep_key);
      }
    }
    return plans;
  }

 private:
  std::string source_;

  [[noreturn]] void fail(const std::string& key, const std::string& msg,
                         const toml::source_region* r) const {
    throw InputError(fmt::format("{}: {}: {}{}", source_, key, msg, where_in_file(r)));
  }

  void collect(const toml::table& t, const std::string& prefix, std::vector<AxisPlan>& out) const {
    for (auto&& [k, v] : t) {
      const std::string raw =
          prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
      if (v.is_table() && !v.as_table()->is_inline()) {
        if (v.as_table()->empty())
          fail("sweep." + raw, "expected axes in this table, got an empty table", &k.source());
        collect(*v.as_table(), raw, out);
        continue;
      }
      out.push_back(read_axis(raw, k, v));
    }
  }

  void check_sweepable(const std::string& key, const std::vector<std::string>& parts,
                       const toml::source_region* r) const {
    static const std::initializer_list<std::string_view> shape = {
        "problem.kind",  "problem.m", "problem.n", "problem.rank",
        "problem.depth", "run.seeds", "run.steps", "problem.target.spectrum.count"};
    // The record table sets the record steps and the traced seeds (T, K and the trace shapes);
    // its tolerances only classify each cell's seeds, and every cell reads its own.
    static const std::initializer_list<std::string_view> record_tolerances = {
        "record.hit_tolerance", "record.loss_tolerance", "record.grad_tolerance",
        "record.block_rtol",    "record.block_atol",     "record.block_atol_inner",
        "record.loss_window"};
    if (contains(shape, key) || (parts[0] == "record" && !contains(record_tolerances, key)))
      fail(key, "cannot be swept: it changes the shape of the output (run separate configs)", r);
    if (key == "init.factors")
      fail(key, "cannot be swept: it is a list, not a scalar key (run separate configs)", r);
    if (key == "problem.target.spectrum")
      fail(key,
           "cannot be swept: it is not a scalar key (sweep a key inside a spectrum table, e.g. "
           "problem.target.spectrum.condition, or run separate configs)",
           r);
    if (parts[0] == "sweep") fail(key, "cannot be swept: [sweep] is not a config table", r);
  }

  AxisPlan read_axis(const std::string& raw, const toml::key& k, const toml::node& v) const {
    AxisPlan p;
    const std::string name = "sweep." + raw;
    p.parts = split_key(raw);
    if (p.parts.empty())
      fail(name, "malformed axis key; expected a dotted config key such as \"optimizer.lr\"",
           &k.source());
    p.axis.key = join_parts(p.parts);
    p.region = k.source();
    p.note = fmt::format(" (from sweep.{}, line {}, column {})", p.axis.key, p.region.begin.line,
                         p.region.begin.column);
    check_sweepable(p.axis.key, p.parts, &k.source());
    if (v.is_array())
      read_list(name, *v.as_array(), p.axis);
    else if (v.is_table())
      read_range(name, *v.as_table(), p.axis);
    else
      fail(name,
           fmt::format("expected an array of values, {{ linspace = [a, b], count = N }} or "
                       "{{ logspace = [a, b], count = N }}, got {}",
                       type_name(v.type())),
           &v.source());
    return p;
  }

  enum class Cat { number, string, boolean };
  static const char* cat_name(Cat c) {
    return c == Cat::number ? "number" : c == Cat::string ? "string" : "boolean";
  }

  void read_list(const std::string& name, const toml::array& a, SweepAxis& axis) const {
    if (a.empty()) fail(name, "must have at least one value, got an empty array", &a.source());
    auto cat_of = [&](size_t i) {
      const toml::node& e = a[i];
      if (e.is_integer() || e.is_floating_point()) return Cat::number;
      if (e.is_string()) return Cat::string;
      if (e.is_boolean()) return Cat::boolean;
      fail(fmt::format("{}[{}]", name, i),
           fmt::format("expected a number, string or boolean, got {}", type_name(e.type())),
           &e.source());
    };
    const Cat cat = cat_of(0);
    for (size_t i = 1; i < a.size(); ++i)
      if (cat_of(i) != cat)
        fail(fmt::format("{}[{}]", name, i),
             fmt::format("mixed types: a {} among {} values (an axis has values of one type)",
                         cat_name(cat_of(i)), cat_name(cat)),
             &a[i].source());
    axis.numeric = cat == Cat::number;
    axis.boolean = cat == Cat::boolean;
    if (cat == Cat::number) {
      axis.integral =
          std::all_of(a.begin(), a.end(), [](const toml::node& e) { return e.is_integer(); });
      for (size_t i = 0; i < a.size(); ++i) {
        if (axis.integral) {
          const auto v = static_cast<long long>(a[i].as_integer()->get());
          axis.integers.push_back(v);
          axis.numbers.push_back(static_cast<double>(v));
        } else {
          const double v = a[i].is_integer() ? static_cast<double>(a[i].as_integer()->get())
                                             : a[i].as_floating_point()->get();
          if (!std::isfinite(v))
            fail(fmt::format("{}[{}]", name, i), fmt::format("must be a finite number, got {}", v),
                 &a[i].source());
          axis.numbers.push_back(v);
        }
      }
    } else {
      for (size_t i = 0; i < a.size(); ++i)
        axis.labels.push_back(cat == Cat::string ? a[i].as_string()->get()
                                                 : (a[i].as_boolean()->get() ? "true" : "false"));
    }
  }

  void read_range(const std::string& name, const toml::table& t, SweepAxis& axis) const {
    for (auto&& [k, v] : t) {
      (void)v;
      if (!contains(std::initializer_list<std::string_view>{"linspace", "logspace", "count"},
                    k.str()))
        fail(name + "." + std::string(k.str()),
             "unknown key in an axis table; expected linspace or logspace, and count", &k.source());
    }
    const toml::node* lin = t.get("linspace");
    const toml::node* log = t.get("logspace");
    if (lin != nullptr && log != nullptr)
      fail(name, "give one of linspace and logspace, not both", &t.source());
    if (lin == nullptr && log == nullptr)
      fail(name, "an axis table needs linspace = [a, b] or logspace = [a, b], and count = N",
           &t.source());
    const bool geometric = log != nullptr;
    const toml::node& rn = geometric ? *log : *lin;
    const std::string rk = name + (geometric ? ".logspace" : ".linspace");
    if (!rn.is_array() || rn.as_array()->size() != 2)
      fail(rk,
           fmt::format("expected [a, b] (two numbers), got {}",
                       rn.is_array() ? fmt::format("{} values", rn.as_array()->size())
                                     : std::string(type_name(rn.type()))),
           &rn.source());
    double ends[2];
    for (size_t j = 0; j < 2; ++j) {
      const toml::node& e = (*rn.as_array())[j];
      const std::string ek = fmt::format("{}[{}]", rk, j);
      if (e.is_integer())
        ends[j] = static_cast<double>(e.as_integer()->get());
      else if (e.is_floating_point())
        ends[j] = e.as_floating_point()->get();
      else
        fail(ek, fmt::format("expected a number, got {}", type_name(e.type())), &e.source());
      if (!std::isfinite(ends[j]))
        fail(ek, fmt::format("must be a finite number, got {}", ends[j]), &e.source());
      if (geometric && !(ends[j] > 0))
        fail(ek, fmt::format("must be > 0 for logspace, got {}", ends[j]), &e.source());
    }
    const toml::node* cn = t.get("count");
    if (cn == nullptr) fail(name + ".count", "missing (the number of values)", &t.source());
    if (!cn->is_integer())
      fail(name + ".count", fmt::format("expected an integer, got {}", type_name(cn->type())),
           &cn->source());
    const long long count = static_cast<long long>(cn->as_integer()->get());
    if (count < 1 || count > static_cast<long long>(kMaxCells))
      fail(name + ".count", fmt::format("must be in [1, {}], got {}", kMaxCells, count),
           &cn->source());
    const double a = ends[0], b = ends[1];
    const auto n = static_cast<size_t>(count);
    axis.numeric = true;
    axis.numbers.resize(n);
    for (size_t i = 0; i < n; ++i) {
      double v;
      if (i == 0) {
        v = a;
      } else if (i + 1 == n) {
        v = b;
      } else {
        const double s = static_cast<double>(i) / static_cast<double>(n - 1);
        v = geometric ? a * std::pow(b / a, s) : a + (b - a) * s;
      }
      if (!std::isfinite(v))
        fail(name, fmt::format("value {} of the axis is {}, not a finite number", i, v),
             &t.source());
      axis.numbers[i] = v;
    }
  }
};

void set_cell_value(toml::table& parent, const std::string& key, const SweepAxis& a, size_t i) {
  if (a.numeric) {
    if (a.integral)
      parent.insert_or_assign(key, static_cast<std::int64_t>(a.integers[i]));
    else
      parent.insert_or_assign(key, a.numbers[i]);
  } else if (a.boolean) {
    parent.insert_or_assign(key, a.labels[i] == "true");
  } else {
    parent.insert_or_assign(key, a.labels[i]);
  }
}

}  // namespace

Config parse_config(const std::string& toml_text, const std::string& source_name,
                    const std::vector<std::string>& overrides) {
  toml::table root = parse_document(toml_text, source_name);
  for (const std::string& ov : overrides) apply_override(root, ov);
  return Reader(source_name).read(root);
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_config(read_config_file(path), path, overrides);
}

std::string Config::to_toml() const {
  return render(config_entries(*this));
}

Experiment parse_experiment(const std::string& toml_text, const std::string& source_name,
                            const std::vector<std::string>& overrides) {
  toml::table root = parse_document(toml_text, source_name);
  std::vector<AxisPlan> plans;
  if (auto it = root.find("sweep"); it != root.end()) {
    plans = SweepReader(source_name).read(it->second, it->first.source());
    root.erase(it);
  }
  // --set applies to the base; it cannot also set a swept key, nor change the axes.
  for (const std::string& ov : overrides) {
    const Override o = split_override(ov);
    const std::string key = join_parts(o.parts);
    if (o.parts[0] == "sweep")
      throw InputError(fmt::format(
          "--set \"{}\": sweep: the sweep axes cannot be set with --set; edit [sweep] in the "
          "config",
          ov));
    for (const AxisPlan& p : plans)
      if (p.axis.key == key)
        throw InputError(fmt::format(
            "--set \"{}\": {}: is swept by [sweep]{}; a swept key cannot also be set (change the "
            "axis instead)",
            ov, key, where_in_file(&p.region)));
    apply_override(root, ov);
  }

  Experiment ex;
  if (plans.empty()) {
    ex.cells.push_back(Reader(source_name).read(root));
    return ex;
  }

  // Locate (creating intermediate tables as --set does) the table that holds each swept key.
  std::vector<SourceNote> fixed_notes;
  for (AxisPlan& p : plans) {
    toml::table* t = &root;
    for (size_t i = 0; i + 1 < p.parts.size(); ++i) {
      toml::node* child = t->get(p.parts[i]);
      if (child == nullptr) {
        auto it = t->insert(p.parts[i], toml::table{}).first;
        child = &it->second;
        fixed_notes.push_back({&child->source(), p.note});
        fixed_notes.push_back({&it->first.source(), p.note});
      }
      if (!child->is_table())
        throw InputError(fmt::format("{}: sweep.{}: {} is {}{}, not a table", source_name,
                                     p.axis.key, join_parts(p.parts, i + 1), a_type(child->type()),
                                     where_in_file(&child->source())));
      t = child->as_table();
    }
    const toml::node* leaf = t->get(p.parts.back());
    if (leaf != nullptr && (leaf->is_table() || leaf->is_array()))
      throw InputError(fmt::format(
          "{}: {}: cannot be swept: it is {} in the config{}, not a scalar value{}", source_name,
          p.axis.key, a_type(leaf->type()), where_in_file(&leaf->source()), p.note));
    p.parent = t;
    p.key_in_base = leaf != nullptr;
  }
  for (const AxisPlan& p : plans)
    if (p.axis.key.rfind("problem.target.spectrum.", 0) == 0) {
      const toml::node* form = root.at_path("problem.target.spectrum").node();
      if (form != nullptr) ex.spectrum_form = toml_value(*form);
      break;
    }
  for (const AxisPlan& p : plans) ex.axes.push_back(p.axis);

  size_t total = 1;
  for (const SweepAxis& a : ex.axes) total *= a.size();
  ex.cells.reserve(total);
  std::vector<size_t> idx(plans.size(), 0);
  std::vector<SourceNote> notes;
  auto cell_error = [&](size_t c, const std::string& message) {
    std::string values;
    for (size_t a = 0; a < plans.size(); ++a)
      values += fmt::format("{}{} = {}", a ? ", " : "", plans[a].axis.key,
                            sweep_value_text(plans[a].axis, idx[a]));
    std::string inner = message;
    const std::string prefix = source_name + ": ";
    if (inner.compare(0, prefix.size(), prefix) == 0) inner.erase(0, prefix.size());
    return InputError(
        fmt::format("{}: sweep cell {} of {} ({}): {}", source_name, c, total, values, inner));
  };
  for (size_t c = 0; c < total; ++c) {
    notes = fixed_notes;
    for (size_t a = 0; a < plans.size(); ++a) {
      const AxisPlan& p = plans[a];
      set_cell_value(*p.parent, p.parts.back(), p.axis, idx[a]);
      auto it = p.parent->find(p.parts.back());
      notes.push_back({&it->second.source(), p.note});
      if (!p.key_in_base) notes.push_back({&it->first.source(), p.note});
    }
    try {
      ex.cells.push_back(Reader(source_name, &notes).read(root));
    } catch (const InputError& e) {
      throw cell_error(c, e.what());
    }
    const size_t len = ex.cells.back().problem.target.spectrum.size();
    const size_t len0 = ex.cells.front().problem.target.spectrum.size();
    if (len != len0)
      throw cell_error(c, fmt::format("problem.target.spectrum: has {} values here but {} in cell "
                                      "0; every cell needs the same spectrum length",
                                      len, len0));
    for (size_t a = plans.size(); a-- > 0;) {
      if (++idx[a] < plans[a].axis.size()) break;
      idx[a] = 0;
    }
  }
  return ex;
}

Experiment load_experiment(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_experiment(read_config_file(path), path, overrides);
}

std::vector<size_t> Experiment::axis_indices(size_t cell) const {
  size_t total = 1;
  for (const SweepAxis& a : axes) total *= a.size();
  if (cell >= total)
    throw std::out_of_range(
        fmt::format("Experiment::axis_indices: cell {} of an experiment of {} cells", cell, total));
  std::vector<size_t> idx(axes.size());
  for (size_t a = axes.size(); a-- > 0;) {
    const size_t n = axes[a].size();
    idx[a] = cell % n;
    cell /= n;
  }
  return idx;
}

// Which keys are pinned. A key whose resolved value is the same in every cell is written with that
// value (so defaults are fixed in the text). A key whose value differs between cells is either a
// swept key (written with cell 0's value; [sweep] sets it per cell) or a value derived from a
// swept key: ns_steps following the preset, the keys of a swept schedule kind, the spectrum
// generated from a table with a swept key. Pinning a derived value to cell 0's would change (or
// invalidate) the other cells, so it is left out and each cell derives it again from the same
// inputs; the spectrum, whose inputs are its table, is written as that table. Explicit keys that
// are not swept are the same in every cell, so nothing the user wrote is lost.
std::string Experiment::to_toml() const {
  if (cells.empty()) return {};
  std::vector<Entry> entries = config_entries(cells[0]);
  auto is_axis = [this](const std::string& key) {
    return std::any_of(axes.begin(), axes.end(), [&](const SweepAxis& a) { return a.key == key; });
  };
  auto has_axis_inside = [this](const std::string& key) {
    return std::any_of(axes.begin(), axes.end(),
                       [&](const SweepAxis& a) { return a.key.rfind(key + ".", 0) == 0; });
  };
  std::vector<char> uniform(entries.size(), 1);
  std::vector<std::string> full(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    full[i] = entries[i].full_key();
    if (is_axis(full[i])) uniform[i] = 0;  // written anyway, no need to compare
  }
  for (size_t c = 1; c < cells.size(); ++c) {
    if (std::none_of(uniform.begin(), uniform.end(), [](char u) { return u != 0; })) break;
    const std::vector<Entry> other = config_entries(cells[c]);
    size_t hint = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
      if (!uniform[i]) continue;
      bool same = false;
      for (size_t k = 0; k < other.size(); ++k) {
        const Entry& o = other[(hint + k) % other.size()];
        if (o.table == entries[i].table && o.key == entries[i].key) {
          same = o.value == entries[i].value;
          hint = (hint + k + 1) % other.size();
          break;
        }
      }
      if (!same) uniform[i] = 0;
    }
  }
  std::vector<Entry> kept;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (full[i] == "problem.target.spectrum" && has_axis_inside(full[i])) {
      if (!spectrum_form.empty()) kept.push_back({entries[i].table, entries[i].key, spectrum_form});
      continue;
    }
    if (uniform[i] || is_axis(full[i])) kept.push_back(std::move(entries[i]));
  }
  std::string o = render(kept);
  if (!axes.empty()) {
    o += "\n[sweep]\n";
    for (const SweepAxis& a : axes) {
      std::string values = "[";
      for (size_t i = 0; i < a.size(); ++i) values += (i ? ", " : "") + sweep_value_text(a, i);
      o += fmt::format("{} = {}]\n", toml_string(a.key), values);
    }
  }
  return o;
}

std::vector<UnusedKeys> unused_keys(const Experiment& experiment) {
  const struct {
    const char* keys;
    const char* used_by;
    bool (*uses)(const OptimizerConfig&);
  } rules[] = {
      {"optimizer.momentum, optimizer.nesterov, optimizer.momentum_order, optimizer.shape_scale",
       "optimizer.kind = \"muon\"",
       [](const OptimizerConfig& o) { return o.kind == OptimizerKind::muon; }},
      {"optimizer.beta1, optimizer.beta2, optimizer.eps", "optimizer.kind = \"adam\"",
       [](const OptimizerConfig& o) { return o.kind == OptimizerKind::adam; }},
      {"optimizer.orthogonalizer, record.orth_error", "optimizer.kind = \"specgd\" or \"muon\"",
       [](const OptimizerConfig& o) {
         return o.kind == OptimizerKind::specgd || o.kind == OptimizerKind::muon;
       }},
      {"optimizer.ns_coefficients, optimizer.ns_steps",
       "optimizer.orthogonalizer = \"newton_schulz\" (specgd, muon)",
       [](const OptimizerConfig& o) {
         return (o.kind == OptimizerKind::specgd || o.kind == OptimizerKind::muon) &&
                o.orthogonalizer == OrthKind::newton_schulz;
       }},
      {"optimizer.smooth_eps", "optimizer.orthogonalizer = \"smooth\" (specgd, muon)",
       [](const OptimizerConfig& o) {
         return (o.kind == OptimizerKind::specgd || o.kind == OptimizerKind::muon) &&
                o.orthogonalizer == OrthKind::smooth;
       }},
  };
  std::vector<UnusedKeys> out;
  for (const auto& rule : rules)
    if (std::none_of(experiment.cells.begin(), experiment.cells.end(),
                     [&](const Config& c) { return rule.uses(c.optimizer); }))
      out.push_back({rule.keys, rule.used_by});
  return out;
}

OptimizerParams Config::optimizer_params() const {
  const OptimizerConfig& o = optimizer;
  OptimizerParams p;
  p.kind = o.kind;
  p.orth.kind = o.orthogonalizer;
  p.orth.smooth_eps = o.smooth_eps;
  const std::vector<NsTriple> triples =
      o.ns_coefficients.empty() ? ns_preset(o.ns_preset) : o.ns_coefficients;
  p.orth.ns.count = static_cast<int>(std::min<size_t>(triples.size(), kMaxNsTriples));
  for (int i = 0; i < p.orth.ns.count; ++i) p.orth.ns.steps[i] = triples[static_cast<size_t>(i)];
  p.orth.ns.iterations = o.ns_steps;
  p.orth.ns.norm_scale = ns_norm_scale(o.ns_preset);
  p.momentum = o.momentum;
  p.nesterov = o.nesterov;
  p.momentum_order = o.momentum_order;
  p.gradient_noise = o.gradient_noise;
  p.noise_relative = o.gradient_noise_scale == NoiseScale::relative;
  p.shape_scale = o.shape_scale;
  p.beta1 = o.beta1;
  p.beta2 = o.beta2;
  p.eps = o.eps;
  p.integrator = o.integrator;
  p.schedule = o.schedule;
  p.schedule.lr = o.lr;
  p.schedule.total_steps = run.steps;
  return p;
}

}  // namespace specsweep
