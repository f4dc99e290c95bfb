#pragma once
// RGBA images to and from PNG files (Cairo's PNG codec). Used by the GUI's screenshot mode and by
// tests that inspect rendered images.
#include <cstdint>
#include <filesystem>
#include <vector>

namespace routerscope::io {

struct RgbaImage {
  int width = 0, height = 0;
  std::vector<std::uint8_t> pixels; // row-major, top row first, 4 bytes per pixel: R, G, B, A
};

// Writes `image` as an 8-bit RGBA PNG, atomically (temporary file, then rename). Throws BadInput
// naming the path when it cannot be written, or when pixels.size() != 4·width·height.
void write_png(const std::filesystem::path& path, const RgbaImage& image);

// Reads a PNG into RGBA (alpha un-premultiplied). Throws BadInput naming the path on failure.
RgbaImage read_png(const std::filesystem::path& path);

} // namespace routerscope::io
