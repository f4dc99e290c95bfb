#pragma once
// Models as the Hugging Face tools store them: the local Hub cache (offline; nothing is
// downloaded). Layout: CACHE/models--ORG--NAME/{refs/REVISION (a commit hash),
// snapshots/COMMIT/<files, usually symlinks into blobs/>}.
#include <filesystem>
#include <string>
#include <vector>

namespace routerscope::io {

// The cache folders searched, in order and without duplicates: $HF_HUB_CACHE, $HF_HOME/hub,
// ~/.cache/huggingface/hub (each only when its variable is set; existence not required).
std::vector<std::filesystem::path> hub_cache_dirs();

// "org/name" -> "models--org--name" (the Hub cache's folder name); "models--org--name" ->
// "org/name".
std::string hub_folder_name(const std::string& repo_id);
std::string hub_repo_id(const std::string& folder_name);

// A model in the cache: its repo id, folder and the snapshot refs/main points at (empty when
// refs/main is absent or names no snapshot).
struct CachedModel {
  std::string repo_id;
  std::filesystem::path folder;
  std::filesystem::path main_snapshot;
};
// Every models--* folder of every cache folder, sorted by repo id (the first cache wins a tie).
std::vector<CachedModel> list_cached_models();

// The snapshot folder of a models--ORG--NAME folder for `revision` (a ref under refs/, or a
// commit hash under snapshots/); with revision "main" and no refs/main, the only snapshot when
// there is exactly one. BadInput naming the folder and pointing at snapshots/ when none fits.
std::filesystem::path hub_snapshot(const std::filesystem::path& model_folder,
                                   const std::string& revision = "main");

// A user's checkpoint PATH as a path to open: an existing file or folder is returned as given
// (a models--… folder becomes its snapshot); otherwise "ORG/NAME[@REVISION]" is looked up in
// hub_cache_dirs(). BadInput naming every place looked at when nothing matches.
std::string resolve_model_path(const std::string& text);

} // namespace routerscope::io
