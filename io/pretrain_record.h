#pragma once
// Pretraining run records (docs/FORMATS.md "Pretraining runs"): the same HDF5 file, datasets and
// flushing as the other run records (io::RunRecordWriter), kind "pretraining", with one group per
// variant holding per-step series, per-layer per-expert rows, validation and alignment samples.
#include "core/types.h"
#include "io/run_record.h"

#include <optional>
#include <string>
#include <vector>

namespace routerscope::io {

// What one layer of one variant did at one step (the forward pass of that step).
struct PretrainLayerRow {
  VectorD load;            // [E] routed slots per expert in the batch (top-k counts)
  double maxvio_batch = 0; // (max load − mean)/mean on the batch
  VectorD router_norm;     // [E] ‖R′ᵢ‖ of the router that routes (R for vanilla)
  VectorD raw_norm;        // [E] ‖Rᵢ‖ of the stored parameter R
  VectorD sigma1;          // [E] σ₁ of each expert's W_g (= w1, [F, D] as stored)
  VectorD cos, lambda; // [E] |cos(R′ᵢ, u₁)| and λ (Eq. 11); empty when not aligned this step
  std::optional<double> maxvio_global; // on the validation windows, at evaluation steps
};

// What one variant did at one step.
struct PretrainStepRow {
  std::string variant;
  int step = 0;
  double loss = 0;    // lm_loss + lb_loss
  double lm_loss = 0; // next-token cross-entropy, nats per token
  double lb_loss = 0; // α · mean over layers of the Switch loss N·Σ fᵢPᵢ
  double grad_norm = 0, lr = 0, tokens_per_s = 0;
  std::vector<PretrainLayerRow> layers; // one per decoder layer, in order
  std::optional<double> val_bpb;        // validation bits per token (byte), at evaluation steps
};

// Appends `row` to variants/<variant>/... of `writer` (a record created with kind "pretraining").
// The step is then committed (readers see it whole at the next flush).
void add_pretrain_step(RunRecordWriter& writer, const PretrainStepRow& row);
// Declares every dataset add_pretrain_step appends to for `variant` with `layers` decoder layers
// of `experts` experts (RunRecordWriter::declare: before the first step).
void declare_pretrain_variant(RunRecordWriter& writer, const std::string& variant,
                              std::size_t layers, std::size_t experts);

// The record that add_pretrain_step over `rows` followed by read_run_record gives, built in
// memory (the GUI draws a run that is still computing from it; every figure of it equals the
// figure of the file the run writes).
RunRecord pretrain_record(const std::vector<PretrainStepRow>& rows, const std::string& config,
                          const RecordIdentity& identity = {});

// The complete steps of one variant of a pretraining record (rows every per-step dataset holds),
// with the evaluation and alignment samples that fall inside them.
struct PretrainSeries {
  std::string name;
  std::map<std::string, VectorD> scalars; // step, loss, lm_loss, lb_loss, grad_norm, lr,
                                          // tokens_per_s [S]
  std::vector<std::map<std::string, MatrixD>> layers; // per layer: load, router_norm, raw_norm,
                                                      // sigma1 [S, E]; maxvio_batch [S, 1];
                                                      // cos, lambda [A, E]; maxvio_global [V, 1]
  VectorD val_step, val_bpb;                          // [V]
  VectorD align_step;                                 // [A]
  Eigen::Index steps() const { return scalars.empty() ? 0 : scalars.begin()->second.size(); }
};

// The variants of a pretraining record in the config's `variants` order. BadInput naming `origin`
// and the dataset when the record is not a pretraining record or a dataset is missing.
std::vector<PretrainSeries> pretrain_series(const RunRecord& record, const std::string& origin);

} // namespace routerscope::io
