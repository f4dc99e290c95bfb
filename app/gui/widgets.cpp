#include "app/gui/widgets.h"

#include "app/gui/help_text.h"

#include <imgui.h>
#include <imgui_internal.h>

#include <algorithm>
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

bool timeline(const char* id, int* index, int count, const char* format, const char* empty,
              float width) {
  if (count <= 0) {
    ImGui::PushID(id);
    ImGui::ProgressBar(0.0f, ImVec2(width, 0), empty);
    ImGui::PopID();
    return false;
  }
  ImGui::SetNextItemWidth(width);
  int t = std::clamp(*index, 0, count - 1);
  const bool moved = ImGui::SliderInt(id, &t, 0, count - 1, format, ImGuiSliderFlags_AlwaysClamp);
  *index = t;
  return moved;
}

} // namespace routerscope::gui
