#include "io/png_image.h"

#include "core/error.h"
#include "io/atomic_file.h"

#include <cairo.h>
#include <memory>
#include <string>

namespace routerscope::io {

namespace {

using SurfacePtr = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;

cairo_status_t write_chunk(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<AtomicFile*>(closure)->write(data, length);
  return CAIRO_STATUS_SUCCESS;
}

} // namespace

void write_png(const std::filesystem::path& path, const RgbaImage& image) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != std::size_t(image.width) * std::size_t(image.height) * 4)
    throw_input_error("cannot write PNG " + path.string() + ": expected " +
                      std::to_string(image.width) + "x" + std::to_string(image.height) +
                      " RGBA pixels, found " + std::to_string(image.pixels.size()) + " bytes");
  SurfacePtr surface(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, image.width, image.height),
                     cairo_surface_destroy);
  cairo_surface_flush(surface.get());
  unsigned char* dst = cairo_image_surface_get_data(surface.get());
  const int stride = cairo_image_surface_get_stride(surface.get());
  for (int y = 0; y < image.height; ++y) {
    auto* row = reinterpret_cast<std::uint32_t*>(dst + std::size_t(y) * stride);
    for (int x = 0; x < image.width; ++x) {
      const std::uint8_t* p = &image.pixels[(std::size_t(y) * image.width + x) * 4];
      // Cairo stores premultiplied alpha in native-endian 32-bit words.
      const std::uint32_t a = p[3];
      auto pm = [a](std::uint32_t c) { return (c * a + 127) / 255; };
      row[x] = (a << 24) | (pm(p[0]) << 16) | (pm(p[1]) << 8) | pm(p[2]);
    }
  }
  cairo_surface_mark_dirty(surface.get());
  AtomicFile file(path);
  if (cairo_surface_write_to_png_stream(surface.get(), write_chunk, &file) != CAIRO_STATUS_SUCCESS)
    throw_input_error("cannot write PNG " + path.string() + ": Cairo failed to encode the image");
  file.commit();
}

RgbaImage read_png(const std::filesystem::path& path) {
  SurfacePtr surface(cairo_image_surface_create_from_png(path.c_str()), cairo_surface_destroy);
  if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS)
    throw_input_error("cannot read PNG " + path.string() + ": " +
                      cairo_status_to_string(cairo_surface_status(surface.get())));
  cairo_surface_flush(surface.get());
  RgbaImage image;
  image.width = cairo_image_surface_get_width(surface.get());
  image.height = cairo_image_surface_get_height(surface.get());
  const cairo_format_t format = cairo_image_surface_get_format(surface.get());
  const unsigned char* src = cairo_image_surface_get_data(surface.get());
  const int stride = cairo_image_surface_get_stride(surface.get());
  image.pixels.resize(std::size_t(image.width) * image.height * 4);
  for (int y = 0; y < image.height; ++y) {
    const auto* row = reinterpret_cast<const std::uint32_t*>(src + std::size_t(y) * stride);
    for (int x = 0; x < image.width; ++x) {
      const std::uint32_t v = row[x];
      std::uint32_t a = format == CAIRO_FORMAT_RGB24 ? 255 : (v >> 24) & 0xff;
      auto un = [a](std::uint32_t c) { return a == 0 ? 0u : (c * 255 + a / 2) / a; };
      std::uint8_t* p = &image.pixels[(std::size_t(y) * image.width + x) * 4];
      p[0] = std::uint8_t(un((v >> 16) & 0xff));
      p[1] = std::uint8_t(un((v >> 8) & 0xff));
      p[2] = std::uint8_t(un(v & 0xff));
      p[3] = std::uint8_t(a);
    }
  }
  return image;
}

} // namespace routerscope::io
