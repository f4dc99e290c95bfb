// Panels: decimated geometry of the data, heatmaps, colour bars, axes, titles and the legend.
#include "core/figure_draw.h"

#include <cstdint>

namespace routerscope::figure_detail {

namespace {
Point to_pt(const PanelGeom& g, double x, double y) {
  return {g.xm(x), g.ym(y)};
}
} // namespace

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

namespace {
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
  Path ticks;
  for (std::size_t i = 0; i < g.ca.ticks.size(); ++i) {
    const double y = m(g.ca.ticks[i]);
    ticks.push_back({{bar.right(), y}, {bar.right() + kTickLength, y}});
    const TextStyle ts{st.tick_font, false, st.text};
    draw_text(canvas, g.ca.labels[i], ts, {bar.right() + kTickLength + kTickGap, y}, HAlign::Left,
              VAlign::Middle);
  }
  canvas.stroke(ticks, axis);
  if (!h.colorbar_label.empty()) {
    const double x = bar.right() + kTickLength + kTickGap + g.ca.label_width + 4;
    draw_text(canvas, h.colorbar_label, {st.label_font, false, st.text}, {x, bar.y + bar.h / 2},
              HAlign::Center, VAlign::Top, 90);
  }
}
} // namespace

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
    const double x = pr.x - kTickLength - (g.y_labels ? kTickGap + g.ya.label_width : 0) - 4;
    draw_text(canvas, p.y.title(), label_style, {x, pr.y + pr.h / 2}, HAlign::Center,
              VAlign::Bottom, 90);
  }
  if (!p.title.empty()) { // over the plot area, shrunk or cut to its width when wider
    TextStyle title_style{st.label_font, true, st.text};
    const std::string title = fitted_title(canvas, p.title, title_style, pr.w);
    draw_text(canvas, title, title_style, {pr.x + pr.w / 2, pr.y - 5}, HAlign::Center,
              VAlign::Bottom);
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
  const auto corners = legend_corners(pr, box);
  const auto [ur, ul, lr, ll] = corners;
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
    for (Point c : corners) {
      const double s = overlap_score(d, {c.x, c.y, box.w, box.h});
      if (s < best) {
        best = s;
        at = c;
      }
    }
  }
  draw_legend(canvas, entries, box, at, st);
}

} // namespace routerscope::figure_detail
