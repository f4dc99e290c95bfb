#include "io/pretrain_figures.h"

#include "core/error.h"
#include "core/figure_builders.h"
#include "io/pretrain_record.h"

#include <algorithm>
#include <cmath>

namespace routerscope::io {

namespace {

std::vector<double> values(const VectorD& v) {
  return {v.data(), v.data() + v.size()};
}

// Row means of a [samples, experts] matrix.
VectorD row_means(const MatrixD& m) {
  return m.rows() ? VectorD(m.rowwise().mean()) : VectorD();
}

// The layers a figure draws: all, or the one asked for (BadInput listing the choices).
std::vector<int> chosen_layers(const PretrainSeries& s, std::optional<int> layer) {
  const int n = static_cast<int>(s.layers.size());
  if (layer && (*layer < 0 || *layer >= n))
    throw_input_error("the pretraining record has no layer " + std::to_string(*layer) +
                      " (layers 0-" + std::to_string(n - 1) + ")");
  std::vector<int> out;
  for (int l = 0; l < n; ++l)
    if (!layer || l == *layer)
      out.push_back(l);
  return out;
}

Figure summary_figure(const std::vector<PretrainSeries>& runs, std::optional<int> layer) {
  // Short panel titles: three panels share a page width.
  CurvePanel bpb{"validation bits per byte", {}, std::nullopt, std::nullopt};
  CurvePanel maxvio{"MaxVio global", {}, 0.0, std::nullopt};
  CurvePanel lambda{"alignment λ", {}, std::nullopt, std::nullopt};
  for (const auto& s : runs) {
    const auto layers = chosen_layers(s, layer);
    bpb.curves.push_back({s.name, values(s.val_step), values(s.val_bpb)});
    VectorD mv = VectorD::Zero(s.val_step.size()), lam = VectorD::Zero(s.align_step.size());
    for (int l : layers) {
      mv += s.layers[std::size_t(l)].at("maxvio_global").col(0);
      lam += row_means(s.layers[std::size_t(l)].at("lambda"));
    }
    mv /= double(layers.size());
    lam /= double(layers.size());
    maxvio.curves.push_back({s.name, values(s.val_step), values(mv)});
    lambda.curves.push_back({s.name, values(s.align_step), values(lam)});
  }
  Figure f = curve_panels_figure({bpb, maxvio, lambda}, 3);
  f.height = 0.36 * f.width;
  f.title = "Pretraining from scratch, vanilla vs MPI routers (MaxVio and λ: " +
            (layer ? "layer " + std::to_string(*layer) : std::string("mean over layers")) + ")";
  return f;
}

// One panel per layer of `key`'s mean over experts, variants overlaid, on a shared y axis; x: the
// align samples' steps (`at_align`) or every step.
Figure per_layer_figure(const std::vector<PretrainSeries>& runs, std::optional<int> layer,
                        const char* key, bool at_align, const std::string& panel_title,
                        std::optional<double> y_min, const std::string& title) {
  std::vector<CurvePanel> panels;
  for (int l : chosen_layers(runs.front(), layer)) {
    CurvePanel p{"layer " + std::to_string(l) + ": " + panel_title, {}, y_min, std::nullopt};
    for (const auto& s : runs) {
      if (std::size_t(l) >= s.layers.size())
        throw_input_error("variant " + s.name + " has no layer " + std::to_string(l));
      p.curves.push_back({s.name, values(at_align ? s.align_step : s.scalars.at("step")),
                          values(row_means(s.layers[std::size_t(l)].at(key)))});
    }
    panels.push_back(std::move(p));
  }
  const int columns = std::min<int>(4, static_cast<int>(panels.size()));
  Figure f = curve_panels_figure(panels, columns);
  const int rows = (static_cast<int>(panels.size()) + columns - 1) / columns;
  f.height = rows * (f.width / columns) * 0.8 + 40;
  f.share_y = true;
  f.title = title;
  return f;
}

Figure load_figure(const std::vector<PretrainSeries>& runs, std::optional<int> layer) {
  // Rows: layers; columns: variants (the builder's heatmap panels, its MaxVio panels dropped).
  const auto layers = chosen_layers(runs.front(), layer);
  std::vector<LoadHistory> histories;
  std::vector<std::string> titles;
  for (int l : layers)
    for (const auto& s : runs) {
      if (std::size_t(l) >= s.layers.size())
        throw_input_error("variant " + s.name + " has no layer " + std::to_string(l));
      const MatrixD& load = s.layers[std::size_t(l)].at("load");
      LoadHistory h;
      h.layer = l;
      h.steps = values(s.scalars.at("step"));
      h.load.assign(std::size_t(load.cols()), {});
      for (Eigen::Index t = 0; t < load.rows(); ++t) {
        const double total = load.row(t).sum();
        for (Eigen::Index e = 0; e < load.cols(); ++e)
          h.load[std::size_t(e)].push_back(total > 0 ? load(t, e) / total : 0.0);
      }
      histories.push_back(std::move(h));
      titles.push_back(s.name + ", layer " + std::to_string(l));
    }
  const Figure built = load_distribution_figure(histories);
  Figure f = built;
  f.panels.clear();
  f.columns = static_cast<int>(runs.size());
  double vmax = 0; // one colour scale for every panel, so that variants and layers compare
  for (const auto& h : histories)
    for (const auto& row : h.load)
      for (double v : row)
        if (std::isfinite(v))
          vmax = std::max(vmax, v);
  for (std::size_t i = 0; i < histories.size(); ++i) {
    Panel p = built.panels[i];
    p.title = titles[i];
    if (p.heatmap && vmax > 0)
      p.heatmap->vmax = vmax;
    f.panels.push_back(std::move(p));
  }
  f.width = kDoubleColumnWidth;
  f.height = 110.0 * double(layers.size()) + 40.0;
  f.title = "Expert load during pretraining (token share per step)";
  return f;
}

} // namespace

std::vector<std::string> pretrain_figure_names() {
  return {"pretraining", "pretraining-load", "pretraining-alignment", "pretraining-norms"};
}

Figure pretrain_figure(const RunRecord& record, const std::string& name, std::optional<int> layer) {
  const auto runs = pretrain_series(record, "the pretraining record");
  if (name == "pretraining")
    return summary_figure(runs, layer);
  if (name == "pretraining-alignment")
    return per_layer_figure(runs, layer, "lambda", true, "λ (mean over experts)", std::nullopt,
                            "Router–expert alignment λ (Eq. 11) per layer during pretraining");
  if (name == "pretraining-norms") // R′ for MPI variants: C′/√N by construction; vanilla drifts
    return per_layer_figure(runs, layer, "router_norm", false, "mean ‖router row‖", 0.0,
                            "Norm of the routing router rows during pretraining (R′ for MPI)");
  if (name == "pretraining-load")
    return load_figure(runs, layer);
  throw_input_error("figure '" + name +
                    "' cannot be drawn from a pretraining record; choose one of: pretraining, "
                    "pretraining-load, pretraining-alignment, pretraining-norms");
}

} // namespace routerscope::io
