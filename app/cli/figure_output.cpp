#include "app/cli/figure_output.h"

#include "core/align.h"
#include "core/error.h"
#include "io/checkpoint.h"
#include "io/figure_export.h"
#include "io/record_figures.h"
#include "io/run_record.h"

#include <cstring>
#include <fstream>

namespace routerscope::cli {

bool is_run_record(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char sig[8] = {};
  in.read(sig, 8);
  return in.gcount() == 8 && std::memcmp(sig, "\x89HDF\r\n\x1a\n", 8) == 0;
}

Figure build_figure(const std::string& input, const std::string& name, std::optional<int> layer,
                    ExpertMatrix matrix) {
  if (is_run_record(input)) {
    const RunRecord record = io::read_run_record(input); // its errors name the file
    try {
      return io::record_figure(record, name, layer);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::BadInput)
        throw;
      throw_input_error(input + ": " + e.what());
    }
  }
  if (name != "heatmap" && name != "heatmap-lambda" && name != "spectrum")
    throw_input_error("figure '" + name + "' needs a run record (.h5 from 'mpi' or 'train'); " +
                      input + " is a checkpoint, which draws heatmap, heatmap-lambda or spectrum");
  auto model = io::open_checkpoint(input);
  if (name == "spectrum") {
    auto moe = model->info().moe_layers();
    return io::spectrum_figure_for_layer(*model, layer.value_or(moe.front()), matrix);
  }
  AlignOptions opt;
  opt.matrix = matrix;
  if (layer)
    opt.layers = {*layer};
  return io::alignment_grid_figure(align_model(*model, opt), name == "heatmap-lambda", input);
}

void apply_size(Figure& figure, const std::string& size) {
  if (size == "column")
    figure.width = kSingleColumnWidth;
  else if (size == "page")
    figure.width = kDoubleColumnWidth;
  else
    throw_input_error("--size: expected column or page, got '" + size + "'");
  figure.height = 0;
}

std::vector<std::string> write_figure(const Figure& figure, const std::string& base,
                                      const std::vector<std::string>& formats, double dpi) {
  std::vector<std::string> files;
  io::ExportOptions opt;
  opt.dpi = dpi;
  for (const auto& f : formats) {
    io::export_figure(figure, base + "." + f, opt);
    files.push_back(base + "." + f);
  }
  io::export_figure_csv(figure, base + ".csv");
  files.push_back(base + ".csv");
  return files;
}

} // namespace routerscope::cli
