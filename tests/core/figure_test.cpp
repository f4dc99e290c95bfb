// Figure model and layout: min/max decimation, nice ticks and their labels, colormaps, legend
// placement, canvas-measured text, and the figure builders' numbers (float64 oracles in the test).
#include "core/error.h"
#include "core/figure.h"
#include "core/figure_builders.h"
#include "core/figure_layout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>

namespace routerscope {
namespace {

// ---------------------------------------------------------------- decimation

TEST(FigureDecimation, KeepsSpikeAndExtremesOfAMillionPoints) {
  const std::size_t n = 1'000'000;
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> noise(-1, 1);
  std::vector<double> x(n), y(n);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = static_cast<double>(i) * 0.5;
    y[i] = noise(rng);
  }
  const std::size_t spike = 654'321, dip = 17;
  y[spike] = 40.0;
  y[dip] = -25.0;
  for (int width : {300, 1000}) {
    const auto runs = decimate_min_max(x, y, x.front(), x.back(), width);
    ASSERT_EQ(runs.size(), 1u);
    const auto& r = runs[0];
    const std::size_t imax = std::max_element(y.begin(), y.end()) - y.begin();
    const std::size_t imin = std::min_element(y.begin(), y.end()) - y.begin();
    EXPECT_TRUE(std::binary_search(r.begin(), r.end(), imax));
    EXPECT_TRUE(std::binary_search(r.begin(), r.end(), imin));
    EXPECT_EQ(imax, spike); // the oracle agrees on where the spike is: its x survives
    EXPECT_EQ(r.front(), 0u);
    EXPECT_EQ(r.back(), n - 1);
    EXPECT_LE(r.size(), static_cast<std::size_t>(4 * width + 8));
    EXPECT_GE(r.size(), static_cast<std::size_t>(2 * width)); // not over-thinned
    EXPECT_TRUE(std::is_sorted(r.begin(), r.end()));
    // Within every pixel column the column's min and max are kept.
    const double scale = width / (x.back() - x.front());
    std::vector<double> cmin(width + 1, INFINITY), cmax(width + 1, -INFINITY), kmin = cmin,
                                                                               kmax = cmax;
    for (std::size_t i = 0; i < n; ++i) {
      const auto c = std::min<std::size_t>(width, static_cast<std::size_t>(x[i] * scale));
      cmin[c] = std::min(cmin[c], y[i]);
      cmax[c] = std::max(cmax[c], y[i]);
    }
    for (std::size_t i : r) {
      const auto c = std::min<std::size_t>(width, static_cast<std::size_t>(x[i] * scale));
      kmin[c] = std::min(kmin[c], y[i]);
      kmax[c] = std::max(kmax[c], y[i]);
    }
    EXPECT_EQ(cmin, kmin);
    EXPECT_EQ(cmax, kmax);
  }
}

TEST(FigureDecimation, NanGapsBreakTheLineAndSmallSeriesKeepEveryPoint) {
  std::vector<double> x, y;
  for (int i = 0; i < 20; ++i) {
    x.push_back(i);
    y.push_back(i % 7 == 3 ? NAN : i * 0.5);
  }
  const auto runs = decimate_min_max(x, y, 0, 19, 1000);
  // NaN at 3, 10, 17 -> runs [0..2], [4..9], [11..16], [18..19]
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(runs[0], (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(runs[1].front(), 4u);
  EXPECT_EQ(runs[1].back(), 9u);
  EXPECT_EQ(runs[3], (std::vector<std::size_t>{18, 19}));
  std::size_t total = 0;
  for (const auto& r : runs) {
    total += r.size();
  }
  EXPECT_EQ(total, 17u);
  // Log y: non-positive values are gaps too.
  const auto log_runs = decimate_min_max(std::vector<double>{1, 2, 3, 4},
                                         std::vector<double>{1, 0, 2, 3}, 1, 4, 100, false, true);
  ASSERT_EQ(log_runs.size(), 2u);
  EXPECT_EQ(log_runs[1], (std::vector<std::size_t>{2, 3}));
}

// ---------------------------------------------------------------- ticks

bool is_nice_step(double step, int exponent) {
  const double m = step / std::pow(10.0, exponent);
  for (double nice : {1.0, 2.0, 5.0}) {
    if (std::abs(m - nice) < 1e-9) {
      return true;
    }
  }
  return false;
}

// Reads a label back: "−1.5", "2×10⁻⁵", "10³".
double parse_label(std::string s) {
  const bool power = s.find("×") == std::string::npos &&
                     (s.find("⁰") != std::string::npos || s.find("¹") != std::string::npos ||
                      s.find("⁻") != std::string::npos || s.find("²") != std::string::npos ||
                      s.find("³") != std::string::npos || s.find("⁴") != std::string::npos ||
                      s.find("⁵") != std::string::npos || s.find("⁶") != std::string::npos ||
                      s.find("⁷") != std::string::npos || s.find("⁸") != std::string::npos ||
                      s.find("⁹") != std::string::npos);
  auto replace = [&](const std::string& a, const std::string& b) {
    for (std::size_t p; (p = s.find(a)) != std::string::npos;) {
      s.replace(p, a.size(), b);
    }
  };
  replace("−", "-");
  replace("⁻", "-");
  const char* sup[] = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
  for (int d = 0; d < 10; ++d) {
    replace(sup[d], std::string(1, static_cast<char>('0' + d)));
  }
  const auto times = s.find("×10");
  if (times != std::string::npos) {
    return std::stod(s.substr(0, times)) * std::pow(10.0, std::stoi(s.substr(times + 4)));
  }
  if (power && s.rfind("10", 0) == 0) { // "10⁻³" became "10-3"
    return std::pow(10.0, std::stoi(s.substr(2)));
  }
  if (power && s.rfind("-10", 0) == 0) {
    return -std::pow(10.0, std::stoi(s.substr(3)));
  }
  return std::stod(s);
}

TEST(NiceTicks, RandomRangesGetOneTwoFiveStepsCoveringTheData) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 3000; ++trial) {
    const double mag = std::pow(10.0, -9 + 18 * u(rng));
    const double a = (u(rng) * 2 - 1) * mag, b = a + u(rng) * mag * std::pow(10.0, -3 * u(rng));
    const int max_ticks = 3 + trial % 8;
    const Ticks t = nice_ticks(a, b, max_ticks);
    SCOPED_TRACE(std::to_string(a) + " .. " + std::to_string(b));
    ASSERT_GE(t.values.size(), 2u);
    EXPECT_LE(t.values.size(), static_cast<std::size_t>(max_ticks));
    EXPECT_TRUE(is_nice_step(t.step, t.step_exponent)) << t.step;
    EXPECT_LE(t.values.front(), a);
    EXPECT_GE(t.values.back(), b);
    for (std::size_t i = 0; i < t.values.size(); ++i) {
      const double k = t.values[i] / t.step;
      EXPECT_NEAR(k, std::round(k), 1e-6) << "tick " << t.values[i] << " is not a multiple";
      if (i > 0) {
        // exact up to the rounding of the tick values themselves
        EXPECT_NEAR(t.values[i] - t.values[i - 1], t.step,
                    1e-9 * t.step + 1e-14 * std::abs(t.values[i]));
      }
    }
    // Minimal: the next smaller nice step would need more than max_ticks ticks.
    const double m = std::round(t.step / std::pow(10.0, t.step_exponent));
    const double smaller = m == 1 ? 0.5 * t.step : (m == 2 ? 0.5 * t.step : 0.4 * t.step);
    const double count = std::ceil(b / smaller - 1e-9) - std::floor(a / smaller + 1e-9) + 1;
    EXPECT_GT(count, max_ticks);
    // Labels: no float noise, and they read back as the tick value.
    double max_abs = 0;
    for (double v : t.values) {
      max_abs = std::max(max_abs, std::abs(v));
    }
    for (double v : t.values) {
      const std::string label = format_tick(v, t.step_exponent, max_abs);
      std::size_t code_points = 0;
      for (unsigned char ch : label) {
        code_points += (ch & 0xC0) != 0x80;
      }
      EXPECT_LE(code_points, 14u) << label;
      // float noise looks like 0.30000000000000004 or 0.7999999999999999
      EXPECT_EQ(label.find("0000000"), std::string::npos) << label;
      EXPECT_EQ(label.find("9999999"), std::string::npos) << label;
      EXPECT_NEAR(parse_label(label), v, 1e-9 * max_abs) << label;
    }
  }
}

TEST(NiceTicks, DecimalLabelsHaveNoFloatNoise) {
  // 0.1 + 0.2 = 0.30000000000000004 in binary; the label must say 0.3.
  const Ticks t = nice_ticks(0.0, 0.1 + 0.2, 4);
  std::vector<std::string> labels;
  for (double v : t.values) {
    labels.push_back(format_tick(v, t.step_exponent, 0.3));
  }
  EXPECT_EQ(labels, (std::vector<std::string>{"0.0", "0.1", "0.2", "0.3"}));
  EXPECT_EQ(format_tick(-0.5, -1, 1.0), "−0.5");
  EXPECT_EQ(format_tick(-0.0, -1, 1.0), "0.0");
  EXPECT_EQ(format_tick(3e-6, -6, 5e-6), "3×10⁻⁶");
  EXPECT_EQ(format_tick(1e-6, -6, 5e-6), "10⁻⁶");
  EXPECT_EQ(format_tick(2.5e6, 5, 3e6), "2.5×10⁶");
  EXPECT_EQ(format_tick(1500, 2, 2000), "1500");
  EXPECT_EQ(format_power_of_ten(-12), "10⁻¹²");
}

TEST(NiceTicks, LogAxesGetDecadeTicksCoveringTheData) {
  const Ticks t = log_ticks(0.003, 420);
  EXPECT_EQ(t.values, (std::vector<double>{1e-3, 1e-2, 1e-1, 1, 1e1, 1e2, 1e3}));
  EXPECT_EQ(t.lo, 1e-3);
  EXPECT_EQ(t.hi, 1e3);
  const Ticks wide = log_ticks(1e-30, 1e10); // 40 decades: at most ~8 labelled
  EXPECT_LE(wide.values.size(), 9u);
  EXPECT_LE(wide.lo, 1e-30);
  EXPECT_GE(wide.hi, 1e10);
  EXPECT_THROW(log_ticks(0, 1), Error);
}

// ---------------------------------------------------------------- colours

double lightness(const Color& c) { // CIE L* from sRGB (D65), independent of the library
  auto lin = [](double v) { return v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4); };
  const double y = 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
  return y > 0.008856 ? 116 * std::cbrt(y) - 16 : 903.3 * y;
}

