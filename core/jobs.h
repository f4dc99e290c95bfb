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
#include <optional>
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

// One background job and the snapshot it publishes, owned together (a GUI panel holds one per
// kind of work). The job is declared after the snapshot and the destructor cancels and joins it
// first, so a worker can never publish into a snapshot that has died, whatever order the owner
// declares its slots in. The work publishes only through the Published<T> it is handed.
template <class T> class JobSlot {
public:
  using Work = std::function<void(const Progress&, Published<T>&)>;

  JobSlot() = default;
  ~JobSlot() { stop(); }
  JobSlot(const JobSlot&) = delete;
  JobSlot& operator=(const JobSlot&) = delete;

  // Cancels and joins the running job, if any, then starts `work` on a new worker thread.
  void start(std::string name, Work work) {
    stop();
    job_ = std::make_unique<Job>(
        std::move(name), [this, work = std::move(work)](const Progress& p) { work(p, pub_); });
  }
  // Cancels and joins the running job, if any, and forgets it (its status is not reported).
  void stop() { job_.reset(); }
  // Asks the running job to stop at its next progress check; poll() reports its end.
  void cancel() {
    if (job_)
      job_->cancel();
  }
  bool running() const { return job_ != nullptr; }
  Job* job() const { return job_.get(); }

  // Once per frame on the owner's thread: when the job has finished, joins and forgets it and
  // returns its final status; otherwise (running, or no job) nullopt.
  std::optional<JobStatus> poll() {
    if (!job_)
      return std::nullopt;
    JobStatus s = job_->status();
    if (!s.finished())
      return std::nullopt;
    job_.reset();
    return s;
  }

  // The snapshot (the owner may publish too, e.g. to clear it or to show a replay).
  void publish(std::shared_ptr<const T> value) { pub_.publish(std::move(value)); }
  std::shared_ptr<const T> latest() const { return pub_.latest(); }
  std::uint64_t version() const { return pub_.version(); }

private:
  Published<T> pub_;
  std::unique_ptr<Job> job_; // last: destroyed (cancelled and joined) before pub_
};

} // namespace routerscope
