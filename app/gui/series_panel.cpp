#include "app/gui/series_panel.h"

#include "app/gui/figure_view.h"
#include "app/gui/help_text.h"

#include "app/common/index_list.h"
#include "core/error.h"
#include "core/figure_layout.h"
#include "core/number_format.h"
#include "core/spectral.h"
#include "io/atomic_file.h"
#include "io/record_figures.h"
#include "io/series_run.h"

#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <unistd.h>
#include <utility>

namespace routerscope::gui {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFigures[] = {"series-alignment", "series-norms", "series-load"};
constexpr const char* kFigureLabels[] = {"λ and |cos| over steps", "router and expert norms",
                                         "expert load over steps"};
constexpr const char* kMatrices[] = {"gate", "up", "down"};
constexpr const char* kMethods[] = {"exact", "lanczos", "power"};

// A fresh record file for a run started without "record to".
std::string temporary_record() {
  static std::atomic<int> counter{0};
  return (fs::temp_directory_path() / ("routerscope-series-" + std::to_string(::getpid()) + "-" +
                                       std::to_string(++counter) + ".h5"))
      .string();
}

// Non-empty lines, trimmed.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const auto a = line.find_first_not_of(" \t\r");
    if (a == std::string::npos)
      continue;
    const auto b = line.find_last_not_of(" \t\r");
    out.push_back(line.substr(a, b - a + 1));
  }
  return out;
}

nlohmann::json number(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

// Draws `figure` into `size` pixels at the cursor with a line at checkpoint `cursor` on every
// panel (line panels: at its step; the load heatmap: at its column); returns the checkpoint under
// the mouse, or -1.
int series_figure_view(const Figure& figure, const std::vector<double>& steps, int cursor,
                       ImVec2 size, TexturePool& textures) {
  const ImVec2 pos = ImGui::GetCursorScreenPos();
  size.x = std::max(size.x, 120.0f);
  size.y = std::max(size.y, 90.0f);
  ImGui::InvisibleButton("##seriesfigure", size);
  const bool hovered = ImGui::IsItemHovered();
  const double k = ImGui::GetFontSize() / 9.0; // 1 pt = em/9 px, as figure_view
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddRectFilled(pos, ImVec2(pos.x + size.x, pos.y + size.y),
                    ImGui::GetColorU32(ImGuiCol_ChildBg), 4.0f);
  ImGuiCanvas canvas(dl, pos, k, textures);
  LayoutOptions layout;
  layout.width = size.x / k;
  layout.height = size.y / k;
  layout.pixels_per_point = k;
  Figure f = figure;
  apply_view_options(f, screen_view_options());
  f.width = layout.width;
  f.height = layout.height;
  const std::vector<PanelFrame> frames = draw_figure(f, canvas, layout);
  screen_figure_text().push_back({"series", ImRect(pos, ImVec2(pos.x + size.x, pos.y + size.y)),
                                  f.panels.empty() ? NAN : f.panels.front().x.min.value_or(NAN),
                                  f.panels.empty() ? NAN : f.panels.front().x.max.value_or(NAN),
                                  canvas.text_boxes()});
  const ImVec2 mouse = ImGui::GetIO().MousePos;
  int hover = -1;
  for (std::size_t i = 0; i < frames.size() && i < f.panels.size(); ++i) {
    const PanelFrame& fr = frames[i];
    const bool heat = f.panels[i].heatmap.has_value(); // x: checkpoint index
    auto px = [&](double x) { return float(pos.x + data_to_canvas(fr, x, fr.y_lo).x * k); };
    const float top = float(pos.y + fr.plot.y * k), bottom = float(top + fr.plot.h * k);
    const float left = float(pos.x + fr.plot.x * k), right = float(left + fr.plot.w * k);
    auto at = [&](int c) { return heat ? double(c) : steps[std::size_t(c)]; };
    if (cursor >= 0 && cursor < int(steps.size()))
      dl->AddLine(ImVec2(px(at(cursor)), top), ImVec2(px(at(cursor)), bottom),
                  IM_COL32(230, 80, 60, 230), 2.0f);
    if (hovered && mouse.x >= left && mouse.x <= right && mouse.y >= top && mouse.y <= bottom) {
      double best = INFINITY;
      for (int c = 0; c < int(steps.size()); ++c)
        if (const double d = std::abs(px(at(c)) - mouse.x); d < best) {
          best = d;
          hover = c;
        }
    }
  }
  return hover;
}

} // namespace

