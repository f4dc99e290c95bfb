// RecordingCanvas's one out-of-line member, alone in its file: the file that holds it also emits
// the class's inline virtual members, whose vector growth of variant commands GCC 12 reports as
// maybe-uninitialized when it inlines it (a false positive; it did not inline it in the larger
// file this came from). The suppression covers this file, which holds nothing else.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "core/figure_layout.h"

namespace routerscope {

TextExtent RecordingCanvas::measure(const std::string& text, const TextStyle& style) {
  std::size_t chars = 0;
  for (unsigned char c : text) {
    chars += (c & 0xC0) != 0x80; // count UTF-8 code points
  }
  return {0.55 * style.size * static_cast<double>(chars), 0.72 * style.size, 0.0};
}

} // namespace routerscope
