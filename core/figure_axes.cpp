// Axes: figure validation, data ranges, and each axis's limits, ticks and labels; text and dash
// helpers shared by the drawing code.
#include "core/figure_draw.h"

#include "core/error.h"

#include <numbers>
#include <optional>

namespace routerscope::figure_detail {

std::string where(const Figure& f, std::size_t panel) {
  return "figure '" + f.title + "' panel " + std::to_string(panel);
}

// Draws text aligned at `anchor`; rotation 0 or 90 (reading upwards).

void draw_text(Canvas& canvas, const std::string& s, const TextStyle& style, Point anchor, HAlign h,
               VAlign v, double rotation) {
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
    out.label_width = widest_label(canvas, out.labels, ts);
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
    out.label_width = widest_label(canvas, out.labels, ts);
    if (!horizontal || max_ticks <= 2 || out.ticks.size() < 2) {
      return out;
    }
    // Horizontal labels must not touch: the widest label plus a gap fits between ticks.
    AxisMap m{out.lo, out.hi, out.log, 0, length};
    double min_gap = std::numeric_limits<double>::infinity();
    for (std::size_t i = 1; i < out.ticks.size(); ++i) {
      min_gap = std::min(min_gap, std::abs(m(out.ticks[i]) - m(out.ticks[i - 1])));
    }
    if (min_gap >= out.label_width + tick_font * 0.8 || out.log) {
      return out;
    }
  }
}

} // namespace routerscope::figure_detail
