// `routerscope pretrain`: a small Mixtral language model trained from scratch, every variant
// (vanilla, mpi, no-power, no-retract) from the same initialisation on the same batches.
#include "app/cli/command_line.h"
#include "app/cli/progress_bar.h"
#include "app/cli/run_support.h"
#include "core/error.h"
#include "core/lm/lm_trainer.h"
#include "io/lm_checkpoint.h"
#include "io/lm_corpus.h"
#include "io/pretrain_run.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>

namespace routerscope::cli {

namespace {

namespace fs = std::filesystem;

// Reads DIR/<variant> for every variant and checks it was saved by the same configuration.
lm::LmTrainerState resume_state(const fs::path& dir, const lm::LmConfig& config,
                                const lm::LmSettings& s, const nlohmann::json& identity) {
  lm::LmTrainerState state;
  state.config = config;
  state.seed = s.seed;
  for (std::size_t i = 0; i < s.variants.size(); ++i) {
    const fs::path folder = dir / s.variants[i];
    if (!fs::is_directory(folder))
      throw_input_error("--resume " + dir.string() + ": no folder " + s.variants[i] +
                        " (a --save folder holds one per variant)");
    const io::LmCheckpoint ckpt = io::load_lm_checkpoint(folder, true);
    const std::string arch = io::describe_difference(ckpt.params.config(), config);
    if (!arch.empty())
      throw_input_error("--resume " + folder.string() +
                        " is another configuration (saved vs now): " + arch);
    nlohmann::json meta;
    try {
      meta = nlohmann::json::parse(ckpt.state_metadata);
    } catch (const nlohmann::json::exception& e) {
      throw_input_error("--resume " + folder.string() +
                        ": state metadata is not JSON: " + e.what());
    }
    std::string differs;
    for (const auto& [key, value] : identity.items())
      if (!meta.contains("run") || meta["run"].value(key, nlohmann::json()) != value)
        differs += (differs.empty() ? "" : ", ") + key + " " +
                   (meta.contains("run") && meta["run"].contains(key) ? meta["run"][key].dump()
                                                                      : std::string("absent")) +
                   " vs " + value.dump();
    if (!differs.empty())
      throw_input_error("--resume " + folder.string() +
                        " is another configuration (saved vs now): " + differs);
    const int step = meta.value("step", -1);
    if (i == 0)
      state.step = step;
    else if (step != state.step)
      throw_input_error("--resume " + dir.string() + ": variant folders are at different steps (" +
                        std::to_string(state.step) + " and " + std::to_string(step) + ")");
    state.variants.push_back(io::variant_state(ckpt, s.variants[i], folder));
  }
  if (state.step < 0 || state.step >= s.steps)
    throw_input_error("--resume " + dir.string() + " is at step " + std::to_string(state.step) +
                      " of --steps " + std::to_string(s.steps) + ": nothing left to train");
  return state;
}

int run_pretrain(const Argv& argv) {
  CommandLine cl(
      "pretrain", "Train a small Mixtral LM from scratch: vanilla vs MPI routers.",
      "Next-token cross-entropy + A x Switch LB loss, AdamW (0.9, 0.95, weight decay 0.1 on\n"
      "matrices), warm-up + cosine, clip 1.0. Every variant starts from the same parameters and\n"
      "sees the same batches. Default corpus: the fortunes of /usr/share/games/fortunes (files\n"
      "without a dot, by name); the last 5% of the tokens validate (--eval-windows windows of T,\n"
      "0 = all). --save DIR writes DIR/<variant> as a Hugging Face Mixtral checkpoint "
      "(gate.weight\n"
      "as it routes, trainer_state.json with the step) plus the state --resume DIR continues\n"
      "from; --save-every N also writes DIR/step-N/<variant> every N steps (a `series`).\n"
      "--quick: D 64, 2 layers, F 128, T 64, B 8, 150 steps, --eval-every and --align-every 25\n"
      "(options given still override).\n"
      "--warmup defaults to min(the default, steps / 10). Ctrl-C stops after the current step\n"
      "(exit 130).");
  lm::LmConfig config;
  lm::LmSettings s;
  std::string tokens_arg, corpus_arg, variants = "vanilla,mpi", record_arg, save_arg, resume_arg;
  int vocab = 256, seed = 0, eval_every = 50, align_every = 50, save_every = 0;
  s.eval_windows = 64;
  bool quick = false, json = false;
  CLI::App& app = cl.app();
  auto number = [&](const char* name, auto& value, const char* help, auto lo, auto hi) {
    return app.add_option(name, value, help)->check(CLI::Range(lo, hi));
  };
  app.add_option("--corpus", corpus_arg, "FILE or DIR of text, read as bytes");
  app.add_option("--tokens", tokens_arg, "FILE.bin of little-endian uint16 token ids");
  CLI::Option* vocab_opt = number("--vocab", vocab, "token id range of --tokens", 1, 65536);
  app.add_option("--variants", variants, "vanilla,mpi[,no-power,no-retract]");
  CLI::Option* steps_opt = number("--steps", s.steps, "training steps", 1, 100000000);
  CLI::Option* batch_opt = number("--batch", s.batch, "windows per step", 1, 1 << 20);
  CLI::Option* ctx_opt = number("--ctx", config.ctx, "tokens per window T", 1, 1 << 20);
  CLI::Option* layers_opt = number("--layers", config.layers, "decoder layers", 1, 1024);
  CLI::Option* d_model_opt = number("--d-model", config.d_model, "hidden size D", 1, 1 << 16);
  number("--heads", config.heads, "attention heads", 1, 1 << 16);
  number("--experts", config.experts, "routed experts E per layer", 1, 1 << 16);
  number("--top-k", config.top_k, "experts per token", 1, 1 << 16);
  CLI::Option* d_expert_opt = number("--d-expert", config.d_expert, "expert width F", 1, 1 << 20);
  app.add_option("--lr", s.adamw.lr, "peak learning rate")->check(CLI::PositiveNumber);
  CLI::Option* warmup_opt = number("--warmup", s.adamw.warmup_steps, "warm-up steps", 0, 1 << 30);
  app.add_option("--lb-alpha", s.lb_alpha, "weight A of the Switch LB loss")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--c-prime", s.mpi.c_prime, "C' of the MPI router")->check(CLI::PositiveNumber);
  number("--power-steps", s.mpi.power_steps, "power steps of the MPI router", 1, 1000);
  number("--seed", seed, "initialisation and batch seed", 0, 1 << 30);
  CLI::Option* eval_opt =
      number("--eval-every", eval_every, "validation every N steps (and the last)", 1, 1 << 30);
  CLI::Option* align_opt =
      number("--align-every", align_every, "alignment every N steps (and the last)", 1, 1 << 30);
  number("--eval-windows", s.eval_windows, "validation windows (0 = all)", 0, 1 << 30);
  app.add_option("--record", record_arg, "write the run record RUN.h5 (followed live by gui)");
  app.add_option("--save", save_arg, "write DIR/<variant> checkpoints and the state");
  app.add_option("--resume", resume_arg, "continue from a --save DIR");
  CLI::Option* save_every_opt = number("--save-every", save_every,
                                       "also save DIR/step-N/<variant> every N steps", 1, 1 << 30);
  number("--threads", s.threads, "CPU threads", 1, 1024);
  app.add_flag("--quick", quick, "a smaller model and run (about 2 minutes on 2 cores)");
  cl.add_json(json);
  if (auto rc = cl.parse(argv))
    return *rc;
  // --quick: a smaller model and run (≤ 2 minutes on 2 cores); every option still overrides.
  auto quick_default = [&](CLI::Option* given, int& value, int small) {
    if (quick && !given->count())
      value = small;
  };
  quick_default(d_model_opt, config.d_model, 64);
  quick_default(layers_opt, config.layers, 2);
  quick_default(d_expert_opt, config.d_expert, 128);
  quick_default(ctx_opt, config.ctx, 64);
  quick_default(steps_opt, s.steps, 150);
  quick_default(batch_opt, s.batch, 8);
  quick_default(eval_opt, eval_every, 25);
  quick_default(align_opt, align_every, 25);
  if (!warmup_opt->count())
    s.adamw.warmup_steps = std::min(s.adamw.warmup_steps, s.steps / 10);
  s.variants = split_list(variants);
  s.seed = std::uint64_t(seed);

  // Data: --tokens FILE.bin --vocab V, --corpus FILE|DIR, or the default fortunes corpus.
  io::Corpus corpus;
  if (!tokens_arg.empty()) {
    if (!corpus_arg.empty())
      throw_input_error("pretrain: give --corpus or --tokens, not both");
    if (!vocab_opt->count())
      throw_input_error("--tokens " + tokens_arg + " needs --vocab V (the token ids' range)");
    corpus = io::read_token_file(tokens_arg, vocab);
  } else if (vocab_opt->count()) {
    throw_input_error("--vocab applies to --tokens FILE.bin; a text corpus is bytes (vocab 256)");
  } else if (!corpus_arg.empty()) {
    corpus = io::read_byte_corpus(io::corpus_files(corpus_arg), corpus_arg);
  } else {
    corpus = io::read_byte_corpus(io::default_corpus_files(),
                                  std::string("the default corpus (") + io::kFortunesDir + ")");
  }
  config.vocab = corpus.vocab;
  config.validate();
  s.validate();
  io::check_corpus(corpus, config.ctx);
  if (save_every_opt->count() && save_arg.empty())
    throw_input_error("--save-every needs --save DIR (the checkpoints go to DIR/step-N/<variant>)");
  const io::PretrainPlan plan{config, s, eval_every, align_every};
  std::optional<lm::LmTrainerState> resumed;
  if (!resume_arg.empty())
    resumed = resume_state(resume_arg, config, s, io::pretrain_identity(plan, corpus));
  io::PretrainRun run(plan, corpus, resumed);
  const lm::LmTrainer& trainer = run.trainer();
  const nlohmann::json& identity = run.identity();
  if (!record_arg.empty())
    run.record_to(record_arg);

  const fs::path save = save_arg;
  // Every variant as DIR/<variant> (with trainer_state.json holding the step).
  auto save_variants = [&](const fs::path& dir) {
    const lm::LmTrainerState state = trainer.export_state();
    for (int v = 0; v < trainer.variant_count(); ++v)
      io::save_lm_checkpoint(dir / trainer.variant_name(v),
                             io::variant_checkpoint(trainer.routing_params(v),
                                                    state.variants[std::size_t(v)], state.step,
                                                    nlohmann::json{{"run", identity}}.dump()));
  };

  InterruptGuard guard;
  ProgressBar bar("pretrain");
  const double tokens_per_step = run.tokens_per_step();
  const auto start = std::chrono::steady_clock::now();
  const int first = run.first_step();
  bool interrupted = false;
  while (!run.done()) {
    if (guard.flag()->load()) {
      interrupted = true;
      break;
    }
    run.step();
    const int done = run.step_index();
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    char label[96];
    std::snprintf(label, sizeof label, "step %d/%d  %.0f tok/s", done, s.steps,
                  tokens_per_step * (done - first) / std::max(elapsed, 1e-9));
    bar.update(double(done - first) / double(s.steps - first), label);
    if (save_every && done % save_every == 0)
      save_variants(save / ("step-" + std::to_string(done)));
  }
  bar.finish();
  run.close_record();
  const bool record = !record_arg.empty();
  const auto& last = run.last();
  const auto& last_eval = run.last_eval();
  const auto& last_align = run.last_align();
  if (!save.empty())
    save_variants(save);

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::ordered_json summary = versioned_json();
  summary["steps_done"] = trainer.step_index();
  summary["seconds"] = seconds;
  summary["tokens_per_s"] = tokens_per_step * (trainer.step_index() - first) / seconds;
  for (std::size_t v = 0; v < last.size(); ++v) {
    nlohmann::ordered_json j;
    j["loss"] = last[v].loss;
    j["lm_loss"] = last[v].lm_loss;
    if (v < last_eval.size())
      j["val_bpb"] = last_eval[v].bits_per_token;
    if (v < last_align.size())
      j["lambda"] = io::mean_lambda(last_align[v]);
    summary["variants"][last[v].name] = j;
  }
  if (json) {
    std::printf("%s\n", summary.dump(2).c_str());
  } else {
    std::printf("%d steps of %d × %d tokens on %s (%zu training, %zu validation tokens), %.1f s\n",
                trainer.step_index(), s.batch, config.ctx, run.corpus_origin().c_str(),
                run.train_tokens(), run.validation_tokens(), seconds);
    std::printf("%-11s %-9s %-9s %-9s %s\n", "variant", "loss", "lm_loss", "val_bpb", "lambda");
    for (std::size_t v = 0; v < last.size(); ++v)
      std::printf("%-11s %-9.4f %-9.4f %-9.4f %.4f\n", last[v].name.c_str(), last[v].loss,
                  last[v].lm_loss,
                  v < last_eval.size() ? last_eval[v].bits_per_token : std::nan(""),
                  v < last_align.size() ? io::mean_lambda(last_align[v]) : std::nan(""));
  }
  if (interrupted) {
    std::fprintf(stderr, "interrupted after step %d%s%s\n", trainer.step_index(),
                 record ? "; the record holds every finished step" : "",
                 save.empty() ? "" : "; --save holds the state to --resume from");
    return 130;
  }
  return 0;
}

const Registrar kRegistrar({"pretrain",
                            "train a small Mixtral LM from scratch: vanilla vs MPI routers",
                            run_pretrain});

} // namespace
} // namespace routerscope::cli
