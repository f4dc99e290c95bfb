#pragma once
// A training run record written by a forked process while a test reads it (HDF5 SWMR): the
// writer pauses at chosen step counts until the test (or the program under test) has seen them.
#include "core/training.h"
#include "io/run_record.h"

#include <filesystem>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace routerscope::test {

// The values of variant v (0 "vanilla", 1 "mpi", which also records the stored router) at step s
// with `experts` experts; MaxVio_global at even steps. tests/io/live_reader.py recomputes them.
TrainStepRecord live_training_step(int variant, int step, int experts);

struct LiveWriterSpec {
  std::filesystem::path path;
  RecordIdentity identity;
  int layer = 0, experts = 4, steps = 10;
  // After waits[i].first steps (both variants committed and flushed) the writer waits until
  // every file of waits[i].second exists.
  std::vector<std::pair<int, std::vector<std::filesystem::path>>> waits;
  std::filesystem::path done_file; // written when the record is closed ("done") or failed
};

// Forks the writer; returns its pid (the child never returns: exit 0 when the record is
// complete, 2 on an error).
pid_t fork_live_writer(const LiveWriterSpec& spec);
// Waits for the writer; true when it exited with 0.
bool writer_succeeded(pid_t pid);

} // namespace routerscope::test
