#include "core/jobs.h"

#include <algorithm>
#include <exception>

namespace routerscope {

Job::Job(std::string name, Work work) : name_(std::move(name)) {
  worker_ = std::thread([this, work = std::move(work)] {
    Progress progress;
    progress.report = [this](double f, const std::string& label) { publish_progress(f, label); };
    progress.cancel = &cancel_;
    try {
      work(progress);
      if (cancel_.load())
        finish(JobState::Cancelled, "cancelled", ErrorKind::Cancelled);
      else
        finish(JobState::Succeeded, "", ErrorKind::Internal);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::Cancelled)
        finish(JobState::Cancelled, e.what(), e.kind());
      else
        finish(JobState::Failed, e.what(), e.kind());
    } catch (const std::exception& e) {
      finish(JobState::Failed, std::string("internal error: ") + e.what(), ErrorKind::Internal);
    } catch (...) {
      finish(JobState::Failed, "internal error: unknown exception", ErrorKind::Internal);
    }
  });
}

Job::~Job() {
  cancel();
  wait();
}

void Job::wait() {
  if (worker_.joinable())
    worker_.join();
}

JobStatus Job::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

void Job::publish_progress(double fraction, const std::string& label) {
  std::lock_guard lock(mutex_);
  status_.fraction = std::clamp(fraction, 0.0, 1.0);
  status_.label = label;
}

void Job::finish(JobState state, std::string error, ErrorKind kind) {
  std::lock_guard lock(mutex_);
  status_.state = state;
  status_.error = std::move(error);
  status_.error_kind = kind;
  if (state == JobState::Succeeded)
    status_.fraction = 1.0;
}

} // namespace routerscope
