#pragma once
// Memory-mapped safetensors reading: one file, a sharded model.safetensors.index.json, or a folder
// holding either. Opening parses and validates headers only (every check of the reference reader,
// plus duplicate names and shard consistency); tensor bytes are touched only when decoded.
#include "io/dtype.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace routerscope::io {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0; // data_offsets, relative to the data buffer (file offset 8 + N)
  std::uint64_t end = 0;   // exclusive
  std::int64_t numel() const;
};

// One validated, memory-mapped .safetensors file. Throws Error(BadInput) naming the file and the
// tensor or byte range for every malformed header.
class SafetensorsFile {
public:
  static std::shared_ptr<const SafetensorsFile> open(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::uint64_t file_size() const { return size_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; } // sorted by name
  const TensorInfo* find(std::string_view name) const;                // nullptr when absent
  std::span<const std::byte> bytes(const TensorInfo& t) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

private:
  SafetensorsFile() = default;
  std::filesystem::path path_;
  std::uint64_t size_ = 0;
  const std::byte* map_ = nullptr;
  std::uint64_t data_start_ = 0; // 8 + N
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Runs read(context), a loop that reads bytes of a memory-mapped file and holds no object with a
// destructor, so that a bus error in it (the file was truncated or replaced under the map by
// another process: the pages are gone) throws Error(BadInput) "FILE: ..." naming `what` and the
// cause instead of killing the process. Thread-safe: each thread has its own guard; a bus error
// outside any guard keeps its default action.
void read_mapped(const std::string& file, const std::string& what, void (*read)(void*),
                 void* context);
template <class F> void read_mapped(const std::string& file, const std::string& what, F&& read) {
  using Fn = std::remove_reference_t<F>;
  read_mapped(
      file, what, [](void* c) { (*static_cast<Fn*>(c))(); }, &read);
}

// Tells the kernel this process is done with the pages wholly inside `bytes` (a range of a
// mapping): they leave the resident set but stay in the page cache, so decoding a checkpoint one
// expert at a time keeps resident memory near one expert however large the file is.
void release_pages(std::span<const std::byte> bytes);

// Every tensor of a checkpoint, whichever way it is split into files.
class TensorStore {
public:
  // path: a .safetensors file, a *.safetensors.index.json, or a folder holding
  // model.safetensors.index.json, model.safetensors, or exactly one other *.safetensors file.
  // Sharded: every shard must exist and hold the tensors mapped to it; a name stored in two shards,
  // or stored in a shard but absent from the weight_map, is rejected (BadInput naming both).
  static TensorStore open(const std::filesystem::path& path);

  const std::filesystem::path& root() const { return root_; } // the folder (holds config.json)
  const std::filesystem::path& opened() const { return opened_; }
  bool contains(std::string_view name) const;
  // Throws BadInput "tensor NAME not found in PATH" when absent.
  const TensorInfo& info(std::string_view name) const;
  std::span<const std::byte> bytes(std::string_view name) const;
  const std::filesystem::path& file_of(std::string_view name) const;
  std::vector<std::string> names() const; // sorted
  std::uint64_t bytes_on_disk() const;    // sum of the shard file sizes
  std::size_t file_count() const { return files_.size(); }

private:
  struct Entry {
    const SafetensorsFile* file;
    const TensorInfo* info;
  };
  std::filesystem::path root_, opened_;
  std::vector<std::shared_ptr<const SafetensorsFile>> files_;
  std::map<std::string, Entry, std::less<>> index_;
};

} // namespace routerscope::io
