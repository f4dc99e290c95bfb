// The scalar and bulk codecs of io/dtype.h against independent oracles: the compiler's _Float16,
// the bit-level definitions of BF16 and the OCP FP8 / FP4 formats evaluated in double, and
// brute-force nearest-value search for the encoders.
#include "io/dtype.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <gtest/gtest.h>
#include <limits>
#include <random>
#include <vector>

namespace routerscope::io {
namespace {

__extension__ typedef _Float16 Half; // GCC on x86-64: IEEE binary16 with correctly rounded casts

// Two floats agree: both NaN, or equal with the same sign (so -0 != +0).
::testing::AssertionResult same_float(double expected, float got) {
  if (std::isnan(expected) && std::isnan(got))
    return ::testing::AssertionSuccess();
  if (static_cast<double>(got) == expected && std::signbit(got) == std::signbit(expected))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected " << expected << ", got " << got;
}

// A generic small binary float from its fields (sign, biased exponent, mantissa) in double.
double from_fields(unsigned sign, unsigned exp, unsigned mant, int mant_bits, int bias) {
  const double frac = static_cast<double>(mant) / static_cast<double>(1u << mant_bits);
  const double mag =
      exp == 0 ? std::ldexp(frac, 1 - bias) : std::ldexp(1.0 + frac, static_cast<int>(exp) - bias);
  return sign ? -mag : mag;
}

// OCP FP8 E4M3 (FN): bias 7, no infinities, S.1111.111 is NaN.
double e4m3_oracle(unsigned b) {
  const unsigned s = b >> 7, e = (b >> 3) & 0xfu, m = b & 0x7u;
  if (e == 0xf && m == 0x7)
    return std::numeric_limits<double>::quiet_NaN();
  return from_fields(s, e, m, 3, 7);
}

// OCP FP8 E5M2: bias 15, IEEE-like: exponent 31 is infinity (mantissa 0) or NaN.
double e5m2_oracle(unsigned b) {
  const unsigned s = b >> 7, e = (b >> 2) & 0x1fu, m = b & 0x3u;
  if (e == 0x1f)
    return m ? std::numeric_limits<double>::quiet_NaN()
             : (s ? -1.0 : 1.0) * std::numeric_limits<double>::infinity();
  return from_fields(s, e, m, 2, 15);
}

// BF16: the top half of an IEEE binary32 (bias 127, 7 mantissa bits).
double bf16_oracle(unsigned b) {
  const unsigned s = b >> 15, e = (b >> 7) & 0xffu, m = b & 0x7fu;
  if (e == 0xff)
    return m ? std::numeric_limits<double>::quiet_NaN()
             : (s ? -1.0 : 1.0) * std::numeric_limits<double>::infinity();
  return from_fields(s, e, m, 7, 127);
}

// E2M1: bias 1, 1 mantissa bit, no specials.
double e2m1_oracle(unsigned b) {
  return from_fields(b >> 3, (b >> 1) & 0x3u, b & 0x1u, 1, 1);
}

// Nearest finite code of a sign-magnitude format to x, by brute force over the positive codes
// [0, max_code]; ties go to the even code (mantissa LSB 0). The sign bit is `sign_bit`.
unsigned nearest_code(double x, unsigned max_code, unsigned sign_bit, double (*decode)(unsigned)) {
  const double a = std::fabs(x);
  unsigned best = 0;
  double best_err = std::numeric_limits<double>::infinity();
  for (unsigned c = 0; c <= max_code; ++c) {
    const double err = std::fabs(decode(c) - a);
    if (err < best_err || (err == best_err && (c & 1u) == 0)) {
      best = c;
      best_err = err;
    }
  }
  return std::signbit(x) ? (best | sign_bit) : best;
}

std::vector<float> probe_values(std::uint64_t seed, int count, float lo_exp, float hi_exp) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> e(lo_exp, hi_exp);
  std::uniform_int_distribution<int> sign(0, 1);
  std::vector<float> out;
  for (int i = 0; i < count; ++i)
    out.push_back((sign(rng) ? -1.0f : 1.0f) * std::exp2(e(rng)));
  return out;
}

TEST(DtypeCodec, F16DecodesAllPatternsLikeCompilerFloat16) {
  for (unsigned b = 0; b < 65536; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    Half h;
    std::memcpy(&h, &bits, 2);
    EXPECT_TRUE(same_float(static_cast<double>(static_cast<float>(h)), f16_to_float(bits)))
        << "pattern 0x" << std::hex << b;
  }
}

// The bulk decoders read every pattern from a buffer starting at an odd address (as a tensor in
// a safetensors file may) and agree with the same oracles as the scalar codecs.
TEST(DtypeCodec, BulkDecodersAgreeWithTheOraclesOnEveryPatternAtAnyAlignment) {
  std::vector<std::byte> bytes(1 + 2 * 65536);
  for (unsigned b = 0; b < 65536; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    std::memcpy(bytes.data() + 1 + 2 * b, &bits, 2);
  }
  std::vector<float> got(65536);
  decode_f16(bytes.data() + 1, 65536, got.data());
  for (unsigned b = 0; b < 65536; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    Half h;
    std::memcpy(&h, &bits, 2);
    EXPECT_TRUE(same_float(static_cast<double>(static_cast<float>(h)), got[b]))
        << "F16 pattern 0x" << std::hex << b;
  }
  decode_bf16(bytes.data() + 1, 65536, got.data());
  for (unsigned b = 0; b < 65536; ++b)
    EXPECT_TRUE(same_float(bf16_oracle(b), got[b])) << "BF16 pattern 0x" << std::hex << b;

  std::vector<std::byte> bytes8(1 + 256);
  for (unsigned b = 0; b < 256; ++b)
    bytes8[1 + b] = static_cast<std::byte>(b);
  decode_fp8_e4m3(bytes8.data() + 1, 256, got.data());
  for (unsigned b = 0; b < 256; ++b)
    EXPECT_TRUE(same_float(e4m3_oracle(b), got[b])) << "E4M3 pattern 0x" << std::hex << b;
  decode_fp8_e5m2(bytes8.data() + 1, 256, got.data());
  for (unsigned b = 0; b < 256; ++b)
    EXPECT_TRUE(same_float(e5m2_oracle(b), got[b])) << "E5M2 pattern 0x" << std::hex << b;
}

TEST(DtypeCodec, F16EncodesLikeCompilerFloat16) {
  // Every finite pattern round-trips, and arbitrary floats (subnormal to overflow) round to the
  // same pattern as the compiler's correctly rounded float -> _Float16 conversion.
  std::vector<float> values = probe_values(1, 20000, -27.0f, 17.0f);
  for (unsigned b = 0; b < 65536; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    if ((b & 0x7c00u) == 0x7c00u && (b & 0x3ffu) != 0)
      continue; // NaN payloads are not preserved
    EXPECT_EQ(float_to_f16(f16_to_float(bits)), bits) << "pattern 0x" << std::hex << b;
    // Midpoints to the next pattern of the same sign: exact ties, decided to even.
    if ((b & 0x7fffu) < 0x7bffu) {
      const std::uint16_t next = static_cast<std::uint16_t>(b + 1);
      values.push_back(static_cast<float>(
          (static_cast<double>(f16_to_float(bits)) + static_cast<double>(f16_to_float(next))) / 2));
    }
  }
  for (float x : {65504.0f, 65519.0f, 65520.0f, 1e6f, -1e6f, std::numeric_limits<float>::infinity(),
                  1e-10f, -1e-10f})
    values.push_back(x);
  for (float x : values) {
    const Half h = static_cast<Half>(x);
    std::uint16_t want;
    std::memcpy(&want, &h, 2);
    EXPECT_EQ(float_to_f16(x), want) << "value " << x;
  }
  EXPECT_TRUE(std::isnan(f16_to_float(float_to_f16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(DtypeCodec, Bf16DecodesAllPatternsByBitDefinition) {
  for (unsigned b = 0; b < 65536; ++b)
    EXPECT_TRUE(same_float(bf16_oracle(b), bf16_to_float(static_cast<std::uint16_t>(b))))
        << "pattern 0x" << std::hex << b;
}

TEST(DtypeCodec, Bf16EncodesToNearestTiesToEven) {
  // Oracle in double: the two bf16 neighbours of x (truncation and one step away from zero) and
  // the exact distance to each; ties go to the even pattern. Beyond the largest finite bf16 the
  // next step up is 2^128 (then infinity), as IEEE rounding prescribes.
  std::vector<float> values = probe_values(2, 50000, -135.0f, 127.9f);
  // Exact ties: lower 16 bits 0x8000, both even and odd upper halves.
  for (std::uint32_t hi : {0x3f80u, 0x3f81u, 0x0001u, 0x0002u, 0xc2f3u, 0x7f7eu, 0x7f7fu})
    values.push_back(std::bit_cast<float>((hi << 16) | 0x8000u));
  values.push_back(std::bit_cast<float>(0x7f7fffffu)); // rounds up to infinity
  for (float x : values) {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(x);
    const unsigned lo = u >> 16, hi = lo + 1;
    const double xd = x;
    const double vlo = bf16_oracle(lo);
    const double vhi =
        ((hi & 0x7f80u) == 0x7f80u) ? std::copysign(std::ldexp(1.0, 128), xd) : bf16_oracle(hi);
    const double dlo = std::fabs(xd - vlo), dhi = std::fabs(xd - vhi);
    const unsigned want = (dlo < dhi || (dlo == dhi && (lo & 1u) == 0)) ? lo : hi;
    EXPECT_EQ(float_to_bf16(x), want) << "value " << x;
  }
  for (unsigned b = 0; b < 65536; ++b) {
    if ((b & 0x7f80u) == 0x7f80u && (b & 0x7fu) != 0)
      continue;
    EXPECT_EQ(float_to_bf16(bf16_to_float(static_cast<std::uint16_t>(b))), b);
  }
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(DtypeCodec, Fp8E4m3DecodesAllPatternsPerOcpSpec) {
  for (unsigned b = 0; b < 256; ++b)
    EXPECT_TRUE(same_float(e4m3_oracle(b), fp8_e4m3_to_float(static_cast<std::uint8_t>(b))))
        << "pattern 0x" << std::hex << b;
  EXPECT_EQ(fp8_e4m3_to_float(0x7e), 448.0f);
  EXPECT_EQ(fp8_e4m3_to_float(0x01), std::ldexp(1.0f, -9));
}

TEST(DtypeCodec, Fp8E5m2DecodesAllPatternsPerOcpSpec) {
  for (unsigned b = 0; b < 256; ++b)
    EXPECT_TRUE(same_float(e5m2_oracle(b), fp8_e5m2_to_float(static_cast<std::uint8_t>(b))))
        << "pattern 0x" << std::hex << b;
  EXPECT_EQ(fp8_e5m2_to_float(0x7b), 57344.0f);
  EXPECT_TRUE(std::isinf(fp8_e5m2_to_float(0xfc)));
}

TEST(DtypeCodec, Fp8EncodersRoundTripAndRoundToNearest) {
  for (unsigned b = 0; b < 256; ++b) {
    const auto bits = static_cast<std::uint8_t>(b);
    if ((b & 0x7fu) != 0x7fu) {
      EXPECT_EQ(float_to_fp8_e4m3(fp8_e4m3_to_float(bits)), bits) << std::hex << b;
    }
    if ((b & 0x7cu) != 0x7cu || (b & 0x3u) == 0) {
      EXPECT_EQ(float_to_fp8_e5m2(fp8_e5m2_to_float(bits)), bits) << std::hex << b;
    }
  }
  // Random magnitudes from far below the smallest subnormal to beyond the saturation point, plus
  // every midpoint between neighbouring codes (exact ties).
  std::vector<float> values = probe_values(3, 20000, -20.0f, 17.0f);
  for (unsigned c = 0; c < 0x7e; ++c)
    values.push_back(static_cast<float>((e4m3_oracle(c) + e4m3_oracle(c + 1)) / 2));
  for (unsigned c = 0; c < 0x7b; ++c)
    values.push_back(static_cast<float>(-(e5m2_oracle(c) + e5m2_oracle(c + 1)) / 2));
  for (float x : {448.0f, 464.0f, 1000.0f, -1e9f, 57344.0f, 61440.0f, 1e9f})
    values.push_back(x);
  for (float x : values) {
    // Finite input saturates: the nearest finite code is the largest one beyond the range.
    EXPECT_EQ(float_to_fp8_e4m3(x), nearest_code(x, 0x7e, 0x80, e4m3_oracle)) << "value " << x;
    EXPECT_EQ(float_to_fp8_e5m2(x), nearest_code(x, 0x7b, 0x80, e5m2_oracle)) << "value " << x;
  }
  EXPECT_EQ(float_to_fp8_e5m2(std::numeric_limits<float>::infinity()), 0x7c);
  EXPECT_EQ(float_to_fp8_e5m2(-std::numeric_limits<float>::infinity()), 0xfc);
  EXPECT_TRUE(std::isnan(fp8_e4m3_to_float(float_to_fp8_e4m3(std::nanf("")))));
  EXPECT_TRUE(std::isnan(fp8_e5m2_to_float(float_to_fp8_e5m2(std::nanf("")))));
}

TEST(DtypeCodec, Fp4E2m1TableAndNearestEncoding) {
  for (unsigned b = 0; b < 16; ++b) {
    EXPECT_TRUE(same_float(e2m1_oracle(b), fp4_e2m1_to_float(static_cast<std::uint8_t>(b))))
        << "nibble " << b;
    // Only the low nibble counts.
    EXPECT_EQ(fp4_e2m1_to_float(static_cast<std::uint8_t>(b | 0xa0u)),
              fp4_e2m1_to_float(static_cast<std::uint8_t>(b)));
  }
  for (int i = -80; i <= 80; ++i) {
    const double x = i / 10.0 + 0.05 * (i % 3); // a grid that hits the midpoints 0.25, 2.5, 5
    const unsigned want = nearest_code(x, 7, 0x8, e2m1_oracle);
    const std::uint8_t got = float_to_fp4_e2m1(static_cast<float>(x));
    EXPECT_LT(got, 16);
    // Compared by value: the sign of a zero result is not specified for MXFP4 writing.
    EXPECT_EQ(fp4_e2m1_to_float(got), static_cast<float>(e2m1_oracle(want))) << "value " << x;
  }
  for (double tie : {0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0})
    EXPECT_EQ(float_to_fp4_e2m1(static_cast<float>(tie)), nearest_code(tie, 7, 0x8, e2m1_oracle))
        << "tie " << tie;
}

TEST(DtypeCodec, NamesAndBitWidthsMatchSafetensorsSpelling) {
  const std::vector<std::pair<const char*, int>> expected{
      {"BOOL", 8},        {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"U8", 8},
      {"I8", 8},          {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8},
      {"F8_E5M2FNUZ", 8}, {"I16", 16},    {"U16", 16},    {"F16", 16},    {"BF16", 16},
      {"I32", 32},        {"U32", 32},    {"F32", 32},    {"C64", 64},    {"F64", 64},
      {"I64", 64},        {"U64", 64}};
  for (const auto& [name, bits] : expected) {
    auto d = parse_dtype(name);
    ASSERT_TRUE(d.has_value()) << name;
    EXPECT_EQ(dtype_name(*d), name);
    EXPECT_EQ(dtype_bits(*d), bits) << name;
  }
  EXPECT_FALSE(parse_dtype("F12").has_value());
  EXPECT_FALSE(parse_dtype("f32").has_value());
}

} // namespace
} // namespace routerscope::io
