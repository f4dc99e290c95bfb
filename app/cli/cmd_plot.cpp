// routerscope plot INPUT --figure NAME --out FILE.{png,svg,pdf}: one publication figure from a run
// record or a checkpoint, plus the CSV of exactly the data drawn.
#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/figure_output.h"
#include "core/error.h"
#include "io/figure_export.h"

#include <cstdio>
#include <filesystem>

namespace routerscope::cli {

namespace {

int run_plot(const Argv& argv) {
  Args args("plot", argv, {"figure", "layer", "out", "dpi", "size", "matrix", "csv"}, {});
  args.require_positionals(0, 1);
  std::string input = args.positionals().empty() ? default_checkpoint() : args.positionals()[0];
  auto out = args.get("out");
  if (!out)
    throw_input_error("plot: --out FILE.png|FILE.svg|FILE.pdf is required");
  std::string ext = std::filesystem::path(*out).extension().string();
  if (ext != ".png" && ext != ".svg" && ext != ".pdf")
    throw_input_error("plot: --out " + *out + " must end in .png, .svg or .pdf");
  std::optional<int> layer;
  if (args.get("layer"))
    layer = args.get_int("layer", 0, 0, 1 << 20);
  const double dpi = args.get_double("dpi", 200);
  if (!(dpi >= 36 && dpi <= 2400))
    throw_input_error("plot: --dpi must be between 36 and 2400");
  Figure f = build_figure(input, args.get_or("figure", is_run_record(input) ? "" : "heatmap"),
                          layer, parse_expert_matrix(args.get_or("matrix", "gate")));
  if (auto size = args.get("size"))
    apply_size(f, *size);
  io::ExportOptions opt;
  opt.dpi = dpi;
  io::export_figure(f, *out, opt);
  std::string csv = args.get_or("csv", std::filesystem::path(*out).replace_extension(".csv"));
  io::export_figure_csv(f, csv);
  std::printf("wrote %s and %s\n", out->c_str(), csv.c_str());
  return 0;
}

const Registrar kRegistrar(
    {"plot", "one publication figure (PNG/SVG/PDF + CSV) from a run record or checkpoint",
     "usage: routerscope plot [INPUT] --figure NAME --out FILE.{png,svg,pdf} [--layer L]\n"
     "                        [--size column|page] [--dpi 200] [--csv FILE] [--matrix gate]\n\n"
     "INPUT is a run record (.h5 written by 'mpi', 'train' or the GUI) or a checkpoint\n"
     "(default: the demo).\n"
     "  convergence records: convergence (tan of the angle to u1, with the dashed\n"
     "                       (s2/s1)^(2kt) bound), alignment (|cos|), lambda\n"
     "  training records:    training (loss, LB loss, MaxVio, lambda per variant), load\n"
     "                       (experts x steps per variant, MaxVio), norms\n"
     "  pretraining records: pretraining (validation bits per byte, MaxVio global, mean\n"
     "                       lambda per variant), pretraining-load (experts x steps per layer\n"
     "                       and variant), pretraining-alignment (lambda per layer)\n"
     "  checkpoints:         heatmap (|cos|, layers x experts), heatmap-lambda, spectrum\n"
     "The CSV (default: FILE with .csv) holds every value drawn, at full resolution.",
     run_plot});

} // namespace
} // namespace routerscope::cli
