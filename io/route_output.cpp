#include "io/route_output.h"

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/hdf5_handle.h"

#include <hdf5.h>

#include <algorithm>
#include <cstdint>
#include <string>

namespace routerscope::io {

namespace {

using Handle = Hdf5Handle;

// One row-major dataset of `rows` × `cols` (cols 0: a vector) with the given memory/file types.
void write_dataset(hid_t file, const std::filesystem::path& path, const std::string& name,
                   hid_t mem_type, hid_t file_type, Eigen::Index rows, Eigen::Index cols,
                   const void* data) {
  const hsize_t dims[2] = {hsize_t(rows), hsize_t(cols)};
  Handle space{H5Screate_simple(cols > 0 ? 2 : 1, dims, nullptr), H5Sclose};
  Handle ds{
      H5Dcreate2(file, name.c_str(), file_type, space.id, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
      H5Dclose};
  if (space.id < 0 || ds.id < 0 ||
      (rows * std::max<Eigen::Index>(cols, 1) > 0 &&
       H5Dwrite(ds.id, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0))
    throw_input_error(path.string() + ": could not write dataset '" + name + "'");
}

} // namespace

void write_route_output(const std::filesystem::path& path, const RouteOutput& out) {
  write_replacing(path, [&](const std::filesystem::path& temp) {
    Handle f{H5Fcreate(temp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose};
    if (f.id < 0)
      throw_input_error(path.string() + ": cannot create the HDF5 file");
    write_dataset(f.id, path, "logits", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, out.logits.rows(),
                  out.logits.cols(), out.logits.data());
    const Eigen::Matrix<std::int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> experts =
        out.experts.cast<std::int32_t>();
    write_dataset(f.id, path, "experts", H5T_NATIVE_INT32, H5T_STD_I32LE, experts.rows(),
                  experts.cols(), experts.data());
    write_dataset(f.id, path, "weights", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, out.weights.rows(),
                  out.weights.cols(), out.weights.data());
    write_dataset(f.id, path, "output", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, out.output.rows(),
                  out.output.cols(), out.output.data());
    write_dataset(f.id, path, "load", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, out.load.size(), 0,
                  out.load.data());
    Handle type{H5Tcopy(H5T_C_S1), H5Tclose};
    H5Tset_size(type.id, std::max<size_t>(1, out.config.size()));
    Handle scalar{H5Screate(H5S_SCALAR), H5Sclose};
    Handle attr{H5Acreate2(f.id, "config", type.id, scalar.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
    if (attr.id < 0 || H5Awrite(attr.id, type.id, out.config.c_str()) < 0)
      throw_input_error(path.string() + ": could not write attribute 'config'");
  });
}

} // namespace routerscope::io
