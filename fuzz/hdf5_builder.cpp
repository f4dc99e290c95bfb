#include "fuzz/hdf5_builder.h"

#include "io/hdf5_handle.h"

#include <hdf5.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace routerscope::fuzz {

namespace {

const std::vector<std::string> kGroups = {"",
                                          "layers/0",
                                          "layers/1",
                                          "layers/x",
                                          "layers/-1",
                                          "variants/mpi",
                                          "variants/vanilla",
                                          "variants/mpi/layers/0",
                                          "variants/vanilla/layers/0",
                                          "variants/mpi/layers/3",
                                          "variants/mpi/layers/q"};
// The series record's names ("steps" ... "entropy", and the kind "series" in kValues) are appended,
// so that the bytes of earlier seeds name the same datasets (a pick is a byte modulo the size: a
// byte above 27 may now pick another name).
const std::vector<std::string> kDatasets = {
    "cos",          "lambda",      "router_norm",   "pre_norm",
    "tan_theta",    "tan_bound",   "sigma1",        "sigma2",
    "loss",         "task_loss",   "lb_loss",       "z_loss",
    "maxvio_batch", "lr",          "grad_norm",     "load",
    "stored_cos",   "stored_norm", "maxvio_global", "maxvio_global_step",
    "lm_loss",      "val_bpb",     "val_step",      "step",
    "align_step",   "raw_norm",    "tokens_per_s",  "hidden_states",
    "steps",        "sigma_ratio", "weight_norm",   "maxvio",
    "cv",           "entropy"};
const std::vector<std::string> kAttributes = {"routerscope_record",
                                              "kind",
                                              "config",
                                              "checkpoint_path",
                                              "checkpoint_family",
                                              "checkpoint_files",
                                              "routerscope_version"};
const std::vector<std::string> kValues = {"1",
                                          "convergence",
                                          "training",
                                          "pretraining",
                                          "{}",
                                          R"({"variants":["vanilla","mpi"]})",
                                          R"({"variants":["mpi"],"layer":0})",
                                          R"([{"name":"model.safetensors","bytes":12}])",
                                          R"([{"name":1}])",
                                          "[",
                                          "",
                                          "series"};

using Handle = io::Hdf5Handle;

void string_attribute(hid_t obj, const std::string& name, const std::string& value) {
  Handle type{H5Tcopy(H5T_C_S1), H5Tclose};
  H5Tset_size(type.id, value.empty() ? 1 : value.size());
  Handle space{H5Screate(H5S_SCALAR), H5Sclose};
  H5Adelete(obj, name.c_str());
  Handle attr{H5Acreate2(obj, name.c_str(), type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  if (attr.id >= 0)
    H5Awrite(attr.id, type.id, value.empty() ? "" : value.data());
}

void int_attribute(hid_t obj, const std::string& name, long long value) {
  Handle space{H5Screate(H5S_SCALAR), H5Sclose};
  H5Adelete(obj, name.c_str());
  Handle attr{H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, space.id, H5P_DEFAULT, H5P_DEFAULT),
              H5Aclose};
  if (attr.id >= 0)
    H5Awrite(attr.id, H5T_NATIVE_LLONG, &value);
}

} // namespace

void build_hdf5(const std::filesystem::path& path, Bytes& in) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  Handle file{H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose};
  if (file.id < 0) {
    std::fprintf(stderr, "fuzz: cannot create %s\n", path.c_str());
    std::abort();
  }
  Handle lcpl{H5Pcreate(H5P_LINK_CREATE), H5Pclose};
  H5Pset_create_intermediate_group(lcpl.id, 1);
  hid_t last = -1; // the last dataset created (closed with the file)
  std::vector<hid_t> open;
  for (int op = 0; op < 96 && !in.empty(); ++op) {
    switch (in.u8() % 4) {
    case 0: { // a string attribute of the file
      const std::string& name = in.pick(kAttributes);
      const std::string value = in.u8() % 4 == 0 ? in.text(64) : in.pick(kValues);
      string_attribute(file.id, name, value);
      break;
    }
    case 1:
    case 2: { // a dataset
      const std::string& group = in.pick(kGroups);
      const std::string name = (group.empty() ? "" : group + "/") + in.pick(kDatasets);
      const int rank = in.u8() % 4;
      std::vector<hsize_t> dims(static_cast<size_t>(rank));
      hsize_t count = 1;
      for (auto& d : dims) {
        const std::uint8_t b = in.u8();
        d = b % 8 == 7 ? hsize_t(b % 64) : hsize_t(b % 6);
        count *= d;
      }
      if (count > 4096)
        break;
      hid_t type = H5T_IEEE_F64LE;
      switch (in.u8() % 5) {
      case 1:
        type = H5T_IEEE_F32LE;
        break;
      case 2:
        type = H5T_STD_I32LE;
        break;
      case 3:
        type = H5T_STD_U8LE;
        break;
      case 4:
        type = H5T_IEEE_F64BE;
        break;
      default:
        break;
      }
      Handle space{rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims.data(), nullptr),
                   H5Sclose};
      const hid_t ds =
          H5Dcreate2(file.id, name.c_str(), type, space.id, lcpl.id, H5P_DEFAULT, H5P_DEFAULT);
      if (ds < 0)
        break;
      std::vector<double> values(count);
      for (auto& v : values)
        v = in.number();
      if (count > 0)
        H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
      open.push_back(ds);
      last = ds;
      break;
    }
    default: // the committed-rows attribute of the last dataset (as an integer or a string)
      if (last >= 0) {
        if (in.u8() % 4 == 0)
          string_attribute(last, "committed_rows", in.text(8));
        else
          int_attribute(last, "committed_rows", static_cast<long long>(in.u8()) - 2);
      }
      break;
    }
  }
  for (hid_t ds : open)
    H5Dclose(ds);
}

} // namespace routerscope::fuzz
