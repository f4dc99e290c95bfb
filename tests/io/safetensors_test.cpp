// The safetensors reader against files crafted byte by byte: every defect the reference reader
// rejects, duplicate names, valid edge cases, and sharded checkpoints.
#include "core/error.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "tests/support/test_support.h"

#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace routerscope::io {
namespace {

namespace fs = std::filesystem;

// Writes raw bytes to a file.
void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << p;
}

// A little-endian u64 as 8 bytes.
std::string le64(std::uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i)
    s[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xffu);
  return s;
}

// A safetensors file from literal header text (unpadded, so any defect can be written) and data.
std::string st_file(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

// One header entry as JSON text.
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":" + offsets + "}";
}

// Runs `f`, expecting Error(BadInput) whose message contains every needle.
void expect_bad_input(const std::function<void()>& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "expected BadInput containing '" << needles.front() << "', nothing thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "message '" << e.what() << "' lacks '" << n << "'";
  }
}

class SafetensorsReader : public ::testing::Test {
protected:
  test::TempDir dir{"st"};
  fs::path file(const std::string& name = "x.safetensors") const { return dir / name; }

  // Writes a crafted file and expects opening it to fail, naming the file and the needles.
  void expect_rejected(const std::string& bytes, std::vector<std::string> needles) {
    const fs::path p = file("bad.safetensors");
    write_bytes(p, bytes);
    needles.push_back(p.string());
    expect_bad_input([&] { SafetensorsFile::open(p); }, needles);
  }
};

TEST_F(SafetensorsReader, RejectsFileShorterThanEightBytes) {
  expect_rejected(std::string("\x02\0\0\0", 4), {"4 bytes"});
  expect_rejected("", {"0 bytes"});
}

TEST_F(SafetensorsReader, RejectsHeaderLengthAboveLimit) {
  expect_rejected(le64(100'000'001) + "{}", {"100000001", "exceeds"});
}

TEST_F(SafetensorsReader, RejectsHeaderBeyondFileEnd) {
  expect_rejected(le64(100) + "{}", {"[8, 108]", "beyond"});
}

TEST_F(SafetensorsReader, RejectsHeaderThatIsNotUtf8) {
  // A key with a lone continuation byte, and an overlong encoding of '/'.
  expect_rejected(st_file("{\"a\x80\":1}", ""), {"UTF-8", "byte 11"});
  expect_rejected(st_file("{\"\xc0\xaf\":1}", ""), {"UTF-8"});
  // A UTF-16 surrogate encoded in UTF-8 is not valid UTF-8 either.
  expect_rejected(st_file("{\"\xed\xa0\x80\":1}", ""), {"UTF-8"});
}

TEST_F(SafetensorsReader, RejectsInvalidJsonAndNonObjectHeader) {
  expect_rejected(st_file("{\"a\":", ""), {"not valid JSON"});
  expect_rejected(st_file("{} x", ""), {"not valid JSON"});
  expect_rejected(st_file("[]", ""), {"expected a JSON object"});
  expect_rejected(st_file("{\"t\":5}", ""), {"tensor 't'", "expected an object"});
}

TEST_F(SafetensorsReader, RejectsUnknownDtype) {
  expect_rejected(st_file("{" + entry("w", "F12", "[1]", "[0,4]") + "}", std::string(4, '\0')),
                  {"tensor 'w'", "unknown dtype 'F12'"});
}

TEST_F(SafetensorsReader, RejectsNegativeAndNonIntegerDimensions) {
  expect_rejected(st_file("{" + entry("w", "F32", "[-1,2]", "[0,0]") + "}", ""),
                  {"tensor 'w'", "negative dimension -1"});
  expect_rejected(st_file("{" + entry("w", "F32", "[1.5]", "[0,4]") + "}", std::string(4, '\0')),
                  {"tensor 'w'", "non-integer"});
  expect_rejected(st_file("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,0]}}", ""),
                  {"tensor 'w'", "shape"});
}

TEST_F(SafetensorsReader, RejectsBadOrMissingDataOffsets) {
  const std::string d4(4, '\0');
  expect_rejected(st_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", d4),
                  {"tensor 'w'", "data_offsets"});
  expect_rejected(st_file("{" + entry("w", "F32", "[1]", "[0,4,8]") + "}", d4),
                  {"tensor 'w'", "[0,4,8]"});
  expect_rejected(st_file("{" + entry("w", "F32", "[1]", "[-4,0]") + "}", d4),
                  {"tensor 'w'", "non-negative"});
  expect_rejected(st_file("{" + entry("w", "F32", "[1]", "[\"0\",4]") + "}", d4),
                  {"tensor 'w'", "non-negative"});
}

