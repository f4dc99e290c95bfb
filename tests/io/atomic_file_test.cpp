// Files that replace others: the destination changes only when the new content is complete, and
// no temporary file is left behind either way.
#include "core/error.h"
#include "io/atomic_file.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace routerscope {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int entries(const fs::path& dir) {
  return int(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

TEST(AtomicFile, ReplacesOnlyOnCommitAndLeavesNoTemporary) {
  test::TempDir dir("atomic");
  const fs::path p = dir / "out.txt";
  std::ofstream(p) << "old";
  {
    io::AtomicFile f(p);
    f.write("new content", 11);
    EXPECT_EQ(read_all(p), "old"); // not yet committed
  }                                // destroyed without commit
  EXPECT_EQ(read_all(p), "old");
  EXPECT_EQ(entries(dir.path()), 1);
  io::AtomicFile f(p);
  f.write("new content", 11);
  f.commit();
  EXPECT_EQ(read_all(p), "new content");
  EXPECT_EQ(entries(dir.path()), 1);
}

TEST(WriteReplacing, AFailedWriteKeepsTheOldFileAndACompleteOneReplacesIt) {
  test::TempDir dir("replacing");
  const fs::path p = dir / "run.h5";
  std::ofstream(p) << "previous record";
  EXPECT_THROW(io::write_replacing(p,
                                   [](const fs::path& temp) {
                                     std::ofstream(temp) << "half a rec";
                                     throw std::runtime_error("disk full");
                                   }),
               std::runtime_error);
  EXPECT_EQ(read_all(p), "previous record");
  EXPECT_EQ(entries(dir.path()), 1);
  fs::path seen;
  io::write_replacing(p, [&](const fs::path& temp) {
    seen = temp;
    EXPECT_NE(temp, p);
    std::ofstream(temp) << "new record";
  });
  EXPECT_EQ(read_all(p), "new record");
  EXPECT_FALSE(fs::exists(seen));
  EXPECT_EQ(entries(dir.path()), 1);
}

// Oracle: the source's bytes (with NUL and high bytes), the copy's own bytes read back.
TEST(CopyReplacing, CopiesEveryByteOverAnOldFileAndNamesAnUnreadableSource) {
  test::TempDir dir("copy");
  std::string bytes = "HDF\x89\r\n";
  bytes.push_back('\0');
  for (int i = 0; i < 5000; ++i)
    bytes.push_back(char(i * 37));
  std::ofstream(dir / "run.h5", std::ios::binary) << bytes;
  std::ofstream(dir / "old.h5", std::ios::binary) << "an older export";
  io::copy_replacing(dir / "run.h5", dir / "old.h5");
  EXPECT_EQ(test::read_text(dir / "old.h5"), bytes);
  io::copy_replacing(dir / "run.h5", dir / "run.h5"); // over itself: untouched
  EXPECT_EQ(test::read_text(dir / "run.h5"), bytes);
  EXPECT_EQ(entries(dir.path()), 2); // no temporary left
  const std::string msg =
      test::bad_input_message([&] { io::copy_replacing(dir / "missing.h5", dir / "x.h5"); });
  EXPECT_NE(msg.find("missing.h5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dir / "x.h5"));
}

} // namespace
} // namespace routerscope
