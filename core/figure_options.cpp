#include "core/figure_options.h"

#include "core/enum_names.h"
#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

namespace routerscope {

namespace {

constexpr NameTable<ColorRange, 3> kColorRanges = {
    {{ColorRange::Data, "auto"}, {ColorRange::Robust, "robust"}, {ColorRange::Unit, "unit"}}};

bool on_step_axis(const Panel& p) {
  std::string label = p.x.label;
  std::transform(label.begin(), label.end(), label.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return label.find("step") != std::string::npos;
}

std::vector<double> ema(const std::vector<double>& y, double w) {
  std::vector<double> out(y.size());
  double acc = 0, weight = 0; // Σ w^{t−k}(1−w)·y_k and Σ w^{t−k}(1−w) = 1 − w^{t+1}
  for (std::size_t t = 0; t < y.size(); ++t) {
    if (!std::isfinite(y[t])) { // a gap in the line: the average starts again after it
      out[t] = y[t];
      acc = weight = 0;
      continue;
    }
    acc = w * acc + (1 - w) * y[t];
    weight = w * weight + (1 - w);
    out[t] = acc / weight;
  }
  return out;
}

void smooth_panel(Panel& p, double w) {
  std::vector<LineSeries> lines;
  for (std::size_t i = 0; i < p.lines.size(); ++i) {
    LineSeries& l = p.lines[i];
    // The colour the layout would give the line by its index, fixed before raw copies shift it.
    if (!l.color)
      l.color = categorical_color(static_cast<int>(i));
    if (l.dash != Dash::Solid || l.y.size() < 3) {
      lines.push_back(l);
      continue;
    }
    LineSeries raw = l;
    raw.name = l.name.empty() ? "" : l.name + " (raw)";
    raw.in_legend = false;
    raw.color = l.color->with_alpha(0.28 * l.color->a);
    raw.width = 0.7 * l.width;
    raw.marker = Marker::None;
    lines.push_back(std::move(raw));
    l.y = ema(l.y, w);
    lines.push_back(std::move(l));
  }
  p.lines = std::move(lines);
}

// Whether a log y axis shows `p` better: every drawn value positive and finite (NaN gaps aside),
// spanning at least a decade (a log axis widens to whole decades, which flattens a narrower span).
bool wants_log(const Panel& p) {
  bool any = false;
  double lo = 0, hi = 0;
  auto check = [&](double v) {
    if (std::isnan(v))
      return true;
    lo = any ? std::min(lo, v) : v;
    hi = any ? std::max(hi, v) : v;
    any = true;
    return v > 0 && std::isfinite(v);
  };
  for (const auto& l : p.lines)
    for (double v : l.y)
      if (!check(v))
        return false;
  for (const auto& b : p.bands) {
    for (double v : b.lower)
      if (!check(v))
        return false;
    for (double v : b.upper)
      if (!check(v))
        return false;
  }
  if (p.y.max && !(*p.y.max > 0))
    return false;
  return any && hi >= 10 * lo && p.bars.empty() && !p.heatmap;
}

// Linear interpolation between order statistics, NumPy's default percentile method.
double percentile(const std::vector<double>& sorted, double q) {
  const double pos = q / 100.0 * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

void check_range(const std::optional<std::pair<double, double>>& r, const char* what) {
  if (r && !(std::isfinite(r->first) && std::isfinite(r->second) && r->first < r->second))
    throw_input_error(std::string(what) + " " + std::to_string(r->first) + ":" +
                      std::to_string(r->second) +
                      " is not a range A:B of finite numbers with A < B");
}

// Keeps the entries i of `v` where keep[i].
void keep_where(std::vector<double>& v, const std::vector<bool>& keep) {
  std::size_t out = 0;
  for (std::size_t i = 0; i < v.size() && i < keep.size(); ++i)
    if (keep[i])
      v[out++] = v[i];
  v.resize(out);
}

std::vector<bool> inside(const std::vector<double>& x, double lo, double hi) {
  std::vector<bool> keep(x.size());
  for (std::size_t i = 0; i < x.size(); ++i)
    keep[i] = x[i] >= lo && x[i] <= hi;
  return keep;
}

// The panel's axis limits become [lo, hi] on x and its data is cut to them.
void cut_x(Panel& p, double lo, double hi) {
  p.x.min = lo;
  p.x.max = hi;
  for (LineSeries& l : p.lines) {
    const auto keep = inside(l.x, lo, hi);
    keep_where(l.x, keep);
    keep_where(l.y, keep);
  }
  for (Band& b : p.bands) {
    const auto keep = inside(b.x, lo, hi);
    keep_where(b.x, keep);
    keep_where(b.lower, keep);
    keep_where(b.upper, keep);
  }
  for (BarSeries& b : p.bars) {
    const auto keep = inside(b.x, lo, hi);
    keep_where(b.x, keep);
    keep_where(b.height, keep);
  }
  if (p.heatmap && p.heatmap->cols > 0 && p.heatmap->dx > 0) {
    Heatmap& h = *p.heatmap;
    int first = h.cols, last = -1; // the columns whose centre lies in [lo, hi]
    for (int c = 0; c < h.cols; ++c)
      if (const double centre = h.x0 + (c + 0.5) * h.dx; centre >= lo && centre <= hi) {
        first = std::min(first, c);
        last = c;
      }
    const int cols = std::max(last - first + 1, 0);
    std::vector<double> values;
    values.reserve(static_cast<std::size_t>(h.rows) * static_cast<std::size_t>(cols));
    for (int r = 0; r < h.rows; ++r)
      for (int c = first; c <= last; ++c)
        values.push_back(h.value(r, c));
    h.values = std::move(values);
    h.x0 += (cols ? first : 0) * h.dx;
    h.cols = cols;
    if (cols == 0)
      h.rows = 0;
  }
}

} // namespace

// One colour scale for all the figure's heatmaps (variants side by side stay comparable).
static void apply_color_range(Figure& figure, ColorRange range) {
  Heatmap all;
  for (const Panel& p : figure.panels)
    if (p.heatmap)
      all.values.insert(all.values.end(), p.heatmap->values.begin(), p.heatmap->values.end());
  const auto lim = color_limits(all, range);
  if (!lim)
    return;
  for (Panel& p : figure.panels)
    if (p.heatmap) {
      Heatmap& h = *p.heatmap;
      h.vmin = lim->first;
      h.vmax = lim->second;
      if (range == ColorRange::Robust)
        h.colorbar_label +=
            h.colorbar_label.empty() ? "2nd–98th percentile" : " (2nd–98th percentile)";
    }
}

std::pair<double, double> parse_range(const std::string& text, const std::string& what) {
  const auto colon = text.find(':', 1); // after a leading sign
  auto number = [&](const std::string& s, double& out) {
    char* end = nullptr;
    out = std::strtod(s.c_str(), &end);
    return !s.empty() && end == s.c_str() + s.size() && std::isfinite(out);
  };
  double lo = 0, hi = 0;
  if (colon == std::string::npos || !number(text.substr(0, colon), lo) ||
      !number(text.substr(colon + 1), hi) || !(lo < hi))
    throw_input_error(what + " '" + text +
                      "' is not a range A:B of finite numbers with A < B (e.g. 10:40)");
  return {lo, hi};
}

const char* to_string(ColorRange range) {
  return name_of(kColorRanges, range).data();
}

ColorRange parse_color_range(const std::string& name) {
  return parse_name(kColorRanges, name, "colour range");
}

std::optional<std::pair<double, double>> color_limits(const Heatmap& heatmap, ColorRange range) {
  std::vector<double> v;
  for (double x : heatmap.values)
    if (std::isfinite(x))
      v.push_back(x);
  if (v.empty())
    return std::nullopt;
  if (range == ColorRange::Unit)
    return std::pair{0.0, 1.0};
  std::sort(v.begin(), v.end());
  if (range == ColorRange::Data)
    return std::pair{v.front(), v.back()};
  return std::pair{percentile(v, 2), percentile(v, 98)};
}

void apply_view_options(Figure& figure, const ViewOptions& options) {
  if (!(options.smoothing >= 0 && options.smoothing < 1))
    throw_input_error("smoothing weight " + std::to_string(options.smoothing) +
                      " is outside [0, 1) (0: off, 0.9: strong)");
  check_range(options.x_range, "x range");
  check_range(options.y_range, "y range");
  for (Panel& p : figure.panels) {
    if (options.smoothing > 0 && on_step_axis(p))
      smooth_panel(p, options.smoothing);
    if (options.log_y && p.y.scale == AxisScale::Linear && wants_log(p)) {
      p.y.scale = AxisScale::Log;
      if (p.y.min && !(*p.y.min > 0))
        p.y.min.reset();
    }
  }
  if (options.color_range)
    apply_color_range(figure, *options.color_range);
  // The zoom comes last: smoothing, log axes and colours are those of the whole figure, as the
  // screen shows them while zoomed.
  for (Panel& p : figure.panels) {
    if (options.x_range)
      cut_x(p, options.x_range->first, options.x_range->second);
    if (options.y_range) {
      if (p.y.scale == AxisScale::Log && !(options.y_range->first > 0))
        throw_input_error("y range " + std::to_string(options.y_range->first) + ":" +
                          std::to_string(options.y_range->second) + " of panel '" + p.title +
                          "' must be positive: its y axis is logarithmic");
      p.y.min = options.y_range->first;
      p.y.max = options.y_range->second;
    }
  }
}

void overlay_previous_run(Figure& figure, const Figure& previous, const std::string& label,
                          const std::function<bool(const LineSeries&)>& keep) {
  for (std::size_t i = 0; i < figure.panels.size(); ++i) {
    Panel& p = figure.panels[i];
    const auto same_title = std::find_if(previous.panels.begin(), previous.panels.end(),
                                         [&](const Panel& q) { return q.title == p.title; });
    const Panel* from = same_title != previous.panels.end() ? &*same_title
                        : i < previous.panels.size()        ? &previous.panels[i]
                                                            : nullptr;
    if (!from)
      continue;
    for (std::size_t j = 0; j < from->lines.size(); ++j) {
      const LineSeries& l = from->lines[j];
      if (!keep(l))
        continue;
      LineSeries copy = l;
      const Color c = l.color.value_or(categorical_color(static_cast<int>(j)));
      copy.color = c.with_alpha(0.45 * c.a);
      copy.dash = Dash::DashDot;
      copy.marker = Marker::None;
      copy.name = l.name + " — " + label;
      p.lines.push_back(std::move(copy));
    }
  }
}

} // namespace routerscope
