#include "io/run_record.h"

#include "core/error.h"

#include <hdf5.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <limits>

namespace routerscope::io {

namespace {

constexpr hsize_t kChunkRows = 64;
constexpr int kFormatVersion = 1;

std::string where(const std::filesystem::path& path, const std::string& name) {
  return path.string() + (name.empty() ? "" : ": " + name);
}

// Closes an HDF5 handle at scope exit.
struct Handle {
  hid_t id;
  herr_t (*close)(hid_t);
  ~Handle() {
    if (id >= 0)
      close(id);
  }
};

void write_string_attribute(hid_t obj, const std::string& name, const std::string& value) {
  Handle type{H5Tcopy(H5T_C_S1), H5Tclose};
  H5Tset_size(type.id, std::max<size_t>(1, value.size()));
  H5Tset_cset(type.id, H5T_CSET_UTF8);
  Handle space{H5Screate(H5S_SCALAR), H5Sclose};
  Handle attr{H5Acreate2(obj, name.c_str(), type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  if (attr.id < 0 || H5Awrite(attr.id, type.id, value.data()) < 0)
    throw_internal_error("HDF5: cannot write attribute " + name);
}

std::string read_string_attribute(hid_t obj, const std::string& name,
                                  const std::filesystem::path& path) {
  if (H5Aexists(obj, name.c_str()) <= 0)
    return {};
  Handle attr{H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose};
  Handle type{H5Aget_type(attr.id), H5Tclose};
  if (H5Tget_class(type.id) != H5T_STRING)
    throw_input_error(where(path, "attribute " + name) + ": expected a string");
  if (H5Tis_variable_str(type.id) > 0) {
    char* buf = nullptr;
    Handle mem{H5Tcopy(H5T_C_S1), H5Tclose};
    H5Tset_size(mem.id, H5T_VARIABLE);
    if (H5Aread(attr.id, mem.id, &buf) < 0 || !buf)
      throw_input_error(where(path, "attribute " + name) + ": unreadable");
    std::string out(buf);
    H5free_memory(buf);
    return out;
  }
  std::string out(H5Tget_size(type.id), '\0');
  if (H5Aread(attr.id, type.id, out.data()) < 0)
    throw_input_error(where(path, "attribute " + name) + ": unreadable");
  out.resize(std::strlen(out.c_str()));
  return out;
}

// Names of the links in a group, sorted by name.
std::vector<std::string> children(hid_t group) {
  H5G_info_t info;
  if (H5Gget_info(group, &info) < 0)
    return {};
  std::vector<std::string> out;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t len =
        H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (len < 0)
      continue;
    std::string name(size_t(len), '\0');
    H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), size_t(len) + 1,
                       H5P_DEFAULT);
    out.push_back(name);
  }
  return out;
}

bool is_group(hid_t parent, const std::string& name) {
  H5O_info_t info;
  // Ask for the link first: a missing name is an ordinary answer, not an HDF5 error stack.
  if (H5Lexists(parent, name.c_str(), H5P_DEFAULT) <= 0 ||
      H5Oget_info_by_name(parent, name.c_str(), &info, H5P_DEFAULT) < 0)
    return false;
  return info.type == H5O_TYPE_GROUP;
}

// Reads dataset `name` under `parent` as float64 [rows, cols] (1-D: cols = 1).
MatrixD read_matrix(hid_t parent, const std::string& name, const std::filesystem::path& path) {
  Handle ds{H5Dopen2(parent, name.c_str(), H5P_DEFAULT), H5Dclose};
  if (ds.id < 0)
    throw_input_error(where(path, name) + ": no such dataset");
  Handle type{H5Dget_type(ds.id), H5Tclose};
  H5T_class_t cls = H5Tget_class(type.id);
  if (cls != H5T_FLOAT && cls != H5T_INTEGER)
    throw_input_error(where(path, name) + ": expected a numeric dataset");
  Handle space{H5Dget_space(ds.id), H5Sclose};
  int rank = H5Sget_simple_extent_ndims(space.id);
  if (rank < 1 || rank > 2)
    throw_input_error(where(path, name) + ": expected a 1-D or 2-D dataset, found rank " +
                      std::to_string(rank));
  hsize_t dims[2] = {0, 1};
  H5Sget_simple_extent_dims(space.id, dims, nullptr);
  MatrixD out(static_cast<Eigen::Index>(dims[0]),
              static_cast<Eigen::Index>(rank == 2 ? dims[1] : 1));
  if (out.size() > 0 &&
      H5Dread(ds.id, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    throw_input_error(where(path, name) + ": cannot read (corrupt or unsupported type)");
  return out;
}

VectorD column(const MatrixD& m) {
  return m.size() ? VectorD(m.col(0)) : VectorD();
}

hid_t open_file(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path))
    throw_input_error(path.string() + ": no such file");
  H5E_auto2_t func;
  void* data;
  H5Eget_auto2(H5E_DEFAULT, &func, &data);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  H5Eset_auto2(H5E_DEFAULT, func, data);
  if (f < 0)
    throw_input_error(path.string() + ": not a readable HDF5 file");
  return f;
}

} // namespace

