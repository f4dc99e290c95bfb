#include "core/figure_builders.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

namespace routerscope {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A parameter as a title states it: up to 4 significant digits, no trailing zeros ("0.01").
std::string format_number(double v) {
  std::ostringstream out;
  out << std::setprecision(4) << v;
  return out.str();
}

double step_spacing(const std::vector<double>& steps) {
  return steps.size() >= 2 ? (steps.back() - steps.front()) / static_cast<double>(steps.size() - 1)
                           : 1.0;
}

} // namespace

Histogram histogram(const std::vector<double>& values, int bins, double lo, double hi) {
  if (bins < 1) {
    throw_input_error("histogram: bins must be positive, found " + std::to_string(bins));
  }
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  Histogram h;
  h.width = (hi - lo) / bins;
  h.counts.assign(static_cast<std::size_t>(bins), 0.0);
  for (int b = 0; b < bins; ++b) {
    h.centers.push_back(lo + (b + 0.5) * h.width);
  }
  for (double v : values) {
    if (!std::isfinite(v) || v < lo || v > hi) {
      continue;
    }
    const int b = std::min(bins - 1, static_cast<int>((v - lo) / h.width));
    h.counts[static_cast<std::size_t>(b)] += 1;
  }
  return h;
}

Figure alignment_heatmap(const AlignmentGrid& grid, double width) {
  const int rows = static_cast<int>(grid.layers.size());
  if (grid.values.size() !=
      static_cast<std::size_t>(rows) * static_cast<std::size_t>(grid.experts)) {
    throw_input_error("alignment heatmap: " + std::to_string(grid.values.size()) + " values for " +
                      std::to_string(rows) + " layers × " + std::to_string(grid.experts) +
                      " experts");
  }
  Figure f;
  f.title = "Router–expert alignment";
  f.width = width;
  Panel p;
  p.x.label = "expert";
  p.y.label = "layer";
  for (int r = 0; r < rows; ++r) {
    p.y.category_ticks.push_back(
        {static_cast<double>(r), std::to_string(grid.layers[static_cast<std::size_t>(r)])});
  }
  Heatmap h;
  h.name = grid.quantity;
  h.rows = rows;
  h.cols = grid.experts;
  h.values = grid.values;
  h.colorbar_label = grid.quantity;
  if (grid.unit_interval) {
    h.vmin = 0.0;
    h.vmax = 1.0;
  }
  p.heatmap = h;
  p.legend = LegendPlacement::None;
  f.panels.push_back(std::move(p));
  // Roughly square cells, within sensible page proportions.
  const double plot_w = width - 110;
  const double cell = plot_w / std::max(grid.experts, 1);
  f.height = std::clamp(rows * cell + 75, width * 0.42, width * 1.1);
  return f;
}

namespace {
// Decimal digits as Unicode superscripts (the legend's exponent 2k).
std::string superscript(const std::string& digits) {
  static const char* const kSup[10] = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
  std::string out;
  for (char c : digits)
    out += kSup[c - '0'];
  return out;
}
} // namespace

