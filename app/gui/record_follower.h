#pragma once
// Tails a run record while its run writes it (File > Follow run..., `gui RUN.h5 --follow`): about
// every half second, when the file changed, the record is read again on a background job (the
// writer's committed steps, io/run_record.h) and the replay is handed to the UI when it holds more
// steps than the last one. A record without a complete step yet is waited for.
#include "app/gui/session.h"
#include "core/jobs.h"

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

namespace routerscope::gui {

class RecordFollower {
public:
  explicit RecordFollower(std::string path, double interval_s = 0.5);
  ~RecordFollower();
  RecordFollower(const RecordFollower&) = delete;
  RecordFollower& operator=(const RecordFollower&) = delete;

  // Called every frame on the UI thread. Starts a read when one is due and `may_read` (no other
  // job uses HDF5: the library is not thread-safe); returns a replay with more steps than the
  // last one returned, once, or null.
  std::shared_ptr<const Replay> poll(bool may_read);
  const std::string& path() const { return path_; }
  // "waiting for the first step of …", or the last read's error; empty while steps arrive.
  const std::string& status() const { return status_; }
  int steps() const { return steps_; } // complete steps of the last replay returned

private:
  std::string path_;
  double interval_s_;
  std::chrono::steady_clock::time_point last_read_{};
  std::filesystem::file_time_type last_mtime_{};
  std::uintmax_t last_size_ = 0;
  std::unique_ptr<Job> job_;
  Published<Replay> read_;
  int steps_ = 0;
  std::string status_;
};

// Complete steps of a replay: training steps of its first variant, convergence rows, complete
// pretraining steps or a series record's checkpoints.
int replay_steps(const Replay& replay);

} // namespace routerscope::gui
