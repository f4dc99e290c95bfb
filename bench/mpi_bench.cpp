// MPI on one OLMoE-1B-7B-sized layer (64 experts, gate/up [1024, 2048], down [2048, 1024], top-8):
// (1) the MPI transform R′ = (C′/√N)·normalize(R·GᵀG) for all 64 router rows; (2) one router
// training step (forward through routing and the frozen experts, MSE + LB loss, analytic gradient
// of the stored router) for the vanilla and the MPI variant on 256 tokens. Inputs and RouterScope's
// outputs (R′, losses) are written to $ROUTERSCOPE_BENCH_DATA/mpi (default ./mpi-bench-data) as
// .npy/.json for bench/peer/mpi_peer.py, which does the same work with PyTorch and checks it
// reaches the same numbers.
#include "bench/npy.h"
#include "core/mpi.h"
#include "core/routing.h"
#include "core/training.h"

#include <benchmark/benchmark.h>
#include <cstdio>
#include <cstdlib>
#include <random>

namespace {

using namespace routerscope;
using namespace routerscope::bench;

constexpr int kExperts = 64, kExpert = 1024, kModel = 2048, kTopK = 8, kTokens = 256;

fs::path data_dir() {
  const char* d = std::getenv("ROUTERSCOPE_BENCH_DATA");
  return (d ? fs::path(d) : fs::path("mpi-bench-data"));
}

MatrixF gaussian(int rows, int cols, std::mt19937_64& rng, float sd) {
  std::normal_distribution<float> n(0.0f, sd);
  MatrixF m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i)
    m.data()[i] = n(rng);
  return m;
}

std::vector<float> stack(const std::vector<MatrixF>& ms) {
  std::vector<float> out;
  for (const auto& m : ms)
    out.insert(out.end(), m.data(), m.data() + m.size());
  return out;
}

struct Setup {
  TrainingLayer layer;
  MatrixF router, x, target;
  TrainSettings settings;

  Setup() {
    std::mt19937_64 rng(7);
    auto& w = layer.weights;
    w.top_k = kTopK;
    w.rule = RoutingRule{}; // OLMoE: softmax over all, top-k, no renormalisation
    for (int e = 0; e < kExperts; ++e) {
      w.gate.push_back(gaussian(kExpert, kModel, rng, 1.0f / std::sqrt(float(kModel))));
      w.up.push_back(gaussian(kExpert, kModel, rng, 1.0f / std::sqrt(float(kModel))));
      w.down.push_back(gaussian(kModel, kExpert, rng, 1.0f / std::sqrt(float(kExpert))));
    }
    layer.g = w.gate;
    router = gaussian(kExperts, kModel, rng, 0.02f);
    x = gaussian(kTokens, kModel, rng, 1.0f);
    // Target: the block's output with a different ("original") router, as training uses.
    MatrixF original = gaussian(kExperts, kModel, rng, 0.02f);
    target = routed_forward(w, route_tokens(x, original, {}, w.rule, kTopK), x);
    settings.mpi.c_prime = 4.0;
    write_inputs();
  }

  void write_inputs() const {
    const fs::path dir = data_dir();
    fs::create_directories(dir);
    auto m = [](const MatrixF& a) { return std::vector<float>(a.data(), a.data() + a.size()); };
    write_npy(dir / "gate.npy", "<f4", {kExperts, kExpert, kModel}, stack(layer.weights.gate));
    write_npy(dir / "up.npy", "<f4", {kExperts, kExpert, kModel}, stack(layer.weights.up));
    write_npy(dir / "down.npy", "<f4", {kExperts, kModel, kExpert}, stack(layer.weights.down));
    write_npy(dir / "router.npy", "<f4", {kExperts, kModel}, m(router));
    write_npy(dir / "x.npy", "<f4", {kTokens, kModel}, m(x));
    write_npy(dir / "target.npy", "<f4", {kTokens, kModel}, m(target));
    MatrixF r_prime = mpi_router(router, layer.g, settings.mpi);
    write_npy(dir / "router_mpi.npy", "<f4", {kExperts, kModel}, m(r_prime));
    std::string json = "{";
    for (std::string v : {"vanilla", "mpi"}) {
      TrainVariant tv = parse_variant(v);
      Objective o = router_objective(layer, router, tv, layer.weights.rule, x, target, settings);
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "%s\"%s\": {\"task\": %.17g, \"lb\": %.17g, \"grad_norm\": %.17g}",
                    v == "vanilla" ? "" : ", ", v.c_str(), o.task, o.lb, double(o.grad.norm()));
      json += buf;
    }
    json += "}\n";
    std::ofstream(dir / "routerscope.json") << json;
  }
};

const Setup& setup() {
  static const Setup s;
  return s;
}

void BM_MpiTransform(benchmark::State& state) {
  const Setup& s = setup();
  for (auto _ : state)
    benchmark::DoNotOptimize(mpi_router(s.router, s.layer.g, s.settings.mpi));
  state.counters["rows/s"] = benchmark::Counter(double(kExperts), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MpiTransform)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_TrainStep(benchmark::State& state) {
  const Setup& s = setup();
  const TrainVariant v = parse_variant(state.range(0) ? "mpi" : "vanilla");
  for (auto _ : state)
    benchmark::DoNotOptimize(
        router_objective(s.layer, s.router, v, s.layer.weights.rule, s.x, s.target, s.settings));
  state.SetLabel(v.name);
  state.counters["tokens/s"] = benchmark::Counter(double(kTokens), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TrainStep)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace

BENCHMARK_MAIN();
