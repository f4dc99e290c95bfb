#include "app/common/demo.h"

#include "core/error.h"

#include <filesystem>
#include <system_error>

namespace routerscope::app {

std::string default_checkpoint() {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (fs::path p : {self.parent_path() / "assets" / "demo",
                       self.parent_path() / ".." / "share" / "routerscope" / "demo"})
      if (fs::exists(p / "model.safetensors"))
        return p.lexically_normal().string();
  }
  if (fs::exists(fs::path(ROUTERSCOPE_DEMO_DIR) / "model.safetensors"))
    return ROUTERSCOPE_DEMO_DIR;
  throw_input_error("no checkpoint given and the bundled demo checkpoint was not found (expected "
                    "assets/demo/model.safetensors next to the routerscope executable)");
}

} // namespace routerscope::app