TEST(Colormaps, SequentialMapsRiseInLightnessAndHitTheirAnchors) {
  for (Colormap m : {Colormap::Viridis, Colormap::Cividis}) {
    double prev = -1;
    for (int i = 0; i <= 100; ++i) {
      const double l = lightness(colormap_color(m, i / 100.0));
      EXPECT_GT(l, prev) << "lightness must increase monotonically, t=" << i / 100.0;
      prev = l;
    }
  }
  const Color v0 = colormap_color(Colormap::Viridis, 0), v1 = colormap_color(Colormap::Viridis, 1);
  EXPECT_NEAR(v0.r * 255, 0x44, 0.6);
  EXPECT_NEAR(v0.g * 255, 0x01, 0.6);
  EXPECT_NEAR(v0.b * 255, 0x54, 0.6);
  EXPECT_NEAR(v1.r * 255, 0xFD, 0.6);
  EXPECT_NEAR(v1.g * 255, 0xE7, 0.6);
  EXPECT_NEAR(v1.b * 255, 0x25, 0.6);
  // Diverging: lightest in the middle, equally dark at both ends.
  const double mid = lightness(colormap_color(Colormap::Diverging, 0.5));
  EXPECT_GT(mid, 90);
  EXPECT_NEAR(lightness(colormap_color(Colormap::Diverging, 0.0)),
              lightness(colormap_color(Colormap::Diverging, 1.0)), 6);
  EXPECT_LT(lightness(colormap_color(Colormap::Diverging, 0.1)), mid);
  EXPECT_LT(lightness(colormap_color(Colormap::Diverging, 0.9)), mid);
}

