// `routerscope pretrain`: a small Mixtral language model trained from scratch, every variant
// (vanilla, mpi, no-power, no-retract) from the same initialisation on the same batches.
#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/progress_bar.h"
#include "app/cli/run_support.h"
#include "core/error.h"
#include "core/lm/lm_trainer.h"
#include "io/lm_checkpoint.h"
#include "io/lm_corpus.h"
#include "io/pretrain_record.h"

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

// The settings that make a run what it is: a --resume folder must match every one of them.
nlohmann::json run_identity(const lm::LmConfig& c, const lm::LmSettings& s,
                            const io::Corpus& corpus) {
  return {{"vocab", c.vocab},
          {"d-model", c.d_model},
          {"layers", c.layers},
          {"heads", c.heads},
          {"experts", c.experts},
          {"top-k", c.top_k},
          {"d-expert", c.d_expert},
          {"ctx", c.ctx},
          {"steps", s.steps},
          {"batch", s.batch},
          {"lr", s.adamw.lr},
          {"warmup", s.adamw.warmup_steps},
          {"lb-alpha", s.lb_alpha},
          {"c-prime", s.mpi.c_prime},
          {"power-steps", s.mpi.power_steps},
          {"seed", s.seed},
          {"corpus_tokens", corpus.tokens.size()}};
}

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

io::PretrainStepRow record_row(const lm::LmVariantStep& st, double lb_alpha,
                               const lm::LmVariantEval* eval, const lm::LmVariantAlignment* align) {
  io::PretrainStepRow r;
  r.variant = st.name;
  r.step = st.step;
  r.loss = st.loss;
  r.lm_loss = st.lm_loss;
  r.lb_loss = lb_alpha * st.lb_loss; // α included, as in the train record
  r.grad_norm = st.grad_norm;
  r.lr = st.lr;
  r.tokens_per_s = st.tokens_per_s;
  for (std::size_t l = 0; l < st.layers.size(); ++l) {
    const auto& L = st.layers[l];
    io::PretrainLayerRow row;
    row.load = L.load;
    row.maxvio_batch = L.maxvio_batch;
    row.router_norm = L.routing_norm;
    row.raw_norm = L.raw_norm;
    row.sigma1 = L.sigma1;
    if (eval)
      row.maxvio_global = eval->layers[l].maxvio_global;
    if (align) {
      row.cos = align->layers[l].cos;
      row.lambda = align->layers[l].lambda;
    }
    r.layers.push_back(std::move(row));
  }
  if (eval)
    r.val_bpb = eval->bits_per_token;
  return r;
}

double mean_lambda(const lm::LmVariantAlignment& a) {
  double sum = 0;
  for (const auto& l : a.layers)
    sum += l.mean_lambda;
  return a.layers.empty() ? std::nan("") : sum / double(a.layers.size());
}

