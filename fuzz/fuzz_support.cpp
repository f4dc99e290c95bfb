#include "fuzz/fuzz_support.h"

#include "core/error.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <limits>
#include <unistd.h>

namespace routerscope::fuzz {

namespace fs = std::filesystem;

void run_one(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::BadInput)
      return;
    std::fprintf(stderr, "fuzz: fault policy broken: internal error: %s\n", e.what());
    std::abort();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: fault policy broken: uncaught %s\n", e.what());
    std::abort();
  }
}

const fs::path& scratch() {
  static const fs::path dir = [] {
    std::string pattern = (fs::temp_directory_path() / "routerscope-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("fuzz: mkdtemp");
      std::abort();
    }
    static const fs::path made = pattern;
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(made, ec);
    });
    return made;
  }();
  return dir;
}

void write_file(const fs::path& path, const std::uint8_t* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
}

double Bytes::number() {
  static const double special[] = {std::numeric_limits<double>::quiet_NaN(),
                                   std::numeric_limits<double>::infinity(),
                                   -std::numeric_limits<double>::infinity(),
                                   1e308,
                                   -1e308,
                                   1e-310,
                                   0.0,
                                   -0.0,
                                   1.0,
                                   0.5};
  const std::uint8_t kind = u8();
  if (kind < 10)
    return special[kind];
  if (kind < 128)
    return (double(u8()) - 128.0) / 16.0;
  std::uint64_t bits = 0;
  for (int i = 0; i < 8; ++i)
    bits = bits << 8 | u8();
  double v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

std::string Bytes::text(std::size_t max_length) {
  const std::size_t n = std::min<std::size_t>(u8(), max_length);
  std::string s;
  for (std::size_t i = 0; i < n && !empty(); ++i)
    s += char(u8());
  return s;
}

} // namespace routerscope::fuzz
