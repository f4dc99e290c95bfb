#include "app/gui/expert_panel.h"
#include "core/number_format.h"

#include "app/gui/widgets.h"

#include <imgui.h>

#include <algorithm>
#include <cstdio>
#include <vector>

namespace routerscope::gui {

void ExpertPanel::start(const ModelContext& ctx) {
  if (!ctx.model || ctx.model->alignment.empty())
    return;
  slot_.stop();
  auto model = ctx.model;
  const int layer = ctx.layer, expert = ctx.expert;
  slot_.start("expert", [model, layer, expert](const Progress& p, Published<ExpertDetail>& out) {
    out.publish(expert_detail(*model->model, layer, expert, model->matrix, 8, p));
  });
}

std::string ExpertPanel::poll() {
  const auto s = slot_.poll();
  if (s && s->state == JobState::Succeeded)
    detail_ = slot_.latest();
  else if (s && s->state == JobState::Failed)
    return "Expert analysis failed:\n" + s->error;
  return "";
}

void ExpertPanel::state(nlohmann::json& j) const {
  if (detail_) {
    j["expert_detail"] = {{"layer", detail_->layer},
                          {"expert", detail_->expert},
                          {"non_finite", detail_->non_finite},
                          {"sigma", detail_->sigma},
                          {"projection", detail_->projection}};
  }
}

void ExpertPanel::draw(const ModelContext& ctx, const LayerAlignment& layer) {
  const LayerAlignment* la = &layer;
  const float em = ImGui::GetFontSize();
  ImGui::Text("Layer %d, expert %d", la->layer, ctx.expert);
  ImGui::SameLine();
  ImGui::TextDisabled("(%s matrix)", std::string(to_string(ctx.model->matrix)).c_str());
  if (!detail_ || detail_->layer != la->layer || detail_->expert != ctx.expert) {
    ImGui::TextDisabled(slot_.running() ? "Computing the singular values..." : "No detail yet.");
    return;
  }
  const ExpertDetail& d = *detail_;
  const ExpertAlignment& x = la->experts[ctx.expert];
  if (!d.non_finite.empty()) {
    section("Spectrum of G");
    ImGui::TextColored(ImVec4(0.84f, 0.37f, 0.0f, 1.0f), "non-finite %s", d.non_finite.c_str());
    ImGui::TextWrapped("The expert's %s hold NaN or Inf: it has no singular values, principal "
                       "direction or projections.",
                       d.non_finite == "weights" ? "weights (G)" : "router row");
    return;
  }
  if (ImGui::BeginTable("##expert", 2, ImGuiTableFlags_Resizable | ImGuiTableFlags_BordersInnerV)) {
    ImGui::TableNextColumn();
    section("Spectrum of G (leading singular values)");
    if (ImGui::BeginTable("##sv", 4, ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingStretchSame)) {
      ImGui::TableSetupColumn("j");
      ImGui::TableSetupColumn("σⱼ");
      ImGui::TableSetupColumn("σⱼ/σ₁");
      ImGui::TableSetupColumn("(vⱼ·r)/‖r‖");
      ImGui::TableHeadersRow();
      for (std::size_t j = 0; j < d.sigma.size(); ++j) {
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        ImGui::Text("%zu", j + 1);
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(sig4(d.sigma[j]).c_str());
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(sig4(d.sigma[j] / d.sigma[0]).c_str());
        ImGui::TableNextColumn();
        ImGui::Text("%s%s", d.projection[j] >= 0 ? "+" : "", sig4(d.projection[j]).c_str());
      }
      ImGui::EndTable();
    }
    section("Alignment");
    if (ImGui::BeginTable("##al", 2, ImGuiTableFlags_SizingFixedFit)) {
      char shape[48];
      std::snprintf(shape, sizeof shape, "[%d, %d]", d.d, d.d_model);
      label_value("G shape", shape);
      label_value("σ₁", sig4(x.sigma1));
      label_value("σ₂/σ₁", sig4(x.gap_ratio));
      label_value("|cos(Rᵢ, u₁)|", sig4(x.cos));
      label_value("λ", sig4(x.lambda));
      label_value("‖Rᵢ‖", sig4(d.router_norm));
      double rest = 1.0;
      for (double p : d.projection)
        rest -= p * p;
      label_value("‖r‖² share outside v₁..v₈", sig4(std::max(0.0, rest)));
      ImGui::EndTable();
    }
    ImGui::TableNextColumn();
    // Bars: σ_j/σ_1 and the squared projections of the router row.
    auto bars = [&](const char* title, const std::vector<double>& v, ImU32 color) {
      section(title);
      ImDrawList* dl = ImGui::GetWindowDrawList();
      const float w = ImGui::GetContentRegionAvail().x, h = em * 1.35f;
      for (std::size_t j = 0; j < v.size(); ++j) {
        const ImVec2 p = ImGui::GetCursorScreenPos();
        const float lw = em * 2.5f;
        char name[32];
        std::snprintf(name, sizeof name, "v%zu", j + 1);
        dl->AddText(ImVec2(p.x, p.y), ImGui::GetColorU32(ImGuiCol_TextDisabled), name);
        const float bw = float(std::clamp(v[j], 0.0, 1.0)) * (w - lw - em * 4.5f);
        dl->AddRectFilled(ImVec2(p.x + lw, p.y + 2), ImVec2(p.x + lw + bw, p.y + h - 3), color, 2);
        dl->AddText(ImVec2(p.x + lw + bw + em * 0.4f, p.y), ImGui::GetColorU32(ImGuiCol_Text),
                    sig4(v[j]).c_str());
        ImGui::Dummy(ImVec2(w, h));
      }
    };
    std::vector<double> ratio, energy;
    for (std::size_t j = 0; j < d.sigma.size(); ++j) {
      ratio.push_back(d.sigma[j] / d.sigma[0]);
      energy.push_back(d.projection[j] * d.projection[j]);
    }
    bars("σⱼ / σ₁", ratio, ImGui::ColorConvertFloat4ToU32(ImVec4(0.0f, 0.45f, 0.70f, 1.0f)));
    bars("share of ‖r‖² along vⱼ", energy,
         ImGui::ColorConvertFloat4ToU32(ImVec4(0.84f, 0.37f, 0.0f, 1.0f)));
    ImGui::EndTable();
  }
}

} // namespace routerscope::gui
