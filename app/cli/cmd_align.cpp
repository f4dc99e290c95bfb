// routerscope align: per layer and expert, how well each router row aligns with its expert's
// principal direction (|cos|, λ), with σ₁, σ₂/σ₁ and router norms.
#include "app/cli/command_line.h"
#include "app/cli/progress_bar.h"
#include "app/cli/run_support.h"
#include "core/align.h"
#include "core/error.h"
#include "io/checkpoint.h"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace routerscope::cli {

namespace {

nlohmann::ordered_json number_or_null(double v, bool ok) {
  return ok ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

int run_align(const Argv& argv) {
  CommandLine cl(
      "align", "Router-expert alignment per layer and expert: |cos|, lambda, sigma2/sigma1.",
      "For every routed expert: u1, the top right singular vector of the chosen matrix (gate by\n"
      "default, as in the MPI paper; down uses its direction in R^D), sigma1, sigma2, and for the\n"
      "stored router row R_i: |cos(R_i, u1)|, lambda = |G R_i| / (|R_i| sigma1) (paper Eq. 11)\n"
      "and |R_i|. A per-layer table goes to stdout; --csv writes one row per expert (--csv -:\n"
      "to stdout, instead of the table); --json prints a machine-readable report (MoE layers\n"
      "only). Ctrl-C stops (exit 130).");
  std::string path, layers, matrix = "gate", method = "lanczos", csv, device = "auto";
  AlignOptions opt;
  bool json = false;
  cl.add_checkpoint(path);
  cl.app().add_option("--layers", layers, "layers to analyse, e.g. 0-3,7 (default: all)");
  cl.app().add_option("--matrix", matrix, "expert matrix")->check(one_of({"gate", "up", "down"}));
  cl.app()
      .add_option("--method", method, "principal-direction method")
      ->check(one_of({"exact", "lanczos", "power"}));
  cl.app().add_option("--csv", csv, "write one row per expert to FILE (- for stdout)");
  cl.add_json(json);
  cl.app()
      .add_option("--threads", opt.threads, "worker threads (0: all cores)")
      ->check(CLI::Range(0, 1024));
  cl.app()
      .add_option("--tolerance", opt.spectral.tolerance, "iterative methods' stopping tolerance")
      ->check(CLI::PositiveNumber);
  cl.add_device(device);
  if (auto rc = cl.parse(argv))
    return *rc;
  if (json && csv == "-")
    throw_input_error("align: --json and --csv - both write to stdout; give --csv a FILE");
  opt.matrix = parse_expert_matrix(matrix);
  opt.spectral.method = parse_spectral_method(method);
  if (!layers.empty())
    opt.layers = parse_index_list(layers, "--layers");

  auto model = io::open_checkpoint(cl.checkpoint(path));
  const auto backend = device_backend("align", device, opt.threads);
  opt.backend = backend.get();
  std::vector<LayerAlignment> result;
  {
    InterruptGuard guard;
    ProgressBar bar("align");
    result = align_model(*model, opt, bar.progress(guard.flag()));
  }

  if (!csv.empty())
    write_alignment_csv(result, csv);
  if (csv == "-")
    return 0;

  if (json) {
    nlohmann::ordered_json j = versioned_json();
    j["path"] = model->info().path;
    j["family"] = model->info().family;
    j["matrix"] = std::string(to_string(opt.matrix));
    j["method"] = std::string(to_string(opt.spectral.method));
    j["layers"] = nlohmann::ordered_json::array();
    for (const auto& l : result) {
      nlohmann::ordered_json lj;
      lj["layer"] = l.layer;
      lj["experts"] = nlohmann::ordered_json::array();
      for (const auto& e : l.experts) {
        bool ok = e.status == DirectionStatus::Ok;
        nlohmann::ordered_json ej;
        ej["expert"] = e.expert;
        ej["status"] = std::string(to_string(e.status));
        ej["cos"] = number_or_null(e.cos, ok);
        ej["lambda"] = number_or_null(e.lambda, ok);
        ej["sigma1"] = e.sigma1;
        ej["sigma2"] = e.sigma2;
        ej["router_norm"] = e.router_norm;
        lj["experts"].push_back(ej);
      }
      lj["summary"] = {{"cos_mean", l.cos.mean},
                       {"cos_min", l.cos.min},
                       {"cos_p50", l.cos.p50},
                       {"cos_p95", l.cos.p95},
                       {"cos_max", l.cos.max},
                       {"lambda_mean", l.lambda.mean},
                       {"lambda_min", l.lambda.min},
                       {"lambda_p50", l.lambda.p50},
                       {"lambda_p95", l.lambda.p95},
                       {"lambda_max", l.lambda.max},
                       {"gap_ratio_mean", l.gap_ratio.mean},
                       {"router_norm_mean", l.router_norm.mean}};
      j["layers"].push_back(lj);
    }
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }

  std::printf("%s: %s, principal direction of %s (%s)\n\n", model->info().path.c_str(),
              model->info().family.c_str(), std::string(to_string(opt.matrix)).c_str(),
              std::string(to_string(opt.spectral.method)).c_str());
  std::printf("%5s %4s | %-34s | %-34s | %7s %7s %s\n", "layer", "N",
              "|cos(R_i, u1)|  mean  min  p50  p95  max",
              "lambda          mean  min  p50  p95  max", "s2/s1", "|R_i|", "flags");
  for (const auto& l : result) {
    int bad = 0;
    for (const auto& e : l.experts)
      bad += e.status != DirectionStatus::Ok;
    std::string flags = bad ? std::to_string(bad) + " expert(s) without a direction" : "";
    std::printf("%5d %4zu |               %5.3f %5.3f %5.3f %5.3f %5.3f |         "
                "%5.3f %5.3f %5.3f %5.3f %5.3f | %7.3f %7.3f %s\n",
                l.layer, l.experts.size(), l.cos.mean, l.cos.min, l.cos.p50, l.cos.p95, l.cos.max,
                l.lambda.mean, l.lambda.min, l.lambda.p50, l.lambda.p95, l.lambda.max,
                l.gap_ratio.mean, l.router_norm.mean, flags.c_str());
  }
  for (const auto& l : result)
    for (const auto& e : l.experts)
      if (e.status != DirectionStatus::Ok)
        std::printf("layer %d expert %d: %s (sigma1 %.4g, sigma2 %.4g)\n", l.layer, e.expert,
                    std::string(to_string(e.status)).c_str(), e.sigma1, e.sigma2);
  return 0;
}

const Registrar
    kRegistrar({"align", "router-expert alignment report (|cos|, lambda, sigma2/sigma1) per layer",
                run_align});

} // namespace
} // namespace routerscope::cli
