#include "worker/agent/agent.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace drover::worker {

namespace {
constexpr const char* kKilledByMaster = "killed by the master";
constexpr const char* kDraining = "worker draining";
constexpr const char* kDrained = "worker drained";
}  // namespace

Agent::Agent(AgentOptions options, MasterApi& master, AttemptRunner& runner, AttemptTable& table,
             StopSignal& stop)
    : options_(std::move(options)),
      master_(master),
      runner_(runner),
      table_(table),
      stop_(stop),
      attempt_threads_(attempts_kept(options_.identity.cpus)) {}

Agent::~Agent() {
  hurry();
  stop_.request_stop();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  if (drain_thread_.joinable()) drain_thread_.join();
  if (work_thread_.joinable()) work_thread_.detach();  // only when shutdown() said so
}

void Agent::start() {
  work_thread_ = std::thread([this] { work_loop(); });
  heartbeat_thread_ = std::thread([this] { heartbeat_loop(); });
}

std::uint64_t Agent::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

void Agent::note_master_state(bool reachable, const std::string& detail) {
  std::lock_guard lock(mu_);
  if (reachable == master_reachable_) return;  // log once per state change
  master_reachable_ = reachable;
  if (reachable) {
    spdlog::info("master reachable again");
  } else {
    spdlog::warn("cannot use the master: {}", detail);
  }
}

bool Agent::register_after(std::uint64_t seen) {
  std::lock_guard serial(register_mu_);
  if (generation() > seen) return true;
  Backoff backoff;
  while (!stop_.stopping()) {
    WorkerRegistration registration = options_.identity;
    registration.running = table_.ids();
    registration.draining = draining();
    auto reply = master_.register_worker(registration);
    if (reply.ok()) {
      note_master_state(true, "");
      {
        std::lock_guard lock(mu_);
        ++generation_;
        heartbeat_interval_ = Duration{std::max<std::int64_t>(reply->heartbeat_interval_ms, 50)};
      }
      cv_.notify_all();
      spdlog::info("registered as {} ({} attempts running, {} to kill)", registration.id,
                   registration.running.size(), reply->kill.size());
      kill(reply->kill);
      return true;
    }
    const Error& e = reply.error();
    if (e.code == ErrorCode::unauthorized || e.code == ErrorCode::forbidden) {
      note_master_state(false, fmt::format("it refused this worker ({}: {}); token_file must hold "
                                           "the workers' token", to_string(e.code), e.message));
    } else {
      note_master_state(false, e.describe());
    }
    stop_.sleep_for(backoff.next());
  }
  return false;
}

void Agent::work_loop() {
  std::uint64_t registered = 0;
  bool need_register = true;
  Backoff backoff;
  while (!stop_.stopping() && !draining()) {
    if (need_register) {
      if (!register_after(registered)) break;
      registered = generation();
      need_register = false;
    }
    auto reply = master_.poll_work(options_.identity.id, options_.work_wait);
    if (stop_.stopping() || draining()) {
      if (reply.ok()) dispatch(*reply);  // kills apply; assignments are refused
      break;
    }
    if (!reply.ok()) {
      need_register = true;
      if (reply.error().code == ErrorCode::not_found) {
        spdlog::info("the master does not know this worker; registering again");
        continue;
      }
      note_master_state(false, reply.error().describe());
      stop_.sleep_for(backoff.next());
      continue;
    }
    backoff.reset();
    dispatch(*reply);
  }
  std::lock_guard lock(mu_);
  work_loop_done_ = true;
  cv_.notify_all();
}

void Agent::dispatch(const WorkReply& reply) {
  if (!reply.kill.empty()) kill(reply.kill);
  if (reply.drain) begin_drain("the master asked this worker to drain");
  for (const auto& assignment : reply.assignments) launch(assignment);
}

void Agent::launch(const Assignment& assignment) {
  bool refused = false;
  {
    std::lock_guard lock(mu_);
    refused = draining_ || stop_.stopping();
    if (!refused) ++in_flight_;
  }
  if (refused) return runner_.refuse(assignment, FailureReason::drained, kDraining);
  auto attempt = runner_.admit(assignment);
  std::lock_guard lock(mu_);
  if (!attempt) {
    spdlog::warn("attempt {} assigned twice; ignoring the duplicate", assignment.attempt_id);
    --in_flight_;
    cv_.notify_all();
    return;
  }
  queue_.push_back(Queued{assignment, std::move(attempt)});
  pump();
}

void Agent::kill(const std::vector<std::int64_t>& ids) {
  table_.kill(ids, FailureReason::killed, kKilledByMaster);
  std::lock_guard lock(mu_);
  pump();
}

