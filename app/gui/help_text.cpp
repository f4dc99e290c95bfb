#include "app/gui/help_text.h"

#include <imgui.h>

#include <algorithm>
#include <iterator>

namespace routerscope::gui {

namespace {

// Texts several labels share.
constexpr const char* kCos =
    "|cos(Rᵢ, u₁)| = |Rᵢ·u₁| / ‖Rᵢ‖: how closely router row i points along u₁, the top right "
    "singular vector of expert i's matrix G (the principal direction MPI steers towards). "
    "Sign-free; 1 when Rᵢ ∥ u₁.";
constexpr const char* kLambda =
    "Alignment λᵢ = ‖R′ᵢ W_g‖₂ / (‖R′ᵢ‖₂ · σ_max(W_g)) ∈ [0, 1] (paper Eq. 11), averaged over the "
    "experts of a layer; R′ is the router that routes (R for vanilla). λ = 1 exactly when R′ᵢ ∥ "
    "u₁. Trained routers in the paper: vanilla 0.22–0.37, MPI 0.62–0.70; a random direction "
    "gives about 0.41.";
constexpr const char* kNorm = "‖Rᵢ‖: the Euclidean norm of router row i. MPI's retraction sets "
                              "it to C = C′/√N (N experts).";
constexpr const char* kGap = "σ₂/σ₁: the second over the first singular value of G. Power "
                             "iteration closes the angle to u₁ like (σ₂/σ₁)^(2t): near 1, slowly.";
constexpr const char* kMaxVio =
    "MaxVio = (maxᵢ Loadᵢ − L̄) / L̄ (DeepSeek): Loadᵢ tokens routed to expert i, L̄ = T·k/N the "
    "load under perfect balance. 0 is perfect balance; 1 means the busiest expert gets twice its "
    "share. Batch: per training batch; global: over a held-out set. Averaged over layers.";
constexpr const char* kSteps = "Steps to run (training steps, one batch each).";
constexpr const char* kLr = "AdamW learning rate (peak; a short warm-up, then cosine decay).";
constexpr const char* kBatch = "Tokens per training step.";
constexpr const char* kLayers = "Decoder layers: of the checkpoint (MoE layers in brackets), or "
                                "of the model to pretrain.";
constexpr const char* kExperts = "Routed experts N per MoE layer (and the top-k each token goes "
                                 "to).";
constexpr const char* kMatrix =
    "The expert matrix G whose principal direction u₁ a router row is compared with and MPI "
    "steers towards: gate (W_g, the paper's default), up (W_p) or down (W_o); the paper found "
    "the three about equal.";
constexpr const char* kVariant =
    "Variants trained side by side on the same batches from the same start: vanilla routes with "
    "R; mpi with R′ = C·normalize(R W_g W_gᵀ); no-power with R′ = C·normalize(R); no-retract with "
    "R′ = R W_g W_gᵀ (paper Fig. 5 ablations).";

constexpr HelpEntry kEntries[] = {
    // Metrics.
    {"|cos(Rᵢ, u₁)|", HelpKind::Metric, kCos},
    {"|cos|", HelpKind::Metric, kCos},
    {"λ", HelpKind::Metric, kLambda},
    {"λ (Eq. 11)", HelpKind::Metric, kLambda},
    {"σ₁", HelpKind::Metric, "σ₁ = σ_max(G): the largest singular value of expert i's matrix."},
    {"σ₂/σ₁", HelpKind::Metric, kGap},
    {"‖Rᵢ‖", HelpKind::Metric, kNorm},
    {"‖G‖_F", HelpKind::Metric, "The Frobenius norm of expert i's matrix G."},
    {"tan θ", HelpKind::Metric,
     "tan θ: the tangent of the angle between Rᵢ and u₁, per MPI step, on a log axis (mean, "
     "min–max band, slowest and fastest expert). Power iteration bounds it by "
     "(σ₂/σ₁)^(2kt)·tan θ₀, drawn dashed."},
    {"bound", HelpKind::Metric,
     "(σ₂/σ₁)^(2kt)·tan θ₀: the power-iteration bound on tan θ after t MPI steps of k power "
     "steps each (mean over experts)."},
    {"MaxVio", HelpKind::Metric, kMaxVio},
    {"MaxVio (layer)", HelpKind::Metric, kMaxVio},
    {"load (slots)", HelpKind::Metric,
     "The routed slots expert i got from the load tokens (each token fills k slots)."},
    {"load share", HelpKind::Metric,
     "Expert i's share of the layer's routed slots; 1/N at perfect balance."},
    {"load", HelpKind::Metric,
     "Loadᵢ: the tokens routed to expert i (its share of the T·k routed slots), on the probe "
     "tokens (convergence stepping) or a training batch."},
    {"CV", HelpKind::Metric,
     "Coefficient of variation of the expert load: std(Load) / mean(Load); 0 is perfect "
     "balance (`routerscope route`)."},
    {"entropy", HelpKind::Metric,
     "Normalised routing entropy H(load share) / log N: 1 when every expert gets the same share "
     "(`routerscope route`)."},
    {"task loss", HelpKind::Metric,
     "Router training's task loss: the MSE between the MoE block's output with the trained "
     "router and the checkpoint's own output on the same tokens (experts frozen)."},
    {"LB loss", HelpKind::Metric,
     "Switch/OLMoE load-balancing loss α·N·Σᵢ fᵢ·Pᵢ: fᵢ the fraction of routed slots on expert "
     "i, Pᵢ its mean router probability; 1·α at perfect balance."},
    {"bits per byte", HelpKind::Metric,
     "Pretraining's validation loss in bits per byte of text (cross-entropy / ln 2; the model "
     "reads bytes)."},
    {"status", HelpKind::Fact,
     "Whether u₁ is defined for this expert: ok, or why not (non-finite weights, a zero "
     "router row, ...)."},
    {"‖r‖² share outside v₁..v₈", HelpKind::Metric,
     "The share of ‖Rᵢ‖² outside the span of G's eight leading right singular vectors."},
    // Parameters.
    {"C′", HelpKind::Parameter,
     "C′ sets MPI's retraction radius: R′ᵢ = C·R̂ᵢ / ‖R̂ᵢ‖ with C = C′/√N (paper Eq. 7). The "
     "paper's sweep found C′ = 4 best (1 worse than vanilla, 8 slightly worse). It scales the "
     "logits, not the directions: |cos|, λ and tan θ do not depend on it."},
    {"power steps k", HelpKind::Parameter,
     "k power steps per MPI step: R̂ᵢ = Rᵢ (W_g W_gᵀ)^k, computed as k pairs of matrix–vector "
     "products. The paper uses 1; 10 cost 5% throughput and trained slightly worse."},
    {"matrix", HelpKind::Parameter, kMatrix},
    {"ablation", HelpKind::Parameter,
     "none: power step, then retraction; no power step: R′ = C·R/‖R‖; no retraction: R′ = R̂ "
     "(collapsed pretraining in the paper)."},
    {"gating", HelpKind::Parameter,
     "softmax, top-k: softmax over all N logits, then the top-k (the paper's pseudo code, "
     "OLMoE); top-k, softmax: softmax over the top-k logits (its Eq. 6)."},
    {"steps/s", HelpKind::Parameter, "Convergence stepping's speed while playing."},
    {"layer", HelpKind::Parameter, "The MoE layer shown (its decoder layer index)."},
    {"expert", HelpKind::Parameter, "The expert whose values and curves are shown."},
    {"vanilla", HelpKind::Parameter, kVariant},
    {"mpi", HelpKind::Parameter, kVariant},
    {"no-power", HelpKind::Parameter, kVariant},
    {"no-retract", HelpKind::Parameter, kVariant},
    {"tokens", HelpKind::Parameter,
     "Router training's 4096 tokens: a synthetic Gaussian mixture, or the checkpoint's token "
     "embeddings through the layer's pre-MoE norm (the held-out tokens are synthetic)."},
    {"lr", HelpKind::Parameter, kLr},
    {"steps", HelpKind::Parameter, kSteps},
    {"batch", HelpKind::Parameter, kBatch},
    {"d_model", HelpKind::Parameter, "Model width D (hidden size)."},
    {"heads", HelpKind::Parameter, "Attention heads per layer."},
    {"top-k", HelpKind::Parameter, "Experts each token is routed to."},
    {"d_expert", HelpKind::Parameter, "Expert width d (intermediate size of each expert)."},
    {"ctx", HelpKind::Parameter, "Context length T in bytes."},
    {"LB α", HelpKind::Parameter,
     "α, the weight of the load-balancing loss α·N·Σᵢ fᵢ·Pᵢ (per layer, averaged); the paper "
     "uses 0.01."},
    {"seed", HelpKind::Parameter, "Random seed of the initialisation and the batches."},
    {"eval every", HelpKind::Parameter, "Steps between validation (bits per byte, MaxVio)."},
    {"align every", HelpKind::Parameter, "Steps between measurements of λ and the router norms."},
    {"threads", HelpKind::Parameter, "CPU threads of the training job."},
    {"corpus", HelpKind::Parameter,
     "Text to train on: a file or folder of text (default: the fortunes)."},
    {"record to", HelpKind::Parameter,
     "The HDF5 run record the run writes (default: a new file in the temporary folder)."},
    {"checkpoints", HelpKind::Parameter,
     "The series' checkpoints, one per line: folders, a glob (run/checkpoint-*) or a parent "
     "folder."},
    {"series layers", HelpKind::Parameter,
     "Layers to measure, e.g. 0-3,7 (default: every MoE "
     "layer)."},
    {"method", HelpKind::Parameter,
     "How u₁ is found: exact (full SVD), lanczos or power iteration."},
    {"load tokens", HelpKind::Parameter,
     "Hidden states (.h5) to route through each checkpoint for the load and MaxVio; none: no "
     "load."},
    {"cache", HelpKind::Parameter, "A folder keeping measured checkpoints for the next time."},
    // Facts of the opened model.
    {"path", HelpKind::Fact, "The opened checkpoint (or the run record's checkpoint)."},
    {"family", HelpKind::Fact, "The model family from config.json (its routing rules)."},
    {"layout", HelpKind::Fact, "How the experts are stored (one tensor per expert, or fused)."},
    {"layers", HelpKind::Fact, kLayers},
    {"experts", HelpKind::Fact, kExperts},
    {"shapes", HelpKind::Fact, "Model width D and expert width d."},
    {"dtypes", HelpKind::Fact, "The stored tensor types."},
    {"size", HelpKind::Fact, "The checkpoint's size on disk."},
    {"G shape", HelpKind::Fact, "The expert matrix G as stored: [d, D] for gate and up."},
};

std::vector<std::string> current_frame, last_frame;

} // namespace

std::span<const HelpEntry> help_entries() {
  return kEntries;
}

const HelpEntry* find_help(std::string_view name) {
  const auto it = std::find_if(std::begin(kEntries), std::end(kEntries),
                               [&](const HelpEntry& e) { return name == e.name; });
  return it == std::end(kEntries) ? nullptr : &*it;
}

void help_tip(std::string_view name) {
  name = name.substr(0, name.find("##"));
  if (std::find(current_frame.begin(), current_frame.end(), name) == current_frame.end())
    current_frame.emplace_back(name);
  const HelpEntry* e = find_help(name);
  if (e && ImGui::IsItemHovered()) {
    ImGui::BeginTooltip();
    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 32);
    ImGui::TextUnformatted(e->text);
    ImGui::PopTextWrapPos();
    ImGui::EndTooltip();
  }
}

