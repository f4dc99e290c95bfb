// Training behaviour of the pretraining engine: it learns real text (validation bits per byte
// below the corpus's unigram entropy), is deterministic, resumes exactly, and stops on bad input
// or non-finite values with an error that names where.
#include "core/error.h"
#include "core/lm/lm_trainer.h"
#include "tests/core/lm_test_config.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>

using namespace routerscope;
using namespace routerscope::lm;
namespace fs = std::filesystem;

namespace {

LmConfig small_config() {
  return test::small_lm_config(64);
}

// English text of Debian's fortunes package (installed by scripts/setup.sh), files in name order.
std::vector<std::int32_t> fortunes_text(size_t limit) {
  const fs::path dir = "/usr/share/games/fortunes";
  std::vector<fs::path> files;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && !e.path().has_extension())
        files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<std::int32_t> out;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    for (std::istreambuf_iterator<char> it(in), end; it != end && out.size() < limit; ++it)
      out.push_back(static_cast<unsigned char>(*it));
  }
  return out;
}

double unigram_entropy_bits(const std::vector<std::int32_t>& bytes) {
  std::vector<double> count(256, 0.0);
  for (auto b : bytes)
    count[size_t(b)] += 1;
  double h = 0;
  for (double n : count)
    if (n > 0) {
      const double p = n / double(bytes.size());
      h -= p * std::log2(p);
    }
  return h;
}

std::vector<std::int32_t> ramp(size_t n) {
  std::vector<std::int32_t> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = std::int32_t((i * 7 + i / 13) % 256);
  return v;
}

} // namespace

TEST(LmTraining, ShortRunOnFortunesBeatsUnigramEntropy) {
  const std::vector<std::int32_t> text = fortunes_text(400000);
  ASSERT_GT(text.size(), 100000u) << "the fortunes package's text is missing (scripts/setup.sh)";
  const size_t split = text.size() - text.size() / 20;
  std::vector<std::int32_t> train(text.begin(), text.begin() + long(split));
  std::vector<std::int32_t> val(text.begin() + long(split), text.end());
  LmSettings s;
  s.variants = {"vanilla", "mpi"};
  s.steps = 150;
  s.batch = 8;
  s.adamw.warmup_steps = 10;
  s.eval_windows = 64;
  LmTrainer trainer(small_config(), s, train, val);
  const double entropy = unigram_entropy_bits(train);
  const auto before = trainer.evaluate();
  for (int step = 0; step < s.steps; ++step)
    trainer.step();
  const auto after = trainer.evaluate();
  for (size_t v = 0; v < after.size(); ++v) {
    SCOPED_TRACE(after[v].name);
    EXPECT_GT(before[v].bits_per_token, 7.5); // untrained: close to log2(256) = 8
    EXPECT_LT(after[v].bits_per_token, entropy - 0.3) << "unigram entropy " << entropy;
    ASSERT_EQ(after[v].layers.size(), 2u);
    EXPECT_EQ(after[v].layers[0].load.sum(), 64.0 * 63 * 2); // windows × predictions × top-k
  }
}

TEST(LmTraining, SameSeedSameNumbersAndResumeContinuesExactly) {
  LmSettings s;
  s.variants = {"vanilla", "mpi"};
  s.steps = 8;
  s.batch = 2;
  const LmConfig c = small_config();
  LmTrainer a(c, s, ramp(5000), ramp(700));
  LmTrainer b(c, s, ramp(5000), ramp(700));
  LmTrainer resumed(c, s, ramp(5000), ramp(700));
  for (int step = 0; step < 4; ++step) {
    const auto x = a.step(), y = b.step();
    for (size_t v = 0; v < x.size(); ++v)
      EXPECT_EQ(x[v].loss, y[v].loss);
  }
  resumed.import_state(a.export_state());
  EXPECT_EQ(resumed.step_index(), 4);
  for (int step = 4; step < 8; ++step) {
    const auto x = a.step(), y = resumed.step();
    for (size_t v = 0; v < x.size(); ++v) {
      EXPECT_EQ(x[v].loss, y[v].loss) << "step " << step;
      EXPECT_EQ(x[v].grad_norm, y[v].grad_norm);
    }
  }
  EXPECT_EQ(a.params(1).buffer(), resumed.params(1).buffer());
  // Another configuration's state is refused, naming the option.
  LmConfig other = c;
  other.experts = 8;
  LmTrainer o(other, s, ramp(5000), ramp(700));
  EXPECT_NE(test::bad_input_message([&] { o.import_state(a.export_state()); }).find("--experts"),
            std::string::npos);
}