void Agent::pump() {
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (!it->attempt->kill_requested()) {
      ++it;
      continue;
    }
    run_attempt(std::move(*it), 0, 0);  // reported killed, never started
    it = queue_.erase(it);
  }
  const double cpus = options_.identity.cpus;  // 0: not stated, no limit
  const std::uint64_t memory = options_.identity.memory;
  while (!queue_.empty()) {
    const Assignment& a = queue_.front().assignment;
    const bool idle = cpus_running_ <= 1e-9;
    const bool fits = (cpus <= 0 || cpus_running_ + a.cpus <= cpus + 1e-9) &&
                      (memory == 0 || memory_running_ + a.memory <= memory);
    if (!idle && !fits) break;
    run_attempt(std::move(queue_.front()), a.cpus, a.memory);
    queue_.pop_front();
  }
}

void Agent::run_attempt(Queued queued, double cpus, std::uint64_t memory) {
  cpus_running_ += cpus;
  memory_running_ += memory;
  queued.attempt->on_release([this, cpus, memory] {
    std::lock_guard lock(mu_);
    cpus_running_ = std::max(0.0, cpus_running_ - cpus);
    memory_running_ -= std::min(memory_running_, memory);
    pump();
  });
  attempt_threads_.run([this, q = std::move(queued)] {
    runner_.run(q.assignment, q.attempt);
    q.attempt->release();
    std::lock_guard lock(mu_);
    --in_flight_;
    cv_.notify_all();
  });
}

void Agent::heartbeat_loop() {
  {
    std::unique_lock lock(mu_);
    while (generation_ == 0 && !stop_.stopping())
      cv_.wait_for(lock, std::chrono::milliseconds(200));
  }
  std::uint64_t registered = generation();
  for (;;) {
    Duration interval;
    {
      std::lock_guard lock(mu_);
      interval = heartbeat_interval_;
    }
    if (stop_.sleep_for(interval)) break;
    Heartbeat heartbeat{table_.progress(), options_.identity.log_token};
    auto reply = master_.heartbeat(options_.identity.id, heartbeat);
    bool reregister = false;
    if (!reply.ok()) {
      reregister = reply.error().code == ErrorCode::not_found;
      if (!reregister) note_master_state(false, reply.error().describe());
    } else {
      note_master_state(true, "");
      if (!reply->kill.empty()) kill(reply->kill);
      reregister = reply->reregister;
    }
    if (reregister) {
      spdlog::info("the master asked this worker to register again");
      if (!register_after(registered)) break;
      registered = generation();
    }
  }
}

void Agent::begin_drain(const std::string& why) {
  std::lock_guard lock(mu_);
  if (draining_) return;
  draining_ = true;
  spdlog::info("draining ({}): {} attempts running, no new work; waiting up to {}", why,
               in_flight_ - static_cast<int>(queue_.size()),
               format_duration(options_.drain_timeout));
  for (const Queued& q : queue_) q.attempt->request_kill(FailureReason::drained, kDraining);
  pump();  // hands the queued ones back unstarted
  drain_thread_ = std::thread([this] { drain_loop(); });
}

bool Agent::draining() const {
  std::lock_guard lock(mu_);
  return draining_;
}

bool Agent::wait_drained(Duration timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return drained_; });
}

void Agent::hurry() {
  {
    std::lock_guard lock(mu_);
    hurry_ = true;
  }
  cv_.notify_all();
}

void Agent::drain_loop() {
  std::unique_lock lock(mu_);
  bool finished = cv_.wait_for(lock, options_.drain_timeout,
                               [&] { return in_flight_ == 0 || hurry_; }) &&
                  in_flight_ == 0;
  if (!finished) {
    lock.unlock();
    int killed = table_.kill_all(FailureReason::drained, kDrained);
    spdlog::info("drain: stopping {} attempts still running", killed);
    lock.lock();
    if (!cv_.wait_for(lock, options_.shutdown_deadline, [&] { return in_flight_ == 0; })) {
      spdlog::warn("drain: {} attempts did not finish reporting in time", in_flight_);
    }
  }
  drained_ = true;
  cv_.notify_all();
  spdlog::info("drained: no attempts left");
}

bool Agent::shutdown() {
  begin_drain("stop signal");
  Status told = master_.drain_worker(options_.identity.id);
  if (!told.ok()) spdlog::info("could not tell the master about the drain: {}", told.error().describe());
  if (drain_thread_.joinable()) drain_thread_.join();
  Status left = master_.leave(options_.identity.id);
  if (!left.ok()) spdlog::info("could not tell the master this worker leaves: {}", left.error().describe());
  stop_.request_stop();
  std::unique_lock lock(mu_);
  // After stop, undelivered reports give up within the runner's report deadline.
  bool reported = cv_.wait_for(lock, options_.shutdown_deadline, [&] { return in_flight_ == 0; });
  if (!reported) spdlog::warn("{} attempts did not finish reporting in time", in_flight_);
  lock.unlock();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  lock.lock();
  bool polled_out = cv_.wait_for(lock, std::chrono::seconds(1), [&] { return work_loop_done_; });
  lock.unlock();
  if (polled_out && work_thread_.joinable()) work_thread_.join();
  return reported && polled_out;
}

}  // namespace drover::worker
