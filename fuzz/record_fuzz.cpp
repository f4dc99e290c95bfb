// Fuzz target: the HDF5 run-record reader and the record-to-figure path (what `plot` and the GUI
// do with a record): read the record, build every figure it names for all layers and for each
// one, lay each out on a recording canvas and write its CSV; training records also go through
// the GUI's replay conversion.
#include "core/figure_layout.h"
#include "fuzz/hdf5_builder.h"
#include "io/figure_export.h"
#include "io/record_figures.h"
#include "io/run_record.h"

#include <optional>
#include <vector>

using namespace routerscope;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = fuzz::scratch() / "record.h5";
  fuzz::Bytes in(data, size);
  fuzz::build_hdf5(path, in);
  fuzz::run_one([&] {
    const RunRecord record = io::read_run_record(path);
    std::vector<std::optional<int>> layers = {std::nullopt};
    for (const auto& l : record.layers)
      layers.push_back(l.layer);
    for (const auto& v : record.variants)
      for (const auto& [l, series] : v.layers)
        layers.push_back(l);
    for (const std::string& name : io::record_figure_names(record))
      for (const auto& layer : layers)
        fuzz::run_one([&] {
          const Figure figure = io::record_figure(record, name, layer);
          RecordingCanvas canvas;
          draw_figure(figure, canvas);
          io::figure_csv(figure);
        });
    if (record.kind == "training")
      fuzz::run_one([&] { training_steps(record, "fuzz"); });
  });
  return 0;
}