TEST(Colormaps, CategoricalPaletteIsOkabeIto) {
  std::set<std::tuple<long, long, long>> seen;
  for (int i = 0; i < kCategoricalColors; ++i) {
    const Color c = categorical_color(i);
    seen.insert({std::lround(c.r * 255), std::lround(c.g * 255), std::lround(c.b * 255)});
  }
  EXPECT_EQ(seen.size(), 8u);
  EXPECT_TRUE(seen.count({0x00, 0x72, 0xB2})); // blue
  EXPECT_TRUE(seen.count({0xD5, 0x5E, 0x00})); // vermillion
  EXPECT_TRUE(seen.count({0xE6, 0x9F, 0x00})); // orange
  EXPECT_EQ(categorical_color(8), categorical_color(0));
}

// ---------------------------------------------------------------- layout

std::vector<const RecordingCanvas::StrokeCmd*> strokes_of(const RecordingCanvas& c,
                                                          const Color& color) {
  std::vector<const RecordingCanvas::StrokeCmd*> out;
  for (const auto& cmd : c.cmds) {
    if (const auto* s = std::get_if<RecordingCanvas::StrokeCmd>(&cmd);
        s && s->stroke.color == color) {
      out.push_back(s);
    }
  }
  return out;
}
const RecordingCanvas::TextCmd* text_cmd(const RecordingCanvas& c, const std::string& text) {
  for (const auto& cmd : c.cmds) {
    if (const auto* t = std::get_if<RecordingCanvas::TextCmd>(&cmd); t && t->text == text) {
      return t;
    }
  }
  return nullptr;
}

