#pragma once
// Writing safetensors files: demo checkpoints, exported MPI routers and test fixtures. The header
// is padded with spaces to a multiple of 8; the file is written to a temporary name and renamed.
#include "io/dtype.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace routerscope::io {

class SafetensorsWriter {
public:
  // Raw bytes, already encoded in `dtype` (row-major, C order).
  void add_raw(std::string name, DType dtype, std::vector<std::int64_t> shape,
               std::vector<std::byte> bytes);
  // Encodes floats to F32, F16, BF16, F8_E4M3 or F8_E5M2.
  void add(std::string name, DType dtype, std::vector<std::int64_t> shape,
           std::span<const float> values);
  void set_metadata(std::string key, std::string value);
  // Throws Error naming the path on any I/O failure; never leaves a partial file at `path`.
  void write(const std::filesystem::path& path) const;

private:
  struct Pending {
    DType dtype;
    std::vector<std::int64_t> shape;
    std::vector<std::byte> bytes;
  };
  std::map<std::string, Pending> tensors_;
  std::map<std::string, std::string> metadata_;
};

} // namespace routerscope::io
