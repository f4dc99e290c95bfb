#include "core/figure_layout.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numbers>
#include <optional>
#include <tuple>

namespace routerscope {

// ---------------------------------------------------------------- ticks and labels

namespace {

// The {1,2,5}×10^k steps around `raw`, ascending, starting at or below raw.
struct NiceStep {
  double step;
  int exponent;
};
NiceStep nice_step_at_least(double raw) {
  int e = static_cast<int>(std::floor(std::log10(raw)));
  for (;; ++e) {
    for (double m : {1.0, 2.0, 5.0}) {
      const double s = m * std::pow(10.0, e);
      if (s >= raw * (1 - 1e-12)) {
        return {s, e};
      }
    }
  }
}
NiceStep next_nice_step(NiceStep s) {
  const double m = s.step / std::pow(10.0, s.exponent);
  if (m < 1.5) {
    return {2 * std::pow(10.0, s.exponent), s.exponent};
  }
  if (m < 3.5) {
    return {5 * std::pow(10.0, s.exponent), s.exponent};
  }
  return {std::pow(10.0, s.exponent + 1), s.exponent + 1};
}

// Integer multiple k·step, computed so that decimal steps print exactly.
double tick_value(long long k, const NiceStep& s) {
  const double m = std::round(s.step / std::pow(10.0, s.exponent));
  if (s.exponent < 0) {
    return static_cast<double>(k) * m / std::pow(10.0, -s.exponent);
  }
  return static_cast<double>(k) * m * std::pow(10.0, s.exponent);
}

void widen_degenerate(double& lo, double& hi) {
  if (!(hi > lo)) {
    const double d = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    lo -= d;
    hi += d;
  }
}

std::string superscript_digits(int n) {
  static const char* kDigits[] = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
  std::string digits = std::to_string(std::abs(n));
  std::string out = n < 0 ? "⁻" : "";
  for (char c : digits) {
    out += kDigits[c - '0'];
  }
  return out;
}

} // namespace

Ticks nice_ticks(double lo, double hi, int max_ticks) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) {
    throw_input_error("nice_ticks: axis range [" + std::to_string(lo) + ", " + std::to_string(hi) +
                      "] is not finite");
  }
  widen_degenerate(lo, hi);
  if (!std::isfinite(hi - lo)) {
    throw_input_error("nice_ticks: axis range [" + std::to_string(lo) + ", " + std::to_string(hi) +
                      "] is wider than a double holds");
  }
  max_ticks = std::max(max_ticks, 2);
  NiceStep s = nice_step_at_least((hi - lo) / (max_ticks - 1));
  for (;;) {
    const long long k0 = static_cast<long long>(std::floor(lo / s.step + 1e-9));
    const long long k1 = static_cast<long long>(std::ceil(hi / s.step - 1e-9));
    if (k1 - k0 + 1 <= max_ticks) {
      Ticks t;
      t.step = s.step;
      t.step_exponent = s.exponent;
      for (long long k = k0; k <= k1; ++k) {
        t.values.push_back(tick_value(k, s));
      }
      t.lo = t.values.front();
      t.hi = t.values.back();
      return t;
    }
    s = next_nice_step(s);
  }
}

Ticks nice_ticks_within(double lo, double hi, int max_ticks, bool integer_only) {
  widen_degenerate(lo, hi);
  max_ticks = std::max(max_ticks, 2);
  NiceStep s = nice_step_at_least(std::max((hi - lo) / (max_ticks - 1), integer_only ? 1.0 : 0.0));
  for (;;) {
    const long long k0 = static_cast<long long>(std::ceil(lo / s.step - 1e-9));
    const long long k1 = static_cast<long long>(std::floor(hi / s.step + 1e-9));
    if (k1 - k0 + 1 <= max_ticks) {
      Ticks t;
      t.lo = lo;
      t.hi = hi;
      t.step = s.step;
      t.step_exponent = s.exponent;
      for (long long k = k0; k <= k1; ++k) {
        t.values.push_back(tick_value(k, s));
      }
      return t;
    }
    s = next_nice_step(s);
  }
}

Ticks log_ticks(double lo, double hi) {
  if (!(lo > 0) || !(hi > 0) || !std::isfinite(lo) || !std::isfinite(hi)) {
    throw_input_error("log axis: limits must be positive and finite, found [" + std::to_string(lo) +
                      ", " + std::to_string(hi) + "]");
  }
  int e0 = static_cast<int>(std::floor(std::log10(lo) + 1e-9));
  int e1 = static_cast<int>(std::ceil(std::log10(hi) - 1e-9));
  if (e1 <= e0) {
    e1 = e0 + 1;
  }
  Ticks t;
  t.step = 10;
  t.step_exponent = 1;
  const int stride = std::max(1, (e1 - e0 + 7) / 8); // at most about 8 labelled decades
  for (int e = e0; e <= e1; e += stride) {
    t.values.push_back(std::pow(10.0, e));
  }
  t.lo = std::pow(10.0, e0);
  t.hi = std::pow(10.0, e1);
  return t;
}

std::string format_power_of_ten(int exponent) {
  return "10" + superscript_digits(exponent);
}

std::string format_tick(double value, int step_exponent, double max_abs) {
  char buf[64];
  const bool scientific = max_abs >= 1e5 || max_abs < 1e-3;
  if (value == 0 || std::abs(value) < 1e-12 * max_abs) {
    // zero carries the same decimals as its neighbours ("0.0" beside "0.5")
    std::snprintf(buf, sizeof buf, "%.*f", scientific ? 0 : std::max(0, -step_exponent), 0.0);
    return buf;
  }
  if (!scientific) {
    const int decimals = std::max(0, -step_exponent);
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
    std::string s = buf;
    if (s[0] == '-') {
      s = "−" + s.substr(1); // typographic minus
    }
    return s;
  }
  const int n = static_cast<int>(std::floor(std::log10(std::abs(value)) + 1e-9));
  const double mantissa = value / std::pow(10.0, n);
  const int decimals = std::max(0, n - step_exponent);
  std::snprintf(buf, sizeof buf, "%.*f", std::min(decimals, 6), mantissa);
  std::string m = buf;
  if (m.find('.') != std::string::npos) { // "1.0×10⁶" reads better as "10⁶"
    m.erase(m.find_last_not_of('0') + 1);
    if (m.back() == '.') {
      m.pop_back();
    }
  }
  if (m[0] == '-') {
    m = "−" + m.substr(1);
  }
  if (m == "1") {
    return format_power_of_ten(n);
  }
  if (m == "−1") {
    return "−" + format_power_of_ten(n);
  }
  return m + "×" + format_power_of_ten(n);
}

// ---------------------------------------------------------------- decimation

