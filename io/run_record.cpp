#include "io/run_record.h"

#include "core/error.h"
#include "core/version.h"
#include "io/hdf5_handle.h"

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

namespace {

constexpr hsize_t kChunkRows = 64;
// 1: a `committed_rows` attribute per dataset; 2: SWMR, one `committed_rows` dataset.
constexpr int kFormatVersion = 2;
constexpr const char* kCommittedRows = "committed_rows";
constexpr const char* kSeries = "series";

std::string where(const std::filesystem::path& path, const std::string& name) {
  return path.string() + (name.empty() ? "" : ": " + name);
}

using Handle = Hdf5Handle;

// The operating system's reason inside HDF5's error stack ("No space left on device"), or a
// generic phrase when the stack holds none.
std::string hdf5_cause() {
  std::string cause;
  auto walk = [](unsigned, const H5E_error2_t* e, void* out) -> herr_t {
    auto* text = static_cast<std::string*>(out);
    const std::string desc = e->desc ? e->desc : "";
    const auto at = desc.find("error message = '");
    if (text->empty() && at != std::string::npos) {
      const auto begin = at + 17;
      *text = desc.substr(begin, desc.find('\'', begin) - begin);
    }
    return 0;
  };
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk, &cause);
  return cause.empty() ? "write failed (disk full or file not writable?)" : cause;
}

// False when HDF5 could not write it (the caller names the file and the cause).
bool write_string_attribute(hid_t obj, const std::string& name, const std::string& value) {
  Handle type{H5Tcopy(H5T_C_S1), H5Tclose};
  H5Tset_size(type.id, std::max<size_t>(1, value.size()));
  H5Tset_cset(type.id, H5T_CSET_UTF8);
  Handle space{H5Screate(H5S_SCALAR), H5Sclose};
  Handle attr{H5Acreate2(obj, name.c_str(), type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  return attr.id >= 0 && H5Awrite(attr.id, type.id, value.data()) >= 0;
}

std::string read_string_attribute(hid_t obj, const std::string& name,
                                  const std::filesystem::path& path) {
  if (H5Aexists(obj, name.c_str()) <= 0)
    return {};
  Handle attr{H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose};
  Handle type{H5Aget_type(attr.id), H5Tclose};
  Handle space{H5Aget_space(attr.id), H5Sclose};
  const std::string who = where(path, "attribute '" + name + "'");
  if (H5Tget_class(type.id) != H5T_STRING)
    throw_input_error(who + ": expected a string, found another type");
  if (H5Sget_simple_extent_npoints(space.id) != 1)
    throw_input_error(who + ": expected one string, found " +
                      std::to_string(H5Sget_simple_extent_npoints(space.id)));
  // The memory type keeps the file's character set: HDF5 does not convert ASCII <-> UTF-8, and
  // h5py writes variable-length UTF-8 strings where RouterScope writes fixed-length ones.
  Handle mem{H5Tcopy(H5T_C_S1), H5Tclose};
  H5Tset_cset(mem.id, H5Tget_cset(type.id));
  if (H5Tis_variable_str(type.id) > 0) {
    char* buf = nullptr;
    H5Tset_size(mem.id, H5T_VARIABLE);
    if (H5Aread(attr.id, mem.id, &buf) < 0 || !buf)
      throw_input_error(who + ": variable-length string could not be read (corrupt file?)");
    std::string out(buf);
    H5free_memory(buf);
    return out;
  }
  std::string out(H5Tget_size(type.id), '\0');
  H5Tset_size(mem.id, out.size());
  if (out.empty() || H5Aread(attr.id, mem.id, out.data()) < 0)
    throw_input_error(who + ": fixed-length string could not be read (corrupt file?)");
  out.resize(std::strlen(out.c_str()));
  return out;
}

// Rows of a format-1 record dataset that belong to committed steps (its attribute
// `committed_rows`); datasets of records without the attribute count every row.
std::optional<hsize_t> committed_rows_attribute(hid_t ds) {
  if (H5Aexists(ds, kCommittedRows) <= 0)
    return std::nullopt;
  Handle attr{H5Aopen(ds, kCommittedRows, H5P_DEFAULT), H5Aclose};
  long long rows = -1;
  if (attr.id < 0 || H5Aread(attr.id, H5T_NATIVE_LLONG, &rows) < 0 || rows < 0)
    return std::nullopt;
  return static_cast<hsize_t>(rows);
}

// File access without HDF5's file lock: a record is read while its writer appends (the writer
// takes no lock either, so h5py and other readers open it with their defaults, in SWMR mode).
Handle unlocked_access() {
  Handle fapl{H5Pcreate(H5P_FILE_ACCESS), H5Pclose};
  H5Pset_file_locking(fapl.id, false, true);
  return fapl;
}

// The committed counts as written: [generation, rows of each series..., generation + Σ rows].
// The last element lets a reader tell a read that overlapped a write: counts only grow, so a
// mixture of old and new values never sums to the total written with them.
std::int64_t counts_check(const std::vector<long long>& v) {
  std::int64_t sum = 0;
  for (size_t i = 0; i + 1 < v.size(); ++i)
    sum += v[i];
  return sum;
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

// Reads dataset `name` under `parent` as float64 [rows, cols] (1-D: cols = 1); with `committed`,
// only its first rows (a record's committed rows).
MatrixD read_matrix(hid_t parent, const std::string& name, const std::filesystem::path& path,
                    std::optional<hsize_t> committed = std::nullopt) {
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
  // Rows beyond the committed ones belong to a step its writer had not finished.
  if (!committed)
    committed = committed_rows_attribute(ds.id);
  if (committed && *committed < dims[0]) {
    dims[0] = *committed;
    hsize_t start[2] = {0, 0}, count[2] = {dims[0], rank == 2 ? dims[1] : 1};
    H5Sselect_hyperslab(space.id, H5S_SELECT_SET, start, nullptr, count, nullptr);
  }
  MatrixD out(static_cast<Eigen::Index>(dims[0]),
              static_cast<Eigen::Index>(rank == 2 ? dims[1] : 1));
  hsize_t mdims[2] = {dims[0], rank == 2 ? dims[1] : 1};
  Handle mspace{H5Screate_simple(2, mdims, nullptr), H5Sclose};
  if (out.size() > 0 &&
      H5Dread(ds.id, H5T_NATIVE_DOUBLE, mspace.id, space.id, H5P_DEFAULT, out.data()) < 0)
    throw_input_error(where(path, name) + ": cannot read (corrupt or unsupported type)");
  return out;
}

VectorD column(const MatrixD& m) {
  return m.size() ? VectorD(m.col(0)) : VectorD();
}

// Keeps HDF5 from printing its diagnostic stack while a reader turns failures into messages.
struct QuietErrors {
  H5E_auto2_t func = nullptr;
  void* data = nullptr;
  QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &func, &data);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func, data); }
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;
};

