#include "io/series.h"

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "io/hub_cache.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <fstream>
#include <glob.h>
#include <limits>
#include <regex>
#include <set>
#include <sstream>

namespace routerscope::io {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The per-expert datasets of a series layer, in the order they are written.
constexpr const char* kExpertSeries[] = {"cos",         "lambda",      "sigma1",
                                         "sigma_ratio", "router_norm", "weight_norm"};
constexpr const char* kLoadScalars[] = {"maxvio", "cv", "entropy"};

std::vector<double> SeriesLayerPoint::*expert_member(const std::string& name) {
  if (name == "cos")
    return &SeriesLayerPoint::cos;
  if (name == "lambda")
    return &SeriesLayerPoint::lambda;
  if (name == "sigma1")
    return &SeriesLayerPoint::sigma1;
  if (name == "sigma_ratio")
    return &SeriesLayerPoint::sigma_ratio;
  if (name == "router_norm")
    return &SeriesLayerPoint::router_norm;
  return &SeriesLayerPoint::weight_norm;
}

bool has_glob_chars(const std::string& s) {
  return s.find_first_of("*?[") != std::string::npos;
}

// A folder or file that open_checkpoint takes: weights in it, or a weights file.
bool is_checkpoint(const fs::path& p) {
  std::error_code ec;
  if (fs::is_regular_file(p, ec))
    return p.extension() == ".safetensors" || p.string().ends_with(".safetensors.index.json");
  if (!fs::is_directory(p, ec))
    return false;
  for (const auto& e : fs::directory_iterator(p, ec))
    if (e.path().extension() == ".safetensors")
      return true;
  return false;
}

std::vector<std::string> glob_matches(const std::string& pattern) {
  glob_t g{};
  std::vector<std::string> out;
  if (::glob(pattern.c_str(), 0, nullptr, &g) == 0)
    for (std::size_t i = 0; i < g.gl_pathc; ++i)
      out.emplace_back(g.gl_pathv[i]);
  ::globfree(&g);
  return out; // glob(3) sorts its matches
}

// global_step of trainer_state.json in `folder`, when it holds one.
std::optional<std::int64_t> trainer_state_step(const fs::path& folder) {
  const fs::path file = folder / "trainer_state.json";
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    return std::nullopt;
  std::ifstream in(file);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("global_step") ||
      !j["global_step"].is_number_integer())
    throw_input_error(file.string() + ": expected a JSON object with an integer 'global_step'");
  return j["global_step"].get<std::int64_t>();
}

struct Candidate {
  std::string argument, path;
  std::optional<std::string> revision; // a Hub id's revision
  bool hub = false; // a Hub id or models--… folder: its name is the model's, not a step's
};

void add_argument(const std::string& arg, std::vector<Candidate>& out) {
  std::error_code ec;
  if (has_glob_chars(arg) && !fs::exists(arg, ec)) {
    const auto matches = glob_matches(arg);
    std::size_t found = 0;
    for (const auto& m : matches)
      if (is_checkpoint(m)) {
        out.push_back({m, m, std::nullopt});
        ++found;
      }
    if (!found)
      throw_input_error(arg + ": the pattern matches no checkpoint (" +
                        std::to_string(matches.size()) +
                        " match(es), none a checkpoint folder or "
                        ".safetensors file)");
    return;
  }
  if (fs::is_directory(arg, ec) && !is_checkpoint(arg) &&
      !fs::exists(fs::path(arg) / "snapshots", ec)) {
    // A parent folder: its sub-folders that are checkpoints, by name.
    std::vector<std::string> subs;
    for (const auto& e : fs::directory_iterator(arg, ec))
      if (e.is_directory() && is_checkpoint(e.path()))
        subs.push_back(e.path().string());
    if (subs.empty())
      throw_input_error(arg + ": neither a checkpoint (no .safetensors file) nor a folder of "
                              "checkpoint folders");
    std::sort(subs.begin(), subs.end());
    for (const auto& s : subs)
      out.push_back({s, s, std::nullopt});
    return;
  }
  std::string resolved = resolve_model_path(arg);
  const bool hub = resolved != arg; // a repo id or models--… folder resolved to its snapshot
  Candidate c{arg, std::move(resolved), std::nullopt, hub};
  if (!fs::exists(arg, ec))
    if (auto at = arg.find('@'); at != std::string::npos)
      c.revision = arg.substr(at + 1);
  if (!fs::exists(c.path, ec))
    throw_input_error(arg + ": no such file or folder");
  out.push_back(std::move(c));
}

std::string canonical_text(const std::string& p) {
  std::error_code ec;
  const fs::path c = fs::weakly_canonical(p, ec);
  return ec ? p : c.string();
}

} // namespace

