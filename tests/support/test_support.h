#pragma once
// Shared test helpers: temporary folders, matrices with planted spectra, an in-memory MoeModel,
// and the reference fixtures in tests/data (a missing fixture fails the test).
#include "core/model.h"
#include "core/types.h"

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace routerscope::test {

// A fresh, empty folder under the build tree, removed when the object dies.
class TempDir {
public:
  explicit TempDir(const std::string& tag = "t");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
  std::filesystem::path path_;
};

// tests/data/hf-tiny in the source tree; throws (so the calling test fails) when a file is missing.
std::filesystem::path hf_tiny_dir();

// The routerscope executable under test (from $ROUTERSCOPE_EXE or the build tree).
std::filesystem::path routerscope_exe();
struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};
// Runs the routerscope executable with arguments (no shell), capturing stdout and stderr.
// while_running, when given, is called with the child's process id before it is waited for.
CommandResult run_routerscope(const std::vector<std::string>& args,
                              const std::function<void(int pid)>& while_running = {});

// The message of the BadInput error `f` throws; a test failure when it throws none or another kind.
std::string bad_input_message(const std::function<void()>& f);

// Runs a shell command line (tests use it for python3, pdftotext, ...): exit code and stdout.
CommandResult run_shell(const std::string& command);
// `s` as one single-quoted shell word.
std::string shell_quote(const std::string& s);
// The whole content of a text file ("" when it cannot be read).
std::string read_text(const std::filesystem::path& path);

// Random [rows, cols] matrix G = U diag(s) Vᵀ with chosen singular values s (descending, length
// min(rows, cols) or fewer: the rest are 0). Returns G and the exact top right singular vector.
struct Planted {
  MatrixF g;
  VectorD v1; // exact top right singular vector (unit), from construction
  std::vector<double> sigma;
};
Planted planted_matrix(int rows, int cols, const std::vector<double>& sigma, std::uint64_t seed);
// Singular values with σ₂/σ₁ = ratio, a geometric tail below σ₂ and σ₁ = 1.
std::vector<double> gapped_spectrum(int count, double ratio, double tail_decay = 0.97);

MatrixF random_matrix(int rows, int cols, std::uint64_t seed, float scale = 1.0f);

// transformers' phimoe `sparsemixer` in evaluation mode (training False, top_k 2), re-derived in
// float64 from its code for one token's router logits z [N]: the two selected experts in order
// and their multipliers. Step by step as there: threshold = max(scores), factor =
// |scores|.clamp(min=threshold), mask = (threshold − scores)/factor > 2·jitter_eps, masked
// softmax read at the argmax; then the first choice set to −inf and the same again (the second
// mask's factor still uses the unmasked scores).
struct SparsemixerChoice {
  std::array<int, 2> experts;
  std::array<double, 2> weights;
};
SparsemixerChoice phimoe_sparsemixer(const Eigen::VectorXd& z, double jitter_eps);

// A MoeModel held in memory, for core tests that need no files.
class InMemoryModel : public MoeModel {
public:
  struct Expert {
    MatrixF gate, up, down; // Linear orientation: gate/up [d, D], down [D, d]
  };
  struct Layer {
    MatrixF router; // [N, D]
    VectorF router_bias;
    std::vector<Expert> experts;
    MatrixF shared_gate_proj, shared_up, shared_down, shared_gate_weight;
    VectorF norm;
  };
  InMemoryModel(ModelInfo info, std::map<int, Layer> layers, MatrixF embeddings = {});
  // A model of `layers` MoE layers of N random experts [d, D] with planted gaps, top-k = k.
  static InMemoryModel random(int layers, int n, int d_model, int d_expert, int k,
                              std::uint64_t seed);

  const ModelInfo& info() const override { return info_; }
  MatrixF router(int layer) const override;
  VectorF router_bias(int layer) const override;
  MatrixF expert_weight(int layer, int expert, ExpertMatrix m) const override;
  VectorF expert_bias(int layer, int expert, ExpertMatrix m) const override;
  MatrixF shared_weight(int layer, ExpertMatrix m) const override;
  MatrixF shared_gate(int layer) const override;
  MatrixF embeddings() const override { return embeddings_; }
  VectorF pre_moe_norm(int layer) const override;

  Layer& layer_data(int layer) { return layers_.at(layer); }

private:
  const Layer& at(int layer) const;
  ModelInfo info_;
  std::map<int, Layer> layers_;
  MatrixF embeddings_;
};

} // namespace routerscope::test
