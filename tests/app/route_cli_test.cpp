// `routerscope route` end to end on the hf-tiny Mixtral fixture: hidden states written by NumPy,
// the command's HDF5 output and printed metrics against a float64 NumPy oracle
// (tests/app/route_oracle.py), for the checkpoint's router and the MPI router.
#include "tests/support/test_support.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

namespace routerscope {
namespace {

namespace fs = std::filesystem;

const fs::path kOracle = fs::path(ROUTERSCOPE_SOURCE_DIR) / "tests/app/route_oracle.py";

std::string python(const std::string& args) {
  auto r = test::run_shell("/usr/bin/python3 " + kOracle.string() + " " + args + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  return r.out;
}

class RouteCommand : public ::testing::Test {
protected:
  void SetUp() override {
    const fs::path src = test::hf_tiny_dir();
    fs::copy_file(src / "mixtral_classic.safetensors", dir_ / "model.safetensors");
    fs::copy_file(src / "mixtral_classic_config.json", dir_ / "config.json");
    python("tokens " + tokens_.string() + " 40 32 7");
  }
  test::TempDir dir_{"route"};
  fs::path tokens_ = dir_ / "tokens.h5";
};

TEST_F(RouteCommand, OutputAndMetricsMatchNumpyOracle) {
  for (const char* router : {"checkpoint", "mpi"}) {
    SCOPED_TRACE(router);
    const fs::path out = dir_ / (std::string(router) + ".h5");
    auto r = test::run_routerscope({"route", dir_.path().string(), "--layer", "1", "--tokens",
                                    tokens_.string(), "--router", router, "--c-prime", "3", "--out",
                                    out.string(), "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto got = nlohmann::json::parse(r.out);
    // The version in the summary is the one --version prints.
    EXPECT_EQ("routerscope " + got["routerscope_version"].get<std::string>() + "\n",
              test::run_routerscope({"--version"}).out);
    const auto oracle = nlohmann::json::parse(
        python("check " + (dir_ / "model.safetensors").string() + " " + tokens_.string() + " " +
               out.string() + " 1 2 " + router + " 3"));
    EXPECT_TRUE(oracle["experts_equal"].get<bool>()) << oracle.dump();
    EXPECT_EQ(oracle["experts_dtype"], "int32");
    EXPECT_EQ(oracle["shapes"]["logits"], nlohmann::json({40, 4}));
    EXPECT_EQ(oracle["shapes"]["experts"], nlohmann::json({40, 2}));
    EXPECT_EQ(oracle["shapes"]["weights"], nlohmann::json({40, 2}));
    EXPECT_EQ(oracle["shapes"]["output"], nlohmann::json({40, 32}));
    EXPECT_EQ(oracle["shapes"]["load"], nlohmann::json({4}));
    EXPECT_LT(oracle["logits_err"].get<double>(), 1e-5);
    EXPECT_LT(oracle["weights_err"].get<double>(), 1e-5);
    EXPECT_LT(oracle["output_rel_err"].get<double>(), 1e-5);
    EXPECT_TRUE(oracle["load_equal"].get<bool>());
    EXPECT_EQ(got["load"], oracle["load"]);
    for (const char* key : {"maxvio", "cv", "entropy"})
      EXPECT_NEAR(got[key].get<double>(), oracle[key].get<double>(), 1e-12) << key;
    EXPECT_EQ(got["router"], router);
  }
}

TEST_F(RouteCommand, BadInputExitsTwoNamingTheProblem) {
  auto r = test::run_routerscope({"route", dir_.path().string(), "--layer", "1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--tokens"), std::string::npos) << r.err;
  r = test::run_routerscope(
      {"route", dir_.path().string(), "--tokens", tokens_.string(), "--router", "best"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--router"), std::string::npos) << r.err;
  // Hidden states of the wrong width: the demo checkpoint's D is not 32.
  r = test::run_routerscope({"route", "--tokens", tokens_.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("hidden_states"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(tokens_.string()), std::string::npos) << r.err;
  r = test::run_routerscope(
      {"route", dir_.path().string(), "--tokens", (dir_ / "missing.h5").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing.h5"), std::string::npos) << r.err;
}

} // namespace
} // namespace routerscope