std::vector<std::vector<std::size_t>> decimate_min_max(std::span<const double> x,
                                                       std::span<const double> y, double x_lo,
                                                       double x_hi, int pixel_width, bool x_log,
                                                       bool y_log) {
  if (x.size() != y.size()) {
    throw_input_error("decimate_min_max: x has " + std::to_string(x.size()) + " values but y has " +
                      std::to_string(y.size()));
  }
  if (x_log) {
    x_lo = std::log10(x_lo);
    x_hi = std::log10(x_hi);
  }
  if (!(x_hi > x_lo) || pixel_width < 1) {
    throw_input_error("decimate_min_max: empty x range or pixel width");
  }
  const double scale = pixel_width / (x_hi - x_lo);
  std::vector<std::vector<std::size_t>> runs;
  std::vector<std::size_t> run;
  bool active = false;
  long col = 0;
  std::size_t first = 0, last = 0, imin = 0, imax = 0;
  auto flush = [&] {
    if (!active) {
      return;
    }
    std::size_t keep[4] = {first, imin, imax, last};
    std::sort(keep, keep + 4);
    for (int k = 0; k < 4; ++k) {
      if (k == 0 || keep[k] != keep[k - 1]) {
        run.push_back(keep[k]);
      }
    }
    active = false;
  };
  auto end_run = [&] {
    flush();
    if (!run.empty()) {
      runs.push_back(std::move(run));
      run.clear();
    }
  };
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double xi = x[i], yi = y[i];
    if (std::isnan(xi) || std::isnan(yi) || (y_log && !(yi > 0)) || (x_log && !(xi > 0))) {
      end_run();
      continue;
    }
    const double u = ((x_log ? std::log10(xi) : xi) - x_lo) * scale;
    // Everything left (right) of the plot collapses into one column each.
    const long c = u < 0 ? -1 : (u >= pixel_width ? pixel_width : static_cast<long>(u));
    if (active && c == col) {
      last = i;
      if (yi < y[imin]) {
        imin = i;
      }
      if (yi > y[imax]) {
        imax = i;
      }
    } else {
      flush();
      active = true;
      col = c;
      first = last = imin = imax = i;
    }
  }
  end_run();
  return runs;
}

TextExtent RecordingCanvas::measure(const std::string& text, const TextStyle& style) {
  std::size_t chars = 0;
  for (unsigned char c : text) {
    chars += (c & 0xC0) != 0x80; // count UTF-8 code points
  }
  return {0.55 * style.size * static_cast<double>(chars), 0.72 * style.size, 0.0};
}

// ---------------------------------------------------------------- layout

namespace {

constexpr double kTickLength = 3.0;
constexpr double kTickGap = 2.5;
constexpr double kPad = 5.0;

enum class HAlign { Left, Center, Right };
enum class VAlign { Top, Middle, Baseline, Bottom };

std::string where(const Figure& f, std::size_t panel) {
  return "figure '" + f.title + "' panel " + std::to_string(panel);
}

// Draws text aligned at `anchor`; rotation 0 or 90 (reading upwards).
void draw_text(Canvas& canvas, const std::string& s, const TextStyle& style, Point anchor, HAlign h,
               VAlign v, double rotation = 0) {
  if (s.empty()) {
    return;
  }
  const TextExtent e = canvas.measure(s, style);
  const double cap = canvas.measure("0", style).ascent;
  const double hf = h == HAlign::Left ? 0 : (h == HAlign::Center ? 0.5 : 1.0);
  double vshift = 0;
  switch (v) {
  case VAlign::Top:
    vshift = cap;
    break;
  case VAlign::Middle:
    vshift = cap / 2;
    break;
  case VAlign::Baseline:
    vshift = 0;
    break;
  case VAlign::Bottom:
    vshift = -e.descent;
    break;
  }
  const double th = rotation * std::numbers::pi / 180.0;
  const Point u{std::cos(th), -std::sin(th)}, w{std::sin(th), std::cos(th)};
  const Point origin{anchor.x - e.width * hf * u.x + vshift * w.x,
                     anchor.y - e.width * hf * u.y + vshift * w.y};
  canvas.text(origin, s, style, rotation);
}

std::vector<double> dash_pattern(Dash d, double width) {
  const double w = std::max(width, 1.0);
  switch (d) {
  case Dash::Solid:
    return {};
  case Dash::Dashed:
    return {3.7 * w, 1.6 * w};
  case Dash::Dotted:
    return {1.0 * w, 1.65 * w};
  case Dash::DashDot:
    return {6.4 * w, 1.6 * w, 1.0 * w, 1.6 * w};
  }
  return {};
}

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
};

void check_sizes(const Figure& f, std::size_t p, const std::string& what, const std::string& name,
                 std::size_t a, std::size_t b, const char* an, const char* bn) {
  if (a != b) {
    throw_input_error(where(f, p) + " " + what + " '" + name + "': " + an + " has " +
                      std::to_string(a) + " values but " + bn + " has " + std::to_string(b));
  }
}

void validate(const Figure& f) {
  for (std::size_t p = 0; p < f.panels.size(); ++p) {
    const Panel& panel = f.panels[p];
    for (const auto& l : panel.lines) {
      check_sizes(f, p, "series", l.name, l.x.size(), l.y.size(), "x", "y");
    }
    for (const auto& b : panel.bands) {
      check_sizes(f, p, "band", b.name, b.x.size(), b.lower.size(), "x", "lower");
      check_sizes(f, p, "band", b.name, b.x.size(), b.upper.size(), "x", "upper");
    }
    for (const auto& b : panel.bars) {
      check_sizes(f, p, "bars", b.name, b.x.size(), b.height.size(), "x", "height");
    }
    if (panel.heatmap) {
      const Heatmap& h = *panel.heatmap;
      if (h.rows < 0 || h.cols < 0) {
        throw_input_error(where(f, p) + " heatmap '" + h.name + "': negative size");
      }
      check_sizes(f, p, "heatmap", h.name, h.values.size(),
                  static_cast<std::size_t>(h.rows) * static_cast<std::size_t>(h.cols), "values",
                  "rows×cols");
    }
  }
}

Range data_range(const Panel& panel, bool x_axis, bool log) {
  Range r;
  for (const auto& l : panel.lines) {
    for (std::size_t i = 0; i < l.x.size(); ++i) {
      if (std::isnan(l.x[i]) || std::isnan(l.y[i]) || (log && !((x_axis ? l.x[i] : l.y[i]) > 0))) {
        continue;
      }
      r.add(x_axis ? l.x[i] : l.y[i], log);
    }
  }
  for (const auto& b : panel.bands) {
    for (std::size_t i = 0; i < b.x.size(); ++i) {
      if (x_axis) {
        r.add(b.x[i], log);
      } else {
        r.add(b.lower[i], log);
        r.add(b.upper[i], log);
      }
    }
  }
  for (const auto& b : panel.bars) {
    for (std::size_t i = 0; i < b.x.size(); ++i) {
      if (x_axis) {
        r.add(b.x[i] - b.width / 2, log);
        r.add(b.x[i] + b.width / 2, log);
      } else {
        r.add(b.height[i], log);
        r.add(b.baseline, log);
      }
    }
  }
  if (panel.heatmap && panel.heatmap->rows > 0 && panel.heatmap->cols > 0) {
    const Heatmap& h = *panel.heatmap;
    if (x_axis) {
      r.add(h.x0, log);
      r.add(h.x0 + h.cols * h.dx, log);
    } else {
      r.add(h.y0, log);
      r.add(h.y0 + h.rows * h.dy, log);
    }
  }
  return r;
}

