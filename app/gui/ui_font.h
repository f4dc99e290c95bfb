#pragma once
// The UI font: a sans-serif font that has the glyphs the GUI writes (σ λ θ ‖ ₁ ₂ ′), asked of
// fontconfig by those characters (FcCharSet), else the DejaVu Sans file where Debian puts it,
// else none (ImGui's built-in font, which lacks them).
#include <string>
#include <string_view>

namespace routerscope::gui {

// The characters the UI font must have (UTF-8 each), as the state JSON names them.
inline constexpr std::string_view kUiFontGlyphs[] = {"σ", "λ", "θ", "‖", "₁", "₂", "′"};
inline constexpr char32_t kUiFontCodepoints[] = {U'σ', U'λ', U'θ', U'‖', U'₁', U'₂', U'′'};

struct UiFont {
  std::string file;   // empty: ImGui's built-in font
  std::string source; // "fontconfig", "fallback path" or "imgui default"
};

UiFont find_ui_font();

} // namespace routerscope::gui
