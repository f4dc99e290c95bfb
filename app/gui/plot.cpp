#include "app/gui/plot.h"

#include "app/gui/heatmap.h"

#include <imgui_internal.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace routerscope::gui {

ImU32 palette_color(int i) {
  static const ImU32 kColors[] = {IM_COL32(0, 114, 178, 255),   IM_COL32(213, 94, 0, 255),
                                  IM_COL32(0, 158, 115, 255),   IM_COL32(230, 159, 0, 255),
                                  IM_COL32(204, 121, 167, 255), IM_COL32(86, 180, 233, 255),
                                  IM_COL32(120, 120, 120, 255), IM_COL32(240, 228, 66, 255)};
  return kColors[((i % 8) + 8) % 8];
}

namespace {

struct Frame {
  ImRect outer, plot;
  double x0 = 0, x1 = 1;
  bool hovered = false;
};

double nice_step(double span, int target) {
  const double raw = span / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw)
      return m * mag;
  return 10 * mag;
}

// Frame, title, zoom/pan on x. Leaves room for y tick labels on the left.
Frame begin_frame(const char* id, const char* title, int count, PlotView& view, ImVec2 size,
                  float left, float top = 1.5f) {
  Frame f;
  ImGui::PushID(id);
  const ImVec2 pos = ImGui::GetCursorScreenPos();
  size.x = std::max(size.x, 80.0f);
  size.y = std::max(size.y, 60.0f);
  ImGui::InvisibleButton("##plot", size);
  f.hovered = ImGui::IsItemHovered();
  const bool active = ImGui::IsItemActive();
  const float em = ImGui::GetFontSize();
  f.outer = ImRect(pos, ImVec2(pos.x + size.x, pos.y + size.y));
  f.plot = ImRect(ImVec2(pos.x + left, pos.y + em * top),
                  ImVec2(pos.x + size.x - em * 0.6f, pos.y + size.y - em * 1.6f));
  const double n = std::max(count - 1, 1);
  if (view.fitted()) {
    f.x0 = 0;
    f.x1 = n;
  } else {
    f.x0 = view.x0;
    f.x1 = view.x1;
  }
  ImGuiIO& io = ImGui::GetIO();
  const double w = f.plot.GetWidth();
  if (f.hovered && io.MouseWheel != 0) {
    const double at = f.x0 + (io.MousePos.x - f.plot.Min.x) / w * (f.x1 - f.x0);
    const double scale = std::pow(0.85, io.MouseWheel);
    f.x0 = at - (at - f.x0) * scale;
    f.x1 = at + (f.x1 - at) * scale;
    view.x0 = f.x0;
    view.x1 = std::max(f.x1, f.x0 + 1.0);
  }
  if (active && ImGui::IsMouseDragging(ImGuiMouseButton_Left)) {
    const double dx = -io.MouseDelta.x / w * (f.x1 - f.x0);
    f.x0 += dx;
    f.x1 += dx;
    view.x0 = f.x0;
    view.x1 = f.x1;
  }
  if (f.hovered && ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left))
    view = PlotView{};
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddRectFilled(f.outer.Min, f.outer.Max, ImGui::GetColorU32(ImGuiCol_FrameBg), 4.0f);
  dl->AddText(ImVec2(f.plot.Min.x, pos.y + em * 0.2f), ImGui::GetColorU32(ImGuiCol_Text), title);
  // x ticks (steps)
  const double step = std::max(1.0, nice_step(f.x1 - f.x0, std::max(2, int(w / (em * 5)))));
  const ImU32 grid = ImGui::GetColorU32(ImGuiCol_Border);
  const ImU32 dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  for (double t = std::ceil(f.x0 / step) * step; t <= f.x1 + 1e-9; t += step) {
    const float x = float(f.plot.Min.x + (t - f.x0) / (f.x1 - f.x0) * w);
    dl->AddLine(ImVec2(x, f.plot.Min.y), ImVec2(x, f.plot.Max.y), grid);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", t);
    const float tw = ImGui::CalcTextSize(buf).x;
    dl->AddText(ImVec2(x - tw * 0.5f, f.plot.Max.y + em * 0.25f), dim, buf);
  }
  return f;
}

float to_x(const Frame& f, double t) {
  return float(f.plot.Min.x + (t - f.x0) / (f.x1 - f.x0) * f.plot.GetWidth());
}