// Limits and ticks of one axis for `length` pt of plot; `label_room(ticks)` says whether the
// labels fit (x axis: no overlap).
ResolvedAxis resolve_axis(const Axis& axis, Range r, double length, bool exact_extent,
                          double tick_font, Canvas& canvas, bool horizontal,
                          const std::string& context) {
  ResolvedAxis out;
  out.log = axis.scale == AxisScale::Log;
  if (axis.min) {
    r.lo = *axis.min;
  }
  if (axis.max) {
    r.hi = *axis.max;
  }
  if (r.empty()) {
    r = out.log ? Range{1, 10} : Range{0, 1};
  }
  if (out.log && (!(r.lo > 0) || !(r.hi > 0))) {
    throw_input_error(context + ": log axis '" + axis.label + "' needs positive limits, found [" +
                      std::to_string(r.lo) + ", " + std::to_string(r.hi) + "]");
  }
  const TextStyle ts{tick_font, false, {}};
  const double spacing = horizontal ? 0 : tick_font * 2.4;
  int max_ticks = horizontal ? std::clamp(static_cast<int>(length / 30), 3, 9)
                             : std::clamp(static_cast<int>(length / spacing), 3, 8);
  if (!axis.category_ticks.empty()) {
    out.category = true;
    out.lo = r.lo;
    out.hi = r.hi;
    if (!exact_extent) {
      // Air around the outer categories: a fraction of the category spacing on each side.
      double spacing = 1;
      if (axis.category_ticks.size() >= 2) {
        spacing = std::abs(axis.category_ticks.back().first - axis.category_ticks.front().first) /
                  static_cast<double>(axis.category_ticks.size() - 1);
      }
      for (const auto& [v, text] : axis.category_ticks) {
        out.lo = std::min(out.lo, v - 0.5 * spacing);
        out.hi = std::max(out.hi, v + 0.5 * spacing);
      }
      out.lo = axis.min.value_or(out.lo - 0.1 * spacing);
      out.hi = axis.max.value_or(out.hi + 0.1 * spacing);
    }
    const std::size_t n = axis.category_ticks.size();
    const std::size_t stride = std::max<std::size_t>(1, (n + max_ticks * 2 - 1) / (max_ticks * 2));
    for (std::size_t i = 0; i < n; i += stride) {
      out.ticks.push_back(axis.category_ticks[i].first);
      out.labels.push_back(axis.category_ticks[i].second);
    }
    return out;
  }
  std::optional<double> air_lo, air_hi;
  if (!horizontal && !out.log && !exact_extent && !(axis.min && axis.max) && r.hi > r.lo) {
    // A series lying exactly on an automatic y limit (a retracted router norm at C = 1, |cos| that
    // converged to 1) would hide under the axis frame: that side gets 3% air, and the axis ends
    // there rather than at the next nice number (|cos| must not get a 1.5 tick). Zero stays a
    // limit: non-negative quantities start there.
    // Within float rounding of a nice number counts as on it (a norm of 1.0000001 is on 1).
    const double span = r.hi - r.lo, eps = 1e-6 * span;
    const Ticks probe = nice_ticks(r.lo + eps, r.hi - eps, max_ticks);
    if (!axis.max && r.hi != 0 && r.hi >= probe.hi - eps)
      air_hi = r.hi + 0.03 * span;
    if (!axis.min && r.lo != 0 && r.lo <= probe.lo + eps)
      air_lo = r.lo - 0.03 * span;
  }
  for (;; --max_ticks) {
    Ticks t;
    if (out.log) {
      t = log_ticks(r.lo, r.hi);
      if (axis.min || axis.max) {
        t.lo = r.lo;
        t.hi = r.hi;
      }
    } else if (exact_extent || (axis.min && axis.max)) {
      t = nice_ticks_within(r.lo, r.hi, max_ticks, exact_extent);
    } else {
      t = nice_ticks(r.lo, r.hi, max_ticks);
      if (axis.min) {
        t.lo = *axis.min;
      }
      if (axis.max) {
        t.hi = *axis.max;
      }
      if (air_hi) {
        t.hi = *air_hi;
      }
      if (air_lo) {
        t.lo = *air_lo;
      }
    }
    out.lo = t.lo;
    out.hi = t.hi;
    out.ticks.clear();
    out.labels.clear();
    double max_abs = 0;
    for (double v : t.values) {
      if (v >= std::min(t.lo, t.hi) - 1e-9 * std::abs(t.hi - t.lo) &&
          v <= std::max(t.lo, t.hi) + 1e-9 * std::abs(t.hi - t.lo)) {
        out.ticks.push_back(v);
        max_abs = std::max(max_abs, std::abs(v));
      }
    }
    for (double v : out.ticks) {
      out.labels.push_back(out.log
                               ? format_power_of_ten(static_cast<int>(std::lround(std::log10(v))))
                               : format_tick(v, t.step_exponent, max_abs));
    }
    if (out.log) {
      out.minor.clear();
      const int e0 = static_cast<int>(std::floor(std::log10(out.lo))) - 1;
      const int e1 = static_cast<int>(std::ceil(std::log10(out.hi)));
      if (e1 - e0 <= 10) {
        for (int e = e0; e <= e1; ++e) {
          for (int m = 2; m <= 9; ++m) {
            const double v = m * std::pow(10.0, e);
            if (v > out.lo && v < out.hi) {
              out.minor.push_back(v);
            }
          }
        }
      }
    }
    if (!horizontal || max_ticks <= 2 || out.ticks.size() < 2) {
      return out;
    }
    // Horizontal labels must not touch: the widest label plus a gap fits between ticks.
    double widest = 0;
    for (const auto& s : out.labels) {
      widest = std::max(widest, canvas.measure(s, ts).width);
    }
    AxisMap m{out.lo, out.hi, out.log, 0, length};
    double min_gap = std::numeric_limits<double>::infinity();
    for (std::size_t i = 1; i < out.ticks.size(); ++i) {
      min_gap = std::min(min_gap, std::abs(m(out.ticks[i]) - m(out.ticks[i - 1])));
    }
    if (min_gap >= widest + tick_font * 0.8 || out.log) {
      return out;
    }
  }
}

struct LegendEntry {
  std::string name;
  Color color;
  enum Kind { Line, Patch } kind = Line;
  double width = 1.25;
  Dash dash = Dash::Solid;
  Marker marker = Marker::None;
  double marker_size = 3.5;
};

Color series_color(const Panel& p, std::size_t i) {
  return p.lines[i].color.value_or(categorical_color(static_cast<int>(i)));
}
Color band_color(const Panel& p, const Band& b) {
  if (b.color) {
    return *b.color;
  }
  if (b.color_index >= 0 && static_cast<std::size_t>(b.color_index) < p.lines.size()) {
    return series_color(p, static_cast<std::size_t>(b.color_index));
  }
  return categorical_color(b.color_index);
}

std::vector<LegendEntry> legend_entries(const Panel& p) {
  std::vector<LegendEntry> out;
  for (std::size_t i = 0; i < p.lines.size(); ++i) {
    const LineSeries& l = p.lines[i];
    if (l.in_legend && !l.name.empty()) {
      out.push_back({l.name, series_color(p, i), LegendEntry::Line, l.width, l.dash, l.marker,
                     l.marker_size});
    }
  }
  for (std::size_t i = 0; i < p.bands.size(); ++i) {
    const Band& b = p.bands[i];
    if (b.in_legend && !b.name.empty()) {
      out.push_back({b.name, band_color(p, b).with_alpha(b.alpha * 1.4), LegendEntry::Patch});
    }
  }
  for (std::size_t i = 0; i < p.bars.size(); ++i) {
    const BarSeries& b = p.bars[i];
    if (b.in_legend && !b.name.empty()) {
      out.push_back(
          {b.name, b.color.value_or(categorical_color(static_cast<int>(i))), LegendEntry::Patch});
    }
  }
  return out;
}

