#include "io/lm_corpus.h"

#include "core/error.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace routerscope::io {

namespace fs = std::filesystem;

namespace {

std::vector<char> read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw_input_error(path.string() + ": cannot read (" + std::strerror(errno) + ")");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad())
    throw_input_error(path.string() + ": read error");
  return bytes;
}

void split(Corpus& c) {
  c.train_size = c.tokens.size() * 95 / 100;
}

// Regular files directly in `dir` that `keep` accepts, sorted by name byte-wise.
template <class Keep> std::vector<fs::path> folder_files(const fs::path& dir, Keep&& keep) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_symlink() || !entry.is_regular_file() || name.starts_with(".") || !keep(name))
      continue;
    out.push_back(entry.path());
  }
  if (ec)
    throw_input_error(dir.string() + ": cannot list the folder (" + ec.message() + ")");
  std::sort(out.begin(), out.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
  return out;
}

} // namespace

std::vector<fs::path> corpus_files(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw_input_error("--corpus " + path.string() + ": no such file or folder");
  if (!fs::is_directory(path, ec))
    return {path};
  auto files = folder_files(path, [](const std::string&) { return true; });
  if (files.empty())
    throw_input_error("--corpus " + path.string() +
                      ": the folder holds no regular file (hidden files and symlinks are skipped)");
  return files;
}

std::vector<fs::path> default_corpus_files() {
  auto files =
      fs::is_directory(kFortunesDir)
          ? folder_files(kFortunesDir, [](const std::string& n) { return n.find('.') == n.npos; })
          : std::vector<fs::path>{};
  if (files.empty())
    throw_input_error(std::string("default corpus: no fortune files in ") + kFortunesDir +
                      " (install Debian's fortunes package, or pass --corpus FILE|DIR)");
  return files;
}

Corpus read_byte_corpus(const std::vector<fs::path>& files, const std::string& origin) {
  Corpus c;
  c.origin = origin;
  for (const auto& f : files) {
    const std::vector<char> bytes = read_all(f);
    c.files.emplace_back(f.string(), bytes.size());
    for (char b : bytes)
      c.tokens.push_back(static_cast<std::uint8_t>(b));
  }
  split(c);
  return c;
}

Corpus read_token_file(const fs::path& path, int vocab) {
  if (vocab < 1 || vocab > 65536)
    throw_input_error("--vocab: expected 1..65536 (uint16 token ids), got " +
                      std::to_string(vocab));
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw_input_error("--tokens " + path.string() + ": no such file");
  const std::vector<char> bytes = read_all(path);
  if (bytes.size() % 2)
    throw_input_error("--tokens " + path.string() + ": " + std::to_string(bytes.size()) +
                      " bytes, expected an even count (little-endian uint16 token ids)");
  Corpus c;
  c.origin = path.string();
  c.vocab = vocab;
  c.files.emplace_back(path.string(), bytes.size());
  c.tokens.resize(bytes.size() / 2);
  for (std::size_t i = 0; i < c.tokens.size(); ++i) {
    const auto lo = static_cast<std::uint8_t>(bytes[2 * i]);
    const auto hi = static_cast<std::uint8_t>(bytes[2 * i + 1]);
    c.tokens[i] = lo | (hi << 8);
    if (c.tokens[i] >= vocab)
      throw_input_error("--tokens " + path.string() + ": token " + std::to_string(i) + " is " +
                        std::to_string(c.tokens[i]) + ", expected an id below --vocab " +
                        std::to_string(vocab));
  }
  split(c);
  return c;
}

void check_corpus(const Corpus& c, int ctx) {
  const std::string unit = c.vocab == 256 ? " bytes" : " tokens";
  if (c.tokens.empty())
    throw_input_error("corpus " + c.origin + " is empty");
  const std::size_t need = std::size_t(ctx) + 1;
  if (c.tokens.size() < need)
    throw_input_error("corpus " + c.origin + " holds " + std::to_string(c.tokens.size()) + unit +
                      ", shorter than ctx + 1 = " + std::to_string(need));
  if (c.train_size < need || c.validation_size() < need)
    throw_input_error("corpus " + c.origin + " holds " + std::to_string(c.tokens.size()) + unit +
                      ": its training part (" + std::to_string(c.train_size) +
                      ") and validation part (last 5%, " + std::to_string(c.validation_size()) +
                      ") must each hold ctx + 1 = " + std::to_string(need) + unit +
                      " (a longer corpus or a smaller --ctx)");
}

} // namespace routerscope::io
