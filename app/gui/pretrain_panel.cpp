#include "app/gui/pretrain_panel.h"

#include "app/gui/help_text.h"
#include "app/gui/widgets.h"

#include "core/error.h"
#include "core/number_format.h"
#include "io/atomic_file.h"
#include "io/lm_corpus.h"
#include "io/pretrain_figures.h"
#include "io/pretrain_record.h"
#include "io/record_figures.h"

#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace routerscope::gui {

namespace fs = std::filesystem;

namespace {

constexpr const char* kVariants[] = {"vanilla", "mpi", "no-power", "no-retract"};
// The figures of io/pretrain_figures.h with their on-screen labels.
constexpr const char* kFigureLabels[] = {"bits per byte, MaxVio, λ", "expert load over steps",
                                         "λ per layer", "router norms per layer"};

// A fresh record file for a run started without "record to".
std::string temporary_record() {
  static std::atomic<int> counter{0};
  return (fs::temp_directory_path() / ("routerscope-pretrain-" + std::to_string(::getpid()) + "-" +
                                       std::to_string(++counter) + ".h5"))
      .string();
}

// Complete steps of a record: the fewest any variant holds.
int complete_steps(const RunRecord& record, const std::string& origin) {
  int steps = -1;
  for (const auto& s : io::pretrain_series(record, origin))
    steps = steps < 0 ? int(s.steps()) : std::min(steps, int(s.steps()));
  return std::max(steps, 0);
}

void number(const char* label, int& value, int lo, int hi, float width) {
  ImGui::SetNextItemWidth(width);
  ImGui::InputInt(label, &value, 0);
  help_tip(label);
  value = std::clamp(value, lo, hi);
}

} // namespace

PretrainPanel::PretrainPanel() {
  apply_preset(true);
}

PretrainPanel::~PretrainPanel() = default; // slot_ (declared last) cancels and joins its job first

std::vector<std::string> PretrainPanel::figure_names() {
  return io::pretrain_figure_names();
}

void PretrainPanel::apply_preset(bool quick) {
  // `pretrain --quick` and `pretrain`'s defaults.
  const lm::LmConfig config;
  const lm::LmSettings settings;
  plan_.config = config;
  plan_.settings = settings;
  plan_.settings.eval_windows = 64;
  plan_.eval_every = plan_.align_every = 50;
  if (quick) {
    plan_.config.d_model = 64;
    plan_.config.layers = 2;
    plan_.config.d_expert = 128;
    plan_.config.ctx = 64;
    plan_.settings.steps = 150;
    plan_.settings.batch = 8;
    plan_.eval_every = plan_.align_every = 25;
  }
}

