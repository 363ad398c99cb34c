#include "worker/agent/agent.hpp"

#include <spdlog/spdlog.h>

namespace drover::worker {

namespace {
constexpr const char* kKilledByMaster = "killed by the master";
constexpr const char* kShuttingDown = "worker shutting down";
}  // namespace

Agent::Agent(AgentOptions options, MasterApi& master, AttemptRunner& runner, AttemptTable& table,
             StopSignal& stop)
    : options_(std::move(options)), master_(master), runner_(runner), table_(table), stop_(stop) {}

Agent::~Agent() {
  stop_.request_stop();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
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
    spdlog::warn("master unreachable: {}", detail);
  }
}

bool Agent::register_after(std::uint64_t seen) {
  std::lock_guard serial(register_mu_);
  if (generation() > seen) return true;
  Backoff backoff;
  while (!stop_.stopping()) {
    WorkerRegistration registration = options_.identity;
    registration.running = table_.ids();
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
      table_.kill(reply->kill, kKilledByMaster);
      return true;
    }
    note_master_state(false, reply.error().describe());
    stop_.sleep_for(backoff.next());
  }
  return false;
}

void Agent::work_loop() {
  std::uint64_t registered = 0;
  bool need_register = true;
  Backoff backoff;
  while (!stop_.stopping()) {
    if (need_register) {
      if (!register_after(registered)) break;
      registered = generation();
      need_register = false;
    }
    auto reply = master_.poll_work(options_.identity.id, options_.work_wait);
    if (stop_.stopping()) {
      if (reply.ok() && !reply->assignments.empty()) {
        spdlog::info("{} assignments arrived while shutting down; not started",
                     reply->assignments.size());
      }
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
  if (!reply.kill.empty()) table_.kill(reply.kill, kKilledByMaster);
  for (const auto& assignment : reply.assignments) launch(assignment);
}

void Agent::launch(const Assignment& assignment) {
  auto attempt = runner_.admit(assignment);
  if (!attempt) {
    spdlog::warn("attempt {} assigned twice; ignoring the duplicate", assignment.attempt_id);
    return;
  }
  {
    std::lock_guard lock(mu_);
    ++in_flight_;
  }
  std::thread([this, assignment, attempt] {
    runner_.run(assignment, attempt);
    std::lock_guard lock(mu_);
    --in_flight_;
    cv_.notify_all();
  }).detach();
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
    Heartbeat heartbeat{table_.progress()};
    auto reply = master_.heartbeat(options_.identity.id, heartbeat);
    bool reregister = false;
    if (!reply.ok()) {
      reregister = reply.error().code == ErrorCode::not_found;
      if (!reregister) note_master_state(false, reply.error().describe());
    } else {
      note_master_state(true, "");
      if (!reply->kill.empty()) table_.kill(reply->kill, kKilledByMaster);
      reregister = reply->reregister;
    }
    if (reregister) {
      spdlog::info("the master asked this worker to register again");
      if (!register_after(registered)) break;
      registered = generation();
    }
  }
}

bool Agent::shutdown() {
  stop_.request_stop();
  int running = table_.kill_all(kShuttingDown);
  spdlog::info("shutting down: stopping {} running attempts", running);
  std::unique_lock lock(mu_);
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