// The number after a step keyword (step, checkpoint, ckpt, iter), or with `any` the first number.
static std::optional<std::int64_t> name_step(const std::string& name, bool any) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  auto number_at = [&](std::size_t i) -> std::optional<std::int64_t> {
    std::size_t j = i;
    while (j < lower.size() && std::isdigit(static_cast<unsigned char>(lower[j])))
      ++j;
    if (j == i || j - i > 18)
      return std::nullopt;
    return std::stoll(lower.substr(i, j - i));
  };
  static const std::regex keyword(R"((step|checkpoint|ckpt|iter|iteration)[-_ .=]?([0-9]+))");
  std::smatch m;
  if (std::regex_search(lower, m, keyword))
    return number_at(std::size_t(m.position(2)));
  for (std::size_t i = 0; any && i < lower.size(); ++i)
    if (std::isdigit(static_cast<unsigned char>(lower[i])))
      return number_at(i);
  return std::nullopt;
}

std::optional<std::int64_t> step_from_name(const std::string& name) {
  return name_step(name, true);
}

std::vector<SeriesCheckpoint> resolve_series(const std::vector<std::string>& arguments) {
  if (arguments.empty())
    throw_input_error("series: give at least one checkpoint PATH");
  std::vector<Candidate> candidates;
  for (const auto& a : arguments)
    add_argument(a, candidates);
  std::vector<SeriesCheckpoint> out;
  std::map<std::string, std::string> seen; // canonical path -> argument
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const Candidate& c = candidates[i];
    const std::string canonical = canonical_text(c.path);
    if (auto [it, fresh] = seen.emplace(canonical, c.argument); !fresh)
      throw_input_error("series: " + it->second + " and " + c.argument +
                        " are the same checkpoint (" + canonical + ")");
    SeriesCheckpoint s;
    s.argument = c.argument;
    s.path = c.path;
    std::error_code ec;
    const fs::path folder = fs::is_directory(c.path, ec) ? fs::path(c.path).lexically_normal()
                                                         : fs::path(c.path).parent_path();
    fs::path named = fs::path(c.argument).lexically_normal();
    if (!named.has_filename())
      named = named.parent_path();
    if (auto step = trainer_state_step(folder)) {
      s.step = *step;
      s.step_source = "trainer_state.json";
    } else if (auto r = c.revision ? step_from_name(*c.revision) : std::nullopt) {
      s.step = *r;
      s.step_source = "name";
    } else if (auto n = c.hub ? std::nullopt : step_from_name(named.filename().string())) {
      s.step = *n;
      s.step_source = "name";
    } else if (auto p = c.hub ? std::nullopt
                              : name_step(named.parent_path().filename().string(), false)) {
      s.step = *p;
      s.step_source = "name";
    } else {
      s.step = std::int64_t(i);
      s.step_source = "position";
    }
    out.push_back(std::move(s));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.step < b.step; });
  for (std::size_t i = 1; i < out.size(); ++i)
    if (out[i].step == out[i - 1].step)
      throw_input_error("series: " + out[i - 1].argument + " and " + out[i].argument +
                        " both have step " + std::to_string(out[i].step) + " (from " +
                        out[i - 1].step_source + " and " + out[i].step_source +
                        "); a series needs one checkpoint per step");
  return out;
}

void check_series_compatible(const std::vector<const ModelInfo*>& models,
                             const std::vector<std::string>& names) {
  if (models.empty())
    return;
  const ModelInfo& a = *models.front();
  for (std::size_t i = 1; i < models.size(); ++i) {
    const ModelInfo& b = *models[i];
    std::vector<std::string> diffs;
    auto differ = [&](const std::string& what, const auto& x, const auto& y) {
      if (x != y) {
        std::ostringstream s;
        s << what << " " << x << " vs " << y;
        diffs.push_back(s.str());
      }
    };
    differ("family", a.family, b.family);
    differ("d_model", a.d_model, b.d_model);
    differ("layers", a.layers.size(), b.layers.size());
    for (std::size_t l = 0; l < std::min(a.layers.size(), b.layers.size()); ++l) {
      const LayerInfo &x = a.layers[l], &y = b.layers[l];
      const std::string at = "layer " + std::to_string(x.layer) + " ";
      differ(at + "MoE", x.moe ? "yes" : "no", y.moe ? "yes" : "no");
      if (x.moe && y.moe) {
        differ(at + "experts", x.experts, y.experts);
        differ(at + "expert width", x.d_expert, y.d_expert);
        differ(at + "top-k", x.top_k.value_or(0), y.top_k.value_or(0));
      }
    }
    if (!diffs.empty()) {
      std::string text;
      for (const auto& d : diffs)
        text += (text.empty() ? "" : "; ") + d;
      throw_input_error("series: checkpoints " + names.front() + " and " + names[i] +
                        " cannot share a timeline: " + text);
    }
  }
}

