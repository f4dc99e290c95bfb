#pragma once
// A file that replaces its destination only when complete: bytes go to "<path>.tmp-<pid>", which
// commit() flushes, fsyncs and renames over `path`. Destroyed without commit, it removes the
// temporary and leaves any existing file untouched.
#include <cstddef>
#include <cstdio>
#include <filesystem>

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

} // namespace routerscope::io
