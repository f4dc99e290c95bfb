#include "app/gui/ui_font.h"

#include <filesystem>

#ifdef ROUTERSCOPE_HAVE_FONTCONFIG
#include <fontconfig/fontconfig.h>
#endif

namespace routerscope::gui {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFallback = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

#ifdef ROUTERSCOPE_HAVE_FONTCONFIG
// fontconfig's best sans-serif match that has every character of kUiFontCodepoints, as a
// TrueType or OpenType file ImGui can read; empty when there is none.
std::string fontconfig_font() {
  FcConfig* config = FcInitLoadConfigAndFonts();
  if (!config)
    return "";
  std::string file;
  FcPattern* pattern = FcNameParse(reinterpret_cast<const FcChar8*>("sans-serif"));
  FcCharSet* wanted = FcCharSetCreate();
  for (char32_t c : kUiFontCodepoints)
    FcCharSetAddChar(wanted, FcChar32(c));
  FcPatternAddCharSet(pattern, FC_CHARSET, wanted);
  FcPatternAddBool(pattern, FC_SCALABLE, FcTrue);
  FcConfigSubstitute(config, pattern, FcMatchPattern);
  FcDefaultSubstitute(pattern);
  FcResult result = FcResultNoMatch;
  if (FcPattern* match = FcFontMatch(config, pattern, &result)) {
    FcChar8* path = nullptr;
    FcCharSet* has = nullptr;
    int index = 0;
    if (FcPatternGetString(match, FC_FILE, 0, &path) == FcResultMatch &&
        FcPatternGetCharSet(match, FC_CHARSET, 0, &has) == FcResultMatch &&
        FcCharSetIsSubset(wanted, has) &&
        (FcPatternGetInteger(match, FC_INDEX, 0, &index) != FcResultMatch || index == 0)) {
      const fs::path p(reinterpret_cast<const char*>(path));
      if ((p.extension() == ".ttf" || p.extension() == ".otf") && fs::exists(p))
        file = p.string();
    }
    FcPatternDestroy(match);
  }
  FcCharSetDestroy(wanted);
  FcPatternDestroy(pattern);
  FcConfigDestroy(config);
  return file;
}
#else
std::string fontconfig_font() {
  return "";
}
#endif

} // namespace

UiFont find_ui_font() {
  if (std::string f = fontconfig_font(); !f.empty())
    return {f, "fontconfig"};
  std::error_code ec;
  if (fs::exists(kFallback, ec))
    return {kFallback, "fallback path"};
  return {"", "imgui default"};
}

} // namespace routerscope::gui
