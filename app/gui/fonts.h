#pragma once
// The GUI's font: one sans face at 15 px × the UI scale with the Latin, Greek, sub/superscript,
// arrow and maths ranges the panels write (σ₂/σ₁, λ, ‖R‖, θ, ×). The windowed GUI and headless
// frames load it alike, so both lay text out the same.
#include "app/gui/ui_font.h"

struct ImGuiIO;

namespace routerscope::gui {

// Adds the font find_ui_font() names (fontconfig's sans-serif with σ λ θ ‖ ₁ ₂ ′, else DejaVu Sans)
// to io.Fonts, ImGui's default font when there is none or it cannot be loaded; returns the font
// loaded (file "" and source "imgui default" for ImGui's).
UiFont load_fonts(ImGuiIO& io, float scale);

} // namespace routerscope::gui
