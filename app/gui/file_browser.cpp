#include "app/gui/file_browser.h"

#include "core/error.h"
#include "io/hub_cache.h"

#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <utility>

namespace routerscope::gui {

namespace fs = std::filesystem;

fs::path config_dir() {
  fs::path base;
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg)
    base = xdg;
  else if (const char* home = std::getenv("HOME"); home && *home)
    base = fs::path(home) / ".config";
  else
    base = fs::temp_directory_path();
  fs::path dir = base / "routerscope";
  std::error_code ec;
  fs::create_directories(dir, ec);
  return dir;
}

void RecentFiles::load() {
  items_.clear();
  std::ifstream in(config_dir() / "recent");
  for (std::string line; std::getline(in, line) && items_.size() < kMaxRecent;)
    if (!line.empty())
      items_.push_back(line);
}

void RecentFiles::add(const std::string& path) {
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  const std::string key = ec ? path : abs.lexically_normal().string();
  items_.erase(std::remove(items_.begin(), items_.end(), key), items_.end());
  items_.insert(items_.begin(), key);
  if (items_.size() > kMaxRecent)
    items_.resize(kMaxRecent);
  save();
}

void RecentFiles::save() const {
  const fs::path file = config_dir() / "recent";
  const fs::path tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp);
    for (const auto& item : items_)
      out << item << '\n';
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
}

bool is_openable_file(const std::string& name) {
  auto ends = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return ends(".safetensors") || ends(".index.json") || ends(".h5");
}

bool is_export_file(const std::string& name) {
  std::string ext = fs::path(name).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return ext == ".png" || ext == ".svg" || ext == ".pdf" || ext == ".csv" || ext == ".h5";
}

namespace {

std::vector<BrowserEntry> list_folder(const fs::path& folder, bool show_hidden,
                                      bool (*listed)(const std::string&)) {
  std::vector<BrowserEntry> out;
  std::error_code ec;
  for (fs::directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || (name[0] == '.' && !show_hidden))
      continue;
    std::error_code e2;
    if (it->is_directory(e2))
      out.push_back({name, true, 0});
    else if (listed(name))
      out.push_back({name, false, it->file_size(e2)});
  }
  std::sort(out.begin(), out.end(), [](const BrowserEntry& a, const BrowserEntry& b) {
    return a.folder != b.folder ? a.folder : a.name < b.name;
  });
  return out;
}

} // namespace

std::vector<BrowserEntry> list_openable(const fs::path& folder, bool show_hidden) {
  return list_folder(folder, show_hidden, is_openable_file);
}

std::vector<BrowserEntry> list_exported(const fs::path& folder, bool show_hidden) {
  return list_folder(folder, show_hidden, is_export_file);
}

bool is_checkpoint_folder(const fs::path& folder) {
  std::error_code ec;
  if (fs::exists(folder / "config.json", ec) ||
      folder.filename().string().rfind("models--", 0) == 0)
    return true;
  for (const auto& e : list_openable(folder))
    if (!e.folder)
      return true;
  return false;
}

void FileBrowser::open(const fs::path& start) {
  request_open_ = true;
  save_ = false;
  std::error_code ec;
  fs::path folder = fs::is_directory(start, ec) ? start : start.parent_path();
  if (folder.empty() || !fs::is_directory(folder, ec))
    folder = fs::current_path(ec);
  navigate(fs::absolute(folder, ec).lexically_normal());
}

void FileBrowser::open_hub() {
  request_open_ = true;
  save_ = false;
  show_hub();
}

void FileBrowser::open_save(const fs::path& file) {
  request_open_ = true;
  save_ = true;
  save_name_ = file.filename().string();
  std::error_code ec;
  fs::path folder = file.parent_path();
  if (folder.empty() || !fs::is_directory(folder, ec))
    folder = fs::current_path(ec);
  navigate(fs::absolute(folder, ec).lexically_normal());
}

void FileBrowser::choose_name(const std::string& name) {
  if (!save_ || name.empty() || name.find('/') != std::string::npos)
    throw_input_error("file browser: '" + name +
                      "' is not a file name to export to (expected a name without '/', in the "
                      "Export dialog's Browse…)");
  save_name_ = name;
  chosen_ = (folder_ / name).string();
}

void FileBrowser::set_show_hidden(bool show) {
  show_hidden_ = show;
  if (place_ == Place::Folder)
    navigate(folder_);
}

void FileBrowser::navigate(const fs::path& folder) {
  place_ = Place::Folder;
  folder_ = folder;
  entries_ = save_ ? list_exported(folder, show_hidden_) : list_openable(folder, show_hidden_);
  hub_folders_.clear();
  path_text_ = folder.string();
  selected_ = -1;
  error_.clear();
}

