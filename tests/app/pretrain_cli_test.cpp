// `routerscope pretrain` and `lm-eval` end to end: bad input is exit 2 naming the argument or file
// with nothing written; the record and the saved checkpoints agree with a NumPy/h5py
// re-computation; transformers' names open in `inspect`/`align`; Ctrl-C and --resume.
#include "io/pretrain_record.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace routerscope {
namespace {

namespace fs = std::filesystem;

// A tiny model: seconds per run on 2 cores.
const std::vector<std::string> kTiny = {"--d-model", "16", "--layers", "2", "--heads",    "2",
                                        "--experts", "4",  "--top-k",  "2", "--d-expert", "16",
                                        "--ctx",     "16", "--batch",  "4"};

std::vector<std::string> args(std::vector<std::string> a, const std::vector<std::string>& more) {
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

// A text corpus: the first `bytes` bytes of the default fortunes corpus's first file.
fs::path corpus(const test::TempDir& dir, std::size_t bytes = 20000) {
  std::ifstream in("/usr/share/games/fortunes/art", std::ios::binary);
  std::string text(bytes, '\0');
  in.read(text.data(), std::streamsize(bytes));
  EXPECT_EQ(std::size_t(in.gcount()), bytes) << "the fortunes package is required";
  const fs::path p = dir / "corpus.txt";
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

// Single-quoted for the shell (appended piecewise: GCC 12 warns spuriously on "'" + string).
std::string q(const fs::path& p) {
  std::string s(1, '\'');
  s += p.string();
  s += '\'';
  return s;
}

TEST(PretrainCommand, BadInputIsExitTwoNamingTheArgumentAndWritesNothing) {
  test::TempDir dir("bad");
  const fs::path text = corpus(dir);
  std::ofstream(dir / "empty.txt").flush();
  std::ofstream(dir / "short.txt") << "0123456789";
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> needles;
  };
  const std::vector<Case> cases = {
      {{"--corpus", (dir / "missing.txt").string()}, {"--corpus", "missing.txt"}},
      {{"--corpus", (dir / "empty.txt").string()}, {"empty.txt", "empty"}},
      {{"--corpus", (dir / "short.txt").string()}, {"short.txt", "ctx + 1 = 17"}},
      {{"--corpus", text.string(), "--heads", "3"}, {"--heads", "3"}},
      {{"--corpus", text.string(), "--top-k", "5"}, {"--top-k", "5"}},
      {{"--corpus", text.string(), "--variants", "vanilla,mpx"}, {"mpx"}},
      {{"--tokens", (dir / "missing.bin").string(), "--vocab", "300"}, {"missing.bin"}},
      {{"--resume", (dir / "nowhere").string(), "--corpus", text.string()},
       {"--resume", "nowhere"}},
  };
  for (const auto& c : cases) {
    const fs::path rec = dir / "run.h5", save = dir / "save";
    auto r = test::run_routerscope(
        args(args(args({"pretrain"}, kTiny), c.args),
             {"--steps", "2", "--record", rec.string(), "--save", save.string()}));
    EXPECT_EQ(r.exit_code, 2) << c.args.front() << ": " << r.err;
    for (const auto& n : c.needles)
      EXPECT_NE(r.err.find(n), std::string::npos) << "stderr '" << r.err << "' lacks '" << n << "'";
    EXPECT_FALSE(fs::exists(rec)) << c.args.front();
    EXPECT_FALSE(fs::exists(save)) << c.args.front();
  }
}

TEST(PretrainCommand, RecordAndCheckpointsMatchNumpyRecomputation) {
  test::TempDir dir("rec");
  const fs::path rec = dir / "run.h5", save = dir / "save";
  // lr 1e-30: every update rounds away in float, so the saved checkpoint is what every row
  // describes.
  auto r = test::run_routerscope(
      args(args({"pretrain", "--corpus", corpus(dir).string()}, kTiny),
           {"--steps", "5", "--lr", "1e-30", "--eval-every", "2", "--align-every", "3", "--record",
            rec.string(), "--save", save.string()}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto py =
      test::run_shell("/usr/bin/python3 " ROUTERSCOPE_SOURCE_DIR "/tests/app/pretrain_oracle.py " +
                      q(rec) + " " + q(save) + " 4 16 2 4 2>&1");
  EXPECT_EQ(py.exit_code, 0) << py.out;
  EXPECT_EQ(py.out, "ok\n");
}

TEST(PretrainCommand, SavedCheckpointOpensInInspectAndAlignWithTransformersNames) {
  test::TempDir dir("ckpt");
  const fs::path save = dir / "save";
  auto r = test::run_routerscope(args(args({"pretrain", "--corpus", corpus(dir).string()}, kTiny),
                                      {"--steps", "3", "--save", save.string()}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* variant : {"vanilla", "mpi"}) {
    const fs::path folder = save / variant;
    const auto names = test::run_shell("/usr/bin/python3 " ROUTERSCOPE_SOURCE_DIR
                                       "/tests/io/mixtral_layout_oracle.py " +
                                       q(folder) + " 2>&1");
    EXPECT_EQ(names.out, "ok 41\n") << variant; // 1 + 2 × (7 + 3·4) + 2
    auto inspect = test::run_routerscope({"inspect", folder.string(), "--json"});
    ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
    const auto j = nlohmann::json::parse(inspect.out);
    EXPECT_EQ(j["family"], "mixtral") << inspect.out;
    EXPECT_EQ(j["d_model"], 16) << inspect.out;
    auto align = test::run_routerscope({"align", folder.string(), "--json"});
    EXPECT_EQ(align.exit_code, 0) << align.err;
  }
}

TEST(PretrainCommand, ResumeFromAnotherConfigurationNamesWhatDiffers) {
  test::TempDir dir("resume");
  const fs::path text = corpus(dir), save = dir / "save";
  auto r = test::run_routerscope(args(args({"pretrain", "--corpus", text.string()}, kTiny),
                                      {"--steps", "2", "--save", save.string()}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto other = test::run_routerscope(args(args({"pretrain", "--corpus", text.string()}, kTiny),
                                          {"--experts", "8", "--steps", "4", "--resume",
                                           save.string(), "--record", (dir / "r.h5").string()}));
  EXPECT_EQ(other.exit_code, 2) << other.err;
  EXPECT_NE(other.err.find("--experts 4 vs 8"), std::string::npos) << other.err;
  EXPECT_FALSE(fs::exists(dir / "r.h5"));
  auto seed =
      test::run_routerscope(args(args({"pretrain", "--corpus", text.string()}, kTiny),
                                 {"--seed", "1", "--steps", "2", "--resume", save.string()}));
  EXPECT_EQ(seed.exit_code, 2) << seed.err;
  EXPECT_NE(seed.err.find("seed 0 vs 1"), std::string::npos) << seed.err;
}

TEST(PretrainCommand, NonFiniteLossStopsNamingStepVariantAndLayerKeepingCompleteSteps) {
  test::TempDir dir("nan");
  const fs::path rec = dir / "run.h5";
  // lr 1e30: the first update throws the weights to ~1e30 and the next forward pass overflows.
  auto r = test::run_routerscope(
      args(args({"pretrain", "--corpus", corpus(dir).string()}, kTiny),
           {"--steps", "6", "--warmup", "0", "--lr", "1e30", "--record", rec.string()}));
  ASSERT_EQ(r.exit_code, 2) << r.err;
  for (const char* needle : {"step ", "variant ", "layer "})
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  const auto at = r.err.find("step ");
  ASSERT_NE(at, std::string::npos);
  const int failed = std::stoi(r.err.substr(at + 5));
  const auto series = io::pretrain_series(io::read_run_record(rec), rec.string());
  ASSERT_EQ(series.size(), 2u);
  // Every step before the failing one is complete for the variants that finished it.
  EXPECT_GE(series[0].steps(), failed);
  EXPECT_LE(series[0].steps(), failed + 1);
  for (Eigen::Index s = 0; s < series[0].steps(); ++s)
    EXPECT_TRUE(std::isfinite(series[0].scalars.at("loss")(s)));
}

TEST(PretrainCommand, CtrlCExitsWith130AndAReadableRecord) {
  test::TempDir dir("int");
  const fs::path rec = dir / "run.h5";
  std::string cmd = q(test::routerscope_exe()) + " pretrain --corpus " + q(corpus(dir));
  for (const auto& a : kTiny)
    cmd += " " + a;
  // Interrupt once the record holds a committed step (polled while the run writes it, in SWMR
  // mode: no timing assumption), then wait.
  cmd += " --steps 100000 --record " + q(rec) + " >/dev/null 2>&1 & pid=$!; " +
         "for i in $(seq 600); do /usr/bin/python3 -c \"import h5py, json, sys; " +
         "c = h5py.File(sys.argv[1], 'r', swmr=True, locking=False)['committed_rows']; " +
         "n = dict(zip(json.loads(c.attrs['series']), c[1:-1])); " +
         "sys.exit(0 if n['variants/mpi/step'] > 1 else 1)\" " + q(rec) +
         " 2>/dev/null && break; sleep 0.1; done; kill -INT $pid; wait $pid; echo $?";
  const auto r = test::run_shell(cmd);
  EXPECT_EQ(r.out, "130\n");
  const auto series = io::pretrain_series(io::read_run_record(rec), rec.string());
  ASSERT_EQ(series.size(), 2u);
  EXPECT_GE(series[1].steps(), 1);
  EXPECT_LT(series[1].steps(), 100000);
}

TEST(LmEvalCommand, CtrlCExitsWith130AndPrintsNoResult) {
  test::TempDir dir("evalint");
  const fs::path save = dir / "save", err = dir / "err", big = dir / "big.txt";
  auto r = test::run_routerscope(
      args(args({"pretrain", "--corpus", corpus(dir).string()}, kTiny),
           {"--variants", "vanilla", "--steps", "1", "--save", save.string()}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  { // 64 MB: far more windows than one batch takes, so the interrupt lands mid-evaluation
    std::ofstream out(big, std::ios::binary);
    const std::string block(1 << 20, 'a');
    for (int i = 0; i < 64; ++i)
      out << block;
  }
  // Interrupt once the progress line shows evaluation has started (stderr is not a terminal:
  // the first plain progress line is printed at once), then wait.
  const std::string cmd = q(test::routerscope_exe()) + " lm-eval " + q(save / "vanilla") +
                          " --corpus " + q(big) + " --ctx 16 --json 2>" + q(err) + " >" +
                          q(dir / "out") +
                          " & pid=$!; for i in $(seq 600); do grep -q 'lm-eval:' " + q(err) +
                          " && break; sleep 0.1; done; kill -INT $pid; wait $pid; echo $?";
  const auto run = test::run_shell("bash -c " + test::shell_quote(cmd));
  EXPECT_EQ(run.out, "130\n") << test::read_text(err);
  EXPECT_NE(test::read_text(err).find("interrupted"), std::string::npos) << test::read_text(err);
  EXPECT_EQ(test::read_text(dir / "out"), ""); // no partial result on stdout
}

TEST(LmEvalCommand, AgreesWithThePyTorchPeerOnASavedCheckpoint) {
  test::TempDir dir("eval");
  const fs::path text = corpus(dir), save = dir / "save";
  auto r = test::run_routerscope(args(args({"pretrain", "--corpus", text.string()}, kTiny),
                                      {"--steps", "30", "--save", save.string()}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // A file whose length is not a multiple of the window: the partial window is dropped.
  const fs::path data = corpus(dir, 3000);
  for (const char* variant : {"vanilla", "mpi"}) {
    auto mine = test::run_routerscope(
        {"lm-eval", (save / variant).string(), "--corpus", data.string(), "--ctx", "16", "--json"});
    ASSERT_EQ(mine.exit_code, 0) << mine.err;
    const auto j = nlohmann::json::parse(mine.out);
    EXPECT_EQ("routerscope " + j["routerscope_version"].get<std::string>() + "\n",
              test::run_routerscope({"--version"}).out);
    EXPECT_EQ(j["windows"], 3000 / 16);
    EXPECT_EQ(j["predictions"], (3000 / 16) * 15);
    const auto peer = test::run_shell("/usr/bin/python3 " ROUTERSCOPE_SOURCE_DIR
                                      "/tests/peer/mixtral_peer.py bpb --ckpt " +
                                      q(save / variant) + " --data " + q(data) + " --ctx 16");
    ASSERT_EQ(peer.exit_code, 0) << peer.out << peer.err;
    const auto p = nlohmann::json::parse(peer.out);
    EXPECT_EQ(p["windows"], 3000 / 16);
    EXPECT_NEAR(j["bits_per_byte"].get<double>(), p["bits_per_byte"].get<double>(), 1e-4)
        << variant;
  }
}

} // namespace
} // namespace routerscope