std::string series_cache_key(const MoeModel& model, const SeriesCacheSettings& settings) {
  std::vector<fs::path> files = checkpoint_files(model);
  std::error_code ec;
  const fs::path first = files.empty() ? fs::path(model.info().path) : files.front();
  const fs::path folder = fs::is_directory(first, ec) ? first : first.parent_path();
  for (const auto& e : fs::directory_iterator(folder, ec)) {
    const std::string name = e.path().filename().string();
    if (name == "config.json" || name.ends_with(".safetensors.index.json"))
      files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  nlohmann::json list = nlohmann::json::array();
  for (const auto& f : files) {
    const auto bytes = fs::file_size(f, ec);
    const auto mtime = fs::last_write_time(f, ec).time_since_epoch();
    list.push_back(
        {{"name", fs::weakly_canonical(f, ec).string()},
         {"bytes", bytes},
         {"mtime_ns", std::chrono::duration_cast<std::chrono::nanoseconds>(mtime).count()}});
  }
  const nlohmann::json key = {{"format", 1},
                              {"files", list},
                              {"matrix", settings.matrix},
                              {"method", settings.method},
                              {"tolerance", settings.tolerance},
                              {"layers", settings.layers}};
  return key.dump();
}

fs::path series_cache_file(const fs::path& dir, const std::string& key) {
  std::uint64_t h = 1469598103934665603ull; // FNV-1a, 64 bit
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.json", static_cast<unsigned long long>(h));
  return dir / name;
}

std::optional<std::vector<SeriesLayerPoint>> read_series_cache(const fs::path& dir,
                                                               const std::string& key) {
  const fs::path file = series_cache_file(dir, key);
  std::ifstream in(file);
  if (!in)
    return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  try {
    if (j.is_discarded() || j.at("key").get<std::string>() != key)
      return std::nullopt;
    std::vector<SeriesLayerPoint> out;
    for (const auto& l : j.at("layers")) {
      SeriesLayerPoint p;
      p.layer = l.at("layer").get<int>();
      for (const char* name : kExpertSeries)
        for (const auto& v : l.at(name))
          (p.*expert_member(name)).push_back(v.is_null() ? kNaN : v.get<double>());
      out.push_back(std::move(p));
    }
    return out;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt; // a damaged entry is measured again
  }
}

void write_series_cache(const fs::path& dir, const std::string& key, const std::string& checkpoint,
                        const std::vector<SeriesLayerPoint>& layers) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw_input_error(dir.string() + ": cannot create the series cache folder (" + ec.message() +
                      ")");
  nlohmann::json j = {{"routerscope_series_cache", 1}, {"checkpoint", checkpoint}, {"key", key}};
  j["layers"] = nlohmann::json::array();
  for (const auto& p : layers) {
    nlohmann::json l = {{"layer", p.layer}};
    for (const char* name : kExpertSeries) {
      nlohmann::json values = nlohmann::json::array();
      for (double v : p.*expert_member(name))
        values.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr));
      l[name] = std::move(values);
    }
    j["layers"].push_back(std::move(l));
  }
  const std::string text = j.dump(1);
  AtomicFile file(series_cache_file(dir, key));
  file.write(text.data(), text.size());
  file.commit();
}

void declare_series_layer(RunRecordWriter& writer, int layer, std::size_t experts, bool load) {
  writer.declare("steps", 0);
  const std::string base = "layers/" + std::to_string(layer) + "/";
  for (const char* name : kExpertSeries)
    writer.declare(base + name, experts);
  if (load) {
    writer.declare(base + "load", experts);
    for (const char* name : kLoadScalars)
      writer.declare(base + name, 0);
  }
}

void add_series_point(RunRecordWriter& writer, std::int64_t step,
                      const std::vector<SeriesLayerPoint>& layers) {
  for (const auto& p : layers) {
    const std::string base = "layers/" + std::to_string(p.layer) + "/";
    for (const char* name : kExpertSeries)
      writer.append_row(base + name, p.*expert_member(name));
    if (p.has_load) {
      writer.append_row(base + "load", p.load);
      writer.append_value(base + "maxvio", p.maxvio);
      writer.append_value(base + "cv", p.cv);
      writer.append_value(base + "entropy", p.entropy);
    }
  }
  // The step last: a reader that sees a checkpoint's step sees all of it.
  writer.append_value("steps", double(step));
  writer.commit_step();
}