SeriesPanel::SeriesPanel() = default;

SeriesPanel::~SeriesPanel() = default; // slot_ (declared last) cancels and joins its job first

std::vector<std::string> SeriesPanel::figure_names() {
  return {std::begin(kFigures), std::end(kFigures)};
}

void SeriesPanel::start(std::vector<std::string> paths) {
  if (slot_.running())
    throw_input_error("a series is already being measured (Stop it first)");
  if (paths.empty())
    paths = lines_of(paths_);
  else // the sidebar shows what is measured
    paths_ = std::accumulate(paths.begin(), paths.end(), std::string(),
                             [](std::string a, const std::string& b) { return a + b + "\n"; });
  if (paths.empty())
    throw_input_error("series: give the checkpoints (folders, a glob such as run/checkpoint-*, or "
                      "a parent folder of checkpoints), one per line");
  io::SeriesPlan plan;
  plan.align.matrix = ExpertMatrix(matrix_);
  plan.align.spectral.method = parse_spectral_method(kMethods[method_]);
  if (!layers_.empty())
    plan.align.layers = app::parse_index_list(layers_, "layers");
  plan.tokens = tokens_;
  plan.cache_dir = cache_;
  const std::string record = record_to_.empty() ? temporary_record() : record_to_;

  source_ = record;
  live_ = true;
  total_ = 0;
  follow_ = true;
  cursor_ = 0;
  snapshot_.reset();
  record_.reset();
  data_ = io::SeriesData{};
  heatmap_dirty_ = true;
  ++data_generation_;
  slot_.publish(std::shared_ptr<const Snapshot>());
  auto backend = backend_; // the job keeps it alive even if the user switches device
  slot_.start("series",
              [paths, plan, record, backend](const Progress& p, Published<Snapshot>& out) {
                p(0.0, "opening the checkpoints");
                io::SeriesRun run(paths, plan);
                run.set_backend(backend.get());
                const nlohmann::json extra{{"source", "routerscope gui"}};
                run.record_to(record, extra);
                auto snap = std::make_shared<Snapshot>();
                snap->config = run.record_config(extra).dump();
                snap->identity = run.record_identity();
                snap->total = int(run.checkpoints().size());
                out.publish(std::make_shared<const Snapshot>(*snap));
                while (!run.done()) {
                  const io::SeriesPointResult& d = run.step(p);
                  snap->steps.push_back(d.checkpoint.step);
                  snap->points.push_back(d.layers);
                  out.publish(std::make_shared<const Snapshot>(*snap));
                }
                run.close_record();
              });
}

void SeriesPanel::stop() {
  slot_.cancel();
}

void SeriesPanel::set_record(std::shared_ptr<const RunRecord> record, const std::string& origin) {
  data_ = io::series_data(*record, origin);
  record_ = std::move(record);
  const int c = checkpoints();
  if (follow_)
    cursor_ = std::max(0, c - 1);
  cursor_ = std::clamp(cursor_, 0, std::max(0, c - 1));
  row_ = std::clamp(row_, 0, std::max(0, int(data_.layers.size()) - 1));
  heatmap_dirty_ = true;
  ++data_generation_;
}

void SeriesPanel::show_record(std::shared_ptr<const RunRecord> record, const std::string& path) {
  const io::SeriesData d = io::series_data(*record, path); // BadInput naming the file
  if (d.steps.empty() || d.layers.empty())
    throw_input_error(path + ": the series record holds no checkpoint yet");
  slot_.stop(); // a run of this panel stops here; its record keeps every finished checkpoint
  if (source_ != path || live_) {
    follow_ = true;
    row_ = expert_ = 0;
  }
  live_ = false;
  snapshot_.reset();
  source_ = path;
  // The sidebar shows the record's checkpoints and settings: Start measures them again.
  const auto config = nlohmann::json::parse(record->config, nullptr, false);
  if (config.is_object() && config.contains("checkpoints") && config["checkpoints"].is_array()) {
    paths_.clear();
    for (const auto& c : config["checkpoints"])
      if (c.is_object() && c.contains("argument") && c["argument"].is_string()) {
        paths_ += c["argument"].get<std::string>();
        paths_ += '\n';
      }
    if (config.contains("tokens") && config["tokens"].is_string())
      tokens_ = config["tokens"].get<std::string>();
    for (int i = 0; i < int(std::size(kMatrices)); ++i)
      if (config.value("matrix", std::string()) == kMatrices[i])
        matrix_ = i;
    for (int i = 0; i < int(std::size(kMethods)); ++i)
      if (config.value("method", std::string()) == kMethods[i])
        method_ = i;
  }
  set_record(std::move(record), path);
  total_ = checkpoints();
}