void PretrainPanel::start(int steps) {
  if (running())
    throw_input_error("pretraining is already running (Stop it first)");
  io::PretrainPlan plan = plan_;
  plan.settings.variants.clear();
  for (int i = 0; i < 4; ++i)
    if (variants_[i])
      plan.settings.variants.push_back(kVariants[i]);
  if (plan.settings.variants.empty())
    throw_input_error("pretraining: choose at least one variant");
  if (steps > 0)
    plan.settings.steps = steps;
  plan.settings.adamw.lr = lr_;
  plan.settings.adamw.warmup_steps = std::min(20, plan.settings.steps / 10);
  plan.settings.lb_alpha = lb_alpha_;
  plan.settings.mpi.c_prime = c_prime_;
  plan.settings.seed = std::uint64_t(seed_);
  const std::string corpus = corpus_, record = record_to_.empty() ? temporary_record() : record_to_;

  source_ = record;
  live_ = true;
  steps_ = 0;
  total_steps_ = plan.settings.steps;
  tokens_per_s_ = 0;
  follow_ = true;
  view_ = PlotView{};
  snapshot_.reset();
  record_.reset();
  record_source_.reset();
  slot_.publish(std::shared_ptr<const Snapshot>());
  started_ = std::chrono::steady_clock::now();
  slot_.start("pretrain", [plan, corpus, record](const Progress& p, Published<Snapshot>& out) {
    p(0.0, "reading the corpus");
    const io::Corpus text =
        corpus.empty()
            ? io::read_byte_corpus(io::default_corpus_files(),
                                   std::string("the default corpus (") + io::kFortunesDir + ")")
            : io::read_byte_corpus(io::corpus_files(corpus), corpus);
    io::PretrainRun run(plan, text);
    const nlohmann::json extra{{"source", "routerscope gui"}};
    run.record_to(record, extra);
    auto snap = std::make_shared<Snapshot>();
    snap->config = run.record_config(extra).dump();
    snap->identity = run.record_identity();
    const auto start = std::chrono::steady_clock::now();
    auto last_publish = start;
    auto publish = [&] {
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      snap->tokens_per_s =
          run.tokens_per_step() * (run.step_index() - run.first_step()) / std::max(s, 1e-9);
      out.publish(std::make_shared<const Snapshot>(*snap));
    };
    try {
      while (!run.done()) {
        p.check();
        run.step();
        snap->rows.insert(snap->rows.end(), run.last_rows().begin(), run.last_rows().end());
        const auto now = std::chrono::steady_clock::now();
        if (std::chrono::duration<double>(now - last_publish).count() > 0.25) {
          publish();
          last_publish = now;
        }
        p(double(run.step_index()) / double(plan.settings.steps),
          "step " + std::to_string(run.step_index()) + "/" + std::to_string(plan.settings.steps));
      }
    } catch (...) {
      publish(); // every finished step stays on screen and in the record
      throw;
    }
    run.close_record();
    publish();
  });
}

void PretrainPanel::stop() {
  slot_.cancel();
}

void PretrainPanel::show_record(std::shared_ptr<const RunRecord> record, const std::string& path) {
  slot_.stop(); // a run of this panel stops here; its record keeps every finished step
  const int steps = complete_steps(*record, path);
  if (steps == 0)
    throw_input_error(path + ": the pretraining record holds no complete step yet");
  const bool same = source_ == path && !live_;
  live_ = false;
  snapshot_.reset();
  record_source_.reset();
  record_ = std::move(record);
  source_ = path;
  steps_ = steps;
  if (!same) {
    total_steps_ = steps;
    view_ = PlotView{};
    follow_ = true;
  }
  total_steps_ = std::max(total_steps_, steps);
  if (follow_)
    timeline_ = steps_ - 1;
}

std::string PretrainPanel::poll() {
  if (live_)
    if (auto s = slot_.latest(); s && s != snapshot_) {
      snapshot_ = s;
      tokens_per_s_ = s->tokens_per_s;
      // Rows arrive a whole step (one per variant) at a time, in step order.
      steps_ = s->rows.empty() ? 0 : s->rows.back().step + 1;
      if (follow_)
        timeline_ = std::max(0, steps_ - 1);
    }
  if (auto st = slot_.poll(); st && st->state == JobState::Failed)
    return "Pretraining failed:\n" + st->error;
  return {};
}

std::string PretrainPanel::status() const {
  if (source_.empty())
    return {};
  if (!running())
    return source_ + ": " + std::to_string(steps_) + " steps";
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  const double eta = steps_ > 0 ? elapsed / steps_ * (total_steps_ - steps_) : NAN;
  char buf[160];
  std::snprintf(buf, sizeof buf, "pretraining: step %d/%d, %.0f tok/s, ETA %s", steps_,
                total_steps_, tokens_per_s_,
                std::isfinite(eta) ? (std::to_string(int(eta)) + " s").c_str() : "-");
  return std::string(buf) + "  |  record " + source_;
}

