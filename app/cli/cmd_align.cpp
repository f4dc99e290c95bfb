// routerscope align: per layer and expert, how well each router row aligns with its expert's
// principal direction (|cos|, λ), with σ₁, σ₂/σ₁ and router norms.
#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/progress_bar.h"
#include "app/cli/run_support.h"
#include "core/align.h"
#include "io/checkpoint.h"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace routerscope::cli {

namespace {

nlohmann::ordered_json number_or_null(double v, bool ok) {
  return ok ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

int run_align(const Argv& argv) {
  Args args("align", argv, {"layers", "matrix", "method", "csv", "threads", "tolerance", "device"},
            {"json"});
  args.require_positionals(0, 1);
  std::string path = args.positionals().empty() ? default_checkpoint() : args.positionals()[0];
  AlignOptions opt;
  opt.matrix = parse_expert_matrix(args.get_or("matrix", "gate"));
  opt.spectral.method = parse_spectral_method(args.get_or("method", "lanczos"));
  opt.spectral.tolerance = args.get_double("tolerance", opt.spectral.tolerance);
  opt.threads = args.get_int("threads", 0, 0, 1024);
  if (auto l = args.get("layers"))
    opt.layers = parse_index_list(*l, "--layers");

  auto model = io::open_checkpoint(path);
  const auto backend = device_backend(args, opt.threads);
  opt.backend = backend.get();
  std::vector<LayerAlignment> result;
  {
    ProgressBar bar("align");
    result = align_model(*model, opt, bar.progress());
  }

  if (auto csv = args.get("csv"))
    write_alignment_csv(result, *csv);

  if (args.flag("json")) {
    nlohmann::ordered_json j;
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

const Registrar kRegistrar(
    {"align", "router-expert alignment report (|cos|, lambda, sigma2/sigma1) per layer",
     "usage: routerscope align [PATH] [--layers 0-3,7] [--matrix gate|up|down]\n"
     "                         [--method exact|lanczos|power] [--csv FILE] [--json]\n"
     "                         [--threads N] [--tolerance T] [--device auto|cpu|cuda]\n\n"
     "For every routed expert: u1, the top right singular vector of the chosen matrix (gate by\n"
     "default, as in the MPI paper; down uses its direction in R^D), sigma1, sigma2, and for the\n"
     "stored router row R_i: |cos(R_i, u1)|, lambda = |G R_i| / (|R_i| sigma1) (paper Eq. 11)\n"
     "and |R_i|. A per-layer table goes to stdout; --csv writes one row per expert; --json\n"
     "prints a machine-readable report (MoE layers only).",
     run_align});

} // namespace
} // namespace routerscope::cli
