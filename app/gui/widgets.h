#pragma once
// Small ImGui helpers the panels share: a sidebar section title, a label/value table row, printf
// formatting of one number, byte sizes, and whether a modal window is open.
#include <cstdint>
#include <string>

namespace routerscope::gui {

void section(const char* title); // dim title and a separator
// One row of a 2-column table; hovering the label shows its help text (help_text.h).
void label_value(const char* label, const std::string& value);
std::string fmt(const char* format, double value); // printf of one number
std::string human_bytes(std::uint64_t bytes);      // "1.5 MiB"
// Whether the modal window `name` is open (outside a frame too: reads ImGui's popup stack).
bool popup_open(const char* name);

} // namespace routerscope::gui