Figure mpi_convergence_figure(const ConvergenceData& data, double width) {
  Figure f;
  f.title = "MPI convergence per layer";
  f.width = width;
  f.share_x = true;
  f.share_y = true;
  f.shared_legend = true;
  const std::size_t n = data.steps.size();
  for (const ConvergencePanel& layer : data.layers) {
    Panel p;
    p.title = "layer " + std::to_string(layer.layer);
    p.x.label = "MPI step";
    p.y.label = data.quantity;
    p.y.scale = data.log_y ? AxisScale::Log : AxisScale::Linear;
    std::vector<double> mean(n, kNaN), lo(n, kNaN), hi(n, kNaN);
    for (std::size_t t = 0; t < n; ++t) {
      double s = 0;
      int count = 0;
      for (const auto& e : layer.per_expert) {
        if (e.size() != n) {
          throw_input_error("MPI convergence layer " + std::to_string(layer.layer) +
                            ": an expert has " + std::to_string(e.size()) + " values for " +
                            std::to_string(n) + " steps");
        }
        if (std::isfinite(e[t])) {
          s += e[t];
          ++count;
          lo[t] = std::isnan(lo[t]) ? e[t] : std::min(lo[t], e[t]);
          hi[t] = std::isnan(hi[t]) ? e[t] : std::max(hi[t], e[t]);
        }
      }
      if (count > 0) {
        mean[t] = s / count;
      }
    }
    p.bands.push_back({"min–max over experts", data.steps, lo, hi, std::nullopt, 0, 0.2, true});
    LineSeries m;
    m.name = "mean over experts";
    m.x = data.steps;
    m.y = mean;
    m.width = 1.6;
    p.lines.push_back(m);
    int k = 1;
    for (std::size_t h = 0; h < layer.highlight.size(); ++h) {
      const int e = layer.highlight[h];
      if (e < 0 || static_cast<std::size_t>(e) >= layer.per_expert.size()) {
        throw_input_error("MPI convergence layer " + std::to_string(layer.layer) +
                          ": highlighted expert " + std::to_string(e) + " does not exist");
      }
      LineSeries l;
      l.name = h < layer.highlight_names.size() ? layer.highlight_names[h]
                                                : "expert " + std::to_string(e);
      l.x = data.steps;
      l.y = layer.per_expert[static_cast<std::size_t>(e)];
      l.width = 0.9;
      l.color = categorical_color(k++);
      p.lines.push_back(l);
    }
    if (!layer.bound.empty()) {
      if (layer.bound.size() != n) {
        throw_input_error("MPI convergence layer " + std::to_string(layer.layer) + ": bound has " +
                          std::to_string(layer.bound.size()) + " values for " + std::to_string(n) +
                          " steps");
      }
      LineSeries b;
      b.name = "bound (σ₂/σ₁)" + superscript(std::to_string(2 * data.power_steps)) + "ᵗ·tan θ₀";
      b.x = data.steps;
      b.y = layer.bound;
      b.width = 1.0;
      b.dash = Dash::Dashed;
      b.color = Color{0.15, 0.15, 0.15, 1};
      p.lines.push_back(b);
    }
    f.panels.push_back(std::move(p));
  }
  if (f.panels.size() == 1) {
    f.width = std::min(width, kSingleColumnWidth);
  }
  return f;
}

Figure router_norm_figure(const std::vector<Curve>& curves, const std::string& x_label,
                          double width) {
  Figure f;
  f.title = "Router norm";
  f.width = width;
  Panel p;
  p.x.label = x_label;
  p.y.label = "router norm ‖Rᵢ‖₂";
  const std::size_t n = curves.size();
  for (std::size_t i = 0; i < n; ++i) {
    LineSeries l;
    l.name = curves[i].name;
    l.x = curves[i].x;
    l.y = curves[i].y;
    l.width = 1.2;
    if (n > kCategoricalColors) {
      // Many ordered curves (layers): a sequential ramp reads better than recycled hues.
      l.color = colormap_color(Colormap::Viridis, 0.9 * static_cast<double>(i) / (n - 1));
      l.in_legend = i == 0 || i + 1 == n;
    } else if (auto c = variant_color(l.name)) {
      l.color = c; // "vanilla (routing router)" and "vanilla (stored R)" share vanilla's colour
    }
    p.lines.push_back(l);
  }
  f.panels.push_back(std::move(p));
  return f;
}

