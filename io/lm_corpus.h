#pragma once
// Training text for the pretraining engine: a byte corpus (one text file, a folder of files, or by
// default the English fortunes of Debian's `fortunes` package) or a file of uint16 token ids as
// nanoGPT writes them. The last 5% of the tokens are the validation split.
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace routerscope::io {

// Where the default corpus lives (Debian's `fortunes` package).
inline constexpr const char* kFortunesDir = "/usr/share/games/fortunes";

struct Corpus {
  std::string origin;               // what the user named (a path, or "default (…)")
  std::vector<std::int32_t> tokens; // bytes (vocab 256) or token ids < vocab (the engine's type)
  int vocab = 256;
  std::size_t train_size = 0; // tokens [0, train_size) train; the rest validates
  std::vector<std::pair<std::string, std::uint64_t>> files; // sources in order, with byte sizes

  std::size_t validation_size() const { return tokens.size() - train_size; }
};

// The files a corpus path stands for: a regular file itself; a folder's regular files (not
// symlinks, not hidden, not recursive) sorted by name byte-wise. BadInput naming `path` when it is
// missing or a folder holds no file.
std::vector<std::filesystem::path> corpus_files(const std::filesystem::path& path);

// The default corpus: every regular file in kFortunesDir whose name has no '.' (the fortune texts;
// the strfile `.dat` indexes and the `.u8` symlinks are left out), sorted by name byte-wise.
std::vector<std::filesystem::path> default_corpus_files();

// Reads the files' bytes concatenated in the given order (no separator added), vocab 256, and
// splits off the last 5% (train_size = floor(0.95·n)). `origin` names the corpus in errors.
Corpus read_byte_corpus(const std::vector<std::filesystem::path>& files, const std::string& origin);

// Reads a nanoGPT token file: little-endian uint16 ids, no header. BadInput naming the file for an
// odd byte count or an id >= vocab (with its index). Split as read_byte_corpus.
Corpus read_token_file(const std::filesystem::path& path, int vocab);

// BadInput naming the corpus unless it is non-empty and both its training and validation parts
// hold at least ctx + 1 tokens (one window and its next-token target).
void check_corpus(const Corpus& corpus, int ctx);

} // namespace routerscope::io