Figure PretrainPanel::figure(const std::string& name) const {
  const auto names = figure_names();
  if (std::find(names.begin(), names.end(), name) == names.end())
    throw_input_error("unknown pretraining figure '" + name + "'");
  if (live_ && snapshot_ && record_source_ != snapshot_) {
    record_ = std::make_shared<const RunRecord>(
        io::pretrain_record(snapshot_->rows, snapshot_->config, snapshot_->identity));
    record_source_ = snapshot_;
  }
  if (!record_ || steps_ == 0)
    throw_input_error("figure " + name +
                      ": no pretraining steps yet (press Start, or open a pretraining record)");
  const std::optional<int> layer = layer_ >= 0 ? std::optional<int>(layer_) : std::nullopt;
  if (!cached_figure_ || cached_record_ != record_ || cached_name_ != name ||
      cached_layer_ != layer_) {
    cached_figure_ = std::make_shared<const Figure>(io::record_figure(*record_, name, layer));
    cached_record_ = record_;
    cached_name_ = name;
    cached_layer_ = layer_;
  }
  return *cached_figure_;
}

void PretrainPanel::save_record(const std::string& file) const {
  if (source_.empty() || steps_ == 0)
    throw_input_error("cannot save the pretraining run to " + file +
                      ": no pretraining steps yet (press Start)");
  if (running())
    throw_input_error("cannot save the pretraining run to " + file +
                      ": it is still running (wait or Stop)");
  io::copy_replacing(source_, file); // the record the run wrote or was read from
}

nlohmann::json PretrainPanel::state() const {
  nlohmann::json j;
  j["running"] = running();
  j["steps"] = steps_;
  j["source"] = source_;
  j["figure"] = figure_names()[std::size_t(figure_)];
  j["layer"] = layer_;
  j["timeline"] = timeline_;
  return j;
}

void PretrainPanel::draw_settings() {
  const float w = ImGui::GetContentRegionAvail().x * 0.45f;
  ImGui::TextDisabled("A small Mixtral LM trained from scratch,");
  ImGui::TextDisabled("every variant on the same batches.");
  if (ImGui::Button("Quick size"))
    apply_preset(true);
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("D 64, 2 layers, F 128, T 64, batch 8, 150 steps (seconds on 2 cores)");
  ImGui::SameLine();
  if (ImGui::Button("Default size"))
    apply_preset(false);
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("D 128, 4 layers, F 256, T 128, batch 16, 600 steps (minutes on 2 cores)");
  ImGui::Spacing();
  ImGui::TextUnformatted("Variants");
  for (int i = 0; i < 4; ++i) {
    if (i % 2)
      ImGui::SameLine(ImGui::GetContentRegionAvail().x * 0.5f);
    ImGui::Checkbox(kVariants[i], &variants_[i]);
    help_tip(kVariants[i]);
  }
  ImGui::Spacing();
  ImGui::TextUnformatted("Model");
  lm::LmConfig& c = plan_.config;
  number("d_model", c.d_model, 8, 4096, w);
  number("layers", c.layers, 1, 64, w);
  number("heads", c.heads, 1, 64, w);
  number("experts", c.experts, 1, 256, w);
  number("top-k", c.top_k, 1, 256, w);
  number("d_expert", c.d_expert, 8, 16384, w);
  ImGui::Spacing();
  ImGui::TextUnformatted("Training");
  lm::LmSettings& s = plan_.settings;
  number("steps", s.steps, 1, 1000000, w);
  number("batch", s.batch, 1, 4096, w);
  number("ctx", c.ctx, 2, 8192, w);
  ImGui::SetNextItemWidth(w);
  ImGui::InputFloat("lr", &lr_, 0, 0, "%.1e");
  help_tip("lr");
  lr_ = std::clamp(lr_, 1e-6f, 1.0f);
  ImGui::SetNextItemWidth(w);
  ImGui::InputFloat("LB α", &lb_alpha_, 0, 0, "%.3f");
  lb_alpha_ = std::clamp(lb_alpha_, 0.0f, 10.0f);
  help_tip("LB α");
  ImGui::SetNextItemWidth(w);
  ImGui::InputFloat("C′", &c_prime_, 0, 0, "%.2f");
  c_prime_ = std::clamp(c_prime_, 0.01f, 1000.0f);
  help_tip("C′");
  number("seed", seed_, 0, 1 << 30, w);
  number("eval every", plan_.eval_every, 1, 1 << 30, w);
  number("align every", plan_.align_every, 1, 1 << 30, w);
  number("threads", s.threads, 1, 256, w);
  ImGui::Spacing();
  ImGui::TextUnformatted("Data");
  ImGui::SetNextItemWidth(-1);
  ImGui::InputTextWithHint("##corpus", "corpus: the fortunes (default)", &corpus_);
  help_tip("corpus");
  ImGui::SetNextItemWidth(-1);
  ImGui::InputTextWithHint("##record", "record to: a temporary .h5 (default)", &record_to_);
  help_tip("record to");
}

