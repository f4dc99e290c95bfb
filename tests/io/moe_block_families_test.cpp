// Every family's MoE block, read from a small checkpoint in the family's real on-disk naming,
// against a float64 re-implementation of transformers' modeling code for that family, written
// here from the generated matrices (never from what RouterScope decoded). Compared: the selected
// experts (in order), the combine weights and the block output (routed + shared + biases).
#include "core/error.h"
#include "core/routing.h"
#include "core/training.h"
#include "io/checkpoint.h"
#include "tests/support/family_checkpoint.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

namespace routerscope {
namespace {

using Vec = Eigen::VectorXd;

double sigmoid(double z) {
  return 1 / (1 + std::exp(-z));
}

// What transformers computes for one token: experts in selection order, their weights, output.
struct Reference {
  std::vector<int> experts;
  std::vector<double> weights;
  Vec output;
};

// Indices of the k largest values, best first (torch.topk; ties are avoided by random data).
std::vector<int> topk(const Vec& v, int k) {
  std::vector<int> idx(static_cast<size_t>(v.size()));
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return v(a) > v(b); });
  idx.resize(size_t(k));
  return idx;
}

Vec softmax(const Vec& z) {
  Vec e = (z.array() - z.maxCoeff()).exp();
  return e / e.sum();
}

// One expert: act(x·Gᵀ + bg, x·Uᵀ + bu)·Downᵀ + bd. SiLU: silu(g)·u. gpt-oss
// (GptOssExperts.forward): g = g.clamp(max=limit), u = u.clamp(±limit), (u + 1)·g·σ(α g).
Vec expert(const test::ExpectedExpert& e, const Vec& x, bool gpt_oss = false) {
  Vec g = e.gate.cast<double>() * x, u = e.up.cast<double>() * x;
  if (e.gate_bias.size())
    g += e.gate_bias.cast<double>();
  if (e.up_bias.size())
    u += e.up_bias.cast<double>();
  Vec h(g.size());
  for (Eigen::Index i = 0; i < g.size(); ++i) {
    if (gpt_oss) {
      const double gc = std::min(g(i), 7.0), uc = std::clamp(u(i), -7.0, 7.0);
      h(i) = (uc + 1) * gc * sigmoid(1.702 * gc);
    } else {
      h(i) = g(i) * sigmoid(g(i)) * u(i);
    }
  }
  Vec y = e.down.cast<double>() * h;
  if (e.down_bias.size())
    y += e.down_bias.cast<double>();
  return y;
}

Vec shared(const test::ExpectedLayer& L, const Vec& x) {
  if (L.shared_gate_proj.size() == 0)
    return Vec::Zero(x.size());
  test::ExpectedExpert s{L.shared_gate_proj, L.shared_up, L.shared_down, {}, {}, {}};
  Vec y = expert(s, x);
  if (L.shared_gate.size()) // Qwen2MoeSparseMoeBlock: sigmoid(shared_expert_gate(x)) * shared
    y *= sigmoid(L.shared_gate.cast<double>().row(0).dot(x));
  return y;
}