RunRecord series_record(const std::vector<std::int64_t>& steps,
                        const std::vector<std::vector<SeriesLayerPoint>>& points,
                        const std::string& config, const RecordIdentity& identity) {
  if (steps.size() != points.size())
    throw_internal_error("series_record: " + std::to_string(steps.size()) + " steps for " +
                         std::to_string(points.size()) + " checkpoints");
  RunRecord rec;
  rec.kind = "series";
  rec.config = config;
  rec.identity = identity;
  if (points.empty()) // read_run_record leaves out series without a committed row
    return rec;
  const auto rows = Eigen::Index(points.size());
  rec.steps.resize(rows);
  for (Eigen::Index c = 0; c < rows; ++c)
    rec.steps(c) = double(steps[std::size_t(c)]);
  for (std::size_t l = 0; l < points.front().size(); ++l) {
    const SeriesLayerPoint& head = points.front()[l];
    ConvergenceRecord layer;
    layer.layer = head.layer;
    for (const char* name : kExpertSeries) {
      MatrixD m(rows, Eigen::Index((head.*expert_member(name)).size()));
      for (Eigen::Index c = 0; c < rows; ++c) {
        const std::vector<double>& v = points[std::size_t(c)][l].*expert_member(name);
        if (Eigen::Index(v.size()) != m.cols())
          throw_internal_error(std::string("series_record: ") + name + " of layer " +
                               std::to_string(head.layer) + " changes width");
        m.row(c) = Eigen::Map<const VectorD>(v.data(), Eigen::Index(v.size())).transpose();
      }
      layer.series[name] = std::move(m);
    }
    if (head.has_load) {
      MatrixD load(rows, Eigen::Index(head.load.size()));
      MatrixD maxvio(rows, 1), cv(rows, 1), entropy(rows, 1);
      for (Eigen::Index c = 0; c < rows; ++c) {
        const SeriesLayerPoint& p = points[std::size_t(c)][l];
        if (p.load.size() != head.load.size())
          throw_internal_error("series_record: load of layer " + std::to_string(head.layer) +
                               " changes width");
        load.row(c) = Eigen::Map<const VectorD>(p.load.data(), load.cols()).transpose();
        maxvio(c, 0) = p.maxvio;
        cv(c, 0) = p.cv;
        entropy(c, 0) = p.entropy;
      }
      layer.series["load"] = std::move(load);
      layer.series["maxvio"] = std::move(maxvio);
      layer.series["cv"] = std::move(cv);
      layer.series["entropy"] = std::move(entropy);
    }
    rec.layers.push_back(std::move(layer));
  }
  std::sort(rec.layers.begin(), rec.layers.end(),
            [](const auto& a, const auto& b) { return a.layer < b.layer; });
  return rec;
}

const MatrixD& SeriesData::Layer::at(const std::string& name) const {
  auto it = series.find(name);
  if (it == series.end())
    throw_input_error("the series record has no dataset 'layers/" + std::to_string(layer) + "/" +
                      name + "'");
  return it->second;
}

bool SeriesData::has_load() const {
  return !layers.empty() &&
         std::all_of(layers.begin(), layers.end(), [](const Layer& l) { return l.has("load"); });
}

SeriesData series_data(const RunRecord& record, const std::string& origin) {
  if (record.kind != "series")
    throw_input_error(origin + ": expected a series record, found kind '" + record.kind + "'");
  SeriesData d;
  d.steps.assign(record.steps.data(), record.steps.data() + record.steps.size());
  const auto rows = Eigen::Index(d.steps.size());
  for (const auto& c : record.layers) {
    SeriesData::Layer l;
    l.layer = c.layer;
    Eigen::Index experts = -1;
    for (const auto& [name, m] : c.series) {
      const bool per_expert = name != "maxvio" && name != "cv" && name != "entropy";
      // Rows beyond the committed steps belong to a checkpoint still being written.
      if (m.rows() < rows)
        throw_input_error(origin + ": layers/" + std::to_string(c.layer) + "/" + name + " holds " +
                          std::to_string(m.rows()) + " rows for " + std::to_string(rows) +
                          " steps");
      if (per_expert) {
        if (experts >= 0 && m.cols() != experts)
          throw_input_error(origin + ": layers/" + std::to_string(c.layer) + "/" + name + " has " +
                            std::to_string(m.cols()) + " columns, expected " +
                            std::to_string(experts) + " (one per expert)");
        experts = m.cols();
      } else if (m.cols() != 1) {
        throw_input_error(origin + ": layers/" + std::to_string(c.layer) + "/" + name +
                          " should be 1-D");
      }
      l.series[name] = m.topRows(rows);
    }
    d.layers.push_back(std::move(l));
  }
  return d;
}

} // namespace routerscope::io
