// Decoding stored tensors into float matrices: plain float dtypes, DeepSeek-V3 FP8 block scales,
// gpt-oss MXFP4 blocks/scales, row slices and expert (lead) indexing, compared with values the test
// computes itself from the numbers it wrote.
#include "core/error.h"
#include "io/safetensors_writer.h"
#include "io/tensor_decode.h"
#include "tests/io/io_test_helpers.h"
#include "tests/support/test_support.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <random>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace routerscope::io {
namespace {

namespace fs = std::filesystem;

template <class T> std::vector<std::byte> raw_bytes(const std::vector<T>& v) {
  std::vector<std::byte> out(v.size() * sizeof(T));
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

std::vector<float> random_values(std::size_t n, std::uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v)
    x = d(rng);
  return v;
}

using test_helpers::expect_bad_input;

class TensorDecode : public ::testing::Test {
protected:
  test::TempDir dir{"decode"};
  fs::path path() const { return dir / "t.safetensors"; }
  TensorStore write(const SafetensorsWriter& w) {
    w.write(path());
    return TensorStore::open(path());
  }
};

TEST_F(TensorDecode, DecodesF32AndF64Exactly) {
  const int r = 5, c = 7;
  const auto a = random_values(r * c, 1);
  std::vector<double> d(r * c);
  for (int i = 0; i < r * c; ++i)
    d[static_cast<std::size_t>(i)] = 0.1 * i - 1.0;
  SafetensorsWriter w;
  w.add("a", DType::F32, {r, c}, a);
  w.add_raw("d", DType::F64, {r, c}, raw_bytes(d));
  TensorStore s = write(w);
  MatrixF ma = read_matrix(s, "a");
  MatrixF md = read_matrix(s, "d");
  ASSERT_EQ(ma.rows(), r);
  ASSERT_EQ(ma.cols(), c);
  ASSERT_EQ(md.rows(), r);
  for (int i = 0; i < r; ++i)
    for (int j = 0; j < c; ++j) {
      EXPECT_EQ(ma(i, j), a[static_cast<std::size_t>(i * c + j)]);
      EXPECT_EQ(md(i, j), static_cast<float>(d[static_cast<std::size_t>(i * c + j)]));
    }
}

TEST_F(TensorDecode, DecodesBf16AndF16WithinTheirPrecision) {
  const int r = 9, c = 33;
  const auto v = random_values(r * c, 2, 3.0f);
  SafetensorsWriter w;
  w.add("b", DType::BF16, {r, c}, v);
  w.add("h", DType::F16, {r, c}, v);
  TensorStore s = write(w);
  MatrixF b = read_matrix(s, "b"), h = read_matrix(s, "h");
  ASSERT_EQ(b.rows(), r);
  ASSERT_EQ(h.cols(), c);
  for (int i = 0; i < r; ++i)
    for (int j = 0; j < c; ++j) {
      const double x = v[static_cast<std::size_t>(i * c + j)];
      // Round to nearest: relative error at most half a unit in the last place.
      EXPECT_LE(std::fabs(b(i, j) - x), std::ldexp(std::fabs(x), -8) + 1e-38) << i << "," << j;
      EXPECT_LE(std::fabs(h(i, j) - x), std::ldexp(std::fabs(x), -11) + std::ldexp(1.0, -25))
          << i << "," << j;
    }
}

TEST_F(TensorDecode, ReadsOneAndZeroDimensionalTensorsAsOneRow) {
  SafetensorsWriter w;
  const std::vector<float> v{1, 2, 3, 4};
  w.add("v", DType::F32, {4}, v);
  const std::vector<float> one{-7.5f};
  w.add("s", DType::F32, {}, one);
  TensorStore s = write(w);
  MatrixF mv = read_matrix(s, "v");
  ASSERT_EQ(mv.rows(), 1);
  ASSERT_EQ(mv.cols(), 4);
  EXPECT_EQ(mv(0, 3), 4.0f);
  MatrixF ms = read_matrix(s, "s");
  ASSERT_EQ(ms.rows(), 1);
  ASSERT_EQ(ms.cols(), 1);
  EXPECT_EQ(ms(0, 0), -7.5f);
}

TEST_F(TensorDecode, SlicesInterleavedRowsOfOneExpert) {
  const int e = 3, r = 10, c = 4;
  std::vector<float> v(e * r * c);
  for (int x = 0; x < e; ++x)
    for (int i = 0; i < r; ++i)
      for (int j = 0; j < c; ++j)
        v[static_cast<std::size_t>((x * r + i) * c + j)] = 1000.0f * x + 10.0f * i + j;
  SafetensorsWriter w;
  w.add("gate_up", DType::F32, {e, r, c}, v);
  w.add("bias", DType::F32, {e, r}, std::span<const float>(v).first(e * r));
  TensorStore s = write(w);
  // Odd rows of expert 2 (gpt-oss "up" half of an interleaved gate_up), then the even rows.
  MatrixF up =
      read_matrix(s, "gate_up", {.lead = 2, .row_begin = 1, .row_count = -1, .row_step = 2});
  ASSERT_EQ(up.rows(), 5);
  ASSERT_EQ(up.cols(), c);
  for (int k = 0; k < 5; ++k)
    for (int j = 0; j < c; ++j)
      EXPECT_EQ(up(k, j), 2000.0f + 10.0f * (2 * k + 1) + j);
  MatrixF gate =
      read_matrix(s, "gate_up", {.lead = 0, .row_begin = 0, .row_count = 3, .row_step = 2});
  ASSERT_EQ(gate.rows(), 3);
  EXPECT_EQ(gate(2, 1), 10.0f * 4 + 1);
  // A contiguous half (stacked gate/up layout): rows [5, 10) of expert 1.
  MatrixF half = read_matrix(s, "gate_up", {.lead = 1, .row_begin = 5, .row_count = 5});
  ASSERT_EQ(half.rows(), 5);
  EXPECT_EQ(half(0, 0), 1000.0f + 50.0f);
  // With a lead index a 2-D [E, n] tensor is one row.
  MatrixF b = read_matrix(s, "bias", {.lead = 1});
  ASSERT_EQ(b.rows(), 1);
  ASSERT_EQ(b.cols(), r);
  EXPECT_EQ(b(0, 3), v[static_cast<std::size_t>(1 * r + 3)]);
}

TEST_F(TensorDecode, RejectsSlicesThatDoNotFit) {
  SafetensorsWriter w;
  w.add("m", DType::F32, {2, 4, 3}, random_values(24, 3));
  w.add("flat", DType::F32, {4, 3}, random_values(12, 4));
  TensorStore s = write(w);
  expect_bad_input([&] { read_matrix(s, "m"); }, {"tensor m", "[2, 4, 3]", "lead"});
  expect_bad_input([&] { read_matrix(s, "m", {.lead = 2}); }, {"tensor m", "[2, 4, 3]", "lead 2"});
  expect_bad_input([&] { read_matrix(s, "m", {.lead = 0, .row_begin = 1, .row_count = 4}); },
                   {"tensor m", "count 4", "only 3 rows"});
  expect_bad_input([&] { read_matrix(s, "flat", {.row_begin = 0, .row_count = 3, .row_step = 2}); },
                   {"tensor flat", "[4, 3]", "step 2", "only 2 rows"});
  expect_bad_input([&] { read_matrix(s, "flat", {.row_begin = 5}); }, {"tensor flat", "from 5"});
  expect_bad_input([&] { read_matrix(s, "flat", {.row_step = 0}); }, {"tensor flat", "step"});
  expect_bad_input([&] { read_matrix(s, "nope"); }, {"tensor nope not found", "t.safetensors"});
}

TEST_F(TensorDecode, RejectsUnsupportedDtypeNamingTensorAndFile) {
  SafetensorsWriter w;
  w.add_raw("ids", DType::I32, {2}, raw_bytes(std::vector<std::int32_t>{1, 2}));
  TensorStore s = write(w);
  expect_bad_input([&] { read_matrix(s, "ids"); },
                   {"unsupported dtype I32 in tensor ids (file ", "t.safetensors"});
}

// FP8 E4M3 with DeepSeek-V3 128x128 block scales. Every block gets a distinct power-of-two scale,
// so a wrong block lookup is visible, and q * s is exact in float.
struct Fp8Case {
  int rows, cols;
  std::vector<std::uint8_t> q;
  std::vector<float> scale; // [ceil(rows/128), ceil(cols/128)]
  int br() const { return (rows + 127) / 128; }
  int bc() const { return (cols + 127) / 128; }
  double expected(int i, int j) const {
    const double qv = fp8_e4m3_to_float(q[static_cast<std::size_t>(i * cols + j)]);
    return qv * scale[static_cast<std::size_t>((i / 128) * bc() + j / 128)];
  }
};

Fp8Case make_fp8(int rows, int cols, std::uint64_t seed, int scale_offset) {
  Fp8Case c{rows, cols, {}, {}};
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int k = 0; k < rows * cols; ++k) {
    int b = byte(rng);
    if ((b & 0x7f) == 0x7f)
      b ^= 1; // keep clear of the NaN codes
    c.q.push_back(static_cast<std::uint8_t>(b));
  }
  for (int k = 0; k < c.br() * c.bc(); ++k)
    c.scale.push_back(std::ldexp(1.0f, scale_offset + 3 * k - 8));
  return c;
}

