#include "worker/agent/thread_reuse.hpp"

#include <utility>
#include <vector>

namespace drover::worker {

ThreadReuse::~ThreadReuse() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (Slot& s : slots_) {
    if (s.thread.joinable()) s.thread.join();
  }
}

void ThreadReuse::run(std::function<void()> job) {
  std::unique_lock lock(mu_);
  join_ended(lock);
  jobs_.push_back(std::move(job));
  if (idle_ >= jobs_.size()) {
    cv_.notify_one();
    return;
  }
  Slot& slot = slots_.emplace_back();
  slot.thread = std::thread([this, s = &slot] { loop(s); });
}

std::size_t ThreadReuse::threads() const {
  std::lock_guard lock(mu_);
  return slots_.size();
}

std::size_t ThreadReuse::idle() const {
  std::lock_guard lock(mu_);
  return idle_;
}

void ThreadReuse::join_ended(std::unique_lock<std::mutex>& lock) {
  std::vector<std::thread> ended;
  for (auto it = slots_.begin(); it != slots_.end();) {
    if (!it->ended) {
      ++it;
      continue;
    }
    ended.push_back(std::move(it->thread));
    it = slots_.erase(it);
  }
  if (ended.empty()) return;
  lock.unlock();  // they are past their last use of mu_, or about to be
  for (std::thread& t : ended) t.join();
  lock.lock();
}

void ThreadReuse::loop(Slot* slot) {
  std::unique_lock lock(mu_);
  for (;;) {
    ++idle_;
    cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
    --idle_;
    if (jobs_.empty()) break;  // stopping
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    job = nullptr;  // what it captured goes before the thread waits again
    lock.lock();
    if (idle_ >= keep_ && !stop_) break;  // enough wait already
  }
  slot->ended = true;
}

}  // namespace drover::worker
