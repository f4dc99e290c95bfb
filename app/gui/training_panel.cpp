#include "app/gui/training_panel.h"

#include "app/gui/widgets.h"

#include "core/error.h"
#include "io/record_figures.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>
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
  }
  const char* sources[] = {"synthetic mixture", "checkpoint embeddings"};
  ImGui::SetNextItemWidth(width);
  ImGui::Combo("tokens", &tokens_, sources, 2);
  ImGui::SetNextItemWidth(width);
  ImGui::SliderFloat("lr", &lr_, 1e-5f, 1e-1f, "%.1e", ImGuiSliderFlags_Logarithmic);
  ImGui::SetNextItemWidth(width);
  ImGui::SliderInt("steps", &steps_, 10, 2000, "%d", ImGuiSliderFlags_Logarithmic);
  ImGui::SetNextItemWidth(width);
  ImGui::SliderInt("batch", &batch_, 32, 2048, "%d", ImGuiSliderFlags_Logarithmic);
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
  return *cached;
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
        ImGui::Text("%-10s loss %.5g  LB %.4g  MaxVio %.3f  mean λ %.3f", r.name.c_str(), r.loss,
                    r.lb_loss, r.maxvio_batch, r.lambda.size() ? r.lambda.mean() : NAN);
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
}

} // namespace routerscope::gui
