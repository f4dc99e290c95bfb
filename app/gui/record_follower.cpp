#include "app/gui/record_follower.h"

#include <system_error>

namespace routerscope::gui {

int replay_steps(const Replay& replay) {
  if (replay.pretraining)
    return replay.pretraining_steps;
  if (replay.series)
    return int(replay.series->steps.size()); // checkpoints

  if (replay.is_training())
    return replay.training.back().step + 1;
  return int(replay.records.size());
}

RecordFollower::RecordFollower(std::string path, double interval_s)
    : path_(std::move(path)), interval_s_(interval_s),
      status_("waiting for the first step of " + path_) {}

RecordFollower::~RecordFollower() = default; // the Job's destructor joins a read in flight

std::shared_ptr<const Replay> RecordFollower::poll(bool may_read) {
  std::shared_ptr<const Replay> out;
  if (job_ && job_->status().finished()) {
    const JobStatus s = job_->status();
    job_->wait();
    job_.reset();
    if (s.state == JobState::Succeeded) {
      auto replay = read_.latest();
      if (replay && replay_steps(*replay) > steps_) {
        steps_ = replay_steps(*replay);
        status_.clear();
        out = replay;
      }
    } else if (s.state == JobState::Failed) {
      // Before the first step the record may not open or hold no step yet: keep waiting.
      status_ = steps_ ? s.error : "waiting for the first step of " + path_ + " (" + s.error + ")";
      last_size_ = 0; // read again at the next poll even if the file does not change
      last_mtime_ = {};
    }
  }
  const auto now = std::chrono::steady_clock::now();
  if (job_ || !may_read || std::chrono::duration<double>(now - last_read_).count() < interval_s_)
    return out;
  last_read_ = now;
  // A cheap look first: the writer changes the file at every flush.
  std::error_code ec;
  const auto mtime = std::filesystem::last_write_time(path_, ec);
  const auto size = ec ? 0 : std::filesystem::file_size(path_, ec);
  if (ec || (mtime == last_mtime_ && size == last_size_))
    return out;
  last_mtime_ = mtime;
  last_size_ = size;
  job_ = std::make_unique<Job>("follow " + path_,
                               [this](const Progress&) { read_.publish(read_replay(path_)); });
  return out;
}

} // namespace routerscope::gui