int hovered_step(const Frame& f, int count) {
  if (!f.hovered || count == 0)
    return -1;
  const double t =
      f.x0 + (ImGui::GetIO().MousePos.x - f.plot.Min.x) / f.plot.GetWidth() * (f.x1 - f.x0);
  const int s = int(std::lround(t));
  return s >= 0 && s < count ? s : -1;
}

void draw_marker(const Frame& f, int marker, int hover) {
  ImDrawList* dl = ImGui::GetWindowDrawList();
  if (marker >= 0 && marker >= f.x0 - 0.5 && marker <= f.x1 + 0.5) {
    const float x = to_x(f, marker);
    dl->AddLine(ImVec2(x, f.plot.Min.y), ImVec2(x, f.plot.Max.y), IM_COL32(230, 80, 60, 220), 2.0f);
  }
  if (hover >= 0) {
    const float x = to_x(f, hover);
    dl->AddLine(ImVec2(x, f.plot.Min.y), ImVec2(x, f.plot.Max.y),
                ImGui::GetColorU32(ImGuiCol_Text, 0.5f));
  }
}

} // namespace

int line_plot(const char* id, const char* title, const std::vector<LineSpec>& series, int marker,
              PlotView& view, ImVec2 size, const char* y_format, bool y_from_zero) {
  std::size_t count = 0;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& s : series) {
    count = std::max(count, s.y.size());
    for (double v : s.y)
      if (std::isfinite(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
  }
  if (!std::isfinite(lo)) {
    lo = 0;
    hi = 1;
  }
  if (y_from_zero)
    lo = std::min(lo, 0.0);
  if (hi - lo < 1e-12) {
    hi += 0.5;
    lo -= 0.5;
  }
  const double pad = (hi - lo) * 0.06;
  hi += pad;
  if (!y_from_zero || lo < 0)
    lo -= pad;
  const float em = ImGui::GetFontSize();
  // The legend sits right of the title when both fit on one line, else on a second line.
  float legend_w = 0;
  for (const auto& s : series)
    legend_w += ImGui::CalcTextSize(s.name.c_str()).x + em * 1.6f;
  const float title_w = ImGui::CalcTextSize(title).x;
  const bool two_rows = em * 3.6f + title_w + em * 1.5f + legend_w > size.x - em * 0.6f;
  Frame f = begin_frame(id, title, int(count), view, size, em * 3.6f, two_rows ? 2.7f : 1.5f);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float h = f.plot.GetHeight();
  auto to_y = [&](double v) { return float(f.plot.Max.y - (v - lo) / (hi - lo) * h); };
  // y ticks
  const double ystep = nice_step(hi - lo, std::max(2, int(h / (em * 2.2f))));
  const ImU32 dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  for (double v = std::ceil(lo / ystep) * ystep; v <= hi; v += ystep) {
    const float y = to_y(v);
    dl->AddLine(ImVec2(f.plot.Min.x, y), ImVec2(f.plot.Max.x, y),
                ImGui::GetColorU32(ImGuiCol_Border));
    char buf[32];
    std::snprintf(buf, sizeof buf, y_format, std::abs(v) < ystep * 1e-6 ? 0.0 : v);
    const ImVec2 ts = ImGui::CalcTextSize(buf);
    dl->AddText(ImVec2(f.plot.Min.x - ts.x - em * 0.3f, y - ts.y * 0.5f), dim, buf);
  }
  dl->PushClipRect(f.plot.Min, f.plot.Max, true);
  // One vertex per pixel column: the min-max segment of the samples falling in it.
  const float w = f.plot.GetWidth();
  for (const auto& s : series) {
    const int t0 = std::max(0, int(std::floor(f.x0)));
    const int t1 = std::min(int(s.y.size()) - 1, int(std::ceil(f.x1)));
    if (t1 < t0)
      continue;
    const double per_px = (f.x1 - f.x0) / w;
    std::vector<ImVec2> pts;
    if (per_px <= 1.0) {
      for (int t = t0; t <= t1; ++t) {
        if (!std::isfinite(s.y[t])) {
          if (pts.size() > 1)
            dl->AddPolyline(pts.data(), int(pts.size()), s.color, 0, 2.0f);
          pts.clear();
          continue;
        }
        pts.emplace_back(to_x(f, t), to_y(s.y[t]));
      }
      if (pts.size() > 1)
        dl->AddPolyline(pts.data(), int(pts.size()), s.color, 0, 2.0f);
      if (s.y.size() < 60)
        for (int t = t0; t <= t1; ++t)
          if (std::isfinite(s.y[t]))
            dl->AddCircleFilled(ImVec2(to_x(f, t), to_y(s.y[t])), 2.5f, s.color);
    } else {
      for (int px = 0; px < int(w); ++px) {
        const int a = std::max(t0, int(std::floor(f.x0 + px * per_px)));
        const int b = std::min(t1, int(std::floor(f.x0 + (px + 1) * per_px)));
        double mn = std::numeric_limits<double>::infinity(), mx = -mn;
        for (int t = a; t <= b; ++t)
          if (std::isfinite(s.y[t])) {
            mn = std::min(mn, s.y[t]);
            mx = std::max(mx, s.y[t]);
          }
        if (std::isfinite(mn))
          dl->AddLine(ImVec2(f.plot.Min.x + px, to_y(mn)), ImVec2(f.plot.Min.x + px, to_y(mx) - 1),
                      s.color, 1.5f);
      }
    }
  }
  dl->PopClipRect();
  const int hover = hovered_step(f, int(count));
  draw_marker(f, marker, hover);
  // legend: top right, or the second line
  const float ly = f.outer.Min.y + (two_rows ? em * 1.3f : em * 0.2f);
  float lx = f.plot.Max.x;
  for (int i = int(series.size()) - 1; i >= 0; --i) {
    const ImVec2 ts = ImGui::CalcTextSize(series[i].name.c_str());
    lx -= ts.x + em * 1.6f;
    dl->AddRectFilled(ImVec2(lx, ly + em * 0.35f), ImVec2(lx + em * 0.8f, ly + em * 0.75f),
                      series[i].color);
    dl->AddText(ImVec2(lx + em, ly), ImGui::GetColorU32(ImGuiCol_Text), series[i].name.c_str());
  }
  if (hover >= 0) {
    ImGui::BeginTooltip();
    ImGui::Text("step %d", hover);
    for (const auto& s : series)
      if (hover < int(s.y.size())) {
        ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(s.color), "%s", s.name.c_str());
        ImGui::SameLine();
        ImGui::Text(y_format, s.y[hover]);
      }
    ImGui::EndTooltip();
  }
  ImGui::PopID();
  return hover;
}

