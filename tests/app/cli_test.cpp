// End-to-end tests of the routerscope executable: structure from `inspect`, numbers from `align`
// against an independent NumPy float64 SVD (tests/app/align_oracle.py), exit codes for bad input,
// and the command-line conventions (help, --version, choices and ranges, `-` for stdout, plain
// progress lines off a terminal, Hub repo ids, the demo note).
#include "tests/support/family_checkpoint.h"
#include "tests/support/hub_fixture.h"
#include "tests/support/test_support.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>

namespace routerscope::test {
namespace {

namespace fs = std::filesystem;

fs::path demo_dir() {
  return fs::path(ROUTERSCOPE_BINARY_DIR) / "assets" / "demo";
}

std::string run_python_oracle(const fs::path& safetensors) {
  if (!fs::exists("/usr/bin/python3"))
    return {};
  auto r = run_shell("/usr/bin/python3 " +
                     (fs::path(ROUTERSCOPE_SOURCE_DIR) / "tests/app/align_oracle.py").string() +
                     " " + safetensors.string() + " 2>&1");
  return r.exit_code == 0 ? r.out : "ERROR: " + r.out;
}

TEST(CliInspect, DemoStructureMatchesGenerator) {
  auto r = run_routerscope({"inspect", demo_dir().string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["family"], "olmoe");
  EXPECT_EQ(j["layout"], "per_expert");
  EXPECT_EQ(j["d_model"], 256);
  ASSERT_EQ(j["layers"].size(), 6u);
  for (int l = 0; l < 6; ++l) {
    const auto& lj = j["layers"][static_cast<size_t>(l)];
    EXPECT_EQ(lj["layer"], l);
    EXPECT_EQ(lj["moe"], true);
    EXPECT_EQ(lj["experts"], 16);
    EXPECT_EQ(lj["top_k"], 4);
    EXPECT_EQ(lj["d_expert"], 128);
    EXPECT_EQ(lj["shared_experts"], 0);
  }
}

TEST(CliAlign, DemoMatchesNumpyFloat64Svd) {
  std::string oracle_text = run_python_oracle(demo_dir() / "model.safetensors");
  if (oracle_text.empty() || oracle_text.rfind("ERROR", 0) == 0)
    FAIL() << "the NumPy oracle (/usr/bin/python3 with numpy) did not run: " << oracle_text;
  auto oracle = nlohmann::json::parse(oracle_text);
  for (std::string method : {"exact", "lanczos", "power"}) {
    auto r = run_routerscope({"align", demo_dir().string(), "--json", "--method", method});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["matrix"], "gate");
    ASSERT_EQ(j["layers"].size(), oracle.size());
    for (const auto& lj : j["layers"]) {
      const auto& ol = oracle[std::to_string(lj["layer"].get<int>())];
      ASSERT_EQ(lj["experts"].size(), ol.size());
      for (size_t e = 0; e < ol.size(); ++e) {
        const auto& x = lj["experts"][e];
        ASSERT_EQ(x["status"], "ok") << method << " layer " << lj["layer"] << " expert " << e;
        EXPECT_NEAR(x["cos"].get<double>(), ol[e]["cos"].get<double>(), 1e-4) << method;
        EXPECT_NEAR(x["lambda"].get<double>(), ol[e]["lambda"].get<double>(), 1e-4) << method;
        EXPECT_NEAR(x["sigma1"].get<double>(), ol[e]["sigma1"].get<double>(),
                    1e-4 * ol[e]["sigma1"].get<double>());
        EXPECT_NEAR(x["router_norm"].get<double>(), ol[e]["router_norm"].get<double>(), 1e-5);
      }
    }
  }
}

TEST(CliAlign, CsvHasOneRowPerExpertMatchingJson) {
  TempDir dir("csv");
  auto csv = dir / "a.csv";
  auto r = run_routerscope(
      {"align", demo_dir().string(), "--layers", "1,3", "--csv", csv.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["layers"].size(), 2u);
  EXPECT_EQ(j["layers"][0]["layer"], 1);
  EXPECT_EQ(j["layers"][1]["layer"], 3);
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "layer,expert,status,cos,lambda,sigma1,sigma2,gap_ratio,router_norm");
  int rows = 0;
  while (std::getline(in, line)) {
    int layer = std::stoi(line.substr(0, line.find(',')));
    size_t p1 = line.find(',') + 1;
    int expert = std::stoi(line.substr(p1, line.find(',', p1) - p1));
    size_t p3 = line.find(',', line.find(',', p1) + 1) + 1; // after status
    double cos = std::stod(line.substr(p3, line.find(',', p3) - p3));
    const auto& lj = j["layers"][layer == 1 ? 0 : 1];
    EXPECT_DOUBLE_EQ(cos, lj["experts"][static_cast<size_t>(expert)]["cos"].get<double>());
    ++rows;
  }
  EXPECT_EQ(rows, 32);
}

TEST(CliExitCodes, BadInputIsExitTwoWithMessage) {
  TempDir dir("bad");
  {
    std::ofstream f(dir / "junk.safetensors");
    f << "not a safetensors file";
  }
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  std::vector<Case> cases = {
      {{"inspect", (dir / "missing").string()}, "missing"},
      {{"inspect", (dir / "junk.safetensors").string()}, "junk.safetensors"},
      {{"align", demo_dir().string(), "--matrix", "sideways"}, "sideways"},
      {{"align", demo_dir().string(), "--method", "magic"}, "magic"},
      {{"align", demo_dir().string(), "--layers", "3-1"}, "3-1"},
      {{"align", demo_dir().string(), "--layers", "42"}, "42"},
      {{"align", demo_dir().string(), "--frobnicate"}, "frobnicate"},
      {{"nosuchcommand"}, "nosuchcommand"},
  };
  for (const auto& c : cases) {
    auto r = run_routerscope(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args[0] << " " << c.args[1] << ": " << r.err;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

TEST(CliDevice, CpuGivesTheDefaultAnswerAndEveryComputeCommandTakesTheOption) {
  const auto plain = run_routerscope({"align", demo_dir().string(), "--layers", "1", "--json"});
  const auto cpu =
      run_routerscope({"align", demo_dir().string(), "--layers", "1", "--json", "--device", "cpu"});
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  EXPECT_NE(cpu.err.find("align: device: cpu"), std::string::npos) << cpu.err;
  if (plain.err.find("device: cpu") != std::string::npos) { // auto fell back: same numbers
    EXPECT_EQ(cpu.out, plain.out);
  }
  std::vector<std::string> commands = {"align", "mpi", "train", "report"};
  if (run_routerscope({"help", "gui"}).exit_code == 0) // builds without the GUI have no `gui`
    commands.push_back("gui");
  for (const std::string& command : commands) {
    const auto r = run_routerscope({command, "--device", "tpu"});
    EXPECT_EQ(r.exit_code, 2) << command << ": " << r.err;
    EXPECT_NE(r.err.find("expected auto, cpu or cuda, got 'tpu'"), std::string::npos)
        << command << ": " << r.err;
  }
}

TEST(CliDevice, CudaWithoutAUsableGpuIsExitTwoSayingWhy) {
  const auto probe = run_routerscope({"align", demo_dir().string(), "--layers", "0"});
  ASSERT_EQ(probe.exit_code, 0) << probe.err;
  if (probe.err.find("device: cuda") != std::string::npos)
    GTEST_SKIP() << "this machine has a usable GPU (" << probe.err << ")";
  // auto says why it fell back to the CPU, on one line...
  EXPECT_NE(probe.err.find("align: device: cpu (no usable GPU: "), std::string::npos) << probe.err;
  // ...and cuda refuses with the same reason, exit code 2, nothing on stdout.
  const auto r = run_routerscope({"mpi", demo_dir().string(), "--device", "cuda"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--device cuda: no usable GPU: "), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(CliAlign, HfTinyFixturesAlignWithOracle) {
  const std::filesystem::path dir = hf_tiny_dir();
  TempDir tmp("mixtral");
  fs::copy_file(dir / "mixtral_classic.safetensors", tmp / "model.safetensors");
  fs::copy_file(dir / "mixtral_classic_config.json", tmp / "config.json");
  auto r = run_routerscope({"align", tmp.path().string(), "--json", "--method", "exact"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  auto oracle = nlohmann::json::parse(run_python_oracle(tmp / "model.safetensors"));
  ASSERT_EQ(j["layers"].size(), 2u);
  for (const auto& lj : j["layers"]) {
    const auto& ol = oracle[std::to_string(lj["layer"].get<int>())];
    for (size_t e = 0; e < ol.size(); ++e) {
      const auto& x = lj["experts"][e];
      if (x["status"] != "ok")
        continue; // random untrained weights may be (near-)degenerate; reported, not answered
      EXPECT_NEAR(x["cos"].get<double>(), ol[e]["cos"].get<double>(), 1e-4);
      EXPECT_NEAR(x["lambda"].get<double>(), ol[e]["lambda"].get<double>(), 1e-4);
    }
  }
  for (std::string f : {"qwen2_moe_layer0", "deepseek_full"}) {
    TempDir t2("fx");
    fs::copy_file(dir / (f + ".safetensors"), t2 / "model.safetensors");
    if (fs::exists(dir / (f + "_config.json")))
      fs::copy_file(dir / (f + "_config.json"), t2 / "config.json");
    auto r2 = run_routerscope({"align", t2.path().string(), "--json"});
    EXPECT_EQ(r2.exit_code, 0) << f << ": " << r2.err;
  }
}

// Runs routerscope through the shell with extra environment assignments ("A=1 B=2"); stdout and
// stderr are kept apart.
CommandResult run_with_env(const std::string& env, const std::vector<std::string>& args) {
  TempDir dir("env");
  std::string cmd = env + " " + shell_quote(routerscope_exe().string());
  for (const auto& a : args)
    cmd.append(" ").append(shell_quote(a));
  cmd.append(" 2>").append(shell_quote((dir / "err").string())).append(" </dev/null");
  CommandResult r = run_shell(cmd);
  r.err = read_text(dir / "err");
  return r;
}

std::vector<std::string> command_names() {
  const auto r = run_routerscope({"help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> names;
  std::istringstream in(r.out.substr(0, r.out.find("\n\n'routerscope help")));
  static const std::regex line(R"(^  ([a-z][a-z0-9-]*) +\S.*$)");
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (std::regex_match(l, m, line))
      names.push_back(m[1].str());
  }
  return names;
}

TEST(CliConventions, EveryCommandAnswersDashHHelpAndHelpCommandAlike) {
  const auto names = command_names();
  for (const std::string must : {"inspect", "align", "mpi", "train", "plot", "report",
                                 "export-router", "route", "pretrain", "lm-eval", "series"})
    EXPECT_NE(std::find(names.begin(), names.end(), must), names.end()) << must;
  for (const auto& name : names) {
    const auto a = run_routerscope({name, "-h"});
    const auto b = run_routerscope({name, "--help"});
    const auto c = run_routerscope({"help", name});
    EXPECT_EQ(a.exit_code, 0) << name << ": " << a.err;
    EXPECT_EQ(b.exit_code, 0) << name << ": " << b.err;
    EXPECT_EQ(c.exit_code, 0) << name << ": " << c.err;
    EXPECT_NE(a.out.find("routerscope " + name), std::string::npos) << a.out;
    EXPECT_EQ(a.out, b.out) << name;
    EXPECT_EQ(a.out, c.out) << name;
    // -h is help, never a PATH: nothing was opened, so nothing on stderr.
    EXPECT_TRUE(a.err.empty()) << name << ": " << a.err;
  }
  // Options of a CLI11 command are listed with their choices.
  const auto align = run_routerscope({"align", "-h"});
  for (const std::string o : {"--layers", "--matrix", "gate|up|down", "--csv", "--json", "--device",
                              "auto|cpu|cuda", "PATH"})
    EXPECT_NE(align.out.find(o), std::string::npos) << o << "\n" << align.out;
}

TEST(CliConventions, VersionIsCmakesProjectVersionEverywhere) {
  const std::string expected = ROUTERSCOPE_EXPECTED_VERSION;
  const auto v = run_routerscope({"--version"});
  ASSERT_EQ(v.exit_code, 0) << v.err;
  EXPECT_EQ(v.out, "routerscope " + expected + "\n");
  // JSON outputs.
  const auto inspect = run_routerscope({"inspect", demo_dir().string(), "--json"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_EQ(nlohmann::json::parse(inspect.out)["routerscope_version"], expected);
  // Run records, read back with h5py (an independent reader).
  TempDir dir("ver");
  const auto rec = dir / "run.h5";
  const auto mpi = run_routerscope(
      {"mpi", demo_dir().string(), "--layers", "0", "--steps", "1", "--record", rec.string()});
  ASSERT_EQ(mpi.exit_code, 0) << mpi.err;
  const auto py = run_shell("/usr/bin/python3 -c \"import h5py,sys; "
                            "a=h5py.File(sys.argv[1],'r').attrs['routerscope_version']; "
                            "print(a.decode() if isinstance(a, bytes) else a, end='')\" " +
                            shell_quote(rec.string()) + " 2>&1");
  ASSERT_EQ(py.exit_code, 0) << py.out;
  EXPECT_EQ(py.out, expected);
}

TEST(CliConventions, ParseErrorsAreExitTwoNamingTheOption) {
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> needles;
  };
  const std::string demo = demo_dir().string();
  const std::vector<Case> cases = {
      {{"mpi", demo, "--steps", "-1"}, {"--steps", "-1"}},
      {{"mpi", demo, "--steps", "many"}, {"--steps", "many"}},
      {{"mpi", demo, "--power-steps", "0"}, {"--power-steps"}},
      {{"mpi", demo, "--ablation", "half"}, {"--ablation", "half", "no-power"}},
      {{"train", demo, "--init", "sometimes"}, {"--init", "sometimes", "checkpoint|random"}},
      {{"train", demo, "--gate-order", "sideways"}, {"--gate-order", "sideways"}},
      {{"train", demo, "--batch", "0"}, {"--batch"}},
      {{"plot", demo}, {"--out"}},
      {{"plot", demo, "--out", "x.png", "--size", "poster"}, {"--size", "poster"}},
      {{"plot", demo, "--out", "x.png", "--dpi", "5"}, {"--dpi"}},
      {{"export-router", demo}, {"--out"}},
      {{"report", demo, "--out", "r", "--steps", "0"}, {"--steps"}},
      {{"align", demo, demo}, {demo}},
      {{"align", demo, "--threads"}, {"--threads"}},
      {{"inspect", "--jsn"}, {"--jsn"}},
      {{"route", demo, "--layer", "1"}, {"--tokens"}},
      {{"route", demo, "--tokens", "t.h5", "--layer", "-2"}, {"--layer", "-2"}},
      {{"route", demo, "--tokens", "t.h5", "--router", "best"}, {"--router", "checkpoint|mpi"}},
      {{"route", demo, "--tokens", "t.h5", "--c-prime", "-1"}, {"--c-prime"}},
      {{"pretrain", "--steps", "0"}, {"--steps"}},
      {{"pretrain", "--eval-every", "often"}, {"--eval-every", "often"}},
      {{"pretrain", "--bogus"}, {"--bogus"}},
      {{"pretrain", "extra"}, {"extra"}},
      {{"lm-eval"}, {"CKPT"}},
      {{"lm-eval", demo, "--ctx", "1"}, {"--ctx"}},
      {{"lm-eval", demo, "--threads", "0"}, {"--threads"}},
      {{"series"}, {"PATH"}},
      {{"series", demo, "--matrix", "diag"}, {"--matrix", "diag"}},
      {{"series", demo, "--method", "svd"}, {"--method", "svd"}},
      {{"series", demo, "--layers", "0", "--bogus"}, {"--bogus"}},
      {{"series", demo, "--tokens", "missing.h5"}, {"missing.h5"}},
      {{"series", demo, "--layers", "99"}, {"99"}},
  };
  for (const auto& c : cases) {
    const auto r = run_routerscope(c.args);
    std::string what;
    for (const auto& a : c.args)
      what += a + " ";
    EXPECT_EQ(r.exit_code, 2) << what << ": " << r.err;
    for (const auto& n : c.needles)
      EXPECT_NE(r.err.find(n), std::string::npos) << what << ": '" << n << "' in " << r.err;
    EXPECT_TRUE(r.out.empty()) << what << ": " << r.out;
  }
}

TEST(CliConventions, DashWritesTheCsvToStdoutExactlyAsToAFile) {
  TempDir dir("dash");
  const auto file = dir / "a.csv";
  const auto to_file =
      run_routerscope({"align", demo_dir().string(), "--layers", "2", "--csv", file.string()});
  ASSERT_EQ(to_file.exit_code, 0) << to_file.err;
  const auto to_stdout =
      run_routerscope({"align", demo_dir().string(), "--layers", "2", "--csv", "-"});
  ASSERT_EQ(to_stdout.exit_code, 0) << to_stdout.err;
  EXPECT_EQ(to_stdout.out, read_text(file)); // only the CSV: no table mixed in
  EXPECT_FALSE(fs::exists("-"));
  // plot: the figure's CSV.
  const auto png = dir / "h.png";
  const auto plot_file =
      run_routerscope({"plot", demo_dir().string(), "--figure", "heatmap", "--out", png.string()});
  ASSERT_EQ(plot_file.exit_code, 0) << plot_file.err;
  const auto plot_dash = run_routerscope(
      {"plot", demo_dir().string(), "--figure", "heatmap", "--out", png.string(), "--csv", "-"});
  ASSERT_EQ(plot_dash.exit_code, 0) << plot_dash.err;
  EXPECT_EQ(plot_dash.out, read_text(dir / "h.csv"));
  // --json and --csv - would both claim stdout.
  const auto both = run_routerscope({"align", demo_dir().string(), "--json", "--csv", "-"});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_NE(both.err.find("--csv"), std::string::npos) << both.err;
}

TEST(CliConventions, ProgressOffATerminalIsPlainLinesEndingAtOneHundredPercent) {
  // Stderr is a file here, as in a batch job's log.
  const auto r = run_with_env("ROUTERSCOPE_PROGRESS_SECONDS=0",
                              {"mpi", demo_dir().string(), "--layers", "0-1", "--steps", "8"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\033'), std::string::npos) << r.err;
  static const std::regex line(R"(^mpi: +([0-9]+)% .*$)");
  std::istringstream in(r.err);
  std::vector<int> percents;
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (std::regex_match(l, m, line))
      percents.push_back(std::stoi(m[1].str()));
  }
  ASSERT_GE(percents.size(), 3u) << r.err; // with no minimum interval: a line per new percent
  EXPECT_TRUE(std::is_sorted(percents.begin(), percents.end())) << r.err;
  EXPECT_EQ(percents.back(), 100) << r.err;
  // With the default interval (10 s) a short run still logs its first and last line.
  const auto quiet = run_routerscope({"mpi", demo_dir().string(), "--layers", "0", "--steps", "2"});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_NE(quiet.err.find("mpi: 100%"), std::string::npos) << quiet.err;
}

TEST(CliConventions, MissingPathUsesTheDemoAndSaysSo) {
  const auto r = run_routerscope({"inspect", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(fs::canonical(j["path"].get<std::string>()), fs::canonical(demo_dir()));
  EXPECT_NE(r.err.find("inspect: no PATH given, using the bundled demo checkpoint"),
            std::string::npos)
      << r.err;
  const auto given = run_routerscope({"inspect", demo_dir().string(), "--json"});
  EXPECT_TRUE(given.err.empty()) << given.err;
}

TEST(CliJson, MpiSummaryMatchesTheNumpyOracleAtStepZero) {
  const std::string oracle_text = run_python_oracle(demo_dir() / "model.safetensors");
  ASSERT_FALSE(oracle_text.empty() || oracle_text.rfind("ERROR", 0) == 0) << oracle_text;
  const auto oracle = nlohmann::json::parse(oracle_text);
  const auto r = run_routerscope({"mpi", demo_dir().string(), "--layers", "1,4", "--steps", "3",
                                  "--method", "exact", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["routerscope_version"], ROUTERSCOPE_EXPECTED_VERSION);
  ASSERT_EQ(j["layers"].size(), 2u);
  for (const auto& l : j["layers"]) {
    const auto& ol = oracle[std::to_string(l["layer"].get<int>())];
    double cos = 0, lambda = 0;
    for (const auto& e : ol) {
      cos += e["cos"].get<double>();
      lambda += e["lambda"].get<double>();
    }
    EXPECT_EQ(l["experts"], ol.size());
    EXPECT_EQ(l["steps"], 3);
    EXPECT_NEAR(l["cos_mean_first"].get<double>(), cos / double(ol.size()), 1e-4);
    EXPECT_NEAR(l["lambda_mean_first"].get<double>(), lambda / double(ol.size()), 1e-4);
    // MPI moves every router towards u1 (the paper's convergence result).
    EXPECT_GT(l["cos_mean_last"].get<double>(), l["cos_mean_first"].get<double>());
  }
}

TEST(CliJson, TrainSummaryIsTheRecordsLastStep) {
  TempDir dir("trainjson");
  const auto rec = dir / "t.h5";
  const auto r =
      run_routerscope({"train", demo_dir().string(), "--steps", "5", "--batch", "64", "--pool",
                       "256", "--held-out", "64", "--record", rec.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["routerscope_version"], ROUTERSCOPE_EXPECTED_VERSION);
  EXPECT_EQ(j["steps_done"], 5);
  ASSERT_EQ(j["variants"].size(), 2u);
  // h5py reads the loss of the last step of every variant from the record.
  const auto py =
      run_shell("/usr/bin/python3 -c \"import h5py,sys,json; f=h5py.File(sys.argv[1],'r'); "
                "out={}\nfor k in f['variants']: out[k]=float(f['variants'][k]['loss'][-1])\n"
                "print(json.dumps(out))\" " +
                shell_quote(rec.string()) + " 2>&1");
  ASSERT_EQ(py.exit_code, 0) << py.out;
  const auto losses = nlohmann::json::parse(py.out);
  for (const auto& v : j["variants"]) {
    const std::string name = v["variant"];
    ASSERT_TRUE(losses.contains(name)) << py.out;
    EXPECT_NEAR(v["loss"].get<double>(), losses[name].get<double>(),
                1e-6 * std::abs(losses[name].get<double>()));
  }
}

TEST(CliHub, RepoIdOpensTheCachedSnapshotLikeItsFolder) {
  TempDir dir("clihub");
  const fs::path cache = dir / "hub";
  const fs::path snapshot = add_hub_snapshot(
      cache, "routerscope/demo-moe", "0123456789abcdef0123456789abcdef01234567", demo_dir());
  const std::string env = "HF_HUB_CACHE=" + shell_quote(cache.string()) +
                          " HF_HOME= XDG_CACHE_HOME= HOME=" + shell_quote((dir / "home").string());
  const auto by_id = run_with_env(env, {"inspect", "routerscope/demo-moe", "--json"});
  ASSERT_EQ(by_id.exit_code, 0) << by_id.err;
  const auto direct = run_routerscope({"inspect", demo_dir().string(), "--json"});
  ASSERT_EQ(direct.exit_code, 0) << direct.err;
  auto a = nlohmann::json::parse(by_id.out), b = nlohmann::json::parse(direct.out);
  EXPECT_EQ(fs::path(a["path"].get<std::string>()), snapshot);
  a.erase("path");
  b.erase("path");
  EXPECT_EQ(a, b); // the same checkpoint, read through the cache's symlinks
  // The models--… folder itself, and align on a repo id with a revision.
  const auto folder =
      run_with_env(env, {"inspect", (cache / "models--routerscope--demo-moe").string(), "--json"});
  ASSERT_EQ(folder.exit_code, 0) << folder.err;
  EXPECT_EQ(fs::path(nlohmann::json::parse(folder.out)["path"].get<std::string>()), snapshot);
  const auto align =
      run_with_env(env, {"align", "routerscope/demo-moe@main", "--layers", "0", "--json"});
  ASSERT_EQ(align.exit_code, 0) << align.err;
  // Not in the cache: exit 2 naming where it looked, nothing on stdout.
  const auto missing = run_with_env(env, {"align", "allenai/OLMoE-1B-7B-0924"});
  EXPECT_EQ(missing.exit_code, 2) << missing.err;
  EXPECT_NE(missing.err.find((cache / "models--allenai--OLMoE-1B-7B-0924").string()),
            std::string::npos)
      << missing.err;
  EXPECT_NE(missing.err.find((dir / "home/.cache/huggingface/hub").string()), std::string::npos)
      << missing.err;
  EXPECT_TRUE(missing.out.empty()) << missing.out;
}

TEST(CliInterrupt, CtrlCDuringReportIsExit130WithTheRecordReadable) {
  TempDir dir("sigint");
  const fs::path out = dir / "report", err = dir / "err";
  // Ctrl-C once the MPI stage runs (its stage line is on stderr), as a user would press it.
  const std::string script =
      shell_quote(routerscope_exe().string()) + " report " + shell_quote(demo_dir().string()) +
      " --out " + shell_quote(out.string()) + " --steps 100000 --device cpu 2>" +
      shell_quote(err.string()) +
      " >/dev/null & pid=$!; for i in $(seq 600); do grep -qE 'mpi: +[0-9]+%' " +
      shell_quote(err.string()) + " && break; sleep 0.1; done; kill -INT $pid; wait $pid; echo $?";
  const auto r = run_shell("bash -c " + shell_quote(script));
  EXPECT_EQ(r.out, "130\n") << read_text(err);
  EXPECT_NE(read_text(err).find("interrupted"), std::string::npos) << read_text(err);
  const auto py = run_shell("/usr/bin/python3 -c \"import h5py,sys; f=h5py.File(sys.argv[1],'r'); "
                            "print(f['layers/0/cos'].shape[0] >= 1, end='')\" " +
                            shell_quote((out / "convergence.h5").string()) + " 2>&1");
  EXPECT_EQ(py.out, "True");
}

// Finding 6 end to end: another process truncates the checkpoint while `align` reads its memory
// map. As soon as the file shows in the child's /proc/PID/maps (opened, experts not yet all
// decoded) the child is put at the lowest priority and the file is cut to its header: the next
// expert read faults, and that must be exit 2 naming the file, not a SIGBUS. An attempt where the
// child had already read everything (exit 0) did not test the fault and is repeated.
TEST(CliFaults, CheckpointTruncatedWhileAlignReadsItIsExitTwo) {
  TempDir dir("trunc");
  FamilySpec spec;
  spec.family = "mixtral";
  spec.dtype = io::DType::BF16;
  spec.layers = 6;
  spec.experts = 16;
  spec.d_model = 128;
  spec.d_expert = 256;
  const fs::path file = dir / "model.safetensors";
  for (int attempt = 0; attempt < 3; ++attempt) {
    write_family_checkpoint(dir.path(), spec);
    std::uint64_t header = 0;
    {
      std::ifstream in(file, std::ios::binary);
      unsigned char b[8] = {};
      in.read(reinterpret_cast<char*>(b), 8);
      for (int i = 7; i >= 0; --i)
        header = (header << 8) | b[i];
    }
    const auto r = run_routerscope({"align", dir.path().string(), "--device", "cpu"}, [&](int pid) {
      ::setpriority(PRIO_PROCESS, id_t(pid), 19);
      const std::string maps = "/proc/" + std::to_string(pid) + "/maps";
      for (;;) {
        const std::string m = read_text(maps);
        if (m.empty() || m.find(file.string()) != std::string::npos)
          break; // mapped (or already gone)
        ::usleep(500);
      }
      fs::resize_file(file, 8 + header);
    });
    if (r.exit_code == 0)
      continue;
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(file.string()), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("bus error"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
    return;
  }
  FAIL() << "align read the whole checkpoint before it was truncated, three times";
}

} // namespace
} // namespace routerscope::test