TEST(FigureLayout, DecimatesToThePixelWidthAndKeepsTheSpike) {
  const std::size_t n = 1'000'000;
  Figure f;
  Panel p;
  LineSeries l;
  l.name = "signal";
  l.x.resize(n);
  l.y.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    l.x[i] = static_cast<double>(i);
    l.y[i] = std::sin(i * 1e-4);
  }
  const std::size_t spike = 400'000;
  l.y[spike] = 9.0;
  p.lines.push_back(l);
  p.legend = LegendPlacement::None;
  f.panels.push_back(p);
  RecordingCanvas canvas;
  const double ppp = 2.0;
  const auto frames = draw_figure(f, canvas, {kSingleColumnWidth, 180, ppp});
  const auto s = strokes_of(canvas, categorical_color(0));
  ASSERT_EQ(s.size(), 1u);
  ASSERT_EQ(frames.size(), 1u);
  // The returned frame maps data to exactly the drawn points, and back.
  const Point first = data_to_canvas(frames[0], 0.0, l.y[0]);
  EXPECT_NEAR(first.x, s[0]->path[0].front().x, 1e-9);
  EXPECT_NEAR(first.y, s[0]->path[0].front().y, 1e-9);
  const Point back = canvas_to_data(frames[0], data_to_canvas(frames[0], 1234.5, 0.25));
  EXPECT_NEAR(back.x, 1234.5, 1e-6);
  EXPECT_NEAR(back.y, 0.25, 1e-12);
  ASSERT_EQ(s[0]->path.size(), 1u);
  const auto& pts = s[0]->path[0];
  EXPECT_LE(pts.size(), static_cast<std::size_t>(4 * kSingleColumnWidth * ppp + 8));
  // The highest point on screen (smallest y) is the spike, at its x fraction of the line.
  const auto top = std::min_element(pts.begin(), pts.end(),
                                    [](const Point& a, const Point& b) { return a.y < b.y; });
  const double frac = (top->x - pts.front().x) / (pts.back().x - pts.front().x);
  EXPECT_NEAR(frac, static_cast<double>(spike) / (n - 1), 1e-9);
}

TEST(FigureLayout, SeriesOnANiceLimitGetAirButZeroStaysTheFloor) {
  // A constant series at exactly 1.0 (a retracted router norm at C = 1) over data from 0 up: the
  // automatic y range must put 1.0 strictly inside the plot, while 0 stays the lower limit.
  for (const double lo : {0.0, 0.56, 0.42}) {
    Figure f;
    Panel p;
    p.legend = LegendPlacement::None;
    LineSeries top, low;
    top.name = "top";
    low.name = "low";
    for (int i = 0; i <= 20; ++i) {
      top.x.push_back(i);
      top.y.push_back(lo == 0.42 ? 1.0000001 : 1.0); // float rounding just above the limit
      low.x.push_back(i);
      low.y.push_back(lo + 0.01 * i);
    }
    p.lines = {top, low};
    f.panels.push_back(p);
    RecordingCanvas canvas;
    const auto frames = draw_figure(f, canvas, {kSingleColumnWidth, 180, 2.0});
    ASSERT_EQ(frames.size(), 1u);
    const PanelFrame& fr = frames[0];
    EXPECT_GT(fr.y_hi, 1.0) << "data from " << lo;
    EXPECT_LE(fr.y_hi, 1.0 + 0.031 * (1.0 - lo)) << "3% air, not the next nice number";
    if (lo == 0.0)
      EXPECT_EQ(fr.y_lo, 0.0);
    else
      EXPECT_LE(fr.y_lo, lo);
    // The drawn line sits strictly below the plot's top edge.
    const auto s = strokes_of(canvas, categorical_color(0));
    ASSERT_FALSE(s.empty());
    EXPECT_GT(s[0]->path[0].front().y, fr.plot.y + 1.0);
  }
}

