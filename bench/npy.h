#pragma once
// Minimal .npy files (version 1.0, C order) shared by the benchmarks and their Python peers, so
// that both sides read exactly the same bytes.
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace routerscope::bench {

namespace fs = std::filesystem;

inline std::string npy_header(const std::string& descr, const std::vector<int>& shape) {
  std::string s = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (";
  for (int v : shape)
    s += std::to_string(v) + ", ";
  s += "), }";
  while ((10 + s.size() + 1) % 64 != 0)
    s += ' ';
  s += '\n';
  std::string h = "\x93NUMPY";
  h += '\x01';
  h += '\x00';
  h += static_cast<char>(s.size() & 0xff);
  h += static_cast<char>(s.size() >> 8);
  return h + s;
}

template <class T>
void write_npy(const fs::path& p, const std::string& descr, const std::vector<int>& shape,
               const std::vector<T>& data) {
  fs::path tmp = p;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    const std::string h = npy_header(descr, shape);
    f.write(h.data(), static_cast<std::streamsize>(h.size()));
    f.write(reinterpret_cast<const char*>(data.data()),
            static_cast<std::streamsize>(data.size() * sizeof(T)));
    if (!f)
      throw std::runtime_error("cannot write " + tmp.string());
  }
  fs::rename(tmp, p);
}

template <class T>
bool read_npy(const fs::path& p, const std::string& descr, const std::vector<int>& shape,
              std::vector<T>& data, std::size_t count) {
  std::ifstream f(p, std::ios::binary);
  if (!f)
    return false;
  const std::string want = npy_header(descr, shape);
  std::string got(want.size(), '\0');
  f.read(got.data(), static_cast<std::streamsize>(got.size()));
  if (got != want)
    return false;
  data.resize(count);
  f.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(count * sizeof(T)));
  return static_cast<bool>(f);
}

} // namespace routerscope::bench
