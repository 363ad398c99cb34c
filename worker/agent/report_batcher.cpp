#include "worker/agent/report_batcher.hpp"

#include <fmt/format.h>

namespace drover::worker {

struct ReportBatcher::Item {
  bool finished = false;  // else started
  StartedReport started;
  FinishedReport report;
  bool done = false;
  Status result = ok_status();
};

Status ReportBatcher::started(std::int64_t attempt_id, TimePoint started_at) {
  auto item = std::make_shared<Item>();
  item->started = StartedReport{attempt_id, to_millis(started_at)};
  return submit(item);
}

Status ReportBatcher::finished(std::int64_t attempt_id, const AttemptReport& report) {
  auto item = std::make_shared<Item>();
  item->finished = true;
  item->report = FinishedReport{attempt_id, report};
  return submit(item);
}

std::uint64_t ReportBatcher::requests_sent() const {
  std::lock_guard lock(mu_);
  return requests_;
}

std::size_t ReportBatcher::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

Status ReportBatcher::submit(const std::shared_ptr<Item>& item) {
  std::unique_lock lock(mu_);
  queue_.push_back(item);
  while (!item->done) {
    if (sending_) {
      cv_.wait(lock);
    } else {
      send_batch(lock);
    }
  }
  return item->result;
}

// Sends the queue's head (called with `lock` held and no batch in flight).
void ReportBatcher::send_batch(std::unique_lock<std::mutex>& lock) {
  const std::size_t n = std::min(queue_.size(), kMaxItems);
  std::vector<std::shared_ptr<Item>> items(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
  sending_ = true;
  ++requests_;
  lock.unlock();

  ReportBatch batch;
  for (const auto& it : items) {
    if (it->finished) {
      batch.finished.push_back(it->report);
    } else {
      batch.started.push_back(it->started);
    }
  }
  Result<ReportBatchReply> reply = send_(batch);
  std::vector<Status> results;
  results.reserve(items.size());
  std::size_t s = 0, f = 0;
  for (const auto& it : items) {
    if (!reply.ok()) {
      results.push_back(reply.error());
      continue;
    }
    const auto& list = it->finished ? reply->finished : reply->started;
    const std::size_t i = it->finished ? f++ : s++;
    const std::int64_t id = it->finished ? it->report.attempt_id : it->started.attempt_id;
    if (i >= list.size() || list[i].attempt_id != id) {
      results.push_back(make_error(ErrorCode::unavailable,
                                   fmt::format("the master's reply lacks attempt {}", id)));
    } else {
      results.push_back(result_status(list[i]));
    }
  }

  lock.lock();
  for (std::size_t i = 0; i < items.size(); ++i) {
    items[i]->result = std::move(results[i]);
    items[i]->done = true;
  }
  sending_ = false;
  cv_.notify_all();
}

Status result_status(const ReportResult& r) {
  if (r.status >= 200 && r.status < 300) return ok_status();
  // The code follows the status, as for a reply to a request of its own.
  return make_error(error_code_from_http_status(r.status), r.message);
}

}  // namespace drover::worker
