#include "core/jobs.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
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

} // namespace
} // namespace routerscope
