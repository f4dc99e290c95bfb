#include "io/tensor_decode.h"

#include "core/error.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>

namespace routerscope::io {

namespace {

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i)
    out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::string slice_text(const SliceSpec& s) {
  std::string out = "slice {";
  if (s.lead)
    out += "lead " + std::to_string(*s.lead) + ", ";
  return out + "rows from " + std::to_string(s.row_begin) + ", count " +
         std::to_string(s.row_count) + ", step " + std::to_string(s.row_step) + "}";
}

// The 2-D view a slice selects: `lead` (if any) and row/column counts of that view.
struct View {
  std::int64_t lead = 0;  // index into the leading dimension (0 without lead)
  std::int64_t leads = 1; // size of the leading dimension (1 without lead)
  std::int64_t rows = 0, cols = 0;
  std::vector<std::int64_t> rows_taken; // view row indices, in output order
};

// Maps a logical shape and a slice to a view. With lead: [E, R, C] -> [R, C], [E, C] -> [1, C].
// Without lead: [C] -> [1, C], [R, C] -> [R, C], [] -> [1, 1].
View make_view(const std::vector<std::int64_t>& shape, const SliceSpec& s, std::string_view name) {
  auto bad = [&](const std::string& why) -> void {
    throw_input_error("tensor " + std::string(name) + " of shape " + shape_text(shape) +
                      " does not fit " + slice_text(s) + ": " + why);
  };
  View v;
  std::vector<std::int64_t> rest = shape;
  if (s.lead) {
    if (shape.size() != 2 && shape.size() != 3)
      bad("a lead (expert) index needs a 2-D or 3-D tensor");
    v.leads = shape[0];
    v.lead = *s.lead;
    if (v.lead < 0 || v.lead >= v.leads)
      bad("lead index out of range [0, " + std::to_string(v.leads) + ")");
    rest.erase(rest.begin());
  } else if (shape.size() > 2) {
    bad("a tensor with more than 2 dimensions needs a lead (expert) index");
  }
  if (rest.empty()) {
    v.rows = 1;
    v.cols = 1;
  } else if (rest.size() == 1) {
    v.rows = 1;
    v.cols = rest[0];
  } else {
    v.rows = rest[0];
    v.cols = rest[1];
  }
  if (s.row_step < 1)
    bad("row step must be at least 1");
  if (s.row_begin < 0 || s.row_begin > v.rows)
    bad("first row outside [0, " + std::to_string(v.rows) + "]");
  std::int64_t available = (v.rows - s.row_begin + s.row_step - 1) / s.row_step;
  std::int64_t count = s.row_count < 0 ? available : s.row_count;
  if (s.row_count < -1)
    bad("row count must be -1 (to the end) or non-negative");
  if (count > available)
    bad("only " + std::to_string(available) + " rows available, " + std::to_string(count) +
        " requested");
  v.rows_taken.reserve(static_cast<std::size_t>(count));
  for (std::int64_t k = 0; k < count; ++k)
    v.rows_taken.push_back(s.row_begin + k * s.row_step);
  return v;
}

[[noreturn]] void unsupported(const TensorStore& store, const TensorInfo& t) {
  throw_input_error("unsupported dtype " + std::string(dtype_name(t.dtype)) + " in tensor " +
                    t.name + " (file " + store.file_of(t.name).string() + ")");
}

bool is_float_dtype(DType d) {
  switch (d) {
  case DType::F32:
  case DType::F64:
  case DType::F16:
  case DType::BF16:
  case DType::F8_E4M3:
  case DType::F8_E5M2:
    return true;
  default:
    return false;
  }
}

// Decodes `count` consecutive elements of a supported float dtype starting at `src` into `out`.
void decode_run(DType d, const std::byte* src, std::int64_t count, float* out) {
  const auto n = static_cast<std::size_t>(count);
  switch (d) {
  case DType::F32:
    std::memcpy(out, src, n * sizeof(float));
    return;
  case DType::F64:
    for (std::size_t i = 0; i < n; ++i) {
      double x;
      std::memcpy(&x, src + 8 * i, 8);
      out[i] = static_cast<float>(x);
    }
    return;
  case DType::F16:
    decode_f16(src, n, out);
    return;
  case DType::BF16:
    decode_bf16(src, n, out);
    return;
  case DType::F8_E4M3:
    decode_fp8_e4m3(src, n, out);
    return;
  case DType::F8_E5M2:
    decode_fp8_e5m2(src, n, out);
    return;
  default:
    throw_internal_error("decode_run called with dtype " + std::string(dtype_name(d)));
  }
}

std::string blocks_name(std::string_view name) {
  return std::string(name) + "_blocks";
}
std::string scales_name(std::string_view name) {
  return std::string(name) + "_scales";
}

bool has_mxfp4_pair(const TensorStore& store, std::string_view name) {
  return store.contains(blocks_name(name)) && store.contains(scales_name(name));
}

// Validates an MXFP4 blocks/scales pair and returns the logical shape [.., rows, groups * 32].
std::vector<std::int64_t> mxfp4_shape(const TensorStore& store, std::string_view name) {
  const TensorInfo& b = store.info(blocks_name(name));
  const TensorInfo& s = store.info(scales_name(name));
  auto bad = [&](const std::string& why) -> void {
    throw_input_error("MXFP4 tensor " + std::string(name) + ": " + b.name + " " +
                      std::string(dtype_name(b.dtype)) + " " + shape_text(b.shape) + " and " +
                      s.name + " " + std::string(dtype_name(s.dtype)) + " " + shape_text(s.shape) +
                      " (file " + store.file_of(b.name).string() + "): " + why);
  };
  if (b.dtype != DType::U8)
    bad("blocks must be U8");
  if (s.dtype != DType::U8 && s.dtype != DType::F8_E8M0)
    bad("scales must be U8 (E8M0 exponents)");
  if (b.shape.size() < 2 || b.shape.back() != 16)
    bad("blocks must be [.., rows, cols/32, 16]");
  if (s.shape.size() + 1 != b.shape.size() ||
      !std::equal(s.shape.begin(), s.shape.end(), b.shape.begin()))
    bad("scales must be the blocks shape without its last dimension");
  std::vector<std::int64_t> out(b.shape.begin(), b.shape.end() - 1);
  out.back() *= 32;
  return out;
}

// The file (or both files, when a pair is split across shards) holding `names`.
std::string mapped_files(const TensorStore& store, const std::array<std::string, 2>& names) {
  const std::filesystem::path& a = store.file_of(names[0]);
  const std::filesystem::path& b = store.file_of(names[1]);
  return a == b ? a.string() : a.string() + " or " + b.string();
}

MatrixF read_mxfp4(const TensorStore& store, std::string_view name, const SliceSpec& slice) {
  const auto shape = mxfp4_shape(store, name);
  const View v = make_view(shape, slice, name);
  const std::int64_t groups = v.cols / 32;
  auto blocks = store.bytes(blocks_name(name));
  auto scales = store.bytes(scales_name(name));
  MatrixF out(static_cast<Eigen::Index>(v.rows_taken.size()), v.cols);
  read_mapped(mapped_files(store, {blocks_name(name), scales_name(name)}),
              "MXFP4 tensor " + std::string(name), [&] {
                for (std::size_t k = 0; k < v.rows_taken.size(); ++k) {
                  // row in the flattened [.., rows]
                  const std::int64_t row = v.lead * v.rows + v.rows_taken[k];
                  const std::byte* brow = blocks.data() + row * groups * 16;
                  const std::byte* srow = scales.data() + row * groups;
                  float* dst = out.data() + static_cast<std::int64_t>(k) * v.cols;
                  for (std::int64_t g = 0; g < groups; ++g) {
                    const int exponent = std::to_integer<int>(srow[g]) - 127;
                    for (int b = 0; b < 16; ++b) {
                      const auto byte = std::to_integer<std::uint8_t>(brow[g * 16 + b]);
                      dst[g * 32 + 2 * b] = std::ldexp(fp4_e2m1_to_float(byte & 0x0fu), exponent);
                      dst[g * 32 + 2 * b + 1] = std::ldexp(fp4_e2m1_to_float(byte >> 4), exponent);
                    }
                  }
                }
              });
  return out;
}

constexpr std::int64_t kFp8Block = 128;

} // namespace

