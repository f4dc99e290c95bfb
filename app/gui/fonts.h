#pragma once
// The GUI's font: one sans face at 15 px × the UI scale with the Latin, Greek, sub/superscript,
// arrow and maths ranges the panels write (σ₂/σ₁, λ, ‖R‖, θ, ×). The windowed GUI and headless
// frames load it alike, so both lay text out the same.
#include <string>

struct ImGuiIO;

namespace routerscope::gui {

// Adds the font to io.Fonts (ImGui's default font when the face is missing) and returns the file
// it loaded ("" for the default).
std::string load_fonts(ImGuiIO& io, float scale);

} // namespace routerscope::gui