void FileBrowser::show_hub() {
  place_ = Place::Hub;
  entries_.clear();
  hub_folders_.clear();
  for (const auto& m : io::list_cached_models()) {
    entries_.push_back({m.repo_id, true, 0});
    hub_folders_.push_back(m.folder);
  }
  const auto dirs = io::hub_cache_dirs();
  folder_ = dirs.empty() ? fs::path() : dirs.front();
  path_text_.clear();
  selected_ = -1;
  error_.clear();
}

void FileBrowser::activate(int index) {
  selected_ = index;
  const BrowserEntry& e = entries_[std::size_t(index)];
  if (place_ == Place::Hub) {
    chosen_ = hub_folders_[std::size_t(index)].string(); // opened at its refs/main snapshot
    return;
  }
  const fs::path p = folder_ / e.name;
  if (save_) { // save mode: folders are entered, a file gives its name
    if (e.folder)
      navigate(p);
    else
      save_name_ = e.name;
    return;
  }
  // A folder holding a checkpoint opens; any other folder is entered.
  if (e.folder && !is_checkpoint_folder(p))
    navigate(p);
  else
    chosen_ = p.string();
}

void FileBrowser::activate(const std::string& name) {
  for (int i = 0; i < int(entries_.size()); ++i)
    if (entries_[std::size_t(i)].name == name)
      return activate(i);
  throw_input_error(
      "file browser: no entry '" + name + "' in " +
      (place_ == Place::Hub ? std::string("the Hugging Face cache place") : folder_.string()));
}

nlohmann::ordered_json FileBrowser::state() const {
  nlohmann::ordered_json j;
  j["mode"] = save_ ? "save" : "open";
  j["place"] = place_ == Place::Hub ? "hub" : "folder";
  j["folder"] = folder_.string();
  j["show_hidden"] = show_hidden_;
  j["entries"] = nlohmann::ordered_json::array();
  for (const auto& e : entries_)
    j["entries"].push_back(e.name);
  if (save_)
    j["name"] = save_name_;
  return j;
}