// A layer group's name as its index ("3"), or BadInput naming the group.
int layer_index(const std::string& name, const std::filesystem::path& path,
                const std::string& group) {
  int value = 0;
  const char* end = name.data() + name.size();
  auto [ptr, ec] = std::from_chars(name.data(), end, value);
  if (ec != std::errc() || ptr != end || value < 0)
    throw_input_error(where(path, group) + ": group name is not a layer index (0, 1, ...)");
  return value;
}

// Opens any HDF5 file read-only. SWMR reading first: it opens a record while its writer runs
// and one whose writer was killed (HDF5 refuses those otherwise: "already open for write").
hid_t open_file(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path))
    throw_input_error(path.string() + ": no such file");
  Handle fapl = unlocked_access();
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl.id);
  if (f < 0)
    f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.id);
  if (f < 0)
    throw_input_error(path.string() +
                      ": not a readable HDF5 file (or a run record whose writer has not yet "
                      "declared its datasets: retry in a moment)");
  return f;
}

// The committed rows of each series of a format-2 record (dataset `committed_rows`, attribute
// `series`); nullopt for older records. A read that overlapped the writer's update is retried.
std::optional<std::map<std::string, hsize_t>> read_committed(hid_t f,
                                                             const std::filesystem::path& path) {
  if (H5Lexists(f, kCommittedRows, H5P_DEFAULT) <= 0)
    return std::nullopt;
  const std::string who = where(path, kCommittedRows);
  std::vector<std::string> names;
  std::vector<long long> v;
  for (int attempt = 0;; ++attempt) {
    // Opened for each attempt: a dataset kept open would serve its cached bytes again.
    Handle ds{H5Dopen2(f, kCommittedRows, H5P_DEFAULT), H5Dclose};
    if (ds.id < 0)
      throw_input_error(who + ": cannot open (corrupt record?)");
    try {
      names = nlohmann::json::parse(read_string_attribute(ds.id, kSeries, path))
                  .get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception& e) {
      throw_input_error(who + ": attribute '" + kSeries +
                        "' is not a JSON list of names: " + e.what());
    }
    Handle space{H5Dget_space(ds.id), H5Sclose};
    if (H5Sget_simple_extent_ndims(space.id) != 1 ||
        H5Sget_simple_extent_npoints(space.id) != hssize_t(names.size() + 2))
      throw_input_error(who + ": expected " + std::to_string(names.size() + 2) +
                        " int64 values (generation, one count per series, check)");
    v.assign(names.size() + 2, 0);
    if (H5Dread(ds.id, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
      throw_input_error(who + ": cannot read (corrupt record?)");
    if (v.back() == counts_check(v))
      break;
    if (attempt == 100)
      throw_input_error(who + ": the counts do not match their check value (corrupt record)");
    usleep(1000); // the writer was rewriting the counts: read again
  }
  std::map<std::string, hsize_t> out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (v[i + 1] < 0)
      throw_input_error(who + ": negative count for " + names[i]);
    out[names[i]] = hsize_t(v[i + 1]);
  }
  return out;
}

} // namespace

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
} // namespace

