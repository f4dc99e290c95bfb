#pragma once
// Small ImGui helpers the panels share: a sidebar section title, a label/value table row, printf
// formatting of one number, a step timeline, and whether a modal window is open. Numbers shown
// to people go through core/number_format.h (4 significant digits, binary units).
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
// A timeline over `count` recorded steps, `width` wide (ImGui's item width rules): a slider whose
// value reads `format` (printf of the step index) when there are steps; with none, an empty bar
// saying `empty` (a slider over one value would draw its handle across the whole bar). True when
// the user moved it.
bool timeline(const char* id, int* index, int count, const char* format, const char* empty,
              float width);
// Whether the modal window `name` is open (outside a frame too: reads ImGui's popup stack).
bool popup_open(const char* name);

} // namespace routerscope::gui
