#pragma once
// ReportBatcher: sends the attempts' started and finished reports of all the
// worker's attempt threads in as few requests as possible, without delaying
// any. A thread that reports while no batch is in flight sends at once, with
// whatever other threads queued meanwhile; threads that report while a batch
// is in flight wait for it and go in the next one (sent by one of them). Each
// caller gets its own item's result, as if it had sent its own request.
//
// `send` is the transport (HttpMasterApi: POST /internal/v1/attempts/reports);
// an error from it (master unreachable, or a master without the endpoint)
// becomes every item's result. Thread-safe.
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "common/base/clock.hpp"
#include "common/base/result.hpp"
#include "common/proto/assignment.hpp"

namespace drover::worker {

class ReportBatcher {
 public:
  using Send = std::function<Result<ReportBatchReply>(const ReportBatch&)>;
  static constexpr std::size_t kMaxItems = 1000;  // per request

  explicit ReportBatcher(Send send) : send_(std::move(send)) {}

  Status started(std::int64_t attempt_id, TimePoint started_at);
  Status finished(std::int64_t attempt_id, const AttemptReport& report);

  std::uint64_t requests_sent() const;  // for tests and benchmarks
  std::size_t queued() const;           // reports waiting for the next request

 private:
  struct Item;
  Status submit(const std::shared_ptr<Item>& item);
  void send_batch(std::unique_lock<std::mutex>& lock);

  Send send_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<Item>> queue_;
  bool sending_ = false;
  std::uint64_t requests_ = 0;
};

// The Error a ReportResult stands for (ok when its status is 2xx).
Status result_status(const ReportResult& r);

}  // namespace drover::worker