int run_pretrain(const Argv& argv) {
  Args args("pretrain", argv,
            {"corpus",   "tokens",     "vocab",       "variants",     "steps",   "batch",
             "ctx",      "layers",     "d-model",     "heads",        "experts", "top-k",
             "d-expert", "lr",         "warmup",      "lb-alpha",     "c-prime", "power-steps",
             "seed",     "eval-every", "align-every", "eval-windows", "record",  "save",
             "resume",   "threads"},
            {"quick", "json"});
  args.require_positionals(0, 0);
  const bool quick = args.flag("quick");
  lm::LmConfig config;
  lm::LmSettings s;
  // --quick: a smaller model and run (≤ 2 minutes on 2 cores); every option still overrides.
  if (quick) {
    config.d_model = 64;
    config.layers = 2;
    config.d_expert = 128;
    config.ctx = 64;
    s.steps = 150;
    s.batch = 8;
  }
  config.d_model = args.get_int("d-model", config.d_model, 1, 1 << 16);
  config.layers = args.get_int("layers", config.layers, 1, 1024);
  config.heads = args.get_int("heads", config.heads, 1, 1 << 16);
  config.experts = args.get_int("experts", config.experts, 1, 1 << 16);
  config.top_k = args.get_int("top-k", config.top_k, 1, 1 << 16);
  config.d_expert = args.get_int("d-expert", config.d_expert, 1, 1 << 20);
  config.ctx = args.get_int("ctx", config.ctx, 1, 1 << 20);
  s.variants = split_list(args.get_or("variants", "vanilla,mpi"));
  s.steps = args.get_int("steps", s.steps, 1, 100000000);
  s.batch = args.get_int("batch", s.batch, 1, 1 << 20);
  s.adamw.lr = args.get_double("lr", s.adamw.lr);
  s.adamw.warmup_steps =
      args.get_int("warmup", std::min(s.adamw.warmup_steps, s.steps / 10), 0, 1 << 30);
  s.lb_alpha = args.get_double("lb-alpha", s.lb_alpha);
  s.mpi.c_prime = args.get_double("c-prime", s.mpi.c_prime);
  s.mpi.power_steps = args.get_int("power-steps", s.mpi.power_steps, 1, 1000);
  s.seed = std::uint64_t(args.get_int("seed", 0, 0, 1 << 30));
  s.threads = args.get_int("threads", s.threads, 1, 1024);
  s.eval_windows = args.get_int("eval-windows", 64, 0, 1 << 30);
  const int eval_every = args.get_int("eval-every", quick ? 25 : 50, 1, 1 << 30);
  const int align_every = args.get_int("align-every", quick ? 25 : 50, 1, 1 << 30);

  // Data: --tokens FILE.bin --vocab V, --corpus FILE|DIR, or the default fortunes corpus.
  io::Corpus corpus;
  if (auto tokens = args.get("tokens")) {
    if (args.get("corpus"))
      throw_input_error("pretrain: give --corpus or --tokens, not both");
    if (!args.get("vocab"))
      throw_input_error("--tokens " + *tokens + " needs --vocab V (the token ids' range)");
    corpus = io::read_token_file(*tokens, args.get_int("vocab", 256, 1, 65536));
  } else if (args.get("vocab")) {
    throw_input_error("--vocab applies to --tokens FILE.bin; a text corpus is bytes (vocab 256)");
  } else if (auto path = args.get("corpus")) {
    corpus = io::read_byte_corpus(io::corpus_files(*path), *path);
  } else {
    corpus = io::read_byte_corpus(io::default_corpus_files(),
                                  std::string("the default corpus (") + io::kFortunesDir + ")");
  }
  config.vocab = corpus.vocab;
  config.validate();
  s.validate();
  io::check_corpus(corpus, config.ctx);
  const nlohmann::json identity = run_identity(config, s, corpus);

  std::optional<lm::LmTrainerState> resumed;
  if (auto dir = args.get("resume"))
    resumed = resume_state(*dir, config, s, identity);

  std::vector<std::int32_t> train(corpus.tokens.begin(),
                                  corpus.tokens.begin() + std::ptrdiff_t(corpus.train_size));
  std::vector<std::int32_t> val(corpus.tokens.begin() + std::ptrdiff_t(corpus.train_size),
                                corpus.tokens.end());
  lm::LmTrainer trainer(config, s, std::move(train), std::move(val));
  if (resumed)
    trainer.import_state(*resumed);

  nlohmann::json run_config = identity;
  run_config["command"] = "pretrain";
  run_config["variants"] = s.variants;
  run_config["corpus"] = corpus.origin;
  run_config["train_tokens"] = corpus.train_size;
  run_config["validation_tokens"] = corpus.validation_size();
  run_config["eval_every"] = eval_every;
  run_config["align_every"] = align_every;
  run_config["eval_windows"] = s.eval_windows;
  run_config["first_step"] = trainer.step_index();
  std::unique_ptr<io::RunRecordWriter> record;
  if (auto out = args.get("record")) {
    io::RecordIdentity id{corpus.origin, "mixtral", corpus.files};
    record = std::make_unique<io::RunRecordWriter>(*out, "pretraining", run_config.dump(), id);
    for (const auto& name : s.variants)
      io::declare_pretrain_variant(*record, name, std::size_t(config.layers),
                                   std::size_t(config.experts));
    record->start_live();
  }

  InterruptGuard guard;
  ProgressBar bar("pretrain");
  const double tokens_per_step = double(s.variants.size()) * s.batch * config.ctx;
  const auto start = std::chrono::steady_clock::now();
  const int first = trainer.step_index();
  std::vector<lm::LmVariantStep> last;
  std::vector<lm::LmVariantEval> last_eval;
  std::vector<lm::LmVariantAlignment> last_align;
  bool interrupted = false;
  for (int step = first; step < s.steps; ++step) {
    if (guard.flag()->load()) {
      interrupted = true;
      break;
    }
    // Evaluation and alignment describe the parameters of this step's forward pass.
    const bool final_step = step + 1 == s.steps;
    std::vector<lm::LmVariantEval> eval;
    std::vector<lm::LmVariantAlignment> align;
    if (step % eval_every == 0 || final_step)
      last_eval = eval = trainer.evaluate();
    if (step % align_every == 0 || final_step)
      last_align = align = trainer.alignment();
    last = trainer.step();
    for (std::size_t v = 0; v < last.size(); ++v)
      if (record)
        io::add_pretrain_step(*record,
                              record_row(last[v], s.lb_alpha, eval.empty() ? nullptr : &eval[v],
                                         align.empty() ? nullptr : &align[v]));
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    char label[96];
    std::snprintf(label, sizeof label, "step %d/%d  %.0f tok/s", step + 1, s.steps,
                  tokens_per_step * (step + 1 - first) / std::max(elapsed, 1e-9));
    bar.update(double(step + 1 - first) / double(s.steps - first), label);
  }
  bar.finish();
  if (record)
    record->close();
  const fs::path save = args.get_or("save", "");
  if (!save.empty()) {
    const lm::LmTrainerState state = trainer.export_state();
    for (int v = 0; v < trainer.variant_count(); ++v)
      io::save_lm_checkpoint(save / trainer.variant_name(v),
                             io::variant_checkpoint(trainer.routing_params(v),
                                                    state.variants[std::size_t(v)], state.step,
                                                    nlohmann::json{{"run", identity}}.dump()));
  }

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::ordered_json summary;
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
      j["lambda"] = mean_lambda(last_align[v]);
    summary["variants"][last[v].name] = j;
  }
  if (args.flag("json")) {
    std::printf("%s\n", summary.dump(2).c_str());
  } else {
    std::printf("%d steps of %d × %d tokens on %s (%zu training, %zu validation tokens), %.1f s\n",
                trainer.step_index(), s.batch, config.ctx, corpus.origin.c_str(), corpus.train_size,
                corpus.validation_size(), seconds);
    std::printf("%-11s %-9s %-9s %-9s %s\n", "variant", "loss", "lm_loss", "val_bpb", "lambda");
    for (std::size_t v = 0; v < last.size(); ++v)
      std::printf("%-11s %-9.4f %-9.4f %-9.4f %.4f\n", last[v].name.c_str(), last[v].loss,
                  last[v].lm_loss,
                  v < last_eval.size() ? last_eval[v].bits_per_token : std::nan(""),
                  v < last_align.size() ? mean_lambda(last_align[v]) : std::nan(""));
  }
  if (interrupted) {
    std::fprintf(stderr, "interrupted after step %d%s%s\n", trainer.step_index(),
                 record ? "; the record holds every finished step" : "",
                 save.empty() ? "" : "; --save holds the state to --resume from");
    return 130;
  }
  return 0;
}

