// RecordingCanvas, alone in its file: GCC 12 reports the vector growth of its variant commands as
// maybe-uninitialized wherever it inlines them (a false positive; with the members inline in the
// header, speculative devirtualisation inlined them into the figure drawing files). The
// suppression covers this file, which holds nothing else.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "core/figure_layout.h"

namespace routerscope {

void RecordingCanvas::stroke(const Path& path, const Stroke& stroke) {
  cmds.push_back(StrokeCmd{path, stroke});
}

void RecordingCanvas::fill(const Path& path, const Color& color) {
  cmds.push_back(FillCmd{path, color});
}

void RecordingCanvas::fill_rect(const Rect& rect, const Color& color) {
  cmds.push_back(RectCmd{rect, color});
}

void RecordingCanvas::text(Point origin, const std::string& text, const TextStyle& style,
                           double rotation_deg) {
  cmds.push_back(TextCmd{origin, text, style, rotation_deg});
}

void RecordingCanvas::image(const Rect& dst, int w, int h, const std::vector<std::uint8_t>& rgba) {
  cmds.push_back(ImageCmd{dst, w, h, rgba});
}

void RecordingCanvas::push_clip(const Rect& rect) {
  cmds.push_back(ClipCmd{rect, true});
}

void RecordingCanvas::pop_clip() {
  cmds.push_back(ClipCmd{{}, false});
}

TextExtent RecordingCanvas::measure(const std::string& text, const TextStyle& style) {
  std::size_t chars = 0;
  for (unsigned char c : text) {
    chars += (c & 0xC0) != 0x80; // count UTF-8 code points
  }
  return {0.55 * style.size * static_cast<double>(chars), 0.72 * style.size, 0.0};
}

} // namespace routerscope
