#include "tests/support/test_support.h"

#include "core/error.h"

#include <gtest/gtest.h>

#include <Eigen/QR>
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace routerscope::test {

namespace fs = std::filesystem;

TempDir::TempDir(const std::string& tag) {
  static std::atomic<int> counter{0};
  fs::path base = fs::path(ROUTERSCOPE_BINARY_DIR) / "test-tmp";
  path_ = base / (tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string bad_input_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected a BadInput error";
  return {};
}

fs::path hf_tiny_dir() {
  const fs::path p = fs::path(ROUTERSCOPE_TEST_DATA_DIR) / "hf-tiny";
  for (const char* name : {"mixtral_classic.safetensors", "mixtral_classic_config.json",
                           "qwen2_moe_layer0.safetensors", "qwen2_moe_layer0.json",
                           "deepseek_full.safetensors", "deepseek_full_config.json"})
    if (!fs::exists(p / name))
      throw std::runtime_error("test fixture " + (p / name).string() +
                               " is missing (tests/data/hf-tiny belongs to the repository)");
  return p;
}

fs::path routerscope_exe() {
  if (const char* e = std::getenv("ROUTERSCOPE_EXE"))
    return e;
  return fs::path(ROUTERSCOPE_BINARY_DIR) / "routerscope";
}

static std::string drain(int fd) {
  std::string out;
  std::array<char, 4096> buf{};
  ssize_t n;
  while ((n = ::read(fd, buf.data(), buf.size())) > 0)
    out.append(buf.data(), static_cast<size_t>(n));
  return out;
}

CommandResult run_routerscope(const std::vector<std::string>& args,
                              const std::function<void(int pid)>& while_running) {
  // stdout and stderr go to temporary files so that neither pipe can fill and block the child.
  TempDir dir("cmd");
  fs::path out_path = dir / "stdout", err_path = dir / "stderr";
  CommandResult r;
  pid_t pid = ::fork();
  if (pid == 0) {
    int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = ::open("/dev/null", O_RDONLY);
    ::dup2(o, 1);
    ::dup2(e, 2);
    ::dup2(in, 0);
    std::string exe = routerscope_exe().string();
    std::vector<char*> argv;
    argv.push_back(exe.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  if (while_running)
    while_running(pid);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  int o = ::open(out_path.c_str(), O_RDONLY);
  int e = ::open(err_path.c_str(), O_RDONLY);
  r.out = drain(o);
  r.err = drain(e);
  ::close(o);
  ::close(e);
  return r;
}

CommandResult run_shell(const std::string& command) {
  CommandResult r;
  if (FILE* p = ::popen(command.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
      r.out.append(buf, n);
    int status = ::pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  return r;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

static MatrixD random_orthonormal(int rows, int cols, std::mt19937_64& rng) {
  std::normal_distribution<double> n(0.0, 1.0);
  MatrixD a(rows, cols);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      a(i, j) = n(rng);
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(a);
  Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(rows, cols);
  return q;
}

Planted planted_matrix(int rows, int cols, const std::vector<double>& sigma, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  int r = std::min<int>({rows, cols, static_cast<int>(sigma.size())});
  MatrixD u = random_orthonormal(rows, r, rng);
  MatrixD v = random_orthonormal(cols, r, rng);
  Eigen::VectorXd s(r);
  for (int i = 0; i < r; ++i)
    s(i) = sigma[static_cast<size_t>(i)];
  MatrixD g = u * s.asDiagonal() * v.transpose();
  Planted p;
  p.g = g.cast<float>();
  p.v1 = v.col(0);
  p.sigma.assign(sigma.begin(), sigma.begin() + r);
  return p;
}

std::vector<double> gapped_spectrum(int count, double ratio, double tail_decay) {
  std::vector<double> s(static_cast<size_t>(count));
  double v = ratio;
  for (int i = 0; i < count; ++i) {
    if (i == 0) {
      s[0] = 1.0;
      continue;
    }
    s[static_cast<size_t>(i)] = v;
    v *= tail_decay;
  }
  return s;
}

MatrixF random_matrix(int rows, int cols, std::uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.0f, scale);
  MatrixF m(rows, cols);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      m(i, j) = n(rng);
  return m;
}

SparsemixerChoice phimoe_sparsemixer(const Eigen::VectorXd& z, double jitter_eps) {
  const double inf = std::numeric_limits<double>::infinity();
  SparsemixerChoice out{};
  Eigen::VectorXd scores = z; // masked_scores for the second round
  for (int round = 0; round < 2; ++round) {
    Eigen::Index arg = 0;
    const double threshold = scores.maxCoeff(&arg);
    Eigen::VectorXd masked = scores;
    for (Eigen::Index e = 0; e < z.size(); ++e) {
      const double factor = std::max(std::abs(z(e)), threshold);
      if ((threshold - z(e)) / factor > 2 * jitter_eps)
        masked(e) = -inf;
    }
    const Eigen::VectorXd ex = (masked.array() - threshold).exp();
    out.experts[size_t(round)] = int(arg);
    out.weights[size_t(round)] = ex(arg) / ex.sum();
    scores(arg) = -inf; // torch.scatter(scores, -1, selected_experts, -inf)
  }
  return out;
}

InMemoryModel::InMemoryModel(ModelInfo info, std::map<int, Layer> layers, MatrixF embeddings)
    : info_(std::move(info)), layers_(std::move(layers)), embeddings_(std::move(embeddings)) {}

InMemoryModel InMemoryModel::random(int layers, int n, int d_model, int d_expert, int k,
                                    std::uint64_t seed) {
  ModelInfo info;
  info.path = "<memory>";
  info.family = "olmoe";
  info.layout = "per_expert";
  info.d_model = d_model;
  std::map<int, Layer> data;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> ratio(0.5, 0.95);
  for (int l = 0; l < layers; ++l) {
    LayerInfo li;
    li.layer = l;
    li.moe = true;
    li.experts = n;
    li.top_k = k;
    li.d_expert = d_expert;
    info.layers.push_back(li);
    Layer layer;
    layer.router = random_matrix(n, d_model, rng(), 0.02f);
    for (int e = 0; e < n; ++e) {
      int count = std::min(d_model, d_expert);
      Expert ex;
      ex.gate = planted_matrix(d_expert, d_model, gapped_spectrum(count, ratio(rng)), rng()).g;
      ex.up = random_matrix(d_expert, d_model, rng(), 0.05f);
      ex.down = random_matrix(d_model, d_expert, rng(), 0.05f);
      layer.experts.push_back(std::move(ex));
    }
    data.emplace(l, std::move(layer));
  }
  return InMemoryModel(std::move(info), std::move(data));
}

const InMemoryModel::Layer& InMemoryModel::at(int layer) const {
  auto it = layers_.find(layer);
  if (it == layers_.end())
    throw_input_error("<memory>: layer " + std::to_string(layer) + " is not an MoE layer");
  return it->second;
}

MatrixF InMemoryModel::router(int layer) const {
  return at(layer).router;
}
VectorF InMemoryModel::router_bias(int layer) const {
  return at(layer).router_bias;
}

MatrixF InMemoryModel::expert_weight(int layer, int expert, ExpertMatrix m) const {
  const auto& ex = at(layer).experts.at(static_cast<size_t>(expert));
  switch (m) {
  case ExpertMatrix::Gate:
    return ex.gate;
  case ExpertMatrix::Up:
    return ex.up;
  case ExpertMatrix::Down:
    return ex.down;
  }
  return ex.gate;
}

VectorF InMemoryModel::expert_bias(int, int, ExpertMatrix) const {
  return {};
}

MatrixF InMemoryModel::shared_weight(int layer, ExpertMatrix m) const {
  const auto& l = at(layer);
  switch (m) {
  case ExpertMatrix::Gate:
    return l.shared_gate_proj;
  case ExpertMatrix::Up:
    return l.shared_up;
  case ExpertMatrix::Down:
    return l.shared_down;
  }
  return {};
}

MatrixF InMemoryModel::shared_gate(int layer) const {
  return at(layer).shared_gate_weight;
}
VectorF InMemoryModel::pre_moe_norm(int layer) const {
  return at(layer).norm;
}

} // namespace routerscope::test
