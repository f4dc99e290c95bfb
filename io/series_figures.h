#pragma once
// The figures of a series record (`routerscope series --record`), in the figure model `plot`,
// `report` and the GUI export share: "series-alignment" (λ and |cos| per layer over training
// steps: mean over experts with the min–max band), "series-norms" (router row norms and expert
// weight norms, the same way) and "series-load" (experts × checkpoints heatmap of the token share
// per layer, with MaxVio; only when the record holds load).
#include "core/figure.h"
#include "io/run_record.h"

#include <optional>
#include <string>
#include <vector>

namespace routerscope::io {

// The names a series record can draw (series-load only when it holds load).
std::vector<std::string> series_figure_names(const RunRecord& record);

// Builds figure `name` from a series record, for one layer or (nullopt) every layer. BadInput
// naming the layer or dataset when they do not fit the record.
Figure series_figure(const RunRecord& record, const std::string& name,
                     std::optional<int> layer = std::nullopt);

} // namespace routerscope::io
