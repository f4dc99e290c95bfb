// The pretraining engine against an independent PyTorch implementation of transformers' Mixtral
// (tests/peer/mixtral_peer.py, /usr/bin/python3 with Debian's torch): same initial checkpoint,
// same batches, 20 AdamW steps; and lm-eval's bits per byte on a file.
#include "core/lm/lm_trainer.h"
#include "io/safetensors_writer.h"
#include "tests/core/lm_test_config.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

using namespace routerscope;
using namespace routerscope::lm;
namespace fs = std::filesystem;

namespace {

LmConfig peer_config() {
  return test::small_lm_config(32);
}

// Text with structure at several scales (words from a seeded Zipf-like vocabulary), so routing
// and attention both have something to learn.
std::vector<std::int32_t> synthetic_text(size_t bytes, std::uint64_t seed) {
  const std::vector<std::string> words = {"the ",     "router ",   "expert ",  "power ",   "step ",
                                          "and ",     "of ",       "a ",       "mixture ", "load. ",
                                          "balance ", "singular ", "vector, ", "is ",      "in "};
  std::mt19937_64 rng(seed);
  std::discrete_distribution<int> pick({30, 12, 12, 8, 8, 20, 18, 16, 6, 5, 5, 4, 4, 10, 9});
  std::vector<std::int32_t> out;
  while (out.size() < bytes)
    for (char ch : words[size_t(pick(rng))])
      out.push_back(static_cast<unsigned char>(ch));
  out.resize(bytes);
  return out;
}

// A Hugging Face Mixtral folder (config.json + F32 model.safetensors) of `p`.
void write_checkpoint(const LmParams<float>& p, const fs::path& dir) {
  fs::create_directories(dir);
  io::SafetensorsWriter w;
  for (const auto& t : p.tensors())
    w.add(t.name, io::DType::F32, t.shape,
          std::span<const float>(p.buffer().data() + t.offset, t.size));
  w.write(dir / "model.safetensors");
  const LmConfig& c = p.config();
  nlohmann::json j = {{"model_type", "mixtral"},         {"architectures", {"MixtralForCausalLM"}},
                      {"vocab_size", c.vocab},           {"hidden_size", c.d_model},
                      {"intermediate_size", c.d_expert}, {"num_hidden_layers", c.layers},
                      {"num_attention_heads", c.heads},  {"num_key_value_heads", c.heads},
                      {"num_local_experts", c.experts},  {"num_experts_per_tok", c.top_k},
                      {"rms_norm_eps", c.norm_eps},      {"rope_theta", c.rope_theta},
                      {"tie_word_embeddings", false}};
  std::ofstream(dir / "config.json") << j.dump(2);
}

std::string scientific(double x) {
  std::ostringstream o;
  o << std::scientific << x;
  return o.str();
}

std::string peer_script() {
  // A path join rather than string +: GCC 12 reports a false -Wstringop-overflow for the latter.
  return (fs::path(ROUTERSCOPE_SOURCE_DIR) / "tests" / "peer" / "mixtral_peer.py").string();
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] == '{')
      out.push_back(nlohmann::json::parse(line));
  return out;
}

} // namespace

