#pragma once
// Layout: a Figure plus a target size becomes device-independent drawing primitives on an abstract
// Canvas. Coordinates are points (1/72 in), origin at the top-left, y growing downwards. The
// Canvas measures text itself, so each renderer (Cairo, ImGui) lays out with its own font metrics.
#include "core/figure.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace routerscope {

struct Point {
  double x = 0, y = 0;
};
struct Rect {
  double x = 0, y = 0, w = 0, h = 0;
  double right() const { return x + w; }
  double bottom() const { return y + h; }
  bool contains(Point p) const { return p.x >= x && p.x <= x + w && p.y >= y && p.y <= y + h; }
};
// One or more disconnected runs of points, stroked or filled as ONE path.
using Path = std::vector<std::vector<Point>>;

struct Stroke {
  Color color;
  double width = 1.0;         // pt
  std::vector<double> dashes; // on/off lengths in pt; empty = solid
};

struct TextStyle {
  double size = 8; // pt
  bool bold = false;
  Color color;
};
// Ink extents of a string at a style, in pt: advance width, height above and depth below baseline.
struct TextExtent {
  double width = 0, ascent = 0, descent = 0;
};

// The drawing-primitive contract every renderer implements (see docs/FIGURES.md).
class Canvas {
public:
  virtual ~Canvas() = default;
  // Stroke every run of `path` as one path (round joins, butt caps).
  virtual void stroke(const Path& path, const Stroke& stroke) = 0;
  // Fill the closed runs of `path` (non-zero winding) with `color` (alpha honoured).
  virtual void fill(const Path& path, const Color& color) = 0;
  virtual void fill_rect(const Rect& rect, const Color& color) = 0;
  // Draw UTF-8 `text` with the left end of its baseline at `origin`, rotated by `rotation_deg`
  // counter-clockwise about `origin`.
  virtual void text(Point origin, const std::string& text, const TextStyle& style,
                    double rotation_deg) = 0;
  virtual TextExtent measure(const std::string& text, const TextStyle& style) = 0;
  // Draw a w × h RGBA image (straight alpha, row 0 at the top, 4 bytes per pixel) scaled to `dst`
  // with nearest-neighbour sampling (cells must stay crisp).
  virtual void image(const Rect& dst, int w, int h, const std::vector<std::uint8_t>& rgba) = 0;
  // Clip subsequent drawing to `rect` until the matching pop_clip().
  virtual void push_clip(const Rect& rect) = 0;
  virtual void pop_clip() = 0;
};

struct LayoutOptions {
  double width = 0, height = 0;           // pt; 0 = figure_size(figure)
  double pixels_per_point = 200.0 / 72.0; // device resolution, used for decimation
};

// Where a panel's data landed: its plot rectangle (pt) and axis limits, so an interactive front end
// can map the mouse to data (hover read-outs, zoom by setting Axis::min/max).
struct PanelFrame {
  Rect plot;
  double x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;
  bool x_log = false, y_log = false;
  bool y_down = false; // y grows downwards on screen (heatmaps with rows_down)
};
// Data coordinates -> canvas point, and back (inverse of the same affine/log map).
Point data_to_canvas(const PanelFrame& frame, double x, double y);
Point canvas_to_data(const PanelFrame& frame, Point p);

// Lays out `figure` and draws it on `canvas`; returns one frame per panel. Throws BadInput for
// inconsistent data (mismatched x/y lengths, heatmap size, non-positive limits on a log axis).
std::vector<PanelFrame> draw_figure(const Figure& figure, Canvas& canvas,
                                    const LayoutOptions& options = {});

// ---- building blocks, public for tests and the GUI ----

// Nice linear ticks: the smallest step = {1, 2, 5} × 10^k for which at most max_ticks ticks
// cover the data (first tick ≤ lo, last ≥ hi). Every tick is an integer multiple of step.
// lo == hi is widened.
struct Ticks {
  double lo = 0, hi = 1, step = 1; // axis limits (= first and last tick)
  std::vector<double> values;
  int step_exponent = 0; // step = mantissa × 10^step_exponent
};
Ticks nice_ticks(double lo, double hi, int max_ticks);
// Ticks at multiples of `step` within [lo, hi] (limits kept as given), step = {1,2,5}×10^k chosen
// for at most max_ticks; integer_only restricts steps to ≥ 1 (category axes).
Ticks nice_ticks_within(double lo, double hi, int max_ticks, bool integer_only = false);
// Decade ticks 10^k covering [lo, hi] (lo > 0); limits widened to whole decades.
Ticks log_ticks(double lo, double hi);
// Label of a tick value `value` on an axis with step 10^step_exponent·m: fixed notation with just
// enough decimals (no float noise, "-0" printed "0"), or "m×10ⁿ" for very small/large magnitudes.
std::string format_tick(double value, int step_exponent, double max_abs);
// "10ⁿ" with Unicode superscripts.
std::string format_power_of_ten(int exponent);

// Min/max decimation of a polyline for a device `pixel_width` pixels wide spanning x in
// [x_lo, x_hi] (x_lo < x_hi; x_log maps x logarithmically). Within each pixel column it keeps the
// first, the minimum-y, the maximum-y and the last point, in their original order, so no extreme
// (spike) is ever dropped; at most 4 points per column (plus 8). Points with NaN x or y, or
// y ≤ 0 when y_log, end a run. Returns runs of indices into x/y.
std::vector<std::vector<std::size_t>> decimate_min_max(std::span<const double> x,
                                                       std::span<const double> y, double x_lo,
                                                       double x_hi, int pixel_width,
                                                       bool x_log = false, bool y_log = false);

// A Canvas that records commands (for tests and debugging); text is measured approximately
// (0.55 em per character, ascent 0.72 em).
class RecordingCanvas : public Canvas {
public:
  struct StrokeCmd {
    Path path;
    Stroke stroke;
  };
  struct FillCmd {
    Path path;
    Color color;
  };
  struct RectCmd {
    Rect rect;
    Color color;
  };
  struct TextCmd {
    Point origin;
    std::string text;
    TextStyle style;
    double rotation = 0;
  };
  struct ImageCmd {
    Rect dst;
    int w = 0, h = 0;
    std::vector<std::uint8_t> rgba;
  };
  struct ClipCmd {
    Rect rect;
    bool push = true;
  };
  using Command = std::variant<StrokeCmd, FillCmd, RectCmd, TextCmd, ImageCmd, ClipCmd>;

  // Out of line (core/recording_canvas.cpp), so that no other file inlines them.
  void stroke(const Path& path, const Stroke& stroke) override;
  void fill(const Path& path, const Color& color) override;
  void fill_rect(const Rect& rect, const Color& color) override;
  void text(Point origin, const std::string& text, const TextStyle& style,
            double rotation_deg) override;
  TextExtent measure(const std::string& text, const TextStyle& style) override;
  void image(const Rect& dst, int w, int h, const std::vector<std::uint8_t>& rgba) override;
  void push_clip(const Rect& rect) override;
  void pop_clip() override;

  std::vector<Command> cmds;
};

} // namespace routerscope
