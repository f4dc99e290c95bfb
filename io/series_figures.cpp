#include "io/series_figures.h"

#include "core/error.h"
#include "io/series.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace routerscope::io {

namespace {

const char* kOrigin = "the series record";

std::vector<const SeriesData::Layer*> chosen_layers(const SeriesData& d, std::optional<int> layer) {
  if (d.layers.empty() || d.steps.empty())
    throw_input_error("the series record holds no checkpoint yet");
  std::vector<const SeriesData::Layer*> out;
  std::string have;
  for (const auto& l : d.layers) {
    have += (have.empty() ? "" : ", ") + std::to_string(l.layer);
    if (!layer || l.layer == *layer)
      out.push_back(&l);
  }
  if (out.empty())
    throw_input_error("the series record has no layer " + std::to_string(*layer) +
                      " (layers: " + have + ")");
  return out;
}

// Mean over the finite experts of each checkpoint with the min–max band, in categorical colour
// `color`.
void add_expert_band(Panel& p, const std::vector<double>& steps, const MatrixD& m, int color) {
  Band band;
  band.name = "min–max over experts";
  band.color_index = color;
  band.color = categorical_color(color);
  LineSeries mean;
  mean.name = "mean over experts";
  mean.color = categorical_color(color);
  mean.width = 1.5;
  if (steps.size() <= 40)
    mean.marker = Marker::Circle;
  for (Eigen::Index t = 0; t < m.rows(); ++t) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo, sum = 0;
    int n = 0;
    for (Eigen::Index e = 0; e < m.cols(); ++e)
      if (const double v = m(t, e); std::isfinite(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        sum += v;
        ++n;
      }
    const double x = steps[std::size_t(t)];
    mean.x.push_back(x);
    mean.y.push_back(n ? sum / n : std::nan(""));
    if (n) {
      band.x.push_back(x);
      band.lower.push_back(lo);
      band.upper.push_back(hi);
    }
  }
  p.bands.push_back(std::move(band));
  p.lines.push_back(std::move(mean));
}

Panel band_panel(const std::string& title, const std::string& y_label) {
  Panel p;
  p.title = title;
  p.x.label = "training step";
  p.y.label = y_label;
  return p;
}

Figure two_column_figure(std::vector<Panel> panels, std::size_t rows, const std::string& title) {
  Figure f;
  f.panels = std::move(panels);
  f.columns = 2;
  f.share_x = true;
  f.shared_legend = true; // every panel draws the same two things: mean and min–max band
  f.width = kDoubleColumnWidth;
  f.height = 150.0 * double(rows) + 40.0;
  f.title = title;
  return f;
}

// One quantity per column: its dataset, panel title, axis label and colour.
struct BandColumn {
  const char* dataset;
  const char* title;
  const char* label;
  int color;
};

// Per layer a row of two band panels (mean and min–max over experts over the steps).
Figure band_figure(const SeriesData& d, std::optional<int> layer, const BandColumn (&columns)[2],
                   bool unit_interval, const std::string& title) {
  std::vector<Panel> panels;
  const auto layers = chosen_layers(d, layer);
  for (const auto* l : layers)
    for (const BandColumn& c : columns) {
      Panel p = band_panel("layer " + std::to_string(l->layer) + ": " + c.title, c.label);
      add_expert_band(p, d.steps, l->at(c.dataset), c.color);
      p.y.min = 0.0; // both quantities are ≥ 0; a constant norm (MPI's retraction) stays flat
      if (unit_interval)
        p.y.max = 1.0;
      panels.push_back(std::move(p));
    }
  return two_column_figure(std::move(panels), layers.size(), title);
}

Figure alignment_figure(const SeriesData& d, std::optional<int> layer) {
  static const BandColumn columns[2] = {{"lambda", "λ (Eq. 11)", "λ", 0},
                                        {"cos", "|cos(Rᵢ, u₁)|", "|cos|", 0}};
  return band_figure(d, layer, columns, true,
                     "Router–expert alignment over training (mean and min–max over experts)");
}

Figure norms_figure(const SeriesData& d, std::optional<int> layer) {
  static const BandColumn columns[2] = {{"router_norm", "router row norm ‖Rᵢ‖", "‖Rᵢ‖", 2},
                                        {"weight_norm", "expert weight norm ‖G‖_F", "‖G‖_F", 2}};
  return band_figure(d, layer, columns, false,
                     "Router and expert norms over training (mean and min–max over experts)");
}

Figure load_figure(const SeriesData& d, std::optional<int> layer) {
  if (!d.has_load())
    throw_input_error("the series record holds no load (run `series` with --tokens FILE.h5)");
  const auto layers = chosen_layers(d, layer);
  const int c = int(d.steps.size());
  // Checkpoints are columns at their index (steps may be unevenly spaced), labelled by step.
  std::vector<std::pair<double, std::string>> ticks;
  const int every = std::max(1, c / 8);
  for (int i = 0; i < c; i += every) {
    char text[32]; // %g: a whole step prints without decimals, and any double is safe
    std::snprintf(text, sizeof text, "%.15g", d.steps[std::size_t(i)]);
    ticks.emplace_back(double(i), text);
  }
  double vmax = 0;
  std::vector<Panel> panels;
  for (const auto* l : layers) {
    const MatrixD& load = l->at("load");
    Heatmap h;
    h.name = "load layer " + std::to_string(l->layer);
    h.rows = int(load.cols());
    h.cols = c;
    h.values.assign(std::size_t(h.rows) * std::size_t(c), std::nan(""));
    for (int t = 0; t < c; ++t) {
      const double total = load.row(t).sum();
      for (int e = 0; e < h.rows; ++e) {
        const double share = total > 0 ? load(t, e) / total : std::nan("");
        h.values[std::size_t(e) * std::size_t(c) + std::size_t(t)] = share;
        if (std::isfinite(share))
          vmax = std::max(vmax, share);
      }
    }
    h.colorbar_label = "token share";
    h.vmin = 0.0;
    Panel p;
    p.title = "layer " + std::to_string(l->layer) + ": expert load";
    p.x.label = "checkpoint (training step)";
    p.x.category_ticks = ticks;
    p.x.grid = false;
    p.y.label = "expert";
    p.heatmap = std::move(h);
    p.legend = LegendPlacement::None;
    panels.push_back(std::move(p));
    Panel m = band_panel("layer " + std::to_string(l->layer) + ": MaxVio", "MaxVio");
    LineSeries s;
    s.name = "MaxVio";
    s.x = d.steps;
    const MatrixD& mv = l->at("maxvio");
    for (Eigen::Index t = 0; t < Eigen::Index(c); ++t)
      s.y.push_back(mv(t, 0));
    if (c <= 40)
      s.marker = Marker::Circle;
    m.y.min = 0.0;
    m.lines.push_back(std::move(s));
    m.legend = LegendPlacement::None;
    panels.push_back(std::move(m));
  }
  for (auto& p : panels) // one colour scale, so that layers compare
    if (p.heatmap && vmax > 0)
      p.heatmap->vmax = vmax;
  Figure f = two_column_figure(std::move(panels), layers.size(),
                               "Expert load of the given tokens at each checkpoint");
  f.share_x = false;
  f.shared_legend = false;
  return f;
}

} // namespace

std::vector<std::string> series_figure_names(const RunRecord& record) {
  std::vector<std::string> names = {"series-alignment", "series-norms"};
  bool load = !record.layers.empty();
  for (const auto& l : record.layers)
    load = load && l.series.count("load");
  if (load)
    names.push_back("series-load");
  return names;
}

Figure series_figure(const RunRecord& record, const std::string& name, std::optional<int> layer) {
  const SeriesData d = series_data(record, kOrigin);
  if (name == "series-alignment")
    return alignment_figure(d, layer);
  if (name == "series-norms")
    return norms_figure(d, layer);
  if (name == "series-load")
    return load_figure(d, layer);
  throw_input_error("figure '" + name +
                    "' cannot be drawn from a series record; choose one of: series-alignment, "
                    "series-norms, series-load");
}

} // namespace routerscope::io
