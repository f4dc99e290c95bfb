#pragma once
// Interactive step plots drawn with ImDrawList: lines over MPI steps and a load heatmap over time,
// with mouse-wheel zoom and drag pan on the step axis, a hover read-out and a marker at the
// timeline position. Per-pixel min/max decimation keeps long histories cheap.
#include <imgui.h>

#include <string>
#include <vector>

namespace routerscope::gui {

// Visible step range; empty (x1 <= x0) means "fit all data".
struct PlotView {
  double x0 = 0, x1 = 0;
  bool fitted() const { return x1 <= x0; }
};

struct LineSpec {
  std::string name;
  std::vector<double> y; // y[t] at step t; NaN leaves a gap
  ImU32 color = 0;
};

// Okabe–Ito colour-blind-safe palette entry `i` (wraps around), as ImU32.
ImU32 palette_color(int i);

// Draws a line plot filling `size`; returns the step under the mouse (or -1). `marker` draws a
// vertical line at that step (the timeline position); `y_format` is a printf format for values.
int line_plot(const char* id, const char* title, const std::vector<LineSpec>& series, int marker,
              PlotView& view, ImVec2 size, const char* y_format, bool y_from_zero);

// Heatmap with steps on x and experts on y (columns[t][i] = value of expert i at step t), coloured
// by viridis over [vmin, vmax]; returns the step under the mouse (or -1).
int step_heatmap(const char* id, const char* title, const std::vector<std::vector<double>>& columns,
                 int marker, PlotView& view, ImVec2 size, double vmin, double vmax);

} // namespace routerscope::gui
