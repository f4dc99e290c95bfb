// sig4 and binary_bytes (core/number_format.h). Oracles: Python's '%.4g' of the same values, and
// byte counts whose binary-unit form is known in closed form.
#include "core/number_format.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace routerscope {
namespace {

TEST(NumberFormat, Sig4IsPythonsPercentPoint4g) {
  const std::vector<double> values = {
      0.73989, 0.7399,  0.99999,     0.999949, 1.0,    0.0,      -0.5,   1.23456e-5, 12345.6,
      9999.5,  99995.0, 123456789.0, 1e-300,   5e-324, -7.25e12, 0.0001, 0.00012345, 42.0};
  std::string args;
  for (double v : values) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g ", v);
    args += buf;
  }
  args += "nan inf -inf";
  const auto py = test::run_shell(
      "/usr/bin/python3 -c \"import sys; print('\\n'.join('%.4g' % float(a) for a in "
      "sys.argv[1:]))\" " +
      args);
  ASSERT_EQ(py.exit_code, 0) << py.out;
  std::istringstream lines(py.out);
  std::vector<double> all = values;
  all.insert(all.end(),
             {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
              -std::numeric_limits<double>::infinity()});
  for (double v : all) {
    std::string expected;
    ASSERT_TRUE(std::getline(lines, expected)) << py.out;
    EXPECT_EQ(sig4(v), expected) << v;
  }
  EXPECT_EQ(sig4(0.73989), "0.7399"); // the example: 0.73989 shown as 0.7399
}

TEST(NumberFormat, BinaryBytesInTheLargestUnitReached) {
  EXPECT_EQ(binary_bytes(0), "0 B");
  EXPECT_EQ(binary_bytes(1023), "1023 B");
  EXPECT_EQ(binary_bytes(1024), "1 KiB");
  EXPECT_EQ(binary_bytes(1536), "1.5 KiB");       // 1.5 · 2¹⁰
  EXPECT_EQ(binary_bytes(1048575), "1024 KiB");   // 1023.999 KiB to 4 digits
  EXPECT_EQ(binary_bytes(1048576), "1 MiB");      // 2²⁰
  EXPECT_EQ(binary_bytes(19189760), "18.3 MiB");  // 18.30078125 · 2²⁰
  EXPECT_EQ(binary_bytes(3ull << 29), "1.5 GiB"); // 1.5 · 2³⁰
  EXPECT_EQ(binary_bytes(5ull << 40), "5 TiB");   // TiB is the largest unit
  EXPECT_EQ(binary_bytes(5000ull << 40), "5000 TiB");
  EXPECT_EQ(binary_bytes(123456789), "117.7 MiB"); // 117.737… · 2²⁰
}

} // namespace
} // namespace routerscope
