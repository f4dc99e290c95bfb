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

RunRecordWriter::RunRecordWriter(const std::filesystem::path& path, const std::string& kind,
                                 const std::string& config, const RecordIdentity& identity,
                                 double flush_interval_s)
    : path_(path), interval_(flush_interval_s) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  // Probe with POSIX first: its errno names the cause (no such folder, permission) that HDF5's
  // own failure would hide.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0)
    throw_input_error(path.string() + ": cannot create the run record: " + std::strerror(errno));
  ::close(fd);
  Handle fapl = unlocked_access();
  H5Pset_libver_bounds(fapl.id, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST); // SWMR needs it
  file_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id);
  try {
    if (file_ < 0)
      fail_write("cannot create the run record");
    nlohmann::json files = nlohmann::json::array();
    for (const auto& [name, bytes] : identity.files)
      files.push_back({{"name", name}, {"bytes", bytes}});
    const std::pair<const char*, std::string> attributes[] = {
        {"routerscope_record", std::to_string(kFormatVersion)},
        {"kind", kind},
        {"config", config},
        {"checkpoint_path", identity.path},
        {"checkpoint_family", identity.family},
        {"checkpoint_files", files.dump()},
        {"routerscope_version", routerscope_version()}};
    for (const auto& [name, value] : attributes)
      if (!write_string_attribute(file_, name, value))
        fail_write(std::string("cannot write attribute ") + name);
    flush();
  } catch (const Error&) {
    // No half-written header left behind: a file that cannot hold the header is removed (a
    // device such as /dev/full is left alone).
    if (file_ >= 0)
      H5Fclose(file_);
    file_ = -1;
    std::error_code ec;
    if (std::filesystem::is_regular_file(path, ec))
      std::filesystem::remove(path, ec);
    throw;
  }
}

void RunRecordWriter::fail_write(const std::string& what) const {
  throw_input_error(path_.string() + ": " + what + ": " + hdf5_cause());
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
  // Rows appended since the last step commit belong to a complete run when the caller closes.
  bool ok = true;
  try {
    commit_step();
  } catch (const Error&) {
    ok = false;
  }
  if (ok) {
    try {
      flush();
    } catch (const Error&) {
      ok = false;
    }
  }
  const std::string cause = ok ? std::string() : hdf5_cause();
  for (auto& [name, d] : datasets_)
    H5Dclose(d.id);
  datasets_.clear();
  if (counts_ >= 0)
    H5Dclose(counts_);
  counts_ = -1;
  ok = H5Fclose(file_) >= 0 && ok;
  file_ = -1;
  if (!ok)
    throw_input_error(path_.string() +
                      ": cannot finish the run record: " + (cause.empty() ? hdf5_cause() : cause));
}

void RunRecordWriter::commit_step() {
  if (file_ < 0)
    throw_internal_error(path_.string() + ": run record already closed");
  start_live();
  // The counts reach the file at the next flush, after the rows they count.
  for (auto& [name, d] : datasets_)
    d.committed = d.rows;
  flush_if_due();
}

void RunRecordWriter::declare(const std::string& name, std::uint64_t width) {
  dataset(name, width);
}

void RunRecordWriter::start_live() {
  if (file_ < 0)
    throw_internal_error(path_.string() + ": run record already closed");
  if (counts_ >= 0)
    return;
  std::vector<std::string> names(datasets_.size());
  for (const auto& [name, d] : datasets_)
    names[d.index] = name;
  hsize_t dims[1] = {names.size() + 2};
  Handle space{H5Screate_simple(1, dims, nullptr), H5Sclose};
  counts_ = H5Dcreate2(file_, kCommittedRows, H5T_STD_I64LE, space.id, H5P_DEFAULT, H5P_DEFAULT,
                       H5P_DEFAULT);
  if (counts_ < 0 || !write_string_attribute(counts_, kSeries, nlohmann::json(names).dump()))
    fail_write(std::string("cannot create dataset ") + kCommittedRows);
  write_counts();
  // Every object exists now; from here on HDF5 orders its writes so that a reader opening the
  // file at any moment finds it consistent.
  if (H5Fstart_swmr_write(file_) < 0)
    fail_write("cannot start SWMR writing");
  last_flush_ = std::chrono::steady_clock::now();
}

