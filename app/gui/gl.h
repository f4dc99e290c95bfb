#pragma once
// Thin RAII wrappers over the OpenGL 3.3 core objects the GUI owns: shader programs, textures and
// framebuffers (the screenshot target and the heatmap's colour pass). Without a current GL context
// (headless frames, app/gui/headless.h) textures and the heatmap pass are inert: they keep their
// sizes and draw nothing.
#define GL_GLEXT_PROTOTYPES 1
#include <GL/gl.h>
#include <GL/glext.h>

#include <cstdint>
#include <string>
#include <vector>

namespace routerscope::gui {

// Whether this thread has a current OpenGL context (GLFW's; false when GLFW was never started).
bool gl_context_current();

// Compiles and links a vertex + fragment program; throws Internal with the GL info log on failure.
class Program {
public:
  Program() = default;
  Program(const char* vertex_source, const char* fragment_source);
  ~Program();
  Program(Program&& o) noexcept : id_(o.id_) { o.id_ = 0; }
  Program& operator=(Program&& o) noexcept;
  GLuint id() const { return id_; }
  GLint uniform(const char* name) const { return glGetUniformLocation(id_, name); }

private:
  GLuint id_ = 0;
};

// A 2-D texture; nearest sampling, clamp to edge.
class Texture {
public:
  Texture() = default;
  ~Texture();
  Texture(const Texture&) = delete;
  Texture& operator=(const Texture&) = delete;
  // One float per texel (R32F), row-major, `height` rows of `width` values; NaN allowed.
  void upload_scalar(int width, int height, const std::vector<float>& values);
  // RGBA8 texels, row-major.
  void upload_rgba(int width, int height, const std::uint8_t* rgba, bool linear);
  GLuint id() const { return id_; }
  int width() const { return width_; }
  int height() const { return height_; }

private:
  void ensure();
  GLuint id_ = 0;
  int width_ = 0, height_ = 0;
};

// An offscreen RGBA8 colour target we own (never the window's back buffer).
class Framebuffer {
public:
  Framebuffer() = default;
  ~Framebuffer();
  Framebuffer(const Framebuffer&) = delete;
  Framebuffer& operator=(const Framebuffer&) = delete;
  // (Re)allocates at width x height pixels; throws Internal when the FBO is incomplete.
  void resize(int width, int height);
  void bind() const;
  static void bind_default();
  // The colour attachment, top row first, RGBA8 (alpha forced to 255).
  std::vector<std::uint8_t> read_rgba() const;
  GLuint texture() const { return color_; }
  int width() const { return width_; }
  int height() const { return height_; }

private:
  void release();
  GLuint fbo_ = 0, color_ = 0;
  int width_ = 0, height_ = 0;
};

} // namespace routerscope::gui
