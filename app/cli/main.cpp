#include "app/cli/cli.h"

int main(int argc, char** argv) {
  return routerscope::cli::run(argc, argv);
}