// The routing and combine of each family, from transformers' modeling files.
Reference reference(const std::string& family, const test::ExpectedLayer& L, const Vec& x, int k,
                    const nlohmann::json& config) {
  Reference ref;
  Vec logits = L.router.cast<double>() * x;
  const int n = static_cast<int>(logits.size());
  Vec out = Vec::Zero(x.size());
  if (family == "gpt_oss" || family == "granitemoe" || family == "jetmoe") {
    // GptOssTopKRouter / GraniteMoeTopKGating / JetMoeTopKGating: top-k on the logits (gpt-oss:
    // with router.bias), softmax over the k.
    if (L.router_bias.size())
      logits += L.router_bias.cast<double>();
    ref.experts = topk(logits, k);
    Vec sel(k);
    for (int j = 0; j < k; ++j)
      sel(j) = logits(ref.experts[size_t(j)]);
    Vec w = softmax(sel);
    ref.weights.assign(w.data(), w.data() + k);
  } else if (family == "phimoe") {
    // PhimoeSparseMoeBlock: sparsemixer(router_logits, jitter_eps=router_jitter_noise) in eval
    // mode (PhimoeConfig default 0.01); experts weighted by its multipliers, no shared expert.
    const test::SparsemixerChoice c =
        test::phimoe_sparsemixer(logits, config.value("router_jitter_noise", 0.01));
    ref.experts.assign(c.experts.begin(), c.experts.end());
    ref.weights.assign(c.weights.begin(), c.weights.end());
  } else if (family == "llama4") {
    // Llama4Router: top-k on the logits, sigmoid of those; Llama4TextMoe scales the expert
    // input by it (routed_in = hidden * router_scores) and adds the shared expert.
    ref.experts = topk(logits, k);
    for (int e : ref.experts)
      ref.weights.push_back(sigmoid(logits(e)));
  } else if (family == "deepseek_v3") {
    // DeepseekV3TopkRouter.get_topk_indices: s = sigmoid(logits); choice = s + bias; group
    // score = sum of the two best choices in the group; out-of-group choices masked to 0.0; top-k
    // of the masked choice; weights = s (no bias), renormalised, × routed_scaling_factor.
    Vec s = logits.unaryExpr([](double z) { return sigmoid(z); });
    Vec choice = s + L.router_bias.cast<double>();
    const int groups = config["n_group"], keep = config["topk_group"], size = n / groups;
    Vec group_score(groups);
    for (int g = 0; g < groups; ++g) {
      Vec m = choice.segment(g * size, size);
      std::sort(m.data(), m.data() + size, std::greater<double>());
      group_score(g) = m(0) + m(1);
    }
    std::vector<int> kept = topk(group_score, keep);
    Vec masked = Vec::Zero(n);
    for (int g : kept)
      masked.segment(g * size, size) = choice.segment(g * size, size);
    ref.experts = topk(masked, k);
    double sum = 0;
    for (int e : ref.experts)
      sum += s(e);
    for (int e : ref.experts)
      ref.weights.push_back(s(e) / sum * config["routed_scaling_factor"].get<double>());
  } else {
    // softmax over all N, then top-k: Mixtral (always renormalised), OLMoE/Qwen (iff
    // norm_topk_prob), DeepSeek-V2 (never renormalised: DeepseekV2Moe only scales by
    // routed_scaling_factor), DBRX (divided by the p-norm, p = moe_normalize_expert_weights).
    Vec p = softmax(logits);
    ref.experts = topk(p, k);
    for (int e : ref.experts)
      ref.weights.push_back(p(e));
    double norm = 1;
    if (family == "mixtral" || ((family == "olmoe" || family.starts_with("qwen")) &&
                                config.value("norm_topk_prob", false)))
      norm = std::accumulate(ref.weights.begin(), ref.weights.end(), 0.0);
    if (family == "dbrx") {
      const double pn = config["ffn_config"]["moe_normalize_expert_weights"];
      norm = 0;
      for (double w : ref.weights)
        norm += std::pow(w, pn);
      norm = std::pow(norm, 1 / pn);
    }
    const double scale =
        family == "deepseek_v2" ? config["routed_scaling_factor"].get<double>() : 1.0;
    for (double& w : ref.weights)
      w = w / norm * scale;
  }
  for (int j = 0; j < k; ++j) {
    const auto& e = L.experts[size_t(ref.experts[size_t(j)])];
    if (family == "llama4")
      out += expert(e, x * ref.weights[size_t(j)]);
    else
      out += ref.weights[size_t(j)] * expert(e, x, family == "gpt_oss");
  }
  out += shared(L, x);
  if (L.moe_bias.size()) // JetMoeMoE.forward: + self.bias
    out += L.moe_bias.cast<double>();
  ref.output = out;
  return ref;
}

struct Case {
  std::string family, variant;
  nlohmann::json patch = nlohmann::json::object();
  int shared_width = 0;
  int experts = 4, top_k = 2;
  float token_scale = 1.0f;
};

