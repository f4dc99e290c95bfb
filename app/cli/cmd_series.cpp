// `routerscope series`: the alignment of a training run's checkpoints on one timeline (issue 16):
// per checkpoint (ordered by training step) and layer, |cos|, λ, σ₁, σ₂/σ₁, router row norms and
// expert weight norms per expert, optionally the load of given hidden states; a "series" record
// and a per-checkpoint cache so that adding a checkpoint costs one checkpoint.
#include "app/cli/command_line.h"
#include "app/cli/progress_bar.h"
#include "app/cli/run_support.h"
#include "core/error.h"
#include "core/metrics.h"
#include "core/series.h"
#include "io/series_run.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace routerscope::cli {

namespace {

namespace fs = std::filesystem;

double mean_of(const std::vector<double>& v) {
  return summarize(std::span<const double>(v.data(), v.size())).mean;
}

nlohmann::ordered_json numbers(const std::vector<double>& v) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (double x : v) // NaN (undefined) has no JSON number: null
    a.push_back(std::isfinite(x) ? nlohmann::ordered_json(x) : nlohmann::ordered_json(nullptr));
  return a;
}

nlohmann::ordered_json number(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

// Mean over layers of the per-layer means over experts.
double layer_mean(const std::vector<SeriesLayerPoint>& layers,
                  std::vector<double> SeriesLayerPoint::*field) {
  std::vector<double> means;
  for (const auto& l : layers)
    means.push_back(mean_of(l.*field));
  return mean_of(means);
}

int run_series(const Argv& argv) {
  CommandLine cl(
      "series", "Alignment over a training run: a series of checkpoints on one timeline.",
      "PATHs are checkpoint folders, .safetensors files, globs (run/checkpoint-*), a folder of\n"
      "checkpoint folders, or Hub ids ORG/NAME@REVISION from the local cache. Each checkpoint's\n"
      "step: trainer_state.json 'global_step', else the number in its folder (or revision) name\n"
      "(checkpoint-1000, step2000-tokens4B; then the parent folder's name), else its position;\n"
      "the series is ordered by step. Checkpoints must agree on family and shapes (exit 2 naming\n"
      "both otherwise). Per checkpoint, layer and expert: |cos(R_i, u1)|, lambda (Eq. 11),\n"
      "sigma1, sigma2/sigma1, |R_i| and |G|_F of the chosen matrix; with --tokens the load of\n"
      "those hidden states routed with the checkpoint's router (as `route`), MaxVio, CV and\n"
      "entropy. Measured values are cached per checkpoint (keyed by its files' names, sizes and\n"
      "modification times and the settings) in --cache DIR, by default SERIES.h5.cache beside\n"
      "--record; a second run reads them. --record writes a 'series' record (docs/FORMATS.md)\n"
      "for `plot --figure series-alignment|series-norms|series-load`. Ctrl-C stops (exit 130);\n"
      "the record keeps every finished checkpoint.");
  std::vector<std::string> paths;
  std::string layers_arg, matrix = "gate", method = "lanczos", tokens, record_path, cache_arg,
                          device = "auto";
  bool json = false, no_cache = false;
  AlignOptions align;
  CLI::App& app = cl.app();
  app.add_option("PATH", paths, "checkpoints: folders, files, globs, a parent folder, Hub ids")
      ->required();
  app.add_option("--layers", layers_arg, "layers, e.g. 0-3,7 (default: every MoE layer)");
  app.add_option("--matrix", matrix, "expert matrix")->check(one_of({"gate", "up", "down"}));
  app.add_option("--method", method, "principal-direction method")
      ->check(one_of({"exact", "lanczos", "power"}));
  app.add_option("--tolerance", align.spectral.tolerance, "iterative methods' stopping tolerance")
      ->check(CLI::PositiveNumber);
  app.add_option("--tokens", tokens, "FILE.h5 of hidden states [T, D] to route (as `route`)");
  app.add_option("--record", record_path, "write the series record SERIES.h5");
  app.add_option("--cache", cache_arg, "cache folder (default: SERIES.h5.cache with --record)");
  app.add_flag("--no-cache", no_cache, "neither read nor write the cache");
  app.add_option("--threads", align.threads, "worker threads (0: all cores)")
      ->check(CLI::Range(0, 1024));
  cl.add_json(json);
  cl.add_device(device);
  if (auto rc = cl.parse(argv))
    return *rc;
  align.matrix = parse_expert_matrix(matrix);
  align.spectral.method = parse_spectral_method(method);
  if (!layers_arg.empty())
    align.layers = parse_index_list(layers_arg, "--layers");

  fs::path cache_dir = cache_arg;
  if (cache_dir.empty() && !record_path.empty())
    cache_dir = record_path + ".cache";
  if (no_cache)
    cache_dir.clear();
  io::SeriesPlan plan;
  plan.align = align;
  plan.tokens = tokens;
  plan.cache_dir = cache_dir;
  io::SeriesRun run(paths, plan); // BadInput (exit 2) for a bad argument, before any work
  const std::vector<io::SeriesCheckpoint>& checkpoints = run.checkpoints();
  const ModelInfo& first = run.first();
  align.layers = run.plan().align.layers;

  const auto backend = device_backend("series", device, align.threads);
  run.set_backend(backend.get());
  if (!record_path.empty())
    run.record_to(record_path);

  InterruptGuard guard;
  ProgressBar bar("series");
  const Progress progress = bar.progress(guard.flag());
  bool interrupted = false;
  try {
    while (!run.done())
      run.step(progress);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Cancelled)
      throw;
    interrupted = true;
  }
  bar.finish();
  run.close_record();
  const std::vector<io::SeriesPointResult>& done = run.points();
  const bool x = run.has_tokens();
  const bool record = !record_path.empty();

  if (json) {
    nlohmann::ordered_json j = versioned_json();
    j["matrix"] = matrix;
    j["method"] = method;
    j["family"] = first.family;
    j["record"] = record_path;
    j["cache"] = cache_dir.string();
    j["interrupted"] = interrupted;
    j["checkpoints"] = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < done.size(); ++i) {
      const auto& c = checkpoints[i];
      nlohmann::ordered_json cj = {{"argument", c.argument},
                                   {"path", c.path},
                                   {"step", c.step},
                                   {"step_source", c.step_source},
                                   {"cached", done[i].cached}};
      cj["layers"] = nlohmann::ordered_json::array();
      for (const auto& p : done[i].layers) {
        nlohmann::ordered_json lj = {{"layer", p.layer},
                                     {"cos", numbers(p.cos)},
                                     {"lambda", numbers(p.lambda)},
                                     {"sigma1", numbers(p.sigma1)},
                                     {"sigma_ratio", numbers(p.sigma_ratio)},
                                     {"router_norm", numbers(p.router_norm)},
                                     {"weight_norm", numbers(p.weight_norm)}};
        if (p.has_load) {
          lj["load"] = numbers(p.load);
          lj["maxvio"] = number(p.maxvio);
          lj["cv"] = number(p.cv);
          lj["entropy"] = number(p.entropy);
        }
        cj["layers"].push_back(std::move(lj));
      }
      j["checkpoints"].push_back(std::move(cj));
    }
    std::printf("%s\n", j.dump(1).c_str());
  } else {
    std::printf("%zu checkpoints, %s, principal direction of %s (%s), %zu layers\n\n",
                checkpoints.size(), first.family.c_str(), matrix.c_str(), method.c_str(),
                align.layers.size());
    std::printf("%-10s %-18s %-8s %-8s %-8s %-8s %-8s %s\n", "step", "step from", "cached",
                "lambda", "|cos|", "s2/s1", x ? "MaxVio" : "", "checkpoint");
    for (std::size_t i = 0; i < done.size(); ++i) {
      const auto& L = done[i].layers;
      std::vector<double> maxvio;
      for (const auto& p : L)
        maxvio.push_back(p.maxvio);
      char mv[32] = "";
      if (x)
        std::snprintf(mv, sizeof mv, "%.4f", mean_of(maxvio));
      std::printf("%-10lld %-18s %-8s %-8.4f %-8.4f %-8.4f %-8s %s\n",
                  static_cast<long long>(checkpoints[i].step), checkpoints[i].step_source.c_str(),
                  done[i].cached ? "yes" : "no", layer_mean(L, &SeriesLayerPoint::lambda),
                  layer_mean(L, &SeriesLayerPoint::cos),
                  layer_mean(L, &SeriesLayerPoint::sigma_ratio), mv,
                  checkpoints[i].argument.c_str());
    }
    if (record)
      std::printf("wrote %s\n", record_path.c_str());
  }
  if (interrupted) {
    std::fprintf(stderr, "interrupted after %zu of %zu checkpoints%s\n", done.size(),
                 checkpoints.size(), record ? "; the record holds every finished checkpoint" : "");
    return 130;
  }
  return 0;
}

const Registrar kRegistrar({"series",
                            "alignment over a training run: a series of checkpoints on one "
                            "timeline",
                            run_series});

} // namespace

} // namespace routerscope::cli
