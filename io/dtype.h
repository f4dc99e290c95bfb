#pragma once
// safetensors element types and the scalar codecs RouterScope needs (decode for reading
// checkpoints, encode for writing demo checkpoints, exported routers and test files).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace routerscope::io {

enum class DType {
  BOOL,
  F4,
  F6_E2M3,
  F6_E3M2,
  U8,
  I8,
  F8_E5M2,
  F8_E4M3,
  F8_E8M0,
  F8_E4M3FNUZ,
  F8_E5M2FNUZ,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  C64,
  F64,
  I64,
  U64
};

std::string_view dtype_name(DType t);
// The safetensors spelling ("BF16", "F8_E4M3", ...); nullopt for an unknown name.
std::optional<DType> parse_dtype(std::string_view name);
// Bits per logical element (F4 = 4, F6_* = 6, C64 = 64).
int dtype_bits(DType t);

// Scalar codecs. Decoders are exact; encoders round to nearest, ties to even, and saturate FP8 to
// the largest finite value (E4M3: ±448, E5M2: ±57344) as PyTorch's float8 casts do for finite
// input.
float bf16_to_float(std::uint16_t bits);
// Bulk BF16 decode of `count` values from src into dst (same results as the scalar codec, in a
// loop the compiler vectorises; use it for whole tensors).
void bf16_to_float(const std::uint16_t* src, std::size_t count, float* dst);
// Bulk decoders of `count` little-endian values stored at `src` (any alignment) into dst, for whole
// tensors: BF16 and F16 by bit arithmetic in a loop the compiler vectorises, FP8 by a 256-entry
// table. The values equal the scalar codecs' (a NaN stays a NaN, its payload aside).
void decode_bf16(const std::byte* src, std::size_t count, float* dst);
void decode_f16(const std::byte* src, std::size_t count, float* dst);
void decode_fp8_e4m3(const std::byte* src, std::size_t count, float* dst);
void decode_fp8_e5m2(const std::byte* src, std::size_t count, float* dst);
float f16_to_float(std::uint16_t bits);
float fp8_e4m3_to_float(std::uint8_t bits); // OCP E4M3FN: no infinities, 0x7f/0xff are NaN
float fp8_e5m2_to_float(std::uint8_t bits);
// One E2M1 nibble (low 4 bits) of MXFP4: value table [0, .5, 1, 1.5, 2, 3, 4, 6] with sign bit 3.
float fp4_e2m1_to_float(std::uint8_t nibble);
std::uint16_t float_to_bf16(float v);
std::uint16_t float_to_f16(float v);
std::uint8_t float_to_fp8_e4m3(float v);
std::uint8_t float_to_fp8_e5m2(float v);
std::uint8_t float_to_fp4_e2m1(float v); // nearest representable, in the low nibble

// Encodes floats into `dtype` bytes (F32, F16, BF16, F8_E4M3, F8_E5M2; little-endian, C order).
// Throws Internal for any other dtype: callers check first with can_encode.
std::vector<std::byte> encode_floats(DType dtype, std::span<const float> values);
bool can_encode(DType dtype);

} // namespace routerscope::io