std::string SeriesPanel::poll() {
  if (!pending_error_.empty())
    return std::exchange(pending_error_, std::string());
  if (live_)
    if (auto s = slot_.latest(); s && s != snapshot_) {
      snapshot_ = s;
      total_ = s->total;
      set_record(std::make_shared<const RunRecord>(
                     io::series_record(s->steps, s->points, s->config, s->identity)),
                 source_);
    }
  if (auto st = slot_.poll(); st && st->state == JobState::Failed)
    return "Series failed:\n" + st->error;
  return {};
}

std::string SeriesPanel::status() const {
  if (source_.empty())
    return {};
  const std::string n = std::to_string(checkpoints());
  if (slot_.running())
    return "series: checkpoint " + n + "/" + std::to_string(total_) + " measured  |  record " +
           source_;
  return source_ + ": " + n + " checkpoints";
}

Figure SeriesPanel::figure(const std::string& name) const {
  const auto names = figure_names();
  if (std::find(names.begin(), names.end(), name) == names.end())
    throw_input_error("unknown series figure '" + name + "'");
  if (!record_ || data_.steps.empty())
    throw_input_error("figure " + name +
                      ": no checkpoint yet (open a series record, or give checkpoints in the "
                      "Series view's sidebar and press Start)");
  if (!cached_figure_ || cached_record_ != record_ || cached_name_ != name) {
    cached_figure_ = std::make_shared<const Figure>(io::record_figure(*record_, name));
    cached_record_ = record_;
    cached_name_ = name;
  }
  return *cached_figure_;
}

void SeriesPanel::save_record(const std::string& file) const {
  if (source_.empty() || data_.steps.empty())
    throw_input_error("cannot save the series to " + file + ": no checkpoint yet");
  if (slot_.running())
    throw_input_error("cannot save the series to " + file +
                      ": it is still being measured (wait or Stop)");
  io::copy_replacing(source_, file); // the series record the run wrote or was read from
}

void SeriesPanel::set_cursor(int index) {
  if (index < 0 || index >= checkpoints())
    throw_input_error("series cursor " + std::to_string(index) + " is out of range (" +
                      std::to_string(checkpoints()) + " checkpoints)");
  cursor_ = index;
  follow_ = index == checkpoints() - 1;
  heatmap_dirty_ = true;
}

void SeriesPanel::set_figure(const std::string& name) {
  const auto names = figure_names();
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end())
    throw_input_error("unknown series figure '" + name + "' (expected series-alignment, " +
                      "series-norms or series-load)");
  if (name == "series-load" && !data_.has_load())
    throw_input_error("the series holds no load (measure it with hidden states: tokens)");
  figure_ = int(it - names.begin());
}

void SeriesPanel::select(int layer, int expert) {
  for (int r = 0; r < int(data_.layers.size()); ++r)
    if (data_.layers[std::size_t(r)].layer == layer) {
      const int n = int(data_.layers[std::size_t(r)].at("lambda").cols());
      if (expert < 0 || expert >= n)
        throw_input_error("expert " + std::to_string(expert) + " is out of range for layer " +
                          std::to_string(layer) + " (" + std::to_string(n) + " experts)");
      row_ = r;
      expert_ = expert;
      return;
    }
  throw_input_error("layer " + std::to_string(layer) + " is not in the series" +
                    (source_.empty() ? std::string() : " " + source_));
}

double SeriesPanel::value(const char* name, int row, int expert) const {
  if (row < 0 || row >= int(data_.layers.size()) || cursor_ >= checkpoints())
    return NAN;
  const auto& l = data_.layers[std::size_t(row)];
  if (!l.has(name))
    return NAN;
  const MatrixD& m = l.at(name);
  const Eigen::Index col = m.cols() == 1 ? 0 : expert;
  if (col < 0 || col >= m.cols() || cursor_ >= m.rows())
    return NAN;
  return m(cursor_, col);
}

