#include "app/gui/convergence_panel.h"

#include "app/gui/help_text.h"
#include "app/gui/widgets.h"
#include "core/error.h"
#include "core/figure_builders.h"
#include "core/number_format.h"
#include "io/record_figures.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
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

constexpr const char* kMatrices[] = {"gate", "up", "down"};
constexpr const char* kAblations[] = {"none", "no-power", "no-retract"};
constexpr const char* kAblationLabels[] = {"none", "no power step", "no retraction"};
constexpr const char* kGatings[] = {"softmax-topk", "topk-softmax"};
constexpr const char* kGatingLabels[] = {"softmax, top-k", "top-k, softmax"};

// The settings as the previous run's label shows them; with `other`, only those that differ from
// it (the legend names what changed).
std::string describe(const MpiSettings& m, const MpiSettings* other = nullptr) {
  std::vector<std::string> parts;
  auto add = [&](bool same, std::string text) {
    if (!other || !same)
      parts.push_back(std::move(text));
  };
  add(other && m.c_prime == other->c_prime, "C′ " + sig4(m.c_prime));
  add(other && m.power_steps == other->power_steps, "k " + std::to_string(m.power_steps));
  add(other && m.matrix == other->matrix, std::string(kMatrices[int(m.matrix)]));
  add(other && m.ablation == other->ablation,
      std::string("ablation ") + kAblationLabels[int(m.ablation)]);
  add(other && m.order == other->order, kGatingLabels[int(m.order)]);
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty())
      out += ", ";
    out += p;
  }
  return out;
}

nlohmann::json settings_json(const MpiSettings& m) {
  return {{"c_prime", m.c_prime},
          {"power_steps", m.power_steps},
          {"matrix", kMatrices[int(m.matrix)]},
          {"ablation", kAblations[int(m.ablation)]},
          {"gating", kGatings[int(m.order)]}};
}

// The index of `value` in `names`, else BadInput naming the setting and the choices.
template <std::size_t N>
int choice(const char* const (&names)[N], const std::string& setting, const std::string& value) {
  std::string all;
  for (std::size_t i = 0; i < N; ++i) {
    if (value == names[i])
      return int(i);
    if (i)
      all += '|';
    all += names[i];
  }
  throw_input_error("MPI setting " + setting + ": expected " + all + ", found '" + value + "'");
}

// The lines of a previous run drawn beside the current one: the means (and MaxVio).
bool previous_line(const LineSeries& l) {
  return l.name.starts_with("mean") || l.name == "MaxVio";
}

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
  ImGui::SetNextItemWidth(width);
  changed |= ImGui::Combo("matrix", &matrix_, kMatrices, 3);
  help_tip("matrix");
  ImGui::SetNextItemWidth(width);
  changed |= ImGui::SliderFloat("C′", &c_prime_, 0.5f, 16.0f, "%.2f");
  help_tip("C′");
  ImGui::SetNextItemWidth(width);
  changed |= ImGui::SliderInt("power steps k", &power_steps_, 1, 10);
  help_tip("power steps k");
  ImGui::SetNextItemWidth(width);
  changed |= ImGui::Combo("ablation", &ablation_, kAblationLabels, 3);
  help_tip("ablation");
  ImGui::SetNextItemWidth(width);
  changed |= ImGui::Combo("gating", &order_, kGatingLabels, 2);
  help_tip("gating");
  return changed;
}

bool ConvergencePanel::set_setting(const std::string& name, const std::string& value) {
  const MpiSettings before = settings();
  if (name == "c-prime" || name == "power-steps") {
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    const bool k = name == "power-steps";
    if (end != value.c_str() + value.size() ||
        !(k ? v >= 1 && v <= 10 && v == std::floor(v) : v >= 0.5 && v <= 16))
      throw_input_error("MPI setting " + name + ": expected " +
                        (k ? "a whole number from 1 to 10" : "a number from 0.5 to 16") +
                        ", found '" + value + "'");
    if (k)
      power_steps_ = int(v);
    else
      c_prime_ = float(v);
  } else if (name == "matrix") {
    matrix_ = choice(kMatrices, name, value);
  } else if (name == "ablation") {
    ablation_ = choice(kAblations, name, value);
  } else if (name == "gating") {
    order_ = choice(kGatings, name, value);
  } else {
    throw_input_error("unknown MPI setting '" + name +
                      "' (expected c-prime, power-steps, matrix, ablation or gating)");
  }
  const MpiSettings after = settings();
  return !describe(after, &before).empty(); // the settings that differ
}

