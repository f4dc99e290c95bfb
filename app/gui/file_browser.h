#pragma once
// The in-app File > Open browser: folders, *.safetensors, *.index.json and *.h5 entries, a path
// field, parent navigation, and the recent-files list persisted under the config folder.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace routerscope::gui {

// ~/.config/routerscope ($XDG_CONFIG_HOME/routerscope when set); created on first use.
std::filesystem::path config_dir();

// The most recent first, at most kMaxRecent entries, stored one path a line in config_dir()/recent.
class RecentFiles {
public:
  static constexpr std::size_t kMaxRecent = 12;
  void load();
  void add(const std::string& path); // moves to the front and saves
  const std::vector<std::string>& items() const { return items_; }

private:
  void save() const;
  std::vector<std::string> items_;
};

// Entries of `folder` that the browser shows: sub-folders first, then openable files, each sorted
// by name; hidden entries (leading '.') skipped.
struct BrowserEntry {
  std::string name;
  bool folder = false;
  std::uintmax_t size = 0;
};
std::vector<BrowserEntry> list_openable(const std::filesystem::path& folder);
// True for *.safetensors, *.index.json and *.h5 names.
bool is_openable_file(const std::string& name);

// A folder that opens as a checkpoint: it holds config.json or an openable file.
bool is_checkpoint_folder(const std::filesystem::path& folder);

class FileBrowser {
public:
  void open(const std::filesystem::path& start); // shows the modal from the next frame
  // Draws the modal when open; returns the chosen path once (a file or a checkpoint folder).
  std::optional<std::string> draw(RecentFiles& recent);

private:
  void navigate(const std::filesystem::path& folder);
  bool request_open_ = false;
  std::filesystem::path folder_;
  std::vector<BrowserEntry> entries_;
  std::string path_text_;
  std::string error_;
  int selected_ = -1;
};

} // namespace routerscope::gui