nlohmann::json SeriesPanel::state() const {
  nlohmann::json j;
  j["running"] = slot_.running();
  j["checkpoints"] = checkpoints();
  j["total"] = total_;
  j["source"] = source_;
  j["cursor"] = cursor_;
  j["step"] = checkpoints() ? data_.steps[std::size_t(cursor_)] : -1.0;
  j["steps"] = data_.steps;
  j["layer"] = data_.layers.empty() ? -1 : data_.layers[std::size_t(row_)].layer;
  j["expert"] = expert_;
  j["metric"] = lambda_ ? "lambda" : "cos";
  j["figure"] = kFigures[figure_];
  const auto [lo, hi] = colour_limits();
  j["heatmap_colour_limits"] = {lo, hi};
  nlohmann::json v;
  for (const char* name :
       {"cos", "lambda", "sigma1", "sigma_ratio", "router_norm", "weight_norm", "load", "maxvio"})
    v[name] = number(value(name, row_, expert_));
  j["values"] = v;
  return j;
}

void SeriesPanel::draw_settings() {
  const float em = ImGui::GetFontSize();
  ImGui::TextDisabled("Checkpoints of one training run, one");
  ImGui::TextDisabled("per line: folders, a glob such as");
  ImGui::TextDisabled("run/checkpoint-*, or a parent folder.");
  ImGui::InputTextMultiline("##spaths", &paths_, ImVec2(-1, em * 5));
  help_tip("checkpoints");
  ImGui::SetNextItemWidth(-1);
  ImGui::InputTextWithHint("##slayers", "layers: every MoE layer (or 0-3,7)", &layers_);
  help_tip("series layers");
  const float w = ImGui::GetContentRegionAvail().x * 0.5f;
  ImGui::SetNextItemWidth(w);
  ImGui::Combo("matrix", &matrix_, kMatrices, int(std::size(kMatrices)));
  help_tip("matrix");
  ImGui::SetNextItemWidth(w);
  ImGui::Combo("method", &method_, kMethods, int(std::size(kMethods)));
  help_tip("method");
  ImGui::SetNextItemWidth(-1);
  ImGui::InputTextWithHint("##stokens", "tokens: none (hidden states .h5 for load)", &tokens_);
  help_tip("load tokens");
  ImGui::SetNextItemWidth(-1);
  ImGui::InputTextWithHint("##scache", "cache folder: none", &cache_);
  help_tip("cache");
  ImGui::SetNextItemWidth(-1);
  ImGui::InputTextWithHint("##srecord", "record to: a temporary .h5 (default)", &record_to_);
  help_tip("record to");
  if (ImGui::Button(slot_.running() ? "Stop" : "Start", ImVec2(em * 5, 0))) {
    if (slot_.running())
      stop();
    else
      try {
        start();
      } catch (const Error& e) {
        pending_error_ = e.what();
      }
  }
}

