#include "io/run_record_hdf5.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace routerscope::io::record_hdf5 {

std::string where(const std::filesystem::path& path, const std::string& name) {
  return path.string() + (name.empty() ? "" : ": " + name);
}

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

std::optional<hsize_t> committed_rows_attribute(hid_t ds) {
  if (H5Aexists(ds, kCommittedRows) <= 0)
    return std::nullopt;
  Handle attr{H5Aopen(ds, kCommittedRows, H5P_DEFAULT), H5Aclose};
  long long rows = -1;
  if (attr.id < 0 || H5Aread(attr.id, H5T_NATIVE_LLONG, &rows) < 0 || rows < 0)
    return std::nullopt;
  return static_cast<hsize_t>(rows);
}

Handle unlocked_access() {
  Handle fapl{H5Pcreate(H5P_FILE_ACCESS), H5Pclose};
  H5Pset_file_locking(fapl.id, false, true);
  return fapl;
}

std::int64_t counts_check(const std::vector<long long>& v) {
  std::int64_t sum = 0;
  for (size_t i = 0; i + 1 < v.size(); ++i)
    sum += v[i];
  return sum;
}

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

MatrixD read_matrix(hid_t parent, const std::string& name, const std::filesystem::path& path,
                    std::optional<hsize_t> committed) {
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

int layer_index(const std::string& name, const std::filesystem::path& path,
                const std::string& group) {
  int value = 0;
  const char* end = name.data() + name.size();
  auto [ptr, ec] = std::from_chars(name.data(), end, value);
  if (ec != std::errc() || ptr != end || value < 0)
    throw_input_error(where(path, group) + ": group name is not a layer index (0, 1, ...)");
  return value;
}

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

} // namespace routerscope::io::record_hdf5