Figure load_distribution_figure(const std::vector<LoadHistory>& layers, double width) {
  Figure f;
  f.title = "Expert load over training";
  f.width = width;
  f.columns = static_cast<int>(std::max<std::size_t>(layers.size(), 1));
  std::vector<Panel> curves;
  for (const LoadHistory& l : layers) {
    const std::size_t t = l.steps.size();
    const int experts = static_cast<int>(l.load.size());
    Panel p;
    p.title = "layer " + std::to_string(l.layer);
    p.x.label = "step";
    p.y.label = "expert";
    Heatmap h;
    h.name = "load layer " + std::to_string(l.layer);
    h.rows = experts;
    h.cols = static_cast<int>(t);
    const double dx = step_spacing(l.steps);
    h.x0 = (t ? l.steps.front() : 0.0) - dx / 2;
    h.dx = dx;
    for (const auto& row : l.load) {
      if (row.size() != t) {
        throw_input_error("load layer " + std::to_string(l.layer) + ": an expert has " +
                          std::to_string(row.size()) + " loads for " + std::to_string(t) +
                          " steps");
      }
      h.values.insert(h.values.end(), row.begin(), row.end());
    }
    h.colorbar_label = "token share";
    h.vmin = 0.0;
    p.heatmap = h;
    p.legend = LegendPlacement::None;
    f.panels.push_back(std::move(p));

    Panel c;
    c.x.label = "step";
    c.y.label = "MaxVio";
    c.x.min = h.x0;
    c.x.max = h.x0 + t * dx;
    c.y.min = 0.0;
    // A series measured only every n steps (NaN elsewhere) is drawn through its measured points
    // with markers, so that isolated values are not lost between NaN gaps.
    auto add = [&](const char* name, const std::vector<double>& y, double w) {
      if (y.empty()) {
        return;
      }
      LineSeries s;
      s.name = name;
      s.width = w;
      for (std::size_t i = 0; i < y.size() && i < l.steps.size(); ++i)
        if (std::isfinite(y[i])) {
          s.x.push_back(l.steps[i]);
          s.y.push_back(y[i]);
        }
      if (s.x.size() * 2 < y.size())
        s.marker = Marker::Circle;
      c.lines.push_back(std::move(s));
    };
    add("MaxVio batch", l.maxvio_batch, 0.9);
    add("MaxVio global", l.maxvio_global, 1.6);
    curves.push_back(std::move(c));
  }
  for (auto& c : curves) {
    f.panels.push_back(std::move(c));
  }
  const double cell = width / f.columns;
  f.height = 2 * cell * 0.62 + 30;
  return f;
}

Figure spectrum_figure(const SpectrumData& data, double width) {
  Figure f;
  f.title = "Expert spectra, layer " + std::to_string(data.layer);
  f.width = width;
  f.columns = 2;
  Panel s;
  s.x.label = "index k";
  s.y.label = "σₖ / σ₁";
  s.y.scale = AxisScale::Log;
  std::vector<double> ratios;
  bool first_gray = true;
  auto spectrum_line = [&](std::size_t e) {
    const auto& sig = data.sigma[e];
    LineSeries l;
    for (std::size_t k = 0; k < sig.size(); ++k) {
      l.x.push_back(static_cast<double>(k + 1));
      l.y.push_back(sig[0] > 0 ? sig[k] / sig[0] : kNaN);
    }
    return l;
  };
  for (std::size_t e = 0; e < data.sigma.size(); ++e) {
    const auto& sig = data.sigma[e];
    if (sig.size() >= 2 && sig[0] > 0) {
      ratios.push_back(sig[1] / sig[0]);
    }
    if (std::find(data.highlight.begin(), data.highlight.end(), static_cast<int>(e)) !=
        data.highlight.end()) {
      continue;
    }
    LineSeries l = spectrum_line(e);
    l.color = Color{0.62, 0.62, 0.62, 0.7};
    l.width = 0.6;
    l.name = "all experts";
    l.in_legend = first_gray;
    first_gray = false;
    s.lines.push_back(std::move(l));
  }
  int k = 0;
  for (int e : data.highlight) {
    if (e < 0 || static_cast<std::size_t>(e) >= data.sigma.size()) {
      throw_input_error("spectrum figure: highlighted expert " + std::to_string(e) +
                        " does not exist (" + std::to_string(data.sigma.size()) + " experts)");
    }
    LineSeries l = spectrum_line(static_cast<std::size_t>(e));
    l.name = "expert " + std::to_string(e);
    l.color = categorical_color(k++);
    l.width = 1.3;
    s.lines.push_back(std::move(l));
  }
  f.panels.push_back(std::move(s));

  Panel h;
  h.x.label = "σ₂ / σ₁";
  h.y.label = "experts";
  double lo = 1, hi = 0;
  for (double r : ratios) {
    lo = std::min(lo, r);
    hi = std::max(hi, r);
  }
  if (ratios.empty()) {
    lo = 0;
    hi = 1;
  }
  const int bins = std::clamp(
      static_cast<int>(std::ceil(2 * std::sqrt(static_cast<double>(ratios.size())))), 6, 30);
  const Histogram hist = histogram(ratios, bins, lo, hi);
  BarSeries bars;
  bars.x = hist.centers;
  bars.height = hist.counts;
  bars.width = hist.width;
  bars.in_legend = false;
  h.bars.push_back(std::move(bars));
  h.y.min = 0.0;
  h.legend = LegendPlacement::None;
  f.panels.push_back(std::move(h));
  f.height = width * 0.36;
  return f;
}

