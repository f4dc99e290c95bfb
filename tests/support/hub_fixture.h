#pragma once
// A Hugging Face Hub cache built the way huggingface_hub lays it out, for tests:
// CACHE/models--ORG--NAME/blobs/<id> (the bytes), snapshots/<commit>/<file> (relative symlinks
// ../../blobs/<id>) and refs/<ref> (the commit hash, no newline).
#include <filesystem>
#include <string>
#include <vector>

namespace routerscope::test {

// Adds snapshot `commit` of `repo_id` holding the files of `source` (copied into blobs/), and
// points every ref in `refs` at it. Returns the snapshot folder.
std::filesystem::path add_hub_snapshot(const std::filesystem::path& cache,
                                       const std::string& repo_id, const std::string& commit,
                                       const std::filesystem::path& source,
                                       const std::vector<std::string>& refs = {"main"});

// Sets (or, with an empty value, unsets) environment variables for its lifetime.
class ScopedEnv {
public:
  ScopedEnv(std::vector<std::pair<std::string, std::string>> values);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
  std::vector<std::pair<std::string, std::pair<bool, std::string>>> saved_;
};

} // namespace routerscope::test