TEST_F(SafetensorsReader, RejectsEndBeforeBegin) {
  expect_rejected(st_file("{" + entry("x", "F32", "[0]", "[10,4]") + "}", std::string(10, '\0')),
                  {"tensor 'x' data_offsets [10, 4] end before begin"});
}

TEST_F(SafetensorsReader, RejectsGapBetweenTensors) {
  // a [0, 4), b [8, 12): 4 bytes between them.
  const std::string h =
      "{" + entry("a", "F32", "[1]", "[0,4]") + "," + entry("b", "F32", "[1]", "[8,12]") + "}";
  expect_rejected(st_file(h, std::string(12, '\0')), {"tensor 'b'", "[8, 12]", "gap of 4"});
}

TEST_F(SafetensorsReader, RejectsDataNotStartingAtZero) {
  const std::string h = "{" + entry("a", "F32", "[1]", "[4,8]") + "}";
  expect_rejected(st_file(h, std::string(8, '\0')), {"tensor 'a'", "[4, 8]", "gap"});
}

TEST_F(SafetensorsReader, RejectsOverlappingTensors) {
  const std::string h =
      "{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[1]", "[4,8]") + "}";
  expect_rejected(st_file(h, std::string(8, '\0')), {"tensor 'b'", "[4, 8]", "overlap", "'a'"});
}

TEST_F(SafetensorsReader, RejectsShapeProductOverflow) {
  // 2^32 * 2^32 = 2^64 does not fit; the offsets are irrelevant.
  const std::string h = "{" + entry("big", "U8", "[4294967296,4294967296]", "[0,0]") + "}";
  expect_rejected(st_file(h, ""), {"tensor 'big'", "overflow"});
  // 2^62 elements of 64 bits: the element count fits, the byte size does not.
  const std::string h2 = "{" + entry("big", "F64", "[4611686018427387904]", "[0,0]") + "}";
  expect_rejected(st_file(h2, ""), {"tensor 'big'", "overflow"});
}

TEST_F(SafetensorsReader, RejectsByteSizeThatDoesNotMatchShape) {
  // F32 [3] needs 12 bytes, the offsets give 8.
  expect_rejected(st_file("{" + entry("w", "F32", "[3]", "[0,8]") + "}", std::string(8, '\0')),
                  {"tensor 'w'", "[0, 8]", "8 bytes", "needs 12"});
  // Sub-byte: F4 [3] is 12 bits, rounded up to 2 bytes; 1 byte is wrong.
  expect_rejected(st_file("{" + entry("q", "F4", "[3]", "[0,1]") + "}", std::string(1, '\0')),
                  {"tensor 'q'", "needs 2"});
}

TEST_F(SafetensorsReader, AcceptsSubByteDtypesRoundedUpToBytes) {
  write_bytes(file(), st_file("{" + entry("q", "F4", "[3]", "[0,2]") + "," +
                                  entry("r", "F6_E2M3", "[5]", "[2,6]") + "}",
                              std::string(6, '\x11')));
  auto f = SafetensorsFile::open(file());
  ASSERT_NE(f->find("r"), nullptr);
  EXPECT_EQ(f->bytes(*f->find("q")).size(), 2u); // ceil(3 * 4 / 8)
  EXPECT_EQ(f->bytes(*f->find("r")).size(), 4u); // ceil(5 * 6 / 8)
}

TEST_F(SafetensorsReader, RejectsTrailingBytes) {
  expect_rejected(st_file("{" + entry("w", "F32", "[1]", "[0,4]") + "}", std::string(6, '\0')),
                  {"[0, 4]", "6 data bytes", "2 trailing"});
}

TEST_F(SafetensorsReader, RejectsMissingBytes) {
  expect_rejected(st_file("{" + entry("w", "F32", "[2]", "[0,8]") + "}", std::string(5, '\0')),
                  {"[0, 8]", "5 data bytes", "3 bytes missing"});
}

