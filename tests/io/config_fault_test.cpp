// config.json values found by the mutation campaign (issue 15, findings 11 and 12): a negative
// count was silently ignored (num_hidden_layers: -3) or blamed on a tensor shape (hidden_size).
#include "core/error.h"
#include "io/checkpoint.h"
#include "tests/io/io_test_helpers.h"
#include "tests/support/family_checkpoint.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>

namespace routerscope::test {
namespace {

using io::test_helpers::expect_bad_input;

TEST(ConfigFaults, NegativeCountsAreBadInputNamingTheKey) {
  for (const auto& [key, family] :
       std::vector<std::pair<std::string, std::string>>{{"num_hidden_layers", "mixtral"},
                                                        {"hidden_size", "mixtral"},
                                                        {"num_experts", "olmoe"}}) {
    TempDir dir("cfg");
    FamilySpec spec;
    spec.family = family;
    spec.config_patch = {{key, -3}};
    write_family_checkpoint(dir / "m", spec);
    expect_bad_input([&] { io::open_checkpoint(dir / "m"); },
                     {"config.json", "key " + key + " must be a non-negative integer, found -3"});
  }
}

TEST(ConfigFaults, ControlCheckpointOpens) {
  TempDir dir("cfg");
  FamilySpec spec;
  write_family_checkpoint(dir / "m", spec);
  EXPECT_EQ(io::open_checkpoint(dir / "m")->info().layers.size(), 2u);
}

TEST(ConfigFaults, HugeOrNestedValuesAreNamedNotPrinted) {
  TempDir dir("cfg");
  FamilySpec spec;
  nlohmann::json deep = nlohmann::json::array();
  // 500 levels: deep enough to be unprintable in a message, shallow enough for the test's own
  // recursive serialisation of the fixture under AddressSanitizer's larger stack frames.
  for (int i = 0; i < 500; ++i)
    deep = nlohmann::json::array({deep});
  spec.config_patch = {{"hidden_size", deep}};
  write_family_checkpoint(dir / "m", spec);
  expect_bad_input([&] { io::open_checkpoint(dir / "m"); },
                   {"key hidden_size must be an integer, found an array"});
  spec.config_patch = {{"hidden_size", 1e300}};
  write_family_checkpoint(dir / "n", spec);
  expect_bad_input([&] { io::open_checkpoint(dir / "n"); }, {"key hidden_size"});
}

} // namespace
} // namespace routerscope::test
