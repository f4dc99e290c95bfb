// Time to every principal direction of one OLMoE-1B-7B-sized layer: 64 experts, gate_proj [1024,
// 2048] as stored, BF16 bytes with planted gaps. The timed region decodes BF16 -> float and solves,
// two threads (one expert each at a time). The layer and its float64 reference (exact method:
// double symmetric eigensolver of GGᵀ) are written once to $ROUTERSCOPE_BENCH_DATA (default
// ./spectral-bench-data) as .npy files that bench/peer/spectral_peer.py reads, so both sides solve
// the same bytes and are scored against the same reference.
#include "bench/npy.h"
#include "core/spectral.h"
#include "io/dtype.h"

#include <Eigen/QR>
#include <atomic>
#include <benchmark/benchmark.h>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace routerscope;
using namespace routerscope::bench;
namespace fs = std::filesystem;

constexpr int kExperts = 64, kRows = 1024, kCols = 2048; // gate_proj [d, D]
constexpr int kPlanted = 64;                             // planted singular triplets
constexpr int kThreads = 2;
constexpr std::uint64_t kSeed = 2026;
constexpr std::size_t kExpertElems = static_cast<std::size_t>(kRows) * kCols;

fs::path data_dir() {
  const char* d = std::getenv("ROUTERSCOPE_BENCH_DATA");
  return d ? fs::path(d) : fs::path("spectral-bench-data");
}

MatrixF random_orthonormal(int rows, int cols, std::mt19937_64& rng) {
  std::normal_distribution<float> n(0.0f, 1.0f);
  Eigen::MatrixXf a(rows, cols);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      a(i, j) = n(rng);
  Eigen::HouseholderQR<Eigen::MatrixXf> qr(a);
  return qr.householderQ() * Eigen::MatrixXf::Identity(rows, cols);
}

// One expert: G = σ₁·(u₁v₁ᵀ + Σ_{j≥2} r·0.97^{j−2} u_j v_jᵀ) + noise, r ∈ [0.5, 0.95], σ₁ ∈ [0.5,
// 2], noise i.i.d. Gaussian with spectral norm ≈ 0.03·σ₁ (entries σ₁·0.03/(√1024 + √2048)).
void generate_expert(std::uint64_t seed, std::uint16_t* out) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> ratio_d(0.5, 0.95), scale_d(0.5, 2.0);
  const double ratio = ratio_d(rng), scale = scale_d(rng);
  MatrixF u = random_orthonormal(kRows, kPlanted, rng);
  MatrixF v = random_orthonormal(kCols, kPlanted, rng);
  Eigen::VectorXf s(kPlanted);
  s(0) = 1.0f;
  for (int j = 1; j < kPlanted; ++j)
    s(j) = static_cast<float>(ratio * std::pow(0.97, j - 1));
  MatrixF g = (u * s.asDiagonal()) * v.transpose();
  std::normal_distribution<float> noise(0.0f, 0.03f / (32.0f + 45.25f));
  for (std::size_t i = 0; i < kExpertElems; ++i)
    out[i] = io::float_to_bf16(static_cast<float>(scale) * (g.data()[i] + noise(rng)));
}

void decode_expert(const std::uint16_t* bytes, MatrixF& g) {
  g.resize(kRows, kCols);
  io::bf16_to_float(bytes, kExpertElems, g.data());
}

template <class F> void parallel_experts(int count, F&& work) {
  std::atomic<int> next{0};
  auto run = [&] {
    MatrixF g;
    for (int e = next++; e < count; e = next++)
      work(e, g);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < kThreads; ++t)
    pool.emplace_back(run);
  run();
  for (auto& t : pool)
    t.join();
}

struct Layer {
  std::vector<std::uint16_t> bytes; // [64, 1024, 2048] BF16
  std::vector<double> reference;    // [64, 2048 + 2]: u₁ (float64), σ₁, σ₂
};

const Layer& layer() {
  static const Layer l = [] {
    Layer out;
    fs::create_directories(data_dir());
    const fs::path lp = data_dir() / "layer_bf16.npy", rp = data_dir() / "reference_f64.npy";
    const std::vector<int> lshape = {kExperts, kRows, kCols}, rshape = {kExperts, kCols + 2};
    if (!read_npy(lp, "<u2", lshape, out.bytes, kExpertElems * kExperts)) {
      std::fprintf(stderr, "generating %s ...\n", lp.c_str());
      out.bytes.assign(kExpertElems * kExperts, 0);
      parallel_experts(kExperts, [&](int e, MatrixF&) {
        generate_expert(kSeed + static_cast<std::uint64_t>(e), out.bytes.data() + e * kExpertElems);
      });
      write_npy(lp, "<u2", lshape, out.bytes);
    }
    if (!read_npy(rp, "<f8", rshape, out.reference,
                  static_cast<std::size_t>(kExperts) * (kCols + 2))) {
      std::fprintf(stderr, "computing the float64 reference %s ...\n", rp.c_str());
      out.reference.assign(static_cast<std::size_t>(kExperts) * (kCols + 2), 0.0);
      SpectralOptions o;
      o.method = SpectralMethod::Exact;
      parallel_experts(kExperts, [&](int e, MatrixF& g) {
        decode_expert(out.bytes.data() + e * kExpertElems, g);
        PrincipalDirection pd = principal_direction(g, o);
        if (pd.status != DirectionStatus::Ok)
          throw std::runtime_error("reference: expert " + std::to_string(e) + " is " +
                                   std::string(to_string(pd.status)));
        double* row = out.reference.data() + static_cast<std::size_t>(e) * (kCols + 2);
        for (int j = 0; j < kCols; ++j)
          row[j] = pd.u1(j); // float u₁ of the double solve; see the cos counter below
        row[kCols] = pd.sigma1;
        row[kCols + 1] = pd.sigma2;
      });
      write_npy(rp, "<f8", rshape, out.reference);
    }
    return out;
  }();
  return l;
}