TEST_F(SafetensorsReader, RejectsDuplicateTensorNames) {
  const std::string h =
      "{" + entry("w", "F32", "[1]", "[0,4]") + "," + entry("w", "F32", "[1]", "[4,8]") + "}";
  expect_rejected(st_file(h, std::string(8, '\0')), {"duplicate", "'w'"});
}

TEST_F(SafetensorsReader, RejectsMetadataThatIsNotStringToString) {
  const std::string t = entry("w", "F32", "[1]", "[0,4]");
  expect_rejected(st_file("{\"__metadata__\":{\"format\":3}," + t + "}", std::string(4, '\0')),
                  {"__metadata__", "'format'", "expected a string"});
  expect_rejected(st_file("{\"__metadata__\":[\"pt\"]," + t + "}", std::string(4, '\0')),
                  {"__metadata__", "expected an object"});
}

TEST_F(SafetensorsReader, OpensValidEdgeCases) {
  // Scalar F32 (4 bytes), zero-size tensor, whitespace around and inside the JSON, metadata, and
  // a header length (N = odd) that leaves every tensor unaligned.
  const float pi = 3.25f, e = -1.5f;
  std::string data(4, '\0');
  std::memcpy(data.data(), &pi, 4);
  std::string two(8, '\0');
  std::memcpy(two.data(), &e, 4);
  std::memcpy(two.data() + 4, &pi, 4);
  std::string h = " \n\t{ \"__metadata__\" : {\"format\":\"pt\"}, " +
                  entry("scalar", "F32", "[]", "[0, 4]") + " , " +
                  entry("empty", "BF16", "[0, 7]", "[4,4]") + "," +
                  entry("vec", "F32", "[2]", "[4,12]") + "}\n  ";
  if (h.size() % 2 == 0)
    h += " ";
  write_bytes(file(), st_file(h, data + two));
  auto f = SafetensorsFile::open(file());
  EXPECT_EQ(f->metadata().at("format"), "pt");
  ASSERT_EQ(f->tensors().size(), 3u);
  EXPECT_EQ(f->tensors()[0].name, "empty"); // sorted by name
  EXPECT_EQ(f->tensors()[1].name, "scalar");
  const TensorInfo* s = f->find("scalar");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->shape.empty());
  EXPECT_EQ(s->numel(), 1);
  float got;
  std::memcpy(&got, f->bytes(*s).data(), 4);
  EXPECT_EQ(got, pi);
  const TensorInfo* z = f->find("empty");
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->numel(), 0);
  EXPECT_EQ(f->bytes(*z).size(), 0u);
  const TensorInfo* v = f->find("vec");
  ASSERT_NE(v, nullptr);
  float pair[2];
  std::memcpy(pair, f->bytes(*v).data(), 8);
  EXPECT_EQ(pair[0], e);
  EXPECT_EQ(pair[1], pi);
  EXPECT_EQ(f->find("nope"), nullptr);
  EXPECT_EQ(f->file_size(), 8 + h.size() + 12);
}

TEST_F(SafetensorsReader, OpensEmptyHeaderObject) {
  write_bytes(file(), st_file("{}", ""));
  auto f = SafetensorsFile::open(file());
  EXPECT_TRUE(f->tensors().empty());
}

TEST_F(SafetensorsReader, ReadsWhatTheWriterWrote) {
  SafetensorsWriter w;
  const std::vector<float> a{1.0f, -2.0f, 0.5f, 8.0f, 3.0f, -0.25f};
  w.add("a", DType::F32, {2, 3}, a);
  w.add_raw("b", DType::U8, {3}, {std::byte{7}, std::byte{8}, std::byte{9}});
  w.set_metadata("k", "v");
  w.write(file());
  auto f = SafetensorsFile::open(file());
  const TensorInfo* t = f->find("a");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::F32);
  EXPECT_EQ(t->shape, (std::vector<std::int64_t>{2, 3}));
  std::vector<float> back(6);
  std::memcpy(back.data(), f->bytes(*t).data(), 24);
  EXPECT_EQ(back, a);
  auto b = f->bytes(*f->find("b"));
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(std::to_integer<int>(b[2]), 9);
  EXPECT_EQ(f->metadata().at("k"), "v");
}

