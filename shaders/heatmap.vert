#version 330 core
// Full-quad pass for the heatmap: positions in clip space, texture coordinates for the cells.
layout(location = 0) in vec2 a_position;
out vec2 v_uv;
void main() {
  v_uv = vec2(a_position.x * 0.5 + 0.5, 0.5 - a_position.y * 0.5);
  gl_Position = vec4(a_position, 0.0, 1.0);
}
