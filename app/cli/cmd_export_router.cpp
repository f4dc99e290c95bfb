// routerscope export-router PATH --out DIR: a checkpoint folder whose routers are MPI routers
// R′ = (C′/√N)·normalize(R·GᵀG), computed once as at load time, for standard loaders.
#include "app/cli/command_line.h"
#include "app/cli/progress_bar.h"
#include "app/cli/run_support.h"
#include "core/error.h"
#include "io/checkpoint.h"
#include "io/router_export.h"

#include <cstdio>

namespace routerscope::cli {

namespace {

int run_export_router(const Argv& argv) {
  CommandLine cl(
      "export-router", "Write a checkpoint whose routers are MPI routers (for any loader).",
      "Every router tensor keeps its name, shape and dtype and holds R' = C * normalize(\n"
      "(G_i^T G_i)^k R[i]) with C = C'/sqrt(N): the MPI paper's 'computed once at load time'\n"
      "router, so standard loaders (transformers, safetensors) read it unchanged. Files that hold\n"
      "routers are streamed to DIR with the router bytes replaced; every other weight file is\n"
      "symlinked to the source (or copied with --copy); config.json, the shard index and other\n"
      "side files are copied. DIR/routerscope_export.json records the settings.");
  std::string path_arg, out_dir, matrix = "gate", ablation = "none";
  io::RouterExportOptions opt;
  opt.mpi.c_prime = 4.0;
  opt.mpi.power_steps = 1;
  CLI::App& app = cl.app();
  cl.add_checkpoint(path_arg);
  app.add_option("--out", out_dir, "output folder DIR")->required();
  app.add_option("--c-prime", opt.mpi.c_prime, "C' of the MPI router")->check(CLI::PositiveNumber);
  app.add_option("--matrix", matrix, "expert matrix")->check(one_of({"gate", "up", "down"}));
  app.add_option("--power-steps", opt.mpi.power_steps, "power steps k")->check(CLI::Range(1, 1000));
  app.add_option("--ablation", ablation, "ablation")
      ->check(one_of({"none", "no-power", "no-retract"}));
  app.add_flag("--copy", opt.copy_unchanged, "copy unchanged weight files instead of linking");
  if (auto rc = cl.parse(argv))
    return *rc;
  opt.mpi.matrix = parse_expert_matrix(matrix);
  opt.mpi.ablation = parse_ablation(ablation);
  const std::string path = cl.checkpoint(path_arg);
  const std::string* out = &out_dir;

  auto model = io::open_checkpoint(path);
  InterruptGuard guard;
  ProgressBar bar("export-router");
  io::RouterExportReport r = io::export_mpi_routers(*model, *out, opt, bar.progress(guard.flag()));
  bar.finish();
  std::printf("%s: %zu routers replaced by MPI routers (matrix %s, C' = %g, k = %d)\n",
              out->c_str(), r.routers.size(), std::string(to_string(opt.mpi.matrix)).c_str(),
              opt.mpi.c_prime, opt.mpi.power_steps);
  std::printf("  %zu file(s) rewritten with new router bytes, %zu %s, %zu side file(s) copied\n",
              r.rewritten.size(), r.linked.size(),
              opt.copy_unchanged ? "copied unchanged" : "linked to the source",
              r.other_files.size());
  return 0;
}

const Registrar kRegistrar({"export-router",
                            "write a checkpoint whose routers are MPI routers (for any loader)",
                            run_export_router});

} // namespace
} // namespace routerscope::cli