TEST_F(TensorDecode, AppliesFp8BlockScalesWithPartialEdgeBlocks) {
  const Fp8Case f = make_fp8(200, 300, 5, 0); // 2 x 3 blocks, the last row and column partial
  SafetensorsWriter w;
  std::vector<std::byte> qb(f.q.size());
  std::memcpy(qb.data(), f.q.data(), qb.size());
  w.add_raw("w.weight", DType::F8_E4M3, {f.rows, f.cols}, qb);
  w.add("w.weight_scale_inv", DType::F32, {f.br(), f.bc()}, f.scale);
  TensorStore s = write(w);
  EXPECT_EQ(logical_dtype(s, "w.weight"), "F8_E4M3");
  MatrixF m = read_matrix(s, "w.weight");
  ASSERT_EQ(m.rows(), f.rows);
  ASSERT_EQ(m.cols(), f.cols);
  for (int i = 0; i < f.rows; ++i)
    for (int j = 0; j < f.cols; ++j)
      ASSERT_EQ(static_cast<double>(m(i, j)), f.expected(i, j)) << i << "," << j;
  // A row slice crossing the block boundary at row 128 keeps the global block rows.
  MatrixF sl = read_matrix(s, "w.weight", {.row_begin = 101, .row_count = 40, .row_step = 2});
  ASSERT_EQ(sl.rows(), 40);
  for (int k = 0; k < 40; ++k)
    for (int j = 0; j < f.cols; j += 7)
      ASSERT_EQ(static_cast<double>(sl(k, j)), f.expected(101 + 2 * k, j)) << k << "," << j;
}

