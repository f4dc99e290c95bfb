// `routerscope lm-eval CKPT`: bits per byte of a Mixtral checkpoint with a byte vocabulary on a
// file (the contract is pinned in README.md and lm::lm_bits_per_token).
#include "app/cli/command_line.h"
#include "app/cli/progress_bar.h"
#include "app/cli/run_support.h"
#include "core/error.h"
#include "core/lm/lm_trainer.h"
#include "io/lm_checkpoint.h"
#include "io/lm_corpus.h"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace routerscope::cli {

namespace {

int run_lm_eval(const Argv& argv) {
  CommandLine cl(
      "lm-eval", "Bits per byte of a Mixtral checkpoint with a byte vocabulary on a file.",
      "Mean next-token cross-entropy in bits per byte over non-overlapping windows of T bytes\n"
      "(default: the checkpoint's max_position_embeddings) from the start of the file, every\n"
      "position of a window predicting the next byte inside that window (T - 1 predictions per\n"
      "window), a last partial window dropped. The router routes with gate.weight as stored.\n"
      "Default corpus: the last 5% of the default pretrain corpus (its validation part).\n"
      "Ctrl-C stops (exit 130) and prints nothing.");
  std::string path, corpus_arg;
  int ctx = 0, threads = 2;
  bool json = false;
  CLI::App& app = cl.app();
  app.add_option("CKPT", path, "checkpoint folder written by `pretrain --save`")->required();
  app.add_option("--corpus", corpus_arg, "FILE or DIR of text, read as bytes");
  CLI::Option* ctx_opt =
      app.add_option("--ctx", ctx, "window length T in bytes")->check(CLI::Range(2, 1 << 20));
  app.add_option("--threads", threads, "CPU threads")->check(CLI::Range(1, 1024));
  cl.add_json(json);
  if (auto rc = cl.parse(argv))
    return *rc;
  const io::LmCheckpoint ckpt = io::load_lm_checkpoint(path);
  const lm::LmConfig& config = ckpt.params.config();
  if (config.vocab != 256)
    throw_input_error(path + ": vocab_size is " + std::to_string(config.vocab) +
                      ", lm-eval reads bytes and needs 256");
  if (!ctx_opt->count())
    ctx = config.ctx;
  // A file (or folder) as a whole; by default the validation part of the default corpus, the
  // bytes `pretrain` validates on.
  io::Corpus corpus;
  std::vector<std::int32_t> tokens;
  if (!corpus_arg.empty()) {
    corpus = io::read_byte_corpus(io::corpus_files(corpus_arg), corpus_arg);
    tokens = corpus.tokens;
  } else {
    corpus = io::read_byte_corpus(io::default_corpus_files(),
                                  std::string("the default corpus's validation part (") +
                                      io::kFortunesDir + ")");
    tokens.assign(corpus.tokens.begin() + std::ptrdiff_t(corpus.train_size), corpus.tokens.end());
  }
  if (tokens.size() < std::size_t(ctx))
    throw_input_error("--corpus " + corpus.origin + " holds " + std::to_string(tokens.size()) +
                      " bytes, fewer than one window of --ctx " + std::to_string(ctx));
  double bpb = 0;
  {
    InterruptGuard guard; // Ctrl-C: Error(Cancelled) between batches, exit 130, nothing printed
    ProgressBar bar("lm-eval");
    bpb = lm::lm_bits_per_token(ckpt.params, tokens, ctx, threads, bar.progress(guard.flag()));
  }
  const std::size_t windows = tokens.size() / std::size_t(ctx);
  if (json) {
    nlohmann::ordered_json j = versioned_json();
    j["checkpoint"] = path;
    j["corpus"] = corpus.origin;
    j["ctx"] = ctx;
    j["windows"] = windows;
    j["predictions"] = windows * std::size_t(ctx - 1);
    j["bits_per_byte"] = bpb;
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%s on %s: %.6f bits per byte (%zu windows of %d bytes)\n", path.c_str(),
                corpus.origin.c_str(), bpb, windows, ctx);
  }
  return 0;
}

const Registrar
    kRegistrar({"lm-eval", "bits per byte of a Mixtral checkpoint with a byte vocabulary on a file",
                run_lm_eval});

} // namespace
} // namespace routerscope::cli
