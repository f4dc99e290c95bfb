// The family table (io/families.cpp) is the one list of families: every row is one the test
// checkpoint builder can write, read back as that family with every expert equal to the written
// matrices. A row added without its test support fails here.
#include "core/error.h"
#include "io/checkpoint.h"
#include "io/families.h"
#include "tests/support/family_checkpoint.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>
#include <set>

namespace routerscope {
namespace {

// The families the rest of the io tests cover (checkpoint_test, moe_block_families_test).
const std::set<std::string> kTested = {"mixtral",     "olmoe",       "qwen2_moe", "qwen3_moe",
                                       "deepseek_v2", "deepseek_v3", "gpt_oss",   "phimoe",
                                       "granitemoe",  "jetmoe",      "dbrx",      "llama4"};

TEST(FamilyTable, EveryRowIsATestedFamilyReadBackAsItself) {
  std::set<std::string> rows;
  for (const auto& row : io::layout::family_rows()) {
    SCOPED_TRACE(row.name);
    EXPECT_TRUE(rows.insert(row.name).second) << "family listed twice";
    EXPECT_TRUE(kTested.count(row.name)) << "a family without tests: add its cases to "
                                            "tests/io/checkpoint_test.cpp and "
                                            "moe_block_families_test.cpp, then list it here";
    EXPECT_EQ(io::layout::find_family(row.name), &row);

    test::FamilySpec s;
    s.family = row.name;
    test::TempDir dir("family-table");
    const auto ck = test::write_family_checkpoint(dir.path(), s);
    const auto model = io::open_checkpoint(dir.path());
    const ModelInfo& info = model->info();
    EXPECT_EQ(info.family, row.name);
    EXPECT_EQ(info.pre_moe_norm, row.norm);
    for (const auto& [l, L] : ck.layers) {
      if (!L.moe)
        continue;
      ASSERT_EQ(info.layer(l).experts, s.experts);
      EXPECT_EQ(model->router(l), L.router) << "layer " << l;
      for (int e = 0; e < s.experts; ++e) {
        const auto& want = L.experts[static_cast<size_t>(e)];
        EXPECT_EQ(model->expert_weight(l, e, ExpertMatrix::Gate), want.gate) << l << "/" << e;
        EXPECT_EQ(model->expert_weight(l, e, ExpertMatrix::Up), want.up) << l << "/" << e;
        EXPECT_EQ(model->expert_weight(l, e, ExpertMatrix::Down), want.down) << l << "/" << e;
      }
    }
  }
  EXPECT_EQ(rows, kTested) << "a tested family has no row";
  EXPECT_EQ(io::layout::find_family("not_a_family"), nullptr);
}

// Every block row's router name is distinct, so the first router found decides the block.
TEST(FamilyTable, BlockRoutersAreDistinct) {
  std::set<std::string> routers;
  for (const auto& b : io::layout::block_rows()) {
    EXPECT_TRUE(routers.insert(b.router).second) << b.router;
    EXPECT_EQ(&io::layout::block_row(b.kind), &b);
    EXPECT_NE(b.experts, nullptr) << b.router;
  }
}

} // namespace
} // namespace routerscope