Figure training_comparison_figure(const std::vector<TrainingRun>& runs,
                                  std::optional<double> lb_alpha, double width) {
  Figure f;
  f.title = "Router training: vanilla vs MPI";
  f.width = width;
  f.share_x = true;
  f.shared_legend = true;
  struct Metric {
    std::string label;
    std::vector<double> TrainingRun::*values;
  };
  const bool task = std::any_of(runs.begin(), runs.end(),
                                [](const TrainingRun& r) { return !r.task_loss.empty(); });
  std::string lb_title = "LB loss α·N·Σ fᵢPᵢ";
  if (lb_alpha)
    lb_title += " (α = " + format_number(*lb_alpha) + ")";
  const Metric metrics[] = {task ? Metric{"task loss (MSE)", &TrainingRun::task_loss}
                                 : Metric{"total loss (task + LB)", &TrainingRun::loss},
                            {lb_title, &TrainingRun::lb_loss},
                            {"MaxVio (batch)", &TrainingRun::maxvio},
                            {"alignment λ", &TrainingRun::lambda}};
  for (const Metric& m : metrics) {
    Panel p;
    p.title = m.label; // the panel title names the metric; a y label would repeat it
    p.x.label = "step";
    for (std::size_t r = 0; r < runs.size(); ++r) {
      const auto& v = runs[r].*(m.values);
      if (v.empty()) {
        continue;
      }
      if (v.size() != runs[r].steps.size()) {
        throw_input_error("training run '" + runs[r].name + "': " + m.label + " has " +
                          std::to_string(v.size()) + " values for " +
                          std::to_string(runs[r].steps.size()) + " steps");
      }
      LineSeries l;
      l.name = runs[r].name;
      l.x = runs[r].steps;
      l.y = v;
      l.width = 1.2;
      l.color = series_color(l.name, static_cast<int>(r));
      p.lines.push_back(std::move(l));
    }
    if (!p.lines.empty()) {
      p.legend = LegendPlacement::None;
      f.panels.push_back(std::move(p));
    }
  }
  return f;
}

Figure curve_panels_figure(const std::vector<CurvePanel>& panels, int columns, double width) {
  Figure f;
  f.width = width;
  f.columns = columns;
  f.share_x = true;
  f.shared_legend = true;
  for (const CurvePanel& cp : panels) {
    Panel p;
    p.title = cp.title;
    p.x.label = "step";
    p.y.min = cp.y_min;
    p.y.max = cp.y_max;
    p.legend = LegendPlacement::None;
    for (std::size_t i = 0; i < cp.curves.size(); ++i) {
      const Curve& c = cp.curves[i];
      if (c.x.size() != c.y.size())
        throw_input_error("curve '" + c.name + "' in panel '" + cp.title + "' has " +
                          std::to_string(c.x.size()) + " steps for " + std::to_string(c.y.size()) +
                          " values");
      if (c.x.empty())
        continue;
      LineSeries l;
      l.name = c.name;
      l.x = c.x;
      l.y = c.y;
      l.width = 1.2;
      l.color = series_color(l.name, static_cast<int>(i));
      if (c.x.size() <= 40)
        l.marker = Marker::Circle;
      p.lines.push_back(std::move(l));
    }
    f.panels.push_back(std::move(p));
  }
  // The step axis ends at the last step: widened to the next nice number, a run of 600 steps in a
  // narrow panel got an axis to 1000 with 40% of it empty.
  double last = 0;
  bool any = false;
  for (const Panel& p : f.panels)
    for (const LineSeries& l : p.lines)
      for (double x : l.x)
        if (std::isfinite(x)) {
          last = any ? std::max(last, x) : x;
          any = true;
        }
  if (any && last > 0)
    for (Panel& p : f.panels) {
      p.x.min = 0.0;
      p.x.max = last;
    }
  return f;
}

} // namespace routerscope