TEST(FigureLayout, PanelFramesMapLogAxesBothWays) {
  const PanelFrame f{{10, 20, 100, 90}, 0, 10, 1, 1000, false, true, false};
  const Point p = data_to_canvas(f, 5, 10); // y = 10 is one third up a 3-decade axis
  EXPECT_NEAR(p.x, 60, 1e-12);
  EXPECT_NEAR(p.y, 110 - 30, 1e-12);
  const Point d = canvas_to_data(f, {35, 50});
  EXPECT_NEAR(d.x, 2.5, 1e-12);
  EXPECT_NEAR(d.y, 100, 1e-9);
  PanelFrame down = f;
  down.y_down = true; // heatmap rows: y_lo at the top
  EXPECT_NEAR(data_to_canvas(down, 0, 1).y, 20, 1e-12);
}

TEST(FigureLayout, LegendAvoidsDataOrMovesOutside) {
  // Data only in the lower-left quarter: the legend goes to the upper right, inside the plot.
  Figure f;
  Panel p;
  LineSeries a;
  a.name = "alpha";
  for (int i = 0; i <= 10; ++i) {
    a.x.push_back(i);
    a.y.push_back(i <= 4 ? 0.1 * i : NAN);
  }
  a.x.push_back(10);
  a.y.push_back(1.0); // a lone point fixes the range
  p.lines.push_back(a);
  f.panels.push_back(p);
  RecordingCanvas c1;
  draw_figure(f, c1, {300, 200, 1});
  const auto* t = text_cmd(c1, "alpha");
  ASSERT_NE(t, nullptr);
  EXPECT_GT(t->origin.x, 150);
  EXPECT_LT(t->origin.y, 100);
  const auto s1 = strokes_of(c1, categorical_color(0));
  double data_right = 0;
  for (const auto& run : s1.at(0)->path) {
    for (const auto& pt : run) {
      data_right = std::max(data_right, pt.x); // the lone point sits at the plot's right edge
    }
  }
  EXPECT_LT(t->origin.x, data_right) << "legend should sit inside the plot";

  // A band covering the whole plot: no free corner, so the legend moves outside on the right.
  f.panels[0].bands.push_back({"everything", {0, 10}, {0, 0}, {1, 1}, std::nullopt, 0, 0.2, true});
  f.panels[0].y.min = 0.0; // fixed limits: the band fills the plot (no automatic air above 1)
  f.panels[0].y.max = 1.0;
  RecordingCanvas c2;
  draw_figure(f, c2, {300, 200, 1});
  const auto* t2 = text_cmd(c2, "alpha");
  ASSERT_NE(t2, nullptr);
  double right = 0;
  for (const auto& cmd : c2.cmds) {
    if (const auto* fl = std::get_if<RecordingCanvas::FillCmd>(&cmd)) {
      for (const auto& pt : fl->path[0]) {
        right = std::max(right, pt.x);
      }
    }
  }
  EXPECT_GT(t2->origin.x, right);
}

// A canvas whose font is twice as wide: layout must use its measurements.
class WideCanvas : public RecordingCanvas {
public:
  TextExtent measure(const std::string& s, const TextStyle& st) override {
    TextExtent e = RecordingCanvas::measure(s, st);
    e.width *= 2;
    return e;
  }
};

TEST(FigureLayout, TextIsMeasuredByTheCanvas) {
  Figure f;
  Panel p;
  p.y.label = "value";
  LineSeries l;
  l.x = {0, 1, 2};
  l.y = {1000, 20000, 30000};
  p.lines.push_back(l);
  f.panels.push_back(p);
  auto plot_left = [&](RecordingCanvas& c) {
    draw_figure(f, c, {300, 200, 1});
    double left = 1e9;
    for (const auto& pt : strokes_of(c, categorical_color(0)).at(0)->path[0]) {
      left = std::min(left, pt.x);
    }
    return left;
  };
  RecordingCanvas narrow;
  WideCanvas wide;
  const double a = plot_left(narrow), b = plot_left(wide);
  // "30000" is 5 characters at 8 pt: 0.55·8·5 = 22 pt wider with the wide font.
  EXPECT_NEAR(b - a, 0.55 * 8 * 5, 1.0);
}