namespace {
constexpr const char* kConvergenceRows[] = {"cos",      "lambda",    "router_norm",
                                            "pre_norm", "tan_theta", "tan_bound"};
// The series of kConvergenceRows[i] in a row (the one definition of what a row records).
const VectorD& convergence_series(const ConvergenceRow& row, size_t i) {
  const VectorD* const rows[std::size(kConvergenceRows)] = {
      &row.cos, &row.lambda, &row.router_norm, &row.pre_norm, &row.tan_theta, &row.tan_bound};
  return *rows[i];
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
  for (size_t i = 0; i < std::size(kConvergenceRows); ++i)
    append_row(base + kConvergenceRows[i], span_of(convergence_series(row, i)));
  commit_step();
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
    for (size_t k = 0; k < std::size(kConvergenceRows); ++k) {
      const Eigen::Index width = convergence_series(layer.rows.front(), k).size();
      MatrixD m(Eigen::Index(layer.rows.size()), width);
      for (size_t t = 0; t < layer.rows.size(); ++t) {
        const VectorD& v = convergence_series(layer.rows[t], k);
        if (v.size() != width)
          throw_internal_error("convergence_record: layer " + std::to_string(layer.layer) + " " +
                               kConvergenceRows[k] + " rows differ in width");
        m.row(Eigen::Index(t)) = v.transpose();
      }
      c.series[kConvergenceRows[k]] = std::move(m);
    }
  rec.layers.push_back(std::move(c));
  return rec;
}

void declare_convergence_layer(RunRecordWriter& writer, int layer, std::size_t experts) {
  const std::string base = convergence_base(layer);
  writer.declare(base + "sigma1", 0);
  writer.declare(base + "sigma2", 0);
  for (const char* key : kConvergenceRows)
    writer.declare(base + key, experts);
}

namespace {
// The one definition of what a training step records: sink(key, values, per_layer) for the
// variant's 1-D series (per_layer false: one value appended to variants/<name>/<key>) and its
// per-expert rows (per_layer true: a row appended to variants/<name>/layers/<L>/<key>).
template <class Sink> void training_step_series(const TrainStepRecord& r, Sink&& sink) {
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
} // namespace

void RunRecordWriter::add_training_step(int layer, const TrainStepRecord& r) {
  const std::string base = "variants/" + r.name + "/";
  const std::string lb = base + "layers/" + std::to_string(layer) + "/";
  training_step_series(r, [&](const char* key, std::span<const double> v, bool per_layer) {
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
  training_step_series(r, [&](const char* key, std::span<const double> v, bool per_layer) {
    writer.declare((per_layer ? lb : base) + key, per_layer ? v.size() : 0);
  });
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
    training_step_series(r, [&](const char* key, std::span<const double> v, bool per_layer) {
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

} // namespace routerscope::io