MatrixF read_matrix(const TensorStore& store, std::string_view name, const SliceSpec& slice) {
  if (!store.contains(name) && has_mxfp4_pair(store, name))
    return read_mxfp4(store, name, slice);
  const TensorInfo& t = store.info(name); // throws "not found" when absent
  if (!is_float_dtype(t.dtype))
    unsupported(store, t);
  const View v = make_view(t.shape, slice, name);
  auto bytes = store.bytes(name);
  const std::int64_t esize = dtype_bits(t.dtype) / 8;
  MatrixF out(static_cast<Eigen::Index>(v.rows_taken.size()), v.cols);
  read_mapped(store.file_of(name).string(), "tensor " + std::string(name), [&] {
    for (std::size_t k = 0; k < v.rows_taken.size(); ++k) {
      const std::int64_t row = v.lead * v.rows + v.rows_taken[k];
      decode_run(t.dtype, bytes.data() + row * v.cols * esize, v.cols,
                 out.data() + static_cast<std::int64_t>(k) * v.cols);
    }
  });
  if (!v.rows_taken.empty()) {
    auto [lo, hi] = std::minmax_element(v.rows_taken.begin(), v.rows_taken.end());
    const std::int64_t first = (v.lead * v.rows + *lo) * v.cols * esize;
    const std::int64_t last = (v.lead * v.rows + *hi + 1) * v.cols * esize;
    release_pages(
        bytes.subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(last - first)));
  }

  // DeepSeek-V3 FP8: W[i, j] = q[i, j] * scale_inv[i / 128, j / 128] (global row i of the view).
  const std::string scale_name = std::string(name) + "_scale_inv";
  const bool fp8 = t.dtype == DType::F8_E4M3 || t.dtype == DType::F8_E5M2;
  if (fp8 && store.contains(scale_name)) {
    const TensorInfo& s = store.info(scale_name);
    const std::int64_t br = (v.rows + kFp8Block - 1) / kFp8Block;
    const std::int64_t bc = (v.cols + kFp8Block - 1) / kFp8Block;
    std::vector<std::int64_t> expected;
    if (slice.lead)
      expected.push_back(v.leads);
    expected.push_back(br);
    expected.push_back(bc);
    if (s.shape != expected || !is_float_dtype(s.dtype) || s.dtype == DType::F8_E4M3 ||
        s.dtype == DType::F8_E5M2)
      throw_input_error("FP8 tensor " + std::string(name) + " " + shape_text(t.shape) +
                        ": block scales " + scale_name + " are " +
                        std::string(dtype_name(s.dtype)) + " " + shape_text(s.shape) +
                        ", expected F32 " + shape_text(expected) + " (128x128 blocks, file " +
                        store.file_of(scale_name).string() + ")");
    auto sbytes = store.bytes(scale_name);
    const std::int64_t ssize = dtype_bits(s.dtype) / 8;
    std::vector<float> srow(static_cast<std::size_t>(bc));
    read_mapped(store.file_of(scale_name).string(), "tensor " + scale_name, [&] {
      for (std::size_t k = 0; k < v.rows_taken.size(); ++k) {
        const std::int64_t block_row = v.lead * br + v.rows_taken[k] / kFp8Block;
        decode_run(s.dtype, sbytes.data() + block_row * bc * ssize, bc, srow.data());
        float* dst = out.data() + static_cast<std::int64_t>(k) * v.cols;
        for (std::int64_t j = 0; j < v.cols; ++j)
          dst[j] *= srow[static_cast<std::size_t>(j / kFp8Block)];
      }
    });
  }
  return out;
}

std::vector<std::int64_t> logical_shape(const TensorStore& store, std::string_view name) {
  if (!store.contains(name) && has_mxfp4_pair(store, name))
    return mxfp4_shape(store, name);
  return store.info(name).shape;
}

bool has_logical_tensor(const TensorStore& store, std::string_view name) {
  return store.contains(name) || has_mxfp4_pair(store, name);
}

std::string logical_dtype(const TensorStore& store, std::string_view name) {
  if (!store.contains(name) && has_mxfp4_pair(store, name))
    return "MXFP4";
  return std::string(dtype_name(store.info(name).dtype));
}

} // namespace routerscope::io
