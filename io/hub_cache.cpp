#include "io/hub_cache.h"

#include "core/error.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <regex>

namespace routerscope::io {

namespace fs = std::filesystem;

namespace {

const std::string kPrefix = "models--";

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::vector<std::string> snapshot_names(const fs::path& model_folder) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(model_folder / "snapshots", ec), end; !ec && it != end;
       it.increment(ec))
    if (it->is_directory(ec))
      names.push_back(it->path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

bool is_hub_model_folder(const fs::path& p) {
  std::error_code ec;
  return p.filename().string().rfind(kPrefix, 0) == 0 && fs::is_directory(p, ec);
}

} // namespace

std::vector<fs::path> hub_cache_dirs() {
  std::vector<fs::path> dirs;
  auto add = [&](const fs::path& p) {
    const fs::path n = p.lexically_normal();
    if (std::find(dirs.begin(), dirs.end(), n) == dirs.end())
      dirs.push_back(n);
  };
  if (auto v = env("HF_HUB_CACHE"); !v.empty())
    add(v);
  if (auto v = env("HF_HOME"); !v.empty())
    add(fs::path(v) / "hub");
  if (auto v = env("XDG_CACHE_HOME"); !v.empty())
    add(fs::path(v) / "huggingface" / "hub");
  if (auto v = env("HOME"); !v.empty())
    add(fs::path(v) / ".cache" / "huggingface" / "hub");
  return dirs;
}

std::string hub_folder_name(const std::string& repo_id) {
  std::string out = kPrefix;
  for (std::size_t i = 0; i < repo_id.size(); ++i)
    out += repo_id[i] == '/' ? std::string("--") : std::string(1, repo_id[i]);
  return out;
}

std::string hub_repo_id(const std::string& folder_name) {
  std::string rest =
      folder_name.rfind(kPrefix, 0) == 0 ? folder_name.substr(kPrefix.size()) : folder_name;
  // The Hub's own reverse mapping: every "--" was a "/".
  std::string out;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest.compare(i, 2, "--") == 0) {
      out += '/';
      ++i;
    } else {
      out += rest[i];
    }
  }
  return out;
}

fs::path hub_snapshot(const fs::path& model_folder, const std::string& revision) {
  std::error_code ec;
  const fs::path snapshots = model_folder / "snapshots";
  const fs::path ref = model_folder / "refs" / revision;
  if (fs::is_regular_file(ref, ec)) {
    std::ifstream in(ref);
    std::string commit;
    in >> commit;
    if (!commit.empty() && fs::is_directory(snapshots / commit, ec))
      return snapshots / commit;
    throw_input_error(ref.string() + " names commit '" + commit + "', but " +
                      (snapshots / commit).string() +
                      " is missing (an unfinished download?); open a folder under " +
                      snapshots.string() + " instead");
  }
  if (!revision.empty() && revision.find('/') == std::string::npos &&
      fs::is_directory(snapshots / revision, ec))
    return snapshots / revision; // a commit hash
  const std::vector<std::string> names = snapshot_names(model_folder);
  if (revision == "main" && names.size() == 1)
    return snapshots / names.front();
  std::string held;
  for (const auto& n : names)
    held += (held.empty() ? "" : ", ") + n;
  throw_input_error(model_folder.string() + ": no usable snapshot for revision '" + revision +
                    "': " + ref.string() + " is missing and " +
                    (names.empty()
                         ? snapshots.string() + " holds no snapshot (the download did not finish?)"
                         : snapshots.string() + " holds " + held +
                               "; open one of those folders or give " +
                               hub_repo_id(model_folder.filename().string()) + "@COMMIT"));
}

std::vector<CachedModel> list_cached_models() {
  std::vector<CachedModel> out;
  for (const fs::path& dir : hub_cache_dirs()) {
    std::error_code ec;
    for (fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec)) {
      if (!is_hub_model_folder(it->path()))
        continue;
      CachedModel m;
      m.folder = it->path();
      m.repo_id = hub_repo_id(m.folder.filename().string());
      if (std::any_of(out.begin(), out.end(),
                      [&](const CachedModel& o) { return o.repo_id == m.repo_id; }))
        continue; // the earlier cache folder wins, as in resolve_model_path
      try {
        m.main_snapshot = hub_snapshot(m.folder, "main");
      } catch (const Error&) {
        // listed without a snapshot; opening it reports why
      }
      out.push_back(std::move(m));
    }
  }
  std::sort(out.begin(), out.end(),
            [](const CachedModel& a, const CachedModel& b) { return a.repo_id < b.repo_id; });
  return out;
}

std::string resolve_model_path(const std::string& text) {
  std::error_code ec;
  if (fs::exists(text, ec)) {
    const fs::path p = fs::path(text).lexically_normal();
    if (is_hub_model_folder(p.has_filename() ? p : p.parent_path()))
      return hub_snapshot(p.has_filename() ? p : p.parent_path(), "main").string();
    return text;
  }
  // ORG/NAME or ORG/NAME@REVISION (the revision may itself hold '/', e.g. refs/pr/1).
  static const std::regex repo_id(
      R"(([A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)(@(.+))?)");
  std::smatch m;
  if (!std::regex_match(text, m, repo_id))
    return text; // not a repo id: opening it reports the missing file
  const std::string id = m[1].str();
  const std::string revision = m[3].matched ? m[3].str() : "main";
  std::string looked;
  for (const fs::path& dir : hub_cache_dirs()) {
    const fs::path folder = dir / hub_folder_name(id);
    if (fs::is_directory(folder, ec))
      return hub_snapshot(folder, revision).string();
    looked += "\n  " + folder.string();
  }
  throw_input_error(text + ": no such file or folder, and " + id +
                    " is not in the Hugging Face cache (RouterScope reads the cache only, it "
                    "downloads nothing). Looked in:" +
                    (looked.empty() ? std::string("\n  (no cache folder: HF_HUB_CACHE, HF_HOME "
                                                  "and HOME are unset)")
                                    : looked) +
                    "\nDownload it first, e.g. 'huggingface-cli download " + id +
                    "', or set HF_HUB_CACHE to the cache folder that holds it.");
}

} // namespace routerscope::io
