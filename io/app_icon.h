#pragma once
// The RouterScope application icon, drawn with Cairo (nothing copied in): a heatmap of router-
// expert alignment with a router vector turning onto an expert's principal direction. One drawing
// serves the installed icon set (PNG sizes and SVG, written by the build) and the window icon.
#include "io/png_image.h"

#include <filesystem>

namespace routerscope::io {

// The icon as a `size` x `size` RGBA image (transparent corners).
RgbaImage app_icon_image(int size);

// The icon as a scalable SVG document of nominal size `size` pixels, written atomically.
void write_app_icon_svg(const std::filesystem::path& path, int size = 256);

} // namespace routerscope::io
