// `routerscope mpi`: MPI convergence stepping R_{t+1} = MPI(R_t) on a checkpoint's routers.
#include "app/cli/command_line.h"
#include "app/cli/progress_bar.h"
#include "app/cli/run_support.h"
#include "core/metrics.h"
#include "core/mpi_convergence.h"
#include "io/checkpoint.h"
#include "io/run_record.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <span>
#include <vector>

namespace routerscope::cli {

namespace {

// Mean of the finite entries (NaN marks experts without a direction).
double mean_finite(const VectorD& v) {
  return summarize(std::span<const double>(v.data(), static_cast<size_t>(v.size()))).mean;
}

int run_mpi(const Argv& argv) {
  CommandLine cl("mpi", "MPI convergence stepping R <- MPI(R) per expert on a checkpoint.",
                 "Per layer and expert: |cos(R_t, u1)|, lambda, ||R_t||, and the bound\n"
                 "tan theta_t <= (s2/s1)^(2kt) tan theta_0 beside the observed angle.\n"
                 "Ctrl-C stops after the current step (exit 130); the record stays readable.");
  std::string path_arg, layers_arg, matrix = "gate", ablation = "none", method = "lanczos",
                                    record_path, device = "auto";
  bool json = false;
  ConvergenceSettings s;
  s.steps = 20;
  s.mpi.c_prime = 4.0;
  s.mpi.power_steps = 1;
  cl.add_checkpoint(path_arg);
  cl.app().add_option("--layers", layers_arg, "layers, e.g. 0-3,7 (default: every MoE layer)");
  cl.app().add_option("--steps", s.steps, "MPI steps")->check(CLI::Range(0, 1000000));
  cl.app().add_option("--matrix", matrix, "expert matrix")->check(one_of({"gate", "up", "down"}));
  cl.app()
      .add_option("--c-prime", s.mpi.c_prime, "C' of the MPI router")
      ->check(CLI::PositiveNumber);
  cl.app()
      .add_option("--power-steps", s.mpi.power_steps, "power steps k")
      ->check(CLI::Range(1, 1000));
  cl.app()
      .add_option("--ablation", ablation, "ablation")
      ->check(one_of({"none", "no-power", "no-retract"}));
  cl.app()
      .add_option("--method", method, "principal-direction method")
      ->check(one_of({"exact", "lanczos", "power"}));
  cl.app().add_option("--record", record_path, "write the run record RUN.h5");
  cl.add_json(json);
  cl.add_device(device);
  if (auto rc = cl.parse(argv))
    return *rc;
  s.mpi.matrix = parse_expert_matrix(matrix);
  s.mpi.ablation = parse_ablation(ablation);
  s.spectral.method = parse_spectral_method(method);
  if (!layers_arg.empty())
    s.layers = parse_index_list(layers_arg, "--layers");
  const std::string path = cl.checkpoint(path_arg);

  std::unique_ptr<MoeModel> model = io::open_checkpoint(path);
  const auto backend = device_backend("mpi", device);
  s.backend = backend.get();
  const ModelInfo& info = model->info();
  std::unique_ptr<io::RunRecordWriter> record;
  if (!record_path.empty()) {
    const nlohmann::json extra = {{"command", "mpi"},
                                  {"steps", s.steps},
                                  {"spectral_method", std::string(to_string(s.spectral.method))},
                                  {"layers", s.layers}};
    record = std::make_unique<io::RunRecordWriter>(record_path, "convergence",
                                                   mpi_config(s.mpi, extra.dump()),
                                                   io::checkpoint_identity(path, info));
    // Layers run one after another: every layer's datasets exist before the first step, so a
    // reader following the record sees each layer as it starts.
    for (int l : s.layers.empty() ? info.moe_layers() : s.layers)
      io::declare_convergence_layer(*record, l, std::size_t(info.moe_layer(l).experts));
    record->start_live();
  }
  InterruptGuard guard;
  ProgressBar bar("mpi");
  Progress progress = bar.progress(guard.flag());
  // Layers run one after another: the fraction covers all of them, so progress never goes back.
  const double layer_count = double(
      std::max<std::size_t>(s.layers.empty() ? info.moe_layers().size() : s.layers.size(), 1));
  int layers_done = -1, current_layer = -1;
  auto layers = mpi_convergence(
      *model, s,
      [&](const LayerConvergence& layer, const ConvergenceRow& row) {
        if (record)
          record->add_convergence_row(layer, row);
        if (layer.layer != current_layer) {
          current_layer = layer.layer;
          ++layers_done;
        }
        const double within = s.steps ? double(row.step) / s.steps : 1.0;
        progress((layers_done + within) / layer_count,
                 "layer " + std::to_string(layer.layer) + " step " + std::to_string(row.step));
      },
      progress);
  bar.finish();
  if (record)
    record->close();

  nlohmann::ordered_json j = versioned_json();
  if (json) {
    j["path"] = path;
    j["family"] = info.family;
    j["matrix"] = matrix;
    j["c_prime"] = s.mpi.c_prime;
    j["power_steps"] = s.mpi.power_steps;
    j["ablation"] = ablation;
    j["interrupted"] = guard.flag()->load();
    j["layers"] = nlohmann::ordered_json::array();
  } else {
    std::printf("%-6s %-7s %-6s %-17s %-17s %-10s %-9s %s\n", "layer", "experts", "steps",
                "mean |cos| 0 -> T", "mean lambda 0 -> T", "s2/s1", "<= bound", "degenerate");
  }
  for (const auto& l : layers) {
    const auto& first = l.rows.front();
    const auto& last = l.rows.back();
    VectorD gap(Eigen::Index(l.directions.size()));
    int degenerate = 0, within = 0, ok = 0;
    for (size_t i = 0; i < l.directions.size(); ++i) {
      const auto& d = l.directions[i];
      const bool good = d.status == DirectionStatus::Ok;
      gap(Eigen::Index(i)) = good ? d.sigma2 / d.sigma1 : std::nan("");
      degenerate += good ? 0 : 1;
      if (good) {
        ++ok;
        if (within_bound(last.tan_theta(Eigen::Index(i)), last.tan_bound(Eigen::Index(i))))
          ++within;
      }
    }
    if (json) {
      // NaN (no expert with a direction) has no JSON number: null.
      auto num = [](double v) {
        return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
      };
      j["layers"].push_back({{"layer", l.layer},
                             {"experts", l.directions.size()},
                             {"steps", last.step},
                             {"cos_mean_first", num(mean_finite(first.cos))},
                             {"cos_mean_last", num(mean_finite(last.cos))},
                             {"lambda_mean_first", num(mean_finite(first.lambda))},
                             {"lambda_mean_last", num(mean_finite(last.lambda))},
                             {"gap_ratio_mean", num(mean_finite(gap))},
                             {"within_bound", within},
                             {"with_direction", ok},
                             {"degenerate", degenerate}});
      continue;
    }
    std::printf("%-6d %-7zu %-6d %7.4f -> %-7.4f %7.4f -> %-7.4f %-10.4f %3d/%-5d %d\n", l.layer,
                l.directions.size(), last.step, mean_finite(first.cos), mean_finite(last.cos),
                mean_finite(first.lambda), mean_finite(last.lambda), mean_finite(gap), within, ok,
                degenerate);
  }
  if (json)
    std::printf("%s\n", j.dump(2).c_str());
  if (guard.flag()->load()) {
    std::fprintf(stderr, "interrupted%s\n", record ? "; the record holds every finished step" : "");
    return 130;
  }
  return 0;
}

const Registrar kRegistrar({"mpi", "step MPI convergence R <- MPI(R) per expert on a checkpoint",
                            run_mpi});

} // namespace

} // namespace routerscope::cli
