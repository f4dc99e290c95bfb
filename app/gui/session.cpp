#include "app/gui/session.h"

#include "io/pretrain_record.h"

#include "core/error.h"
#include "core/load_metrics.h"
#include "core/metrics.h"
#include "core/mpi_convergence.h"
#include "core/routing.h"
#include "core/training.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "io/hub_cache.h"
#include "io/pretrain_record.h"
#include "io/run_record.h"
#include "io/series.h"

#include <nlohmann/json.hpp>

#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>

namespace routerscope::gui {

namespace {
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Means over experts: |cos| and λ over the experts with a defined u₁, ‖R‖ over all.
void fill_means(MpiStepRecord& r) {
  double sc = 0, sl = 0;
  int ok = 0;
  for (std::size_t i = 0; i < r.cos.size(); ++i)
    if (std::isfinite(r.cos[i])) {
      sc += r.cos[i];
      sl += r.lambda[i];
      ++ok;
    }
  r.mean_cos = ok ? sc / ok : std::numeric_limits<double>::quiet_NaN();
  r.mean_lambda = ok ? sl / ok : std::numeric_limits<double>::quiet_NaN();
  r.mean_norm = r.norm.empty()
                    ? 0.0
                    : std::accumulate(r.norm.begin(), r.norm.end(), 0.0) / double(r.norm.size());
}
} // namespace

std::shared_ptr<const OpenedModel> open_and_align(const std::string& path, ExpertMatrix matrix,
                                                  const Progress& progress,
                                                  const ComputeBackend* backend) {
  progress(0.0, "reading headers");
  auto out = std::make_shared<OpenedModel>();
  out->path = io::resolve_model_path(path); // Hub repo ids and models--… folders
  out->matrix = matrix;
  std::shared_ptr<MoeModel> model = io::open_checkpoint(out->path);
  out->info = model->info();
  progress.check();
  AlignOptions options;
  options.matrix = matrix;
  options.threads = 2;
  options.backend = backend;
  out->alignment = align_model(*model, options, progress);
  out->model = std::move(model);
  out->grid_rows = int(out->alignment.size());
  for (const auto& layer : out->alignment)
    out->grid_cols = std::max(out->grid_cols, int(layer.experts.size()));
  const std::size_t cells = std::size_t(out->grid_rows) * out->grid_cols;
  out->cos_grid.assign(cells, kNaN);
  out->lambda_grid.assign(cells, kNaN);
  for (int r = 0; r < out->grid_rows; ++r)
    for (const auto& e : out->alignment[r].experts)
      if (e.status == DirectionStatus::Ok) {
        out->cos_grid[std::size_t(r) * out->grid_cols + e.expert] = float(e.cos);
        out->lambda_grid[std::size_t(r) * out->grid_cols + e.expert] = float(e.lambda);
      }
  progress(1.0, "done");
  return out;
}

ExpertDetail expert_detail(const MoeModel& model, int layer, int expert, ExpertMatrix matrix,
                           int count, const Progress& progress) {
  progress(0.0, "decoding expert");
  const MatrixF g = direction_operator(model, layer, expert, matrix);
  const MatrixF router = model.router(layer);
  if (expert < 0 || expert >= router.rows())
    throw_input_error("expert " + std::to_string(expert) + " is out of range for layer " +
                      std::to_string(layer) + " (" + std::to_string(router.rows()) + " experts)");
  progress.check();
  ExpertDetail out;
  out.layer = layer;
  out.expert = expert;
  out.d = int(g.rows());
  out.d_model = int(g.cols());
  const VectorD r = router.row(expert).transpose().cast<double>();
  out.router_norm = r.norm();
  // An SVD of NaN/Inf returns arbitrary numbers (σⱼ/σ₁ = 1 bars, invented projections): none.
  if (!g.allFinite() || !r.allFinite()) {
    out.non_finite = g.allFinite() ? "router row" : "weights";
    progress(1.0, "done");
    return out;
  }
  progress(0.3, "singular value decomposition");
  const MatrixD gd = g.cast<double>();
  Eigen::BDCSVD<Eigen::MatrixXd> svd(gd, Eigen::ComputeThinV);
  const int n = std::min<int>(count, int(svd.singularValues().size()));
  for (int j = 0; j < n; ++j) {
    out.sigma.push_back(svd.singularValues()(j));
    out.projection.push_back(out.router_norm > 0 ? svd.matrixV().col(j).dot(r) / out.router_norm
                                                 : 0.0);
  }
  progress(1.0, "done");
  return out;
}

MpiStepper::MpiStepper(std::shared_ptr<const OpenedModel> model, const MpiRunSettings& settings,
                       const Progress& progress, std::shared_ptr<const ComputeBackend> backend)
    : model_(std::move(model)), settings_(settings), backend_(std::move(backend)) {
  if (!backend_)
    backend_ = make_cpu_backend(2);
  const MoeModel& m = *model_->model;
  const LayerInfo& info = m.info().layer(settings.layer);
  if (!info.moe)
    throw_input_error("layer " + std::to_string(settings.layer) + " of " + model_->path +
                      " is not an MoE layer");
  progress(0.0, "loading layer " + std::to_string(settings.layer));
  std::vector<MatrixF> g = load_direction_operators(m, settings.layer, settings.mpi.matrix);
  MatrixF router = m.router(settings.layer);
  check_mpi_inputs(m, settings.layer, router, g, settings.mpi.matrix);
  top_k_ = std::clamp(info.top_k.value_or(2), 1, int(router.rows()));
  const int d_model = int(router.cols());
  // Principal directions: reuse the opened model's alignment when it used the same matrix
  // (otherwise the stepper computes them).
  std::vector<PrincipalDirection> directions;
  for (const auto& la : model_->alignment)
    if (la.layer == settings.layer && model_->matrix == settings.mpi.matrix &&
        la.experts.size() == g.size())
      for (const auto& e : la.experts)
        directions.push_back({e.u1, e.sigma1, e.sigma2, e.status, 0});
  if (directions.empty())
    progress(0.5, "principal directions");
  ConvergenceSettings cs;
  cs.mpi = settings.mpi;
  cs.backend = backend_.get();
  stepper_ = std::make_unique<ConvergenceStepper>(settings.layer, std::move(router), std::move(g),
                                                  cs, progress, std::move(directions));
  // Probe tokens: the seeded synthetic Gaussian mixture of core/training.h.
  tokens_ = synthetic_tokens(settings.probe_tokens, d_model, settings.seed);
  bias_ = m.router_bias(settings.layer);
  rule_ = m.info().routing;
  rule_.order = settings.mpi.order;
  records_ = std::make_shared<const std::vector<MpiStepRecord>>(
      std::vector<MpiStepRecord>{measure(stepper_->result().rows.front())});
}

MpiStepper::~MpiStepper() = default;

MpiStepRecord MpiStepper::measure(const ConvergenceRow& row) const {
  auto vec = [](const VectorD& v) { return std::vector<double>(v.data(), v.data() + v.size()); };
  MpiStepRecord rec;
  rec.step = row.step;
  rec.cos = vec(row.cos);
  rec.lambda = vec(row.lambda);
  rec.norm = vec(row.router_norm);
  rec.pre_norm = vec(row.pre_norm); // NaN at step 0
  fill_means(rec);
  // Load: route the probe tokens with the family's rule (gate order from the MPI settings).
  const int n = int(rec.cos.size());
  const Routing routing = route_tokens(tokens_, stepper_->router(), bias_, rule_, top_k_);
  const VectorD loads = expert_loads(routing.experts, n);
  const double total = loads.sum();
  rec.load.resize(n);
  for (int i = 0; i < n; ++i)
    rec.load[i] = total > 0 ? loads[i] / total : 0.0;
  rec.max_vio = max_vio(loads);
  return rec;
}

void MpiStepper::advance(int steps, const Progress& progress) {
  // Convergence stepping (mpi.md) by core's stepper: R_{t+1} = MPI(R_t), measured every step.
  auto records = std::make_shared<std::vector<MpiStepRecord>>(*records_);
  for (int s = 0; s < steps; ++s) {
    progress.check();
    records->push_back(measure(stepper_->step()));
    progress(double(s + 1) / steps, "step " + std::to_string(records->back().step));
  }
  records_ = std::move(records);
}

void save_training_record(const std::string& path, const OpenedModel& model, int layer,
                          const std::string& config, const std::vector<TrainStepRecord>& records) {
  if (records.empty())
    throw_input_error("cannot save " + path + ": no training steps recorded yet");
  // Written under a temporary name and renamed when complete: a failed save never leaves a
  // truncated file in place of an older one.
  io::write_replacing(path, [&](const std::filesystem::path& temp) {
    io::RunRecordWriter writer(temp, "training", config.empty() ? "{}" : config,
                               io::checkpoint_identity(model.path, model.info));
    for (const auto& r : records) // variants interleave: each declared before the first step
      io::declare_training_variant(writer, layer, r.name, std::size_t(r.load.size()),
                                   r.stored_cos.size() > 0, r.maxvio_global.has_value());
    for (const auto& r : records)
      writer.add_training_step(layer, r);
    writer.close();
  });
}

namespace {

// A convergence session as what the record holds: the settings, the layer's σ₁, σ₂ and one
// ConvergenceRow per step (core/mpi_convergence.h), and the GUI's own series load and max_vio.
struct ConvergenceSession {
  std::string config;
  LayerConvergence layer;
  std::vector<std::vector<double>> load;
  std::vector<double> max_vio;
};

ConvergenceSession convergence_session(const OpenedModel& model, const MpiRunSettings& settings,
                                       const std::vector<MpiStepRecord>& records) {
  const nlohmann::json extra = {{"source", "routerscope gui"},
                                {"layer", settings.layer},
                                {"probe_tokens", settings.probe_tokens},
                                {"seed", settings.seed}};
  ConvergenceSession out;
  out.config = mpi_config(settings.mpi, extra.dump());
  LayerConvergence& layer = out.layer;
  layer.layer = settings.layer;
  // σ₁, σ₂ of the opened model's alignment, which are those of the run's matrix only when the
  // matrices agree; otherwise NaN (no bound) rather than another matrix's values.
  for (const auto& la : model.alignment)
    if (la.layer == settings.layer)
      for (const auto& e : la.experts) {
        PrincipalDirection d;
        const bool same = model.matrix == settings.mpi.matrix;
        d.sigma1 = same ? e.sigma1 : std::numeric_limits<double>::quiet_NaN();
        d.sigma2 = same ? e.sigma2 : std::numeric_limits<double>::quiet_NaN();
        d.status = e.status;
        layer.directions.push_back(d);
      }
  if (records.empty())
    return out;
  const int n = int(records.front().cos.size());
  const int k =
      settings.mpi.ablation == MpiSettings::Ablation::NoPower ? 0 : settings.mpi.power_steps;
  auto vec = [n](const std::vector<double>& v) {
    return v.size() == std::size_t(n) ? VectorD(Eigen::Map<const VectorD>(v.data(), n))
                                      : VectorD::Constant(n, std::nan(""));
  };
  for (const auto& r : records) {
    ConvergenceRow row;
    row.step = r.step;
    row.cos = vec(r.cos);
    row.lambda = vec(r.lambda);
    row.router_norm = vec(r.norm);
    row.pre_norm = vec(r.pre_norm);
    row.tan_theta.resize(n);
    row.tan_bound.resize(n);
    for (int i = 0; i < n; ++i) {
      // tan θ from |cos θ|; the bound (σ₂/σ₁)^{2kt}·tan θ₀ of mpi.md.
      row.tan_theta[i] = tan_from_cos(row.cos[i]);
      const double ratio = i < int(layer.directions.size()) && layer.directions[i].sigma1 > 0
                               ? layer.directions[i].sigma2 / layer.directions[i].sigma1
                               : std::numeric_limits<double>::quiet_NaN();
      row.tan_bound[i] = std::pow(ratio, 2.0 * k * r.step) * tan_from_cos(records.front().cos[i]);
    }
    layer.rows.push_back(std::move(row));
    out.load.push_back(r.load.size() == std::size_t(n)
                           ? r.load
                           : std::vector<double>(n, std::numeric_limits<double>::quiet_NaN()));
    out.max_vio.push_back(r.max_vio);
  }
  return out;
}

} // namespace

RunRecord convergence_record(const OpenedModel& model, const MpiRunSettings& settings,
                             const std::vector<MpiStepRecord>& records) {
  ConvergenceSession s = convergence_session(model, settings, records);
  RunRecord rec =
      convergence_record(s.layer, s.config, io::checkpoint_identity(model.path, model.info));
  if (!records.empty()) {
    ConvergenceRecord& c = rec.layers.front();
    MatrixD load(Eigen::Index(s.load.size()), Eigen::Index(s.load.front().size()));
    for (std::size_t t = 0; t < s.load.size(); ++t)
      load.row(Eigen::Index(t)) = Eigen::Map<const VectorD>(s.load[t].data(), load.cols());
    c.series["load"] = std::move(load);
    c.series["max_vio"] =
        Eigen::Map<const VectorD>(s.max_vio.data(), Eigen::Index(s.max_vio.size()));
  }
  return rec;
}

void save_convergence_record(const std::string& path, const OpenedModel& model,
                             const MpiRunSettings& settings,
                             const std::vector<MpiStepRecord>& records) {
  if (records.empty())
    throw_input_error("cannot save " + path + ": no MPI steps recorded yet");
  const ConvergenceSession s = convergence_session(model, settings, records);
  io::write_replacing(path, [&](const std::filesystem::path& temp) {
    io::RunRecordWriter writer(temp, "convergence", s.config,
                               io::checkpoint_identity(model.path, model.info));
    const int n = int(records.front().cos.size());
    const std::string base = "layers/" + std::to_string(settings.layer) + "/";
    // Every dataset exists before the first step is committed (live records, io/run_record.h).
    io::declare_convergence_layer(writer, settings.layer, std::size_t(n));
    writer.declare(base + "load", std::size_t(n));
    writer.declare(base + "max_vio", 0);
    for (std::size_t t = 0; t < s.layer.rows.size(); ++t) {
      writer.append_row(base + "load", s.load[t]);
      writer.append_value(base + "max_vio", s.max_vio[t]);
      writer.add_convergence_row(s.layer, s.layer.rows[t]); // commits the step
    }
    writer.close();
  });
}

Replay read_replay(const std::string& path) {
  RunRecord rec = io::read_run_record(path);
  if (rec.kind == "pretraining") {
    Replay out;
    out.config = rec.config;
    for (const auto& s : io::pretrain_series(rec, path))
      out.pretraining_steps = out.pretraining_steps == 0
                                  ? int(s.steps())
                                  : std::min(out.pretraining_steps, int(s.steps()));
    if (out.pretraining_steps == 0)
      throw_input_error(path + ": the pretraining record holds no complete step");
    out.pretraining = std::make_shared<const RunRecord>(std::move(rec));
    return out;
  }
  if (rec.kind == "series") { // replays in the Series view; no checkpoint to open
    Replay out;
    out.config = rec.config;
    if (io::series_data(rec, path).steps.empty())
      throw_input_error(path + ": the series record holds no checkpoint yet");
    out.series = std::make_shared<const RunRecord>(std::move(rec));
    return out;
  }
  if (rec.kind == "training") {
    Replay out;
    out.checkpoint = rec.identity.path;
    out.config = rec.config;
    out.training = training_steps(rec, path, &out.layer);
    if (out.training.empty())
      throw_input_error(path + ": the training record holds no complete step");
    return out;
  }
  if (rec.kind != "convergence" || rec.layers.empty())
    throw_input_error(
        path +
        ": expected a convergence, training, pretraining or series run record, found kind '" +
        rec.kind + "' with " + std::to_string(rec.layers.size()) + " layers");
  const ConvergenceRecord& layer = rec.layers.front();
  auto series = [&](const char* name) -> const MatrixD& {
    auto it = layer.series.find(name);
    if (it == layer.series.end())
      throw_input_error(path + ": dataset layers/" + std::to_string(layer.layer) + "/" + name +
                        " is missing");
    return it->second;
  };
  const MatrixD& cos = series("cos");
  const MatrixD& lambda = series("lambda");
  const MatrixD& norm = series("router_norm");
  const MatrixD* load = layer.series.count("load") ? &layer.series.at("load") : nullptr;
  const MatrixD* vio = layer.series.count("max_vio") ? &layer.series.at("max_vio") : nullptr;
  Replay out;
  out.checkpoint = rec.identity.path;
  out.layer = layer.layer;
  const int n = int(cos.cols());
  auto row_of = [](const MatrixD& m, Eigen::Index t) {
    return std::vector<double>(m.row(t).data(), m.row(t).data() + m.cols());
  };
  for (Eigen::Index t = 0; t < cos.rows(); ++t) {
    MpiStepRecord r;
    r.step = int(t);
    r.cos = row_of(cos, t);
    r.lambda = row_of(lambda, t);
    r.norm = row_of(norm, t);
    if (const auto it = layer.series.find("pre_norm");
        it != layer.series.end() && t < it->second.rows())
      r.pre_norm = row_of(it->second, t);
    else
      r.pre_norm.assign(n, std::numeric_limits<double>::quiet_NaN());
    if (load && t < load->rows())
      r.load = row_of(*load, t);
    else
      r.load.assign(n, std::numeric_limits<double>::quiet_NaN());
    r.max_vio = vio && t < vio->rows() ? (*vio)(t, 0) : std::numeric_limits<double>::quiet_NaN();
    fill_means(r);
    out.records.push_back(std::move(r));
  }
  return out;
}

} // namespace routerscope::gui
