// ReportBatcher: concurrent attempts' reports share requests, each caller
// gets its own item's result, and transport errors reach every caller.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "tests/support/support.hpp"
#include "worker/agent/report_batcher.hpp"

using namespace drover;
using namespace drover::worker;
using namespace std::chrono_literals;

namespace {

// Answers every item: odd attempt ids are fenced (409), even ones accepted.
ReportBatchReply answer(const ReportBatch& batch) {
  ReportBatchReply reply;
  auto result = [](std::int64_t id) {
    ReportResult r;
    r.attempt_id = id;
    if (id % 2 == 1) {
      r.status = 409;
      r.code = "conflict";
      r.message = "fenced";
    }
    return r;
  };
  for (const auto& s : batch.started) reply.started.push_back(result(s.attempt_id));
  for (const auto& f : batch.finished) reply.finished.push_back(result(f.attempt_id));
  return reply;
}

AttemptReport succeeded() {
  AttemptReport r;
  r.state = AttemptState::succeeded;
  r.exit_code = 0;
  return r;
}

}  // namespace

TEST_CASE("a lone report is sent at once in a request of its own", "[worker][reports]") {
  std::vector<ReportBatch> sent;
  ReportBatcher batcher([&](const ReportBatch& b) -> Result<ReportBatchReply> {
    sent.push_back(b);
    return answer(b);
  });
  CHECK(batcher.started(2, from_millis(1000)).ok());
  Status fenced = batcher.finished(3, succeeded());
  REQUIRE(!fenced.ok());
  CHECK(fenced.error().code == ErrorCode::conflict);
  REQUIRE(sent.size() == 2);
  REQUIRE(sent[0].started.size() == 1);
  CHECK(sent[0].started[0].started_at == 1000);
  CHECK(sent[1].finished.size() == 1);
  CHECK(batcher.requests_sent() == 2);
}

TEST_CASE("reports made while a request is in flight go together in the next one",
          "[worker][reports]") {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::vector<std::size_t> sizes;
  ReportBatcher batcher([&](const ReportBatch& b) -> Result<ReportBatchReply> {
    std::unique_lock lock(mu);
    sizes.push_back(b.started.size() + b.finished.size());
    if (sizes.size() == 1) cv.wait_for(lock, 10s, [&] { return release; });
    return answer(b);
  });
  std::thread first([&] { CHECK(batcher.started(100, from_millis(1)).ok()); });
  REQUIRE(test::wait_until([&] { return batcher.requests_sent() == 1; }, 10s));
  constexpr int kThreads = 8;
  std::vector<std::thread> others;
  std::atomic<int> right{0};
  for (int i = 0; i < kThreads; ++i) {
    others.emplace_back([&, i] {
      Status s = i % 2 == 0 ? batcher.started(i, from_millis(1)) : batcher.finished(i, succeeded());
      // Each caller sees its own item's result: odd ids were fenced.
      if (s.ok() == (i % 2 == 0) && (s.ok() || s.error().code == ErrorCode::conflict)) ++right;
    });
  }
  REQUIRE(test::wait_until([&] { return batcher.queued() == kThreads; }, 10s));
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  first.join();
  for (auto& t : others) t.join();
  CHECK(right == kThreads);
  CHECK(batcher.requests_sent() == 2);
  REQUIRE(sizes.size() == 2);
  CHECK(sizes[1] == kThreads);
}

TEST_CASE("a transport error or an incomplete reply fails the reports it lacks",
          "[worker][reports]") {
  bool reachable = false;
  ReportBatcher batcher([&](const ReportBatch& b) -> Result<ReportBatchReply> {
    if (!reachable) return make_error(ErrorCode::unavailable, "connection refused");
    ReportBatchReply reply = answer(b);
    reply.finished.clear();  // a reply that leaves one out
    return reply;
  });
  Status down = batcher.started(2, from_millis(1));
  REQUIRE(!down.ok());
  CHECK(down.error().code == ErrorCode::unavailable);
  reachable = true;
  CHECK(batcher.started(2, from_millis(1)).ok());
  Status lacking = batcher.finished(4, succeeded());
  REQUIRE(!lacking.ok());
  CHECK(lacking.error().code == ErrorCode::unavailable);
  CHECK_THAT(lacking.error().message, Catch::Contains("lacks attempt 4"));
}
