// End-to-end tests of the routerscope executable: structure from `inspect`, numbers from `align`
// against an independent NumPy float64 SVD (tests/app/align_oracle.py), exit codes for bad input.
#include "tests/support/test_support.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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

} // namespace
} // namespace routerscope::test
