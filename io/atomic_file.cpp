#include "io/atomic_file.h"

#include "core/error.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>

namespace routerscope::io {

namespace {
std::filesystem::path temp_name(const std::filesystem::path& path) {
  std::filesystem::path temp = path;
  temp += ".tmp-" + std::to_string(::getpid());
  return temp;
}
} // namespace

AtomicFile::AtomicFile(std::filesystem::path path) : path_(std::move(path)) {
  temp_ = temp_name(path_);
  if (path_.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path_.parent_path(), ec);
  }
  file_ = std::fopen(temp_.c_str(), "wb");
  if (!file_)
    throw_input_error("cannot write " + path_.string() + ": " + std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (file_) {
    std::fclose(file_);
    std::error_code ec;
    std::filesystem::remove(temp_, ec);
  }
}

void AtomicFile::write(const void* data, std::size_t size) {
  if (size && std::fwrite(data, 1, size, file_) != size)
    throw_input_error("cannot write " + path_.string() + ": " + std::strerror(errno));
}

void AtomicFile::commit() {
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0)
    throw_input_error("cannot write " + path_.string() + ": " + std::strerror(errno));
  std::fclose(file_);
  file_ = nullptr;
  std::error_code ec;
  std::filesystem::rename(temp_, path_, ec);
  if (ec) {
    std::filesystem::remove(temp_, ec);
    throw_input_error("cannot replace " + path_.string() + ": " + ec.message());
  }
}

void write_replacing(const std::filesystem::path& path,
                     const std::function<void(const std::filesystem::path& temp)>& write) {
  const std::filesystem::path temp = temp_name(path);
  std::error_code ec;
  try {
    write(temp);
  } catch (...) {
    std::filesystem::remove(temp, ec);
    throw;
  }
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::filesystem::remove(temp, ec);
    throw_input_error("cannot replace " + path.string() + ": " + ec.message());
  }
}

void copy_replacing(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::error_code ec;
  if (std::filesystem::exists(to, ec) && std::filesystem::equivalent(from, to, ec))
    return;
  std::ifstream in(from, std::ios::binary);
  if (!in)
    throw_input_error("cannot read " + from.string() + ": " + std::strerror(errno));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad())
    throw_input_error("cannot read " + from.string() + ": " + std::strerror(errno));
  AtomicFile out(to);
  out.write(bytes.data(), bytes.size());
  out.commit();
}

} // namespace routerscope::io