TEST(LmPeer, TwentyStepsMatchPyTorchForVanillaAndMpi) {
  const LmConfig c = peer_config();
  LmSettings s;
  s.variants = {"vanilla", "mpi"};
  s.steps = 20;
  s.batch = 4;
  s.adamw.lr = 3e-3;
  s.adamw.warmup_steps = 5;
  s.lb_alpha = 0.01;
  s.seed = 5;
  LmTrainer trainer(c, s, synthetic_text(20000, 1), synthetic_text(2000, 2));
  test::TempDir dir("lm_peer");
  write_checkpoint(trainer.params(0), dir / "init");
  {
    std::ofstream f(dir / "batches.bin", std::ios::binary);
    for (int step = 0; step < s.steps; ++step) {
      const LmBatch b = trainer.batch(step);
      f.write(reinterpret_cast<const char*>(b.inputs.data()), std::streamsize(b.inputs.size() * 4));
      f.write(reinterpret_cast<const char*>(b.targets.data()),
              std::streamsize(b.targets.size() * 4));
    }
  }
  std::vector<std::vector<LmVariantStep>> ours;
  for (int step = 0; step < s.steps; ++step)
    ours.push_back(trainer.step());
  for (int v = 0; v < 2; ++v) {
    const std::string name = s.variants[size_t(v)];
    SCOPED_TRACE(name);
    const auto r = test::run_shell(
        "/usr/bin/python3 " + peer_script() + " train --ckpt " + (dir / "init").string() +
        " --batches " + (dir / "batches.bin").string() + " --batch 4 --seq 32 --steps 20" +
        " --variant " + name + " --lr 0.003 --warmup 5 --total-steps 20 --lb-alpha 0.01" +
        " --c-prime 4 --power-steps 1 --threads 2 2>&1");
    ASSERT_EQ(r.exit_code, 0) << r.out;
    const auto peer = json_lines(r.out);
    ASSERT_EQ(peer.size(), size_t(s.steps)) << r.out;
    double worst = 0;
    for (int step = 0; step < s.steps; ++step) {
      const LmVariantStep& o = ours[size_t(step)][size_t(v)];
      const double pl = peer[size_t(step)]["loss"], plm = peer[size_t(step)]["lm"],
                   plb = peer[size_t(step)]["lb"];
      EXPECT_NEAR(o.loss, pl, 1e-4 * std::abs(pl)) << "step " << step;
      EXPECT_NEAR(o.lm_loss, plm, 1e-4 * std::abs(plm)) << "step " << step;
      EXPECT_NEAR(o.lb_loss, plb, 1e-4 * std::abs(plb)) << "step " << step;
      worst = std::max(worst, std::abs(o.loss - pl) / std::abs(pl));
    }
    RecordProperty("max_relative_loss_difference_" + name, scientific(worst));
    // The run must have learned something, or agreement would prove little.
    EXPECT_LT(ours.back()[size_t(v)].lm_loss, ours.front()[size_t(v)].lm_loss - 0.5);
  }
}

TEST(LmPeer, BitsPerByteOfASavedMpiModelMatchesPyTorch) {
  const LmConfig c = peer_config();
  LmSettings s;
  s.variants = {"mpi"};
  s.steps = 10;
  s.batch = 4;
  s.seed = 9;
  LmTrainer trainer(c, s, synthetic_text(20000, 3), {});
  for (int step = 0; step < s.steps; ++step)
    trainer.step();
  // Saved as it routes: gate.weight = R′, evaluated with plain (vanilla) routing on both sides.
  const LmParams<float> saved = trainer.routing_params(0);
  test::TempDir dir("lm_bpb");
  write_checkpoint(saved, dir / "ckpt");
  const std::vector<std::int32_t> text = synthetic_text(32 * 40 + 17, 4); // partial window at end
  {
    std::ofstream f(dir / "text.bin", std::ios::binary);
    for (std::int32_t b : text)
      f.put(char(b));
  }
  const double ours = lm_bits_per_token(saved, text, c.ctx, 2);
  const auto r = test::run_shell("/usr/bin/python3 " + peer_script() + " bpb --ckpt " +
                                 (dir / "ckpt").string() + " --data " +
                                 (dir / "text.bin").string() + " --ctx 32 --threads 2 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto peer = json_lines(r.out);
  ASSERT_EQ(peer.size(), 1u) << r.out;
  EXPECT_EQ(peer[0]["windows"], 40);
  EXPECT_NEAR(ours, double(peer[0]["bits_per_byte"]), 1e-4);
  RecordProperty("bits_per_byte_difference", scientific(ours - double(peer[0]["bits_per_byte"])));
}
