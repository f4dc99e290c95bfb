#pragma once
// What the GUI shows, computed off the UI thread: the opened model with its alignment table, one
// expert's spectrum, and an MPI convergence run. Each compute function is the body of a Job; the
// UI only reads their published, immutable results.
#include "core/align.h"
#include "core/compute_backend.h"
#include "core/model.h"
#include "core/mpi.h"
#include "core/mpi_convergence.h"
#include "core/progress.h"
#include "core/training.h"
#include "io/run_record.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace routerscope::gui {

struct OpenedModel {
  std::string path;
  std::shared_ptr<const MoeModel> model;
  ModelInfo info;
  ExpertMatrix matrix = ExpertMatrix::Gate;
  std::vector<LayerAlignment> alignment; // one per MoE layer, in layer order
  // rows = MoE layers, cols = max experts; NaN where a layer has fewer experts or status != Ok.
  std::vector<float> cos_grid, lambda_grid;
  int grid_rows = 0, grid_cols = 0;
};

// Opens `path` (checkpoint folder, .safetensors, .index.json) and aligns every MoE layer.
// `backend` computes the principal directions (null = the CPU).
std::shared_ptr<const OpenedModel> open_and_align(const std::string& path, ExpertMatrix matrix,
                                                  const Progress& progress,
                                                  const ComputeBackend* backend = nullptr);

struct ExpertDetail {
  int layer = 0, expert = 0;
  std::vector<double> sigma;      // leading singular values of G [d, D], descending
  std::vector<double> projection; // (v_j · r)/‖r‖ for the same leading right singular vectors v_j
  double router_norm = 0;
  int d = 0, d_model = 0;
  // The expert's weights or its router row hold NaN/Inf: no spectrum or projection exists (sigma
  // and projection stay empty); `non_finite` says which ("weights" or "router row").
  std::string non_finite;
};

// Leading `count` singular values of the expert's direction operator and the router row's
// projection onto the matching right singular directions (exact SVD of the one expert).
ExpertDetail expert_detail(const MoeModel& model, int layer, int expert, ExpertMatrix matrix,
                           int count, const Progress& progress);

// One recorded step of convergence stepping R_{t+1} = mpi_router(R_t) on one layer.
struct MpiStepRecord {
  int step = 0;
  std::vector<double> cos;    // |cos(R_t[i], u₁ᵢ)| per expert (NaN when u₁ is undefined)
  std::vector<double> lambda; // λ of R_t[i] (Eq. 11)
  std::vector<double> norm;   // ‖R_t[i]‖
  std::vector<double> pre_norm; // ‖(GᵢᵀGᵢ)^k R_{t−1}[i]‖ before the retraction (NaN at step 0)
  std::vector<double> load; // share of routed slots per expert on the probe tokens (sums to 1)
  double max_vio = 0;       // (max load − mean load) / mean load
  double mean_cos = 0, mean_lambda = 0, mean_norm = 0;
};

struct MpiRunSettings {
  int layer = 0;
  MpiSettings mpi;
  int probe_tokens = 512; // Gaussian probe tokens used to measure the load
  std::uint64_t seed = 0;
};

// The stepping state a job advances; the UI never touches it while a job runs. The stepping and
// its measurements (|cos|, λ, norms, pre-retraction norms) are core's ConvergenceStepper, the one
// `routerscope mpi` uses; this adds only the load of seeded probe tokens routed by the family's
// rule.
class MpiStepper {
public:
  // `backend` computes directions and steps (null = the CPU); the layer is uploaded once.
  MpiStepper(std::shared_ptr<const OpenedModel> model, const MpiRunSettings& settings,
             const Progress& progress, std::shared_ptr<const ComputeBackend> backend = nullptr);
  ~MpiStepper();
  // Advances `steps` steps, appending a record for each; the records so far are returned.
  void advance(int steps, const Progress& progress);
  std::shared_ptr<const std::vector<MpiStepRecord>> records() const { return records_; }
  const MpiRunSettings& settings() const { return settings_; }

private:
  MpiStepRecord measure(const ConvergenceRow& row) const;
  std::shared_ptr<const OpenedModel> model_;
  MpiRunSettings settings_;
  std::shared_ptr<const ComputeBackend> backend_;
  std::unique_ptr<ConvergenceStepper> stepper_; // uses backend_ (declared after it)
  MatrixF tokens_;
  VectorF bias_;
  RoutingRule rule_;
  int top_k_ = 1;
  std::shared_ptr<const std::vector<MpiStepRecord>> records_;
};

// Writes a finished or running convergence session as an HDF5 run record (io/run_record.h, kind
// "convergence") with the extra datasets layers/<L>/load [steps, N] and layers/<L>/max_vio [steps].
void save_convergence_record(const std::string& path, const OpenedModel& model,
                             const MpiRunSettings& settings,
                             const std::vector<MpiStepRecord>& records);

// The record save_convergence_record writes followed by io::read_run_record, built in memory (the
// GUI draws the named record figures of the run on screen from it, as `plot` does from the file).
RunRecord convergence_record(const OpenedModel& model, const MpiRunSettings& settings,
                             const std::vector<MpiStepRecord>& records);

// Writes a router-training session as an HDF5 run record (kind "training", exactly the layout of
// `routerscope train --record`), from the per-step records of every variant.
// `config` is the run's settings as JSON (training_config).
void save_training_record(const std::string& path, const OpenedModel& model, int layer,
                          const std::string& config, const std::vector<TrainStepRecord>& records);

// A run record read back for replay: a convergence run (records) or a training run (training).
struct Replay {
  std::string checkpoint; // the record's identity path (the checkpoint it was run on)
  int layer = 0;          // the first recorded layer
  std::string config;     // the record's settings (JSON)
  std::vector<MpiStepRecord> records;
  std::vector<TrainStepRecord> training;
  // A pretraining record (no checkpoint: it replays in the Pretraining view) and its complete
  // steps.
  std::shared_ptr<const RunRecord> pretraining;
  int pretraining_steps = 0;
  // A series record (`routerscope series --record`; replays in the Series view).
  std::shared_ptr<const RunRecord> series;
  bool is_training() const { return !training.empty(); }
};
// Reads a convergence, training, pretraining or series record; BadInput naming the file when it is
// none.
Replay read_replay(const std::string& path);

} // namespace routerscope::gui