constexpr double kSwatch = 16.0;

struct LegendBox {
  double w = 0, h = 0, row = 0;
};
LegendBox legend_box(Canvas& canvas, const std::vector<LegendEntry>& entries,
                     const FigureStyle& st) {
  LegendBox b;
  if (entries.empty()) {
    return b;
  }
  const TextStyle ts{st.legend_font, false, st.text};
  double widest = 0;
  for (const auto& e : entries) {
    widest = std::max(widest, canvas.measure(e.name, ts).width);
  }
  b.row = st.legend_font * 1.35;
  b.w = 4 + kSwatch + 4 + widest + 5;
  b.h = 3 + b.row * static_cast<double>(entries.size()) + 3;
  return b;
}

void draw_marker(Canvas& canvas, Marker m, Point c, double size, const Color& color) {
  const double r = size / 2;
  std::vector<Point> poly;
  switch (m) {
  case Marker::None:
    return;
  case Marker::Circle:
    for (int k = 0; k < 16; ++k) {
      const double a = 2 * std::numbers::pi * k / 16;
      poly.push_back({c.x + r * std::cos(a), c.y + r * std::sin(a)});
    }
    break;
  case Marker::Square:
    poly = {{c.x - r, c.y - r}, {c.x + r, c.y - r}, {c.x + r, c.y + r}, {c.x - r, c.y + r}};
    break;
  case Marker::Triangle:
    poly = {{c.x, c.y - r * 1.15}, {c.x + r, c.y + r * 0.75}, {c.x - r, c.y + r * 0.75}};
    break;
  case Marker::Diamond:
    poly = {{c.x, c.y - r * 1.2}, {c.x + r, c.y}, {c.x, c.y + r * 1.2}, {c.x - r, c.y}};
    break;
  }
  canvas.fill({poly}, color);
}

void draw_legend_entry(Canvas& canvas, const LegendEntry& e, Point left_mid,
                       const FigureStyle& st) {
  if (e.kind == LegendEntry::Patch) {
    canvas.fill_rect({left_mid.x, left_mid.y - 3.5, kSwatch, 7}, e.color);
  } else {
    canvas.stroke({{{left_mid.x, left_mid.y}, {left_mid.x + kSwatch, left_mid.y}}},
                  {e.color, e.width, dash_pattern(e.dash, e.width)});
    draw_marker(canvas, e.marker, {left_mid.x + kSwatch / 2, left_mid.y}, e.marker_size, e.color);
  }
  draw_text(canvas, e.name, {st.legend_font, false, st.text},
            {left_mid.x + kSwatch + 4, left_mid.y}, HAlign::Left, VAlign::Middle);
}

void draw_legend(Canvas& canvas, const std::vector<LegendEntry>& entries, const LegendBox& box,
                 Point top_left, const FigureStyle& st) {
  canvas.fill_rect({top_left.x, top_left.y, box.w, box.h}, {1, 1, 1, 0.88});
  const double x = top_left.x, y = top_left.y;
  canvas.stroke({{{x, y}, {x + box.w, y}, {x + box.w, y + box.h}, {x, y + box.h}, {x, y}}},
                {{0.8, 0.8, 0.8, 1}, 0.5, {}});
  for (std::size_t i = 0; i < entries.size(); ++i) {
    draw_legend_entry(canvas, entries[i], {x + 4, y + 3 + box.row * (static_cast<double>(i) + 0.5)},
                      st);
  }
}

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

Point to_pt(const PanelGeom& g, double x, double y) {
  return {g.xm(x), g.ym(y)};
}

// Decimated geometry of a panel's bands, bars, lines and markers, in points.
Drawn panel_geometry(const Panel& panel, const PanelGeom& g, double ppp) {
  Drawn d;
  const int px = std::max(1, static_cast<int>(std::ceil(g.plot.w * ppp)));
  const bool xl = g.xa.log, yl = g.ya.log;
  auto valid = [&](double x, double y) {
    return std::isfinite(x) && std::isfinite(y) && (!xl || x > 0) && (!yl || y > 0);
  };
  for (const Band& b : panel.bands) {
    // Per pixel column envelope: lowest lower and highest upper, so nothing is hidden.
    Path path;
    std::vector<Point> up, lo;
    long col = std::numeric_limits<long>::min();
    auto close = [&] {
      if (!up.empty()) {
        std::vector<Point> poly = up;
        poly.insert(poly.end(), lo.rbegin(), lo.rend());
        path.push_back(std::move(poly));
      }
      up.clear();
      lo.clear();
      col = std::numeric_limits<long>::min();
    };
    for (std::size_t i = 0; i < b.x.size(); ++i) {
      // On a log axis a lower edge at or below zero means "down to the axis floor".
      const double lower = yl && b.lower[i] <= 0 ? std::min(g.ya.lo, b.upper[i]) : b.lower[i];
      if (!valid(b.x[i], lower) || !valid(b.x[i], b.upper[i])) {
        close();
        continue;
      }
      const double xp = g.xm(b.x[i]);
      const long c = static_cast<long>(std::floor((xp - g.plot.x) * ppp));
      const double yu = g.ym(b.upper[i]), ylo = g.ym(lower);
      const bool dense = b.x.size() > static_cast<std::size_t>(2 * px);
      if (dense && c == col && up.size() >= 2) {
        // Extend this pixel column's envelope (screen y grows downwards): its two vertices (first
        // and last x of the column) carry the highest upper and the lowest lower value.
        const std::size_t k = up.size() - 1;
        up[k].x = lo[k].x = xp;
        for (std::size_t j : {k - 1, k}) {
          up[j].y = std::min(up[j].y, yu);
          lo[j].y = std::max(lo[j].y, ylo);
        }
        continue;
      }
      col = c;
      up.push_back({xp, yu});
      lo.push_back({xp, ylo});
      if (dense) {
        up.push_back({xp, yu});
        lo.push_back({xp, ylo});
      }
    }
    close();
    if (!path.empty()) {
      d.fills.push_back({std::move(path), band_color(panel, b).with_alpha(b.alpha)});
    }
  }
  for (std::size_t i = 0; i < panel.bars.size(); ++i) {
    const BarSeries& b = panel.bars[i];
    const Color c = b.color.value_or(categorical_color(static_cast<int>(i)));
    for (std::size_t k = 0; k < b.x.size(); ++k) {
      if (!valid(b.x[k], b.height[k])) {
        continue;
      }
      const double x0 = g.xm(b.x[k] - b.width / 2), x1 = g.xm(b.x[k] + b.width / 2);
      const double y0 = g.ym(yl ? std::max(b.baseline, g.ya.lo) : b.baseline),
                   y1 = g.ym(b.height[k]);
      d.bars.push_back(
          {{std::min(x0, x1), std::min(y0, y1), std::abs(x1 - x0), std::abs(y1 - y0)}, c});
    }
  }
  for (std::size_t i = 0; i < panel.lines.size(); ++i) {
    const LineSeries& l = panel.lines[i];
    const Color c = series_color(panel, i);
    Path path;
    for (const auto& run : decimate_min_max(l.x, l.y, g.xa.lo, g.xa.hi, px, xl, yl)) {
      std::vector<Point> pts;
      pts.reserve(run.size());
      for (std::size_t k : run) {
        pts.push_back(to_pt(g, l.x[k], l.y[k]));
      }
      path.push_back(std::move(pts));
    }
    if (!path.empty()) {
      d.lines.push_back({std::move(path), Stroke{c, l.width, dash_pattern(l.dash, l.width)}});
    }
    if (l.marker != Marker::None && !l.x.empty()) {
      const std::size_t n = l.x.size();
      const std::size_t every =
          l.marker_every > 0 ? static_cast<std::size_t>(l.marker_every) : (n <= 60 ? 1 : n / 40);
      for (std::size_t k = 0; k < n; k += every) {
        if (valid(l.x[k], l.y[k])) {
          d.markers.emplace_back(l.marker, to_pt(g, l.x[k], l.y[k]), l.marker_size, c);
        }
      }
    }
  }
  return d;
}