void PretrainPanel::draw(bool dark, TexturePool& textures) {
  const float em = ImGui::GetFontSize();
  if (ImGui::Button(running() ? "Stop" : "Start", ImVec2(em * 5, 0))) {
    if (running())
      stop();
    else
      start(); // settings errors: the job fails and poll() reports them
  }
  ImGui::SameLine();
  if (running())
    ImGui::Text("step %d of %d, %.0f tokens/s", steps_, total_steps_, tokens_per_s_);
  else if (!source_.empty())
    ImGui::TextDisabled("%s", fs::path(source_).filename().string().c_str());
  else
    ImGui::TextDisabled("Set the model and training in the sidebar, then press Start.");
  if (steps_ == 0)
    return;
  ImGui::SetNextItemWidth(em * 14);
  ImGui::Combo("##pfigure", &figure_, kFigureLabels, int(std::size(kFigureLabels)));
  ImGui::SameLine();
  // Layers of the shown run.
  int layers = plan_.config.layers;
  if (record_ && !record_->variants.empty())
    layers = int(record_->variants.front().layers.size());
  std::vector<std::string> layer_names{"every layer"};
  for (int l = 0; l < layers; ++l)
    layer_names.push_back("layer " + std::to_string(l));
  layer_ = std::clamp(layer_, -1, layers - 1);
  ImGui::SetNextItemWidth(em * 8);
  if (ImGui::BeginCombo("##player", layer_names[std::size_t(layer_ + 1)].c_str())) {
    for (int i = 0; i <= layers; ++i)
      if (ImGui::Selectable(layer_names[std::size_t(i)].c_str(), layer_ == i - 1))
        layer_ = i - 1;
    ImGui::EndCombo();
  }
  ImGui::SameLine();
  if (timeline("##ptimeline", &timeline_, steps_, "step %d", "no steps yet", -em * 7))
    follow_ = timeline_ == steps_ - 1;
  ImGui::SameLine();
  ImGui::Text("%d steps", steps_);
  Figure fig;
  try {
    fig = figure(figure_names()[std::size_t(figure_)]);
  } catch (const Error& e) {
    ImGui::TextDisabled("%s", e.what());
    return;
  }
  view_.growing = running();
  const int hover = figure_view("pretrain", fig, steps_, timeline_, view_,
                                ImGui::GetContentRegionAvail(), dark, textures);
  if (hover >= 0 && snapshot_) {
    ImGui::BeginTooltip();
    ImGui::Text("step %d", hover);
    for (const auto& r : snapshot_->rows)
      if (r.step == hover)
        ImGui::Text("%-10s loss %s  LM %s  LB %s", r.variant.c_str(), sig4(r.loss).c_str(),
                    sig4(r.lm_loss).c_str(), sig4(r.lb_loss).c_str());
    ImGui::EndTooltip();
  }
  if (hover >= 0 && ImGui::IsMouseClicked(ImGuiMouseButton_Left)) {
    timeline_ = hover;
    follow_ = hover == steps_ - 1;
  }
}

} // namespace routerscope::gui
