#include "io/dtype.h"

#include "core/enum_names.h"
#include "core/error.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

namespace routerscope::io {

namespace {
constexpr NameTable<DType, 22> kNames{{
    {DType::BOOL, "BOOL"},
    {DType::F4, "F4"},
    {DType::F6_E2M3, "F6_E2M3"},
    {DType::F6_E3M2, "F6_E3M2"},
    {DType::U8, "U8"},
    {DType::I8, "I8"},
    {DType::F8_E5M2, "F8_E5M2"},
    {DType::F8_E4M3, "F8_E4M3"},
    {DType::F8_E8M0, "F8_E8M0"},
    {DType::F8_E4M3FNUZ, "F8_E4M3FNUZ"},
    {DType::F8_E5M2FNUZ, "F8_E5M2FNUZ"},
    {DType::I16, "I16"},
    {DType::U16, "U16"},
    {DType::F16, "F16"},
    {DType::BF16, "BF16"},
    {DType::I32, "I32"},
    {DType::U32, "U32"},
    {DType::F32, "F32"},
    {DType::C64, "C64"},
    {DType::F64, "F64"},
    {DType::I64, "I64"},
    {DType::U64, "U64"},
}};

// Encodes a finite or infinite float into a small float format with `e` exponent bits, `m`
// mantissa bits, round to nearest even. `max_finite` saturates (FP8) and `has_inf` selects
// whether overflow becomes infinity (F16, E5M2 keep infinities only for infinite input).
std::uint32_t encode_small(float v, int e, int m, float max_finite, bool inf_on_overflow,
                           std::uint32_t nan_code) {
  std::uint32_t sign = std::signbit(v) ? 1u : 0u;
  std::uint32_t sign_bit = sign << (e + m);
  if (std::isnan(v))
    return sign_bit | nan_code;
  float a = std::fabs(v);
  const int bias = (1 << (e - 1)) - 1;
  if (std::isinf(a) && inf_on_overflow)
    return sign_bit | (((1u << e) - 1u) << m);
  if (a >= max_finite) {
    // Saturate unless it rounds above max_finite in a format with infinities.
    if (!inf_on_overflow || std::isinf(a))
      a = max_finite;
  }
  // Smallest normal exponent is 1 - bias; subnormal step 2^(1 - bias - m).
  int exp;
  std::frexp(a, &exp); // a = f * 2^exp, f in [0.5, 1)
  int unbiased = exp - 1;
  if (unbiased < 1 - bias)
    unbiased = 1 - bias; // subnormal range shares the smallest normal's step
  double step = std::ldexp(1.0, unbiased - m);
  double q = std::nearbyint(static_cast<double>(a) / step); // ties to even (default rounding)
  double r = q * step;
  if (r > max_finite) {
    if (inf_on_overflow)
      return sign_bit | (((1u << e) - 1u) << m);
    r = max_finite;
  }
  if (r == 0.0)
    return sign_bit;
  int rexp;
  std::frexp(r, &rexp);
  int ru = rexp - 1;
  std::uint32_t code;
  if (ru < 1 - bias) { // subnormal
    code = static_cast<std::uint32_t>(std::llround(r / std::ldexp(1.0, 1 - bias - m)));
  } else {
    std::uint32_t mant =
        static_cast<std::uint32_t>(std::llround((r / std::ldexp(1.0, ru) - 1.0) * (1 << m)));
    code = (static_cast<std::uint32_t>(ru + bias) << m) | mant;
  }
  return sign_bit | code;
}

float decode_small(std::uint32_t bits, int e, int m, bool ieee_special) {
  const int bias = (1 << (e - 1)) - 1;
  std::uint32_t sign = (bits >> (e + m)) & 1u;
  std::uint32_t ex = (bits >> m) & ((1u << e) - 1u);
  std::uint32_t mant = bits & ((1u << m) - 1u);
  float s = sign ? -1.0f : 1.0f;
  if (ieee_special && ex == (1u << e) - 1u)
    return mant ? std::numeric_limits<float>::quiet_NaN()
                : s * std::numeric_limits<float>::infinity();
  if (ex == 0)
    return s * static_cast<float>(std::ldexp(static_cast<double>(mant), 1 - bias - m));
  return s * static_cast<float>(std::ldexp(1.0 + static_cast<double>(mant) / (1 << m),
                                           static_cast<int>(ex) - bias));
}
} // namespace

std::string_view dtype_name(DType t) {
  return name_of(kNames, t);
}

std::optional<DType> parse_dtype(std::string_view name) {
  return value_of(kNames, name);
}

int dtype_bits(DType t) {
  switch (t) {
  case DType::F4:
    return 4;
  case DType::F6_E2M3:
  case DType::F6_E3M2:
    return 6;
  case DType::BOOL:
  case DType::U8:
  case DType::I8:
  case DType::F8_E5M2:
  case DType::F8_E4M3:
  case DType::F8_E8M0:
  case DType::F8_E4M3FNUZ:
  case DType::F8_E5M2FNUZ:
    return 8;
  case DType::I16:
  case DType::U16:
  case DType::F16:
  case DType::BF16:
    return 16;
  case DType::I32:
  case DType::U32:
  case DType::F32:
    return 32;
  case DType::C64:
  case DType::F64:
  case DType::I64:
  case DType::U64:
    return 64;
  }
  return 8;
}

float bf16_to_float(std::uint16_t bits) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

void bf16_to_float(const std::uint16_t* src, std::size_t count, float* dst) {
  for (std::size_t i = 0; i < count; ++i)
    dst[i] = bf16_to_float(src[i]);
}

namespace {
// IEEE binary16 bits to float without branches: the 15 magnitude bits shifted into a float's
// place and scaled by 2^112 (exact for normals and subnormals alike); an all-ones exponent (Inf,
// NaN) becomes the float's all-ones exponent.
inline float f16_bits_fast(std::uint16_t h) {
  const std::uint32_t magnitude = h & 0x7fffu;
  const float scaled = std::bit_cast<float>(magnitude << 13) * 0x1p112f;
  std::uint32_t bits = std::bit_cast<std::uint32_t>(scaled);
  bits |= magnitude >= 0x7c00u ? 0x7f800000u : 0u;
  return std::bit_cast<float>(bits | (static_cast<std::uint32_t>(h & 0x8000u) << 16));
}

template <float (*Decode)(std::uint16_t)>
void decode_16(const std::byte* src, std::size_t count, float* dst) {
  for (std::size_t i = 0; i < count; ++i) {
    std::uint16_t b;
    std::memcpy(&b, src + 2 * i, 2);
    dst[i] = Decode(b);
  }
}

inline float bf16_bits(std::uint16_t b) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

using Fp8Table = std::array<float, 256>;
template <float (*Decode)(std::uint8_t)> const Fp8Table& fp8_table() {
  static const Fp8Table table = [] {
    Fp8Table t{};
    for (unsigned b = 0; b < 256; ++b)
      t[b] = Decode(static_cast<std::uint8_t>(b));
    return t;
  }();
  return table;
}

void decode_8(const Fp8Table& table, const std::byte* src, std::size_t count, float* dst) {
  for (std::size_t i = 0; i < count; ++i)
    dst[i] = table[std::to_integer<std::uint8_t>(src[i])];
}
} // namespace

void decode_bf16(const std::byte* src, std::size_t count, float* dst) {
  decode_16<bf16_bits>(src, count, dst);
}

void decode_f16(const std::byte* src, std::size_t count, float* dst) {
  decode_16<f16_bits_fast>(src, count, dst);
}

void decode_fp8_e4m3(const std::byte* src, std::size_t count, float* dst) {
  decode_8(fp8_table<fp8_e4m3_to_float>(), src, count, dst);
}

void decode_fp8_e5m2(const std::byte* src, std::size_t count, float* dst) {
  decode_8(fp8_table<fp8_e5m2_to_float>(), src, count, dst);
}

std::uint16_t float_to_bf16(float v) {
  std::uint32_t u = std::bit_cast<std::uint32_t>(v);
  if (std::isnan(v))
    return static_cast<std::uint16_t>((u >> 16) | 0x40u); // keep sign, force a quiet NaN
  std::uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>((u + rounding) >> 16);
}

float f16_to_float(std::uint16_t bits) {
  return decode_small(bits, 5, 10, true);
}

std::uint16_t float_to_f16(float v) {
  return static_cast<std::uint16_t>(encode_small(v, 5, 10, 65504.0f, true, 0x7e00u));
}

float fp8_e4m3_to_float(std::uint8_t bits) {
  if ((bits & 0x7fu) == 0x7fu)
    return std::numeric_limits<float>::quiet_NaN();
  return decode_small(bits, 4, 3, false);
}

std::uint8_t float_to_fp8_e4m3(float v) {
  return static_cast<std::uint8_t>(encode_small(v, 4, 3, 448.0f, false, 0x7fu));
}

float fp8_e5m2_to_float(std::uint8_t bits) {
  return decode_small(bits, 5, 2, true);
}

std::uint8_t float_to_fp8_e5m2(float v) {
  // Finite overflow saturates to ±57344; only infinite input becomes infinity.
  if (std::isinf(v))
    return static_cast<std::uint8_t>(encode_small(v, 5, 2, 57344.0f, true, 0x7fu));
  return static_cast<std::uint8_t>(encode_small(v, 5, 2, 57344.0f, false, 0x7fu));
}

float fp4_e2m1_to_float(std::uint8_t nibble) {
  static constexpr std::array<float, 16> kTable{0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,
                                                4.0f,  6.0f,  -0.0f, -0.5f, -1.0f, -1.5f,
                                                -2.0f, -3.0f, -4.0f, -6.0f};
  return kTable[nibble & 0x0fu];
}

std::uint8_t float_to_fp4_e2m1(float v) {
  std::uint8_t best = 0;
  float best_err = std::numeric_limits<float>::infinity();
  for (std::uint8_t c = 0; c < 16; ++c) {
    float err = std::fabs(fp4_e2m1_to_float(c) - v);
    // Ties go to the even code (as round-to-nearest-even on the mantissa bit).
    if (err < best_err || (err == best_err && (c & 1u) == 0 && (best & 1u) == 1)) {
      best = c;
      best_err = err;
    }
  }
  return best;
}

bool can_encode(DType dtype) {
  return dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16 ||
         dtype == DType::F8_E4M3 || dtype == DType::F8_E5M2;
}

std::vector<std::byte> encode_floats(DType dtype, std::span<const float> values) {
  if (!can_encode(dtype))
    throw Error(ErrorKind::Internal, "cannot encode floats as " + std::string(dtype_name(dtype)));
  const std::size_t width = static_cast<std::size_t>(dtype_bits(dtype) / 8);
  std::vector<std::byte> bytes(values.size() * width);
  std::byte* out = bytes.data();
  for (float v : values) {
    switch (dtype) {
    case DType::F32:
      std::memcpy(out, &v, 4);
      break;
    case DType::BF16: {
      std::uint16_t b = float_to_bf16(v);
      std::memcpy(out, &b, 2);
      break;
    }
    case DType::F16: {
      std::uint16_t b = float_to_f16(v);
      std::memcpy(out, &b, 2);
      break;
    }
    case DType::F8_E4M3:
      *out = std::byte{float_to_fp8_e4m3(v)};
      break;
    default:
      *out = std::byte{float_to_fp8_e5m2(v)};
      break;
    }
    out += width;
  }
  return bytes;
}

} // namespace routerscope::io