RunRecordWriter::RunRecordWriter(const std::filesystem::path& path, const std::string& kind,
                                 const std::string& config, const RecordIdentity& identity,
                                 double flush_interval_s)
    : path_(path), interval_(flush_interval_s) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  file_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file_ < 0)
    throw_input_error(path.string() + ": cannot create the run record (directory missing or not "
                                      "writable?)");
  nlohmann::json files = nlohmann::json::array();
  for (const auto& [name, bytes] : identity.files)
    files.push_back({{"name", name}, {"bytes", bytes}});
  write_string_attribute(file_, "routerscope_record", std::to_string(kFormatVersion));
  write_string_attribute(file_, "kind", kind);
  write_string_attribute(file_, "config", config);
  write_string_attribute(file_, "checkpoint_path", identity.path);
  write_string_attribute(file_, "checkpoint_family", identity.family);
  write_string_attribute(file_, "checkpoint_files", files.dump());
  flush();
}

RunRecordWriter::~RunRecordWriter() {
  try {
    close();
  } catch (...) {
  }
}

void RunRecordWriter::close() {
  if (file_ < 0)
    return;
  H5Fflush(file_, H5F_SCOPE_GLOBAL);
  for (auto& [name, d] : datasets_)
    H5Dclose(d.id);
  datasets_.clear();
  H5Fclose(file_);
  file_ = -1;
}

RunRecordWriter::Dataset& RunRecordWriter::dataset(const std::string& name, std::uint64_t width) {
  if (file_ < 0)
    throw_internal_error(path_.string() + ": run record already closed");
  auto it = datasets_.find(name);
  if (it != datasets_.end()) {
    if (it->second.width != width)
      throw_internal_error(where(path_, name) + ": row width " + std::to_string(width) +
                           " differs from the dataset's " + std::to_string(it->second.width));
    return it->second;
  }
  const int rank = width ? 2 : 1;
  hsize_t dims[2] = {0, width}, maxdims[2] = {H5S_UNLIMITED, width};
  hsize_t chunk[2] = {width ? kChunkRows : 1024, std::max<hsize_t>(1, width)};
  Handle space{H5Screate_simple(rank, dims, maxdims), H5Sclose};
  Handle dcpl{H5Pcreate(H5P_DATASET_CREATE), H5Pclose};
  H5Pset_chunk(dcpl.id, rank, chunk);
  double fill = std::numeric_limits<double>::quiet_NaN();
  H5Pset_fill_value(dcpl.id, H5T_NATIVE_DOUBLE, &fill);
  Handle lcpl{H5Pcreate(H5P_LINK_CREATE), H5Pclose};
  H5Pset_create_intermediate_group(lcpl.id, 1);
  hid_t id =
      H5Dcreate2(file_, name.c_str(), H5T_IEEE_F64LE, space.id, lcpl.id, dcpl.id, H5P_DEFAULT);
  if (id < 0)
    throw_internal_error(where(path_, name) + ": cannot create dataset");
  Dataset d;
  d.id = id;
  d.width = width;
  return datasets_.emplace(name, d).first->second;
}

void RunRecordWriter::append(const std::string& name, const double* data, std::uint64_t width,
                             bool two_d) {
  Dataset& d = dataset(name, two_d ? width : 0);
  hsize_t dims[2] = {d.rows + 1, width};
  if (H5Dset_extent(d.id, dims) < 0)
    throw_internal_error(where(path_, name) + ": cannot extend dataset");
  Handle fspace{H5Dget_space(d.id), H5Sclose};
  hsize_t start[2] = {d.rows, 0}, count[2] = {1, width};
  H5Sselect_hyperslab(fspace.id, H5S_SELECT_SET, start, nullptr, count, nullptr);
  hsize_t mdims[1] = {two_d ? width : 1};
  Handle mspace{H5Screate_simple(1, mdims, nullptr), H5Sclose};
  if (H5Dwrite(d.id, H5T_NATIVE_DOUBLE, mspace.id, fspace.id, H5P_DEFAULT, data) < 0)
    throw_internal_error(where(path_, name) + ": cannot write row " + std::to_string(d.rows));
  ++d.rows;
  flush_if_due();
}

void RunRecordWriter::append_row(const std::string& name, std::span<const double> row) {
  if (row.empty())
    throw_internal_error(where(path_, name) + ": empty row");
  append(name, row.data(), row.size(), true);
}

void RunRecordWriter::append_value(const std::string& name, double value) {
  append(name, &value, 1, false);
}

void RunRecordWriter::write_vector(const std::string& name, std::span<const double> values) {
  for (double v : values)
    append(name, &v, 1, false);
}

