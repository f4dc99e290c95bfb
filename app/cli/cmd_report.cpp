// routerscope report [PATH] --out DIR: the whole pipeline on one checkpoint — alignment analysis,
// an MPI convergence run and a short vanilla-vs-MPI training run — with every figure as PNG, SVG
// and PDF, their CSVs, the HDF5 records and an index.html that shows them with the settings.
#include "app/cli/command_line.h"
#include "app/cli/figure_output.h"
#include "app/cli/progress_bar.h"
#include "app/cli/run_support.h"
#include "core/align.h"
#include "core/error.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "io/record_figures.h"
#include "io/run_record.h"

#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <unistd.h>

namespace routerscope::cli {

namespace {

namespace fs = std::filesystem;

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '&':
      out += "&amp;";
      break;
    case '"':
      out += "&quot;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

int run_subcommand(const std::string& name, const Argv& args) {
  for (const auto& c : command_registry())
    if (name == c.name)
      return c.run(args);
  throw_internal_error("report: subcommand " + name + " is not registered");
}

// Sends stdout to stderr while alive (or until restore()) when `active`.
class StdoutToStderr {
public:
  explicit StdoutToStderr(bool active) {
    if (!active)
      return;
    std::fflush(stdout);
    saved_ = ::dup(1);
    ::dup2(2, 1);
  }
  ~StdoutToStderr() { restore(); }
  StdoutToStderr(const StdoutToStderr&) = delete;
  StdoutToStderr& operator=(const StdoutToStderr&) = delete;
  void restore() {
    if (saved_ < 0)
      return;
    std::fflush(stdout);
    ::dup2(saved_, 1);
    ::close(saved_);
    saved_ = -1;
  }

private:
  int saved_ = -1;
};

struct Entry {
  std::string name, caption;
};

int run_report(const Argv& argv) {
  CommandLine cl(
      "report", "Alignment, MPI convergence and router training: every figure and an index.html.",
      "Runs the alignment analysis, an MPI convergence run over every MoE layer and a\n"
      "vanilla-vs-MPI router training run on one layer (default: the first MoE layer), then\n"
      "writes DIR/index.html, DIR/figures/*.{png,svg,pdf,csv}, DIR/alignment.csv and the HDF5\n"
      "records DIR/convergence.h5 and DIR/training.h5; with --pretrain-steps > 0 (default 150)\n"
      "a pretraining run from scratch (pretrain --quick), its figures and DIR/pretraining.h5;\n"
      "with --series-record SERIES.h5 the figures of a `series` record.\n"
      "With --json the tables of the steps go\n"
      "to stderr and stdout holds only the JSON summary. Ctrl-C stops (exit 130).");
  std::string path_arg, out_arg, variants = "vanilla,mpi,no-power", tokens = "synthetic",
                                 device = "auto";
  std::string series_record;
  int steps = 20, train_steps = 300, pretrain_steps = 150, layer_arg = 0;
  double dpi = 200;
  bool json = false;
  CLI::App& app = cl.app();
  cl.add_checkpoint(path_arg);
  app.add_option("--out", out_arg, "output folder DIR")->required();
  app.add_option("--steps", steps, "MPI convergence steps")->check(CLI::Range(1, 100000));
  app.add_option("--train-steps", train_steps, "router training steps")
      ->check(CLI::Range(1, 10000000));
  app.add_option("--pretrain-steps", pretrain_steps,
                 "steps of the pretraining section (pretrain --quick); 0 leaves it out")
      ->check(CLI::Range(0, 10000000));
  CLI::Option* layer_opt =
      app.add_option("--layer", layer_arg, "MoE layer to train (default: the first MoE layer)")
          ->check(CLI::NonNegativeNumber);
  app.add_option("--variants", variants, "training variants, comma-separated");
  app.add_option("--tokens", tokens, "synthetic, embeddings or FILE.h5");
  app.add_option("--dpi", dpi, "PNG resolution")->check(CLI::Range(36.0, 2400.0));
  app.add_option("--series-record", series_record,
                 "SERIES.h5 written by `series`: adds its figures (alignment and norms over the "
                 "checkpoints, load when recorded)");
  cl.add_json(json);
  cl.add_device(device);
  if (auto rc = cl.parse(argv))
    return *rc;
  const std::string path = cl.checkpoint(path_arg);
  const fs::path out = out_arg;
  // Read first: a file that is not a series record stops the report before any work.
  std::optional<RunRecord> series;
  if (!series_record.empty()) {
    series = io::read_run_record(series_record);
    if (series->kind != "series")
      throw_input_error("--series-record " + series_record + ": a '" + series->kind +
                        "' record, expected one written by `routerscope series --record`");
  }

  auto model = io::open_checkpoint(path);
  const ModelInfo& info = model->info();
  if (info.moe_layers().empty())
    throw_input_error("report: " + path + " has no MoE layer");
  const int layer = layer_opt->count() ? layer_arg : info.moe_layers().front();
  if (!info.layer(layer).moe)
    throw_input_error("report: --layer " + std::to_string(layer) + " is a dense layer");
  fs::create_directories(out / "figures");
  const auto backend = device_backend("report", device);
  // With --json the steps' own tables go to stderr, so stdout holds one JSON document.
  StdoutToStderr quiet(json);

  const int parts = pretrain_steps ? 4 : 3;
  std::fprintf(stderr, "report: 1/%d alignment of %s\n", parts, path.c_str());
  std::vector<LayerAlignment> alignment;
  {
    InterruptGuard guard;
    ProgressBar bar("align");
    AlignOptions options;
    options.backend = backend.get();
    alignment = align_model(*model, options, bar.progress(guard.flag()));
  }
  write_alignment_csv(alignment, (out / "alignment.csv").string());

  std::fprintf(stderr, "report: 2/%d MPI convergence, %d steps\n", parts, steps);
  const fs::path conv = out / "convergence.h5", train = out / "training.h5";
  if (int rc = run_subcommand("mpi", {path, "--steps", std::to_string(steps), "--record",
                                      conv.string(), "--device", device}))
    return rc;
  std::fprintf(stderr, "report: 3/%d router training (%s), layer %d, %d steps\n", parts,
               variants.c_str(), layer, train_steps);
  if (int rc = run_subcommand("train",
                              {path, "--layer", std::to_string(layer), "--variants", variants,
                               "--steps", std::to_string(train_steps), "--tokens", tokens, "--init",
                               "random", "--record", train.string(), "--device", device}))
    return rc;

  // Pretraining from scratch at the --quick size (a few minutes on 2 cores at 150 steps).
  const fs::path pretrain = out / "pretraining.h5";
  if (pretrain_steps) {
    std::fprintf(stderr, "report: 4/4 pretraining from scratch (vanilla, mpi), %d steps\n",
                 pretrain_steps);
    if (int rc = run_subcommand("pretrain", {"--quick", "--steps", std::to_string(pretrain_steps),
                                             "--record", pretrain.string()}))
      return rc;
  }

  const RunRecord conv_rec = io::read_run_record(conv);
  const RunRecord train_rec = io::read_run_record(train);
  std::vector<std::pair<Entry, Figure>> figures;
  figures.push_back({{"alignment-heatmap", "Router–expert alignment |cos(Rᵢ, u₁)| of the stored "
                                           "routers, every MoE layer and expert."},
                     io::alignment_grid_figure(alignment, false, path)});
  figures.push_back({{"alignment-heatmap-lambda", "Alignment λ (paper Eq. 11) of the stored "
                                                  "routers."},
                     io::alignment_grid_figure(alignment, true, path)});
  figures.push_back({{"spectrum", "Singular spectra of layer " + std::to_string(layer) +
                                      "'s gate matrices and the σ₂/σ₁ histogram: the gap sets "
                                      "the MPI convergence rate."},
                     io::spectrum_figure_for_layer(*model, layer, ExpertMatrix::Gate)});
  figures.push_back({{"mpi-convergence", "Pure MPI stepping R ← C·normalize(R·W_g·W_gᵀ): tan of "
                                         "the angle to u₁ per layer (mean, min–max band, slowest "
                                         "and fastest expert), dashed: the power-iteration "
                                         "bound."},
                     io::record_figure(conv_rec, "convergence")});
  figures.push_back({{"mpi-alignment", "|cos(R_t[i], u₁)| over MPI steps."},
                     io::record_figure(conv_rec, "alignment")});
  // --init random: every variant starts from the same seeded random router. From the
  // checkpoint's router vanilla would start at its own target, so a lower vanilla task loss
  // would be built in rather than learned.
  figures.push_back({{"training", "Router training on the same tokens: " + variants +
                                      ", every variant from the same random router (--init "
                                      "random), trained to reproduce the checkpoint's block "
                                      "output (loss, load-balancing loss, MaxVio per batch, "
                                      "mean λ of the routing router)."},
                     io::record_figure(train_rec, "training")});
  figures.push_back({{"training-load", "Expert load share over training steps per variant, "
                                       "with MaxVio."},
                     io::record_figure(train_rec, "load")});
  figures.push_back({{"training-norms", "Mean router row norm during training (routing router "
                                        "and, for MPI variants, the stored R)."},
                     io::record_figure(train_rec, "norms")});
  if (pretrain_steps) {
    const RunRecord rec = io::read_run_record(pretrain);
    figures.push_back({{"pretraining", "A small Mixtral LM trained from scratch on the fortunes "
                                       "corpus, vanilla vs MPI routers on the same batches: "
                                       "validation bits per byte, MaxVio on the validation "
                                       "windows and mean λ."},
                       io::record_figure(rec, "pretraining")});
    figures.push_back({{"pretraining-load", "Expert load share per layer and variant over the "
                                            "pretraining steps."},
                       io::record_figure(rec, "pretraining-load")});
    figures.push_back({{"pretraining-alignment", "Alignment λ per layer during pretraining."},
                       io::record_figure(rec, "pretraining-alignment")});
  }

  if (series) {
    const std::map<std::string, std::string> captions = {
        {"series-alignment", "Alignment over the checkpoints of a training run (" + series_record +
                                 "): λ and |cos(Rᵢ, u₁)| per layer, mean and min–max over "
                                 "experts."},
        {"series-norms", "Router row norms and expert weight norms over the checkpoints."},
        {"series-load", "Expert load share of the series' hidden states at each checkpoint, "
                        "with MaxVio."}};
    for (const std::string& name : io::record_figure_names(*series))
      figures.push_back({{name, captions.at(name)}, io::record_figure(*series, name)});
  }

  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>RouterScope "
      "report</title>\n<style>body{font-family:'DejaVu Sans',sans-serif;max-width:1100px;margin:"
      "2em auto;color:#222;line-height:1.45}figure{margin:2em 0}img{max-width:100%;border:1px "
      "solid #ddd}figcaption{color:#444}code,td{font-family:'DejaVu Sans Mono',monospace;font-"
      "size:90%}table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid "
      "#eee;text-align:right}</style></head><body>\n";
  html += "<h1>RouterScope report</h1>\n<p>Checkpoint <code>" + html_escape(path) +
          "</code>: " + html_escape(info.family) + ", " + html_escape(info.layout) + ", d_model " +
          std::to_string(info.d_model) + ", " + std::to_string(info.moe_layers().size()) +
          " MoE layers.</p>\n<h2>Settings</h2>\n<ul><li>alignment: gate matrix, Lanczos</li>"
          "<li>MPI convergence: C′ = 4, k = 1, " +
          std::to_string(steps) +
          " steps, every MoE layer (<a href=\"convergence.h5\">"
          "convergence.h5</a>)</li><li>training: layer " +
          std::to_string(layer) + ", variants " + html_escape(variants) + ", " +
          std::to_string(train_steps) + " steps, tokens " + html_escape(tokens) +
          ", same random starting router for every variant, AdamW lr 1e-3, LB α = 0.01 (<a "
          "href=\"training.h5\">training.h5</a>)</li>" +
          (pretrain_steps ? "<li>pretraining: pretrain --quick, vanilla and mpi, " +
                                std::to_string(pretrain_steps) +
                                " steps (<a href=\"pretraining.h5\">pretraining.h5</a>)</li>"
                          : std::string()) +
          "</ul>\n"
          "<h2>Alignment summary</h2>\n<table><tr><th>layer</th><th>mean |cos|</th><th>mean "
          "λ</th><th>p95 λ</th><th>mean σ₂/σ₁</th></tr>\n";
  for (const auto& l : alignment) {
    char row[256];
    std::snprintf(row, sizeof row,
                  "<tr><td>%d</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%.3f</td></tr>\n",
                  l.layer, l.cos.mean, l.lambda.mean, l.lambda.p95, l.gap_ratio.mean);
    html += row;
  }
  html += "</table><p><a href=\"alignment.csv\">alignment.csv</a> (every expert)</p>\n"
          "<h2>Figures</h2>\n";
  for (const auto& [entry, figure] : figures) {
    std::fprintf(stderr, "report: figure %s\n", entry.name.c_str());
    write_figure(figure, (out / "figures" / entry.name).string(), {"png", "svg", "pdf"}, dpi);
    const std::string b = "figures/" + entry.name;
    html += "<figure><img src=\"" + b + ".png\" alt=\"" + html_escape(entry.name) +
            "\"><figcaption>" + html_escape(entry.caption) + " <a href=\"" + b +
            ".pdf\">PDF</a> · <a href=\"" + b + ".svg\">SVG</a> · <a href=\"" + b +
            ".csv\">CSV</a></figcaption></figure>\n";
  }
  html += "</body></html>\n";
  io::AtomicFile index(out / "index.html");
  index.write(html.data(), html.size());
  index.commit();
  quiet.restore();
  if (!json) {
    std::printf("report: wrote %s (%zu figures, records, CSVs)\n",
                (out / "index.html").string().c_str(), figures.size());
    return 0;
  }
  nlohmann::ordered_json j = versioned_json();
  j["path"] = path;
  j["family"] = info.family;
  j["out"] = out.string();
  j["index"] = (out / "index.html").string();
  j["records"] = {conv.string(), train.string()};
  j["alignment_csv"] = (out / "alignment.csv").string();
  j["figures"] = nlohmann::ordered_json::array();
  for (const auto& f : figures)
    j["figures"].push_back(f.first.name);
  j["alignment"] = nlohmann::ordered_json::array();
  for (const auto& l : alignment)
    j["alignment"].push_back({{"layer", l.layer},
                              {"cos_mean", l.cos.mean},
                              {"lambda_mean", l.lambda.mean},
                              {"lambda_p95", l.lambda.p95},
                              {"gap_ratio_mean", l.gap_ratio.mean}});
  std::printf("%s\n", j.dump(2).c_str());
  return 0;
}

const Registrar kRegistrar({"report",
                            "alignment + MPI convergence + training, all figures and an index.html",
                            run_report});

} // namespace
} // namespace routerscope::cli
