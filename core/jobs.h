#pragma once
// Background jobs for the UI (DESIGN.md principle 5): one worker thread per job, progress fraction
// and label, a cancel flag, and the error text when the work throws. The UI thread reads a
// JobStatus snapshot once per frame; results travel through Published<T>.
#include "core/error.h"
#include "core/progress.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace routerscope {

enum class JobState { Running, Succeeded, Failed, Cancelled };

struct JobStatus {
  JobState state = JobState::Running;
  double fraction = 0; // in [0, 1], as last reported by the work
  std::string label;   // the work's last progress label
  std::string error;   // routerscope::Error text (or std::exception text) when Failed
  ErrorKind error_kind = ErrorKind::Internal;
  bool finished() const { return state != JobState::Running; }
};

class Job {
public:
  // The work reports through the Progress it is given and polls progress.check() (which throws
  // Error(Cancelled) after cancel()). An Error or std::exception thrown by the work ends the job
  // as Failed with its text; Error(Cancelled) ends it as Cancelled.
  using Work = std::function<void(const Progress&)>;

  // Starts `work` on a new worker thread at once.
  Job(std::string name, Work work);
  // Requests cancellation and joins the worker.
  ~Job();
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  const std::string& name() const { return name_; }
  // Sets the cancel flag; the work stops at its next progress.check().
  void cancel() { cancel_.store(true); }
  bool cancel_requested() const { return cancel_.load(); }
  // A consistent copy of the state (takes the job's mutex once).
  JobStatus status() const;
  // Blocks until the worker has finished.
  void wait();

private:
  void publish_progress(double fraction, const std::string& label);
  void finish(JobState state, std::string error, ErrorKind kind);

  std::string name_;
  std::atomic<bool> cancel_{false};
  mutable std::mutex mutex_;
  JobStatus status_;
  std::thread worker_;
};

// A value that a worker replaces whole and the UI thread reads as a shared snapshot; version()
// grows by one with every publish so readers can tell when something new arrived.
template <class T> class Published {
public:
  void publish(std::shared_ptr<const T> value) {
    std::lock_guard lock(mutex_);
    value_ = std::move(value);
    ++version_;
  }
  void publish(T value) { publish(std::make_shared<const T>(std::move(value))); }
  std::shared_ptr<const T> latest() const {
    std::lock_guard lock(mutex_);
    return value_;
  }
  std::uint64_t version() const {
    std::lock_guard lock(mutex_);
    return version_;
  }

private:
  mutable std::mutex mutex_;
  std::shared_ptr<const T> value_;
  std::uint64_t version_ = 0;
};

} // namespace routerscope
