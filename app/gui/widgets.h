#pragma once
// Small ImGui helpers the panels share: a sidebar section title, a label/value table row, printf
// formatting of one number, and whether a modal window is open. Numbers shown to people go
// through core/number_format.h (4 significant digits, binary units).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace routerscope::gui {

void section(const char* title); // dim title and a separator
// One row of a 2-column table; hovering the label shows its help text (help_text.h).
void label_value(const char* label, const std::string& value);
// The label_value rows of the last complete frame, in order (begin_shown_values_frame starts a
// frame's record); the state JSON reports them as shown.
void begin_shown_values_frame();
std::vector<std::pair<std::string, std::string>> shown_values();
std::string fmt(const char* format, double value); // printf of one number
// Whether the modal window `name` is open (outside a frame too: reads ImGui's popup stack).
bool popup_open(const char* name);

} // namespace routerscope::gui