std::optional<std::string> FileBrowser::draw_modal(RecentFiles* recent) {
  if (request_open_) {
    ImGui::OpenPopup(title());
    request_open_ = false;
  }
  const ImGuiViewport* vp = ImGui::GetMainViewport();
  ImGui::SetNextWindowSize(ImVec2(vp->WorkSize.x * 0.6f, vp->WorkSize.y * 0.7f),
                           ImGuiCond_Appearing);
  ImGui::SetNextWindowPos(
      ImVec2(vp->WorkPos.x + vp->WorkSize.x * 0.5f, vp->WorkPos.y + vp->WorkSize.y * 0.5f),
      ImGuiCond_Appearing, ImVec2(0.5f, 0.5f));
  std::optional<std::string> chosen;
  bool open = true;
  if (!ImGui::BeginPopupModal(title(), &open))
    return chosen;
  chosen = std::exchange(chosen_, std::nullopt); // an entry activated by a script
  const float em = ImGui::GetFontSize();
  if (ImGui::Button("Up") && place_ == Place::Folder && folder_.has_parent_path())
    navigate(folder_.parent_path());
  ImGui::SameLine();
  ImGui::SetNextItemWidth(-em * 6);
  if (ImGui::InputText("##path", &path_text_, ImGuiInputTextFlags_EnterReturnsTrue)) {
    std::error_code ec;
    if (fs::is_directory(path_text_, ec) && (save_ || !is_checkpoint_folder(path_text_)))
      navigate(path_text_);
    else if (save_)
      error_ = "no such folder: " + path_text_;
    else
      try {
        io::resolve_model_path(path_text_); // a path, a Hub repo id or a models--… folder
        if (fs::exists(path_text_, ec) || path_text_.find('/') != std::string::npos)
          chosen = path_text_;
        else
          error_ = "no such file or folder: " + path_text_;
      } catch (const Error& e) {
        error_ = e.what();
      }
  }
  ImGui::SameLine();
  if (save_) {
    if (ImGui::Button("Choose", ImVec2(-1, 0)) && !save_name_.empty())
      chosen = (folder_ / save_name_).string();
  } else if (ImGui::Button("Open", ImVec2(-1, 0))) {
    if (selected_ >= 0)
      activate(selected_);
    else if (place_ == Place::Folder)
      chosen = folder_.string();
    if (chosen_)
      chosen = std::exchange(chosen_, std::nullopt);
  }
  if (!error_.empty())
    ImGui::TextColored(ImVec4(0.9f, 0.3f, 0.3f, 1), "%s", error_.c_str());

  if (save_) {
    ImGui::SetNextItemWidth(-em * 6);
    if (ImGui::InputText("file name", &save_name_, ImGuiInputTextFlags_EnterReturnsTrue) &&
        !save_name_.empty())
      chosen = (folder_ / save_name_).string();
  }
  const float footer = ImGui::GetFrameHeightWithSpacing() * 1.2f;
  if (ImGui::BeginTable("##browser", 2, ImGuiTableFlags_Resizable | ImGuiTableFlags_BordersInnerV,
                        ImVec2(0, -footer))) {
    ImGui::TableSetupColumn("Places", ImGuiTableColumnFlags_WidthStretch, 0.35f);
    ImGui::TableSetupColumn("Folder", ImGuiTableColumnFlags_WidthStretch, 0.65f);
    ImGui::TableNextColumn();
    ImGui::TextDisabled("Places");
    if (ImGui::Selectable("Home", false)) {
      if (const char* home = std::getenv("HOME"); home && *home)
        navigate(home);
    }
    if (!save_ && ImGui::Selectable("Hugging Face cache", place_ == Place::Hub))
      show_hub();
    if (!save_ && ImGui::IsItemHovered()) {
      std::string where;
      for (const auto& d : io::hub_cache_dirs())
        where += d.string() + "\n";
      ImGui::SetTooltip("Models in the local Hub cache, by repo id:\n%s", where.c_str());
    }
    bool hidden = show_hidden_;
    if (ImGui::Checkbox("Show hidden", &hidden))
      set_show_hidden(hidden);
    ImGui::Separator();
    ImGui::TextDisabled(recent ? "Recent" : "");
    ImGui::BeginChild("##recent");
    for (const auto& item : recent ? recent->items() : std::vector<std::string>{}) {
      const std::string label = fs::path(item).filename().string() + "##" + item;
      if (ImGui::Selectable(label.c_str(), false, ImGuiSelectableFlags_AllowDoubleClick) &&
          ImGui::IsMouseDoubleClicked(0))
        chosen = item;
      if (ImGui::IsItemHovered())
        ImGui::SetTooltip("%s", item.c_str());
    }
    if (recent && recent->items().empty())
      ImGui::TextDisabled("(none yet)");
    ImGui::EndChild();
    ImGui::TableNextColumn();
    if (place_ == Place::Hub)
      ImGui::TextDisabled("Hugging Face cache: %s", folder_.string().c_str());
    else
      ImGui::TextDisabled("%s", folder_.string().c_str());
    ImGui::BeginChild("##entries");
    for (int i = 0; i < int(entries_.size()); ++i) {
      const BrowserEntry& e = entries_[i];
      const char* kind = place_ == Place::Hub ? "[model]  " : e.folder ? "[dir]    " : "         ";
      const std::string label = kind + e.name + "##" + std::to_string(i);
      if (ImGui::Selectable(label.c_str(), selected_ == i, ImGuiSelectableFlags_AllowDoubleClick)) {
        selected_ = i;
        if (ImGui::IsMouseDoubleClicked(0))
          activate(i);
      }
      if (place_ == Place::Hub && ImGui::IsItemHovered())
        ImGui::SetTooltip("%s", hub_folders_[std::size_t(i)].string().c_str());
      if (!e.folder) {
        ImGui::SameLine(ImGui::GetContentRegionAvail().x - em * 5);
        ImGui::TextDisabled("%8.1f MB", double(e.size) / 1e6);
      }
    }
    if (place_ == Place::Hub && entries_.empty())
      ImGui::TextDisabled("(no models--* folder in the cache folders)");
    if (chosen_)
      chosen = std::exchange(chosen_, std::nullopt);
    ImGui::EndChild();
    ImGui::EndTable();
  }
  ImGui::TextDisabled(save_ ? "Folders and the figures and records in them. Double-click a "
                              "folder to enter it, a file to take its name."
                            : "Folders, *.safetensors, *.index.json, *.h5 records, cached Hub "
                              "models. Double-click to open.");
  ImGui::SameLine(ImGui::GetWindowWidth() - em * 6);
  if (ImGui::Button("Cancel", ImVec2(-1, 0)) ||
      ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Escape)))
    ImGui::CloseCurrentPopup();
  if (chosen)
    ImGui::CloseCurrentPopup();
  ImGui::EndPopup();
  return chosen;
}

} // namespace routerscope::gui