bool segment_hits_rect(Point a, Point b, const Rect& r) {
  double t0 = 0, t1 = 1;
  const double dx = b.x - a.x, dy = b.y - a.y;
  const double p[4] = {-dx, dx, -dy, dy};
  const double q[4] = {a.x - r.x, r.right() - a.x, a.y - r.y, r.bottom() - a.y};
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0) {
      if (q[i] < 0) {
        return false;
      }
    } else {
      const double t = q[i] / p[i];
      if (p[i] < 0) {
        t0 = std::max(t0, t);
      } else {
        t1 = std::min(t1, t);
      }
      if (t0 > t1) {
        return false;
      }
    }
  }
  return true;
}

bool inside_polygon(const std::vector<Point>& poly, Point p) {
  bool in = false;
  for (std::size_t i = 0, j = poly.size() - 1; i < poly.size(); j = i++) {
    if ((poly[i].y > p.y) != (poly[j].y > p.y) &&
        p.x < (poly[j].x - poly[i].x) * (p.y - poly[i].y) / (poly[j].y - poly[i].y) + poly[i].x) {
      in = !in;
    }
  }
  return in;
}

// How much of the drawn data a legend at `box` would cover or touch (0 = nothing within 3 pt).
double overlap_score(const Drawn& d, const Rect& box) {
  const Rect r{box.x - 3, box.y - 3, box.w + 6, box.h + 6};
  double score = 0;
  for (const auto& [path, stroke] : d.lines) {
    for (const auto& run : path) {
      for (std::size_t i = 0; i + 1 < run.size(); ++i) {
        score += segment_hits_rect(run[i], run[i + 1], r);
      }
      if (run.size() == 1) {
        score += r.contains(run[0]);
      }
    }
  }
  for (const auto& [path, color] : d.fills) {
    for (const auto& poly : path) {
      for (double fx : {0.0, 0.5, 1.0}) {
        for (double fy : {0.0, 0.5, 1.0}) {
          score += 0.5 * inside_polygon(poly, {r.x + fx * r.w, r.y + fy * r.h});
        }
      }
    }
  }
  for (const auto& [rect, color] : d.bars) {
    score += rect.x < r.right() && rect.right() > r.x && rect.y < r.bottom() && rect.bottom() > r.y;
  }
  for (const auto& m : d.markers) {
    score += r.contains(std::get<1>(m));
  }
  return score;
}

double text_height(Canvas& canvas, double size) {
  const TextExtent e = canvas.measure("0", {size, false, {}});
  return e.ascent + std::max(e.descent, 0.2 * size);
}

struct FigureLayout {
  std::vector<PanelGeom> geoms;
  double top = 0; // below title and shared legend
};

