#include "io/pretrain_record.h"

#include "core/error.h"

#include <algorithm>
#include <limits>
#include <map>
#include <span>
#include <string>

namespace routerscope::io {

namespace {

constexpr const char* kStepScalars[] = {"step",      "loss", "lm_loss",     "lb_loss",
                                        "grad_norm", "lr",   "tokens_per_s"};
constexpr const char* kStepRows[] = {"load", "router_norm", "raw_norm", "sigma1"};

std::span<const double> span_of(const VectorD& v) {
  return {v.data(), static_cast<std::size_t>(v.size())};
}

} // namespace

namespace {
// The one definition of what a pretraining step records: sink(name, values, two_d) for every
// dataset of variants/<variant>/ the row appends to.
template <class Sink> void pretrain_step_series(const PretrainStepRow& r, Sink&& sink) {
  const std::string base = "variants/" + r.variant + "/";
  auto layer_base = [&](std::size_t l) { return base + "layers/" + std::to_string(l) + "/"; };
  auto one = [&](const std::string& name, const double& v) {
    sink(name, std::span<const double>(&v, 1), false);
  };
  const double values[] = {double(r.step), r.loss, r.lm_loss,     r.lb_loss,
                           r.grad_norm,    r.lr,   r.tokens_per_s};
  for (std::size_t i = 0; i < std::size(kStepScalars); ++i)
    one(base + kStepScalars[i], values[i]);
  for (std::size_t l = 0; l < r.layers.size(); ++l) {
    const PretrainLayerRow& L = r.layers[l];
    const std::string lb = layer_base(l);
    sink(lb + "load", span_of(L.load), true);
    sink(lb + "router_norm", span_of(L.router_norm), true);
    sink(lb + "raw_norm", span_of(L.raw_norm), true);
    sink(lb + "sigma1", span_of(L.sigma1), true);
    one(lb + "maxvio_batch", L.maxvio_batch);
  }
  if (r.val_bpb) {
    for (std::size_t l = 0; l < r.layers.size(); ++l)
      one(layer_base(l) + "maxvio_global",
          r.layers[l].maxvio_global.value_or(std::numeric_limits<double>::quiet_NaN()));
    one(base + "val_bpb", *r.val_bpb);
    const double step = r.step;
    one(base + "val_step", step);
  }
  if (!r.layers.empty() && r.layers.front().cos.size()) {
    for (std::size_t l = 0; l < r.layers.size(); ++l) {
      sink(layer_base(l) + "cos", span_of(r.layers[l].cos), true);
      sink(layer_base(l) + "lambda", span_of(r.layers[l].lambda), true);
    }
    const double step = r.step;
    one(base + "align_step", step);
  }
}
} // namespace

void add_pretrain_step(RunRecordWriter& w, const PretrainStepRow& r) {
  pretrain_step_series(r, [&](const std::string& name, std::span<const double> v, bool two_d) {
    if (two_d)
      w.append_row(name, v);
    else
      w.append_value(name, v[0]);
  });
  w.commit_step(); // this variant's step becomes visible to readers as a whole
}

void declare_pretrain_variant(RunRecordWriter& w, const std::string& variant, std::size_t layers,
                              std::size_t experts) {
  // A step with an evaluation and an alignment sample: every dataset a step can append to.
  PretrainStepRow r;
  r.variant = variant;
  r.val_bpb = 0.0;
  PretrainLayerRow layer;
  layer.load = layer.router_norm = layer.raw_norm = layer.sigma1 = layer.cos = layer.lambda =
      VectorD::Zero(Eigen::Index(experts));
  r.layers.assign(layers, layer);
  pretrain_step_series(r, [&](const std::string& name, std::span<const double> v, bool two_d) {
    w.declare(name, two_d ? v.size() : 0);
  });
}

RunRecord pretrain_record(const std::vector<PretrainStepRow>& rows, const std::string& config,
                          const RecordIdentity& identity) {
  std::map<std::string, std::vector<std::vector<double>>> datasets; // name -> appended rows
  for (const PretrainStepRow& r : rows)
    pretrain_step_series(r, [&](const std::string& name, std::span<const double> v, bool) {
      datasets[name].emplace_back(v.begin(), v.end());
    });
  std::map<std::string, TrainingVariantRecord> variants; // sorted by name, as the reader lists
  for (const auto& [name, values] : datasets) {
    // variants/<variant>/<key> or variants/<variant>/layers/<L>/<key>
    const std::size_t a = name.find('/') + 1, b = name.find('/', a);
    const std::string variant = name.substr(a, b - a), rest = name.substr(b + 1);
    MatrixD m(Eigen::Index(values.size()), Eigen::Index(values.front().size()));
    for (std::size_t i = 0; i < values.size(); ++i)
      m.row(Eigen::Index(i)) = Eigen::Map<const VectorD>(values[i].data(), m.cols());
    TrainingVariantRecord& v = variants[variant];
    v.name = variant;
    if (rest.starts_with("layers/")) {
      const std::size_t c = rest.find('/', 7);
      v.layers[std::stoi(rest.substr(7, c - 7))][rest.substr(c + 1)] = std::move(m);
    } else {
      v.scalars[rest] = m.col(0);
    }
  }
  RunRecord rec;
  rec.kind = "pretraining";
  rec.config = config;
  rec.identity = identity;
  for (auto& [name, v] : variants)
    rec.variants.push_back(std::move(v));
  return rec;
}

std::vector<PretrainSeries> pretrain_series(const RunRecord& record, const std::string& origin) {
  const std::vector<const TrainingVariantRecord*> order =
      variants_in_config_order(record, "pretraining", origin);
  std::vector<PretrainSeries> out;
  for (const TrainingVariantRecord* v : order) {
    const std::string base = "variants/" + v->name + "/";
    PretrainSeries s;
    s.name = v->name;
    Eigen::Index steps = std::numeric_limits<Eigen::Index>::max();
    for (const char* key : kStepScalars) {
      auto it = v->scalars.find(key);
      if (it == v->scalars.end())
        throw_input_error(origin + ": dataset " + base + key + " is missing");
      s.scalars[key] = it->second;
      steps = std::min(steps, it->second.size());
    }
    if (v->layers.empty())
      throw_input_error(origin + ": group " + base + "layers holds no layer");
    int expect = 0;
    for (const auto& [index, datasets] : v->layers) {
      if (index != expect++)
        throw_input_error(origin + ": group " + base + "layers/" + std::to_string(expect - 1) +
                          " is missing (layers are numbered 0..L-1)");
      for (const char* key : {"load", "router_norm", "raw_norm", "sigma1", "maxvio_batch"}) {
        auto it = datasets.find(key);
        if (it == datasets.end())
          throw_input_error(origin + ": dataset " + base + "layers/" + std::to_string(index) + "/" +
                            key + " is missing");
        steps = std::min(steps, it->second.rows());
      }
      s.layers.push_back(datasets);
    }
    // Trim every per-step series to the complete steps (a killed writer may leave one row more
    // in some datasets than in others).
    for (auto& [key, values] : s.scalars)
      values.conservativeResize(steps);
    for (auto& layer : s.layers) {
      for (const char* key : kStepRows)
        layer[key].conservativeResize(steps, layer[key].cols());
      layer["maxvio_batch"].conservativeResize(steps, 1);
    }
    // Samples: complete when their step marker was written and falls in the complete steps.
    const double last_step = steps ? s.scalars["step"](steps - 1) : -1.0;
    auto samples = [&](const char* marker, std::initializer_list<const char*> per_layer,
                       VectorD& step_out, VectorD* value_out, const char* value_key) {
      auto it = v->scalars.find(marker);
      Eigen::Index n = it == v->scalars.end() ? 0 : it->second.size();
      if (value_out) {
        auto vt = v->scalars.find(value_key);
        n = std::min<Eigen::Index>(n, vt == v->scalars.end() ? 0 : vt->second.size());
      }
      for (auto& layer : s.layers)
        for (const char* key : per_layer)
          n = std::min<Eigen::Index>(n, layer.count(key) ? layer.at(key).rows() : 0);
      while (n > 0 && it->second(n - 1) > last_step)
        --n;
      step_out = n ? VectorD(it->second.head(n)) : VectorD();
      if (value_out)
        *value_out = n ? VectorD(v->scalars.at(value_key).head(n)) : VectorD();
      for (auto& layer : s.layers)
        for (const char* key : per_layer) {
          if (!layer.count(key))
            layer[key] = MatrixD(0, 1);
          layer[key].conservativeResize(n, layer[key].cols());
        }
    };
    samples("val_step", {"maxvio_global"}, s.val_step, &s.val_bpb, "val_bpb");
    samples("align_step", {"cos", "lambda"}, s.align_step, nullptr, nullptr);
    out.push_back(std::move(s));
  }
  return out;
}

} // namespace routerscope::io
