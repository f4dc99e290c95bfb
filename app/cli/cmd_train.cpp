// `routerscope train`: vanilla vs MPI router training on one layer with frozen experts.
#include "app/cli/command_line.h"
#include "app/cli/progress_bar.h"
#include "app/cli/run_support.h"
#include "core/error.h"
#include "core/training.h"
#include "io/checkpoint.h"
#include "io/run_record.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>
#include <vector>

namespace routerscope::cli {

namespace {

double mean_of(const VectorD& v) {
  return v.size() ? v.mean() : std::nan("");
}

int run_train(const Argv& argv) {
  CommandLine cl(
      "train", "Train one layer's router: vanilla vs MPI, experts frozen.",
      "The router learns to reproduce the checkpoint's own MoE block output (MSE) plus the Switch\n"
      "LB loss, with AdamW (0.9, 0.95), weight decay 0.1, clip 1.0, warm-up + cosine. Every\n"
      "variant starts from the same router and sees the same batches. --init checkpoint starts\n"
      "from the checkpoint's router (vanilla then starts at its own target, so its task loss\n"
      "starts at 0); --init random starts every variant from one seeded N(0, 0.02^2) router, the\n"
      "fair comparison (what `report` uses). MPI variants keep the family's logit bias,\n"
      "selection bias and routed scaling (a warning says so). --tokens FILE.h5 holds a\n"
      "dataset 'hidden_states' [T, D] (docs/FORMATS.md). Ctrl-C stops after the current step\n"
      "(exit 130); the record holds every finished step.");
  std::string path_arg, variants = "vanilla,mpi", source = "synthetic", matrix = "gate", gate_order,
                        init = "checkpoint", record_path, device = "auto";
  TrainSettings s;
  int layer = 0, warmup = 0, seed = 0, pool = 4096, held = 1024;
  bool json = false;
  s.steps = 200;
  s.batch = 256;
  s.adamw.lr = 1e-3;
  s.z_weight = 0.0;
  s.lb_alpha = 0.01;
  s.mpi.c_prime = 4.0;
  s.mpi.power_steps = 1;
  s.global_every = 10;
  CLI::App& app = cl.app();
  cl.add_checkpoint(path_arg);
  CLI::Option* layer_opt =
      app.add_option("--layer", layer, "MoE layer to train (default: the first MoE layer)")
          ->check(CLI::NonNegativeNumber);
  app.add_option("--variants", variants, "comma-separated: vanilla, mpi, no-power, no-retract");
  app.add_option("--steps", s.steps, "training steps")->check(CLI::Range(1, 100000000));
  app.add_option("--batch", s.batch, "tokens per step")->check(CLI::Range(1, 1 << 24));
  app.add_option("--tokens", source, "synthetic, embeddings or FILE.h5");
  app.add_option("--pool", pool, "training tokens drawn")->check(CLI::Range(1, 1 << 24));
  app.add_option("--held-out", held, "held-out tokens")->check(CLI::Range(0, 1 << 24));
  app.add_option("--lr", s.adamw.lr, "AdamW learning rate")->check(CLI::PositiveNumber);
  CLI::Option* warmup_opt =
      app.add_option("--warmup", warmup, "warm-up steps (default: min(20, steps/10))")
          ->check(CLI::Range(0, 1 << 30));
  app.add_option("--z-loss", s.z_weight, "router z-loss weight")->check(CLI::NonNegativeNumber);
  app.add_option("--lb-alpha", s.lb_alpha, "load-balancing loss weight")
      ->check(CLI::NonNegativeNumber);
  CLI::Option* c_prime_opt = app.add_option("--c-prime", s.mpi.c_prime, "C' of the MPI router")
                                 ->check(CLI::PositiveNumber);
  app.add_option("--matrix", matrix, "expert matrix")->check(one_of({"gate", "up", "down"}));
  app.add_option("--power-steps", s.mpi.power_steps, "power steps k")->check(CLI::Range(1, 1000));
  app.add_option("--gate-order", gate_order, "gate order (default: the checkpoint family's)")
      ->check(one_of({"softmax-topk", "topk-softmax"}));
  app.add_option("--init", init, "router initialisation")->check(one_of({"checkpoint", "random"}));
  app.add_option("--seed", seed, "random seed")->check(CLI::Range(0, 1 << 30));
  app.add_option("--global-every", s.global_every, "steps between global MaxVio evaluations")
      ->check(CLI::Range(0, 1 << 30));
  app.add_option("--record", record_path, "write the run record RUN.h5");
  cl.add_json(json);
  cl.add_device(device);
  if (auto rc = cl.parse(argv))
    return *rc;
  s.variants = split_list(variants);
  for (const auto& v : s.variants)
    parse_variant(v); // validate before any work
  s.mpi.matrix = parse_expert_matrix(matrix);
  s.adamw.warmup_steps = warmup_opt->count() ? warmup : std::min(20, s.steps / 10);
  s.init = init == "random" ? RouterInit::Random : RouterInit::Checkpoint;
  s.seed = std::uint64_t(seed);

  const std::string path = cl.checkpoint(path_arg);
  std::unique_ptr<MoeModel> model = io::open_checkpoint(path);
  const auto backend = device_backend("train", device);
  const ModelInfo& info = model->info();
  s.backend = backend.get();
  auto moe = info.moe_layers();
  if (moe.empty())
    throw_input_error(path + ": no MoE layer");
  s.layer = layer_opt->count() ? layer : moe.front();
  s.mpi.order = info.routing.order;
  s.mpi.scoring = info.routing.scoring;
  if (!gate_order.empty())
    s.mpi.order = gate_order == "softmax-topk" ? GateOrder::SoftmaxTopk : GateOrder::TopkSoftmax;
  for (const auto& v : s.variants)
    if (parse_variant(v).reparametrised) {
      for (const std::string& c : mpi_rule_caveats(info.routing, c_prime_opt->count() > 0))
        std::fprintf(stderr, "warning: %s\n", c.c_str());
      break;
    }

  MatrixF tokens, held_out;
  if (source == "synthetic") {
    MatrixF all = synthetic_tokens(pool + held, info.d_model, s.seed);
    tokens = all.topRows(pool);
    held_out = all.bottomRows(held);
  } else if (source == "embeddings") {
    MatrixF all = embedding_tokens(*model, s.layer, pool + held, s.seed);
    tokens = all.topRows(pool);
    held_out = all.bottomRows(held);
  } else {
    MatrixF all = io::read_hidden_states(source);
    if (all.cols() != info.d_model)
      throw_input_error(source + ": hidden_states are [" + std::to_string(all.rows()) + ", " +
                        std::to_string(all.cols()) + "], expected width " +
                        std::to_string(info.d_model) + " (hidden_size of " + path + ")");
    const Eigen::Index h = std::min<Eigen::Index>(held, all.rows() / 5);
    tokens = all.topRows(all.rows() - h);
    held_out = all.bottomRows(h);
  }

  std::unique_ptr<io::RunRecordWriter> record;
  if (!record_path.empty()) {
    const nlohmann::json extra = {{"command", "train"},
                                  {"tokens", source},
                                  {"pool", tokens.rows()},
                                  {"held_out", held_out.rows()}};
    record = std::make_unique<io::RunRecordWriter>(record_path, "training",
                                                   training_config(s, extra.dump()),
                                                   io::checkpoint_identity(path, info));
    const bool global = held_out.rows() > 0 && s.global_every > 0;
    for (const auto& name : s.variants)
      io::declare_training_variant(*record, s.layer, name,
                                   std::size_t(info.moe_layer(s.layer).experts),
                                   parse_variant(name).reparametrised, global);
    record->start_live();
  }
  InterruptGuard guard;
  ProgressBar bar("train");
  Progress progress = bar.progress(guard.flag());
  std::vector<double> last_global(s.variants.size(), std::nan(""));
  TrainResult r = train_router(
      *model, tokens, held_out, s,
      [&](const TrainStepRecord& rec) {
        if (rec.maxvio_global)
          last_global[size_t(rec.variant)] = *rec.maxvio_global;
        if (record)
          record->add_training_step(s.layer, rec);
      },
      progress);
  bar.finish();
  if (record)
    record->close();

  if (json) {
    auto num = [](double v) {
      return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
    };
    nlohmann::ordered_json j = versioned_json();
    j["path"] = path;
    j["family"] = info.family;
    j["layer"] = s.layer;
    j["steps_done"] = r.steps_done;
    j["batch"] = s.batch;
    j["tokens"] = source;
    j["interrupted"] = r.cancelled;
    j["variants"] = nlohmann::ordered_json::array();
    for (size_t v = 0; v < r.variants.size(); ++v) {
      const auto& l = r.last[v];
      j["variants"].push_back({{"variant", r.variants[v].name},
                               {"loss", num(l.loss)},
                               {"task_loss", num(l.task_loss)},
                               {"lb_loss", num(l.lb_loss)},
                               {"maxvio_batch", num(l.maxvio_batch)},
                               {"maxvio_global", num(last_global[v])},
                               {"cos_mean", num(mean_of(l.cos))},
                               {"lambda_mean", num(mean_of(l.lambda))},
                               {"router_norm_mean", num(mean_of(l.router_norm))}});
    }
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("layer %d, %d steps of %d tokens (%s)\n", s.layer, r.steps_done, s.batch,
                source.c_str());
    std::printf("%-11s %-10s %-10s %-10s %-9s %-9s %-8s %-8s %s\n", "variant", "loss", "task", "lb",
                "maxvio_b", "maxvio_g", "|cos|", "lambda", "router_norm");
    for (size_t v = 0; v < r.variants.size(); ++v) {
      const auto& l = r.last[v];
      std::printf("%-11s %-10.4g %-10.4g %-10.4g %-9.4f %-9.4f %-8.4f %-8.4f %.4f\n",
                  r.variants[v].name.c_str(), l.loss, l.task_loss, l.lb_loss, l.maxvio_batch,
                  last_global[v], mean_of(l.cos), mean_of(l.lambda), mean_of(l.router_norm));
    }
  }
  if (r.cancelled) {
    std::fprintf(stderr, "interrupted after %d steps%s\n", r.steps_done,
                 record ? "; the record holds every finished step" : "");
    return 130;
  }
  return 0;
}

const Registrar kRegistrar({"train", "train one layer's router: vanilla vs MPI (experts frozen)",
                            run_train});

} // namespace

} // namespace routerscope::cli
