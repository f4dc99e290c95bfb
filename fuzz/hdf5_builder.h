#pragma once
// Builds an HDF5 file from fuzz bytes as a list of operations over the names RouterScope's readers
// look for (record attributes, per-layer and per-variant series, hidden_states), with shapes,
// element types and values (NaN, ±Inf, 1e308, …) chosen by the bytes. The fuzz targets of the
// record and hidden-states readers go through it, so that they test RouterScope's readers and
// not libhdf5's parser of arbitrary bytes.
#include "fuzz/fuzz_support.h"

#include <filesystem>

namespace routerscope::fuzz {

void build_hdf5(const std::filesystem::path& path, Bytes& in);

} // namespace routerscope::fuzz