std::string name_of(const Case& c) {
  return c.family + (c.variant.empty() ? "" : "/" + c.variant) +
         (c.patch.is_object() && !c.patch.empty() ? " " + c.patch.dump() : "");
}

void check_family(const Case& c) {
  SCOPED_TRACE(name_of(c));
  test::TempDir dir("fam");
  test::FamilySpec spec;
  spec.family = c.family;
  spec.variant = c.variant;
  spec.experts = c.experts;
  spec.top_k = c.top_k;
  spec.shared_width = c.shared_width;
  spec.config_patch = c.patch.is_object() ? c.patch : nlohmann::json::object();
  spec.layers = 1;
  if (c.variant == "mxfp4")
    spec.d_model = spec.d_expert = 32; // MXFP4 groups 32 values along each row
  test::FamilyCheckpoint ck = test::write_family_checkpoint(dir.path(), spec);
  auto model = io::open_checkpoint(dir.path());
  ASSERT_EQ(model->info().family, c.family);
  const int layer = model->info().moe_layers().front();
  MoeLayerWeights w = load_moe_layer(*model, layer);
  const MatrixF x = test::random_matrix(7, spec.d_model, 77, c.token_scale);
  const MatrixF router = model->router(layer);
  const Routing r = route_tokens(x, router, w.router_bias, w.rule, w.top_k);
  const MatrixF y = moe_block_forward(w, router, x);
  const test::ExpectedLayer& L = ck.layers.at(layer);
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    Reference ref = reference(c.family, L, x.row(t).transpose().cast<double>(), c.top_k, ck.config);
    for (int j = 0; j < c.top_k; ++j) {
      EXPECT_EQ(r.experts(t, j), ref.experts[size_t(j)]) << "token " << t << " slot " << j;
      EXPECT_NEAR(r.weights(t, j), ref.weights[size_t(j)], 2e-6 * (1 + ref.weights[size_t(j)]))
          << "token " << t << " slot " << j;
    }
    const Vec got = y.row(t).transpose().cast<double>();
    EXPECT_LT((got - ref.output).norm(), 1e-5 * (1 + ref.output.norm()))
        << "token " << t << ": got " << got.transpose() << "\nwant " << ref.output.transpose();
  }
}

TEST(MoeBlockFamilies, MixtralPerExpertAndStacked) {
  check_family({"mixtral", ""});
  check_family({"mixtral", "stacked"});
}

TEST(MoeBlockFamilies, OlmoeAndQwen) {
  check_family({"olmoe", ""});
  check_family({"olmoe", "stacked", {{"norm_topk_prob", true}}});
  check_family({"qwen2_moe", "", {}, 12});
  check_family({"qwen2_moe", "stacked", {}, 12});
  check_family({"qwen3_moe", ""});
  check_family({"qwen3_moe", "stacked"});
}

// DeepseekV2Moe never renormalises, whatever norm_topk_prob says; it only scales.
TEST(MoeBlockFamilies, DeepseekV2IgnoresNormTopkProbAndScales) {
  check_family({"deepseek_v2", "", {{"norm_topk_prob", true}, {"routed_scaling_factor", 2.0}}, 8});
  check_family({"deepseek_v2", "stacked", {{"routed_scaling_factor", 1.5}}, 8});
}

TEST(MoeBlockFamilies, DeepseekV3GroupLimitedWithSelectionBias) {
  check_family({"deepseek_v3", "", {}, 8, 8, 3});
  check_family({"deepseek_v3", "stacked", {{"n_group", 4}, {"topk_group", 2}}, 8, 8, 3});
}

// gpt-oss's clamped SwiGLU: tokens scaled so that some gate/up pre-activations pass ±7.
TEST(MoeBlockFamilies, GptOssClampedSwigluWithBiases) {
  check_family({"gpt_oss", "", {}, 0, 4, 2, 12.0f});
  check_family({"gpt_oss", "mxfp4", {}, 0, 4, 2, 12.0f});
}

TEST(MoeBlockFamilies, GraniteJetMoeWithOutputBiasAndLlama4) {
  check_family({"granitemoe", ""});
  check_family({"jetmoe", ""});
  check_family({"llama4", "", {}, 8});
}

