#include "core/compute_backend.h"

#include "core/enum_names.h"
#include "core/error.h"
#include "core/parallel.h"

#include <mutex>

namespace routerscope {

namespace {
constexpr NameTable<Device, 3> kDeviceNames{{
    {Device::Auto, "auto"},
    {Device::Cpu, "cpu"},
    {Device::Cuda, "cuda"},
}};
} // namespace

Device parse_device(std::string_view text) {
  if (auto d = value_of(kDeviceNames, text))
    return *d;
  throw_input_error("--device: expected " + names_list(kDeviceNames) + ", got '" +
                    std::string(text) + "'");
}

namespace {

class CpuLayer final : public LayerOperators {
public:
  explicit CpuLayer(const std::vector<MatrixF>& g) : g_(g) {}
  int experts() const override { return int(g_.size()); }
  int d_model() const override { return g_.empty() ? 0 : int(g_.front().cols()); }
  const std::vector<MatrixF>& g() const { return g_; }

private:
  const std::vector<MatrixF>& g_;
};

const CpuLayer& cpu_layer(const LayerOperators& layer) {
  auto* l = dynamic_cast<const CpuLayer*>(&layer);
  if (!l)
    throw_internal_error("CPU backend: the layer was uploaded by another backend");
  return *l;
}

class CpuBackend final : public ComputeBackend {
public:
  explicit CpuBackend(int threads) : threads_(threads) {}
  std::string name() const override { return "cpu"; }
  bool batches_layers() const override { return false; }

  std::unique_ptr<LayerOperators> upload(const std::vector<MatrixF>& g) const override {
    return std::make_unique<CpuLayer>(g);
  }

  std::vector<PrincipalDirection> principal_directions(const LayerOperators& layer,
                                                       const SpectralOptions& options,
                                                       const Progress& progress) const override {
    const auto& g = cpu_layer(layer).g();
    std::vector<PrincipalDirection> out(g.size());
    parallel_for(int(g.size()), threads_, [&](int e) {
      if (!progress.cancelled())
        out[size_t(e)] = principal_direction(g[size_t(e)], options);
    });
    progress.check();
    return out;
  }

  MatrixF mpi_step(const LayerOperators& layer, const MatrixF& r, const MpiSettings& settings,
                   VectorD* pre_norms) const override {
    return mpi_router(r, cpu_layer(layer).g(), settings, pre_norms);
  }

  Routing route(const MatrixF& x, const MatrixF& router, const VectorF& bias,
                const RoutingRule& rule, int top_k) const override {
    return route_tokens(x, router, bias, rule, top_k);
  }

private:
  int threads_;
};

std::mutex& factory_mutex() {
  static std::mutex m;
  return m;
}
GpuBackendFactory& factory() {
  static GpuBackendFactory f;
  return f;
}

} // namespace

std::unique_ptr<ComputeBackend> make_cpu_backend(int threads) {
  return std::make_unique<CpuBackend>(threads);
}

void set_gpu_backend_factory(GpuBackendFactory f) {
  std::lock_guard lock(factory_mutex());
  factory() = std::move(f);
}

BackendChoice choose_backend(Device device, int threads) {
  BackendChoice out;
  if (device == Device::Cpu) {
    out.backend = make_cpu_backend(threads);
    out.note = "device: cpu";
    return out;
  }
  std::string why = "this build has no CUDA backend (nvcc was not found at configure time)";
  {
    std::lock_guard lock(factory_mutex());
    if (factory())
      out.backend = factory()(&why);
  }
  if (out.backend) {
    out.note = "device: " + out.backend->name();
    return out;
  }
  if (device == Device::Cuda)
    throw_input_error("--device cuda: no usable GPU: " + why);
  out.backend = make_cpu_backend(threads);
  out.note = "device: cpu (no usable GPU: " + why + ")";
  return out;
}

} // namespace routerscope
