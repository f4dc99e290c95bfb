#pragma once
// What the GUI remembers between sessions: the theme and the window's size and position, in
// config_dir()/gui.json ($XDG_CONFIG_HOME/routerscope, else ~/.config/routerscope), read at start
// and written atomically (io::AtomicFile) at exit. The command line's --theme and --size win over
// it; screenshot mode uses it only with --remember (tests point XDG_CONFIG_HOME elsewhere too).
#include <filesystem>
#include <optional>
#include <string>

namespace routerscope::gui {

struct GuiSettings {
  std::optional<std::string> theme; // "light" | "dark"
  std::optional<int> width, height; // window size in screen coordinates, 320x240 .. 8192x8192
  std::optional<int> x, y;          // window position
};

std::filesystem::path gui_settings_path(); // config_dir() / "gui.json"

// Reads `path`. A missing file gives no settings; one that is not what it should be (not JSON, a
// theme other than light or dark, a size out of range, ...) gives no settings and `warning` names
// the file, what was wrong, that the defaults are used and that the file is replaced at exit.
// Never throws.
GuiSettings load_gui_settings(const std::filesystem::path& path, std::string& warning);
// Writes `s` to `path` atomically; BadInput naming the file when it cannot.
void save_gui_settings(const std::filesystem::path& path, const GuiSettings& s);

} // namespace routerscope::gui