// Computes every panel's geometry; `outside[p]` reserves room for panel p's legend on its right.
FigureLayout compute_layout(const Figure& fig, Canvas& canvas, double W, double H,
                            const std::vector<bool>& outside, double shared_legend_h) {
  const FigureStyle& st = fig.style;
  FigureLayout fl;
  const std::size_t n = fig.panels.size();
  fl.geoms.resize(n);
  double top = kPad;
  if (!fig.title.empty()) {
    top += text_height(canvas, st.title_font) + 6;
  }
  top += shared_legend_h;
  fl.top = top;
  if (n == 0) {
    return fl;
  }
  const int cols = grid_columns(fig);
  const int rows = static_cast<int>((n + cols - 1) / cols);

  // Shared limits.
  Range shared_x, shared_y;
  for (const Panel& p : fig.panels) {
    const Range rx = data_range(p, true, p.x.scale == AxisScale::Log);
    const Range ry = data_range(p, false, p.y.scale == AxisScale::Log);
    shared_x.add(rx.lo, false), shared_x.add(rx.hi, false);
    shared_y.add(ry.lo, false), shared_y.add(ry.hi, false);
  }

  // Which labels each panel shows.
  for (std::size_t i = 0; i < n; ++i) {
    const int r = static_cast<int>(i) / cols, c = static_cast<int>(i) % cols;
    PanelGeom& g = fl.geoms[i];
    const bool has_below = (r + 1) * cols + c < static_cast<int>(n);
    g.x_labels = !fig.share_x || !has_below;
    g.x_title = g.x_labels;
    g.y_labels = !fig.share_y || c == 0;
    g.y_title = g.y_labels;
    g.legend_outside = outside[i];
  }

  // Vertical margins per row.
  const double tick_h = text_height(canvas, st.tick_font);
  const double label_h = text_height(canvas, st.label_font);
  std::vector<double> row_top(static_cast<std::size_t>(rows), 0),
      row_bottom(static_cast<std::size_t>(rows), 0);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t r = i / static_cast<std::size_t>(cols);
    const Panel& p = fig.panels[i];
    PanelGeom& g = fl.geoms[i];
    double t = p.title.empty() ? 4 : text_height(canvas, st.label_font) + 6;
    double b = kTickLength + 2;
    g.x_label_h = tick_h;
    if (!p.x.category_ticks.empty()) {
      // Long category names that would collide are set at 30°, right end under the tick.
      double widest = 0;
      for (const auto& [v, text] : p.x.category_ticks) {
        widest = std::max(widest, canvas.measure(text, {st.tick_font, false, {}}).width);
      }
      const double spacing =
          (W - 2 * kPad) / cols * 0.75 / static_cast<double>(p.x.category_ticks.size());
      if (widest + st.tick_font * 0.8 > spacing) {
        g.x_rotated = true;
        g.x_label_h = widest * 0.5 + tick_h * 0.87;
      }
    }
    if (g.x_labels) {
      b += kTickGap + g.x_label_h;
    }
    if (g.x_title && !p.x.title().empty()) {
      b += 4 + label_h;
    }
    row_top[r] = std::max(row_top[r], t);
    row_bottom[r] = std::max(row_bottom[r], b);
  }
  double vspace = H - top - kPad;
  for (int r = 0; r < rows; ++r) {
    vspace -= row_top[static_cast<std::size_t>(r)] + row_bottom[static_cast<std::size_t>(r)];
  }
  const double gap_v = rows > 1 ? 6.0 : 0.0;
  const double plot_h = std::max(10.0, (vspace - gap_v * (rows - 1)) / rows);

  // Y axes (need the plot height), then horizontal margins per column.
  std::vector<double> col_left(static_cast<std::size_t>(cols), 0),
      col_right(static_cast<std::size_t>(cols), 0);
  for (std::size_t i = 0; i < n; ++i) {
    const Panel& p = fig.panels[i];
    PanelGeom& g = fl.geoms[i];
    Range ry = fig.share_y ? shared_y : data_range(p, false, p.y.scale == AxisScale::Log);
    g.ya = resolve_axis(p.y, ry, plot_h, p.heatmap.has_value(), st.tick_font, canvas, false,
                        where(fig, i));
    double widest = 0;
    for (const auto& s : g.ya.labels) {
      widest = std::max(widest, canvas.measure(s, {st.tick_font, false, {}}).width);
    }
    double l = kTickLength + 2;
    if (g.y_labels) {
      l += kTickGap + widest;
    }
    if (g.y_title && !p.y.title().empty()) {
      l += 4 + label_h;
    }
    double right = 8;
    if (p.heatmap) {
      const Heatmap& h = *p.heatmap;
      Range vr;
      for (double v : h.values) {
        vr.add(v, false);
      }
      if (vr.empty()) {
        vr = {0, 1};
      }
      if (h.colormap == Colormap::Diverging) { // signed data: zero at the map's centre
        const double m = std::max(std::abs(vr.lo), std::abs(vr.hi));
        vr = {-m, m};
      }
      g.vmin = h.vmin.value_or(vr.lo);
      g.vmax = h.vmax.value_or(vr.hi);
      if (!(g.vmax > g.vmin)) {
        g.vmax = g.vmin + 1;
      }
    }
    if (p.heatmap && p.heatmap->colorbar) {
      const Ticks t =
          nice_ticks_within(g.vmin, g.vmax, std::clamp(static_cast<int>(plot_h / 22), 3, 6));
      double max_abs = 0;
      for (double v : t.values) {
        max_abs = std::max(max_abs, std::abs(v));
      }
      double cw = 0;
      for (double v : t.values) {
        g.ca.ticks.push_back(v);
        g.ca.labels.push_back(format_tick(v, t.step_exponent, max_abs));
        cw = std::max(cw, canvas.measure(g.ca.labels.back(), {st.tick_font, false, {}}).width);
      }
      g.ca.lo = g.vmin;
      g.ca.hi = g.vmax;
      right = 8 + 8 + kTickLength + kTickGap + cw +
              (p.heatmap->colorbar_label.empty() ? 4 : 6 + label_h);
      g.colorbar_room = right;
    }
    if (g.legend_outside) {
      right += legend_box(canvas, legend_entries(p), st).w + 4;
    }
    if (!p.heatmap && !g.legend_outside) {
      // The last x tick label is centred on the plot's right edge: leave room for its half.
      const double est_w = std::max(10.0, (W - 2 * kPad) / cols - l - right);
      const ResolvedAxis xa = resolve_axis(
          p.x, fig.share_x ? shared_x : data_range(p, true, p.x.scale == AxisScale::Log), est_w,
          false, st.tick_font, canvas, true, where(fig, i));
      if (!xa.labels.empty() && std::abs(xa.ticks.back() - xa.hi) < 1e-9 * (xa.hi - xa.lo)) {
        right = std::max(right,
                         canvas.measure(xa.labels.back(), {st.tick_font, false, {}}).width / 2 + 2);
      }
    }
    const std::size_t c = i % static_cast<std::size_t>(cols);
    col_left[c] = std::max(col_left[c], l);
    col_right[c] = std::max(col_right[c], right);
  }
  double hspace = W - 2 * kPad;
  for (int c = 0; c < cols; ++c) {
    hspace -= col_left[static_cast<std::size_t>(c)] + col_right[static_cast<std::size_t>(c)];
  }
  const double gap_h = cols > 1 ? 8.0 : 0.0;
  const double plot_w = std::max(10.0, (hspace - gap_h * (cols - 1)) / cols);

  for (std::size_t i = 0; i < n; ++i) {
    const Panel& p = fig.panels[i];
    PanelGeom& g = fl.geoms[i];
    const std::size_t r = i / static_cast<std::size_t>(cols),
                      c = i % static_cast<std::size_t>(cols);
    double x = kPad;
    for (std::size_t k = 0; k < c; ++k) {
      x += col_left[k] + plot_w + col_right[k] + gap_h;
    }
    x += col_left[c];
    double y = top;
    for (std::size_t k = 0; k < r; ++k) {
      y += row_top[k] + plot_h + row_bottom[k] + gap_v;
    }
    y += row_top[r];
    g.plot = {x, y, plot_w, plot_h};
    Range rx = fig.share_x ? shared_x : data_range(p, true, p.x.scale == AxisScale::Log);
    g.xa = resolve_axis(p.x, rx, plot_w, p.heatmap.has_value(), st.tick_font, canvas, true,
                        where(fig, i));
    g.xm = {g.xa.lo, g.xa.hi, g.xa.log, g.plot.x, g.plot.right()};
    const bool flip = p.heatmap && p.heatmap->rows_down;
    g.ym = {g.ya.lo, g.ya.hi, g.ya.log, flip ? g.plot.y : g.plot.bottom(),
            flip ? g.plot.bottom() : g.plot.y};
  }
  return fl;
}

void draw_heatmap(Canvas& canvas, const Heatmap& h, const PanelGeom& g) {
  if (h.rows == 0 || h.cols == 0) {
    return;
  }
  std::vector<std::uint8_t> rgba(static_cast<std::size_t>(h.rows) * h.cols * 4);
  // Image row 0 is the top of the rectangle: row index grows downwards iff the y map does.
  const double ytop = h.y0, ybot = h.y0 + h.rows * h.dy;
  const bool down = g.ym(ybot) > g.ym(ytop);
  for (int r = 0; r < h.rows; ++r) {
    const int ir = down ? r : h.rows - 1 - r;
    for (int c = 0; c < h.cols; ++c) {
      const double v = h.value(r, c);
      const Color col = colormap_color(h.colormap, (v - g.vmin) / (g.vmax - g.vmin));
      std::uint8_t* px = &rgba[(static_cast<std::size_t>(ir) * h.cols + c) * 4];
      px[0] = static_cast<std::uint8_t>(std::lround(col.r * 255));
      px[1] = static_cast<std::uint8_t>(std::lround(col.g * 255));
      px[2] = static_cast<std::uint8_t>(std::lround(col.b * 255));
      px[3] = 255;
    }
  }
  const double x0 = g.xm(h.x0), x1 = g.xm(h.x0 + h.cols * h.dx);
  const double y0 = g.ym(ytop), y1 = g.ym(ybot);
  canvas.image({std::min(x0, x1), std::min(y0, y1), std::abs(x1 - x0), std::abs(y1 - y0)}, h.cols,
               h.rows, rgba);
}

