#include "core/version.h"

// Defined for this file only (core/CMakeLists.txt), so a version bump recompiles one file.
#ifndef ROUTERSCOPE_VERSION
#error "ROUTERSCOPE_VERSION must be defined by the build"
#endif

namespace routerscope {

const char* routerscope_version() {
  return ROUTERSCOPE_VERSION;
}

} // namespace routerscope
