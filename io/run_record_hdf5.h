#pragma once
// Internal to io/run_record*.cpp: the HDF5 helpers and constants that the record writer
// (run_record.cpp) and reader (run_record_read.cpp) share. Not part of io's interface.
#include "core/error.h"
#include "core/types.h"
#include "io/hdf5_handle.h"

#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace routerscope::io::record_hdf5 {

inline constexpr hsize_t kChunkRows = 64;
// 1: a `committed_rows` attribute per dataset; 2: SWMR, one `committed_rows` dataset.
inline constexpr int kFormatVersion = 2;
inline constexpr const char* kCommittedRows = "committed_rows";
inline constexpr const char* kSeries = "series";

std::string where(const std::filesystem::path& path, const std::string& name);

using Handle = Hdf5Handle;

// The operating system's reason inside HDF5's error stack ("No space left on device"), or a
// generic phrase when the stack holds none.
std::string hdf5_cause();

// False when HDF5 could not write it (the caller names the file and the cause).
bool write_string_attribute(hid_t obj, const std::string& name, const std::string& value);

std::string read_string_attribute(hid_t obj, const std::string& name,
                                  const std::filesystem::path& path);

// Rows of a format-1 record dataset that belong to committed steps (its attribute
// `committed_rows`); datasets of records without the attribute count every row.
std::optional<hsize_t> committed_rows_attribute(hid_t ds);

// File access without HDF5's file lock: a record is read while its writer appends (the writer
// takes no lock either, so h5py and other readers open it with their defaults, in SWMR mode).
Handle unlocked_access();

// The committed counts as written: [generation, rows of each series..., generation + Σ rows].
// The last element lets a reader tell a read that overlapped a write: counts only grow, so a
// mixture of old and new values never sums to the total written with them.
std::int64_t counts_check(const std::vector<long long>& v);

// Names of the links in a group, sorted by name.
std::vector<std::string> children(hid_t group);

bool is_group(hid_t parent, const std::string& name);

// Reads dataset `name` under `parent` as float64 [rows, cols] (1-D: cols = 1); with `committed`,
// only its first rows (a record's committed rows).
MatrixD read_matrix(hid_t parent, const std::string& name, const std::filesystem::path& path,
                    std::optional<hsize_t> committed = std::nullopt);

VectorD column(const MatrixD& m);

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
                const std::string& group);

// Opens any HDF5 file read-only. SWMR reading first: it opens a record while its writer runs
// and one whose writer was killed (HDF5 refuses those otherwise: "already open for write").
hid_t open_file(const std::filesystem::path& path);

// The committed rows of each series of a format-2 record (dataset `committed_rows`, attribute
// `series`); nullopt for older records. A read that overlapped the writer's update is retried.
std::optional<std::map<std::string, hsize_t>> read_committed(hid_t f,
                                                             const std::filesystem::path& path);

} // namespace routerscope::io::record_hdf5