void draw_colorbar(Canvas& canvas, const Heatmap& h, const PanelGeom& g, const FigureStyle& st) {
  const Rect bar{g.plot.right() + 8, g.plot.y, 8, g.plot.h};
  constexpr int kSteps = 256;
  std::vector<std::uint8_t> rgba(kSteps * 4);
  for (int i = 0; i < kSteps; ++i) {
    const Color c = colormap_color(h.colormap, 1.0 - static_cast<double>(i) / (kSteps - 1));
    rgba[i * 4 + 0] = static_cast<std::uint8_t>(std::lround(c.r * 255));
    rgba[i * 4 + 1] = static_cast<std::uint8_t>(std::lround(c.g * 255));
    rgba[i * 4 + 2] = static_cast<std::uint8_t>(std::lround(c.b * 255));
    rgba[i * 4 + 3] = 255;
  }
  canvas.image(bar, 1, kSteps, rgba);
  const Stroke axis{st.axis_color, st.axis_width * 0.75, {}};
  canvas.stroke({{{bar.x, bar.y},
                  {bar.right(), bar.y},
                  {bar.right(), bar.bottom()},
                  {bar.x, bar.bottom()},
                  {bar.x, bar.y}}},
                axis);
  const AxisMap m{g.vmin, g.vmax, false, bar.bottom(), bar.y};
  double widest = 0;
  Path ticks;
  for (std::size_t i = 0; i < g.ca.ticks.size(); ++i) {
    const double y = m(g.ca.ticks[i]);
    ticks.push_back({{bar.right(), y}, {bar.right() + kTickLength, y}});
    const TextStyle ts{st.tick_font, false, st.text};
    draw_text(canvas, g.ca.labels[i], ts, {bar.right() + kTickLength + kTickGap, y}, HAlign::Left,
              VAlign::Middle);
    widest = std::max(widest, canvas.measure(g.ca.labels[i], ts).width);
  }
  canvas.stroke(ticks, axis);
  if (!h.colorbar_label.empty()) {
    const double x = bar.right() + kTickLength + kTickGap + widest + 4;
    draw_text(canvas, h.colorbar_label, {st.label_font, false, st.text}, {x, bar.y + bar.h / 2},
              HAlign::Center, VAlign::Top, 90);
  }
}

void draw_panel(Canvas& canvas, const Figure& fig, const Panel& p, const PanelGeom& g, double ppp,
                bool legend_here) {
  const FigureStyle& st = fig.style;
  const Rect& pr = g.plot;
  const TextStyle tick_style{st.tick_font, false, st.text};
  const Stroke grid{st.grid_color, st.grid_width, {}};
  const Stroke axis{st.axis_color, st.axis_width, {}};
  const bool heat = p.heatmap.has_value();

  // Grid
  if (!heat) {
    Path gp;
    if (p.x.grid && !g.xa.category) { // no vertical lines between categories
      for (double v : g.xa.ticks) {
        const double x = g.xm(v);
        gp.push_back({{x, pr.y}, {x, pr.bottom()}});
      }
    }
    if (p.y.grid) {
      for (double v : g.ya.ticks) {
        const double y = g.ym(v);
        gp.push_back({{pr.x, y}, {pr.right(), y}});
      }
    }
    if (!gp.empty()) {
      canvas.stroke(gp, grid);
    }
  }

  const Drawn d = panel_geometry(p, g, ppp);
  canvas.push_clip(pr);
  if (heat) {
    draw_heatmap(canvas, *p.heatmap, g);
  }
  for (const auto& [path, color] : d.fills) {
    canvas.fill(path, color);
  }
  for (const auto& [rect, color] : d.bars) {
    canvas.fill_rect(rect, color);
  }
  if (!d.bars.empty()) {
    Path edges; // thin white separators between adjacent bars
    for (const auto& [rect, color] : d.bars) {
      edges.push_back({{rect.x, rect.bottom()},
                       {rect.x, rect.y},
                       {rect.right(), rect.y},
                       {rect.right(), rect.bottom()}});
    }
    canvas.stroke(edges, {{1, 1, 1, 1}, 0.4, {}});
  }
  for (const auto& [path, stroke] : d.lines) {
    canvas.stroke(path, stroke);
  }
  for (const auto& [m, c, size, color] : d.markers) {
    draw_marker(canvas, m, c, size, color);
  }
  canvas.pop_clip();

  // Axes: left and bottom spines (a full thin frame around heatmaps).
  if (heat) {
    canvas.stroke({{{pr.x, pr.y},
                    {pr.right(), pr.y},
                    {pr.right(), pr.bottom()},
                    {pr.x, pr.bottom()},
                    {pr.x, pr.y}}},
                  {st.axis_color, st.axis_width * 0.75, {}});
  } else {
    canvas.stroke({{{pr.x, pr.y}, {pr.x, pr.bottom()}, {pr.right(), pr.bottom()}}}, axis);
  }
  Path ticks, minor;
  const double xb = pr.bottom();
  for (std::size_t i = 0; i < g.xa.ticks.size(); ++i) {
    const double x = g.xm(g.xa.ticks[i]);
    ticks.push_back({{x, xb}, {x, xb + kTickLength}});
    if (g.x_labels) {
      draw_text(canvas, g.xa.labels[i], tick_style, {x, xb + kTickLength + kTickGap},
                g.x_rotated ? HAlign::Right : HAlign::Center, VAlign::Top, g.x_rotated ? 30 : 0);
    }
  }
  for (double v : g.xa.minor) {
    const double x = g.xm(v);
    minor.push_back({{x, xb}, {x, xb + kTickLength * 0.6}});
  }
  for (std::size_t i = 0; i < g.ya.ticks.size(); ++i) {
    const double y = g.ym(g.ya.ticks[i]);
    ticks.push_back({{pr.x, y}, {pr.x - kTickLength, y}});
    if (g.y_labels) {
      draw_text(canvas, g.ya.labels[i], tick_style, {pr.x - kTickLength - kTickGap, y},
                HAlign::Right, VAlign::Middle);
    }
  }
  for (double v : g.ya.minor) {
    const double y = g.ym(v);
    minor.push_back({{pr.x, y}, {pr.x - kTickLength * 0.6, y}});
  }
  canvas.stroke(ticks, axis);
  if (!minor.empty()) {
    canvas.stroke(minor, {st.axis_color, st.axis_width * 0.6, {}});
  }

  // Axis titles
  const TextStyle label_style{st.label_font, false, st.text};
  if (g.x_title && !p.x.title().empty()) {
    const double y = xb + kTickLength + (g.x_labels ? kTickGap + g.x_label_h : 0) + 4;
    draw_text(canvas, p.x.title(), label_style, {pr.x + pr.w / 2, y}, HAlign::Center, VAlign::Top);
  }
  if (g.y_title && !p.y.title().empty()) {
    double widest = 0;
    if (g.y_labels) {
      for (const auto& s : g.ya.labels) {
        widest = std::max(widest, canvas.measure(s, tick_style).width);
      }
    }
    const double x = pr.x - kTickLength - (g.y_labels ? kTickGap + widest : 0) - 4;
    draw_text(canvas, p.y.title(), label_style, {x, pr.y + pr.h / 2}, HAlign::Center,
              VAlign::Bottom, 90);
  }
  if (!p.title.empty()) {
    draw_text(canvas, p.title, {st.label_font, true, st.text}, {pr.x + pr.w / 2, pr.y - 5},
              HAlign::Center, VAlign::Bottom);
  }
  if (heat && p.heatmap->colorbar) {
    draw_colorbar(canvas, *p.heatmap, g, st);
  }

  // Legend
  if (!legend_here || p.legend == LegendPlacement::None) {
    return;
  }
  const auto entries = legend_entries(p);
  if (entries.empty()) {
    return;
  }
  const LegendBox box = legend_box(canvas, entries, st);
  const double inset = 4;
  const Point ur{pr.right() - box.w - inset, pr.y + inset}, ul{pr.x + inset, pr.y + inset},
      lr{pr.right() - box.w - inset, pr.bottom() - box.h - inset},
      ll{pr.x + inset, pr.bottom() - box.h - inset};
  Point at = ur;
  if (g.legend_outside || p.legend == LegendPlacement::OutsideRight) {
    at = {pr.right() + std::max(6.0, g.colorbar_room + 2), pr.y};
  } else if (p.legend == LegendPlacement::UpperLeft) {
    at = ul;
  } else if (p.legend == LegendPlacement::LowerRight) {
    at = lr;
  } else if (p.legend == LegendPlacement::LowerLeft) {
    at = ll;
  } else if (p.legend == LegendPlacement::Auto) {
    double best = std::numeric_limits<double>::infinity();
    for (Point c : {ur, ul, lr, ll}) {
      const double s = overlap_score(d, {c.x, c.y, box.w, box.h});
      if (s < best) {
        best = s;
        at = c;
      }
    }
  }
  draw_legend(canvas, entries, box, at, st);
}

