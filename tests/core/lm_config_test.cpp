#include "core/error.h"
#include "core/lm/lm_config.h"
#include "core/lm/lm_trainer.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

using namespace routerscope;
using namespace routerscope::lm;

namespace {

std::string bad_input_message(const LmConfig& c) {
  try {
    c.validate();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    return e.what();
  }
  return "";
}

} // namespace

TEST(LmConfig, RejectsBadShapesNamingTheOption) {
  LmConfig c;
  c.heads = 3;
  EXPECT_NE(bad_input_message(c).find("--heads 3"), std::string::npos);
  c = LmConfig{};
  c.top_k = 9;
  EXPECT_NE(bad_input_message(c).find("--top-k 9"), std::string::npos);
  c = LmConfig{};
  c.ctx = 1;
  EXPECT_NE(bad_input_message(c).find("--ctx"), std::string::npos);
  c = LmConfig{};
  c.layers = 0;
  EXPECT_NE(bad_input_message(c).find("--layers"), std::string::npos);
  EXPECT_NO_THROW(LmConfig{}.validate());
}

TEST(LmConfig, LayoutHasMixtralNamesShapesAndContiguousOffsets) {
  LmConfig c;
  c.layers = 2;
  c.experts = 3;
  c.d_model = 8;
  c.heads = 2;
  c.d_expert = 5;
  c.vocab = 11;
  const auto t = lm_tensor_layout(c);
  // Count from the Mixtral definition: embed, per layer 2 norms + 4 attn + gate + 3 per expert,
  // final norm, lm_head.
  ASSERT_EQ(t.size(), std::size_t(1 + 2 * (2 + 4 + 1 + 3 * 3) + 2));
  std::set<std::string> names;
  std::size_t offset = 0;
  for (const auto& x : t) {
    EXPECT_EQ(x.offset, offset) << x.name;
    offset += x.size;
    names.insert(x.name);
  }
  EXPECT_EQ(names.size(), t.size());
  EXPECT_EQ(t.front().name, "model.embed_tokens.weight");
  EXPECT_EQ(t.back().name, "lm_head.weight");
  EXPECT_EQ(t.back().shape, (std::vector<std::int64_t>{11, 8}));
  const auto s = lm_slots(c);
  EXPECT_EQ(t[size_t(s.layers[1].gate)].name, "model.layers.1.block_sparse_moe.gate.weight");
  EXPECT_EQ(t[size_t(s.layers[1].gate)].shape, (std::vector<std::int64_t>{3, 8}));
  EXPECT_EQ(t[size_t(s.layers[1].w2[2])].name,
            "model.layers.1.block_sparse_moe.experts.2.w2.weight");
  EXPECT_EQ(t[size_t(s.layers[1].w2[2])].shape, (std::vector<std::int64_t>{8, 5}));
  EXPECT_EQ(t[size_t(s.layers[0].w1[0])].shape, (std::vector<std::int64_t>{5, 8}));
  EXPECT_FALSE(t[size_t(s.layers[0].input_norm)].matrix);
  EXPECT_TRUE(t[size_t(s.layers[0].q)].matrix);
  EXPECT_EQ(t[size_t(s.final_norm)].name, "model.norm.weight");
}
