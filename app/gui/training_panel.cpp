#include "app/gui/training_panel.h"

#include "app/gui/help_text.h"
#include "app/gui/widgets.h"
#include "core/error.h"
#include "core/number_format.h"
#include "io/record_figures.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iterator>

namespace routerscope::gui {

namespace fs = std::filesystem;

namespace {

// The GUI name of each figure and the record figure (io/record_figures.h) it draws.
constexpr const char* kFigures[][2] = {
    {"training", "training"}, {"training-load", "load"}, {"training-norms", "norms"}};
constexpr const char* kFigureLabels[] = {"losses, MaxVio and λ per variant",
                                         "expert load over steps", "router norms"};
constexpr const char* kVariants[] = {"vanilla", "mpi", "no-power", "no-retract"};

using Records = std::vector<TrainStepRecord>;

// A run's settings from its config JSON (io::training_config), as its label shows them; with
// `other`, only those that differ from it's (the legend names what changed).
std::string describe(const std::string& config, const std::string* other = nullptr) {
  const auto parse = [](const std::string& c) {
    return c.empty() ? nlohmann::json::object() : nlohmann::json::parse(c, nullptr, false);
  };
  const nlohmann::json j = parse(config), o = other ? parse(*other) : nlohmann::json::object();
  const struct {
    const char* key;
    const char* label;
  } kShown[] = {{"variants", ""},      {"tokens", ""},      {"lr", "lr "},
                {"batch", "batch "},   {"steps", "steps "}, {"c_prime", "C′ "},
                {"power_steps", "k "}, {"matrix", ""},      {"gate_order", ""}};
  std::string out;
  for (const auto& k : kShown) {
    if (!j.is_object() || !j.contains(k.key) ||
        (other && o.is_object() && o.contains(k.key) && o[k.key] == j[k.key]))
      continue;
    const nlohmann::json& v = j[k.key];
    std::string text;
    if (v.is_array())
      for (const auto& e : v) {
        if (!text.empty())
          text += '+';
        text += e.get<std::string>();
      }
    else if (v.is_number_float())
      text = sig4(v.get<double>());
    else
      text = v.is_string() ? v.get<std::string>() : v.dump();
    if (!out.empty())
      out += ", ";
    out += k.label;
    out += text;
  }
  return out;
}

} // namespace

void TrainingPanel::start(const ModelContext& ctx, const MpiSettings& mpi, int steps) {
  if (!ctx.model || ctx.model->alignment.empty())
    throw_input_error("train: no model is open");
  slot_.stop();
  TrainSettings t;
  t.layer = ctx.layer;
  t.variants.clear();
  for (int i = 0; i < 4; ++i)
    if (variants_[i])
      t.variants.push_back(kVariants[i]);
  if (t.variants.empty())
    throw_input_error("train: choose at least one variant");
  if (has_steps()) // kept to compare with, not thrown away
    previous_ = PreviousRun{config_, layer_, records_, {}};
  t.steps = std::max(steps, 1);
  t.batch = batch_;
  t.adamw.lr = lr_;
  t.adamw.warmup_steps = std::min(20, t.steps / 5);
  t.mpi.matrix = mpi.matrix;
  t.mpi.c_prime = mpi.c_prime;
  t.mpi.power_steps = mpi.power_steps;
  t.mpi.order = mpi.order;
  const bool embeddings = tokens_ == 1;
  auto model = ctx.model;
  layer_ = t.layer;
  config_ = training_config(t, nlohmann::json{{"source", "routerscope gui"},
                                              {"tokens", embeddings ? "embeddings" : "synthetic"},
                                              {"pool", 4096},
                                              {"held_out", 1024}}
                                   .dump());
  follow_ = true;
  view_ = PlotView{};
  slot_.publish(std::make_shared<const Records>());
  slot_.start("train", [model, t, embeddings](const Progress& p, Published<Records>& out) {
    const int d = model->info.d_model;
    p(0.0, "preparing tokens");
    const MatrixF tokens = embeddings ? embedding_tokens(*model->model, t.layer, 4096, t.seed)
                                      : synthetic_tokens(4096, d, t.seed);
    const MatrixF held_out = synthetic_tokens(1024, d, t.seed + 1);
    auto history = std::make_shared<Records>();
    train_router(
        *model->model, tokens, held_out, t,
        [&](const TrainStepRecord& r) {
          history->push_back(r);
          out.publish(std::make_shared<const Records>(*history));
        },
        p);
  });
}

void TrainingPanel::clear() {
  slot_.stop(); // a training run belongs to the model it was started on
  slot_.publish(std::make_shared<const Records>());
  config_.clear();
  previous_.reset();
}

bool TrainingPanel::is_setting(const std::string& name) {
  return name == "lr" || name == "batch" || name == "tokens" || name == "variants";
}

void TrainingPanel::set_setting(const std::string& name, const std::string& value) {
  const auto bad = [&](const char* expected) {
    throw_input_error("training setting " + name + ": expected " + expected + ", found '" + value +
                      "'");
  };
  if (name == "lr" || name == "batch") {
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    if (end != value.c_str() + value.size() || !std::isfinite(v))
      bad(name == "lr" ? "a number from 1e-05 to 0.1" : "a whole number from 1 to 65536");
    if (name == "lr") {
      if (!(v >= 1e-5 && v <= 0.1))
        bad("a number from 1e-05 to 0.1");
      lr_ = float(v);
    } else {
      if (!(v >= 1 && v <= 65536 && v == std::floor(v)))
        bad("a whole number from 1 to 65536");
      batch_ = int(v);
    }
  } else if (name == "tokens") {
    if (value != "synthetic" && value != "embeddings")
      bad("synthetic|embeddings");
    tokens_ = value == "embeddings" ? 1 : 0;
  } else if (name == "variants") {
    bool chosen[4] = {};
    std::size_t start = 0;
    while (start <= value.size()) {
      const std::size_t comma = std::min(value.find(',', start), value.size());
      const std::string v = value.substr(start, comma - start);
      const auto it = std::find(std::begin(kVariants), std::end(kVariants), v);
      if (it == std::end(kVariants))
        bad("a comma-separated list of vanilla, mpi, no-power, no-retract");
      chosen[it - std::begin(kVariants)] = true;
      start = comma + 1;
    }
    std::copy(std::begin(chosen), std::end(chosen), variants_);
  } else {
    throw_input_error("unknown training setting '" + name +
                      "' (expected lr, batch, tokens or variants)");
  }
}

void TrainingPanel::show_replay(int layer, const std::string& config, Records records) {
  layer_ = layer;
  config_ = config;
  follow_ = true;
  view_ = PlotView{};
  slot_.publish(std::make_shared<const Records>(std::move(records)));
}

void TrainingPanel::update_replay(Records records) {
  slot_.publish(std::make_shared<const Records>(std::move(records)));
}

std::string TrainingPanel::poll() {
  if (auto t = slot_.latest(); t != records_) {
    records_ = t;
    if (records_ && follow_ && !records_->empty())
      timeline_ = records_->back().step;
  }
  if (auto s = slot_.poll(); s && s->state == JobState::Failed)
    return "Router training failed:\n" + s->error;
  return "";
}

void TrainingPanel::draw_settings(float width) {
  for (int i = 0; i < 4; ++i) {
    if (i % 2)
      ImGui::SameLine(ImGui::GetContentRegionAvail().x * 0.5f);
    ImGui::Checkbox(kVariants[i], &variants_[i]);
    help_tip(kVariants[i]);
  }
  const char* sources[] = {"synthetic mixture", "checkpoint embeddings"};
  ImGui::SetNextItemWidth(width);
  ImGui::Combo("tokens", &tokens_, sources, 2);
  help_tip("tokens");
  ImGui::SetNextItemWidth(width);
  ImGui::SliderFloat("lr", &lr_, 1e-5f, 1e-1f, "%.1e", ImGuiSliderFlags_Logarithmic);
  help_tip("lr");
  ImGui::SetNextItemWidth(width);
  ImGui::SliderInt("steps", &steps_, 10, 2000, "%d", ImGuiSliderFlags_Logarithmic);
  help_tip("steps");
  ImGui::SetNextItemWidth(width);
  ImGui::SliderInt("batch", &batch_, 32, 2048, "%d", ImGuiSliderFlags_Logarithmic);
  help_tip("batch");
}

std::string TrainingPanel::shown_figure() const {
  return kFigures[figure_][0];
}

bool TrainingPanel::show(const std::string& name) {
  for (int i = 0; i < int(std::size(kFigures)); ++i)
    if (name == kFigures[i][0]) {
      figure_ = i;
      return true;
    }
  return false;
}

const PlotView* TrainingPanel::zoom(const std::string& name) const {
  return name.starts_with("training") ? &view_ : nullptr;
}

Figure TrainingPanel::figure(const std::string& name) const {
  if (!has_steps())
    throw_input_error("figure " + name + ": no router training steps yet (press Train)");
  if (record_source_ != records_) {
    record_ = std::make_shared<const RunRecord>(training_record(*records_, layer_, config_));
    record_source_ = records_;
    figure_cache_.clear();
  }
  auto& cached = figure_cache_[name];
  if (!cached) {
    const auto it = std::find_if(std::begin(kFigures), std::end(kFigures),
                                 [&](const auto& f) { return name == f[0]; });
    if (it == std::end(kFigures)) {
      figure_cache_.erase(name);
      throw_input_error("unknown training figure '" + name + "'");
    }
    cached = std::make_shared<const Figure>(io::record_figure(*record_, (*it)[1], layer_));
  }
  if (!previous_ || previous_->layer != layer_ || previous_->records->empty())
    return *cached;
  auto it = previous_->figures.find(name);
  if (it == previous_->figures.end()) {
    const auto source = std::find_if(std::begin(kFigures), std::end(kFigures),
                                     [&](const auto& f) { return name == f[0]; });
    const RunRecord rec = training_record(*previous_->records, previous_->layer, previous_->config);
    it = previous_->figures.emplace(name, io::record_figure(rec, (*source)[1], layer_)).first;
  }
  Figure f = *cached;
  const std::string differs = describe(previous_->config, &config_);
  overlay_previous_run(f, it->second,
                       "previous run" + (differs.empty() ? "" : " (" + differs + ")"),
                       [](const LineSeries& l) { return l.dash == Dash::Solid; });
  return f;
}

bool TrainingPanel::draw(const DrawContext& dc, const std::string& replaying) {
  const float em = ImGui::GetFontSize();
  bool train = false;
  if (ImGui::Button(running() ? "Cancel" : "Train", ImVec2(em * 5, 0))) {
    if (running())
      slot_.cancel();
    else
      train = true;
  }
  ImGui::SameLine();
  ImGui::TextDisabled("AdamW on the layer's own MoE output (experts frozen); same batches for "
                      "every variant");
  if (previous_) {
    ImGui::TextDisabled("Previous run, dash-dot%s: %s, %d steps",
                        previous_->layer == layer_ ? "" : " (another layer: not drawn)",
                        describe(previous_->config).c_str(),
                        previous_->records->empty() ? 0 : previous_->records->back().step + 1);
    ImGui::SameLine();
    if (ImGui::SmallButton("Clear previous run"))
      previous_.reset();
  }
  const int count = records_ ? int(records_->size()) : 0;
  if (count == 0) {
    ImGui::TextDisabled("Choose variants and settings in the sidebar, then press Train.");
    return train;
  }
  int steps = 0;
  for (const auto& r : *records_)
    steps = std::max(steps, r.step + 1);
  ImGui::SetNextItemWidth(em * 16);
  ImGui::Combo("##tfigure", &figure_, kFigureLabels, int(std::size(kFigureLabels)));
  ImGui::SameLine();
  metric_names({"task loss", "LB loss", "MaxVio", "λ", "load"});
  if (!replaying.empty()) {
    ImGui::SameLine();
    ImGui::TextColored(ImVec4(0.9f, 0.55f, 0.1f, 1), "replay of %s",
                       fs::path(replaying).filename().string().c_str());
  }
  if (timeline("##ttimeline", &timeline_, steps, "step %d", "no steps yet", -em * 7))
    follow_ = timeline_ == steps - 1;
  ImGui::SameLine();
  ImGui::Text("%d steps", steps);
  dc.textures.begin_frame();
  // The losses with the load over steps beside them when the window is wide enough (one zoom,
  // one timeline); otherwise the load is the next figure of the list.
  ImVec2 avail = ImGui::GetContentRegionAvail();
  const bool beside = figure_ == 0 && avail.x >= em * 70;
  if (beside)
    avail.x = (avail.x - ImGui::GetStyle().ItemSpacing.x) * 0.58f;
  view_.growing = running();
  int hover = figure_view("train", figure(kFigures[figure_][0]), steps, timeline_, view_, avail,
                          dc.dark, dc.textures);
  if (beside) {
    ImGui::SameLine();
    if (const int h = figure_view("train-load", figure("training-load"), steps, timeline_, view_,
                                  ImGui::GetContentRegionAvail(), dc.dark, dc.textures);
        h >= 0)
      hover = h;
  }
  if (hover >= 0) {
    ImGui::BeginTooltip();
    ImGui::Text("step %d", hover);
    for (const auto& r : *records_)
      if (r.step == hover)
        ImGui::Text("%-10s loss %s  LB %s  MaxVio %s  mean λ %s", r.name.c_str(),
                    sig4(r.loss).c_str(), sig4(r.lb_loss).c_str(), sig4(r.maxvio_batch).c_str(),
                    sig4(r.lambda.size() ? r.lambda.mean() : NAN).c_str());
    ImGui::EndTooltip();
    if (ImGui::IsMouseClicked(ImGuiMouseButton_Left)) {
      timeline_ = hover;
      follow_ = hover == steps - 1;
    }
  }
  return train;
}

std::function<void(const Progress&)>
TrainingPanel::save_work(const std::string& file, std::shared_ptr<const OpenedModel> model) const {
  if (!model || !has_steps())
    throw_input_error("cannot save the session to " + file +
                      ": no router training steps recorded yet (press Train)");
  if (running())
    throw_input_error("cannot save the session to " + file +
                      ": router training is still running (wait or Cancel)");
  auto records = records_;
  const int layer = layer_;
  const std::string config = config_;
  return [model, records, layer, config, file](const Progress& p) {
    p(0.0, "writing " + file);
    save_training_record(file, *model, layer, config, *records);
  };
}

void TrainingPanel::state(nlohmann::json& j) const {
  j["training_steps"] = steps();
  j["training_layer"] = layer_;
  j["training_label"] = describe(config_);
  j["training_previous"] = nullptr;
  if (previous_)
    j["training_previous"] = {
        {"label", describe(previous_->config)},
        {"layer", previous_->layer},
        {"steps", previous_->records->empty() ? 0 : previous_->records->back().step + 1}};
}

} // namespace routerscope::gui
