#include "io/run_record.h"

#include "core/error.h"
#include "core/version.h"
#include "io/hdf5_handle.h"
#include "io/run_record_hdf5.h"

#include <hdf5.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <optional>
#include <unistd.h>

namespace routerscope::io {

using namespace record_hdf5;

MatrixD read_hdf5_matrix(const std::filesystem::path& path, const std::string& dataset) {
  QuietErrors quiet;
  Handle f{open_file(path), H5Fclose};
  return read_matrix(f.id, dataset, path);
}

MatrixF read_hidden_states(const std::filesystem::path& path, const std::string& dataset) {
  QuietErrors quiet;
  Handle f{open_file(path), H5Fclose};
  if (H5Lexists(f.id, dataset.c_str(), H5P_DEFAULT) <= 0)
    throw_input_error(where(path, dataset) +
                      ": no such dataset (expected hidden states [T, D] named '" + dataset + "')");
  {
    Handle ds{H5Dopen2(f.id, dataset.c_str(), H5P_DEFAULT), H5Dclose};
    Handle type{H5Dget_type(ds.id), H5Tclose};
    Handle space{H5Dget_space(ds.id), H5Sclose};
    size_t size = H5Tget_size(type.id);
    if (H5Tget_class(type.id) != H5T_FLOAT || (size != 2 && size != 4 && size != 8))
      throw_input_error(where(path, dataset) + ": expected F16, F32 or F64 values");
    if (H5Sget_simple_extent_ndims(space.id) != 2)
      throw_input_error(where(path, dataset) + ": expected a 2-D dataset [T, D], found rank " +
                        std::to_string(H5Sget_simple_extent_ndims(space.id)));
  }
  MatrixD m = read_matrix(f.id, dataset, path);
  if (!m.allFinite())
    throw_input_error(where(path, dataset) + ": holds NaN or Inf");
  return m.cast<float>();
}

RunRecord read_run_record(const std::filesystem::path& path) {
  QuietErrors quiet;
  Handle f{open_file(path), H5Fclose};
  RunRecord rec;
  if (read_string_attribute(f.id, "routerscope_record", path).empty())
    throw_input_error(path.string() + ": not a RouterScope run record (attribute "
                                      "'routerscope_record' missing)");
  rec.kind = read_string_attribute(f.id, "kind", path);
  if (rec.kind != "convergence" && rec.kind != "training" && rec.kind != "pretraining" &&
      rec.kind != "series")
    throw_input_error(path.string() + ": attribute 'kind' is " +
                      (rec.kind.empty() ? std::string("missing") : "'" + rec.kind + "'") +
                      ", expected \"convergence\", \"training\", \"pretraining\" or "
                      "\"series\"");
  rec.config = read_string_attribute(f.id, "config", path);
  rec.identity.path = read_string_attribute(f.id, "checkpoint_path", path);
  rec.identity.family = read_string_attribute(f.id, "checkpoint_family", path);
  std::string files = read_string_attribute(f.id, "checkpoint_files", path);
  if (!files.empty()) {
    try {
      for (const auto& e : nlohmann::json::parse(files))
        rec.identity.files.emplace_back(e.at("name").get<std::string>(),
                                        e.at("bytes").get<std::uint64_t>());
    } catch (const nlohmann::json::exception& e) {
      throw_input_error(path.string() + ": attribute checkpoint_files: " + e.what());
    }
  }
  // Read before any series: every row it counts was on disk before it was written.
  const auto committed = read_committed(f.id, path);
  // The series of a group with their committed rows; a series without one is left out (a
  // variant or layer its run has not reached yet, a sample not taken yet).
  auto read_group = [&](hid_t g, const std::string& prefix) {
    std::map<std::string, MatrixD> out;
    for (const auto& name : children(g)) {
      if (is_group(g, name))
        continue;
      std::optional<hsize_t> rows;
      if (committed) {
        auto it = committed->find(prefix + name);
        if (it == committed->end())
          throw_input_error(where(path, prefix + name) + ": not listed in " + kCommittedRows);
        rows = it->second;
      }
      MatrixD m = read_matrix(g, name, path.string() + ": " + prefix + name, rows);
      if (m.rows() > 0 || !committed)
        out[name] = std::move(m);
    }
    return out;
  };
  if (is_group(f.id, "layers")) {
    Handle layers{H5Gopen2(f.id, "layers", H5P_DEFAULT), H5Gclose};
    for (const auto& l : children(layers.id)) {
      Handle g{H5Gopen2(layers.id, l.c_str(), H5P_DEFAULT), H5Gclose};
      ConvergenceRecord c;
      c.layer = layer_index(l, path, "layers/" + l);
      c.series = read_group(g.id, "layers/" + l + "/");
      if (c.series.empty())
        continue;
      if (rec.kind == "series") { // every series is [checkpoints, experts] or [checkpoints]
        rec.layers.push_back(std::move(c));
        continue;
      }
      c.sigma1 = column(c.series["sigma1"]);
      c.sigma2 = column(c.series["sigma2"]);
      c.series.erase("sigma1");
      c.series.erase("sigma2");
      // σ₁ and σ₂ (absent when the run recorded no spectra) hold one value per expert, as every
      // series has one column per expert.
      Eigen::Index experts = c.sigma1.size();
      for (const auto& [name, m] : c.series)
        if (m.size() > 0)
          experts = m.cols();
      for (const auto& [name, v] : {std::pair{"sigma1", &c.sigma1}, std::pair{"sigma2", &c.sigma2}})
        if (v->size() != experts && c.sigma1.size() + c.sigma2.size() > 0)
          throw_input_error(path.string() + ": layers/" + l + "/" + name + " holds " +
                            std::to_string(v->size()) + " values, expected one per expert (" +
                            std::to_string(experts) + ")");
      rec.layers.push_back(std::move(c));
    }
    std::sort(rec.layers.begin(), rec.layers.end(),
              [](const auto& a, const auto& b) { return a.layer < b.layer; });
  }
  if (rec.kind == "series" && H5Lexists(f.id, "steps", H5P_DEFAULT) > 0 &&
      !is_group(f.id, "steps")) {
    std::optional<hsize_t> rows;
    if (committed) {
      auto it = committed->find("steps");
      if (it == committed->end())
        throw_input_error(where(path, "steps") + ": not listed in " + kCommittedRows);
      rows = it->second;
    }
    rec.steps = column(read_matrix(f.id, "steps", path.string() + ": steps", rows));
  }
  if (is_group(f.id, "variants")) {
    Handle variants{H5Gopen2(f.id, "variants", H5P_DEFAULT), H5Gclose};
    for (const auto& name : children(variants.id)) {
      Handle g{H5Gopen2(variants.id, name.c_str(), H5P_DEFAULT), H5Gclose};
      TrainingVariantRecord v;
      v.name = name;
      const std::string prefix = "variants/" + name + "/";
      for (auto& [key, m] : read_group(g.id, prefix))
        v.scalars[key] = column(m);
      v.maxvio_global = v.scalars["maxvio_global"];
      v.maxvio_global_step = v.scalars["maxvio_global_step"];
      v.scalars.erase("maxvio_global");
      v.scalars.erase("maxvio_global_step");
      if (is_group(g.id, "layers")) {
        Handle layers{H5Gopen2(g.id, "layers", H5P_DEFAULT), H5Gclose};
        for (const auto& l : children(layers.id)) {
          Handle lg{H5Gopen2(layers.id, l.c_str(), H5P_DEFAULT), H5Gclose};
          auto series = read_group(lg.id, prefix + "layers/" + l + "/");
          if (!series.empty())
            v.layers[layer_index(l, path, prefix + "layers/" + l)] = std::move(series);
        }
      }
      if (!v.scalars.empty() || !v.layers.empty())
        rec.variants.push_back(std::move(v));
    }
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

} // namespace routerscope::io
