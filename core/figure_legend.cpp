// Legends: entries, box size, placement score against the drawn data, and drawing.
#include "core/figure_draw.h"

#include <numbers>

namespace routerscope::figure_detail {

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

LegendBox legend_box(Canvas& canvas, const std::vector<LegendEntry>& entries,
                     const FigureStyle& st) {
  LegendBox b;
  if (entries.empty()) {
    return b;
  }
  const TextStyle ts{st.legend_font, false, st.text};
  const double widest = widest_label(canvas, entries, ts, &LegendEntry::name);
  b.row = st.legend_font * 1.35;
  b.w = 4 + kSwatch + 4 + widest + 5;
  b.h = 3 + b.row * static_cast<double>(entries.size()) + 3;
  return b;
}

std::array<Point, 4> legend_corners(const Rect& plot, const LegendBox& box) {
  const double inset = 4;
  return {Point{plot.right() - box.w - inset, plot.y + inset},
          Point{plot.x + inset, plot.y + inset},
          Point{plot.right() - box.w - inset, plot.bottom() - box.h - inset},
          Point{plot.x + inset, plot.bottom() - box.h - inset}};
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
  double best = std::numeric_limits<double>::infinity();
  for (Point c : legend_corners(g.plot, box)) {
    best = std::min(best, overlap_score(d, {c.x, c.y, box.w, box.h}));
  }
  return best;
}

} // namespace routerscope::figure_detail