void RunRecordWriter::flush_if_due() {
  if (std::chrono::duration<double>(std::chrono::steady_clock::now() - last_flush_).count() >=
      interval_)
    flush();
}

void RunRecordWriter::flush() {
  if (file_ < 0)
    return;
  if (H5Fflush(file_, H5F_SCOPE_GLOBAL) < 0)
    throw_internal_error(path_.string() + ": HDF5 flush failed (disk full?)");
  last_flush_ = std::chrono::steady_clock::now();
}

namespace {
std::span<const double> span_of(const VectorD& v) {
  return {v.data(), static_cast<size_t>(v.size())};
}
} // namespace

void RunRecordWriter::add_convergence_row(const LayerConvergence& layer,
                                          const ConvergenceRow& row) {
  const std::string base = "layers/" + std::to_string(layer.layer) + "/";
  if (row.step == 0) {
    VectorD s1(Eigen::Index(layer.directions.size())), s2(s1.size());
    for (size_t i = 0; i < layer.directions.size(); ++i) {
      s1(Eigen::Index(i)) = layer.directions[i].sigma1;
      s2(Eigen::Index(i)) = layer.directions[i].sigma2;
    }
    write_vector(base + "sigma1", span_of(s1));
    write_vector(base + "sigma2", span_of(s2));
  }
  append_row(base + "cos", span_of(row.cos));
  append_row(base + "lambda", span_of(row.lambda));
  append_row(base + "router_norm", span_of(row.router_norm));
  append_row(base + "pre_norm", span_of(row.pre_norm));
  append_row(base + "tan_theta", span_of(row.tan_theta));
  append_row(base + "tan_bound", span_of(row.tan_bound));
}

void RunRecordWriter::add_training_step(int layer, const TrainStepRecord& r) {
  const std::string base = "variants/" + r.name + "/";
  append_value(base + "loss", r.loss);
  append_value(base + "task_loss", r.task_loss);
  append_value(base + "lb_loss", r.lb_loss);
  append_value(base + "z_loss", r.z_loss);
  append_value(base + "maxvio_batch", r.maxvio_batch);
  append_value(base + "lr", r.lr);
  append_value(base + "grad_norm", r.grad_norm);
  const std::string lb = base + "layers/" + std::to_string(layer) + "/";
  append_row(lb + "load", span_of(r.load));
  append_row(lb + "cos", span_of(r.cos));
  append_row(lb + "lambda", span_of(r.lambda));
  append_row(lb + "router_norm", span_of(r.router_norm));
  if (r.stored_cos.size()) {
    append_row(lb + "stored_cos", span_of(r.stored_cos));
    append_row(lb + "stored_norm", span_of(r.stored_norm));
  }
  if (r.maxvio_global) {
    append_value(base + "maxvio_global", *r.maxvio_global);
    append_value(base + "maxvio_global_step", r.step);
  }
}

MatrixD read_hdf5_matrix(const std::filesystem::path& path, const std::string& dataset) {
  Handle f{open_file(path), H5Fclose};
  return read_matrix(f.id, dataset, path);
}

MatrixF read_hidden_states(const std::filesystem::path& path, const std::string& dataset) {
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
  Handle f{open_file(path), H5Fclose};
  RunRecord rec;
  if (read_string_attribute(f.id, "routerscope_record", path).empty())
    throw_input_error(path.string() + ": not a RouterScope run record (attribute "
                                      "'routerscope_record' missing)");
  rec.kind = read_string_attribute(f.id, "kind", path);
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
  auto read_group = [&](hid_t g, const std::string& prefix) {
    std::map<std::string, MatrixD> out;
    for (const auto& name : children(g))
      if (!is_group(g, name))
        out[name] = read_matrix(g, name, path.string() + ": " + prefix + name);
    return out;
  };
  if (is_group(f.id, "layers")) {
    Handle layers{H5Gopen2(f.id, "layers", H5P_DEFAULT), H5Gclose};
    for (const auto& l : children(layers.id)) {
      Handle g{H5Gopen2(layers.id, l.c_str(), H5P_DEFAULT), H5Gclose};
      ConvergenceRecord c;
      c.layer = std::stoi(l);
      c.series = read_group(g.id, "layers/" + l + "/");
      c.sigma1 = column(c.series["sigma1"]);
      c.sigma2 = column(c.series["sigma2"]);
      c.series.erase("sigma1");
      c.series.erase("sigma2");
      rec.layers.push_back(std::move(c));
    }
    std::sort(rec.layers.begin(), rec.layers.end(),
              [](const auto& a, const auto& b) { return a.layer < b.layer; });
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
          v.layers[std::stoi(l)] = read_group(lg.id, prefix + "layers/" + l + "/");
        }
      }
      rec.variants.push_back(std::move(v));
    }
  }
  return rec;
}

} // namespace routerscope::io
