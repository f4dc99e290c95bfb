#include "tests/support/hub_fixture.h"

#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace routerscope::test {

namespace fs = std::filesystem;

fs::path add_hub_snapshot(const fs::path& cache, const std::string& repo_id,
                          const std::string& commit, const fs::path& source,
                          const std::vector<std::string>& refs) {
  std::string folder = "models--";
  for (char c : repo_id)
    folder += c == '/' ? std::string("--") : std::string(1, c);
  const fs::path model = cache / folder;
  const fs::path snapshot = model / "snapshots" / commit;
  fs::create_directories(model / "blobs");
  fs::create_directories(snapshot);
  for (const auto& entry : fs::directory_iterator(source)) {
    if (!entry.is_regular_file())
      continue;
    // The Hub names blobs by content hash; any unique name exercises the symlink the same way.
    const std::string blob = commit + "-" + entry.path().filename().string() + ".blob";
    fs::copy_file(entry.path(), model / "blobs" / blob, fs::copy_options::overwrite_existing);
    fs::create_symlink(fs::path("..") / ".." / "blobs" / blob, snapshot / entry.path().filename());
  }
  for (const auto& ref : refs) {
    fs::create_directories((model / "refs" / ref).parent_path());
    std::ofstream(model / "refs" / ref) << commit;
  }
  return snapshot;
}

ScopedEnv::ScopedEnv(std::vector<std::pair<std::string, std::string>> values) {
  for (auto& [name, value] : values) {
    const char* old = std::getenv(name.c_str());
    saved_.push_back({name, {old != nullptr, old ? old : ""}});
    if (value.empty())
      ::unsetenv(name.c_str());
    else
      ::setenv(name.c_str(), value.c_str(), 1);
  }
}

ScopedEnv::~ScopedEnv() {
  for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
    if (it->second.first)
      ::setenv(it->first.c_str(), it->second.second.c_str(), 1);
    else
      ::unsetenv(it->first.c_str());
  }
}

} // namespace routerscope::test
