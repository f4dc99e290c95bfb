// `routerscope route`: how one MoE layer routes real hidden states, with the checkpoint's router
// or its MPI router: per-token logits, experts, weights and block output, and the load metrics.
#include "app/cli/command_line.h"
#include "app/cli/run_support.h"
#include "core/error.h"
#include "core/load_metrics.h"
#include "core/mpi.h"
#include "core/routing.h"
#include "core/training.h"
#include "io/checkpoint.h"
#include "io/route_output.h"
#include "io/run_record.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

namespace routerscope::cli {

namespace {

struct RouteOptions {
  std::string path, tokens, router = "checkpoint";
  std::optional<int> layer;
  double c_prime = 4.0;
  bool c_prime_given = false;
  std::string out;
  bool json = false;
};

// All option parsing in one place; nullopt after -h/--help (printed).
std::optional<RouteOptions> parse_route_options(const Argv& argv, int* rc) {
  CommandLine cl(
      "route", "Route real hidden states through one MoE layer (checkpoint or MPI router).",
      "FILE.h5 holds a dataset 'hidden_states' [T, D]: the MoE block's input, after its norm\n"
      "(the format `train` reads). Prints the load per expert, MaxVio, CV and normalised entropy\n"
      "for the checkpoint's router or its MPI router R'[i] = C*normalize(G_i^T G_i R[i]) with\n"
      "C = C'/sqrt(N) (C = 1 for sigmoid-scored families). --out writes per token: logits [T, E],\n"
      "experts [T, k] (in selection order), weights [T, k], output [T, D] (routed + shared\n"
      "experts) and load [E] (docs/FORMATS.md).");
  RouteOptions o;
  std::string path;
  int layer = 0;
  CLI::App& app = cl.app();
  cl.add_checkpoint(path);
  app.add_option("--tokens", o.tokens,
                 "FILE.h5 with hidden states [T, D] at the MoE block's input (docs/FORMATS.md)")
      ->required();
  CLI::Option* layer_opt = app.add_option("--layer", layer, "MoE layer (default: the first)")
                               ->check(CLI::Range(0, 1 << 20));
  app.add_option("--router", o.router, "the router that routes")
      ->check(one_of({"checkpoint", "mpi"}));
  CLI::Option* c_prime_opt =
      app.add_option("--c-prime", o.c_prime, "C' of the MPI router")->check(CLI::PositiveNumber);
  app.add_option("--out", o.out, "OUT.h5: per-token logits, experts, weights, output and load");
  cl.add_json(o.json);
  if (auto r = cl.parse(argv)) {
    *rc = *r;
    return std::nullopt;
  }
  o.path = cl.checkpoint(path);
  if (layer_opt->count())
    o.layer = layer;
  o.c_prime_given = c_prime_opt->count() > 0;
  return o;
}

int run_route(const Argv& argv) {
  int rc = 0;
  const std::optional<RouteOptions> parsed = parse_route_options(argv, &rc);
  if (!parsed)
    return rc;
  const RouteOptions& o = *parsed;
  // Ctrl-C: Error(Cancelled) at the next phase boundary (exit 130); --out is written whole or not.
  InterruptGuard guard;
  Progress cancel;
  cancel.cancel = guard.flag();
  std::unique_ptr<MoeModel> model = io::open_checkpoint(o.path);
  const ModelInfo& info = model->info();
  const auto moe = info.moe_layers();
  const int layer = o.layer.value_or(moe.front());
  const MatrixF x = io::read_hidden_states(o.tokens);
  if (x.cols() != info.d_model)
    throw_input_error(o.tokens + ": hidden_states are [" + std::to_string(x.rows()) + ", " +
                      std::to_string(x.cols()) + "], expected width " +
                      std::to_string(info.d_model) + " (hidden_size of " + o.path + ")");
  cancel.check();
  const MoeLayerWeights w = load_moe_layer(*model, layer);
  cancel.check();
  MatrixF router = model->router(layer);
  if (o.router == "mpi") {
    for (const std::string& c : mpi_rule_caveats(w.rule, o.c_prime_given))
      std::fprintf(stderr, "warning: %s\n", c.c_str());
    MpiSettings mpi;
    mpi.c_prime = o.c_prime;
    mpi.scoring = w.rule.scoring;
    const std::vector<MatrixF> g = load_direction_operators(*model, layer, mpi.matrix);
    check_mpi_inputs(*model, layer, router, g, mpi.matrix);
    router = mpi_router(router, g, mpi);
  } else if (o.c_prime_given) {
    std::fprintf(stderr, "warning: --c-prime is ignored with --router checkpoint\n");
  }
  cancel.check();
  const Routing routing = route_tokens(x, router, w.router_bias, w.rule, w.top_k);
  cancel.check();
  const int n = static_cast<int>(router.rows());
  io::RouteOutput out;
  out.load = expert_loads(routing.experts, n);
  const double maxvio = max_vio(out.load), cv = load_cv(out.load), entropy = load_entropy(out.load);
  const int dead = dead_experts(out.load);
  nlohmann::ordered_json summary = versioned_json();
  summary.update(
      nlohmann::ordered_json{{"checkpoint", o.path},
                             {"tokens", o.tokens},
                             {"layer", layer},
                             {"router", o.router},
                             {"token_count", x.rows()},
                             {"experts", n},
                             {"top_k", w.top_k},
                             {"load", std::vector<double>(out.load.data(), out.load.data() + n)},
                             {"maxvio", maxvio},
                             {"cv", cv},
                             {"entropy", entropy},
                             {"dead_experts", dead}});
  if (o.router == "mpi")
    summary["c_prime"] = o.c_prime;
  if (!o.out.empty()) {
    out.logits = routing.logits;
    out.experts = routing.experts;
    out.weights = routing.weights;
    out.output = moe_block_output(w, routing, x);
    cancel.check();
    nlohmann::ordered_json config = summary;
    config.erase("load");
    out.config = config.dump();
    io::write_route_output(o.out, out);
  }
  if (o.json) {
    std::printf("%s\n", summary.dump(1).c_str());
    return 0;
  }
  std::printf("layer %d, %lld tokens, top-%d of %d experts, %s router\n", layer,
              static_cast<long long>(x.rows()), w.top_k, n, o.router.c_str());
  const double slots = out.load.sum();
  std::printf("%-7s %-9s %s\n", "expert", "load", "share");
  for (int e = 0; e < n; ++e)
    std::printf("%-7d %-9.0f %.4f\n", e, out.load(e), slots > 0 ? out.load(e) / slots : 0.0);
  std::printf("MaxVio %.4f  CV %.4f  entropy %.4f  dead experts %d\n", maxvio, cv, entropy, dead);
  if (!o.out.empty())
    std::printf("wrote %s (logits, experts, weights, output, load)\n", o.out.c_str());
  return 0;
}

const Registrar kRegistrar({"route",
                            "route real hidden states through one MoE layer (checkpoint or MPI "
                            "router)",
                            run_route});

} // namespace

} // namespace routerscope::cli
