#pragma once
// One checkpoint of a training run as a point of a series (issue 16): per layer and expert the
// alignment of align_model (|cos|, λ, σ₁, σ₂/σ₁, router row norm) plus the expert matrix's
// Frobenius norm, and optionally the load of given hidden states routed with the checkpoint's own
// router through route_tokens (the code `route` uses) with MaxVio, CV and entropy. No new maths:
// every number comes from align.h, routing.h and load_metrics.h.
#include "core/align.h"
#include "core/model.h"
#include "core/progress.h"
#include "core/types.h"

#include <functional>
#include <vector>

namespace routerscope {

struct SeriesLayerPoint {
  int layer = 0;
  // One value per routed expert; NaN where the quantity is undefined (cos and λ need u₁, σ₂/σ₁
  // needs σ₁ > 0, σ needs a finite matrix).
  std::vector<double> cos, lambda, sigma1, sigma_ratio, router_norm, weight_norm;
  // With hidden states: routed slots per expert, and the metrics of load_metrics.h.
  bool has_load = false;
  std::vector<double> load;
  double maxvio = 0, cv = 0, entropy = 0;
};

struct SeriesOptions {
  AlignOptions align;              // matrix, method, layers (empty = every MoE layer), backend
  const MatrixF* tokens = nullptr; // hidden states [T, D] to route; null = no load
  bool alignment = true;           // false: only the load (alignment taken from a cache)
};

// Measures one checkpoint, one layer at a time (memory: one layer of one checkpoint). progress
// gets the fraction of layers done; on_layer (optional) sees each layer as it finishes.
std::vector<SeriesLayerPoint>
measure_series_point(const MoeModel& model, const SeriesOptions& options,
                     const Progress& progress = {},
                     const std::function<void(const SeriesLayerPoint&)>& on_layer = {});

// The per-expert values of one aligned layer (NaN where undefined), as measure_series_point
// records them.
SeriesLayerPoint series_layer_values(const LayerAlignment& layer);

// Adds the load of `tokens` routed with layer `point.layer`'s router to `point` (route_tokens with
// the family's rule and the layer's top-k). BadInput when the width differs from d_model or the
// layer has no top-k.
void add_series_load(const MoeModel& model, const MatrixF& tokens, SeriesLayerPoint& point);

} // namespace routerscope