// Best inside score of panel p's auto legend (0 = a free corner exists).
double best_inside_score(Canvas& canvas, const Figure& fig, const Panel& p, const PanelGeom& g,
                         double ppp) {
  const auto entries = legend_entries(p);
  if (entries.empty()) {
    return 0;
  }
  const LegendBox box = legend_box(canvas, entries, fig.style);
  if (box.w > g.plot.w * 0.6 || box.h > g.plot.h * 0.7) {
    return std::numeric_limits<double>::infinity();
  }
  const Drawn d = panel_geometry(p, g, ppp);
  const Rect& pr = g.plot;
  double best = std::numeric_limits<double>::infinity();
  for (Point c : {Point{pr.right() - box.w - 4, pr.y + 4}, Point{pr.x + 4, pr.y + 4},
                  Point{pr.right() - box.w - 4, pr.bottom() - box.h - 4},
                  Point{pr.x + 4, pr.bottom() - box.h - 4}}) {
    best = std::min(best, overlap_score(d, {c.x, c.y, box.w, box.h}));
  }
  return best;
}

} // namespace

Point data_to_canvas(const PanelFrame& f, double x, double y) {
  auto t = [](double v, double lo, double hi, bool log) {
    return log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo))
               : (v - lo) / (hi - lo);
  };
  const double ty = t(y, f.y_lo, f.y_hi, f.y_log);
  return {f.plot.x + t(x, f.x_lo, f.x_hi, f.x_log) * f.plot.w,
          f.y_down ? f.plot.y + ty * f.plot.h : f.plot.bottom() - ty * f.plot.h};
}

Point canvas_to_data(const PanelFrame& f, Point p) {
  auto inv = [](double t, double lo, double hi, bool log) {
    return log ? std::pow(10.0, std::log10(lo) + t * (std::log10(hi) - std::log10(lo)))
               : lo + t * (hi - lo);
  };
  const double tx = (p.x - f.plot.x) / f.plot.w;
  const double ty = f.y_down ? (p.y - f.plot.y) / f.plot.h : (f.plot.bottom() - p.y) / f.plot.h;
  return {inv(tx, f.x_lo, f.x_hi, f.x_log), inv(ty, f.y_lo, f.y_hi, f.y_log)};
}

std::vector<PanelFrame> draw_figure(const Figure& fig, Canvas& canvas,
                                    const LayoutOptions& options) {
  validate(fig);
  auto [fw, fh] = figure_size(fig);
  const double W = options.width > 0 ? options.width : fw;
  const double H = options.height > 0 ? options.height : fh;
  const double ppp = options.pixels_per_point > 0 ? options.pixels_per_point : 1.0;
  const FigureStyle& st = fig.style;
  canvas.fill_rect({0, 0, W, H}, {1, 1, 1, 1});

  // Shared legend: entries of all panels, deduplicated by name, in rows across the top.
  std::vector<LegendEntry> shared;
  if (fig.shared_legend) {
    for (const Panel& p : fig.panels) {
      for (auto& e : legend_entries(p)) {
        if (std::none_of(shared.begin(), shared.end(),
                         [&](const LegendEntry& s) { return s.name == e.name; })) {
          shared.push_back(e);
        }
      }
    }
  }
  const TextStyle legend_style{st.legend_font, false, st.text};
  std::vector<std::vector<std::size_t>> legend_rows;
  std::vector<double> row_widths;
  {
    double x = 0;
    for (std::size_t i = 0; i < shared.size(); ++i) {
      const double w = kSwatch + 4 + canvas.measure(shared[i].name, legend_style).width + 12;
      if (legend_rows.empty() || x + w > W - 2 * kPad) {
        legend_rows.push_back({});
        row_widths.push_back(0);
        x = 0;
      }
      legend_rows.back().push_back(i);
      x += w;
      row_widths.back() = x - 12;
    }
  }
  const double legend_row_h = st.legend_font * 1.5;
  const double shared_h = legend_rows.empty() ? 0 : legend_row_h * legend_rows.size() + 4;

  std::vector<bool> outside(fig.panels.size(), false);
  FigureLayout fl = compute_layout(fig, canvas, W, H, outside, shared_h);
  if (!fig.shared_legend) {
    bool any = false;
    for (std::size_t i = 0; i < fig.panels.size(); ++i) {
      const Panel& p = fig.panels[i];
      if (p.legend == LegendPlacement::OutsideRight ||
          (p.legend == LegendPlacement::Auto &&
           best_inside_score(canvas, fig, p, fl.geoms[i], ppp) > 0)) {
        outside[i] = true;
        any = true;
      }
    }
    if (any) {
      fl = compute_layout(fig, canvas, W, H, outside, shared_h);
    }
  }

  double y = kPad;
  if (!fig.title.empty()) {
    draw_text(canvas, fig.title, {st.title_font, true, st.text}, {W / 2, y}, HAlign::Center,
              VAlign::Top);
    y += text_height(canvas, st.title_font) + 6;
  }
  for (std::size_t r = 0; r < legend_rows.size(); ++r) {
    double x = (W - row_widths[r]) / 2;
    const double cy = y + legend_row_h * (static_cast<double>(r) + 0.5);
    for (std::size_t i : legend_rows[r]) {
      draw_legend_entry(canvas, shared[i], {x, cy}, st);
      x += kSwatch + 4 + canvas.measure(shared[i].name, legend_style).width + 12;
    }
  }
  std::vector<PanelFrame> frames;
  for (std::size_t i = 0; i < fig.panels.size(); ++i) {
    const PanelGeom& g = fl.geoms[i];
    draw_panel(canvas, fig, fig.panels[i], g, ppp, !fig.shared_legend);
    frames.push_back(
        {g.plot, g.xa.lo, g.xa.hi, g.ya.lo, g.ya.hi, g.xa.log, g.ya.log, g.ym.p0 < g.ym.p1});
  }
  return frames;
}

} // namespace routerscope
