#pragma once
// The figures of issue 4 built from what RouterScope computes: alignment reports, checkpoints
// (singular spectra) and HDF5 run records. One place, used by `plot`, `report` and the GUI export.
#include "core/align.h"
#include "core/figure.h"
#include "core/model.h"
#include "io/run_record.h"

#include <optional>
#include <string>
#include <vector>

namespace routerscope::io {

// a. Layers × experts heatmap of |cos(Rᵢ, u₁)| (or λ when `lambda`).
Figure alignment_grid_figure(const std::vector<LayerAlignment>& layers, bool lambda,
                             const std::string& source);

// e. Singular spectra of one layer's experts (σ_k/σ₁, up to 64 values) and the σ₂/σ₁ histogram.
Figure spectrum_figure_for_layer(const MoeModel& model, int layer, ExpertMatrix matrix);

// Figure names a record can draw: convergence records "convergence" (tan θ with the power-
// iteration bound), "alignment" (|cos|), "lambda"; training records "training" (loss,
// LB loss, MaxVio, λ per variant), "load" (experts × steps per variant), "norms"; pretraining
// records the names of io/pretrain_figures.h; series records those of io/series_figures.h.
std::vector<std::string> record_figure_names(const RunRecord& record);

// Builds figure `name` from `record`, for one layer or (nullopt) every layer in it. BadInput naming
// the dataset or the choices when the name or the layer does not fit the record (callers that read
// the record from a file prefix its path).
Figure record_figure(const RunRecord& record, const std::string& name,
                     std::optional<int> layer = std::nullopt);

} // namespace routerscope::io