TEST_F(SafetensorsReader, OpeningReadsHeadersOnlyOfSparseHugeFile) {
  // A valid header describing a 4 GiB U8 tensor, then a sparse hole of 4 GiB: opening must succeed
  // without reading (or faulting in) the data region.
  const std::uint64_t big = 4ull << 30;
  const std::string h =
      "{" +
      entry("huge", "U8", "[" + std::to_string(big) + "]", "[0," + std::to_string(big) + "]") + "}";
  const std::string head = st_file(h, "");
  write_bytes(file(), head);
  ASSERT_EQ(::truncate(file().c_str(), static_cast<off_t>(head.size() + big)), 0);
  struct stat st {};
  ASSERT_EQ(::stat(file().c_str(), &st), 0);
  if (static_cast<std::uint64_t>(st.st_blocks) * 512 > (64u << 20))
    GTEST_SKIP() << "file system does not keep sparse files sparse";
  rusage before{}, after{};
  ::getrusage(RUSAGE_SELF, &before);
  auto f = SafetensorsFile::open(file());
  ::getrusage(RUSAGE_SELF, &after);
  const TensorInfo* t = f->find("huge");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(static_cast<std::uint64_t>(t->numel()), big);
  EXPECT_EQ(f->bytes(*t).size(), big);
  EXPECT_EQ(f->file_size(), head.size() + big);
  // Peak resident set (KiB) must not grow by anything near the tensor size.
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 64 * 1024);
}

// ---------------------------------------------------------------------------------------------
// TensorStore: single files, folders and sharded indexes.

class TensorStoreOpen : public ::testing::Test {
protected:
  test::TempDir dir{"store"};

  // Writes a shard holding F32 tensors named `names`, each [2] = {i, i + 0.5}.
  void shard(const std::string& file, const std::vector<std::string>& names, float base = 0) {
    SafetensorsWriter w;
    for (std::size_t i = 0; i < names.size(); ++i) {
      const float v[2] = {base + static_cast<float>(i), base + static_cast<float>(i) + 0.5f};
      w.add(names[i], DType::F32, {2}, v);
    }
    w.write(dir / file);
  }
  void index(const std::string& file, const std::string& weight_map_body) {
    write_bytes(dir / file,
                "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {" + weight_map_body + "}}");
  }
};

