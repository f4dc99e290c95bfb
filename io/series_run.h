#pragma once
// One series run as `routerscope series` and the GUI's Series view both drive it (issue 16): the
// checkpoints of PATH arguments resolved, opened (headers only) and checked against each other,
// then measured one checkpoint at a time (alignment from the per-checkpoint cache when it holds
// them, load of the hidden states when given), each appended to the live "series" record when
// there is one. The caller owns the loop (one step() per checkpoint), so a CLI progress bar and
// Ctrl-C, and a GUI job's cancellation, fit around it.
#include "core/align.h"
#include "core/model.h"
#include "core/progress.h"
#include "core/series.h"
#include "io/run_record.h"
#include "io/series.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace routerscope::io {

struct SeriesPlan {
  // Matrix, method, tolerance, layers (empty: every MoE layer of the first checkpoint), threads
  // and backend of the measurement.
  AlignOptions align;
  std::string tokens;              // HDF5 hidden states [T, D] to route; empty: no load
  std::filesystem::path cache_dir; // the per-checkpoint cache; empty: none
};

// One measured checkpoint.
struct SeriesPointResult {
  SeriesCheckpoint checkpoint;
  std::vector<SeriesLayerPoint> layers;
  bool cached = false; // the alignment came from the cache
};

class SeriesRun {
public:
  // Resolves `paths` (io::resolve_series), opens every checkpoint (headers only), checks that they
  // agree (io::check_series_compatible) and that every layer is an MoE layer, and reads the
  // tokens: BadInput naming the argument, checkpoint, layer or file before any measuring.
  SeriesRun(const std::vector<std::string>& paths, SeriesPlan plan);
  ~SeriesRun();
  SeriesRun(const SeriesRun&) = delete;
  SeriesRun& operator=(const SeriesRun&) = delete;

  // The backend of the following steps (null: the CPU).
  void set_backend(const ComputeBackend* backend) { plan_.align.backend = backend; }

  // Creates the series record at `path` (the run's settings as its config, `extra` entries added),
  // declares every dataset and starts live (SWMR) writing.
  void record_to(const std::filesystem::path& path, const nlohmann::json& extra = {});
  nlohmann::json record_config(const nlohmann::json& extra = {}) const;
  RecordIdentity record_identity() const;
  // Commits and closes the record (a no-op without one).
  void close_record();

  bool done() const { return points_.size() == checkpoints_.size(); }
  // Measures the next checkpoint (its alignment from the cache when there), appends it to the
  // record and releases its model (memory: one layer of one checkpoint). `progress` gets the
  // fraction of the whole series, labelled "checkpoint I/C (step S) ..."; a cancel throws
  // Cancelled and the record keeps every finished checkpoint.
  const SeriesPointResult& step(const Progress& progress = {});

  const std::vector<SeriesCheckpoint>& checkpoints() const { return checkpoints_; }
  const std::vector<SeriesPointResult>& points() const { return points_; }
  const ModelInfo& first() const { return first_; } // the first checkpoint's description
  const SeriesPlan& plan() const { return plan_; }  // layers resolved
  bool has_tokens() const { return tokens_.has_value(); }

private:
  SeriesPlan plan_;
  std::vector<SeriesCheckpoint> checkpoints_;
  std::vector<std::unique_ptr<MoeModel>> models_; // released as they are measured
  ModelInfo first_;
  std::optional<MatrixF> tokens_;
  std::vector<SeriesPointResult> points_;
  std::unique_ptr<RunRecordWriter> record_;
};

} // namespace routerscope::io
