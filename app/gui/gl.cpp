#include "app/gui/gl.h"

#include "core/error.h"

#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h>

#include <algorithm>
#include <utility>

namespace routerscope::gui {

namespace {

GLuint compile(GLenum type, const char* source) {
  GLuint shader = glCreateShader(type);
  glShaderSource(shader, 1, &source, nullptr);
  glCompileShader(shader);
  GLint ok = 0;
  glGetShaderiv(shader, GL_COMPILE_STATUS, &ok);
  if (!ok) {
    char log[2048] = {};
    glGetShaderInfoLog(shader, sizeof log, nullptr, log);
    glDeleteShader(shader);
    throw_internal_error(std::string("GLSL ") + (type == GL_VERTEX_SHADER ? "vertex" : "fragment") +
                         " shader failed to compile: " + log);
  }
  return shader;
}

} // namespace

bool gl_context_current() {
  return glfwGetCurrentContext() != nullptr; // NULL, silently, before glfwInit
}

Program::Program(const char* vertex_source, const char* fragment_source) {
  GLuint vs = compile(GL_VERTEX_SHADER, vertex_source);
  GLuint fs = compile(GL_FRAGMENT_SHADER, fragment_source);
  id_ = glCreateProgram();
  glAttachShader(id_, vs);
  glAttachShader(id_, fs);
  glLinkProgram(id_);
  glDeleteShader(vs);
  glDeleteShader(fs);
  GLint ok = 0;
  glGetProgramiv(id_, GL_LINK_STATUS, &ok);
  if (!ok) {
    char log[2048] = {};
    glGetProgramInfoLog(id_, sizeof log, nullptr, log);
    glDeleteProgram(id_);
    id_ = 0;
    throw_internal_error(std::string("GLSL program failed to link: ") + log);
  }
}

Program::~Program() {
  if (id_)
    glDeleteProgram(id_);
}

Program& Program::operator=(Program&& o) noexcept {
  std::swap(id_, o.id_);
  return *this;
}

Texture::~Texture() {
  if (id_)
    glDeleteTextures(1, &id_);
}

void Texture::ensure() {
  if (!id_)
    glGenTextures(1, &id_);
  glBindTexture(GL_TEXTURE_2D, id_);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
}

void Texture::upload_scalar(int width, int height, const std::vector<float>& values) {
  width_ = width;
  height_ = height;
  if (!gl_context_current())
    return;
  ensure();
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
  glPixelStorei(GL_UNPACK_ALIGNMENT, 4);
  glTexImage2D(GL_TEXTURE_2D, 0, GL_R32F, width, height, 0, GL_RED, GL_FLOAT, values.data());
}

void Texture::upload_rgba(int width, int height, const std::uint8_t* rgba, bool linear) {
  width_ = width;
  height_ = height;
  if (!gl_context_current())
    return;
  ensure();
  const GLint filter = linear ? GL_LINEAR : GL_NEAREST;
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, filter);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, filter);
  glPixelStorei(GL_UNPACK_ALIGNMENT, 4);
  glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA8, width, height, 0, GL_RGBA, GL_UNSIGNED_BYTE, rgba);
}

Framebuffer::~Framebuffer() {
  release();
}

void Framebuffer::release() {
  if (fbo_)
    glDeleteFramebuffers(1, &fbo_);
  if (color_)
    glDeleteTextures(1, &color_);
  fbo_ = color_ = 0;
}

void Framebuffer::resize(int width, int height) {
  if (fbo_ && width == width_ && height == height_)
    return;
  release();
  glGenTextures(1, &color_);
  glBindTexture(GL_TEXTURE_2D, color_);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_LINEAR);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_LINEAR);
  glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA8, width, height, 0, GL_RGBA, GL_UNSIGNED_BYTE, nullptr);
  glGenFramebuffers(1, &fbo_);
  glBindFramebuffer(GL_FRAMEBUFFER, fbo_);
  glFramebufferTexture2D(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_TEXTURE_2D, color_, 0);
  const GLenum status = glCheckFramebufferStatus(GL_FRAMEBUFFER);
  glBindFramebuffer(GL_FRAMEBUFFER, 0);
  if (status != GL_FRAMEBUFFER_COMPLETE)
    throw_internal_error("offscreen framebuffer " + std::to_string(width) + "x" +
                         std::to_string(height) + " is incomplete (status " +
                         std::to_string(status) + ")");
  width_ = width;
  height_ = height;
}

void Framebuffer::bind() const {
  glBindFramebuffer(GL_FRAMEBUFFER, fbo_);
  glViewport(0, 0, width_, height_);
}

void Framebuffer::bind_default() {
  glBindFramebuffer(GL_FRAMEBUFFER, 0);
}

std::vector<std::uint8_t> Framebuffer::read_rgba() const {
  std::vector<std::uint8_t> flipped(std::size_t(width_) * height_ * 4);
  glBindFramebuffer(GL_READ_FRAMEBUFFER, fbo_);
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  glReadPixels(0, 0, width_, height_, GL_RGBA, GL_UNSIGNED_BYTE, flipped.data());
  glBindFramebuffer(GL_READ_FRAMEBUFFER, 0);
  // GL's first row is the bottom one.
  std::vector<std::uint8_t> out(flipped.size());
  const std::size_t row = std::size_t(width_) * 4;
  for (int y = 0; y < height_; ++y)
    std::copy_n(&flipped[std::size_t(height_ - 1 - y) * row], row, &out[std::size_t(y) * row]);
  for (std::size_t i = 3; i < out.size(); i += 4)
    out[i] = 255;
  return out;
}

} // namespace routerscope::gui
