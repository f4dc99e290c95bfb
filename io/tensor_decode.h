#pragma once
// Decoding stored tensors (any supported dtype, quantised included) into float matrices, one
// slice at a time: one expert of a stacked tensor, a row range, or every other row.
#include "core/types.h"
#include "io/safetensors.h"

#include <cstdint>
#include <optional>
#include <string_view>

namespace routerscope::io {

// A 2-D view of part of a stored tensor. With `lead`, the tensor's first (expert) dimension is
// indexed first, so [E, R, C] becomes [R, C] (and [E, n] becomes [1, n]); without it a tensor must
// be 0-D (seen as [1, 1]), 1-D (seen as [1, n]) or 2-D. Rows row_begin, row_begin + row_step, ...
// (row_count of them; -1 = to the end) are taken.
struct SliceSpec {
  std::optional<std::int64_t> lead = std::nullopt;
  std::int64_t row_begin = 0;
  std::int64_t row_count = -1;
  std::int64_t row_step = 1;
};

// Decodes F32, F16, BF16, F64, F8_E4M3 and F8_E5M2 (with a sibling "<name>_scale_inv" F32 tensor of
// 128x128 block scales, DeepSeek-V3 style, applied when present), and MXFP4: when `name` itself is
// absent but "<name>_blocks" (U8 [.., rows, cols/32, 16]) and "<name>_scales" (U8 [.., rows,
// cols/32]) exist, the logical tensor is [.., rows, cols] output-major as stored. Any other dtype:
// BadInput "unsupported dtype X in tensor Y (file F)". Shapes that do not fit the slice: BadInput.
MatrixF read_matrix(const TensorStore& store, std::string_view name, const SliceSpec& slice = {});

// The logical shape of `name` (for MXFP4 pairs: [.., rows, cols]); throws BadInput when absent.
std::vector<std::int64_t> logical_shape(const TensorStore& store, std::string_view name);
// True when `name` or its MXFP4 "_blocks"/"_scales" pair exists.
bool has_logical_tensor(const TensorStore& store, std::string_view name);
// The dtype a user would name for the logical tensor ("MXFP4" for a blocks/scales pair).
std::string logical_dtype(const TensorStore& store, std::string_view name);

} // namespace routerscope::io
