#include "app/gui/figure_view.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace routerscope::gui {

ViewOptions& screen_view_options() {
  static ViewOptions options;
  return options;
}

ViewOptions PlotView::options(ViewOptions options) const {
  if (!fitted())
    options.x_range = std::pair{x0, x1};
  if (!y_fitted())
    options.y_range = std::pair{y0, y1};
  return options;
}

std::vector<ScreenFigureText>& screen_figure_text() {
  static std::vector<ScreenFigureText> text;
  return text;
}

int figure_view(const char* id, Figure figure, int count, int marker, PlotView& view, ImVec2 size,
                bool dark, TexturePool& textures) {
  {
    // The screen's options and y zoom; the x zoom only sets the limits below (the data stays,
    // so lines run to the panel's edges).
    ViewOptions options = screen_view_options();
    if (!view.y_fitted())
      options.y_range = std::pair{view.y0, view.y1};
    Figure viewed = figure;
    try {
      apply_view_options(viewed, options);
    } catch (const Error&) { // a y zoom the figure cannot show (≤ 0 on a log axis): dropped
      view.y0 = view.y1 = 0;
      options.y_range.reset();
      apply_view_options(viewed = figure, options);
    }
    figure = std::move(viewed);
  }
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
  const std::vector<PanelFrame> frames = draw_figure(figure, canvas, layout);
  screen_figure_text().push_back(
      {id, ImRect(pos, ImVec2(pos.x + size.x, pos.y + size.y)), canvas.text_boxes()});

  int hover = -1;
  if (!canvas.clip_rects().empty()) {
    const ImRect plot = canvas.clip_rects().front();
    const float w = std::max(plot.GetWidth(), 1.0f);
    ImGuiIO& io = ImGui::GetIO();
    auto step_at = [&](float px) { return x0 + (px - plot.Min.x) / w * (x1 - x0); };
    if (hovered && io.MouseWheel != 0 && io.KeyShift && frames.size() == 1) {
      // Shift+wheel: y zoom about the mouse, in the axis's own (linear or log) coordinates.
      const PanelFrame& f = frames.front();
      const double s = std::pow(0.85, io.MouseWheel);
      auto to_axis = [&](double v) { return f.y_log ? std::log10(v) : v; };
      auto from_axis = [&](double v) { return f.y_log ? std::pow(10.0, v) : v; };
      const Point at_pt{(io.MousePos.x - pos.x) / k, (io.MousePos.y - pos.y) / k};
      const double at = to_axis(canvas_to_data(f, at_pt).y);
      const double lo = to_axis(f.y_lo), hi = to_axis(f.y_hi);
      view.y0 = from_axis(at - (at - lo) * s);
      view.y1 = from_axis(at + (hi - at) * s);
    } else if (hovered && io.MouseWheel != 0) {
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