void RunRecordWriter::write_counts() {
  std::vector<long long> v(datasets_.size() + 2, 0);
  v.front() = static_cast<long long>(++generation_);
  for (const auto& [name, d] : datasets_)
    v[d.index + 1] = static_cast<long long>(d.committed);
  v.back() = counts_check(v);
  if (H5Dwrite(counts_, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
    fail_write(std::string("cannot write ") + kCommittedRows);
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
  if (counts_ >= 0)
    throw_internal_error(where(path_, name) +
                         ": dataset not declared before the first step (a live record creates "
                         "every dataset before readers open it)");
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
    fail_write("cannot create dataset " + name);
  Dataset d;
  d.id = id;
  d.width = width;
  d.index = datasets_.size();
  return datasets_.emplace(name, d).first->second;
}

void RunRecordWriter::append(const std::string& name, const double* data, std::uint64_t width,
                             bool two_d) {
  Dataset& d = dataset(name, two_d ? width : 0);
  hsize_t dims[2] = {d.rows + 1, width};
  if (H5Dset_extent(d.id, dims) < 0)
    fail_write("cannot extend dataset " + name);
  Handle fspace{H5Dget_space(d.id), H5Sclose};
  hsize_t start[2] = {d.rows, 0}, count[2] = {1, width};
  H5Sselect_hyperslab(fspace.id, H5S_SELECT_SET, start, nullptr, count, nullptr);
  hsize_t mdims[1] = {two_d ? width : 1};
  Handle mspace{H5Screate_simple(1, mdims, nullptr), H5Sclose};
  if (H5Dwrite(d.id, H5T_NATIVE_DOUBLE, mspace.id, fspace.id, H5P_DEFAULT, data) < 0)
    fail_write("cannot write row " + std::to_string(d.rows) + " of " + name);
  ++d.rows;
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
  // Rows first, then the counts: a reader that sees a count finds every row it counts.
  if (H5Fflush(file_, H5F_SCOPE_GLOBAL) < 0)
    fail_write("cannot flush the run record");
  if (counts_ >= 0) {
    write_counts();
    if (H5Dflush(counts_) < 0)
      fail_write(std::string("cannot flush ") + kCommittedRows);
  }
  last_flush_ = std::chrono::steady_clock::now();
}

namespace {
std::span<const double> span_of(const VectorD& v) {
  return {v.data(), static_cast<size_t>(v.size())};
}
std::string convergence_base(int layer) {
  return "layers/" + std::to_string(layer) + "/";
}
} // namespace

void RunRecordWriter::add_convergence_row(const LayerConvergence& layer,
                                          const ConvergenceRow& row) {
  const std::string base = convergence_base(layer.layer);
  if (row.step == 0) {
    VectorD s1(Eigen::Index(layer.directions.size())), s2(s1.size());
    for (size_t i = 0; i < layer.directions.size(); ++i) {
      s1(Eigen::Index(i)) = layer.directions[i].sigma1;
      s2(Eigen::Index(i)) = layer.directions[i].sigma2;
    }
    write_vector(base + "sigma1", span_of(s1));
    write_vector(base + "sigma2", span_of(s2));
  }
  for (size_t i = 0; i < std::size(kConvergenceSeries); ++i)
    append_row(base + kConvergenceSeries[i], span_of(convergence_series(row, i)));
  commit_step();
}

void declare_convergence_layer(RunRecordWriter& writer, int layer, std::size_t experts) {
  const std::string base = convergence_base(layer);
  writer.declare(base + "sigma1", 0);
  writer.declare(base + "sigma2", 0);
  for (const char* key : kConvergenceSeries)
    writer.declare(base + key, experts);
}

void RunRecordWriter::add_training_step(int layer, const TrainStepRecord& r) {
  const std::string base = "variants/" + r.name + "/";
  const std::string lb = base + "layers/" + std::to_string(layer) + "/";
  for_each_training_series(r, [&](const char* key, std::span<const double> v, bool per_layer) {
    if (per_layer)
      append_row(lb + key, v);
    else
      append_value(base + key, v[0]);
  });
  commit_step();
}

void declare_training_variant(RunRecordWriter& writer, int layer, const std::string& name,
                              std::size_t experts, bool reparametrised, bool global) {
  // A step of this variant with every optional series present: the datasets it would append to.
  TrainStepRecord r;
  r.name = name;
  const auto n = Eigen::Index(experts);
  r.load = r.cos = r.lambda = r.router_norm = VectorD::Zero(n);
  if (reparametrised)
    r.stored_cos = r.stored_norm = VectorD::Zero(n);
  if (global)
    r.maxvio_global = 0.0;
  const std::string base = "variants/" + name + "/";
  const std::string lb = base + "layers/" + std::to_string(layer) + "/";
  for_each_training_series(r, [&](const char* key, std::span<const double> v, bool per_layer) {
    writer.declare((per_layer ? lb : base) + key, per_layer ? v.size() : 0);
  });
}

RecordIdentity checkpoint_identity(const std::string& path, const ModelInfo& info) {
  namespace fs = std::filesystem;
  RecordIdentity id;
  id.path = path;
  id.family = info.family;
  std::error_code ec;
  fs::path p(path);
  if (fs::is_directory(p, ec)) {
    for (const auto& e : fs::directory_iterator(p, ec)) {
      const std::string name = e.path().filename().string();
      if (e.is_regular_file() && (e.path().extension() == ".safetensors" || name == "config.json" ||
                                  name.ends_with(".safetensors.index.json")))
        id.files.emplace_back(name, e.file_size());
    }
    std::sort(id.files.begin(), id.files.end());
  } else if (fs::is_regular_file(p, ec)) {
    id.files.emplace_back(p.filename().string(), fs::file_size(p, ec));
  }
  return id;
}

} // namespace routerscope::io
