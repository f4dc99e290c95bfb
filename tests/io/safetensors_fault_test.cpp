// Headers found by the mutation campaign (issue 15, findings 2 and 11): what the reference reader
// (the safetensors crate, serde_json) rejects must be rejected here with a message naming the
// file, and nothing may exhaust the stack or echo an unbounded header.
#include "core/error.h"
#include "io/safetensors.h"
#include "io/tensor_decode.h"
#include "tests/io/io_test_helpers.h"
#include "tests/support/test_support.h"

#include <fstream>
#include <gtest/gtest.h>
#include <thread>

namespace routerscope::io {
namespace {

namespace fs = std::filesystem;
using test_helpers::expect_bad_input;

std::string le64(std::uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i)
    s[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xffu);
  return s;
}

fs::path write_st(const fs::path& p, const std::string& header, const std::string& data = "") {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  const std::string bytes = le64(header.size()) + header + data;
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return p;
}

const std::string kTensor = R"("w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})";

class SafetensorsFaults : public ::testing::Test {
protected:
  test::TempDir dir{"stf"};
  void expect_rejected(const std::string& header, std::vector<std::string> needles) {
    const fs::path p = write_st(dir / "bad.safetensors", header, std::string(4, '\0'));
    needles.push_back(p.string());
    expect_bad_input([&] { SafetensorsFile::open(p); }, needles);
  }
};

TEST_F(SafetensorsFaults, ControlFileWithTheSameTensorOpens) {
  // The rejections below differ from this header by the defect alone.
  const fs::path p = write_st(dir / "ok.safetensors", "{" + kTensor + "}  ", std::string(4, '\0'));
  auto f = SafetensorsFile::open(p);
  ASSERT_EQ(f->tensors().size(), 1u);
  EXPECT_EQ(f->tensors()[0].name, "w");
}

TEST_F(SafetensorsFaults, RejectsDeepNestingWithoutEchoingIt) {
  for (int depth : {65, 20000, 50000}) {
    const std::string shape =
        std::string(std::size_t(depth), '[') + std::string(std::size_t(depth), ']');
    const std::string header =
        R"({"w":{"dtype":"F32","shape":)" + shape + R"(,"data_offsets":[0,4]}})";
    const fs::path p = write_st(dir / "deep.safetensors", header, std::string(4, '\0'));
    try {
      SafetensorsFile::open(p);
      ADD_FAILURE() << "depth " << depth << " accepted";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_EQ(e.kind(), ErrorKind::BadInput);
      EXPECT_NE(m.find("deeper than 64"), std::string::npos) << m;
      EXPECT_NE(m.find(p.string()), std::string::npos) << m;
      EXPECT_LT(m.size(), 400u) << "message echoes the header";
    }
  }
}

TEST_F(SafetensorsFaults, ShapeInMessagesIsCutShort) {
  std::string shape = "[1";
  for (int i = 0; i < 5000; ++i)
    shape += ",1";
  shape += "]";
  try {
    SafetensorsFile::open(
        write_st(dir / "long.safetensors",
                 R"({"w":{"dtype":"F32","shape":)" + shape + R"(,"data_offsets":[0,8]}})",
                 std::string(8, '\0')));
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_LT(std::string(e.what()).size(), 400u) << e.what();
    EXPECT_NE(std::string(e.what()).find("needs 4"), std::string::npos) << e.what();
  }
}

TEST_F(SafetensorsFaults, RejectsNulPaddingAndAByteOrderMark) {
  expect_rejected("{" + kTensor + "}" + std::string(6, '\0'), {"NUL byte", "at byte"});
  expect_rejected("\xEF\xBB\xBF{" + kTensor + "}", {"byte-order mark"});
}

TEST_F(SafetensorsFaults, RejectsLoneSurrogatesAndNulInNames) {
  expect_rejected(R"({"a\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                  {"lone UTF-16 high surrogate", "ud800"});
  expect_rejected(R"({"a\udc00":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                  {"lone UTF-16 low surrogate"});
  expect_rejected(R"({"a\ud800\u0041":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                  {"lone UTF-16 high surrogate"});
  expect_rejected(R"({"a\u0000b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                  {"tensor name 'a", "NUL character"});
}

TEST_F(SafetensorsFaults, AcceptsAValidSurrogatePair) {
  // U+1F600 as the pair \ud83d\ude00 is valid JSON and valid for the reference reader.
  const fs::path p =
      write_st(dir / "pair.safetensors",
               R"({"a\ud83d\ude00":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
               std::string(4, '\0'));
  auto f = SafetensorsFile::open(p);
  ASSERT_EQ(f->tensors().size(), 1u);
  EXPECT_EQ(f->tensors()[0].name, "a\xF0\x9F\x98\x80");
}

// Finding 6: a checkpoint truncated by another process after it was memory-mapped. Reading the
// vanished pages raises SIGBUS; it must end in BadInput naming the file and the cause, and a
// later read of an intact file (in this thread and in others) must work as before.
TEST(MappedReads, TruncatedAfterMappingIsBadInputNamingTheFile) {
  test::TempDir dir("sigbus");
  const int rows = 64, cols = 1024; // 256 KiB of F32: many pages
  std::string data(size_t(rows) * cols * 4, '\0');
  for (size_t i = 0; i < data.size(); i += 4)
    data[i + 3] = 0x3f; // 0x3f000000 = 0.5f
  const std::string header = R"({"w":{"dtype":"F32","shape":[64,1024],"data_offsets":[0,262144]}})";
  const fs::path p = write_st(dir / "model.safetensors", header, data);
  const fs::path intact = write_st(dir / "intact.safetensors", header, data);
  TensorStore store = TensorStore::open(p);
  TensorStore other = TensorStore::open(intact);
  // Another process cuts the file to its header: every data page of the map is gone.
  const auto cut = test::run_shell("truncate -s " + std::to_string(8 + header.size()) + " " +
                                   test::shell_quote(p.string()));
  ASSERT_EQ(cut.exit_code, 0);
  expect_bad_input([&] { read_matrix(store, "w"); },
                   {p.string(), "tensor w", "bus error", "truncated"});
  // The guard is per read: intact files still decode, here and in another thread.
  EXPECT_EQ(read_matrix(other, "w")(63, 1023), 0.5f);
  std::thread worker([&] {
    EXPECT_EQ(read_matrix(other, "w")(0, 0), 0.5f);
    expect_bad_input([&] { read_matrix(store, "w"); }, {p.string(), "bus error"});
  });
  worker.join();
}

} // namespace
} // namespace routerscope::io