TEST(FigureLayout, RejectsMismatchedSeries) {
  Figure f;
  Panel p;
  LineSeries l;
  l.name = "bad";
  l.x = {1, 2, 3};
  l.y = {1, 2};
  p.lines.push_back(l);
  f.panels.push_back(p);
  RecordingCanvas c;
  try {
    draw_figure(f, c);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("'bad'"), std::string::npos) << e.what();
  }
}

TEST(FigureLayout, SharedAxesLabelOnlyTheOuterPanels) {
  Figure f;
  f.share_x = f.share_y = true;
  for (int k = 0; k < 4; ++k) {
    Panel p;
    p.x.label = "xlab";
    p.y.label = "ylab";
    LineSeries l;
    l.x = {0, 1};
    l.y = {0, 1.0 + k};
    p.lines.push_back(l);
    p.legend = LegendPlacement::None;
    f.panels.push_back(p);
  }
  RecordingCanvas c;
  draw_figure(f, c, {400, 300, 1});
  int xl = 0, yl = 0;
  for (const auto& cmd : c.cmds) {
    if (const auto* t = std::get_if<RecordingCanvas::TextCmd>(&cmd)) {
      xl += t->text == "xlab";
      yl += t->text == "ylab";
    }
  }
  EXPECT_EQ(xl, 2); // bottom row
  EXPECT_EQ(yl, 2); // left column
}

TEST(FigureLayout, DrawsMarkersCategoryBarsAndSymmetricDivergingHeatmaps) {
  Figure f;
  f.columns = 2;
  Panel bars;
  BarSeries b;
  b.name = "load";
  b.x = {0, 1, 2};
  b.height = {0.5, 1.5, 1.0};
  bars.bars.push_back(b);
  bars.x.category_ticks = {{0, "vanilla"}, {1, "MPI"}, {2, "ablation"}};
  LineSeries m;
  m.name = "marked";
  m.x = {0, 1, 2};
  m.y = {1, 1.2, 0.8};
  m.marker = Marker::Circle;
  m.color = Color{0.5, 0, 0.5, 1};
  bars.lines.push_back(m);
  f.panels.push_back(bars);
  Panel heat;
  Heatmap h;
  h.rows = 1;
  h.cols = 3;
  h.values = {-0.2, 0.0, 1.0};
  h.colormap = Colormap::Diverging;
  heat.heatmap = h;
  f.panels.push_back(heat);
  RecordingCanvas c;
  draw_figure(f, c, {400, 200, 1});
  int bar_rects = 0, marker_fills = 0;
  std::vector<std::string> texts;
  const RecordingCanvas::ImageCmd* image = nullptr;
  for (const auto& cmd : c.cmds) {
    if (const auto* r = std::get_if<RecordingCanvas::RectCmd>(&cmd)) {
      bar_rects += r->color == categorical_color(0) && r->rect.h > 10;
    } else if (const auto* fl = std::get_if<RecordingCanvas::FillCmd>(&cmd)) {
      marker_fills += fl->color == *m.color;
    } else if (const auto* t = std::get_if<RecordingCanvas::TextCmd>(&cmd)) {
      texts.push_back(t->text);
    } else if (const auto* im = std::get_if<RecordingCanvas::ImageCmd>(&cmd); im && im->w == 3) {
      image = im;
    }
  }
  EXPECT_EQ(bar_rects, 3);
  EXPECT_EQ(marker_fills, 3 + 1); // one per point plus the legend sample
  for (const char* s : {"vanilla", "MPI", "ablation"}) {
    EXPECT_NE(std::find(texts.begin(), texts.end(), s), texts.end()) << s;
  }
  ASSERT_NE(image, nullptr);
  // Signed data on a diverging map: limits ±max|v| = ±1, so 0 sits at the map's centre.
  const Color mid = colormap_color(Colormap::Diverging, 0.5);
  EXPECT_EQ(image->rgba[4], std::lround(mid.r * 255));
  EXPECT_EQ(image->rgba[5], std::lround(mid.g * 255));
  EXPECT_EQ(image->rgba[6], std::lround(mid.b * 255));
  const Color lo = colormap_color(Colormap::Diverging, 0.4); // -0.2 on [-1, 1]
  EXPECT_EQ(image->rgba[0], std::lround(lo.r * 255));

  // Category names too long for their slot are set at 30° instead of colliding.
  f.panels[0].x.category_ticks = {
      {0, "vanilla router baseline"}, {1, "MPI with retraction"}, {2, "MPI without retraction"}};
  RecordingCanvas c2;
  draw_figure(f, c2, {400, 200, 1});
  const RecordingCanvas::TextCmd* t = text_cmd(c2, "MPI with retraction");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->rotation, 30);
  EXPECT_EQ(text_cmd(c, "MPI")->rotation, 0);
}