int step_heatmap(const char* id, const char* title, const std::vector<std::vector<double>>& columns,
                 int marker, PlotView& view, ImVec2 size, double vmin, double vmax) {
  const float em = ImGui::GetFontSize();
  Frame f = begin_frame(id, title, int(columns.size()), view, size, em * 3.6f);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const int rows = columns.empty() ? 0 : int(columns.front().size());
  const ImU32 dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  if (rows > 0) {
    const float h = f.plot.GetHeight() / rows;
    dl->PushClipRect(f.plot.Min, f.plot.Max, true);
    const int t0 = std::max(0, int(std::floor(f.x0 - 0.5)));
    const int t1 = std::min(int(columns.size()) - 1, int(std::ceil(f.x1 + 0.5)));
    const double span = std::max(vmax - vmin, 1e-12);
    // Skip steps that would land on the same pixel column.
    const double per_px = (f.x1 - f.x0) / f.plot.GetWidth();
    const int stride = std::max(1, int(per_px));
    for (int t = t0; t <= t1; t += stride) {
      const float xa = to_x(f, t - 0.5), xb = to_x(f, t - 0.5 + stride);
      for (int i = 0; i < rows && i < int(columns[t].size()); ++i) {
        const float y = f.plot.Min.y + i * h;
        dl->AddRectFilled(ImVec2(xa, y), ImVec2(xb + 0.5f, y + h + 0.5f),
                          viridis_color((columns[t][i] - vmin) / span));
      }
    }
    dl->PopClipRect();
    for (int i = 0; i < rows; i += std::max(1, rows / 6)) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "e%d", i);
      const ImVec2 ts = ImGui::CalcTextSize(buf);
      dl->AddText(
          ImVec2(f.plot.Min.x - ts.x - em * 0.3f, f.plot.Min.y + (i + 0.5f) * h - ts.y * 0.5f), dim,
          buf);
    }
  }
  const int hover = hovered_step(f, int(columns.size()));
  draw_marker(f, marker, hover);
  if (hover >= 0 && rows > 0) {
    const int i = std::clamp(
        int((ImGui::GetIO().MousePos.y - f.plot.Min.y) / f.plot.GetHeight() * rows), 0, rows - 1);
    ImGui::SetTooltip("step %d, expert %d\nload share %.4f", hover, i, columns[hover][i]);
  }
  ImGui::PopID();
  return hover;
}

} // namespace routerscope::gui
