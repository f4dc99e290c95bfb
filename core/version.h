#pragma once
// The RouterScope version (CMake's project version), shown by `--version` and stored in every run
// record and JSON output so that a result names the tool that made it.
namespace routerscope {

// "MAJOR.MINOR.PATCH", e.g. "0.1.0".
const char* routerscope_version();

} // namespace routerscope
