#pragma once
// Builders of the figures users expect, from plain data (no run records or file formats here).
// Each returns a Figure sized for one paper column unless a width is given; callers may adjust any
// field of the result before rendering.
#include "core/figure.h"

#include <optional>
#include <string>
#include <vector>

namespace routerscope {

// a. Alignment per layer and expert: values [layers, experts] row-major (|cos| or λ).
struct AlignmentGrid {
  std::vector<int> layers; // layer ids, one per row
  int experts = 0;
  std::vector<double> values; // layers.size() × experts
  std::string quantity = "|cos(Rᵢ, u₁)|";
  bool unit_interval = true; // colour limits fixed to [0, 1]
};
Figure alignment_heatmap(const AlignmentGrid& grid, double width = kSingleColumnWidth);

// b. MPI convergence of one layer: per_expert[e][t] is the plotted quantity (e.g. tan θ or
// 1 − |cos|) of expert e after steps[t]; bound[t] the predicted (σ₂/σ₁)^{2t}-type bound (optional).
struct ConvergencePanel {
  int layer = 0;
  std::vector<std::vector<double>> per_expert;
  std::vector<int> highlight;               // expert indices drawn individually
  std::vector<std::string> highlight_names; // legend names (default "expert E")
  std::vector<double> bound;                // empty = none
};
struct ConvergenceData {
  std::vector<double> steps;
  std::vector<ConvergencePanel> layers;
  std::string quantity = "tan θ to u₁";
  bool log_y = true;
  int power_steps = 1; // k power steps per MPI step: the bound is (σ₂/σ₁)^{2kt}·tan θ₀
};
// One panel per layer: mean across experts, min–max band, highlighted experts, dashed bound.
Figure mpi_convergence_figure(const ConvergenceData& data, double width = kDoubleColumnWidth);

// A named curve over steps.
struct Curve {
  std::string name;
  std::vector<double> x, y;
};
// c. Router norm evolution: one curve per layer (or per expert) over steps.
Figure router_norm_figure(const std::vector<Curve>& curves, const std::string& x_label = "step",
                          double width = kSingleColumnWidth);

// d. Load over time of one layer: load[e][t] = fraction of routed tokens of expert e at steps[t];
// maxvio_batch / maxvio_global per step (either may be empty).
struct LoadHistory {
  int layer = 0;
  std::vector<double> steps;
  std::vector<std::vector<double>> load;
  std::vector<double> maxvio_batch, maxvio_global;
};
// Per layer: experts × steps heatmap on top, MaxVio curves below.
Figure load_distribution_figure(const std::vector<LoadHistory>& layers,
                                double width = kDoubleColumnWidth);

// e. Singular spectra: sigma[e] = descending singular values of expert e (of one layer).
struct SpectrumData {
  int layer = 0;
  std::vector<std::vector<double>> sigma;
  std::vector<int> highlight; // experts drawn in colour
};
// Left: σ_k / σ₁ versus k (log y) for every expert; right: histogram of σ₂/σ₁ across experts.
Figure spectrum_figure(const SpectrumData& data, double width = kDoubleColumnWidth);

// f. Training runs compared (vanilla vs MPI, ablations): each metric gets a panel, all runs
// overlaid. The task loss and the load-balancing loss get panels of their own (the total is
// dominated by α·LB early on and hides the task loss); a run without task_loss (records of the
// first format) shows its total loss instead. `lb_alpha`, when known, is stated in the LB title.
struct TrainingRun {
  std::string name;
  std::vector<double> steps;
  std::vector<double> loss, lb_loss, maxvio, lambda; // empty = not recorded
  std::vector<double> task_loss;                     // (loss is the total: task + LB + z)
};
Figure training_comparison_figure(const std::vector<TrainingRun>& runs,
                                  std::optional<double> lb_alpha = std::nullopt,
                                  double width = kDoubleColumnWidth);

// g. Small multiples of curves over steps (pretraining runs compared): a curve named after a
// variant takes that variant's colour (variant_color), any other curve i categorical colour i, so a
// variant keeps its colour across panels and figures; an empty curve is skipped (its colour stays
// reserved). Sparse curves (at most 40 points) get markers.
struct CurvePanel {
  std::string title;
  std::vector<Curve> curves;
  std::optional<double> y_min, y_max;
};
Figure curve_panels_figure(const std::vector<CurvePanel>& panels, int columns,
                           double width = kDoubleColumnWidth);

// Equal-width histogram of the finite values: `bins` bins over [lo, hi] (lo == hi widened);
// returns bar centres, counts and bin width. Values outside [lo, hi] are ignored.
struct Histogram {
  std::vector<double> centers, counts;
  double width = 0;
};
Histogram histogram(const std::vector<double>& values, int bins, double lo, double hi);

} // namespace routerscope
