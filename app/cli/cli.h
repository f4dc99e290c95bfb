#pragma once
// The `routerscope` command line (git-style subcommands). Exit codes: 0 success, 2 bad input or
// usage (message on stderr), 1 internal error.
namespace routerscope::cli {
int run(int argc, char** argv);
} // namespace routerscope::cli
