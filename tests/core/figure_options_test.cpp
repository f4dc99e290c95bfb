// ViewOptions (core/figure_options.h): smoothing, log y, heatmap colour ranges and zoom ranges.
// Oracles: the moving average written as its defining sum (not the recursion the code uses),
// percentiles of an evenly spaced sample (known in closed form), and the Okabe–Ito hex codes of the
// variant table.
#include "core/error.h"
#include "core/figure_options.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

namespace routerscope {
namespace {

LineSeries line(const std::string& name, std::vector<double> y) {
  LineSeries l;
  l.name = name;
  l.y = std::move(y);
  l.x.resize(l.y.size());
  std::iota(l.x.begin(), l.x.end(), 0.0);
  return l;
}

ViewOptions smoothing(double w) {
  ViewOptions v;
  v.smoothing = w;
  return v;
}

Figure one_panel(std::vector<LineSeries> lines, const std::string& x_label = "step") {
  Figure f;
  Panel p;
  p.x.label = x_label;
  p.lines = std::move(lines);
  f.panels.push_back(std::move(p));
  return f;
}

// Σ_{k≤t} w^{t−k}(1−w)·y_k / Σ_{k≤t} w^{t−k}(1−w), over the values since the last NaN.
double ema_by_definition(const std::vector<double>& y, std::size_t t, double w) {
  std::size_t start = 0;
  for (std::size_t k = 0; k <= t; ++k)
    if (std::isnan(y[k]))
      start = k + 1;
  double num = 0, den = 0;
  for (std::size_t k = start; k <= t; ++k) {
    const double weight = std::pow(w, static_cast<double>(t - k)) * (1 - w);
    num += weight * y[k];
    den += weight;
  }
  return num / den;
}

TEST(ViewOptions, SmoothingIsTheDebiasedMovingAverageAndKeepsTheRawLineFaint) {
  std::vector<double> y;
  for (int t = 0; t < 40; ++t)
    y.push_back(std::sin(0.7 * t) + 0.05 * t);
  y[17] = std::nan(""); // a gap: the average starts again after it
  Figure f = one_panel({line("vanilla", y)});
  apply_view_options(f, smoothing(0.8));
  const auto& lines = f.panels[0].lines;
  ASSERT_EQ(lines.size(), 2u);
  // Raw first (drawn underneath), in the variant's colour, faint, not in the legend.
  EXPECT_EQ(lines[0].name, "vanilla (raw)");
  EXPECT_FALSE(lines[0].in_legend);
  ASSERT_TRUE(lines[0].color && lines[1].color);
  EXPECT_LT(lines[0].color->a, 0.5);
  EXPECT_EQ(*lines[1].color, color_from_hex(0x0072B2));
  for (std::size_t t = 0; t < y.size(); ++t) {
    if (std::isnan(y[t])) {
      EXPECT_TRUE(std::isnan(lines[0].y[t]) && std::isnan(lines[1].y[t])) << t;
      continue;
    }
    EXPECT_EQ(lines[0].y[t], y[t]) << t;
    EXPECT_NEAR(lines[1].y[t], ema_by_definition(y, t, 0.8), 1e-12) << t;
  }
  // The first value after the gap is the raw value itself (debiased average of one value).
  EXPECT_DOUBLE_EQ(lines[1].y[18], y[18]);
}

TEST(ViewOptions, SmoothingLeavesReferenceLinesAndNonStepAxesAlone) {
  LineSeries bound = line("bound", {1, 0.5, 0.25, 0.125});
  bound.dash = Dash::Dashed;
  Figure f = one_panel({bound, line("noisy", {1, 3, 1, 3})}, "MPI step");
  Figure spectrum = one_panel({line("expert 0", {1, 0.5, 0.2, 0.1})}, "index k");
  apply_view_options(f, smoothing(0.5));
  apply_view_options(spectrum, smoothing(0.5));
  ASSERT_EQ(f.panels[0].lines.size(), 3u); // bound, noisy (raw), noisy
  EXPECT_EQ(f.panels[0].lines[0].y, bound.y);
  EXPECT_NE(f.panels[0].lines[2].y, (std::vector<double>{1, 3, 1, 3}));
  ASSERT_EQ(spectrum.panels[0].lines.size(), 1u);
  EXPECT_EQ(spectrum.panels[0].lines[0].y, (std::vector<double>{1, 0.5, 0.2, 0.1}));
  // Lines without a colour keep the colour their index gave them before the raw copies.
  EXPECT_EQ(*f.panels[0].lines[2].color, categorical_color(1));
}

TEST(ViewOptions, SmoothingOutsideItsRangeIsBadInput) {
  Figure f = one_panel({line("a", {1, 2, 3})});
  for (double w : {-0.1, 1.0, std::nan("")})
    EXPECT_THROW(apply_view_options(f, smoothing(w)), Error) << w;
}

TEST(ViewOptions, LogYOnlyWherePanelsArePositive) {
  Figure f = one_panel({line("loss", {2, 1, 0.5, 0.15, std::nan("")})});
  f.panels[0].y.min = 0.0; // a fixed zero cannot stay on a log axis
  Panel with_zero = f.panels[0];
  with_zero.lines[0].y[1] = 0;
  f.panels.push_back(with_zero);
  ViewOptions log;
  log.log_y = true;
  Panel narrow = f.panels[0]; // 0.15 … 1.2: less than a decade
  narrow.lines[0].y = {1.2, 1, 0.5, 0.15};
  f.panels.push_back(narrow);
  apply_view_options(f, log);
  EXPECT_EQ(f.panels[0].y.scale, AxisScale::Log);
  EXPECT_FALSE(f.panels[0].y.min.has_value());
  EXPECT_EQ(f.panels[1].y.scale, AxisScale::Linear);
  EXPECT_EQ(f.panels[1].y.min, 0.0);
  EXPECT_EQ(f.panels[2].y.scale, AxisScale::Linear);
}

TEST(ViewOptions, ColourRangesOfAHeatmap) {
  Heatmap h;
  h.rows = 3;
  h.cols = 4;
  // 0, 1, ..., 10 in shuffled order and one NaN: the p-th percentile is p/10 by linear
  // interpolation between order statistics.
  h.values = {7, 3, 10, std::nan(""), 0, 5, 1, 9, 2, 8, 4, 6};
  ASSERT_EQ(h.values.size(), 12u);
  auto data = color_limits(h, ColorRange::Data);
  auto robust = color_limits(h, ColorRange::Robust);
  auto unit = color_limits(h, ColorRange::Unit);
  ASSERT_TRUE(data && robust && unit);
  EXPECT_EQ(*data, (std::pair{0.0, 10.0}));
  EXPECT_NEAR(robust->first, 0.2, 1e-12);
  EXPECT_NEAR(robust->second, 9.8, 1e-12);
  EXPECT_EQ(*unit, (std::pair{0.0, 1.0}));
  Heatmap empty = h;
  empty.values.assign(12, std::nan(""));
  EXPECT_FALSE(color_limits(empty, ColorRange::Robust));

  Figure f;
  Panel p;
  p.heatmap = h;
  p.heatmap->colorbar_label = "|cos|";
  f.panels.push_back(p);
  ViewOptions robust_view;
  robust_view.color_range = ColorRange::Robust;
  apply_view_options(f, robust_view);
  EXPECT_NEAR(*f.panels[0].heatmap->vmin, 0.2, 1e-12);
  EXPECT_NEAR(*f.panels[0].heatmap->vmax, 9.8, 1e-12);
  EXPECT_NE(f.panels[0].heatmap->colorbar_label.find("percentile"), std::string::npos);
  EXPECT_EQ(parse_color_range("robust"), ColorRange::Robust);
  EXPECT_THROW(parse_color_range("percentile"), Error);
}

// The zoom: the x range cuts every kind of data to the points inside [lo, hi] (inclusive) and
// fixes the limits; the y range fixes the limits only. Oracle: the points chosen by hand.
TEST(ViewOptions, XRangeCutsTheDataToItAndYRangeSetsTheLimits) {
  Figure f = one_panel({line("a", {0, 10, 20, 30, 40, 50})});
  Panel& p = f.panels[0];
  Band b;
  b.x = {0, 1, 2, 3, 4, 5};
  b.lower = {0, -1, -2, -3, -4, -5};
  b.upper = {0, 1, 2, 3, 4, 5};
  p.bands.push_back(b);
  BarSeries bars;
  bars.x = {0.5, 1.5, 4.5};
  bars.height = {7, 8, 9};
  p.bars.push_back(bars);
  Heatmap h; // 2 rows × 6 columns, columns centred at 0..5
  h.rows = 2;
  h.cols = 6;
  h.values = {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15};
  Panel hp;
  hp.heatmap = h;
  f.panels.push_back(hp);
  ViewOptions zoom;
  zoom.x_range = std::pair{1.0, 3.5};
  zoom.y_range = std::pair{-2.0, 25.0};
  apply_view_options(f, zoom);
  const Panel& q = f.panels[0];
  EXPECT_EQ(q.lines[0].x, (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(q.lines[0].y, (std::vector<double>{10, 20, 30}));
  EXPECT_EQ(q.bands[0].x, (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(q.bands[0].lower, (std::vector<double>{-1, -2, -3}));
  EXPECT_EQ(q.bands[0].upper, (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(q.bars[0].x, (std::vector<double>{1.5}));
  EXPECT_EQ(q.bars[0].height, (std::vector<double>{8}));
  EXPECT_EQ(*q.x.min, 1.0);
  EXPECT_EQ(*q.x.max, 3.5);
  EXPECT_EQ(*q.y.min, -2.0);
  EXPECT_EQ(*q.y.max, 25.0);
  const Heatmap& g = *f.panels[1].heatmap;
  EXPECT_EQ(g.cols, 3); // the columns centred at 1, 2 and 3
  EXPECT_EQ(g.rows, 2);
  EXPECT_EQ(g.values, (std::vector<double>{1, 2, 3, 11, 12, 13}));
  EXPECT_DOUBLE_EQ(g.x0, 0.5);
  EXPECT_EQ(*f.panels[1].x.min, 1.0);

  // The CLI's form, and ranges that are not ranges.
  EXPECT_EQ(parse_range("10:40", "x"), (std::pair{10.0, 40.0}));
  EXPECT_EQ(parse_range("-1e-3:0.5", "y"), (std::pair{-1e-3, 0.5}));
  for (const char* bad : {"10", "40:10", "5:5", "a:b", "1:inf", ":3", "1:"})
    EXPECT_THROW(parse_range(bad, "x"), Error) << bad;
  Figure g2 = one_panel({line("a", {1, 2})});
  ViewOptions empty;
  empty.x_range = std::pair{3.0, 3.0};
  EXPECT_THROW(apply_view_options(g2, empty), Error);
}

TEST(VariantColors, EachVariantHasOneColourWhateverItsPosition) {
  // Okabe–Ito: blue, vermillion, bluish green, orange.
  EXPECT_EQ(*variant_color("vanilla"), color_from_hex(0x0072B2));
  EXPECT_EQ(*variant_color("mpi"), color_from_hex(0xD55E00));
  EXPECT_EQ(*variant_color("no-power"), color_from_hex(0x009E73));
  EXPECT_EQ(*variant_color("no-retract"), color_from_hex(0xE69F00));
  EXPECT_EQ(*variant_color("mpi (stored R)"), color_from_hex(0xD55E00));
  EXPECT_FALSE(variant_color("mpi-like"));
  EXPECT_FALSE(variant_color("expert 3"));
  EXPECT_EQ(series_color("mpi", 0), color_from_hex(0xD55E00));
  EXPECT_EQ(series_color("expert 3", 5), categorical_color(5));
}

// A previous run drawn into the current figure: only the lines asked for, into the panel with the
// same title (whatever its position), faint and dash-dot, named after the run; the current
// figure's own lines stay as they were. Oracle: the input figures themselves.
TEST(PreviousRunOverlay, CopiesTheChosenLinesFaintDashDotIntoThePanelOfTheSameTitle) {
  Figure current = one_panel({line("mean", {1, 2, 3}), line("expert 2", {4, 5, 6})});
  current.panels[0].title = "tan θ";
  Panel other;
  other.title = "norms";
  other.lines.push_back(line("mean ‖R‖", {7, 8}));
  current.panels.push_back(other);
  Figure previous;
  previous.panels.push_back(other); // in the other order: matched by title
  previous.panels[0].lines[0].y = {9, 10};
  previous.panels.push_back(
      one_panel({line("mean", {0.5, 0.25, 0.125}), line("expert 2", {1, 1, 1})}).panels[0]);
  previous.panels[1].title = "tan θ";
  previous.panels[1].lines[0].color = Color{0.2, 0.4, 0.6, 1};
  const Figure before = current;
  overlay_previous_run(current, previous, "previous (C′ 2)",
                       [](const LineSeries& l) { return l.name.starts_with("mean"); });
  ASSERT_EQ(current.panels[0].lines.size(), 3u);
  ASSERT_EQ(current.panels[1].lines.size(), 2u);
  for (std::size_t p = 0; p < 2; ++p)
    for (std::size_t i = 0; i < before.panels[p].lines.size(); ++i) {
      EXPECT_EQ(current.panels[p].lines[i].y, before.panels[p].lines[i].y);
      EXPECT_EQ(current.panels[p].lines[i].dash, Dash::Solid);
    }
  const LineSeries& tan = current.panels[0].lines[2];
  EXPECT_EQ(tan.name, "mean — previous (C′ 2)");
  EXPECT_EQ(tan.y, (std::vector<double>{0.5, 0.25, 0.125}));
  EXPECT_EQ(tan.dash, Dash::DashDot);
  EXPECT_EQ(*tan.color, (Color{0.2, 0.4, 0.6, 0.45}));
  const LineSeries& norm = current.panels[1].lines[1];
  EXPECT_EQ(norm.name, "mean ‖R‖ — previous (C′ 2)");
  EXPECT_EQ(norm.y, (std::vector<double>{9, 10}));
  EXPECT_EQ(*norm.color, categorical_color(0).with_alpha(0.45)); // its default colour, faint
  // Smoothing leaves the previous run's lines raw (they are references).
  apply_view_options(current, smoothing(0.5));
  EXPECT_EQ(current.panels[0].lines.back().y, (std::vector<double>{0.5, 0.25, 0.125}));
}

} // namespace
} // namespace routerscope
