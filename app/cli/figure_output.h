#pragma once
// Figure choice shared by `plot` and `report`: which figures an input can draw, and writing one
// figure in several formats plus its CSV.
#include "core/figure.h"
#include "core/model.h"

#include <optional>
#include <string>
#include <vector>

namespace routerscope::cli {

// True for an HDF5 run record (by its signature bytes, not its name).
bool is_run_record(const std::string& path);

// Builds figure `name` from a run record (.h5) or a checkpoint ("heatmap", "heatmap-lambda",
// "spectrum"). `layer`: the layer to show (nullopt: every layer, or the first MoE layer for
// spectrum).
Figure build_figure(const std::string& input, const std::string& name, std::optional<int> layer,
                    ExpertMatrix matrix);

// "column" (3.5 in) or "page" (7 in); BadInput otherwise.
void apply_size(Figure& figure, const std::string& size);

// Writes base.{png,svg,pdf} (as listed in `formats`) and base.csv; returns the files written.
std::vector<std::string> write_figure(const Figure& figure, const std::string& base,
                                      const std::vector<std::string>& formats, double dpi);

} // namespace routerscope::cli
