// routerscope export-router PATH --out DIR: a checkpoint folder whose routers are MPI routers
// R′ = (C′/√N)·normalize(R·GᵀG), computed once as at load time, for standard loaders.
#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/progress_bar.h"
#include "app/cli/run_support.h"
#include "core/error.h"
#include "io/checkpoint.h"
#include "io/router_export.h"

#include <cstdio>

namespace routerscope::cli {

namespace {

int run_export_router(const Argv& argv) {
  Args args("export-router", argv, {"out", "c-prime", "matrix", "power-steps", "ablation"},
            {"copy"});
  args.require_positionals(0, 1);
  std::string path = args.positionals().empty() ? default_checkpoint() : args.positionals()[0];
  auto out = args.get("out");
  if (!out)
    throw_input_error("export-router: --out DIR is required");
  io::RouterExportOptions opt;
  opt.mpi.matrix = parse_expert_matrix(args.get_or("matrix", "gate"));
  opt.mpi.c_prime = args.get_double("c-prime", 4.0);
  opt.mpi.power_steps = args.get_int("power-steps", 1, 1, 1000);
  opt.mpi.ablation = parse_ablation(args.get_or("ablation", "none"));
  if (!(opt.mpi.c_prime > 0))
    throw_input_error("export-router: --c-prime must be positive, got " +
                      args.get_or("c-prime", ""));
  opt.copy_unchanged = args.flag("copy");

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

const Registrar kRegistrar(
    {"export-router", "write a checkpoint whose routers are MPI routers (for any loader)",
     "usage: routerscope export-router [PATH] --out DIR [--c-prime 4] [--matrix gate|up|down]\n"
     "                                 [--power-steps 1] [--ablation none|no-power|no-retract]\n"
     "                                 [--copy]\n\n"
     "Every router tensor keeps its name, shape and dtype and holds R' = C * normalize(\n"
     "(G_i^T G_i)^k R[i]) with C = C'/sqrt(N): the MPI paper's 'computed once at load time'\n"
     "router, so standard loaders (transformers, safetensors) read it unchanged. Files that hold\n"
     "routers are streamed to DIR with the router bytes replaced; every other weight file is\n"
     "symlinked to the source (or copied with --copy); config.json, the shard index and other\n"
     "side files are copied. DIR/routerscope_export.json records the settings.",
     run_export_router});

} // namespace
} // namespace routerscope::cli