// ---------------------------------------------------------------- builders

TEST(FigureBuilders, ConvergenceBandAndMeanMatchFloat64Recomputation) {
  ConvergenceData d;
  d.steps = {0, 1, 2, 3};
  ConvergencePanel l;
  l.layer = 3;
  l.per_expert = {{1, 0.5, 0.25, 0.1}, {2, 0.2, 0.02, 0.002}, {0.5, 0.4, NAN, 0.3}};
  l.highlight = {1};
  l.bound = {4, 2, 1, 0.5};
  d.layers.push_back(l);
  const Figure f = mpi_convergence_figure(d);
  ASSERT_EQ(f.panels.size(), 1u);
  const Panel& p = f.panels[0];
  ASSERT_EQ(p.bands.size(), 1u);
  for (std::size_t t = 0; t < 4; ++t) {
    double lo = INFINITY, hi = -INFINITY, s = 0;
    int n = 0;
    for (const auto& e : l.per_expert) {
      if (!std::isnan(e[t])) {
        lo = std::min(lo, e[t]);
        hi = std::max(hi, e[t]);
        s += e[t];
        ++n;
      }
    }
    EXPECT_EQ(p.bands[0].lower[t], lo);
    EXPECT_EQ(p.bands[0].upper[t], hi);
    EXPECT_DOUBLE_EQ(p.lines[0].y[t], s / n);
  }
  ASSERT_EQ(p.lines.size(), 3u); // mean, expert 1, bound
  EXPECT_EQ(p.lines[1].y, l.per_expert[1]);
  EXPECT_EQ(p.lines[2].dash, Dash::Dashed);
  EXPECT_EQ(p.lines[2].y, l.bound);
  EXPECT_EQ(p.y.scale, AxisScale::Log);
  l.highlight = {7};
  d.layers[0] = l;
  EXPECT_THROW(mpi_convergence_figure(d), Error);
}

TEST(FigureBuilders, HistogramCountsEveryValueOnce) {
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> u(0.2, 0.9);
  std::vector<double> v(1000);
  for (auto& x : v) {
    x = u(rng);
  }
  v.push_back(0.9); // the top edge belongs to the last bin
  const Histogram h = histogram(v, 7, 0.2, 0.9);
  ASSERT_EQ(h.counts.size(), 7u);
  double total = 0;
  for (int b = 0; b < 7; ++b) {
    const double lo = 0.2 + b * 0.1, hi = lo + 0.1;
    int expect = 0;
    for (double x : v) {
      expect += (x >= lo - 1e-12 && x < hi - 1e-12) || (b == 6 && x == 0.9);
    }
    EXPECT_NEAR(h.counts[b], expect, 1) << b; // bin edges are computed, allow edge rounding
    EXPECT_NEAR(h.centers[b], lo + 0.05, 1e-12);
    total += h.counts[b];
  }
  EXPECT_EQ(total, 1001);
}

TEST(FigureBuilders, HeatmapAndTrainingFiguresCarryTheInput) {
  AlignmentGrid g;
  g.layers = {1, 2, 5};
  g.experts = 4;
  for (int i = 0; i < 12; ++i) {
    g.values.push_back(i / 12.0);
  }
  const Figure f = alignment_heatmap(g);
  ASSERT_TRUE(f.panels[0].heatmap);
  EXPECT_EQ(f.panels[0].heatmap->values, g.values);
  EXPECT_EQ(f.panels[0].y.category_ticks[2].second, "5");
  g.values.pop_back();
  EXPECT_THROW(alignment_heatmap(g), Error);

  TrainingRun a{"vanilla", {0, 1, 2}, {3, 2, 1}, {}, {0.5, 0.4, 0.3}, {}, {}};
  TrainingRun b{"MPI", {0, 1, 2}, {3, 1.5, 0.5}, {}, {0.4, 0.2, 0.1}, {}, {}};
  const Figure t = training_comparison_figure({a, b});
  ASSERT_EQ(t.panels.size(), 2u); // loss and MaxVio only: empty metrics get no panel
  EXPECT_EQ(t.panels[1].lines[1].y, b.maxvio);
  EXPECT_TRUE(t.shared_legend);
}

} // namespace
} // namespace routerscope

