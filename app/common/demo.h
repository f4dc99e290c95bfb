#pragma once
// What both front ends (app/cli, app/gui) share that is neither core nor io: where the bundled
// demo checkpoint lives.
#include <string>

namespace routerscope::app {

// The checkpoint used when no path is given: the bundled demo, next to the executable (build
// tree or install: ../share/routerscope/demo), else the configured build folder's. BadInput when
// none is there.
std::string default_checkpoint();

} // namespace routerscope::app
