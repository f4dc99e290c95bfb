#include "app/gui/widgets.h"

#include "app/gui/help_text.h"

#include <imgui.h>
#include <imgui_internal.h>

#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

namespace routerscope::gui {

void section(const char* title) {
  ImGui::Spacing();
  ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
  ImGui::TextUnformatted(title);
  ImGui::PopStyleColor();
  ImGui::Separator();
}

namespace {
std::vector<std::pair<std::string, std::string>> current_values, last_values;
} // namespace

void begin_shown_values_frame() {
  last_values.swap(current_values);
  current_values.clear();
}

std::vector<std::pair<std::string, std::string>> shown_values() {
  return last_values;
}

void label_value(const char* label, const std::string& value) {
  current_values.emplace_back(label, value);
  ImGui::TableNextRow();
  ImGui::TableNextColumn();
  ImGui::TextDisabled("%s", label);
  help_tip(label);
  ImGui::TableNextColumn();
  ImGui::TextUnformatted(value.c_str());
}

std::string fmt(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

bool popup_open(const char* name) {
  const ImGuiContext* g = ImGui::GetCurrentContext();
  if (!g)
    return false;
  for (const ImGuiPopupData& p : g->OpenPopupStack)
    if (p.Window && std::strcmp(p.Window->Name, name) == 0)
      return true;
  return false;
}

} // namespace routerscope::gui
