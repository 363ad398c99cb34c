#pragma once
// Agent: the worker's conversation with the master.
//
//   register (retry with backoff) ──> work loop: long-poll /work, queue each
//        ^                            assignment, apply kills
//        │ 404 / reregister
//        └────────────────────────── heartbeat loop: progress of running
//                                    attempts every heartbeat_interval, apply kills
//
// Drain (SPEC §4 guarantee 8), started by WorkReply::drain or by shutdown():
//
//   running ──drain──> draining: no more polls; assignments that still arrive
//                      are reported killed/"drained" ("worker draining") unstarted
//                        │ every attempt reported, or drain_timeout passed:
//                        │ the rest killed (SIGTERM, grace, SIGKILL), checkpoints
//                        v saved, reported killed/"drained" ("worker drained")
//                      drained: heartbeats go on, no work until restarted
//   shutdown() = POST /workers/{id}/drain, drain, POST /workers/{id}/leave, stop.
//
// Queue: the master may assign short tasks beyond the worker's cpus (see
// master/scheduler). Assignments are admitted at once (kills and heartbeats see
// them) and start in arrival order while their cpus and memory fit; each
// attempt frees its share the moment its process ends, so the next one starts
// before the finished report's round trip. A queued attempt that is killed is
// reported killed unstarted at once; a drain hands queued ones back the same
// way ("drained").
//
// Threads: start() launches the work-loop thread and the heartbeat thread; a
// drain runs on its own thread; each attempt runs on a thread of its own
// (reused for later attempts: ThreadReuse), counted in `in_flight_`.
// shutdown() and hurry() are called from the main thread.
// Owned by the composition root, which must keep the MasterApi, runner, table
// and stop signal alive until shutdown() returns.
#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/proto/worker.hpp"
#include "worker/agent/attempt_runner.hpp"
#include "worker/agent/attempt_table.hpp"
#include "worker/agent/master_api.hpp"
#include "worker/agent/stop_signal.hpp"
#include "worker/agent/thread_reuse.hpp"

namespace drover::worker {

// How many attempts' resources (threads, spare trees and records) a worker
// with `cpus` keeps for reuse: its attempts at once are the running ones, the
// queued ones (the master queues up to 6 cpus per cpu) and those still being
// reported. Keeping fewer made and deleted trees per task again: 3% of all
// cpu in tests/bench/perf.py part a, in ext4's scan of recently deleted inodes.
inline std::size_t attempts_kept(double cpus) {
  return static_cast<std::size_t>(std::clamp(12 * std::ceil(cpus), 12.0, 768.0));
}

struct AgentOptions {
  WorkerRegistration identity;  // id, address, cpus, memory, labels; `running` is filled in
  Duration work_wait = std::chrono::seconds(20);
  Duration drain_timeout = std::chrono::minutes(5);  // for running attempts to finish
  Duration shutdown_deadline = std::chrono::seconds(30);  // for killed attempts to report
};

class Agent {
 public:
  Agent(AgentOptions options, MasterApi& master, AttemptRunner& runner, AttemptTable& table,
        StopSignal& stop);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  void start();

  // Starts a drain (see above) unless one runs; returns at once.
  void begin_drain(const std::string& why);
  bool draining() const;
  // Waits up to `timeout` for a drain to end; true when it has.
  bool wait_drained(Duration timeout) const;
  // Ends the drain's wait now: remaining attempts are killed (a second SIGTERM).
  void hurry();

  // SIGTERM: tells the master, drains, tells the master this worker leaves, and
  // stops every loop. True when every thread ended; false when one is still
  // blocked (e.g. in a long poll): the caller should then leave the process
  // without running destructors.
  bool shutdown();

 private:
  void drain_loop();
  void work_loop();
  void heartbeat_loop();
  // Registers unless someone already did after `seen` (a registration
  // generation); retries until it succeeds or stop. False on stop.
  bool register_after(std::uint64_t seen);
  std::uint64_t generation() const;
  void dispatch(const WorkReply& reply);
  void launch(const Assignment& assignment);
  // Kill requests through the table; killed queued attempts are reported.
  void kill(const std::vector<std::int64_t>& ids);
  // Starts queued attempts: killed ones, then the oldest while they fit. mu_ held.
  void pump();
  struct Queued {
    Assignment assignment;
    std::shared_ptr<RunningAttempt> attempt;
  };
  // Runs a queued attempt on its own thread holding `cpus` and `memory`. mu_ held.
  void run_attempt(Queued queued, double cpus, std::uint64_t memory);
  void note_master_state(bool reachable, const std::string& detail);

  AgentOptions options_;
  MasterApi& master_;
  AttemptRunner& runner_;
  AttemptTable& table_;
  StopSignal& stop_;

  std::mutex register_mu_;  // serializes registrations
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::uint64_t generation_ = 0;  // registrations so far
  Duration heartbeat_interval_{1000};
  int in_flight_ = 0;  // attempts admitted, queued or on their thread
  std::deque<Queued> queue_;  // admitted, waiting for cpus
  double cpus_running_ = 0;   // held by started attempts until their process ends
  std::uint64_t memory_running_ = 0;
  bool work_loop_done_ = false;
  bool master_reachable_ = true;
  bool draining_ = false;
  bool hurry_ = false;
  bool drained_ = false;

  std::thread work_thread_;
  std::thread heartbeat_thread_;
  std::thread drain_thread_;
  ThreadReuse attempt_threads_;  // last: joined before the members its jobs use go
};

}  // namespace drover::worker
