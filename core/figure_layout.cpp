#include "core/figure_layout.h"

#include "core/figure_draw.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace routerscope {

namespace {

using namespace figure_detail;

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
      const double widest =
          widest_label(canvas, p.x.category_ticks, {st.tick_font, false, {}},
                       [](const auto& tick) -> const std::string& { return tick.second; });
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
    double l = kTickLength + 2;
    if (g.y_labels) {
      l += kTickGap + g.ya.label_width;
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
      for (double v : t.values) {
        g.ca.ticks.push_back(v);
        g.ca.labels.push_back(format_tick(v, t.step_exponent, max_abs));
      }
      g.ca.label_width = widest_label(canvas, g.ca.labels, {st.tick_font, false, {}});
      const double cw = g.ca.label_width;
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

} // namespace

std::string figure_detail::fitted_title(Canvas& canvas, const std::string& title, TextStyle& style,
                                        double max_width) {
  const double width = canvas.measure(title, style).width;
  if (width <= max_width)
    return title;
  const double nominal = style.size;
  style.size = std::max(0.75 * nominal, 0.995 * nominal * max_width / width);
  if (canvas.measure(title, style).width <= max_width)
    return title;
  std::string cut = title;
  while (!cut.empty()) {
    const auto space = cut.find_last_of(' ');
    cut.resize(space == std::string::npos ? 0 : space);
    while (!cut.empty() && (cut.back() == ',' || cut.back() == ':' || cut.back() == '('))
      cut.pop_back();
    if (canvas.measure(cut + "…", style).width <= max_width)
      return cut + "…";
  }
  return "";
}

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
  std::vector<double> entry_widths; // swatch, gap, label and the space before the next entry
  {
    double x = 0;
    for (std::size_t i = 0; i < shared.size(); ++i) {
      const double w = kSwatch + 4 + canvas.measure(shared[i].name, legend_style).width + 12;
      entry_widths.push_back(w);
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
    TextStyle style{st.title_font, true, st.text};
    const std::string title = fitted_title(canvas, fig.title, style, W - 2 * kPad);
    draw_text(canvas, title, style, {W / 2, y}, HAlign::Center, VAlign::Top);
    y += text_height(canvas, st.title_font) + 6;
  }
  for (std::size_t r = 0; r < legend_rows.size(); ++r) {
    double x = (W - row_widths[r]) / 2;
    const double cy = y + legend_row_h * (static_cast<double>(r) + 0.5);
    for (std::size_t i : legend_rows[r]) {
      draw_legend_entry(canvas, shared[i], {x, cy}, st);
      x += entry_widths[i];
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
