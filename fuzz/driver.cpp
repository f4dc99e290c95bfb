// The fuzz targets' main() where libFuzzer is not available (a compiler other than Clang): a
// deterministic mutation driver. It runs every seed file given (files or folders), then mutates
// them with a fixed pseudo-random sequence (bit flips, byte sets, inserts, erases, splices of two
// seeds) for -runs=N inputs (default 20000). It accepts and ignores libFuzzer's other -flags, so
// that one ctest command line serves both. A crash is the process dying, as under libFuzzer.
#include "fuzz/fuzz_support.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

std::vector<std::uint8_t> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void run(const std::vector<std::uint8_t>& input) {
  LLVMFuzzerTestOneInput(input.data(), input.size());
}

} // namespace

int main(int argc, char** argv) {
  long runs = 20000;
  std::vector<std::vector<std::uint8_t>> seeds;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("-runs=", 0) == 0) {
      runs = std::strtol(a.c_str() + 6, nullptr, 10);
      continue;
    }
    if (a.rfind("-", 0) == 0)
      continue; // a libFuzzer option
    const fs::path p = a;
    if (fs::is_directory(p)) {
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(p))
        if (e.is_regular_file())
          files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files)
        seeds.push_back(read_all(f));
    } else if (fs::is_regular_file(p)) {
      seeds.push_back(read_all(p));
    }
  }
  if (seeds.empty())
    seeds.emplace_back();
  for (const auto& s : seeds)
    run(s);
  std::mt19937_64 rng(20240915);
  auto below = [&rng](std::size_t n) { return n == 0 ? 0 : std::size_t(rng() % n); };
  for (long r = 0; r < runs; ++r) {
    std::vector<std::uint8_t> x = seeds[below(seeds.size())];
    const int edits = 1 + int(below(8));
    for (int e = 0; e < edits; ++e) {
      switch (below(6)) {
      case 0:
        if (!x.empty())
          x[below(x.size())] ^= std::uint8_t(1u << below(8));
        break;
      case 1:
        if (!x.empty())
          x[below(x.size())] = std::uint8_t(rng());
        break;
      case 2:
        x.insert(x.begin() + std::ptrdiff_t(below(x.size() + 1)), std::uint8_t(rng()));
        break;
      case 3:
        if (!x.empty())
          x.erase(x.begin() + std::ptrdiff_t(below(x.size())));
        break;
      case 4: { // interesting bytes near the front (headers, lengths)
        static const std::uint8_t v[] = {0, 1, 0x7f, 0x80, 0xff, '"', '[', '{', '-', '9'};
        if (!x.empty())
          x[below(std::min<std::size_t>(x.size(), 64))] = v[below(sizeof v)];
        break;
      }
      default: { // splice with another seed
        const auto& y = seeds[below(seeds.size())];
        const std::size_t cut = below(x.size() + 1), from = below(y.size() + 1);
        x.resize(cut);
        x.insert(x.end(), y.begin() + std::ptrdiff_t(from), y.end());
        break;
      }
      }
    }
    run(x);
  }
  std::printf("fuzz driver: %zu seeds, %ld mutated inputs, no crash\n", seeds.size(), runs);
  return 0;
}