void ConvergencePanel::keep_as_previous(const std::string& replaying) {
  if (has_steps()) {
    PreviousRun p;
    p.replay = !replaying.empty();
    p.settings = run_settings_;
    p.label = p.replay ? "replay of " + fs::path(replaying).filename().string()
                       : describe(run_settings_.mpi);
    p.records = records_;
    previous_ = std::move(p);
  }
  reset();
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
  help_tip("steps/s");
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
  if (previous_) {
    ImGui::TextDisabled("Previous run, dash-dot: %s, %d steps", previous_->label.c_str(),
                        int(previous_->records->size()) - 1);
    ImGui::SameLine();
    if (ImGui::SmallButton("Clear previous run"))
      previous_.reset();
  }
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
  ImGui::SameLine();
  if (page_ == 0)
    metric_names({"tan θ", "bound", "|cos|"});
  else
    metric_names({"|cos|", "λ", "‖Rᵢ‖", "load", "MaxVio"});
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
      ImGui::Text("expert %d: tan θ %s   bound %s   |cos| %s", int(e),
                  sig4(c.series.at("tan_theta")(hover, e)).c_str(),
                  sig4(c.series.at("tan_bound")(hover, e)).c_str(),
                  sig4(c.series.at("cos")(hover, e)).c_str());
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
    ImGui::Text("mean |cos| %s   mean λ %s", sig4(r.mean_cos).c_str(), sig4(r.mean_lambda).c_str());
    ImGui::Text("expert %d: |cos| %s   λ %s   ‖Rᵢ‖ %s", e, sig4(r.cos[e]).c_str(),
                sig4(r.lambda[e]).c_str(), sig4(r.norm[e]).c_str());
    ImGui::Text("mean ‖Rᵢ‖ %s   MaxVio %s   load of expert %d: %s", sig4(r.mean_norm).c_str(),
                sig4(r.max_vio).c_str(), e, sig4(r.load[e]).c_str());
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
  Figure f = [&] {
    if (figure != "convergence")
      return step_figure(figure, *records_, ctx);
    // The record figure of the run, as `plot` draws it from the file.
    const auto rec = record(ctx.model.get());
    if (!figure_ || figure_source_ != rec) {
      figure_ = std::make_shared<const Figure>(io::record_figure(*rec, figure));
      figure_source_ = rec;
    }
    return *figure_;
  }();
  if (previous_ && ctx.model) { // its figure as drawn when it was the run on screen
    auto it = previous_->figures.find(figure);
    if (it == previous_->figures.end()) {
      const Figure p = figure == "convergence"
                           ? io::record_figure(convergence_record(*ctx.model, previous_->settings,
                                                                  *previous_->records),
                                               figure)
                           : step_figure(figure, *previous_->records, ctx);
      it = previous_->figures.emplace(figure, p).first;
    }
    const MpiSettings now = settings();
    const std::string differs = previous_->replay ? "" : describe(previous_->settings.mpi, &now);
    overlay_previous_run(f, it->second,
                         "previous run" + (differs.empty() ? "" : " (" + differs + ")"),
                         previous_line);
  }
  return f;
}

Figure ConvergencePanel::step_figure(const std::string& figure, const Records& recs,
                                     const ModelContext& ctx) {
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
    j["mean_norm"] = r->mean_norm;
    j["step_cos"] = r->cos; // per expert, as the sidebar shows the selected one's
    j["step_lambda"] = r->lambda;
  }
  j["mpi_settings"] = settings_json(settings());
  j["previous_run"] = nullptr;
  if (previous_) {
    const MpiStepRecord& last = previous_->records->back();
    j["previous_run"] = {{"label", previous_->label},
                         {"replay", previous_->replay},
                         {"steps_recorded", int(previous_->records->size())},
                         {"last_step", last.step},
                         {"mean_cos", last.mean_cos},
                         {"mean_lambda", last.mean_lambda},
                         {"mean_norm", last.mean_norm}};
    if (!previous_->replay)
      j["previous_run"]["settings"] = settings_json(previous_->settings.mpi);
  }
}

} // namespace routerscope::gui
