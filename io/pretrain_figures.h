#pragma once
// The figures of a pretraining record (`routerscope pretrain --record`), in the figure model that
// `plot`, `report` and the GUI export share: "pretraining" (validation bits per byte, MaxVio
// global, mean λ per variant), "pretraining-load" (experts × steps per layer and variant) and
// "pretraining-alignment" (mean λ per layer over steps, variants overlaid).
#include "core/figure.h"
#include "io/run_record.h"

#include <optional>
#include <string>
#include <vector>

namespace routerscope::io {

std::vector<std::string> pretrain_figure_names();

// Builds figure `name` from a pretraining record, for one layer or (nullopt) every layer.
// BadInput naming the layer or dataset when they do not fit the record.
Figure pretrain_figure(const RunRecord& record, const std::string& name,
                       std::optional<int> layer = std::nullopt);

} // namespace routerscope::io
