#pragma once
// AttemptTable: the attempts this worker holds, from the moment an assignment
// arrives until the master acknowledged its report. The heartbeat reads their
// progress, the log server their log files, kill requests reach their process.
// Thread-safe (one mutex; entries have their own); owned by the composition root.
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/base/units.hpp"
#include "common/proto/worker.hpp"
#include "worker/executor/executor.hpp"
#include "worker/sandbox/attempt_sandbox.hpp"

namespace drover::worker {

// One attempt's shared state. Its runner thread owns the Execution; others may
// only request a kill.
class RunningAttempt {
 public:
  RunningAttempt(std::int64_t id, AttemptPaths paths) : id_(id), paths_(std::move(paths)) {}

  std::int64_t id() const { return id_; }
  const AttemptPaths& paths() const { return paths_; }

  // Marks the attempt killed (the first request's reason and message win) and
  // terminates its process if one runs. An attempt killed before its process
  // starts never starts it. `reason` is a FailureReason (killed, drained).
  void request_kill(const std::string& reason, const std::string& message);
  bool kill_requested() const;
  std::string kill_reason() const;
  std::string kill_message() const;

  // Called by the runner around Execution::wait(); `execution` outlives the pair.
  void attach(Execution* execution);
  void detach();

  // The attempt's cpus are free again: its process ended (or never started).
  // Runs the callback set by on_release() once, on the first call, without
  // holding the attempt's lock.
  void on_release(std::function<void()> released);
  void release();

 private:
  const std::int64_t id_;
  const AttemptPaths paths_;
  mutable std::mutex mu_;
  Execution* execution_ = nullptr;
  std::function<void()> released_;
  bool killed_ = false;
  std::string kill_reason_;
  std::string kill_message_;
};

class AttemptTable {
 public:
  // False if the attempt is already here (a duplicate assignment).
  bool add(std::shared_ptr<RunningAttempt> attempt);
  void remove(std::int64_t id);
  std::shared_ptr<RunningAttempt> find(std::int64_t id) const;

  std::vector<std::int64_t> ids() const;
  std::size_t size() const;
  // Progress of every attempt, read from their progress files.
  std::vector<AttemptProgress> progress() const;

  // Kill requests; unknown ids are ignored. Returns how many were known.
  int kill(const std::vector<std::int64_t>& ids, const std::string& reason,
           const std::string& message);
  int kill_all(const std::string& reason, const std::string& message);

  // Waits until the table is empty or `timeout` passed; true when empty.
  bool wait_empty(Duration timeout) const;

 private:
  std::vector<std::shared_ptr<RunningAttempt>> snapshot() const;

  mutable std::mutex mu_;
  mutable std::condition_variable emptied_;
  std::map<std::int64_t, std::shared_ptr<RunningAttempt>> attempts_;
};

}  // namespace drover::worker