void metric_names(std::initializer_list<const char*> names) {
  ImGui::TextDisabled("metrics (hover):");
  for (const char* name : names) {
    ImGui::SameLine();
    ImGui::TextUnformatted(name);
    help_tip(name);
  }
}

void begin_help_frame() {
  last_frame.swap(current_frame);
  current_frame.clear();
}

std::vector<std::pair<std::string, bool>> help_labels() {
  std::vector<std::pair<std::string, bool>> out;
  for (const auto& name : last_frame)
    out.emplace_back(name, find_help(name) != nullptr);
  return out;
}

void draw_help_menu() {
  const float wrap = ImGui::GetFontSize() * 34;
  auto glossary = [&](const char* title, HelpKind kind) {
    if (!ImGui::BeginMenu(title))
      return;
    const char* last_text = nullptr; // aliases share one text: listed once
    for (const HelpEntry& e : kEntries) {
      if (e.kind != kind || e.text == last_text)
        continue;
      last_text = e.text;
      ImGui::TextUnformatted(e.name);
      ImGui::PushTextWrapPos(wrap);
      ImGui::TextDisabled("%s", e.text);
      ImGui::PopTextWrapPos();
      ImGui::Spacing();
    }
    ImGui::EndMenu();
  };
  glossary("Metrics", HelpKind::Metric);
  glossary("Parameters", HelpKind::Parameter);
  if (ImGui::BeginMenu("Keys")) {
    ImGui::TextDisabled("Space: play/pause convergence stepping");
    ImGui::TextDisabled("→: one MPI step (queued while one runs)");
    ImGui::TextDisabled("←: back one step on the timeline; Home/End: first/last step");
    ImGui::TextDisabled("Series view: ←/→ move between checkpoints, Home/End first/last");
    ImGui::TextDisabled("Ctrl+O open, Ctrl+E export, Ctrl+Q quit");
    ImGui::TextDisabled("Plots: wheel zooms, drag pans, double-click fits");
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Documentation")) {
    ImGui::PushTextWrapPos(wrap);
    ImGui::TextDisabled("README.md (the GUI section: every view, key and script verb), "
                        "docs/FORMATS.md (run records), docs/ARCHITECTURE.md — installed in "
                        "share/doc/routerscope; man routerscope; "
                        "`routerscope help COMMAND` for the command line. The method: Wu et al., "
                        "\"Redesign Mixture-of-Experts Routers with Manifold Power Iteration\", "
                        "arXiv 2606.12397.");
    ImGui::PopTextWrapPos();
    ImGui::EndMenu();
  }
}

} // namespace routerscope::gui