TEST_F(TensorDecode, AppliesFp8BlockScalesOfOneStackedExpert) {
  const int e = 3, rows = 200, cols = 150;
  std::vector<Fp8Case> experts;
  std::vector<std::byte> qb;
  std::vector<float> scales;
  for (int x = 0; x < e; ++x) {
    experts.push_back(make_fp8(rows, cols, 10 + static_cast<std::uint64_t>(x), 5 * x));
    for (auto b : experts.back().q)
      qb.push_back(static_cast<std::byte>(b));
    scales.insert(scales.end(), experts.back().scale.begin(), experts.back().scale.end());
  }
  SafetensorsWriter w;
  w.add_raw("experts.down", DType::F8_E4M3, {e, rows, cols}, qb);
  w.add("experts.down_scale_inv", DType::F32, {e, 2, 2}, scales);
  TensorStore s = write(w);
  for (int x = 0; x < e; ++x) {
    MatrixF m = read_matrix(s, "experts.down", {.lead = x, .row_begin = 1, .row_step = 2});
    ASSERT_EQ(m.rows(), rows / 2);
    ASSERT_EQ(m.cols(), cols);
    for (int k = 0; k < rows / 2; ++k)
      for (int j = 0; j < cols; ++j)
        ASSERT_EQ(static_cast<double>(m(k, j)),
                  experts[static_cast<std::size_t>(x)].expected(2 * k + 1, j))
            << "expert " << x << " row " << 2 * k + 1 << " col " << j;
  }
}

TEST_F(TensorDecode, Fp8DequantisesCloseToTheOriginalWeights) {
  // End to end: quantise a known matrix per 128x128 block (scale = block max / 448) and check the
  // decoded matrix against the original within E4M3's 3-bit mantissa.
  const int rows = 130, cols = 260;
  const auto v = random_values(static_cast<std::size_t>(rows * cols), 7, 0.02f);
  const int br = 2, bc = 3;
  std::vector<float> scale(br * bc, 0.0f);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) {
      float& s = scale[static_cast<std::size_t>((i / 128) * bc + j / 128)];
      s = std::max(s, std::fabs(v[static_cast<std::size_t>(i * cols + j)]) / 448.0f);
    }
  std::vector<std::byte> q;
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      q.push_back(static_cast<std::byte>(
          float_to_fp8_e4m3(v[static_cast<std::size_t>(i * cols + j)] /
                            scale[static_cast<std::size_t>((i / 128) * bc + j / 128)])));
  SafetensorsWriter w;
  w.add_raw("w", DType::F8_E4M3, {rows, cols}, q);
  w.add("w_scale_inv", DType::F32, {br, bc}, scale);
  TensorStore s = write(w);
  MatrixF m = read_matrix(s, "w");
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) {
      const double x = v[static_cast<std::size_t>(i * cols + j)];
      const double blk = scale[static_cast<std::size_t>((i / 128) * bc + j / 128)];
      // Half an ulp of 3 mantissa bits (relative 2^-4), or the subnormal step 2^-10 of a block.
      EXPECT_LE(std::fabs(m(i, j) - x),
                std::max(std::fabs(x) / 16, blk * std::ldexp(1.0, -10)) * 1.0001)
          << i << "," << j;
    }
}

