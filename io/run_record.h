#pragma once
// HDF5 run records (docs/FORMATS.md "Run records"): one file per run, appended step by step to
// chunked, extendable float64 datasets in HDF5's single-writer/multiple-reader (SWMR) mode, so
// `plot`, the GUI and h5py read a record while its run writes it. Every dataset exists before the
// first step (SWMR creates no object later); the dataset `committed_rows` holds how many rows of
// each series belong to complete steps and is written after those rows are flushed, so readers
// see the datasets of one step together. The file is flushed at step boundaries at least every
// second; a killed process loses at most the last second.
#include "core/model.h"
#include "core/run_record.h"
#include "core/types.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace routerscope::io {

class RunRecordWriter {
public:
  // Creates (truncates) path. kind: "convergence" | "training" | "pretraining" | "series"; config:
  // a JSON document of the run's settings, stored as the root string attribute `config`.
  RunRecordWriter(const std::filesystem::path& path, const std::string& kind,
                  const std::string& config, const RecordIdentity& identity,
                  double flush_interval_s = 1.0);
  ~RunRecordWriter();
  RunRecordWriter(const RunRecordWriter&) = delete;
  RunRecordWriter& operator=(const RunRecordWriter&) = delete;

  // Creates the dataset `name` (width 0: 1-D [rows], else [rows, width]) if it does not exist.
  // Every dataset a run appends to must exist before the first step is committed: a run whose
  // first commit does not touch all its series (variants or layers one after another, samples
  // at evaluation steps) declares them first (declare_training_variant, declare_convergence_layer,
  // declare_pretrain_variant). Afterwards only existing datasets can be declared.
  void declare(const std::string& name, std::uint64_t width);
  // Freezes the set of datasets and starts SWMR writing: from here on readers may open the file.
  // The first commit_step calls it; a run calls it itself right after declaring its datasets so
  // that readers can open the record before the first step completes.
  void start_live();

  // Appends one row to the 2-D dataset `name` [rows, width] (created on first use before
  // start_live, width fixed).
  void append_row(const std::string& name, std::span<const double> row);
  // Appends one value to the 1-D dataset `name` [rows].
  void append_value(const std::string& name, double value);
  // Writes a fixed 1-D dataset once (e.g. σ₁ per expert).
  void write_vector(const std::string& name, std::span<const double> values);

  // Convergence runs: layers/<L>/{cos,lambda,router_norm,pre_norm,tan_theta,tan_bound}; at row 0
  // also layers/<L>/{sigma1,sigma2}.
  void add_convergence_row(const LayerConvergence& layer, const ConvergenceRow& row);
  // Training runs: variants/<name>/{loss,task_loss,lb_loss,z_loss,maxvio_batch,lr,grad_norm} and
  // variants/<name>/layers/<L>/{load,cos,lambda,router_norm[,stored_cos,stored_norm]}, plus
  // variants/<name>/{maxvio_global,maxvio_global_step} when present.
  void add_training_step(int layer, const TrainStepRecord& record);

  // Marks every row appended so far as part of complete steps (add_convergence_row and
  // add_training_step call it; the first call starts live writing), then flushes when due. Throws
  // BadInput naming the file and the cause (e.g. "No space left on device") when HDF5 cannot write.
  void commit_step();
  // Flushes when flush_interval_s has passed since the last flush.
  void flush_if_due();
  // Flushes every row, then writes the committed counts (the rows of steps committed so far).
  void flush();
  // Commits, flushes and closes; further calls throw. The destructor closes without throwing.
  void close();

private:
  struct Dataset {
    std::int64_t id = -1;
    std::uint64_t rows = 0, width = 0; // width 0: 1-D
    std::uint64_t committed = 0;       // rows covered by the last commit_step
    std::size_t index = 0;             // position in the committed counts
  };
  [[noreturn]] void fail_write(const std::string& what) const;
  Dataset& dataset(const std::string& name, std::uint64_t width);
  void append(const std::string& name, const double* data, std::uint64_t width, bool two_d);
  void write_counts();

  std::filesystem::path path_;
  std::int64_t file_ = -1;
  std::int64_t counts_ = -1; // the committed_rows dataset, once live
  std::uint64_t generation_ = 0;
  std::map<std::string, Dataset> datasets_;
  double interval_;
  std::chrono::steady_clock::time_point last_flush_;
};

// Declares the datasets add_training_step(layer, ·) appends for a variant `name` with `experts`
// experts; `reparametrised`: it records the stored router too (MPI variants); `global`: it records
// MaxVio_global (a held-out set and global_every > 0).
void declare_training_variant(RunRecordWriter& writer, int layer, const std::string& name,
                              std::size_t experts, bool reparametrised, bool global);
// Declares the datasets add_convergence_row appends for `layer` with `experts` experts.
void declare_convergence_layer(RunRecordWriter& writer, int layer, std::size_t experts);

// Opens a record read-only (also one whose writer still runs or was killed) and reads the rows of
// committed steps; a series without a committed row is left out. Throws BadInput naming the file
// and dataset when it is not a RouterScope record.
RunRecord read_run_record(const std::filesystem::path& path);

// The identity of the checkpoint at `path` a record is run on: path, family and the sizes of its
// .safetensors, index and config.json files (sorted by name).
RecordIdentity checkpoint_identity(const std::string& path, const ModelInfo& info);

// Reads a 1-D or 2-D numeric dataset of any file as float64 [rows, cols] (1-D: cols = 1).
MatrixD read_hdf5_matrix(const std::filesystem::path& path, const std::string& dataset);

// Token source "HDF5 file of hidden states": dataset `hidden_states` [T, D] of F16, F32 or F64.
MatrixF read_hidden_states(const std::filesystem::path& path,
                           const std::string& dataset = "hidden_states");

} // namespace routerscope::io
