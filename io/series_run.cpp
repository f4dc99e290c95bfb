#include "io/series_run.h"

#include "core/error.h"
#include "core/spectral.h"
#include "io/checkpoint.h"

#include <utility>

namespace routerscope::io {

SeriesRun::SeriesRun(const std::vector<std::string>& paths, SeriesPlan plan)
    : plan_(std::move(plan)), checkpoints_(resolve_series(paths)) {
  // Opening reads headers only; the weights are decoded one layer at a time when measured.
  std::vector<const ModelInfo*> infos;
  std::vector<std::string> names;
  for (const auto& c : checkpoints_) {
    models_.push_back(open_checkpoint(c.path));
    infos.push_back(&models_.back()->info());
    names.push_back(c.argument + " (step " + std::to_string(c.step) + ")");
  }
  check_series_compatible(infos, names);
  // A copy: the models are released one by one as they are measured.
  first_ = *infos.front();
  if (plan_.align.layers.empty())
    plan_.align.layers = first_.moe_layers();
  for (int l : plan_.align.layers)
    first_.moe_layer(l); // a dense or missing layer is BadInput before any work
  if (!plan_.tokens.empty()) {
    tokens_ = read_hidden_states(plan_.tokens);
    if (tokens_->cols() != first_.d_model)
      throw_input_error(plan_.tokens + ": hidden_states are [" + std::to_string(tokens_->rows()) +
                        ", " + std::to_string(tokens_->cols()) + "], expected width " +
                        std::to_string(first_.d_model) + " (hidden_size of the checkpoints)");
  }
}

SeriesRun::~SeriesRun() = default;

nlohmann::json SeriesRun::record_config(const nlohmann::json& extra) const {
  nlohmann::json config = {{"command", "series"},
                           {"matrix", std::string(to_string(plan_.align.matrix))},
                           {"method", std::string(to_string(plan_.align.spectral.method))},
                           {"tolerance", plan_.align.spectral.tolerance},
                           {"layers", plan_.align.layers},
                           {"tokens", plan_.tokens}};
  config["checkpoints"] = nlohmann::json::array();
  for (const auto& c : checkpoints_)
    config["checkpoints"].push_back({{"argument", c.argument},
                                     {"path", c.path},
                                     {"step", c.step},
                                     {"step_source", c.step_source}});
  if (extra.is_object())
    for (const auto& [key, value] : extra.items())
      config[key] = value;
  return config;
}

RecordIdentity SeriesRun::record_identity() const {
  return checkpoint_identity(checkpoints_.front().path, first_);
}

void SeriesRun::record_to(const std::filesystem::path& path, const nlohmann::json& extra) {
  record_ = std::make_unique<RunRecordWriter>(path, "series", record_config(extra).dump(),
                                              record_identity());
  for (int l : plan_.align.layers)
    declare_series_layer(*record_, l, std::size_t(first_.moe_layer(l).experts),
                         tokens_.has_value());
  record_->start_live();
}

void SeriesRun::close_record() {
  if (record_)
    record_->close();
}

const SeriesPointResult& SeriesRun::step(const Progress& progress) {
  if (done())
    throw_internal_error("SeriesRun::step: every checkpoint is measured");
  progress.check();
  const std::size_t i = points_.size();
  const double total = double(checkpoints_.size());
  const MoeModel& model = *models_[i];
  const std::string label = "checkpoint " + std::to_string(i + 1) + "/" +
                            std::to_string(checkpoints_.size()) + " (step " +
                            std::to_string(checkpoints_[i].step) + ")";
  SeriesPointResult d;
  d.checkpoint = checkpoints_[i];
  std::string key;
  if (!plan_.cache_dir.empty()) {
    const SeriesCacheSettings settings{std::string(to_string(plan_.align.matrix)),
                                       std::string(to_string(plan_.align.spectral.method)),
                                       plan_.align.spectral.tolerance, plan_.align.layers};
    key = series_cache_key(model, settings);
    if (auto hit = read_series_cache(plan_.cache_dir, key)) {
      d.layers = std::move(*hit);
      d.cached = true;
    }
  }
  if (d.cached) {
    if (tokens_)
      for (auto& p : d.layers)
        add_series_load(model, *tokens_, p);
    progress((double(i) + 1) / total, label + " (cached)");
  } else {
    SeriesOptions options;
    options.align = plan_.align;
    options.tokens = tokens_ ? &*tokens_ : nullptr;
    const Progress within{
        [&](double f, const std::string& l) { progress((double(i) + f) / total, label + " " + l); },
        progress.cancel};
    d.layers = measure_series_point(model, options, within);
    if (!plan_.cache_dir.empty())
      write_series_cache(plan_.cache_dir, key, checkpoints_[i].path, d.layers);
  }
  if (record_)
    add_series_point(*record_, checkpoints_[i].step, d.layers);
  points_.push_back(std::move(d));
  models_[i].reset(); // memory: one checkpoint at a time
  return points_.back();
}

} // namespace routerscope::io