TEST_F(TensorDecode, RejectsFp8ScalesOfTheWrongShape) {
  SafetensorsWriter w;
  w.add_raw("w", DType::F8_E4M3, {200, 100}, std::vector<std::byte>(20000, std::byte{0x38}));
  w.add("w_scale_inv", DType::F32, {1, 1}, std::vector<float>{1.0f});
  TensorStore s = write(w);
  expect_bad_input([&] { read_matrix(s, "w"); }, {"w_scale_inv", "[1, 1]", "[2, 1]", "[200, 100]"});
}

TEST_F(TensorDecode, DecodesFp8WithoutScalesAsPlainValues) {
  SafetensorsWriter w;
  const std::vector<float> v{0.5f, -448.0f, 3.0f, 0.001953125f};
  w.add("e4", DType::F8_E4M3, {2, 2}, v);
  w.add("e5", DType::F8_E5M2, {4}, v);
  TensorStore s = write(w);
  MatrixF a = read_matrix(s, "e4"), b = read_matrix(s, "e5");
  // All four values are exactly representable in both formats.
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(a(k / 2, k % 2), v[static_cast<std::size_t>(k)]);
    EXPECT_EQ(b(0, k), v[static_cast<std::size_t>(k)]);
  }
}

// MXFP4: packed bytes built from chosen nibbles and exponents; the expected value comes from the
// E2M1 table written here and 2^(scale - 127).
TEST_F(TensorDecode, DecodesMxfp4BlocksAndScales) {
  constexpr double kE2m1[16] = {0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6};
  const int e = 2, rows = 3, groups = 2, cols = groups * 32;
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int> nib(0, 15), ex(118, 136);
  std::vector<int> nibbles(static_cast<std::size_t>(e * rows * cols));
  std::vector<std::byte> scales, blocks;
  for (auto& n : nibbles)
    n = nib(rng);
  for (int k = 0; k < e * rows * groups; ++k)
    scales.push_back(static_cast<std::byte>(ex(rng)));
  for (std::size_t k = 0; k < nibbles.size(); k += 2) // low nibble = even column
    blocks.push_back(static_cast<std::byte>(nibbles[k] | (nibbles[k + 1] << 4)));
  SafetensorsWriter w;
  w.add_raw("mlp.experts.gate_up_proj_blocks", DType::U8, {e, rows, groups, 16}, blocks);
  w.add_raw("mlp.experts.gate_up_proj_scales", DType::U8, {e, rows, groups}, scales);
  TensorStore s = write(w);
  const std::string name = "mlp.experts.gate_up_proj";
  EXPECT_TRUE(has_logical_tensor(s, name));
  EXPECT_FALSE(has_logical_tensor(s, "mlp.experts.down_proj"));
  EXPECT_EQ(logical_dtype(s, name), "MXFP4");
  EXPECT_EQ(logical_shape(s, name), (std::vector<std::int64_t>{e, rows, cols}));
  auto expected = [&](int x, int i, int j) {
    const int n = nibbles[static_cast<std::size_t>((x * rows + i) * cols + j)];
    const int sc =
        std::to_integer<int>(scales[static_cast<std::size_t>((x * rows + i) * groups + j / 32)]);
    return kE2m1[n] * std::pow(2.0, sc - 127);
  };
  for (int x = 0; x < e; ++x) {
    MatrixF m = read_matrix(s, name, {.lead = x});
    ASSERT_EQ(m.rows(), rows);
    ASSERT_EQ(m.cols(), cols);
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j)
        ASSERT_EQ(static_cast<double>(m(i, j)), expected(x, i, j)) << x << "," << i << "," << j;
  }
  MatrixF sl = read_matrix(s, name, {.lead = 1, .row_begin = 1, .row_count = 1, .row_step = 2});
  ASSERT_EQ(sl.rows(), 1);
  for (int j = 0; j < cols; ++j)
    EXPECT_EQ(static_cast<double>(sl(0, j)), expected(1, 1, j));
}