TEST(LmTraining, StatisticsAreConsistentWithTheirDefinitions) {
  LmSettings s;
  s.variants = {"vanilla", "mpi"};
  s.batch = 2;
  LmTrainer t(small_config(), s, ramp(5000), ramp(700));
  const auto st = t.step();
  for (const auto& v : st) {
    SCOPED_TRACE(v.name);
    EXPECT_NEAR(v.loss, v.lm_loss + s.lb_alpha * v.lb_loss, 1e-9);
    for (const auto& l : v.layers) {
      EXPECT_EQ(l.load.sum(), 2.0 * 64 * 2);
      const double mean = l.load.mean();
      EXPECT_NEAR(l.maxvio_batch, (l.load.maxCoeff() - mean) / mean, 1e-12);
    }
  }
  // MPI routes with rows of norm C′/√N = 4/2; vanilla's routing rows are its stored rows.
  for (double n : st[1].layers[0].routing_norm)
    EXPECT_NEAR(n, 2.0, 1e-5);
  EXPECT_EQ(st[0].layers[0].routing_norm, st[0].layers[0].raw_norm);
  const auto al = t.alignment();
  for (const auto& v : al)
    for (const auto& l : v.layers)
      for (int e = 0; e < 4; ++e) {
        EXPECT_GE(l.lambda(e), 0.0);
        EXPECT_LE(l.lambda(e), 1.0 + 1e-6);
        EXPECT_LE(l.cos(e), 1.0 + 1e-6);
      }
  // One power step pulls the routing rows toward u₁: MPI's λ beats its own stored rows'.
  EXPECT_GT(al[1].layers[0].mean_lambda, al[1].layers[0].stored_lambda.mean() + 0.05);
}

TEST(LmTraining, BadInputNamesTheArgument) {
  LmSettings s;
  EXPECT_NE(test::bad_input_message([&] {
              LmTrainer(small_config(), s, ramp(64), {});
            }).find("--ctx + 1"),
            std::string::npos);
  LmConfig c = small_config();
  c.heads = 5;
  EXPECT_NE(test::bad_input_message([&] { LmTrainer(c, s, ramp(5000), {}); }).find("--heads"),
            std::string::npos);
  s.variants = {"vanilla", "bogus"};
  EXPECT_NE(
      test::bad_input_message([&] { LmTrainer(small_config(), s, ramp(5000), {}); }).find("bogus"),
      std::string::npos);
  LmSettings ok;
  LmTrainer t(small_config(), ok, ramp(5000), {});
  EXPECT_NE(test::bad_input_message([&] { t.evaluate(); }).find("evaluation data"),
            std::string::npos);
  EXPECT_NE(test::bad_input_message([&] {
              lm_bits_per_token(t.params(0), ramp(10), 64, 1);
            }).find("--ctx"),
            std::string::npos);
}

TEST(LmTraining, NonFiniteValueStopsNamingStepVariantAndLayer) {
  LmSettings s;
  s.variants = {"vanilla", "mpi"};
  s.batch = 2;
  LmTrainer t(small_config(), s, ramp(5000), {});
  t.step();
  LmTrainerState st = t.export_state();
  const LmParams<float>& p = t.params(1);
  const auto& q = p.tensors()[size_t(p.slots().layers[1].q)];
  st.variants[1].params[q.offset + 3] = std::numeric_limits<float>::quiet_NaN();
  t.import_state(st);
  const std::string msg = test::bad_input_message([&] { t.step(); });
  EXPECT_NE(msg.find("step 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("variant mpi"), std::string::npos) << msg;
  EXPECT_NE(msg.find("layer 1"), std::string::npos) << msg;
  EXPECT_EQ(t.step_index(), 1); // nothing was applied
}
