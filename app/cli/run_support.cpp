#include "app/cli/run_support.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>

namespace routerscope::cli {

namespace {

std::atomic<bool> g_interrupted{false};
using Handler = void (*)(int);
Handler g_previous = SIG_DFL;

extern "C" void on_sigint(int) {
  g_interrupted.store(true);
  std::signal(SIGINT, SIG_DFL); // a second Ctrl-C ends the process at once
}

} // namespace

InterruptGuard::InterruptGuard() {
  g_interrupted.store(false);
  g_previous = std::signal(SIGINT, on_sigint);
}

InterruptGuard::~InterruptGuard() {
  std::signal(SIGINT, g_previous);
}

const std::atomic<bool>* InterruptGuard::flag() const {
  return &g_interrupted;
}

io::RecordIdentity checkpoint_identity(const std::string& path, const ModelInfo& info) {
  namespace fs = std::filesystem;
  io::RecordIdentity id;
  id.path = path;
  id.family = info.family;
  std::error_code ec;
  fs::path p(path);
  if (fs::is_directory(p, ec)) {
    for (const auto& e : fs::directory_iterator(p, ec)) {
      const std::string name = e.path().filename().string();
      if (e.is_regular_file() && (e.path().extension() == ".safetensors" || name == "config.json" ||
                                  name.ends_with(".safetensors.index.json")))
        id.files.emplace_back(name, e.file_size());
    }
    std::sort(id.files.begin(), id.files.end());
  } else if (fs::is_regular_file(p, ec)) {
    id.files.emplace_back(p.filename().string(), fs::file_size(p, ec));
  }
  return id;
}

} // namespace routerscope::cli
