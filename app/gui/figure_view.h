#pragma once
// An interactive view of a figure model (core/figure.h) drawn through ImGuiCanvas: mouse-wheel
// zoom and drag pan on the step axis, Shift+wheel zoom on y (figures of one panel; double-click
// resets both), a hover line whose step is returned, and a marker at the timeline position. The
// figure is the one the export writes, zoomed as the screen shows it (PlotView::options).
#include "app/gui/imgui_canvas.h"
#include "core/figure.h"
#include "core/figure_options.h"

#include <imgui.h>

#include <string>
#include <vector>

namespace routerscope::gui {

// Visible step range; empty (x1 <= x0) means "fit all steps". Visible y range of every panel;
// empty (y1 <= y0) means "from the data".
struct PlotView {
  double x0 = 0, x1 = 0, y0 = 0, y1 = 0;
  bool fitted() const { return x1 <= x0; }
  bool y_fitted() const { return y1 <= y0; }
  // `options` with this zoom as its x and y ranges (what an export of the zoomed figure applies).
  ViewOptions options(ViewOptions options) const;
};

// How every figure on screen is viewed (View menu: smoothing, log y, heatmap colours), applied
// by figure_view before it draws; App::build_figure applies the same options to what it exports,
// so an export shows what the screen shows. UI thread only.
ViewOptions& screen_view_options();

// The text of each figure drawn on screen this frame (App clears it as a frame starts): the
// figure's rectangle and the boxes ImGuiCanvas drew its text in, in screen pixels. UI thread only.
struct ScreenFigureText {
  std::string id;
  ImRect rect;
  std::vector<ImGuiCanvas::TextBox> boxes;
};
std::vector<ScreenFigureText>& screen_figure_text();

// Draws `figure` (panels with steps 0..count-1 on x), viewed with screen_view_options(), into
// `size` pixels at the cursor; returns the step under the mouse, or -1. `dark` recolours text, axes
// and grid for a dark background.
int figure_view(const char* id, Figure figure, int count, int marker, PlotView& view, ImVec2 size,
                bool dark, TexturePool& textures);

} // namespace routerscope::gui
