#pragma once
// Small ImGui helpers the panels share: a sidebar section title, a label/value table row, printf
// formatting of one number, byte sizes, a step timeline, and whether a modal window is open.
#include <cstdint>
#include <string>

namespace routerscope::gui {

void section(const char* title);                               // dim title and a separator
void label_value(const char* label, const std::string& value); // one row of a 2-column table
std::string fmt(const char* format, double value);             // printf of one number
std::string human_bytes(std::uint64_t bytes);                  // "1.5 MiB"
// A timeline over `count` recorded steps, `width` wide (ImGui's item width rules): a slider whose
// value reads `format` (printf of the step index) when there are steps; with none, an empty bar
// saying `empty` (a slider over one value would draw its handle across the whole bar). True when
// the user moved it.
bool timeline(const char* id, int* index, int count, const char* format, const char* empty,
              float width);
// Whether the modal window `name` is open (outside a frame too: reads ImGui's popup stack).
bool popup_open(const char* name);

} // namespace routerscope::gui
