#include "core/run_record.h"

#include "core/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>

namespace routerscope {

namespace {
std::span<const double> span_of(const VectorD& v) {
  return {v.data(), static_cast<std::size_t>(v.size())};
}
} // namespace

const VectorD& convergence_series(const ConvergenceRow& row, std::size_t i) {
  const VectorD* const rows[std::size(kConvergenceSeries)] = {
      &row.cos, &row.lambda, &row.router_norm, &row.pre_norm, &row.tan_theta, &row.tan_bound};
  if (i >= std::size(kConvergenceSeries))
    throw_internal_error("convergence_series: no series " + std::to_string(i));
  return *rows[i];
}

void for_each_training_series(const TrainStepRecord& r, const TrainingSeriesSink& sink) {
  auto one = [&](const char* key, const double& v) {
    sink(key, std::span<const double>(&v, 1), false);
  };
  one("loss", r.loss);
  one("task_loss", r.task_loss);
  one("lb_loss", r.lb_loss);
  one("z_loss", r.z_loss);
  one("maxvio_batch", r.maxvio_batch);
  one("lr", r.lr);
  one("grad_norm", r.grad_norm);
  sink("load", span_of(r.load), true);
  sink("cos", span_of(r.cos), true);
  sink("lambda", span_of(r.lambda), true);
  sink("router_norm", span_of(r.router_norm), true);
  if (r.stored_cos.size()) {
    sink("stored_cos", span_of(r.stored_cos), true);
    sink("stored_norm", span_of(r.stored_norm), true);
  }
  if (r.maxvio_global) {
    one("maxvio_global", *r.maxvio_global);
    const double step = r.step;
    one("maxvio_global_step", step);
  }
}

RunRecord convergence_record(const LayerConvergence& layer, const std::string& config,
                             const RecordIdentity& identity) {
  RunRecord rec;
  rec.kind = "convergence";
  rec.config = config;
  rec.identity = identity;
  ConvergenceRecord c;
  c.layer = layer.layer;
  c.sigma1.resize(Eigen::Index(layer.directions.size()));
  c.sigma2.resize(c.sigma1.size());
  for (size_t i = 0; i < layer.directions.size(); ++i) {
    c.sigma1(Eigen::Index(i)) = layer.directions[i].sigma1;
    c.sigma2(Eigen::Index(i)) = layer.directions[i].sigma2;
  }
  if (!layer.rows.empty())
    for (size_t k = 0; k < std::size(kConvergenceSeries); ++k) {
      const Eigen::Index width = convergence_series(layer.rows.front(), k).size();
      MatrixD m(Eigen::Index(layer.rows.size()), width);
      for (size_t t = 0; t < layer.rows.size(); ++t) {
        const VectorD& v = convergence_series(layer.rows[t], k);
        if (v.size() != width)
          throw_internal_error("convergence_record: layer " + std::to_string(layer.layer) + " " +
                               kConvergenceSeries[k] + " rows differ in width");
        m.row(Eigen::Index(t)) = v.transpose();
      }
      c.series[kConvergenceSeries[k]] = std::move(m);
    }
  rec.layers.push_back(std::move(c));
  return rec;
}

RunRecord training_record(const std::vector<TrainStepRecord>& steps, int layer,
                          const std::string& config, const RecordIdentity& identity) {
  RunRecord rec;
  rec.kind = "training";
  rec.config = config;
  rec.identity = identity;
  struct Series {
    std::map<std::string, std::vector<double>> scalars;
    std::map<std::string, std::vector<std::vector<double>>> rows;
  };
  std::map<std::string, Series> by_variant; // sorted by name, as read_run_record sorts
  for (const auto& r : steps) {
    Series& s = by_variant[r.name];
    for_each_training_series(r, [&](const char* key, std::span<const double> v, bool per_layer) {
      if (per_layer)
        s.rows[key].emplace_back(v.begin(), v.end());
      else
        s.scalars[key].push_back(v[0]);
    });
  }
  for (auto& [name, s] : by_variant) {
    TrainingVariantRecord v;
    v.name = name;
    for (auto& [key, values] : s.scalars)
      v.scalars[key] = Eigen::Map<const VectorD>(values.data(), Eigen::Index(values.size()));
    for (auto& [key, rows] : s.rows) {
      MatrixD m(Eigen::Index(rows.size()), Eigen::Index(rows.front().size()));
      for (size_t i = 0; i < rows.size(); ++i) {
        if (rows[i].size() != size_t(m.cols()))
          throw_internal_error("training_record: variant " + name + " " + key +
                               " rows differ in width");
        m.row(Eigen::Index(i)) = Eigen::Map<const VectorD>(rows[i].data(), m.cols());
      }
      v.layers[layer][key] = std::move(m);
    }
    v.maxvio_global = v.scalars["maxvio_global"];
    v.maxvio_global_step = v.scalars["maxvio_global_step"];
    v.scalars.erase("maxvio_global");
    v.scalars.erase("maxvio_global_step");
    rec.variants.push_back(std::move(v));
  }
  return rec;
}

std::vector<const TrainingVariantRecord*> variants_in_config_order(const RunRecord& record,
                                                                   const std::string& kind,
                                                                   const std::string& origin) {
  if (record.kind != kind || record.variants.empty())
    throw_input_error(origin + ": expected a " + kind +
                      " run record with at least one variant, "
                      "found kind '" +
                      record.kind + "' with " + std::to_string(record.variants.size()) +
                      " variants");
  // Variant order: the config's `variants` list, then any others by name.
  std::vector<const TrainingVariantRecord*> order;
  try {
    const auto config = nlohmann::json::parse(record.config.empty() ? "{}" : record.config);
    if (config.contains("variants"))
      for (const auto& name : config.at("variants"))
        for (const auto& v : record.variants)
          if (v.name == name.get<std::string>())
            order.push_back(&v);
  } catch (const nlohmann::json::exception& e) {
    throw_input_error(origin + ": attribute config is not valid JSON: " + e.what());
  }
  for (const auto& v : record.variants)
    if (std::find(order.begin(), order.end(), &v) == order.end())
      order.push_back(&v);
  return order;
}

std::vector<TrainStepRecord> training_steps(const RunRecord& record, const std::string& origin,
                                            int* layer) {
  const std::vector<const TrainingVariantRecord*> order =
      variants_in_config_order(record, "training", origin);
  const TrainingVariantRecord& first = *order.front();
  if (first.layers.empty())
    throw_input_error(origin + ": variants/" + first.name + "/layers holds no layer");
  const int l = first.layers.begin()->first;
  if (layer)
    *layer = l;
  std::vector<std::vector<TrainStepRecord>> per_variant;
  for (size_t vi = 0; vi < order.size(); ++vi) {
    const TrainingVariantRecord& v = *order[vi];
    const std::string base = "variants/" + v.name + "/";
    auto scalar = [&](const char* name) -> const VectorD& {
      auto it = v.scalars.find(name);
      if (it == v.scalars.end())
        throw_input_error(origin + ": dataset " + base + name + " is missing");
      return it->second;
    };
    auto lit = v.layers.find(l);
    if (lit == v.layers.end())
      throw_input_error(origin + ": group " + base + "layers/" + std::to_string(l) +
                        " is missing (every variant records the same layer)");
    auto matrix = [&](const char* name) -> const MatrixD* {
      auto it = lit->second.find(name);
      return it == lit->second.end() ? nullptr : &it->second;
    };
    for (const char* required : {"load", "cos", "lambda", "router_norm"})
      if (!matrix(required))
        throw_input_error(origin + ": dataset " + base + "layers/" + std::to_string(l) + "/" +
                          required + " is missing");
    // A record whose writer was killed may hold one row more in some datasets than in others:
    // the complete steps are those every dataset has.
    Eigen::Index steps = std::numeric_limits<Eigen::Index>::max();
    for (const char* s :
         {"loss", "task_loss", "lb_loss", "z_loss", "maxvio_batch", "lr", "grad_norm"})
      steps = std::min(steps, scalar(s).size());
    for (const char* m : {"load", "cos", "lambda", "router_norm"})
      steps = std::min(steps, matrix(m)->rows());
    const MatrixD* stored_cos = matrix("stored_cos");
    const MatrixD* stored_norm = matrix("stored_norm");
    if (stored_cos && stored_norm)
      steps = std::min({steps, stored_cos->rows(), stored_norm->rows()});
    std::vector<TrainStepRecord> out;
    for (Eigen::Index s = 0; s < steps; ++s) {
      TrainStepRecord r;
      r.variant = int(vi);
      r.name = v.name;
      r.step = int(s);
      r.loss = scalar("loss")(s);
      r.task_loss = scalar("task_loss")(s);
      r.lb_loss = scalar("lb_loss")(s);
      r.z_loss = scalar("z_loss")(s);
      r.maxvio_batch = scalar("maxvio_batch")(s);
      r.lr = scalar("lr")(s);
      r.grad_norm = scalar("grad_norm")(s);
      r.load = matrix("load")->row(s).transpose();
      r.cos = matrix("cos")->row(s).transpose();
      r.lambda = matrix("lambda")->row(s).transpose();
      r.router_norm = matrix("router_norm")->row(s).transpose();
      if (stored_cos && stored_norm) {
        r.stored_cos = stored_cos->row(s).transpose();
        r.stored_norm = stored_norm->row(s).transpose();
      }
      out.push_back(std::move(r));
    }
    const Eigen::Index globals = std::min(v.maxvio_global.size(), v.maxvio_global_step.size());
    for (Eigen::Index g = 0; g < globals; ++g) {
      const double step = v.maxvio_global_step(g);
      if (step >= 0 && step < double(out.size()))
        out[size_t(step)].maxvio_global = v.maxvio_global(g);
    }
    per_variant.push_back(std::move(out));
  }
  // Interleave: step-major, variant-minor, as train_router reports them.
  std::vector<TrainStepRecord> all;
  for (size_t s = 0;; ++s) {
    bool any = false;
    for (auto& v : per_variant)
      if (s < v.size()) {
        all.push_back(std::move(v[s]));
        any = true;
      }
    if (!any)
      break;
  }
  return all;
}

std::string mpi_config(const MpiSettings& m, const std::string& extra) {
  nlohmann::json config = {
      {"matrix", std::string(to_string(m.matrix))},
      {"c_prime", m.c_prime},
      {"power_steps", m.power_steps},
      {"ablation", std::string(to_string(m.ablation))},
      {"gate_order", m.order == GateOrder::SoftmaxTopk ? "softmax-topk" : "topk-softmax"}};
  config.update(nlohmann::json::parse(extra));
  return config.dump();
}

std::string training_config(const TrainSettings& s, const std::string& extra) {
  nlohmann::json config = {{"layer", s.layer},
                           {"variants", s.variants},
                           {"steps", s.steps},
                           {"batch", s.batch},
                           {"lr", s.adamw.lr},
                           {"warmup_steps", s.adamw.warmup_steps},
                           {"betas", {s.adamw.beta1, s.adamw.beta2}},
                           {"weight_decay", s.adamw.weight_decay},
                           {"grad_clip", s.adamw.grad_clip},
                           {"min_lr_ratio", s.adamw.min_lr_ratio},
                           {"lb_alpha", s.lb_alpha},
                           {"z_weight", s.z_weight},
                           {"init", s.init == RouterInit::Checkpoint ? "checkpoint" : "random"},
                           {"seed", s.seed},
                           {"global_every", s.global_every}};
  // The MPI variants' settings (the ablation field is per variant and left out).
  auto mpi = nlohmann::json::parse(mpi_config(s.mpi));
  mpi.erase("ablation");
  config.update(mpi);
  config.update(nlohmann::json::parse(extra));
  return config.dump();
}

} // namespace routerscope
