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

} // namespace routerscope::io
