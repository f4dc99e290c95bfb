#include "app/gui/gui_settings.h"

#include "app/gui/file_browser.h"
#include "core/error.h"
#include "io/atomic_file.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace routerscope::gui {

namespace fs = std::filesystem;

fs::path gui_settings_path() {
  return config_dir() / "gui.json";
}

GuiSettings load_gui_settings(const fs::path& path, std::string& warning) {
  warning.clear();
  std::error_code ec;
  if (!fs::exists(path, ec))
    return {};
  auto bad = [&](const std::string& why) {
    warning =
        "ignoring the GUI settings file " + path.string() + ": " + why +
        "; using the defaults (dark theme, 1440x900); the file is replaced when the GUI closes";
    return GuiSettings{};
  };
  std::ifstream in(path);
  if (!in)
    return bad("it cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded())
    return bad("it is not JSON");
  if (!j.is_object())
    return bad("expected a JSON object");
  GuiSettings s;
  if (j.contains("theme")) {
    if (!j["theme"].is_string() || (j["theme"] != "light" && j["theme"] != "dark"))
      return bad("\"theme\" is " + j["theme"].dump() + ", expected \"light\" or \"dark\"");
    s.theme = j["theme"].get<std::string>();
  }
  auto whole = [&](const char* key, int lo, int hi, std::optional<int>& out) {
    if (!j.contains(key))
      return true;
    const auto& v = j[key];
    if (!v.is_number_integer() || v.get<long long>() < lo || v.get<long long>() > hi)
      return false;
    out = v.get<int>();
    return true;
  };
  if (!whole("width", 320, 8192, s.width) || !whole("height", 240, 8192, s.height))
    return bad("\"width\" and \"height\" must be whole numbers within 320x240 .. 8192x8192");
  if (!whole("x", -100000, 100000, s.x) || !whole("y", -100000, 100000, s.y))
    return bad("\"x\" and \"y\" must be whole numbers");
  return s;
}

void save_gui_settings(const fs::path& path, const GuiSettings& s) {
  nlohmann::json j = nlohmann::json::object();
  if (s.theme)
    j["theme"] = *s.theme;
  if (s.width && s.height) {
    j["width"] = *s.width;
    j["height"] = *s.height;
  }
  if (s.x && s.y) {
    j["x"] = *s.x;
    j["y"] = *s.y;
  }
  const std::string text = j.dump(2) + "\n";
  io::AtomicFile out(path);
  out.write(text.data(), text.size());
  out.commit();
}

} // namespace routerscope::gui
