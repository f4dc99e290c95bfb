// export-router under Ctrl-C (issue 15, finding 7): cancellation anywhere leaves the earlier export
// (or no folder) and never a partial one; an unrelated existing folder is not replaced.
#include "core/error.h"
#include "io/checkpoint.h"
#include "io/router_export.h"
#include "tests/support/family_checkpoint.h"
#include "tests/support/test_support.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <map>
#include <sstream>

namespace routerscope::test {
namespace {

namespace fs = std::filesystem;

// Every regular file under `dir` (symlinks as their target) with its bytes.
std::map<std::string, std::string> contents(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const auto rel = fs::relative(e.path(), dir).string();
    if (e.is_symlink()) {
      out[rel] = "-> " + fs::read_symlink(e.path()).string();
    } else if (e.is_regular_file()) {
      std::ifstream in(e.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      out[rel] = ss.str();
    }
  }
  return out;
}

std::size_t partial_folders(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    n += e.path().filename().string().find(".partial-") != std::string::npos;
  return n;
}

TEST(RouterExportFaults, CancelAtAnyPointLeavesTheEarlierExportUntouched) {
  TempDir dir("export-cancel");
  FamilySpec spec;
  spec.family = "olmoe";
  spec.layers = 2;
  spec.experts = 4;
  spec.sharded = true;
  write_family_checkpoint(dir / "src", spec);
  auto model = io::open_checkpoint(dir / "src");
  io::RouterExportOptions first;
  first.mpi.c_prime = 2.0;
  io::export_mpi_routers(*model, dir / "out", first);
  const auto before = contents(dir / "out");
  ASSERT_TRUE(before.count("routerscope_export.json"));

  // Count the cancellation points of one export, then cancel at each of them in turn.
  io::RouterExportOptions second = first;
  second.mpi.c_prime = 5.0; // a different export: any partial write would show
  second.copy_unchanged = true;
  int points = 0;
  {
    std::atomic<bool> never{false};
    Progress counting;
    counting.cancel = &never;
    counting.report = [&](double, const std::string&) { ++points; };
    io::export_mpi_routers(*model, dir / "probe", second, counting);
  }
  ASSERT_GT(points, 2);
  for (int at = 0; at < points; ++at) {
    std::atomic<bool> cancel{false};
    int calls = 0;
    Progress p;
    p.cancel = &cancel;
    p.report = [&](double, const std::string&) {
      if (calls++ == at)
        cancel = true;
    };
    try {
      io::export_mpi_routers(*model, dir / "out", second, p);
      ADD_FAILURE() << "cancel after report " << at << " did not stop the export";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Cancelled) << e.what();
    }
    EXPECT_EQ(contents(dir / "out"), before) << "cancelled after report " << at;
    EXPECT_EQ(partial_folders(dir.path()), 0u);
  }
  // Completed, the second export replaces the first as a whole.
  io::export_mpi_routers(*model, dir / "out", second);
  EXPECT_NE(contents(dir / "out"), before);
  EXPECT_EQ(contents(dir / "out"), contents(dir / "probe"));
}

TEST(RouterExportFaults, RefusesToReplaceAFolderThatIsNotAnExport) {
  TempDir dir("export-foreign");
  FamilySpec spec;
  spec.family = "olmoe";
  write_family_checkpoint(dir / "src", spec);
  fs::create_directories(dir / "mine");
  std::ofstream(dir / "mine" / "notes.txt") << "keep me";
  auto model = io::open_checkpoint(dir / "src");
  try {
    io::export_mpi_routers(*model, dir / "mine", {});
    ADD_FAILURE() << "replaced a folder that is not an export";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("not an earlier export"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::exists(dir / "mine" / "notes.txt"));
}

} // namespace
} // namespace routerscope::test