// Memory-bandwidth floor: one read of the layer's bytes (two threads, summing 64-bit words).
void BM_ReadLayerOnce(benchmark::State& state) {
  const Layer& l = layer();
  const std::size_t words = l.bytes.size() / 4;
  const auto* p = reinterpret_cast<const std::uint64_t*>(l.bytes.data());
  for (auto _ : state) {
    std::uint64_t sums[kThreads] = {};
    std::vector<std::thread> pool;
    for (int t = 0; t < kThreads; ++t)
      pool.emplace_back([&, t] {
        std::uint64_t a = 0, b = 0, c = 0, d = 0;
        const std::size_t begin = words * t / kThreads, end = words * (t + 1) / kThreads;
        for (std::size_t i = begin; i + 4 <= end; i += 4) {
          a += p[i];
          b += p[i + 1];
          c += p[i + 2];
          d += p[i + 3];
        }
        sums[t] = a + b + c + d;
      });
    for (auto& t : pool)
      t.join();
    benchmark::DoNotOptimize(sums);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * l.bytes.size() * 2));
}
BENCHMARK(BM_ReadLayerOnce)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

// Decode only: BF16 bytes -> float matrices, every expert.
void BM_DecodeLayer(benchmark::State& state) {
  const Layer& l = layer();
  for (auto _ : state)
    parallel_experts(kExperts, [&](int e, MatrixF& g) {
      decode_expert(l.bytes.data() + e * kExpertElems, g);
      benchmark::DoNotOptimize(g.data());
    });
}
BENCHMARK(BM_DecodeLayer)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

// All principal directions of the layer (or the first `experts`, for the slow exact method).
// Arguments: method, experts, Lanczos block size (0 = Spectra single vector, 8 = block of 8),
// BF16 bits given directly to the solver (1) or decoded to a float matrix first (0).
void BM_Directions(benchmark::State& state) {
  const Layer& l = layer();
  SpectralOptions o;
  o.method = static_cast<SpectralMethod>(state.range(0));
  const int experts = static_cast<int>(state.range(1));
  o.block_size = static_cast<int>(state.range(2));
  const bool direct = state.range(3) != 0; // BF16 bits straight into the solver, no float copy
  std::vector<PrincipalDirection> out(static_cast<std::size_t>(experts));
  for (auto _ : state)
    parallel_experts(experts, [&](int e, MatrixF& g) {
      const std::uint16_t* bytes = l.bytes.data() + e * kExpertElems;
      if (direct) {
        out[static_cast<std::size_t>(e)] = principal_direction(Bf16Matrix{bytes, kRows, kCols}, o);
      } else {
        decode_expert(bytes, g);
        out[static_cast<std::size_t>(e)] = principal_direction(g, o);
      }
    });
  double min_cos = 1.0, max_sigma_err = 0.0, products = 0;
  for (int e = 0; e < experts; ++e) {
    const PrincipalDirection& pd = out[static_cast<std::size_t>(e)];
    const double* ref = l.reference.data() + static_cast<std::size_t>(e) * (kCols + 2);
    if (pd.status != DirectionStatus::Ok) {
      min_cos = 0.0;
      continue;
    }
    Eigen::Map<const VectorD> r(ref, kCols);
    min_cos = std::min(min_cos, std::abs(pd.u1.cast<double>().dot(r)) / r.norm());
    max_sigma_err = std::max({max_sigma_err, std::abs(pd.sigma1 - ref[kCols]) / ref[kCols],
                              std::abs(pd.sigma2 - ref[kCols + 1]) / ref[kCols]});
    products += pd.iterations;
  }
  state.SetLabel(
      std::string(to_string(o.method)) +
      (o.method == SpectralMethod::Lanczos
           ? (o.block_size == 8 ? " (block of 8)" : " (Spectra, 1 vector)") +
                 (direct ? std::string(", BF16 bits direct") : std::string(", decode to float"))
           : "") +
      ", " + std::to_string(experts) + " experts");
  state.counters["experts"] = experts;
  state.counters["one_minus_min_cos"] = 1.0 - min_cos;
  state.counters["max_rel_sigma_err"] = max_sigma_err;
  state.counters["products_per_expert"] = products / experts;
}
BENCHMARK(BM_Directions)
    ->Args({static_cast<int>(SpectralMethod::Lanczos), kExperts, 0, 1})
    ->Args({static_cast<int>(SpectralMethod::Lanczos), kExperts, 0, 0})
    ->Args({static_cast<int>(SpectralMethod::Lanczos), kExperts, 8, 0})
    ->Args({static_cast<int>(SpectralMethod::Power), kExperts, 0, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2.0);
BENCHMARK(BM_Directions)
    ->Args({static_cast<int>(SpectralMethod::Exact), 8, 0, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

} // namespace

BENCHMARK_MAIN();