TEST_F(TensorDecode, RejectsMismatchedMxfp4Pair) {
  SafetensorsWriter w;
  w.add_raw("p_blocks", DType::U8, {2, 1, 16}, std::vector<std::byte>(32));
  w.add_raw("p_scales", DType::U8, {3, 1}, std::vector<std::byte>(3));
  TensorStore s = write(w);
  expect_bad_input([&] { read_matrix(s, "p"); }, {"MXFP4 tensor p", "[2, 1, 16]", "[3, 1]"});
  expect_bad_input([&] { logical_shape(s, "p"); }, {"MXFP4 tensor p"});
}

TEST_F(TensorDecode, DecodesOneExpertWithoutTouchingTheWholeTensor) {
  // A 2 GiB F32 stacked tensor [64, 2048, 4096] in a sparse file: reading one expert (32 MiB) must
  // not decode or fault in the rest, so the peak resident set grows far less than the tensor.
  const std::int64_t e = 64, r = 2048, c = 4096;
  const std::uint64_t bytes = static_cast<std::uint64_t>(e * r * c) * 4;
  const std::string header =
      "{\"x\":{\"dtype\":\"F32\",\"shape\":[64,2048,4096],\"data_offsets\":[0," +
      std::to_string(bytes) + "]}}";
  {
    std::ofstream f(path(), std::ios::binary);
    std::uint64_t n = header.size();
    unsigned char le[8];
    for (int i = 0; i < 8; ++i)
      le[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xffu);
    f.write(reinterpret_cast<const char*>(le), 8);
    f.write(header.data(), static_cast<std::streamsize>(header.size()));
  }
  ASSERT_EQ(::truncate(path().c_str(), static_cast<off_t>(8 + header.size() + bytes)), 0);
  struct stat st {};
  ASSERT_EQ(::stat(path().c_str(), &st), 0);
  if (static_cast<std::uint64_t>(st.st_blocks) * 512 > (64u << 20))
    GTEST_SKIP() << "file system does not keep sparse files sparse";
  TensorStore s = TensorStore::open(path());
  rusage before{}, after{};
  ::getrusage(RUSAGE_SELF, &before);
  MatrixF m = read_matrix(s, "x", {.lead = 63, .row_begin = 0, .row_count = 512});
  ::getrusage(RUSAGE_SELF, &after);
  ASSERT_EQ(m.rows(), 512);
  ASSERT_EQ(m.cols(), c);
  EXPECT_EQ(m.cwiseAbs().maxCoeff(), 0.0f);                  // holes read as zeros
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 256 * 1024); // KiB; the tensor is 2 GiB
}

} // namespace
} // namespace routerscope::io

namespace routerscope::io {
namespace {

// The real tiny checkpoints in ../shared: every tensor's dtype and shape agree with a plain JSON
// parse of the header, and each decoded matrix (the last expert of stacked tensors) equals the F32
// values read straight from the file bytes with an ifstream.
TEST(TensorDecodeFixtures, MatchesIndependentReadOfRealTinyCheckpoints) {
  const fs::path dir = test::hf_tiny_dir();
  for (const char* name : {"mixtral_classic.safetensors", "qwen2_moe_layer0.safetensors",
                           "deepseek_full.safetensors"}) {
    const fs::path p = dir / name;
    std::ifstream in(p, std::ios::binary);
    const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
      n = (n << 8) | static_cast<unsigned char>(all[static_cast<std::size_t>(i)]);
    const auto header = nlohmann::json::parse(all.substr(8, n));
    TensorStore s = TensorStore::open(p);
    std::size_t count = 0;
    for (const auto& [tname, t] : header.items()) {
      if (tname == "__metadata__")
        continue;
      ++count;
      ASSERT_EQ(t["dtype"], "F32") << name << " " << tname;
      const auto shape = t["shape"].get<std::vector<std::int64_t>>();
      ASSERT_TRUE(s.contains(tname)) << name << " " << tname;
      EXPECT_EQ(s.info(tname).shape, shape) << tname;
      SliceSpec slice;
      std::int64_t skip = 0; // elements before the decoded 2-D view
      if (shape.size() == 3) {
        slice.lead = shape[0] - 1;
        skip = (shape[0] - 1) * shape[1] * shape[2];
      }
      MatrixF m = read_matrix(s, tname, slice);
      const std::uint64_t begin = t["data_offsets"][0].get<std::uint64_t>();
      const char* base = all.data() + 8 + n + begin + static_cast<std::uint64_t>(skip) * 4;
      for (Eigen::Index k = 0; k < m.size(); ++k) {
        float want;
        std::memcpy(&want, base + 4 * k, 4);
        ASSERT_EQ(m.data()[k], want) << name << " " << tname << " element " << k;
      }
    }
    EXPECT_EQ(s.names().size(), count) << name;
  }
}

} // namespace
} // namespace routerscope::io
