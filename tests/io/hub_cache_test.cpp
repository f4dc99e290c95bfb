// The Hugging Face cache lookup against cache trees built in the test the way huggingface_hub
// lays them out (refs, snapshots of relative symlinks into blobs/). Oracle: the tree itself —
// which snapshot each ref names and which folders exist.
#include "core/error.h"
#include "io/hub_cache.h"
#include "tests/support/hub_fixture.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>

#include <fstream>

namespace routerscope::test {
namespace {

namespace fs = std::filesystem;

const std::string kCommitA = "0123456789abcdef0123456789abcdef01234567";
const std::string kCommitB = "fedcba9876543210fedcba9876543210fedcba98";

// A source folder with a config and a (fake) weight file.
fs::path make_source(const TempDir& dir, const std::string& tag) {
  const fs::path src = dir / ("src-" + tag);
  fs::create_directories(src);
  std::ofstream(src / "config.json") << "{\"tag\": \"" << tag << "\"}";
  std::ofstream(src / "model.safetensors") << tag;
  return src;
}

TEST(HubCache, FolderNamesRoundTripAsTheHubSpellsThem) {
  EXPECT_EQ(io::hub_folder_name("allenai/OLMoE-1B-7B-0924"), "models--allenai--OLMoE-1B-7B-0924");
  EXPECT_EQ(io::hub_repo_id("models--allenai--OLMoE-1B-7B-0924"), "allenai/OLMoE-1B-7B-0924");
  EXPECT_EQ(io::hub_repo_id("models--Qwen--Qwen1.5-MoE-A2.7B"), "Qwen/Qwen1.5-MoE-A2.7B");
}

TEST(HubCache, RepoIdResolvesToTheSnapshotItsRefNames) {
  TempDir dir("hub");
  const fs::path cache = dir / "cache";
  const fs::path a = add_hub_snapshot(cache, "org/model", kCommitA, make_source(dir, "a"));
  const fs::path b =
      add_hub_snapshot(cache, "org/model", kCommitB, make_source(dir, "b"), {"v2", "refs/pr/1"});
  ScopedEnv env(
      {{"HF_HUB_CACHE", cache.string()}, {"HF_HOME", ""}, {"HOME", ""}, {"XDG_CACHE_HOME", ""}});
  EXPECT_EQ(fs::path(io::resolve_model_path("org/model")), a);
  EXPECT_EQ(fs::path(io::resolve_model_path("org/model@main")), a);
  EXPECT_EQ(fs::path(io::resolve_model_path("org/model@v2")), b);
  EXPECT_EQ(fs::path(io::resolve_model_path("org/model@refs/pr/1")), b);
  EXPECT_EQ(fs::path(io::resolve_model_path("org/model@" + kCommitA)), a); // a commit hash
  // The snapshot's files are symlinks into blobs/ and read through.
  std::ifstream in(a / "model.safetensors");
  std::string text;
  in >> text;
  EXPECT_EQ(text, "a");
  // A models--… folder opens at refs/main; a snapshot path is used as given.
  EXPECT_EQ(fs::path(io::resolve_model_path((cache / "models--org--model").string())), a);
  EXPECT_EQ(fs::path(io::resolve_model_path((cache / "models--org--model/").string())), a);
  EXPECT_EQ(io::resolve_model_path(b.string()), b.string());
  // An unknown revision names the folder and what snapshots/ holds.
  const std::string e = test::bad_input_message([&] { io::resolve_model_path("org/model@v9"); });
  EXPECT_NE(e.find("v9"), std::string::npos) << e;
  EXPECT_NE(e.find("snapshots"), std::string::npos) << e;
  EXPECT_NE(e.find(kCommitA), std::string::npos) << e;
  EXPECT_NE(e.find(kCommitB), std::string::npos) << e;
}

TEST(HubCache, CachesAreSearchedInOrderHfHubCacheHfHomeThenHome) {
  TempDir dir("hubord");
  const fs::path hub_cache = dir / "hub-cache", hf_home = dir / "hf-home", home = dir / "home";
  const fs::path home_cache = home / ".cache" / "huggingface" / "hub";
  const fs::path in_home =
      add_hub_snapshot(home_cache, "o/only-home", kCommitA, make_source(dir, "h"));
  const fs::path in_hf_home =
      add_hub_snapshot(hf_home / "hub", "o/both", kCommitA, make_source(dir, "x"));
  const fs::path in_hub_cache =
      add_hub_snapshot(hub_cache, "o/both", kCommitB, make_source(dir, "y"));
  const fs::path only_hf_home =
      add_hub_snapshot(hf_home / "hub", "o/only-hf-home", kCommitB, make_source(dir, "z"));
  ScopedEnv env({{"HF_HUB_CACHE", hub_cache.string()},
                 {"HF_HOME", hf_home.string()},
                 {"HOME", home.string()},
                 {"XDG_CACHE_HOME", ""}});
  const auto dirs = io::hub_cache_dirs();
  ASSERT_EQ(dirs.size(), 3u);
  EXPECT_EQ(dirs[0], hub_cache);
  EXPECT_EQ(dirs[1], hf_home / "hub");
  EXPECT_EQ(dirs[2], home_cache);
  EXPECT_EQ(fs::path(io::resolve_model_path("o/both")), in_hub_cache);
  EXPECT_EQ(fs::path(io::resolve_model_path("o/only-hf-home")), only_hf_home);
  EXPECT_EQ(fs::path(io::resolve_model_path("o/only-home")), in_home);
  (void)in_hf_home;
  // The listing has every repo id once; the first cache folder wins.
  const auto models = io::list_cached_models();
  ASSERT_EQ(models.size(), 3u);
  EXPECT_EQ(models[0].repo_id, "o/both");
  EXPECT_EQ(models[0].main_snapshot, in_hub_cache);
  EXPECT_EQ(models[1].repo_id, "o/only-hf-home");
  EXPECT_EQ(models[2].repo_id, "o/only-home");
}

TEST(HubCache, MissingModelNamesEveryPlaceLookedAt) {
  TempDir dir("hubmiss");
  ScopedEnv env({{"HF_HUB_CACHE", (dir / "a").string()},
                 {"HF_HOME", (dir / "b").string()},
                 {"HOME", (dir / "c").string()},
                 {"XDG_CACHE_HOME", ""}});
  const std::string e =
      test::bad_input_message([&] { io::resolve_model_path("allenai/OLMoE-1B-7B-0924"); });
  for (const fs::path& p : {dir / "a" / "models--allenai--OLMoE-1B-7B-0924",
                            dir / "b" / "hub" / "models--allenai--OLMoE-1B-7B-0924",
                            dir / "c" / ".cache/huggingface/hub/models--allenai--OLMoE-1B-7B-0924"})
    EXPECT_NE(e.find(p.string()), std::string::npos) << p << "\n" << e;
  EXPECT_NE(e.find("allenai/OLMoE-1B-7B-0924"), std::string::npos) << e;
  // Text that is no repo id is returned as given (opening it reports the missing file).
  EXPECT_EQ(io::resolve_model_path((dir / "nothing/here/x.safetensors").string()),
            (dir / "nothing/here/x.safetensors").string());
}

TEST(HubCache, ModelFolderWithoutAUsableSnapshotPointsAtSnapshots) {
  TempDir dir("hubbad");
  const fs::path cache = dir / "cache";
  // No refs/main and no snapshot at all (an interrupted download).
  fs::create_directories(cache / "models--o--empty" / "blobs");
  // refs/main naming a snapshot that is not there.
  fs::create_directories(cache / "models--o--dangling" / "refs");
  std::ofstream(cache / "models--o--dangling" / "refs" / "main") << kCommitA;
  // No refs/main, two snapshots: ambiguous.
  add_hub_snapshot(cache, "o/two", kCommitA, make_source(dir, "1"), {});
  add_hub_snapshot(cache, "o/two", kCommitB, make_source(dir, "2"), {});
  // No refs/main, one snapshot: that one.
  const fs::path one = add_hub_snapshot(cache, "o/one", kCommitB, make_source(dir, "3"), {});
  ScopedEnv env(
      {{"HF_HUB_CACHE", cache.string()}, {"HF_HOME", ""}, {"HOME", ""}, {"XDG_CACHE_HOME", ""}});
  EXPECT_EQ(fs::path(io::resolve_model_path("o/one")), one);
  const std::string empty = test::bad_input_message([&] { io::resolve_model_path("o/empty"); });
  EXPECT_NE(empty.find((cache / "models--o--empty" / "snapshots").string()), std::string::npos)
      << empty;
  const std::string via_folder = test::bad_input_message(
      [&] { io::resolve_model_path((cache / "models--o--empty").string()); });
  EXPECT_NE(via_folder.find("snapshots"), std::string::npos) << via_folder;
  const std::string dangling =
      test::bad_input_message([&] { io::resolve_model_path("o/dangling"); });
  EXPECT_NE(dangling.find(kCommitA), std::string::npos) << dangling;
  EXPECT_NE(dangling.find("snapshots"), std::string::npos) << dangling;
  const std::string two = test::bad_input_message([&] { io::resolve_model_path("o/two"); });
  EXPECT_NE(two.find(kCommitA), std::string::npos) << two;
  EXPECT_NE(two.find(kCommitB), std::string::npos) << two;
  EXPECT_NE(two.find("o/two@COMMIT"), std::string::npos) << two;
  // Listed all the same, with the snapshot refs/main names when there is one.
  const auto models = io::list_cached_models();
  ASSERT_EQ(models.size(), 4u);
  EXPECT_EQ(models[0].repo_id, "o/dangling");
  EXPECT_TRUE(models[0].main_snapshot.empty());
  EXPECT_EQ(models[2].repo_id, "o/one");
  EXPECT_EQ(models[2].main_snapshot, one);
}

} // namespace
} // namespace routerscope::test