namespace routerscope {
namespace {

// A title wider than the figure is set smaller, then cut after a whole word with "…"; it never
// runs off the canvas (the approximate metrics of RecordingCanvas: 0.55 em per character).
TEST(FigureLayoutTitle, LongTitlesShrinkThenCutAtAWord) {
  Figure f;
  Panel p;
  LineSeries line;
  line.x = line.y = {0, 1};
  p.lines.push_back(line);
  f.panels.push_back(p);
  f.title = "Router–expert alignment λ (Eq. 11, mean over experts) per layer during pretraining";
  for (double w : {1000.0, 420.0, 200.0}) {
    RecordingCanvas c;
    LayoutOptions opt;
    opt.width = w;
    opt.height = 200;
    draw_figure(f, c, opt);
    const RecordingCanvas::TextCmd* title = nullptr;
    for (const auto& cmd : c.cmds)
      if (auto* t = std::get_if<RecordingCanvas::TextCmd>(&cmd); t && t->style.bold && !title)
        title = t;
    ASSERT_NE(title, nullptr);
    const double width = c.measure(title->text, title->style).width;
    EXPECT_LE(width, w - 10 + 1e-9) << w;
    EXPECT_GE(title->origin.x, 0.0) << w;
    if (w == 1000.0) {
      EXPECT_EQ(title->text, f.title);
      EXPECT_EQ(title->style.size, f.style.title_font);
    } else if (w == 420.0) { // fits at a smaller size
      EXPECT_EQ(title->text, f.title);
      EXPECT_LT(title->style.size, f.style.title_font);
    } else {
      EXPECT_EQ(title->text.substr(title->text.size() - 3), "…");
      EXPECT_EQ(f.title.rfind(title->text.substr(0, title->text.size() - 3), 0), 0u);
    }
  }
}

// A panel title wider than its plot area is set smaller, then cut after a whole word with "…",
// centred over the plot (a long title no longer runs into the next panel or off the figure).
TEST(FigureLayoutTitle, LongPanelTitlesFitTheirPlotArea) {
  Figure f;
  Panel p;
  p.title = "layer 0: expert weight norm of the gate matrix over training steps";
  LineSeries line;
  line.x = line.y = {0, 1};
  p.lines.push_back(line);
  f.panels = {p, p};
  f.columns = 2;
  for (double w : {1400.0, 300.0}) {
    RecordingCanvas c;
    LayoutOptions opt;
    opt.width = w;
    opt.height = 200;
    const std::vector<PanelFrame> frames = draw_figure(f, c, opt);
    ASSERT_EQ(frames.size(), 2u);
    std::vector<const RecordingCanvas::TextCmd*> titles;
    for (const auto& cmd : c.cmds)
      if (auto* t = std::get_if<RecordingCanvas::TextCmd>(&cmd); t && t->style.bold)
        titles.push_back(t);
    ASSERT_EQ(titles.size(), 2u) << w;
    for (std::size_t i = 0; i < 2; ++i) {
      const Rect& plot = frames[i].plot;
      const RecordingCanvas::TextCmd& t = *titles[i];
      const double width = c.measure(t.text, t.style).width;
      EXPECT_LE(width, plot.w + 1e-9) << w;
      EXPECT_GE(t.origin.x, plot.x - 1e-9) << w;
      EXPECT_LE(t.origin.x + width, plot.right() + 1e-9) << w;
      if (w == 1400.0) {
        EXPECT_EQ(t.text, p.title);
      } else {
        EXPECT_EQ(t.text.substr(t.text.size() - 3), "…");
        EXPECT_EQ(p.title.rfind(t.text.substr(0, t.text.size() - 3), 0), 0u);
      }
    }
  }
}

} // namespace
} // namespace routerscope