void SeriesPanel::draw_heatmap(float height) {
  const float em = ImGui::GetFontSize();
  const int rows = int(data_.layers.size());
  int cols = 0;
  for (const auto& l : data_.layers)
    cols = std::max(cols, int(l.at("lambda").cols()));
  if (rows == 0 || cols == 0)
    return;
  if (!heatmap_)
    heatmap_ = std::make_unique<HeatmapRenderer>();
  if (heatmap_dirty_) {
    std::vector<float> values(std::size_t(rows) * std::size_t(cols), NAN);
    for (int r = 0; r < rows; ++r)
      for (int e = 0; e < cols; ++e)
        values[std::size_t(r) * std::size_t(cols) + std::size_t(e)] =
            float(value(lambda_ ? "lambda" : "cos", r, e));
    heatmap_->set_values(rows, cols, values);
    heatmap_dirty_ = false;
  }
  const float label_w = em * 2.6f, avail = ImGui::GetContentRegionAvail().x - label_w;
  const float cell = std::max(2.0f, std::min({avail / cols, (height - em * 1.6f) / rows, em * 3}));
  const float hw = cell * cols, hh = cell * rows;
  const ImVec2 origin = ImGui::GetCursorScreenPos(), p0(origin.x + label_w, origin.y);
  const auto [lo, hi] = colour_limits();
  const unsigned tex = heatmap_->render(int(hw), int(hh), float(lo), float(hi), true);
  ImGui::SetCursorScreenPos(p0);
  ImGui::Image(ImTextureID(std::uintptr_t(tex)), ImVec2(hw, hh), ImVec2(0, 1), ImVec2(1, 0));
  const bool hovered = ImGui::IsItemHovered(), clicked = ImGui::IsItemClicked();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImU32 dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  const ImVec2 s0(p0.x + float(expert_) * cell, p0.y + float(row_) * cell);
  dl->AddRect(ImVec2(s0.x - 1, s0.y - 1), ImVec2(s0.x + cell + 1, s0.y + cell + 1),
              IM_COL32(255, 90, 60, 255), 0, 0, 2.0f);
  const int row_every = std::max(1, int(std::ceil(em * 1.1f / cell)));
  for (int r = 0; r < rows; r += row_every) {
    char s[16];
    std::snprintf(s, sizeof s, "L%d", data_.layers[std::size_t(r)].layer);
    const ImVec2 ts = ImGui::CalcTextSize(s);
    dl->AddText(ImVec2(p0.x - ts.x - em * 0.4f, p0.y + (float(r) + 0.5f) * cell - ts.y * 0.5f), dim,
                s);
  }
  if (hovered) {
    const ImVec2 mp = ImGui::GetIO().MousePos;
    const int c = std::clamp(int((mp.x - p0.x) / cell), 0, cols - 1);
    const int r = std::clamp(int((mp.y - p0.y) / cell), 0, rows - 1);
    ImGui::BeginTooltip();
    ImGui::Text("layer %d, expert %d", data_.layers[std::size_t(r)].layer, c);
    ImGui::Text("|cos| %s   λ %s", sig4(value("cos", r, c)).c_str(),
                sig4(value("lambda", r, c)).c_str());
    ImGui::EndTooltip();
    if (clicked) {
      row_ = r;
      expert_ = c;
    }
  }
  ImGui::SetCursorScreenPos(ImVec2(origin.x, p0.y + hh + em * 0.3f));
  const ColorRange range = screen_view_options().color_range.value_or(ColorRange::Data);
  ImGui::PushTextWrapPos(0.0f); // the column may be narrow: wraps instead of running off
  ImGui::TextDisabled("experts 0–%d; %s colours %.4g to %.4g (%s, all checkpoints)", cols - 1,
                      lambda_ ? "λ" : "|cos|", lo, hi,
                      range == ColorRange::Data     ? "data range"
                      : range == ColorRange::Robust ? "2nd–98th percentile"
                                                    : "fixed 0–1");
  ImGui::PopTextWrapPos();
}

std::pair<double, double> SeriesPanel::colour_limits() const {
  const ColorRange range = screen_view_options().color_range.value_or(ColorRange::Data);
  const std::tuple key{data_generation_, lambda_, int(range)};
  if (key == limits_key_)
    return limits_;
  Heatmap all; // the metric of every layer and expert at every checkpoint
  for (const auto& l : data_.layers)
    if (const char* name = lambda_ ? "lambda" : "cos"; l.has(name)) {
      const MatrixD& m = l.at(name);
      for (Eigen::Index r = 0; r < std::min<Eigen::Index>(m.rows(), checkpoints()); ++r)
        for (Eigen::Index c = 0; c < m.cols(); ++c)
          all.values.push_back(m(r, c));
    }
  limits_ = color_limits(all, range).value_or(std::pair{0.0, 1.0});
  if (!(limits_.second > limits_.first)) // one value: a range around it
    limits_ = {limits_.first - 0.5, limits_.first + 0.5};
  limits_key_ = key;
  return limits_;
}

void SeriesPanel::draw_expert_values() {
  if (data_.layers.empty())
    return;
  const int layer = data_.layers[std::size_t(row_)].layer;
  ImGui::Text("Layer %d, expert %d at step %.15g", layer, expert_,
              data_.steps[std::size_t(cursor_)]);
  if (!ImGui::BeginTable("##sexpert", 2, ImGuiTableFlags_SizingFixedFit))
    return;
  auto row = [](const char* label, double v, bool count = false) { // 4 digits, or a whole count
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    ImGui::TextDisabled("%s", label);
    help_tip(label);
    ImGui::TableNextColumn();
    if (std::isfinite(v))
      ImGui::TextUnformatted(count ? std::to_string(std::llround(v)).c_str() : sig4(v).c_str());
    else
      ImGui::TextDisabled("undefined");
  };
  row("|cos(Rᵢ, u₁)|", value("cos", row_, expert_));
  row("λ", value("lambda", row_, expert_));
  row("σ₁", value("sigma1", row_, expert_));
  row("σ₂/σ₁", value("sigma_ratio", row_, expert_));
  row("‖Rᵢ‖", value("router_norm", row_, expert_));
  row("‖G‖_F", value("weight_norm", row_, expert_));
  if (data_.layers[std::size_t(row_)].has("load")) {
    const MatrixD& load = data_.layers[std::size_t(row_)].at("load");
    const double total = cursor_ < load.rows() ? load.row(cursor_).sum() : 0.0;
    row("load (slots)", value("load", row_, expert_), true);
    row("load share", total > 0 ? value("load", row_, expert_) / total : NAN);
    row("MaxVio (layer)", value("maxvio", row_, expert_));
  }
  ImGui::EndTable();
}

