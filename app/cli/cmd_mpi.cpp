// `routerscope mpi`: MPI convergence stepping R_{t+1} = MPI(R_t) on a checkpoint's routers.
#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/progress_bar.h"
#include "app/cli/run_support.h"
#include "core/metrics.h"
#include "core/mpi_convergence.h"
#include "io/checkpoint.h"
#include "io/run_record.h"

#include <nlohmann/json.hpp>

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
  Args args("mpi", argv,
            {"layers", "steps", "matrix", "c-prime", "power-steps", "ablation", "method", "record",
             "device"},
            {});
  args.require_positionals(0, 1);
  const std::string path =
      args.positionals().empty() ? default_checkpoint() : args.positionals()[0];
  ConvergenceSettings s;
  s.steps = args.get_int("steps", 20, 0, 1000000);
  s.mpi.matrix = parse_expert_matrix(args.get_or("matrix", "gate"));
  s.mpi.c_prime = args.get_double("c-prime", 4.0);
  s.mpi.power_steps = args.get_int("power-steps", 1, 1, 1000);
  s.mpi.ablation = parse_ablation(args.get_or("ablation", "none"));
  s.spectral.method = parse_spectral_method(args.get_or("method", "lanczos"));
  if (auto l = args.get("layers"))
    s.layers = parse_index_list(*l, "--layers");

  std::unique_ptr<MoeModel> model = io::open_checkpoint(path);
  const auto backend = device_backend(args);
  s.backend = backend.get();
  const ModelInfo& info = model->info();
  std::unique_ptr<io::RunRecordWriter> record;
  if (auto out = args.get("record")) {
    const nlohmann::json extra = {{"command", "mpi"},
                                  {"steps", s.steps},
                                  {"spectral_method", std::string(to_string(s.spectral.method))},
                                  {"layers", s.layers}};
    record = std::make_unique<io::RunRecordWriter>(
        *out, "convergence", io::mpi_config(s.mpi, extra.dump()), checkpoint_identity(path, info));
  }
  InterruptGuard guard;
  ProgressBar bar("mpi");
  Progress progress = bar.progress(guard.flag());
  auto layers = mpi_convergence(
      *model, s,
      [&](const LayerConvergence& layer, const ConvergenceRow& row) {
        if (record)
          record->add_convergence_row(layer, row);
        progress(s.steps ? double(row.step) / s.steps : 1.0,
                 "layer " + std::to_string(layer.layer) + " step " + std::to_string(row.step));
      },
      progress);
  bar.finish();
  if (record)
    record->close();

  std::printf("%-6s %-7s %-6s %-17s %-17s %-10s %-9s %s\n", "layer", "experts", "steps",
              "mean |cos| 0 -> T", "mean lambda 0 -> T", "s2/s1", "<= bound", "degenerate");
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
    std::printf("%-6d %-7zu %-6d %7.4f -> %-7.4f %7.4f -> %-7.4f %-10.4f %3d/%-5d %d\n", l.layer,
                l.directions.size(), last.step, mean_finite(first.cos), mean_finite(last.cos),
                mean_finite(first.lambda), mean_finite(last.lambda), mean_finite(gap), within, ok,
                degenerate);
  }
  if (guard.flag()->load()) {
    std::fprintf(stderr, "interrupted%s\n", record ? "; the record holds every finished step" : "");
    return 130;
  }
  return 0;
}

const Registrar
    kRegistrar({"mpi", "step MPI convergence R <- MPI(R) per expert on a checkpoint",
                "usage: routerscope mpi [PATH] [--layers LIST] [--steps N (20)]\n"
                "         [--matrix gate|up|down] [--c-prime C (4)] [--power-steps K (1)]\n"
                "         [--ablation none|no-power|no-retract]\n"
                "         [--method exact|lanczos|power] [--record RUN.h5]\n"
                "         [--device auto|cpu|cuda]\n"
                "Per layer and expert: |cos(R_t, u1)|, lambda, ||R_t||, and the bound\n"
                "tan theta_t <= (s2/s1)^(2kt) tan theta_0 beside the observed angle.\n"
                "Ctrl-C stops after the current step; the record stays readable.",
                run_mpi});

} // namespace

} // namespace routerscope::cli
