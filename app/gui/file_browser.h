#pragma once
// The in-app File > Open browser: folders, *.safetensors, *.index.json and *.h5 entries, a path
// field, parent navigation, places (Home, the Hugging Face cache listed by repo id), a show-hidden
// toggle, and the recent-files list persisted under the config folder. In save mode (the Export
// dialog's Browse…) it picks a folder and a file name instead: folders and the figures and
// records already there (*.png, *.svg, *.pdf, *.csv, *.h5), a name field and Choose.
#include <nlohmann/json.hpp>

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
// by name; hidden entries (leading '.') skipped unless `show_hidden`.
struct BrowserEntry {
  std::string name;
  bool folder = false;
  std::uintmax_t size = 0;
};
std::vector<BrowserEntry> list_openable(const std::filesystem::path& folder,
                                        bool show_hidden = false);
// True for *.safetensors, *.index.json and *.h5 names.
bool is_openable_file(const std::string& name);
// True for the names an export writes: *.png, *.svg, *.pdf, *.csv, *.h5.
bool is_export_file(const std::string& name);
// Entries of `folder` for save mode: sub-folders, then files an export writes (as list_openable).
std::vector<BrowserEntry> list_exported(const std::filesystem::path& folder,
                                        bool show_hidden = false);

// A folder that opens as a checkpoint: it holds config.json or an openable file, or it is a Hub
// cache models--ORG--NAME folder (opened at its refs/main snapshot).
bool is_checkpoint_folder(const std::filesystem::path& folder);

class FileBrowser {
public:
  void open(const std::filesystem::path& start); // shows the modal from the next frame
  void open_hub();                               // the same, at the Hugging Face cache place
  // Save mode, at `file`'s folder with its name in the name field; draw() then returns the chosen
  // folder joined with the name.
  void open_save(const std::filesystem::path& file);
  void set_show_hidden(bool show);
  // Acts on the entry called `name` of the current listing as a double-click does (enters a
  // folder, or chooses a checkpoint, file or cached model; in save mode enters a folder or takes
  // a file's name); BadInput when there is none.
  void activate(const std::string& name);
  // Save mode: types `name` into the name field and presses Choose (BadInput for an empty name).
  void choose_name(const std::string& name);
  // Draws the modal when open; returns the chosen path once (a file, a checkpoint folder or a
  // models--… folder of the Hub cache).
  std::optional<std::string> draw(RecentFiles& recent) { return draw_modal(&recent); }
  std::optional<std::string> draw_save() { return draw_modal(nullptr); } // save mode's modal
  // Mode, place, folder, show-hidden, the names listed and save mode's name (scripted tests).
  nlohmann::ordered_json state() const;

private:
  enum class Place { Folder, Hub };
  void navigate(const std::filesystem::path& folder);
  void show_hub();
  void activate(int index);
  std::optional<std::string> draw_modal(RecentFiles* recent); // recent: nullptr in save mode
  const char* title() const { return save_ ? "Export to" : "Open checkpoint or record"; }
  bool request_open_ = false;
  bool save_ = false;     // save mode
  std::string save_name_; // save mode's name field
  Place place_ = Place::Folder;
  bool show_hidden_ = false;
  std::filesystem::path folder_;
  std::vector<BrowserEntry> entries_;
  std::vector<std::filesystem::path> hub_folders_; // Hub place: models--… folder per entry
  std::optional<std::string> chosen_;
  std::string path_text_;
  std::string error_;
  int selected_ = -1;
};

} // namespace routerscope::gui