// DbrxRouter divides the top-k weights by their p-norm with p = moe_normalize_expert_weights.
TEST(MoeBlockFamilies, DbrxPNormRenormalisation) {
  check_family({"dbrx", ""});
  check_family({"dbrx", "", {{"ffn_config", {{"moe_normalize_expert_weights", 2.0}}}}});
}

// The clamp matters: with tokens this large a plain SiLU·u expert differs from gpt-oss's.
TEST(MoeBlockFamilies, GptOssOracleDiffersFromPlainSilu) {
  test::TempDir dir("gptoss");
  test::FamilySpec spec;
  spec.family = "gpt_oss";
  spec.layers = 1;
  test::FamilyCheckpoint ck = test::write_family_checkpoint(dir.path(), spec);
  const Vec x = test::random_matrix(1, spec.d_model, 77, 12.0f).row(0).transpose().cast<double>();
  const auto& e = ck.layers.at(0).experts[0];
  EXPECT_GT((expert(e, x, true) - expert(e, x, false)).norm(), 0.1 * expert(e, x, true).norm());
}

// Phi-3.5-MoE's sparsemixer: the config's router_jitter_noise (default 0.01) sets the mask; with
// larger values the masks keep several experts and the weights differ from Mixtral's.
TEST(MoeBlockFamilies, PhimoeSparsemixer) {
  check_family({"phimoe", ""});
  check_family({"phimoe", "", {{"router_jitter_noise", 0.3}}, 0, 4, 2, 4.0f});
  check_family({"phimoe", "", {{"router_jitter_noise", 1.0}}, 0, 6, 2, 4.0f});
}

// The oracle is not Mixtral's rule in disguise: for the tokens above some sparsemixer weights
// differ from Mixtral's renormalised top-2 softmax, and some first-slot weights are below 1.
TEST(MoeBlockFamilies, PhimoeOracleDiffersFromMixtral) {
  test::TempDir dir("phi");
  test::FamilySpec spec;
  spec.family = "phimoe";
  spec.layers = 1;
  test::FamilyCheckpoint ck = test::write_family_checkpoint(dir.path(), spec);
  const MatrixF x = test::random_matrix(7, spec.d_model, 77, 4.0f);
  int differs = 0, soft = 0;
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    const Vec xt = x.row(t).transpose().cast<double>();
    const Reference phi =
        reference("phimoe", ck.layers.at(0), xt, 2, {{"router_jitter_noise", 0.3}});
    const Reference mix = reference("mixtral", ck.layers.at(0), xt, 2, ck.config);
    differs += std::abs(phi.weights[0] - mix.weights[0]) > 0.01;
    soft += phi.weights[0] < 0.99;
  }
  EXPECT_GT(differs, 0);
  EXPECT_GT(soft, 0);
}

// A router_jitter_noise that is negative or not a number is refused naming the key.
TEST(MoeBlockFamilies, PhimoeJitterNoiseIsChecked) {
  for (const nlohmann::json& bad : {nlohmann::json(-0.1), nlohmann::json("x")}) {
    test::TempDir dir("phibad");
    test::FamilySpec spec;
    spec.family = "phimoe";
    spec.layers = 1;
    spec.config_patch = {{"router_jitter_noise", bad}};
    test::write_family_checkpoint(dir.path(), spec);
    try {
      io::open_checkpoint(dir.path());
      ADD_FAILURE() << "accepted router_jitter_noise " << bad.dump();
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find("router_jitter_noise"), std::string::npos)
          << err.what();
    }
  }
}

