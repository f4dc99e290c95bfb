#include "io/lm_checkpoint.h"
#include "tests/io/io_test_helpers.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <functional>

namespace routerscope {
namespace {

using io::test_helpers::expect_bad_input;

lm::LmConfig tiny() {
  lm::LmConfig c;
  c.d_model = 16;
  c.layers = 2;
  c.heads = 4;
  c.experts = 4;
  c.top_k = 2;
  c.d_expert = 24;
  c.ctx = 32;
  return c;
}

io::LmCheckpoint random_checkpoint(std::uint64_t seed) {
  io::LmCheckpoint c;
  c.params = lm::LmParams<float>(tiny());
  const MatrixF values = test::random_matrix(1, int(c.params.buffer().size()), seed);
  std::copy(values.data(), values.data() + values.size(), c.params.buffer().begin());
  return c;
}

TEST(LmCheckpoint, NamesAndShapesAreTransformersMixtral) {
  test::TempDir dir("hf");
  io::save_lm_checkpoint(dir / "ckpt", random_checkpoint(1));
  const auto r = test::run_shell("/usr/bin/python3 " ROUTERSCOPE_SOURCE_DIR
                                 "/tests/io/mixtral_layout_oracle.py " +
                                 (dir / "ckpt").string() + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  // 1 embedding + 2 layers × (2 norms + 4 attention + router + 3·4 experts) + norm + lm_head
  EXPECT_EQ(r.out, "ok 41\n");
}

TEST(LmCheckpoint, RoundTripIsExactWithState) {
  test::TempDir dir("rt");
  io::LmCheckpoint c = random_checkpoint(7);
  c.state["raw_router.0"] = test::random_matrix(4, 16, 99);
  c.state["adam.m.lm_head.weight"] = test::random_matrix(256, 16, 100);
  c.state_metadata = R"({"step":12})";
  c.config_extra = R"({"variant":"mpi"})";
  io::save_lm_checkpoint(dir / "ckpt", c);
  const io::LmCheckpoint back = io::load_lm_checkpoint(dir / "ckpt", true);
  EXPECT_EQ(io::describe_difference(back.params.config(), tiny()), "");
  EXPECT_EQ(back.params.buffer(), c.params.buffer());
  ASSERT_EQ(back.state.size(), 2u);
  EXPECT_EQ(back.state.at("raw_router.0"), c.state.at("raw_router.0"));
  EXPECT_EQ(back.state.at("adam.m.lm_head.weight"), c.state.at("adam.m.lm_head.weight"));
  EXPECT_EQ(nlohmann::json::parse(back.state_metadata)["step"], 12);
  EXPECT_EQ(nlohmann::json::parse(back.config_extra)["variant"], "mpi");
}

TEST(LmCheckpoint, BadFoldersNameTheTensorOrKey) {
  test::TempDir dir("bad");
  const auto path = dir / "ckpt";
  io::save_lm_checkpoint(path, random_checkpoint(3));
  expect_bad_input([&] { io::load_lm_checkpoint(path, true); },
                   {"routerscope_state.safetensors", "no such file"});
  expect_bad_input([&] { io::load_lm_checkpoint(dir / "none"); }, {"config.json", "no such"});

  auto patch_config = [&](const std::function<void(nlohmann::json&)>& edit) {
    std::ifstream in(path / "config.json");
    nlohmann::json j = nlohmann::json::parse(in);
    edit(j);
    std::ofstream(path / "config.json") << j.dump();
  };
  patch_config([](nlohmann::json& j) { j["intermediate_size"] = 32; });
  expect_bad_input([&] { io::load_lm_checkpoint(path); },
                   {"block_sparse_moe.experts.0.w1.weight", "[24, 16]", "[32, 16]"});
  patch_config([](nlohmann::json& j) {
    j["intermediate_size"] = 24;
    j["model_type"] = "olmoe";
  });
  expect_bad_input([&] { io::load_lm_checkpoint(path); }, {"config.json", "model_type", "mixtral"});
  patch_config([](nlohmann::json& j) {
    j["model_type"] = "mixtral";
    j["num_key_value_heads"] = 2;
  });
  expect_bad_input([&] { io::load_lm_checkpoint(path); },
                   {"config.json", "num_key_value_heads", "not supported"});
  patch_config([](nlohmann::json& j) {
    j["num_key_value_heads"] = 4;
    j.erase("num_local_experts");
  });
  expect_bad_input([&] { io::load_lm_checkpoint(path); }, {"config.json", "num_local_experts"});
}

TEST(LmCheckpoint, DescribesDifferencesByOption) {
  lm::LmConfig a = tiny(), b = tiny();
  EXPECT_EQ(io::describe_difference(a, b), "");
  b.experts = 8;
  b.d_model = 32;
  EXPECT_EQ(io::describe_difference(a, b), "--d-model 16 vs 32, --experts 4 vs 8");
}

TEST(LmCheckpoint, ResumeStateKeepsRawRoutersAndMomentsExactly) {
  test::TempDir dir("state");
  const io::LmCheckpoint random = random_checkpoint(11);
  lm::LmVariantState stored;
  stored.name = "mpi";
  stored.params = random.params.buffer();
  const auto n = int(stored.params.size());
  const MatrixF m = test::random_matrix(1, n, 12), v = test::random_matrix(1, n, 13);
  stored.adam_m.assign(m.data(), m.data() + n);
  stored.adam_v.assign(v.data(), v.data() + n);
  // What routes differs from what is stored in the routers only (R′ vs R).
  lm::LmParams<float> routing = random.params;
  for (const auto& layer : routing.slots().layers)
    routing.mat(layer.gate) = test::random_matrix(4, 16, 14);
  io::save_lm_checkpoint(dir / "mpi", io::variant_checkpoint(routing, stored, 7, R"({"a":1})"));
  const io::LmCheckpoint back = io::load_lm_checkpoint(dir / "mpi", true);
  EXPECT_EQ(back.params.buffer(), routing.buffer()); // model.safetensors holds R′
  const lm::LmVariantState state = io::variant_state(back, "mpi", dir / "mpi");
  EXPECT_EQ(state.params, stored.params); // raw R restored into gate.weight
  EXPECT_EQ(state.adam_m, stored.adam_m);
  EXPECT_EQ(state.adam_v, stored.adam_v);
  const auto meta = nlohmann::json::parse(back.state_metadata);
  EXPECT_EQ(meta["step"], 7);
  EXPECT_EQ(meta["a"], 1);
  io::LmCheckpoint broken = back;
  broken.state.erase("adam_v");
  io::test_helpers::expect_bad_input([&] { io::variant_state(broken, "mpi", dir / "mpi"); },
                                     {"mpi", "adam_v", "missing"});
}

} // namespace
} // namespace routerscope
