#include "io/pretrain_record.h"

#include "core/error.h"

#include <algorithm>
#include <limits>

namespace routerscope::io {

namespace {

constexpr const char* kStepScalars[] = {"step",      "loss", "lm_loss",     "lb_loss",
                                        "grad_norm", "lr",   "tokens_per_s"};
constexpr const char* kStepRows[] = {"load", "router_norm", "raw_norm", "sigma1"};

std::span<const double> span_of(const VectorD& v) {
  return {v.data(), static_cast<std::size_t>(v.size())};
}

} // namespace

void add_pretrain_step(RunRecordWriter& w, const PretrainStepRow& r) {
  const std::string base = "variants/" + r.variant + "/";
  auto layer_base = [&](std::size_t l) { return base + "layers/" + std::to_string(l) + "/"; };
  const double values[] = {double(r.step), r.loss, r.lm_loss,     r.lb_loss,
                           r.grad_norm,    r.lr,   r.tokens_per_s};
  for (std::size_t i = 0; i < std::size(kStepScalars); ++i)
    w.append_value(base + kStepScalars[i], values[i]);
  for (std::size_t l = 0; l < r.layers.size(); ++l) {
    const PretrainLayerRow& L = r.layers[l];
    const std::string lb = layer_base(l);
    w.append_row(lb + "load", span_of(L.load));
    w.append_row(lb + "router_norm", span_of(L.router_norm));
    w.append_row(lb + "raw_norm", span_of(L.raw_norm));
    w.append_row(lb + "sigma1", span_of(L.sigma1));
    w.append_value(lb + "maxvio_batch", L.maxvio_batch);
  }
  if (r.val_bpb) {
    for (std::size_t l = 0; l < r.layers.size(); ++l)
      w.append_value(layer_base(l) + "maxvio_global",
                     r.layers[l].maxvio_global.value_or(std::numeric_limits<double>::quiet_NaN()));
    w.append_value(base + "val_bpb", *r.val_bpb);
    w.append_value(base + "val_step", r.step); // last: marks the sample complete
  }
  if (!r.layers.empty() && r.layers.front().cos.size()) {
    for (std::size_t l = 0; l < r.layers.size(); ++l) {
      w.append_row(layer_base(l) + "cos", span_of(r.layers[l].cos));
      w.append_row(layer_base(l) + "lambda", span_of(r.layers[l].lambda));
    }
    w.append_value(base + "align_step", r.step);
  }
  w.commit_step(); // this variant's step becomes visible to readers as a whole, then flushed
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
