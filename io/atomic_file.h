#pragma once
// A file that replaces its destination only when complete: bytes go to "<path>.tmp-<pid>", which
// commit() flushes, fsyncs and renames over `path`. Destroyed without commit, it removes the
// temporary and leaves any existing file untouched.
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <functional>

namespace routerscope::io {

class AtomicFile {
public:
  explicit AtomicFile(std::filesystem::path path); // throws BadInput naming the path
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t size);
  void commit();
  const std::filesystem::path& temp_path() const { return temp_; }

private:
  std::filesystem::path path_, temp_;
  std::FILE* file_ = nullptr;
};

// The same for a file another library writes (an HDF5 record): `write` gets the temporary path,
// which is renamed over `path` once `write` returns, and removed if it throws (rethrown).
void write_replacing(const std::filesystem::path& path,
                     const std::function<void(const std::filesystem::path& temp)>& write);

// Copies `from` to `to` through an AtomicFile (a copy over itself does nothing). BadInput naming
// `from` and the operating system's reason when it cannot be read, or `to` when it cannot be
// written.
void copy_replacing(const std::filesystem::path& from, const std::filesystem::path& to);

} // namespace routerscope::io
