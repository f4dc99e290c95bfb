#pragma once
// Inside figure layout (core only): the geometry and drawing pieces shared by the layout
// (figure_layout.cpp), axes (figure_axes.cpp), legends (figure_legend.cpp) and panel drawing
// (figure_panels.cpp).
#include "core/figure.h"
#include "core/figure_layout.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace routerscope::figure_detail {

constexpr double kTickLength = 3.0;
constexpr double kTickGap = 2.5;
constexpr double kPad = 5.0;

enum class HAlign { Left, Center, Right };
enum class VAlign { Top, Middle, Baseline, Bottom };

std::string where(const Figure& f, std::size_t panel);

// A title as it fits `max_width`: at its size when it fits, else smaller (down to 75 %), else at
// 75 % cut after its last whole word that fits, with "…". `style.size` is set to the size used.
std::string fitted_title(Canvas& canvas, const std::string& title, TextStyle& style,
                         double max_width);

// Draws text aligned at `anchor`; rotation 0 or 90 (reading upwards).
void draw_text(Canvas& canvas, const std::string& s, const TextStyle& style, Point anchor, HAlign h,
               VAlign v, double rotation = 0);

std::vector<double> dash_pattern(Dash d, double width);

// Axes span at most ±kAxisLimit: beyond it spans, steps and tick multiples overflow (1e308 - -1e308
// is inf), so larger finite values are treated like ±inf, outside the axis.
constexpr double kAxisLimit = 1e300;

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v, bool log) {
    if (std::abs(v) <= kAxisLimit && (!log || v > 0)) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  bool empty() const { return !(hi >= lo); }
};

// Maps data values on one axis to points.
struct AxisMap {
  double lo = 0, hi = 1;
  bool log = false;
  double p0 = 0, p1 = 1; // positions of lo and hi
  double t(double v) const {
    return log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo))
               : (v - lo) / (hi - lo);
  }
  // Positions of values far outside the axis are pulled in to 10⁴ axis lengths: still off the plot
  // (clipped), but within what a renderer's fixed-point coordinates hold.
  double operator()(double v) const { return p0 + std::clamp(t(v), -1e4, 1e4) * (p1 - p0); }
};

struct ResolvedAxis {
  double lo = 0, hi = 1;
  bool log = false;
  bool category = false;
  std::vector<double> ticks;
  std::vector<std::string> labels;
  std::vector<double> minor;
  double label_width = 0; // the widest label at the tick font, measured once when resolved
};

// Width of the widest of `items`' texts (`text` projects an item to its string).
template <class Items, class Text = std::identity>
double widest_label(Canvas& canvas, const Items& items, const TextStyle& style, Text text = {}) {
  double widest = 0;
  for (const auto& item : items)
    widest = std::max(widest, canvas.measure(std::invoke(text, item), style).width);
  return widest;
}

void validate(const Figure& f);
Range data_range(const Panel& panel, bool x_axis, bool log);
// Limits and ticks of one axis for `length` pt of plot; `label_room(ticks)` says whether the
// labels fit (x axis: no overlap).
ResolvedAxis resolve_axis(const Axis& axis, Range r, double length, bool exact_extent,
                          double tick_font, Canvas& canvas, bool horizontal,
                          const std::string& context);

struct LegendEntry {
  std::string name;
  Color color;
  enum Kind { Line, Patch } kind = Line;
  double width = 1.25;
  Dash dash = Dash::Solid;
  Marker marker = Marker::None;
  double marker_size = 3.5;
};

Color series_color(const Panel& p, std::size_t i);
Color band_color(const Panel& p, const Band& b);
std::vector<LegendEntry> legend_entries(const Panel& p);

constexpr double kSwatch = 16.0;

struct LegendBox {
  double w = 0, h = 0, row = 0;
};
LegendBox legend_box(Canvas& canvas, const std::vector<LegendEntry>& entries,
                     const FigureStyle& st);
// Where a legend box may stand inside a plot: upper right, upper left, lower right, lower left.
std::array<Point, 4> legend_corners(const Rect& plot, const LegendBox& box);
void draw_marker(Canvas& canvas, Marker m, Point c, double size, const Color& color);
void draw_legend_entry(Canvas& canvas, const LegendEntry& e, Point left_mid, const FigureStyle& st);
void draw_legend(Canvas& canvas, const std::vector<LegendEntry>& entries, const LegendBox& box,
                 Point top_left, const FigureStyle& st);

// Geometry of one panel after layout.
struct PanelGeom {
  Rect plot;
  ResolvedAxis xa, ya;
  AxisMap xm, ym;
  bool x_labels = true, y_labels = true, x_title = true, y_title = true;
  double x_label_h = 0; // height of the x tick labels (rotated category labels are taller)
  bool x_rotated = false;
  bool legend_outside = false;
  double vmin = 0, vmax = 1; // heatmap colour limits
  double colorbar_room = 0;  // pt right of the plot taken by the colour bar and its labels
  ResolvedAxis ca;           // colour-bar axis
};

struct Drawn {
  std::vector<std::pair<Path, Stroke>> lines;
  std::vector<std::pair<Path, Color>> fills; // bands
  std::vector<std::pair<Rect, Color>> bars;
  std::vector<std::tuple<Marker, Point, double, Color>> markers;
};

// Decimated geometry of a panel's bands, bars, lines and markers, in points.
Drawn panel_geometry(const Panel& panel, const PanelGeom& g, double ppp);
// How much of the drawn data a legend at `box` would cover or touch (0 = nothing within 3 pt).
double overlap_score(const Drawn& d, const Rect& box);
// Best inside score of panel p's auto legend (0 = a free corner exists).
double best_inside_score(Canvas& canvas, const Figure& fig, const Panel& p, const PanelGeom& g,
                         double ppp);
void draw_panel(Canvas& canvas, const Figure& fig, const Panel& p, const PanelGeom& g, double ppp,
                bool legend_here);

} // namespace routerscope::figure_detail
