#include "worker/agent/attempt_table.hpp"

#include <fstream>
#include <string_view>
#include <utility>

#include "worker/agent/task_env.hpp"
#include "worker/sandbox/attempt_sandbox.hpp"

namespace drover::worker {

void RunningAttempt::request_kill(const std::string& reason, const std::string& message) {
  std::lock_guard lock(mu_);
  if (!killed_) {
    killed_ = true;
    kill_reason_ = reason;
    kill_message_ = message;
  }
  if (execution_ != nullptr) execution_->kill();
}

bool RunningAttempt::kill_requested() const {
  std::lock_guard lock(mu_);
  return killed_;
}

std::string RunningAttempt::kill_reason() const {
  std::lock_guard lock(mu_);
  return kill_reason_;
}

std::string RunningAttempt::kill_message() const {
  std::lock_guard lock(mu_);
  return kill_message_;
}

void RunningAttempt::attach(Execution* execution) {
  std::lock_guard lock(mu_);
  execution_ = execution;
  if (killed_) execution_->kill();
}

void RunningAttempt::detach() {
  std::lock_guard lock(mu_);
  execution_ = nullptr;
}

void RunningAttempt::on_release(std::function<void()> released) {
  std::lock_guard lock(mu_);
  released_ = std::move(released);
}

void RunningAttempt::release() {
  std::function<void()> released;
  {
    std::lock_guard lock(mu_);
    released = std::exchange(released_, nullptr);
  }
  if (released) released();
}

bool AttemptTable::add(std::shared_ptr<RunningAttempt> attempt) {
  std::lock_guard lock(mu_);
  return attempts_.emplace(attempt->id(), std::move(attempt)).second;
}

void AttemptTable::remove(std::int64_t id) {
  std::lock_guard lock(mu_);
  attempts_.erase(id);
  if (attempts_.empty()) emptied_.notify_all();
}

std::shared_ptr<RunningAttempt> AttemptTable::find(std::int64_t id) const {
  std::lock_guard lock(mu_);
  auto it = attempts_.find(id);
  return it == attempts_.end() ? nullptr : it->second;
}

std::vector<std::int64_t> AttemptTable::ids() const {
  std::lock_guard lock(mu_);
  std::vector<std::int64_t> out;
  out.reserve(attempts_.size());
  for (const auto& [id, _] : attempts_) out.push_back(id);
  return out;
}

std::size_t AttemptTable::size() const {
  std::lock_guard lock(mu_);
  return attempts_.size();
}

std::vector<std::shared_ptr<RunningAttempt>> AttemptTable::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<RunningAttempt>> out;
  out.reserve(attempts_.size());
  for (const auto& [_, a] : attempts_) out.push_back(a);
  return out;
}

std::vector<AttemptProgress> AttemptTable::progress() const {
  std::vector<AttemptProgress> out;
  for (const auto& a : snapshot()) {  // file reads outside the table lock
    AttemptProgress p{a->id(), -1};
    // A fraction is short; anything longer is invalid. Written by the task: a
    // link or fifo in its place is not followed (read_task_file).
    auto text = read_task_file(a->paths().progress_file, 0, 65);
    if (text.ok() && !text->empty()) p.progress = parse_progress(*text);
    out.push_back(p);
  }
  return out;
}

int AttemptTable::kill(const std::vector<std::int64_t>& ids, const std::string& reason,
                       const std::string& message) {
  int known = 0;
  for (auto id : ids) {
    if (auto a = find(id)) {
      a->request_kill(reason, message);
      ++known;
    }
  }
  return known;
}

int AttemptTable::kill_all(const std::string& reason, const std::string& message) {
  auto all = snapshot();
  for (const auto& a : all) a->request_kill(reason, message);
  return static_cast<int>(all.size());
}

bool AttemptTable::wait_empty(Duration timeout) const {
  std::unique_lock lock(mu_);
  return emptied_.wait_for(lock, timeout, [&] { return attempts_.empty(); });
}

}  // namespace drover::worker
