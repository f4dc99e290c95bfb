#pragma once
// How a figure is viewed, applied to the figure model itself so that the screen, `plot` and every
// export show the same thing: smoothing of noisy curves over steps, logarithmic y axes, the
// colour range of heatmaps and the x/y ranges a figure is zoomed to.
#include "core/figure.h"

#include <functional>
#include <optional>
#include <string>

namespace routerscope {

// The colour range of a heatmap: its data's min–max, the 2nd–98th percentile of its finite values
// (outliers saturate instead of squeezing every other cell into one colour), or fixed [0, 1]
// (|cos| and λ on an absolute scale).
enum class ColorRange { Data, Robust, Unit };
// "auto", "robust", "unit" (the CLI's and the GUI's names).
const char* to_string(ColorRange range);
ColorRange parse_color_range(const std::string& name); // BadInput naming the choices

struct ViewOptions {
  // Exponential moving average weight w in [0, 1) of every solid line on a step axis (an x axis
  // whose label names steps); 0 leaves lines as they are. The smoothed value at step t is
  // Σ_{k≤t} w^{t−k}(1−w)·y_k / (1 − w^{t+1}) (debiased, as TensorBoard draws it), restarted after
  // a NaN; the raw line stays drawn underneath, faint, as "<name> (raw)" (and in the CSV).
  // Dashed and dotted lines are references (bounds, stored parameters) and stay as they are.
  double smoothing = 0;
  // Logarithmic y on every panel whose drawn values (lines, bands, fixed limits) are all positive
  // and finite where defined and span at least a decade; a panel holding zero or a negative value
  // keeps its linear axis, and so does a narrower one (a log axis spans whole decades and would
  // flatten it).
  bool log_y = false;
  // Replaces the heatmaps' colour limits with one range over all of the figure's heatmaps, so
  // that heatmaps side by side stay comparable (nullopt: as the figure set them).
  std::optional<ColorRange> color_range;
  // The x range [lo, hi] every panel shows (a zoom): the axis limits, and the data cut to it, so
  // that an export and its CSV hold only what the zoomed figure shows — the points of lines and
  // bands and the bars whose x lies in [lo, hi], and the heatmap columns whose centre does.
  std::optional<std::pair<double, double>> x_range;
  // The y range [lo, hi] every panel shows: the axis limits only (a line leaving the range is cut
  // at the panel's edge; its points stay in the CSV).
  std::optional<std::pair<double, double>> y_range;
};

// "A:B" (the CLI's form of a range, e.g. "10:40" or "-1e-3:0.5"): BadInput naming `what` unless A
// and B are finite numbers with A < B.
std::pair<double, double> parse_range(const std::string& text, const std::string& what);

// Applies `options` to `figure` in place. BadInput when smoothing is outside [0, 1) or a range is
// empty or not finite.
void apply_view_options(Figure& figure, const ViewOptions& options);

// The colour limits `range` gives a heatmap's values (NaN cells ignored); nullopt when it has no
// finite value. Robust uses linear interpolation between order statistics (NumPy's default).
std::optional<std::pair<double, double>> color_limits(const Heatmap& heatmap, ColorRange range);

// A run kept to compare with (the GUI's "previous run" after a settings change): draws the lines of
// `previous` that `keep` accepts into the panel of `figure` with the same title (else the same
// index), after its own lines: in their colour at 45% opacity, dash-dot (so smoothing leaves them
// raw, as references, and they differ from dashed bounds), named "<name> — <label>". The x and y
// data are copied as they are; `figure`'s own lines are untouched.
void overlay_previous_run(Figure& figure, const Figure& previous, const std::string& label,
                          const std::function<bool(const LineSeries&)>& keep);

} // namespace routerscope
