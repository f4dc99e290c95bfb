// Writes the application icon set (freedesktop hicolor layout) into the folder given:
// DIR/hicolor/<S>x<S>/apps/routerscope.png for the usual sizes and
// DIR/hicolor/scalable/apps/routerscope.svg. Drawn by io/app_icon (Cairo); nothing is copied in.
#include "core/error.h"
#include "io/app_icon.h"

#include <cstdio>
#include <filesystem>
#include <string>

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc != 2) {
    std::fprintf(stderr, "usage: routerscope_make_icons DIR\n");
    return 2;
  }
  try {
    const fs::path root = fs::path(argv[1]) / "hicolor";
    for (int size : {16, 24, 32, 48, 64, 128, 256, 512}) {
      const std::string s = std::to_string(size);
      const fs::path dir = root / (s + "x" + s) / "apps";
      fs::create_directories(dir);
      routerscope::io::write_png(dir / "routerscope.png", routerscope::io::app_icon_image(size));
    }
    fs::create_directories(root / "scalable" / "apps");
    routerscope::io::write_app_icon_svg(root / "scalable" / "apps" / "routerscope.svg");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "routerscope_make_icons: %s\n", e.what());
    return 1;
  }
  return 0;
}
