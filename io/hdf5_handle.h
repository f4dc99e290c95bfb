#pragma once
// An HDF5 id closed at scope exit by its matching close function (H5Fclose, H5Dclose, ...).
#include <hdf5.h>

namespace routerscope::io {

struct Hdf5Handle {
  hid_t id;
  herr_t (*close)(hid_t);
  ~Hdf5Handle() {
    if (id >= 0)
      close(id);
  }
};

} // namespace routerscope::io
