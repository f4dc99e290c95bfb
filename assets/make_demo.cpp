// Writes the bundled demo checkpoint: a small OLMoE-layout model (config.json + model.safetensors,
// BF16) from a fixed seed. 6 layers x 16 experts, D = 256, d = 128, top-4. Each expert's gate has a
// planted spectrum whose gap σ₂/σ₁ differs by expert and layer, and each router row is partly
// aligned with its expert's principal direction (λ ≈ 0.2–0.4, the range the MPI paper reports for
// vanilla routers), so alignment and MPI convergence have something to show.
#include "io/atomic_file.h"
#include "io/safetensors_writer.h"

#include <Eigen/QR>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

namespace {

using namespace routerscope;
using Mat = Eigen::MatrixXd;

constexpr int kLayers = 6, kExperts = 16, kModel = 256, kExpert = 128, kTopK = 4, kVocab = 512;

Mat gaussian(int rows, int cols, std::mt19937_64& rng, double sd = 1.0) {
  std::normal_distribution<double> n(0.0, sd);
  Mat m(rows, cols);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      m(i, j) = n(rng);
  return m;
}

Mat orthonormal_columns(int rows, int cols, std::mt19937_64& rng) {
  Eigen::HouseholderQR<Mat> qr(gaussian(rows, cols, rng));
  return qr.householderQ() * Mat::Identity(rows, cols);
}

// G = U diag(s) Vᵀ ([d, D]) with σ₁ = scale, σ₂ = ratio·scale and a geometric tail; returns v₁ too.
Mat planted_gate(double ratio, double scale, std::mt19937_64& rng, Eigen::VectorXd& v1) {
  Mat u = orthonormal_columns(kExpert, kExpert, rng);
  Mat v = orthonormal_columns(kModel, kExpert, rng);
  Eigen::VectorXd s(kExpert);
  double tail = ratio;
  for (int i = 0; i < kExpert; ++i) {
    s(i) = i == 0 ? 1.0 : tail;
    if (i > 0)
      tail *= 0.965;
  }
  v1 = v.col(0);
  return scale * u * s.asDiagonal() * v.transpose();
}

std::vector<float> to_floats(const Mat& m) {
  std::vector<float> out(static_cast<size_t>(m.size()));
  for (int i = 0; i < m.rows(); ++i)
    for (int j = 0; j < m.cols(); ++j)
      out[static_cast<size_t>(i * m.cols() + j)] = static_cast<float>(m(i, j));
  return out;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: routerscope_make_demo OUT_DIR\n");
    return 2;
  }
  try {
    std::filesystem::path out = argv[1];
    std::filesystem::create_directories(out);
    std::mt19937_64 rng(20260612);
    std::uniform_real_distribution<double> uni(0.0, 1.0);
    io::SafetensorsWriter w;
    w.set_metadata("format", "pt");
    w.set_metadata("generator", "routerscope_make_demo (seed 20260612)");
    const auto bf16 = io::DType::BF16;
    w.add("model.embed_tokens.weight", bf16, {kVocab, kModel},
          to_floats(gaussian(kVocab, kModel, rng, 0.5)));
    w.add("model.norm.weight", bf16, {kModel}, to_floats(Mat::Ones(1, kModel)));
    for (int l = 0; l < kLayers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      // Early layers: wide gaps (fast MPI convergence); late layers: σ₂/σ₁ close to 1.
      double lo = 0.35 + 0.08 * l, hi = std::min(0.97, 0.6 + 0.07 * l);
      Mat router(kExperts, kModel);
      for (int e = 0; e < kExperts; ++e) {
        Eigen::VectorXd v1;
        double ratio = lo + (hi - lo) * uni(rng);
        double scale = 1.5 + 1.5 * uni(rng);
        Mat gate = planted_gate(ratio, scale, rng, v1);
        Mat up = gaussian(kExpert, kModel, rng, 1.0 / std::sqrt(double(kModel)));
        Mat down = gaussian(kModel, kExpert, rng, 1.0 / std::sqrt(double(kExpert)));
        const std::string ep = p + "mlp.experts." + std::to_string(e) + ".";
        w.add(ep + "gate_proj.weight", bf16, {kExpert, kModel}, to_floats(gate));
        w.add(ep + "up_proj.weight", bf16, {kExpert, kModel}, to_floats(up));
        w.add(ep + "down_proj.weight", bf16, {kModel, kExpert}, to_floats(down));
        // Router row: a share of u₁ (random sign) plus an orthogonal random part.
        Eigen::VectorXd noise = gaussian(kModel, 1, rng);
        noise -= noise.dot(v1) * v1;
        noise.normalize();
        double c = 0.08 + 0.3 * uni(rng);
        double sign = uni(rng) < 0.5 ? -1.0 : 1.0;
        Eigen::VectorXd row = sign * c * v1 + std::sqrt(1 - c * c) * noise;
        router.row(e) = (0.4 + 0.4 * uni(rng)) * row.transpose();
      }
      w.add(p + "mlp.gate.weight", bf16, {kExperts, kModel}, to_floats(router));
      Mat norm = (Mat::Ones(1, kModel).array() + 0.1 * gaussian(1, kModel, rng).array()).matrix();
      w.add(p + "post_attention_layernorm.weight", bf16, {kModel}, to_floats(norm));
      w.add(p + "input_layernorm.weight", bf16, {kModel}, to_floats(Mat::Ones(1, kModel)));
    }
    w.write(out / "model.safetensors");
    const std::string config = R"({
  "architectures": ["OlmoeForCausalLM"],
  "model_type": "olmoe",
  "hidden_size": )" + std::to_string(kModel) +
                               R"(,
  "intermediate_size": )" + std::to_string(kExpert) +
                               R"(,
  "num_hidden_layers": )" + std::to_string(kLayers) +
                               R"(,
  "num_experts": )" + std::to_string(kExperts) +
                               R"(,
  "num_experts_per_tok": )" + std::to_string(kTopK) +
                               R"(,
  "norm_topk_prob": false,
  "vocab_size": )" + std::to_string(kVocab) +
                               R"(,
  "rms_norm_eps": 1e-05,
  "router_aux_loss_coef": 0.01,
  "torch_dtype": "bfloat16",
  "routerscope_demo": true
}
)";
    io::AtomicFile cfg(out / "config.json");
    cfg.write(config.data(), config.size());
    cfg.commit();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "routerscope_make_demo: %s\n", e.what());
    return 1;
  }
  return 0;
}
