#pragma once
// The figure model: a renderer-free description of WHAT a figure shows (panels, axes, series,
// bands, bars, heatmaps, legends, titles). core/figure_layout.h turns it into drawing primitives on
// an abstract Canvas; io/figure_export.h (Cairo) and the GUI (ImDrawList) implement that Canvas, so
// what you see is what you export. All lengths are in typographic points (1/72 inch).
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace routerscope {

// Straight (non-premultiplied) sRGB colour, each channel in [0, 1].
struct Color {
  double r = 0, g = 0, b = 0, a = 1;
  Color with_alpha(double alpha) const { return {r, g, b, alpha}; }
  friend bool operator==(const Color&, const Color&) = default;
};
// Colour from 0xRRGGBB.
Color color_from_hex(std::uint32_t rgb, double alpha = 1.0);

// Okabe–Ito colour-blind-safe categorical palette (8 colours, ordered for line plots on white:
// blue, vermillion, bluish green, orange, reddish purple, sky blue, black, yellow). Wraps around.
Color categorical_color(int index);
constexpr int kCategoricalColors = 8;

// The colour of a compared variant, the same on every page, on screen and in every export:
// vanilla blue, mpi vermillion, no-power bluish green, no-retract orange (categorical colours
// 0–3). `name` is a variant name or a line named after one ("mpi (stored R)": the first word
// counts). nullopt for any other name.
std::optional<Color> variant_color(const std::string& name);
// variant_color(name), else categorical_color(index).
Color series_color(const std::string& name, int index);

enum class Colormap { Viridis, Cividis, Diverging };
// Colour of colormap `map` at t in [0, 1] (clamped; NaN gives a neutral grey). Viridis and cividis
// are interpolated in CIELAB between published anchor colours; Diverging runs blue–white–red.
Color colormap_color(Colormap map, double t);

enum class AxisScale { Linear, Log };

struct Axis {
  std::string label; // e.g. "MPI step"
  std::string unit;  // shown as "label (unit)" when non-empty
  AxisScale scale = AxisScale::Linear;
  std::optional<double> min, max; // fixed limits; otherwise from the data, widened to nice ticks
  bool grid = true;               // light grid lines at major ticks
  // Category ticks (value, text) replace the numeric ticks when non-empty (bar charts).
  std::vector<std::pair<double, std::string>> category_ticks;
  // "label (unit)"
  std::string title() const;
};

enum class Dash { Solid, Dashed, Dotted, DashDot };
enum class Marker { None, Circle, Square, Triangle, Diamond };

// A line through (x[i], y[i]); NaN in x or y breaks the line. Decimated per pixel at layout time.
struct LineSeries {
  std::string name; // legend text; empty = not in the legend
  std::vector<double> x, y;
  std::optional<Color> color; // default: categorical_color(index of the series in its panel)
  double width = 1.25;        // pt
  Dash dash = Dash::Solid;
  Marker marker = Marker::None;
  double marker_size = 3.5; // pt (diameter)
  int marker_every = 0;     // 0: auto (all points when few, else about 40 markers)
  bool in_legend = true;
};

// A shaded region between lower[i] and upper[i] at x[i] (e.g. min–max across experts).
struct Band {
  std::string name;
  std::vector<double> x, lower, upper;
  std::optional<Color> color; // default: the colour of the series with index `color_index`
  int color_index = 0;
  double alpha = 0.22;
  bool in_legend = true;
};

// Vertical bars centred at x[i] with height[i] and a common width (data units); histograms use
// the bin centres and the bin width.
struct BarSeries {
  std::string name;
  std::vector<double> x, height;
  double width = 0.8;
  double baseline = 0.0;
  std::optional<Color> color;
  bool in_legend = true;
};

// A rows × cols grid of values (row-major), cell (r, c) spanning
// [x0 + c·dx, x0 + (c+1)·dx] × [y0 + r·dy, y0 + (r+1)·dy] in data units; row 0 at the top when
// rows_down. NaN cells are drawn light grey.
struct Heatmap {
  std::string name;
  int rows = 0, cols = 0;
  std::vector<double> values;
  double x0 = -0.5, dx = 1.0, y0 = -0.5, dy = 1.0;
  bool rows_down = true;
  Colormap colormap = Colormap::Viridis;
  std::optional<double> vmin, vmax; // colour limits; default: data range (symmetric if Diverging)
  bool colorbar = true;
  std::string colorbar_label;
  double value(int r, int c) const { return values[static_cast<std::size_t>(r) * cols + c]; }
};

enum class LegendPlacement {
  Auto,
  UpperRight,
  UpperLeft,
  LowerRight,
  LowerLeft,
  OutsideRight,
  None
};

struct Panel {
  std::string title;
  Axis x, y;
  std::vector<Band> bands; // drawn first
  std::vector<BarSeries> bars;
  std::vector<LineSeries> lines; // drawn last, in order
  std::optional<Heatmap> heatmap;
  LegendPlacement legend = LegendPlacement::Auto;
};

// Print-sized fonts and strokes.
struct FigureStyle {
  double tick_font = 8;   // pt
  double label_font = 9;  // pt
  double title_font = 10; // pt (panel titles 9)
  double legend_font = 8; // pt
  double axis_width = 0.8;
  double grid_width = 0.5;
  Color text{0.1, 0.1, 0.1, 1};
  Color axis_color{0.25, 0.25, 0.25, 1};
  Color grid_color{0.88, 0.88, 0.88, 1};
};

constexpr double kPointsPerInch = 72.0;
constexpr double kSingleColumnWidth = 3.5 * kPointsPerInch; // 252 pt, one paper column
constexpr double kDoubleColumnWidth = 7.0 * kPointsPerInch; // 504 pt, full page width

struct Figure {
  std::string title;
  std::vector<Panel> panels;
  int columns = 0;            // small-multiples grid columns; 0 = automatic
  bool share_x = false;       // same x limits; tick labels only on the bottom row
  bool share_y = false;       // same y limits; tick labels only on the left column
  bool shared_legend = false; // one legend for the figure (from the first panel's entries), on top
  double width = kSingleColumnWidth; // pt
  double height = 0;                 // pt; 0 = width · 0.75 for one panel, grid-based otherwise
  FigureStyle style;
};

// Columns of the small-multiples grid (figure.columns, or automatic from the panel count).
int grid_columns(const Figure& figure);
// Figure size in points: (width, height) with the automatic height resolved.
std::pair<double, double> figure_size(const Figure& figure);

} // namespace routerscope
