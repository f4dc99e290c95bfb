// open_checkpoint on every supported family and layout: checkpoints are written from known random
// matrices (tests/support/family_checkpoint) and every decoded router/expert/shared/bias/norm
// tensor is compared with those matrices in HF Linear orientation.
#include "core/error.h"
#include "io/checkpoint.h"
#include "io/safetensors_writer.h"
#include "tests/support/family_checkpoint.h"
#include "tests/support/test_support.h"

#include <cmath>
#include <fstream>
#include <gtest/gtest.h>

namespace routerscope {
namespace {

namespace fs = std::filesystem;
using io::DType;
using test::FamilyCheckpoint;
using test::FamilySpec;

// Largest relative error the stored dtype allows (exact for F32 and for values that were
// dequantised independently in the builder).
double tolerance(DType t) {
  if (t == DType::BF16)
    return std::ldexp(1.0, -8);
  if (t == DType::F16)
    return std::ldexp(1.0, -11);
  return 0.0;
}

::testing::AssertionResult close(const MatrixF& got, const MatrixF& want, double rel,
                                 const std::string& what) {
  if (got.rows() != want.rows() || got.cols() != want.cols())
    return ::testing::AssertionFailure()
           << what << ": shape [" << got.rows() << ", " << got.cols() << "], expected ["
           << want.rows() << ", " << want.cols() << "]";
  // F16 subnormals (|x| < 6.1e-5) have an absolute spacing of 6e-8.
  double floor = rel > 0 ? 1e-7 : 0.0;
  for (Eigen::Index i = 0; i < want.rows(); ++i)
    for (Eigen::Index j = 0; j < want.cols(); ++j) {
      double g = got(i, j), w = want(i, j);
      if (!(std::fabs(g - w) <= rel * std::fabs(w) + floor))
        return ::testing::AssertionFailure()
               << what << "(" << i << ", " << j << ") = " << g << ", expected " << w;
    }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult close(const VectorF& got, const VectorF& want, double rel,
                                 const std::string& what) {
  return close(MatrixF(got.transpose()), MatrixF(want.transpose()), rel, what);
}

// Every decoded tensor equals what the builder wrote.
void expect_same_weights(const MoeModel& m, const FamilyCheckpoint& ck, double rel) {
  for (const auto& [l, L] : ck.layers) {
    std::string at = "layer " + std::to_string(l);
    if (!L.moe) {
      EXPECT_THROW(m.router(l), Error) << at;
      continue;
    }
    EXPECT_TRUE(close(m.router(l), L.router, rel, at + " router"));
    EXPECT_TRUE(close(m.router_bias(l), L.router_bias, rel, at + " router bias"));
    for (size_t e = 0; e < L.experts.size(); ++e) {
      const auto& x = L.experts[e];
      int ei = static_cast<int>(e);
      std::string ex = at + " expert " + std::to_string(e);
      EXPECT_TRUE(close(m.expert_weight(l, ei, ExpertMatrix::Gate), x.gate, rel, ex + " gate"));
      EXPECT_TRUE(close(m.expert_weight(l, ei, ExpertMatrix::Up), x.up, rel, ex + " up"));
      EXPECT_TRUE(close(m.expert_weight(l, ei, ExpertMatrix::Down), x.down, rel, ex + " down"));
      EXPECT_TRUE(close(m.expert_bias(l, ei, ExpertMatrix::Gate), x.gate_bias, rel, ex + " gb"));
      EXPECT_TRUE(close(m.expert_bias(l, ei, ExpertMatrix::Up), x.up_bias, rel, ex + " ub"));
      EXPECT_TRUE(close(m.expert_bias(l, ei, ExpertMatrix::Down), x.down_bias, rel, ex + " db"));
    }
    EXPECT_TRUE(close(m.shared_weight(l, ExpertMatrix::Gate), L.shared_gate_proj, rel,
                      at + " shared gate"));
    EXPECT_TRUE(close(m.shared_weight(l, ExpertMatrix::Up), L.shared_up, rel, at + " shared up"));
    EXPECT_TRUE(
        close(m.shared_weight(l, ExpertMatrix::Down), L.shared_down, rel, at + " shared down"));
    EXPECT_TRUE(close(m.shared_gate(l), L.shared_gate, rel, at + " shared_expert_gate"));
  }
  for (const auto& [l, L] : ck.layers)
    EXPECT_TRUE(close(m.pre_moe_norm(l), L.norm, rel, "norm " + std::to_string(l)));
  EXPECT_TRUE(close(m.embeddings(), ck.embeddings, rel, "embeddings"));
}

// The structure every family must report: layers, MoE flags, E, k, d, shared experts.
void expect_structure(const ModelInfo& info, const FamilySpec& s, const std::string& layout,
                      bool top_k_known = true) {
  EXPECT_EQ(info.layout, layout);
  EXPECT_EQ(info.d_model, s.d_model);
  ASSERT_EQ(static_cast<int>(info.layers.size()), s.layers);
  for (int l = 0; l < s.layers; ++l) {
    const LayerInfo& li = info.layers[static_cast<size_t>(l)];
    bool dense = std::find(s.dense_layers.begin(), s.dense_layers.end(), l) != s.dense_layers.end();
    EXPECT_EQ(li.layer, l);
    EXPECT_EQ(li.moe, !dense) << "layer " << l;
    if (dense)
      continue;
    EXPECT_EQ(li.experts, s.experts);
    EXPECT_EQ(li.d_expert, s.d_expert);
    if (top_k_known)
      EXPECT_EQ(li.top_k, std::optional<int>(s.top_k));
    else
      EXPECT_FALSE(li.top_k.has_value());
    EXPECT_EQ(li.d_shared, s.shared_width);
  }
}

struct Opened {
  std::unique_ptr<test::TempDir> dir;
  FamilyCheckpoint ck;
  std::unique_ptr<MoeModel> model;
};

Opened build_and_open(const FamilySpec& s) {
  Opened o;
  o.dir = std::make_unique<test::TempDir>("ckpt");
  o.ck = test::write_family_checkpoint(o.dir->path(), s);
  o.model = io::open_checkpoint(o.dir->path());
  return o;
}

std::string open_error(const fs::path& p) {
  try {
    io::open_checkpoint(p);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "open_checkpoint(" << p << ") did not throw";
  return {};
}

TEST(CheckpointLayouts, MixtralPerExpertF32IsExact) {
  FamilySpec s;
  s.family = "mixtral";
  auto o = build_and_open(s);
  const ModelInfo& info = o.model->info();
  EXPECT_EQ(info.family, "mixtral");
  EXPECT_TRUE(info.has_config);
  expect_structure(info, s, "per_expert");
  EXPECT_EQ(info.dtypes, std::vector<std::string>{"F32"});
  EXPECT_EQ(info.routing.scoring, Scoring::Softmax);
  EXPECT_EQ(info.routing.order, GateOrder::SoftmaxTopk);
  EXPECT_TRUE(info.routing.renormalize);
  std::uint64_t size = fs::file_size(o.dir->path() / "model.safetensors");
  EXPECT_EQ(info.bytes_on_disk, size);
  expect_same_weights(*o.model, o.ck, 0.0);
}

TEST(CheckpointLayouts, OlmoeBF16WithinBF16Rounding) {
  FamilySpec s;
  s.family = "olmoe";
  s.dtype = DType::BF16;
  s.layers = 3;
  auto o = build_and_open(s);
  EXPECT_EQ(o.model->info().family, "olmoe");
  expect_structure(o.model->info(), s, "per_expert");
  EXPECT_EQ(o.model->info().dtypes, std::vector<std::string>{"BF16"});
  EXPECT_FALSE(o.model->info().routing.renormalize);
  expect_same_weights(*o.model, o.ck, tolerance(s.dtype));
}

TEST(CheckpointLayouts, Qwen2MoeSharedExpertAndMlpOnlyLayers) {
  FamilySpec s;
  s.family = "qwen2_moe";
  s.layers = 3;
  s.dense_layers = {1};
  s.shared_width = 12;
  auto o = build_and_open(s);
  const ModelInfo& info = o.model->info();
  EXPECT_EQ(info.family, "qwen2_moe");
  expect_structure(info, s, "per_expert");
  EXPECT_EQ(info.moe_layers(), (std::vector<int>{0, 2}));
  EXPECT_EQ(info.layer(0).shared_experts, 1);
  EXPECT_TRUE(info.layer(0).shared_gate);
  expect_same_weights(*o.model, o.ck, 0.0);
}

TEST(CheckpointLayouts, Qwen2MoeDecoderSparseStep) {
  FamilySpec s;
  s.family = "qwen2_moe";
  s.layers = 4;
  s.dense_layers = {0, 2}; // (L + 1) % 2 != 0
  s.config_patch = {{"decoder_sparse_step", 2}, {"mlp_only_layers", nlohmann::json::array()}};
  auto o = build_and_open(s);
  EXPECT_EQ(o.model->info().moe_layers(), (std::vector<int>{1, 3}));
  expect_same_weights(*o.model, o.ck, 0.0);
}

TEST(CheckpointLayouts, Qwen3MoeF16) {
  FamilySpec s;
  s.family = "qwen3_moe";
  s.dtype = DType::F16;
  auto o = build_and_open(s);
  EXPECT_EQ(o.model->info().family, "qwen3_moe");
  expect_structure(o.model->info(), s, "per_expert");
  EXPECT_EQ(o.model->info().dtypes, std::vector<std::string>{"F16"});
  EXPECT_TRUE(o.model->info().routing.renormalize);
  EXPECT_EQ(o.model->info().layer(0).shared_experts, 0);
  expect_same_weights(*o.model, o.ck, tolerance(s.dtype));
}

TEST(CheckpointLayouts, DeepseekV2FirstKDenseReplaceAndSharedExperts) {
  FamilySpec s;
  s.family = "deepseek_v2";
  s.layers = 3;
  s.dense_layers = {0};
  s.n_shared_experts = 2;
  s.shared_width = 2 * s.d_expert;
  auto o = build_and_open(s);
  const ModelInfo& info = o.model->info();
  EXPECT_EQ(info.family, "deepseek_v2");
  expect_structure(info, s, "per_expert");
  EXPECT_EQ(info.layer(1).shared_experts, 2);
  EXPECT_FALSE(info.layer(1).shared_gate);
  EXPECT_EQ(info.routing.scoring, Scoring::Softmax);
  EXPECT_EQ(info.routing.n_group, 1); // topk_method greedy
  expect_same_weights(*o.model, o.ck, 0.0);
}

TEST(CheckpointLayouts, DeepseekV3Fp8BlockScalesScoreBiasAndMtpLayerIgnored) {
  FamilySpec s;
  s.family = "deepseek_v3";
  s.variant = "fp8";
  s.layers = 3;
  s.dense_layers = {0};
  s.experts = 3;
  s.d_model = 136; // two 128-blocks along D, the second partial
  s.d_expert = 40;
  s.shared_width = 40;
  s.dtype = DType::BF16; // router and norms
  // The last written layer plays DeepSeek-V3's MTP module: index >= num_hidden_layers.
  s.config_patch = {{"num_hidden_layers", 2}};
  auto o = build_and_open(s);
  const ModelInfo& info = o.model->info();
  EXPECT_EQ(info.family, "deepseek_v3");
  ASSERT_EQ(info.layers.size(), 2u);
  EXPECT_FALSE(info.layers[0].moe);
  EXPECT_TRUE(info.layers[1].moe);
  EXPECT_EQ(info.layers[1].experts, 3);
  EXPECT_EQ(info.layers[1].d_expert, 40);
  EXPECT_EQ(info.layers[1].shared_experts, 1);
  EXPECT_THROW(o.model->router(2), Error);
  EXPECT_EQ(info.dtypes, (std::vector<std::string>{"BF16", "F8_E4M3"}));
  EXPECT_EQ(info.routing.scoring, Scoring::Sigmoid);
  EXPECT_TRUE(info.routing.selection_bias);
  EXPECT_TRUE(info.routing.renormalize);
  EXPECT_DOUBLE_EQ(info.routing.scaling, 2.5);
  EXPECT_EQ(info.routing.n_group, 2);
  EXPECT_EQ(info.routing.topk_group, 1);
  // Layer 1 only; FP8 expert values were dequantised independently (q · scale_inv) by the builder.
  const auto& L = o.ck.layers.at(1);
  for (int e = 0; e < 3; ++e)
    EXPECT_TRUE(close(o.model->expert_weight(1, e, ExpertMatrix::Down),
                      L.experts[static_cast<size_t>(e)].down, 1e-6, "fp8 down"));
  EXPECT_TRUE(close(o.model->router(1), L.router, tolerance(DType::BF16), "router"));
  EXPECT_TRUE(close(o.model->router_bias(1), L.router_bias, 0.0, "score bias"));
  for (int e = 0; e < 3; ++e) {
    const auto& x = L.experts[static_cast<size_t>(e)];
    EXPECT_TRUE(close(o.model->expert_weight(1, e, ExpertMatrix::Gate), x.gate, 1e-6, "gate"));
    EXPECT_TRUE(close(o.model->expert_weight(1, e, ExpertMatrix::Up), x.up, 1e-6, "up"));
  }
  EXPECT_TRUE(close(o.model->shared_weight(1, ExpertMatrix::Down), L.shared_down, 1e-6, "sd"));
}

TEST(CheckpointLayouts, GptOssMxfp4BlocksAreOutputMajorInterleaved) {
  FamilySpec s;
  s.family = "gpt_oss";
  s.variant = "mxfp4";
  s.d_model = 64;
  s.d_expert = 32;
  s.dtype = DType::BF16;
  auto o = build_and_open(s);
  const ModelInfo& info = o.model->info();
  EXPECT_EQ(info.family, "gpt_oss");
  expect_structure(info, s, "fused");
  EXPECT_EQ(info.dtypes, (std::vector<std::string>{"BF16", "MXFP4"}));
  EXPECT_EQ(info.routing.order, GateOrder::TopkSoftmax);
  EXPECT_TRUE(info.routing.logit_bias);
  // MXFP4 values are exact after the builder's independent dequantisation; biases are BF16.
  for (const auto& [l, L] : o.ck.layers)
    for (int e = 0; e < s.experts; ++e) {
      const auto& x = L.experts[static_cast<size_t>(e)];
      EXPECT_TRUE(close(o.model->expert_weight(l, e, ExpertMatrix::Gate), x.gate, 0.0, "gate"));
      EXPECT_TRUE(close(o.model->expert_weight(l, e, ExpertMatrix::Up), x.up, 0.0, "up"));
      EXPECT_TRUE(close(o.model->expert_weight(l, e, ExpertMatrix::Down), x.down, 0.0, "down"));
    }
  expect_same_weights(*o.model, o.ck, tolerance(DType::BF16));
}

TEST(CheckpointLayouts, GptOssBF16InputMajorParameters) {
  FamilySpec s;
  s.family = "gpt_oss";
  s.dtype = DType::BF16;
  s.d_model = 12;
  s.d_expert = 6;
  auto o = build_and_open(s);
  expect_structure(o.model->info(), s, "fused");
  expect_same_weights(*o.model, o.ck, tolerance(s.dtype));
}

TEST(CheckpointLayouts, PhimoeUsesMixtralNamesAndSparsemixer) {
  FamilySpec s;
  s.family = "phimoe";
  auto o = build_and_open(s);
  EXPECT_EQ(o.model->info().family, "phimoe");
  EXPECT_TRUE(o.model->info().routing.sparsemixer);
  expect_structure(o.model->info(), s, "per_expert");
  expect_same_weights(*o.model, o.ck, 0.0);
}

TEST(CheckpointLayouts, GraniteMoeInputOutputLinear) {
  FamilySpec s;
  s.family = "granitemoe";
  auto o = build_and_open(s);
  EXPECT_EQ(o.model->info().family, "granitemoe");
  EXPECT_EQ(o.model->info().routing.order, GateOrder::TopkSoftmax);
  expect_structure(o.model->info(), s, "fused");
  expect_same_weights(*o.model, o.ck, 0.0);
}

TEST(CheckpointLayouts, JetMoeRouterLayerAndParallelExperts) {
  FamilySpec s;
  s.family = "jetmoe";
  s.dtype = DType::BF16;
  auto o = build_and_open(s);
  EXPECT_EQ(o.model->info().family, "jetmoe");
  expect_structure(o.model->info(), s, "fused");
  expect_same_weights(*o.model, o.ck, tolerance(s.dtype));
}

TEST(CheckpointLayouts, DbrxRowBlocksAndTransposedW2) {
  FamilySpec s;
  s.family = "dbrx";
  s.experts = 3;
  auto o = build_and_open(s);
  const ModelInfo& info = o.model->info();
  EXPECT_EQ(info.family, "dbrx");
  EXPECT_TRUE(info.routing.renormalize);
  expect_structure(info, s, "fused");
  expect_same_weights(*o.model, o.ck, 0.0);
}

TEST(CheckpointLayouts, Llama4InputMajorExpertsSharedExpertAndMoeLayers) {
  FamilySpec s;
  s.family = "llama4";
  s.layers = 3;
  s.dense_layers = {0};
  s.shared_width = 8;
  s.top_k = 1;
  auto o = build_and_open(s);
  const ModelInfo& info = o.model->info();
  EXPECT_EQ(info.family, "llama4");
  expect_structure(info, s, "fused");
  EXPECT_EQ(info.layer(1).shared_experts, 1);
  EXPECT_EQ(info.routing.scoring, Scoring::Sigmoid);
  EXPECT_TRUE(info.routing.sigmoid_input_scale);
  expect_same_weights(*o.model, o.ck, 0.0);
}

TEST(CheckpointLayouts, Llama4TextOnlyAndV5Prefixes) {
  for (const std::string prefix : {"model.layers.", "model.language_model.layers."}) {
    SCOPED_TRACE(prefix);
    FamilySpec s;
    s.family = "llama4";
    s.layer_prefix = prefix;
    s.shared_width = 8;
    auto o = build_and_open(s);
    EXPECT_EQ(o.model->info().family, "llama4");
    expect_structure(o.model->info(), s, "fused");
    expect_same_weights(*o.model, o.ck, 0.0);
  }
}

// The routing switches that come from config keys rather than the family alone.
TEST(CheckpointLayouts, RoutingRulesFollowConfigKeys) {
  auto rule = [](const std::string& family, nlohmann::json patch) {
    FamilySpec s;
    s.family = family;
    s.config_patch = std::move(patch);
    return build_and_open(s).model->info().routing;
  };
  EXPECT_TRUE(rule("olmoe", {{"norm_topk_prob", true}}).renormalize);
  EXPECT_FALSE(rule("qwen3_moe", {{"norm_topk_prob", false}}).renormalize);
  {
    // An explicit null (merge patches cannot write one) switches DBRX's renormalisation off.
    FamilySpec s;
    s.family = "dbrx";
    test::TempDir dir("dbrx");
    auto ck = test::write_family_checkpoint(dir.path(), s);
    EXPECT_TRUE(io::open_checkpoint(dir.path())->info().routing.renormalize);
    ck.config["ffn_config"]["moe_normalize_expert_weights"] = nullptr;
    std::ofstream(dir / "config.json") << ck.config.dump();
    EXPECT_FALSE(io::open_checkpoint(dir.path())->info().routing.renormalize);
  }
  RoutingRule v2 = rule("deepseek_v2", {{"topk_method", "group_limited_greedy"},
                                        {"n_group", 2},
                                        {"topk_group", 1},
                                        {"routed_scaling_factor", 16.0},
                                        {"norm_topk_prob", true}});
  EXPECT_EQ(v2.n_group, 2);
  EXPECT_EQ(v2.topk_group, 1);
  EXPECT_DOUBLE_EQ(v2.scaling, 16.0);
  // DeepseekV2Moe never renormalises: norm_topk_prob is not read by transformers' V2 block.
  EXPECT_FALSE(v2.renormalize);
  EXPECT_EQ(rule("deepseek_v2", {{"n_group", 2}, {"topk_group", 1}}).n_group, 1); // greedy
}

TEST(CheckpointLayouts, TransformersV5StackedMixtralWithMlpGateRouter) {
  FamilySpec s;
  s.family = "mixtral";
  s.variant = "stacked";
  s.dtype = DType::BF16;
  auto o = build_and_open(s);
  EXPECT_EQ(o.model->info().family, "mixtral");
  expect_structure(o.model->info(), s, "stacked");
  expect_same_weights(*o.model, o.ck, tolerance(s.dtype));
}

TEST(CheckpointLayouts, ShardedCheckpointWithIndex) {
  FamilySpec s;
  s.family = "olmoe";
  s.sharded = true;
  test::TempDir dir("shard");
  auto ck = test::write_family_checkpoint(dir.path(), s);
  ASSERT_TRUE(fs::exists(dir / "model-00002-of-00002.safetensors"));
  for (const fs::path& p : {dir.path(), dir / "model.safetensors.index.json"}) {
    auto m = io::open_checkpoint(p);
    EXPECT_TRUE(m->info().has_config) << p;
    EXPECT_EQ(m->info().bytes_on_disk, fs::file_size(dir / "model-00001-of-00002.safetensors") +
                                           fs::file_size(dir / "model-00002-of-00002.safetensors"));
    expect_structure(m->info(), s, "per_expert");
    expect_same_weights(*m, ck, 0.0);
  }
}

TEST(CheckpointLayouts, NoConfigFallsBackToNamesAndShapes) {
  struct Case {
    std::string family, expected_family, variant, layout;
    int shared;
  };
  for (const Case& c : std::vector<Case>{{"olmoe", "olmoe", "", "per_expert", 0},
                                         {"mixtral", "mixtral", "", "per_expert", 0},
                                         {"qwen2_moe", "qwen2_moe", "", "per_expert", 12},
                                         {"deepseek_v2", "deepseek_v2", "", "per_expert", 8},
                                         {"deepseek_v3", "deepseek_v3", "", "per_expert", 8},
                                         {"qwen2_moe", "qwen2_moe", "stacked", "stacked", 12},
                                         {"gpt_oss", "gpt_oss", "", "fused", 0},
                                         {"granitemoe", "granitemoe", "", "fused", 0},
                                         {"jetmoe", "jetmoe", "", "fused", 0},
                                         {"dbrx", "dbrx", "", "fused", 0},
                                         {"llama4", "llama4", "", "fused", 8}}) {
    SCOPED_TRACE(c.family + "/" + c.variant);
    FamilySpec s;
    s.family = c.family;
    s.variant = c.variant;
    s.shared_width = c.shared;
    s.write_config = false;
    auto o = build_and_open(s);
    const ModelInfo& info = o.model->info();
    EXPECT_FALSE(info.has_config);
    EXPECT_EQ(info.family, c.expected_family);
    expect_structure(info, s, c.layout, /*top_k_known=*/false);
    if (c.family == "deepseek_v2") {
      EXPECT_EQ(info.layer(0).shared_experts, 1);
    }
    expect_same_weights(*o.model, o.ck, 0.0);
  }
}

TEST(CheckpointLayouts, UnknownModelTypeFallsBackToNames) {
  FamilySpec s;
  s.family = "olmoe";
  s.config_patch = {{"model_type", "my_private_moe"}};
  auto o = build_and_open(s);
  EXPECT_EQ(o.model->info().family, "olmoe");
  EXPECT_TRUE(o.model->info().has_config);
  expect_structure(o.model->info(), s, "per_expert");
  expect_same_weights(*o.model, o.ck, 0.0);
}

TEST(CheckpointErrors, MissingRouterOfConfiguredMoeLayerNamesLayerAndTensor) {
  FamilySpec s;
  s.family = "mixtral";
  s.omit = {"model.layers.1.block_sparse_moe.gate.weight"};
  test::TempDir dir("err");
  test::write_family_checkpoint(dir.path(), s);
  std::string msg = open_error(dir.path());
  EXPECT_NE(msg.find("layer 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.layers.1.block_sparse_moe.gate.weight"), std::string::npos) << msg;
}

TEST(CheckpointErrors, ConfigExpertWidthDisagreeingWithShapesNamesTensorAndShapes) {
  FamilySpec s;
  s.family = "mixtral";
  s.config_patch = {{"intermediate_size", 12}};
  test::TempDir dir("err");
  test::write_family_checkpoint(dir.path(), s);
  std::string msg = open_error(dir.path());
  EXPECT_NE(msg.find("model.layers.0.block_sparse_moe.experts.0.w1.weight"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("[12, 16]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[8, 16]"), std::string::npos) << msg;
}

TEST(CheckpointErrors, OneExpertWithWrongShapeIsRejected) {
  // No config: d comes from expert 0; expert 2's up matrix of layer 1 is [8, 15].
  FamilySpec s;
  s.family = "olmoe";
  s.write_config = false;
  std::string bad = "model.layers.1.mlp.experts.2.up_proj.weight";
  s.replace[bad] = MatrixF::Zero(8, 15);
  test::TempDir dir("err");
  test::write_family_checkpoint(dir.path(), s);
  std::string msg = open_error(dir.path());
  EXPECT_NE(msg.find(bad), std::string::npos) << msg;
  EXPECT_NE(msg.find("[8, 16]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[8, 15]"), std::string::npos) << msg;
}

TEST(CheckpointErrors, DenseOnlyModelIsRejected) {
  test::TempDir dir("dense");
  io::SafetensorsWriter w;
  std::vector<float> v(16 * 8, 0.5f);
  for (int l = 0; l < 2; ++l) {
    std::string b = "model.layers." + std::to_string(l) + ".mlp.";
    w.add(b + "gate_proj.weight", DType::F32, {8, 16}, v);
    w.add(b + "up_proj.weight", DType::F32, {8, 16}, v);
    w.add(b + "down_proj.weight", DType::F32, {16, 8}, v);
  }
  w.write(dir / "model.safetensors");
  std::string msg = open_error(dir.path());
  EXPECT_NE(msg.find("no MoE layer found in " + dir.path().string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("(family unknown)"), std::string::npos) << msg;
  std::ofstream(dir / "config.json") << R"({"model_type": "llama", "hidden_size": 16})";
  msg = open_error(dir.path());
  EXPECT_NE(msg.find("(family llama)"), std::string::npos) << msg;
}

TEST(CheckpointErrors, DenseLayerAndMissingExpertAccessAreBadInput) {
  FamilySpec s;
  s.family = "deepseek_v2";
  s.layers = 2;
  s.dense_layers = {0};
  auto o = build_and_open(s);
  EXPECT_THROW(o.model->expert_weight(0, 0, ExpertMatrix::Gate), Error);
  EXPECT_THROW(o.model->expert_weight(1, s.experts, ExpertMatrix::Gate), Error);
  EXPECT_THROW(o.model->router(7), Error);
}

// tests/data/hf-tiny: real transformers tensor layouts (F32, random values).
class HfTiny : public ::testing::Test {
protected:
  void SetUp() override { src_ = test::hf_tiny_dir(); }
  // Copies NAME.safetensors (+ CONFIG as config.json when given) into a fresh folder.
  fs::path stage(const std::string& name, const std::string& config) {
    fs::copy_file(src_ / (name + ".safetensors"), dir_ / "model.safetensors");
    if (!config.empty())
      fs::copy_file(src_ / config, dir_ / "config.json");
    return dir_.path();
  }
  fs::path src_;
  test::TempDir dir_{"hftiny"};
};

// Every layer is MoE with these dimensions.
void expect_uniform_moe(const ModelInfo& info, size_t layers, int experts, std::optional<int> k,
                        int d_expert, int shared) {
  ASSERT_EQ(info.layers.size(), layers);
  for (const auto& l : info.layers) {
    EXPECT_TRUE(l.moe);
    EXPECT_EQ(l.experts, experts);
    EXPECT_EQ(l.top_k, k);
    EXPECT_EQ(l.d_expert, d_expert);
    EXPECT_EQ(l.shared_experts, shared);
  }
}

TEST_F(HfTiny, MixtralClassic) {
  auto m = io::open_checkpoint(stage("mixtral_classic", "mixtral_classic_config.json"));
  const ModelInfo& info = m->info();
  EXPECT_EQ(info.family, "mixtral");
  EXPECT_EQ(info.layout, "per_expert");
  EXPECT_EQ(info.d_model, 32);
  expect_uniform_moe(info, 2, 4, 2, 64, 0);
  EXPECT_EQ(m->expert_weight(1, 3, ExpertMatrix::Down).rows(), 32);
  EXPECT_EQ(m->expert_weight(1, 3, ExpertMatrix::Down).cols(), 64);
  EXPECT_EQ(m->embeddings().rows(), 48);
}

TEST_F(HfTiny, Qwen2MoeLayer0WithoutConfig) {
  auto m = io::open_checkpoint(stage("qwen2_moe_layer0", ""));
  const ModelInfo& info = m->info();
  EXPECT_FALSE(info.has_config);
  EXPECT_EQ(info.family, "qwen2_moe");
  EXPECT_EQ(info.layout, "stacked");
  EXPECT_EQ(info.d_model, 64);
  expect_uniform_moe(info, 1, 4, std::nullopt, 64, 1);
  EXPECT_TRUE(info.layers[0].shared_gate);
  EXPECT_EQ(m->shared_gate(0).cols(), 64);
}

// The MoE block output transformers computed for one input (hf_ref in the fixture JSON), recomputed
// in float64 from the decoded weights: softmax router, top-2 without renormalisation, SiLU experts,
// plus the sigmoid-gated shared expert. Wrong gate/up halves or orientation would not match.
TEST_F(HfTiny, Qwen2MoeLayer0MatchesTransformersOutput) {
  auto m = io::open_checkpoint(stage("qwen2_moe_layer0", ""));
  nlohmann::json ref = nlohmann::json::parse(std::ifstream(src_ / "qwen2_moe_layer0.json"));
  std::vector<double> xin = ref["input"], want = ref["hf_ref"];
  ASSERT_EQ(xin.size(), 64u);
  VectorD x = Eigen::Map<VectorD>(xin.data(), 64);
  auto silu = [](double v) { return v / (1.0 + std::exp(-v)); };
  auto mlp = [&](const MatrixD& g, const MatrixD& u, const MatrixD& d) {
    VectorD h = (g * x).unaryExpr(silu).cwiseProduct(u * x);
    return VectorD(d * h);
  };
  VectorD logits = m->router(0).cast<double>() * x;
  VectorD p = (logits.array() - logits.maxCoeff()).exp();
  p /= p.sum();
  std::vector<int> order = {0, 1, 2, 3};
  std::sort(order.begin(), order.end(), [&](int a, int b) { return p(a) > p(b); });
  VectorD out = VectorD::Zero(64);
  for (int i = 0; i < 2; ++i) {
    int e = order[static_cast<size_t>(i)];
    out += p(e) * mlp(m->expert_weight(0, e, ExpertMatrix::Gate).cast<double>(),
                      m->expert_weight(0, e, ExpertMatrix::Up).cast<double>(),
                      m->expert_weight(0, e, ExpertMatrix::Down).cast<double>());
  }
  double gate = (m->shared_gate(0).cast<double>() * x)(0);
  out += 1.0 / (1.0 + std::exp(-gate)) *
         mlp(m->shared_weight(0, ExpertMatrix::Gate).cast<double>(),
             m->shared_weight(0, ExpertMatrix::Up).cast<double>(),
             m->shared_weight(0, ExpertMatrix::Down).cast<double>());
  VectorD w = Eigen::Map<VectorD>(want.data(), 64);
  EXPECT_LT((out - w).norm(), 1e-5 * w.norm()) << "max |diff| " << (out - w).cwiseAbs().maxCoeff();
}

TEST_F(HfTiny, DeepseekFullStacked) {
  auto m = io::open_checkpoint(stage("deepseek_full", "deepseek_full_config.json"));
  const ModelInfo& info = m->info();
  EXPECT_EQ(info.family, "deepseek_v2");
  EXPECT_EQ(info.layout, "stacked");
  EXPECT_EQ(info.d_model, 16);
  expect_uniform_moe(info, 2, 4, 2, 16, 1);
}

} // namespace
} // namespace routerscope
