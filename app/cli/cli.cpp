#include "app/cli/cli.h"

#include "core/error.h"

#include <cstdio>
#include <exception>
#include <string>

namespace routerscope::cli {

int run(int argc, char** argv) {
  try {
    if (argc < 2) {
      std::fprintf(stderr, "usage: routerscope COMMAND [ARGS]\n");
      return 2;
    }
    throw_input_error(std::string("unknown command '") + argv[1] + "'");
  } catch (const Error& e) {
    std::fprintf(stderr, "routerscope: %s\n", e.what());
    return e.kind() == ErrorKind::BadInput ? 2 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "routerscope: internal error: %s\n", e.what());
    return 1;
  }
}

} // namespace routerscope::cli