const Registrar kRegistrar(
    {"pretrain", "train a small Mixtral LM from scratch: vanilla vs MPI routers",
     "usage: routerscope pretrain [--corpus FILE|DIR | --tokens FILE.bin --vocab V]\n"
     "         [--variants vanilla,mpi[,no-power,no-retract]] [--steps N (600)] [--batch B (16)]\n"
     "         [--ctx T (128)] [--layers L (4)] [--d-model D (128)] [--heads H (4)]\n"
     "         [--experts E (8)] [--top-k K (2)] [--d-expert F (256)] [--lr LR (3e-3)]\n"
     "         [--warmup W] [--lb-alpha A (0.01)] [--c-prime C (4)] [--power-steps K (1)]\n"
     "         [--seed S (0)] [--eval-every N (50)] [--align-every N (50)] [--eval-windows N "
     "(64)]\n"
     "         [--record RUN.h5] [--save DIR] [--resume DIR] [--threads N (2)] [--quick] [--json]\n"
     "Next-token cross-entropy + A x Switch LB loss, AdamW (0.9, 0.95, weight decay 0.1 on\n"
     "matrices), warm-up + cosine, clip 1.0. Every variant starts from the same parameters and\n"
     "sees the same batches. Default corpus: the fortunes of /usr/share/games/fortunes (files\n"
     "without a dot, by name); the last 5% of the tokens validate (--eval-windows windows of T,\n"
     "0 = all). --save DIR writes DIR/<variant> as a Hugging Face Mixtral checkpoint (gate.weight\n"
     "as it routes) plus the state --resume DIR continues from. --quick: D 64, 2 layers, F 128,\n"
     "T 64, B 8, 150 steps. Ctrl-C stops after the current step (exit 130).",
     run_pretrain});

} // namespace
} // namespace routerscope::cli
