// routerscope plot INPUT --figure NAME --out FILE.{png,svg,pdf}: one publication figure from a run
// record or a checkpoint, plus the CSV of exactly the data drawn.
#include "app/cli/command_line.h"
#include "app/cli/figure_output.h"
#include "core/error.h"
#include "core/figure_options.h"
#include "io/figure_export.h"

#include <cstdio>
#include <filesystem>

namespace routerscope::cli {

namespace {

int run_plot(const Argv& argv) {
  CommandLine cl(
      "plot", "One publication figure (PNG/SVG/PDF + CSV) from a run record or a checkpoint.",
      "INPUT is a run record (.h5 written by 'mpi', 'train', 'pretrain' or the GUI) or a\n"
      "checkpoint"
      " (default: the demo). Figures:\n"
      "  convergence records: convergence (tan of the angle to u1, with the dashed\n"
      "                       (s2/s1)^(2kt) bound), alignment (|cos|), lambda\n"
      "  training records:    training (task loss, LB loss, MaxVio, lambda per variant), load\n"
      "                       (experts x steps per variant, MaxVio), norms\n"
      "  pretraining records: pretraining (validation bits per byte, MaxVio global, mean\n"
      "                       lambda per variant), pretraining-load (experts x steps per layer\n"
      "                       and variant), pretraining-alignment (lambda per layer),\n"
      "                       pretraining-norms (routing router row norms per layer)\n"
      "  checkpoints:         heatmap (|cos|, layers x experts), heatmap-lambda, spectrum\n"
      "The CSV (default: FILE with .csv; --csv - for stdout) holds every value drawn, at full\n"
      "resolution.");
  std::string input_arg, figure, out, size, matrix = "gate", csv;
  int layer = 0;
  double dpi = 200;
  CLI::App& app = cl.app();
  app.add_option("INPUT", input_arg,
                 "run record (.h5) or checkpoint: folder, file, Hub repo id or cache folder "
                 "(default: the bundled demo)");
  app.add_option("--figure", figure, "figure name (see below)");
  app.add_option("--out", out, "FILE.png, FILE.svg or FILE.pdf")->required();
  CLI::Option* layer_opt = app.add_option("--layer", layer,
                                          "layer to show (default: every layer / the first MoE "
                                          "layer)")
                               ->check(CLI::Range(0, 1 << 20));
  app.add_option("--size", size, "figure width")->check(one_of({"column", "page"}));
  app.add_option("--dpi", dpi, "PNG resolution")->check(CLI::Range(36.0, 2400.0));
  app.add_option("--csv", csv, "the figure's data as CSV (- for stdout)");
  app.add_option("--matrix", matrix, "expert matrix")->check(one_of({"gate", "up", "down"}));
  ViewOptions view;
  std::string color_range;
  app.add_option("--smooth", view.smoothing,
                 "EMA weight in [0, 1) for curves over steps (0.9: strong); the raw curve stays "
                 "drawn faint")
      ->check(CLI::Range(0.0, 0.999));
  app.add_flag("--log-y", view.log_y,
               "logarithmic y axes (panels whose values are positive and span a decade or more)");
  app.add_option("--color-range", color_range,
                 "heatmap colours: auto (data min-max), robust (2nd-98th percentile) or unit "
                 "(0-1)")
      ->check(one_of({"auto", "robust", "unit"}));
  std::string x_range, y_range;
  app.add_option("--x-range", x_range,
                 "A:B: every panel's x axis from A to B, the data cut to it (what the GUI's zoom "
                 "exports)");
  app.add_option("--y-range", y_range, "A:B: every panel's y axis from A to B");
  if (auto rc = cl.parse(argv))
    return *rc;
  std::string ext = std::filesystem::path(out).extension().string();
  if (ext != ".png" && ext != ".svg" && ext != ".pdf")
    throw_input_error("plot: --out " + out + " must end in .png, .svg or .pdf");
  // A record is read as given; anything else is a checkpoint PATH (Hub ids, the demo).
  const std::string input =
      !input_arg.empty() && is_run_record(input_arg) ? input_arg : cl.checkpoint(input_arg);
  std::optional<int> shown;
  if (layer_opt->count())
    shown = layer;
  Figure f = build_figure(input, figure.empty() && !is_run_record(input) ? "heatmap" : figure,
                          shown, parse_expert_matrix(matrix));
  if (!color_range.empty())
    view.color_range = parse_color_range(color_range);
  if (!x_range.empty())
    view.x_range = parse_range(x_range, "plot: --x-range");
  if (!y_range.empty())
    view.y_range = parse_range(y_range, "plot: --y-range");
  apply_view_options(f, view);
  if (!size.empty())
    apply_size(f, size);
  io::ExportOptions opt;
  opt.dpi = dpi;
  io::export_figure(f, out, opt);
  if (csv.empty())
    csv = std::filesystem::path(out).replace_extension(".csv").string();
  write_output(csv, io::figure_csv(f));
  std::fprintf(csv == "-" ? stderr : stdout, "wrote %s and %s\n", out.c_str(),
               csv == "-" ? "the CSV to stdout" : csv.c_str());
  return 0;
}

const Registrar kRegistrar({"plot",
                            "one publication figure (PNG/SVG/PDF + CSV) from a run record or "
                            "checkpoint",
                            run_plot});

} // namespace
} // namespace routerscope::cli
