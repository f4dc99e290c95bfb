#pragma once
// The run record in memory: what a convergence, training, pretraining or series run records, as
// plots, reports and the GUI read it. One definition of what a step records (the series of a
// convergence row, the series of a training step) serves both the in-memory builders here and
// io's HDF5 writer (io/run_record.h), which only writes and reads this struct; the file layout is
// docs/FORMATS.md "Run records".
#include "core/mpi_convergence.h"
#include "core/training.h"
#include "core/types.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace routerscope {

// Which checkpoint a run used.
struct RecordIdentity {
  std::string path;                                         // what the user opened
  std::string family;                                       // ModelInfo::family
  std::vector<std::pair<std::string, std::uint64_t>> files; // file name and size in bytes
};

// A record read back into memory (for plotting and GUI replay).
struct ConvergenceRecord {
  int layer = 0;
  std::map<std::string, MatrixD> series; // cos, lambda, ... each [steps + 1, experts]
  VectorD sigma1, sigma2;
};
struct TrainingVariantRecord {
  std::string name;
  std::map<std::string, VectorD> scalars;               // loss, lb_loss, ... [steps]
  std::map<int, std::map<std::string, MatrixD>> layers; // layer -> load, cos, ... [steps, experts]
  VectorD maxvio_global, maxvio_global_step;
};
struct RunRecord {
  std::string kind, config;
  RecordIdentity identity;
  std::vector<ConvergenceRecord> layers;       // convergence runs, by layer index
  std::vector<TrainingVariantRecord> variants; // training runs, sorted by name
  VectorD steps; // series runs: the training step of each checkpoint (layers hold their series)
};

// What a convergence row records, by dataset name under layers/<L>/ (every row; σ₁ and σ₂ are
// written once): the i-th name's series of `row` is convergence_series(row, i).
inline constexpr const char* kConvergenceSeries[] = {"cos",      "lambda",    "router_norm",
                                                     "pre_norm", "tan_theta", "tan_bound"};
const VectorD& convergence_series(const ConvergenceRow& row, std::size_t i);

// What a training step records: sink(key, values, per_layer) for the variant's 1-D series
// (per_layer false: one value for variants/<name>/<key>) and its per-expert rows (per_layer true:
// a row for variants/<name>/layers/<L>/<key>). Optional series (stored router, MaxVio_global) are
// visited only when the step has them.
using TrainingSeriesSink =
    std::function<void(const char* key, std::span<const double> values, bool per_layer)>;
void for_each_training_series(const TrainStepRecord& step, const TrainingSeriesSink& sink);

// The record that RunRecordWriter::add_training_step(layer, ·) over `steps` followed by
// read_run_record gives, built in memory (for figures of a run that is still computing).
RunRecord training_record(const std::vector<TrainStepRecord>& steps, int layer,
                          const std::string& config = "{}", const RecordIdentity& identity = {});

// The record that RunRecordWriter::add_convergence_row over every row of `layer` followed by
// read_run_record gives (kind "convergence", one layer), built in memory.
RunRecord convergence_record(const LayerConvergence& layer, const std::string& config = "{}",
                             const RecordIdentity& identity = {});

// The inverse of RunRecordWriter::add_training_step: the per-step records of a training record's
// variants for its first recorded layer (stored in *layer), ordered by step and then by the
// config's variant order (by name when the config has none). Throws BadInput naming `origin` and
// the dataset when the record is not a training record or a dataset is missing or short.
std::vector<TrainStepRecord> training_steps(const RunRecord& record, const std::string& origin,
                                            int* layer = nullptr);

// The variants of a record of `kind` ("training", "pretraining") in its config's `variants` order,
// then any others by name. BadInput naming `origin` for another kind, no variant or a config
// that is not JSON.
std::vector<const TrainingVariantRecord*> variants_in_config_order(const RunRecord& record,
                                                                   const std::string& kind,
                                                                   const std::string& origin);

// The MPI settings (matrix, c_prime, power_steps, ablation, gate_order) as the JSON text of a
// record's `config` attribute, with the keys of `extra` (a JSON object text) added.
std::string mpi_config(const MpiSettings& mpi, const std::string& extra = "{}");

// The settings of a training run as the JSON text of a record's `config` attribute. `extra` is a
// JSON object text whose keys are added (e.g. the token source and pool size).
std::string training_config(const TrainSettings& settings, const std::string& extra = "{}");

} // namespace routerscope
