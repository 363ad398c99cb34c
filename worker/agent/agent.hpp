#pragma once
// Agent: the worker's conversation with the master.
//
//   register (retry with backoff) ──> work loop: long-poll /work, start each
//        ^                            assignment on its own thread, apply kills
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
// Threads: start() launches the work-loop thread and the heartbeat thread; a
// drain runs on its own thread; each attempt runs on a detached thread counted
// in `in_flight_`. shutdown() and hurry() are called from the main thread.
// Owned by the composition root, which must keep the MasterApi, runner, table
// and stop signal alive until shutdown() returns.
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "common/proto/worker.hpp"
#include "worker/agent/attempt_runner.hpp"
#include "worker/agent/attempt_table.hpp"
#include "worker/agent/master_api.hpp"
#include "worker/agent/stop_signal.hpp"

namespace drover::worker {

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
  int in_flight_ = 0;  // attempt threads running
  bool work_loop_done_ = false;
  bool master_reachable_ = true;
  bool draining_ = false;
  bool hurry_ = false;
  bool drained_ = false;

  std::thread work_thread_;
  std::thread heartbeat_thread_;
  std::thread drain_thread_;
};

}  // namespace drover::worker
