#include "app/gui/fonts.h"

#include <imgui.h>

namespace routerscope::gui {

UiFont load_fonts(ImGuiIO& io, float scale) {
  // Latin, Greek, sub/superscripts, punctuation, arrows and maths symbols (σ₂/σ₁, λ, ‖R‖, ×).
  static const ImWchar kRanges[] = {0x0020, 0x00FF, 0x0370, 0x03FF, 0x1D00, 0x1D7F, 0x2000,
                                    0x206F, 0x2070, 0x209F, 0x2190, 0x21FF, 0x2200, 0x22FF,
                                    0x25A0, 0x25FF, 0x2C60, 0x2C7F, 0};
  // The windowed GUI samples the atlas with nearest filtering; baked thick-line textures need
  // bilinear filtering, so lines are anti-aliased by geometry instead (App's style sets
  // AntiAliasedLinesUseTex off).
  io.Fonts->Flags |= ImFontAtlasFlags_NoBakedLines;
  const UiFont font = find_ui_font();
  if (!font.file.empty() &&
      io.Fonts->AddFontFromFileTTF(font.file.c_str(), 15.0f * scale, nullptr, kRanges))
    return font;
  io.Fonts->AddFontDefault();
  return {"", "imgui default"};
}

} // namespace routerscope::gui
