#pragma once
// Checkpoint dtypes decoded on the device: the raw bytes of a tensor slice are uploaded once and
// expanded to float there (no host-side float copy). Host entry points used by tests and by
// callers that hold raw bytes; every CUDA call is checked (BadInput/Internal errors name it).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace routerscope::gpu {

enum class RawDtype { F32, F16, BF16, F8E4M3, F8E5M2, MXFP4 };
RawDtype parse_raw_dtype(std::string_view safetensors_name); // "BF16", "F8_E4M3", "MXFP4", ...

// A row-major [rows, cols] matrix as stored. FP8: optional `scales` F32 [ceil(rows/128),
// ceil(cols/128)] multiplied blockwise (DeepSeek `weight_scale_inv`). MXFP4: `data` holds
// rows × cols/32 blocks of 16 bytes (two E2M1 values per byte, low nibble first) and `scales` one
// E8M0 byte per block (value = 2^(byte − 127)).
struct RawMatrix {
  RawDtype dtype = RawDtype::F32;
  std::span<const std::uint8_t> data;
  std::span<const std::uint8_t> scales; // FP8 block scales (F32 bytes) or MXFP4 E8M0 scales
  int rows = 0, cols = 0;
};

// Uploads `m` and decodes it on the device; returns the row-major floats (copied back, for tests
// and for callers that need them on the host). Throws BadInput on inconsistent sizes.
std::vector<float> decode_on_device(const RawMatrix& m);

} // namespace routerscope::gpu
