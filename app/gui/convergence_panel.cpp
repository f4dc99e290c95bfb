#include "app/gui/convergence_panel.h"

#include "app/gui/widgets.h"

#include "core/error.h"
#include "core/figure_builders.h"
#include "io/record_figures.h"

#include <imgui.h>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <utility>

namespace routerscope::gui {

namespace fs = std::filesystem;

namespace {

using Records = std::vector<MpiStepRecord>;

// The pages: tan θ (the record figure "convergence", as `plot` draws it), then |cos|, norms and
// load.
constexpr const char* kPages[] = {"tan θ (convergence)", "|cos|, norms and load"};

} // namespace

ConvergencePanel::ConvergencePanel() : last_frame_(std::chrono::steady_clock::now()) {}

MpiSettings ConvergencePanel::settings() const {
  MpiSettings m;
  m.matrix = ExpertMatrix(matrix_);
  m.c_prime = c_prime_;
  m.power_steps = power_steps_;
  m.ablation = MpiSettings::Ablation(ablation_);
  m.order = GateOrder(order_);
  return m;
}

void ConvergencePanel::reset() {
  slot_.stop();
  playing_ = false;
  stepper_ = std::make_shared<StepperSlot>();
  records_.reset();
  slot_.publish(std::shared_ptr<const Records>());
  timeline_ = 0;
  follow_ = true;
  conv_view_ = align_view_ = norm_view_ = load_view_ = PlotView{};
}

void ConvergencePanel::launch(const ModelContext& ctx, int steps) {
  if (!ctx.model || ctx.model->alignment.empty())
    return;
  if (slot_.running()) {
    queued_ += steps;
    return;
  }
  MpiRunSettings s;
  s.layer = ctx.layer;
  s.mpi = settings();
  run_settings_ = s;
  auto slot = stepper_;
  auto model = ctx.model;
  auto backend = ctx.backend;
  slot_.start("mpi", [slot, model, s, steps, backend](const Progress& p, Published<Records>& out) {
    if (!slot->stepper) {
      slot->stepper = std::make_shared<MpiStepper>(model, s, p, backend);
      out.publish(slot->stepper->records());
    }
    slot->stepper->advance(steps, p);
    out.publish(slot->stepper->records());
  });
}

void ConvergencePanel::show_replay(int layer, Records records) {
  run_settings_ = MpiRunSettings{};
  run_settings_.layer = layer;
  stepper_.reset(); // stepping after a replay starts a fresh run
  slot_.publish(std::make_shared<const Records>(std::move(records)));
}

void ConvergencePanel::update_replay(Records records) {
  slot_.publish(std::make_shared<const Records>(std::move(records)));
}

void ConvergencePanel::set_playing(bool playing) {
  playing_ = playing;
  play_credit_ = 1.0; // the first step comes at once
  if (playing_)
    follow_ = true;
}

std::string ConvergencePanel::poll(int layer) {
  // Records are read every frame so the plots grow while a job runs.
  if (auto r = slot_.latest(); r != records_) {
    records_ = r;
    if (records_ && follow_)
      timeline_ = int(records_->size()) - 1;
  }
  if (auto s = slot_.poll(); s && s->state == JobState::Failed) {
    playing_ = false;
    return "MPI stepping failed on layer " + std::to_string(layer) + ":\n" + s->error;
  }
  return "";
}

int ConvergencePanel::take_queued() {
  if (slot_.running() || queued_ == 0)
    return 0;
  return std::exchange(queued_, 0);
}

void ConvergencePanel::scrub(int delta) {
  if (!has_steps())
    return;
  const int last = int(records_->size()) - 1;
  timeline_ = std::clamp(timeline_ + delta, 0, last);
  follow_ = timeline_ == last;
}

void ConvergencePanel::scrub_to_end(bool last) {
  if (!has_steps())
    return;
  timeline_ = last ? int(records_->size()) - 1 : 0;
  follow_ = last;
}

int ConvergencePanel::play_due() {
  const auto now = std::chrono::steady_clock::now();
  const double dt = std::chrono::duration<double>(now - last_frame_).count();
  last_frame_ = now;
  if (!playing_)
    return 0;
  play_credit_ = std::min(play_credit_ + dt * speed_, 64.0);
  if (slot_.running() || play_credit_ < 1.0)
    return 0;
  const int n = int(play_credit_);
  play_credit_ -= n;
  return n;
}

bool ConvergencePanel::draw_settings(float width) {
  bool changed = false;
  const char* matrices[] = {"gate", "up", "down"};
  ImGui::SetNextItemWidth(width);
  changed |= ImGui::Combo("matrix", &matrix_, matrices, 3);
  ImGui::SetNextItemWidth(width);
  changed |= ImGui::SliderFloat("C'", &c_prime_, 0.5f, 16.0f, "%.2f");
  ImGui::SetNextItemWidth(width);
  changed |= ImGui::SliderInt("power steps k", &power_steps_, 1, 10);
  const char* ablations[] = {"none", "no power step", "no retraction"};
  ImGui::SetNextItemWidth(width);
  changed |= ImGui::Combo("ablation", &ablation_, ablations, 3);
  const char* orders[] = {"softmax, top-k", "top-k, softmax"};
  ImGui::SetNextItemWidth(width);
  changed |= ImGui::Combo("gating", &order_, orders, 2);
  return changed;
}

ConvergencePanel::Action ConvergencePanel::draw(const DrawContext& dc, const ModelContext& ctx,
                                                const std::string& replaying) {
  const float em = ImGui::GetFontSize();
  Action action;
  // Transport controls.
  if (ImGui::Button(playing_ ? "Pause" : "Play", ImVec2(em * 4.5f, 0)))
    set_playing(!playing_ && ctx.model != nullptr);
  ImGui::SameLine();
  if (ImGui::Button("Step"))
    action.step = 1;
  ImGui::SameLine();
  if (ImGui::Button(("Step x" + std::to_string(step_n_)).c_str()))
    action.step = step_n_;
  ImGui::SameLine();
  ImGui::SetNextItemWidth(em * 4);
  ImGui::InputInt("##n", &step_n_, 0);
  step_n_ = std::clamp(step_n_, 1, 10000);
  ImGui::SameLine();
  if (ImGui::Button("Reset"))
    action.reset = true;
  ImGui::SameLine();
  ImGui::SetNextItemWidth(em * 9);
  ImGui::SliderFloat("steps/s", &speed_, 1.0f, 120.0f, "%.0f", ImGuiSliderFlags_Logarithmic);
  ImGui::SameLine();
  ImGui::TextDisabled("layer L%d, expert %d", ctx.layer, ctx.expert);
  if (!replaying.empty()) {
    ImGui::SameLine();
    ImGui::TextColored(ImVec4(0.9f, 0.55f, 0.1f, 1), "replay of %s",
                       fs::path(replaying).filename().string().c_str());
  }
  // Timeline scrubber.
  const int count = steps_recorded();
  if (timeline("##timeline", &timeline_, count, "step %d", "no steps yet", -em * 7)) {
    follow_ = timeline_ == count - 1;
    playing_ = false;
  }
  timeline_rect_ = {ImGui::GetItemRectMin().x, ImGui::GetItemRectMin().y, ImGui::GetItemRectMax().x,
                    ImGui::GetItemRectMax().y};
  ImGui::SameLine();
  ImGui::Text("%d recorded", count);
  if (!has_steps()) {
    ImGui::Spacing();
    ImGui::TextDisabled(
        "Press Play or Step to run convergence stepping Rᵢ ← C·normalize(GᵢᵀGᵢRᵢ) on "
        "this layer.");
    return action;
  }
  const auto& recs = *records_;
  timeline_ = std::clamp(timeline_, 0, count - 1);
  for (PlotView* v : {&conv_view_, &align_view_, &norm_view_, &load_view_})
    v->growing = playing_ || running();
  ImGui::SetNextItemWidth(em * 14);
  ImGui::Combo("##mpipage", &page_, kPages, int(std::size(kPages)));
  int hover = -1;
  if (page_ == 0) {
    dc.textures.begin_frame();
    hover = figure_view("convergence", figure("convergence", ctx), count, timeline_, conv_view_,
                        ImGui::GetContentRegionAvail(), dc.dark, dc.textures);
    if (hover >= 0) {
      const ConvergenceRecord& c = record(ctx.model.get())->layers.front();
      const Eigen::Index e =
          std::min<Eigen::Index>(ctx.expert, c.series.at("tan_theta").cols() - 1);
      ImGui::BeginTooltip();
      ImGui::Text("step %d", hover);
      ImGui::Separator();
      ImGui::Text("expert %d: tan θ %.4g   bound %.4g   |cos| %.6f", int(e),
                  c.series.at("tan_theta")(hover, e), c.series.at("tan_bound")(hover, e),
                  c.series.at("cos")(hover, e));
      ImGui::EndTooltip();
      if (ImGui::IsMouseClicked(ImGuiMouseButton_Left)) {
        timeline_ = hover;
        follow_ = hover == count - 1;
      }
    }
    return action;
  }
  // Minimum heights hold the figures' layout (no overprinted ticks, titles inside) in a small
  // window; below them the page scrolls.
  const ImVec2 spacing = ImGui::GetStyle().ItemSpacing;
  const float min_top = em * 15, min_load = em * 21;
  ImVec2 avail = ImGui::GetContentRegionAvail();
  const bool scroll = avail.y < min_top + min_load + spacing.y;
  if (scroll) {
    ImGui::BeginChild("##mpipage", avail);
    avail = ImVec2(ImGui::GetContentRegionAvail().x, min_top + min_load + spacing.y);
  }
  const float top_h = std::max((avail.y - spacing.y) * 0.5f, min_top);
  const ImVec2 cell((avail.x - spacing.x) * 0.5f, top_h);
  auto take = [&](int h) {
    if (h >= 0)
      hover = h;
  };
  dc.textures.begin_frame();
  take(figure_view("align", figure("alignment", ctx), count, timeline_, align_view_, cell, dc.dark,
                   dc.textures));
  ImGui::SameLine();
  take(figure_view("norms", figure("norms", ctx), count, timeline_, norm_view_, cell, dc.dark,
                   dc.textures));
  take(figure_view("load", figure("load", ctx), count, timeline_, load_view_,
                   ImVec2(avail.x, avail.y - top_h - spacing.y), dc.dark, dc.textures));
  if (scroll)
    ImGui::EndChild();
  if (hover >= 0) {
    const MpiStepRecord& r = recs[hover];
    const int e = std::min(ctx.expert, int(r.cos.size()) - 1);
    ImGui::BeginTooltip();
    ImGui::Text("step %d", r.step);
    ImGui::Separator();
    ImGui::Text("mean |cos| %.4f   mean λ %.4f", r.mean_cos, r.mean_lambda);
    ImGui::Text("expert %d: |cos| %.4f   λ %.4f   ‖Rᵢ‖ %.4g", e, r.cos[e], r.lambda[e], r.norm[e]);
    ImGui::Text("mean ‖Rᵢ‖ %.4g   MaxVio %.4f   load of expert %d: %.4f", r.mean_norm, r.max_vio, e,
                r.load[e]);
    ImGui::EndTooltip();
  }
  // Clicking a plot moves the timeline there.
  if (hover >= 0 && ImGui::IsMouseClicked(ImGuiMouseButton_Left)) {
    timeline_ = hover;
    follow_ = hover == count - 1;
  }
  return action;
}

std::shared_ptr<const RunRecord> ConvergencePanel::record(const OpenedModel* model) const {
  if (!model || !has_steps())
    throw_input_error("no MPI steps recorded yet (press Step or Play)");
  if (record_source_ != records_) {
    record_ =
        std::make_shared<const RunRecord>(convergence_record(*model, run_settings_, *records_));
    record_source_ = records_;
  }
  return record_;
}

const PlotView* ConvergencePanel::zoom(const std::string& name) const {
  return name == "convergence" ? &conv_view_
         : name == "alignment" ? &align_view_
         : name == "norms"     ? &norm_view_
         : name == "load"      ? &load_view_
                               : nullptr;
}

Figure ConvergencePanel::figure(const std::string& figure, const ModelContext& ctx) const {
  if (!has_steps())
    throw_input_error("export " + figure + ": no MPI steps recorded yet (press Step or Play)");
  if (figure == "convergence") { // the record figure of the run, as `plot` draws it from the file
    const auto rec = record(ctx.model.get());
    if (!figure_ || figure_source_ != rec) {
      figure_ = std::make_shared<const Figure>(io::record_figure(*rec, figure));
      figure_source_ = rec;
    }
    return *figure_;
  }
  const auto& recs = *records_;
  const int n = int(recs.front().cos.size());
  const int layer = ctx.layer, expert = ctx.expert;
  std::vector<double> steps;
  for (const auto& r : recs)
    steps.push_back(r.step);
  auto per_expert = [&](std::vector<double> MpiStepRecord::*field) {
    std::vector<std::vector<double>> out(n);
    for (const auto& r : recs)
      for (int i = 0; i < n; ++i)
        out[i].push_back((r.*field)[i]);
    return out;
  };
  if (figure == "alignment") {
    ConvergenceData data;
    data.steps = steps;
    data.quantity = "|cos(Rᵢ, u₁)|";
    data.log_y = false;
    data.layers.push_back({layer, per_expert(&MpiStepRecord::cos), {expert}, {}, {}});
    Figure f = mpi_convergence_figure(data, kSingleColumnWidth);
    f.title = "Alignment to u₁ over MPI steps";
    return f;
  }
  if (figure == "norms") {
    std::vector<double> mean, lo, hi, sel;
    for (const auto& r : recs) {
      mean.push_back(r.mean_norm);
      lo.push_back(*std::min_element(r.norm.begin(), r.norm.end()));
      hi.push_back(*std::max_element(r.norm.begin(), r.norm.end()));
      sel.push_back(r.norm[std::min(expert, n - 1)]);
    }
    Figure f = router_norm_figure({{"mean ‖Rᵢ‖", steps, mean},
                                   {"min", steps, lo},
                                   {"max", steps, hi},
                                   {"expert " + std::to_string(expert), steps, sel}},
                                  "MPI step");
    f.title = "Router row norms, layer " + std::to_string(layer);
    return f;
  }
  if (figure == "load") {
    LoadHistory h;
    h.layer = layer;
    h.steps = steps;
    h.load = per_expert(&MpiStepRecord::load);
    for (const auto& r : recs)
      h.maxvio_batch.push_back(r.max_vio);
    Figure f = load_distribution_figure({h});
    f.title = "Expert load on probe tokens over MPI steps";
    return f;
  }
  if (figure == "maxvio") {
    std::vector<double> vio;
    for (const auto& r : recs)
      vio.push_back(r.max_vio);
    Figure f = router_norm_figure({{"MaxVio", steps, vio}}, "MPI step");
    f.title = "MaxVio on probe tokens, layer " + std::to_string(layer);
    for (auto& panel : f.panels)
      panel.y.label = "MaxVio";
    return f;
  }
  throw_input_error("unknown figure '" + figure +
                    "' (expected convergence, alignment, norms, load, maxvio, heatmap, training, "
                    "training-load or training-norms)");
}

std::function<void(const Progress&)>
ConvergencePanel::save_work(const std::string& file,
                            std::shared_ptr<const OpenedModel> model) const {
  if (!model || !has_steps())
    throw_input_error("cannot save the session to " + file +
                      ": no MPI steps recorded yet (press Step or Play)");
  auto records = records_;
  const MpiRunSettings settings = run_settings_;
  return [model, records, settings, file](const Progress& p) {
    p(0.0, "writing " + file);
    save_convergence_record(file, *model, settings, *records);
  };
}

void ConvergencePanel::state(nlohmann::json& j) const {
  j["playing"] = playing_;
  j["step_index"] = has_steps() ? (*records_)[timeline_].step : -1;
  j["steps_recorded"] = steps_recorded();
  j["timeline_rect"] = timeline_rect_; // pixels: x0, y0, x1, y1
  if (const MpiStepRecord* r = current()) {
    j["mean_cos"] = r->mean_cos;
    j["mean_lambda"] = r->mean_lambda;
    j["step_cos"] = r->cos; // per expert, as the sidebar shows the selected one's
    j["step_lambda"] = r->lambda;
  }
}

} // namespace routerscope::gui
