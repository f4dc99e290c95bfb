#pragma once
// A training run's checkpoints as one series (issue 16): which checkpoints a user's PATHs name and
// at which training step each was saved, whether they can share a timeline, the per-checkpoint
// cache of measured values, and the "series" run record (docs/FORMATS.md "Series records").
#include "core/model.h"
#include "core/series.h"
#include "io/run_record.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace routerscope::io {

// The training step a checkpoint or revision name carries: the number right after "step",
// "checkpoint", "ckpt" or "iter" ("checkpoint-1000", "step-2000", "step2000-tokens4B",
// "global_step300"), else the first number in the name; nullopt when it holds none.
std::optional<std::int64_t> step_from_name(const std::string& name);

struct SeriesCheckpoint {
  std::string argument; // what the user gave (a glob's match, a folder, a repo id)
  std::string path;     // the checkpoint to open (a Hub id resolved to its snapshot folder)
  std::int64_t step = 0;
  std::string step_source; // "trainer_state.json", "name" or "position"
};

// The checkpoints of PATH arguments, ordered by step: a checkpoint folder, a .safetensors or
// .index.json file, a glob ("run/checkpoint-*"), a parent folder whose sub-folders are
// checkpoints, a models--ORG--NAME folder or a Hub id ORG/NAME[@REVISION] (io/hub_cache.h). Each
// step comes from trainer_state.json's global_step beside the weights, else from a Hub id's
// revision, else from the folder's name and then a step keyword in its parent folder's name
// (pretrain --save-every's step-N/<variant>) (not for Hub ids and models--… folders, whose names
// are the model's), else from its position among the arguments. BadInput naming the argument
// when it matches nothing, and naming both when two checkpoints are the same or share a step.
std::vector<SeriesCheckpoint> resolve_series(const std::vector<std::string>& arguments);

// BadInput (exit 2) naming both checkpoints and what differs (family, d_model, layers, which are
// MoE, experts, expert width) unless every model agrees with the first.
void check_series_compatible(const std::vector<const ModelInfo*>& models,
                             const std::vector<std::string>& names);

// The settings a cached point depends on besides the checkpoint's files.
struct SeriesCacheSettings {
  std::string matrix, method;
  double tolerance = 0;
  std::vector<int> layers; // as measured (resolved, never empty)
};
// The cache key of a checkpoint: its files (names, sizes, modification times: the safetensors
// files the model reads, their index and config.json) with the settings, as a JSON text.
std::string series_cache_key(const MoeModel& model, const SeriesCacheSettings& settings);
// The cache file of a key in `dir`: DIR/<64-bit hash of the key in hex>.json.
std::filesystem::path series_cache_file(const std::filesystem::path& dir, const std::string& key);
// The alignment values cached under `key` in `dir` (load is not cached), or nullopt when there is
// no such entry or it was written for another key. A damaged entry is ignored (recomputed).
std::optional<std::vector<SeriesLayerPoint>> read_series_cache(const std::filesystem::path& dir,
                                                               const std::string& key);
// Writes the alignment values of `layers` under `key` (temporary name, then rename).
void write_series_cache(const std::filesystem::path& dir, const std::string& key,
                        const std::string& checkpoint, const std::vector<SeriesLayerPoint>& layers);

// Declares the datasets of a series record: steps [C]; per layer layers/<L>/{cos, lambda, sigma1,
// sigma_ratio, router_norm, weight_norm} [C, N] and, with load, load [C, N] and maxvio, cv,
// entropy [C].
void declare_series_layer(RunRecordWriter& writer, int layer, std::size_t experts, bool load);
// Appends one checkpoint (its step and every layer) and commits it.
void add_series_point(RunRecordWriter& writer, std::int64_t step,
                      const std::vector<SeriesLayerPoint>& layers);

// The record add_series_point over `points` (one per checkpoint, with its step) followed by
// read_run_record gives, built in memory (the GUI draws a run that is still measuring from it).
RunRecord series_record(const std::vector<std::int64_t>& steps,
                        const std::vector<std::vector<SeriesLayerPoint>>& points,
                        const std::string& config = "{}", const RecordIdentity& identity = {});

// A series record read back: steps [C] and per layer its datasets (2-D [C, N], 1-D as [C, 1]).
struct SeriesData {
  std::vector<double> steps;
  struct Layer {
    int layer = 0;
    std::map<std::string, MatrixD> series;
    bool has(const std::string& name) const { return series.count(name) > 0; }
    const MatrixD& at(const std::string& name) const; // BadInput naming the dataset when absent
  };
  std::vector<Layer> layers;
  bool has_load() const;
};
// BadInput naming `origin` when the record is not of kind "series" or a dataset's rows or widths
// disagree with `steps` and the layer's experts.
SeriesData series_data(const RunRecord& record, const std::string& origin);

} // namespace routerscope::io
