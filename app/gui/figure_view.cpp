#include "app/gui/figure_view.h"

#include <algorithm>
#include <cmath>

namespace routerscope::gui {

ViewOptions& screen_view_options() {
  static ViewOptions options;
  return options;
}

int figure_view(const char* id, Figure figure, int count, int marker, PlotView& view, ImVec2 size,
                bool dark, TexturePool& textures) {
  apply_view_options(figure, screen_view_options());
  ImGui::PushID(id);
  const ImVec2 pos = ImGui::GetCursorScreenPos();
  size.x = std::max(size.x, 120.0f);
  size.y = std::max(size.y, 90.0f);
  ImGui::InvisibleButton("##figure", size);
  const bool hovered = ImGui::IsItemHovered(), active = ImGui::IsItemActive();
  const double last = std::max(count - 1, 1);
  double x0 = view.fitted() ? 0.0 : view.x0, x1 = view.fitted() ? last : view.x1;
  for (auto& panel : figure.panels) {
    panel.x.min = x0;
    panel.x.max = x1;
  }
  // The figure keeps its paper colours in both themes (what you see is what you export); in the
  // dark theme it reads as a white card.
  (void)dark;
  // 1 pt = em/9 px: the figure's 9 pt labels come out at the UI font size.
  const double k = ImGui::GetFontSize() / 9.0;
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddRectFilled(pos, ImVec2(pos.x + size.x, pos.y + size.y),
                    ImGui::GetColorU32(dark ? ImGuiCol_ChildBg : ImGuiCol_WindowBg), 4.0f);
  ImGuiCanvas canvas(dl, pos, k, textures);
  LayoutOptions layout;
  layout.width = size.x / k;
  layout.height = size.y / k;
  layout.pixels_per_point = k;
  figure.width = layout.width;
  figure.height = layout.height;
  draw_figure(figure, canvas, layout);

  int hover = -1;
  if (!canvas.clip_rects().empty()) {
    const ImRect plot = canvas.clip_rects().front();
    const float w = std::max(plot.GetWidth(), 1.0f);
    ImGuiIO& io = ImGui::GetIO();
    auto step_at = [&](float px) { return x0 + (px - plot.Min.x) / w * (x1 - x0); };
    if (hovered && io.MouseWheel != 0) {
      const double at = step_at(io.MousePos.x), s = std::pow(0.85, io.MouseWheel);
      view.x0 = at - (at - x0) * s;
      view.x1 = std::max(at + (x1 - at) * s, view.x0 + 2.0);
    }
    if (active && ImGui::IsMouseDragging(ImGuiMouseButton_Left)) {
      const double dx = -io.MouseDelta.x / w * (x1 - x0);
      view.x0 = x0 + dx;
      view.x1 = x1 + dx;
    }
    if (hovered && ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left))
      view = PlotView{};
    if (hovered && io.MousePos.x >= plot.Min.x && io.MousePos.x <= plot.Max.x) {
      const int s = int(std::lround(step_at(io.MousePos.x)));
      if (s >= 0 && s < count)
        hover = s;
    }
    for (const ImRect& r : canvas.clip_rects()) {
      auto line = [&](int step, ImU32 color, float width) {
        if (step < x0 - 0.5 || step > x1 + 0.5)
          return;
        const float x = float(r.Min.x + (step - x0) / (x1 - x0) * r.GetWidth());
        dl->AddLine(ImVec2(x, r.Min.y), ImVec2(x, r.Max.y), color, width);
      };
      if (marker >= 0)
        line(marker, IM_COL32(230, 80, 60, 230), 2.0f);
      if (hover >= 0)
        line(hover, ImGui::GetColorU32(ImGuiCol_Text, 0.45f), 1.0f);
    }
  }
  ImGui::PopID();
  return hover;
}

} // namespace routerscope::gui
