#pragma once
// Helpers shared by the io tests: checking that a call fails with BadInput and a useful message.
#include "core/error.h"

#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace routerscope::io::test_helpers {

// Runs `f`, expecting Error(BadInput) whose message contains every needle.
template <class F> void expect_bad_input(F&& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "expected BadInput containing '" << needles.front() << "', nothing thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "message '" << e.what() << "' lacks '" << n << "'";
  }
}

} // namespace routerscope::io::test_helpers