void SeriesPanel::draw(bool dark, TexturePool& textures) {
  (void)dark; // figures keep their paper colours (what you see is what you export)
  const float em = ImGui::GetFontSize();
  const int c = checkpoints();
  if (c == 0) {
    ImGui::Dummy(ImVec2(0, ImGui::GetContentRegionAvail().y * 0.4f));
    ImGui::TextDisabled(
        "%s", slot_.running()
                  ? "Measuring the first checkpoint..."
                  : "Open a series record (File > Open), or give the checkpoints of a run in "
                    "the sidebar and press Start.");
    return;
  }
  ImGui::Text("%d checkpoint%s", c, c == 1 ? "" : "s");
  if (slot_.running()) {
    ImGui::SameLine();
    ImGui::TextDisabled("of %d (measuring)", total_);
  }
  ImGui::SameLine();
  ImGui::TextDisabled("%s", fs::path(source_).filename().string().c_str());
  // Timeline: one stop per checkpoint, labelled by its step.
  char label[96];
  std::snprintf(label, sizeof label, "step %.15g (%d/%d)", data_.steps[std::size_t(cursor_)],
                cursor_ + 1, c);
  ImGui::SetNextItemWidth(-1);
  if (ImGui::SliderInt("##stimeline", &cursor_, 0, c - 1, label, ImGuiSliderFlags_NoInput)) {
    follow_ = cursor_ == c - 1;
    heatmap_dirty_ = true;
  }
  if (!ImGui::BeginTable("##sview", 2, ImGuiTableFlags_Resizable | ImGuiTableFlags_BordersInnerV,
                         ImGui::GetContentRegionAvail()))
    return;
  ImGui::TableSetupColumn("left", ImGuiTableColumnFlags_WidthStretch, 0.38f);
  ImGui::TableSetupColumn("right", ImGuiTableColumnFlags_WidthStretch, 0.62f);
  ImGui::TableNextColumn();
  int m = lambda_ ? 1 : 0;
  ImGui::RadioButton("|cos|", &m, 0);
  help_tip("|cos|");
  ImGui::SameLine();
  ImGui::RadioButton("λ", &m, 1);
  help_tip("λ");
  if ((m == 1) != lambda_) {
    lambda_ = m == 1;
    heatmap_dirty_ = true;
  }
  draw_heatmap(ImGui::GetContentRegionAvail().y * 0.55f);
  ImGui::Spacing();
  draw_expert_values();
  ImGui::TableNextColumn();
  std::vector<const char*> labels;
  const bool load = data_.has_load();
  for (int i = 0; i < int(std::size(kFigures)); ++i)
    if (i < 2 || load)
      labels.push_back(kFigureLabels[i]);
  figure_ = std::clamp(figure_, 0, int(labels.size()) - 1);
  ImGui::SetNextItemWidth(em * 14);
  ImGui::Combo("##sfigure", &figure_, labels.data(), int(labels.size()));
  try {
    const int hover = series_figure_view(figure(kFigures[figure_]), data_.steps, cursor_,
                                         ImGui::GetContentRegionAvail(), textures);
    if (hover >= 0) {
      ImGui::BeginTooltip();
      ImGui::Text("step %.15g (checkpoint %d)", data_.steps[std::size_t(hover)], hover + 1);
      ImGui::EndTooltip();
      if (ImGui::IsMouseClicked(ImGuiMouseButton_Left))
        set_cursor(hover);
    }
  } catch (const Error& e) {
    ImGui::TextDisabled("%s", e.what());
  }
  ImGui::EndTable();
}

} // namespace routerscope::gui
