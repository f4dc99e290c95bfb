#include "app/gui/model_panel.h"

#include "app/gui/figure_view.h"
#include "app/gui/help_text.h"
#include "app/gui/widgets.h"
#include "core/error.h"
#include "core/figure_builders.h"
#include "core/figure_layout.h"
#include "core/number_format.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

namespace routerscope::gui {

namespace fs = std::filesystem;

ModelPanel::ModelPanel() : heatmap_(std::make_unique<HeatmapRenderer>()) {}

ModelPanel::~ModelPanel() = default; // slot_ (declared last) cancels and joins the open first

void ModelPanel::open(const std::string& path, ExpertMatrix matrix,
                      std::shared_ptr<const ComputeBackend> backend) {
  slot_.stop(); // cancels and joins the previous open
  opening_path_ = path;
  const std::string p = path;
  const bool record = p.size() > 3 && p.compare(p.size() - 3, 3, ".h5") == 0;
  slot_.publish(nullptr);
  // The job keeps its backend alive even if the user switches device.
  slot_.start("open " + path, [p, matrix, record, backend](const Progress& pr,
                                                           Published<OpenResult>& out) {
    if (!record) {
      out.publish(OpenResult{open_and_align(p, matrix, pr, backend.get()), nullptr});
      return;
    }
    // A run record replays on the checkpoint it was recorded on.
    auto replay = std::make_shared<const Replay>(read_replay(p));
    if (replay->pretraining || replay->series) { // their own views; no checkpoint to open
      out.publish(OpenResult{nullptr, replay});
      return;
    }
    if (!fs::exists(replay->checkpoint))
      throw_input_error(p + ": the recorded checkpoint " + replay->checkpoint +
                        " is not found (replay needs it for the model view)");
    out.publish(OpenResult{open_and_align(replay->checkpoint, matrix, pr, backend.get()), replay});
  });
}

std::optional<ModelPanel::Opened> ModelPanel::poll() {
  auto s = slot_.poll();
  if (!s)
    return std::nullopt;
  Opened o{*s, nullptr, nullptr};
  if (auto r = slot_.latest()) {
    o.model = r->model;
    o.replay = r->replay;
  }
  return o;
}

void ModelPanel::show(std::shared_ptr<const OpenedModel> model) {
  model_ = std::move(model);
  sel_row_ = 0;
  sel_expert_ = 0;
  heatmap_dirty_ = true;
}

bool ModelPanel::select(int layer, int expert) {
  if (!model_)
    throw_input_error("select: no model is open");
  for (int r = 0; r < int(model_->alignment.size()); ++r)
    if (model_->alignment[r].layer == layer) {
      const int n = int(model_->alignment[r].experts.size());
      if (expert < 0 || expert >= n)
        throw_input_error("expert " + std::to_string(expert) + " is out of range for layer " +
                          std::to_string(layer) + " (" + std::to_string(n) + " experts)");
      const bool layer_changed = r != sel_row_;
      sel_row_ = r;
      sel_expert_ = expert;
      return layer_changed;
    }
  throw_input_error("layer " + std::to_string(layer) + " is not an MoE layer of " + model_->path);
}

void ModelPanel::select_layer(int layer) {
  if (model_)
    for (int r = 0; r < int(model_->alignment.size()); ++r)
      if (model_->alignment[r].layer == layer)
        sel_row_ = r;
}

const LayerAlignment* ModelPanel::selected_layer() const {
  if (!model_ || model_->alignment.empty())
    return nullptr;
  return &model_->alignment[std::clamp(sel_row_, 0, int(model_->alignment.size()) - 1)];
}

void ModelPanel::state(nlohmann::json& j) const {
  j["opened_path"] = model_ ? model_->path : "";
  j["metric"] = name_of(kMetricNames, metric_);
  j["heatmap_colour_limits"] = {colour_limits_.first, colour_limits_.second};
  const LayerAlignment* la = selected_layer();
  j["selected_layer"] = la ? la->layer : -1;
  j["selected_expert"] = la ? sel_expert_ : -1;
  if (model_) {
    j["family"] = model_->info.family;
    j["layout"] = model_->info.layout;
    j["moe_layers"] = model_->grid_rows;
    j["experts"] = model_->grid_cols;
  }
}

Figure ModelPanel::heatmap_figure() const {
  if (!model_)
    throw_input_error("export heatmap: no model is open");
  AlignmentGrid grid;
  for (const auto& la : model_->alignment)
    grid.layers.push_back(la.layer);
  grid.experts = model_->grid_cols;
  const auto& values = metric_ == Metric::Cos ? model_->cos_grid : model_->lambda_grid;
  grid.values.assign(values.begin(), values.end());
  grid.quantity = metric_ == Metric::Cos ? "|cos(Rᵢ, u₁)|" : "λ (Eq. 11)";
  Figure f = alignment_heatmap(grid);
  f.title = fs::path(model_->path).filename().string() + ": router–expert alignment (" +
            std::string(to_string(model_->matrix)) + ")";
  return f;
}

std::optional<ModelPanel::Pick> ModelPanel::draw_sidebar(bool summary) {
  std::optional<Pick> pick;
  if (!model_) {
    section("No model");
    ImGui::TextWrapped("Opening runs in the background; the window keeps drawing.");
    return pick;
  }
  const ModelInfo& info = model_->info;
  section("Model");
  if (ImGui::BeginTable("##info", 2, ImGuiTableFlags_SizingFixedFit)) {
    label_value("path", fs::path(model_->path).filename().string());
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("%s", model_->path.c_str());
    label_value("family", info.family.empty() ? "?" : info.family);
    label_value("layout", info.layout);
    const auto moe = info.moe_layers();
    label_value("layers",
                std::to_string(info.layers.size()) + " (" + std::to_string(moe.size()) + " MoE)");
    if (!moe.empty()) {
      const LayerInfo& l = info.layer(moe.front());
      label_value("experts",
                  std::to_string(l.experts) +
                      (l.top_k ? ", top-" + std::to_string(*l.top_k) : std::string()) +
                      (l.shared_experts ? ", " + std::to_string(l.shared_experts) + " shared"
                                        : std::string()));
      label_value("shapes",
                  "D " + std::to_string(info.d_model) + ", d " + std::to_string(l.d_expert));
    }
    std::string dtypes;
    for (const auto& d : info.dtypes)
      dtypes += (dtypes.empty() ? "" : ", ") + d;
    label_value("dtypes", dtypes);
    label_value("size", binary_bytes(info.bytes_on_disk));
    label_value("matrix", std::string(to_string(model_->matrix)));
    ImGui::EndTable();
  }
  section("Selection (the checkpoint's router)");
  const LayerAlignment* la = selected_layer();
  int layer_index = sel_row_;
  const float w = ImGui::GetContentRegionAvail().x * 0.55f;
  ImGui::SetNextItemWidth(w);
  char layer_label[32];
  std::snprintf(layer_label, sizeof layer_label, "L%d", la->layer);
  if (ImGui::SliderInt("layer", &layer_index, 0, int(model_->alignment.size()) - 1, layer_label))
    pick = Pick{model_->alignment[layer_index].layer,
                std::min(sel_expert_, int(model_->alignment[layer_index].experts.size()) - 1)};
  help_tip("layer");
  int e = sel_expert_;
  ImGui::SetNextItemWidth(w);
  if (ImGui::SliderInt("expert", &e, 0, int(la->experts.size()) - 1))
    pick = Pick{la->layer, e};
  help_tip("expert");
  if (sel_expert_ < int(la->experts.size())) {
    const ExpertAlignment& x = la->experts[sel_expert_];
    if (ImGui::BeginTable("##sel", 2, ImGuiTableFlags_SizingFixedFit)) {
      label_value("|cos(Rᵢ, u₁)|", sig4(x.cos));
      label_value("λ", sig4(x.lambda));
      label_value("σ₂/σ₁", sig4(x.gap_ratio));
      label_value("‖Rᵢ‖", sig4(x.router_norm));
      label_value("status", std::string(to_string(x.status)));
      ImGui::EndTable();
    }
  }
  if (summary)
    section("Layer summary");
  if (summary &&
      ImGui::BeginTable("##sum", 3, ImGuiTableFlags_SizingStretchSame | ImGuiTableFlags_RowBg)) {
    ImGui::TableSetupColumn("");
    ImGui::TableSetupColumn("mean");
    ImGui::TableSetupColumn("p95");
    ImGui::TableHeadersRow();
    auto row = [](const char* name, const Summary& s) {
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      ImGui::TextDisabled("%s", name);
      help_tip(name);
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(sig4(s.mean).c_str());
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(sig4(s.p95).c_str());
    };
    row("|cos|", la->cos);
    row("λ", la->lambda);
    row("σ₂/σ₁", la->gap_ratio);
    ImGui::EndTable();
  }
  return pick;
}

std::optional<ModelPanel::Pick> ModelPanel::draw() {
  std::optional<Pick> pick;
  const float em = ImGui::GetFontSize();
  const int rows = model_->grid_rows, cols = model_->grid_cols;
  if (rows == 0 || cols == 0) {
    ImGui::TextDisabled("No MoE layer to show.");
    return pick;
  }
  int m = int(metric_);
  ImGui::TextUnformatted("Router-expert alignment");
  ImGui::SameLine();
  ImGui::SetCursorPosX(ImGui::GetCursorPosX() + em);
  ImGui::RadioButton("|cos(Rᵢ, u₁)|", &m, 0);
  help_tip("|cos(Rᵢ, u₁)|");
  ImGui::SameLine();
  ImGui::RadioButton("λ (Eq. 11)", &m, 1);
  help_tip("λ (Eq. 11)");
  if (m != int(metric_))
    set_metric(Metric(m));
  if (heatmap_dirty_) {
    heatmap_->set_values(rows, cols,
                         metric_ == Metric::Cos ? model_->cos_grid : model_->lambda_grid);
    heatmap_dirty_ = false;
  }
  // Heatmap area: y labels on the left, colour bar on the right, x labels below.
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float label_w = em * 3.2f, bar_w = em * 4.5f, xlabel_h = em * 2.6f;
  // The heatmap takes up to 60% of the height; the per-layer table fills the rest.
  const float table_h =
      std::min(avail.y * 0.4f, ImGui::GetFrameHeightWithSpacing() * (rows + 2.5f));
  const float max_w = avail.x - label_w - bar_w, max_h = avail.y - xlabel_h - em * 1.7f - table_h;
  // Cells fill the space (rows the height, columns the width), up to 3 em tall and 4 em wide.
  const float cw = std::max(2.0f, std::min(max_w / cols, em * 4.0f));
  const float ch = std::max(2.0f, std::min(max_h / rows, em * 3.0f));
  const float hw = cw * cols, hh = ch * rows;
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const ImVec2 p0(origin.x + label_w, origin.y + em * 1.2f);
  // Colours over the range View ▸ Heatmap colours chooses (the data's min–max by default), the
  // range the export of "heatmap" uses too.
  {
    Heatmap values;
    const auto& g = metric_ == Metric::Cos ? model_->cos_grid : model_->lambda_grid;
    values.values.assign(g.begin(), g.end());
    colour_limits_ =
        color_limits(values, screen_view_options().color_range.value_or(ColorRange::Data))
            .value_or(std::pair{0.0, 1.0});
    if (!(colour_limits_.second > colour_limits_.first)) // one value: a range around it
      colour_limits_ = {colour_limits_.first - 0.5, colour_limits_.first + 0.5};
  }
  const auto [lo, hi] = colour_limits_;
  const unsigned tex = heatmap_->render(int(hw), int(hh), float(lo), float(hi), true);
  ImGui::SetCursorScreenPos(p0);
  ImGui::Image(ImTextureID(std::uintptr_t(tex)), ImVec2(hw, hh), ImVec2(0, 1), ImVec2(1, 0));
  const bool hovered = ImGui::IsItemHovered();
  const bool clicked = ImGui::IsItemClicked();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text),
              dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  // Selection outline.
  const ImVec2 s0(p0.x + sel_expert_ * cw, p0.y + sel_row_ * ch);
  dl->AddRect(ImVec2(s0.x - 1, s0.y - 1), ImVec2(s0.x + cw + 1, s0.y + ch + 1),
              IM_COL32(255, 90, 60, 255), 0, 0, 2.0f);
  // Row labels (layers) and column labels (experts), thinned to stay readable.
  const int row_every = std::max(1, int(std::ceil(em * 1.1f / ch)));
  for (int r = 0; r < rows; r += row_every) {
    char s[16];
    std::snprintf(s, sizeof s, "L%d", model_->alignment[r].layer);
    const ImVec2 ts = ImGui::CalcTextSize(s);
    dl->AddText(ImVec2(p0.x - ts.x - em * 0.4f, p0.y + (r + 0.5f) * ch - ts.y * 0.5f), dim, s);
  }
  const int col_every = std::max(1, int(std::ceil(em * 2.2f / cw)));
  for (int c = 0; c < cols; c += col_every) {
    const std::string s = std::to_string(c);
    const ImVec2 ts = ImGui::CalcTextSize(s.c_str());
    dl->AddText(ImVec2(p0.x + (c + 0.5f) * cw - ts.x * 0.5f, p0.y + hh + em * 0.2f), dim,
                s.c_str());
  }
  const char* yl = "layer";
  dl->AddText(ImVec2(p0.x - ImGui::CalcTextSize(yl).x - em * 0.4f, p0.y - em * 1.15f), dim, yl);
  const char* xl = "expert";
  dl->AddText(ImVec2(p0.x + hw * 0.5f - ImGui::CalcTextSize(xl).x * 0.5f, p0.y + hh + em * 1.3f),
              dim, xl);
  // Colour bar.
  const ImVec2 b0(p0.x + hw + em * 1.0f, p0.y);
  const float bw = em * 0.9f;
  const int steps = 64;
  for (int i = 0; i < steps; ++i) {
    const float y0 = b0.y + hh * (1.0f - float(i + 1) / steps),
                y1 = b0.y + hh * (1.0f - float(i) / steps);
    dl->AddRectFilled(ImVec2(b0.x, y0), ImVec2(b0.x + bw, y1 + 0.5f),
                      viridis_color((i + 0.5) / steps));
  }
  dl->AddRect(b0, ImVec2(b0.x + bw, b0.y + hh), dim);
  const char* bar_title = metric_ == Metric::Cos ? "|cos|" : "λ";
  dl->AddText(ImVec2(b0.x, p0.y - em * 1.15f), text, bar_title);
  for (double v : nice_ticks(lo, hi, std::max(2, int(hh / (em * 2.5f)))).values) {
    if (v < lo - 1e-12 * (hi - lo) || v > hi + 1e-12 * (hi - lo))
      continue;
    const std::string s = fmt("%.3g", v);
    const float y = b0.y + hh * float(1.0 - (v - lo) / (hi - lo));
    dl->AddLine(ImVec2(b0.x + bw, y), ImVec2(b0.x + bw + em * 0.3f, y), dim);
    dl->AddText(ImVec2(b0.x + bw + em * 0.4f, y - em * 0.5f), text, s.c_str());
  }
  // Hover read-out and click to select.
  if (hovered) {
    const ImVec2 mp = ImGui::GetIO().MousePos;
    const int c = std::clamp(int((mp.x - p0.x) / cw), 0, cols - 1);
    const int r = std::clamp(int((mp.y - p0.y) / ch), 0, rows - 1);
    const LayerAlignment& la = model_->alignment[r];
    ImGui::BeginTooltip();
    ImGui::Text("layer %d, expert %d", la.layer, c);
    if (c < int(la.experts.size())) {
      const ExpertAlignment& x = la.experts[c];
      ImGui::Text("|cos| %s   λ %s", sig4(x.cos).c_str(), sig4(x.lambda).c_str());
      ImGui::Text("σ₂/σ₁ %s   ‖Rᵢ‖ %s", sig4(x.gap_ratio).c_str(), sig4(x.router_norm).c_str());
      if (x.status != DirectionStatus::Ok)
        ImGui::TextDisabled("direction: %s", std::string(to_string(x.status)).c_str());
    }
    ImGui::EndTooltip();
    if (clicked && c < int(la.experts.size()))
      pick = Pick{la.layer, c};
  }
  ImGui::SetCursorScreenPos(ImVec2(origin.x, p0.y + hh + xlabel_h));
  // Per-layer summary over the experts whose direction is defined.
  const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH |
                                ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingStretchSame;
  if (ImGui::BeginTable("##layers", 9, flags, ImVec2(0, ImGui::GetContentRegionAvail().y))) {
    ImGui::TableSetupScrollFreeze(0, 1);
    for (const char* h : {"layer", "experts", "mean |cos|", "p95 |cos|", "max |cos|", "mean λ",
                          "mean σ₂/σ₁", "mean ‖Rᵢ‖", "undefined u₁"})
      ImGui::TableSetupColumn(h);
    ImGui::TableHeadersRow();
    for (int r = 0; r < rows; ++r) {
      const LayerAlignment& la = model_->alignment[r];
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      char label[32];
      std::snprintf(label, sizeof label, "L%d", la.layer);
      if (ImGui::Selectable(label, r == sel_row_, ImGuiSelectableFlags_SpanAllColumns))
        pick = Pick{la.layer, std::min(sel_expert_, int(la.experts.size()) - 1)};
      ImGui::TableNextColumn();
      ImGui::Text("%d", int(la.experts.size()));
      for (double v : {la.cos.mean, la.cos.p95, la.cos.max, la.lambda.mean, la.gap_ratio.mean,
                       la.router_norm.mean}) {
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(sig4(v).c_str());
      }
      ImGui::TableNextColumn();
      ImGui::Text("%d", int(la.experts.size()) - la.cos.count);
    }
    ImGui::EndTable();
  }
  return pick;
}

} // namespace routerscope::gui
