#include "core/routing.h"
#include "io/checkpoint.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace routerscope {
namespace {

// The MoE block forward (routing + experts + gated shared expert) against transformers' own
// output for one token (hf_ref in tests/data/hf-tiny/qwen2_moe_layer0.json).
TEST(MoeBlockForward, ReproducesTransformersQwen2MoeLayer0) {
  const std::filesystem::path src = test::hf_tiny_dir();
  test::TempDir dir("qwen");
  std::filesystem::copy_file(src / "qwen2_moe_layer0.safetensors", dir / "model.safetensors");
  auto model = io::open_checkpoint(dir.path());
  nlohmann::json ref = nlohmann::json::parse(std::ifstream(src / "qwen2_moe_layer0.json"));
  const int d = ref["d_model"];
  std::vector<float> x = ref["input"].get<std::vector<float>>();
  std::vector<double> want = ref["hf_ref"];
  ASSERT_EQ(x.size(), size_t(d));
  MoeLayerWeights w = load_moe_layer(*model, 0, ref["experts_per_token"].get<int>());
  w.rule = RoutingRule{}; // Qwen2-MoE: softmax over all, top-k, renormalise iff norm_topk_prob
  w.rule.renormalize = ref["norm_topk_prob"].get<bool>();
  ASSERT_GT(w.shared_gate.size(), 0);
  MatrixF xt = Eigen::Map<MatrixF>(x.data(), 1, d);
  MatrixF y = moe_block_forward(w, model->router(0), xt);
  // The outputs are ~1e-4 in size, so the 1e-5 is applied relative to their norm.
  double diff = 0, norm = 0;
  for (int i = 0; i < d; ++i) {
    diff += std::pow(double(y(0, i)) - want[size_t(i)], 2);
    norm += want[size_t(i)] * want[size_t(i)];
  }
  EXPECT_LT(std::sqrt(diff), 1e-5 * std::sqrt(norm)) << "relative error " << std::sqrt(diff / norm);
}

} // namespace
} // namespace routerscope
