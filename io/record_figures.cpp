#include "io/record_figures.h"

#include "core/error.h"
#include "core/figure_builders.h"
#include "core/metrics.h"
#include "core/spectral.h"
#include "io/pretrain_figures.h"
#include "io/series_figures.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <span>

namespace routerscope::io {

namespace {

std::string names_text(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names)
    s += (s.empty() ? "" : ", ") + n;
  return s;
}

// Columns of a [steps, experts] matrix as per-expert series.
std::vector<std::vector<double>> per_expert(const MatrixD& m) {
  std::vector<std::vector<double>> out(static_cast<std::size_t>(m.cols()));
  for (Eigen::Index e = 0; e < m.cols(); ++e)
    for (Eigen::Index t = 0; t < m.rows(); ++t) // MatrixD is row-major: a column is strided
      out[static_cast<std::size_t>(e)].push_back(m(t, e));
  return out;
}

std::vector<double> step_axis(Eigen::Index n) {
  std::vector<double> s(static_cast<std::size_t>(n));
  for (Eigen::Index i = 0; i < n; ++i)
    s[static_cast<std::size_t>(i)] = static_cast<double>(i);
  return s;
}

const MatrixD& series(const ConvergenceRecord& c, const std::string& name) {
  auto it = c.series.find(name);
  if (it == c.series.end())
    throw_input_error("the record's layer " + std::to_string(c.layer) + " has no dataset 'layers/" +
                      std::to_string(c.layer) + "/" + name + "'");
  return it->second;
}

std::vector<const ConvergenceRecord*> chosen_layers(const RunRecord& record,
                                                    std::optional<int> layer) {
  if (record.layers.empty())
    throw_input_error("the convergence record holds no layer (group 'layers' is missing or empty: "
                      "the run recorded no step)");
  std::vector<const ConvergenceRecord*> out;
  for (const auto& c : record.layers)
    if (!layer || c.layer == *layer)
      out.push_back(&c);
  if (out.empty()) {
    std::string have;
    for (const auto& c : record.layers)
      have += (have.empty() ? "" : ", ") + std::to_string(c.layer);
    throw_input_error("the record has no layer " + std::to_string(layer.value_or(-1)) +
                      " (layers: " + have + ")");
  }
  return out;
}

// The slowest and fastest converging experts (largest and smallest σ₂/σ₁), drawn individually.
std::vector<int> extreme_experts(const ConvergenceRecord& c) {
  if (c.sigma1.size() == 0)
    return {};
  int slow = 0, fast = 0;
  auto ratio = [&](Eigen::Index i) { return c.sigma1(i) > 0 ? c.sigma2(i) / c.sigma1(i) : 0.0; };
  for (Eigen::Index i = 1; i < c.sigma1.size(); ++i) {
    if (ratio(i) > ratio(slow))
      slow = static_cast<int>(i);
    if (ratio(i) < ratio(fast))
      fast = static_cast<int>(i);
  }
  return slow == fast ? std::vector<int>{slow} : std::vector<int>{slow, fast};
}

Figure convergence_figure(const RunRecord& record, const std::string& name,
                          std::optional<int> layer) {
  ConvergenceData data;
  const std::string key = name == "convergence" ? "tan_theta"
                          : name == "alignment" ? "cos"
                                                : "lambda";
  data.quantity = name == "convergence" ? "tan θ to u₁"
                  : name == "alignment" ? "|cos(Rᵢ, u₁)|"
                                        : "λ (Eq. 11)";
  data.log_y = name == "convergence";
  // The bound's exponent 2kt: k = power_steps of the run (0 for the no-power ablation).
  const nlohmann::json cfg = nlohmann::json::parse(record.config, nullptr, false);
  if (cfg.is_object()) {
    if (cfg.value("ablation", std::string()) == "no-power")
      data.power_steps = 0;
    else if (cfg.contains("power_steps") && cfg["power_steps"].is_number_integer())
      data.power_steps = cfg["power_steps"].get<int>();
  }
  for (const ConvergenceRecord* c : chosen_layers(record, layer)) {
    const MatrixD& m = series(*c, key);
    if (data.steps.empty())
      data.steps = step_axis(m.rows());
    ConvergencePanel p;
    p.layer = c->layer;
    p.per_expert = per_expert(m);
    p.highlight = extreme_experts(*c);
    p.highlight_names = {"slowest expert (largest σ₂/σ₁)", "fastest expert (smallest σ₂/σ₁)"};
    if (name == "convergence") {
      // Every expert obeys its own bound, so the envelope max_i bound_i(t) bounds the whole band.
      const MatrixD& b = series(*c, "tan_bound");
      for (Eigen::Index t = 0; t < b.rows(); ++t)
        p.bound.push_back(b.row(t).maxCoeff());
    }
    data.layers.push_back(std::move(p));
  }
  Figure f = mpi_convergence_figure(data);
  f.title = name == "convergence" ? "MPI convergence: angle to u₁ per layer"
            : name == "alignment" ? "MPI convergence: |cos(Rᵢ, u₁)|"
                                  : "MPI convergence: alignment λ";
  return f;
}

const std::map<std::string, MatrixD>* variant_layer(const TrainingVariantRecord& v,
                                                    std::optional<int> layer) {
  if (v.layers.empty())
    return nullptr;
  if (!layer)
    return &v.layers.begin()->second;
  auto it = v.layers.find(*layer);
  if (it == v.layers.end())
    throw_input_error("the record's variant " + v.name + " has no layer " + std::to_string(*layer));
  return &it->second;
}

std::vector<double> scalar(const TrainingVariantRecord& v, const std::string& name) {
  auto it = v.scalars.find(name);
  if (it == v.scalars.end())
    return {};
  return {it->second.data(), it->second.data() + it->second.size()};
}

std::vector<double> row_means(const std::map<std::string, MatrixD>* layer,
                              const std::string& name) {
  std::vector<double> out;
  if (!layer)
    return out;
  auto it = layer->find(name);
  if (it == layer->end())
    return out;
  for (Eigen::Index t = 0; t < it->second.rows(); ++t) // rows are contiguous (row-major)
    out.push_back(summarize(std::span<const double>(it->second.row(t).data(),
                                                    static_cast<std::size_t>(it->second.cols())))
                      .mean);
  return out;
}

// A number of the record's config (a JSON object), or nullopt when it has none or is not JSON.
std::optional<double> config_number(const RunRecord& record, const std::string& key) {
  const auto cfg = nlohmann::json::parse(record.config, nullptr, false);
  if (cfg.is_object() && cfg.contains(key) && cfg.at(key).is_number())
    return cfg.at(key).get<double>();
  return std::nullopt;
}

// The layer a training figure shows: `layer`, else the first variant's first layer.
int training_layer(const RunRecord& record, std::optional<int> layer) {
  if (layer)
    return *layer;
  for (const auto& v : record.variants)
    if (!v.layers.empty())
      return v.layers.begin()->first;
  return 0;
}

Figure training_figure(const RunRecord& record, const std::string& name, std::optional<int> layer) {
  if (name == "training") {
    std::vector<TrainingRun> runs;
    for (const auto& v : record.variants) {
      TrainingRun r;
      r.name = v.name;
      r.loss = scalar(v, "loss");
      r.steps = step_axis(static_cast<Eigen::Index>(r.loss.size()));
      r.task_loss = scalar(v, "task_loss");
      r.lb_loss = scalar(v, "lb_loss");
      r.maxvio = scalar(v, "maxvio_batch");
      r.lambda = row_means(variant_layer(v, layer), "lambda");
      runs.push_back(std::move(r));
    }
    Figure f = training_comparison_figure(runs, config_number(record, "lb_alpha"));
    f.title = "Router training on layer " + std::to_string(training_layer(record, layer)) +
              ": vanilla vs MPI on the same tokens";
    return f;
  }
  if (name == "load") {
    std::vector<LoadHistory> panels;
    for (const auto& v : record.variants) {
      const auto* l = variant_layer(v, layer);
      if (!l || !l->count("load"))
        continue;
      const MatrixD& load = l->at("load");
      LoadHistory h;
      h.layer = layer.value_or(record.variants.front().layers.begin()->first);
      h.steps = step_axis(load.rows());
      h.load.assign(static_cast<std::size_t>(load.cols()), {});
      for (Eigen::Index t = 0; t < load.rows(); ++t) {
        const double total = load.row(t).sum();
        for (Eigen::Index e = 0; e < load.cols(); ++e)
          h.load[static_cast<std::size_t>(e)].push_back(total > 0 ? load(t, e) / total : 0.0);
      }
      h.maxvio_batch = scalar(v, "maxvio_batch");
      if (v.maxvio_global.size() > 0) {
        // Held-out MaxVio is measured every n steps: NaN elsewhere leaves gaps, not fake values.
        h.maxvio_global.assign(h.steps.size(), std::nan(""));
        // Pairs (step, value) as far as both series go; a step that is not an index of the
        // axis (negative, NaN, past the end) is not drawn.
        const Eigen::Index pairs = std::min(v.maxvio_global.size(), v.maxvio_global_step.size());
        for (Eigen::Index i = 0; i < pairs; ++i) {
          const double step = v.maxvio_global_step(i);
          if (step >= 0 && step < double(h.maxvio_global.size()))
            h.maxvio_global[static_cast<std::size_t>(step)] = v.maxvio_global(i);
        }
      }
      panels.push_back(std::move(h));
    }
    if (panels.empty())
      throw_input_error("the record holds no per-expert load");
    Figure built = load_distribution_figure(panels);
    // One row per variant: its load heatmap beside its MaxVio curves (the builder lists all
    // heatmaps first, then all curve panels).
    Figure f = built;
    f.panels.clear();
    f.columns = 2;
    const std::size_t n = panels.size();
    double vmax = 0; // one colour scale for every variant, so that their loads compare
    for (const auto& h : panels)
      for (const auto& row : h.load)
        for (double v : row)
          if (std::isfinite(v))
            vmax = std::max(vmax, v);
    // The variants' MaxVio panels share one y range from 0, so that their heights compare.
    double vio_max = 0;
    for (std::size_t i = 0; i < n && n + i < built.panels.size(); ++i)
      for (const auto& line : built.panels[n + i].lines)
        for (double y : line.y)
          if (std::isfinite(y))
            vio_max = std::max(vio_max, y);
    for (std::size_t i = 0; i < n && n + i < built.panels.size(); ++i) {
      Panel heat = built.panels[i];
      if (heat.heatmap && vmax > 0)
        heat.heatmap->vmax = vmax;
      heat.title = record.variants[i].name + ", " + heat.title;
      Panel curves = built.panels[n + i];
      curves.title = record.variants[i].name + ": MaxVio";
      if (vio_max > 0) {
        curves.y.min = 0.0;
        curves.y.max = vio_max;
      }
      // In the variant's own colour (blue and vermillion mean vanilla and mpi everywhere): the
      // noisy batch value faint, the held-out value strong.
      if (auto c = variant_color(record.variants[i].name))
        for (auto& line : curves.lines) {
          const bool batch = line.name.find("batch") != std::string::npos;
          line.color = batch ? c->with_alpha(0.45) : *c;
        }
      if (i > 0)
        curves.legend = LegendPlacement::None;
      f.panels.push_back(std::move(heat));
      f.panels.push_back(std::move(curves));
    }
    f.height = 150.0 * static_cast<double>(n) + 40.0;
    f.title = "Expert load over training on layer " +
              std::to_string(training_layer(record, layer)) + " (token share per step)";
    return f;
  }
  // norms
  std::vector<Curve> curves;
  for (const auto& v : record.variants) {
    const auto* l = variant_layer(v, layer);
    auto n = row_means(l, "router_norm");
    curves.push_back({v.name + " (routing router)", step_axis(Eigen::Index(n.size())), n});
    auto stored = row_means(l, "stored_norm");
    if (!stored.empty())
      curves.push_back({v.name + " (stored R)", step_axis(Eigen::Index(stored.size())), stored});
  }
  Figure f = router_norm_figure(curves, "step", kDoubleColumnWidth);
  f.height = 0.42 * kDoubleColumnWidth;
  // Routing routers solid, stored parameters dashed; MPI-family routing routers all sit at C.
  for (auto& p : f.panels)
    for (auto& line : p.lines)
      if (line.name.find("(stored R)") != std::string::npos)
        line.dash = Dash::Dashed;
  f.title = "Mean router row norm ‖Rᵢ‖ on layer " + std::to_string(training_layer(record, layer)) +
            " during training (retracted routers sit at C = C′/√N)";
  return f;
}

} // namespace

