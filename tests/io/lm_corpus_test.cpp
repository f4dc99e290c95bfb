#include "io/lm_corpus.h"
#include "tests/io/io_test_helpers.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace routerscope {
namespace {

using io::test_helpers::expect_bad_input;

void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

// Runs a Python script (written to a file, so no shell quoting) with /usr/bin/python3; the test
// fails when the interpreter or its packages are missing.
std::string python(const test::TempDir& dir, const std::string& script,
                   const std::string& args = "") {
  write_file(dir / "oracle.py", script);
  const auto r = test::run_shell("/usr/bin/python3 " + (dir / "oracle.py").string() + " " + args);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  return r.out;
}

TEST(LmCorpus, FolderConcatenatesRegularFilesInNameOrderAndSplitsTheLastFivePercent) {
  test::TempDir dir("corpus");
  std::filesystem::create_directory(dir / "text");
  write_file(dir / "text" / "b.txt", std::string(30, 'b'));
  write_file(dir / "text" / "a.txt", std::string(10, 'a') + "\xff");
  write_file(dir / "text" / ".hidden", "hidden");
  std::filesystem::create_symlink("a.txt", dir / "text" / "link");
  const io::Corpus c = io::read_byte_corpus(io::corpus_files(dir / "text"), "text");
  std::vector<int> expected(41, 'b'); // a.txt then b.txt
  std::fill(expected.begin(), expected.begin() + 10, 'a');
  expected[10] = 0xff; // a byte above 127 stays 255, not a negative char
  EXPECT_EQ(c.tokens, std::vector<std::int32_t>(expected.begin(), expected.end()));
  EXPECT_EQ(c.vocab, 256);
  EXPECT_EQ(c.train_size, 38u); // floor(41 · 0.95) = 38
  EXPECT_EQ(c.validation_size(), 3u);
  ASSERT_EQ(c.files.size(), 2u);
  EXPECT_EQ(c.files[0].second, 11u);
  EXPECT_EQ(c.files[1].second, 30u);
}

TEST(LmCorpus, DefaultCorpusIsTheFortuneTextsInNameOrder) {
  test::TempDir dir("fortunes");
  // Oracle: the rule written again in Python (regular, non-symlink files without a dot).
  const std::string out = python(dir, R"(import os
d = "/usr/share/games/fortunes"
names = sorted(n for n in os.listdir(d) if "." not in n and not n.startswith(".")
               and os.path.isfile(os.path.join(d, n)) and not os.path.islink(os.path.join(d, n)))
print(len(names), sum(os.path.getsize(os.path.join(d, n)) for n in names), names[0], names[-1])
)");
  const auto files = io::default_corpus_files();
  const io::Corpus c = io::read_byte_corpus(files, "default");
  std::ostringstream mine;
  mine << files.size() << " " << c.tokens.size() << " " << files.front().filename().string() << " "
       << files.back().filename().string() << "\n";
  EXPECT_EQ(mine.str(), out);
  EXPECT_GT(c.tokens.size(), 1000000u); // the real package, not a stand-in
}

TEST(LmCorpus, TokenFileMatchesNumpyUint16) {
  test::TempDir dir("tokens");
  // nanoGPT writes np.array(ids, dtype=np.uint16).tofile(path).
  python(dir, R"(import sys, numpy as np
np.array([(i * 7919) % 50257 for i in range(1001)], dtype=np.uint16).tofile(sys.argv[1])
)",
         (dir / "train.bin").string());
  const io::Corpus c = io::read_token_file(dir / "train.bin", 50257);
  ASSERT_EQ(c.tokens.size(), 1001u);
  for (std::size_t i = 0; i < c.tokens.size(); ++i)
    ASSERT_EQ(c.tokens[i], int((i * 7919) % 50257)) << i;
  EXPECT_EQ(c.vocab, 50257);
  EXPECT_EQ(c.train_size, 950u); // floor(1001 · 0.95)
}

TEST(LmCorpus, BadInputNamesTheFile) {
  test::TempDir dir("bad");
  expect_bad_input([&] { io::corpus_files(dir / "missing.txt"); }, {"missing.txt", "no such"});
  std::filesystem::create_directory(dir / "empty");
  expect_bad_input([&] { io::corpus_files(dir / "empty"); }, {"empty", "no regular file"});
  write_file(dir / "zero.txt", "");
  expect_bad_input(
      [&] { io::check_corpus(io::read_byte_corpus({dir / "zero.txt"}, "zero.txt"), 8); },
      {"zero.txt", "empty"});
  write_file(dir / "short.txt", "12345678");
  expect_bad_input(
      [&] { io::check_corpus(io::read_byte_corpus({dir / "short.txt"}, "short.txt"), 8); },
      {"short.txt", "8 bytes", "ctx + 1 = 9"});
  // Long enough as a whole, but the 5% validation part holds no window.
  write_file(dir / "mid.txt", std::string(100, 'x'));
  expect_bad_input([&] { io::check_corpus(io::read_byte_corpus({dir / "mid.txt"}, "mid.txt"), 8); },
                   {"mid.txt", "validation part", "5"});
  EXPECT_NO_THROW(io::check_corpus(io::read_byte_corpus({dir / "mid.txt"}, "mid.txt"), 4));
  write_file(dir / "odd.bin", "abc");
  expect_bad_input([&] { io::read_token_file(dir / "odd.bin", 256); }, {"odd.bin", "even"});
  write_file(dir / "big.bin", std::string("\x01\x00\x00\x01", 4)); // ids 1, 256
  expect_bad_input([&] { io::read_token_file(dir / "big.bin", 256); },
                   {"big.bin", "token 1", "256", "--vocab"});
  expect_bad_input([&] { io::read_token_file(dir / "nope.bin", 256); }, {"nope.bin"});
}

} // namespace
} // namespace routerscope