TEST_F(TensorStoreOpen, OpensShardedIndexFromFolderAndFile) {
  shard("model-00001-of-00002.safetensors", {"a", "b"}, 0);
  shard("model-00002-of-00002.safetensors", {"c"}, 10);
  index("model.safetensors.index.json", "\"a\": \"model-00001-of-00002.safetensors\", "
                                        "\"b\": \"model-00001-of-00002.safetensors\", "
                                        "\"c\": \"model-00002-of-00002.safetensors\"");
  for (const fs::path& p : {dir.path(), dir / "model.safetensors.index.json"}) {
    TensorStore s = TensorStore::open(p);
    EXPECT_EQ(s.root(), dir.path());
    EXPECT_EQ(s.opened(), dir / "model.safetensors.index.json");
    EXPECT_EQ(s.names(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(s.file_count(), 2u);
    EXPECT_EQ(s.file_of("c"), dir / "model-00002-of-00002.safetensors");
    EXPECT_EQ(s.bytes_on_disk(), fs::file_size(dir / "model-00001-of-00002.safetensors") +
                                     fs::file_size(dir / "model-00002-of-00002.safetensors"));
    float c[2];
    std::memcpy(c, s.bytes("c").data(), 8);
    EXPECT_EQ(c[0], 10.0f);
    EXPECT_EQ(c[1], 10.5f);
    EXPECT_TRUE(s.contains("b"));
    EXPECT_FALSE(s.contains("d"));
    expect_bad_input([&] { s.info("d"); }, {"tensor d not found", "index.json"});
  }
}

TEST_F(TensorStoreOpen, OpensFolderWithSingleFile) {
  shard("weights.safetensors", {"w"});
  TensorStore s = TensorStore::open(dir.path());
  EXPECT_EQ(s.opened(), dir / "weights.safetensors");
  EXPECT_EQ(s.names(), std::vector<std::string>{"w"});
  EXPECT_EQ(s.info("w").shape, std::vector<std::int64_t>{2});
}

TEST_F(TensorStoreOpen, PrefersModelSafetensorsAndOpensSingleFilePath) {
  shard("model.safetensors", {"m"});
  shard("other.safetensors", {"o"});
  TensorStore s = TensorStore::open(dir.path());
  EXPECT_EQ(s.names(), std::vector<std::string>{"m"});
  TensorStore o = TensorStore::open(dir / "other.safetensors");
  EXPECT_EQ(o.names(), std::vector<std::string>{"o"});
  EXPECT_EQ(o.root(), dir.path());
}

TEST_F(TensorStoreOpen, RejectsFolderWithSeveralFilesAndNoIndex) {
  shard("one.safetensors", {"a"});
  shard("two.safetensors", {"b"});
  expect_bad_input([&] { TensorStore::open(dir.path()); },
                   {dir.path().string(), "several", "one.safetensors", "two.safetensors"});
}

TEST_F(TensorStoreOpen, RejectsEmptyFolderAndMissingPath) {
  expect_bad_input([&] { TensorStore::open(dir.path()); },
                   {dir.path().string(), "no .safetensors"});
  expect_bad_input([&] { TensorStore::open(dir / "nothing"); }, {"nothing", "no such"});
}

TEST_F(TensorStoreOpen, RejectsMissingShard) {
  shard("model-00001-of-00002.safetensors", {"a"});
  index("model.safetensors.index.json", "\"a\": \"model-00001-of-00002.safetensors\", "
                                        "\"b\": \"model-00002-of-00002.safetensors\"");
  expect_bad_input([&] { TensorStore::open(dir.path()); },
                   {"model.safetensors.index.json", "model-00002-of-00002.safetensors",
                    "does not exist", "'b'"});
}

TEST_F(TensorStoreOpen, RejectsTensorMappedToWrongShard) {
  shard("s1.safetensors", {"a"});
  shard("s2.safetensors", {"b"});
  index("model.safetensors.index.json", "\"a\": \"s2.safetensors\", \"b\": \"s2.safetensors\"");
  // s1 is never mapped so never opened; 'a' is not in s2.
  expect_bad_input([&] { TensorStore::open(dir.path()); },
                   {"index.json", "tensor 'a'", "s2.safetensors", "does not contain"});
}

TEST_F(TensorStoreOpen, RejectsTensorStoredInTwoShards) {
  shard("s1.safetensors", {"a", "x"});
  shard("s2.safetensors", {"b", "x"});
  index("model.safetensors.index.json",
        "\"a\": \"s1.safetensors\", \"b\": \"s2.safetensors\", \"x\": \"s1.safetensors\"");
  expect_bad_input([&] { TensorStore::open(dir.path()); },
                   {"tensor 'x'", "two shards", "s1.safetensors", "s2.safetensors"});
}

TEST_F(TensorStoreOpen, RejectsShardTensorMissingFromWeightMap) {
  shard("s1.safetensors", {"a", "extra"});
  index("model.safetensors.index.json", "\"a\": \"s1.safetensors\"");
  expect_bad_input([&] { TensorStore::open(dir.path()); },
                   {"tensor 'extra'", "s1.safetensors", "missing from the weight_map"});
}

TEST_F(TensorStoreOpen, RejectsDuplicateNameInWeightMap) {
  shard("s1.safetensors", {"a"});
  shard("s2.safetensors", {"b"});
  index("model.safetensors.index.json",
        "\"a\": \"s1.safetensors\", \"b\": \"s2.safetensors\", \"a\": \"s2.safetensors\"");
  expect_bad_input([&] { TensorStore::open(dir.path()); }, {"index.json", "duplicate", "'a'"});
}

TEST_F(TensorStoreOpen, RejectsMalformedIndex) {
  shard("s1.safetensors", {"a"});
  write_bytes(dir / "model.safetensors.index.json", "{\"metadata\": {}}");
  expect_bad_input([&] { TensorStore::open(dir.path()); }, {"index.json", "weight_map"});
  write_bytes(dir / "model.safetensors.index.json", "{\"weight_map\": {\"a\": 3}}");
  expect_bad_input([&] { TensorStore::open(dir.path()); }, {"index.json", "'a'", "shard"});
}

TEST_F(TensorStoreOpen, ReportsBadShardByItsOwnName) {
  write_bytes(dir / "s1.safetensors",
              st_file("{" + entry("x", "F32", "[0]", "[10,4]") + "}", std::string(10, '\0')));
  index("model.safetensors.index.json", "\"x\": \"s1.safetensors\"");
  expect_bad_input([&] { TensorStore::open(dir.path()); },
                   {"s1.safetensors: tensor 'x' data_offsets [10, 4] end before begin"});
}

} // namespace
} // namespace routerscope::io
