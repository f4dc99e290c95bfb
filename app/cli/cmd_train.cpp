// `routerscope train`: vanilla vs MPI router training on one layer with frozen experts.
#include "app/cli/args.h"
#include "app/cli/commands.h"
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

GateOrder parse_gate_order(const std::string& text) {
  if (text == "softmax-topk")
    return GateOrder::SoftmaxTopk;
  if (text == "topk-softmax")
    return GateOrder::TopkSoftmax;
  throw_input_error("--gate-order: unknown order '" + text +
                    "': expected softmax-topk or topk-softmax");
}

double mean_of(const VectorD& v) {
  return v.size() ? v.mean() : std::nan("");
}

int run_train(const Argv& argv) {
  Args args("train", argv,
            {"layer",      "variants", "steps",  "batch",        "tokens",  "pool",   "held-out",
             "lr",         "warmup",   "z-loss", "lb-alpha",     "c-prime", "matrix", "power-steps",
             "gate-order", "init",     "seed",   "global-every", "record",  "device"},
            {});
  args.require_positionals(0, 1);
  const std::string path =
      args.positionals().empty() ? default_checkpoint() : args.positionals()[0];
  std::unique_ptr<MoeModel> model = io::open_checkpoint(path);
  const auto backend = device_backend(args);
  const ModelInfo& info = model->info();

  TrainSettings s;
  s.backend = backend.get();
  auto moe = info.moe_layers();
  if (moe.empty())
    throw_input_error(path + ": no MoE layer");
  s.layer = args.get_int("layer", moe.front(), 0, 1 << 20);
  s.variants = split_list(args.get_or("variants", "vanilla,mpi"));
  for (const auto& v : s.variants)
    parse_variant(v); // validate before any work
  s.steps = args.get_int("steps", 200, 1, 100000000);
  s.batch = args.get_int("batch", 256, 1, 1 << 24);
  s.adamw.lr = args.get_double("lr", 1e-3);
  s.adamw.warmup_steps = args.get_int("warmup", std::min(20, s.steps / 10), 0, 1 << 30);
  s.z_weight = args.get_double("z-loss", 0.0);
  s.lb_alpha = args.get_double("lb-alpha", 0.01);
  s.mpi.c_prime = args.get_double("c-prime", 4.0);
  s.mpi.matrix = parse_expert_matrix(args.get_or("matrix", "gate"));
  s.mpi.power_steps = args.get_int("power-steps", 1, 1, 1000);
  s.mpi.order = info.routing.order;
  s.mpi.scoring = info.routing.scoring;
  if (auto o = args.get("gate-order"))
    s.mpi.order = parse_gate_order(*o);
  const std::string init = args.get_or("init", "checkpoint");
  if (init != "checkpoint" && init != "random")
    throw_input_error("--init: expected checkpoint or random, got '" + init + "'");
  s.init = init == "random" ? RouterInit::Random : RouterInit::Checkpoint;
  s.seed = std::uint64_t(args.get_int("seed", 0, 0, 1 << 30));
  s.global_every = args.get_int("global-every", 10, 0, 1 << 30);
  const int pool = args.get_int("pool", 4096, 1, 1 << 24);
  const int held = args.get_int("held-out", 1024, 0, 1 << 24);
  const std::string source = args.get_or("tokens", "synthetic");

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
  if (auto out = args.get("record")) {
    const nlohmann::json extra = {{"command", "train"},
                                  {"tokens", source},
                                  {"pool", tokens.rows()},
                                  {"held_out", held_out.rows()}};
    record = std::make_unique<io::RunRecordWriter>(
        *out, "training", io::training_config(s, extra.dump()), checkpoint_identity(path, info));
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
  if (r.cancelled) {
    std::fprintf(stderr, "interrupted after %d steps%s\n", r.steps_done,
                 record ? "; the record holds every finished step" : "");
    return 130;
  }
  return 0;
}

const Registrar kRegistrar(
    {"train", "train one layer's router: vanilla vs MPI (experts frozen)",
     "usage: routerscope train [PATH] [--layer L] [--variants vanilla,mpi[,no-power,no-retract]]\n"
     "         [--steps N (200)] [--batch B (256)] [--tokens synthetic|embeddings|FILE.h5]\n"
     "         [--pool T (4096)] [--held-out H (1024)] [--lr LR (1e-3)] [--warmup W]\n"
     "         [--z-loss WEIGHT (0)] [--lb-alpha A (0.01)] [--c-prime C (4)]\n"
     "         [--matrix gate|up|down] [--power-steps K (1)] [--device auto|cpu|cuda]\n"
     "         [--gate-order softmax-topk|topk-softmax] [--init checkpoint|random]\n"
     "         [--seed S (0)] [--global-every N (10)] [--record RUN.h5]\n"
     "The router learns to reproduce the checkpoint's own MoE block output (MSE) plus the Switch\n"
     "LB loss, with AdamW (0.9, 0.95), weight decay 0.1, clip 1.0, warm-up + cosine. Every\n"
     "variant starts from the same router and sees the same batches. FILE.h5 holds a dataset\n"
     "'hidden_states' [T, D] (docs/FORMATS.md). Ctrl-C stops after the current step.",
     run_train});

} // namespace

} // namespace routerscope::cli
