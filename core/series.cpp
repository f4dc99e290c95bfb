#include "core/series.h"

#include "core/error.h"
#include "core/load_metrics.h"
#include "core/routing.h"

#include <cmath>
#include <limits>
#include <string>

namespace routerscope {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

} // namespace

SeriesLayerPoint series_layer_values(const LayerAlignment& layer) {
  SeriesLayerPoint p;
  p.layer = layer.layer;
  for (const ExpertAlignment& e : layer.experts) {
    const bool ok = e.status == DirectionStatus::Ok;
    const bool sigma =
        ok || e.status == DirectionStatus::Degenerate || e.status == DirectionStatus::Zero;
    p.cos.push_back(ok ? e.cos : kNaN);
    p.lambda.push_back(ok ? e.lambda : kNaN);
    p.sigma1.push_back(sigma ? e.sigma1 : kNaN);
    p.sigma_ratio.push_back(sigma && e.sigma1 > 0 ? e.gap_ratio : kNaN);
    p.router_norm.push_back(e.router_norm);
    p.weight_norm.push_back(e.weight_norm);
  }
  return p;
}

void add_series_load(const MoeModel& model, const MatrixF& tokens, SeriesLayerPoint& point) {
  const ModelInfo& info = model.info();
  const LayerInfo& li = info.moe_layer(point.layer);
  if (tokens.cols() != info.d_model)
    throw_input_error(info.path + ": hidden states are [" + std::to_string(tokens.rows()) + ", " +
                      std::to_string(tokens.cols()) + "], expected width " +
                      std::to_string(info.d_model) + " (hidden_size)");
  if (!li.top_k)
    throw_input_error(info.path + ": layer " + std::to_string(point.layer) +
                      " has no top-k (config.json num_experts_per_tok is missing)");
  const Routing routing = route_tokens(tokens, model.router(point.layer),
                                       model.router_bias(point.layer), info.routing, *li.top_k);
  const VectorD load = expert_loads(routing.experts, li.experts);
  point.has_load = true;
  point.load.assign(load.data(), load.data() + load.size());
  point.maxvio = max_vio(load);
  point.cv = load_cv(load);
  point.entropy = load_entropy(load);
}

std::vector<SeriesLayerPoint>
measure_series_point(const MoeModel& model, const SeriesOptions& options, const Progress& progress,
                     const std::function<void(const SeriesLayerPoint&)>& on_layer) {
  const ModelInfo& info = model.info();
  const std::vector<int> layers =
      options.align.layers.empty() ? info.moe_layers() : options.align.layers;
  std::vector<SeriesLayerPoint> out;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    progress.check();
    SeriesLayerPoint point;
    point.layer = layers[i];
    if (options.alignment) {
      AlignOptions one = options.align;
      one.layers = {layers[i]};
      point = series_layer_values(align_model(model, one, {{}, progress.cancel}).front());
    } else {
      info.moe_layer(layers[i]); // BadInput for a dense or missing layer, as align_model says
    }
    if (options.tokens)
      add_series_load(model, *options.tokens, point);
    progress(double(i + 1) / double(layers.size()), "layer " + std::to_string(layers[i]));
    if (on_layer)
      on_layer(point);
    out.push_back(std::move(point));
  }
  return out;
}

} // namespace routerscope
