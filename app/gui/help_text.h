#pragma once
// The GUI's help texts: one table of {name, kind, text} rows, one row per parameter widget, metric
// and model fact the GUI labels. Widgets show a row's text as their tooltip (help_tip after the
// widget) and the Help menu lists the metrics and parameters from the same table. Every name a
// frame passes to help_tip is recorded, with whether the table has it, so that a test sees a
// label drawn without a text (the state JSON's `help_labels`).
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace routerscope::gui {

enum class HelpKind { Metric, Parameter, Fact };

struct HelpEntry {
  const char* name; // the label as drawn (without ImGui's "##" suffix)
  HelpKind kind;
  const char* text;
};

std::span<const HelpEntry> help_entries();
const HelpEntry* find_help(std::string_view name); // nullptr when the table has no such row

// After the widget or text labelled `name`: records `name` as drawn this frame and, when the
// item is hovered, shows its text as the tooltip. `name` is the label up to any "##".
void help_tip(std::string_view name);
// A row of metric names on one line, each showing its text when hovered (beside a figure).
void metric_names(std::initializer_list<const char*> names);
// Starts a frame's record (the previous frame's becomes help_labels()).
void begin_help_frame();
// The names the last complete frame passed to help_tip (each once, in order) and whether the
// table has a text for each.
std::vector<std::pair<std::string, bool>> help_labels();

// The Help menu's body: the metrics and parameters with their texts, the keys, where the docs
// are.
void draw_help_menu();

} // namespace routerscope::gui