// model_type decides the family: a Qwen3-MoE checkpoint whose router is stored under gpt-oss's
// name mlp.router.weight (as some Hub checkpoints are) is read as Qwen3-MoE.
TEST(MoeBlockFamilies, ModelTypeDecidesFamilyBeforeRouterName) {
  test::TempDir dir("qwen3r");
  test::FamilySpec spec;
  spec.family = "qwen3_moe";
  spec.layers = 1;
  spec.rename["model.layers.0.mlp.gate.weight"] = "model.layers.0.mlp.router.weight";
  test::FamilyCheckpoint ck = test::write_family_checkpoint(dir.path(), spec);
  auto model = io::open_checkpoint(dir.path());
  EXPECT_EQ(model->info().family, "qwen3_moe");
  EXPECT_TRUE(model->router(0).isApprox(ck.layers.at(0).router));
  MoeLayerWeights w = load_moe_layer(*model, 0);
  const MatrixF x = test::random_matrix(5, spec.d_model, 9, 1.0f);
  const MatrixF y = moe_block_forward(w, model->router(0), x);
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    Reference ref =
        reference("qwen3_moe", ck.layers.at(0), x.row(t).transpose().cast<double>(), 2, ck.config);
    EXPECT_LT((y.row(t).transpose().cast<double>() - ref.output).norm(),
              1e-5 * (1 + ref.output.norm()));
  }
}

// DeepseekV3Config defaults: n_group 8, topk_group 4, first_k_dense_replace 3 when the keys are
// missing; DeepseekV2Config: topk_method greedy.
TEST(MoeBlockFamilies, DeepseekConfigDefaults) {
  {
    test::TempDir dir("dsv3");
    test::FamilySpec spec;
    spec.family = "deepseek_v3";
    spec.layers = 4;
    spec.experts = 16;
    spec.config_patch = {
        {"n_group", nullptr}, {"topk_group", nullptr}, {"first_k_dense_replace", nullptr}};
    spec.dense_layers = {0, 1, 2};
    test::write_family_checkpoint(dir.path(), spec);
    auto model = io::open_checkpoint(dir.path());
    EXPECT_EQ(model->info().moe_layers(), std::vector<int>{3});
    EXPECT_EQ(model->info().routing.n_group, 8);
    EXPECT_EQ(model->info().routing.topk_group, 4);
  }
  {
    test::TempDir dir("dsv2");
    test::FamilySpec spec;
    spec.family = "deepseek_v2";
    spec.layers = 1;
    spec.config_patch = {{"topk_method", nullptr}, {"n_group", 2}, {"topk_group", 1}};
    test::write_family_checkpoint(dir.path(), spec);
    auto model = io::open_checkpoint(dir.path());
    EXPECT_EQ(model->info().routing.n_group, 1) << "a missing topk_method means greedy";
    EXPECT_FALSE(model->info().routing.renormalize);
  }
}

// DBRX's norm_2 and PhiMoE's post_attention_layernorm are LayerNorms: embedding tokens go
// through (x − mean)/sqrt(var + 1e-5)·w (+ b), not an RMSNorm.
TEST(MoeBlockFamilies, DbrxAndPhimoePreMoeNormIsLayerNorm) {
  for (const char* family : {"dbrx", "phimoe", "mixtral"}) {
    SCOPED_TRACE(family);
    test::TempDir dir("norm");
    test::FamilySpec spec;
    spec.family = family;
    spec.layers = 1;
    test::FamilyCheckpoint ck = test::write_family_checkpoint(dir.path(), spec);
    auto model = io::open_checkpoint(dir.path());
    const MatrixF x = test::random_matrix(4, spec.d_model, 3, 2.0f);
    const MatrixF y = pre_moe_normalize(*model, 0, x);
    const Vec w = ck.layers.at(0).norm.cast<double>();
    const bool layer_norm = std::string(family) != "mixtral";
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
      Vec v = x.row(t).transpose().cast<double>();
      Vec want;
      if (layer_norm) {
        const double mean = v.mean();
        const double var = (v.array() - mean).square().mean();
        want = ((v.array() - mean) / std::sqrt(var + 1e-5)).matrix().cwiseProduct(w);
      } else {
        want = v / std::sqrt(v.squaredNorm() / double(v.size()) + 1e-6);
        want = want.cwiseProduct(w);
      }
      EXPECT_LT((y.row(t).transpose().cast<double>() - want).norm(), 1e-5 * want.norm());
    }
  }
}

} // namespace
} // namespace routerscope
