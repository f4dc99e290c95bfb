// Decoding one expert matrix of checkpoint bytes to float: the bulk decoders io::decode_* (what
// io/tensor_decode uses) against one out-of-line scalar codec call per value (how tensors were
// decoded before). The matrix is OLMoE-1B-7B's gate, [1024, 2048]; its bytes are random
// patterns without NaN. Both sides produce the same floats (checked once before timing).
// usage: build-bench/bench/decode_bench --benchmark_repetitions=5
// --benchmark_report_aggregates_only
#include "io/dtype.h"

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

namespace {

using namespace routerscope;

constexpr std::size_t kValues = 1024 * 2048;

enum Format { F16, BF16, E4M3, E5M2 };

std::size_t width(Format f) {
  return f == F16 || f == BF16 ? 2 : 1;
}

// Random finite patterns of the format.
std::vector<std::byte> patterns(Format f) {
  std::mt19937 rng(7);
  std::vector<std::byte> bytes(kValues * width(f));
  for (std::size_t i = 0; i < kValues; ++i) {
    if (width(f) == 2) {
      std::uint16_t b;
      do
        b = static_cast<std::uint16_t>(rng());
      while (f == F16 ? (b & 0x7c00u) == 0x7c00u : (b & 0x7f80u) == 0x7f80u);
      std::memcpy(bytes.data() + 2 * i, &b, 2);
    } else {
      std::uint8_t b;
      do
        b = static_cast<std::uint8_t>(rng());
      while (f == E4M3 ? (b & 0x7fu) == 0x7fu : (b & 0x7cu) == 0x7cu);
      bytes[i] = static_cast<std::byte>(b);
    }
  }
  return bytes;
}

// One scalar codec call per value, as tensor decoding did before the bulk decoders.
void per_value(Format f, const std::byte* src, std::size_t n, float* out) {
  switch (f) {
  case F16:
  case BF16:
    for (std::size_t i = 0; i < n; ++i) {
      std::uint16_t b;
      std::memcpy(&b, src + 2 * i, 2);
      out[i] = f == F16 ? io::f16_to_float(b) : io::bf16_to_float(b);
    }
    return;
  case E4M3:
    for (std::size_t i = 0; i < n; ++i)
      out[i] = io::fp8_e4m3_to_float(std::to_integer<std::uint8_t>(src[i]));
    return;
  case E5M2:
    for (std::size_t i = 0; i < n; ++i)
      out[i] = io::fp8_e5m2_to_float(std::to_integer<std::uint8_t>(src[i]));
    return;
  }
}

void bulk(Format f, const std::byte* src, std::size_t n, float* out) {
  switch (f) {
  case F16:
    return io::decode_f16(src, n, out);
  case BF16:
    return io::decode_bf16(src, n, out);
  case E4M3:
    return io::decode_fp8_e4m3(src, n, out);
  case E5M2:
    return io::decode_fp8_e5m2(src, n, out);
  }
}

template <bool Bulk> void BM_Decode(benchmark::State& state) {
  const auto f = static_cast<Format>(state.range(0));
  const auto bytes = patterns(f);
  std::vector<float> out(kValues), check(kValues);
  per_value(f, bytes.data(), kValues, check.data());
  bulk(f, bytes.data(), kValues, out.data());
  if (std::memcmp(out.data(), check.data(), kValues * sizeof(float)) != 0) {
    std::fprintf(stderr, "decode_bench: bulk and per-value decoding differ\n");
    std::exit(1);
  }
  for (auto _ : state) {
    if constexpr (Bulk)
      bulk(f, bytes.data(), kValues, out.data());
    else
      per_value(f, bytes.data(), kValues, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(bytes.size()));
  state.SetLabel(f == F16 ? "F16" : f == BF16 ? "BF16" : f == E4M3 ? "F8_E4M3" : "F8_E5M2");
}

BENCHMARK(BM_Decode<false>)->Name("per_value")->DenseRange(0, 3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Decode<true>)->Name("bulk")->DenseRange(0, 3)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
