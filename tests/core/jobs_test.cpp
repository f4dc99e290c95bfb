#include "core/jobs.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

namespace routerscope {
namespace {

// Polls until the job has finished (bounded; never a timing assertion).
JobStatus wait_finished(Job& job) {
  job.wait();
  return job.status();
}

TEST(Job, PublishesProgressWhileRunningThenSucceeds) {
  std::mutex m;
  std::condition_variable cv;
  bool reported = false, release = false;
  Job job("test", [&](const Progress& p) {
    p(0.25, "quarter");
    {
      std::unique_lock lock(m);
      reported = true;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
    }
  });
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return reported; });
    const JobStatus s = job.status();
    EXPECT_EQ(s.state, JobState::Running);
    EXPECT_DOUBLE_EQ(s.fraction, 0.25);
    EXPECT_EQ(s.label, "quarter");
    release = true;
    cv.notify_all();
  }
  const JobStatus s = wait_finished(job);
  EXPECT_EQ(s.state, JobState::Succeeded);
  EXPECT_DOUBLE_EQ(s.fraction, 1.0);
  EXPECT_TRUE(s.error.empty());
}

TEST(Job, ClampsReportedFractionToUnitInterval) {
  std::atomic<bool> go{false};
  Job job("clamp", [&](const Progress& p) {
    p(7.0, "over");
    go = true;
    while (!p.cancelled())
      std::this_thread::yield();
  });
  while (!go)
    std::this_thread::yield();
  EXPECT_DOUBLE_EQ(job.status().fraction, 1.0);
  job.cancel();
  EXPECT_EQ(wait_finished(job).state, JobState::Cancelled);
}

TEST(Job, CancelStopsTheWorkAtItsNextCheck) {
  std::atomic<int> iterations{0};
  Job job("loop", [&](const Progress& p) {
    for (;;) {
      p.check();
      ++iterations;
      std::this_thread::yield();
    }
  });
  while (iterations.load() < 3)
    std::this_thread::yield();
  job.cancel();
  const JobStatus s = wait_finished(job);
  EXPECT_EQ(s.state, JobState::Cancelled);
  EXPECT_EQ(s.error_kind, ErrorKind::Cancelled);
  const int after = iterations.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(iterations.load(), after); // the worker really stopped
}

TEST(Job, CarriesTheErrorTextAndKindOfAFailedWork) {
  Job job("open", [](const Progress&) {
    throw_input_error("model.safetensors: tensor 'w' expected F32, found I8");
  });
  const JobStatus s = wait_finished(job);
  EXPECT_EQ(s.state, JobState::Failed);
  EXPECT_EQ(s.error_kind, ErrorKind::BadInput);
  EXPECT_EQ(s.error, "model.safetensors: tensor 'w' expected F32, found I8");
}

TEST(Job, TurnsAForeignExceptionIntoAnInternalFailure) {
  Job job("bug", [](const Progress&) { throw std::out_of_range("vector index 9 of 3"); });
  const JobStatus s = wait_finished(job);
  EXPECT_EQ(s.state, JobState::Failed);
  EXPECT_EQ(s.error_kind, ErrorKind::Internal);
  EXPECT_NE(s.error.find("vector index 9 of 3"), std::string::npos);
}

TEST(Job, DestructorCancelsAndJoinsARunningWork) {
  std::atomic<bool> started{false}, stopped{false};
  {
    Job job("long", [&](const Progress& p) {
      started = true;
      while (!p.cancelled())
        std::this_thread::yield();
      stopped = true;
    });
    while (!started)
      std::this_thread::yield();
  }
  EXPECT_TRUE(stopped.load());
}

TEST(Published, LatestIsTheLastPublishedValueAndVersionCountsPublishes) {
  Published<int> p;
  EXPECT_EQ(p.latest(), nullptr);
  EXPECT_EQ(p.version(), 0u);
  p.publish(3);
  auto first = p.latest();
  p.publish(std::make_shared<const int>(5));
  EXPECT_EQ(*p.latest(), 5);
  EXPECT_EQ(*first, 3); // a reader's snapshot stays valid after a new publish
  EXPECT_EQ(p.version(), 2u);
}

TEST(Published, ConcurrentPublishesAreSeenWholeByAReader) {
  Published<std::vector<int>> p;
  p.publish(std::vector<int>(100, 0));
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int v = 1; v <= 2000; ++v)
      p.publish(std::vector<int>(100, v));
    done = true;
  });
  while (!done) {
    auto snap = p.latest();
    for (int x : *snap)
      ASSERT_EQ(x, snap->front()); // never a mix of two publishes
  }
  writer.join();
  EXPECT_EQ(p.latest()->front(), 2000);
}

// A snapshot that records when it dies, and a worker that records when it ends, on one clock, so
// the order is checked without a sanitizer: the slot's last snapshot must die after the worker
// ended (replaced snapshots die earlier, while it runs). Were the snapshot destroyed first, the
// worker's next publish would make a new one that outlives it, and `died < ended`. The worker
// stops only when cancelled, so a destructor that joined without cancelling would hang.
std::atomic<int> g_clock{0};
std::atomic<int> g_snapshot_died{0}; // clock when a snapshot last died
std::atomic<int> g_worker_ended{0};  // clock when the worker returned

struct Canary {
  explicit Canary(int v) : value(v) {}
  ~Canary() { g_snapshot_died = ++g_clock; }
  int value;
};

TEST(JobSlot, DestructorCancelsAndJoinsBeforeTheSnapshotDies) {
  g_clock = 0;
  g_snapshot_died = 0;
  g_worker_ended = 0;
  std::atomic<int> published{0};
  auto slot = std::make_unique<JobSlot<Canary>>();
  slot->start("publisher", [&](const Progress& p, Published<Canary>& out) {
    struct Ended {
      ~Ended() { g_worker_ended = ++g_clock; }
    } ended;
    for (int v = 0;; ++v) { // publishes continuously until cancelled
      out.publish(std::make_shared<const Canary>(v));
      published = v + 1;
      p.check(); // throws Error(Cancelled) once the slot's destructor cancels
    }
  });
  while (published.load() < 100) // the worker is in full flow
    std::this_thread::yield();
  EXPECT_TRUE(slot->running());
  slot.reset(); // destroys the slot while the worker publishes
  const int ended = g_worker_ended.load(), died = g_snapshot_died.load();
  EXPECT_NE(ended, 0) << "the destructor returned before the worker ended (no join)";
  EXPECT_GT(died, ended) << "the last snapshot died before the worker ended";
}

TEST(JobSlot, PollReportsTheEndOnceAndStartReplacesARunningJob) {
  JobSlot<int> slot;
  EXPECT_FALSE(slot.poll().has_value()); // no job
  slot.start("first", [](const Progress& p, Published<int>& out) {
    out.publish(1);
    for (;;)
      p.check(); // runs until cancelled
  });
  slot.start("second", [](const Progress&, Published<int>& out) { out.publish(2); });
  std::optional<JobStatus> s;
  while (!(s = slot.poll()))
    std::this_thread::yield();
  EXPECT_EQ(s->state, JobState::Succeeded);
  EXPECT_EQ(*slot.latest(), 2);
  EXPECT_FALSE(slot.running());
  EXPECT_FALSE(slot.poll().has_value()); // reported once
}

} // namespace
} // namespace routerscope