Figure alignment_grid_figure(const std::vector<LayerAlignment>& layers, bool lambda,
                             const std::string& source) {
  AlignmentGrid grid;
  for (const auto& l : layers) {
    grid.layers.push_back(l.layer);
    grid.experts = std::max(grid.experts, static_cast<int>(l.experts.size()));
  }
  for (const auto& l : layers)
    for (int e = 0; e < grid.experts; ++e) {
      if (e >= static_cast<int>(l.experts.size()) ||
          l.experts[static_cast<std::size_t>(e)].status != DirectionStatus::Ok) {
        grid.values.push_back(std::nan(""));
        continue;
      }
      const auto& x = l.experts[static_cast<std::size_t>(e)];
      grid.values.push_back(lambda ? x.lambda : x.cos);
    }
  grid.quantity = lambda ? "λ (Eq. 11)" : "|cos(Rᵢ, u₁)|";
  Figure f = alignment_heatmap(grid);
  f.title = std::filesystem::path(source).filename().string() + ": router–expert alignment";
  return f;
}

Figure spectrum_figure_for_layer(const MoeModel& model, int layer, ExpertMatrix matrix) {
  const LayerInfo& li = model.info().layer(layer);
  if (!li.moe)
    throw_input_error(model.info().path + ": layer " + std::to_string(layer) +
                      " is dense; the spectrum figure needs an MoE layer");
  SpectrumData data;
  data.layer = layer;
  int slow = 0, fast = 0;
  for (int e = 0; e < li.experts; ++e) {
    data.sigma.push_back(singular_values(direction_operator(model, layer, e, matrix), 64));
    auto ratio = [&](int i) {
      const auto& s = data.sigma[static_cast<std::size_t>(i)];
      return s.size() >= 2 && s[0] > 0 ? s[1] / s[0] : 0.0;
    };
    if (ratio(e) > ratio(slow))
      slow = e;
    if (ratio(e) < ratio(fast))
      fast = e;
  }
  data.highlight = slow == fast ? std::vector<int>{slow} : std::vector<int>{slow, fast};
  Figure f = spectrum_figure(data);
  f.title = "Singular spectra of the " + std::string(to_string(matrix)) + " matrices, layer " +
            std::to_string(layer);
  return f;
}

std::vector<std::string> record_figure_names(const RunRecord& record) {
  if (record.kind == "convergence")
    return {"convergence", "alignment", "lambda"};
  if (record.kind == "pretraining")
    return pretrain_figure_names();
  if (record.kind == "series")
    return series_figure_names(record);
  return {"training", "load", "norms"};
}

Figure record_figure(const RunRecord& record, const std::string& name, std::optional<int> layer) {
  auto names = record_figure_names(record);
  if (std::find(names.begin(), names.end(), name) == names.end())
    throw_input_error("figure '" + name + "' cannot be drawn from a " + record.kind +
                      " record; choose one of: " + names_text(names));
  if (record.kind == "convergence")
    return convergence_figure(record, name, layer);
  if (record.kind == "pretraining")
    return pretrain_figure(record, name, layer);
  if (record.kind == "series")
    return series_figure(record, name, layer);
  if (record.variants.empty())
    throw_input_error("the training record holds no variant");
  return training_figure(record, name, layer);
}

} // namespace routerscope::io
