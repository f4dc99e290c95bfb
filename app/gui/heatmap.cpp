#include "app/gui/heatmap.h"

#include "app/gui/shaders.h"

#include <algorithm>
#include <cmath>

namespace routerscope::gui {

namespace {

// viridis sampled at 9 evenly spaced stops (matplotlib's published table), linearly interpolated.
constexpr float kViridis[9][3] = {
    {0.267f, 0.005f, 0.329f}, {0.283f, 0.141f, 0.458f}, {0.254f, 0.265f, 0.530f},
    {0.207f, 0.372f, 0.553f}, {0.164f, 0.471f, 0.558f}, {0.128f, 0.567f, 0.551f},
    {0.135f, 0.659f, 0.518f}, {0.267f, 0.749f, 0.441f}, {0.478f, 0.821f, 0.318f}};
constexpr float kViridisTop[3] = {0.993f, 0.906f, 0.144f};

void sample(double t, float rgb[3]) {
  t = std::clamp(t, 0.0, 1.0) * 9.0; // 10 stops including the top
  const int i = std::min(int(t), 8);
  const double f = t - i;
  const float* a = kViridis[i];
  const float* b = i + 1 < 9 ? kViridis[i + 1] : kViridisTop;
  for (int c = 0; c < 3; ++c)
    rgb[c] = float(a[c] + (b[c] - a[c]) * f);
}

} // namespace

std::vector<std::uint8_t> viridis_lut() {
  std::vector<std::uint8_t> lut(256 * 4);
  for (int i = 0; i < 256; ++i) {
    float rgb[3];
    sample(i / 255.0, rgb);
    for (int c = 0; c < 3; ++c)
      lut[i * 4 + c] = std::uint8_t(std::lround(rgb[c] * 255.0f));
    lut[i * 4 + 3] = 255;
  }
  return lut;
}

std::uint32_t viridis_color(double t) {
  float rgb[3];
  sample(t, rgb);
  auto b = [](float v) { return std::uint32_t(std::lround(std::clamp(v, 0.0f, 1.0f) * 255.0f)); };
  return (0xffu << 24) | (b(rgb[2]) << 16) | (b(rgb[1]) << 8) | b(rgb[0]);
}

HeatmapRenderer::HeatmapRenderer() {
  if (!gl_context_current())
    return; // headless frames: render() draws nothing
  program_ = Program(shaders::kHeatmapVert, shaders::kHeatmapFrag);
  const std::vector<std::uint8_t> lut = viridis_lut();
  lut_.upload_rgba(256, 1, lut.data(), true);
  const float quad[] = {-1, -1, 1, -1, -1, 1, 1, 1};
  glGenVertexArrays(1, &vao_);
  glGenBuffers(1, &vbo_);
  glBindVertexArray(vao_);
  glBindBuffer(GL_ARRAY_BUFFER, vbo_);
  glBufferData(GL_ARRAY_BUFFER, sizeof quad, quad, GL_STATIC_DRAW);
  glEnableVertexAttribArray(0);
  glVertexAttribPointer(0, 2, GL_FLOAT, GL_FALSE, 0, nullptr);
  glBindVertexArray(0);
}

HeatmapRenderer::~HeatmapRenderer() {
  if (vbo_)
    glDeleteBuffers(1, &vbo_);
  if (vao_)
    glDeleteVertexArrays(1, &vao_);
}

void HeatmapRenderer::set_values(int rows, int cols, const std::vector<float>& values) {
  rows_ = rows;
  cols_ = cols;
  values_.upload_scalar(cols, rows, values);
  dirty_ = true;
}

unsigned HeatmapRenderer::render(int width, int height, float vmin, float vmax, bool grid) {
  width = std::max(width, 1);
  height = std::max(height, 1);
  const std::array<float, 5> now{float(width), float(height), vmin, vmax, grid ? 1.0f : 0.0f};
  if (!program_.id())
    return 0; // no GL context when it was made
  if (!dirty_ && now == last_)
    return target_.texture();
  GLint previous_fbo = 0, viewport[4];
  glGetIntegerv(GL_FRAMEBUFFER_BINDING, &previous_fbo);
  glGetIntegerv(GL_VIEWPORT, viewport);
  target_.resize(width, height);
  target_.bind();
  glDisable(GL_BLEND);
  glDisable(GL_SCISSOR_TEST);
  glUseProgram(program_.id());
  glActiveTexture(GL_TEXTURE0);
  glBindTexture(GL_TEXTURE_2D, values_.id());
  glActiveTexture(GL_TEXTURE1);
  glBindTexture(GL_TEXTURE_2D, lut_.id());
  glUniform1i(program_.uniform("u_values"), 0);
  glUniform1i(program_.uniform("u_lut"), 1);
  glUniform1f(program_.uniform("u_min"), vmin);
  glUniform1f(program_.uniform("u_max"), vmax);
  glUniform4f(program_.uniform("u_nan_color"), 0.55f, 0.55f, 0.58f, 1.0f);
  glUniform2f(program_.uniform("u_cells"), float(std::max(cols_, 1)), float(std::max(rows_, 1)));
  // Grid lines of about one pixel, only when cells are large enough to separate.
  const float cell_px =
      std::min(float(width) / std::max(cols_, 1), float(height) / std::max(rows_, 1));
  glUniform1f(program_.uniform("u_grid"), grid && cell_px >= 6 ? 0.5f / cell_px : 0.0f);
  glUniform4f(program_.uniform("u_grid_color"), 0.0f, 0.0f, 0.0f, 0.35f);
  glBindVertexArray(vao_);
  glDrawArrays(GL_TRIANGLE_STRIP, 0, 4);
  glBindVertexArray(0);
  glActiveTexture(GL_TEXTURE0);
  glUseProgram(0);
  glBindFramebuffer(GL_FRAMEBUFFER, GLuint(previous_fbo));
  glViewport(viewport[0], viewport[1], viewport[2], viewport[3]);
  dirty_ = false;
  last_ = now;
  return target_.texture();
}

} // namespace routerscope::gui
